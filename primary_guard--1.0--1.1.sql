/* primary_guard--1.0--1.1.sql: upgrade 1.0 in place, keeping every policy */

\echo Use "ALTER EXTENSION primary_guard UPDATE TO '1.1'" to load this file. \quit

-- 1.0 adopted a schema named primary_guard that already existed, whoever
-- owned it.  Its owner could have planted operators that the 1.0 CHECK
-- constraints bound to.  Refuse to go on unless a superuser owns it; the
-- constraints are then rebuilt with qualified operators below.
DO $check$
DECLARE
    owner pg_catalog.name;
BEGIN
    SELECT r.rolname INTO owner
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'primary_guard'
       AND NOT r.rolsuper;
    IF FOUND THEN
        RAISE EXCEPTION 'schema "primary_guard" is owned by "%", who is not a superuser', owner
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Someone created the schema before CREATE EXTENSION adopted it. Inspect it for objects the extension did not create, then ALTER SCHEMA primary_guard OWNER TO a superuser and update again.';
    END IF;
END
$check$;

REVOKE ALL ON SCHEMA primary_guard FROM PUBLIC;
GRANT USAGE ON SCHEMA primary_guard TO PUBLIC;

-- Every CHECK constraint again, with schema-qualified operators.
ALTER TABLE primary_guard.policy
    DROP CONSTRAINT policy_server_state_check,
    DROP CONSTRAINT policy_action_check,
    DROP CONSTRAINT policy_mode_check,
    DROP CONSTRAINT policy_max_cost_check,
    DROP CONSTRAINT policy_max_scan_rows_check,
    DROP CONSTRAINT policy_max_scan_size_check,
    DROP CONSTRAINT policy_thresholds_need_limit,
    DROP CONSTRAINT policy_limit_needs_threshold,
    ADD COLUMN max_duration pg_catalog.interval
        CONSTRAINT policy_max_duration_check
        CHECK (max_duration OPERATOR(pg_catalog.>) CAST('0' AS pg_catalog.interval)),
    ADD CONSTRAINT policy_server_state_check
        CHECK (server_state OPERATOR(pg_catalog.=) ANY
               (ARRAY['primary', 'standby']::pg_catalog.text[])),
    ADD CONSTRAINT policy_action_check
        CHECK (action OPERATOR(pg_catalog.=) ANY
               (ARRAY['allow', 'limit', 'deny']::pg_catalog.text[])),
    ADD CONSTRAINT policy_mode_check
        CHECK (mode OPERATOR(pg_catalog.=) ANY
               (ARRAY['enforce', 'warn']::pg_catalog.text[])),
    ADD CONSTRAINT policy_max_cost_check
        CHECK (max_cost OPERATOR(pg_catalog.>=) CAST(0 AS pg_catalog.float8)),
    ADD CONSTRAINT policy_max_scan_rows_check
        CHECK (max_scan_rows OPERATOR(pg_catalog.>=) CAST(0 AS pg_catalog.int8)),
    ADD CONSTRAINT policy_max_scan_size_check
        CHECK (max_scan_size OPERATOR(pg_catalog.>=) CAST(0 AS pg_catalog.int8)),
    ADD CONSTRAINT policy_thresholds_need_limit CHECK (
        action OPERATOR(pg_catalog.=) 'limit'
        OR (max_cost IS NULL AND max_scan_rows IS NULL AND max_scan_size IS NULL
            AND blocked_commands IS NULL AND max_duration IS NULL)),
    ADD CONSTRAINT policy_limit_needs_threshold CHECK (
        action OPERATOR(pg_catalog.<>) 'limit'
        OR max_cost IS NOT NULL OR max_scan_rows IS NOT NULL
        OR max_scan_size IS NOT NULL OR blocked_commands IS NOT NULL
        OR max_duration IS NOT NULL);

-- set_policy gains max_duration (last, so positional calls keep working).
DROP FUNCTION primary_guard.set_policy(pg_catalog.text, pg_catalog.text,
    pg_catalog.text, pg_catalog.float8, pg_catalog.int8, pg_catalog.text,
    pg_catalog.text[], pg_catalog.text, pg_catalog.text);
