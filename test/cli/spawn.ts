/**
 * Runs the real CLI (`node bin/sluice.js …`) in a child process, the way users run it, and
 * collects its exit code and output.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root (where `bin/` and `package.json` are). */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The CLI entry point. */
export const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
/** Config fixtures for the CLI tests. */
export const DEFS = fileURLToPath(new URL("../fixtures/defs/", import.meta.url));

export interface CliResult {
  /** Exit code; `null` only if the process was killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SluiceOptions {
  /** Working directory of the child. @defaultValue the repository root */
  cwd?: string;
  /** Extra environment variables (the child never inherits `SLUICE_*` from the test run). */
  env?: Record<string, string>;
  /** Kill the child after this long. @defaultValue 20_000 */
  timeoutMs?: number;
}

/** `node bin/sluice.js ...args`; resolves when it exits, whatever the code. */
export function sluice(args: readonly string[], options: SluiceOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  for (const key of Object.keys(env)) if (key.startsWith("SLUICE_")) delete env[key];
  Object.assign(env, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 20_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
