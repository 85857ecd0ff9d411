-- Budgets (app/budgets): every agent run a task asks to start is recorded here
-- before it is created, in a transaction serialised per installation, so the
-- runs started today and those in flight are counted by every process alike.
-- A request over budget waits here (state `waiting`) in arrival order until a
-- run ends or the UTC day rolls over.
CREATE TABLE budget_admissions (
    id                bigserial PRIMARY KEY,
    task_id           bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt           integer NOT NULL,
    installation_id   bigint NOT NULL,
    state             text NOT NULL DEFAULT 'waiting'
                      CHECK (state IN ('waiting', 'admitted', 'done', 'void', 'withdrawn')),
    -- The repository's limits as read when the task asked (0: none of its own),
    -- and its workflow timeout, which counts again from the admission.
    repo_runs_per_day integer NOT NULL,
    repo_concurrent   integer NOT NULL,
    timeout_ms        bigint NOT NULL,
    blocked_by        text,                   -- the limit it waits for (app/budgets/decide.py)
    queued_at         timestamptz NOT NULL,
    admitted_at       timestamptz,
    ended_at          timestamptz,
    UNIQUE (task_id, attempt)
);
-- The admission's counts: what is waiting or in flight, and what started since
-- the day began, per installation.
CREATE INDEX budget_admissions_open ON budget_admissions (installation_id, id)
    WHERE state IN ('waiting', 'admitted');
CREATE INDEX budget_admissions_admitted ON budget_admissions (installation_id, admitted_at)
    WHERE admitted_at IS NOT NULL;
