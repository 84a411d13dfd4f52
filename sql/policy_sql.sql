-- set_policy, drop_policy and the policies view: validation, storage, privileges.
CREATE ROLE regress_analysts;
CREATE ROLE regress_data_team IN ROLE regress_analysts;
CREATE ROLE regress_other;

-- A full limit policy, stored normalized.
SELECT primary_guard.set_policy('regress_analysts', 'limit',
         max_cost => 1e6, max_scan_rows => 1000000, max_scan_size => '500MB',
         blocked_commands => ARRAY['vacuum', 'CREATE INDEX', 'Vacuum', 'cluster'],
         mode => 'warn', note => 'Use the analytics replica.');
SELECT role, server_state, action, mode, max_cost, max_scan_rows, max_scan_size,
       blocked_commands, note, dangling, updated_by, updated_at <= now() AS updated_at_ok
  FROM primary_guard.policies;
SELECT max_scan_size FROM primary_guard.policy;

-- set_policy replaces; one row per (role, server_state).
SELECT primary_guard.set_policy('regress_analysts', 'limit', max_scan_rows => 0);
SELECT primary_guard.set_policy('regress_analysts', 'deny', server_state => 'standby');
SELECT primary_guard.set_policy('public', 'allow');
-- Keywords are case-insensitive and stored lower-case.
SELECT primary_guard.set_policy('regress_data_team', 'Allow', 'STANDBY', mode => 'ENFORCE');
SELECT role, server_state, action, mode, max_cost, max_scan_rows, max_scan_size, blocked_commands, note
  FROM primary_guard.policies ORDER BY role, server_state;

-- Sizes: units and plain bytes.
SELECT primary_guard.set_policy('regress_other', 'limit', max_scan_size => '1GB');
SELECT max_scan_size FROM primary_guard.policies WHERE role = 'regress_other';
SELECT primary_guard.set_policy('regress_other', 'limit', max_scan_size => '8192');
SELECT max_scan_size FROM primary_guard.policies WHERE role = 'regress_other';
SELECT primary_guard.set_policy('regress_other', 'limit', max_scan_size => '0');
SELECT max_scan_size FROM primary_guard.policies WHERE role = 'regress_other';

-- Every bad input is an error and writes nothing.
CREATE TEMP TABLE before AS SELECT * FROM primary_guard.policy;
SELECT primary_guard.set_policy(NULL, 'deny');
SELECT primary_guard.set_policy('regress_no_such_role', 'deny');
SELECT primary_guard.set_policy('', 'deny');
SELECT primary_guard.set_policy('REGRESS_OTHER', 'deny');
SELECT primary_guard.set_policy('regress_other', NULL);
SELECT primary_guard.set_policy('regress_other', 'block');
SELECT primary_guard.set_policy('regress_other', 'deny', server_state => 'replica');
SELECT primary_guard.set_policy('regress_other', 'deny', server_state => NULL);
SELECT primary_guard.set_policy('regress_other', 'deny', mode => 'audit');
SELECT primary_guard.set_policy('regress_other', 'deny', mode => NULL);
SELECT primary_guard.set_policy('regress_other', 'limit', max_cost => -1);
SELECT primary_guard.set_policy('regress_other', 'limit', max_cost => 'NaN');
SELECT primary_guard.set_policy('regress_other', 'limit', max_cost => 'Infinity');
SELECT primary_guard.set_policy('regress_other', 'limit', max_scan_rows => -1);
SELECT primary_guard.set_policy('regress_other', 'limit', max_scan_size => '-1MB');
SELECT primary_guard.set_policy('regress_other', 'limit', max_scan_size => 'lots');
SELECT primary_guard.set_policy('regress_other', 'limit', max_scan_size => '');
SELECT primary_guard.set_policy('regress_other', 'limit', max_scan_size => '10 parsecs');
SELECT primary_guard.set_policy('regress_other', 'limit', blocked_commands => '{}');
SELECT primary_guard.set_policy('regress_other', 'limit', blocked_commands => ARRAY[NULL]::text[]);
SELECT primary_guard.set_policy('regress_other', 'limit', blocked_commands => '{VACUUM, "DROP EVERYTHING"}');
SELECT primary_guard.set_policy('regress_other', 'limit', blocked_commands => '{SELECT}');
SELECT primary_guard.set_policy('regress_other', 'limit', blocked_commands => '{ROLLBACK}');
SELECT primary_guard.set_policy('regress_other', 'limit', blocked_commands => '{{VACUUM},{CLUSTER}}');
SELECT primary_guard.set_policy('regress_other', 'limit');
SELECT primary_guard.set_policy('regress_other', 'deny', max_cost => 10);
SELECT primary_guard.set_policy('regress_other', 'allow', max_scan_rows => 10);
SELECT primary_guard.set_policy('regress_other', 'allow', blocked_commands => '{VACUUM}');
SELECT primary_guard.set_policy('regress_other', 'deny', max_scan_size => '1MB');
SELECT count(*) AS changed_rows FROM (
  (SELECT * FROM primary_guard.policy EXCEPT SELECT * FROM before)
  UNION ALL
  (SELECT * FROM before EXCEPT SELECT * FROM primary_guard.policy)) d;

