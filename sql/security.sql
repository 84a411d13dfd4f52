-- Security: a guarded non-superuser tries every way out of its policy and
-- fails; nothing the extension runs can be shadowed through search_path.
-- Verdicts and SQLSTATE-bearing messages only, never estimates.
CREATE TABLE regress_sec_big (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO regress_sec_big SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
ANALYZE regress_sec_big;
SELECT current_user AS regress_superuser \gset
CREATE ROLE regress_sec_super SUPERUSER;
CREATE ROLE regress_sec_free LOGIN;
CREATE ROLE regress_sec_attacker LOGIN IN ROLE regress_sec_free;
GRANT SELECT ON regress_sec_big TO regress_sec_free, regress_sec_attacker;
CREATE SCHEMA regress_sec_evil AUTHORIZATION regress_sec_attacker;

SELECT primary_guard.set_policy('regress_sec_attacker', 'limit', max_scan_rows => 1000,
                                note => 'Use the replica.');
SELECT primary_guard.set_policy('regress_sec_free', 'allow');

\c - regress_sec_attacker
\set VERBOSITY terse
SELECT current_user, session_user;
SELECT count(*) FROM regress_sec_big;

-- The guard's GUCs: no route changes them.
SET primary_guard.enabled = off;
SET LOCAL primary_guard.enabled = off;
SELECT set_config('primary_guard.enabled', 'off', false);
SELECT set_config('primary_guard.enabled', 'off', true);
ALTER ROLE regress_sec_attacker SET primary_guard.enabled = off;
ALTER ROLE regress_sec_attacker IN DATABASE contrib_regression SET primary_guard.enabled = off;
ALTER DATABASE contrib_regression SET primary_guard.enabled = off;
ALTER SYSTEM SET primary_guard.enabled = off;
SET primary_guard.max_tracked_roles = 1;
SET primary_guard.recent_rejections_size = 0;
SELECT set_config('primary_guard.recent_rejections_size', '0', false);
ALTER ROLE regress_sec_attacker SET primary_guard.max_tracked_roles = 1;
ALTER SYSTEM SET primary_guard.max_tracked_roles = 1;
CREATE FUNCTION regress_sec_evil.unguarded() RETURNS bigint
    LANGUAGE sql SET primary_guard.enabled = off
    AS 'SELECT count(*) FROM regress_sec_big';
SELECT regress_sec_evil.unguarded();
RESET primary_guard.enabled;
RESET ALL;
DISCARD ALL;
SHOW primary_guard.enabled;
SELECT count(*) FROM regress_sec_big;

-- The policy table, its trigger, the view.
SELECT count(*) FROM primary_guard.policy;
SELECT count(*) FROM primary_guard.policies;
INSERT INTO primary_guard.policy (role, action) VALUES ('regress_sec_attacker', 'allow');
UPDATE primary_guard.policy SET action = 'allow';
DELETE FROM primary_guard.policy;
TRUNCATE primary_guard.policy;
ALTER TABLE primary_guard.policy DISABLE TRIGGER policy_changed;
ALTER TABLE primary_guard.policy DISABLE TRIGGER ALL;
DROP TRIGGER policy_changed ON primary_guard.policy;
ALTER TABLE primary_guard.policy RENAME TO policy_old;
CREATE TABLE primary_guard.policy2 (role regrole);
COPY primary_guard.policy FROM '/dev/null';
CREATE TRIGGER regress_sneaky BEFORE INSERT ON primary_guard.policy
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();

-- The management functions.
SELECT primary_guard.set_policy('regress_sec_attacker', 'allow');
SELECT primary_guard.drop_policy('regress_sec_attacker');
SELECT primary_guard.reset_stats();
SELECT primary_guard._policy_changed();
SELECT count(*) FROM primary_guard.stats;
SELECT count(*) FROM primary_guard.recent_rejections();
CREATE OR REPLACE FUNCTION primary_guard.server_state() RETURNS text
    LANGUAGE sql AS $$SELECT 'standby'$$;

-- The extension itself.
DROP EXTENSION primary_guard;
DROP EXTENSION primary_guard CASCADE;
ALTER EXTENSION primary_guard UPDATE;
ALTER EXTENSION primary_guard DROP TABLE primary_guard.policy;
ALTER EXTENSION primary_guard SET SCHEMA regress_sec_evil;
DROP SCHEMA primary_guard CASCADE;
ALTER SCHEMA primary_guard RENAME TO regress_sec_gone;
-- LOAD: only superusers may load libraries at all.
LOAD 'primary_guard';
LOAD '$libdir/primary_guard';
LOAD '/tmp/regress_no_such_library.so';
SELECT count(*) FROM regress_sec_big;

-- Becoming someone else.
SET SESSION AUTHORIZATION regress_sec_super;
SET ROLE regress_sec_super;
-- SET ROLE to an allowed group: the session user's policy still applies.
SET ROLE regress_sec_free;
SELECT current_user;
SELECT count(*) FROM regress_sec_big;
SELECT verdict FROM primary_guard.check_query('SELECT count(*) FROM regress_sec_big');
SELECT action, source FROM primary_guard.effective_policy();
RESET ROLE;

-- Its own SECURITY DEFINER function, SQL and PL/pgSQL, and a view: the
-- statements inside are checked like any other.
CREATE FUNCTION regress_sec_evil.definer_sql() RETURNS bigint
    LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM public.regress_sec_big';
CREATE FUNCTION regress_sec_evil.definer_plpgsql() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    AS $$BEGIN RETURN (SELECT count(*) FROM public.regress_sec_big); END$$;
CREATE VIEW regress_sec_evil.all_rows AS SELECT * FROM public.regress_sec_big;
SELECT regress_sec_evil.definer_sql();
SELECT regress_sec_evil.definer_plpgsql();
SELECT count(*) FROM regress_sec_evil.all_rows;
DO $$BEGIN PERFORM count(*) FROM public.regress_sec_big; END$$;

-- Planner settings do not shrink a full scan's estimate (the relation's
-- size on disk), nor do other plan shapes that read the whole table.
SET enable_seqscan = off;
SELECT count(*) FROM regress_sec_big;
RESET enable_seqscan;
SET seq_page_cost = 0;
SET cpu_tuple_cost = 0;
SET cpu_operator_cost = 0;
SELECT count(*) FROM regress_sec_big;
RESET ALL;
SELECT count(*) FROM regress_sec_big TABLESAMPLE SYSTEM (100);
SELECT count(*) FROM regress_sec_big TABLESAMPLE BERNOULLI (100);
SELECT count(*) FROM regress_sec_big WHERE ctid >= '(0,0)';
WITH r AS MATERIALIZED (SELECT * FROM regress_sec_big) SELECT count(*) FROM r;
SELECT (SELECT count(*) FROM regress_sec_big);
DECLARE regress_cur CURSOR WITH HOLD FOR SELECT * FROM regress_sec_big;
-- A point query still runs.
SELECT v = md5('7') AS ok FROM regress_sec_big WHERE id = 7;

