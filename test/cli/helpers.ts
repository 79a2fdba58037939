/**
 * End-to-end helpers: run the real CLI (`node bin/sluice.js …`) in child processes, each test in
 * its own temporary folder with its own store (`--db file:<tmp>/s.db`), and read what the
 * fixture tasks observed.
 *
 * This module imports nothing from vitest on purpose: the fixture configs under
 * `test/fixtures/runtime/` import {@link observe} from here, inside the CLI's process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// ── inside the fixture configs (the CLI's process) ─────────────────────────────────────────

/** The env var naming the file tasks append their observations to (one JSON object a line). */
export const OBSERVE_ENV = "SLUICE_TEST_OBSERVE";

/** One line a fixture task wrote. `t` is `Date.now()` in the task's process. */
export interface Observation {
  event: string;
  pipeline: string;
  task: string;
  run: number;
  attempt: number;
  t: number;
  pid: number;
  pools?: Record<string, number>;
  [extra: string]: unknown;
}

/** The part of a task context an observation needs. */
interface ObservedContext {
  pipeline: string;
  task: string;
  runId: number;
  attempt: number;
}

/**
 * Append an observation for the file named by `SLUICE_TEST_OBSERVE` (a no-op when unset).
 * Synchronous on purpose: lines from one process land in the file in the order things happened,
 * so tests may read the file order as the order of events.
 */
export function observe(ctx: ObservedContext, event: string, extra: Record<string, unknown> = {}): void {
  const file = process.env[OBSERVE_ENV];
  if (!file) return;
  const line: Observation = { event, pipeline: ctx.pipeline, task: ctx.task, run: ctx.runId, attempt: ctx.attempt, t: Date.now(), pid: process.pid, ...extra };
  appendFileSync(file, JSON.stringify(line) + "\n");
}

/**
 * Wait (ignoring any signal, like a driver call that cannot be interrupted) until the test writes
 * the file `name` beside the observation file, or `maxMs` passes. Lets a test hold a task inside
 * its function for as long as its checks take, however slow the machine.
 */
export async function untilReleased(name: string, maxMs = 60_000): Promise<void> {
  const file = process.env[OBSERVE_ENV];
  if (!file) return;
  const gate = join(dirname(file), name);
  const end = Date.now() + maxMs;
  while (!existsSync(gate) && Date.now() < end) await sleep(50);
}

/** Sleep `ms`, ending early (and returning false) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// ── in the tests ─────────────────────────────────────────────────────────────────────────────

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(REPO, "bin", "sluice.js");

/** Absolute path of `test/fixtures/runtime/<name>.config.ts`. */
export function fixture(name: string): string {
  return join(REPO, "test", "fixtures", "runtime", `${name}.config.ts`);
}

export interface CliResult {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

export interface CliOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Append `--db file:<sandbox>/s.db` (default true; commands without `--db` pass false). */
  db?: boolean;
  /** Kill the process (SIGKILL) if it is still running after this long. @defaultValue 120000 */
  killAfterMs?: number;
}

