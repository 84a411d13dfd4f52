-- Installing primary_guard: objects, privileges, the GUC and its reserved prefix.
CREATE EXTENSION primary_guard;

-- Schema, not relocatable, superuser-only.
SELECT extname, extnamespace::regnamespace, extrelocatable
  FROM pg_extension WHERE extname = 'primary_guard';
ALTER EXTENSION primary_guard SET SCHEMA public;

-- The objects users rely on.
SELECT p.proname, p.prosecdef
  FROM pg_proc p
 WHERE p.pronamespace = 'primary_guard'::regnamespace
 ORDER BY 1;
SELECT relname, relkind FROM pg_class
 WHERE relnamespace = 'primary_guard'::regnamespace ORDER BY 1;

-- The policy table is an extension configuration table (kept by pg_dump).
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'primary_guard';

-- PUBLIC has no rights on the table, the view or the management functions.
SELECT has_table_privilege('public', 'primary_guard.policy', 'SELECT') AS policy_select,
       has_table_privilege('public', 'primary_guard.policy', 'INSERT') AS policy_insert,
       has_table_privilege('public', 'primary_guard.policies', 'SELECT') AS view_select,
       has_function_privilege('public', 'primary_guard.set_policy(text,text,text,float8,bigint,text,text[],text,text,interval)', 'EXECUTE') AS set_policy,
       has_function_privilege('public', 'primary_guard.drop_policy(text,text)', 'EXECUTE') AS drop_policy,
       has_function_privilege('public', 'primary_guard.server_state()', 'EXECUTE') AS server_state,
       has_function_privilege('public', 'primary_guard.effective_policy(text,text)', 'EXECUTE') AS effective_policy,
       has_function_privilege('public', 'primary_guard.check_query(text,text,text)', 'EXECUTE') AS check_query;

-- Loading again in a session is a no-op once preloaded.
LOAD 'primary_guard';

-- The GUC: on by default, superuser-only.
SHOW primary_guard.enabled;
SELECT context, vartype, boot_val FROM pg_settings WHERE name = 'primary_guard.enabled';

-- The prefix is reserved: unknown primary_guard.* names are errors.
SET primary_guard.no_such_setting = 'on';
SELECT set_config('primary_guard.enabeld', 'off', false);

-- A non-superuser can change the GUC by no route.
CREATE ROLE regress_install_user;
SET ROLE regress_install_user;
SET primary_guard.enabled = off;
SELECT set_config('primary_guard.enabled', 'off', false);
ALTER ROLE regress_install_user SET primary_guard.enabled = off;
RESET primary_guard.enabled;
SHOW primary_guard.enabled;
RESET ROLE;
DROP ROLE regress_install_user;

SELECT primary_guard.server_state();
