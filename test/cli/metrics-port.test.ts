// `sluice run --metrics-port`: the process serves its registry; a port in use is a clear error.
import { createServer } from "node:net";
import { afterAll, expect, it } from "vitest";
import { disposeSandboxes, fixture, sandbox } from "./helpers.js";

afterAll(disposeSandboxes);

it("sluice run --metrics-port 0 serves /metrics with the pool and attempt metrics; a taken port is refused in one line", { timeout: 60_000 }, async () => {
  const box = await sandbox();
  const run = box.start(["run", fixture("control"), "--metrics-port", "0"], { killAfterMs: 50_000 });
  const line = await run.waitForLog((l) => typeof l.metricsPort === "number", "the metrics port to be logged");
  const port = line.metricsPort as number;
  expect((await box.cli(["trigger", "quick"])).code).toBe(0); // by the running scheduler's recorded definitions
  let text = "";
  for (let i = 0; i < 50 && !/sluice_attempts_total\{[^}]*outcome="success"/.test(text); i++) {
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(text).toMatch(/sluice_pool_slots\{[^}]*pool="one_slot"/);
  expect(text).toMatch(/sluice_attempts_total\{[^}]*outcome="success"/);
  expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  run.kill("SIGTERM");
  expect((await run.exited).code).toBe(0);

  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
  const busy = (taken.address() as { port: number }).port;
  const refused = await box.cli(["run", fixture("control"), "--metrics-port", String(busy), "--for", "5s"]);
  taken.close();
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(new RegExp(`--metrics-port ${busy}: cannot listen on 127.0.0.1:${busy}`));
});
