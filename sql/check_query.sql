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

TRUNCATE primary_guard.policy;
DROP TABLE regress_big, regress_small;
DROP ROLE regress_analyst, regress_analysts, regress_outsider;
