import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Run by `npm test` afterwards, alone (vitest.serial.config.ts).
    exclude: ["**/node_modules/**", "test/**/*.serial.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: CLI tests spawn real processes, so keep file parallelism modest.
    maxWorkers: 2,
    minWorkers: 1,
    // Every `sluice run` the tests start serves its dashboard on a free port, never on 7070.
    env: { SLUICE_PORT: "0" },
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
