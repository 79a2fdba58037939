-- The tasks a worker does not run because its code defines them differently from the scheduler's
-- recorded definitions: the scheduler does not start them while every live worker of their queue
-- is such a worker.
ALTER TABLE workers ADD COLUMN avoid TEXT[] NOT NULL DEFAULT '{}';
