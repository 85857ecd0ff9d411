-- The REST API (app/api): what must hold across every web replica.

-- Requests counted per fixed window, one row per bucket (`key:NAME` or
-- `address:IP`) and window; an upsert adds one and returns the count.
CREATE TABLE api_rate_limits (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX api_rate_limits_window ON api_rate_limits (window_start);

-- A POST with an `Idempotency-Key`: the first request's hash and, once it has
-- one, its answer, replayed to every repeat (same answer, one effect).
CREATE TABLE api_idempotency (
    key_name        text NOT NULL,            -- the API key's name: keys do not share
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,            -- method, path and body
    status          integer,                  -- NULL while the first request runs
    body            bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_name, idempotency_key)
);
CREATE INDEX api_idempotency_created_at ON api_idempotency (created_at);

-- Prompts `POST /api/v1/codegen/generate-prompt` built: previews, sent to
-- Codegen only when `create-pr` names one.
CREATE TABLE api_prompts (
    id           bigserial PRIMARY KEY,
    task_id      bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    prompt       text NOT NULL,
    style        text NOT NULL,
    context_used jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_prompts_task ON api_prompts (task_id);
