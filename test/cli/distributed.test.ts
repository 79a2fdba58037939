// Several worker processes on PostgreSQL (issue 8): limits hold across processes, a killed worker
// loses nothing, queues route, memory budgets hold. Real processes, the local PostgreSQL.
import { afterAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/core/records.js";
import { TEST_DATABASE_URL } from "../support/pg.js";
import { pgSandboxes } from "../support/pg-sandbox.js";
import { storeAttempts, storeRun, storeRuns, storeWorkers } from "../support/store.js";
import { waitFor, type Observation } from "./helpers.js";
import { fileURLToPath } from "node:url";

const MANY = fileURLToPath(new URL("../fixtures/distributed/many.config.ts", import.meta.url));
const TICKS = fileURLToPath(new URL("../fixtures/distributed/ticks.config.ts", import.meta.url));
const ROUTING = fileURLToPath(new URL("../fixtures/distributed/routing.config.ts", import.meta.url));
const ROUTING_V2 = fileURLToPath(new URL("../fixtures/distributed/routing-v2.config.ts", import.meta.url));

// Each test's store is migrated as `sluice migrate` does, without a child (the last test runs that command itself).
const pgBoxes = pgSandboxes("dist");
afterAll(pgBoxes.dispose);

/** The most each pool was ever used, from start/end observations (an end at the same ms as a start counts first). */
function peaks(obs: readonly Observation[]): Record<string, number> {
  const events = obs
    .filter((o) => o.event === "start" || o.event === "end")
    .map((o) => ({ t: o.t, delta: o.event === "start" ? 1 : -1, pools: o.pools ?? {} }))
    .sort((a, b) => a.t - b.t || a.delta - b.delta);
  const used: Record<string, number> = {};
  const peak: Record<string, number> = {};
  for (const e of events) {
    for (const [pool, n] of Object.entries(e.pools)) {
      used[pool] = (used[pool] ?? 0) + e.delta * n;
      peak[pool] = Math.max(peak[pool] ?? 0, used[pool] ?? 0);
    }
  }
  return peak;
}

describe("several worker processes on PostgreSQL", () => {
  // Two lanes side by side: the 2,000 tasks, and the tests that bound no wait by the clock (their
  // processes mostly wait). Each test has its own schema; within a lane, one test at a time.
  describe("2,000 tasks", { concurrent: true }, () => {
    it("1 scheduler + 3 workers, 2,000 tasks on shared pools: no pool over capacity, every task succeeds exactly once", async () => {
      const box = await pgBoxes.create();
      const scheduler = await box.started(["scheduler", MANY, "--lease-ttl", "5s"], { killAfterMs: 240_000 });
      // The ten triggers at once, answered by the scheduler before the workers compete with them for
      // the machine's two cores. Triggers in this file go by the definitions the running scheduler
      // recorded (no -c: no config to compile per command).
      const triggers = await Promise.all(Array.from({ length: 10 }, (_, p) => box.cli(["trigger", `many${p}`])));
      for (const t of triggers) expect(t.code, t.stderr).toBe(0);
      // Generous: three processes load the config at once while the scheduler dispatches.
      const workers = await Promise.all([1, 2, 3].map((n) => box.started(["worker", MANY, "--name", `w${n}`, "--lease-ttl", "5s"], { killAfterMs: 240_000 }, 45_000)));
      const runs = await waitFor(
        async () => {
          const runs = await storeRuns(box.db);
          return runs.length === 10 && runs.every((r) => r.state !== "running" && r.state !== "queued") ? runs : undefined;
        },
        "all 10 runs to end",
        { timeoutMs: 180_000, intervalMs: 500 },
      );
      expect(runs.map((r) => r.state)).toEqual(Array(10).fill("success"));

      const obs = box.observations();
      const starts = obs.filter((o) => o.event === "start");
      expect(starts).toHaveLength(2000);
      expect(new Set(starts.map((o) => `${o.run}/${o.task}`)).size).toBe(2000);
      expect(obs.filter((o) => o.event === "end")).toHaveLength(2000);
      // Every worker took part.
      expect(new Set(starts.map((o) => o.pid)).size).toBe(3);
      const { default: config } = (await import(MANY)) as { default: { pools: Record<string, { slots: number }> } };
      const peak = peaks(obs);
      for (const [pool, { slots }] of Object.entries(config.pools)) expect(peak[pool] ?? 0, `pool ${pool}`).toBeLessThanOrEqual(slots);

      for (const w of workers) w.kill("SIGTERM");
      scheduler.kill("SIGTERM");
      for (const w of workers) expect((await w.exited).code, w.describe()).toBe(0);
      expect((await scheduler.exited).code, scheduler.describe()).toBe(0);
    }, 300_000);
  });

  describe("without a deadline on the clock", { concurrent: true }, () => {
    describe.sequential("in order", () => {
      it("a task for a queue nobody serves waits with that reason and runs once such a worker joins; memory budgets hold", async () => {
        const box = await pgBoxes.create();
        const [scheduler, plain] = await Promise.all([box.started(["scheduler", ROUTING]), box.started(["worker", ROUTING, "--name", "plain"])]);
        const trigger = await box.cli(["trigger", "gpu", "--json"]);
        const runId = (JSON.parse(trigger.stdout) as RunRecord).id;
        await waitFor(async () => {
          // By the definitions the scheduler recorded (no -c: no config compiled per look).
          const text = await box.cli(["explain", String(runId)]);
          return /no worker serves queue gpu/.test(text.stdout) ? true : undefined;
        }, "explain to say no worker serves queue gpu");
        // A gpu worker without room for 3 GB takes nothing...
        const small = await box.started(["worker", ROUTING, "--name", "small", "--queue", "gpu", "--memory-mb", "1024"]);
        await new Promise((r) => setTimeout(r, 1500));
        expect(box.observations().some((o) => o.task === "train")).toBe(false);
        // ...one with room does.
        const big = box.start(["worker", ROUTING, "--name", "big", "--queue", "gpu", "--memory-mb", "4096"]);
        const ran = await box.waitForObservation((o) => o.find((x) => x.task === "train"), "train to run on the big worker");
        const workers = await storeWorkers(box.db);
        expect(workers.find((w) => w.name === "big")?.pid).toBe(ran.pid);
        for (const p of [plain, small, big, scheduler]) p.kill("SIGTERM");
        for (const p of [plain, small, big, scheduler]) expect((await p.exited).code, p.describe()).toBe(0);
      }, 60_000);

      it("a worker whose heartbeats stall past its TTL (SIGSTOP) loses its attempt cleanly: retried elsewhere, its late completion refused", async () => {
        const box = await pgBoxes.create();
        const env = { SLUICE_TEST_LONG_MS: "2500" };
        const [scheduler, a] = await Promise.all([box.started(["scheduler", ROUTING, "--lease-ttl", "2s"], { env }), box.started(["worker", ROUTING, "--name", "a", "--lease-ttl", "2s"], { env })]);
        const trigger = await box.cli(["trigger", "slow", "--json"]);
        const runId = (JSON.parse(trigger.stdout) as RunRecord).id;
        await box.waitForObservation((o) => o.find((x) => x.task === "long" && x.event === "start"), "the long task to start on a");
        a.kill("SIGSTOP");
        const b = box.start(["worker", ROUTING, "--name", "b", "--lease-ttl", "2s"], { env });
        const retry = await box.waitForObservation((o) => o.find((x) => x.task === "long" && x.event === "start" && x.attempt === 2), "the retry to start on b", 20_000);
        a.kill("SIGCONT");
        // Resumed, a learns the attempt is no longer its own: from its heartbeat (the function is
        // aborted) or, if its function ended first, from the store refusing the old token.
        await a.waitForLog((l) => typeof l.msg === "string" && /refused|no longer this worker's/.test(l.msg), "worker a to learn it lost the attempt", 15_000);
        await waitFor(async () => ((await storeRun(box.db, runId))?.state === "success" ? true : undefined), "the run to succeed", { timeoutMs: 20_000 });
        const attempts = (await storeAttempts(box.db)).sort((x, y) => x.id - y.id);
        expect(attempts.map((x) => [x.attempt, x.state, x.workerId])).toEqual([
          [1, "lost", "a"],
          [2, "success", "b"],
        ]);
        expect(retry.pid).not.toBe(box.observations().find((x) => x.attempt === 1)?.pid);
        for (const p of [a, b, scheduler]) p.kill("SIGTERM");
        for (const p of [a, b, scheduler]) expect((await p.exited).code, p.describe()).toBe(0);
      }, 60_000);

      it("rolling deploy: a worker whose code defines a task differently is told which and why, and is never given it", async () => {
        const box = await pgBoxes.create();
        const env = { SLUICE_TEST_LONG_MS: "200" };
        const scheduler = await box.started(["scheduler", ROUTING], { env });
        const old = box.start(["worker", ROUTING_V2, "--name", "old"], { env });
        const warned = await old.waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("slow.long: not taken"), "the old worker to name the task that differs");
        expect(warned.msg).toMatch(/definition differs from the scheduler's \(retries differs\)/);
        await old.waitForLog((l) => l.msg === "sluice worker started", "the old worker to start");
        const trigger = await box.cli(["trigger", "slow", "--json"]);
        const runId = (JSON.parse(trigger.stdout) as RunRecord).id;
        await waitFor(async () => {
          const text = await box.cli(["explain", String(runId)]);
          return /no live worker of its queue runs this definition of slow\.long/.test(text.stdout) ? true : undefined;
        }, "explain to say no live worker runs this definition");
        expect(await storeAttempts(box.db)).toEqual([]);
        const fresh = box.start(["worker", ROUTING, "--name", "new"], { env });
        const ran = await box.waitForObservation((o) => o.find((x) => x.task === "long" && x.event === "end"), "slow.long to run on the new worker");
        // Its result is recorded just after its function returns.
        const attempts = await waitFor(async () => {
          const all = await storeAttempts(box.db);
          return all.some((a) => a.state === "running") ? undefined : all;
        }, "slow.long's attempt to be recorded ended");
        expect(attempts.map((a) => [a.attempt, a.state, a.workerId])).toEqual([[1, "success", "new"]]);
        expect(ran.pid).not.toBe(old.pid);
        for (const p of [old, fresh, scheduler]) p.kill("SIGTERM");
        for (const p of [old, fresh, scheduler]) expect((await p.exited).code, p.describe()).toBe(0);
      }, 60_000);

      it("a schema migrated by a newer Sluice is refused with one line, exit 2", async () => {
        const box = await pgBoxes.create();
        const schema = box.schema;
        const { default: pgModule } = await import("pg");
        const c = new pgModule.Client({ connectionString: TEST_DATABASE_URL });
        await c.connect();
        await c.query(`INSERT INTO "${schema}".sluice_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 0)`);
        await c.end();
        const runs = await box.cli(["migrate"]);
        expect(runs.code).toBe(2);
        expect(runs.stderr).toMatch(/^sluice: .*migration 999 which this version of Sluice does not know; it was migrated by a newer Sluice/);
      });
    });
  });

  // These measure a takeover or a retry against the lease TTL: alone, after the lanes.
  describe("with a deadline on the clock", () => {
    it("SIGKILL a worker mid-task: the attempt is lost and retried on another worker; the killed one's late report could not land", async () => {
      const box = await pgBoxes.create();
      const env = { SLUICE_TEST_LONG_MS: "3000", SLUICE_TEST_HOLD_FIRST: "1" };
      // The scheduler and the first worker start at once (a worker may come before its scheduler).
      const [scheduler, a] = await Promise.all([box.started(["scheduler", ROUTING, "--lease-ttl", "2s"], { env }), box.started(["worker", ROUTING, "--name", "a", "--lease-ttl", "2s"], { env })]);
      const trigger = await box.cli(["trigger", "slow", "--json"]);
      const runId = (JSON.parse(trigger.stdout) as RunRecord).id;
      const first = await box.waitForObservation((o) => o.find((x) => x.task === "long" && x.event === "start"), "the long task to start on a");
      const b = await box.started(["worker", ROUTING, "--name", "b", "--lease-ttl", "2s"], { env });
      a.kill("SIGKILL");
      const killedAt = Date.now();
      const second = await box.waitForObservation((o) => o.find((x) => x.task === "long" && x.event === "start" && x.attempt === 2), "the retry to start on b", 20_000);
      expect(second.pid).not.toBe(first.pid);
      // Within the lease TTL plus a heartbeat (here sooner: the scheduler sees a dead pid of its host).
      expect(second.t - killedAt).toBeLessThan(2000 + 700 + 2000);
      await waitFor(async () => ((await storeRun(box.db, runId))?.state === "success" ? true : undefined), "the run to succeed", { timeoutMs: 20_000 });
      const attempts = (await storeAttempts(box.db)).sort((x, y) => x.id - y.id);
      expect(attempts.map((x) => [x.task, x.attempt, x.state, x.workerId])).toEqual([
        ["long", 1, "lost", "a"],
        ["long", 2, "success", "b"],
      ]);
      b.kill("SIGTERM");
      scheduler.kill("SIGTERM");
      expect((await b.exited).code).toBe(0);
      expect((await scheduler.exited).code).toBe(0);
    }, 60_000);

    for (const how of ["SIGKILL", "SIGSTOP"] as const) {
      it(`${how} the active scheduler: a standby takes over within the lease TTL + 2 s; no tick makes two runs, the pool is never over capacity${how === "SIGSTOP" ? "; the resumed old one stops" : ""}`, async () => {
        const box = await pgBoxes.create();
        const ttl = 3000;
        const a = await box.started(["scheduler", TICKS, "--lease-ttl", "3s"]);
        // The standby and the worker start at once.
        const b = box.start(["scheduler", TICKS, "--lease-ttl", "3s"]);
        const starting = box.started(["worker", TICKS, "--name", "w", "--lease-ttl", "3s"]);
        await b.waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("standing by"), "scheduler b to stand by");
        const w = await starting;
        await box.waitForObservation((o) => o.filter((x) => x.event === "end").length >= 3 || undefined, "three ticks to run");
        a.kill(how);
        const stoppedAt = Date.now();
        await b.waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("took over"), "scheduler b to take over", 15_000);
        const tookMs = Date.now() - stoppedAt;
        expect(tookMs).toBeLessThan(ttl + 2000 + 1000); // + 1 s for this test's own polling
        const before = box.observations().filter((x) => x.event === "end").length;
        await box.waitForObservation((o) => o.filter((x) => x.event === "end").length >= before + 3 || undefined, "three more ticks under b");
        if (how === "SIGSTOP") {
          a.kill("SIGCONT");
          const end = await a.exited;
          expect(end.code, a.describe()).toBe(1);
          expect(end.stderr).toMatch(/lease/);
        }
        for (const p of [w, b]) p.kill("SIGTERM");
        for (const p of [w, b]) expect((await p.exited).code, p.describe()).toBe(0);
        if (how === "SIGKILL") await a.exited;
        const runs = await storeRuns(box.db, { limit: 1000 });
        const ticks = runs.filter((r) => r.trigger === "schedule").map((r) => r.scheduledFor);
        expect(new Set(ticks).size).toBe(ticks.length);
        expect(peaks(box.observations()).one ?? 0).toBeLessThanOrEqual(1);
      }, 90_000);
    }

    it("SIGTERM on a worker: running attempts get --shutdown-timeout, then are aborted and handed back at once (retried now, not after the TTL)", async () => {
      const box = await pgBoxes.create();
      const env = { SLUICE_TEST_LONG_MS: "30000" };
      const [scheduler, a] = await Promise.all([
        box.started(["scheduler", ROUTING, "--lease-ttl", "30s"], { env }),
        box.started(["worker", ROUTING, "--name", "a", "--lease-ttl", "30s", "--shutdown-timeout", "500ms"], { env }),
      ]);
      await box.cli(["trigger", "slow"]);
      await box.waitForObservation((o) => o.find((x) => x.task === "long" && x.event === "start"), "the long task to start on a");
      const b = await box.started(["worker", ROUTING, "--name", "b", "--lease-ttl", "30s"], { env });
      const stoppedAt = Date.now();
      a.kill("SIGTERM");
      expect((await a.exited).code, a.describe()).toBe(0);
      const retry = await box.waitForObservation((o) => o.find((x) => x.task === "long" && x.event === "start" && x.attempt === 2), "the retry to start on b", 15_000);
      // Long before the 30 s lease would have expired.
      expect(retry.t - stoppedAt).toBeLessThan(10_000);
      const attempts = (await storeAttempts(box.db)).sort((x, y) => x.id - y.id);
      expect(attempts.map((x) => [x.attempt, x.state, x.workerId])).toEqual([
        [1, "lost", "a"],
        [2, "running", "b"],
      ]);
      for (const p of [b, scheduler]) p.kill("SIGKILL");
      for (const p of [b, scheduler]) await p.exited;
    }, 60_000);
  });
});
