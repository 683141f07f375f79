-- invois schema, version 4: the operator console (issue 13). Operators log in with an email
-- and a password (argon2id); their sessions live here, not in a process, so that every
-- instance on one PostgreSQL database knows them. Every write made from the console is an
-- event whose actor is the operator.

CREATE TABLE operators (
    id            TEXT PRIMARY KEY NOT NULL,          -- op-…
    email         TEXT NOT NULL,
    email_fold    TEXT NOT NULL UNIQUE,               -- one account per email, any case
    password_hash TEXT NOT NULL,                      -- argon2id PHC string, never the password
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    last_login_at TEXT
);

-- One row per logged-in browser. The cookie holds a random token; only its SHA-256 is kept.
-- Times are RFC 3339 with milliseconds (fixed width, so text order is time order): idle and
-- absolute expiry compare them with cut-offs computed by the server.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY NOT NULL,
    operator_id  TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    csrf         TEXT NOT NULL,                       -- the token every form of the session carries
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_operator ON sessions (operator_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

-- Who made a change from the console (NULL for API keys and the command line).
ALTER TABLE events ADD COLUMN actor_operator_id TEXT;
