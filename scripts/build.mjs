#!/usr/bin/env node
// Compiles src/ to dist/ (ESM JavaScript, .d.ts types, source maps with the TypeScript inlined, so
// stack traces point at the source without shipping src/), then copies the SQL migrations next to
// the compiled stores. `--clean` starts from an empty dist/ (what `npm pack` ships); without it the
// build is incremental (what the test run does before it starts, ~1 s when nothing changed).
//
// Why plain tsc and not tsup/tsdown: the package is ESM only, with one output file per source file
// and subpath exports that map 1:1 onto folders; tsc already type-checks, emits .d.ts and source
// maps, and needs no bundler configuration. A bundler would only merge files we keep apart.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const clean = process.argv.includes("--clean");
const strict = !process.argv.includes("--allow-type-errors");

if (clean) rmSync(join(root, "dist"), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const result = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { cwd: root, stdio: "inherit" });
if (result.status !== 0 && strict) process.exit(result.status ?? 1);
if (result.status !== 0) process.stderr.write("build: type errors above (typecheck reports them); dist/ was emitted anyway\n");

const migrations = join(root, "src/store/migrations");
if (existsSync(migrations)) cpSync(migrations, join(root, "dist/store/migrations"), { recursive: true });

// The dashboard (ui/): one bundle with Preact and uPlot, no CDN, served from dist/server/ui by
// `sluice run`. esbuild is a devDependency: a package installed from npm ships the built files.
const ui = join(root, "ui");
const uiOut = join(root, "dist/server/ui");
if (existsSync(join(ui, "main.tsx"))) {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    process.stderr.write("build: esbuild is not installed (a devDependency), so the dashboard was not built\n");
  }
  if (esbuild) {
    mkdirSync(uiOut, { recursive: true });
    await esbuild.build({
      entryPoints: [join(ui, "main.tsx")],
      outfile: join(uiOut, "app.js"),
      bundle: true,
      format: "esm",
      minify: true,
      target: "es2020",
      jsx: "automatic",
      jsxImportSource: "preact",
      legalComments: "none",
      logLevel: "warning",
    });
    const css = [createRequire(import.meta.url).resolve("uplot/dist/uPlot.min.css"), join(ui, "style.css")].map((f) => readFileSync(f, "utf8")).join("\n");
    writeFileSync(join(uiOut, "app.css"), css);
    cpSync(join(ui, "index.html"), join(uiOut, "index.html"));
  }
}
