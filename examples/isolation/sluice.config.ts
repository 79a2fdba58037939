// Isolation: heavy or untrusted tasks run in a thread or a child process of their own, with their
// declared memory enforced, and can be killed when they ignore their signal.
//
//   npx tsx examples/isolation/run.ts                      # runs it once and prints every attempt
//   npx sluice trigger nightly_import -c examples/isolation --db file:/tmp/isolation.db --wait
//   npx sluice history -c examples/isolation --db file:/tmp/isolation.db   # state, peak memory, error
import { defineConfig, pipeline } from "sluice";

const sleep = (ms: number, signal?: AbortSignal) => new Promise((r) => { const t = setTimeout(r, ms); signal?.addEventListener("abort", () => (clearTimeout(t), r(undefined))); });

const nightly = pipeline("nightly_import");

// A parser that needs a lot of memory for a while: a child process of its own, killed if its
// resident memory goes past 384 MB (the child's Node runtime is ~90 MB of that).
const parse = nightly.task("parse_big_file", { isolation: "process", memoryMb: 384 }, async (ctx) => {
  const buffer = Buffer.alloc(128 * 1024 * 1024, 1); // the file, read at once
  await sleep(200, ctx.signal);
  ctx.log.info("parsed", { bytes: buffer.length });
  return { rows: 120_000 };
});

// A leak: it keeps every chunk it reads. Inline, it would take the worker (and every task on it)
// down with it; here the watchdog kills it past 256 MB and the attempt fails with SLUICE_MEMORY_LIMIT.
nightly.task("leaky_enrichment", { isolation: "process", memoryMb: 256 }, async () => {
  const chunks: Buffer[] = [];
  for (;;) {
    chunks.push(Buffer.alloc(16 * 1024 * 1024, 1));
    await sleep(20);
  }
});

// CPU work in a thread: a heap limit of 64 MB, and it does not block the scheduler's event loop.
const score = nightly.task("score", { isolation: "thread", memoryMb: 64 }, () => {
  let sum = 0;
  for (let i = 0; i < 30_000_000; i++) sum += Math.sqrt(i);
  return { score: Math.round(sum) };
});

// A driver call that never returns and ignores the signal: after its timeout and the grace, its
// thread is stopped and its slot goes back.
nightly.task("stuck_export", { isolation: "thread", timeout: "5s" }, async () => {
  await new Promise(() => setInterval(() => {}, 1000));
});

nightly.task("report", { dependsOn: [parse, score] }, (ctx) => {
  ctx.log.info("report", { ...(ctx.upstream.parse_big_file as object), ...(ctx.upstream.score as object) });
});

export default defineConfig({ worker: { concurrency: 5 }, pipelines: [nightly] });
