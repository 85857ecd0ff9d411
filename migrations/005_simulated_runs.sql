-- Runs of the simulated Codegen (no CODEGEN_API_KEY, or CODEGEN_ENABLE_MOCK_MODE):
-- kept here rather than in one process's memory, so they survive a restart and
-- any worker process can poll them.

CREATE TABLE simulated_runs (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL DEFAULT 0,
    prompt      text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,  -- as given to create_run
    repo_id     bigint,
    polls       integer NOT NULL DEFAULT 0,          -- get_run calls since creation or resume
    prompts     text[] NOT NULL DEFAULT '{}',        -- follow-ups sent with resume_run
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Until now a simulated run reported https://github.com/<repository>/pull/<run id>:
-- a real pull request of the repository (ids start at 1). Undo what that linked,
-- so nothing validates, fixes or merges those pull requests for a simulated task.
UPDATE validations SET status = 'superseded'
 WHERE status IN ('queued', 'in_progress', 'waiting_ci')
   AND pull_request_id IN (SELECT p.id FROM pull_requests p
                           JOIN tasks t ON t.id = p.task_id WHERE t.simulated);
UPDATE pull_requests SET task_id = NULL, updated_at = now()
 WHERE task_id IN (SELECT id FROM tasks WHERE simulated);
UPDATE codegen_requests SET pull_requests = '[]'::jsonb
 WHERE pull_requests <> '[]'::jsonb AND task_id IN (SELECT id FROM tasks WHERE simulated);
UPDATE tasks
   SET pull_requests = '[]'::jsonb,
       status = CASE WHEN status IN ('pr_open', 'validating', 'passed', 'changes_requested')
                     THEN 'cancelled' ELSE status END,
       status_detail = CASE WHEN status IN ('pr_open', 'validating', 'passed', 'changes_requested')
                            THEN 'simulated run: no pull request was opened'
                            ELSE status_detail END,
       finished_at = coalesce(finished_at, now()),
       updated_at = now()
 WHERE simulated AND pull_requests <> '[]'::jsonb;
