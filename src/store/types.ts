import type { BucketShape } from "../core/rate.js";
/**
 * The durable record of everything Sluice decides. The scheduler keeps the live picture in memory
 * (the core engine) and writes each decision here in batches; after a crash it rebuilds the
 * picture from {@link Store.loadActiveState}. Workers talk to the store only through lease-checked
 * calls (`renewLease`, `completeAttempt`), so a worker on another machine can use the same calls
 * once a PostgreSQL store serves them.
 *
 * No driver type leaks through this interface: every implementation (SQLite now, PostgreSQL next)
 * passes the same conformance suite in `test/store/conformance.ts`.
 */

import type { Change } from "../core/records.js";
export type {
  EpochMs,
  RunState,
  RunTrigger,
  TaskState,
  AttemptState,
  RunRecord,
  TaskInstanceRecord,
  HeldResource,
  AttemptRecord,
  ScheduleStateRecord,
  EventRecord,
  Change,
  ActiveState,
  CompletionOutcome,
} from "../core/records.js";
import type {
  ActiveState,
  AttemptRecord,
  AttemptState,
  CompletionOutcome,
  EpochMs,
  EventRecord,
  RunRecord,
  RunState,
  ScheduleStateRecord,
  TaskInstanceRecord,
} from "../core/records.js";

/**
 * One change, applied with others of its batch in one transaction by {@link Store.apply}: the
 * engine's changes, plus the scheduler's answer to a request from another terminal.
 */
export type StoreWrite =
  | Change
  | { type: "resolveRequest"; id: number; runId: number | null; error: string | null; at: EpochMs }
  | DispatchWrite;

/**
 * Hand a started attempt to the worker processes of its queue (stores that serve workers only):
 * written in the batch that creates the attempt, so an attempt is never recorded without its work
 * or the reverse.
 */
export interface DispatchWrite {
  type: "dispatch";
  attemptId: number;
  queue: string;
  taskKey: string;
  memoryMb: number | undefined;
  /** Everything the worker needs to run it (the engine's start command), as JSON. */
  command: unknown;
  at: EpochMs;
  /**
   * The worker it is given to (one of its life, named by `startedAt`), which runs it when told,
   * without claiming it; absent: any worker of the queue claims it.
   */
  worker?: { name: string; startedAt: EpochMs } | undefined;
}

/** The "done" notification's payload when a worker registers, drains or stops: the scheduler reads the workers again. */
export const WORKERS_CHANGED = "workers";

/**
 * How the "work" notification names what a worker was given: `worker:<startedAt>:<name>`, then,
 * when it fits the notification, a line with the start commands as a JSON array. A worker reads
 * the header alone as "read what you were given" ({@link WorkerStore.assignedWork}).
 */
export function assignedHeader(name: string, startedAt: EpochMs): string {
  return `worker:${startedAt}:${name}`;
}

/** What a worker process tells the store about itself (`sluice worker`). */
export interface WorkerInfo {
  /** Unique among the live workers of a store. */
  name: string;
  host: string;
  pid: number;
  queues: string[];
  /** Attempts it runs at once. */
  slots: number;
  /**
   * Attempts it takes ahead of its free slots, waiting in its local queue (`sluice worker
   * --prefetch`); admission counts them with the slots. 0: it takes only what it can start.
   */
  prefetch: number;
  /** Memory budget for tasks' declared `memory`, in MB; `null`: none declared, no limit. */
  memoryMb: number | null;
  /** Fingerprint of the definitions it loaded. */
  fingerprint: string;
  /** Tasks (`pipeline.task`) it does not run: its code defines them differently from the scheduler's definitions. */
  avoid: string[];
  startedAt: EpochMs;
  heartbeatAt: EpochMs;
  stoppedAt: EpochMs | null;
  /** When it began to stop: from then on it is given no more work. Absent or `null`: it is not stopping. */
  drainingAt?: EpochMs | null;
}

/** An attempt a worker took, with the command to run it. */
export interface ClaimedWork {
  attemptId: number;
  fencingToken: number;
  taskKey: string;
  memoryMb: number | null;
  command: unknown;
}

