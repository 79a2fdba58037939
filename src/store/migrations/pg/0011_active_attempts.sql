-- The dispatch table becomes the store's set of active attempts: a row for every attempt from the
-- batch that starts it until its resources are released (its end, or, for one whose function still
-- ran when it ended, the release that follows). What finds active attempts (a scheduler's start,
-- the reaper of expired leases) reads it, not an index of attempts on their state: with no index
-- naming `state`, `ended_at` or `released_at`, the worker's completion of an attempt is a HOT
-- update (one WAL record instead of six, no index entry) — a fifth of the store's work per task.
ALTER TABLE dispatch ALTER COLUMN queue DROP NOT NULL, ALTER COLUMN task_key DROP NOT NULL, ALTER COLUMN command DROP NOT NULL;

-- Work the scheduler gives one worker directly: it knows that worker has a free slot (or room in
-- its prefetch queue) and the memory, and the worker starts it as soon as the notification of the
-- commit comes, with no claim in between. `worker_started_at` names the worker's life: a worker
-- restarted under the same name never takes what its previous life was given. Work with no
-- worker (none had room when it was admitted) is claimed by any worker of its queue, which then
-- becomes its worker. A row without a queue is an attempt with no work for worker processes.
ALTER TABLE dispatch ADD COLUMN worker TEXT, ADD COLUMN worker_started_at BIGINT;

-- Active attempts without a row: claimed before (claims deleted theirs), or started without work.
INSERT INTO dispatch (attempt_id, created_at, worker)
  SELECT a.id, coalesce(a.started_at, a.queued_at, 0), a.worker_id FROM attempts a
  WHERE (a.state = 'running' OR a.released_at IS NULL) AND NOT EXISTS (SELECT 1 FROM dispatch d WHERE d.attempt_id = a.id);
UPDATE dispatch d SET worker = a.worker_id FROM attempts a WHERE a.id = d.attempt_id AND d.worker IS NULL AND a.worker_id IS NOT NULL;

DROP INDEX dispatch_queue;
CREATE INDEX dispatch_queue ON dispatch (queue, attempt_id) WHERE worker IS NULL;
CREATE INDEX dispatch_assigned ON dispatch (worker, attempt_id) WHERE worker IS NOT NULL;
DROP INDEX attempts_running;
DROP INDEX attempts_draining;

-- A worker that is stopping is given nothing more (it may still run what it has).
ALTER TABLE workers ADD COLUMN draining_at BIGINT;
