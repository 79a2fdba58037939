-- The pipeline definitions (the resolved config without its functions) and their fingerprint,
-- written by the scheduler when it starts: commands given only --db read them.
CREATE TABLE definitions (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  fingerprint TEXT    NOT NULL,
  saved_at    INTEGER NOT NULL,
  config      TEXT    NOT NULL
);
