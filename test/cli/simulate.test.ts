import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFS, ROOT, sluice } from "./spawn.js";

const PRIORITY_EXAMPLE = join(ROOT, "examples/priority/sluice.config.ts");
const OVERLAP = join(DEFS, "overlap.config.ts");
const CONTENDED = join(DEFS, "contended.config.ts");
const START = Date.parse("2025-01-06T00:00:00.000Z");

interface Holder {
  pipeline: string;
  run: number;
  task: string;
  amount: number;
}
interface Attempt {
  pipeline: string;
  run: number;
  task: string;
  readyAt: string;
  startedAt: string;
  endedAt: string | null;
  waitedMs: number;
  waitReasons: ({ kind: string } & Record<string, unknown>)[];
}
interface Run {
  pipeline: string;
  run: number | null;
  scheduledFor: string;
  state: string;
  buffered: boolean;
  startedAt: string | null;
  endedAt: string | null;
}
interface SimulationJson {
  start: string;
  end: string;
  attempts: Attempt[];
  pools: Record<string, { capacity: number; peak: number }>;
  runs: Run[];
  assumedDurations: string[];
  warnings: string[];
}

const tmp = mkdtempSync(join(tmpdir(), "sluice-simulate-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a `--durations` file and returns its path. */
function durationsFile(name: string, content: unknown): string {
  const file = join(tmp, name);
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

/** `simulate --json`, checked to have succeeded, parsed. */
async function simulateJson(...args: string[]): Promise<SimulationJson> {
  const r = await sluice(["simulate", ...args, "--json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as SimulationJson;
}

// Runs shared by several tests: each CLI process costs ~0.5 s of CPU.
const PRIORITY_ARGS = ["simulate", PRIORITY_EXAMPLE, "--until", "10s", "--json"];
const CONTENDED_ARGS = ["simulate", CONTENDED, "--until", "30m", "--json"];
let priorityRun: ReturnType<typeof sluice> | undefined;
let contendedRun: ReturnType<typeof sluice> | undefined;
const priorityJson = async () => parseOk(await (priorityRun ??= sluice(PRIORITY_ARGS)));
const contendedJson = async () => parseOk(await (contendedRun ??= sluice(CONTENDED_ARGS)));

function parseOk(r: Awaited<ReturnType<typeof sluice>>): SimulationJson {
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as SimulationJson;
}

/** Seconds since the virtual start. */
const at = (iso: string | null): number | null => (iso === null ? null : (Date.parse(iso) - START) / 1000);

/** The task column of the text timeline, in order. */
function timelineTasks(stdout: string): string[] {
  const section = stdout.slice(stdout.indexOf("Timeline"), stdout.indexOf("Peak pool usage"));
  return [...section.matchAll(/^ {2}\+\S+ +run \d+ +(\S+)/gm)].map((m) => m[1]!);
}

/** A command that must fail with one `sluice: …` line on stderr and exit 2. */
async function expectUsageError(args: string[], message: string | RegExp): Promise<void> {
  const r = await sluice(args, { cwd: tmp });
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr.endsWith("\n")).toBe(true);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(/^sluice: /);
  if (typeof message === "string") expect(r.stderr).toContain(message);
  else expect(r.stderr).toMatch(message);
}

describe("sluice simulate on the priority example", () => {
  it("runs A, C, B, D: the heavier branch first", async () => {
    const r = await sluice(["simulate", PRIORITY_EXAMPLE, "--until", "10s"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Simulated 10s from 2025-01-06T00:00:00\.000Z on a virtual clock$/m);
    expect(timelineTasks(r.stdout)).toEqual(["priority_demo.A", "priority_demo.C", "priority_demo.B", "priority_demo.D"]);
    // B waited behind C for the one slot, and the timeline says so.
    expect(r.stdout).toMatch(/priority_demo\.B +ran 1s +waited 1s +pool one_slot: needs 1 slot\(s\), 0 of 1 free — held by priority_demo\.C \(run 1\)/);
    expect(r.stdout).toMatch(/^ {2}one_slot {2}1\/1$/m);
  });

  it("--json: attempts, pools and runs in the documented shape", async () => {
    const json = await priorityJson();
    expect(json.start).toBe("2025-01-06T00:00:00.000Z");
    expect(json.end).toBe("2025-01-06T00:00:10.000Z");
    for (const a of json.attempts) {
      expect(a).toMatchObject({
        pipeline: expect.any(String),
        run: expect.any(Number),
        task: expect.any(String),
        readyAt: expect.stringMatching(/^2025-01-06T/),
        startedAt: expect.stringMatching(/^2025-01-06T/),
        endedAt: expect.stringMatching(/^2025-01-06T/),
        waitedMs: expect.any(Number),
        waitReasons: expect.any(Array),
      });
    }
    expect(json.attempts.map((a) => [a.task, at(a.readyAt), at(a.startedAt), at(a.endedAt), a.waitedMs])).toEqual([
      ["A", 0, 0, 1, 0],
      ["C", 1, 1, 2, 0],
      ["B", 1, 2, 3, 1000],
      ["D", 3, 3, 4, 0],
    ]);
    expect(json.pools).toEqual({ one_slot: { capacity: 1, peak: 1 } });
    expect(json.runs).toMatchObject([{ pipeline: "priority_demo", run: 1, scheduledFor: "2025-01-06T00:00:00.000Z", state: "success" }]);
    expect(json.assumedDurations).toEqual([]);
  });

  it("says why a task waited on a pool: need, free, capacity and the holders", async () => {
    const json = await priorityJson();
    const b = json.attempts.find((a) => a.task === "B")!;
    expect(b.waitReasons).toEqual([
      {
        kind: "pool",
        name: "one_slot",
        need: 1,
        free: 0,
        capacity: 1,
        holders: [expect.objectContaining({ pipeline: "priority_demo", run: 1, task: "C", amount: 1 })],
      },
    ]);
    // Nothing else waited, so nothing else has a reason.
    expect(json.attempts.filter((a) => a.task !== "B").flatMap((a) => a.waitReasons)).toEqual([]);
  });
});

describe("sluice simulate is deterministic", () => {
  it("gives byte-identical stdout on two runs, in text and in --json", async () => {
    const text = CONTENDED_ARGS.filter((a) => a !== "--json");
    const [t1, t2, j1, j2] = await Promise.all([sluice(text), sluice(text), (contendedRun ??= sluice(CONTENDED_ARGS)), sluice(CONTENDED_ARGS)]);
    for (const r of [t1, t2, j1, j2]) expect(r.code, r.stderr).toBe(0);
    expect(t1.stdout.length).toBeGreaterThan(1000);
    expect(t2.stdout).toBe(t1.stdout);
    expect(j2.stdout).toBe(j1.stdout);
  });
});

describe("sluice simulate: pools", () => {
  // The demands declared in contended.config.ts.
  const DEMANDS: Record<string, Record<string, number>> = {
    "bulk.a": { db: 2 },
    "bulk.b": { db: 1, api: 1 },
    "bulk.c": { db: 1 },
    "critical.x": { db: 2, api: 1 },
  };

  it("never uses more of a pool than its capacity, and reports the peak", async () => {
    const json = await contendedJson();
    expect(json.pools).toEqual({ db: { capacity: 3, peak: 3 }, api: { capacity: 1, peak: 1 } });
    for (const [name, pool] of Object.entries(json.pools)) expect(pool.peak, name).toBeLessThanOrEqual(pool.capacity);

    // Recount from the attempts: at every start, the slots held by the attempts running then.
    const end = Date.parse(json.end);
    const spans = json.attempts.map((a) => ({
      demand: DEMANDS[`${a.pipeline}.${a.task}`]!,
      from: Date.parse(a.startedAt),
      to: a.endedAt === null ? end + 1 : Date.parse(a.endedAt),
    }));
    expect(spans.length).toBeGreaterThan(20);
    for (const s of spans) {
      for (const [name, pool] of Object.entries(json.pools)) {
        const used = spans.filter((o) => o.from <= s.from && s.from < o.to).reduce((sum, o) => sum + (o.demand[name] ?? 0), 0);
        expect(used, `${name} at ${new Date(s.from).toISOString()}`).toBeLessThanOrEqual(pool.capacity);
      }
    }

    // Waiting on a pool names the holders, with the slots each holds.
    const blocked = json.attempts.flatMap((a) => a.waitReasons).filter((w) => w.kind === "pool" && w.name === "db");
    expect(blocked.length).toBeGreaterThan(0);
    for (const w of blocked) {
      expect(w).toMatchObject({ kind: "pool", name: "db", need: expect.any(Number), free: expect.any(Number), capacity: 3 });
      const holders = w.holders as Holder[];
      expect(holders.length).toBeGreaterThan(0);
      expect((w.free as number) + holders.reduce((sum, h) => sum + h.amount, 0)).toBe(3);
      expect(w.free as number).toBeLessThan(w.need as number);
    }
  });
});

describe("sluice simulate: overlap policies", () => {
  it("a 15s cycle of 20s work: skip drops ticks, bufferOne queues one", async () => {
    const [json, text] = await Promise.all([
      simulateJson(OVERLAP, "--until", "2m"),
      sluice(["simulate", OVERLAP, "--until", "2m"]),
    ]);
    const of = (pipeline: string) => json.runs.filter((r) => r.pipeline === pipeline);

    const skipping = of("skipping");
    const skipped = skipping.filter((r) => r.state === "skipped");
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped.map((r) => at(r.scheduledFor))).toContain(30); // run 1 (15s → 35s) was still going
    expect(skipped.every((r) => r.run === null && r.startedAt === null)).toBe(true);
    // The runs it kept started on time and never overlapped.
    const kept = skipping.filter((r) => r.state !== "skipped");
    expect(kept.every((r) => !r.buffered && r.startedAt === r.scheduledFor)).toBe(true);

    const buffering = of("buffering");
    const buffered = buffering.filter((r) => r.buffered);
    expect(buffered.length).toBeGreaterThan(0);
    // The tick at 30s is not dropped: it waits for run 1 (15s → 35s).
    expect(buffering.find((r) => at(r.scheduledFor) === 30)).toMatchObject({ state: "success", buffered: true, startedAt: "2025-01-06T00:00:35.000Z" });
    // A buffered run starts when the one before it ends, never alongside it.
    const started = buffering.filter((r) => r.startedAt !== null);
    for (let i = 1; i < started.length; i++) expect(started[i]!.startedAt).toBe(started[i - 1]!.endedAt);
    // The backlog grows 5s a cycle, so bufferOne drops ticks too, but only while one run is
    // already waiting: never more than one buffered.
    const bufferSkips = buffering.filter((r) => r.state === "skipped");
    expect(bufferSkips.length).toBeLessThan(skipped.length);
    for (const tick of bufferSkips) {
      const t = Date.parse(tick.scheduledFor);
      const waiting = buffering.filter((r) => r.run !== null && Date.parse(r.scheduledFor) < t && (r.startedAt === null || Date.parse(r.startedAt) > t));
      expect(waiting, `waiting at ${tick.scheduledFor}`).toHaveLength(1);
    }

    expect(json.warnings.some((w) => /^skipping: .*longer than its 15000 ms interval.*overlap "skip"/.test(w))).toBe(true);
    expect(json.warnings.some((w) => /^buffering: .*longer than its 15000 ms interval.*overlap "bufferOne"/.test(w))).toBe(true);

    expect(text.code).toBe(0);
    const started1 = kept.filter((r) => r.startedAt !== null).length;
    expect(text.stdout).toMatch(new RegExp(`^ {2}skipping +${started1} started +${skipped.length} skipped +0 buffered`, "m"));
    expect(text.stdout).toMatch(new RegExp(`^ {2}buffering +${started.length} started +${bufferSkips.length} skipped +${buffered.length} buffered`, "m"));
  });
});

describe("sluice simulate --durations", () => {
  it("overrides the estimates", async () => {
    const file = durationsFile("slow-c.json", { "priority_demo.C": "3s", "priority_demo.D": 500 });
    const json = await simulateJson(PRIORITY_EXAMPLE, "--until", "10s", "--durations", file);
    expect(json.attempts.map((a) => [a.task, at(a.startedAt), at(a.endedAt)])).toEqual([
      ["A", 0, 1],
      ["C", 1, 4],
      ["B", 4, 5],
      ["D", 5, 5.5],
    ]);
  });

  it.concurrent.each([
    ["an unknown task", { "priority_demo.Z": "1s" }, /--durations .*unknown\.json: unknown task "priority_demo\.Z"; tasks are named pipeline\.task: priority_demo\.A, /],
    ["a bad duration", { "priority_demo.A": "soon" }, /--durations .*bad-duration\.json: "priority_demo\.A": "soon" is not a duration/],
    ["a negative duration", { "priority_demo.A": -5 }, /"priority_demo\.A": -5 is not a duration/],
    ["not JSON", "{ nope", /--durations .*not-json\.json: /],
  ] as const)("rejects %s: exit 2", async (name, content, message) => {
    const fileName = { "an unknown task": "unknown", "a bad duration": "bad-duration", "a negative duration": "negative", "not JSON": "not-json" }[name];
    const file = durationsFile(`${fileName}.json`, content);
    await expectUsageError(["simulate", PRIORITY_EXAMPLE, "--durations", file], message);
  });
});

describe("sluice simulate: bad input, exit 2", () => {
  it.concurrent.each([
    ["--until forever", ["simulate", PRIORITY_EXAMPLE, "--until", "forever"], '--until: "forever" is not a duration'],
    ["--until 30 (no unit)", ["simulate", PRIORITY_EXAMPLE, "--until", "30"], '--until: "30" is not a duration; use e.g. 30s, 15m or 24h'],
    ["a missing config", ["simulate", join(DEFS, "missing.config.ts")], `sluice: config file not found: ${join(DEFS, "missing.config.ts")}`],
    ["a config that throws on import", ["simulate", join(DEFS, "throws.config.ts")], `sluice: could not load ${join(DEFS, "throws.config.ts")}: it threw while loading: boom: SALES_DB_URL is not set (at ${join(DEFS, "throws.config.ts")}:4:`],
  ])("%s", async (_name, args, message) => {
    await expectUsageError(args, message);
  });
});
