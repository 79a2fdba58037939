import type { EventRecord } from "../core/records.js";
import type { ResolvedConfig } from "../define/resolved.js";
import type { Scheduler } from "../scheduler/scheduler.js";
import type { Store } from "../store/types.js";
import { clock, table } from "./format.js";

/**
 * The compact live view `sluice run` shows on a terminal: active runs, pools (used, reserved,
 * waiting, holders), and the latest skips, retries and failures. Redrawn twice a second.
 */
export class LiveView {
  private timer: NodeJS.Timeout | undefined;
  private readonly recent: EventRecord[] = [];
  private readonly onEvent = (e: EventRecord) => {
    if (e.level === "warn" || e.level === "error" || e.type === "run.success") {
      this.recent.push(e);
      if (this.recent.length > 8) this.recent.shift();
    }
  };

  constructor(
    private readonly scheduler: Scheduler,
    private readonly config: ResolvedConfig,
    private readonly _store: Store,
    private readonly logFile: string,
  ) {}

  start(): void {
    this.scheduler.on("event", this.onEvent);
    this.timer = setInterval(() => this.draw(), 500);
    this.draw();
  }

  stop(message: string): void {
    clearInterval(this.timer);
    this.scheduler.off("event", this.onEvent);
    this.draw();
    process.stdout.write(`\n${message}\n`);
  }

  private draw(): void {
    const engine = this.scheduler.engineView;
    if (!engine) return;
    const lines: string[] = [`Sluice · ${clock(Date.now()).slice(0, 8)} UTC · ${this.config.pipelines.length} pipeline(s) · logs ${this.logFile} · Ctrl-C stops`];
    lines.push("", `Active runs (running attempts ${engine.runningAttempts}, waiting tasks ${engine.waitingTasks})`);
    const runs = engine.activeRuns();
    lines.push(table(runs.slice(0, 10).map((r) => [`run ${r.id}`, r.pipeline, r.state, r.startedAt ? `since ${clock(r.startedAt).slice(0, 8)}` : "queued"])) || "  (none)");
    if (runs.length > 10) lines.push(`  … ${runs.length - 10} more`);
    lines.push("", "Pools");
    const pools = engine.usage().filter((u) => u.kind === "pool" || u.kind === "queue" || u.kind === "memory");
    lines.push(
      table([
        ["name", "used", "reserved", "waiting", "held by"],
        ...pools.map((u) => [
          u.kind === "pool" ? u.name : `worker ${u.kind === "queue" ? "slots" : "memory"}`,
          `${u.used}/${u.capacity}`,
          String(u.reserved),
          String(u.waiting),
          u.holders.slice(0, 3).map((h) => `${h.pipeline}.${h.task}#${h.run}`).join(", ") + (u.holders.length > 3 ? ` +${u.holders.length - 3}` : ""),
        ]),
      ]),
    );
    lines.push("", "Recent run ends, skips, retries, failures");
    lines.push(this.recent.length > 0 ? this.recent.map((e) => `  ${clock(e.at).slice(0, 8)} ${e.level.toUpperCase().padEnd(5)} ${e.message}`).join("\n") : "  (none yet)");
    process.stdout.write(`\x1b[H\x1b[2J${lines.join("\n")}\n`);
  }
}
