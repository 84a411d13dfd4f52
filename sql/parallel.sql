-- Parallel workers: the plan fragment a leader hands over was checked in
-- the leader, but every statement a function runs inside a worker is
-- checked, against the leader's session user and SET ROLE role.
CREATE TABLE regress_par_big (id int) WITH (autovacuum_enabled = off);
INSERT INTO regress_par_big SELECT g FROM generate_series(1, 200000) g;
ANALYZE regress_par_big;
CREATE ROLE regress_par_limited;
CREATE ROLE regress_par_denied;
GRANT SELECT ON regress_par_big TO regress_par_limited, regress_par_denied;
GRANT TEMPORARY ON DATABASE contrib_regression TO regress_par_limited;
CREATE FUNCTION regress_par_count() RETURNS bigint LANGUAGE plpgsql PARALLEL SAFE AS
$$ BEGIN RETURN (SELECT count(*) FROM regress_par_big); END $$;
SELECT primary_guard.set_policy('regress_par_limited', 'limit', max_scan_rows => 1000);
SELECT primary_guard.set_policy('regress_par_denied', 'deny');
-- force_parallel_mode was renamed debug_parallel_query in 16.
CREATE FUNCTION regress_par_force(on_off text) RETURNS void LANGUAGE sql AS
$$ SELECT set_config(name, on_off, false) FROM pg_settings
    WHERE name IN ('force_parallel_mode', 'debug_parallel_query') $$;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;

-- A limited role's own PARALLEL SAFE function, run in a worker.
SET ROLE regress_par_limited;
CREATE FUNCTION pg_temp.cnt() RETURNS bigint LANGUAGE plpgsql PARALLEL SAFE AS
$$ BEGIN RETURN (SELECT count(*) FROM regress_par_big); END $$;
-- (The temporary schema's name varies: no CONTEXT lines for these two.)
\set SHOW_CONTEXT never
SELECT pg_temp.cnt();
SELECT regress_par_force('on');
EXPLAIN (COSTS OFF) SELECT pg_temp.cnt();
SELECT pg_temp.cnt();
\set SHOW_CONTEXT errors
SELECT regress_par_count();
-- A real parallel plan: checked in the leader.
SELECT regress_par_force('off');
SELECT count(*) FROM regress_par_big;
RESET ROLE;

-- A deny role and an ordinary application function.
SET ROLE regress_par_denied;
SELECT regress_par_force('on');
SELECT regress_par_count();
-- Catalog reads in a worker stay allowed.
SELECT count(*) > 0 AS catalogs FROM pg_class;
SELECT regress_par_force('off');
RESET ROLE;

-- Turning the guard off is logged once, by the session that did it (not
-- by each worker restoring the leader's settings): see t/011.
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
SELECT primary_guard.drop_policy('regress_par_limited');
SELECT primary_guard.drop_policy('regress_par_denied');
DROP FUNCTION regress_par_count(), regress_par_force(text), pg_temp.cnt();
DROP TABLE regress_par_big;
REVOKE TEMPORARY ON DATABASE contrib_regression FROM regress_par_limited;
DROP ROLE regress_par_limited, regress_par_denied;
