// Bad input: each is one line on stderr starting `sluice:`, exit 2, and nothing is run.
import { afterAll, describe, expect, it } from "vitest";
import { disposeSandboxes, fixture, sandbox } from "./helpers.js";

afterAll(disposeSandboxes);

const TASKS = fixture("tasks");

const CASES: ReadonlyArray<{ name: string; args: string[]; says: RegExp }> = [
  { name: "an unknown pipeline to trigger", args: ["trigger", "no_such_pipeline", "-c", TASKS], says: /unknown pipeline "no_such_pipeline".*flaky, stubborn, upstream, echo/ },
  { name: "--params that is not JSON", args: ["trigger", "echo", "-c", TASKS, "--params", "{day: 2024}", "--wait"], says: /--params is not valid JSON/ },
  { name: "--params that is a JSON array", args: ["trigger", "echo", "-c", TASKS, "--params", "[1,2]", "--wait"], says: /--params must be a JSON object.*got \[1,2\]/ },
  { name: "a config file that throws on import", args: ["run", fixture("throws"), "--for", "1s"], says: /could not load .*throws\.config\.ts: it threw while loading: boom while loading the config \(at .*throws\.config\.ts:\d+:\d+\)/ },
  { name: "a missing config file (run)", args: ["run", "nowhere.config.ts", "--for", "1s"], says: /config file not found: .*nowhere\.config\.ts/ },
  { name: "a missing config file (trigger)", args: ["trigger", "echo", "-c", "nowhere.config.ts", "--wait"], says: /config file not found: .*nowhere\.config\.ts/ },
];

describe.concurrent("bad input", () => {
  for (const c of CASES) {
    it(`reports ${c.name} in one line and exits 2`, async () => {
      const box = await sandbox();
      const r = await box.cli(c.args);
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.split("\n");
      expect(lines, r.stderr).toHaveLength(2); // one line and its newline
      expect(lines[0]).toMatch(/^sluice: /);
      expect(lines[0]).toMatch(c.says);
      expect(r.stdout).toBe("");
      expect(box.observations()).toEqual([]);
    });
  }
});
