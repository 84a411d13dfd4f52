-- Which policy applies: own, inherited (merged strictest-first), public, none;
-- session user and SET ROLE role, stricter wins.
CREATE ROLE regress_top;
CREATE ROLE regress_mid IN ROLE regress_top;
CREATE ROLE regress_noinherit NOINHERIT;
CREATE ROLE regress_member IN ROLE regress_mid;
GRANT regress_noinherit TO regress_member;
CREATE ROLE regress_loner;
CREATE ROLE regress_admin SUPERUSER;

-- No policies at all: none.
SELECT role, action, source FROM primary_guard.effective_policy('regress_member');

-- public applies to everyone without a closer policy.
SELECT primary_guard.set_policy('public', 'limit', max_cost => 1e9);
SELECT role, action, max_cost, source FROM primary_guard.effective_policy('regress_loner');

-- Indirect membership: regress_member -> regress_mid -> regress_top.
SELECT primary_guard.set_policy('regress_top', 'limit', max_scan_rows => 5000, max_cost => 100, note => 'top note');
SELECT role, action, max_cost, max_scan_rows, source FROM primary_guard.effective_policy('regress_member');

-- Several groups merge: smallest thresholds, union of blocked commands,
-- enforce if any enforces; a NOINHERIT membership counts too.
SELECT primary_guard.set_policy('regress_noinherit', 'limit', max_scan_rows => 100,
         max_scan_size => '1MB', blocked_commands => '{VACUUM}', mode => 'warn', note => 'noinherit note');
SELECT primary_guard.set_policy('regress_mid', 'limit', max_cost => 500, blocked_commands => '{CLUSTER}', mode => 'warn');
SELECT role, action, mode, max_cost, max_scan_rows, max_scan_size, blocked_commands, note, source
  FROM primary_guard.effective_policy('regress_member');

-- All groups in warn mode: the merge warns.
SELECT primary_guard.set_policy('regress_top', 'limit', max_scan_rows => 5000, mode => 'warn');
SELECT mode FROM primary_guard.effective_policy('regress_member');

-- deny beats limit beats allow.
SELECT primary_guard.set_policy('regress_top', 'deny');
SELECT role, action, max_scan_rows, source FROM primary_guard.effective_policy('regress_member');
SELECT primary_guard.set_policy('regress_top', 'allow');
SELECT action, source FROM primary_guard.effective_policy('regress_member');

-- An own policy wins over every group, even a weaker one.
SELECT primary_guard.set_policy('regress_member', 'allow');
SELECT role, action, source FROM primary_guard.effective_policy('regress_member');
SELECT primary_guard.drop_policy('regress_member');

-- Policies are per server state; this server is a primary.
SELECT primary_guard.set_policy('regress_loner', 'deny', server_state => 'standby');
SELECT server_state, action, source FROM primary_guard.effective_policy('regress_loner', 'standby');
SELECT server_state, action, source FROM primary_guard.effective_policy('regress_loner', 'primary');
SELECT server_state, action, source FROM primary_guard.effective_policy('regress_loner');
SELECT * FROM primary_guard.effective_policy('regress_loner', 'replica');
SELECT * FROM primary_guard.effective_policy('regress_no_such_role');

-- Superuser status is not membership: a superuser gets public like anyone.
SELECT role, action, source FROM primary_guard.effective_policy('regress_admin');

-- The caller (role NULL): session user and SET ROLE role, stricter wins.
SET SESSION AUTHORIZATION regress_member;
SELECT role, action, source FROM primary_guard.effective_policy();
RESET SESSION AUTHORIZATION;
GRANT regress_loner TO regress_member;
SELECT primary_guard.set_policy('regress_loner', 'allow');
SET SESSION AUTHORIZATION regress_member;
-- SET ROLE to an allowed role does not escape the session user's policy.
SET ROLE regress_loner;
SELECT current_user, role, action, source FROM primary_guard.effective_policy();
RESET ROLE;
RESET SESSION AUTHORIZATION;
-- SET ROLE into a limited role is limited.
SET ROLE regress_member;
SELECT current_user, role, action, source FROM primary_guard.effective_policy();
RESET ROLE;

-- Looking at another role's policy needs membership in it (or superuser).
SET ROLE regress_loner;
SELECT action FROM primary_guard.effective_policy('regress_member');
SELECT action FROM primary_guard.effective_policy('public');
RESET ROLE;
SET ROLE regress_member;
SELECT action, source FROM primary_guard.effective_policy('regress_loner');
RESET ROLE;

-- Membership changes invalidate the cache at once.
SELECT primary_guard.set_policy('regress_mid', 'deny');
SELECT action, source FROM primary_guard.effective_policy('regress_member');
REVOKE regress_mid FROM regress_member;
SELECT action, source FROM primary_guard.effective_policy('regress_member');
GRANT regress_mid TO regress_member;
SELECT action, source FROM primary_guard.effective_policy('regress_member');

