/**
 * The program a `thread` or `process` attempt runs in: it imports the user's config module (the
 * file the worker loaded, through the same TypeScript loader), finds the task by pipeline id and
 * task id, runs it with a context whose members talk to the worker over the message channel, and
 * reports the result. One attempt per thread or process; it exits once the result is sent.
 *
 * It is an entry point, like the CLI: it sits above every layer and imports the CLI's config loader.
 */
import { getHeapStatistics } from "node:v8";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import type { TaskContext, TaskFn, TaskLogger } from "../../define/types.js";
import { resolveConfigOrThrow } from "../../define/validate.js";
import { TaskTimeoutError, errorOf } from "../local-worker.js";
import { throttleThrough } from "../budgets.js";
import type { ChildStart, FromChild, SerializedError, ToChild } from "./protocol.js";
import { Databases } from "../databases.js";
import { AttemptDatabases } from "../task-database.js";
import { heldPools } from "../held-pools.js";

/** The channel to the worker: `parentPort` in a thread, the IPC channel in a child process. */
interface Port {
  send(message: FromChild, then?: () => void): void;
  onMessage(listener: (message: ToChild) => void): void;
}

const port: Port = isMainThread
  ? {
      send: (m, then) => void process.send?.(m, undefined, undefined, () => then?.()),
      onMessage: (l) => void process.on("message", (m) => l(m as ToChild)),
    }
  : {
      // A thread is stopped by the worker once it has the result (an exit here could drop the message).
      send: (m) => parentPort?.postMessage(m),
      onMessage: (l) => void parentPort?.on("message", l),
    };

/** The config module's default export, once imported. */
let loadedConfig: unknown;

/** The task's function in the config module, or an error saying why it is not there. */
async function findTask(configPath: string, pipelineId: string, taskId: string): Promise<TaskFn> {
  const { importConfig } = await import("../../cli/load-config.js");
  const config = (loadedConfig = await importConfig(configPath));
  const pipelines = (config as { pipelines?: unknown }).pipelines;
  const p = Array.isArray(pipelines) ? (pipelines as Array<{ id?: unknown; tasks?: unknown }>).find((x) => x?.id === pipelineId) : undefined;
  const t = Array.isArray(p?.tasks) ? (p.tasks as Array<{ id?: unknown; fn?: unknown }>).find((x) => x?.id === taskId) : undefined;
  if (typeof t?.fn !== "function") {
    throw Object.assign(new Error(`${configPath} no longer defines task ${pipelineId}.${taskId} (the file changed since the worker loaded it?); restart the worker with the current config`), { code: "SLUICE_UNKNOWN_TASK" });
  }
  return t.fn as TaskFn;
}

/** A JSON-safe copy of a log line's fields (a thread would throw on a function; IPC would drop it silently). */
function plain(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (fields === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(fields)) as Record<string, unknown>;
  } catch (err) {
    return { unserializable: err instanceof Error ? err.message : String(err) };
  }
}

