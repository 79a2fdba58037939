-- Operators' settings of a pipeline: paused (`sluice pause`), and how many backfill runs may run
-- at once (`sluice backfill --max-active`).
ALTER TABLE schedule_state ADD COLUMN paused_at INTEGER;
ALTER TABLE schedule_state ADD COLUMN backfill_max_active INTEGER;

-- The inbox carries pause, resume, backfill, retry and mark requests too. SQLite cannot change a CHECK in
-- place: the table is rebuilt (it holds only recent requests; retention prunes it).
CREATE TABLE requests_new (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  type        TEXT    NOT NULL CHECK (type IN ('trigger', 'cancel', 'pause', 'resume', 'backfill', 'retry', 'mark')),
  pipeline    TEXT,
  run_id      INTEGER,
  params      TEXT    NOT NULL DEFAULT '{}',
  created_at  INTEGER NOT NULL,
  taken_at    INTEGER,
  resolved_at INTEGER,
  error       TEXT,
  taken_by    TEXT
);
INSERT INTO requests_new (id, type, pipeline, run_id, params, created_at, taken_at, resolved_at, error, taken_by)
  SELECT id, type, pipeline, run_id, params, created_at, taken_at, resolved_at, error, taken_by FROM requests;
-- Ids keep growing past any pruned ones.
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'requests')) WHERE name = 'requests_new';
DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;
CREATE INDEX requests_pending ON requests (id) WHERE taken_at IS NULL AND resolved_at IS NULL;
