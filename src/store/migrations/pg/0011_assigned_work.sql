-- Work the scheduler gives one worker directly: it knows that worker has a free slot (or room in
-- its prefetch queue) and the memory, and the worker starts it as soon as the notification of the
-- commit comes, with no claim in between. `worker_started_at` names the worker's life: a worker
-- restarted under the same name never takes what its previous life was given. Work with no
-- worker (none had room when it was admitted) is claimed by any worker of its queue, as before.
ALTER TABLE dispatch ADD COLUMN worker TEXT, ADD COLUMN worker_started_at BIGINT;
DROP INDEX dispatch_queue;
CREATE INDEX dispatch_queue ON dispatch (queue, attempt_id) WHERE worker IS NULL;
CREATE INDEX dispatch_assigned ON dispatch (worker, attempt_id) WHERE worker IS NOT NULL;
-- A worker that is stopping is given nothing more (it may still run what it has).
ALTER TABLE workers ADD COLUMN draining_at BIGINT;
