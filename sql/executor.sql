-- The executor guard: every statement that reaches the executor, at every
-- nesting level, against deny and limit policies.
CREATE TABLE regress_big (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO regress_big SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
CREATE TABLE regress_small (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO regress_small SELECT g, g::text FROM generate_series(1, 100) g;
CREATE TABLE regress_parts (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE regress_parts_1 PARTITION OF regress_parts FOR VALUES FROM (0) TO (30000) WITH (autovacuum_enabled = off);
CREATE TABLE regress_parts_2 PARTITION OF regress_parts FOR VALUES FROM (30000) TO (60000) WITH (autovacuum_enabled = off);
CREATE TABLE regress_parts_3 PARTITION OF regress_parts FOR VALUES FROM (60000) TO (90000) WITH (autovacuum_enabled = off);
CREATE TABLE regress_parts_4 PARTITION OF regress_parts FOR VALUES FROM (90000) TO (120000) WITH (autovacuum_enabled = off);
INSERT INTO regress_parts SELECT g, 'x' FROM generate_series(0, 119999) g;
CREATE TABLE regress_inh_parent (id int) WITH (autovacuum_enabled = off);
CREATE TABLE regress_inh_child1 () INHERITS (regress_inh_parent) WITH (autovacuum_enabled = off);
CREATE TABLE regress_inh_child2 () INHERITS (regress_inh_parent) WITH (autovacuum_enabled = off);
INSERT INTO regress_inh_child1 SELECT g FROM generate_series(1, 30000) g;
INSERT INTO regress_inh_child2 SELECT g FROM generate_series(1, 30000) g;
CREATE TABLE regress_never_analyzed (id int, v text) WITH (autovacuum_enabled = off);
ANALYZE regress_big, regress_small, regress_parts, regress_inh_parent, regress_inh_child1, regress_inh_child2;
INSERT INTO regress_never_analyzed SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
CREATE VIEW regress_big_view AS SELECT * FROM regress_big;
CREATE VIEW regress_catalog_view AS SELECT relname FROM pg_class;

CREATE ROLE regress_analysts;
CREATE ROLE regress_analyst IN ROLE regress_analysts;
CREATE ROLE regress_free;
GRANT regress_free TO regress_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO regress_analysts, regress_free;
CREATE FUNCTION regress_count_big() RETURNS bigint LANGUAGE plpgsql AS
$$ BEGIN RETURN (SELECT count(*) FROM regress_big); END $$;
CREATE PROCEDURE regress_proc() LANGUAGE plpgsql AS
$$ BEGIN PERFORM count(*) FROM regress_big; END $$;
-- Owned by the superuser running the tests.
CREATE FUNCTION regress_definer_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS
$$ SELECT count(*) FROM regress_big $$;
CREATE MATERIALIZED VIEW regress_mv AS SELECT count(*) FROM regress_big WITH NO DATA;
ALTER MATERIALIZED VIEW regress_mv OWNER TO regress_analyst;

-- A statement prepared before any policy exists.
SET ROLE regress_analyst;
PREPARE early_heavy AS SELECT count(*) FROM regress_big;
RESET ROLE;

SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_rows => 50000,
         note => 'Analytics replica: replica.example:5432');

SET ROLE regress_analyst;

-- Small and indexed reads pass; full scans of big relations do not.
SELECT count(*) FROM regress_small;
SELECT v FROM regress_big WHERE id = 42;
SELECT count(*) FROM regress_big;
-- The estimate is the whole relation, not the rows left after WHERE.
SELECT count(*) FROM regress_big WHERE v = 'no such value';
-- An index scan without an index condition is a full scan too.
SET enable_seqscan = off;
SELECT id FROM regress_big ORDER BY id LIMIT 1;
RESET enable_seqscan;
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*) FROM regress_big WHERE id > 0 AND id < 10;
RESET enable_seqscan; RESET enable_bitmapscan;
-- Parallel sequential scans.
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_big;
SELECT count(*) FROM regress_big;
RESET parallel_setup_cost; RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;

-- Partitions and inheritance children add up under their parent.
SELECT count(*) FROM regress_parts_1;
SELECT count(*) FROM regress_parts WHERE id < 30000;
SELECT count(*) FROM regress_parts;
SELECT count(*) FROM regress_inh_child1;
SELECT count(*) FROM regress_inh_parent;

-- Never analyzed: measured from its size on disk.
\set VERBOSITY terse
SELECT count(*) FROM regress_never_analyzed;
\set VERBOSITY default

-- Views, CTEs, sublinks, subplans, joins.
SELECT count(*) FROM regress_big_view;
WITH x AS MATERIALIZED (SELECT * FROM regress_big) SELECT count(*) FROM x;
SELECT (SELECT count(*) FROM regress_big) AS n;
SELECT count(*) FROM regress_small s WHERE EXISTS (SELECT 1 FROM regress_big b WHERE b.v = s.v);

-- Writes with their scans.
UPDATE regress_big SET v = v WHERE id = 1;
UPDATE regress_big SET v = v WHERE v = 'nothing';
DELETE FROM regress_big WHERE v = 'nothing';
MERGE INTO regress_small s USING regress_big b ON s.id = b.id
  WHEN MATCHED AND b.v = 'nothing' THEN UPDATE SET v = b.v;
INSERT INTO regress_small SELECT id + 1000, v FROM regress_big WHERE v = 'nothing';

-- Inside functions, procedures and DO blocks.
SELECT regress_count_big();
DO $$ BEGIN PERFORM count(*) FROM regress_big; END $$;
CALL regress_proc();
-- A SECURITY DEFINER function does not escape: the session's policy applies.
SELECT regress_definer_count();

-- Prepared statements: each EXECUTE is checked, also if prepared before the policy.
PREPARE heavy AS SELECT count(*) FROM regress_big;
EXECUTE heavy;
EXECUTE early_heavy;
PREPARE light(int) AS SELECT v FROM regress_big WHERE id = $1;
EXECUTE light(7);

-- Cursors when opened.
BEGIN;
DECLARE c CURSOR FOR SELECT * FROM regress_big;
ROLLBACK;
BEGIN;
DECLARE c CURSOR FOR SELECT * FROM regress_small ORDER BY id;
FETCH 2 FROM c;
COMMIT;

-- CREATE TABLE AS, SELECT INTO, REFRESH MATERIALIZED VIEW, COPY (query) TO.
CREATE TEMP TABLE regress_copy AS SELECT * FROM regress_big;
SELECT * INTO TEMP regress_copy2 FROM regress_big;
REFRESH MATERIALIZED VIEW regress_mv;
COPY (SELECT * FROM regress_big) TO STDOUT;
COPY (SELECT id FROM regress_small WHERE id < 3) TO STDOUT;

-- Plain EXPLAIN is never rejected; EXPLAIN ANALYZE runs the plan and is.
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_big;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM regress_big;

-- SET ROLE to an allowed role does not escape the session user's policy.
RESET ROLE;
SELECT primary_guard.set_policy('regress_free', 'allow');
SET SESSION AUTHORIZATION regress_analyst;
SET ROLE regress_free;
SELECT count(*) FROM regress_big;
RESET ROLE;
RESET SESSION AUTHORIZATION;
SET ROLE regress_free;
SELECT count(*) FROM regress_big;
RESET ROLE;

-- An own policy wins over the group's.
SELECT primary_guard.set_policy('regress_analyst', 'allow');
SET ROLE regress_analyst;
SELECT count(*) FROM regress_big;
RESET ROLE;
SELECT primary_guard.drop_policy('regress_analyst');

-- max_scan_size and max_cost (estimates vary by machine: terse output).
\set VERBOSITY terse
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_size => '1MB');
SET ROLE regress_analyst;
SELECT count(*) FROM regress_small;
SELECT count(*) FROM regress_big;
RESET ROLE;
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_cost => 1000);
SET ROLE regress_analyst;
SELECT v FROM regress_big WHERE id = 3;
SELECT count(*) FROM regress_big;
SELECT count(*) FROM regress_small a, regress_small b, regress_small c;
RESET ROLE;
-- max_scan_rows => 0 forbids every full scan, however small (the planner
-- reads a one-page table sequentially even for a point query).
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_rows => 0);
SET ROLE regress_analyst;
SELECT count(*) FROM regress_small;
SELECT v FROM regress_small WHERE id = 1;
RESET ROLE;
\set VERBOSITY default

