/** Exit codes of every command. */
export const EXIT = {
  ok: 0,
  /** The thing asked for failed (a run failed, a task failed). */
  failure: 1,
  /** Bad usage or configuration: nothing was attempted. */
  usage: 2,
} as const;

/** An error the CLI prints as one line (`sluice: …`) before exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = "CliError";
  }
}
