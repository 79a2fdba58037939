import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { Engine } from "../core/engine/engine.js";
import type { EngineOutput } from "../core/engine/types.js";
import { SluiceError } from "../core/errors.js";
import { isStoreUnavailable } from "../store/errors.js";
import type { CompletionOutcome, EventRecord, RunRecord, TaskInstanceRecord } from "../core/records.js";
import type { ResolvedConfig } from "../define/resolved.js";
import { definitionsOf, fingerprintOf } from "../define/stored.js";
import { WORKERS_CHANGED, type ControlRequest, type LeaseResult, type RemoteAttemptState, type Store, type StoreWrite, type WorkerInfo, type WorkerStore } from "../store/types.js";
import { queuesOf } from "../core/engine/plan.js";
import { processAlive } from "../store/process-alive.js";
import type { LocalWorker, WorkerChannel } from "../worker/local-worker.js";
import type { Budgets } from "../worker/budgets.js";

/** What a scheduler reports; the live view, logs and tests listen to the same events. */
export interface SchedulerEvents {
  /** An entry of the event log (skips, failures, retries, run ends …), after it is stored. */
  event: [EventRecord];
  /** A task instance succeeded or will not run (an upstream task failed), after it is stored. */
  taskEnded: [{ at: number; runId: number; task: string; state: "success" | "upstream_failed"; attempts: number | null }];
  /** One turn's decisions, after they are stored and dispatched; `durationMs`: the whole turn (engine, store batch, dispatch). */
  turn: [{ at: number; started: number; finished: number; changes: number; durationMs: number }];
  /** A batch of writes the store committed (one transaction), and how long `apply` took. Metrics read attempt and run ends from it. */
  batch: [{ at: number; writes: readonly StoreWrite[]; durationMs: number }];
  /** A remote attempt's lease ran out (its worker is gone or silent, or nobody took it): it is recorded lost. */
  leaseExpired: [{ attemptId: number; workerId: string | null }];
  /** A worker's report was refused (stale fencing token, attempt no longer running). */
  refused: [{ attemptId: number; reason: string }];
  /** Another scheduler is active: this one stands by (see {@link SchedulerOptions.standby}). */
  standby: [{ holder: string }];
  /** A standby took over. */
  active: [{ waitedMs: number }];
  /** Finished runs older than the config's `retention` were deleted. */
  pruned: [{ runs: number; attempts: number; events: number; requests: number; before: number }];
  error: [Error];
}

export interface SchedulerOptions {
  config: ResolvedConfig;
  store: Store;
  /** Identifies this process in the scheduler lease and on attempts. */
  owner?: string;
  /** The local worker's memory budget when the config sets none. @defaultValue none (not enforced) */
  workerMemoryMb?: number;
  /** Create runs from schedules. Off for a one-shot `trigger --wait`. @defaultValue true */
  schedules?: boolean;
  /** How often the store inbox (triggers/cancels from other terminals) is read: one indexed read, of nothing most of the time. @defaultValue 50 */
  pollMs?: number;
  /** Scheduler lease time to live; renewed every third of it. @defaultValue 15000 */
  leaseTtlMs?: number;
  /** Clock, injectable for tests. @defaultValue Date.now */
  now?: () => number;
  /**
   * When another scheduler is active, wait and take over once it is gone (its process died, or
   * it stopped renewing its lease), instead of failing with {@link SchedulerBusyError}.
   */
  standby?: boolean;
  /**
   * Tasks run on worker processes (`sluice worker`) instead of an in-process worker: started
   * attempts are dispatched through the store to the workers of their queue, whose live capacity
   * is what admission uses; their completions, releases and expired leases are collected here.
   */
  remote?: RemoteOptions;
  /**
   * The installation's token budgets: admission takes the tokens of tasks' `rate` from them
   * (shared with `ctx.take` in workers). @defaultValue the engine keeps them in this process
   */
  budgets?: Budgets;
}

/** See {@link SchedulerOptions.remote}. */
export interface RemoteOptions {
  store: WorkerStore;
  /**
   * An attempt's lease: a worker renews it with every heartbeat; one nobody claims or renews for
   * this long is lost (and retried by its policy). Also how long a silent worker counts as alive.
   * @defaultValue 15000
   */
  leaseTtlMs?: number;
  /** How often completions, leases and worker capacity are read when no notification comes. @defaultValue 500 */
  pollMs?: number;
}

/** Runs deleted per retention batch: each batch is one short write transaction. */
const PRUNE_BATCH = 500;

/** How long `start` waits for a CLI command that holds the lease for a moment. */
const CLI_LEASE_WAIT_MS = 10_000;

/** How long a request from another terminal stays worth doing (the CLI waits 15 s for an answer). */
const REQUEST_MAX_AGE_MS = 15_000;

/** Another scheduler holds the lease on this store. */
export class SchedulerBusyError extends SluiceError {
  constructor(holder: string) {
    super("SLUICE_SCHEDULER_BUSY", `another scheduler is running on this store (${holder}); stop it first, or use a different --db`);
  }
}

/**
 * Drives the core {@link Engine} with real time and a durable store: each turn feeds in what
 * happened (completions, triggers, cancels), lets the engine decide, writes every decision in
 * one transaction, and only then starts or aborts attempts. A crash at any point leaves the
 * store consistent; the next start marks attempts that were running as lost and retries them.
 */
