-- The limits hold while a statement runs: rows counted as they are read
-- (max_scan_rows), and max_duration.  Estimates can be wrong; the count
-- cannot.
CREATE TABLE regress_rt (id bigint PRIMARY KEY, v int) WITH (autovacuum_enabled = off);
INSERT INTO regress_rt SELECT g, g % 7 FROM generate_series(1, 30000) g;
ANALYZE regress_rt;
CREATE ROLE regress_rt_analysts;
CREATE ROLE regress_rt_analyst IN ROLE regress_rt_analysts;
CREATE ROLE regress_rt_watcher;
GRANT SELECT ON regress_rt TO regress_rt_analysts, regress_rt_watcher;
CREATE FUNCTION regress_rt_count(lo bigint, hi bigint) RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT count(*) FROM regress_rt WHERE id BETWEEN lo AND hi $$;
SELECT primary_guard.set_policy('regress_rt_analysts', 'limit', max_scan_rows => 10000,
                                note => 'Analytics replica: replica.example:5432');
SET ROLE regress_rt_analyst;

-- 1. A generic plan whose estimate is 10 rows reads 30,000.
SET plan_cache_mode = force_generic_plan;
DO $$
DECLARE ids bigint[] := ARRAY(SELECT generate_series(1, 30000)::bigint); n bigint;
BEGIN
    SELECT count(*) INTO n FROM regress_rt WHERE id = ANY(ids);
END $$;
RESET plan_cache_mode;

-- 2. A TID list the planner cannot size.
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_rt WHERE ctid = ANY(ARRAY(
    SELECT ('(' || b || ',' || s || ')')::tid
      FROM generate_series(0, 300) b, generate_series(1, 200) s));
\set VERBOSITY terse
SELECT count(*) FROM regress_rt WHERE ctid = ANY(ARRAY(
    SELECT ('(' || b || ',' || s || ')')::tid
      FROM generate_series(0, 300) b, generate_series(1, 200) s));
\set VERBOSITY default

-- 3. A statement whose count stays within the limit is never stopped.
SELECT count(*) FROM regress_rt WHERE id <= 10000;
DO $$
DECLARE ids bigint[] := ARRAY(SELECT generate_series(1, 10000)::bigint); n bigint;
BEGIN
    SET LOCAL plan_cache_mode = force_generic_plan;
    SELECT count(*) INTO n FROM regress_rt WHERE id = ANY(ids);
    RAISE NOTICE 'read % rows', n;
END $$;

-- 4. Nested statements are counted within their own statement: three calls
--    of 6,000 rows each are three statements.
SELECT regress_rt_count(1, 6000) + regress_rt_count(6001, 12000)
       + regress_rt_count(12001, 18000) AS total;

-- 5. A cursor is counted across its FETCHes.
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM regress_rt WHERE ctid = ANY(ARRAY(
    SELECT ('(' || b || ',' || s || ')')::tid
      FROM generate_series(0, 300) b, generate_series(1, 200) s));
MOVE 6000 FROM c;
MOVE 6000 FROM c;
ROLLBACK;

-- 6. warn mode: the first crossing writes one WARNING, the statement runs.
RESET ROLE;
SELECT primary_guard.set_policy('regress_rt_analysts', 'limit', max_scan_rows => 10000,
                                mode => 'warn');
SET ROLE regress_rt_analyst;
SELECT count(*) FROM regress_rt WHERE ctid = ANY(ARRAY(
    SELECT ('(' || b || ',' || s || ')')::tid
      FROM generate_series(0, 300) b, generate_series(1, 200) s));
RESET ROLE;

-- The counters and recent_rejections() show the run-time rule.
SELECT verdict, rule, relation, reason ~ 'while running' AS while_running
  FROM primary_guard.recent_rejections() WHERE role = 'regress_rt_analyst'
 ORDER BY at DESC LIMIT 1;

-- 7. max_duration: a statement of a covered role still running after it
--    is cancelled (57014), naming the policy and the server state.
SELECT primary_guard.set_policy('regress_rt_analysts', 'limit', max_duration => '1s');
SELECT max_duration FROM primary_guard.policies WHERE role = 'regress_rt_analysts';
SELECT max_duration FROM primary_guard.effective_policy('regress_rt_analyst');
SET ROLE regress_rt_analyst;
SELECT pg_sleep(2);
\echo :LAST_ERROR_SQLSTATE
-- Inside a DO block (a utility statement) too.
DO $$ BEGIN PERFORM pg_sleep(2); END $$;
-- The session goes on; a short statement is not touched.
SELECT count(*) FROM regress_rt WHERE id < 10;
-- The timer of a finished statement does not reach the next one.
SELECT pg_sleep(0.3);
SELECT pg_sleep(0.3);
-- A lower statement_timeout wins, with its own message...
SET statement_timeout = '100ms';
SELECT pg_sleep(2);
-- ...and a higher one does not delay the policy's.
SET statement_timeout = '10s';
SELECT pg_sleep(2);
RESET statement_timeout;
-- Other roles are not affected.
RESET ROLE;
SET ROLE regress_rt_watcher;
SELECT pg_sleep(0.5);
RESET ROLE;

