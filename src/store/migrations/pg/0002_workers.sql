-- Worker processes (`sluice worker`) and the work handed to them.

-- One row per worker name: who it is, what it serves, and when it last showed it lives.
CREATE TABLE workers (
  name         TEXT    PRIMARY KEY,
  host         TEXT    NOT NULL,
  pid          INTEGER NOT NULL,
  queues       TEXT[]  NOT NULL,
  slots        INTEGER NOT NULL CHECK (slots >= 1),
  memory_mb    INTEGER,
  fingerprint  TEXT    NOT NULL,
  started_at   BIGINT  NOT NULL,
  heartbeat_at BIGINT  NOT NULL,
  stopped_at   BIGINT
);

-- An attempt the scheduler started, waiting for (or taken by) a worker of its queue. Written in the
-- same transaction as the attempt; the command is everything the worker needs to run it.
CREATE TABLE dispatch (
  attempt_id BIGINT PRIMARY KEY REFERENCES attempts (id) ON DELETE CASCADE,
  queue      TEXT   NOT NULL,
  task_key   TEXT   NOT NULL,
  memory_mb  INTEGER,
  command    TEXT   NOT NULL,
  created_at BIGINT NOT NULL,
  claimed_by TEXT,
  claimed_at BIGINT
);

-- Workers claim the oldest unclaimed work of their queues: this index only holds unclaimed rows.
CREATE INDEX dispatch_unclaimed ON dispatch (queue, attempt_id) WHERE claimed_by IS NULL;
-- The reaper: running attempts whose lease ran out (a dead worker, or nobody claimed them).
CREATE INDEX attempts_running_lease ON attempts (lease_expires_at) WHERE state = 'running';
