-- Attempts lost to infrastructure (a crash, a shutdown) are retried from their own budget
-- (`lostRetries`), not from the task's `retries`: the engine needs the count after a restart.
ALTER TABLE task_instances ADD COLUMN lost_attempts INTEGER NOT NULL DEFAULT 0;
