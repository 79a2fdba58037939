/**
 * Host resources read from /proc (Linux; no native module): CPU time by mode, memory, and the
 * memory of this process. Elsewhere every read returns `undefined` and the metrics built on it
 * are simply absent.
 */
import { getHeapStatistics } from "node:v8";
import { readFileSync } from "node:fs";

/** CPU time of the whole host by mode, in seconds since boot (`/proc/stat`, first line). */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** The host's memory (`/proc/meminfo`), in bytes. */
export interface HostMemory {
  totalBytes: number;
  /** What new work can use without swapping (`MemAvailable`). */
  availableBytes: number;
}

/** Clock ticks per second of /proc/stat: 100 on every Linux architecture Node supports (USER_HZ). */
const USER_HZ = 100;
const CPU_MODES = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"] as const;

/**
 * Parse the aggregate `cpu` line of /proc/stat into seconds per mode.
 *
 * @example
 * parseProcStat("cpu  100 0 50 800 20 0 5 0 0 0\n").iowait; // 0.2
 */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return undefined;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return undefined;
  const out = {} as CpuTimes;
  CPU_MODES.forEach((mode, i) => (out[mode] = (fields[i] ?? 0) / USER_HZ));
  return out;
}

/**
 * Parse /proc/meminfo (values in kB) into bytes.
 *
 * @example
 * parseMeminfo("MemTotal: 1000 kB\nMemAvailable: 400 kB\n"); // { totalBytes: 1024000, availableBytes: 409600 }
 */
export function parseMeminfo(text: string): HostMemory | undefined {
  const kb = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s*kB`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const totalBytes = kb("MemTotal");
  if (totalBytes === undefined) return undefined;
  // Kernels before 3.14 have no MemAvailable: free + page cache is the usual stand-in.
  const availableBytes = kb("MemAvailable") ?? (kb("MemFree") ?? 0) + (kb("Cached") ?? 0);
  return { totalBytes, availableBytes };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The host's CPU times now, or `undefined` without /proc. */
export function readCpuTimes(): CpuTimes | undefined {
  const text = readText("/proc/stat");
  return text === undefined ? undefined : parseProcStat(text);
}

/** The host's memory now, or `undefined` without /proc. */
export function readHostMemory(): HostMemory | undefined {
  const text = readText("/proc/meminfo");
  return text === undefined ? undefined : parseMeminfo(text);
}

/**
 * Resident set size of a process (`/proc/<pid>/status`, `VmRSS`), in bytes; `undefined` when
 * it has exited or there is no /proc. For isolated attempts (a child process per attempt).
 */
export function readRssBytes(pid: number = process.pid): number | undefined {
  const text = readText(`/proc/${pid}/status`);
  const m = text === undefined ? null : /^VmRSS:\s+(\d+)\s*kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * Host CPU use between two reads: the share of time busy (everything but idle and iowait) and
 * the share spent waiting for I/O, each 0…1. Reading `/proc/stat` at every scrape and comparing
 * with the previous read gives the use over the scrape interval.
 *
 * @example
 * const cpu = new CpuSampler();
 * cpu.sample(); // since boot the first time, then since the previous call
 */
export class CpuSampler {
  private last: CpuTimes | undefined;

  /** Busy and I/O-wait shares since the previous call (since boot the first time); `undefined` without /proc. */
  sample(now: CpuTimes | undefined = readCpuTimes()): { busy: number; iowait: number; times: CpuTimes } | undefined {
    if (!now) return undefined;
    const prev = this.last;
    this.last = now;
    const delta = (mode: keyof CpuTimes): number => now[mode] - (prev?.[mode] ?? 0);
    const total = CPU_MODES.reduce((sum, m) => sum + delta(m), 0);
    if (total <= 0) return { busy: 0, iowait: 0, times: now };
    const idle = delta("idle") + delta("iowait");
    return { busy: Math.max(0, (total - idle) / total), iowait: Math.max(0, delta("iowait") / total), times: now };
  }
}

/**
 * Peak memory of running attempts: every `intervalMs` (and at each attempt's end) the memory of
 * the process running it is read, and the highest value seen is kept until the attempt ends.
 * Inline attempts share this process, so theirs is the heap in use of this process while they
 * ran (`process.memoryUsage().heapUsed`); an attempt with a pid of its own gets that process's RSS.
 *
 * @example
 * const peaks = new PeakMemory(500);
 * peaks.begin(42);
 * // … the attempt runs …
 * const bytes = peaks.end(42);
 */
export class PeakMemory {
  private readonly peaks = new Map<number, { pid: number | undefined; peak: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 500) {}

  /** Start following attempt `id` (of child process `pid`, else of this process's heap). */
  begin(id: number, pid?: number): void {
    this.peaks.set(id, { pid, peak: this.read(pid) ?? 0 });
    if (!this.timer) {
      this.timer = setInterval(() => this.sampleAll(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Stop following `id`; its peak in bytes (`undefined` when it was not followed). */
  end(id: number): number | undefined {
    const entry = this.peaks.get(id);
    if (!entry) return undefined;
    this.peaks.delete(id);
    const last = this.read(entry.pid);
    if (this.peaks.size === 0) this.stop();
    return Math.max(entry.peak, last ?? 0);
  }

  /** Attempts followed now. */
  get size(): number {
    return this.peaks.size;
  }

  /** Stop sampling and forget every attempt. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.peaks.size > 0) this.peaks.clear();
  }

  private sampleAll(): void {
    const heap = heapUsed();
    for (const e of this.peaks.values()) e.peak = Math.max(e.peak, e.pid === undefined ? heap : (readRssBytes(e.pid) ?? 0));
  }

  private read(pid: number | undefined): number | undefined {
    return pid === undefined ? heapUsed() : readRssBytes(pid);
  }
}

/**
 * The heap in use, as `process.memoryUsage().heapUsed` says it, without its cost: memoryUsage()
 * also reads the process's RSS from /proc (a file read per call), which, at an attempt's start
 * and end, was a fifth of a busy worker's CPU.
 */
function heapUsed(): number {
  return getHeapStatistics().used_heap_size;
}
