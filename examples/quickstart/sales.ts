// daily_sales: extract orders from a source export (a CSV the task writes, standing in for a
// partner's file drop), transform them into day totals, load both into the warehouse, and
// write a small report file.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "sluice";
import { dataDir, incomingDir, openWarehouse, rng } from "./warehouse.js";

export const dailySales = pipeline("daily_sales", {
  schedule: { every: "30s" },
  description: "orders export → day totals → warehouse → report",
});

const extract = dailySales.task("extract", { pools: { warehouse_db: 1 }, memoryMb: 256, retries: 2, retryDelay: "2s", estimate: "2s" }, async (ctx) => {
  const random = rng(ctx.scheduledFor.getTime());
  const day = ctx.scheduledFor.toISOString().slice(0, 10);
  const rows = ["order_id,customer_id,sku,qty,amount,day"];
  const count = 2000 + Math.floor(random() * 3000);
  for (let i = 0; i < count; i++) {
    const qty = 1 + Math.floor(random() * 5);
    rows.push(`${ctx.runId}-${i},${1 + Math.floor(random() * 500)},SKU-${Math.floor(random() * 200)},${qty},${(qty * (5 + random() * 95)).toFixed(2)},${day}`);
  }
  const file = join(incomingDir, `orders-${ctx.runId}.csv`);
  writeFileSync(file, rows.join("\n"));
  ctx.log.info("extracted orders", { count, file });
  return { file, count };
});

const transform = dailySales.task("transform", { dependsOn: [extract], memoryMb: 512, estimate: "1s" }, async (ctx) => {
  const { file } = ctx.upstream.extract as { file: string };
  const [, ...lines] = readFileSync(file, "utf8").split("\n");
  const totals = new Map<string, { orders: number; revenue: number }>();
  for (const line of lines) {
    const [, , , , amount, day] = line.split(",");
    const t = totals.get(day ?? "") ?? { orders: 0, revenue: 0 };
    t.orders++;
    t.revenue += Number(amount);
    totals.set(day ?? "", t);
  }
  return { file, totals: [...totals].map(([day, t]) => ({ day, ...t })) };
});

const load = dailySales.task("load", { dependsOn: [transform], pools: { warehouse_db: 1 }, estimate: "2s" }, async (ctx) => {
  const { file, totals } = ctx.upstream.transform as { file: string; totals: { day: string; orders: number; revenue: number }[] };
  const db = openWarehouse();
  try {
    const insert = db.prepare("INSERT OR REPLACE INTO sales VALUES (?, ?, ?, ?, ?, ?)");
    const upsertTotal = db.prepare("INSERT INTO daily_totals VALUES (?, ?, ?, ?) ON CONFLICT(day) DO UPDATE SET orders = orders + excluded.orders, revenue = revenue + excluded.revenue, updated_at = excluded.updated_at");
    const [, ...lines] = readFileSync(file, "utf8").split("\n");
    db.transaction(() => {
      for (const line of lines) {
        const [id, customer, sku, qty, amount, day] = line.split(",");
        insert.run(id, Number(customer), sku, Number(qty), Number(amount), day);
      }
      for (const t of totals) upsertTotal.run(t.day, t.orders, t.revenue, new Date().toISOString());
    })();
    return { loaded: lines.length };
  } finally {
    db.close();
  }
});

dailySales.task("report", { dependsOn: [load], estimate: "500ms" }, async (ctx) => {
  const db = openWarehouse();
  try {
    const top = db.prepare("SELECT day, orders, ROUND(revenue, 2) AS revenue FROM daily_totals ORDER BY day DESC LIMIT 7").all();
    writeFileSync(join(dataDir, "sales-report.json"), JSON.stringify({ run: ctx.runId, generatedAt: new Date().toISOString(), days: top }, null, 2));
    return { days: top.length };
  } finally {
    db.close();
  }
});
