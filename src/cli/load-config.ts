import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ResolvedConfig } from "../define/resolved.js";
import { formatProblems } from "../define/errors.js";
import { resolveConfig } from "../define/validate.js";
import type { ConfigProblem } from "../define/resolved.js";
import { CliError } from "./errors.js";

/** The config file used when none is named. */
export const DEFAULT_CONFIG_FILE = "sluice.config.ts";

export interface LoadedConfig {
  path: string;
  config: ResolvedConfig;
  warnings: ConfigProblem[];
}

/** Where the config file is: the argument, `SLUICE_CONFIG`, or `./sluice.config.ts`. */
export function configPath(arg: string | undefined, cwd = process.cwd()): string {
  return resolve(cwd, arg ?? process.env.SLUICE_CONFIG ?? DEFAULT_CONFIG_FILE);
}

/** Import the user's config module (TypeScript allowed) and return its default export. */
export async function importConfig(path: string): Promise<unknown> {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new CliError(`config file not found: ${path} (pass its path, e.g. \`sluice run examples/quickstart/sluice.config.ts\`, or create ${DEFAULT_CONFIG_FILE})`);
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new CliError(`could not load ${path}: ${message}`);
  }
  if (mod.default === undefined) {
    throw new CliError(`${path} has no default export; end it with \`export default defineConfig({ ... })\``);
  }
  return mod.default;
}

/** Load and validate; every problem is reported at once (exit 2). */
export async function loadConfig(arg: string | undefined): Promise<LoadedConfig> {
  const path = configPath(arg);
  const raw = await importConfig(path);
  const result = resolveConfig(raw);
  if (!result.ok) {
    throw new CliError(`invalid config ${path}: ${result.problems.length} problem(s)\n${formatProblems(result.problems)}`);
  }
  return { path, config: result.config, warnings: result.warnings };
}
