-- Operators' settings of a pipeline: paused (`sluice pause`), and how many backfill runs may run
-- at once (`sluice backfill --max-active`); the inbox carries pause, resume, backfill, retry and mark requests.
ALTER TABLE schedule_state ADD COLUMN paused_at BIGINT;
ALTER TABLE schedule_state ADD COLUMN backfill_max_active INTEGER;

ALTER TABLE requests DROP CONSTRAINT requests_type_check;
ALTER TABLE requests ADD CONSTRAINT requests_type_check CHECK (type IN ('trigger', 'cancel', 'pause', 'resume', 'backfill', 'retry', 'mark'));
