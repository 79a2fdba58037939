/** createLogger: JSON lines with the ids a task's lines carry; pretty lines when asked (a terminal). */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger, taskLoggerFrom } from "../../src/observe/logger.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-logger-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
}

describe("createLogger", () => {
  it("writes JSON lines; a task's ctx.log lines carry pipeline, run, task and attempt ids", async () => {
    const file = join(dir, "json.log");
    const logger = createLogger({ destination: file, level: "debug" });
    taskLoggerFrom(logger)({ pipeline: "etl", runId: 7, task: "load", attemptId: 31, attempt: 2 }).info("loaded", { rows: 5 });
    logger.debug("quiet");
    logger.flush();
    await settle();
    const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ level: 30, pipeline: "etl", runId: 7, task: "load", attemptId: 31, attempt: 2, rows: 5, msg: "loaded" });
    expect(lines[1]).toMatchObject({ level: 20, msg: "quiet" });
  });

  it("honours the level", async () => {
    const file = join(dir, "level.log");
    const logger = createLogger({ destination: file, level: "warn" });
    logger.info("hidden");
    logger.warn("shown");
    logger.flush();
    await settle();
    expect(readFileSync(file, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["shown"]);
  });

  it("pretty: human-readable lines instead of JSON", async () => {
    const file = join(dir, "pretty.log");
    const logger = createLogger({ destination: file, pretty: true });
    logger.info({ pipeline: "etl" }, "run started");
    logger.flush();
    await settle();
    const text = readFileSync(file, "utf8");
    expect(text).toContain("INFO");
    expect(text).toContain("run started");
    expect(text).toContain('pipeline: "etl"');
    expect(() => JSON.parse(text.split("\n")[0] ?? "") as unknown).toThrow();
  });
});
