/**
 * Sluice's HTTP server (`sluice run`, `sluice scheduler`): the JSON API under `/api`, live updates
 * over server-sent events (`/api/stream`), Prometheus metrics on `/metrics`, and the dashboard's
 * static files at `/`. It reads the running scheduler (explanations, pool use) and the store
 * (history), and acts through the same calls as the CLI (trigger, cancel, pause, resume).
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { ResourceUsage } from "../core/admission/types.js";
import type { Engine } from "../core/engine/engine.js";
import type { TaskExplanation } from "../core/engine/types.js";
import { SluiceError } from "../core/errors.js";
import type { EventRecord, RunState } from "../core/records.js";
import type { ResolvedConfig, ResolvedPipeline } from "../define/resolved.js";
import { pipelineStatus, skippedTicks } from "../store/status.js";
import { isWorkerStore, type Store } from "../store/types.js";
import { HttpError, TOKEN_COOKIE, hostAllowed, idParam, intParam, isLoopback, readJson, sameToken, sendJson, tokenOf } from "./http.js";
import { CpuSampler, readHostMemory } from "../observe/sampler.js";
import { PoolSampler, WaitCauses, type HostSample } from "./samplers.js";

/** What the server serves: a running Sluice (`start()`), or anything shaped like one. */
export interface ServedSluice {
  readonly config: ResolvedConfig;
  readonly store: Store;
  readonly metrics: Registry;
  readonly scheduler: { readonly engineView: Engine | undefined };
  on(name: "event", listener: (e: EventRecord) => void): unknown;
  off(name: "event", listener: (e: EventRecord) => void): unknown;
  trigger(pipeline: string, options?: { params?: Record<string, unknown> }): Promise<number>;
  cancel(runId: number, reason?: string): Promise<boolean>;
  pause(pipeline: string): Promise<boolean>;
  resume(pipeline: string): Promise<boolean>;
  retry(runId: number, options?: { tasks?: string[]; downstream?: boolean }): Promise<void>;
  mark(runId: number, task: string, state: "success" | "failed"): Promise<void>;
  backfill(pipeline: string, options: { from: Date | number; to: Date | number; maxActive?: number }): Promise<number[]>;
}

/** Options of {@link serve}. */
export interface ServeOptions {
  /** @defaultValue 7070 (0: any free port) */
  port?: number;
  /** @defaultValue `"127.0.0.1"` */
  host?: string;
  /**
   * Required on every request when set (`Authorization: Bearer <token>`, or the cookie the page
   * sets after `/?token=<token>`); required to listen on anything but loopback.
   */
  token?: string;
  /** Serve the dashboard's pages at `/` (the API and `/metrics` are served either way). @defaultValue true */
  ui?: boolean;
  /** Where errors the client did not cause are logged. */
  logger?: Logger;
  /** How often pool use and waiting causes are sampled, in ms. @defaultValue 1000 */
  sampleEveryMs?: number;
}

/** Defaults of {@link ServeOptions}. */
export const SERVE_DEFAULTS = {
  port: 7070,
  host: "127.0.0.1",
  ui: true,
  sampleEveryMs: 1000,
} as const satisfies ServeOptions;

/** A listening server: where, and how to stop it. */
export interface Served {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The most attempts one timeline request returns (the dashboard draws 10,000 at ease). */
export const MAX_TIMELINE_ATTEMPTS = 20_000;

const RUN_STATES: readonly RunState[] = ["queued", "running", "success", "failed", "cancelled"];
const STATIC_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".map": "application/json",
};

/**
 * The dashboard's built files: `npm run build` bundles ui/ into dist/server/ui, beside this module
 * once compiled; run from source (tsx, in this repository), the built ones under dist/ are used.
 */
export const UI_DIR = [new URL("./ui/", import.meta.url), new URL("../../dist/server/ui/", import.meta.url)].map((u) => fileURLToPath(u)).find((dir) => existsSync(join(dir, "index.html"))) ?? fileURLToPath(new URL("./ui/", import.meta.url));

/**
 * Serve `sluice`'s API, live updates, metrics and dashboard. Refuses to listen beyond loopback
 * without a token. Resolves once listening.
 *
 * @example
 * const sluice = await start({ config });
 * const server = await serve(sluice, { port: 7070 });
 * console.log(`dashboard at ${server.url}`);
 */
