/**
 * The live view of `sluice run`, rendered into a fake 80×24 terminal fed by a real running Sluice:
 * it redraws in place (cursor up + erase line, never a screen clear), every frame fits (header
 * kept, body cut with "… N more"), and it ends with a "stopped" line. A small VT emulator replays
 * the bytes to check what a person would see, and that nothing was pushed into the scrollback.
 */
import { afterEach, describe, expect, it } from "vitest";
import { fitSections, LiveView, type LiveTerminal } from "../../src/cli/live-view.js";
import { defineConfig, pipeline, start, type Sluice } from "../../src/index.js";

/** Enough of a VT100 for the sequences the view may use; anything else fails the test. */
class FakeTty implements LiveTerminal {
  readonly columns: number;
  readonly rows: number;
  readonly writes: string[] = [];
  readonly screen: string[];
  /** Lines scrolled off the top: what a screen-clearing redraw floods. */
  scrolledOff = 0;
  private r = 0;
  private c = 0;

  constructor(columns = 80, rows = 24) {
    this.columns = columns;
    this.rows = rows;
    this.screen = Array.from({ length: rows }, () => "");
  }

  write(chunk: string): boolean {
    this.writes.push(chunk);
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk[i]!;
      if (ch === "\x1b") {
        const m = /^\[(\d*)([A-Za-z])/.exec(chunk.slice(i + 1));
        if (!m) throw new Error(`unexpected escape at ${JSON.stringify(chunk.slice(i, i + 8))}`);
        const n = m[1] === "" ? 1 : Number(m[1]);
        switch (m[2]) {
          case "A":
            this.r = Math.max(0, this.r - n);
            break;
          case "K":
            this.screen[this.r] = this.screen[this.r]!.slice(0, this.c);
            break;
          case "J":
            this.screen[this.r] = this.screen[this.r]!.slice(0, this.c);
            for (let k = this.r + 1; k < this.rows; k++) this.screen[k] = "";
            break;
          default:
            throw new Error(`the view used ESC[${m[1]}${m[2]}, which this test does not allow`);
        }
        i += m[0].length;
      } else if (ch === "\n") {
        this.c = 0; // the view always writes \n after \r-less lines; a tty in cooked mode maps \n to \r\n
        if (this.r === this.rows - 1) {
          this.screen.shift();
          this.screen.push("");
          this.scrolledOff++;
        } else this.r++;
      } else if (ch === "\r") {
        this.c = 0;
      } else {
        if (this.c >= this.columns) throw new Error(`line ${this.r} wrapped: ${JSON.stringify(this.screen[this.r])}`);
        const line = this.screen[this.r]!.padEnd(this.c);
        this.screen[this.r] = line.slice(0, this.c) + ch + line.slice(this.c + 1);
        this.c++;
      }
    }
    return true;
  }

  get text(): string {
    return this.screen.join("\n");
  }
}

const running: Sluice[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop({ timeout: "1s" });
});

const NOW = Date.UTC(2026, 10, 25, 8, 30, 0); // 14:00:00 in Asia/Kolkata (UTC+05:30)

async function busySluice(runs: number) {
  let release = false;
  const p = pipeline("etl", { maxActiveRuns: 100 });
  p.task("load", { pools: { warehouse_db: 1 } }, async () => {
    while (!release) await new Promise((r) => setTimeout(r, 10));
  });
  const sluice = await start({ config: defineConfig({ pools: { warehouse_db: { slots: 2 } }, pipelines: [p] }), db: ":memory:", logger: false });
  running.push(sluice);
  for (let i = 0; i < runs; i++) await sluice.trigger("etl");
  await new Promise((r) => setTimeout(r, 100));
  return { sluice, release: () => (release = true) };
}

