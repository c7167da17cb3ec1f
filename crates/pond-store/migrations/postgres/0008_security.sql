-- Security (issue 14): API tokens carry a role (tokens made before had full access short of the
-- owner's; they become admin tokens), and failed console logins are counted per account and per
-- client address so that guessing is slowed and then locked out, on every instance sharing the
-- database. Mirrored for both databases.
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';

CREATE TABLE login_throttle (
    throttle_key  TEXT    PRIMARY KEY,
    failures      BIGINT  NOT NULL,
    window_start  BIGINT  NOT NULL,
    locked_until  BIGINT  NOT NULL,
    lockouts      BIGINT  NOT NULL DEFAULT 0,
    refused       BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX sessions_by_user ON sessions (user_id);
