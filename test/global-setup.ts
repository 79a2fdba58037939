/**
 * Builds dist/ before the tests: the CLI tests run `bin/sluice.js`, which runs the compiled
 * JavaScript as users do. Incremental, so a run with nothing changed costs about a second.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const script = fileURLToPath(new URL("../scripts/build.mjs", import.meta.url));
  const result = spawnSync(process.execPath, [script, "--allow-type-errors"], { stdio: "inherit" });
  if (result.status !== 0) throw new Error(`the build failed (exit ${result.status}); run \`npm run build\` to see why`);
}
