import { describe, expect, it } from "vitest";
import { defineConfig, isDefinedConfig, isPipelineDefinition, pipeline } from "../../src/define/index.js";
import type { TaskFn } from "../../src/define/index.js";

const noop: TaskFn = () => undefined;

describe("pipeline()", () => {
  it("records tasks in declaration order and returns handles", () => {
    const p = pipeline("daily_sales", { maxActiveRuns: 2 });
    const extract = p.task("extract", noop);
    const load = p.task("load", { dependsOn: [extract] }, noop);
    expect(extract).toEqual({ pipeline: "daily_sales", id: "extract" });
    expect(load).toEqual({ pipeline: "daily_sales", id: "load" });
    expect(p.id).toBe("daily_sales");
    expect(p.options).toEqual({ maxActiveRuns: 2 });
    expect(p.tasks.map((t) => [t.id, t.options, t.fn])).toEqual([
      ["extract", {}, noop],
      ["load", { dependsOn: [extract] }, noop],
    ]);
  });

  it("does not throw for mistakes that validation reports", () => {
    const p = pipeline("p");
    expect(() => {
      p.task("a", noop);
      p.task("a", noop); // duplicate
      p.task("b", { dependsOn: ["nope"] }, noop);
      p.task("c", {}, 42 as unknown as TaskFn); // not a function
      p.task("d", 42 as never, noop); // options not an object
    }).not.toThrow();
    expect(p.tasks).toHaveLength(5);
    expect(p.tasks[3]!.fn).toBe(42);
    expect(p.tasks[4]!.options).toBe(42);
  });

  it("is recognised by its registered-symbol brand, not by class", () => {
    const p = pipeline("p");
    expect(isPipelineDefinition(p)).toBe(true);
    expect(isPipelineDefinition({ id: "p", options: {}, tasks: [], task: noop })).toBe(false);
    // What another copy of the module would produce: same registered symbol, different object.
    expect(isPipelineDefinition({ [Symbol.for("sluice.pipeline")]: true })).toBe(true);
  });
});

describe("defineConfig()", () => {
  it("returns the same options, branded, without mutating the input", () => {
    const input = Object.freeze({ parallelism: 4, pipelines: [] });
    const config = defineConfig(input);
    expect(config).toEqual(input);
    expect(isDefinedConfig(config)).toBe(true);
    expect(isDefinedConfig(input)).toBe(false);
    expect(Object.keys(config)).toEqual(["parallelism", "pipelines"]);
  });
});
