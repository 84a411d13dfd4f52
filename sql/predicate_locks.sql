-- The guard's reads of its policy table take no predicate locks in the
-- user's SERIALIZABLE transaction (they would make policy changes part of
-- the application's serialization failures).
CREATE TABLE regress_pl_small (id int PRIMARY KEY);
INSERT INTO regress_pl_small SELECT g FROM generate_series(1, 10) g;
CREATE ROLE regress_pl_nopolicy;
CREATE ROLE regress_pl_limited;
GRANT SELECT ON regress_pl_small TO regress_pl_nopolicy, regress_pl_limited;
SELECT primary_guard.set_policy('regress_pl_limited', 'limit', max_scan_rows => 1000000);
SELECT primary_guard.set_policy('public', 'limit', max_cost => 1e12, server_state => 'standby');

-- The guard's table and its index.
CREATE VIEW regress_pl_guard_locks AS
  SELECT l.locktype, l.relation::regclass
    FROM pg_locks l
   WHERE l.mode = 'SIReadLock' AND l.pid = pg_backend_pid()
     AND l.relation IN (SELECT c.oid FROM pg_class c
                         WHERE c.relnamespace = 'primary_guard'::regnamespace);
GRANT SELECT ON regress_pl_guard_locks TO regress_pl_nopolicy, regress_pl_limited;

-- A role with no policy: CREATE ROLE forces the cache to be rebuilt by the
-- first statement of the serializable transaction.
SET ROLE regress_pl_nopolicy;
RESET ROLE;
CREATE ROLE regress_pl_rebuild;
SET ROLE regress_pl_nopolicy;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) FROM regress_pl_small;
SELECT action, source FROM primary_guard.effective_policy();
SELECT * FROM regress_pl_guard_locks ORDER BY 1, 2;
-- The user's own reads do take them, as always.
SELECT count(*) > 0 AS user_locks FROM pg_locks
 WHERE mode = 'SIReadLock' AND pid = pg_backend_pid() AND relation = 'regress_pl_small'::regclass;
COMMIT;
RESET ROLE;

-- A limited role: its own row, its groups and public are read.
DROP ROLE regress_pl_rebuild;
SET ROLE regress_pl_limited;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT id FROM regress_pl_small WHERE id = 3;
SELECT action, source FROM primary_guard.effective_policy();
SELECT * FROM regress_pl_guard_locks ORDER BY 1, 2;
COMMIT;
RESET ROLE;

-- A rebuild in the middle of the transaction (a policy changed by this
-- session's own earlier statement).
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT primary_guard.set_policy('regress_pl_nopolicy', 'limit', max_scan_rows => 1000000);
SET LOCAL ROLE regress_pl_nopolicy;
SELECT count(*) FROM regress_pl_small;
SELECT * FROM regress_pl_guard_locks ORDER BY 1, 2;
COMMIT;

TRUNCATE primary_guard.policy;
DROP VIEW regress_pl_guard_locks;
DROP TABLE regress_pl_small;
DROP ROLE regress_pl_nopolicy, regress_pl_limited;
