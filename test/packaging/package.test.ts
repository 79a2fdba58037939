/**
 * Sluice as a user meets it: packed with `npm pack`, installed from the tarball into a fresh
 * project made by `npm init -y` (so `"type": "commonjs"`), outside this repository. Nothing here
 * imports the repository's source: the CLI runs through `npx`, the library through its exports.
 *
 * One shortcut, said plainly: the tarball is installed with `--ignore-scripts`, and the native
 * better-sqlite3 binding built by this repository's `npm ci` (same version, same Node) is copied
 * in, instead of compiling it again from source (about a minute per run). Everything else is the
 * user's install.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../cli/spawn.js";

const exec = promisify(execFile);
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
let base: string;
let project: string;
let tarball: string;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `sluice …` in the project (or a folder of it), started, with no SLUICE_* from the test run (but
 * the dashboard on a free port, never 7070). Through `npx sluice` as the README says when `viaNpx`;
 * otherwise the bin npx would find, `node_modules/.bin/sluice` (npx adds ~0.5 s a call).
 */
function startSluice(args: readonly string[], cwd = project, timeoutMs = 60_000, viaNpx = false): { child: ChildProcess; output: () => string; done: Promise<Result> } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  for (const key of Object.keys(env)) if (key.startsWith("SLUICE_") || key.startsWith("npm_")) delete env[key];
  env.SLUICE_PORT = "0";
  const [command, argv] = viaNpx ? ["npx", ["--no-install", "sluice", ...args]] : [process.execPath, [join(project, "node_modules/.bin/sluice"), ...args]];
  const child = spawn(command, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const done = new Promise<Result>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr: stderr.split("\n").filter((l) => !/^npm warn/.test(l)).join("\n") }));
  });
  return { child, output: () => stdout, done };
}

/** {@link startSluice}, to its end. */
function npxSluice(args: readonly string[], cwd = project, timeoutMs = 60_000, viaNpx = false): Promise<Result> {
  return startSluice(args, cwd, timeoutMs, viaNpx).done;
}

function setType(type: "commonjs" | "module" | undefined): void {
  const file = join(project, "package.json");
  const pkg = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  if (type === undefined) delete pkg.type;
  else pkg.type = type;
  writeFileSync(file, JSON.stringify(pkg, null, 2));
}

