-- Retention (app/retention) deletes finished jobs and old command ledger rows,
-- oldest first, in small batches. Without these, each batch of jobs read the
-- primary key past every recent job (a whole-table walk on the last batch of
-- each pass); finished jobs are nearly all of the table. Deliveries get none
-- (an index on them would cost every delivery the intake stores): a batch's
-- scan stops once it has its rows, old ones first in arrival order, and the
-- last batch of a pass reads the heap once, a few hundred bytes a row (the
-- payloads are in TOAST, not read). command_denials holds a row per person and
-- issue: small.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('done', 'dead');
CREATE INDEX commands_created_at ON commands (created_at);
