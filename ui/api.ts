/**
 * The dashboard's view of the HTTP API (src/server/server.ts): fetch helpers, the live stream, and
 * the shapes it answers with (the store's own record types, imported as types only).
 */
import { useEffect, useState } from "preact/hooks";
import type { AdaptiveInfo, Demand, Holder, ResourceKind, ResourceUsage, WaitReason } from "../src/core/admission/types.js";
import type { AttemptRecord, EventRecord, RunRecord, TaskInstanceRecord } from "../src/core/records.js";
import type { TaskExplanation } from "../src/core/engine/types.js";
import type { PipelineStatus, SkippedTick } from "../src/store/status.js";
import type { PoolHistory } from "../src/server/samplers.js";

export type { AdaptiveInfo, AttemptRecord, Demand, EventRecord, Holder, PoolHistory, ResourceKind, ResourceUsage, RunRecord, SkippedTick, TaskExplanation, WaitReason };

export interface TaskDef {
  id: string;
  dependsOn: string[];
  pools: Record<string, number>;
  queue: string;
  priority: number;
  memoryMb: number | null;
  description: string | null;
}

export interface Pipeline extends PipelineStatus {
  id: string;
  description: string | null;
  overlap: string;
  maxActiveRuns: number;
  tasks: TaskDef[];
}

export interface Overview {
  now: number;
  store: string;
  running: number;
  waiting: number;
  active: RunRecord[];
  pipelines: Pipeline[];
  runs: RunRecord[];
  pools: ResourceUsage[];
}

/** An attempt as the API gives it: with the cause it was seen waiting for, and its peak memory once recorded. */
export type Attempt = AttemptRecord & { waitedFor: { kind: string; name: string } | null; peakMemoryBytes?: number | null };

export interface RunTask extends TaskInstanceRecord {
  dependsOn: string[];
  reasons: WaitReason[];
  holding: Demand[];
  priority: number | null;
  sla: { dueAt: number; missed: boolean; willMiss: boolean } | null;
}

export interface RunDetail {
  run: RunRecord;
  tasks: RunTask[];
  attempts: Attempt[];
}

export interface Worker {
  name: string;
  host: string;
  pid: number;
  queues: string[];
  slots: number;
  used?: number;
  memoryMb: number | null;
  live: boolean;
  heartbeatAt?: number;
  startedAt?: number;
}

export interface LogLine {
  attemptId: number;
  seq: number;
  at: number;
  level: string;
  msg: string;
  data: unknown;
}

/** An API error, with the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({ error: res.statusText }))) as T & { error?: string };
  if (!res.ok) throw new ApiError(res.status, body.error ?? res.statusText);
  return body;
}

export const getJson = <T>(path: string): Promise<T> => fetch(path, { headers: { accept: "application/json" } }).then((r) => answer<T>(r));

export const postJson = <T>(path: string, body: unknown = {}): Promise<T> =>
  fetch(path, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(body) }).then((r) => answer<T>(r));

/** `path`'s answer, fetched again whenever `tick` changes (the live stream moves it). */
export function useApi<T>(path: string | null, tick: number): { data: T | undefined; error: string | undefined } {
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined; path: string | null }>({ data: undefined, error: undefined, path });
  useEffect(() => {
    if (path === null) return;
    let live = true;
    getJson<T>(path).then(
      (data) => live && setState({ data, error: undefined, path }),
      (err: Error) => live && setState((s) => ({ data: s.path === path ? s.data : undefined, error: err.message, path })),
    );
    return () => {
      live = false;
    };
  }, [path, tick]);
  return state.path === path ? state : { data: undefined, error: undefined };
}

/**
 * The live stream (`/api/stream`): a counter that moves at most every 300 ms when something happened
 * (an event, or a change in what runs and waits), and whether the stream is connected.
 */
export function useLive(): { tick: number; connected: boolean } {
  const [tick, setTick] = useState(0);
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const source = new EventSource("/api/stream");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bump = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        setTick((t) => t + 1);
      }, 300);
    };
    source.addEventListener("event", bump);
    source.addEventListener("state", bump);
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    return () => {
      source.close();
      if (timer) clearTimeout(timer);
    };
  }, []);
  return { tick, connected };
}
