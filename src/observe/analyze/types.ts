/** One finished job execution: what `sluice analyze` reads from a file or the store. */
export interface JobRecord {
  /** The job's name (CSV `name`; from the store: `pipeline.task`). */
  name: string;
  /** The unit that is shifted as a whole: the pipeline in the store, the name in a file. */
  group: string;
  /** Epoch ms. */
  start: number;
  /** Epoch ms, after `start`. */
  end: number;
  /** Memory the job used or declared, in MB (0 when unknown). */
  memoryMb: number;
  /** The run it belonged to (store history): the tasks of one run are one cycle. Each file record is its own. */
  run?: string;
  /** Pool slots held while it ran (store history only). */
  pools: Record<string, number>;
}

/** One step of the timeline: from `at` until the next step's `at`, these were running. */
export interface TimelineStep {
  at: number;
  concurrency: number;
  memoryMb: number;
  /** Slots used per pool. */
  pools: Record<string, number>;
}

/** A half-open time window `[from, to)`. */
export interface Window {
  from: number;
  to: number;
}

/** The highest value a series reached and the first window where it held, plus the jobs running then. */
export interface Peak {
  value: number;
  window: Window;
  /** How many separate windows reached the peak. */
  windows: number;
  /** Names of the jobs running in the first peak window. */
  jobs: string[];
}
