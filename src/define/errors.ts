import type { ConfigProblem } from "./resolved.js";

/**
 * One problem per line: `- path: message`.
 *
 * @example
 * formatProblems([{ path: "pools.db.slots", message: "must be a positive whole number (got 0)." }]);
 * // "- pools.db.slots: must be a positive whole number (got 0)."
 */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `- ${p.path === "" ? "(config)" : p.path}: ${p.message}`).join("\n");
}

/**
 * Thrown when a configuration cannot run. `problems` holds every problem found, not just the
 * first, each with the path of the offending option.
 *
 * @example
 * try { resolveConfigOrThrow(config); }
 * catch (err) { if (err instanceof ConfigError) for (const p of err.problems) console.error(p.path, p.message); }
 */
export class ConfigError extends Error {
  readonly code = "SLUICE_CONFIG_INVALID";
  readonly problems: ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(`Invalid Sluice configuration (${count}):\n${formatProblems(problems)}`);
    this.name = "ConfigError";
    this.problems = [...problems];
  }
}
