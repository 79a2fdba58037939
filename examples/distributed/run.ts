// Runs the distributed example against the local PostgreSQL for 40 s: one scheduler (plus a
// standby), a worker on the default queue and one that also serves `heavy`, then prints where
// each task ran. SLUICE_DATABASE_URL picks another server (default: the local one, database test).
//
//   npx tsx examples/distributed/run.ts
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const config = fileURLToPath(new URL("./sluice.config.ts", import.meta.url));
const url = new URL(process.env.SLUICE_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test");
url.searchParams.set("schema", url.searchParams.get("schema") ?? "sluice_example");
const db = url.toString();

const sluice = (args: string[], name: string): ChildProcess => {
  const child = spawn(process.execPath, [bin, ...args, "-c", config, "--db", db], { stdio: ["ignore", "pipe", "inherit"] });
  child.stdout?.on("data", (d: Buffer) => {
    for (const line of d.toString().split("\n").filter(Boolean)) {
      try {
        const l = JSON.parse(line) as { msg: string };
        console.log(`[${name}] ${l.msg}`);
      } catch {
        console.log(`[${name}] ${line}`);
      }
    }
  });
  return child;
};

const migrate = spawnSync(process.execPath, [bin, "migrate", "--db", db], { stdio: "inherit" });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);
const procs = [
  sluice(["scheduler"], "scheduler"),
  sluice(["scheduler"], "standby"),
  // --prefetch: worker-a also keeps up to 4 attempts queued beside its 2 slots, started the moment
  // one frees (for many short tasks; queued attempts hold their pools while they wait).
  sluice(["worker", "--name", "worker-a", "--concurrency", "2", "--prefetch", "4"], "worker-a"),
  sluice(["worker", "--name", "worker-b", "--queue", "default,heavy", "--memory-mb", "4096"], "worker-b"),
];
setTimeout(() => {
  for (const p of procs) p.kill("SIGTERM");
}, 40_000);
await Promise.all(procs.map((p) => new Promise((r) => p.once("exit", r))));
spawnSync(process.execPath, [bin, "history", "--db", db, "--limit", "20"], { stdio: "inherit" });
