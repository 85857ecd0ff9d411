-- Signing out of the dashboard: a session is a signed cookie, so deleting it
-- from one browser left a copy (a stolen cookie, another tab's jar) valid until
-- it expired. Signing out now records the session (a hash of its random CSRF
-- secret, which nothing else shares) until its own end; a recorded session is
-- refused everywhere. Rows past their end are deleted as others sign out.
CREATE TABLE dashboard_sign_outs (
    session_hash bytea PRIMARY KEY,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX dashboard_sign_outs_expires_at ON dashboard_sign_outs (expires_at);
