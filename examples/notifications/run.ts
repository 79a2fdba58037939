// Notifications end to end in one process: a local webhook receiver that fails its first three
// requests, and Sluice running the config's pipeline for 10 seconds. Hooks print "hook: …"; the
// receiver prints what it got (each notification once, after the retries).
//
//   npx tsx examples/notifications/run.ts
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start } from "sluice";
import { startReceiver } from "./receiver.js";

const port = 8787 + Math.floor(Math.random() * 1000);
process.env.SLUICE_WEBHOOK_URL = `http://127.0.0.1:${port}/sluice`;
const received: string[] = [];
const receiver = await startReceiver({ port, fail: 3, onNotification: (n) => received.push(`${n.type} ${n.message}`) });
const { default: config } = await import("./sluice.config.js");

const dir = mkdtempSync(join(tmpdir(), "sluice-notify-"));
const sluice = await start({ config, db: join(dir, "sluice.db"), logLevel: "warn" });
await new Promise((r) => setTimeout(r, 10_000));
await sluice.stop({ timeout: "5s" });
receiver.close();

console.log(`\nthe receiver got ${received.length} notification(s):`);
for (const line of received) console.log(`  ${line}`);
const stats = sluice.notifier?.stats().webhooks[0];
if (stats) console.log(`webhook: ${stats.delivered} delivered in ${stats.requests} request(s) (${stats.retries} retried), ${stats.dropped} dropped, ${stats.failed} given up`);
