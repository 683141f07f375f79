-- invois schema for PostgreSQL, version 8 (as SQLite's 008_members_covering.sql): the index
-- of an organization's memberships carries user_id and role, so the single-organization view
-- lists its first members with an index-only scan. Re-runnable.

CREATE INDEX IF NOT EXISTS memberships_by_org ON memberships (organization_id, created_at, id) INCLUDE (user_id, role);
DROP INDEX IF EXISTS memberships_org;
