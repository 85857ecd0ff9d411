-- The dashboard (app/dashboard): which repositories each signed-in person may
-- write to, as GitHub said at their sign-in, and the indexes its task list and
-- KPI series read through.

CREATE TABLE dashboard_access (
    login        text PRIMARY KEY,               -- lower-case GitHub login
    repositories text[] NOT NULL DEFAULT '{}',   -- lower-case owner/name with write or more
    refreshed_at timestamptz NOT NULL DEFAULT now()
);

-- The task list is newest first, a page at a time from the last id seen (keyset),
-- each filter through an index that is already in that order.
CREATE INDEX tasks_status_id ON tasks (status, id DESC);
CREATE INDEX tasks_repository_id_desc ON tasks (lower(repository), id DESC);
CREATE INDEX tasks_requester_id ON tasks (lower(triggered_by), id DESC);
CREATE INDEX tasks_created_at ON tasks (created_at);
-- Per-day KPI series: PRs opened, runs started, validations completed by day.
CREATE INDEX tasks_pr_opened_at ON tasks (pr_opened_at) WHERE pr_opened_at IS NOT NULL;
CREATE INDEX tasks_finished_at ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX codegen_requests_run_created_at ON codegen_requests (run_created_at)
    WHERE run_created_at IS NOT NULL;
CREATE INDEX validations_completed_at ON validations (completed_at)
    WHERE completed_at IS NOT NULL;
