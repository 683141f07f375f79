-- invois schema for PostgreSQL, version 4 (as SQLite's 004_console.sql): operators of the
-- console, their sessions (in the database, so that every instance knows them) and the
-- operator as the actor of an event. Same conventions as 003_initial.sql: COLLATE "C" text,
-- BIGINT integers, constraints named "table.column"; re-runnable.

CREATE TABLE IF NOT EXISTS operators (
    id            TEXT COLLATE "C" NOT NULL,             -- op-…
    email         TEXT COLLATE "C" NOT NULL,
    email_fold    TEXT COLLATE "C" NOT NULL,             -- one account per email, any case
    password_hash TEXT COLLATE "C" NOT NULL,             -- argon2id PHC string, never the password
    created_at    TEXT COLLATE "C" NOT NULL,
    updated_at    TEXT COLLATE "C" NOT NULL,
    last_login_at TEXT COLLATE "C",
    CONSTRAINT "operators.id" PRIMARY KEY (id),
    CONSTRAINT "operators.email_fold" UNIQUE (email_fold)
);

-- One row per logged-in browser; the cookie's token is kept only as its SHA-256. Times are
-- RFC 3339 with milliseconds (fixed width: text order is time order).
CREATE TABLE IF NOT EXISTS sessions (
    token_hash   TEXT COLLATE "C" NOT NULL,
    operator_id  TEXT COLLATE "C" NOT NULL,
    csrf         TEXT COLLATE "C" NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    last_seen_at TEXT COLLATE "C" NOT NULL,
    CONSTRAINT "sessions.token_hash" PRIMARY KEY (token_hash),
    CONSTRAINT "sessions.operator_id" FOREIGN KEY (operator_id)
        REFERENCES operators (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS sessions_operator ON sessions (operator_id);
CREATE INDEX IF NOT EXISTS sessions_last_seen ON sessions (last_seen_at);

-- Who made a change from the console (NULL for API keys and the command line).
ALTER TABLE events ADD COLUMN IF NOT EXISTS actor_operator_id TEXT COLLATE "C";
