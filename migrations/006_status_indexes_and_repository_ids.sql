-- /health, /metrics and the status page count the jobs that are not done from
-- partial indexes: queued (jobs_ready) and running (jobs_leased) have theirs,
-- dead ones get this one. Finished jobs are kept, so these figures must never
-- read them (benchmarks/README.md, "Status queries at 10 million rows").
CREATE INDEX jobs_dead ON jobs (id) WHERE status = 'dead';

-- Tasks and PR records are found by repository name, which a rename or a
-- transfer changes: keep GitHub's repository id beside it, so the `repository`
-- event's handler can move every row of the repository to its new name.
ALTER TABLE tasks ADD COLUMN repository_id bigint;
ALTER TABLE pull_requests ADD COLUMN repository_id bigint;
-- Rows made before: the id of the repository that holds the name now, where
-- the repositories table knows it (one present there wins over one removed).
WITH named AS (
    SELECT DISTINCT ON (lower(full_name)) id, lower(full_name) AS name
    FROM repositories
    ORDER BY lower(full_name), removed_at IS NOT NULL, updated_at DESC
)
UPDATE tasks SET repository_id = named.id FROM named WHERE lower(tasks.repository) = named.name;
WITH named AS (
    SELECT DISTINCT ON (lower(full_name)) id, lower(full_name) AS name
    FROM repositories
    ORDER BY lower(full_name), removed_at IS NOT NULL, updated_at DESC
)
UPDATE pull_requests SET repository_id = named.id
FROM named WHERE lower(pull_requests.repository) = named.name;
CREATE INDEX tasks_repository_id ON tasks (repository_id);
CREATE INDEX pull_requests_repository_id ON pull_requests (repository_id);
