-- Codegen counts a create when it arrives, not when the bot took its place in
-- the window: a request that took a while to get there (a loaded machine, a
-- slow network) arrived later than its place says, so the next window could
-- let an eleventh create in within Codegen's 60 seconds. A place now answers
-- the time it was taken, and once the create's answer is in (or it failed),
-- `settle_window_place` moves that place to the present: the window counts
-- from a time at or after the arrival. A place that already left the window
-- while its request was out comes back, since the request may have arrived
-- late. `take_window_slot` (009) stays for a process of the previous version.
CREATE FUNCTION take_window_place(
    p_key text, p_limit integer, p_window double precision,
    OUT wait double precision, OUT taken_at timestamptz
)
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
        wait := 0;
        taken_at := now_at;
        RETURN;
    END IF;
    wait := greatest(
        0.001,
        extract(epoch FROM live[cardinality(live) - p_limit + 1]
                + make_interval(secs => p_window) - now_at)
    );
    taken_at := NULL;
END
$$;

CREATE FUNCTION settle_window_place(p_key text, p_taken timestamptz)
RETURNS void
LANGUAGE sql AS $$
    UPDATE shared_windows
    SET taken = CASE WHEN p_taken = ANY (taken)
                     THEN array_replace(taken, p_taken, clock_timestamp())
                     ELSE taken || clock_timestamp()
                END
    WHERE key = p_key;
$$;
