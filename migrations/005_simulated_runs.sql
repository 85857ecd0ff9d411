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