export async function serve(sluice: ServedSluice, options: ServeOptions = {}): Promise<Served> {
  const host = options.host ?? SERVE_DEFAULTS.host;
  const token = options.token === "" ? undefined : options.token;
  if (!isLoopback(host) && token === undefined) {
    throw new SluiceError("SLUICE_BAD_OPTION", `listening on ${host} lets other machines reach the API: set a token (--token or SLUICE_TOKEN), or keep the default host 127.0.0.1`);
  }
  const api = new Api(sluice, options.logger);
  const clients = new Set<ServerResponse>();
  const ui = options.ui ?? SERVE_DEFAULTS.ui;
  let port = options.port ?? SERVE_DEFAULTS.port;

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => fail(res, err));
  });

  const fail = (res: ServerResponse, err: unknown) => {
    if (res.headersSent) return void res.destroy();
    if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
    if (err instanceof SluiceError && (err.code === "SLUICE_UNKNOWN_PIPELINE" || err.code === "SLUICE_UNKNOWN_RUN")) return sendJson(res, 404, { error: err.message });
    if (err instanceof SluiceError && (err.code === "SLUICE_REFUSED" || err.code === "SLUICE_BAD_OPTION")) return sendJson(res, 409, { error: err.message });
    if (err instanceof SluiceError && err.code === "SLUICE_STOPPED") return sendJson(res, 503, { error: err.message });
    options.logger?.error({ err }, `http: ${(err as Error)?.message ?? String(err)}`);
    sendJson(res, 500, { error: "internal error (logged by the server)" });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://sluice.invalid");
    if (token === undefined && !hostAllowed(req.headers.host, port)) throw new HttpError(403, "unknown Host header: open the dashboard at http://127.0.0.1 (or localhost) and its port");
    if (token !== undefined) {
      // `/?token=…` (the link `sluice run` prints) sets the cookie the page and its API calls use.
      const given = url.searchParams.get("token");
      if (req.method === "GET" && url.pathname === "/" && given !== null && sameToken(given, token)) {
        res.writeHead(303, { location: "/", "set-cookie": `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/` }).end();
        return;
      }
      if (!sameToken(tokenOf(req), token)) {
        res.setHeader("www-authenticate", 'Bearer realm="sluice"');
        throw new HttpError(401, "missing or wrong token: send `Authorization: Bearer <token>`, or open /?token=<token> once in the browser");
      }
    }
    const origin = req.headers.origin;
    if (origin !== undefined && req.method !== "GET" && origin !== `http://${req.headers.host}`) throw new HttpError(403, `cross-origin request from ${origin} refused`);
    if (url.pathname === "/metrics") {
      if (req.method !== "GET") throw new HttpError(405, "GET /metrics");
      const text = await sluice.metrics.metrics();
      res.writeHead(200, { "content-type": sluice.metrics.contentType }).end(text);
      return;
    }
    if (url.pathname === "/api/stream") return stream(req, res);
    if (url.pathname.startsWith("/api/") || url.pathname === "/api") {
      const answer = await api.route(req, url);
      return sendJson(res, answer.status ?? 200, answer.body);
    }
    if (!ui) throw new HttpError(404, "the dashboard is off (--no-ui); the API is under /api");
    return serveStatic(req, res, url.pathname);
  };

  const stream = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "GET") throw new HttpError(405, "GET /api/stream");
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    // No replay on reconnect: the first message is the state now, and the page reloads its data
    // on any message (events missed meanwhile are in GET /api/events).
    res.write(`retry: 2000\n\n`);
    send(res, "state", api.liveState());
    clients.add(res);
    req.on("close", () => clients.delete(res));
  };

  const send = (res: ServerResponse, type: string, data: unknown) => {
    res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  };

  const onEvent = (e: EventRecord) => {
    for (const c of clients) send(c, "event", e);
  };
  sluice.on("event", onEvent);

  // Once a second: sample pool use and waiting causes; tell clients when what runs or waits changed.
  let lastState = "";
  let beats = 0;
  const timer = setInterval(() => {
    const state = api.liveState(api.sample());
    const key = JSON.stringify(state.running) + state.waiting + state.activeRuns;
    if (key !== lastState) {
      lastState = key;
      for (const c of clients) send(c, "state", state);
    } else if (++beats % 15 === 0) {
      for (const c of clients) c.write(": keep-alive\n\n");
    }
  }, options.sampleEveryMs ?? SERVE_DEFAULTS.sampleEveryMs);
  timer.unref();

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((err: unknown) => {
    clearInterval(timer);
    sluice.off("event", onEvent);
    throw err;
  });
  port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        sluice.off("event", onEvent);
        for (const c of clients) c.end();
        clients.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };

  function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, `${req.method} ${pathname}: the dashboard's files are read with GET`);
    // Client-side routes (#/runs/17) all load the one page; only files under /assets/ are files.
    const file = pathname.startsWith("/assets/") ? pathname.slice("/assets/".length) : "index.html";
    if (!/^[\w.-]+$/.test(file) || file.startsWith(".")) throw new HttpError(404, `not found: ${pathname}`);
    const path = join(UI_DIR, file);
    if (!existsSync(path)) {
      if (file === "index.html") {
        res.writeHead(503, { "content-type": "text/plain; charset=utf-8" }).end("The dashboard's files are not built (run `npm run build` in the Sluice repository). The API is under /api.\n");
        return;
      }
      throw new HttpError(404, `not found: ${pathname}`);
    }
    const body = readFileSync(path);
    res.writeHead(200, {
      "content-type": STATIC_TYPES[extname(file)] ?? "application/octet-stream",
      "cache-control": file === "index.html" ? "no-cache" : "public, max-age=300",
      "content-length": body.length,
      "x-content-type-options": "nosniff",
      ...(file === "index.html" ? { "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:" } : {}),
    });
    res.end(req.method === "HEAD" ? undefined : body);
  }
}

