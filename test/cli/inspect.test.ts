import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFS, ROOT, sluice } from "./spawn.js";

const PRIORITY_EXAMPLE = join(ROOT, "examples/priority/sluice.config.ts");

interface TaskJson {
  id: string;
  weight: number;
  pools: Record<string, number>;
  dependsOn: string[];
  memoryMb?: number;
}
interface InspectJson {
  ok: true;
  pools: { name: string; slots: number }[];
  pipelines: { id: string; tasks: TaskJson[] }[];
}
interface Problem {
  path: string;
  message: string;
  pipeline?: string;
  task?: string;
  field?: string;
}
interface InvalidJson {
  ok: false;
  config: string;
  problems: Problem[];
}

/** The `Pipeline <id>: …` block of `inspect`'s text: the header and its task rows. */
function pipelineBlock(stdout: string, id: string): string[] {
  const lines = stdout.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`Pipeline ${id}:`));
  expect(start, `no "Pipeline ${id}" in:\n${stdout}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && !l.startsWith("  "));
  return lines.slice(start, end === -1 ? undefined : end);
}

/** The row of task `id` in a pipeline block, split on the table's column gaps. */
function taskRow(block: string[], id: string): string[] {
  const row = block.find((l) => l.startsWith(`  ${id} `));
  expect(row, `no task row "${id}" in:\n${block.join("\n")}`).toBeDefined();
  return row!.trim().split(/\s{2,}/);
}

describe("sluice inspect on a valid config", () => {
  it("prints each pipeline and each task's effective weight and demands, exit 0", async () => {
    const r = await sluice(["inspect", join(DEFS, "valid.config.ts")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Config ${join(DEFS, "valid.config.ts")}: valid`);
    expect(r.stdout).toMatch(/^ {2}warehouse_db {2}4 slot\(s\) {2}the warehouse$/m);
    expect(r.stdout).toMatch(/^ {2}api_quota +2 slot\(s\)/m);

    const sales = pipelineBlock(r.stdout, "daily_sales");
    expect(sales[0]).toBe('Pipeline daily_sales: cron "0 2 * * *" UTC · overlap bufferOne · maxActiveRuns 1');
    // downstream weights: load 2; transform 1 + 2; extract 5 + 1 + 2.
    expect(taskRow(sales, "extract")).toEqual(["extract", "weight 8 (downstream, own 5)", "warehouse_db:2 api_quota:1", "root"]);
    expect(taskRow(sales, "transform")).toEqual(["transform", "weight 3 (downstream, own 1)", "no pools", "512 MB", "after extract"]);
    expect(taskRow(sales, "load")).toEqual(["load", "weight 2 (downstream, own 2)", "warehouse_db:3", "after transform"]);

    const audit = pipelineBlock(r.stdout, "audit");
    expect(audit[0]).toBe("Pipeline audit: every 15m · overlap skip · maxActiveRuns 2");
    expect(taskRow(audit, "scan")).toEqual(["scan", "weight 10 (absolute, own 10)", "warehouse_db:1", "root"]);
  });

  it("--json gives pipelines[].tasks[] with weight, pools and dependsOn", async () => {
    const r = await sluice(["inspect", join(DEFS, "valid.config.ts"), "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as InspectJson;
    expect(json.ok).toBe(true);
    expect(json.pools).toEqual([
      { name: "warehouse_db", slots: 4, description: "the warehouse" },
      { name: "api_quota", slots: 2 },
    ]);
    expect(json.pipelines.map((p) => p.id)).toEqual(["daily_sales", "audit"]);
    const [sales, audit] = json.pipelines;
    expect(sales!.tasks.map(({ id, weight, pools, dependsOn }) => ({ id, weight, pools, dependsOn }))).toEqual([
      { id: "extract", weight: 8, pools: { warehouse_db: 2, api_quota: 1 }, dependsOn: [] },
      { id: "transform", weight: 3, pools: {}, dependsOn: ["extract"] },
      { id: "load", weight: 2, pools: { warehouse_db: 3 }, dependsOn: ["transform"] },
    ]);
    expect(sales!.tasks[1]!.memoryMb).toBe(512);
    expect(audit!.tasks).toMatchObject([{ id: "scan", weight: 10, weightRule: "absolute", pools: { warehouse_db: 1 }, dependsOn: [] }]);
    // Plain data only: the task functions are not printed.
    expect(r.stdout).not.toContain('"fn"');
  });

  it("gives the priority example's downstream weights A=7, B=3, C=4, D=1 (text and --json)", async () => {
    const [text, json] = await Promise.all([
      sluice(["inspect", PRIORITY_EXAMPLE]),
      sluice(["inspect", PRIORITY_EXAMPLE, "--json"]),
    ]);
    expect(text.code).toBe(0);
    const block = pipelineBlock(text.stdout, "priority_demo");
    const weights = Object.fromEntries(["A", "B", "C", "D"].map((id) => [id, taskRow(block, id)[1]]));
    expect(weights).toEqual({
      A: "weight 7 (downstream, own 1)",
      B: "weight 3 (downstream, own 2)",
      C: "weight 4 (downstream, own 3)",
      D: "weight 1 (downstream, own 1)",
    });
    expect(taskRow(block, "D")).toEqual(["D", "weight 1 (downstream, own 1)", "one_slot:1", "after B, C"]);

    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as InspectJson;
    const tasks = parsed.pipelines[0]!.tasks;
    expect(Object.fromEntries(tasks.map((t) => [t.id, t.weight]))).toEqual({ A: 7, B: 3, C: 4, D: 1 });
    expect(Object.fromEntries(tasks.map((t) => [t.id, t.dependsOn]))).toEqual({ A: [], B: ["A"], C: ["A"], D: ["B", "C"] });
  });
});

