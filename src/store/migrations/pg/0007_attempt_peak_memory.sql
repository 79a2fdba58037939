-- Peak memory of each attempt, bytes, as its worker measured it (RSS of its child process, heap of
-- its thread, or the growth of the worker's heap for inline attempts). NULL: not reported.
ALTER TABLE attempts ADD COLUMN peak_memory_bytes BIGINT;
