/**
 * Finding and loading the user's config. The CLI itself is compiled JavaScript; only here is a
 * TypeScript loader (tsx) brought in, for the config and the modules it imports, whatever the
 * user's package.json says (no `type`, `commonjs`, `module`) and whatever the extension.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { formatProblems } from "../define/errors.js";
import type { ConfigProblem, ResolvedConfig } from "../define/resolved.js";
import { CliError } from "./errors.js";
import { startupDone } from "./startup.js";

/** Config file names looked for, in this order, in the working folder and then its parents. */
export const CONFIG_FILES = ["sluice.config.ts", "sluice.config.mts", "sluice.config.cts", "sluice.config.js", "sluice.config.mjs", "sluice.config.cjs"] as const;

export interface LoadedConfig {
  path: string;
  config: ResolvedConfig;
  warnings: ConfigProblem[];
}

/** Where the config was named: `-c`/the argument, else `SLUICE_CONFIG`, else discovery. */
export interface ConfigRef {
  file?: string | undefined;
  cwd?: string;
}

const display = (path: string, cwd: string): string => {
  const rel = relative(cwd, path);
  return rel !== "" && !rel.startsWith("..") ? rel : path;
};

function configIn(dir: string): string | undefined {
  for (const name of CONFIG_FILES) {
    const candidate = join(dir, name);
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/**
 * The config file's absolute path, or `undefined` when none is named and none is found in the
 * working folder or a parent (like git, eslint or tsc look for theirs).
 *
 * @throws CliError when a named file (or folder) holds no config.
 */
export function findConfig(ref: ConfigRef = {}): string | undefined {
  const cwd = ref.cwd ?? process.cwd();
  const named = ref.file ?? (process.env.SLUICE_CONFIG?.trim() || undefined);
  if (named !== undefined) {
    const path = resolve(cwd, named);
    if (existsSync(path) && statSync(path).isDirectory()) {
      const inside = configIn(path);
      if (inside) return inside;
      throw new CliError(`no config in ${display(path, cwd)}: it holds none of ${CONFIG_FILES.join(", ")}`);
    }
    if (!existsSync(path)) {
      const from = ref.file !== undefined ? "" : " (named by SLUICE_CONFIG)";
      throw new CliError(`config file not found: ${display(path, cwd)}${from}; check the path, or create one with \`npx sluice init\``);
    }
    return path;
  }
  for (let dir = cwd; ; dir = dirname(dir)) {
    const found = configIn(dir);
    if (found) return found;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Like {@link findConfig}, but a missing config is an error that says how to make one. */
export function requireConfig(ref: ConfigRef = {}): string {
  const path = findConfig(ref);
  if (path !== undefined) return path;
  const cwd = ref.cwd ?? process.cwd();
  throw new CliError(`no sluice.config.ts in ${cwd} or any parent folder; create one with \`npx sluice init\`, or name it with -c path/to/sluice.config.ts`);
}

/**
 * Import the user's config module (TypeScript or JavaScript, ESM or CommonJS) and return its
 * default export. Failures become one line that says what to do.
 */
export async function importConfig(path: string, cwd = process.cwd()): Promise<unknown> {
  const shown = display(path, cwd);
  let mod: unknown;
  try {
    // Loaded only now: `sluice --help`, `runs` and friends never pay for the TypeScript loader.
    const [{ register: registerEsm, tsImport }, { register }] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
    // Sluice's own CommonJS dependencies load before the hook below: pino loaded through it
    // breaks (its symbols end up created twice).
    await import("../observe/logger.js");
    // The package itself, loaded by Node (not through tsx's hooks): the config's `import … from
    // "sluice"` then finds it loaded — through the hooks it costs ~3× as long.
    await import("../index.js");
    // `require()` of TypeScript from a CommonJS config (.cjs, .cts, or .ts in a "commonjs" package),
    // only while the config loads: Sluice's own later requires go to Node unchanged.
    // Stack traces of the user's TypeScript point at their lines, not the compiled ones.
    process.setSourceMapsEnabled(true);
    const unregister = register();
    try {
      if (/\.(ts|mts|mjs)$/.test(path)) {
        // A TypeScript or ESM config: tsx's hooks registered for the process (a task may still
        // import TypeScript lazily while it runs), and the config imported as Node would. Not
        // tsImport(): its namespace loads every module the config imports anew, `sluice` and its
        // dependencies included (a third of a command's CPU).
        registerEsmOnce(registerEsm);
        mod = await import(pathToFileURL(path).href);
      } else {
        // .js, .cjs, .cts: what a .js file is depends on the package type and on tsx's rules for
        // JavaScript importing TypeScript (`./lib/jobs.js` → jobs.ts), which its namespaced
        // import handles; the global hooks do not, for CommonJS loaded from ESM.
        mod = await tsImport(pathToFileURL(path).href, import.meta.url);
      }
    } finally {
      unregister();
    }
  } catch (err) {
    throw new CliError(describeLoadError(err, path, shown));
  }
  const value = defaultExport(mod);
  if (value === undefined) {
    throw new CliError(`${shown} has no default export; end it with \`export default defineConfig({ ... })\` (or \`module.exports = defineConfig({ ... })\` in CommonJS)`);
  }
  return value;
}

let esmRegistered = false;

/** tsx's ESM hooks, registered once per process (each registration adds a hooks thread). */
function registerEsmOnce(register: () => unknown): void {
  if (esmRegistered) return;
  esmRegistered = true;
  register();
}

/**
 * The config object of a loaded module. A CommonJS module arrives as `{ default: module.exports }`,
 * and TypeScript compiled to CommonJS puts `export default` under `module.exports.default`.
 */
function defaultExport(mod: unknown): unknown {
  if (typeof mod !== "object" || mod === null) return undefined;
  let value = (mod as { default?: unknown }).default;
  for (let i = 0; i < 2 && isWrapper(value); i++) value = (value as { default: unknown }).default;
  return value;
}

function isWrapper(value: unknown): boolean {
  if (typeof value !== "object" || value === null || !("default" in value)) return false;
  // A real config has `pipelines`; a module namespace or `module.exports` holding `default` does not.
  return !("pipelines" in value);
}

/** A load failure as one line: syntax errors with file, line and column; missing modules with the fix. */
export function describeLoadError(err: unknown, path: string, shown: string): string {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  const message = e.message ?? String(err);

  // esbuild (through tsx): "Transform failed with 1 error:\n/abs/file.ts:2:10: ERROR: Unexpected \";\""
  const esbuild = /^(.+?):(\d+):(\d+): ERROR: (.+)$/m.exec(message);
  if (message.startsWith("Transform failed") && esbuild) {
    const [, file = path, line, column, text] = esbuild;
    return `syntax error in ${where(file, path, shown)}:${line}:${column}: ${text}${sourceLine(file, Number(line), Number(column))}`;
  }
  if (e instanceof SyntaxError) {
    // Node's own parser (plain .js/.mjs/.cjs): the location is the first stack line "file:line".
    const at = /^(?:file:\/\/)?(\/[^\n]+?):(\d+)$/m.exec(e.stack ?? "");
    const loc = at ? `${where(at[1] ?? path, path, shown)}:${at[2]}` : shown;
    return `syntax error in ${loc}: ${message}`;
  }
  if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
    const pkg = /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1];
    if (pkg && !pkg.startsWith(".") && !pkg.startsWith("/")) {
      const name = pkg.startsWith("@") ? pkg.split("/").slice(0, 2).join("/") : pkg.split("/")[0];
      return `could not load ${shown}: it imports "${pkg}", which is not installed in this project; run \`npm install ${name}\``;
    }
    return `could not load ${shown}: it imports ${pkg ? `"${pkg}"` : "a module"} that does not exist${importer(message)}; check the path`;
  }
  const frame = userFrame(e.stack);
  return `could not load ${shown}: it threw while loading: ${firstLine(message)}${frame ? ` (at ${frame})` : ""}`;
}

function where(file: string, path: string, shown: string): string {
  return resolve(file) === path ? shown : file;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}

function importer(message: string): string {
  const from = / imported from (\S+)/.exec(message)?.[1] ?? /Require stack:\n- (\S+)/.exec(message)?.[1];
  return from ? ` (imported from ${from.replace(/^file:\/\//, "")})` : "";
}

/** The first stack frame in the user's files (not node_modules, not Node's internals). */
function userFrame(stack: string | undefined): string | undefined {
  for (const line of (stack ?? "").split("\n").slice(1)) {
    // tsx tags the modules it loads with "?tsx-namespace=…": not part of the user's path.
    const m = /\(?((?:file:\/\/)?\/[^():?]+)(?:\?[^:]*)?:(\d+):(\d+)\)?$/.exec(line.trim());
    if (!m || !m[1]) continue;
    const file = m[1].replace(/^file:\/\//, "");
    if (file.includes("/node_modules/")) continue;
    return `${file}:${m[2]}:${m[3]}`;
  }
  return undefined;
}

/** The offending line with a caret, when the file can be read. */
function sourceLine(file: string, line: number, column: number): string {
  try {
    const text = readFileSync(file, "utf8").split("\n")[line - 1];
    if (text === undefined) return "";
    return `\n    ${text}\n    ${" ".repeat(Math.max(0, column))}^`;
  } catch {
    return "";
  }
}

/** Find, load and validate; every problem is reported at once (exit 2). */
export async function loadConfig(ref: ConfigRef = {}): Promise<LoadedConfig> {
  const cwd = ref.cwd ?? process.cwd();
  const path = requireConfig(ref);
  const raw = await importConfig(path, cwd);
  // zod (inside validation) costs ~100 ms to load: only commands that read a config pay for it.
  const { resolveConfig } = await import("../define/validate.js");
  const result = resolveConfig(raw);
  if (!result.ok) {
    throw new CliError(`invalid config ${display(path, cwd)}: ${result.problems.length} problem(s)\n${formatProblems(result.problems)}`);
  }
  startupDone();
  return { path, config: result.config, warnings: result.warnings };
}
