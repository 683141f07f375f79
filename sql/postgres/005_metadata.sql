-- invois schema for PostgreSQL, version 5 (as SQLite's 005_metadata.sql): metadata and external
-- ids (issue 14). Same conventions as 003_initial.sql: COLLATE "C" text, unique indexes named
-- "table.column" as SQLite's violation message names them; re-runnable.

ALTER TABLE users ADD COLUMN IF NOT EXISTS external_id TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN IF NOT EXISTS metadata TEXT COLLATE "C" NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX IF NOT EXISTS "users.external_id" ON users (external_id)
    WHERE external_id IS NOT NULL;

ALTER TABLE organizations ADD COLUMN IF NOT EXISTS external_id TEXT COLLATE "C";
ALTER TABLE organizations ADD COLUMN IF NOT EXISTS metadata TEXT COLLATE "C" NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX IF NOT EXISTS "organizations.external_id" ON organizations (external_id)
    WHERE external_id IS NOT NULL;

ALTER TABLE memberships ADD COLUMN IF NOT EXISTS metadata TEXT COLLATE "C" NOT NULL DEFAULT '{}';
