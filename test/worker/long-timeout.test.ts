import { afterEach, describe, expect, it, vi } from "vitest";
import { setLongTimeout } from "../../src/worker/long-timeout.js";

describe("setLongTimeout", () => {
  afterEach(() => vi.useRealTimers());

  it("waits the whole delay beyond Node's 24.8-day timer limit (which would fire after 1 ms)", () => {
    vi.useFakeTimers({ now: 0 });
    const fired: number[] = [];
    setLongTimeout(() => fired.push(Date.now()), 25 * 86_400_000);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(25 * 86_400_000 - 2);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([25 * 86_400_000]);
  });

  it("fires short delays as setTimeout does, and can be cleared", () => {
    vi.useFakeTimers({ now: 0 });
    const fired: string[] = [];
    setLongTimeout(() => fired.push("a"), 10);
    const b = setLongTimeout(() => fired.push("b"), 3 * 86_400_000);
    vi.advanceTimersByTime(86_400_000 + 5);
    b.clear();
    vi.advanceTimersByTime(5 * 86_400_000);
    expect(fired).toEqual(["a"]);
  });
});