-- A statement prepared before the policy existed, in a session that stays
-- open while the policy is set (here the superuser session under SET ROLE;
-- specs/policy_race.spec does it across two sessions): each EXECUTE is
-- checked again, so the next one is rejected.
\c - :regress_superuser
SELECT primary_guard.drop_policy('regress_sec_attacker');
SET ROLE regress_sec_attacker;
PREPARE regress_held AS SELECT count(*) FROM regress_sec_big;
EXECUTE regress_held;
DECLARE regress_held_cur CURSOR WITH HOLD FOR SELECT count(*) FROM regress_sec_big;
RESET ROLE;
SELECT primary_guard.set_policy('regress_sec_attacker', 'limit', max_scan_rows => 1000,
                                note => 'Use the replica.');
SET ROLE regress_sec_attacker;
EXECUTE regress_held;
-- A cursor opened before the policy was set was checked when it was opened.
FETCH regress_held_cur;
CLOSE regress_held_cur;
RESET ROLE;
DEALLOCATE regress_held;

-- search_path shadowing.  The attacker's schema holds functions, operators,
-- a table and a view named like everything the extension's SQL and C code
-- use; each one, if ever run, leaves a row in regress_sec_evil.ran.
\c - regress_sec_attacker
CREATE TABLE regress_sec_evil.ran (what text);
GRANT ALL ON regress_sec_evil.ran TO PUBLIC;
GRANT USAGE ON SCHEMA regress_sec_evil TO PUBLIC;
CREATE FUNCTION regress_sec_evil.trap(what text) RETURNS void
    LANGUAGE plpgsql AS $$BEGIN
      INSERT INTO regress_sec_evil.ran VALUES (what);
      RAISE NOTICE 'attacker code ran: %', what;
    END$$;