export class Scheduler extends EventEmitter<SchedulerEvents> {
  readonly owner: string;
  private engine: Engine | undefined;
  private worker: LocalWorker | undefined;
  private readonly now: () => number;
  /** What happened since the last turn (completions, triggers, cancels), fed to the engine first. */
  private readonly inputs: Array<(now: number) => void> = [];
  private readonly pendingWrites: StoreWrite[] = [];
  private turnQueued = false;
  private turning: Promise<void> | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Stops the store's request notifications, when it sends them. */
  private unwatch: (() => Promise<void>) | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruning = false;
  private stopping = false;
  /**
   * Set once stop() has written its last turn, or the lease was lost: from then on nothing is
   * decided, taken from the inbox or written (another scheduler may own the store).
   */
  private stopped = false;
  /** A turn whose batch the store refused: nothing of it was acted on; it is written (first) by the next turn. */
  private unapplied: { writes: StoreWrite[]; outputs: EngineOutput[]; committed: Array<() => void> } | undefined;
  /** Called once the turn that made a decision has committed it (a trigger resolves with a run that exists). */
  private afterCommit: Array<() => void> = [];
  private retryTimer: NodeJS.Timeout | undefined;
  /** Turns in a row whose batch the store refused. */
  private failedWrites = 0;
  private unavailableSince = 0;
  /** Attempts aborted because Sluice is shutting down: whatever they report, they are lost, not failed. */
  private readonly abortedForShutdown = new Set<number>();
  private finishedInTurn = 0;

  /** The token budgets admission takes from, if any (metrics listen to them). */
  get budgets(): Budgets | undefined {
    return this.options.budgets;
  }

  constructor(private readonly options: SchedulerOptions) {
    super();
    this.owner = options.owner ?? `${hostname()}:${process.pid}`;
    this.now = options.now ?? Date.now;
  }

  /** The channel a local worker reports through. */
  readonly channel: WorkerChannel = {
    complete: (attemptId, fencingToken, outcome) => this.complete(attemptId, fencingToken, outcome),
    released: (attemptId, peakMemoryBytes) => {
      this.inputs.push((now) => void this.requireEngine().releaseAttempt(attemptId, now, peakMemoryBytes));
      this.queueTurn();
    },
    heartbeat: (attemptId, fencingToken, progress) =>
      this.options.store.renewLease(attemptId, fencingToken, this.now() + (this.options.leaseTtlMs ?? 15_000), progress),
  };

  get running(): number {
    return this.engine?.runningAttempts ?? 0;
  }

  get engineView(): Engine | undefined {
    return this.engine;
  }

