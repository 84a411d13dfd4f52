-- check_query(): the guard's verdict without running the statement, from the
-- same evaluation as the hooks.
CREATE TABLE regress_big (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO regress_big SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
CREATE TABLE regress_small (id int PRIMARY KEY) WITH (autovacuum_enabled = off);
INSERT INTO regress_small SELECT g FROM generate_series(1, 100) g;
ANALYZE regress_big, regress_small;
CREATE ROLE regress_analysts;
CREATE ROLE regress_analyst IN ROLE regress_analysts;
CREATE ROLE regress_outsider;
GRANT SELECT ON regress_big, regress_small TO regress_analysts;
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_rows => 50000,
         blocked_commands => '{VACUUM}', note => 'Use the replica.');
SELECT primary_guard.set_policy('regress_analysts', 'deny', server_state => 'standby');

-- Verdicts for another role (superuser may check anyone).
SELECT verdict, reason, estimated_cost > 0 AS has_cost
  FROM primary_guard.check_query('SELECT count(*) FROM regress_big', 'regress_analyst');
SELECT verdict, reason
  FROM primary_guard.check_query('SELECT v FROM regress_big WHERE id = 1', 'regress_analyst');
SELECT verdict, reason
  FROM primary_guard.check_query('SELECT count(*) FROM regress_big', 'regress_analyst', 'standby');
SELECT verdict, reason
  FROM primary_guard.check_query('VACUUM regress_small', 'regress_analyst');
SELECT verdict, reason, estimated_cost IS NULL AS no_cost
  FROM primary_guard.check_query('ANALYZE regress_small', 'regress_analyst');
SELECT verdict, reason
  FROM primary_guard.check_query('COPY regress_big TO STDOUT', 'regress_analyst');
SELECT verdict
  FROM primary_guard.check_query('COPY (SELECT * FROM regress_big) TO STDOUT', 'regress_analyst');
SELECT verdict
  FROM primary_guard.check_query('CREATE TABLE regress_x AS SELECT * FROM regress_big', 'regress_analyst');
SELECT verdict
  FROM primary_guard.check_query('EXPLAIN SELECT * FROM regress_big', 'regress_analyst');
SELECT verdict
  FROM primary_guard.check_query('EXPLAIN ANALYZE SELECT * FROM regress_big', 'regress_analyst');
SELECT verdict
  FROM primary_guard.check_query('DECLARE c CURSOR FOR SELECT * FROM regress_big', 'regress_analyst');
SELECT verdict, reason
  FROM primary_guard.check_query('SELECT count(*) FROM regress_big', 'regress_outsider');
SELECT verdict, reason
  FROM primary_guard.check_query('SELECT count(*) FROM regress_big', 'public');

-- Nothing is executed: a write is judged, not performed.
SELECT verdict FROM primary_guard.check_query('DELETE FROM regress_small', 'regress_analyst');
SELECT count(*) FROM regress_small;

-- Warn mode says warn.
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_rows => 50000, mode => 'warn');
SELECT verdict FROM primary_guard.check_query('SELECT count(*) FROM regress_big', 'regress_analyst');

-- The caller by default: session user and SET ROLE role.
SET ROLE regress_analyst;
SELECT verdict FROM primary_guard.check_query('SELECT count(*) FROM regress_big');
SELECT verdict FROM primary_guard.check_query('SELECT count(*) FROM regress_big', 'regress_analysts');
-- Checking a role one is not a member of is refused.
SELECT verdict FROM primary_guard.check_query('SELECT 1', 'regress_outsider');
RESET ROLE;

-- Bad input.
SELECT * FROM primary_guard.check_query(NULL);
SELECT * FROM primary_guard.check_query('');
SELECT * FROM primary_guard.check_query('SELECT 1; SELECT 2');
-- Errors in the checked query point into it.
SELECT * FROM primary_guard.check_query('SELEKT 1');
SELECT * FROM primary_guard.check_query('SELECT * FROM regress_no_such_table');
SELECT * FROM primary_guard.check_query('SELECT $1');
SELECT * FROM primary_guard.check_query('SELECT 1', 'regress_no_such_role');
SELECT * FROM primary_guard.check_query('SELECT 1', NULL, 'replica');

-- Every wrapper, nested too: the hooks' verdict (running the statement) next
-- to check_query's.  Only the executed plan and the top-level command count.
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_rows => 50000);
GRANT CREATE ON SCHEMA public TO regress_analysts;
SET ROLE regress_analyst;
\set VERBOSITY terse
PREPARE p AS SELECT * FROM regress_big;
PREPARE p_point AS SELECT v FROM regress_big WHERE id = 1;
PREPARE p_param(int) AS SELECT * FROM regress_big WHERE id > $1;

