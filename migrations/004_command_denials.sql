-- When the bot last told someone on an issue that their `/codegen` commands were
-- refused, so a person without the permission who comments again and again gets
-- one reply an hour (not one per comment), however many processes take commands
-- and across restarts.

CREATE TABLE command_denials (
    repository  text NOT NULL,                      -- owner/name, lower-cased
    number      integer NOT NULL,                   -- the issue's or the pull request's
    actor       text NOT NULL,                      -- login, lower-cased
    source      text NOT NULL,                      -- the comment replied to: cmd:<kind>:<id>
    replied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository, number, actor)
);
