-- bench/roles.sql - the benchmark's roles, shared by run.sh and callgrind.sh.
-- psql -v ngroups=N -v nfill=N < bench/roles.sql
--
-- bench_free (no policy), bench_limited (member of :ngroups policy groups:
-- 10 directly, each of those of 4 more), bench_reject (own tight policy,
-- see policies.sql) and :nfill filler roles, so that with policies.sql the
-- policy table holds ngroups + nfill + 1 rows.
SET bench.ngroups = :ngroups;
SET bench.nfill = :nfill;
CREATE ROLE bench_free LOGIN;
CREATE ROLE bench_limited LOGIN;
CREATE ROLE bench_reject LOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench_free, bench_limited, bench_reject;
DO $$
DECLARE
  ngroups int := current_setting('bench.ngroups')::int;
  nfill int := current_setting('bench.nfill')::int;
BEGIN
  FOR i IN 1..ngroups LOOP
    EXECUTE format('CREATE ROLE bench_grp_%s NOLOGIN', i);
  END LOOP;
  FOR i IN 1..10 LOOP
    EXECUTE format('GRANT bench_grp_%s TO bench_limited', i);
    FOR j IN 0..3 LOOP
      EXECUTE format('GRANT bench_grp_%s TO bench_grp_%s', 11 + (i - 1) * 4 + j, i);
    END LOOP;
  END LOOP;
  FOR i IN 1..nfill LOOP
    EXECUTE format('CREATE ROLE bench_fill_%s NOLOGIN', i);
  END LOOP;
END
$$;