/** What {@link WorkerStore.claimWork} took, and whether work it saw did not fit the memory it was given. */
export interface ClaimResult {
  work: ClaimedWork[];
  /** Some work of the queues waits that did not fit the memory left: a finished attempt may make room for it. */
  unfit: boolean;
}

/** A remote attempt's state as the scheduler collects it. */
export interface RemoteAttemptState {
  id: number;
  fencingToken: number;
  state: AttemptState;
  error: AttemptRecord["error"];
  /** The task instance's output (success only). */
  output: unknown;
  releasedAt: EpochMs | null;
  /** The worker that took it; `null` when none did. */
  workerId: string | null;
}

/**
 * The calls that let worker processes on other machines run attempts: registration and heartbeats,
 * claiming dispatched work, and the scheduler's view of what they did. Only stores shared between
 * machines (PostgreSQL) implement it.
 */
export interface WorkerStore {
  /** Record (or re-record, on restart) a worker; refused when a live worker already uses the name. */
  registerWorker(info: Omit<WorkerInfo, "stoppedAt" | "prefetch"> & { prefetch?: number }, ttlMs: number): Promise<{ ok: true } | { ok: false; holder: string }>;
  /**
   * Show the worker lives and renew the leases of its running attempts. Returns the ids among
   * `attempts` that are still its own and running (the others were cancelled, timed out or given
   * to another worker: abort them).
   */
  heartbeatWorker(name: string, now: EpochMs, attempts: ReadonlyArray<{ id: number; fencingToken: number }>, leaseExpiresAt: EpochMs): Promise<number[]>;
  /** The worker stops: its row says so (its attempts' leases are handed back by `releaseLeases`). */
  stopWorker(name: string, now: EpochMs): Promise<void>;
  /**
   * Work given to this worker's life (`startedAt`) by the scheduler, with an attempt id above
   * `afterId`, whose attempt still runs: read only (it is this worker's already), oldest first.
   */
  assignedWork(name: string, startedAt: EpochMs, afterId: number): Promise<ClaimedWork[]>;
  /**
   * The worker begins to stop: the scheduler gives it nothing more, and the work it holds and
   * never started, `attemptIds` (given to it or claimed), goes back to its queue for another
   * worker to claim (not lost: no retry is spent on it).
   */
  drainWorker(name: string, attemptIds: readonly number[], leaseExpiresAt: EpochMs): Promise<void>;
  /** Take up to `limit` unclaimed attempts of `queues` (given to no worker), oldest first, each within `memoryMb` if given, skipping `avoid` task keys. */
  claimWork(name: string, queues: readonly string[], limit: number, memoryMb: number | null, avoid: readonly string[], now: EpochMs, leaseExpiresAt: EpochMs): Promise<ClaimResult>;
  /**
   * Record several results at once (one transaction): each is refused, as with `completeAttempt`,
   * when its attempt is no longer running or its token is stale. Returns, per item, whether it
   * was recorded.
   */
  completeAttempts(items: ReadonlyArray<{ attemptId: number; fencingToken: number; outcome: CompletionOutcome; endedAt: EpochMs }>): Promise<boolean[]>;
  /** Expire the leases of a worker's attempts now (a worker that stops hands them back: retried at once). */
  releaseLeases(name: string, attemptIds: readonly number[], now: EpochMs): Promise<void>;
  /**
   * The function of an attempt that already ended has settled: its resources may go (`released_at`).
   * `peakMemoryBytes`, measured until then, replaces a lower recorded peak.
   */
  markReleased(attemptId: number, fencingToken: number, at: EpochMs, peakMemoryBytes?: number): Promise<boolean>;
  listWorkers(): Promise<WorkerInfo[]>;
  /** For the scheduler: the attempts among `ids` that ended or were released. */
  remoteStates(ids: readonly number[]): Promise<RemoteAttemptState[]>;
  /**
   * For the scheduler: running attempts whose lease expired before `now` (their worker is gone, or
   * nobody claimed them), or whose worker is one of `deadWorkers` (known dead: a process of this
   * host that no longer exists), or that were given to an earlier life of a worker that has
   * registered again under the same name (`restarted`: a name is refused while its holder lives,
   * so that life is gone, on whatever host it ran).
   */
  expiredAttempts(now: EpochMs, deadWorkers?: readonly string[]): Promise<Array<{ id: number; workerId: string | null; restarted?: true }>>;
  /**
   * Calls `listener` when work is dispatched (workers) or an attempt ends (scheduler), soon after
   * commit. On `done`, `attemptIds` names the attempts whose end a worker just recorded, when the
   * notification could carry them; `undefined` means "something changed: look at everything"
   * (a release, a lease handed back, a reconnect after which notifications may have been missed).
   * `payload` is the notification's text on "work" (see {@link assignedHeader}), and on "done"
   * when a worker registered, began to stop or stopped ({@link WORKERS_CHANGED}: read the workers again).
   */
  watch(channel: "work" | "done", listener: (attemptIds?: readonly number[], payload?: string) => void): Promise<() => Promise<void>>;
}

