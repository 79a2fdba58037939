// inventory_sync: every 15 seconds, pull the stock snapshot from a rate-limited partner API
// (here: pages generated locally, with the API's throttle) and upsert it into the warehouse.
// Every third cycle the partner sends a full snapshot that takes about 20 seconds — longer than
// the interval — so you can watch the `skip` overlap policy at work in the live view and log.
import { pipeline } from "sluice";
import { openWarehouse, pause, rng } from "./warehouse.js";

export const inventorySync = pipeline("inventory_sync", {
  schedule: { every: "15s" },
  overlap: "skip",
  description: "partner stock snapshot → warehouse inventory",
});

inventorySync.task("sync", { pools: { warehouse_db: 1, partner_api: 1 }, memoryMb: 256, timeout: "1m", estimate: "16s" }, async (ctx) => {
  const cycle = Math.floor(ctx.scheduledFor.getTime() / 15_000);
  const full = cycle % 3 === 0;
  const pages = full ? 20 : 8;
  const random = rng(cycle);
  const db = openWarehouse();
  try {
    const upsert = db.prepare("INSERT INTO inventory VALUES (?, ?, ?) ON CONFLICT(sku) DO UPDATE SET on_hand = excluded.on_hand, synced_at = excluded.synced_at");
    let rows = 0;
    for (let page = 0; page < pages; page++) {
      // The partner API allows one page per second.
      await pause(1000, ctx.signal);
      const now = new Date().toISOString();
      db.transaction(() => {
        for (let i = 0; i < 100; i++) upsert.run(`SKU-${page * 100 + i}`, Math.floor(random() * 1000), now);
      })();
      rows += 100;
      await ctx.progress(page / pages);
    }
    ctx.log.info("inventory synced", { pages, rows, full });
    return { rows, full };
  } finally {
    db.close();
  }
});
