/**
 * A minimal `/metrics` endpoint for processes without the dashboard's HTTP server (`sluice
 * worker --metrics-port`): GET /metrics answers the registry's text; anything else 404.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** Defaults of {@link serveMetrics}. */
export const METRICS_SERVER_DEFAULTS = {
  /** Loopback only: metrics name pipelines and pools; expose them wider behind your own proxy. */
  host: "127.0.0.1",
} as const satisfies { host: string };

/**
 * Serve `registry` on `http://host:port/metrics` (port 0: any free port). Resolves once listening,
 * with the port and a `close()`.
 *
 * @example
 * const server = await serveMetrics(attachWorkerMetrics(worker), { port: 9464 });
 * // curl http://127.0.0.1:9464/metrics
 * await server.close();
 */
export async function serveMetrics(registry: Registry, options: { port: number; host?: string }): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: metrics are at GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      () => res.writeHead(500, { "content-type": "text/plain" }).end("could not collect metrics\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? METRICS_SERVER_DEFAULTS.host, () => resolve());
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
