import type { Command } from "commander";
import type { Holder, WaitReason } from "../../core/admission/types.js";
import type { AttemptRecord, RunRecord, RunState } from "../../core/records.js";
import type { Store } from "../../store/types.js";
import { skippedTicks, type SkippedTick } from "../../store/status.js";
export type { SkippedTick } from "../../store/status.js";
import { configFor, engineView, storeFrom } from "../context.js";
import { CONFIG_OPTION, DB_OPTION, JSON_OPTION, intOption, type StoreOption } from "../options.js";
import { CliError } from "../errors.js";
import { bytes, describeReason, formatTime, isolationOf, machineZone, ms, table, timeOfDay, tzFlag, zoneCaption, type TzOption } from "../format.js";
import { parseRunRef } from "./control.js";

const RUN_STATES: readonly RunState[] = ["queued", "running", "success", "failed", "cancelled"];
/** `runs --state skipped`: ticks the overlap policy skipped (from the event log; they have no run). */
const STATES = [...RUN_STATES, "skipped"] as const;

interface ReadOptions extends StoreOption, TzOption {
  json?: boolean;
  limit: string;
  pipeline?: string;
}

/** A time in a table, in the zone of `--tz` (JSON stays ISO/epoch, UTC). */
const at = (t: number | null, tz: string) => (t === null ? "" : formatTime(t, tz));
const print = (value: unknown): void => void process.stdout.write(JSON.stringify(value, null, 2) + "\n");

/** An empty answer for a pipeline the store has never seen is more likely a typo: say so. */
async function assertKnownPipeline(store: Store, pipeline: string): Promise<void> {
  if ((await store.listRuns({ pipeline, limit: 1 })).length > 0) return;
  const known = new Set((await store.listSchedules()).map((s) => s.pipeline));
  for (const r of await store.listRuns({ limit: 1000 })) known.add(r.pipeline);
  if (known.has(pipeline)) return;
  throw new CliError(`no runs of a pipeline "${pipeline}" in this store; it knows: ${[...known].sort().join(", ") || "(no pipelines yet)"}`);
}

