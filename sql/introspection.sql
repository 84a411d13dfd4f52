-- Introspection works under any limit: relations in pg_catalog,
-- information_schema and pg_toast count for nothing under max_scan_rows
-- and max_scan_size (as they are exempt from deny); max_cost still counts
-- the whole statement.
CREATE SCHEMA regress_is;
CREATE TABLE regress_is.accounts (id int PRIMARY KEY, owner text);
INSERT INTO regress_is.accounts SELECT g, 'o' || g FROM generate_series(1, 2000) g;
CREATE TABLE regress_is.small (id int PRIMARY KEY, oid_ref oid);
INSERT INTO regress_is.small SELECT g, g FROM generate_series(1, 50) g;
CREATE FUNCTION regress_is.f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
ANALYZE regress_is.accounts, regress_is.small;
CREATE ROLE regress_is_user;
CREATE ROLE regress_is_owner;
ALTER SCHEMA regress_is OWNER TO regress_is_owner;
ALTER TABLE regress_is.accounts OWNER TO regress_is_owner;
ALTER TABLE regress_is.small OWNER TO regress_is_owner;
ALTER FUNCTION regress_is.f(int) OWNER TO regress_is_owner;
GRANT USAGE ON SCHEMA regress_is TO regress_is_user;
GRANT SELECT ON ALL TABLES IN SCHEMA regress_is TO regress_is_user;

-- No full scans at all, and then a one-row limit.
SELECT primary_guard.set_policy('regress_is_user', 'limit', max_scan_rows => 0,
                                max_scan_size => '0');
SET ROLE regress_is_user;
SET search_path = regress_is;
\dt regress_is.*
\d regress_is.accounts
\df regress_is.*
\dn regress_is
SELECT count(*) > 0 AS has_columns FROM information_schema.columns;
-- A user table still counts.
SELECT count(*) FROM regress_is.small;
RESET ROLE;

SELECT primary_guard.set_policy('regress_is_user', 'limit', max_scan_rows => 1);
SET ROLE regress_is_user;
\dt regress_is.*
\d regress_is.small
SELECT count(*) > 0 AS has_columns FROM information_schema.columns WHERE table_schema = 'regress_is';
SELECT count(*) > 0 AS has_relations FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid;
RESET ROLE;

-- A join of a user table to pg_class: only the user table counts.
SELECT primary_guard.set_policy('regress_is_user', 'limit', max_scan_rows => 1000);
SET ROLE regress_is_user;
SELECT count(*) FROM pg_class c JOIN regress_is.small s ON s.oid_ref = c.oid;
SELECT count(*) FROM pg_class c JOIN regress_is.accounts a ON a.id = c.oid::int;
RESET ROLE;

-- max_cost still sees the whole statement, catalogs included.
SELECT primary_guard.set_policy('regress_is_user', 'limit', max_cost => 1);
SET ROLE regress_is_user;
\set VERBOSITY terse
SELECT count(*) FROM pg_class c, pg_attribute a;
\set VERBOSITY default
RESET ROLE;

-- COPY of a catalog is not a counted read either.
SELECT primary_guard.set_policy('regress_is_user', 'limit', max_scan_rows => 1);
SET ROLE regress_is_user;
COPY (SELECT 1 FROM pg_namespace LIMIT 1) TO STDOUT;
\copy pg_catalog.pg_am TO '/dev/null'
RESET ROLE;
RESET search_path;

SELECT primary_guard.drop_policy('regress_is_user');
DROP SCHEMA regress_is CASCADE;
DROP ROLE regress_is_user, regress_is_owner;