async function main(start: ChildStart): Promise<void> {
  const { cmd } = start;
  const controller = new AbortController();
  let heapPeak = getHeapStatistics().used_heap_size;
  const heapNow = (): number => (heapPeak = Math.max(heapPeak, getHeapStatistics().used_heap_size));
  // A thread's heap is its own isolate's: reported so the worker knows the peak even if the thread
  // is stopped at its heap limit. A process is measured from outside (RSS), so it only reports at the end.
  if (!isMainThread) setInterval(() => port.send({ type: "memory", heapBytes: heapNow() }), start.sampleMs).unref();

  let nextId = 0;
  const acks = new Map<number, (ok: boolean) => void>();
  const granted = new Map<number, { resolve: (g: { taken: number; at: number }) => void; reject: (e: Error) => void }>();
  // ctx.take and ctx.throttle: the worker takes from the installation's budget and answers.
  const tokens = (budget: "rate" | "bandwidth", name: string, min: number, max: number): Promise<{ taken: number; at: number }> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      granted.set(id, { resolve, reject });
      port.send({ type: "tokens", id, budget, name, min, max });
    });
  port.onMessage((m) => {
    if (m.type === "abort") controller.abort(m.timeoutMs !== undefined ? new TaskTimeoutError(m.timeoutMs) : new Error(m.message));
    else if (m.type === "ack") {
      acks.get(m.id)?.(m.ok);
      acks.delete(m.id);
    } else if (m.type === "tokens") {
      const waiting = granted.get(m.id);
      granted.delete(m.id);
      if (m.ok) waiting?.resolve({ taken: m.taken, at: m.at });
      else waiting?.reject(Object.assign(new Error(m.error.message), m.error.code !== undefined ? { code: m.error.code } : {}));
    }
  });
  const beat = (withProgress: boolean, progress?: unknown): Promise<void> =>
    new Promise((resolve) => {
      const id = ++nextId;
      acks.set(id, () => resolve());
      port.send({ type: "heartbeat", id, withProgress, ...(withProgress ? { progress: plain({ v: progress })?.v } : {}) });
    });
  const line = (level: "debug" | "info" | "warn" | "error") => (msg: string, fields?: Record<string, unknown>) => {
    const f = plain(fields);
    port.send({ type: "log", level, msg: String(msg), ...(f ? { fields: f } : {}) });
  };
  const log: TaskLogger = { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
  const ctx: TaskContext = {
    signal: controller.signal,
    log,
    pipeline: cmd.pipeline,
    task: cmd.task,
    runId: cmd.runId,
    attempt: cmd.attempt,
    key: `${cmd.pipeline}:${cmd.runId}:${cmd.task}`,
    scheduledFor: new Date(cmd.scheduledFor),
    params: cmd.params,
    upstream: cmd.upstream,
    heartbeat: () => beat(false),
    progress: (value: unknown) => beat(true, value),
    overloaded: () => port.send({ type: "overloaded" }),
    take: async (limit: string, n = 1) => ({ at: (await tokens("rate", limit, n, n)).at }),
    throttle: (stream, bandwidth: string) => throttleThrough(stream, async (max) => (await tokens("bandwidth", bandwidth, 1, max)).taken),
    // `ctx.pg` here opens its own connections (this thread or process is the attempt's), with the
    // same cap: no more at once than the slots the attempt holds.
    pg: (name?: string) => (databases ??= attemptDatabases(cmd, controller.signal)).get(name),
  };
  let databases: AttemptDatabases | undefined;

  let result: FromChild;
  try {
    const fn = await findTask(start.configPath, cmd.pipeline, cmd.task);
    const value: unknown = await fn(ctx);
    let outputJson: string;
    try {
      outputJson = value === undefined ? "null" : JSON.stringify(value);
    } catch (err) {
      throw Object.assign(new Error(`the task returned a value that cannot be stored as JSON: ${err instanceof Error ? err.message : String(err)}`), { code: "SLUICE_OUTPUT_NOT_JSON" });
    }
    result = { type: "done", ok: true, outputJson: outputJson ?? "null", heapPeakBytes: heapNow() };
  } catch (err) {
    const error: SerializedError = errorOf(err);
    result = { type: "done", ok: false, error, heapPeakBytes: heapNow() };
  }
  await databases?.end();
  // Whatever the task left open (a connection pool, a timer) must not keep this alive: one attempt, then gone.
  port.send(result, () => process.exit(0));
}

/** `ctx.pg` of this attempt, from the config's `databases` (validated here, on first use). */
function attemptDatabases(cmd: ChildStart["cmd"], signal: AbortSignal): AttemptDatabases {
  const config = resolveConfigOrThrow(loadedConfig);
  const overloaded = () => port.send({ type: "overloaded" });
  const def = config.pipelines.find((p) => p.id === cmd.pipeline)?.tasks.find((t) => t.id === cmd.task);
  return new AttemptDatabases(new Databases(config), { pipeline: cmd.pipeline, runId: cmd.runId, task: cmd.task }, heldPools(cmd, def), signal, overloaded);
}

function startMessage(): Promise<ChildStart> {
  if (!isMainThread) return Promise.resolve(workerData as ChildStart);
  // The worker went away (killed, crashed): nobody waits for the result.
  process.on("disconnect", () => process.exit(0));
  return new Promise((resolve) => process.once("message", (m) => resolve(m as ChildStart)));
}

void startMessage().then(main);
