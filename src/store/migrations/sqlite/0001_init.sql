-- Sluice embedded store, schema 1.
-- Times are INTEGER epoch milliseconds; JSON values are TEXT (NULL = no value).
-- Ids of runs and attempts are handed out by the scheduler (see Store.loadActiveState), so they
-- are plain INTEGER PRIMARY KEYs; event ids are assigned here and never reused (AUTOINCREMENT),
-- because readers page through the log with `afterId`.

CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  pipeline      TEXT    NOT NULL,
  scheduled_for INTEGER NOT NULL,
  trigger       TEXT    NOT NULL CHECK (trigger IN ('schedule', 'catchup', 'manual')),
  params        TEXT    NOT NULL DEFAULT '{}',
  state         TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'success', 'failed', 'cancelled')),
  created_at    INTEGER NOT NULL,
  started_at    INTEGER,
  ended_at      INTEGER
);

-- Restart safety: one schedule tick can never produce two runs, whoever writes it.
-- Manual runs may share a time.
CREATE UNIQUE INDEX runs_schedule_tick ON runs (pipeline, scheduled_for)
  WHERE trigger IN ('schedule', 'catchup');

-- listRuns({ pipeline }) newest first.
CREATE INDEX runs_pipeline_id ON runs (pipeline, id);

-- loadActiveState: only the few active runs, however long the history.
CREATE INDEX runs_active ON runs (id) WHERE state IN ('queued', 'running');

CREATE TABLE task_instances (
  run_id   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  task     TEXT    NOT NULL,
  state    TEXT    NOT NULL CHECK (state IN ('pending', 'ready', 'running', 'retry_wait', 'success',
                                             'failed', 'upstream_failed', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  ready_at INTEGER,
  output   TEXT,
  PRIMARY KEY (run_id, task)
) WITHOUT ROWID;

CREATE TABLE attempts (
  id               INTEGER PRIMARY KEY,
  run_id           INTEGER NOT NULL,
  pipeline         TEXT    NOT NULL,
  task             TEXT    NOT NULL,
  attempt          INTEGER NOT NULL CHECK (attempt >= 1),
  state            TEXT    NOT NULL CHECK (state IN ('running', 'success', 'failed', 'timed_out', 'lost', 'cancelled')),
  fencing_token    INTEGER NOT NULL,
  worker_id        TEXT,
  queued_at        INTEGER NOT NULL,
  started_at       INTEGER NOT NULL,
  ended_at         INTEGER,
  lease_expires_at INTEGER,
  error            TEXT,
  progress         TEXT,
  FOREIGN KEY (run_id, task) REFERENCES task_instances (run_id, task) ON DELETE CASCADE
);

-- Every attempt ever created gets a larger token, so tokens are unique; the index also makes
-- max(fencing_token) in loadActiveState a single seek instead of a scan of the whole history.
CREATE UNIQUE INDEX attempts_fencing_token ON attempts (fencing_token);

-- listAttempts({ runId }) and the foreign key to task_instances.
CREATE INDEX attempts_run_task ON attempts (run_id, task);
-- listAttempts({ pipeline }) / ({ pipeline, task }) newest first.
CREATE INDEX attempts_pipeline_id ON attempts (pipeline, id);
CREATE INDEX attempts_pipeline_task_id ON attempts (pipeline, task, id);
-- loadActiveState: running attempts only.
CREATE INDEX attempts_running ON attempts (id) WHERE state = 'running';

-- What an attempt holds (while running) or held (after it ended).
CREATE TABLE attempt_resources (
  attempt_id INTEGER NOT NULL REFERENCES attempts (id) ON DELETE CASCADE,
  key        TEXT    NOT NULL,
  amount     REAL    NOT NULL,
  PRIMARY KEY (attempt_id, key)
) WITHOUT ROWID;

CREATE TABLE schedule_state (
  pipeline           TEXT    PRIMARY KEY,
  last_scheduled_for INTEGER,
  skipped            INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Append-only; no foreign keys, so the log outlives any pruning of runs.
CREATE TABLE events (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         INTEGER NOT NULL,
  type       TEXT    NOT NULL,
  level      TEXT    NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
  pipeline   TEXT,
  run_id     INTEGER,
  task       TEXT,
  attempt_id INTEGER,
  message    TEXT    NOT NULL,
  data       TEXT    NOT NULL DEFAULT '{}'
);

-- listEvents({ runId }) and ({ types }) oldest first.
CREATE INDEX events_run_id ON events (run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX events_type_id ON events (type, id);