/**
 * What another terminal may ask the running scheduler: `trigger` and `backfill` (a pipeline, with
 * params), `cancel`, `retry` and `mark` (a run, with params), `pause` and `resume` (a pipeline).
 */
export type RequestType = "trigger" | "cancel" | "pause" | "resume" | "backfill" | "retry" | "mark";

/** A request from another terminal (`sluice trigger`, `sluice cancel`, `pause` …) to the running scheduler. */
export interface ControlRequest {
  id: number;
  type: RequestType;
  pipeline: string | null;
  runId: number | null;
  params: Record<string, unknown>;
  createdAt: EpochMs;
  takenAt: EpochMs | null;
  /** The scheduler (lease owner) that took it, while it is taken. */
  takenBy: string | null;
  resolvedAt: EpochMs | null;
  /** Why it could not be done; `null` when it was. */
  error: string | null;
}

export interface NewRequest {
  type: RequestType;
  pipeline?: string;
  runId?: number;
  params?: Record<string, unknown>;
  at: EpochMs;
}

/** Who asks for the scheduler lease. */
export interface LeaseClaim {
  owner: string;
  pid: number;
  host: string;
  ttlMs: number;
  now: EpochMs;
  /**
   * The claimant holds the store's scheduler lock ({@link Store.tryLockScheduler}), which only a
   * live scheduler can hold: whoever holds the lease row is gone, so it is taken at once (a
   * command-line holder, whose hold lasts a moment, still is waited for).
   */
  holdsLock?: boolean;
}

export type LeaseResult = { acquired: true } | { acquired: false; holder: string; owner: string };

/**
 * Writes of a scheduler are fenced by its lease: {@link Store.apply} refuses the batch with
 * `StoreLeaseLostError` unless `owner` holds an unexpired scheduler lease at `now`.
 */
export interface LeaseFence {
  owner: string;
  now: EpochMs;
}

export interface RunQuery {
  pipeline?: string;
  states?: RunState[];
  /** Newest first. @defaultValue 50 */
  limit?: number;
}

export interface AttemptQuery {
  runId?: number;
  pipeline?: string;
  task?: string;
  /** Only attempts still running or ended at or after this time (a timeline's window). */
  since?: EpochMs;
  /** Newest first. @defaultValue 100 */
  limit?: number;
}

export interface EventQuery {
  /** Only events with a larger id. */
  afterId?: number;
  runId?: number;
  pipeline?: string;
  types?: string[];
  /** The newest `limit` events, newest first (instead of the oldest, oldest first). */
  newestFirst?: boolean;
  /** Oldest first, unless {@link EventQuery.newestFirst}. @defaultValue 1000 */
  limit?: number;
}

/** The definitions a scheduler recorded (see `src/define/stored.ts`). */
export interface StoredDefinitions {
  fingerprint: string;
  savedAt: EpochMs;
  /** `DefinitionsJson`: the resolved config without its task functions. */
  config: unknown;
}

