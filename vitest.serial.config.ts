import { defineConfig } from "vitest/config";

// Tests that load the machine on purpose (50 CLI processes at once): `npm test` runs them after
// the others, one file at a time, so they neither starve nor are starved by the rest of the suite.
export default defineConfig({
  test: {
    include: ["test/**/*.serial.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    fileParallelism: false,
    maxWorkers: 1,
    minWorkers: 1,
    // Every `sluice run` the tests start serves its dashboard on a free port, never on 7070.
    env: { SLUICE_PORT: "0" },
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
