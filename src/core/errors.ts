/** Base of Sluice's named errors: each has a stable `code` callers can branch on. */
export class SluiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** `trigger`/`explain` named a pipeline the config does not define. */
export class UnknownPipelineError extends SluiceError {
  constructor(
    readonly pipeline: string,
    readonly known: readonly string[],
  ) {
    super(
      "SLUICE_UNKNOWN_PIPELINE",
      `unknown pipeline "${pipeline}"; the config defines: ${known.length > 0 ? known.join(", ") : "(none)"}`,
    );
  }
}
