-- The extension's schema cannot be taken over (security review, item 1).
-- Each case runs in a database of its own, owned by a non-superuser.
CREATE ROLE regress_dbowner LOGIN;
CREATE ROLE regress_es_user LOGIN;
CREATE DATABASE regress_es_db OWNER regress_dbowner;
\c regress_es_db

-- 1. A database owner creates schema primary_guard first and plants an
--    operator the 1.0 script's CHECK constraints would have bound to.
SET ROLE regress_dbowner;
CREATE SCHEMA primary_guard;
CREATE FUNCTION primary_guard.evil_ge(float8, int4) RETURNS bool
    LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE regress_dbowner SUPERUSER;
    END IF;
    RETURN true;
END $$;
CREATE OPERATOR primary_guard.>= (LEFTARG = float8, RIGHTARG = int4,
                                  FUNCTION = primary_guard.evil_ge);
RESET ROLE;
-- CREATE EXTENSION refuses to adopt it: the script creates its own schema.
-- (Errors inside extension scripts: no CONTEXT lines, which vary by version.)
\set SHOW_CONTEXT never
CREATE EXTENSION primary_guard;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'primary_guard';
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_dbowner';
DROP SCHEMA primary_guard CASCADE;

-- 2. A fresh install: the schema belongs to the extension and to the
--    superuser; every CHECK constraint names its operators' schema.
CREATE EXTENSION primary_guard;
SELECT n.nspname, r.rolsuper AS owner_is_superuser,
       pg_describe_object(d.refclassid, d.refobjid, 0) AS member_of
  FROM pg_namespace n
  JOIN pg_roles r ON r.oid = n.nspowner
  JOIN pg_depend d ON d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
                  AND d.deptype = 'e'
 WHERE n.nspname = 'primary_guard';
-- (pg_catalog's operators are pinned: no pg_depend rows, so none listed.)
CREATE VIEW constraint_operators AS
SELECT o.oprnamespace::regnamespace AS schema, count(*) AS operators
  FROM pg_depend d
  JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND d.refobjid = o.oid
 WHERE d.classid = 'pg_constraint'::regclass
   AND d.objid IN (SELECT oid FROM pg_constraint
                    WHERE conrelid = to_regclass('primary_guard.policy'))
 GROUP BY 1;
SELECT schema, operators > 0 AS some FROM constraint_operators;
SELECT primary_guard.set_policy('regress_es_user', 'limit', max_cost => 1);
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_dbowner';

-- The database owner can neither rename, drop nor add to the schema...
SET ROLE regress_dbowner;
ALTER SCHEMA primary_guard RENAME TO pg_nothing;
DROP SCHEMA primary_guard CASCADE;
CREATE FUNCTION primary_guard.set_policy(role text, action int4) RETURNS void
    LANGUAGE sql AS 'SELECT';
-- ...but may read the policy table, so that pg_dump works for the owner.
SELECT count(*) FROM primary_guard.policy;
RESET ROLE;

-- 3. Renaming the schema (a superuser can) does not switch the guard off:
--    the table is found through the extension, not by name.
ALTER SCHEMA primary_guard RENAME TO guard_renamed;
SET ROLE regress_es_user;
\set VERBOSITY terse
SELECT count(*) FROM pg_class c, pg_class d;
\set VERBOSITY default
RESET ROLE;
SELECT guard_renamed.set_policy('regress_es_user', 'limit', max_cost => 1000000000);
SELECT role, max_cost FROM guard_renamed.policies;
ALTER SCHEMA guard_renamed RENAME TO primary_guard;

-- 4. A schema handed to a non-superuser is not trusted: the guard stops
--    reading policies from it, and set_policy says why.
ALTER SCHEMA primary_guard OWNER TO regress_dbowner;
SELECT primary_guard.set_policy('regress_es_user', 'deny');
ALTER SCHEMA primary_guard OWNER TO CURRENT_USER;
DROP EXTENSION primary_guard;

-- 5. A 1.0 installation adopted the owner's schema, and its constraints
--    bound to the planted operator; the update refuses to go on.
SET ROLE regress_dbowner;
CREATE SCHEMA primary_guard;
CREATE FUNCTION primary_guard.evil_ge(float8, int4) RETURNS bool
    LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR primary_guard.>= (LEFTARG = float8, RIGHTARG = int4,
                                  FUNCTION = primary_guard.evil_ge);
RESET ROLE;
CREATE EXTENSION primary_guard VERSION '1.0';
SELECT schema, operators > 0 AS some FROM constraint_operators ORDER BY 1;
ALTER EXTENSION primary_guard UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'primary_guard';
DROP EXTENSION primary_guard;
DROP SCHEMA primary_guard CASCADE;

\set SHOW_CONTEXT errors
\c contrib_regression
DROP DATABASE regress_es_db;
DROP ROLE regress_dbowner, regress_es_user;