/** The answer to an API request: a JSON body, 200 unless said. */
interface Answer {
  status?: number;
  body: unknown;
}

/** The JSON API: one method per route, reading the scheduler and the store. */
class Api {
  readonly pools = new PoolSampler();
  readonly causes = new WaitCauses();
  private readonly cpu = new CpuSampler();

  constructor(
    private readonly sluice: ServedSluice,
    private readonly logger: Logger | undefined,
  ) {}

  private get engine(): Engine | undefined {
    return this.sluice.scheduler.engineView;
  }

  /** The waiting tasks' reasons last recorded in the history. */
  private lastReasons: ReadonlyMap<string, unknown> | undefined;

  /**
   * One sample of pool use and of what waiting tasks wait for (skipped when 20,000+ wait: too
   * costly a second). Returns the usage it read, for {@link liveState}.
   */
  sample(now = Date.now()): ResourceUsage[] | undefined {
    const engine = this.engine;
    if (!engine) return undefined;
    const usage = engine.usage();
    this.pools.sample(now, usage, this.host());
    if (engine.waitingTasks > 0 && engine.waitingTasks < 20_000) {
      // Less often the more tasks wait (Engine.sampleEveryMs); a sample is recorded once.
      const reasons = engine.sampledWaitingReasons(now, engine.sampleEveryMs());
      if (reasons !== this.lastReasons) this.causes.observe(now, reasons);
      this.lastReasons = reasons;
    }
    return usage;
  }

  /** The host's CPU and memory since the last sample (from /proc; `undefined` elsewhere). */
  private host(): HostSample | undefined {
    const cpu = this.cpu.sample();
    const memory = readHostMemory();
    if (!cpu || !memory) return undefined;
    const mb = (bytes: number) => Math.round(bytes / 1048576);
    return { cpu: cpu.busy, iowait: cpu.iowait, memoryUsedMb: mb(memory.totalBytes - memory.availableBytes), memoryTotalMb: mb(memory.totalBytes) };
  }

  /** What runs and waits now: sent on the stream whenever it changes. */
  liveState(usage: readonly ResourceUsage[] | undefined = this.engine?.usage()): { at: number; running: string[]; waiting: number; activeRuns: number } {
    const engine = this.engine;
    const running = usage?.find((u) => u.kind === "parallelism")?.holders.map((h) => h.id) ?? [];
    return { at: Date.now(), running: running.slice(0, 500), waiting: engine?.waitingTasks ?? 0, activeRuns: engine?.activeRuns().length ?? 0 };
  }

