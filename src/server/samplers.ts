/**
 * What the dashboard shows over time that the store does not keep: each pool's use sampled once a
 * second (a ring buffer, the last hour by default), and the reason each waiting task was last seen
 * waiting for, so the timeline can color the wait before each attempt by its cause.
 */
import type { ResourceKind, ResourceUsage, WaitReason } from "../core/admission/types.js";

/** The resources charted over time: pools and the worker limits (slots, memory), and parallelism. */
const CHARTED: ReadonlySet<ResourceKind> = new Set(["pool", "queue", "memory", "parallelism"]);

/** One resource's series over the kept window, oldest first, aligned with {@link PoolHistory.t}. */
export interface PoolSeries {
  key: string;
  kind: ResourceKind;
  name: string;
  used: number[];
  reserved: number[];
  capacity: number[];
  /** Tasks waiting that need it. */
  waiting: number[];
}

/** The host at each sample (from /proc; empty arrays elsewhere): CPU busy and I/O-wait shares, memory used. */
export interface HostSeries {
  /** 0–1 of all cores. */
  cpu: number[];
  iowait: number[];
  memoryUsedMb: number[];
  memoryTotalMb: number;
}

/** What the host measured at one sample. */
export interface HostSample {
  cpu: number;
  iowait: number;
  memoryUsedMb: number;
  memoryTotalMb: number;
}

/** The sampled use of each charted resource: sample times (epoch ms), one series per resource, and the host. */
export interface PoolHistory {
  t: number[];
  series: PoolSeries[];
  host: HostSeries;
}

/**
 * A fixed-size ring of usage samples. Memory is bounded by `capacity × resources`; a resource that
 * appears later (a pool added by a reload, a worker queue) gets zeros before it appeared.
 */
export class PoolSampler {
  private readonly times: number[] = [];
  private readonly host = { cpu: [] as number[], iowait: [] as number[], memoryUsedMb: [] as number[], memoryTotalMb: 0 };
  private readonly series = new Map<string, { kind: ResourceKind; name: string; used: number[]; reserved: number[]; capacity: number[]; waiting: number[] }>();
  private start = 0;

  constructor(private readonly capacity = 3600) {}

  /** Record one sample of `usage` (and of the host, when measured) taken at `at`. */
  sample(at: number, usage: readonly ResourceUsage[], host?: HostSample): void {
    const full = this.times.length === this.capacity;
    const slot = full ? this.start : this.times.length;
    if (full) this.start = (this.start + 1) % this.capacity;
    this.times[slot] = at;
    this.host.cpu[slot] = host?.cpu ?? 0;
    this.host.iowait[slot] = host?.iowait ?? 0;
    this.host.memoryUsedMb[slot] = host?.memoryUsedMb ?? 0;
    if (host) this.host.memoryTotalMb = host.memoryTotalMb;
    const seen = new Set<string>();
    for (const u of usage) {
      if (!CHARTED.has(u.kind)) continue;
      seen.add(u.key);
      let s = this.series.get(u.key);
      if (!s) {
        const zeros = () => new Array<number>(this.times.length).fill(0);
        s = { kind: u.kind, name: u.name, used: zeros(), reserved: zeros(), capacity: zeros(), waiting: zeros() };
        this.series.set(u.key, s);
      }
      s.used[slot] = u.used;
      s.reserved[slot] = u.reserved;
      s.capacity[slot] = u.capacity;
      s.waiting[slot] = u.waiting;
    }
    for (const [key, s] of this.series) {
      if (seen.has(key)) continue;
      s.used[slot] = 0;
      s.reserved[slot] = 0;
      s.capacity[slot] = s.capacity[(slot + this.capacity - 1) % this.capacity] ?? 0;
      s.waiting[slot] = 0;
    }
  }

  /** The samples taken at or after `since`, oldest first. */
  history(since = 0): PoolHistory {
    const order: number[] = [];
    for (let i = 0; i < this.times.length; i++) {
      const slot = (this.start + i) % this.times.length;
      if ((this.times[slot] ?? 0) >= since) order.push(slot);
    }
    const pick = (values: number[]) => order.map((slot) => values[slot] ?? 0);
    return {
      t: order.map((slot) => this.times[slot] ?? 0),
      series: [...this.series].map(([key, s]) => ({ key, kind: s.kind, name: s.name, used: pick(s.used), reserved: pick(s.reserved), capacity: pick(s.capacity), waiting: pick(s.waiting) })),
      host: { cpu: pick(this.host.cpu), iowait: pick(this.host.iowait), memoryUsedMb: pick(this.host.memoryUsedMb), memoryTotalMb: this.host.memoryTotalMb },
    };
  }
}

const NOT_A_LIMIT: ReadonlySet<WaitReason["kind"]> = new Set(["dependency", "retryDelay", "behind", "pending"]);

/** What the timeline colors a wait by: the kind of limit, and its name (the pool, queue …). */
export interface WaitCause {
  kind: WaitReason["kind"];
  name: string;
}

/** The cause a reason names, in the words of the timeline's legend. */
export function causeOf(reason: WaitReason): WaitCause {
  switch (reason.kind) {
    case "pool":
    case "queue":
      return { kind: reason.kind, name: reason.name };
    case "memory":
      return { kind: "memory", name: reason.queue };
    case "fit":
      return { kind: "fit", name: reason.queue };
    case "maxActiveTasks":
      return { kind: reason.kind, name: reason.pipeline };
    case "maxActivePerPipeline":
    case "maxActivePerRun":
    case "definition":
      return { kind: reason.kind, name: reason.task };
    case "rate":
      return { kind: "rate", name: reason.name };
    case "reserved":
      return { kind: "reserved", name: reason.resource };
    case "neverFits":
      return { kind: "neverFits", name: reason.resource };
    default:
      return { kind: reason.kind, name: reason.kind };
  }
}

/**
 * Remembers the causes each task instance was seen waiting for (sampled while the dashboard's
 * server runs), so the timeline can color the wait before an attempt's bar: the latest cause seen
 * between the attempt's `queuedAt` and its start. Bounded: the oldest task instances go first, and
 * each keeps its last few changes of cause.
 */
export class WaitCauses {
  private readonly seen = new Map<string, Array<{ first: number; last: number; cause: WaitCause }>>();

  constructor(private readonly max = 50_000) {}

  /** Record what each waiting task (`runId/task` → its reasons, as `Engine.waitingReasons`) waits for at `at`. */
  observe(at: number, waiting: ReadonlyMap<string, readonly WaitReason[]>): void {
    for (const [id, reasons] of waiting) {
      // The limit itself, not "behind an earlier instance" or "still deciding".
      const reason = reasons.find((r) => !NOT_A_LIMIT.has(r.kind));
      if (!reason) continue;
      const cause = causeOf(reason);
      let list = this.seen.get(id);
      if (!list) {
        list = [];
        this.seen.set(id, list);
        if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as string);
      }
      const last = list[list.length - 1];
      if (last && last.cause.kind === cause.kind && last.cause.name === cause.name) last.last = at;
      else list.push({ first: at, last: at, cause });
      if (list.length > 8) list.shift();
    }
  }

  /** The latest cause seen for task `task` of run `runId` between `from` and `to`, if any. */
  between(runId: number, task: string, from: number, to: number): WaitCause | undefined {
    const list = this.seen.get(`${runId}/${task}`);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const entry = list[i] as { first: number; last: number; cause: WaitCause };
      if (entry.first <= to && entry.last >= from) return entry.cause;
    }
    return undefined;
  }
}
