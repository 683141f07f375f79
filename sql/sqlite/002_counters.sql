-- Row counts and a change counter kept by triggers, in the writing transaction:
-- list totals without counting a million rows per request, and a version that tells the
-- server when its cached page anchors of the organization order are stale.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO counters (name, value) VALUES
    ('organizations', (SELECT count(*) FROM organizations)),
    ('organizations_version', 0),
    ('users', (SELECT count(*) FROM users));

CREATE TRIGGER counters_organizations_ai AFTER INSERT ON organizations BEGIN
    UPDATE counters SET value = value + 1 WHERE name IN ('organizations', 'organizations_version');
END;
CREATE TRIGGER counters_organizations_ad AFTER DELETE ON organizations BEGIN
    UPDATE counters SET value = value + (CASE name WHEN 'organizations' THEN -1 ELSE 1 END)
    WHERE name IN ('organizations', 'organizations_version');
END;
CREATE TRIGGER counters_organizations_au AFTER UPDATE OF name_fold ON organizations BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'organizations_version';
END;
CREATE TRIGGER counters_users_ai AFTER INSERT ON users BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'users';
END;
CREATE TRIGGER counters_users_ad AFTER DELETE ON users BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'users';
END;
