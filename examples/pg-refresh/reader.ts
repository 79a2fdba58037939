// The dashboard: reads public.dashboard_totals every 50 ms and prints, once a second, the number
// of reads, the slowest one and the row count it saw. Ctrl-C to stop.
import pg from "pg";

const client = new pg.Client({ connectionString: process.env.PG_REFRESH_URL ?? "postgres://postgres@127.0.0.1:5432/test", application_name: "pg-refresh reader" });
await client.connect();
let worst = 0;
let reads = 0;
let last = Date.now();
process.on("SIGINT", () => void client.end().then(() => process.exit(0)));
for (;;) {
  const t0 = performance.now();
  const r = await client.query<{ n: string }>("SELECT count(*) AS n FROM (SELECT 1 FROM public.dashboard_totals WHERE id % 1000 = 1) s").catch((e: Error) => ({ rows: [{ n: `error: ${e.message}` }] }));
  worst = Math.max(worst, performance.now() - t0);
  reads++;
  if (Date.now() - last >= 1000) {
    console.log(`${new Date().toISOString()} reads=${reads} slowest=${worst.toFixed(0)}ms rows/1000=${r.rows[0]?.n}`);
    worst = 0;
    reads = 0;
    last = Date.now();
  }
  await new Promise((res) => setTimeout(res, 50));
}