/** A CLI process still running: its output so far and how it ended. */
export class CliProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<CliResult>;
  private exitResult: CliResult | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly args: readonly string[],
    killAfterMs: number,
  ) {
    const started = Date.now();
    child.stdout?.setEncoding("utf8").on("data", (s: string) => (this.stdout += s));
    child.stderr?.setEncoding("utf8").on("data", (s: string) => (this.stderr += s));
    const guard = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    this.exited = new Promise((resolve, reject) => {
      child.once("error", reject);
      // "close" (not "exit"): stdout and stderr have been read to their end.
      child.once("close", (code, signal) => {
        clearTimeout(guard);
        this.exitResult = { code, signal, stdout: this.stdout, stderr: this.stderr, ms: Date.now() - started };
        // SLUICE_E2E_TRACE=1: how long each command took, to find where a slow test spends its time.
        if (process.env.SLUICE_E2E_TRACE) process.stderr.write(`[e2e] ${this.exitResult.ms} ms (exit ${code ?? signal}): sluice ${args.join(" ")}\n`);
        resolve(this.exitResult);
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`sluice ${this.args.join(" ")} did not start`);
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exitResult !== undefined;
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.hasExited) this.child.kill(signal);
  }

  /** The JSON log lines printed so far (stdout is not a TTY, so `sluice run` logs JSON lines). */
  logs(): LogLine[] {
    return parseJsonLines<LogLine>(this.stdout);
  }

  /** Poll until a log line matches. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> {
    return waitFor(() => {
      const found = this.logs().find(match);
      if (found) return found;
      if (this.hasExited) throw new Error(`sluice ${this.args.join(" ")} exited before ${what}:\n${this.describe()}`);
      return undefined;
    }, what, { timeoutMs, describe: () => this.describe() });
  }

  /** Output so far, for failure messages. */
  describe(): string {
    const end = this.exitResult ? `exited ${this.exitResult.code ?? this.exitResult.signal} after ${this.exitResult.ms} ms` : "still running";
    return `--- sluice ${this.args.join(" ")}: ${end}\n--- stdout ---\n${this.stdout.slice(-4000)}\n--- stderr ---\n${this.stderr.slice(-4000)}`;
  }
}

/** One pino line of `sluice run`. */
export interface LogLine {
  level: number;
  msg: string;
  event?: string;
  pipeline?: string;
  run?: number;
  [field: string]: unknown;
}

/** pino's numeric levels. */
export const LEVEL = { info: 30, warn: 40, error: 50 } as const;

/** A temporary project folder with its own store and observation file. */
export class Sandbox {
  readonly db: string;
  readonly observeFile: string;
  private readonly procs: CliProcess[] = [];

  /** `db`: the store URL every command gets (default a SQLite file in the sandbox). */
  constructor(
    readonly dir: string,
    db?: string,
  ) {
    this.db = db ?? `file:${join(dir, "s.db")}`;
    this.observeFile = join(dir, "observe.jsonl");
  }

  /** Start `sluice <args>` in the sandbox; returns at once. */
  start(args: readonly string[], options: CliOptions = {}): CliProcess {
    const full = [...args, ...(options.db === false ? [] : ["--db", this.db])];
    const env: NodeJS.ProcessEnv = { ...process.env, [OBSERVE_ENV]: this.observeFile, SLUICE_TIMEOUT_GRACE_MS: "200", ...options.env };
    // The sandbox's flags decide; nothing from the developer's shell leaks in.
    delete env.SLUICE_DATABASE_URL;
    delete env.SLUICE_CONFIG;
    delete env.SLUICE_DEBUG;
    delete env.SLUICE_LOG_LEVEL;
    const child = spawn(process.execPath, [BIN, ...full], { cwd: this.dir, env, stdio: ["ignore", "pipe", "pipe"] });
    // A guard against a process left running, not a deadline: the test's own timeout decides (a
    // shorter guard killed a `sluice run` mid-test on a loaded machine, and the test then failed
    // for a reason that was not its own).
    const proc = new CliProcess(child, full, options.killAfterMs ?? 120_000);
    this.procs.push(proc);
    return proc;
  }

  /**
   * Start `sluice <command> …` (run, scheduler, worker) and wait for its "sluice <command> started"
   * line; `timeoutMs` for that wait (default 15 s).
   */
  async started(args: readonly string[], options: CliOptions = {}, timeoutMs?: number): Promise<CliProcess> {
    const proc = this.start(args, options);
    await proc.waitForLog((l) => l.msg === `sluice ${args[0]} started`, `sluice ${args.join(" ")} to start`, timeoutMs);
    return proc;
  }

  /** Run `sluice <args>` to its end. */
  cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
    return this.start(args, options).exited;
  }

  /** Run a read command with `--json` and parse its output; fails on a non-zero exit. */
  async json<T>(args: readonly string[]): Promise<T> {
    const r = await this.cli([...args, "--json"]);
    if (r.code !== 0) throw new Error(`sluice ${args.join(" ")} --json exited ${r.code}:\n${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Everything tasks observed so far, in file order (a partly written last line is left out). */
  observations(): Observation[] {
    if (!existsSync(this.observeFile)) return [];
    return parseJsonLines<Observation>(readFileSync(this.observeFile, "utf8"));
  }

  /** Poll the observations until `pick` returns something. */
  waitForObservation<T>(pick: (obs: Observation[]) => T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
    return waitFor(() => pick(this.observations()) || undefined, what, { timeoutMs, describe: () => JSON.stringify(this.observations(), null, 1).slice(-3000) });
  }

  /** Kill whatever still runs (a failed test), then remove the folder. */
  async dispose(): Promise<void> {
    for (const p of this.procs) p.kill("SIGKILL");
    await Promise.all(this.procs.map((p) => p.exited.catch(() => undefined)));
    await rm(this.dir, { recursive: true, force: true });
  }
}

const sandboxes: Sandbox[] = [];

/** A fresh sandbox; {@link disposeSandboxes} removes it (call it in `afterEach`/`afterAll`). */
export async function sandbox(options: { db?: string } = {}): Promise<Sandbox> {
  const box = new Sandbox(await mkdtemp(join(tmpdir(), "sluice-e2e-")), options.db);
  sandboxes.push(box);
  return box;
}

export async function disposeSandboxes(): Promise<void> {
  await Promise.all(sandboxes.splice(0).map((b) => b.dispose()));
}

export interface WaitOptions {
  /** @defaultValue 15000 */
  timeoutMs?: number;
  /** @defaultValue 50 */
  intervalMs?: number;
  /** Extra context for the timeout message. */
  describe?: () => string;
}

/** Poll `probe` until it returns a value other than `undefined` (or throws); bounded by `timeoutMs`. */
export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, options: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs ?? 15_000} ms waiting for ${what}${options.describe ? `\n${options.describe()}` : ""}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

/** Parse JSON lines, skipping blank lines, non-JSON lines and a last line still being written. */
export function parseJsonLines<T>(text: string): T[] {
  const out: T[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a line still being written
    }
  }
  return out;
}
