/* primary_guard--1.1.sql: fresh install of version 1.1 */

\echo Use "CREATE EXTENSION primary_guard" to load this file. \quit

-- The script creates its own schema: CREATE EXTENSION fails if a schema of
-- that name already exists (whoever created it could have planted operators
-- or functions in it), and the schema becomes a member of the extension,
-- owned by the superuser who installs it.  The control file's schema is
-- pg_catalog, so nothing here resolves through a schema anyone else owns;
-- every operator, function and cast is qualified all the same.
CREATE SCHEMA primary_guard;
REVOKE ALL ON SCHEMA primary_guard FROM PUBLIC;

-- Policies: one row per (role, server_state).  role 0 ('-') is "public".
-- regrole keeps a policy attached to its role across ALTER ROLE ... RENAME
-- and dumps as the role's name, so pg_dump/restore maps it to the new OID.
CREATE TABLE primary_guard.policy (
    role             pg_catalog.regrole NOT NULL,
    server_state     pg_catalog.text NOT NULL DEFAULT 'primary'
                     CONSTRAINT policy_server_state_check
                     CHECK (server_state OPERATOR(pg_catalog.=) ANY
                            (ARRAY['primary', 'standby']::pg_catalog.text[])),
    action           pg_catalog.text NOT NULL
                     CONSTRAINT policy_action_check
                     CHECK (action OPERATOR(pg_catalog.=) ANY
                            (ARRAY['allow', 'limit', 'deny']::pg_catalog.text[])),
    mode             pg_catalog.text NOT NULL DEFAULT 'enforce'
                     CONSTRAINT policy_mode_check
                     CHECK (mode OPERATOR(pg_catalog.=) ANY
                            (ARRAY['enforce', 'warn']::pg_catalog.text[])),
    max_cost         pg_catalog.float8
                     CONSTRAINT policy_max_cost_check
                     CHECK (max_cost OPERATOR(pg_catalog.>=) CAST(0 AS pg_catalog.float8)),
    max_scan_rows    pg_catalog.int8
                     CONSTRAINT policy_max_scan_rows_check
                     CHECK (max_scan_rows OPERATOR(pg_catalog.>=) CAST(0 AS pg_catalog.int8)),
    max_scan_size    pg_catalog.int8
                     CONSTRAINT policy_max_scan_size_check
                     CHECK (max_scan_size OPERATOR(pg_catalog.>=) CAST(0 AS pg_catalog.int8)),
    blocked_commands pg_catalog.text[],
    note             pg_catalog.text,
    updated_at       pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_by       pg_catalog.name NOT NULL DEFAULT CURRENT_USER,
    -- 1.1; last, where ALTER TABLE ... ADD COLUMN puts it in an upgraded
    -- installation, so both have the same layout.
    max_duration     pg_catalog.interval
                     CONSTRAINT policy_max_duration_check
                     CHECK (max_duration OPERATOR(pg_catalog.>) CAST('0' AS pg_catalog.interval)),
    CONSTRAINT policy_pkey PRIMARY KEY (role, server_state),
    CONSTRAINT policy_thresholds_need_limit CHECK (
        action OPERATOR(pg_catalog.=) 'limit'
        OR (max_cost IS NULL AND max_scan_rows IS NULL AND max_scan_size IS NULL
            AND blocked_commands IS NULL AND max_duration IS NULL)),
    CONSTRAINT policy_limit_needs_threshold CHECK (
        action OPERATOR(pg_catalog.<>) 'limit'
        OR max_cost IS NOT NULL OR max_scan_rows IS NOT NULL
        OR max_scan_size IS NOT NULL OR blocked_commands IS NOT NULL
        OR max_duration IS NOT NULL)
);

COMMENT ON TABLE primary_guard.policy IS
    'primary_guard policies; manage them with primary_guard.set_policy() and drop_policy()';

REVOKE ALL ON primary_guard.policy FROM PUBLIC;

