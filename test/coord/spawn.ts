/** Spawns test/coord/children/holder.mjs (plain JavaScript on the compiled package: `node holder.mjs`). */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ROOT } from "../cli/spawn.js";

const CHILD = fileURLToPath(new URL("./children/holder.mjs", import.meta.url));

export interface Child {
  process: ChildProcess;
  /** Resolves with stdout when the child exits 0; rejects with its stderr otherwise. */
  done: Promise<string>;
  /** Resolves with the first stdout line matching `pattern`. */
  line(pattern: RegExp): Promise<string>;
}

export function spawnChild(args: string[], options: Record<string, number> = {}): Child {
  const child = spawn(process.execPath, [CHILD, ...args], {
    cwd: ROOT,
    env: { ...process.env, SLUICE_COORD_CHILD: JSON.stringify(options) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    for (const w of [...waiters]) {
      const line = stdout.split("\n").find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const done = new Promise<string>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => (code === 0 ? resolve(stdout) : reject(new Error(`child ${args[0]} exited ${code ?? signal}: ${stderr}`))));
  });
  return {
    process: child,
    done,
    line: (pattern) =>
      new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        done.then(() => reject(new Error(`child exited before printing ${pattern}`)), reject);
      }),
  };
}
