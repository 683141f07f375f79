-- Manual check of 003_initial.sql on a THROWAWAY database (it leaves rows behind):
--   psql -X -d scratch -1 -f sql/postgres/003_initial.sql
--   psql -X -d scratch -f sql/postgres/check.sql
-- Expected: the errors below name SQLSTATE 23505 "users.email_fold" and 23503
-- "organizations.premium_tier_id"; counters read organizations 1, organizations_version 1,
-- users 2, org_details_version 5 and member_count 2 before the bulk rows; the plans use the
-- trigram indexes (Bitmap Index Scan on organizations_name_trgm / users_search_trgm).
\set VERBOSITY verbose
\set ON_ERROR_STOP 0

INSERT INTO premium_tiers (id, name, created_at, updated_at)
VALUES ('tier-1', 'Gold', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z');
INSERT INTO organizations (id, name, name_fold, slug, premium_tier_id, created_at, updated_at)
VALUES ('org-1', 'Acme', 'acme', 'acme', 'tier-1', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z');
INSERT INTO users (id, name, email, email_fold, search_fold, role, created_at, updated_at) VALUES
    ('usr-1', 'Ann', 'Ann@x.io', 'ann@x.io', E'ann\nann@x.io', 'admin', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'),
    ('usr-2', 'Bob', 'bob@x.io', 'bob@x.io', E'bob\nbob@x.io', 'customer', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z');
INSERT INTO memberships (id, user_id, organization_id, role, created_at) VALUES
    ('mem-1', 'usr-1', 'org-1', 'owner', '2024-01-01T00:00:00Z'),
    ('mem-2', 'usr-2', 'org-1', 'customer', '2024-01-01T00:00:00Z');
SELECT name, value FROM counters ORDER BY name;
SELECT id, member_count FROM organizations;

-- 23505, constraint "users.email_fold"
INSERT INTO users (id, name, email, email_fold, search_fold, role, created_at, updated_at)
VALUES ('usr-3', 'Ann', 'ANN@x.io', 'ann@x.io', E'ann\nann@x.io', 'admin', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z');
-- 23503, constraint "organizations.premium_tier_id"
DELETE FROM premium_tiers WHERE id = 'tier-1';

-- ~50k rows each, then the substring plans.
INSERT INTO organizations (id, name, name_fold, slug, created_at, updated_at)
SELECT 'org-b' || i, 'Org ' || md5(i::text), 'org ' || md5(i::text), 'org-b' || i,
       '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'
FROM generate_series(1, 50000) AS i;
INSERT INTO users (id, name, email, email_fold, search_fold, role, created_at, updated_at)
SELECT 'usr-b' || i, md5(i::text), i || '@x.io', i || '@x.io', md5(i::text) || E'\n' || i || '@x.io',
       'customer', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'
FROM generate_series(1, 50000) AS i;
ANALYZE organizations;
ANALYZE users;
SELECT name, value FROM counters ORDER BY name;

-- (A term in ~1% of rows, such as 'abc' here, gets a sequential scan at the default
-- random_page_cost = 4; at 1.1, usual for SSDs, the trigram index.)
EXPLAIN SELECT count(*) FROM organizations WHERE name_fold LIKE '%' || 'abcd' || '%' ESCAPE '\';
EXPLAIN SELECT id FROM organizations WHERE name_fold LIKE '%abcd%' ESCAPE '\' ORDER BY name_fold, id LIMIT 20;
EXPLAIN SELECT count(*) FROM users WHERE search_fold LIKE '%' || 'ab\%c' || '%' ESCAPE '\';
SELECT instr('abc', 'c') AS three, instr('abc', 'x') AS zero, instr('abc', '') AS one;
