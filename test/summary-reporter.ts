import type { Reporter, RunnerTestFile, RunnerTask } from "vitest/node";

/** Prints one plain closing line, `N passed, N failed, N skipped`, that any CI can read. */
export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = []): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const visit = (task: RunnerTask): void => {
      if (task.type === "suite") {
        for (const child of task.tasks) visit(child);
        return;
      }
      const state = task.result?.state;
      if (state === "pass") passed++;
      else if (state === "fail") failed++;
      else skipped++;
    };
    for (const file of files) {
      visit(file);
      if (file.result?.state === "fail" && file.tasks.length === 0) failed++;
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
