-- What a task wrote with ctx.log, kept with its attempt (`sluice logs`). Bounded per attempt by the
-- writer; deleted with the attempt (and so with its run, by retention).
CREATE TABLE attempt_logs (
  attempt_id BIGINT  NOT NULL REFERENCES attempts (id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  at         BIGINT  NOT NULL,
  level      TEXT    NOT NULL,
  msg        TEXT    NOT NULL,
  data       TEXT,
  PRIMARY KEY (attempt_id, seq)
);