/** What one {@link Store.prune} call deleted. */
export interface PruneResult {
  runs: number;
  attempts: number;
  events: number;
  requests: number;
  /** True when it stopped at its limit: call again for the rest. */
  more: boolean;
}

export interface Store {
  /** `"sqlite"` or `"postgres"`. */
  readonly kind: string;
  /** Apply pending numbered migrations, each in a transaction, recorded in `sluice_migrations`. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** A bounded integrity check of the database: the problems found, none when it is sound. */
  checkIntegrity?(limit?: number): Promise<string[]>;
  /** Copy the whole store, consistent at one instant, to `file`, while it is in use. */
  backup?(file: string): Promise<void>;

  /**
   * Apply every write of the batch in one transaction, in order; all or nothing. With `fence`,
   * the batch is applied only if `fence.owner` holds the scheduler lease, unexpired at
   * `fence.now`, checked inside the same transaction; else it rejects with `StoreLeaseLostError`.
   */
  apply(batch: readonly StoreWrite[], fence?: LeaseFence): Promise<void>;

  /**
   * Extend a running attempt's lease. Returns false (and changes nothing) when the attempt is no
   * longer running or `fencingToken` is not its token.
   */
  renewLease(attemptId: number, fencingToken: number, leaseExpiresAt: EpochMs, progress?: unknown): Promise<boolean>;
  /**
   * Record a worker's result. Returns false (and changes nothing) when the attempt is no longer
   * running or `fencingToken` is not its token: a zombie worker cannot overwrite a retry's result.
   * On success the task instance's output is stored too.
   */
  completeAttempt(attemptId: number, fencingToken: number, outcome: CompletionOutcome, endedAt: EpochMs): Promise<boolean>;

  /**
   * Become the one scheduler of this store. Granted when nobody holds the lease, it expired, it
   * is already `owner`'s, or its holder is a process of this host that no longer exists.
   */
  acquireSchedulerLease(claim: LeaseClaim): Promise<LeaseResult>;
  /**
   * False when `owner` no longer holds the lease, or (given `now`) it expired before `now`: a
   * scheduler that was paused past its lease must not revive it (another may be taking over).
   */
  renewSchedulerLease(owner: string, expiresAt: EpochMs, now?: EpochMs): Promise<boolean>;
  releaseSchedulerLease(owner: string): Promise<void>;
  /**
   * A lock only a live process can hold (PostgreSQL: a session advisory lock on a connection of
   * its own, released by the server when that process dies or its connection drops). A standby
   * scheduler that gets it knows the active one is gone without waiting out its lease. Resolves
   * to the lock's release function, or `undefined` while another process holds it. Stores
   * without such a lock leave it out; then only the lease's expiry tells.
   */
  tryLockScheduler?(): Promise<(() => Promise<void>) | undefined>;
  /** Queue a request for the running scheduler; returns its id. */
  addRequest(request: NewRequest): Promise<number>;
  /** Claim up to `limit` pending requests, oldest first (each is handed out once), for scheduler `owner`. */
  takeRequests(limit: number, now?: EpochMs, owner?: string): Promise<ControlRequest[]>;
  /**
   * The sender gives up on a request: it is answered as withdrawn, so it never takes effect.
   * Possible while no scheduler took it, or when its taker no longer holds an unexpired lease at
   * `now` (fenced writes mean it can never commit the answer). False otherwise (it was answered,
   * or a live scheduler is working on it: wait for its answer).
   */
  abandonRequest(id: number, now: EpochMs, why: string): Promise<boolean>;
  getRequest(id: number): Promise<ControlRequest | undefined>;
  /**
   * Calls `listener` soon after any process adds a request, so a scheduler answers in milliseconds
   * rather than at its next poll (PostgreSQL: LISTEN/NOTIFY). Resolves to a function that stops
   * listening. Stores without a notification channel leave it out, and the scheduler polls.
   * Notifications may be missed (a dropped connection): the scheduler still polls, less often.
   */
  watchRequests?(listener: () => void): Promise<() => Promise<void>>;
  /** `false`: `watchRequests` may miss notifications often (a file watcher), so keep polling fast. @defaultValue true */
  readonly notifiesReliably?: boolean;
  /**
   * Called by a scheduler that just took the lease: requests its predecessor took but never
   * answered (it died before committing their effect, which is written with the answer) are
   * handed out again if they are younger than `maxAgeMs`, and answered as expired otherwise (the
   * terminal that sent them has given up). Returns how many were handed out again.
   */
  reclaimRequests(now: EpochMs, maxAgeMs: number): Promise<number>;

