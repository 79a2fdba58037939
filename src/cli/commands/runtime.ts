import type { Command } from "commander";
import { registerControl } from "./control.js";
import { registerLogs } from "./logs.js";
import { registerOperate } from "./operate.js";
import { registerReads } from "./reads.js";
import { registerRun } from "./run.js";

/** The commands that run pipelines or read what ran: run, trigger, cancel, runs, history, explain, pools. */
export function registerRuntimeCommands(program: Command): void {
  registerRun(program);
  registerControl(program);
  registerReads(program);
  registerOperate(program);
  registerLogs(program);
}
