-- Sluice PostgreSQL store, schema 1: the same records as the embedded store's migrations 1–7.
-- Runs inside the store's own schema (search_path is set per connection). Times are BIGINT epoch
-- milliseconds; JSON values are TEXT written by JSON.stringify (NULL = no value), so a value reads
-- back exactly as it was written, key order included.

CREATE TABLE runs (
  id            BIGINT  PRIMARY KEY,
  pipeline      TEXT    NOT NULL,
  scheduled_for BIGINT  NOT NULL,
  trigger       TEXT    NOT NULL CHECK (trigger IN ('schedule', 'catchup', 'manual')),
  params        TEXT    NOT NULL DEFAULT '{}',
  state         TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'success', 'failed', 'cancelled')),
  created_at    BIGINT  NOT NULL,
  started_at    BIGINT,
  ended_at      BIGINT
);

-- One schedule tick can never produce two runs, whoever writes it.
CREATE UNIQUE INDEX runs_schedule_tick ON runs (pipeline, scheduled_for) WHERE trigger IN ('schedule', 'catchup');
CREATE INDEX runs_pipeline_id ON runs (pipeline, id);
-- loadActiveState and retention read only these partial indexes, however long the history.
CREATE INDEX runs_active ON runs (id) WHERE state IN ('queued', 'running');
CREATE INDEX runs_finished_ended ON runs (ended_at, id) WHERE state IN ('success', 'failed', 'cancelled');

CREATE TABLE task_instances (
  run_id        BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  task          TEXT    NOT NULL,
  state         TEXT    NOT NULL CHECK (state IN ('pending', 'ready', 'running', 'retry_wait', 'success',
                                                  'failed', 'upstream_failed', 'cancelled')),
  attempts      INTEGER NOT NULL DEFAULT 0,
  lost_attempts INTEGER NOT NULL DEFAULT 0,
  ready_at      BIGINT,
  output        TEXT,
  PRIMARY KEY (run_id, task)
);

CREATE TABLE attempts (
  id               BIGINT  PRIMARY KEY,
  run_id           BIGINT  NOT NULL,
  pipeline         TEXT    NOT NULL,
  task             TEXT    NOT NULL,
  attempt          INTEGER NOT NULL CHECK (attempt >= 1),
  state            TEXT    NOT NULL CHECK (state IN ('running', 'success', 'failed', 'timed_out', 'lost', 'cancelled')),
  fencing_token    BIGINT  NOT NULL,
  worker_id        TEXT,
  queued_at        BIGINT  NOT NULL,
  started_at       BIGINT  NOT NULL,
  ended_at         BIGINT,
  lease_expires_at BIGINT,
  error            TEXT,
  progress         TEXT,
  -- When an ended attempt's resources went back (NULL while running, and while a cancelled or
  -- timed-out function that ignores its signal still runs).
  released_at      BIGINT,
  FOREIGN KEY (run_id, task) REFERENCES task_instances (run_id, task) ON DELETE CASCADE
);

CREATE UNIQUE INDEX attempts_fencing_token ON attempts (fencing_token);
CREATE INDEX attempts_run_task ON attempts (run_id, task);
CREATE INDEX attempts_pipeline_id ON attempts (pipeline, id);
CREATE INDEX attempts_pipeline_task_id ON attempts (pipeline, task, id);
CREATE INDEX attempts_running ON attempts (id) WHERE state = 'running';
CREATE INDEX attempts_draining ON attempts (id) WHERE released_at IS NULL AND state <> 'running';

CREATE TABLE attempt_resources (
  attempt_id BIGINT           NOT NULL REFERENCES attempts (id) ON DELETE CASCADE,
  key        TEXT             NOT NULL,
  amount     DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (attempt_id, key)
);

CREATE TABLE schedule_state (
  pipeline           TEXT   PRIMARY KEY,
  last_scheduled_for BIGINT,
  skipped            BIGINT NOT NULL DEFAULT 0
);

-- Append-only; no foreign keys, so the log outlives any pruning of runs. Ids are never reused
-- (readers page with afterId).
CREATE TABLE events (
  id         BIGSERIAL PRIMARY KEY,
  at         BIGINT    NOT NULL,
  type       TEXT      NOT NULL,
  level      TEXT      NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
  pipeline   TEXT,
  run_id     BIGINT,
  task       TEXT,
  attempt_id BIGINT,
  message    TEXT      NOT NULL,
  data       TEXT      NOT NULL DEFAULT '{}'
);

CREATE INDEX events_run_id ON events (run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX events_type_id ON events (type, id);
CREATE INDEX events_at ON events (at, id);

CREATE TABLE scheduler_lease (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  owner      TEXT    NOT NULL,
  host       TEXT    NOT NULL,
  pid        INTEGER NOT NULL,
  expires_at BIGINT  NOT NULL
);

CREATE TABLE requests (
  id          BIGSERIAL PRIMARY KEY,
  type        TEXT      NOT NULL CHECK (type IN ('trigger', 'cancel')),
  pipeline    TEXT,
  run_id      BIGINT,
  params      TEXT      NOT NULL DEFAULT '{}',
  created_at  BIGINT    NOT NULL,
  taken_at    BIGINT,
  taken_by    TEXT,
  resolved_at BIGINT,
  error       TEXT
);

CREATE INDEX requests_pending ON requests (id) WHERE taken_at IS NULL AND resolved_at IS NULL;

-- The highest run id, attempt id and fencing token ever handed out, kept when their rows are pruned.
CREATE TABLE id_floor (
  name  TEXT   PRIMARY KEY CHECK (name IN ('run', 'attempt', 'fencing_token')),
  value BIGINT NOT NULL
);

-- The scheduler's pipeline definitions (the resolved config without its functions).
CREATE TABLE definitions (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  fingerprint TEXT    NOT NULL,
  saved_at    BIGINT  NOT NULL,
  config      TEXT    NOT NULL
);