  async route(req: IncomingMessage, url: URL): Promise<Answer> {
    const parts = url.pathname.split("/").filter(Boolean).slice(1).map(decodeURIComponent);
    const q = url.searchParams;
    const method = req.method ?? "GET";
    const get = (handler: () => Promise<unknown> | unknown): Promise<Answer> => {
      if (method !== "GET") throw new HttpError(405, `${method} ${url.pathname}: use GET`);
      return Promise.resolve(handler()).then((body) => ({ body }));
    };
    const post = async (handler: (body: Record<string, unknown>) => Promise<Answer>): Promise<Answer> => {
      if (method !== "POST") throw new HttpError(405, `${method} ${url.pathname}: use POST`);
      return handler(await readJson(req));
    };
    const [a, b, c, d] = parts;
    switch (a) {
      case undefined:
        return get(() => ({ api: "sluice", routes: ROUTES }));
      case "overview":
        if (b === undefined) return get(() => this.overview());
        break;
      case "pipelines":
        if (b === undefined) return get(() => this.pipelines());
        if (c === undefined) return get(() => this.pipeline(b));
        if (d === undefined && c === "trigger") return post((body) => this.trigger(b, body));
        if (d === undefined && (c === "pause" || c === "resume")) return post(async () => ({ body: { [c === "pause" ? "paused" : "resumed"]: await this.pauseOrResume(b, c) } }));
        if (d === undefined && c === "backfill") return post((body) => this.backfill(b, body));
        break;
      case "runs":
        if (b === undefined) return get(() => this.runs(q));
        if (c === undefined) return get(() => this.run(idParam(b, "run id")));
        if (d === undefined && c === "explain") return get(() => this.explainRun(idParam(b, "run id"), q.get("task") ?? undefined));
        if (d === undefined && c === "cancel") return post(() => this.cancel(idParam(b, "run id")));
        if (d === undefined && c === "retry") return post((body) => this.retry(idParam(b, "run id"), body));
        if (d === undefined && c === "mark") return post((body) => this.mark(idParam(b, "run id"), body));
        break;
      case "attempts":
        if (b === undefined) return get(() => this.attempts(q));
        if (c === undefined) return get(() => this.attempt(idParam(b, "attempt id")));
        if (d === undefined && c === "logs") return get(() => this.logs(idParam(b, "attempt id"), q));
        break;
      case "waiting":
        if (b === undefined) return get(() => this.waiting(intParam(q, "limit", 200, 1, 5000)));
        break;
      case "pools":
        if (b === undefined) return get(() => this.usage());
        if (b === "history" && c === undefined) return get(() => this.pools.history(intParam(q, "since", 0, 0, Number.MAX_SAFE_INTEGER)));
        break;
      case "workers":
        if (b === undefined) return get(() => this.workers());
        break;
      case "events":
        if (b === undefined) return get(() => this.events(q));
        break;
      case "skipped":
        if (b === undefined) return get(() => skippedTicks(this.sluice.store, q.get("pipeline") ?? undefined, intParam(q, "limit", 500, 1, 5000)));
        break;
    }
    throw new HttpError(404, `no route ${method} ${url.pathname} (GET /api lists the routes)`);
  }

  private definition(p: ResolvedPipeline) {
    return {
      id: p.id,
      description: p.description ?? null,
      overlap: p.overlap,
      maxActiveRuns: p.maxActiveRuns,
      tasks: p.tasks.map((t) => ({ id: t.id, dependsOn: t.dependsOn, pools: t.pools, queue: t.queue, priority: t.priority, memoryMb: t.memoryMb ?? null, description: t.description ?? null })),
    };
  }

  private async pipelines() {
    const status = await pipelineStatus(this.sluice.store, this.sluice.config.pipelines, Date.now());
    return status.map((s) => ({ ...s, ...this.definition(this.pipelineDef(s.pipeline)) }));
  }

