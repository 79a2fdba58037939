-- Attempts a worker takes ahead of its free slots (`sluice worker --prefetch`): they wait in its
-- local queue, holding what admission gave them, and start the moment a slot frees. Admission
-- counts them with the slots of the worker's queues.
ALTER TABLE workers ADD COLUMN prefetch INTEGER NOT NULL DEFAULT 0 CHECK (prefetch >= 0);