CREATE FUNCTION primary_guard.set_policy(
    role pg_catalog.text,
    action pg_catalog.text,
    server_state pg_catalog.text DEFAULT 'primary',
    max_cost pg_catalog.float8 DEFAULT NULL,
    max_scan_rows pg_catalog.int8 DEFAULT NULL,
    max_scan_size pg_catalog.text DEFAULT NULL,
    blocked_commands pg_catalog.text[] DEFAULT NULL,
    mode pg_catalog.text DEFAULT 'enforce',
    note pg_catalog.text DEFAULT NULL,
    max_duration pg_catalog.interval DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'set_policy'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION primary_guard.set_policy(pg_catalog.text, pg_catalog.text,
    pg_catalog.text, pg_catalog.float8, pg_catalog.int8, pg_catalog.text,
    pg_catalog.text[], pg_catalog.text, pg_catalog.text, pg_catalog.interval) FROM PUBLIC;

DROP FUNCTION primary_guard.effective_policy(pg_catalog.text, pg_catalog.text);
CREATE FUNCTION primary_guard.effective_policy(
    role pg_catalog.text DEFAULT NULL,
    server_state pg_catalog.text DEFAULT NULL,
    OUT role pg_catalog.text,
    OUT server_state pg_catalog.text,
    OUT action pg_catalog.text,
    OUT mode pg_catalog.text,
    OUT max_cost pg_catalog.float8,
    OUT max_scan_rows pg_catalog.int8,
    OUT max_scan_size pg_catalog.text,
    OUT blocked_commands pg_catalog.text[],
    OUT note pg_catalog.text,
    OUT source pg_catalog.text,
    OUT max_duration pg_catalog.interval)
RETURNS record
AS 'MODULE_PATHNAME', 'effective_policy_1_1'
LANGUAGE C VOLATILE;

DROP VIEW primary_guard.policies;
CREATE VIEW primary_guard.policies AS
SELECT CASE
         WHEN p.role OPERATOR(pg_catalog.=) 0 THEN 'public'
         WHEN a.rolname IS NULL THEN p.role::pg_catalog.oid::pg_catalog.text
         ELSE a.rolname::pg_catalog.text
       END AS role,
       p.server_state,
       p.action,
       p.mode,
       p.max_cost,
       p.max_scan_rows,
       pg_catalog.pg_size_pretty(p.max_scan_size) AS max_scan_size,
       p.max_duration,
       p.blocked_commands,
       p.note,
       (p.role OPERATOR(pg_catalog.<>) 0 AND a.rolname IS NULL) AS dangling,
       p.updated_at,
       p.updated_by
  FROM primary_guard.policy p
  LEFT JOIN pg_catalog.pg_roles a
    ON a.oid OPERATOR(pg_catalog.=) p.role::pg_catalog.oid;
COMMENT ON VIEW primary_guard.policies IS
    'primary_guard policies, sizes human readable; dangling = the role was dropped';
REVOKE ALL ON primary_guard.policies FROM PUBLIC;

-- The database owner may read the policy table, so that pg_dump works for
-- whoever may back up the database (see the fresh install script).
DO $grant$
BEGIN
    EXECUTE pg_catalog.format('GRANT SELECT ON primary_guard.policy TO %I',
        (SELECT pg_catalog.pg_get_userbyid(d.datdba) FROM pg_catalog.pg_database d
          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()));
END
$grant$;

-- recent_rejections() gains database, repeats and first_at: one entry per
-- role, database and statement now, counting its repeats.
DROP FUNCTION primary_guard.recent_rejections();
CREATE FUNCTION primary_guard.recent_rejections(
    OUT at pg_catalog.timestamptz,
    OUT pid pg_catalog.int4,
    OUT role pg_catalog.text,
    OUT server_state pg_catalog.text,
    OUT verdict pg_catalog.text,
    OUT rule pg_catalog.text,
    OUT relation pg_catalog.text,
    OUT reason pg_catalog.text,
    OUT query pg_catalog.text,
    OUT database pg_catalog.text,
    OUT repeats pg_catalog.int8,
    OUT first_at pg_catalog.timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'recent_rejections_1_1'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION primary_guard.recent_rejections() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION primary_guard.recent_rejections() TO pg_monitor;
