import type { Command } from "commander";
import type { RunState } from "../../core/records.js";
import { engineView, intOption, storeFrom, type StoreOption } from "../context.js";
import { CliError } from "../errors.js";
import { clock, describeReason, ms, table } from "../format.js";
import { loadConfig } from "../load-config.js";
import { parseRunRef } from "./control.js";

const RUN_STATES: readonly RunState[] = ["queued", "running", "success", "failed", "cancelled"];

interface ReadOptions extends StoreOption {
  json?: boolean;
  limit: string;
  pipeline?: string;
}

const iso = (t: number | null) => (t === null ? "" : new Date(t).toISOString().replace("T", " ").slice(0, 19));
const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value, null, 2) + "\n");

export function registerReads(program: Command): void {
  program
    .command("runs")
    .description("list runs, newest first")
    .option("--db <url>", "store (default .sluice/sluice.db)")
    .option("--pipeline <id>", "only this pipeline")
    .option("--state <state>", `only runs in this state (${RUN_STATES.join(", ")})`)
    .option("--limit <n>", "how many", "50")
    .option("--json", "print as JSON")
    .action(async (opts: ReadOptions & { state?: string }) => {
      if (opts.state !== undefined && !RUN_STATES.includes(opts.state as RunState)) throw new CliError(`--state: "${opts.state}" is not one of ${RUN_STATES.join(", ")}`);
      const store = await storeFrom(opts);
      try {
        const runs = await store.listRuns({ ...(opts.pipeline ? { pipeline: opts.pipeline } : {}), ...(opts.state ? { states: [opts.state as RunState] } : {}), limit: intOption(opts.limit, "--limit") });
        if (opts.json) return print(runs);
        process.stdout.write(
          (table([
            ["run", "pipeline", "state", "trigger", "scheduled for", "started", "took"],
            ...runs.map((r) => [String(r.id), r.pipeline, r.state, r.trigger, iso(r.scheduledFor), iso(r.startedAt), r.startedAt && r.endedAt ? ms(r.endedAt - r.startedAt) : ""]),
          ]) || "  (no runs)") + "\n",
        );
        const skipped = (await store.listSchedules()).filter((s) => s.skipped > 0 && (!opts.pipeline || s.pipeline === opts.pipeline));
        if (skipped.length > 0) process.stdout.write(`\nScheduled runs skipped by the overlap policy: ${skipped.map((s) => `${s.pipeline} ${s.skipped}`).join(", ")}\n`);
      } finally {
        await store.close();
      }
    });

  program
    .command("history")
    .description("attempts, newest first: queued/started/ended, state, worker, pools held, error")
    .option("--db <url>", "store (default .sluice/sluice.db)")
    .option("--pipeline <id>", "only this pipeline")
    .option("--run <id>", "only this run")
    .option("--task <id>", "only this task")
    .option("--limit <n>", "how many", "100")
    .option("--json", "print as JSON")
    .action(async (opts: ReadOptions & { run?: string; task?: string }) => {
      const store = await storeFrom(opts);
      try {
        const attempts = await store.listAttempts({
          ...(opts.pipeline ? { pipeline: opts.pipeline } : {}),
          ...(opts.run ? { runId: intOption(opts.run, "--run") } : {}),
          ...(opts.task ? { task: opts.task } : {}),
          limit: intOption(opts.limit, "--limit"),
        });
        if (opts.json) return print(attempts);
        process.stdout.write(
          (table([
            ["attempt", "run", "task", "try", "state", "queued", "started", "waited", "ran", "worker", "pools", "error"],
            ...attempts.map((a) => [
              String(a.id),
              String(a.runId),
              `${a.pipeline}.${a.task}`,
              String(a.attempt),
              a.state,
              clock(a.queuedAt),
              clock(a.startedAt),
              ms(a.startedAt - a.queuedAt),
              a.endedAt !== null ? ms(a.endedAt - a.startedAt) : "",
              a.workerId ?? "",
              a.resources.filter((r) => r.key.startsWith("pool:")).map((r) => `${r.key.slice(5)}:${r.amount}`).join(" "),
              a.error?.message.split("\n")[0]?.slice(0, 80) ?? "",
            ]),
          ]) || "  (no attempts)") + "\n",
        );
      } finally {
        await store.close();
      }
    });

  program
    .command("explain")
    .description("why the tasks of a run wait: dependencies, pools (with holders), limits, reservations")
    .argument("<run>", "run id, or run/task (e.g. 17/extract)")
    .option("-c, --config <file>", "config file (default ./sluice.config.ts)")
    .option("--db <url>", "store (default .sluice/sluice.db)")
    .option("--json", "print as JSON")
    .action(async (ref: string, opts: StoreOption & { config?: string; json?: boolean }) => {
      const { runId, task } = parseRunRef(ref);
      const { config } = await loadConfig(opts.config);
      const store = await storeFrom(opts);
      try {
        const run = await store.getRun(runId);
        if (!run) throw new CliError(`run ${runId} does not exist (see \`sluice runs\`)`);
        const tasks = await store.listTasks(runId);
        if (task !== undefined && !tasks.some((t) => t.task === task)) throw new CliError(`run ${runId} has no task "${task}"; its tasks: ${tasks.map((t) => t.task).join(", ")}`);
        const now = Date.now();
        const { engine, aboutToStart } = await engineView(config, store, now);
        let explained = engine.explain(runId, task, now).map((e) =>
          aboutToStart.has(`${runId}/${e.task}`) ? { ...e, state: "ready", reasons: [{ kind: "pending" as const, message: "fits now: the scheduler starts it on its next turn" }] } : e,
        );
        if (explained.length === 0) {
          // Not active: report what the store says.
          explained = tasks
            .filter((t) => task === undefined || t.task === task)
            .map((t) => ({ runId, pipeline: run.pipeline, task: t.task, state: t.state, attempts: t.attempts, readyAt: t.readyAt, priority: undefined, weight: 0, reasons: [], holding: [] }));
        }
        if (opts.json) return print({ run, tasks: explained });
        const lines = [`run ${run.id} of ${run.pipeline}: ${run.state}${run.startedAt ? ` (started ${iso(run.startedAt)})` : ""}`];
        for (const e of explained) {
          const prio = e.priority !== undefined ? ` · priority ${e.priority.toFixed(2)} (weight ${e.weight})` : "";
          lines.push(`  ${e.task}: ${e.state}${e.attempts > 0 ? ` · attempts ${e.attempts}` : ""}${prio}`);
          for (const r of e.reasons) lines.push(`    - ${describeReason(r)}`);
          if (e.holding.length > 0) lines.push(`    holds ${e.holding.map((d) => `${d.key}×${d.amount}`).join(", ")}`);
        }
        process.stdout.write(lines.join("\n") + "\n");
      } finally {
        await store.close();
      }
    });

  program
    .command("pools")
    .description("pools with capacity, used, reserved, waiting and holders (and other limits with --all)")
    .option("-c, --config <file>", "config file (default ./sluice.config.ts)")
    .option("--db <url>", "store (default .sluice/sluice.db)")
    .option("--all", "also parallelism, worker slots/memory and per-pipeline/per-task limits")
    .option("--json", "print as JSON")
    .action(async (opts: StoreOption & { config?: string; json?: boolean; all?: boolean }) => {
      const { config } = await loadConfig(opts.config);
      const store = await storeFrom(opts);
      try {
        const { engine } = await engineView(config, store);
        const usage = engine.usage().filter((u) => opts.all || u.kind === "pool");
        if (opts.json) return print(usage);
        process.stdout.write(
          (table([
            ["name", "kind", "capacity", "used", "reserved", "waiting", "holders"],
            ...usage.map((u) => [u.name, u.kind, String(u.capacity), String(u.used), String(u.reserved), String(u.waiting), u.holders.map((h) => `${h.pipeline}.${h.task} (run ${h.run}${h.amount > 1 ? `, ${h.amount}` : ""})`).join(", ")]),
          ]) || "  (no pools)") + "\n",
        );
      } finally {
        await store.close();
      }
    });
}
