import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from "../../src/cli/heap.js";

describe("heap growth of the long-running commands", () => {
  it("bounds V8's heap growth by default", () => {
    expect(heapGrowthFlag({}, [])).toEqual({ flag: `--heap-growing-percent=${HEAP_GROWING_PERCENT}` });
  });

  it("takes SLUICE_HEAP_GROWING_PERCENT, and 0 leaves V8's own factor", () => {
    expect(heapGrowthFlag({ SLUICE_HEAP_GROWING_PERCENT: "50" }, [])).toEqual({ flag: "--heap-growing-percent=50" });
    expect(heapGrowthFlag({ SLUICE_HEAP_GROWING_PERCENT: "0" }, [])).toEqual({});
  });

  it("leaves a flag the user passed alone, in NODE_OPTIONS or on the command line", () => {
    expect(heapGrowthFlag({ NODE_OPTIONS: "--enable-source-maps --heap-growing-percent=300" }, [])).toEqual({});
    expect(heapGrowthFlag({ SLUICE_HEAP_GROWING_PERCENT: "50" }, ["--heap_growing_percent=20"])).toEqual({});
  });

  it("says what is wrong with a malformed value and keeps the default", () => {
    for (const bad of ["lots", "-5", "1.5"]) {
      const r = heapGrowthFlag({ SLUICE_HEAP_GROWING_PERCENT: bad }, []);
      expect(r.flag).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
      expect(r.warning).toContain(`SLUICE_HEAP_GROWING_PERCENT must be a whole number ≥ 0 (got "${bad}")`);
    }
  });
});
