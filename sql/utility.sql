-- The utility guard: deny's allowlist, blocked commands, COPY table TO, and
-- transactions that always end.
CREATE TABLE regress_big (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO regress_big SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
CREATE TABLE regress_small (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO regress_small SELECT g, g::text FROM generate_series(1, 100) g;
CREATE TABLE regress_tiny (id int) WITH (autovacuum_enabled = off);
INSERT INTO regress_tiny VALUES (1), (2);
ANALYZE regress_big, regress_small, regress_tiny;
CREATE ROLE regress_analysts;
CREATE ROLE regress_analyst IN ROLE regress_analysts;
GRANT SELECT, INSERT ON regress_big, regress_small, regress_tiny TO regress_analysts;
GRANT CREATE ON SCHEMA public TO regress_analysts;
CREATE PROCEDURE regress_noop() LANGUAGE sql AS $$ SELECT 1 $$;

-- deny: the allowlist passes, everything else is refused.
SELECT primary_guard.set_policy('regress_analysts', 'deny');
SET ROLE regress_analyst;
BEGIN;
SAVEPOINT s1;
RELEASE SAVEPOINT s1;
SET work_mem = '8MB';
SHOW work_mem;
RESET work_mem;
COMMIT;
START TRANSACTION READ ONLY;
ROLLBACK;
DISCARD PLANS;
PREPARE one AS SELECT 1;
EXECUTE one;
DEALLOCATE one;
BEGIN;
DECLARE c CURSOR FOR SELECT relname FROM pg_class ORDER BY relname;
FETCH 1 FROM c;
MOVE 1 IN c;
CLOSE c;
COMMIT;
EXPLAIN (COSTS OFF) SELECT * FROM regress_small;
LISTEN regress_channel;
UNLISTEN regress_channel;
NOTIFY regress_channel;
DO $$ BEGIN PERFORM 1; END $$;
CALL regress_noop();
-- ...and what those run is still checked by the executor guard.
PREPARE two AS SELECT count(*) FROM regress_small;
EXECUTE two;
DO $$ BEGIN PERFORM count(*) FROM regress_small; END $$;
-- Refused: DDL, maintenance, COPY of a table either way.
CREATE TABLE regress_mine (id int);
CREATE INDEX ON regress_small (v);
ANALYZE regress_small;
VACUUM regress_small;
CLUSTER regress_small USING regress_small_pkey;
COPY regress_small TO STDOUT;
COPY regress_small FROM '/nonexistent/file';
CHECKPOINT;
COPY pg_catalog.pg_am (amname) TO STDOUT;
RESET ROLE;

-- limit with blocked_commands: the listed tags are refused, their neighbours pass.
SELECT primary_guard.set_policy('regress_analysts', 'limit',
         blocked_commands => '{VACUUM, "CREATE INDEX", CLUSTER}', note => 'Maintenance runs at night.');
SET ROLE regress_analyst;
VACUUM regress_small;
CREATE INDEX ON regress_small (v);
ANALYZE regress_small;
CREATE TABLE regress_mine (id int);
DROP TABLE regress_mine;
-- Blocked inside a function too.
DO $$ BEGIN EXECUTE 'CREATE INDEX ON regress_small (v)'; END $$;
RESET ROLE;

-- COPY table TO is a full scan under limit; COPY FROM and small tables pass.
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_rows => 50000);
SET ROLE regress_analyst;
COPY regress_big TO STDOUT;
COPY regress_tiny TO STDOUT;
COPY (SELECT id FROM regress_small WHERE id <= 2) TO STDOUT;
COPY regress_small FROM STDIN;
101	x
\.
COPY regress_no_such_table TO STDOUT;
RESET ROLE;
\set VERBOSITY terse
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_size => '1MB');
SET ROLE regress_analyst;
COPY regress_big TO STDOUT;
RESET ROLE;
\set VERBOSITY default

-- Failed transactions always end, for every role, without reading catalogs.
SELECT primary_guard.set_policy('regress_analysts', 'deny');
SET ROLE regress_analyst;
BEGIN;
SELECT count(*) FROM regress_big;
SELECT 1;
ROLLBACK;
BEGIN;
SAVEPOINT sp;
VACUUM regress_small;
ROLLBACK TO SAVEPOINT sp;
SELECT 1 AS after_rollback_to;
COMMIT;
BEGIN;
SELECT count(*) FROM regress_big;
COMMIT;
SELECT 1 AS after_failed_commit;
RESET ROLE;

-- Superuser with the GUC off.
SELECT primary_guard.set_policy('public', 'limit', blocked_commands => '{VACUUM}');
VACUUM regress_small;
SET primary_guard.enabled = off;
VACUUM regress_small;
TRUNCATE primary_guard.policy;
RESET primary_guard.enabled;

DROP PROCEDURE regress_noop();
DROP TABLE regress_big, regress_small, regress_tiny;
REVOKE CREATE ON SCHEMA public FROM regress_analysts;
DROP ROLE regress_analyst, regress_analysts;
