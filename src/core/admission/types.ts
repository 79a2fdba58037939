/**
 * Admission works on plain counters called resources. Every limit a task is subject to is one:
 * the global `parallelism`, each pool, a pipeline's `maxActiveTasks`, a task's
 * `maxActivePerPipeline` / `maxActivePerRun`, a queue's execution slots and its memory budget.
 * A task's demand names the resources it needs and how much of each; it is admitted only when
 * every one of them has room, and then takes all of them in one step.
 */

export type ResourceKind =
  | "parallelism"
  | "pool"
  | "maxActiveTasks"
  | "maxActivePerPipeline"
  | "maxActivePerRun"
  | "queue"
  | "memory"
  /**
   * A rate limit's tokens: `capacity` is what the budget holds now (set before each pass with
   * `Admission.setTokens`); tokens a task takes are consumed, never given back when it ends.
   */
  | "rate"
  /** With worker processes: whether any live worker of the task's queue runs its current definition (capacity 0: none). */
  | "definition";

export interface ResourceSpec {
  /** Unique key, e.g. `pool:warehouse_db`. */
  key: string;
  kind: ResourceKind;
  /** The user's name for it: the pool, pipeline, task key or queue. */
  name: string;
  capacity: number;
  /** An adaptive pool: `capacity` is its current limit, which moves between `min` and `max`. */
  adaptive?: AdaptiveInfo;
  /** A rate limit (kind `rate`): its shape, and when its next token comes. */
  rate?: RateInfo;
  /**
   * A `definition` gate closed because no live worker of the task's queue has a memory budget
   * the task fits in (rather than because they run another definition of it).
   */
  tooBig?: { queue: string; needMb: number; largestMb: number };
}

/** What explanations say of a rate limit. */
export interface RateInfo {
  /** Tokens per `perMs` at the sustained rate. */
  limit: number;
  perMs: number;
  burst: number;
  /** When the budget holds one more token (ms), as of the last refill; `undefined`: unknown or now. */
  nextTokenAt?: number | undefined;
  /** Tokens the budget held and admission did not grant, as of the last pass (what explain and metrics show). */
  available?: number;
}

/** What explanations say of an adaptive pool's limit. */
export interface AdaptiveInfo {
  min: number;
  max: number;
  algorithm: "gradient" | "aimd";
}

export interface Demand {
  key: string;
  amount: number;
}

/** Who a holder or a waiting task is, for explanations. */
export interface TaskIdentity {
  /** Unique among waiting and running tasks, e.g. `17/extract`. */
  id: string;
  pipeline: string;
  run: number;
  task: string;
}

/** A ready task asking to be admitted. */
export interface Candidate extends TaskIdentity {
  /**
   * Tasks of one group have the same demand and weight, so within a group the order is simply
   * by ready time and only a group's head is ever examined. Typically the task's key
   * (`pipeline.task`), plus the run when a per-run limit applies.
   */
  group: string;
  /** Priority weight from the weight rule. */
  weight: number;
  /** When the task became ready (ms). Aging counts from here. */
  readyAt: number;
  demand: readonly Demand[];
}

export interface Grant extends TaskIdentity {
  demand: readonly Demand[];
  readyAt: number;
  admittedAt: number;
  /** The worker process it was placed on, when its queue is served by worker processes. */
  worker?: string;
}

export interface Holder extends TaskIdentity {
  amount: number;
  /**
   * Set when the attempt already ended (cancelled, timed out) but its function still runs and
   * keeps what it uses (a database connection): the slots are held until it settles.
   */
  draining?: { attemptId: number; why: "cancelled" | "timed out"; since: number };
}

/** Why a task is still waiting. Machine-readable; `sluice explain` prints these. */
export type WaitReason =
  | { kind: "dependency"; waitingFor: string[] }
  | { kind: "retryDelay"; until: number }
  | { kind: "runQueued"; message: string }
  | {
      kind: "pool" | "queue";
      name: string;
      need: number;
      free: number;
      capacity: number;
      holders: Holder[];
      /** The pool's limit adapts: `capacity` is where it is now. */
      adaptive?: AdaptiveInfo;
      /** A queue served by worker processes: how many live workers of it run this task's definition (`free` and `capacity` are theirs). */
      workers?: number;
    }
  | {
      kind: "rate";
      /** The rate limit's name. */
      name: string;
      need: number;
      /** Tokens the budget held at the last admission pass. */
      available: number;
      limit: number;
      perMs: number;
      burst: number;
      /** Roughly when the next token comes (ms); `undefined` when not known here. */
      nextTokenAt: number | undefined;
    }
  | {
      kind: "memory";
      queue: string;
      needMb: number;
      freeMb: number;
      budgetMb: number;
      holders: Holder[];
      /**
       * A queue served by worker processes: the most memory free on one of its workers that has a
       * free slot (a task runs on one worker), and how many workers run this task's definition.
       */
      largestFreeMb?: number;
      workers?: number;
    }
  | { kind: "parallelism"; limit: number; active: number }
  | { kind: "maxActiveTasks"; pipeline: string; limit: number; active: number }
  | { kind: "maxActivePerPipeline"; task: string; limit: number; active: number }
  | { kind: "maxActivePerRun"; task: string; run: number; limit: number; active: number }
  | {
      kind: "reserved";
      resource: string;
      resourceKind: ResourceKind;
      need: number;
      free: number;
      /** The best-ranked tasks capacity is held for, best first (at most 20). */
      for: string[];
      /** How many tasks capacity is held for in all. */
      forTotal: number;
    }
  | {
      kind: "definition";
      /** `pipeline.task` */
      task: string;
      /** The workers of the task's queue that are live, all running code whose definition of the task differs. */
      workers: string[];
    }
  | {
      kind: "fit";
      /** `pipeline.task` */
      task: string;
      queue: string;
      /** The task's declared memory. */
      needMb: number;
      /** The largest memory budget of a live worker of its queue. */
      largestMb: number;
    }
  | { kind: "behind"; ahead: number; head: string }
  | { kind: "neverFits"; resource: string; need: number; capacity: number }
  | { kind: "pending"; message: string };

/** A resource's state, for `sluice pools` and metrics. */
export interface ResourceUsage extends ResourceSpec {
  used: number;
  /** Held back for waiting tasks that have waited past the reservation threshold. */
  reserved: number;
  /** Waiting tasks that need this resource. */
  waiting: number;
  /** What the waiting tasks need of it in all (e.g. tokens of a rate limit). */
  waitingAmount: number;
  holders: Holder[];
  reservedFor: string[];
}

export interface AdmissionOptions {
  /** Priority points a waiting task gains per minute waited. */
  agingPointsPerMinute: number;
  /** A blocked task that has waited this long gets the capacity it needs held for it. */
  reservationAfterMs: number;
}
