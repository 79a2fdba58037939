/**
 * The options every command spells the same way: `-c, --config`, `--db`, `--json`, `--log-level`.
 * One grammar: a command that reads the config takes `-c` (and, where the config is its only
 * argument, the path as a positional argument too); a command that opens the store takes `--db`.
 */
import { dirname } from "node:path";
import { Option, type Command } from "commander";
import { CliError } from "./errors.js";
import { findConfig } from "./load-config.js";

export interface ConfigOption {
  config?: string;
}
export interface StoreOption extends ConfigOption {
  db?: string;
}
export interface LogOption {
  logLevel?: string;
}

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** `-c, --config <file>`, for `.option(...CONFIG_OPTION)`. */
export const CONFIG_OPTION = ["-c, --config <file>", "config file or folder (default: sluice.config.{ts,mts,cts,js,mjs,cjs} in this folder or a parent; SLUICE_CONFIG)"] as const;
/** `--db <url>`, for `.option(...DB_OPTION)`. */
export const DB_OPTION = ["--db <url>", "store: file:path or a path (default: .sluice/sluice.db beside the config; SLUICE_DATABASE_URL)"] as const;
/** `--json`, for `.option(...JSON_OPTION)`. */
export const JSON_OPTION = ["--json", "print as JSON"] as const;

/** `-c, --config <file>`. */
export function withConfig(cmd: Command): Command {
  return cmd.option(...CONFIG_OPTION);
}

/** `--db <url>`. */
export function withDb(cmd: Command): Command {
  return cmd.option(...DB_OPTION);
}

/** `--json`. */
export function withJson(cmd: Command): Command {
  return cmd.option(...JSON_OPTION);
}

/** `--log-level <level>`. */
export function withLogLevel(cmd: Command): Command {
  return cmd.addOption(new Option("--log-level <level>", "log level (default: SLUICE_LOG_LEVEL, else info)").choices(LOG_LEVELS));
}

/**
 * The config named by a positional argument or `-c` (not both, unless they agree).
 */
export function configArg(positional: string | undefined, opts: ConfigOption): string | undefined {
  if (positional !== undefined && opts.config !== undefined && positional !== opts.config) {
    throw new CliError(`the config is named twice ("${positional}" and -c "${opts.config}"); give one`);
  }
  return positional ?? opts.config;
}

/**
 * The folder the default store belongs to: beside the config (found or named), so the same
 * config started from two folders shares one store; the working folder when there is no config.
 */
export function storeHome(opts: ConfigOption): string {
  const path = findConfig({ file: opts.config });
  return path !== undefined ? dirname(path) : process.cwd();
}

/** Parse a whole number option. */
export function intOption(value: string, flag: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag}: "${value}" must be a whole number ≥ ${min}`);
  return n;
}

/** Parse a duration option; a bare number is refused (is `--for 30` seconds or minutes?). */
export async function durationOption(value: string, flag: string): Promise<number> {
  const { durationMs } = await import("../define/duration.js");
  const result = durationMs(value);
  if (result.ok) return result.ms;
  throw new CliError(`${flag}: ${result.reason}; use e.g. 500ms, 30s, 15m, 2h or 1h30m`);
}
