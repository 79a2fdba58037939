/**
 * A worker process (`sluice worker`): takes the attempts the scheduler dispatched to its queues,
 * runs them with the same {@link LocalWorker} `sluice run` uses, and reports through the store,
 * every report checked against the attempt's fencing token. It never decides anything: admission,
 * retries and run states stay the scheduler's.
 */
import type { TaskLogSink } from "../observe/task-logs.js";
import { EventEmitter } from "node:events";
import type { CompletionOutcome, StartCommand } from "../core/engine/types.js";
import type { ResolvedConfig } from "../define/resolved.js";
import type { TaskLogger } from "../define/types.js";
import { assignedHeader, type Store, type WorkerStore } from "../store/types.js";
import { LocalWorker, type WorkerChannel } from "./local-worker.js";
import { isStoreUnavailable } from "../store/errors.js";
import { isTokenStore } from "../store/types.js";
import { Budgets, memoryTokenStore } from "./budgets.js";

/** Defaults of {@link WorkerProcessOptions}. */
export const WORKER_DEFAULTS = {
  queues: ["default"],
  /** @defaultValue 15 s: an attempt of a worker silent this long is retried elsewhere. */
  leaseTtlMs: 15_000,
  /** @defaultValue a third of the lease TTL */
  heartbeatMs: 5_000,
  /** @defaultValue 1 s: how often the worker looks for work when no notification comes. */
  pollMs: 1_000,
};

export interface WorkerProcessOptions {
  config: ResolvedConfig;
  store: Store & WorkerStore;
  /** Unique among the store's live workers. */
  name: string;
  host: string;
  queues: string[];
  /** Attempts run at once. */
  slots: number;
  /**
   * Attempts taken ahead of free slots: they wait in this worker's local queue, holding what
   * admission gave them (pool slots included), and start as soon as a slot frees, with no round
   * trip to the scheduler between. Worth it for many short tasks; leave it at 0 for long ones,
   * whose queued attempts would hold their pools while they wait. @defaultValue 0
   */
  prefetch?: number;
  /** Budget for tasks' declared `memory`, in MB. */
  memoryMb: number | null;
  /** Fingerprint of the loaded definitions. */
  fingerprint: string;
  /** Tasks whose definitions differ from the scheduler's: never taken. */
  avoid?: readonly string[];
  leaseTtlMs?: number;
  heartbeatMs?: number;
  pollMs?: number;
  taskLogger: (fields: Record<string, unknown>) => TaskLogger;
  /** Where `ctx.log` lines are kept (flushed when the worker stops). */
  taskLogs?: TaskLogSink;
  timeoutGraceMs?: number;
  /** The config module, for `thread` and `process` attempts (see {@link LocalWorkerOptions.configPath}). */
  configPath?: string;
  now?: () => number;
  /** What `ctx.take` and `ctx.throttle` draw on. @defaultValue the store's buckets, shared by every process */
  budgets?: Budgets;
}

export interface WorkerProcessEvents {
  /** An attempt was taken and started. */
  started: [{ attemptId: number; taskKey: string; runId: number }];
  /** An attempt's function settled here (`state` as it ends on this worker), before its result is recorded. */
  finished: [{ attemptId: number; taskKey: string; state: CompletionOutcome["state"]; peakMemoryBytes?: number }];
  /** A report (completion, heartbeat) was refused by the store: the attempt is no longer this worker's. */
  refused: [{ attemptId: number; reason: string }];
  /** The store could not be reached for longer than the lease TTL: running attempts were aborted. */
  disconnected: [{ since: number; error: Error }];
  /** A result could not be recorded because the store is unreachable: retried with backoff. */
  retrying: [{ attemptId: number; error: Error }];
  /** The store answers again after a disconnection. */
  reconnected: [{ downMs: number }];
  error: [Error];
}