  private pipelineDef(id: string): ResolvedPipeline {
    const def = this.sluice.config.pipelines.find((p) => p.id === id);
    if (!def) throw new HttpError(404, `no pipeline "${id}"; the config defines: ${this.sluice.config.pipelines.map((p) => p.id).join(", ") || "(none)"}`);
    return def;
  }

  private async pipeline(id: string) {
    const def = this.pipelineDef(id);
    const [status] = await pipelineStatus(this.sluice.store, [def], Date.now());
    return { ...status, ...this.definition(def), runs: await this.sluice.store.listRuns({ pipeline: id, limit: 50 }) };
  }

  private async overview() {
    const engine = this.engine;
    return {
      now: Date.now(),
      store: this.sluice.store.kind,
      running: engine?.runningAttempts ?? 0,
      waiting: engine?.waitingTasks ?? 0,
      active: engine?.activeRuns() ?? [],
      pipelines: await this.pipelines(),
      runs: await this.sluice.store.listRuns({ limit: 30 }),
      pools: this.usage(),
    };
  }

  private async trigger(pipeline: string, body: Record<string, unknown>): Promise<Answer> {
    this.pipelineDef(pipeline);
    const unknown = Object.keys(body).filter((k) => k !== "params");
    if (unknown.length > 0) throw new HttpError(400, `unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(", ")}: the body is { "params": { … } }`);
    const params = body.params ?? {};
    if (params === null || typeof params !== "object" || Array.isArray(params)) throw new HttpError(400, "params must be a JSON object");
    const runId = await this.sluice.trigger(pipeline, { params: params as Record<string, unknown> });
    return { status: 201, body: { runId, run: await this.sluice.store.getRun(runId) } };
  }

  private async pauseOrResume(pipeline: string, verb: "pause" | "resume"): Promise<boolean> {
    this.pipelineDef(pipeline);
    return verb === "pause" ? this.sluice.pause(pipeline) : this.sluice.resume(pipeline);
  }

  /** `sluice retry`: the failed (or named) tasks of a finished run run again. */
  private async retry(runId: number, body: Record<string, unknown>): Promise<Answer> {
    onlyFields(body, ["tasks", "downstream"], '{ "tasks": ["load"], "downstream": true } (both optional)');
    const tasks = body.tasks ?? [];
    if (!Array.isArray(tasks) || !tasks.every((t) => typeof t === "string")) throw new HttpError(400, "tasks must be an array of task ids");
    if (body.downstream !== undefined && typeof body.downstream !== "boolean") throw new HttpError(400, "downstream must be true or false");
    await this.existingRun(runId);
    await this.sluice.retry(runId, { tasks: tasks as string[], downstream: body.downstream === true });
    return { body: { retried: true, run: await this.sluice.store.getRun(runId) } };
  }

  /** `sluice mark`: a task of a finished run set to success or failed by hand. */
  private async mark(runId: number, body: Record<string, unknown>): Promise<Answer> {
    onlyFields(body, ["task", "state"], '{ "task": "load", "state": "success" }');
    if (typeof body.task !== "string" || body.task === "") throw new HttpError(400, "task must name a task of the run");
    if (body.state !== "success" && body.state !== "failed") throw new HttpError(400, 'state must be "success" or "failed"');
    await this.existingRun(runId);
    await this.sluice.mark(runId, body.task, body.state);
    return { body: { marked: true, run: await this.sluice.store.getRun(runId) } };
  }

  /** `sluice backfill`: runs for the schedule times in [from, to] that have none. */
  private async backfill(pipeline: string, body: Record<string, unknown>): Promise<Answer> {
    this.pipelineDef(pipeline);
    onlyFields(body, ["from", "to", "maxActive"], '{ "from": "2026-01-01T00:00:00Z", "to": "2026-01-07T00:00:00Z", "maxActive": 2 }');
    const time = (v: unknown, name: string): number => {
      const t = typeof v === "number" ? v : typeof v === "string" ? Date.parse(v) : Number.NaN;
      if (!Number.isFinite(t)) throw new HttpError(400, `${name} must be an ISO time or epoch milliseconds (got ${JSON.stringify(v)})`);
      return t;
    };
    const from = time(body.from, "from");
    const to = time(body.to, "to");
    if (body.maxActive !== undefined && !(Number.isInteger(body.maxActive) && (body.maxActive as number) >= 1)) throw new HttpError(400, "maxActive must be a whole number ≥ 1");
    const runIds = await this.sluice.backfill(pipeline, { from, to, ...(body.maxActive !== undefined ? { maxActive: body.maxActive as number } : {}) });
    return { status: 201, body: { runIds } };
  }

