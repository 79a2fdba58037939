// A webhook receiver for trying notifications locally: prints each notification it gets.
// `--fail N` answers 500 to the first N requests, to watch Sluice retry with backoff.
//
//   npx tsx examples/notifications/receiver.ts [--port 8787] [--fail 3]
import { createServer, type Server } from "node:http";
import type { Notification } from "sluice";

/** Starts a receiver; `onNotification` sees each distinct notification once (retries have the same id). */
export function startReceiver(options: { port?: number; fail?: number; onNotification?: (n: Notification) => void } = {}): Promise<Server> {
  let failing = options.fail ?? 0;
  const seen = new Set<string>();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    req.on("end", () => {
      if (failing > 0) {
        failing--;
        console.log(`receiver: answering 500 to ${req.headers["x-sluice-event"]} (${failing} more failures to go)`);
        res.statusCode = 500;
        return void res.end();
      }
      const n = JSON.parse(body) as Notification;
      // Delivery is at-least-once: deduplicate on the id.
      if (!seen.has(n.id)) {
        seen.add(n.id);
        options.onNotification?.(n);
      }
      res.statusCode = 204;
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(options.port ?? 8787, "127.0.0.1", () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const port = arg("--port") ?? 8787;
  await startReceiver({ port, fail: arg("--fail") ?? 0, onNotification: (n) => console.log(`${n.at} ${n.type.padEnd(13)} ${n.message}`) });
  console.log(`receiver: listening on http://127.0.0.1:${port}/sluice (Ctrl-C stops)`);
}
