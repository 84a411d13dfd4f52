-- bench/policies.sql - the extension and its policies, after roles.sql.
-- psql -v ngroups=N -v nfill=N < bench/policies.sql
--
-- The groups' limits are generous: statements pass, so what is measured is
-- the cost of checking, not of rejecting.
CREATE EXTENSION primary_guard;
SELECT count(primary_guard.set_policy('bench_grp_' || i, 'limit',
         max_cost => 1e9 + i, max_scan_rows => 100000000 + i,
         max_scan_size => (10000 + i)::text || 'MB'))
  FROM generate_series(1, :ngroups) AS i;
SELECT count(primary_guard.set_policy('bench_fill_' || i,
         CASE i % 3 WHEN 0 THEN 'allow' WHEN 1 THEN 'limit' ELSE 'deny' END,
         max_scan_rows => CASE i % 3 WHEN 1 THEN i END))
  FROM generate_series(1, :nfill) AS i;
SELECT primary_guard.set_policy('bench_reject', 'limit', max_scan_rows => 1000);
