/**
 * One attempt run in a thread or a child process (isolation `thread` / `process`), seen from the
 * worker: it starts the child program, relays the context's calls (logs, heartbeats, progress,
 * overload), enforces the memory limit, measures the peak, and can kill it. Which slots the attempt
 * holds and when its end is reported stay the worker's business ({@link LocalWorker}), exactly as
 * for an inline attempt.
 */
import { fork, type ChildProcess } from "node:child_process";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { StartCommand } from "../../core/engine/types.js";
import { readRssBytes } from "../../observe/sampler.js";
import { childEntry } from "./entry.js";
import { IsolationCrashError, MemoryLimitError } from "./errors.js";
import type { ChildStart, FromChild, SerializedError, ToChild } from "./protocol.js";

const MB = 1024 * 1024;

/** How an isolated attempt ended. */
export type IsolatedEnd =
  | { kind: "returned"; output: unknown }
  | { kind: "threw"; error: SerializedError }
  | { kind: "memory"; error: MemoryLimitError }
  /** Killed by {@link IsolatedAttempt.kill} (it ignored its signal past the grace period). */
  | { kind: "killed" }
  | { kind: "crashed"; error: IsolationCrashError };

/** What the context's calls in the child become in the worker. */
export interface IsolatedHooks {
  log(level: "debug" | "info" | "warn" | "error", msg: string, fields: Record<string, unknown> | undefined): void;
  /** Renew the lease (with progress when `withProgress`); resolves to whether it was accepted. */
  heartbeat(withProgress: boolean, progress: unknown): Promise<boolean>;
  overloaded(): void;
  /** Take tokens (`rate`) or bytes (`bandwidth`) from the installation's budget, waiting until they are there. */
  tokens(budget: "rate" | "bandwidth", name: string, min: number, max: number): Promise<{ taken: number; at: number }>;
}

/** What an {@link IsolatedAttempt} runs, and with what limit. */
export interface IsolatedAttemptOptions {
  isolation: "thread" | "process";
  /** The config module the worker loaded; the child imports it again. */
  configPath: string;
  cmd: StartCommand;
  /** The task's `memoryMb`: the heap limit, and for a process the RSS limit. None: no limit. */
  memoryMb: number | undefined;
  /** How often memory is read (a process's RSS, a thread's heap), ms. @defaultValue 100 */
  sampleMs?: number;
  hooks: IsolatedHooks;
}

/** V8's last words when a heap limit is reached (process isolation; a thread says ERR_WORKER_OUT_OF_MEMORY). */
const HEAP_OOM = /heap limit|heap out of memory|Allocation failed/i;

/**
 * A running isolated attempt. `done` resolves once, when the child has reported (or is gone);
 * `peakBytes` is the highest memory seen: the RSS of a child process, the heap of a thread.
 *
 * @example
 * const a = new IsolatedAttempt({ isolation: "process", configPath, cmd, memoryMb: 256, hooks });
 * const end = await a.done; // { kind: "memory", error } when it went past 256 MB
 */
export class IsolatedAttempt {
  readonly done: Promise<IsolatedEnd>;
  private peak = 0;
  private settle!: (end: IsolatedEnd) => void;
  private settled = false;
  private killedByUs = false;
  private rssOver: number | undefined;
  private pid: number | undefined;
  private readonly send: (m: ToChild) => void;
  private readonly stop: () => void;
  private readonly watchdog: NodeJS.Timeout | undefined;

  constructor(private readonly options: IsolatedAttemptOptions) {
    this.done = new Promise((resolve) => (this.settle = resolve));
    const sampleMs = options.sampleMs ?? 100;
    const start: ChildStart = { type: "start", configPath: options.configPath, cmd: options.cmd, sampleMs };
    if (options.isolation === "process") {
      const child = this.spawnProcess(start);
      this.send = (m) => {
        if (child.connected) child.send(m);
      };
      this.stop = () => void child.kill("SIGKILL");
      this.watchdog = setInterval(() => this.sampleRss(child), sampleMs);
    } else {
      const thread = this.spawnThread(start);
      this.send = (m) => thread.postMessage(m);
      this.stop = () => void thread.terminate();
    }
  }

  /** The highest memory measured so far, bytes: the RSS of a child process, the V8 heap of a thread. */
  get peakBytes(): number {
    return this.peak;
  }