-- warn mode: the statement runs to its end and then warns, once.
SELECT primary_guard.set_policy('regress_rt_analysts', 'limit', max_duration => '100ms',
                                mode => 'warn');
SET ROLE regress_rt_analyst;
SELECT pg_sleep(0.3);
RESET ROLE;
SELECT verdict, rule FROM primary_guard.recent_rejections()
 WHERE role = 'regress_rt_analyst' ORDER BY at DESC LIMIT 1;

-- A foreign table counts like any relation: its FDW's estimate before the
-- statement runs, its rows while it runs (file_fdw reading a program has no
-- size to estimate from).
SELECT primary_guard.set_policy('regress_rt_analysts', 'limit', max_scan_rows => 10000);
CREATE EXTENSION file_fdw;
CREATE SERVER regress_rt_files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE regress_rt_ft (n int) SERVER regress_rt_files
    OPTIONS (program 'seq 1 30000');
GRANT SELECT ON regress_rt_ft TO regress_rt_analysts;
SET ROLE regress_rt_analyst;
\set VERBOSITY terse
SELECT count(*) FROM regress_rt_ft;
\set VERBOSITY default
SELECT count(*) FROM regress_rt_ft WHERE n < 100;
RESET ROLE;
DROP EXTENSION file_fdw CASCADE;

-- A subplan the plan references twice (an inherited UPDATE through a
-- security-barrier view, from PostgreSQL's updatable_views test) is
-- counted, and wrapped, once.
CREATE TABLE regress_rt_t1 (a int, b float, c text);
CREATE INDEX ON regress_rt_t1 (a);
INSERT INTO regress_rt_t1 SELECT i, i, 't1' FROM generate_series(1, 10) g(i);
CREATE TABLE regress_rt_t11 (d text) INHERITS (regress_rt_t1);
CREATE INDEX ON regress_rt_t11 (a);
INSERT INTO regress_rt_t11 SELECT i, i, 't11', 't11d' FROM generate_series(1, 10) g(i);
CREATE TABLE regress_rt_t12 (e int[]) INHERITS (regress_rt_t1);
CREATE INDEX ON regress_rt_t12 (a);
INSERT INTO regress_rt_t12 SELECT i, i, 't12', '{1,2}'::int[] FROM generate_series(1, 10) g(i);
CREATE TABLE regress_rt_t111 () INHERITS (regress_rt_t11, regress_rt_t12);
CREATE INDEX ON regress_rt_t111 (a);
INSERT INTO regress_rt_t111 SELECT i, i, 't111', 't111d', '{1,1,1}'::int[] FROM generate_series(1, 10) g(i);
ANALYZE regress_rt_t1, regress_rt_t11, regress_rt_t12, regress_rt_t111;
CREATE VIEW regress_rt_v1 WITH (security_barrier = true) AS
SELECT *, (SELECT d FROM regress_rt_t11 WHERE regress_rt_t11.a = regress_rt_t1.a LIMIT 1) AS d
  FROM regress_rt_t1
 WHERE a > 5 AND EXISTS (SELECT 1 FROM regress_rt_t12 WHERE regress_rt_t12.a = regress_rt_t1.a);
GRANT SELECT, UPDATE ON regress_rt_t1, regress_rt_t11, regress_rt_t12, regress_rt_t111,
      regress_rt_v1 TO regress_rt_analysts;
SET ROLE regress_rt_analyst;
UPDATE regress_rt_v1 SET a = a + 1 WHERE a = 8;
SELECT count(*) FROM regress_rt_t1 WHERE a = 9;
RESET ROLE;
DROP VIEW regress_rt_v1;
DROP TABLE regress_rt_t1 CASCADE;

-- Bad input.
SELECT primary_guard.set_policy('regress_rt_analysts', 'limit', max_duration => '0');
SELECT primary_guard.set_policy('regress_rt_analysts', 'limit', max_duration => '-1 s');
SELECT primary_guard.set_policy('regress_rt_analysts', 'allow', max_duration => '1 s');

SELECT primary_guard.drop_policy('regress_rt_analysts');
DROP FUNCTION regress_rt_count(bigint, bigint);
DROP TABLE regress_rt;
DROP ROLE regress_rt_analyst, regress_rt_analysts, regress_rt_watcher;