CREATE FUNCTION regress_sec_evil.now() RETURNS timestamptz
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('now'); RETURN pg_catalog.now(); END$$;
CREATE FUNCTION regress_sec_evil.pg_size_pretty(bigint) RETURNS text
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('pg_size_pretty'); RETURN 'x'; END$$;
CREATE FUNCTION regress_sec_evil.pg_size_bytes(text) RETURNS bigint
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('pg_size_bytes'); RETURN 0; END$$;
CREATE FUNCTION regress_sec_evil.text(regrole) RETURNS text
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('text(regrole)'); RETURN 'x'; END$$;
CREATE FUNCTION regress_sec_evil.upper(text) RETURNS text
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('upper'); RETURN $1; END$$;
CREATE FUNCTION regress_sec_evil.lower(text) RETURNS text
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('lower'); RETURN $1; END$$;
CREATE FUNCTION regress_sec_evil.eq_oid(oid, oid) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('= oid'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION regress_sec_evil.ne_oid(oid, oid) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('<> oid'); RETURN $1 OPERATOR(pg_catalog.<>) $2; END$$;
CREATE FUNCTION regress_sec_evil.eq_text(text, text) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('= text'); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION regress_sec_evil.eq_regrole(regrole, regrole) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN PERFORM regress_sec_evil.trap('= regrole'); RETURN $1::oid OPERATOR(pg_catalog.=) $2::oid; END$$;
CREATE OPERATOR regress_sec_evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = regress_sec_evil.eq_oid);
CREATE OPERATOR regress_sec_evil.<> (LEFTARG = oid, RIGHTARG = oid, FUNCTION = regress_sec_evil.ne_oid);
CREATE OPERATOR regress_sec_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_sec_evil.eq_text);
CREATE OPERATOR regress_sec_evil.= (LEFTARG = regrole, RIGHTARG = regrole, FUNCTION = regress_sec_evil.eq_regrole);
CREATE TABLE regress_sec_evil.policy (role regrole, server_state text, action text);
CREATE TABLE regress_sec_evil.pg_roles (oid oid, rolname name);
CREATE VIEW regress_sec_evil.policies AS SELECT 'fake' AS role;
INSERT INTO regress_sec_evil.policy VALUES ('regress_sec_attacker', 'primary', 'allow');
GRANT ALL ON ALL TABLES IN SCHEMA regress_sec_evil TO PUBLIC;
-- The traps work when called on purpose.
SET search_path = regress_sec_evil, pg_catalog, public;
SELECT 1::oid = 1::oid AS trap_fires;
RESET search_path;
TRUNCATE regress_sec_evil.ran;

-- The guarded attacker calls what it may, with its schema first.
SET search_path = regress_sec_evil, pg_catalog, public;
SELECT action, max_scan_rows, source FROM primary_guard.effective_policy();
SELECT action, source FROM primary_guard.effective_policy('regress_sec_attacker', 'primary');
SELECT verdict FROM primary_guard.check_query('SELECT count(*) FROM public.regress_sec_big');
SELECT primary_guard.server_state();
SELECT count(*) FROM public.regress_sec_big;
RESET search_path;

-- A superuser lured into the attacker's search_path manages policies.
\c - :regress_superuser
SET search_path = regress_sec_evil, pg_catalog, public;
SELECT primary_guard.set_policy('regress_sec_attacker', 'limit', max_scan_rows => 1000,
                                max_scan_size => '1GB', blocked_commands => '{vacuum}',
                                note => 'Use the replica.');
SELECT role, action, max_scan_rows, max_scan_size, blocked_commands, dangling
  FROM primary_guard.policies WHERE role OPERATOR(pg_catalog.=) 'regress_sec_attacker';
SELECT action, max_scan_size, source FROM primary_guard.effective_policy('regress_sec_attacker');
SELECT verdict FROM primary_guard.check_query('SELECT count(*) FROM public.regress_sec_big',
                                              'regress_sec_attacker');
SELECT primary_guard.drop_policy('regress_sec_free');
SELECT primary_guard.set_policy('regress_sec_free', 'allow');
-- (the caller's own comparisons are written OPERATOR(pg_catalog.=): only
-- what the extension runs is under test)
SELECT role, checked > 0 AS checked FROM primary_guard.stats
 WHERE role OPERATOR(pg_catalog.=) 'regress_sec_attacker';
SELECT count(*) > 0 AS has_rows FROM primary_guard.recent_rejections();
SET ROLE regress_sec_attacker;
SELECT count(*) FROM public.regress_sec_big;
RESET ROLE;
RESET search_path;
SELECT count(*) AS attacker_code_runs FROM regress_sec_evil.ran;
SET client_min_messages = warning;
\set VERBOSITY default

-- Clean up.
TRUNCATE primary_guard.policy;
DROP SCHEMA regress_sec_evil CASCADE;
RESET client_min_messages;
DROP TABLE regress_sec_big;
DROP ROLE regress_sec_attacker, regress_sec_free, regress_sec_super;
