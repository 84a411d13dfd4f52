-- max_scan_rows / max_scan_size count every row a plan reads from a
-- relation, by any access path, loops included (issue: "Count every row a
-- plan reads").  Each case keeps its EXPLAIN next to the verdict, so that
-- a planner change shows up as a diff.  Estimates vary with ANALYZE's
-- sample, so verdicts are shown tersely where the numbers are not exact.
CREATE TABLE regress_rr (id bigint PRIMARY KEY, created_at timestamptz,
                         account int, amount numeric)
    WITH (autovacuum_enabled = off);
INSERT INTO regress_rr
SELECT g, '2026-01-01'::timestamptz + g * interval '1 second', g % 100, g
  FROM generate_series(1, 100000) g;
CREATE INDEX regress_rr_created_at ON regress_rr (created_at);
CREATE TABLE regress_rr_parts (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE regress_rr_parts_1 PARTITION OF regress_rr_parts FOR VALUES FROM (0) TO (5000);
CREATE TABLE regress_rr_parts_2 PARTITION OF regress_rr_parts FOR VALUES FROM (5000) TO (10000);
CREATE TABLE regress_rr_parts_3 PARTITION OF regress_rr_parts FOR VALUES FROM (10000) TO (15000);
CREATE TABLE regress_rr_parts_4 PARTITION OF regress_rr_parts FOR VALUES FROM (15000) TO (20000);
INSERT INTO regress_rr_parts SELECT g, 'x' FROM generate_series(0, 19999) g;
ANALYZE regress_rr, regress_rr_parts;

CREATE ROLE regress_rr_analysts;
CREATE ROLE regress_rr_analyst IN ROLE regress_rr_analysts;
GRANT SELECT ON regress_rr, regress_rr_parts TO regress_rr_analysts;
CREATE FUNCTION regress_rr_amount(bigint) RETURNS numeric LANGUAGE sql STABLE AS
$$ SELECT amount FROM regress_rr WHERE id = $1 $$;
SELECT primary_guard.set_policy('regress_rr_analysts', 'limit', max_scan_rows => 10000);
SET ROLE regress_rr_analyst;
\set VERBOSITY terse

-- 1. A plain analytics query over a recent range reads ~20,000 rows
--    through an index: counted, whatever the access path.
EXPLAIN (COSTS OFF) SELECT account, sum(amount) FROM regress_rr
 WHERE created_at > '2026-01-01'::timestamptz + interval '80000 seconds' GROUP BY account;
SELECT account, sum(amount) FROM regress_rr
 WHERE created_at > '2026-01-01'::timestamptz + interval '80000 seconds' GROUP BY account;
-- The same through the index only, and through a bitmap.
SET enable_seqscan = off; SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_rr
 WHERE created_at > '2026-01-01'::timestamptz + interval '80000 seconds';
SELECT count(*) FROM regress_rr
 WHERE created_at > '2026-01-01'::timestamptz + interval '80000 seconds';
SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_rr
 WHERE created_at > '2026-01-01'::timestamptz + interval '80000 seconds';
SELECT count(*) FROM regress_rr
 WHERE created_at > '2026-01-01'::timestamptz + interval '80000 seconds';
RESET enable_seqscan; RESET enable_indexscan; RESET enable_indexonlyscan; RESET enable_bitmapscan;

-- A narrow range of the same index stays allowed.
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_rr
 WHERE created_at > '2026-01-01'::timestamptz + interval '99000 seconds';
SELECT count(*) FROM regress_rr
 WHERE created_at > '2026-01-01'::timestamptz + interval '99000 seconds';

-- 2. Every row through the primary key, with sequential scans disabled:
--    an index scan with a condition that matches everything.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_rr WHERE id > 0;
SELECT count(*) FROM regress_rr WHERE id > 0;
SET enable_indexonlyscan = off; SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_rr WHERE id > 0;
SELECT count(*) FROM regress_rr WHERE id > 0;
RESET enable_seqscan; RESET enable_indexonlyscan; RESET enable_indexscan;
-- IS NOT NULL matches every row too: an index condition on 15, none (a full
-- index scan) on 18, which knows the column is NOT NULL; rejected either way.
SET enable_seqscan = off;
SELECT count(*) FROM regress_rr WHERE id IS NOT NULL;
RESET enable_seqscan;

-- A parallel full scan reads the relation once, shared by its participants.
SET enable_seqscan = off; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SET min_parallel_index_scan_size = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_rr;
\set VERBOSITY default
SELECT count(*) FROM regress_rr;
\set VERBOSITY terse
RESET enable_seqscan; RESET parallel_setup_cost; RESET parallel_tuple_cost;
RESET min_parallel_index_scan_size; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- 3. Point lookups and small joins stay allowed.
EXPLAIN (COSTS OFF) SELECT amount FROM regress_rr WHERE id = 42;
SELECT amount FROM regress_rr WHERE id = 42;
SELECT count(*) FROM regress_rr WHERE id IN (1, 2, 3);
SELECT count(*) FROM regress_rr WHERE ctid = ANY (ARRAY['(0,1)'::tid, '(0,2)'::tid]);

-- 4. Loops: a nested loop probing the table once per outer row.
SET enable_hashjoin = off; SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM generate_series(1, 100000) g JOIN regress_rr r ON r.id = g;
\set VERBOSITY default
SELECT count(*) FROM generate_series(1, 100000) g JOIN regress_rr r ON r.id = g;
\set VERBOSITY terse
-- 500 probes are fine.
SELECT count(*) FROM generate_series(1, 500) g JOIN regress_rr r ON r.id = g;
RESET enable_hashjoin; RESET enable_mergejoin;

-- A correlated subplan runs once per outer row.
EXPLAIN (COSTS OFF) SELECT sum((SELECT amount FROM regress_rr r WHERE r.id = s.a))
  FROM generate_series(1, 50000) s(a);
SELECT sum((SELECT amount FROM regress_rr r WHERE r.id = s.a)) FROM generate_series(1, 50000) s(a);
SELECT sum((SELECT amount FROM regress_rr r WHERE r.id = s.a)) FROM generate_series(1, 500) s(a);
-- A function's statement is its own statement: 500 calls of a point
-- lookup are 500 allowed statements, not one statement of 500 rows.
SELECT sum(regress_rr_amount(g)) FROM generate_series(1, 500) g;

-- 5. Partitions add up under their parent; pruned ones do not count.
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_rr_parts;
SELECT count(*) FROM regress_rr_parts;
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_rr_parts WHERE id < 4000;
SELECT count(*) FROM regress_rr_parts WHERE id < 4000;
-- A prepared statement gets the same verdict from its custom plans and
-- from the generic plan, whose partitions are pruned when it starts.
PREPARE regress_rr_q(int) AS SELECT count(*) FROM regress_rr_parts WHERE id < $1;
SET plan_cache_mode = force_custom_plan;
EXECUTE regress_rr_q(4000);
EXECUTE regress_rr_q(12000);
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE regress_rr_q(4000);
EXECUTE regress_rr_q(4000);
EXECUTE regress_rr_q(12000);
RESET plan_cache_mode;
-- Six executions: no flip at the sixth, when the plan cache goes generic.
EXECUTE regress_rr_q(4000);
EXECUTE regress_rr_q(4000);
EXECUTE regress_rr_q(4000);
EXECUTE regress_rr_q(4000);
EXECUTE regress_rr_q(4000);
EXECUTE regress_rr_q(4000);
DEALLOCATE regress_rr_q;

-- 6. Cost settings do not change what is counted.
SET seq_page_cost = 0; SET random_page_cost = 0; SET cpu_tuple_cost = 0;
SELECT count(*) FROM regress_rr WHERE created_at > '2026-01-01'::timestamptz + interval '80000 seconds';
RESET seq_page_cost; RESET random_page_cost; RESET cpu_tuple_cost;
\set VERBOSITY default

-- 7. max_scan_size follows from rows: index reads count their bytes too.
RESET ROLE;
SELECT primary_guard.set_policy('regress_rr_analysts', 'limit', max_scan_size => '256kB');
SET ROLE regress_rr_analyst;
\set VERBOSITY terse
SELECT count(*) FROM regress_rr WHERE id < 100;
SET enable_seqscan = off;
SELECT count(*) FROM regress_rr WHERE id < 20000;
RESET enable_seqscan;
\set VERBOSITY default

-- 8. max_scan_rows => 0 keeps its 1.0 meaning: no full scans, and reads
--    through an index condition are not limited by it.
RESET ROLE;
SELECT primary_guard.set_policy('regress_rr_analysts', 'limit', max_scan_rows => 0);
SET ROLE regress_rr_analyst;
SELECT count(*) FROM regress_rr;
SET enable_seqscan = off;
SELECT count(*) > 0 AS read_through_index FROM regress_rr WHERE id < 20000;
RESET enable_seqscan;

-- check_query() reports the same estimate as the hooks.
RESET ROLE;
SELECT primary_guard.set_policy('regress_rr_analysts', 'limit', max_scan_rows => 10000);
SET enable_hashjoin = off; SET enable_mergejoin = off;
SELECT verdict, reason ~ '^statement rejected on primary server: read of "regress_rr" is too large: Index(-only)? scan of "regress_rr" would read about \d+ rows in 100000 loops' AS nested_loop_reason
  FROM primary_guard.check_query(
       'SELECT count(*) FROM generate_series(1, 100000) g JOIN regress_rr r ON r.id = g',
       'regress_rr_analyst');
RESET enable_hashjoin; RESET enable_mergejoin;

RESET ROLE;
SELECT primary_guard.drop_policy('regress_rr_analysts');
DROP FUNCTION regress_rr_amount(bigint);
DROP TABLE regress_rr, regress_rr_parts;
DROP ROLE regress_rr_analyst, regress_rr_analysts;
