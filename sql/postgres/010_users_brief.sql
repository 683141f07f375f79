-- invois schema for PostgreSQL, version 10 (as SQLite's 010_users_brief.sql): users by id
-- with their name and email, so that the single-organization view reads its members' users
-- with an index-only scan. Re-runnable.

CREATE INDEX IF NOT EXISTS users_brief ON users (id) INCLUDE (name, email);
