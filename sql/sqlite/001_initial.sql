-- invois schema, version 1. Append-only once released: change it with a new numbered file.
-- Ids are the API's typed-prefix ids; tables that an FTS index follows keep an explicit
-- INTEGER PRIMARY KEY so that VACUUM cannot renumber the rowids the index points at.

CREATE TABLE premium_tiers (
    id                  TEXT PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL,
    features            TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    max_users           INTEGER,
    max_storage         TEXT,
    api_calls_per_month INTEGER,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX premium_tiers_name ON premium_tiers (name, id);

CREATE TABLE organizations (
    rid             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    name_fold       TEXT NOT NULL,                    -- NFC + Unicode lowercase, for search
    slug            TEXT NOT NULL UNIQUE,
    logo            TEXT,
    premium_tier_id TEXT REFERENCES premium_tiers (id) ON DELETE RESTRICT,
    member_count    INTEGER NOT NULL DEFAULT 0,       -- kept by the membership triggers
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX organizations_name ON organizations (name_fold, id);
CREATE INDEX organizations_created ON organizations (created_at, id);
CREATE INDEX organizations_tier ON organizations (premium_tier_id) WHERE premium_tier_id IS NOT NULL;

CREATE VIRTUAL TABLE organizations_fts USING fts5 (
    name_fold, content = 'organizations', content_rowid = 'rid',
    tokenize = 'trigram case_sensitive 1', detail = 'none'
);
CREATE TRIGGER organizations_fts_ai AFTER INSERT ON organizations BEGIN
    INSERT INTO organizations_fts (rowid, name_fold) VALUES (new.rid, new.name_fold);
END;
CREATE TRIGGER organizations_fts_ad AFTER DELETE ON organizations BEGIN
    INSERT INTO organizations_fts (organizations_fts, rowid, name_fold) VALUES ('delete', old.rid, old.name_fold);
END;
CREATE TRIGGER organizations_fts_au AFTER UPDATE OF name_fold ON organizations BEGIN
    INSERT INTO organizations_fts (organizations_fts, rowid, name_fold) VALUES ('delete', old.rid, old.name_fold);
    INSERT INTO organizations_fts (rowid, name_fold) VALUES (new.rid, new.name_fold);
END;

CREATE TABLE users (
    rid         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    first_name  TEXT,
    last_name   TEXT,
    email       TEXT NOT NULL,
    email_fold  TEXT NOT NULL UNIQUE,                 -- uniqueness is case-insensitive
    search_fold TEXT NOT NULL,                        -- folded name, newline, folded email
    phone       TEXT,
    dob         TEXT,
    role        TEXT NOT NULL CHECK (role IN ('super-admin', 'admin', 'customer')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX users_name ON users (search_fold, id);
CREATE INDEX users_created ON users (created_at, id);
CREATE INDEX users_role_name ON users (role, search_fold, id);

CREATE VIRTUAL TABLE users_fts USING fts5 (
    search_fold, content = 'users', content_rowid = 'rid',
    tokenize = 'trigram case_sensitive 1', detail = 'none'
);
CREATE TRIGGER users_fts_ai AFTER INSERT ON users BEGIN
    INSERT INTO users_fts (rowid, search_fold) VALUES (new.rid, new.search_fold);
END;
CREATE TRIGGER users_fts_ad AFTER DELETE ON users BEGIN
    INSERT INTO users_fts (users_fts, rowid, search_fold) VALUES ('delete', old.rid, old.search_fold);
END;
CREATE TRIGGER users_fts_au AFTER UPDATE OF search_fold ON users BEGIN
    INSERT INTO users_fts (users_fts, rowid, search_fold) VALUES ('delete', old.rid, old.search_fold);
    INSERT INTO users_fts (rowid, search_fold) VALUES (new.rid, new.search_fold);
END;

CREATE TABLE memberships (
    rid             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'customer')),
    created_at      TEXT NOT NULL,
    UNIQUE (user_id, organization_id)                 -- also serves "memberships of a user"
);
CREATE INDEX memberships_org ON memberships (organization_id, created_at, id);

CREATE TRIGGER memberships_count_ai AFTER INSERT ON memberships BEGIN
    UPDATE organizations SET member_count = member_count + 1 WHERE id = new.organization_id;
END;
CREATE TRIGGER memberships_count_ad AFTER DELETE ON memberships BEGIN
    UPDATE organizations SET member_count = member_count - 1 WHERE id = old.organization_id;
END;

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,           -- key-<16 hex>, also inside the key
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,                       -- argon2id PHC string, never the secret
    scopes       TEXT NOT NULL,                       -- space-separated
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT,
    replaced_by  TEXT
);

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    actor_key_id TEXT,
    subject_id   TEXT NOT NULL,
    changes      TEXT NOT NULL DEFAULT '[]',          -- JSON array of changed field names
    created_at   TEXT NOT NULL
);
CREATE INDEX events_type ON events (type, seq);
CREATE INDEX events_subject ON events (subject_id, seq);

CREATE TABLE idempotency_keys (
    api_key_id   TEXT NOT NULL,
    key          TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    location     TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (api_key_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