/** What one problem must look like: its exact location and what its message must say. */
interface Expected {
  path: string;
  pipeline?: string;
  task?: string;
  field?: string;
  says: RegExp[];
}

const CYCLE: Expected = {
  path: "pipelines.cyclic.tasks.load.dependsOn",
  pipeline: "cyclic",
  task: "load",
  field: "dependsOn",
  says: [/cycle: load → report → publish → load/, /remove one of these dependencies/],
};
const UNKNOWN_POOL: Expected = {
  path: "pipelines.sales.tasks.extract.pools.warehose_db",
  pipeline: "sales",
  task: "extract",
  field: "pools.warehose_db",
  says: [/pool "warehose_db", which is not declared/, /Did you mean "warehouse_db"\?/],
};
const OVER_CAPACITY: Expected = {
  path: "pipelines.sales.tasks.load.pools.warehouse_db",
  pipeline: "sales",
  task: "load",
  field: "pools.warehouse_db",
  says: [/needs 5 slots of pool "warehouse_db", which has only 4/, /could never run/],
};
const BAD_CRON: Expected = {
  path: "pipelines.nightly.schedule.cron",
  pipeline: "nightly",
  field: "schedule.cron",
  says: [/schedule\.cron must be a valid cron expression/, /"0 99 \* \* \*"/, /hour/],
};
const ZERO_POOL_SLOTS: Expected = {
  path: "pools.empty.slots",
  field: "pools.empty.slots",
  says: [/pools\.empty\.slots must be a whole number of at least 1 \(got 0\)/],
};
const NEGATIVE_PARALLELISM: Expected = {
  path: "parallelism",
  field: "parallelism",
  says: [/parallelism must be a whole number of at least 1 \(got -1\)/],
};
const ZERO_MAX_ACTIVE_RUNS: Expected = {
  path: "pipelines.sales.maxActiveRuns",
  pipeline: "sales",
  field: "maxActiveRuns",
  says: [/maxActiveRuns must be a whole number of at least 1 \(got 0\)/],
};

/** Each bad definition in a fixture of its own: [fixture, every problem it must report]. */
const BAD: [string, Expected[]][] = [
  ["unknown-pool", [UNKNOWN_POOL]],
  ["over-capacity", [OVER_CAPACITY]],
  ["duplicate-pipeline", [{ path: "pipelines.sales", pipeline: "sales", says: [/pipeline id "sales" is used 2 times/, /must be unique/] }]],
  [
    "duplicate-task",
    [{ path: "pipelines.sales.tasks.extract", pipeline: "sales", task: "extract", says: [/task id "extract" is used 2 times in pipeline "sales"/, /must be unique/] }],
  ],
  ["bad-cron", [BAD_CRON]],
  [
    "bad-duration",
    [{ path: "pipelines.sales.tasks.extract.timeout", pipeline: "sales", task: "extract", field: "timeout", says: [/timeout must be a positive duration/, /"10 sec" is not a duration/] }],
  ],
  [
    "zero-slots",
    [
      ZERO_POOL_SLOTS,
      { path: "pipelines.sales.tasks.extract.pools.api", pipeline: "sales", task: "extract", field: "pools.api", says: [/pools\.api must be a whole number of at least 1 \(got 0\)/] },
    ],
  ],
  [
    "negative-parallelism",
    [
      NEGATIVE_PARALLELISM,
      { path: "pipelines.sales.tasks.extract.maxActivePerRun", pipeline: "sales", task: "extract", field: "maxActivePerRun", says: [/maxActivePerRun must be a whole number of at least 1 \(got -1\)/] },
    ],
  ],
  ["zero-max-active-runs", [ZERO_MAX_ACTIVE_RUNS]],
  [
    "cross-pipeline-dep",
    [
      {
        path: "pipelines.reports.tasks.report.dependsOn[0]",
        pipeline: "reports",
        task: "report",
        field: "dependsOn[0]",
        says: [/task "load" of pipeline "sales"/, /only depend on tasks of their own pipeline \("reports"\)/],
      },
    ],
  ],
];

