-- invois schema, version 5: metadata and external ids (issue 14). An integration keeps its own
-- id of a user or organization (unique per type, NULL for none) and a JSON object of its own on
-- users, organizations and memberships. metadata is the canonical serde_json text of an object
-- (keys sorted), at most 8 KiB, checked by the API.

ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
-- Partial indexes: rows without an external id (most) take no space in them. SQLite names a
-- violation "users.external_id" (the column), as PostgreSQL names it by the index.
CREATE UNIQUE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;

ALTER TABLE organizations ADD COLUMN external_id TEXT;
ALTER TABLE organizations ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX organizations_external_id ON organizations (external_id) WHERE external_id IS NOT NULL;

ALTER TABLE memberships ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