/** The README's first TypeScript example: what a new user copies into sluice.config.ts. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Defining pipelines"));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("README.md: no ```ts block under ## Defining pipelines");
  return block;
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "sluice-pkg-"));
  // dist/ is fresh (the test run builds it first); don't let pack rebuild it under other tests.
  const packed = await exec(NPM, ["pack", "--ignore-scripts", "--json", "--pack-destination", base], { cwd: ROOT });
  const info = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(base, info[0]!.filename);
  writeFileSync(join(base, "files.json"), JSON.stringify(info[0]!.files.map((f) => f.path)));
  project = join(base, "app");
  mkdirSync(project);
  await exec(NPM, ["init", "-y"], { cwd: project });
  await exec(NPM, ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", tarball], { cwd: project, timeout: 240_000 });
  cpSync(join(ROOT, "node_modules/better-sqlite3/build"), join(project, "node_modules/better-sqlite3/build"), { recursive: true });
  // A dependency of the user's own (CommonJS, as most of npm is), for configs that import npm packages.
  mkdirSync(join(project, "node_modules/user-lib"), { recursive: true });
  writeFileSync(join(project, "node_modules/user-lib/package.json"), JSON.stringify({ name: "user-lib", version: "1.0.0", main: "index.js" }));
  writeFileSync(join(project, "node_modules/user-lib/index.js"), "exports.slots = 2;\n");
  // The user's own TypeScript module, imported by the configs.
  mkdirSync(join(project, "lib"));
  writeFileSync(join(project, "lib/jobs.ts"), "export const rows = (n: number): number[] => Array.from({ length: n }, (_, i) => i);\n");
}, 300_000);

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

// The packed package's tests one after another (they keep both cores busy), and beside them sluice
// init's, which mostly waits for its template's first tick (each in a folder of its own). The
// config-loading tests change the project's package.json: one at a time, after these.
describe("the packed package", { concurrent: true }, () => {
  describe.sequential("in order", () => {
    it("ships compiled JavaScript, types and source maps, and no tests, benchmarks or TypeScript source", () => {
      const files = JSON.parse(readFileSync(join(base, "files.json"), "utf8")) as string[];
      expect(files).toEqual(expect.arrayContaining(["package.json", "README.md", "LICENSE", "bin/sluice.js", "dist/index.js", "dist/index.d.ts", "dist/index.js.map", "dist/cli/main.js"]));
      expect(files.filter((f) => f.endsWith(".sql")).length).toBeGreaterThan(0);
      const stray = files.filter((f) => /^(src|test|bench|examples|scripts)\//.test(f) || (f.endsWith(".ts") && !f.endsWith(".d.ts")) || f.endsWith(".tsbuildinfo"));
      expect(stray).toEqual([]);
    });

    it("runs the README's example: inspect, simulate, trigger --wait (in a \"type\": \"commonjs\" project)", async () => {
      expect(JSON.parse(readFileSync(join(project, "package.json"), "utf8")).type).toBe("commonjs");
      writeFileSync(join(project, "sluice.config.ts"), readmeExample());
      const inspect = await npxSluice(["inspect"], project, 60_000, true);
      expect(inspect.stderr).toBe("");
      expect(inspect.code).toBe(0);
      expect(inspect.stdout).toMatch(/sluice\.config\.ts: valid/);
      const sim = await npxSluice(["simulate", "--until", "1h", "--json"]);
      expect(sim.code, sim.stderr).toBe(0);
      expect((JSON.parse(sim.stdout) as { attempts: unknown[] }).attempts.length).toBeGreaterThan(0);
      const trig = await npxSluice(["trigger", "daily_sales", "--wait", "--json", "--log-level", "warn"]);
      expect(trig.code, trig.stderr).toBe(0);
      expect(JSON.parse(trig.stdout)).toMatchObject({ pipeline: "daily_sales", state: "success" });
      // The store belongs to the config: .sluice/ beside it.
      expect(existsSync(join(project, ".sluice/sluice.db"))).toBe(true);
      rmSync(join(project, "sluice.config.ts"));
    });

    it("runs isolated tasks from the installed package: a thread and a child process load the user's TypeScript config (commonjs project)", async () => {
      const dir = join(project, "isolated");
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, "sluice.config.ts"),
        `import { defineConfig, pipeline } from "sluice";
import { rows } from "../lib/jobs";
const p = pipeline("iso");
const a = p.task("in_thread", { isolation: "thread", memoryMb: 64 }, () => ({ n: rows(3).length }));
p.task("in_process", { isolation: "process", memoryMb: 256, dependsOn: [a] }, (ctx) => ({ pid: process.pid, got: ctx.upstream.in_thread }));
export default defineConfig({ pipelines: [p] });
`,
      );
      const trig = await npxSluice(["trigger", "iso", "--wait", "--json", "--log-level", "warn"], dir);
      expect(trig.code, trig.stderr).toBe(0);
      const history = await npxSluice(["history", "--json"], dir);
      const attempts = JSON.parse(history.stdout) as Array<{ task: string; state: string; peakMemoryBytes: number | null }>;
      expect(attempts.map((a) => [a.task, a.state])).toEqual([["in_process", "success"], ["in_thread", "success"]]);
      for (const a of attempts) expect(a.peakMemoryBytes).toBeGreaterThan(0);
    });

    it("imports from a plain .mjs script and from a .cjs script", async () => {
      writeFileSync(
        join(project, "embed.mjs"),
        `import { defineConfig, pipeline, start } from "sluice";
const p = pipeline("hello");
p.task("hi", (ctx) => ({ run: ctx.runId }));
const sluice = await start({ config: defineConfig({ pipelines: [p] }), db: ":memory:", logger: false });
const run = await sluice.waitForRun(await sluice.trigger("hello"));
await sluice.stop();
console.log(JSON.stringify({ state: run.state, tasks: await Promise.resolve(run.id) }));
`,
      );
      const esm = await exec(process.execPath, ["embed.mjs"], { cwd: project });
      expect(JSON.parse(esm.stdout)).toEqual({ state: "success", tasks: 1 });
      writeFileSync(
        join(project, "embed.cjs"),
        `const { defineConfig, pipeline, resolveConfig } = require("sluice");
const p = pipeline("hello");
p.task("hi", () => 1);
const result = resolveConfig(defineConfig({ pipelines: [p] }));
console.log(JSON.stringify({ ok: result.ok }));
`,
      );
      const cjs = await exec(process.execPath, ["embed.cjs"], { cwd: project });
      expect(JSON.parse(cjs.stdout)).toEqual({ ok: true });
      expect(cjs.stderr).toBe("");
    });

    it("exposes sluice/pg: the loaders import from the package in ESM and CommonJS", async () => {
      writeFileSync(
        join(project, "pg.mjs"),
        `import { load, quoteIdent, updateInBatches, PgIdentifierError } from "sluice/pg";
console.log(JSON.stringify({ load: typeof load, updateInBatches: typeof updateInBatches, quoted: quoteIdent('a"b'), error: typeof PgIdentifierError }));
`,
      );
      const esm = await exec(process.execPath, ["pg.mjs"], { cwd: project });
      expect(JSON.parse(esm.stdout)).toEqual({ load: "function", updateInBatches: "function", quoted: '"a""b"', error: "function" });
      writeFileSync(join(project, "pg.cjs"), `const { load } = require("sluice/pg");\nconsole.log(typeof load);\n`);
      expect((await exec(process.execPath, ["pg.cjs"], { cwd: project })).stdout.trim()).toBe("function");
    });

    it("exposes sluice/coord: a Semaphore and every() work from the package on the in-memory backend", async () => {
      writeFileSync(
        join(project, "coord.mjs"),
        `import { Semaphore, every, memoryBackend } from "sluice/coord";
const sem = new Semaphore({ backend: memoryBackend(), name: "demo", limit: 1 });
const permit = await sem.acquire();
const token = permit.fencingToken;
await permit.release();
const controller = new AbortController();
let cycles = 0;
const handle = every(10, async () => { if (++cycles === 2) controller.abort(); }, { name: "demo", signal: controller.signal });
await handle.stopped;
console.log(JSON.stringify({ token: typeof token, cycles }));
`,
      );
      const out = await exec(process.execPath, ["coord.mjs"], { cwd: project });
      expect(JSON.parse(out.stdout)).toEqual({ token: "number", cycles: 2 });
    });

    it.each(["node16", "bundler"] as const)("type-checks a strict TypeScript file against the public types (moduleResolution %s)", async (resolution) => {
      const dir = join(project, `types-${resolution}`);
      mkdirSync(dir, { recursive: true });
      const file = resolution === "node16" ? "check.mts" : "check.ts";
      writeFileSync(
        join(dir, file),
        `import { defineConfig, pipeline, start, type RunRecord, type Sluice, type TaskContext, type WaitReason } from "sluice";
const etl = pipeline("etl", { schedule: { every: "15m" }, overlap: "skip" });
const extract = etl.task("extract", { pools: { db: 1 }, retries: 2, timeout: "5m" }, async (ctx: TaskContext) => {
  const id: number = ctx.runId;
  ctx.log.info("extract", { id });
  return { rows: 1 };
});
etl.task("load", { dependsOn: [extract] }, (ctx) => ctx.upstream.extract);
const config = defineConfig({ pools: { db: { slots: 2 } }, pipelines: [etl] });
export async function main(): Promise<RunRecord> {
  const sluice: Sluice = await start({ config, db: ":memory:", logLevel: "warn" });
  sluice.on("event", (e) => e.message.toUpperCase());
  const reasons: WaitReason[] = sluice.explain(1).flatMap((e) => e.reasons);
  void reasons;
  const run = await sluice.waitForRun(await sluice.trigger("etl", { params: { day: "2026-11-01" } }));
  await sluice.stop({ timeout: "10s" });
  return run;
}
`,
      );
      writeFileSync(
        join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            strict: true,
            noEmit: true,
            target: "ES2022",
            module: resolution === "node16" ? "node16" : "esnext",
            moduleResolution: resolution,
            typeRoots: [join(ROOT, "node_modules/@types")],
            types: ["node"],
            // Under node16 every .d.ts of the package and of what its types import (@types/node,
            // @types/pg, zod) is checked; TypeScript's own lib.*.d.ts (which the package does not
            // augment) are not what is under test, and checking them is a fifth of each tsc run.
            // Under bundler the user's file is checked against the same types, but the .d.ts files
            // themselves are not checked again: bundler resolution accepts everything node16 does,
            // and checking them a second time took ~25 s of a loaded machine's test run.
            skipLibCheck: resolution === "bundler",
            skipDefaultLibCheck: true,
          },
          files: [file],
        }),
      );
      const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
      const r = await exec(process.execPath, [tsc, "-p", dir]).catch((err: { stdout: string; stderr: string }) => err);
      expect(r.stdout + r.stderr).toBe("");
      // A full type check of the package and its type dependencies: ~10 s alone, over 30 s on a loaded CI machine.
    }, 120_000);
  });
});

describe("sluice init", { concurrent: true }, () => {
  it("scaffolds a project that runs at once, and never overwrites a config", async () => {
    const dir = join(project, "fresh");
    mkdirSync(dir);
    const r = await npxSluice(["init"], dir, 60_000, true);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([".gitignore", "package.json", "sluice.config.ts"]);
    expect(readFileSync(join(dir, ".gitignore"), "utf8")).toMatch(/^\.sluice\/$/m);
    expect(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).scripts).toMatchObject({ sluice: "sluice run", "sluice:simulate": "sluice simulate --until 1h" });

    const inspect = await npxSluice(["inspect"], dir);
    expect(inspect.code, inspect.stderr).toBe(0);
    // The template runs every 10 s (ticks aligned to the clock): its first run comes within 10 s;
    // stopped (SIGTERM, as Ctrl-C) once it has succeeded.
    const started = startSluice(["run", "--no-live"], dir);
    const succeeded = (): boolean => started.output().split("\n").some((l) => l.includes('"run.success"'));
    for (const end = Date.now() + 30_000; !succeeded() && started.child.exitCode === null && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
    started.child.kill("SIGTERM");
    const run = await started.done;
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as { msg: string; event?: string });
    expect(lines.map((l) => l.msg)).toContain("sluice run started");
    expect(lines.some((l) => l.event === "run.success")).toBe(true);

    const again = await npxSluice(["init"], dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^sluice: .*sluice\.config\.ts already exists; sluice init never overwrites a config/);
    // Up to 10 s for the first tick, plus npx and a cold config load: more than the default 30 s on a loaded machine.
  }, 90_000);
});

describe("configs load wherever users keep them", () => {
  const ESM = (ext: string) => `import { defineConfig, pipeline } from "sluice";
import { rows } from "./lib/jobs${ext}";
import { rows as again } from "./lib/jobs";
import lib from "user-lib";
const p = pipeline("p");
p.task("t", { pools: { db: 1 } }, () => rows(3).length + again(1).length);
export default defineConfig({ pools: { db: { slots: lib.slots } }, pipelines: [p] });
`;
  const CJS = `const { defineConfig, pipeline } = require("sluice");
const { rows } = require("./lib/jobs");
const lib = require("user-lib");
const p = pipeline("p");
p.task("t", { pools: { db: 1 } }, () => rows(3).length);
module.exports = defineConfig({ pools: { db: { slots: lib.slots } }, pipelines: [p] });
`;
  // What a config's module type depends on: .ts and .js follow the nearest package.json's "type"
  // (so each under all three), .mts/.mjs are always ESM and .cts/.cjs always CommonJS (so each once,
  // under a type that is not its own where that differs).
  const cases = [
    ...(["commonjs", "module", undefined] as const).flatMap((type) => (["ts", "js"] as const).map((ext) => ({ type, ext }))),
    { type: "commonjs", ext: "mts" },
    { type: "commonjs", ext: "mjs" },
    { type: "module", ext: "cts" },
    { type: "module", ext: "cjs" },
    { type: undefined, ext: "mts" },
    { type: undefined, ext: "cjs" },
  ] as const;

  it.each(cases)("package type $type, sluice.config.$ext", async ({ type, ext }) => {
    setType(type);
    const dir = join(project, `cfg-${type ?? "none"}-${ext}`);
    mkdirSync(join(dir, "lib"), { recursive: true });
    cpSync(join(project, "lib/jobs.ts"), join(dir, "lib/jobs.ts"));
    const cjs = ext === "cts" || ext === "cjs";
    writeFileSync(join(dir, `sluice.config.${ext}`), cjs ? CJS : ESM(".js"));
    try {
      // Found from the folder itself, and named with -c from the project root: both at once.
      const [here, named] = await Promise.all([npxSluice(["inspect", "--json"], dir), npxSluice(["inspect", "-c", `cfg-${type ?? "none"}-${ext}/sluice.config.${ext}`, "--json"])]);
      expect(here.stderr).toBe("");
      expect(JSON.parse(here.stdout)).toMatchObject({ ok: true, pools: [{ name: "db", slots: 2 }] });
      expect(named.code, named.stderr).toBe(0);
    } finally {
      setType("commonjs");
    }
  });

  it("no package.json anywhere above the config", async () => {
    // A folder of its own, outside the project, with only node_modules/sluice (as a global or
    // NODE_PATH install would give): nothing says what module type a .ts file is.
    const bare = join(base, "bare");
    mkdirSync(join(bare, "node_modules"), { recursive: true });
    symlinkSync(join(project, "node_modules/sluice"), join(bare, "node_modules/sluice"), "dir");
    mkdirSync(join(bare, "lib"));
    cpSync(join(project, "lib/jobs.ts"), join(bare, "lib/jobs.ts"));
    writeFileSync(join(bare, "sluice.config.ts"), ESM(".js").replace('import lib from "user-lib";\n', "const lib = { slots: 2 };\n"));
    const r = await exec(process.execPath, [join(project, "node_modules/sluice/bin/sluice.js"), "inspect", "--json"], { cwd: bare });
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, pools: [{ name: "db", slots: 2 }] });
  });

  it("finds the config in a parent folder, and keeps the store beside it", async () => {
    const dir = join(project, "nested");
    mkdirSync(join(dir, "deep/er"), { recursive: true });
    writeFileSync(join(dir, "sluice.config.ts"), ESM(".js").replaceAll("./lib/", "../lib/"));
    const r = await npxSluice(["trigger", "p", "--wait", "--log-level", "silent"], join(dir, "deep/er"));
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dir, ".sluice/sluice.db"))).toBe(true);
    expect(existsSync(join(dir, "deep/er/.sluice"))).toBe(false);
    const runs = await npxSluice(["runs", "--json"], join(dir, "deep"));
    expect((JSON.parse(runs.stdout) as Array<{ pipeline: string }>).map((x) => x.pipeline)).toEqual(["p"]);
  });

  it("names the file, line and column of a syntax error", async () => {
    const dir = join(project, "syntax");
    mkdirSync(dir);
    writeFileSync(join(dir, "sluice.config.ts"), 'import { defineConfig } from "sluice";\nconst pools = { db: { slots: 2 } ;\nexport default defineConfig({ pools, pipelines: [] });\n');
    const r = await npxSluice(["inspect"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sluice: syntax error in sluice\.config\.ts:2:\d+: Expected "}" but found ";"/);
    expect(r.stderr).not.toMatch(/Transform failed/);
  });

  it("says what to do when the config imports a package that is not installed, or a file that does not exist", async () => {
    const dir = join(project, "missing");
    mkdirSync(dir);
    writeFileSync(join(dir, "sluice.config.ts"), 'import x from "left-pad-nowhere";\nexport default x;\n');
    const pkg = await npxSluice(["inspect"], dir);
    expect(pkg.code).toBe(2);
    expect(pkg.stderr.trim()).toBe('sluice: could not load sluice.config.ts: it imports "left-pad-nowhere", which is not installed in this project; run `npm install left-pad-nowhere`');
    writeFileSync(join(dir, "sluice.config.ts"), 'import { x } from "./nope";\nexport default x;\n');
    const file = await npxSluice(["inspect"], dir);
    expect(file.code).toBe(2);
    expect(file.stderr.trim().split("\n")).toHaveLength(1);
    expect(file.stderr).toMatch(/^sluice: could not load sluice\.config\.ts: it imports "\.\/nope" that does not exist/);
  });
});
