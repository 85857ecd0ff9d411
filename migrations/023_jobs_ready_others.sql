-- The worker claims delivery jobs and the others in two parts
-- (app/queue/store.py `claim`). The part for the others walked `jobs_ready`
-- past every queued delivery: after a burst of 100,000 deliveries each claim
-- read the whole backlog (13 ms a claim, a sequential scan, benchmarks/README.md).
-- This index holds only the queued jobs that are not deliveries, so that part
-- reads what it takes; a delivery's insert does not touch it (its row is
-- outside the predicate), so the intake pays nothing for it.
CREATE INDEX jobs_ready_others ON jobs (run_at, id) WHERE status = 'queued' AND kind <> 'delivery';
