-- Version of everything a single-organization view shows (GET /organizations/{id}: the
-- organization, its tier, its members and their names and emails). The server keeps rendered
-- views in memory and serves one only while this number is the one it was rendered at; every
-- change that could alter a view bumps it in the changing transaction, whichever process
-- writes (server, CLI import).
INSERT INTO counters (name, value) VALUES ('org_details_version', 0);

CREATE TRIGGER org_details_organizations_ai AFTER INSERT ON organizations BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
CREATE TRIGGER org_details_organizations_au AFTER UPDATE ON organizations BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
CREATE TRIGGER org_details_organizations_ad AFTER DELETE ON organizations BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
CREATE TRIGGER org_details_memberships_ai AFTER INSERT ON memberships BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
CREATE TRIGGER org_details_memberships_au AFTER UPDATE ON memberships BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
CREATE TRIGGER org_details_memberships_ad AFTER DELETE ON memberships BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
CREATE TRIGGER org_details_users_au AFTER UPDATE OF name, email ON users BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
CREATE TRIGGER org_details_users_ad AFTER DELETE ON users BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
CREATE TRIGGER org_details_tiers_au AFTER UPDATE ON premium_tiers BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
CREATE TRIGGER org_details_tiers_ad AFTER DELETE ON premium_tiers BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'org_details_version';
END;
