// The config bench/isolation.ts runs: the same no-op task inline, in a thread and in a child
// process. Isolated attempts import this file again in their thread or process, as a user's do.
import { defineConfig, pipeline } from "sluice";

const noop = pipeline("noop");
noop.task("inline", () => 1);
noop.task("thread", { isolation: "thread", memoryMb: 64 }, () => 1);
noop.task("process", { isolation: "process", memoryMb: 256 }, () => 1);

export const single = Object.fromEntries(["inline", "thread", "process"].map((kind) => {
  const p = pipeline(`only_${kind}`);
  p.task("t", kind === "inline" ? {} : { isolation: kind as "thread" | "process", memoryMb: kind === "thread" ? 64 : 256 }, () => 1);
  return [kind, p];
}));

export default defineConfig({ parallelism: 64, worker: { concurrency: 2 }, pipelines: [noop, ...Object.values(single)] });