  private async existingRun(runId: number): Promise<void> {
    if (!(await this.sluice.store.getRun(runId))) throw new HttpError(404, `run ${runId} does not exist`);
  }

  private async cancel(runId: number): Promise<Answer> {
    const run = await this.sluice.store.getRun(runId);
    if (!run) throw new HttpError(404, `run ${runId} does not exist`);
    if (!(await this.sluice.cancel(runId, "cancelled from the dashboard"))) throw new HttpError(409, `run ${runId} is not active (${run.state}); there is nothing to cancel`);
    return { body: { cancelled: true, run: await this.sluice.store.getRun(runId) } };
  }

  private runs(q: URLSearchParams) {
    const states = q.getAll("state").flatMap((s) => s.split(",")).filter(Boolean);
    const bad = states.filter((s) => !RUN_STATES.includes(s as RunState));
    if (bad.length > 0) throw new HttpError(400, `state must be one of ${RUN_STATES.join(", ")} (got ${bad.join(", ")})`);
    const pipeline = q.get("pipeline") ?? undefined;
    if (pipeline !== undefined) this.pipelineDef(pipeline);
    return this.sluice.store.listRuns({ ...(pipeline ? { pipeline } : {}), ...(states.length > 0 ? { states: states as RunState[] } : {}), limit: intParam(q, "limit", 50, 1, 1000) });
  }

  private async run(runId: number) {
    const run = await this.sluice.store.getRun(runId);
    if (!run) throw new HttpError(404, `run ${runId} does not exist`);
    const [tasks, attempts] = await Promise.all([this.sluice.store.listTasks(runId), this.sluice.store.listAttempts({ runId, limit: 1000 })]);
    const explained = new Map((this.engine?.explain(runId, undefined, Date.now()) ?? []).map((e) => [e.task, e]));
    const def = this.sluice.config.pipelines.find((p) => p.id === run.pipeline);
    const deps = new Map(def?.tasks.map((t) => [t.id, t.dependsOn]) ?? []);
    return {
      run,
      tasks: tasks.map((t) => {
        const e = explained.get(t.task);
        return { ...t, dependsOn: deps.get(t.task) ?? [], reasons: e?.reasons ?? [], holding: e?.holding ?? [], priority: e?.priority ?? null, sla: e?.sla ?? null };
      }),
      attempts: attempts.map((a) => this.withWait(a)),
    };
  }

  private explainRun(runId: number, task: string | undefined): TaskExplanation[] {
    return this.engine?.explain(runId, task, Date.now()) ?? [];
  }

  /** Every task waiting for admission, best-ranked first, with why (its reasons name the holders). */
  private waiting(limit: number) {
    const engine = this.engine;
    if (!engine) return { total: 0, tasks: [] };
    const now = Date.now();
    const tasks: TaskExplanation[] = [];
    for (const run of engine.activeRuns()) {
      for (const e of engine.explain(run.id, undefined, now)) {
        if (e.state === "ready" || e.state === "run_queued" || e.state === "retry_wait") tasks.push(e);
      }
    }
    tasks.sort((x, y) => (y.priority ?? -Infinity) - (x.priority ?? -Infinity) || (x.readyAt ?? 0) - (y.readyAt ?? 0));
    return { total: tasks.length, tasks: tasks.slice(0, limit) };
  }

  private withWait<T extends { runId: number; task: string; queuedAt: number; startedAt: number }>(a: T): T & { waitedFor: { kind: string; name: string } | null } {
    return { ...a, waitedFor: this.causes.between(a.runId, a.task, a.queuedAt, a.startedAt) ?? null };
  }

