-- /health, /metrics and the status page count the jobs that are not done from
-- partial indexes: queued (jobs_ready) and running (jobs_leased) have theirs,
-- dead ones get this one. Finished jobs are kept, so these figures must never
-- read them (benchmarks/README.md, "Status queries at 10 million rows").
CREATE INDEX jobs_dead ON jobs (id) WHERE status = 'dead';
