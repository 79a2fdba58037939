// Priority weights on a one-slot pool: A(1) → B(2), A → C(3), B → D(1), C → D(1).
// With the default "downstream" rule each task weighs its own priority plus that of every
// task below it, counted once: A = 7, B = 3, C = 4, D = 1, so they run A, C, B, D.
//   npx sluice inspect examples/priority/sluice.config.ts
//   npx sluice simulate examples/priority/sluice.config.ts --until 10s
import { defineConfig, pipeline } from "sluice";

const weights = pipeline("priority_demo");
const work = (ms: number) => async () => new Promise((resolve) => setTimeout(resolve, ms));

const a = weights.task("A", { priority: 1, pools: { one_slot: 1 }, estimate: "1s" }, work(200));
const b = weights.task("B", { priority: 2, pools: { one_slot: 1 }, estimate: "1s", dependsOn: [a] }, work(200));
const c = weights.task("C", { priority: 3, pools: { one_slot: 1 }, estimate: "1s", dependsOn: [a] }, work(200));
weights.task("D", { priority: 1, pools: { one_slot: 1 }, estimate: "1s", dependsOn: [b, c] }, work(200));

export default defineConfig({
  pools: { one_slot: { slots: 1, description: "one thing at a time" } },
  pipelines: [weights],
});
