"""The durable job queue on PostgreSQL: the `jobs` table (`store`), the worker
loop that claims, leases and retries jobs, and the errors a job raises to be
retried later or failed for good."""
