-- invois schema for PostgreSQL, version 9 (as SQLite's 009_fts_per_commit.sql): nothing to
-- change. SQLite's version 9 moves the upkeep of its FTS5 search indexes to commit time;
-- PostgreSQL's pg_trgm indexes are kept by the server within each statement. The version is
-- recorded so that both engines number their schema alike.

SELECT 1;