export function registerReads(program: Command): void {
  program
    .command("runs")
    .description("list runs, newest first")
    .option(...CONFIG_OPTION)
    .option(...DB_OPTION)
    .option("--pipeline <id>", "only this pipeline")
    .option("--state <state>", `only runs in this state (${STATES.join(", ")}; skipped: ticks the overlap policy skipped)`)
    .option("--limit <n>", "how many", "50")
    .option(...JSON_OPTION)
    .addOption(tzFlag())
    .action(async (opts: ReadOptions & { state?: string }) => {
      if (opts.state !== undefined && !(STATES as readonly string[]).includes(opts.state)) throw new CliError(`--state: "${opts.state}" is not one of ${STATES.join(", ")}`);
      const limit = intOption(opts.limit, "--limit");
      const store = await storeFrom(opts, { readonly: true });
      try {
        const runs = opts.state === "skipped" ? [] : await store.listRuns({ ...(opts.pipeline ? { pipeline: opts.pipeline } : {}), ...(opts.state ? { states: [opts.state as RunState] } : {}), limit });
        // Skipped ticks are listed beside the runs (newest first, by when they were decided).
        const skips = opts.state === undefined || opts.state === "skipped" ? await skippedTicks(store, opts.pipeline, limit) : [];
        const rows: Array<RunRecord | SkippedTick> = [...runs, ...skips].sort((a, b) => b.createdAt - a.createdAt || (b.id ?? 0) - (a.id ?? 0)).slice(0, limit);
        if (rows.length === 0 && opts.pipeline !== undefined) await assertKnownPipeline(store, opts.pipeline);
        if (opts.json) return print(rows);
        const tz = opts.tz ?? machineZone();
        process.stdout.write(
          `${zoneCaption(tz)}\n` +
          (table([
            ["run", "pipeline", "state", "trigger", "scheduled for", "started", "took"],
            ...rows.map((r) =>
              r.state === "skipped"
                ? ["-", r.pipeline, "skipped", r.trigger, at(r.scheduledFor, tz), "", r.activeRun !== null ? `run ${r.activeRun} was still active` : ""]
                : [String(r.id), r.pipeline, r.state, r.trigger, at(r.scheduledFor, tz), at(r.startedAt, tz), r.startedAt && r.endedAt ? ms(r.endedAt - r.startedAt) : ""],
            ),
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
    .option(...CONFIG_OPTION)
    .option(...DB_OPTION)
    .option("--pipeline <id>", "only this pipeline")
    .option("--run <id>", "only this run")
    .option("--task <id>", "only this task")
    .option("--limit <n>", "how many", "100")
    .option(...JSON_OPTION)
    .addOption(tzFlag())
    .action(async (opts: ReadOptions & { run?: string; task?: string }) => {
      const store = await storeFrom(opts, { readonly: true });
      try {
        if (opts.run !== undefined && !(await store.getRun(intOption(opts.run, "--run")))) throw new CliError(`run ${opts.run} does not exist (see \`sluice runs\`)`);
        if (opts.pipeline !== undefined) await assertKnownPipeline(store, opts.pipeline);
        const attempts = await store.listAttempts({
          ...(opts.pipeline ? { pipeline: opts.pipeline } : {}),
          ...(opts.run ? { runId: intOption(opts.run, "--run") } : {}),
          ...(opts.task ? { task: opts.task } : {}),
          limit: intOption(opts.limit, "--limit"),
        });
        if (opts.json) return print(attempts);
        const tz = opts.tz ?? machineZone();
        process.stdout.write(
          `${zoneCaption(tz)}\n` +
          (table([
            ["attempt", "run", "task", "try", "state", "queued", "started", "waited", "ran", "peak mem", "worker", "pools", "error"],
            ...attempts.map((a) => [
              String(a.id),
              String(a.runId),
              `${a.pipeline}.${a.task}`,
              String(a.attempt),
              a.state,
              formatTime(a.queuedAt, tz),
              timeOfDay(a.startedAt, tz),
              ms(a.startedAt - a.queuedAt),
              a.endedAt !== null ? ms(a.endedAt - a.startedAt) : "",
              bytes(a.peakMemoryBytes),
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
    .description("why the tasks of a run wait: dependencies, pools (with holders), limits, rate limits (and their next token), reservations")
    .argument("<run>", "run id, or run/task (e.g. 17/extract)")
    .option(...CONFIG_OPTION)
    .option(...DB_OPTION)
    .option(...JSON_OPTION)
    .addOption(tzFlag())
    .action(async (ref: string, opts: StoreOption & TzOption & { config?: string; json?: boolean }) => {
      const { runId, task } = parseRunRef(ref);
      const store = await storeFrom(opts, { readonly: true });
      try {
        const { config } = await configFor(opts, store);
        const run = await store.getRun(runId);
        if (!run) throw new CliError(`run ${runId} does not exist (see \`sluice runs\`)`);
        const tasks = await store.listTasks(runId);
        if (task !== undefined && !tasks.some((t) => t.task === task)) throw new CliError(`run ${runId} has no task "${task}"; its tasks: ${tasks.map((t) => t.task).join(", ")}`);
        const now = Date.now();
        const { engine, facts, aboutToStart } = await engineView(config, store, now);
        // Holders are facts (attempts recorded running), never tasks predicted to start.
        const running = new Set(facts.usage().flatMap((u) => u.holders.map((h) => h.id)));
        const factual = (r: WaitReason): WaitReason => ("holders" in r && Array.isArray(r.holders) ? ({ ...r, holders: r.holders.filter((h: Holder) => running.has(h.id)) } as WaitReason) : r);
        let explained = engine.explain(runId, task, now).map((e) =>
          aboutToStart.has(`${runId}/${e.task}`)
            ? { ...e, state: "ready", holding: [], reasons: [{ kind: "pending" as const, message: "fits now (a prediction): a running scheduler starts it on its next turn" }] }
            : { ...e, reasons: e.reasons.map(factual) },
        );
        if (explained.length === 0) {
          // Not active: report what the store says, with the weights and order of the definitions.
          const defs = config.pipelines.find((p) => p.id === run.pipeline)?.tasks ?? [];
          const order = new Map(defs.map((d, i) => [d.id, i]));
          explained = tasks
            .filter((t) => task === undefined || t.task === task)
            .sort((a, b) => (order.get(a.task) ?? Infinity) - (order.get(b.task) ?? Infinity))
            .map((t) => ({ runId, pipeline: run.pipeline, task: t.task, state: t.state, attempts: t.attempts, readyAt: t.readyAt, priority: undefined, weight: defs.find((d) => d.id === t.task)?.weight ?? 0, reasons: [], holding: [] }));
        }
        // How each task runs, and the peak memory of its latest attempt (the store's record).
        const defs = new Map((config.pipelines.find((p) => p.id === run.pipeline)?.tasks ?? []).map((d) => [d.id, d]));
        const latest = new Map<string, AttemptRecord>();
        for (const a of await store.listAttempts({ runId, limit: 10_000 })) if ((latest.get(a.task)?.attempt ?? 0) < a.attempt) latest.set(a.task, a);
        const withMemory = explained.map((e) => {
          const def = defs.get(e.task);
          return { ...e, isolation: def?.isolation ?? "inline", memoryMb: def?.memoryMb ?? null, peakMemoryBytes: latest.get(e.task)?.peakMemoryBytes ?? null };
        });
        if (opts.json) return print({ run, tasks: withMemory });
        const tz = opts.tz ?? machineZone();
        const lines = [`run ${run.id} of ${run.pipeline}: ${run.state}${run.startedAt ? ` (started ${at(run.startedAt, tz)})` : ""} · ${zoneCaption(tz)}`];
        for (const e of withMemory) {
          const prio = e.priority !== undefined ? ` · priority ${e.priority.toFixed(2)} (weight ${e.weight})` : "";
          const def = defs.get(e.task);
          const iso = def && (def.isolation !== undefined || e.peakMemoryBytes !== null) ? ` · ${isolationOf(def)}` : "";
          const peak = e.peakMemoryBytes !== null ? ` · peak ${bytes(e.peakMemoryBytes)}${def?.isolation === undefined ? " (heap growth, shared)" : def.isolation === "thread" ? " heap" : " RSS"}` : "";
          lines.push(`  ${e.task}: ${e.state}${e.attempts > 0 ? ` · attempts ${e.attempts}` : ""}${prio}${iso}${peak}`);
          for (const r of e.reasons) lines.push(`    - ${describeReason(r)}`);
          if (e.holding.length > 0) lines.push(`    holds ${e.holding.map((d) => `${d.key}×${d.amount}`).join(", ")}`);
          if (e.sla) lines.push(`    SLA: due ${at(e.sla.dueAt, tz)}${e.sla.missed ? " — missed" : e.sla.willMiss ? " — will miss it: its estimate no longer fits before then" : ""}`);
        }
        process.stdout.write(lines.join("\n") + "\n");
      } finally {
        await store.close();
      }
    });

  program
    .command("pools")
    .description("pools with capacity, used, reserved, waiting and holders (and other limits with --all)")
    .option(...CONFIG_OPTION)
    .option(...DB_OPTION)
    .option("--all", "also parallelism, worker slots/memory, per-pipeline/per-task limits and rate limits (tokens in the budget now)")
    .option(...JSON_OPTION)
    .action(async (opts: StoreOption & { config?: string; json?: boolean; all?: boolean }) => {
      const store = await storeFrom(opts, { readonly: true });
      try {
        const { config } = await configFor(opts, store);
        // Facts: what running attempts hold (the store's record). The prediction — what a
        // scheduler's next turn would start — is shown apart, labelled as one.
        const { engine, facts, starts } = await engineView(config, store);
        const reserved = new Map(engine.usage().map((u) => [u.key, u.reserved]));
        const usage = facts
          .usage()
          .filter((u) => (opts.all && u.kind !== "definition") || u.kind === "pool")
          .map((u) => ({
            ...u,
            reserved: reserved.get(u.key) ?? 0,
            wouldStart: starts.flatMap((s) => s.demand.filter((d) => d.key === u.key).map((d) => ({ pipeline: s.pipeline, task: s.task, run: s.runId, amount: d.amount }))),
          }));
        if (opts.json) return print(usage);
        const who = (list: ReadonlyArray<{ pipeline: string; task: string; run: number; amount: number }>) => list.map((h) => `${h.pipeline}.${h.task} (run ${h.run}${h.amount > 1 ? `, ${h.amount}` : ""})`).join(", ");
        process.stdout.write(
          (table([
            ["name", "kind", "capacity", "used", "reserved", "waiting", "held by (running)", "would start now"],
            ...usage.map((u) => [u.name, u.kind, String(u.capacity), String(u.used), String(u.reserved), String(u.waiting), who(u.holders), who(u.wouldStart)]),
          ]) || "  (no pools)") + "\n",
        );
      } finally {
        await store.close();
      }
    });
}
