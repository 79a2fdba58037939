-- Retention: finished runs older than the configured retention are deleted in small batches.
-- Finding them must not scan history, and ids must never be reused once the newest are gone.
CREATE INDEX runs_finished_ended ON runs (ended_at, id) WHERE state IN ('success', 'failed', 'cancelled');
CREATE INDEX events_at ON events (at, id);

-- The highest run id, attempt id and fencing token ever handed out, kept when their rows are
-- pruned (loadActiveState takes the larger of these and the live maxima).
CREATE TABLE id_floor (
  name  TEXT PRIMARY KEY CHECK (name IN ('run', 'attempt', 'fencing_token')),
  value INTEGER NOT NULL
) WITHOUT ROWID;
