import type { ResourceUsage } from "../core/admission/types.js";
import type { EventRecord } from "../core/records.js";
import type { ResolvedConfig } from "../define/resolved.js";
import type { Store } from "../store/types.js";
import { machineZone, table, timeOfDay } from "./format.js";

/** Where the view draws: `process.stdout` on a terminal, a fake stream in tests. */
export interface LiveTerminal {
  write(chunk: string): unknown;
  /** Width in characters. @defaultValue 80 */
  columns?: number | undefined;
  /** Height in lines. @defaultValue 24 */
  rows?: number | undefined;
}

/** What the view reads: the scheduler's engine and its event stream. */
export interface LiveSource {
  readonly engineView:
    | {
        readonly runningAttempts: number;
        readonly waitingTasks: number;
        activeRuns(): ReadonlyArray<{ id: number; pipeline: string; state: string; startedAt: number | null }>;
        usage(): ResourceUsage[];
      }
    | undefined;
  on(name: "event", listener: (e: EventRecord) => void): unknown;
  off(name: "event", listener: (e: EventRecord) => void): unknown;
}

/** Options of {@link LiveView}. */
export interface LiveViewOptions {
  /** @defaultValue `process.stdout` */
  out?: LiveTerminal;
  /** IANA zone of the times shown. @defaultValue the machine's */
  tz?: string;
  /** @defaultValue `Date.now` */
  now?: () => number;
  /** @defaultValue 500 */
  intervalMs?: number;
  /** The dashboard's URL, shown in the header (none: `--no-ui`, or its port was taken). */
  dashboard?: string;
}

/** Control sequences: cursor to column 1 and up n lines; erase to end of line; erase below. */
const up = (n: number) => `\r\x1b[${n}A`;
const ERASE_LINE_END = "\x1b[K";
const ERASE_BELOW = "\x1b[J";
/** Recent events kept for the last section. */
const RECENT = 8;

interface Section {
  title: string;
  items: string[];
  /** Shown as "  (none)" when there are no items. */
  empty: string;
  hidden: number;
}

/**
 * The compact live view `sluice run` shows on a terminal: a header (time and zone, running and
 * waiting, where the logs go), then active runs, pools (used, reserved, waiting, holders), and the
 * latest run ends, skips, retries and failures.
 *
 * It redraws in place twice a second — cursor up over its previous frame, each line rewritten and
 * erased to its end, whatever is left below erased — so it never clears the screen or floods the
 * scrollback. A frame always fits the terminal (one line short of its height, each line shorter
 * than its width): the header stays; the longest section is cut first, with "… N more".
 *
 * @example
 * const view = new LiveView(sluice.scheduler, sluice.config, sluice.store, logFile);
 * view.start();
 * // … on SIGINT:
 * view.stop("SIGINT: draining 3 running attempt(s)…");
 * await sluice.stop();
 * view.finish("sluice run stopped");
 */
export class LiveView {
  private timer: NodeJS.Timeout | undefined;
  private readonly recent: EventRecord[] = [];
  /** Lines of the frame on screen, which the next draw moves up over. */
  private drawn = 0;
  private state: "idle" | "live" | "stopped" | "finished" = "idle";
  private readonly out: LiveTerminal;
  private readonly tz: string;
  private readonly now: () => number;
  private readonly onEvent = (e: EventRecord) => {
    if (e.level === "warn" || e.level === "error" || e.type === "run.success") {
      this.recent.push(e);
      if (this.recent.length > RECENT) this.recent.shift();
    }
  };