/** all-bad.config.ts holds every mistake above at once. */
const ALL_BAD: Expected[] = [
  NEGATIVE_PARALLELISM,
  ZERO_POOL_SLOTS,
  ZERO_MAX_ACTIVE_RUNS,
  { path: "pipelines.sales.tasks.report.timeout", pipeline: "sales", task: "report", field: "timeout", says: [/"10 sec" is not a duration/] },
  { path: "pipelines.sales.tasks.publish.pools.api", pipeline: "sales", task: "publish", field: "pools.api", says: [/\(got 0\)/] },
  { path: "pipelines.sales.tasks.publish.maxActivePerRun", pipeline: "sales", task: "publish", field: "maxActivePerRun", says: [/\(got -1\)/] },
  BAD_CRON,
  { path: "pipelines.nightly", pipeline: "nightly", says: [/pipeline id "nightly" is used 2 times/] },
  { path: "pipelines.sales.tasks.dup", pipeline: "sales", task: "dup", says: [/task id "dup" is used 2 times in pipeline "sales"/] },
  UNKNOWN_POOL,
  OVER_CAPACITY,
  { ...CYCLE, path: "pipelines.sales.tasks.load.dependsOn", pipeline: "sales" },
  { path: "pipelines.nightly.tasks.check.dependsOn[0]", pipeline: "nightly", task: "check", field: "dependsOn[0]", says: [/task "dup" of pipeline "sales"/, /own pipeline \("nightly"\)/] },
];

/**
 * Runs `inspect --json` on a bad fixture and checks that it exits 2 listing exactly the expected
 * problems; with `text`, also plain `inspect`, which must print each of them on stderr.
 * (The text is checked for a few fixtures only: each CLI process costs ~0.5 s of CPU.)
 */
async function expectRejected(fixture: string, expected: Expected[], { text: withText = false } = {}): Promise<void> {
  const file = join(DEFS, `${fixture}.config.ts`);
  const [json, text] = await Promise.all([
    sluice(["inspect", file, "--json"]),
    withText ? sluice(["inspect", file]) : undefined,
  ]);

  expect(json.code, json.stderr).toBe(2);
  expect(json.stderr).toBe("");
  const out = JSON.parse(json.stdout) as InvalidJson;
  expect(out).toMatchObject({ ok: false, config: file });
  expect(out.problems.map((p) => p.path).sort()).toEqual(expected.map((e) => e.path).sort());
  for (const e of expected) {
    const problem = out.problems.find((p) => p.path === e.path)!;
    // Located exactly: pipeline, task and field where they apply, and nothing made up.
    expect({ pipeline: problem.pipeline, task: problem.task, field: problem.field }, e.path).toEqual({ pipeline: e.pipeline, task: e.task, field: e.field });
    for (const pattern of e.says) expect(problem.message).toMatch(pattern);
    // The message itself names where the mistake is, so it reads on its own.
    if (e.pipeline !== undefined) expect(problem.message).toContain(`"${e.pipeline}"`);
    if (e.task !== undefined) expect(problem.message).toContain(`"${e.task}"`);
    if (e.field !== undefined) expect(problem.message).toContain(e.field.replace(/^pools\.(?=[^.]+$)/, "").replace(/\[\d+\]$/, ""));
  }

  if (text === undefined) return;
  expect(text.code).toBe(2);
  expect(text.stdout).toBe("");
  const [header, ...lines] = text.stderr.trimEnd().split("\n");
  expect(header).toBe(`sluice: invalid config ${file}: ${expected.length} problem(s)`);
  expect(lines).toEqual(out.problems.map((p) => `- ${p.path}: ${p.message}`));
}

describe("sluice inspect on a bad definition: exit 2", () => {
  it.concurrent.each(BAD)("%s (--json)", async (fixture, expected) => {
    await expectRejected(fixture, expected);
  });

  it("cycle: prints the cycle's path (text and --json)", async () => {
    await expectRejected("cycle", [CYCLE], { text: true });
  });

  it("reports every mistake of a config at once, in text and --json", async () => {
    await expectRejected("all-bad", ALL_BAD, { text: true });
  });
});

describe("sluice inspect when the config cannot be loaded", () => {
  const empty = mkdtempSync(join(tmpdir(), "sluice-inspect-"));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  it.concurrent.each([
    ["a missing file", [join(DEFS, "missing.config.ts")], `config file not found: ${join(DEFS, "missing.config.ts")}`],
    ["no sluice.config.ts in the directory or its parents", [], `no sluice.config.ts in ${empty} or any parent folder; create one with \`npx sluice init\``],
    ["a config that throws on import", [join(DEFS, "throws.config.ts")], `could not load ${join(DEFS, "throws.config.ts")}: it threw while loading: boom: SALES_DB_URL is not set (at ${join(DEFS, "throws.config.ts")}:`],
  ] as const)("%s: one line on stderr, exit 2", async (_name, args, message) => {
    const r = await sluice(["inspect", ...args], { cwd: empty });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.endsWith("\n")).toBe(true);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr.startsWith(`sluice: ${message}`)).toBe(true);
  });
});
