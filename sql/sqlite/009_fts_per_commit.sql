-- invois schema, version 9: the search indexes are brought up to date once per commit, not
-- once per write (issue 15). FTS5 writes the rows it holds in memory to a new segment of its
-- index at every SAVEPOINT and RELEASE; the writer thread runs each write of a group commit
-- in a savepoint of its own, so every created or renamed user or organization cost a segment
-- and the merges that follow (a fifth of the writer's time at 1M rows). The triggers now queue
-- each change in `fts_pending`, inside the write's savepoint (a write that fails takes its
-- queued changes with it); whoever commits applies the queue, in order, to the FTS tables and
-- empties it in the same transaction, just before COMMIT (storage/fts.rs). Readers see the
-- FTS tables and the rows change together, as before.

CREATE TABLE fts_pending (
    seq  INTEGER PRIMARY KEY,
    tbl  TEXT NOT NULL CHECK (tbl IN ('organizations', 'users')),
    rid  INTEGER NOT NULL,
    old  TEXT,                -- the indexed text to remove (NULL: nothing)
    new  TEXT                 -- the indexed text to add (NULL: nothing)
);

DROP TRIGGER organizations_fts_ai;
DROP TRIGGER organizations_fts_ad;
DROP TRIGGER organizations_fts_au;
DROP TRIGGER users_fts_ai;
DROP TRIGGER users_fts_ad;
DROP TRIGGER users_fts_au;

CREATE TRIGGER organizations_fts_ai AFTER INSERT ON organizations BEGIN
    INSERT INTO fts_pending (tbl, rid, old, new) VALUES ('organizations', new.rid, NULL, new.name_fold);
END;
CREATE TRIGGER organizations_fts_ad AFTER DELETE ON organizations BEGIN
    INSERT INTO fts_pending (tbl, rid, old, new) VALUES ('organizations', old.rid, old.name_fold, NULL);
END;
CREATE TRIGGER organizations_fts_au AFTER UPDATE OF name_fold ON organizations BEGIN
    INSERT INTO fts_pending (tbl, rid, old, new) VALUES ('organizations', new.rid, old.name_fold, new.name_fold);
END;
CREATE TRIGGER users_fts_ai AFTER INSERT ON users BEGIN
    INSERT INTO fts_pending (tbl, rid, old, new) VALUES ('users', new.rid, NULL, new.search_fold);
END;
CREATE TRIGGER users_fts_ad AFTER DELETE ON users BEGIN
    INSERT INTO fts_pending (tbl, rid, old, new) VALUES ('users', old.rid, old.search_fold, NULL);
END;
CREATE TRIGGER users_fts_au AFTER UPDATE OF search_fold ON users BEGIN
    INSERT INTO fts_pending (tbl, rid, old, new) VALUES ('users', new.rid, old.search_fold, new.search_fold);
END;