  /**
   * Take the lease, rebuild from the store (marking interrupted attempts lost), start turning.
   * `worker` runs the attempts in this process; with `remote`, there is none.
   */
  async start(worker?: LocalWorker): Promise<void> {
    const { store } = this.options;
    const ttl = this.options.leaseTtlMs ?? 15_000;
    let lease = await store.acquireSchedulerLease({ owner: this.owner, pid: process.pid, host: hostname(), ttlMs: ttl, now: this.now() });
    // A CLI command (`trigger`, `cancel` with no scheduler running) holds the lease for a moment
    // while it records its change: wait for it rather than refuse to start.
    for (const deadline = Date.now() + CLI_LEASE_WAIT_MS; !lease.acquired && lease.owner.endsWith(":cli") && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 25));
      lease = await store.acquireSchedulerLease({ owner: this.owner, pid: process.pid, host: hostname(), ttlMs: ttl, now: this.now() });
    }
    if (lease.acquired) this.releaseLock ??= await store.tryLockScheduler?.();
    if (!lease.acquired && this.options.standby) lease = await this.standBy(lease.holder, ttl);
    if (!lease.acquired) throw new SchedulerBusyError(lease.holder);
    this.worker = worker;
    try {
      // What the previous scheduler took from the inbox but never answered was never done (the
      // answer is committed with the effect): hand it out again, unless its sender gave up.
      await store.reclaimRequests(this.now(), REQUEST_MAX_AGE_MS);
      // Commands given only --db (explain, cancel, trigger, pools) read these.
      const definitions = definitionsOf(this.options.config);
      await store.saveDefinitions({ fingerprint: fingerprintOf(definitions), savedAt: this.now(), config: definitions });
      const state = await store.loadActiveState();
      this.engine = new Engine(this.options.config, {
        now: this.now(),
        restore: state,
        recover: true,
        ...(this.options.budgets ? { rateBudget: "external" as const } : {}),
        ...(this.options.remote ? { workers: "workers" as const } : { workerId: this.owner, ...(this.options.workerMemoryMb !== undefined ? { workerMemoryMb: this.options.workerMemoryMb } : {}) }),
      });
    } catch (err) {
      await store.releaseSchedulerLease(this.owner);
      throw err;
    }
    if (this.options.schedules === false) this.engine.disableSchedules();
    this.leaseTimer = setInterval(() => {
      const now = this.now();
      store
        .renewSchedulerLease(this.owner, now + ttl, now)
        .then((ok) => {
          if (!ok) this.loseLease("the scheduler lease was lost (it expired, or another scheduler took over); stopping");
        })
        .catch((err: unknown) => {
          // The store file was deleted or replaced under us: nothing written from here would last.
          if ((err as { code?: unknown }).code === "SLUICE_STORE_GONE") this.loseLease(err instanceof Error ? err.message : String(err), "SLUICE_STORE_GONE");
          else this.emit("error", err instanceof Error ? err : new Error(String(err)));
        });
    }, Math.max(100, Math.floor(ttl / 3)));
    // A store that notifies new requests (PostgreSQL) wakes the inbox at once; polling then only
    // covers a missed notification.
    if (this.options.store.watchRequests) {
      this.unwatch = await this.options.store.watchRequests(() => void this.poll());
    }
    const reliable = this.unwatch !== undefined && this.options.store.notifiesReliably !== false;
    this.pollTimer = setInterval(() => void this.poll(), reliable ? Math.max(this.options.pollMs ?? 50, 1_000) : (this.options.pollMs ?? 50));
    if (this.options.config.retentionMs !== undefined) {
      // Retention in small batches, once a minute, never in a turn: a turn stays milliseconds long.
      const every = Math.min(60_000, Math.max(1_000, Math.floor(this.options.config.retentionMs / 2)));
      this.pruneTimer = setInterval(() => void this.prune(), every);
      this.pruneTimer.unref();
      setTimeout(() => void this.prune(), 1_000).unref();
    }
    if (this.options.remote) {
      const remote = this.options.remote;
      this.unwatchDone = await remote.store.watch("done", (ids, payload) => {
        if (ids) for (const id of ids) this.doneHints.add(id);
        else this.fullSync = true;
        // A worker joined, began to stop or stopped: the scheduler sees it now, not at the next read.
        if (payload === WORKERS_CHANGED) this.workersReadAt = 0;
        void this.syncRemote();
      });
      // The fallback for a missed notification: look at every attempt it waits for.
      this.remoteTimer = setInterval(() => {
        this.fullSync = true;
        void this.syncRemote();
      }, remote.pollMs ?? 500);
      await this.syncRemote();
    }
    await this.poll();
    await this.turn();
  }

  /** The store's scheduler lock, while this scheduler holds it. */
  private releaseLock: (() => Promise<void>) | undefined;
  private standingBy = false;

  /**
   * Wait until the active scheduler is gone: its process died (the store's lock comes free at
   * once) or its lease expired (it hangs, or lost the store). Tries every quarter of the lease,
   * at most every second, so a takeover comes within the lease TTL plus a second.
   */
  private async standBy(holder: string, ttl: number): Promise<LeaseResult> {
    const { store } = this.options;
    const started = Date.now();
    this.standingBy = true;
    this.emit("standby", { holder });
    const every = Math.min(1_000, Math.max(50, Math.floor(ttl / 4)));
    for (;;) {
      if (this.stopping) return { acquired: false, holder, owner: "" };
      this.releaseLock ??= await store.tryLockScheduler?.();
      const lease = await store.acquireSchedulerLease({ owner: this.owner, pid: process.pid, host: hostname(), ttlMs: ttl, now: this.now(), holdsLock: this.releaseLock !== undefined });
      if (lease.acquired) {
        this.standingBy = false;
        this.emit("active", { waitedMs: Date.now() - started });
        return lease;
      }
      await new Promise((r) => setTimeout(r, every));
    }
  }

  /** Worker processes as the scheduler last read them (remote mode). */
  get workers(): readonly WorkerInfo[] {
    return this.lastWorkers;
  }

  private remoteTimer: NodeJS.Timeout | undefined;
  private unwatchDone: (() => Promise<void>) | undefined;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  private lastCapacity = "";
  private lastWorkers: WorkerInfo[] = [];
  private workersReadAt = 0;
  private expiredReadAt = 0;
  private taskDefs: Map<string, ResolvedConfig["pipelines"][number]["tasks"][number]> | undefined;
  /**
   * Remote attempts whose end or release was fed to the engine and awaits the next turn, and which
   * of the two: an end the engine refuses (it cancelled the attempt meanwhile, which now drains)
   * must not hide the release that follows.
   */
  private readonly remoteFed = new Map<number, "end" | "release">();
  /** Attempts a worker said it ended (the "done" notification), to read at the next look. */
  private doneHints = new Set<number>();
  /** The next look reads every attempt the engine waits for, not only the hinted ones. */
  private fullSync = true;
  /** The alive workers the queue capacity and definition gates were last computed for. */
  private lastAlive = "";
  /** The workers alive at the last look: what started attempts are given to. */
  private liveWorkers: WorkerInfo[] = [];

  /**
   * Remote mode: feed the engine what the workers did since the last look — completions, releases
   * of drained attempts, leases that ran out — and the capacity of the live workers per queue.
   */
  private syncRemote(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        try {
          await this.syncRemoteOnce();
        } catch (err) {
          this.fullSync = true; // the hints taken by the failed look are gone with it
          this.emit("error", err instanceof Error ? err : new Error(String(err)));
        }
      } while (this.syncAgain && !this.stopped);
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async syncRemoteOnce(): Promise<void> {
    const remote = this.options.remote;
    const engine = this.engine;
    if (!remote || !engine || this.stopped) return;
    const ttl = remote.leaseTtlMs ?? 15_000;
    const now = this.now();
    // Workers change rarely: read them at most every quarter of the lease (a completion storm
    // syncs hundreds of times a second).
    if (now - this.workersReadAt >= Math.min(1_000, ttl / 4)) {
      this.lastWorkers = await remote.store.listWorkers();
      this.workersReadAt = now;
    }
    const workers = this.lastWorkers;
    const here = hostname();
    // A worker of this host whose process is gone is dead now, whatever its last heartbeat says.
    const dead = new Set(workers.filter((w) => w.stoppedAt === null && w.host === here && !processAlive(w.pid)).map((w) => w.name));
    // A worker that stopped runs nothing: what is still recorded running on it (given to it after it
    // stopped listening, by a view of the workers a moment old) is lost now, not after its lease.
    const stopped = workers.filter((w) => w.stoppedAt !== null).map((w) => w.name);
    const alive = (name: string | null) => {
      const w = name === null ? undefined : workers.find((x) => x.name === name);
      return w !== undefined && w.stoppedAt === null && w.heartbeatAt + ttl > now && !dead.has(w.name);
    };
    let changed = false;
    // The gates follow the set of live workers (read at most every second): recomputed when it
    // changed, not at every look (they walk every task definition).
    const live = workers.filter((w) => alive(w.name));
    this.liveWorkers = live;
    const aliveKey = `${this.workersReadAt} ${live.map((w) => w.name).join(",")}`;
    if (aliveKey !== this.lastAlive) {
      this.lastAlive = aliveKey;
      const capacity = queueCapacity(this.options.config, live);
      const closed = closedDefinitions(this.options.config, live);
      const tooBig = tooBigTasks(this.options.config, live);
      // What admission places tasks on: a stopping worker is given nothing more.
      const bins = placementWorkers(live);
      const key = JSON.stringify([...capacity, ...closed, ...tooBig, ...bins]);
      if (key !== this.lastCapacity) {
        this.lastCapacity = key;
        this.inputs.push(() => {
          for (const [q, c] of capacity) engine.setQueueCapacity(q, c.slots, c.memoryMb);
          for (const p of this.options.config.pipelines) for (const t of p.tasks) engine.setDefinitionAccepted(t.key, !closed.has(t.key), tooBig.get(t.key));
          engine.setWorkers(bins);
        });
        changed = true;
      }
    }
    // Fed earlier and taken in by a turn since: no longer live, so no longer worth remembering.
    for (const id of this.remoteFed.keys()) if (!engine.liveAttempt(id)) this.remoteFed.delete(id);
    // Already fed to the engine by an earlier look (taken in by a turn, or about to be): once is
    // enough, and not worth reading again. Twice, the engine refused the second as a report for
    // an attempt no longer running, and logged a warning for each: thousands a minute on a busy
    // store; and each read of a finished attempt costs the store a row and this process a parse.
    const fed = (id: number, draining: boolean): boolean => {
      const f = this.remoteFed.get(id);
      return f === "release" || (f === "end" && !draining);
    };
    // Usually only the attempts the workers' notifications named; every one it waits for when a
    // notification may have been missed (the timer, a reconnect, a release).
    const full = this.fullSync;
    const hinted = this.doneHints;
    this.fullSync = false;
    this.doneHints = new Set();
    const wanted = full ? engine.liveAttempts() : [...hinted].flatMap((id) => engine.liveAttempt(id) ?? []);
    const ids = wanted.filter((a) => !fed(a.id, a.draining)).map((a) => a.id);
    const states: RemoteAttemptState[] = ids.length > 0 ? await remote.store.remoteStates(ids) : [];
    for (const st of states) {
      const mine = engine.liveAttempt(st.id);
      if (!mine || fed(st.id, mine.draining)) continue;
      if (mine.draining) {
        // Its function settled on the worker, or nobody will ever report it (never claimed, or the worker is gone).
        if (st.releasedAt !== null || !alive(st.workerId)) {
          this.remoteFed.set(st.id, "release");
          this.channel.released(st.id);
          changed = true;
        }
      } else if (st.state !== "running" && st.state !== "lost" && st.state !== "cancelled") {
        this.remoteFed.set(st.id, "end");
        this.complete(st.id, st.fencingToken, outcomeOf(st));
        changed = true;
      }
    }
    // Leases are seconds long: looking for expired ones every eighth of the TTL (at most every
    // second, at least every quarter second) is plenty, even when completions make this run
    // hundreds of times a second; the read costs a look at every active attempt. A worker of this
    // host whose process is gone is looked for at once.
    const every = Math.min(1_000, Math.max(250, ttl / 8));
    const expired = now - this.expiredReadAt >= every || dead.size > 0 ? await remote.store.expiredAttempts(now, [...dead, ...stopped]) : [];
    if (expired.length > 0 || now - this.expiredReadAt >= every) this.expiredReadAt = now;
    for (const e of expired) {
      const mine = engine.liveAttempt(e.id);
      if (!mine || mine.draining) continue;
      if (e.workerId === null && (await this.stillClaimable(e.id, live, now + ttl))) continue;
      this.emit("leaseExpired", { attemptId: e.id, workerId: e.workerId });
      const why =
        e.workerId === null
          ? "no worker took it before its lease ran out"
          : e.restarted
            ? `its worker ${e.workerId} restarted (the process it was given to is gone)`
            : dead.has(e.workerId)
            ? `its worker ${e.workerId} is gone (its process no longer exists)`
            : stopped.includes(e.workerId)
              ? `its worker ${e.workerId} has stopped`
              : `its worker ${e.workerId} stopped renewing its lease`;
      this.inputs.push((at) => void engine.markLost(e.id, at, why));
      changed = true;
    }
    if (changed) this.queueTurn();
  }

  /**
   * An attempt nobody claimed within its lease is kept (its lease renewed) while a live worker of
   * its queue could take it: admission counts the memory of a queue's workers together, so a
   * task may be admitted while no single worker has room for it yet; it waits for one to free
   * enough instead of being recorded lost. With no such worker (they died, or none has the
   * budget), it is lost and retried by its policy.
   */
  private async stillClaimable(attemptId: number, live: readonly WorkerInfo[], leaseExpiresAt: number): Promise<boolean> {
    const engine = this.engine;
    const remote = this.options.remote;
    const a = engine?.attemptOf(attemptId);
    if (!a || !remote) return false;
    this.taskDefs ??= new Map(this.options.config.pipelines.flatMap((p) => p.tasks.map((t) => [t.key, t] as const)));
    const t = this.taskDefs.get(a.taskKey);
    const queue = t?.queue ?? "default";
    const need = t?.memoryMb ?? 0;
    const able = live.some((w) => w.queues.includes(queue) && !w.avoid.includes(a.taskKey) && (w.memoryMb === null || w.memoryMb >= need));
    if (!able) return false;
    return this.options.store.renewLease(attemptId, a.fencingToken, leaseExpiresAt).catch(() => false);
  }

  /** Create a run now (in this process). */
  trigger(pipeline: string, params: Record<string, unknown> = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      this.inputs.push((now) => {
        try {
          const runId = this.requireEngine().trigger(pipeline, now, { params });
          // Answered once the run is in the store, so the caller can read it at once (on every store).
          this.afterCommit.push(() => resolve(runId));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      this.queueTurn();
    });
  }

  /**
   * An operator's request made in this process (pause, resume, backfill, retry, mark), decided like
   * one from another terminal; resolves once its effect is committed.
   */
  async control(req: Pick<ControlRequest, "type" | "pipeline" | "runId" | "params">): Promise<{ runId: number | null; error: string | null }> {
    const loaded = req.type === "retry" || req.type === "mark" ? await this.loadRun(req.runId) : undefined;
    return new Promise((resolve, reject) => {
      this.inputs.push((now) => {
        try {
          const answer = answerRequest(this.requireEngine(), req, now, loaded);
          this.afterCommit.push(() => resolve(answer));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      this.queueTurn();
    });
  }

  /** Cancel a run (in this process). */
  cancel(runId: number, reason = "cancelled by request"): Promise<boolean> {
    return new Promise((resolve) => {
      this.inputs.push((now) => {
        resolve(this.requireEngine().cancelRun(runId, now, reason));
      });
      this.queueTurn();
    });
  }

  /**
   * Graceful stop: admit nothing new, wait for running attempts until `deadline`, then abort them
   * and record them lost (they are retried on the next start), release the lease. Idempotent.
   */
  async stop(deadline: number, abortGraceMs = 2000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.engine?.stopAdmitting();
    clearInterval(this.pollTimer);
    void this.unwatch?.();
    clearInterval(this.remoteTimer);
    void this.unwatchDone?.();
    if (this.syncing) await this.syncing;
    // A turn in flight may still start the attempts it decided before stopAdmitting: let it, so
    // the worker below sees them.
    if (this.turning) await this.turning;
    const worker = this.worker;
    if (worker && !(await worker.idle(deadline))) {
      // Past the deadline: abort what still runs. Those attempts are recorded lost (retried by
      // their policy on the next start), not failed: the task did nothing wrong.
      const ids = worker.runningIds();
      for (const id of ids) this.abortedForShutdown.add(id);
      worker.abortAll("Sluice is shutting down");
      await worker.idle(Date.now() + abortGraceMs);
      for (const id of ids) {
        this.inputs.push((now) => {
          this.requireEngine().markLost(id, now, "still running when Sluice shut down");
          });
      }
    }
    // What the workers reported last (an in-process worker just handed its leases back).
    if (this.options.remote) await this.syncRemote();
    await this.turn();
    if (this.turning) await this.turning;
    // Nothing is written after this (a late report of an abandoned attempt, a retry coming due):
    // the lease is about to go, and another scheduler may take over the store.
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    clearTimeout(this.retryTimer);
    clearInterval(this.leaseTimer);
    clearInterval(this.pruneTimer);
    while (this.pruning) await new Promise((r) => setTimeout(r, 5));
    await this.options.store.releaseSchedulerLease(this.owner);
    await this.releaseLock?.();
    this.releaseLock = undefined;
  }

  /**
   * Another process may own the store now and act on what it recorded: from here this one writes
   * nothing (its view is stale; the store refuses its batches anyway), and its attempts, which the
   * new owner will retry, are aborted so a task does not run twice at once.
   */
  private loseLease(message: string, code = "SLUICE_LEASE_LOST"): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.leaseTimer);
    clearInterval(this.pollTimer);
    void this.unwatch?.();
    clearInterval(this.remoteTimer);
    void this.unwatchDone?.();
    clearTimeout(this.wakeTimer);
    clearTimeout(this.retryTimer);
    this.worker?.abortAll("the scheduler lease was lost");
    void this.releaseLock?.();
    this.releaseLock = undefined;
    this.emit("error", new SluiceError(code, message));
  }

  private async prune(): Promise<void> {
    const retention = this.options.config.retentionMs;
    if (retention === undefined || this.pruning || this.stopping || this.stopped) return;
    this.pruning = true;
    const before = this.now() - retention;
    const total = { runs: 0, attempts: 0, events: 0, requests: 0, before };
    try {
      for (let more = true; more && !this.stopping && !this.stopped; ) {
        const r = await this.options.store.prune(before, PRUNE_BATCH);
        total.runs += r.runs;
        total.attempts += r.attempts;
        total.events += r.events;
        total.requests += r.requests;
        more = r.more;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (total.runs + total.events + total.requests > 0) this.emit("pruned", total);
    } catch (err) {
      this.emit("error", err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.pruning = false;
    }
  }

  private requireEngine(): Engine {
    if (!this.engine) throw new Error("scheduler not started");
    return this.engine;
  }

  private complete(attemptId: number, fencingToken: number, outcome: CompletionOutcome): void {
    this.inputs.push((now) => {
      if (this.abortedForShutdown.has(attemptId)) return; // recorded lost by stop()
      const result = this.requireEngine().finish(attemptId, fencingToken, outcome, now);
      if (!result.accepted) {
        this.emit("refused", { attemptId, reason: result.reason });
        return;
      }
      this.finishedInTurn++;
    });
    this.queueTurn();
  }

  private async poll(): Promise<void> {
    if (this.stopping || this.stopped) return;
    let requests: ControlRequest[];
    try {
      requests = await this.options.store.takeRequests(100, this.now(), this.owner);
    } catch (err) {
      this.emit("error", err instanceof Error ? err : new Error(String(err)));
      return;
    }
    for (const req of requests) {
      // A retry or mark is about a finished run, which only the store remembers.
      let loaded: Awaited<ReturnType<Scheduler["loadRun"]>> | undefined;
      try {
        loaded = req.type === "retry" || req.type === "mark" ? await this.loadRun(req.runId) : undefined;
      } catch (err) {
        const message = `could not read run ${req.runId}: ${err instanceof Error ? err.message : String(err)}`;
        this.inputs.push((now) => this.pendingWrites.push({ type: "resolveRequest", id: req.id, runId: req.runId, error: message, at: now }));
        continue;
      }
      this.inputs.push((now) => {
        const engine = this.requireEngine();
        try {
          const answer = answerRequest(engine, req, now, loaded);
          this.pendingWrites.push({ type: "resolveRequest", id: req.id, runId: answer.runId, error: answer.error, at: now });
        } catch (err) {
          this.pendingWrites.push({ type: "resolveRequest", id: req.id, runId: null, error: err instanceof Error ? err.message : String(err), at: now });
        }
      });
    }
    if (requests.length > 0) this.queueTurn();
  }

  private async loadRun(runId: number | null): Promise<{ run: RunRecord | undefined; tasks: TaskInstanceRecord[] }> {
    if (runId === null) return { run: undefined, tasks: [] };
    const [run, tasks] = await Promise.all([this.options.store.getRun(runId), this.options.store.listTasks(runId)]);
    return { run, tasks };
  }

  private queueTurn(): void {
    if (this.turnQueued || this.stopped) return;
    this.turnQueued = true;
    setImmediate(() => {
      this.turnQueued = false;
      void this.turn();
    });
  }


  /** One step: inputs → engine → store (one transaction) → workers. Turns never overlap. */
  private async turn(): Promise<void> {
    while (this.turning) await this.turning;
    this.turning = this.doTurn().catch((err: unknown) => {
      this.emit("error", err instanceof Error ? err : new Error(String(err)));
    });
    await this.turning;
    this.turning = undefined;
  }

  private async doTurn(): Promise<void> {
    if (this.stopped) return;
    const engine = this.requireEngine();
    const now = this.now();
    const turnStarted = performance.now();
    let applyMs = 0;
    const carried = this.unapplied;
    this.unapplied = undefined;
    this.finishedInTurn = 0;
    for (let input = this.inputs.shift(); input; input = this.inputs.shift()) input(now);
    // Only while tasks wait for tokens does a turn wait on the budget (no await otherwise).
    const wants = this.options.budgets ? engine.rateWants() : [];
    const offered = wants.length > 0 ? await this.offerTokens(engine, wants, now) : undefined;
    const decided = engine.advance(now);
    if (offered) await this.returnTokens(engine, offered);
    // Tasks that became ready in this turn were not offered tokens: another turn follows at once.
    if (this.options.budgets && engine.rateWants().some((w) => !offered?.has(w.name))) this.queueTurn();
    const outputs: EngineOutput[] = [...(carried?.outputs ?? []), decided];
    const writes: StoreWrite[] = [...(carried?.writes ?? []), ...this.remoteWrites(decided, now), ...this.pendingWrites.splice(0)];
    const committed = [...(carried?.committed ?? []), ...this.afterCommit.splice(0)];
    try {
      if (writes.length > 0) {
        const applyStarted = performance.now();
        await this.options.store.apply(writes, { owner: this.owner, now });
        applyMs = performance.now() - applyStarted;
      }
    } catch (err) {
      if ((err as { code?: unknown }).code === "SLUICE_LEASE_LOST") {
        // Paused or cut off past the lease: nothing of this turn happened, and nothing ever will.
        this.loseLease(`${err instanceof Error ? err.message : String(err)}; stopping`);
        return;
      }
      // Nothing of the batch was committed, so nothing of it may be acted on; but the engine has
      // made these decisions already and builds on them. Keep them, in order, for the next turn
      // (which writes them first), and try again soon.
      this.unapplied = { writes, outputs, committed };
      clearTimeout(this.retryTimer);
      if (!this.stopping) this.retryTimer = setTimeout(() => this.queueTurn(), 1000);
      // An unreachable database (a restart) is waited for: the lease says how long this scheduler
      // may keep its decisions; past it, the fenced write is refused and it stops.
      if (isStoreUnavailable(err)) {
        if (this.failedWrites === 0 || Date.now() - this.unavailableSince > 10_000) {
          this.unavailableSince = Date.now();
          this.emit("error", new SluiceError("SLUICE_STORE_RETRYING", `the store is unreachable (${err instanceof Error ? err.message : String(err)}); retrying every second while the lease holds`));
        }
        this.failedWrites = Math.min(this.failedWrites + 1, 1);
        return;
      }
      if (++this.failedWrites === 5) {
        // A store that refuses five batches in a row (a full disk, a broken file) will not recover
        // by itself: say so once, with a stable code, so `sluice run` can stop instead of spinning.
        const why = err instanceof Error ? err.message : String(err);
        this.emit("error", new SluiceError("SLUICE_STORE_UNAVAILABLE", `the store refused 5 batches in a row (last: ${why}); stopping`));
      }
      throw err;
    }
    this.failedWrites = 0;
    for (const done of committed) done();
    if (writes.length > 0) this.emit("batch", { at: now, writes, durationMs: applyMs });
    const worker = this.worker;
    let started = 0;
    for (const out of outputs) {
      for (const a of out.abort) worker?.abort(a.attemptId, a.reason);
      for (const s of out.start) {
        worker?.run(s);
        started++;
      }
    }
    for (const w of writes) {
      if (w.type === "appendEvent") this.emit("event", w.event);
      // Task ends the event log does not record (a success is not an event): for hooks and webhooks.
      else if (w.type === "updateTask" && (w.state === "success" || w.state === "upstream_failed") && this.listenerCount("taskEnded") > 0) {
        this.emit("taskEnded", { at: now, runId: w.runId, task: w.task, state: w.state, attempts: w.attempts ?? null });
      }
    }
    this.emit("turn", { at: now, started, finished: this.finishedInTurn, changes: writes.length, durationMs: performance.now() - turnStarted });
    this.scheduleWake();
  }

  /**
   * Before admission: take from the budgets the tokens waiting tasks could use now (at most a
   * burst each) and offer them to the engine. One round trip per rate limit that has waiting
   * tasks, none otherwise.
   */
  private async offerTokens(engine: Engine, wants: ReturnType<Engine["rateWants"]>, now: number): Promise<Map<string, number> | undefined> {
    const budgets = this.options.budgets;
    if (!budgets) return undefined;
    const offered = new Map<string, number>();
    await Promise.all(
      wants.map(async ({ name, want }) => {
        try {
          const g = await budgets.forAdmission(name, want);
          offered.set(name, g.taken);
          engine.offerTokens(name, g.taken, now + (g.taken > 0 ? g.nextTokenMs : g.retryAfterMs));
        } catch (err) {
          // Nothing offered: its tasks wait, and the next turn asks again.
          engine.offerTokens(name, 0, now + 1000);
          this.emit("error", err instanceof Error ? err : new Error(String(err)));
        }
      }),
    );
    return offered;
  }

  /** After admission: give back what was offered and not granted. */
  private async returnTokens(engine: Engine, offered: Map<string, number>): Promise<void> {
    const budgets = this.options.budgets;
    if (!budgets) return;
    const unused = new Map(engine.unusedTokens().map((u) => [u.name, u.tokens]));
    await Promise.all(
      [...offered].map(async ([name, tokens]) => {
        const back = unused.get(name) ?? 0;
        budgets.spent(name, tokens - back);
        if (back > 0) await budgets.giveBack(name, back).catch((err: unknown) => this.emit("error", err instanceof Error ? err : new Error(String(err))));
      }),
    );
  }

  /**
   * The engine's changes, plus (remote mode) each started attempt handed to its queue in the same
   * batch, its lease running from now: a worker must claim it within the lease, or it is lost.
   */
  private remoteWrites(decided: EngineOutput, now: number): StoreWrite[] {
    const remote = this.options.remote;
    if (!remote) return decided.changes;
    const ttl = remote.leaseTtlMs ?? 15_000;
    const writes: StoreWrite[] = decided.changes.map((c) => (c.type === "createAttempt" ? { ...c, attempt: { ...c.attempt, leaseExpiresAt: now + ttl } } : c));
    this.taskDefs ??= new Map(this.options.config.pipelines.flatMap((p) => p.tasks.map((t) => [t.key, t] as const)));
    for (const s of decided.start) {
      const t = this.taskDefs.get(s.taskKey);
      // Admission placed it on a live worker with the room for it (read at the last look); the
      // attempt is recorded as that worker's (the engine wrote it into the attempt).
      const worker = s.worker === undefined ? undefined : this.liveWorkers.find((w) => w.name === s.worker);
      writes.push({
        type: "dispatch",
        attemptId: s.attemptId,
        queue: t?.queue ?? "default",
        taskKey: s.taskKey,
        memoryMb: t?.memoryMb,
        command: s,
        at: now,
        ...(worker ? { worker: { name: worker.name, startedAt: worker.startedAt } } : {}),
      });
    }
    return writes;
  }

  private scheduleWake(): void {
    clearTimeout(this.wakeTimer);
    if (this.stopping) return;
    const next = this.engine?.nextWakeAt();
    if (next === undefined) return;
    // Timers are capped so a far-away tick is re-checked now and then (clock changes, sleep).
    const delay = Math.min(Math.max(0, next - this.now()), 60_000);
    this.wakeTimer = setTimeout(() => this.queueTurn(), delay);
  }
}

/** A remote attempt's end as the engine takes it. */
function outcomeOf(st: RemoteAttemptState): CompletionOutcome {
  if (st.state === "success") return { state: "success", output: st.output };
  const state = st.state === "timed_out" ? "timed_out" : "failed";
  return { state, error: st.error ?? { message: `${st.state} on its worker` }, ...(st.releasedAt === null ? { stillRunning: true } : {}) };
}

/** The live workers admission may place tasks on: not those stopping (they are given nothing more). */
export function placementWorkers(live: readonly WorkerInfo[]): Parameters<Engine["setWorkers"]>[0] {
  return live.filter((w) => (w.drainingAt ?? null) === null).map((w) => ({ name: w.name, queues: w.queues, slots: w.slots, prefetch: w.prefetch, memoryMb: w.memoryMb, avoid: w.avoid }));
}

/**
 * What live workers offer each queue of the config: the sum of their slots, and of their memory
 * budgets (a worker without one does not limit memory).
 */
export function queueCapacity(config: ResolvedConfig, live: readonly WorkerInfo[]): Map<string, { slots: number; memoryMb: number }> {
  const capacity = new Map<string, { slots: number; memoryMb: number }>(queuesOf(config).map((q) => [q, { slots: 0, memoryMb: 0 }]));
  for (const w of live) {
    for (const q of w.queues) {
      const c = capacity.get(q);
      if (!c) continue;
      c.slots += w.slots + (w.prefetch ?? 0);
      c.memoryMb = w.memoryMb === null ? Number.MAX_SAFE_INTEGER : Math.min(Number.MAX_SAFE_INTEGER, c.memoryMb + w.memoryMb);
    }
  }
  return capacity;
}

/**
 * The tasks no live worker will run: every live worker of the task's queue runs code that defines
 * it differently from the scheduler (a rolling deploy half done). A queue nobody serves closes
 * nothing here: its own reason says so.
 */
/**
 * Tasks whose declared memory no live worker of their queue can hold (its budget is smaller than
 * the task's `memoryMb`; a worker without a budget holds anything). Admission counts a queue's
 * memory across its workers, so without this a task could be admitted that no worker can take.
 * A queue nobody serves closes nothing here: its own reason says so.
 */
export function tooBigTasks(config: ResolvedConfig, live: readonly WorkerInfo[]): Map<string, { queue: string; needMb: number; largestMb: number }> {
  const out = new Map<string, { queue: string; needMb: number; largestMb: number }>();
  for (const p of config.pipelines) {
    for (const t of p.tasks) {
      if (t.memoryMb === undefined) continue;
      const serving = live.filter((w) => w.queues.includes(t.queue) && !w.avoid.includes(t.key));
      if (serving.length === 0 || serving.some((w) => w.memoryMb === null)) continue;
      const largestMb = Math.max(...serving.map((w) => w.memoryMb ?? 0));
      if (largestMb < t.memoryMb) out.set(t.key, { queue: t.queue, needMb: t.memoryMb, largestMb });
    }
  }
  return out;
}

export function closedDefinitions(config: ResolvedConfig, live: readonly WorkerInfo[]): Set<string> {
  const closed = new Set<string>();
  for (const p of config.pipelines) {
    for (const t of p.tasks) {
      const serving = live.filter((w) => w.queues.includes(t.queue));
      if (serving.length > 0 && serving.every((w) => w.avoid.includes(t.key))) closed.add(t.key);
    }
  }
  return closed;
}

/**
 * What the engine makes of a request from another terminal: the run it created or cancelled (a
 * backfill answers with its first run), or why it could not be done. The same answer whether a
 * running scheduler takes the request or the CLI decides it itself (no scheduler running).
 */
export function answerRequest(
  engine: Engine,
  req: Pick<ControlRequest, "type" | "pipeline" | "runId" | "params">,
  now: number,
  /** For `retry` and `mark`: the finished run and its task instances, read from the store. */
  loaded?: { run: RunRecord | undefined; tasks: TaskInstanceRecord[] },
): { runId: number | null; error: string | null } {
  switch (req.type) {
    case "trigger":
      return { runId: engine.trigger(req.pipeline ?? "", now, { params: req.params }), error: null };
    case "cancel": {
      const ok = engine.cancelRun(req.runId ?? -1, now, "cancelled with `sluice cancel`");
      return { runId: req.runId, error: ok ? null : `run ${req.runId} is not queued or running` };
    }
    case "pause":
      return { runId: null, error: engine.pause(req.pipeline ?? "", now) ? null : `pipeline ${req.pipeline} is paused already` };
    case "resume":
      return { runId: null, error: engine.resume(req.pipeline ?? "", now) ? null : `pipeline ${req.pipeline} is not paused` };
    case "backfill": {
      const times = Array.isArray(req.params.times) ? req.params.times.filter((t): t is number => typeof t === "number") : [];
      const maxActive = typeof req.params.maxActive === "number" ? req.params.maxActive : 1;
      const ids = engine.backfill(req.pipeline ?? "", times, maxActive, now, { queued: req.params.queued === true });
      return { runId: ids[0] ?? null, error: null };
    }
    case "retry":
    case "mark": {
      const run = loaded?.run;
      if (!run) return { runId: req.runId, error: `run ${req.runId} does not exist (see \`sluice runs\`)` };
      if (req.type === "retry") {
        const tasks = Array.isArray(req.params.tasks) ? req.params.tasks.filter((t): t is string => typeof t === "string") : [];
        engine.retry(run, loaded.tasks, { tasks, downstream: req.params.downstream === true }, now);
      } else {
        const state = req.params.state === "success" ? "success" : "failed";
        engine.mark(run, loaded.tasks, typeof req.params.task === "string" ? req.params.task : "", state, now);
      }
      return { runId: run.id, error: null };
    }
    default: {
      const never: never = req.type;
      return { runId: null, error: `unknown request type ${String(never)}` };
    }
  }
}