  /**
   * Delete finished runs that ended before `before` — at most `limit` per call, oldest first —
   * with their task instances, attempts and events; also answered requests and run-less events
   * older than it. Active runs are never touched, and ids are never handed out again.
   */
  prune(before: EpochMs, limit: number): Promise<PruneResult>;

  /** Record the scheduler's definitions (replacing the previous ones). */
  saveDefinitions(definitions: StoredDefinitions): Promise<void>;
  /** The definitions the last scheduler recorded, if any. */
  loadDefinitions(): Promise<StoredDefinitions | undefined>;

  loadActiveState(): Promise<ActiveState>;
  getRun(id: number): Promise<RunRecord | undefined>;
  listRuns(query?: RunQuery): Promise<RunRecord[]>;
  listTasks(runId: number): Promise<TaskInstanceRecord[]>;
  getAttempt(id: number): Promise<AttemptRecord | undefined>;
  listAttempts(query?: AttemptQuery): Promise<AttemptRecord[]>;
  listEvents(query?: EventQuery): Promise<EventRecord[]>;
  listSchedules(): Promise<ScheduleStateRecord[]>;

  /** Store lines a task wrote with `ctx.log` (a line of an attempt that no longer exists is dropped). */
  appendAttemptLogs(lines: readonly AttemptLogLine[]): Promise<void>;
  /** An attempt's `ctx.log` lines in order, after `afterSeq`. */
  listAttemptLogs(attemptId: number, afterSeq?: number, limit?: number): Promise<AttemptLogLine[]>;
}

/** One line a task wrote with `ctx.log`. */
export interface AttemptLogLine {
  attemptId: number;
  /** 1, 2, 3 … within the attempt. */
  seq: number;
  at: EpochMs;
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  /** The fields given with the line, if any. */
  data: Record<string, unknown> | null;
}

/** Whether a store serves worker processes (implements {@link WorkerStore}). */
/** One decision of a {@link TokenStore}. */
export interface TokenGrant {
  /** Tokens granted: between `min` and `max`, or 0. */
  taken: number;
  /** When none were granted: how long until `min` would be. */
  retryAfterMs: number;
  /** How long until the bucket holds one more token than it does after this decision. */
  nextTokenMs: number;
  /** The store's clock at the decision (ms since the epoch): one clock for every process. */
  at: number;
}

/**
 * Where the token buckets of rate limits and bandwidth budgets live (GCRA, see `core/rate.ts`).
 * Each call is one atomic step. The PostgreSQL store is one (migration `0008_rate_limits.sql`),
 * so every process of an installation draws on one budget.
 */
export interface TokenStore {
  /** Take as many tokens of `bucket` as it holds, up to `max`, if it holds at least `min`. */
  takeTokens(bucket: string, min: number, max: number, shape: BucketShape): Promise<TokenGrant>;
  /** Give back tokens taken and not used. */
  refundTokens(bucket: string, tokens: number, shape: BucketShape): Promise<void>;
  /** What `bucket` holds now and how long until one more token, taking nothing (read commands). */
  peekTokens?(bucket: string, shape: BucketShape): Promise<{ tokens: number; nextTokenMs: number }>;
}

/** Whether a store keeps token buckets for every process that opens it (PostgreSQL). */
export function isTokenStore(store: Store): store is Store & TokenStore {
  const s = store as Partial<TokenStore>;
  return typeof s.takeTokens === "function" && typeof s.refundTokens === "function";
}

export function isWorkerStore(store: Store): store is Store & WorkerStore {
  const s = store as Partial<WorkerStore>;
  return typeof s.claimWork === "function" && typeof s.heartbeatWorker === "function" && typeof s.watch === "function";
}
