-- Control plane of the embedded store: which process is the scheduler (a lease, so a crashed
-- one is replaced), and an inbox through which other terminals ask it to trigger or cancel.
CREATE TABLE scheduler_lease (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  owner      TEXT    NOT NULL,
  host       TEXT    NOT NULL,
  pid        INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);

CREATE TABLE requests (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  type        TEXT    NOT NULL CHECK (type IN ('trigger', 'cancel')),
  pipeline    TEXT,
  run_id      INTEGER,
  params      TEXT    NOT NULL DEFAULT '{}',
  created_at  INTEGER NOT NULL,
  taken_at    INTEGER,
  resolved_at INTEGER,
  error       TEXT
);

CREATE INDEX requests_pending ON requests (id) WHERE taken_at IS NULL;