-- The table's own constraints stop bad rows written directly.
\set VERBOSITY terse
INSERT INTO primary_guard.policy (role, action) VALUES ('regress_other', 'limit');
INSERT INTO primary_guard.policy (role, action, max_cost) VALUES ('regress_other', 'deny', 5);
INSERT INTO primary_guard.policy (role, action, server_state) VALUES ('regress_other', 'deny', 'replica');
\set VERBOSITY default

-- Role names are taken literally: quotes, spaces and case.
CREATE ROLE "Regress Mixed ""Case""";
SELECT primary_guard.set_policy('Regress Mixed "Case"', 'deny');
SELECT role, action FROM primary_guard.policies WHERE role LIKE 'Regress%';

-- Policies follow a role through a rename.
ALTER ROLE "Regress Mixed ""Case""" RENAME TO regress_renamed;
SELECT role, action, dangling FROM primary_guard.policies WHERE role = 'regress_renamed';
SELECT * FROM primary_guard.effective_policy('regress_renamed');

-- A dropped role's policy is dangling: shown, ignored, and can be dropped by OID.
SELECT role::oid AS renamed_oid FROM primary_guard.policy WHERE role = 'regress_renamed'::regrole \gset
DROP ROLE regress_renamed;
SELECT role = :'renamed_oid' AS shows_oid, action, dangling
  FROM primary_guard.policies WHERE dangling;
SELECT primary_guard.drop_policy(:'renamed_oid');
SELECT count(*) AS dangling FROM primary_guard.policies WHERE dangling;

-- drop_policy: true when something was removed.
SELECT primary_guard.drop_policy('regress_data_team', 'standby');
SELECT primary_guard.drop_policy('regress_data_team', 'standby');
SELECT primary_guard.drop_policy('regress_no_such_role');
SELECT primary_guard.drop_policy(NULL);
SELECT primary_guard.drop_policy('regress_other', 'replica');
SELECT primary_guard.drop_policy('public');
SELECT role, server_state, action FROM primary_guard.policies ORDER BY 1, 2;

-- Non-superusers cannot manage policies: functions, table or view.
SELECT primary_guard.drop_policy('regress_other');
SET ROLE regress_other;
SELECT primary_guard.set_policy('regress_other', 'allow');
SELECT primary_guard.drop_policy('regress_other');
INSERT INTO primary_guard.policy (role, action) VALUES ('regress_other', 'allow');
UPDATE primary_guard.policy SET action = 'allow';
DELETE FROM primary_guard.policy;
TRUNCATE primary_guard.policy;
ALTER TABLE primary_guard.policy DISABLE TRIGGER policy_changed;
SELECT * FROM primary_guard.policy;
SELECT * FROM primary_guard.policies;
RESET ROLE;

-- ...unless a superuser grants it.
GRANT EXECUTE ON FUNCTION primary_guard.set_policy(text,text,text,float8,bigint,text,text[],text,text,interval) TO regress_other;
GRANT SELECT, INSERT, UPDATE ON primary_guard.policy TO regress_other;
SET ROLE regress_other;
SELECT primary_guard.set_policy('regress_data_team', 'deny');
RESET ROLE;
SELECT role, action, updated_by FROM primary_guard.policies WHERE role = 'regress_data_team';
REVOKE ALL ON FUNCTION primary_guard.set_policy(text,text,text,float8,bigint,text,text[],text,text,interval) FROM regress_other;
REVOKE ALL ON primary_guard.policy FROM regress_other;

-- Functions are immune to search_path tricks.
CREATE SCHEMA regress_evil;
CREATE TABLE regress_evil.policy (LIKE primary_guard.policy);
CREATE FUNCTION regress_evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$;
SET search_path = regress_evil, public;
SELECT primary_guard.set_policy('regress_other', 'deny');
RESET search_path;
SELECT count(*) AS evil_rows FROM regress_evil.policy;
SELECT updated_at > '2000-01-02' AS real_now FROM primary_guard.policy WHERE role = 'regress_other'::regrole;
DROP SCHEMA regress_evil CASCADE;

-- Clean up.
TRUNCATE primary_guard.policy;
DROP ROLE regress_data_team, regress_analysts, regress_other;
