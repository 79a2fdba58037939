/**
 * `ctx.take` and `ctx.throttle` in `thread` and `process` attempts: the child asks its worker,
 * which takes from the installation's budgets, so isolated and inline tasks share one budget.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { start } from "../../src/index.js";
import { fixture } from "../cli/helpers.js";
import config from "../fixtures/runtime/rate-isolated.config.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-iso-rate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("rate limits and bandwidth in isolated attempts", () => {
  it("a thread, a child process and an inline task take from one token budget and one byte budget; an undeclared limit fails with SLUICE_BUDGET", { timeout: 60_000 }, async () => {
    const sluice = await start({ config, configFile: fixture("rate-isolated"), db: `file:${join(dir, "s.db")}`, logger: false, schedules: false });
    try {
      const run = await sluice.waitForRun(await sluice.trigger("mixed"));
      expect(run.state).toBe("failed"); // `undeclared`, on purpose
      const tasks = Object.fromEntries((await sluice.listTasks(run.id)).map((t) => [t.task, t]));
      const at: number[] = [];
      for (const isolation of ["thread", "process", "inline"]) {
        const out = tasks[`take_${isolation}`]?.output as { at: number[]; bytes: number } | undefined;
        expect(out?.bytes, isolation).toBe(5 * 8192);
        at.push(...(out?.at ?? []));
      }
      // 9 tokens at 5 a second, burst 2: in any window [a, b] at most 2 + (b − a) / 200 ms.
      const sorted = at.sort((a, b) => a - b);
      expect(sorted).toHaveLength(9);
      for (let i = 0; i < sorted.length; i++) {
        for (let j = i; j < sorted.length; j++) expect(j - i + 1).toBeLessThanOrEqual(2 + (sorted[j]! - sorted[i]!) / 200 + 1e-6);
      }
      const attempts = Object.fromEntries((await sluice.listAttempts({ runId: run.id })).map((a) => [a.task, a]));
      expect(attempts.undeclared?.error).toMatchObject({ code: "SLUICE_BUDGET", message: expect.stringMatching(/rate limit "nope" is not declared; declared: "api"/) });
      expect(await sluice.metrics.metrics()).toMatch(/sluice_bandwidth_bytes_total\{bandwidth="disk"\} 122880/);
    } finally {
      await sluice.stop({ timeout: "2s" });
    }
  });
});