  private async attempts(q: URLSearchParams) {
    const since = intParam(q, "since", 0, 0, Number.MAX_SAFE_INTEGER);
    const runId = q.get("run") !== null ? idParam(q.get("run") as string, "run") : undefined;
    const pipeline = q.get("pipeline") ?? undefined;
    const list = await this.sluice.store.listAttempts({ ...(since > 0 ? { since } : {}), ...(runId !== undefined ? { runId } : {}), ...(pipeline ? { pipeline } : {}), limit: intParam(q, "limit", 5000, 1, MAX_TIMELINE_ATTEMPTS) });
    return list.map((a) => this.withWait(a));
  }

  private async attempt(id: number) {
    const a = await this.sluice.store.getAttempt(id);
    if (!a) throw new HttpError(404, `attempt ${id} does not exist`);
    return this.withWait(a);
  }

  private async logs(id: number, q: URLSearchParams) {
    if (!(await this.sluice.store.getAttempt(id))) throw new HttpError(404, `attempt ${id} does not exist`);
    return this.sluice.store.listAttemptLogs(id, intParam(q, "after", 0, 0, Number.MAX_SAFE_INTEGER), intParam(q, "limit", 1000, 1, 10_000));
  }

  private usage(): ResourceUsage[] {
    return this.engine?.usage() ?? [];
  }

  private async workers() {
    const store = this.sluice.store;
    if (isWorkerStore(store)) {
      const now = Date.now();
      return (await store.listWorkers()).map((w) => ({ ...w, live: w.stoppedAt === null && now - w.heartbeatAt < 60_000 }));
    }
    // The embedded store: the one local worker of `sluice run`.
    const usage = this.usage();
    const slots = usage.find((u) => u.kind === "queue");
    const memory = usage.find((u) => u.kind === "memory");
    return [{ name: "local", host: "this process", pid: process.pid, queues: usage.filter((u) => u.kind === "queue").map((u) => u.name), slots: slots?.capacity ?? this.sluice.config.worker.concurrency, used: slots?.used ?? 0, memoryMb: memory?.capacity ?? null, live: true }];
  }

  private events(q: URLSearchParams) {
    const types = q.getAll("type").flatMap((s) => s.split(",")).filter(Boolean);
    const runId = q.get("run") !== null ? idParam(q.get("run") as string, "run") : undefined;
    const after = intParam(q, "after", 0, 0, Number.MAX_SAFE_INTEGER);
    const pipeline = q.get("pipeline") ?? undefined;
    return this.sluice.store.listEvents({
      ...(after > 0 ? { afterId: after } : { newestFirst: true }),
      ...(runId !== undefined ? { runId } : {}),
      ...(pipeline ? { pipeline } : {}),
      ...(types.length > 0 ? { types } : {}),
      limit: intParam(q, "limit", 200, 1, 5000),
    });
  }
}

/** What `GET /api` lists. */
const ROUTES = [
  "GET /api/overview",
  "GET /api/pipelines",
  "GET /api/pipelines/:id",
  "POST /api/pipelines/:id/trigger {params}",
  "POST /api/pipelines/:id/pause",
  "POST /api/pipelines/:id/resume",
  "GET /api/runs?pipeline=&state=&limit=",
  "GET /api/runs/:id",
  "GET /api/runs/:id/explain?task=",
  "POST /api/runs/:id/cancel",
  "POST /api/runs/:id/retry {tasks?, downstream?}",
  "POST /api/runs/:id/mark {task, state}",
  "POST /api/pipelines/:id/backfill {from, to, maxActive?}",
  "GET /api/attempts?since=&run=&pipeline=&limit=",
  "GET /api/attempts/:id",
  "GET /api/attempts/:id/logs?after=",
  "GET /api/waiting?limit=",
  "GET /api/pools",
  "GET /api/pools/history?since=",
  "GET /api/workers",
  "GET /api/events?after=&run=&pipeline=&type=&limit=",
  "GET /api/skipped?pipeline=&limit=",
  "GET /api/stream (server-sent events: event, state)",
  "GET /metrics",
];

/** Refuses a body with fields other than `allowed` (a typo would otherwise be ignored). */
function onlyFields(body: Record<string, unknown>, allowed: readonly string[], shape: string): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new HttpError(400, `unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(", ")}: the body is ${shape}`);
}