-- pg_dump keeps the rows of an extension's configuration table.
SELECT pg_catalog.pg_extension_config_dump('primary_guard.policy', '');

-- Any change to the table invalidates every backend's policy cache (and,
-- through WAL, every standby's).
CREATE FUNCTION primary_guard._policy_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'policy_changed'
LANGUAGE C;

CREATE TRIGGER policy_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON primary_guard.policy
    FOR EACH STATEMENT EXECUTE FUNCTION primary_guard._policy_changed();

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

CREATE FUNCTION primary_guard.drop_policy(
    role pg_catalog.text,
    server_state pg_catalog.text DEFAULT 'primary')
RETURNS boolean
AS 'MODULE_PATHNAME', 'drop_policy'
LANGUAGE C VOLATILE;

CREATE FUNCTION primary_guard.server_state()
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'server_state'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

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

CREATE FUNCTION primary_guard.check_query(
    query pg_catalog.text,
    role pg_catalog.text DEFAULT NULL,
    server_state pg_catalog.text DEFAULT 'primary')
RETURNS TABLE(verdict pg_catalog.text, reason pg_catalog.text,
              estimated_cost pg_catalog.float8)
AS 'MODULE_PATHNAME', 'check_query'
LANGUAGE C VOLATILE ROWS 1;

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

-- Managing policies is for superusers and whom they grant it to.
REVOKE ALL ON primary_guard.policies FROM PUBLIC;
REVOKE ALL ON FUNCTION primary_guard.set_policy(pg_catalog.text, pg_catalog.text,
    pg_catalog.text, pg_catalog.float8, pg_catalog.int8, pg_catalog.text,
    pg_catalog.text[], pg_catalog.text, pg_catalog.text, pg_catalog.interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION primary_guard.drop_policy(pg_catalog.text, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION primary_guard._policy_changed() FROM PUBLIC;

-- Anyone may ask about their own situation.
GRANT USAGE ON SCHEMA primary_guard TO PUBLIC;

-- pg_dump dumps the rows of a configuration table, so whoever backs up the
-- database must be able to read it: the database owner may (and so may
-- pg_read_all_data and superusers).  Reading reveals policies, not data;
-- writing stays with superusers and whom they grant it to.
DO $grant$
BEGIN
    EXECUTE pg_catalog.format('GRANT SELECT ON primary_guard.policy TO %I',
        (SELECT pg_catalog.pg_get_userbyid(d.datdba) FROM pg_catalog.pg_database d
          WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()));
END
$grant$;

-- Observability: counters per role and the most recent rejections/warnings,
-- kept in shared memory so that standbys record theirs too.
CREATE FUNCTION primary_guard._stats(
    OUT role pg_catalog.text,
    OUT checked pg_catalog.int8,
    OUT warned pg_catalog.int8,
    OUT rejected pg_catalog.int8,
    OUT last_rejected_at pg_catalog.timestamptz,
    OUT last_rejected_query pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stats'
LANGUAGE C VOLATILE STRICT;

CREATE VIEW primary_guard.stats AS
    SELECT * FROM primary_guard._stats();

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

CREATE FUNCTION primary_guard.reset_stats()
RETURNS void
AS 'MODULE_PATHNAME', 'reset_stats'
LANGUAGE C VOLATILE STRICT;

-- Reading is for superusers and pg_monitor; resetting for superusers.
REVOKE ALL ON primary_guard.stats FROM PUBLIC;
REVOKE ALL ON FUNCTION primary_guard._stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION primary_guard.recent_rejections() FROM PUBLIC;
REVOKE ALL ON FUNCTION primary_guard.reset_stats() FROM PUBLIC;
GRANT SELECT ON primary_guard.stats TO pg_monitor;
GRANT EXECUTE ON FUNCTION primary_guard._stats() TO pg_monitor;
GRANT EXECUTE ON FUNCTION primary_guard.recent_rejections() TO pg_monitor;
