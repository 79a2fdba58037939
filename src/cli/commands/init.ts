import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { CliError } from "../errors.js";
import { CONFIG_FILES } from "../load-config.js";

/** The config `sluice init` writes: one small pipeline, every option it uses explained. */
export const INIT_CONFIG = `// Sluice config: pipelines, the pools they share, and how much runs at once.
// Run it:        npx sluice run          (scheduler + worker; Ctrl-C stops gracefully)
// Check it:      npx sluice inspect      (every problem at once, with a fix)
// Rehearse it:   npx sluice simulate --until 1h   (the real scheduler on a virtual clock)
import { defineConfig, pipeline } from "sluice";

// A pipeline: a DAG of tasks, run on a schedule ({ every: "15m" } or { cron: "0 2 * * *" }).
// Every 10 seconds here so that \`sluice run\` shows something at once; make it yours.
const hello = pipeline("hello", {
  schedule: { every: "10s" },
  overlap: "skip", // a tick that comes while the previous run is still active is skipped (and logged)
});

// A task declares what it uses; it starts only when all of it is free.
const extract = hello.task("extract", { pools: { database: 1 }, retries: 2, timeout: "5m" }, async (ctx) => {
  ctx.log.info("extracting", { for: ctx.scheduledFor.toISOString() });
  await new Promise((resolve) => setTimeout(resolve, 500)); // your work here; honour ctx.signal
  return { rows: 42 }; // JSON: downstream tasks read it in ctx.upstream
});

hello.task("load", { dependsOn: [extract], pools: { database: 1 } }, async (ctx) => {
  const { rows } = ctx.upstream.extract as { rows: number };
  ctx.log.info("loading", { rows });
});

export default defineConfig({
  parallelism: 8, // attempts running at once, everywhere
  pools: {
    database: { slots: 2, description: "connections to the database" },
  },
  pipelines: [hello],
});
`;

const SCRIPTS: Record<string, string> = {
  sluice: "sluice run",
  "sluice:simulate": "sluice simulate --until 1h",
};

interface PackageJson {
  name?: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** Scaffold a project: config, package.json scripts, `.sluice/` ignored. Returns what it did, one line each. */
export function init(dir: string): string[] {
  const existing = CONFIG_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
  if (existing) throw new CliError(`${existing} already exists; sluice init never overwrites a config (edit it, or remove it first)`);
  mkdirSync(dir, { recursive: true });
  const done: string[] = [];

  writeFileSync(join(dir, "sluice.config.ts"), INIT_CONFIG, { flag: "wx" });
  done.push("created sluice.config.ts (one pipeline, one pool)");

  const pkgPath = join(dir, "package.json");
  let pkg: PackageJson;
  if (existsSync(pkgPath)) {
    try {
      pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as PackageJson;
    } catch (err) {
      throw new CliError(`${pkgPath} is not valid JSON (${err instanceof Error ? err.message : String(err)}); fix it and run sluice init again`);
    }
  } else {
    pkg = { name: dirName(dir), private: true };
    done.push("created package.json");
  }
  const scripts = { ...(pkg.scripts ?? {}) };
  for (const [name, command] of Object.entries(SCRIPTS)) {
    if (scripts[name] === undefined) {
      scripts[name] = command;
      done.push(`added the script "${name}": ${command}`);
    } else if (scripts[name] !== command) {
      done.push(`kept your script "${name}" (${scripts[name]}); run \`npx ${command}\` instead`);
    }
  }
  pkg.scripts = scripts;
  writeFileSync(pkgPath, JSON.stringify(pkg, null, 2) + "\n");

  const ignore = join(dir, ".gitignore");
  const lines = existsSync(ignore) ? readFileSync(ignore, "utf8") : "";
  if (!lines.split(/\r?\n/).some((l) => [".sluice", ".sluice/", "/.sluice", "/.sluice/"].includes(l.trim()))) {
    writeFileSync(ignore, `${lines}${lines === "" || lines.endsWith("\n") ? "" : "\n"}# Sluice's embedded store and logs\n.sluice/\n`);
    done.push(`${lines === "" ? "created .gitignore with" : "added"} .sluice/ ${lines === "" ? "" : "to .gitignore"}`.trim());
  }

  if (!pkg.dependencies?.sluice && !pkg.devDependencies?.sluice) done.push("next: npm install sluice (the config imports it)");
  return done;
}

function dirName(dir: string): string {
  const base = resolve(dir).split(/[\\/]/).pop() ?? "pipelines";
  return base.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[._-]+/, "") || "pipelines";
}

export function registerInit(program: Command): void {
  program
    .command("init")
    .description("scaffold a project: a commented sluice.config.ts, package.json scripts, .sluice/ in .gitignore")
    .argument("[dir]", "project folder", ".")
    .action((dir: string) => {
      const target = resolve(dir);
      const lines = init(target);
      const where = relative(process.cwd(), target) || ".";
      process.stdout.write(`Sluice project in ${where}:\n${lines.map((l) => `  - ${l}`).join("\n")}\n\nThen: ${where === "." ? "" : `cd ${where} && `}npx sluice run\n`);
    });
}
