// priority_demo: A(1) → B(2), A → C(3), B → D(1), C → D(1) on a pool of ONE slot. With the
// default "downstream" weight rule, A = 7, B = 3, C = 4, D = 1, so they run A, C, B, D.
// Each task appends its name to .sluice/quickstart/priority-order.log.
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "sluice";
import { dataDir, pause } from "./warehouse.js";

export const priorityDemo = pipeline("priority_demo", { schedule: { every: "1m" } });

const step = (name: string) => async (ctx: { runId: number; signal: AbortSignal }) => {
  appendFileSync(join(dataDir, "priority-order.log"), `run ${ctx.runId}: ${name} ${new Date().toISOString()}\n`);
  await pause(500, ctx.signal);
  return name;
};

const a = priorityDemo.task("A", { priority: 1, pools: { one_slot: 1 }, estimate: "500ms" }, step("A"));
const b = priorityDemo.task("B", { priority: 2, pools: { one_slot: 1 }, dependsOn: [a], estimate: "500ms" }, step("B"));
const c = priorityDemo.task("C", { priority: 3, pools: { one_slot: 1 }, dependsOn: [a], estimate: "500ms" }, step("C"));
priorityDemo.task("D", { priority: 1, pools: { one_slot: 1 }, dependsOn: [b, c], estimate: "500ms" }, step("D"));