EXECUTE p;
SELECT verdict FROM primary_guard.check_query('EXECUTE p');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE p;
SELECT verdict FROM primary_guard.check_query('EXPLAIN ANALYZE EXECUTE p');
CREATE TABLE regress_t1 AS EXECUTE p;
SELECT verdict FROM primary_guard.check_query('CREATE TABLE regress_t1 AS EXECUTE p');
CREATE TABLE regress_t1 AS EXECUTE p WITH NO DATA;
SELECT verdict FROM primary_guard.check_query('CREATE TABLE regress_t1 AS EXECUTE p WITH NO DATA');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) CREATE TABLE regress_t1 AS SELECT * FROM regress_big;
SELECT verdict FROM primary_guard.check_query('EXPLAIN ANALYZE CREATE TABLE regress_t1 AS SELECT * FROM regress_big');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) CREATE TABLE regress_t1 AS SELECT * FROM regress_big WITH NO DATA;
SELECT verdict FROM primary_guard.check_query('EXPLAIN ANALYZE CREATE TABLE regress_t1 AS SELECT * FROM regress_big WITH NO DATA');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) CREATE TABLE regress_t1 AS EXECUTE p;
SELECT verdict FROM primary_guard.check_query('EXPLAIN ANALYZE CREATE TABLE regress_t1 AS EXECUTE p');
SELECT * INTO regress_t1 FROM regress_big;
SELECT verdict FROM primary_guard.check_query('SELECT * INTO regress_t1 FROM regress_big');
BEGIN;
DECLARE c CURSOR FOR SELECT * FROM regress_big;
ROLLBACK;
SELECT verdict FROM primary_guard.check_query('DECLARE c CURSOR FOR SELECT * FROM regress_big');
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) DECLARE c CURSOR FOR SELECT * FROM regress_big;
ROLLBACK;
SELECT verdict FROM primary_guard.check_query('EXPLAIN ANALYZE DECLARE c CURSOR FOR SELECT * FROM regress_big');
COPY (SELECT * FROM regress_big) TO STDOUT;
SELECT verdict FROM primary_guard.check_query('COPY (SELECT * FROM regress_big) TO STDOUT');

-- Allowed plans are allowed through every wrapper.
EXECUTE p_point;
SELECT verdict FROM primary_guard.check_query('EXECUTE p_point');
CREATE TABLE regress_t1 AS EXECUTE p_point;
DROP TABLE regress_t1;
SELECT verdict FROM primary_guard.check_query('EXPLAIN ANALYZE CREATE TABLE regress_t1 AS EXECUTE p_point');
-- Plain EXPLAIN runs nothing.
EXPLAIN (COSTS OFF) EXECUTE p;
SELECT verdict FROM primary_guard.check_query('EXPLAIN EXECUTE p');

-- EXECUTE's parameters are evaluated as EXECUTE does: the plan depends on
-- them (a seq scan for id > 0, an index scan for id > 99990).
EXECUTE p_param(0);
SELECT verdict FROM primary_guard.check_query('EXECUTE p_param(0)');
EXECUTE p_param(99990 + 0);
SELECT verdict FROM primary_guard.check_query('EXECUTE p_param(99990 + 0)');
-- A volatile parameter is not evaluated (its value decides the plan).
SELECT verdict FROM primary_guard.check_query('EXECUTE p_param(random()::int)');
-- EXECUTE's errors.
SELECT verdict FROM primary_guard.check_query('EXECUTE p_param');
SELECT verdict FROM primary_guard.check_query('EXECUTE p_param(''x'')');
SELECT verdict FROM primary_guard.check_query('EXECUTE regress_no_such_statement');
-- Checking EXECUTE leaves the session's own statement untouched.
SELECT name, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name;
DEALLOCATE ALL;
\set VERBOSITY default
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_analysts;

-- COPY table TO: check_query requires the privileges COPY requires (its
-- verdict shows the table's size), and holds the lock COPY would take.
GRANT SELECT (id) ON regress_big TO regress_outsider;
SET ROLE regress_outsider;
COPY regress_big TO STDOUT;
SELECT verdict FROM primary_guard.check_query('COPY regress_big TO STDOUT');
SELECT verdict FROM primary_guard.check_query('COPY regress_big (id, v) TO STDOUT');
SELECT verdict FROM primary_guard.check_query('COPY regress_big (id) TO STDOUT');
SELECT verdict FROM primary_guard.check_query('COPY regress_big FROM STDIN');
SELECT verdict FROM primary_guard.check_query('COPY regress_big (nope) TO STDOUT');
RESET ROLE;
REVOKE SELECT (id) ON regress_big FROM regress_outsider;
BEGIN;
SELECT verdict FROM primary_guard.check_query('COPY regress_small TO STDOUT', 'regress_analyst');
SELECT mode, granted FROM pg_locks
 WHERE relation = 'regress_small'::regclass AND pid = pg_backend_pid();
COMMIT;

TRUNCATE primary_guard.policy;
DROP TABLE regress_big, regress_small;
DROP ROLE regress_analyst, regress_analysts, regress_outsider;
