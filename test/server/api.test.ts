// The HTTP API of `sluice run` (issue 10): its contract on a real `sluice run` process — reads,
// trigger and cancel, the why-waiting answers with their holders, live updates over SSE, /metrics —
// and what it refuses: bad input (400/415), unknown ids and routes (404), wrong methods (405),
// oversized bodies (413), requests without the token (401), foreign Host and Origin headers (403).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AttemptRecord, EventRecord, RunRecord } from "../../src/core/records.js";
import { serve, type ServedSluice } from "../../src/server/server.js";
import { parsePrometheusText } from "../support/prom-text.js";
import { disposeSandboxes, fixture, sandbox, sleep, waitFor, type CliProcess, type Sandbox } from "../cli/helpers.js";

const CONFIG = fixture("../dashboard/sluice");

let box: Sandbox;
let run: CliProcess;
let base: string;

async function http(path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> & { error?: string }; headers: Headers }> {
  const res = await fetch(base + path, { redirect: "manual", ...init });
  const text = await res.text();
  return { status: res.status, body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
}
const post = (path: string, body: unknown) => http(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

beforeAll(async () => {
  box = await sandbox();
  run = box.start(["run", CONFIG, "--port", "0", "--shutdown-timeout", "1s"], { killAfterMs: 120_000 });
  const line = await run.waitForLog((l) => typeof l.url === "string" && l.msg.startsWith("dashboard at "), "the dashboard to listen", 30_000);
  base = line.url as string;
}, 60_000);

afterAll(async () => {
  run?.kill("SIGTERM");
  await run?.exited;
  await disposeSandboxes();
});

describe("reads and actions", () => {
  it("lists the pipelines with their schedules and tasks, and GET /api names every route", async () => {
    const index = await http("/api");
    expect(index.status).toBe(200);
    expect(index.body.routes).toContain("POST /api/pipelines/:id/trigger {params}");
    const { status, body } = await http("/api/pipelines");
    expect(status).toBe(200);
    const list = body as unknown as Array<{ pipeline: string; schedule: string; tasks: Array<{ id: string; dependsOn: string[] }> }>;
    expect(list.map((p) => p.pipeline)).toEqual(["held", "blocked", "ticking", "quick"]);
    expect(list.find((p) => p.pipeline === "ticking")?.schedule).toBe("every 1s");
    expect(list.find((p) => p.pipeline === "blocked")?.tasks).toEqual([
      expect.objectContaining({ id: "prepare", dependsOn: [] }),
      expect.objectContaining({ id: "wait", dependsOn: ["prepare"] }),
    ]);
  });

  it("trigger creates a run (201); a waiting task's explanation names the pool and the task holding it; cancel ends it", async () => {
    const held = await post("/api/pipelines/held/trigger", { params: { why: "hold" } });
    expect(held.status).toBe(201);
    const holdRun = held.body.runId as number;
    expect((held.body.run as RunRecord).params).toEqual({ why: "hold" });
    await waitFor(async () => ((await http(`/api/runs/${holdRun}`)).body.tasks as Array<{ state: string }>)[0]?.state === "running" || undefined, "hold to run");

    const blocked = await post("/api/pipelines/blocked/trigger", {});
    const waitRun = blocked.body.runId as number;
    const detail = await waitFor(async () => {
      const d = await http(`/api/runs/${waitRun}`);
      const wait = (d.body.tasks as Array<{ task: string; state: string; reasons: Array<{ kind: string; name?: string; holders?: Array<{ pipeline: string; task: string; run: number }> }> }>).find((t) => t.task === "wait");
      return wait?.state === "ready" && wait.reasons.some((r) => r.kind === "pool") ? wait : undefined;
    }, "wait to wait for the pool");
    const pool = detail.reasons.find((r) => r.kind === "pool");
    expect(pool).toMatchObject({ kind: "pool", name: "db", holders: [{ pipeline: "held", task: "hold", run: holdRun }] });

    // The why-waiting panel's answer: every waiting task, with the same reasons.
    const waiting = await http("/api/waiting");
    const tasks = waiting.body.tasks as Array<{ pipeline: string; task: string; runId: number; reasons: Array<{ kind: string; holders?: unknown[] }> }>;
    expect(tasks.find((t) => t.runId === waitRun && t.task === "wait")?.reasons).toContainEqual(expect.objectContaining({ kind: "pool", name: "db" }));

    // Pools: the db slot used by hold, one waiting.
    const pools = (await http("/api/pools")).body as unknown as Array<{ kind: string; name: string; used: number; capacity: number; waiting: number; holders: Array<{ run: number }> }>;
    expect(pools.find((u) => u.kind === "pool" && u.name === "db")).toMatchObject({ used: 1, capacity: 1, waiting: 1, holders: [{ run: holdRun }] });

    // Release the holder: wait runs, and its attempt says what it waited for (seen by the server's
    // once-a-second sample: give it time to see the wait first).
    await sleep(1500);
    writeFileSync(join(box.dir, `release-${holdRun}`), "");
    await waitFor(async () => ((await http(`/api/runs/${waitRun}`)).body.run as RunRecord).state === "success" || undefined, "the blocked run to finish");
    const attempts = (await http(`/api/attempts?run=${waitRun}`)).body as unknown as Array<AttemptRecord & { waitedFor: { kind: string; name: string } | null }>;
    expect(attempts.find((a) => a.task === "wait")?.waitedFor).toEqual({ kind: "pool", name: "db" });

    // Cancel: an active run ends (200); a finished one is refused (409).
    const again = await post("/api/pipelines/held/trigger", {});
    const cancel = await post(`/api/runs/${again.body.runId as number}/cancel`, {});
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    expect((cancel.body.run as RunRecord).state).toBe("cancelled");
    const refused = await post(`/api/runs/${waitRun}/cancel`, {});
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/not active \(success\)/);
  }, 60_000);

  it("operates like the CLI: pause and resume a pipeline, retry a failed run, mark a task, backfill past ticks; bad bodies are refused", async () => {
    expect((await post("/api/pipelines/ticking/pause", {})).body).toEqual({ paused: true });
    expect((await post("/api/pipelines/ticking/resume", {})).body).toEqual({ resumed: true });

    const failed = (await post("/api/pipelines/quick/trigger", { params: { fail: true } })).body.runId as number;
    const state = async (id: number) => ((await http(`/api/runs/${id}`)).body.run as RunRecord).state;
    await waitFor(async () => ((await state(failed)) === "failed" ? true : undefined), "the failing run to fail");
    const retried = await post(`/api/runs/${failed}/retry`, { tasks: ["one"] });
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    // The same params: it fails again, with a second attempt.
    await waitFor(async () => ((await state(failed)) === "failed" && ((await http(`/api/runs/${failed}`)).body.attempts as AttemptRecord[]).length === 2 ? true : undefined), "the retry to fail again");
    const marked = await post(`/api/runs/${failed}/mark`, { task: "one", state: "success" });
    expect(marked.status, JSON.stringify(marked.body)).toBe(200);
    expect((marked.body.run as RunRecord).state).toBe("success");

    // Three schedule times of `ticking`, an hour ago: nothing ran then, so three runs.
    const from = Math.floor((Date.now() - 3_600_000) / 1000) * 1000;
    const backfill = await post("/api/pipelines/ticking/backfill", { from: new Date(from).toISOString(), to: from + 2000, maxActive: 1 });
    expect(backfill.status, JSON.stringify(backfill.body)).toBe(201);
    expect(backfill.body.runIds as number[]).toHaveLength(3);
    const runs = await Promise.all((backfill.body.runIds as number[]).map(async (id) => (await http(`/api/runs/${id}`)).body.run as RunRecord));
    expect(runs.map((r) => r.scheduledFor)).toEqual([from, from + 1000, from + 2000]);

    for (const [what, res, status, message] of [
      ["retry with a misspelt field", await post(`/api/runs/${failed}/retry`, { task: ["one"] }), 400, /unknown field\(s\) "task"/],
      ["retry of a run that does not exist", await post("/api/runs/99999/retry", {}), 404, /run 99999 does not exist/],
      ["mark with a bad state", await post(`/api/runs/${failed}/mark`, { task: "one", state: "ok" }), 400, /state must be "success" or "failed"/],
      ["backfill without a from", await post("/api/pipelines/ticking/backfill", { to: from }), 400, /from must be an ISO time/],
      ["backfill of a pipeline without a schedule", await post("/api/pipelines/quick/backfill", { from, to: from }), 409, /has no schedule/],
    ] as const) {
      expect(res.status, what).toBe(status);
      expect(res.body.error, what).toMatch(message);
    }
  }, 60_000);

  it("serves runs, attempts with their ctx.log lines, events, skipped ticks, pool history and workers", async () => {
    const { body } = await post("/api/pipelines/quick/trigger", {});
    const id = body.runId as number;
    await waitFor(async () => ((await http(`/api/runs/${id}`)).body.run as RunRecord).state === "success" || undefined, "quick to finish");
    const runs = (await http("/api/runs?pipeline=quick&state=success")).body as unknown as RunRecord[];
    expect(runs.map((r) => r.id)).toContain(id);
    const attempt = ((await http(`/api/runs/${id}`)).body.attempts as AttemptRecord[])[0] as AttemptRecord;
    const logs = await waitFor(async () => {
      const l = (await http(`/api/attempts/${attempt.id}/logs`)).body as unknown as Array<{ msg: string; data: unknown }>;
      return l.length > 0 ? l : undefined;
    }, "the log line to be stored");
    expect(logs[0]).toMatchObject({ msg: "hello from quick", data: { n: 1 } });
    const since = (await http(`/api/attempts?since=${attempt.startedAt}`)).body as unknown as AttemptRecord[];
    expect(since.map((a) => a.id)).toContain(attempt.id);
    expect(((await http(`/api/attempts?since=${Date.now() + 60_000}&pipeline=quick`)).body as unknown as unknown[]).length).toBe(0);

    const events = (await http(`/api/events?run=${id}`)).body as unknown as EventRecord[];
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["run.triggered", "run.success"]));
    // `ticking` runs every second for 2.5 s: the overlap policy skips ticks.
    const skipped = await waitFor(async () => {
      const s = (await http("/api/skipped?pipeline=ticking")).body as unknown as Array<{ pipeline: string; state: string }>;
      return s.length > 0 ? s : undefined;
    }, "a skipped tick", { timeoutMs: 20_000 });
    expect(skipped[0]).toMatchObject({ pipeline: "ticking", state: "skipped" });
    const history = (await http(`/api/pools/history?since=${Date.now() - 60_000}`)).body as unknown as { t: number[]; series: Array<{ kind: string; name: string; capacity: number[] }> };
    expect(history.t.length).toBeGreaterThan(0);
    expect(history.series.find((s) => s.kind === "pool" && s.name === "db")?.capacity.at(-1)).toBe(1);
    // The host, from /proc: CPU shares in [0, 1], memory used below the total.
    const host = (history as unknown as { host: { cpu: number[]; memoryUsedMb: number[]; memoryTotalMb: number } }).host;
    expect(host.memoryTotalMb).toBeGreaterThan(0);
    expect(host.cpu.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(host.memoryUsedMb.at(-1)).toBeGreaterThan(0);
    expect(host.memoryUsedMb.at(-1)).toBeLessThanOrEqual(host.memoryTotalMb);
    const workers = (await http("/api/workers")).body as unknown as Array<{ name: string; live: boolean }>;
    expect(workers).toEqual([expect.objectContaining({ name: "local", live: true })]);
  }, 60_000);

  it("pushes events and what runs over the stream, without polling", async () => {
    const controller = new AbortController();
    const res = await fetch(`${base}/api/stream`, { signal: controller.signal });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    const triggered = await post("/api/pipelines/quick/trigger", {});
    const id = triggered.body.runId as number;
    try {
      await waitFor(async () => {
        const { value } = await reader.read();
        text += new TextDecoder().decode(value);
        return text.includes(`"type":"run.success"`) && text.includes(`"runId":${id}`) ? true : undefined;
      }, "run.success on the stream", { timeoutMs: 20_000 });
    } finally {
      controller.abort();
    }
    expect(text).toMatch(/^retry: 2000/);
    expect(text).toMatch(/event: state\ndata: \{"at":\d+,"running":\[/);
    expect(text).toMatch(/event: event\ndata: \{.*"type":"run.triggered"/);
  }, 30_000);

  it("serves /metrics in the Prometheus text format, with the pools", async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const families = parsePrometheusText(await res.text());
    expect(families.get("sluice_pool_slots")?.samples).toContainEqual(expect.objectContaining({ labels: expect.objectContaining({ pool: "db", state: "capacity" }), value: 1 }));
  });
});

describe("bad requests", () => {
  it.each([
    ["unknown pipeline", () => post("/api/pipelines/nope/trigger", {}), 404, /no pipeline "nope"; the config defines: held, blocked, ticking, quick/],
    ["unknown run", () => http("/api/runs/99999"), 404, /run 99999 does not exist/],
    ["unknown attempt", () => http("/api/attempts/99999/logs"), 404, /attempt 99999 does not exist/],
    ["a run id that is not a number", () => http("/api/runs/abc"), 400, /run id must be a positive whole number \(got "abc"\)/],
    ["a bad state filter", () => http("/api/runs?state=done"), 400, /state must be one of queued, running, success, failed, cancelled \(got done\)/],
    ["a limit out of range", () => http("/api/runs?limit=0"), 400, /limit must be a whole number from 1 to 1000/],
    ["params that are not an object", () => post("/api/pipelines/quick/trigger", { params: [1] }), 400, /params must be a JSON object/],
    ["an unknown field", () => post("/api/pipelines/quick/trigger", { param: {} }), 400, /unknown field\(s\) "param"/],
    ["a body that is not JSON", () => http("/api/pipelines/quick/trigger", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" }), 400, /the body is not JSON/],
    ["a form post (no preflight)", () => http("/api/pipelines/quick/trigger", { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }), 415, /send the body as application\/json/],
    ["a body over 64 KB", () => post("/api/pipelines/quick/trigger", { params: { big: "x".repeat(70_000) } }), 413, /request body over 65536 bytes/],
    ["a wrong method", () => http("/api/runs/1", { method: "DELETE" }), 405, /use GET/],
    ["GET on an action", () => http("/api/pipelines/quick/trigger"), 405, /GET \/api\/pipelines\/quick\/trigger: use POST/],
    ["an unknown route", () => http("/api/nothing"), 404, /GET \/api lists the routes/],
    ["a foreign Origin on a POST", () => http("/api/pipelines/quick/trigger", { method: "POST", headers: { "content-type": "application/json", origin: "http://evil.example" }, body: "{}" }), 403, /cross-origin request from http:\/\/evil.example refused/],
  ] as const)("%s", async (_what, send, status, message) => {
    const res = await send();
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.error).toMatch(message);
    expect(JSON.stringify(res.body)).not.toMatch(/\n\s+at /); // never a stack trace
  });

  it("refuses a Host header that is not the server's own (DNS rebinding)", async () => {
    const { request } = await import("node:http");
    const url = new URL(base);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: "/api/pipelines", headers: { host: `rebind.example:${url.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(403);
  });
});

/** Enough of a running Sluice for serve(): the parts these tests reach. */
function fakeSluice(overrides: Partial<ServedSluice["store"]> = {}): ServedSluice {
  const store = { kind: "fake", listRuns: async () => [], getRun: async () => undefined, ...overrides } as unknown as ServedSluice["store"];
  return {
    config: { pipelines: [], pools: {}, worker: { concurrency: 1, memoryMb: undefined } } as unknown as ServedSluice["config"],
    store,
    metrics: { metrics: async () => "", contentType: "text/plain" } as unknown as ServedSluice["metrics"],
    scheduler: { engineView: undefined },
    on: () => undefined,
    off: () => undefined,
    trigger: async () => 1,
    cancel: async () => false,
    pause: async () => false,
    resume: async () => false,
    retry: async () => undefined,
    mark: async () => undefined,
    backfill: async () => [],
  };
}

describe("tokens and failures", () => {
  it("with a token, every request needs it: Bearer, or the cookie /?token= sets", async () => {
    const server = await serve(fakeSluice(), { port: 0, token: "s3cret", ui: true });
    try {
      const plain = await fetch(`${server.url}/api/runs`);
      expect(plain.status).toBe(401);
      expect(plain.headers.get("www-authenticate")).toBe('Bearer realm="sluice"');
      expect(((await plain.json()) as { error: string }).error).toMatch(/missing or wrong token/);
      expect((await fetch(`${server.url}/api/runs`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      expect((await fetch(`${server.url}/api/runs`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
      const login = await fetch(`${server.url}/?token=s3cret`, { redirect: "manual" });
      expect(login.status).toBe(303);
      const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] as string;
      expect(login.headers.get("set-cookie")).toMatch(/HttpOnly; SameSite=Strict/);
      expect((await fetch(`${server.url}/api/runs`, { headers: { cookie } })).status).toBe(200);
      expect((await fetch(`${server.url}/?token=wrong`, { redirect: "manual" })).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it("refuses to listen beyond loopback without a token", async () => {
    await expect(serve(fakeSluice(), { port: 0, host: "0.0.0.0" })).rejects.toThrow(/listening on 0.0.0.0 lets other machines reach the API: set a token/);
    const server = await serve(fakeSluice(), { port: 0, host: "0.0.0.0", token: "t" });
    await server.close();
  });

  it("answers a failure it did not expect with 500 and a generic message, never the error or its stack", async () => {
    const server = await serve(
      fakeSluice({
        listRuns: async () => {
          throw new Error("connection to the store lost: password=hunter2");
        },
      }),
      { port: 0 },
    );
    try {
      const res = await fetch(`${server.url}/api/runs`);
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: "internal error (logged by the server)" });
      expect(text).not.toContain("hunter2");
    } finally {
      await server.close();
    }
  });
});
