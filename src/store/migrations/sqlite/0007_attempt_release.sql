-- An attempt that was cancelled or timed out while its function ignores its signal keeps its
-- resources (a database connection is still in use) until the function settles: released_at is
-- when they went back. NULL while running, and while an ended attempt's function still runs.
ALTER TABLE attempts ADD COLUMN released_at INTEGER;
UPDATE attempts SET released_at = ended_at WHERE state <> 'running';
CREATE INDEX attempts_draining ON attempts (id) WHERE released_at IS NULL AND state <> 'running';