export class WorkerProcess extends EventEmitter<WorkerProcessEvents> {
  private readonly local: LocalWorker;
  /** Every attempt this worker holds: running, or waiting in `queued`. */
  private readonly running = new Map<number, { fencingToken: number; taskKey: string }>();
  /** Prefetched attempts, in the order they were claimed, waiting for a slot. */
  private readonly queued: StartCommand[] = [];
  /** Attempts aborted because this worker stops or lost the store: reported as lost, not failed. */
  private readonly abandoned = new Set<number>();
  private readonly now: () => number;
  private readonly ttl: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private unwatch: (() => Promise<void>) | undefined;
  private claiming: Promise<void> | undefined;
  private claimAgain = false;
  /**
   * Whether unclaimed work may be waiting: set by a notification, the poll and a claim that got
   * all it asked for; cleared by a claim that got less (the queues had no more for this worker).
   * A finished attempt looks for its successor only while it is set: without it, every settled
   * attempt cost an empty claim (a statement and a commit) whenever the queue was drained.
   */
  private workHint = true;
  /** Notifications and polls so far: a claim that started before the latest one may have missed its work. */
  private hints = 0;
  private stopping = false;
  private lastBeat: number;
  private down: { since: number } | undefined;

  constructor(private readonly options: WorkerProcessOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.ttl = options.leaseTtlMs ?? WORKER_DEFAULTS.leaseTtlMs;
    this.lastBeat = this.now();
    const channel: WorkerChannel = {
      complete: (attemptId, fencingToken, outcome) => void this.complete(attemptId, fencingToken, outcome),
      heartbeat: async (attemptId, fencingToken, progress) => {
        const ok = await options.store.renewLease(attemptId, fencingToken, this.now() + this.ttl, progress);
        if (!ok) this.emit("refused", { attemptId, reason: "heartbeat refused: the attempt is no longer this worker's" });
        return ok;
      },
      released: (attemptId, peakMemoryBytes) => this.track(this.released(attemptId, peakMemoryBytes)),
    };
    this.local = new LocalWorker({
      config: options.config,
      channel,
      taskLogger: options.taskLogger,
      ...(options.taskLogs ? { taskLogs: options.taskLogs } : {}),
      ...(options.timeoutGraceMs !== undefined ? { timeoutGraceMs: options.timeoutGraceMs } : {}),
      ...(options.configPath !== undefined ? { configPath: options.configPath } : {}),
      budgets: options.budgets ?? new Budgets(options.config, isTokenStore(options.store) ? options.store : memoryTokenStore()),
    });
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** What this worker's `ctx.take` and `ctx.throttle` draw on (metrics listen to it). */
  get budgets(): Budgets {
    return this.local.budgets;
  }

  /** Its slots and memory budget (MB, `null`: none), and how much of each its running attempts hold. */
  get load(): { slots: number; running: number; queued: number; memoryMb: number | null; memoryUsedMb: number } {
    let used = 0;
    for (const r of this.running.values()) used += this.memoryOf(r.taskKey);
    return { slots: this.options.slots, running: this.running.size - this.queued.length, queued: this.queued.length, memoryMb: this.options.memoryMb, memoryUsedMb: used };
  }

  /** Register (refused while a live worker has this name), then take work. */
  async start(): Promise<void> {
    const o = this.options;
    const now = this.now();
    const registered = await o.store.registerWorker(
      { name: o.name, host: o.host, pid: process.pid, queues: o.queues, slots: o.slots, prefetch: o.prefetch ?? 0, memoryMb: o.memoryMb, fingerprint: o.fingerprint, avoid: [...(o.avoid ?? [])], startedAt: now, heartbeatAt: now },
      this.ttl,
    );
    if (!registered.ok) throw new Error(`a worker named ${o.name} is already running (${registered.holder}); give this one another --name`);
    this.lastBeat = now;
    this.startedAt = now;
    this.header = assignedHeader(o.name, now);
    this.unwatch = await o.store.watch("work", (_, payload) => {
      // Work given to this worker: started now, no claim (the notification comes at its commit).
      if (payload?.startsWith(this.header) && (payload.length === this.header.length || payload[this.header.length] === "\n")) this.given(payload.slice(this.header.length + 1));
      // Given to another worker: nothing for this one.
      else if (payload?.startsWith("worker:")) return;
      // Work for any worker of the queue, or a reconnect after which notifications may have been missed.
      else {
        if (payload === undefined) this.readGiven();
        this.hinted();
      }
    });
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), o.heartbeatMs ?? Math.max(200, Math.floor(this.ttl / 3)));
    this.pollTimer = setInterval(() => {
      this.readGiven();
      this.hinted();
    }, o.pollMs ?? WORKER_DEFAULTS.pollMs);
    await this.claim();
  }

  /**
   * Stop taking work; let running attempts finish until `deadline`; abort the rest and hand their
   * leases back at once (the scheduler retries them now, not after a TTL).
   */
  async stop(deadline: number, abortGraceMs = 2_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.pollTimer);
    // It keeps listening until it has stopped: work given to it meanwhile (by a scheduler that has
    // not yet seen it stop) goes back to its queue at once, not after a lease.
    if (this.claiming) await this.claiming;
    if (this.reading) await this.reading;
    // Attempts it holds but never started go back to their queue at once, where another worker
    // claims them (the same attempts: nothing is recorded lost); and the scheduler gives this
    // worker nothing more.
    const unstarted = this.dropQueued();
    await this.options.store.drainWorker(this.options.name, unstarted, this.now() + this.ttl).catch((err: unknown) => this.emit("error", asError(err)));
    if (!(await this.local.idle(deadline))) {
      const ids = [...this.running.keys()];
      for (const id of ids) this.abandoned.add(id);
      this.local.abortAll("the worker is shutting down");
      await this.local.idle(Date.now() + abortGraceMs);
      await this.options.store.releaseLeases(this.options.name, ids, this.now()).catch((err: unknown) => this.emit("error", asError(err)));
    }
    // The last results and releases are recorded before the store closes: a completion still in
    // flight when the caller closed the store was lost, and its task ran again after the lease.
    // Bounded: a store that cannot be reached keeps them retrying (their leases then run out and
    // the scheduler retries the attempts, as for a worker that died).
    await new Promise((resolve) => setImmediate(resolve));
    const until = Math.max(deadline, Date.now()) + abortGraceMs;
    await this.reportsDone(until);
    clearInterval(this.heartbeatTimer);
    await this.local.databases.close();
    await this.options.taskLogs?.flush();
    await this.options.store.stopWorker(this.options.name, this.now()).catch((err: unknown) => this.emit("error", asError(err)));
    await this.unwatch?.();
    if (this.reading) await this.reading;
    // What was given back while it stopped, as bounded as the rest.
    await this.reportsDone(Date.now() + abortGraceMs);
  }

  /** Waits for the results and reports in flight, until `until` at the latest. */
  private async reportsDone(until: number): Promise<void> {
    while ((this.flushing || this.reporting.size > 0) && Date.now() < until) {
      await Promise.race([Promise.all([this.flushing, ...this.reporting]), new Promise((r) => setTimeout(r, Math.max(1, until - Date.now())).unref())]);
    }
  }

  /** Work may be waiting (a notification, or the poll that covers a missed one): look now. */
  private hinted(): void {
    this.hints++;
    this.workHint = true;
    void this.claim();
  }

  private claim(): Promise<void> {
    if (this.claiming) {
      this.claimAgain = true;
      return this.claiming;
    }
    this.claiming = (async () => {
      do {
        this.claimAgain = false;
        await this.claimOnce();
      } while (this.claimAgain && !this.stopping && !this.down);
    })().finally(() => {
      this.claiming = undefined;
    });
    return this.claiming;
  }

  private async claimOnce(): Promise<void> {
    const o = this.options;
    if (this.stopping || this.down) return;
    const prefetch = o.prefetch ?? 0;
    const free = o.slots + prefetch - this.local.runningCount - this.queued.length;
    if (free <= 0) return;
    // A worker with attempts still queued refills its queue once half of it has room, in one
    // claim, instead of after every few finished attempts: each claim is a statement and a commit
    // in the store, and the scheduler is dispatching meanwhile anyway. An idle one (nothing
    // queued) claims at once. The hint stays set: the next finished attempt looks again.
    if (this.queued.length > 0 && free < Math.ceil(prefetch / 2)) return;
    let memory: number | null = null;
    if (o.memoryMb !== null) {
      memory = o.memoryMb;
      for (const r of this.running.values()) memory -= this.memoryOf(r.taskKey);
    }
    const now = this.now();
    const hintsBefore = this.hints;
    try {
      const { work, unfit } = await o.store.claimWork(o.name, o.queues, free, memory, o.avoid ?? [], now, now + this.ttl);
      // Fewer than asked: nothing more is waiting for this worker, unless a notification came
      // meanwhile, or some did not fit the memory left (a finished attempt frees memory, so it
      // keeps looking). It used to keep looking whenever it had a memory budget, which every
      // worker has by default: an empty claim after every finished attempt.
      if (work.length < free && !unfit && this.hints === hintsBefore) this.workHint = false;
      // The claim fitted them to the memory left beside everything held here: they may start ahead of the queue.
      for (const w of work) this.hold({ ...(w.command as StartCommand), fencingToken: w.fencingToken }, false);
      if (work.length === free) this.claimAgain = true;
    } catch (err) {
      this.emit("error", asError(err));
    }
  }

  /** `worker:<startedAt>:<name>`: how the scheduler's notifications name work given to this worker. */
  private header = "";
  private startedAt = 0;
  /** The highest attempt id {@link readGiven} returned: it reads only above it. */
  private readAbove = 0;
  /** Given attempts taken since (from notifications and reads): a read may return some again. */
  private readonly givenIds = new Set<number>();
  private reading: Promise<void> | undefined;
  private readAgain = false;
  /** Of {@link givenIds}, those settled here since the last read: the next read lets them go. */
  private endedGiven: number[] = [];

  /** The start commands of a "work" notification for this worker, or "" (read them). */
  private given(body: string): void {
    if (body === "") {
      this.readGiven();
      return;
    }
    let commands: StartCommand[];
    try {
      commands = JSON.parse(body) as StartCommand[];
    } catch {
      this.readGiven();
      return;
    }
    this.take(commands);
  }

  /** Reads the work given to this worker that it has not taken (a missed or too long notification). */
  private readGiven(): void {
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = (async () => {
      do {
        this.readAgain = false;
        // A stopping worker still reads: what it was given goes back to its queue (see take).
        if (this.down) return;
        // Settled before this read began: their ends are committed, so it cannot return them.
        const ended = this.endedGiven.splice(0);
        try {
          const work = await this.options.store.assignedWork(this.options.name, this.startedAt, this.readAbove);
          const last = work.at(-1);
          if (last) this.readAbove = Math.max(this.readAbove, last.attemptId);
          this.take(work.map((w) => ({ ...(w.command as StartCommand), fencingToken: w.fencingToken })));
          for (const id of ended) this.givenIds.delete(id);
        } catch (err) {
          this.endedGiven.push(...ended);
          this.emit("error", asError(err));
        }
      } while (this.readAgain);
    })().finally(() => {
      this.reading = undefined;
    });
  }

  /** Given attempts: each taken once, started when a slot and the memory are free, else queued. */
  private take(commands: readonly StartCommand[]): void {
    const back: number[] = [];
    for (const cmd of commands) {
      if (this.givenIds.has(cmd.attemptId) || this.running.has(cmd.attemptId)) continue;
      this.givenIds.add(cmd.attemptId);
      if (this.stopping || this.down) {
        back.push(cmd.attemptId);
        continue;
      }
      this.hold(cmd, true);
    }
    if (back.length > 0) this.track(this.options.store.drainWorker(this.options.name, back, this.now() + this.ttl).catch((err: unknown) => void this.emit("error", asError(err))));
  }

  /**
   * An attempt that is now this worker's (claimed or given): started if a slot and the memory are
   * free (with `behindQueue`, only when nothing waits before it), else queued.
   */
  private hold(cmd: StartCommand, behindQueue: boolean): void {
    this.running.set(cmd.attemptId, { fencingToken: cmd.fencingToken, taskKey: cmd.taskKey });
    if ((!behindQueue || this.queued.length === 0) && this.fits(cmd.taskKey)) this.begin(cmd);
    else this.queued.push(cmd);
  }

  /** A free slot, and the memory for `taskKey` beside what the attempts started here declared. */
  private fits(taskKey: string): boolean {
    if (this.local.runningCount >= this.options.slots) return false;
    const budget = this.options.memoryMb;
    const need = this.memoryOf(taskKey);
    if (budget === null || need === 0) return true;
    let used = 0;
    for (const [id, r] of this.running) if (this.local.isRunning(id)) used += this.memoryOf(r.taskKey);
    return used + need <= budget;
  }

  /** Reports in flight (releases), awaited by {@link stop}. */
  private readonly reporting = new Set<Promise<void>>();

  private track(p: Promise<void>): void {
    this.reporting.add(p);
    void p.finally(() => this.reporting.delete(p));
  }

  private begin(cmd: StartCommand): void {
    // Announced first: a task that throws at once reports `finished` from inside run().
    this.emit("started", { attemptId: cmd.attemptId, taskKey: cmd.taskKey, runId: cmd.runId });
    this.local.run(cmd);
  }

  /** Empties the local queue; returns the ids it held (no longer this worker's). */
  private dropQueued(only?: ReadonlySet<number>): number[] {
    const dropped: number[] = [];
    for (let i = this.queued.length - 1; i >= 0; i--) {
      const cmd = this.queued[i] as StartCommand;
      if (only && !only.has(cmd.attemptId)) continue;
      this.queued.splice(i, 1);
      this.running.delete(cmd.attemptId);
      dropped.push(cmd.attemptId);
    }
    return dropped.reverse();
  }

  private memoryOf(taskKey: string): number {
    this.taskMemory ??= new Map(this.options.config.pipelines.flatMap((p) => p.tasks.map((t) => [t.key, t.memoryMb ?? 0] as const)));
    return this.taskMemory.get(taskKey) ?? 0;
  }
  private taskMemory: Map<string, number> | undefined;

  private async heartbeat(): Promise<void> {
    const now = this.now();
    const mine = [...this.running].map(([id, r]) => ({ id, fencingToken: r.fencingToken }));
    try {
      const still = new Set(await this.options.store.heartbeatWorker(this.options.name, now, mine, now + this.ttl));
      this.lastBeat = now;
      if (this.down) {
        const downMs = now - this.down.since;
        this.down = undefined;
        this.emit("reconnected", { downMs });
        this.hinted();
      }
      // A queued attempt cancelled or taken back never started: it is dropped, and reported
      // released at once (the scheduler waits for that before its pools count as free).
      const gone = new Set(mine.filter(({ id }) => !still.has(id)).map(({ id }) => id));
      const tokens = new Map(mine.map((m) => [m.id, m.fencingToken]));
      for (const id of gone.size > 0 ? this.dropQueued(gone) : []) {
        this.emit("refused", { attemptId: id, reason: `heartbeat: attempt ${id} is no longer this worker's (cancelled, or its lease expired and it was retried); it had not started` });
        await this.options.store.markReleased(id, tokens.get(id) ?? 0, this.now()).catch((err: unknown) => this.emit("error", asError(err)));
      }
      for (const { id } of mine) {
        // Cancelled, timed out or retried elsewhere: stop it; its release is reported when it settles.
        if (!still.has(id) && this.running.has(id)) {
          this.local.abort(id, "the attempt is no longer this worker's (cancelled, or its lease was taken back)");
          this.emit("refused", { attemptId: id, reason: `heartbeat: attempt ${id} is no longer this worker's (cancelled, or its lease expired and it was retried); its function was aborted` });
        }
      }
    } catch (err) {
      if (!this.down && now - this.lastBeat > this.ttl) {
        // Past its TTL the scheduler retries these attempts elsewhere: stop them here, and take no
        // work until the store answers again.
        this.down = { since: this.lastBeat };
        this.dropQueued();
        for (const id of this.running.keys()) this.abandoned.add(id);
        this.local.abortAll("this worker lost the store past its lease; the attempt is retried elsewhere");
        this.emit("disconnected", { since: this.lastBeat, error: asError(err) });
      }
    }
  }

  /** Results waiting to be recorded: flushed together, one statement for what a moment brings. */
  private pending: Array<{ attemptId: number; fencingToken: number; outcome: CompletionOutcome; endedAt: number }> = [];
  private flushing: Promise<void> | undefined;

  private complete(attemptId: number, fencingToken: number, outcome: CompletionOutcome): void {
    const taskKey = this.running.get(attemptId)?.taskKey;
    if (taskKey !== undefined) this.emit("finished", { attemptId, taskKey, state: outcome.state, ...(outcome.peakMemoryBytes !== undefined ? { peakMemoryBytes: outcome.peakMemoryBytes } : {}) });
    if (this.abandoned.has(attemptId)) {
      // Handed back: the scheduler records it lost and retries it.
      if (!(outcome.state !== "success" && outcome.stillRunning)) this.settled(attemptId);
      return;
    }
    this.pending.push({ attemptId, fencingToken, outcome, endedAt: this.now() });
    if (!this.flushing) this.flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
    // Its function is done (a function still running past its end keeps its slot): the slot
    // serves the next queued attempt now, not a round trip later when the result is recorded.
    // The attempt stays this worker's, its lease renewed, until then.
    this.startQueued();
  }

  /**
   * Records the pending results. A result is never dropped: while the store cannot be reached the
   * attempts stay this worker's (their leases are renewed by the heartbeat as soon as the store
   * answers) and the report is retried with backoff.
   */
  private async flush(): Promise<void> {
    for (let delay = 250; this.pending.length > 0; ) {
      const batch = this.pending.splice(0);
      try {
        const recorded = await this.options.store.completeAttempts(batch);
        const letGo: typeof batch = [];
        batch.forEach((item, i) => {
          const fnSettled = !(item.outcome.state !== "success" && item.outcome.stillRunning);
          if (!recorded[i]) {
            this.emit("refused", { attemptId: item.attemptId, reason: "completion refused: the attempt is no longer this worker's (stale fencing token, or it was cancelled or retried)" });
            // Cancelled before this worker heard of it, its function ended on its own: the
            // scheduler holds its resources until told they are free (nothing else would tell it).
            if (fnSettled) letGo.push(item);
          }
          if (fnSettled) this.settled(item.attemptId);
        });
        for (const item of letGo) await this.options.store.markReleased(item.attemptId, item.fencingToken, this.now(), item.outcome.peakMemoryBytes).catch((err: unknown) => this.emit("error", asError(err)));
        delay = 250;
      } catch (err) {
        const keep = batch.filter((item) => !this.abandoned.has(item.attemptId));
        if (!isStoreUnavailable(err)) {
          this.emit("error", asError(err));
          for (const item of batch) this.settled(item.attemptId);
          continue;
        }
        this.emit("retrying", { attemptId: keep[0]?.attemptId ?? -1, error: asError(err) });
        this.pending.unshift(...keep);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5_000);
      }
    }
    this.flushing = undefined;
  }

  private async released(attemptId: number, peakMemoryBytes?: number): Promise<void> {
    const r = this.running.get(attemptId);
    this.settled(attemptId);
    if (!r || this.abandoned.has(attemptId)) return;
    await this.options.store.markReleased(attemptId, r.fencingToken, this.now(), peakMemoryBytes).catch((err: unknown) => this.emit("error", asError(err)));
  }

  private settled(attemptId: number): void {
    if (this.givenIds.has(attemptId) && this.running.has(attemptId)) this.endedGiven.push(attemptId);
    this.running.delete(attemptId);
    this.abandoned.delete(attemptId);
    this.startQueued();
    if (!this.stopping && this.workHint) void this.claim();
  }

  /** Queued attempts started, in order, while a slot and the memory are free. */
  private startQueued(): void {
    while (this.queued.length > 0 && !this.stopping && this.fits((this.queued[0] as StartCommand).taskKey)) this.begin(this.queued.shift() as StartCommand);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
