/**
 * Child process for the cross-process tests. Usage:
 *   node holder.mjs <mode> <observer-redis-url> <observer-prefix> <backend...>
 * modes (JSON options in SLUICE_COORD_CHILD):
 *   loop      acquire/release `iterations` times; on entry INCR <prefix>:holders (records the value), DECR on exit
 *   queue     once <prefix>:go:<index> is pushed, acquire once, RPUSH <prefix>:order <index>, release
 *   hold      acquire once, print "held <token>", hang
 *   every     every(intervalMs, work workMs, exclusive mutex) for runMs; INCR/DECR <prefix>:cycles around work
 *   rate      take() as fast as possible for runMs; RPUSH <prefix>:rate <at>
 *
 * Plain JavaScript on the compiled package (dist/, built before the tests as for the CLI tests), as
 * the pg crash test's loader: nineteen of these start per backend, and node alone starts one in
 * about half the CPU time that node with tsx compiling src/ takes.
 */
import process from "node:process";
import { setTimeout } from "node:timers";
import { Redis } from "ioredis";
import { every, Mutex, memoryBackend, postgresBackend, RateLimiter, redisBackend, Semaphore } from "../../../dist/coord/index.js";

const [mode, observerUrl, prefix, ...where] = process.argv.slice(2);
const options = JSON.parse(process.env.SLUICE_COORD_CHILD ?? "{}");
const observer = new Redis(observerUrl);
const { AbortController } = globalThis;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The backend the test named on the command line (backends.ts `where`: `memory`, `postgres <url> <schema>`, `redis <url> <prefix>`). */
function backendFromArgs([kind, url, name]) {
  if (kind === "postgres") return postgresBackend({ pool: url, schema: name });
  if (kind === "redis") return redisBackend({ redis: url, prefix: name });
  return memoryBackend();
}
const backend = backendFromArgs(where);

switch (mode) {
  case "loop": {
    const sem = new Semaphore({ backend, name: "shared", limit: options.limit ?? 3 });
    let max = 0;
    let last = 0;
    for (let i = 0; i < (options.iterations ?? 200); i++) {
      const permit = await sem.acquire({ timeout: 60_000 });
      if (permit.fencingToken <= last) throw new Error(`fencing token went back: ${permit.fencingToken} after ${last}`);
      last = permit.fencingToken;
      const inside = await observer.incr(`${prefix}:holders`);
      max = Math.max(max, inside);
      if (options.holdMs) await sleep(options.holdMs);
      await observer.decr(`${prefix}:holders`);
      await permit.release();
    }
    process.stdout.write(`max ${max}\n`);
    break;
  }
  case "queue": {
    const sem = new Semaphore({ backend, name: "fifo", limit: 1 });
    // Started with the others, it queues only when the test says (so the order is the test's).
    await observer.blpop(`${prefix}:go:${options.index}`, 0);
    const permit = await sem.acquire({ timeout: 60_000 });
    await observer.rpush(`${prefix}:order`, String(options.index));
    await permit.release();
    break;
  }
  case "hold": {
    const sem = new Semaphore({ backend, name: "crash", limit: 1, leaseMs: options.leaseMs ?? 1_000 });
    const permit = await sem.acquire();
    process.stdout.write(`held ${permit.fencingToken}\n`);
    await new Promise(() => {});
    break;
  }
  case "every": {
    const mutex = new Mutex({ backend, name: "cycle", leaseMs: 2_000 });
    const stop = new AbortController();
    let cycles = 0;
    const loop = every(
      options.intervalMs ?? 10,
      async () => {
        const inside = await observer.incr(`${prefix}:cycles`);
        if (inside > 1) await observer.set(`${prefix}:overlap`, String(inside));
        cycles += 1;
        await sleep(options.workMs ?? 30);
        await observer.decr(`${prefix}:cycles`);
      },
      { name: "exclusive", exclusive: mutex, signal: stop.signal },
    );
    await sleep(options.runMs ?? 2_000);
    stop.abort();
    await loop.stopped;
    process.stdout.write(`cycles ${cycles}\n`);
    break;
  }
  case "rate": {
    const limiter = new RateLimiter({ backend, name: "rate", limit: options.limit ?? 20, intervalMs: options.intervalMs ?? 1_000, burst: options.burst ?? 5 });
    const end = Date.now() + (options.runMs ?? 2_000);
    while (Date.now() < end) {
      const r = await limiter.take({ timeout: 5_000 });
      await observer.rpush(`${prefix}:rate`, String(r.at));
    }
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}
await backend.close();
await observer.quit();