-- Warn mode: the same message as a WARNING, and the statement runs.
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_rows => 50000, mode => 'warn');
SET ROLE regress_analyst;
SELECT count(*) FROM regress_big;
RESET ROLE;

-- deny: nothing outside pg_catalog, information_schema and pg_toast.
SELECT primary_guard.set_policy('regress_analysts', 'deny', note => 'Ask #data-platform.');
SET ROLE regress_analyst;
SELECT 1 AS one;
SELECT pg_is_in_recovery(), primary_guard.server_state();
SELECT count(*) > 0 AS has_classes FROM pg_class;
SELECT count(*) > 0 AS has_tables FROM information_schema.tables;
SELECT count(*) FROM regress_small;
SELECT id FROM regress_small WHERE id = 1;
INSERT INTO regress_small VALUES (1000, 'x');
SELECT count(*) FROM regress_catalog_view;
SELECT regress_count_big();
RESET ROLE;

-- Superusers are not exempt from policies that match them, but may turn the
-- guard off for their own session.
SELECT primary_guard.set_policy('public', 'limit', max_scan_rows => 50000);
SELECT primary_guard.drop_policy('regress_analysts');
SELECT count(*) FROM regress_big;
SET primary_guard.enabled = off;
SELECT count(*) FROM regress_big;
RESET primary_guard.enabled;
SELECT count(*) FROM regress_big;
SET primary_guard.enabled = off;
TRUNCATE primary_guard.policy;
RESET primary_guard.enabled;

DEALLOCATE ALL;
DROP MATERIALIZED VIEW regress_mv;
DROP FUNCTION regress_count_big(), regress_definer_count();
DROP PROCEDURE regress_proc();
DROP VIEW regress_big_view, regress_catalog_view;
DROP TABLE regress_big, regress_small, regress_parts, regress_inh_parent CASCADE;
DROP TABLE regress_never_analyzed;
DROP ROLE regress_analyst, regress_analysts, regress_free;
