// customer_aggregation: rebuild per-customer statistics from the sales table. It holds two
// warehouse_db slots (a heavier query) and half the worker's memory budget.
import { pipeline } from "sluice";
import { openWarehouse } from "./warehouse.js";

export const customerAggregation = pipeline("customer_aggregation", {
  schedule: { every: "45s" },
  description: "sales → customer_stats",
});

customerAggregation.task("aggregate", { pools: { warehouse_db: 2 }, memoryMb: 512, priority: 5, estimate: "3s" }, async (ctx) => {
  const db = openWarehouse();
  try {
    const result = db
      .prepare(`INSERT INTO customer_stats (customer_id, orders, revenue, last_day)
        SELECT customer_id, COUNT(*), SUM(amount), MAX(day) FROM sales GROUP BY customer_id
        ON CONFLICT(customer_id) DO UPDATE SET orders = excluded.orders, revenue = excluded.revenue, last_day = excluded.last_day`)
      .run();
    ctx.log.info("customer stats rebuilt", { customers: result.changes });
    return { customers: result.changes };
  } finally {
    db.close();
  }
});
