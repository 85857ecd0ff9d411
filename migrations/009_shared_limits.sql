-- Limits shared by every process on this database (app/limits).
--
-- Codegen creates per organization: a sliding window kept as the times of the
-- creates still inside it (at most `limit` of them), one row per limit. A
-- create takes its place with one statement, `take_window_slot`, which locks
-- the row, drops the times that left the window and appends now when there is
-- room; otherwise it answers how long until there is. The row lock makes two
-- processes taking at once wait for each other: never more than `limit`.
CREATE TABLE shared_windows (
    key text PRIMARY KEY,
    taken timestamptz[] NOT NULL DEFAULT '{}'
);

CREATE FUNCTION take_window_slot(p_key text, p_limit integer, p_window double precision)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    live timestamptz[];
    now_at timestamptz;
BEGIN
    INSERT INTO shared_windows (key) VALUES (p_key) ON CONFLICT (key) DO NOTHING;
    SELECT taken INTO live FROM shared_windows WHERE key = p_key FOR UPDATE;
    now_at := clock_timestamp();  -- read after the lock: the wait is not counted
    live := ARRAY(
        SELECT t FROM unnest(live) AS t
        WHERE t > now_at - make_interval(secs => p_window)
        ORDER BY t
    );
    IF cardinality(live) < p_limit THEN
        UPDATE shared_windows SET taken = live || now_at WHERE key = p_key;
        RETURN 0;
    END IF;
    RETURN greatest(
        0.001,
        extract(epoch FROM live[cardinality(live) - p_limit + 1]
                + make_interval(secs => p_window) - now_at)
    );
END
$$;

-- GitHub writes per installation: a process writes to an installation only
-- while it holds the installation's session advisory lock (taken on a
-- connection of its own, so a process that dies lets go of it). The row keeps
-- what the next holder needs to keep GitHub's spacing: when the last write
-- ended, and whether the last holder let go cleanly (if not, it may have
-- written just before it vanished).
CREATE TABLE github_write_leases (
    installation_id bigint PRIMARY KEY,
    last_write_at timestamptz,
    released boolean NOT NULL DEFAULT true,
    taken_at timestamptz
);

-- Try to take an installation's write lease: NULL when another session holds
-- it, else the seconds since the last write anyone made there (0 when unknown
-- because the last holder vanished; a large number when none was ever made).
-- The row is read after the lock is held, in a statement of its own, so it
-- sees what the last holder recorded before letting go.
CREATE FUNCTION take_github_write_lease(p_installation bigint)
RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    lock_key bigint := hashtextextended('github-writes:' || p_installation, 0);
    was_released boolean;
    was_written timestamptz;
BEGIN
    -- Session locks stack: a session that already holds the lease (its holder
    -- gave up waiting for this answer once) must not take it twice, or one
    -- release would leave it held.
    IF NOT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND objsubid = 1
          AND ((classid::bigint << 32) | objid::bigint) = lock_key
    ) AND NOT pg_try_advisory_lock(lock_key) THEN
        RETURN NULL;
    END IF;
    SELECT released, last_write_at INTO was_released, was_written
    FROM github_write_leases WHERE installation_id = p_installation;
    INSERT INTO github_write_leases (installation_id, released, taken_at)
    VALUES (p_installation, false, clock_timestamp())
    ON CONFLICT (installation_id)
    DO UPDATE SET released = false, taken_at = EXCLUDED.taken_at;
    IF was_released IS NOT NULL AND NOT was_released THEN
        RETURN 0;
    END IF;
    IF was_written IS NULL THEN
        RETURN 1e9;
    END IF;
    RETURN greatest(0, extract(epoch FROM clock_timestamp() - was_written));
END
$$;
