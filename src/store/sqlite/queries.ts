/**
 * The read side of the store: single records, filtered lists, the event log. A list's SQL depends
 * on which filters are given; each shape is prepared once and cached, so that every shape keeps a
 * plain `col = ?` predicate the planner can serve from an index (an `(? IS NULL OR col = ?)`
 * catch-all would not).
 */
import type Database from "better-sqlite3";
import type { AttemptQuery, AttemptRecord, EventQuery, EventRecord, RunQuery, RunRecord, ScheduleStateRecord, TaskInstanceRecord } from "../types.js";
import type { SqliteDatabase } from "./connection.js";
import {
  ATTEMPT_COLUMNS, EVENT_COLUMNS, RUN_COLUMNS, TASK_COLUMNS,
  toAttemptRecords, toEventRecord, toRunRecord, toTaskRecord,
  type AttemptRow, type EventRow, type ResourceRow, type RunRow, type TaskRow,
} from "../rows.js";

/** Default page sizes, as documented on the query types. */
export const queryDefaults = {
  /** @defaultValue 50 */
  runs: 50,
  /** @defaultValue 100 */
  attempts: 100,
  /** @defaultValue 1000 */
  events: 1000,
} satisfies Record<string, number>;

type Params = Record<string, string | number>;

/** The read operations of one connection. */
export interface QueryOperations {
  getRun(id: number): RunRecord | undefined;
  listRuns(query: RunQuery): RunRecord[];
  listTasks(runId: number): TaskInstanceRecord[];
  getAttempt(id: number): AttemptRecord | undefined;
  listAttempts(query: AttemptQuery): AttemptRecord[];
  listEvents(query: EventQuery): EventRecord[];
  listSchedules(): ScheduleStateRecord[];
}

const limitOf = (limit: number | undefined, fallback: number): number =>
  limit === undefined ? fallback : Math.max(0, Math.floor(limit));

/** The WHERE terms of a list query and their parameters; a filter whose value is undefined is left out. */
class Filters {
  readonly terms: string[] = [];
  readonly params: Params;

  constructor(limit: number) {
    this.params = { limit };
  }

  add(term: string, name: string, value: string | number | undefined): this {
    if (value !== undefined) {
      this.terms.push(term);
      this.params[name] = value;
    }
    return this;
  }
}

/** A JSON array for `IN (SELECT value FROM json_each(?))`; an empty list means "no filter", like leaving it out. */
const listParam = (list: readonly string[] | undefined): string | undefined =>
  list === undefined || list.length === 0 ? undefined : JSON.stringify(list);

/** Prepares the read statements on `db`. */
export function prepareQueries(db: SqliteDatabase): QueryOperations {
  const cache = new Map<string, Database.Statement<[Params], unknown>>();
  /** `SELECT columns FROM table [WHERE …] ORDER BY … LIMIT @limit`, prepared once per shape. */
  const select = <Row>(table: string, columns: string, filters: Filters, order: string): Row[] => {
    const where = filters.terms.length > 0 ? ` WHERE ${filters.terms.join(" AND ")}` : "";
    const sql = `SELECT ${columns} FROM ${table}${where} ORDER BY ${order} LIMIT @limit`;
    let stmt = cache.get(sql);
    if (stmt === undefined) cache.set(sql, (stmt = db.prepare<[Params], unknown>(sql)));
    return stmt.all(filters.params) as Row[];
  };

  const getRun = db.prepare<[number], RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`);
  const listTasks = db.prepare<[number], TaskRow>(`SELECT ${TASK_COLUMNS} FROM task_instances WHERE run_id = ? ORDER BY task`);
  const getAttempt = db.prepare<[number], AttemptRow>(`SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE id = ?`);
  const resources = db.prepare<[string], ResourceRow>(`SELECT attempt_id AS attemptId, key, amount
      FROM attempt_resources WHERE attempt_id IN (SELECT value FROM json_each(?)) ORDER BY attempt_id, key`);
  const schedules = db.prepare<[], ScheduleStateRecord>(`SELECT pipeline, last_scheduled_for AS lastScheduledFor, skipped, paused_at AS pausedAt, backfill_max_active AS backfillMaxActive
      FROM schedule_state ORDER BY pipeline`);

  const resourcesOf = (ids: readonly number[]): ResourceRow[] => (ids.length === 0 ? [] : resources.all(JSON.stringify(ids)));
  const withResources = (rows: AttemptRow[]): AttemptRecord[] => toAttemptRecords(rows, resourcesOf(rows.map((r) => r.id)));

  return {
    getRun(id) {
      const row = getRun.get(id);
      return row === undefined ? undefined : toRunRecord(row);
    },
    listRuns({ pipeline, states, limit }) {
      const filters = new Filters(limitOf(limit, queryDefaults.runs))
        .add("pipeline = @pipeline", "pipeline", pipeline)
        .add("state IN (SELECT value FROM json_each(@states))", "states", listParam(states));
      return select<RunRow>("runs", RUN_COLUMNS, filters, "id DESC").map(toRunRecord);
    },
    listTasks: (runId) => listTasks.all(runId).map(toTaskRecord),
    getAttempt(id) {
      const row = getAttempt.get(id);
      return row === undefined ? undefined : withResources([row])[0];
    },
    listAttempts({ runId, pipeline, task, since, limit }) {
      const filters = new Filters(limitOf(limit, queryDefaults.attempts))
        .add("run_id = @runId", "runId", runId)
        .add("pipeline = @pipeline", "pipeline", pipeline)
        .add("task = @task", "task", task)
        .add("(ended_at IS NULL OR ended_at >= @since)", "since", since);
      return withResources(select<AttemptRow>("attempts", ATTEMPT_COLUMNS, filters, "id DESC"));
    },
    listEvents({ afterId, runId, pipeline, types, newestFirst, limit }) {
      const filters = new Filters(limitOf(limit, queryDefaults.events))
        .add("id > @afterId", "afterId", afterId)
        .add("run_id = @runId", "runId", runId)
        .add("pipeline = @pipeline", "pipeline", pipeline);
      // One type reads events_type_id in id order; an IN list has to sort what it matches.
      if (types?.length === 1) filters.add("type = @type", "type", types[0]);
      else filters.add("type IN (SELECT value FROM json_each(@types))", "types", listParam(types));
      return select<EventRow>("events", EVENT_COLUMNS, filters, newestFirst ? "id DESC" : "id").map(toEventRecord);
    },
    listSchedules: () => schedules.all(),
  };
}
