-- Pull requests the bot validates, each validation of a head commit, the
-- follow-up instructions sent to an agent run, and slash commands acted on.

ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('queued', 'generating_prompt', 'running', 'pr_open', 'validating', 'passed',
                      'changes_requested', 'merged', 'closed', 'failed', 'cancelled', 'needs_info',
                      'timed_out'));
ALTER TABLE tasks
    ADD COLUMN next_strategy text,           -- asked for by `/codegen retry <strategy>`
    ADD COLUMN auto_merge    boolean,        -- NULL: the repository's config decides
    ADD COLUMN pr_opened_at  timestamptz,
    ADD COLUMN merged_at     timestamptz;

CREATE TABLE pull_requests (
    id               bigserial PRIMARY KEY,
    installation_id  bigint NOT NULL,
    repository       text NOT NULL,              -- owner/name
    number           integer NOT NULL,
    task_id          bigint REFERENCES tasks (id) ON DELETE SET NULL,
    head_sha         text NOT NULL,
    head_ref         text,
    state            text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'merged')),
    ci_fix_attempts  integer NOT NULL DEFAULT 0,
    ci_fix_outcome   text CHECK (ci_fix_outcome IN ('passed', 'exhausted')),
    commented        text[] NOT NULL DEFAULT '{}', -- fingerprints of findings already commented
    opened_at        timestamptz NOT NULL DEFAULT now(),
    merged_at        timestamptz,
    closed_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pull_requests_number ON pull_requests (lower(repository), number);
CREATE INDEX pull_requests_task ON pull_requests (task_id);
CREATE INDEX pull_requests_head ON pull_requests (lower(repository), head_sha);

CREATE TABLE validations (
    id               bigserial PRIMARY KEY,
    pull_request_id  bigint NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    head_sha         text NOT NULL,
    generation       integer NOT NULL DEFAULT 1, -- re-runs of the same commit
    trigger          text NOT NULL,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'in_progress', 'waiting_ci', 'completed',
                                       'superseded')),
    check_run_id     bigint,
    check_run_url    text,
    conclusion       text,
    title            text,
    summary          text,
    analysis         jsonb,
    findings         jsonb,
    ci               jsonb,
    annotations_sent integer NOT NULL DEFAULT 0,
    review_id        bigint,
    ci_deadline_at   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    completed_at     timestamptz,
    UNIQUE (pull_request_id, head_sha, generation)
);
CREATE INDEX validations_open ON validations (pull_request_id)
    WHERE status IN ('queued', 'in_progress', 'waiting_ci');

CREATE TABLE agent_followups (
    id               bigserial PRIMARY KEY,
    task_id          bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    pull_request_id  bigint REFERENCES pull_requests (id) ON DELETE SET NULL,
    kind             text NOT NULL CHECK (kind IN ('fix', 'ci_fix', 'findings')),
    key              text NOT NULL UNIQUE,       -- what asked for it: a comment, a click, a commit
    agent_run_id     bigint NOT NULL,
    instructions     text NOT NULL,
    requested_by     text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'running', 'complete', 'failed')),
    error            text,
    polls            integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    finished_at      timestamptz
);
CREATE INDEX agent_followups_task ON agent_followups (task_id);

CREATE TABLE commands (
    id           bigserial PRIMARY KEY,
    key          text NOT NULL UNIQUE,           -- comment kind, comment id, line index
    repository   text NOT NULL,
    number       integer NOT NULL,
    verb         text NOT NULL,
    args         text NOT NULL DEFAULT '',
    actor        text NOT NULL,
    delivery_id  text,
    status       text NOT NULL DEFAULT 'received'
                 CHECK (status IN ('received', 'done', 'failed', 'denied')),
    reply        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