describe("LiveView on an 80×24 terminal", () => {
  it("redraws in place with cursor-up and erase-line, never clears the screen, keeps the header, cuts the body with '… N more', and ends with a stopped line", async () => {
    const { sluice, release } = await busySluice(40);
    const tty = new FakeTty(80, 24);
    const view = new LiveView(sluice.scheduler, sluice.config, sluice.store, "/var/log/a-rather-long-path/that/goes/on/and/on/and/on/.sluice/sluice.log", { out: tty, tz: "Asia/Kolkata", now: () => NOW, intervalMs: 30 });
    view.start();
    for (let i = 0; i < 500 && tty.writes.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(tty.writes.length).toBeGreaterThanOrEqual(3);

    const all = tty.writes.join("");
    for (const clear of ["\x1b[2J", "\x1b[3J", "\x1b[H", "\x1bc"]) expect(all.includes(clear), JSON.stringify(clear)).toBe(false); // no clear, no home, no reset
    // The first frame is written where the cursor is; every later one goes back up over the previous one exactly.
    expect(tty.writes[0]!.startsWith("Sluice · 14:00:00 Asia/Kolkata")).toBe(true);
    const heights = tty.writes.map((w) => w.split("\n").length - 1);
    for (let i = 1; i < tty.writes.length; i++) expect(tty.writes[i]!.startsWith(`\r\x1b[${heights[i - 1]}A`)).toBe(true);
    for (const w of tty.writes) {
      expect(w.endsWith("\n\x1b[J")).toBe(true);
      for (const line of w.split("\n").slice(0, -1)) expect(line.endsWith("\x1b[K")).toBe(true);
    }
    // Each frame fits: at most 23 lines (the cursor rests on the 24th), none wider than 79.
    const frame = view.frame();
    expect(frame.length).toBeLessThanOrEqual(23);
    for (const line of frame) expect(line.length).toBeLessThanOrEqual(79);
    expect(frame[0]).toBe("Sluice · 14:00:00 Asia/Kolkata · running 2 · waiting 38");
    expect(frame[1]).toMatch(/^1 pipeline\(s\) · Ctrl-C stops · logs \/var\/log\/.*…$/);
    // With the dashboard: its URL comes before the log file, which is cut first.
    const withUrl = new LiveView(sluice.scheduler, sluice.config, sluice.store, "/var/log/a-rather-long-path/that/goes/on/and/on/and/on/.sluice/sluice.log", { out: new FakeTty(80, 24), tz: "Asia/Kolkata", now: () => NOW, dashboard: "http://127.0.0.1:7070" });
    expect(withUrl.frame()[1]).toMatch(/^1 pipeline\(s\) · http:\/\/127\.0\.0\.1:7070 · Ctrl-C stops · logs \/var\/log\/.*…$/);
    expect(frame).toContain("Active runs");
    expect(frame).toContain("Pools");
    expect(frame.some((l) => /^ {2}… \d+ more$/.test(l))).toBe(true);
    const hidden = Number(/… (\d+) more/.exec(frame.find((l) => /… \d+ more/.test(l))!)![1]);
    const shownRuns = frame.filter((l) => /^ {2}run \d+ /.test(l)).length;
    expect(shownRuns + hidden).toBe(40);
    expect(frame.some((l) => /warehouse_db\s+2\/2\s+\d+\s+38\s+etl\.load#\d+, etl\.load#\d+/.test(l))).toBe(true);

    // What a person sees: the latest frame at the top, header visible, nothing scrolled away.
    expect(tty.scrolledOff).toBe(0);
    expect(tty.screen[0]).toBe(frame[0]);
    expect(tty.screen.slice(0, frame.length)).toEqual(frame);

    view.stop("SIGINT: draining 2 running attempt(s)…");
    const writesAtStop = tty.writes.length;
    release();
    await sluice.stop({ timeout: "1s" });
    view.finish("sluice run");
    view.finish("sluice run"); // idempotent
    await new Promise((r) => setTimeout(r, 100));
    const tail = tty.writes.slice(writesAtStop).join("");
    expect(tail).toBe("sluice run stopped at 14:00:00 (Asia/Kolkata)\x1b[K\n");
    const lines = tty.text.split("\n").filter((l) => l !== "");
    expect(lines.at(-2)).toBe("SIGINT: draining 2 running attempt(s)…");
    expect(lines.at(-1)).toBe("sluice run stopped at 14:00:00 (Asia/Kolkata)");
    expect(lines[0]).toMatch(/^Sluice · /);
    expect(tty.scrolledOff).toBe(0);
  });

  it("a shrinking frame leaves nothing of the taller one behind", async () => {
    const { sluice, release } = await busySluice(12);
    const tty = new FakeTty(80, 24);
    const view = new LiveView(sluice.scheduler, sluice.config, sluice.store, "sluice.log", { out: tty, tz: "UTC", now: () => NOW, intervalMs: 20 });
    view.start();
    const tall = view.frame().length;
    release();
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 10_000;
      const poll = () => (sluice.scheduler.engineView?.activeRuns().length === 0 ? resolve() : Date.now() > deadline ? reject(new Error("runs did not end")) : setTimeout(poll, 20));
      poll();
    });
    await new Promise((r) => setTimeout(r, 100));
    const final = view.frame().length;
    expect(final).toBeLessThan(tall);
    view.stop("done");
    const short = tty.screen.findIndex((l) => l === "done");
    expect(short).toBe(final);
    expect(tty.screen.slice(short + 1).every((l) => l === "")).toBe(true);
    expect(tty.text).toMatch(/Active runs\n {2}\(none\)/);
  });
});

describe("fitSections", () => {
  const sections = () => [
    { title: "A", items: Array.from({ length: 30 }, (_, i) => `  a${i}`), empty: "  (none)", hidden: 0 },
    { title: "B", items: ["  b0", "  b1"], empty: "  (none)", hidden: 0 },
    { title: "C", items: [], empty: "  (none yet)", hidden: 0 },
  ];

  it("cuts the longest section first and says how many it hid", () => {
    const lines = fitSections(sections(), 15);
    expect(lines).toHaveLength(15);
    expect(lines).toEqual(["", "A", "  a0", "  a1", "  a2", "  a3", "  a4", "  … 25 more", "", "B", "  b0", "  b1", "", "C", "  (none yet)"]);
  });

  it("leaves a frame that fits alone, and cuts the body itself on a tiny terminal", () => {
    expect(fitSections(sections().slice(1), 20)).toEqual(["", "B", "  b0", "  b1", "", "C", "  (none yet)"]);
    const tiny = fitSections(sections(), 4);
    expect(tiny).toHaveLength(4);
    expect(tiny.at(-1)).toMatch(/^… \d+ more line\(s\)$/);
  });
});
