-- Observability: per-role counters, the ring buffer of recent rejections and
-- warnings, their limits (this suite runs with max_tracked_roles = 3 and
-- recent_rejections_size = 5), privileges and reset.
SELECT primary_guard.reset_stats();
SELECT count(*) FROM primary_guard.stats;
SELECT count(*) FROM primary_guard.recent_rejections();

CREATE TABLE regress_stats_big (id int PRIMARY KEY) WITH (autovacuum_enabled = off);
INSERT INTO regress_stats_big SELECT generate_series(1, 20000);
ANALYZE regress_stats_big;
CREATE ROLE regress_s1;
CREATE ROLE regress_s2;
CREATE ROLE regress_s3;
CREATE ROLE regress_s4;
CREATE ROLE regress_watcher IN ROLE pg_monitor;
GRANT SELECT ON regress_stats_big TO regress_s1, regress_s2, regress_s3, regress_s4;
SELECT primary_guard.set_policy('regress_s1', 'limit', max_scan_rows => 1000);
SELECT primary_guard.set_policy('regress_s2', 'limit', max_scan_rows => 1000, mode => 'warn');
SELECT primary_guard.set_policy('regress_s3', 'limit', max_scan_rows => 1000);
SELECT primary_guard.set_policy('regress_s4', 'deny');

\set VERBOSITY terse
SET SESSION AUTHORIZATION regress_s1;
SELECT id FROM regress_stats_big WHERE id = 1;
SELECT count(*) FROM regress_stats_big;
SELECT count(*) FROM regress_stats_big /* second */;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_s2;
SELECT count(*) FROM regress_stats_big;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_s3;
SELECT count(*) FROM regress_stats_big /* s3 */;
RESET SESSION AUTHORIZATION;
-- The fourth role does not fit: it is counted under "(other roles)".
SET SESSION AUTHORIZATION regress_s4;
SELECT count(*) FROM regress_stats_big /* s4 */;
SELECT 1 AS catalog_only;
RESET SESSION AUTHORIZATION;
\set VERBOSITY default

SELECT role, checked, warned, rejected, last_rejected_at IS NOT NULL AS has_time,
       last_rejected_query
  FROM primary_guard.stats ORDER BY role;

-- Five slots: the oldest of six entries has been overwritten; newest first.
SELECT role, server_state, verdict, rule, relation, query, pid = pg_backend_pid() AS this_backend
  FROM primary_guard.recent_rejections();
SELECT reason FROM primary_guard.recent_rejections() LIMIT 1;

-- check_query() previews; it counts nothing.
SELECT verdict FROM primary_guard.check_query('SELECT count(*) FROM regress_stats_big', 'regress_s1');
SELECT sum(rejected) AS rejected FROM primary_guard.stats;

-- Reading is for superusers and pg_monitor, resetting for superusers only.
SET ROLE regress_s3;
SELECT count(*) FROM primary_guard.stats;
SELECT count(*) FROM primary_guard.recent_rejections();
SELECT primary_guard.reset_stats();
RESET ROLE;
SET ROLE regress_watcher;
SELECT count(*) > 0 AS can_read FROM primary_guard.stats;
SELECT count(*) > 0 AS can_read FROM primary_guard.recent_rejections();
SELECT primary_guard.reset_stats();
RESET ROLE;

SELECT primary_guard.reset_stats();
SELECT count(*) FROM primary_guard.stats;
SELECT count(*) FROM primary_guard.recent_rejections();
-- Counting starts again after a reset, in a backend that counted before.
SET SESSION AUTHORIZATION regress_s1;
SELECT id FROM regress_stats_big WHERE id = 2;
RESET SESSION AUTHORIZATION;
SELECT role, checked, warned, rejected FROM primary_guard.stats;

TRUNCATE primary_guard.policy;
SELECT primary_guard.reset_stats();
DROP TABLE regress_stats_big;
DROP ROLE regress_s1, regress_s2, regress_s3, regress_s4, regress_watcher;