  /** Abort the task's signal in the child (a timeout when `timeoutMs` is given). */
  abort(message: string, timeoutMs?: number): void {
    if (!this.settled) this.send({ type: "abort", message, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  }

  /** Kill the thread or process now; `done` resolves with `killed` (unless it reported first). */
  kill(): void {
    if (this.settled) return;
    this.killedByUs = true;
    this.stop();
  }

  private end(end: IsolatedEnd): void {
    if (this.settled) return;
    this.settled = true;
    clearInterval(this.watchdog);
    // Stopped at its limit: its peak is at least what the error says.
    if (end.kind === "memory") this.peak = Math.max(this.peak, end.error.peakBytes);
    this.settle(end);
  }

  private onMessage(m: FromChild): void {
    const hooks = this.options.hooks;
    switch (m.type) {
      case "log":
        hooks.log(m.level, m.msg, m.fields);
        return;
      case "heartbeat":
        void hooks.heartbeat(m.withProgress, m.progress).then(
          (ok) => this.send({ type: "ack", id: m.id, ok }),
          () => this.send({ type: "ack", id: m.id, ok: false }),
        );
        return;
      case "overloaded":
        hooks.overloaded();
        return;
      case "tokens":
        hooks.tokens(m.budget, m.name, m.min, m.max).then(
          ({ taken, at }) => this.send({ type: "tokens", id: m.id, ok: true, taken, at }),
          (err: unknown) => {
            const code = (err as { code?: unknown } | null)?.code;
            this.send({ type: "tokens", id: m.id, ok: false, error: { message: err instanceof Error ? err.message : String(err), ...(typeof code === "string" ? { code } : {}) } });
          },
        );
        return;
      case "memory":
        this.peak = Math.max(this.peak, m.heapBytes);
        return;
      case "done": {
        if (this.options.isolation === "thread") this.peak = Math.max(this.peak, m.heapPeakBytes);
        else {
          const rss = this.pid !== undefined ? readRssBytes(this.pid) : undefined;
          // Without /proc there is no RSS to read: the child's own heap peak is the best there is.
          this.peak = rss === undefined && this.peak === 0 ? m.heapPeakBytes : Math.max(this.peak, rss ?? 0);
        }
        let end: IsolatedEnd;
        if (m.ok) {
          end = { kind: "returned", output: JSON.parse(m.outputJson) as unknown };
        } else {
          end = { kind: "threw", error: m.error };
        }
        this.end(end);
        // A thread is stopped here; a process exits on its own once its message is out.
        if (this.options.isolation === "thread") this.stop();
        return;
      }
      default: {
        const unknown: never = m;
        throw new Error(`unknown message from an isolated attempt: ${JSON.stringify(unknown)}`);
      }
    }
  }

  private spawnProcess(start: ChildStart): ChildProcess {
    const entry = childEntry();
    const { memoryMb } = this.options;
    const execArgv = [...(entry.tsx ? ["--import", entry.tsx.loader] : []), ...(memoryMb !== undefined ? [`--max-old-space-size=${memoryMb}`] : [])];
    const child = fork(entry.file, [], { execArgv, stdio: ["ignore", "inherit", "pipe", "ipc"], serialization: "json" });
    let tail = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      process.stderr.write(chunk);
      tail = (tail + chunk.toString("utf8")).slice(-4096);
    });
    child.on("message", (m) => this.onMessage(m as FromChild));
    child.on("error", (err) => {
      // A message sent as it died (ERR_IPC_CHANNEL_CLOSED) is not the end: "exit" says how it ended.
      if (child.pid === undefined) this.end({ kind: "crashed", error: new IsolationCrashError(`could not start the child process: ${err.message}`) });
    });
    child.on("exit", (code, signal) => {
      if (this.settled) return;
      if (this.rssOver !== undefined) return this.end({ kind: "memory", error: new MemoryLimitError(memoryMb ?? 0, this.rssOver, "rss", "process") });
      if (this.killedByUs) return this.end({ kind: "killed" });
      if (memoryMb !== undefined && HEAP_OOM.test(tail)) return this.end({ kind: "memory", error: new MemoryLimitError(memoryMb, Math.max(this.peak, memoryMb * MB), "heap", "process") });
      const last = tail.trim().split("\n").slice(-1)[0];
      this.end({ kind: "crashed", error: new IsolationCrashError(`the child process exited (${signal ?? `code ${code}`}) before reporting a result${last ? `; its last words: ${last}` : ""}`) });
    });
    child.send(start);
    this.pid = child.pid;
    return child;
  }

  private sampleRss(child: ChildProcess): void {
    if (this.settled || child.pid === undefined) return;
    const rss = readRssBytes(child.pid);
    if (rss === undefined) return;
    this.peak = Math.max(this.peak, rss);
    const limit = this.options.memoryMb;
    if (limit !== undefined && rss > limit * MB && this.rssOver === undefined) {
      this.rssOver = rss;
      child.kill("SIGKILL");
    }
  }

  private spawnThread(start: ChildStart): Worker {
    const entry = childEntry();
    const { memoryMb } = this.options;
    const options = { workerData: start, ...(memoryMb !== undefined ? { resourceLimits: { maxOldGenerationSizeMb: memoryMb } } : {}) };
    // From the TypeScript source (Sluice's own tests) a thread cannot take --import: tsx is loaded by a bootstrap.
    const thread = entry.tsx
      ? new Worker(`import(${JSON.stringify(entry.tsx.api)}).then(({ tsImport }) => tsImport(${JSON.stringify(pathToFileURL(entry.file).href)}, ${JSON.stringify(pathToFileURL(entry.file).href)}))`, { ...options, eval: true })
      : new Worker(entry.file, options);
    thread.on("message", (m) => this.onMessage(m as FromChild));
    thread.on("error", (err: Error & { code?: string }) => {
      if (err.code === "ERR_WORKER_OUT_OF_MEMORY" && memoryMb !== undefined) {
        this.end({ kind: "memory", error: new MemoryLimitError(memoryMb, Math.max(this.peak, memoryMb * MB), "heap", "thread") });
      } else {
        this.end({ kind: "crashed", error: new IsolationCrashError(`the thread failed before reporting a result: ${err.message}`) });
      }
    });
    thread.on("exit", (code) => {
      if (this.killedByUs) return this.end({ kind: "killed" });
      this.end({ kind: "crashed", error: new IsolationCrashError(`the thread exited (code ${code}) before reporting a result`) });
    });
    return thread;
  }
}
