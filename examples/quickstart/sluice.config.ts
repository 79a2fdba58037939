// The quickstart: three ETL pipelines sharing one warehouse connection pool and one worker's
// memory budget, a 15-second cycle that sometimes takes 20 seconds, and the priority example.
//
//   npm start                       # = sluice run examples/quickstart/sluice.config.ts
//   npx sluice inspect examples/quickstart/sluice.config.ts
//   npx sluice simulate examples/quickstart/sluice.config.ts --until 5m
import { defineConfig } from "sluice";
import { customerAggregation } from "./customers.js";
import { inventorySync } from "./inventory.js";
import { priorityDemo } from "./priority.js";
import { dailySales } from "./sales.js";

export default defineConfig({
  parallelism: 16,
  pools: {
    warehouse_db: { slots: 3, description: "connections to the analytics warehouse" },
    partner_api: { slots: 1, description: "the partner's rate-limited stock API" },
    one_slot: { slots: 1, description: "the priority demo: one task at a time" },
  },
  worker: { concurrency: 6, memoryMb: 1024 },
  pipelines: [dailySales, inventorySync, customerAggregation, priorityDemo],
});