-- Inherited policies count only through memberships granted by a superuser
-- or a CREATEROLE role (pg_auth_members.grantor, as it is now), at every
-- level: ADMIN OPTION on a guarded group imposes its policy on nobody.
CREATE ROLE regress_guarded;
CREATE ROLE regress_group_admin;
CREATE ROLE regress_victim;
CREATE ROLE regress_victim_su SUPERUSER;
CREATE ROLE regress_chain_top;
CREATE ROLE regress_chain_member IN ROLE regress_chain_top;
GRANT regress_guarded TO regress_group_admin WITH ADMIN OPTION;
SELECT primary_guard.set_policy('regress_guarded', 'deny');
-- (Its own policy lets the admin itself run GRANT.)
SELECT primary_guard.set_policy('regress_group_admin', 'allow');
SET ROLE regress_group_admin;
GRANT regress_guarded TO regress_victim;
GRANT regress_guarded TO regress_victim_su;
GRANT regress_guarded TO regress_chain_top;
RESET ROLE;
-- What PostgreSQL records as grantor: the role that ran GRANT.
SELECT member::regrole, grantor::regrole, admin_option
  FROM pg_auth_members WHERE roleid = 'regress_guarded'::regrole ORDER BY member::regrole::text;
SELECT role, action, source FROM primary_guard.effective_policy('regress_victim');
SELECT role, action, source FROM primary_guard.effective_policy('regress_victim_su');
SELECT role, action, source FROM primary_guard.effective_policy('regress_chain_member');
-- The same membership granted by a superuser counts.  (A new role: since
-- 16 a superuser's REVOKE does not remove another grantor's grant.)
DROP ROLE regress_victim;
CREATE ROLE regress_victim;
GRANT regress_guarded TO regress_victim;
SELECT grantor::regrole FROM pg_auth_members
 WHERE roleid = 'regress_guarded'::regrole AND member = 'regress_victim'::regrole;
SELECT role, action, source FROM primary_guard.effective_policy('regress_victim');
-- So does one granted by a CREATEROLE role (CREATE ROLE ... IN ROLE too),
-- for as long as it has CREATEROLE.
-- (Since 16 a CREATEROLE role needs ADMIN OPTION on a role to grant it.)
CREATE ROLE regress_role_manager CREATEROLE;
GRANT regress_guarded TO regress_role_manager WITH ADMIN OPTION;
SELECT primary_guard.set_policy('regress_role_manager', 'allow');
SET ROLE regress_role_manager;
CREATE ROLE regress_created IN ROLE regress_guarded;
RESET ROLE;
SELECT grantor::regrole FROM pg_auth_members
 WHERE roleid = 'regress_guarded'::regrole AND member = 'regress_created'::regrole;
SELECT role, action, source FROM primary_guard.effective_policy('regress_created');
ALTER ROLE regress_role_manager NOCREATEROLE;
SELECT role, action, source FROM primary_guard.effective_policy('regress_created');
-- A grantor that is gone: 15 keeps its grants with a dangling grantor, and
-- they keep carrying the policy (dropping whoever granted a membership frees
-- nobody); since 16 DROP OWNED revokes them, and the membership is gone.
CREATE ROLE regress_gone_manager CREATEROLE;
CREATE ROLE regress_orphan;
GRANT regress_guarded TO regress_gone_manager WITH ADMIN OPTION;
SELECT primary_guard.set_policy('regress_gone_manager', 'allow');
SET ROLE regress_gone_manager;
GRANT regress_guarded TO regress_orphan;
RESET ROLE;
SELECT role, action, source FROM primary_guard.effective_policy('regress_orphan');
SELECT primary_guard.drop_policy('regress_gone_manager');
DROP OWNED BY regress_gone_manager;
DROP ROLE regress_gone_manager;
SELECT count(*) AS memberships FROM pg_auth_members
 WHERE roleid = 'regress_guarded'::regrole AND member = 'regress_orphan'::regrole;
SELECT role, action, source FROM primary_guard.effective_policy('regress_orphan');
DROP ROLE regress_orphan;
-- The group admin made superuser: its grants count from then on.
ALTER ROLE regress_group_admin SUPERUSER;
SELECT role, action, source FROM primary_guard.effective_policy('regress_chain_member');
DROP ROLE regress_guarded, regress_group_admin, regress_victim, regress_victim_su,
  regress_chain_top, regress_chain_member, regress_role_manager, regress_created;

TRUNCATE primary_guard.policy;
DROP ROLE regress_member, regress_mid, regress_top, regress_noinherit, regress_loner, regress_admin;
