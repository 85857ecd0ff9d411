-- Retention (app/retention) deletes finished jobs and old command ledger rows,
-- oldest first, in small batches. Without these, each batch of jobs read the
-- primary key past every recent job (a whole-table walk on the last batch of
-- each pass); finished jobs are nearly all of the table. Deliveries need none:
-- the BRIN index on received_at (migration 001) serves them, and the denials
-- table holds one row per person and issue.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('done', 'dead');
CREATE INDEX commands_created_at ON commands (created_at);