  constructor(
    private readonly source: LiveSource,
    private readonly config: ResolvedConfig,
    private readonly _store: Store | undefined,
    private readonly logFile: string,
    private readonly options: LiveViewOptions = {},
  ) {
    this.out = options.out ?? process.stdout;
    this.tz = options.tz ?? machineZone();
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.state !== "idle") return;
    this.state = "live";
    this.source.on("event", this.onEvent);
    this.timer = setInterval(() => this.draw(), this.options.intervalMs ?? 500);
    this.timer.unref();
    this.draw();
  }

  /** Last frame, then `message` below it (e.g. "draining 3 running attempt(s)…"); no more redraws. Idempotent. */
  stop(message: string): void {
    if (this.state !== "live") return;
    this.state = "stopped";
    clearInterval(this.timer);
    this.source.off("event", this.onEvent);
    // Room for this message and the final "stopped" line, so the header stays on screen.
    this.draw(2);
    this.out.write(`${this.fit(message)}${ERASE_LINE_END}\n`);
    this.drawn = 0;
  }

  /** The final line, once Sluice has stopped: `<what> stopped at 09:30:05 (Europe/Paris)`. Idempotent. */
  finish(what: string): void {
    if (this.state === "finished") return;
    if (this.state === "live") this.stop(`${what}: stopping…`);
    this.state = "finished";
    this.out.write(`${this.fit(`${what} stopped at ${timeOfDay(this.now(), this.tz)} (${this.tz})`)}${ERASE_LINE_END}\n`);
  }

  /** The lines of one frame, fitted to the terminal, leaving `reserve` lines free below it. */
  frame(reserve = 0): string[] {
    const engine = this.source.engineView;
    const rows = Math.max(3, this.out.rows ?? 24);
    // Two short lines, so both fit 80 columns whatever the zone's name; the log path may be cut.
    const header = [
      `Sluice · ${timeOfDay(this.now(), this.tz)} ${this.tz} · running ${engine?.runningAttempts ?? 0} · waiting ${engine?.waitingTasks ?? 0}`,
      `${this.config.pipelines.length} pipeline(s) · ${this.options.dashboard ? `${this.options.dashboard} · ` : ""}Ctrl-C stops · logs ${this.logFile}`,
    ];
    const sections = engine ? this.sections(engine) : [];
    // One line short of the height: the line the cursor rests on after the frame.
    const budget = rows - 1 - header.length - reserve;
    const body = fitSections(sections, budget);
    return [...header, ...body].map((l) => this.fit(l));
  }

  private sections(engine: NonNullable<LiveSource["engineView"]>): Section[] {
    const runs = engine.activeRuns();
    const pools = engine.usage().filter((u) => u.kind === "pool" || u.kind === "queue" || u.kind === "memory");
    const poolRows = table([
      ["name", "used", "reserved", "waiting", "held by"],
      ...pools.map((u) => [
        u.kind === "pool" ? u.name : `worker ${u.kind === "queue" ? "slots" : "memory"}`,
        `${u.used}/${u.capacity}`,
        String(u.reserved),
        String(u.waiting),
        u.holders.slice(0, 3).map((h) => `${h.pipeline}.${h.task}#${h.run}`).join(", ") + (u.holders.length > 3 ? ` +${u.holders.length - 3}` : ""),
      ]),
    ]).split("\n");
    return [
      {
        title: "Active runs",
        items: table(runs.map((r) => [`run ${r.id}`, r.pipeline, r.state, r.startedAt ? `since ${timeOfDay(r.startedAt, this.tz)}` : "queued"])).split("\n").filter((l) => l !== ""),
        empty: "  (none)",
        hidden: 0,
      },
      { title: "Pools", items: pools.length > 0 ? poolRows : [], empty: "  (no pools)", hidden: 0 },
      {
        title: "Recent run ends, skips, retries, failures",
        // Newest first, so a cut keeps the latest.
        items: [...this.recent].reverse().map((e) => `  ${timeOfDay(e.at, this.tz)} ${e.level.toUpperCase().padEnd(5)} ${e.message}`),
        empty: "  (none yet)",
        hidden: 0,
      },
    ];
  }

  /** Cut to one character short of the width, so no line wraps (a wrapped line would break the cursor-up count). */
  private fit(line: string): string {
    const width = Math.max(10, (this.out.columns ?? 80) - 1);
    return line.length <= width ? line : `${line.slice(0, width - 1)}…`;
  }

  private draw(reserve = 0): void {
    const lines = this.frame(reserve);
    const back = this.drawn > 0 ? up(this.drawn) : "";
    this.out.write(`${back}${lines.map((l) => l + ERASE_LINE_END).join("\n")}\n${ERASE_BELOW}`);
    this.drawn = lines.length;
  }
}

/**
 * Sections within `budget` lines: a blank line and a title each, then items; the section with the
 * most items loses its last ones first, and says "… N more".
 */
export function fitSections(sections: Section[], budget: number): string[] {
  const render = () =>
    sections.flatMap((s) => ["", s.title, ...(s.items.length === 0 && s.hidden === 0 ? [s.empty] : s.items), ...(s.hidden > 0 ? [`  … ${s.hidden} more`] : [])]);
  let lines = render();
  while (lines.length > budget) {
    // Cut where there is most to cut; a table's header row (pools) is kept while it has rows.
    const widest = sections.reduce((a, b) => (b.items.length > a.items.length ? b : a));
    if (widest.items.length <= 1) break;
    // The first cut also makes room for the "… N more" line.
    widest.items.pop();
    widest.hidden++;
    lines = render();
  }
  if (lines.length <= budget) return lines;
  // A very small terminal: cut the body itself.
  const keep = Math.max(0, budget - 1);
  return [...lines.slice(0, keep), `… ${lines.length - keep} more line(s)`];
}
