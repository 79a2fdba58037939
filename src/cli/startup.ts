/**
 * A CLI command's start-up (Node loading the CLI, tsx compiling the user's config, zod checking it)
 * runs once. V8's optimizing compiler, left on, compiles its briefly hot functions on background
 * threads: ~20% more CPU for a config-loading command (bench/cli-startup.ts), and no shorter wall
 * time. `bin/sluice.js` turns it off before anything loads; the
 * command turns it back on as its real work begins, so a scheduler, a worker or a long simulation
 * runs fully optimized.
 */
import { setFlagsFromString } from "node:v8";

let started = false;

/** Optimizing compiler back on (once; later calls do nothing). */
export function startupDone(): void {
  if (started) return;
  started = true;
  setFlagsFromString("--turbofan");
}
