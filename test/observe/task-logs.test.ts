import { describe, expect, it } from "vitest";
import { TaskLogSink } from "../../src/observe/task-logs.js";
import type { AttemptLogLine } from "../../src/store/types.js";

describe("TaskLogSink", () => {
  it("writes in batches, bounds lines per attempt and their size, and survives a failing store", async () => {
    const written: AttemptLogLine[][] = [];
    let fail = true;
    const errors: unknown[] = [];
    const sink = new TaskLogSink(
      {
        appendAttemptLogs: async (lines) => {
          if (fail) throw new Error("down");
          written.push([...lines]);
        },
      },
      (err) => errors.push(err),
      { maxLinesPerAttempt: 3, maxLineChars: 20, flushMs: 10_000, maxBuffered: 5 },
    );
    sink.capture(1, "info", "a", undefined, 1);
    await sink.flush();
    expect(errors).toHaveLength(1);
    fail = false;
    for (let i = 0; i < 5; i++) sink.capture(2, "info", `line ${i}`, { i }, 2);
    sink.capture(3, "warn", "x".repeat(50), { big: "y".repeat(50) }, 3);
    sink.ended(2, 4);
    await sink.flush();
    expect(written).toHaveLength(1);
    const lines = written[0] ?? [];
    expect(lines.filter((l) => l.attemptId === 2).map((l) => [l.seq, l.msg])).toEqual([[1, "line 0"], [2, "line 1"], [3, "line 2"], [4, "… 2 more line(s) not kept (at most 3 per attempt)"]]);
    const big = lines.find((l) => l.attemptId === 3);
    expect(big?.msg).toBe(`${"x".repeat(20)}… (30 more characters)`);
    expect(big?.data).toEqual({ truncated: "60 characters of fields not kept" });
    // The buffer is bounded while the store lags: lines past it are counted, not kept.
    for (let i = 0; i < 10; i++) sink.capture(10 + i, "info", "z", undefined);
    expect(sink.lost).toBe(5);
  });
});
