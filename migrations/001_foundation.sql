-- Deliveries as received from GitHub, and the durable job queue fed by them.

CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,            -- X-GitHub-Delivery GUID
    event           text NOT NULL,
    action          text,
    installation_id bigint,
    payload         bytea NOT NULL,              -- the body exactly as received
    received_at     timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'processed', 'ignored', 'dropped', 'failed')),
    processed_at    timestamptz,
    error           text
);
-- Stored uncompressed: pglz on each payload cost more CPU than the intake can
-- spare (benchmarks/README.md), at about 4x the disk per delivery.
ALTER TABLE webhook_deliveries ALTER COLUMN payload SET STORAGE EXTERNAL;
-- Rows arrive in received_at order, so a BRIN index serves retention and
-- time-range queries at almost no insert cost.
CREATE INDEX webhook_deliveries_received_at ON webhook_deliveries USING brin (received_at);

CREATE TABLE jobs (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedup_key        text,                       -- set for idempotent enqueues (unique below)
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'done', 'dead')),
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 8,
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE UNIQUE INDEX jobs_dedup_key ON jobs (dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status = 'running';

-- Wake idle workers whenever jobs are inserted (one notification per statement).
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('codegen_jobs', '');
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify();

CREATE TABLE installations (
    id                   bigint PRIMARY KEY,     -- GitHub installation id
    account_login        text NOT NULL,
    account_id           bigint,
    account_type         text,
    target_type          text,
    repository_selection text,
    permissions          jsonb NOT NULL DEFAULT '{}'::jsonb,
    events               text[] NOT NULL DEFAULT '{}',
    suspended_at         timestamptz,
    deleted_at           timestamptz,
    synced_at            timestamptz,            -- received_at of the delivery last applied
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE repositories (
    id              bigint PRIMARY KEY,          -- GitHub repository id
    installation_id bigint NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
    full_name       text NOT NULL,
    private         boolean NOT NULL DEFAULT false,
    removed_at      timestamptz,
    label_created_at timestamptz,
    synced_at       timestamptz,                 -- received_at of the delivery last applied
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX repositories_installation ON repositories (installation_id);
CREATE INDEX repositories_full_name ON repositories (lower(full_name));
