-- Tasks made from labeled issues, each prompt / agent run made for them, and
-- the record of each task-to-PR workflow.

CREATE TABLE tasks (
    id                   bigserial PRIMARY KEY,
    installation_id      bigint NOT NULL,
    repository           text NOT NULL,              -- owner/name
    issue_number         integer NOT NULL,
    issue_url            text NOT NULL,
    issue_author         text NOT NULL,
    title                text NOT NULL,
    description          text NOT NULL DEFAULT '',
    requirements         text[] NOT NULL DEFAULT '{}',
    acceptance_criteria  text[] NOT NULL DEFAULT '{}',
    priority             text NOT NULL DEFAULT 'medium',
    estimated_complexity text NOT NULL DEFAULT 'medium',
    status               text NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'generating_prompt', 'running', 'pr_open',
                                           'validating', 'passed', 'changes_requested', 'merged',
                                           'failed', 'cancelled', 'needs_info', 'timed_out')),
    status_detail        text,                       -- the reason behind a final or waiting status
    triggered_by         text NOT NULL,
    trigger_delivery_id  text,
    tracking_comment_id  bigint,
    attempt              integer NOT NULL DEFAULT 0, -- agent runs made so far
    max_retries          integer NOT NULL DEFAULT 2,
    simulated            boolean NOT NULL DEFAULT false,
    pull_requests        jsonb NOT NULL DEFAULT '[]'::jsonb,
    notes                text[] NOT NULL DEFAULT '{}', -- extra lines for the tracking comment
    deadline_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz
);
-- One active task per issue.
CREATE UNIQUE INDEX tasks_one_active_per_issue ON tasks (lower(repository), issue_number)
    WHERE status IN ('queued', 'generating_prompt', 'running', 'needs_info');
CREATE INDEX tasks_issue ON tasks (lower(repository), issue_number);

CREATE TABLE codegen_requests (
    id            bigserial PRIMARY KEY,
    task_id       bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    strategy      text,                              -- NULL for the first attempt
    style         text NOT NULL,
    prompt        text NOT NULL,
    context       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status        text NOT NULL DEFAULT 'prepared'
                  CHECK (status IN ('prepared', 'creating', 'running', 'complete', 'failed',
                                    'cancelled', 'timed_out')),
    agent_run_id  bigint,
    web_url       text,
    pull_requests jsonb NOT NULL DEFAULT '[]'::jsonb,
    summary       text,
    error         text,
    polls         integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    run_created_at timestamptz,
    finished_at   timestamptz,
    UNIQUE (task_id, attempt)
);

CREATE TABLE workflow_executions (
    id            bigserial PRIMARY KEY,
    task_id       bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    workflow_type text NOT NULL DEFAULT 'task_to_pr',
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'timed_out')),
    steps         jsonb NOT NULL DEFAULT '[]'::jsonb, -- [{name, status, started_at, finished_at, detail}]
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    error         text,
    UNIQUE (task_id, workflow_type)
);
