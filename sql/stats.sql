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

-- Five slots, at most max(1, 5 / 4) = 1 per role: regress_s1's second
-- rejection took the place of its first one.  Newest first; query is the
-- statement's own text (normalized: no constants here to replace).
SELECT role, server_state, verdict, rule, relation, query, database = current_database() AS here,
       repeats, first_at = at AS once, pid = pg_backend_pid() AS this_backend
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

\set VERBOSITY terse
-- One entry per role and statement: a repeat updates it.
SET SESSION AUTHORIZATION regress_s1;
SELECT count(*) FROM regress_stats_big WHERE id > 0;
SELECT count(*) FROM regress_stats_big WHERE id > 1;
RESET SESSION AUTHORIZATION;
SELECT role, query, repeats, first_at <= at AS ordered FROM primary_guard.recent_rejections();

-- primary_guard.query_text: normalized (the default) replaces each constant
-- by $n after the parameters the text has; full keeps the text; none keeps
-- nothing.  Only superusers may change it.
SHOW primary_guard.query_text;
SET SESSION AUTHORIZATION regress_s1;
SET primary_guard.query_text = full;
SELECT count(*) FROM regress_stats_big WHERE id > -1 AND 'a' <> E'b\'' AND 1.5e3 > .5
   AND $d$x$d$ <> B'101'::text AND X'1F'::text <> U&'\0061' /* 42 */;
RESET SESSION AUTHORIZATION;
SELECT query FROM primary_guard.recent_rejections() WHERE role = 'regress_s1';
SET SESSION AUTHORIZATION regress_s1;
PREPARE regress_stats_p(int) AS SELECT count(*) FROM regress_stats_big WHERE id > $1 AND id <> 7;
EXECUTE regress_stats_p(0);
RESET SESSION AUTHORIZATION;
SELECT query FROM primary_guard.recent_rejections() WHERE role = 'regress_s1';
SET primary_guard.query_text = full;
SET SESSION AUTHORIZATION regress_s1;
SELECT count(*) FROM regress_stats_big WHERE id > 2;
SET SESSION AUTHORIZATION regress_s3;
SELECT count(*) FROM regress_stats_big WHERE id > 3;
RESET SESSION AUTHORIZATION;
SET primary_guard.query_text = none;
SET SESSION AUTHORIZATION regress_s3;
SELECT count(*) FROM regress_stats_big WHERE id > 4;
RESET SESSION AUTHORIZATION;
RESET primary_guard.query_text;
SELECT role, coalesce(query, '<not recorded>') AS query, repeats FROM primary_guard.recent_rejections() LIMIT 3;
SELECT role, last_rejected_query IS NULL AS not_recorded FROM primary_guard.stats WHERE role = 'regress_s3';

-- Statements that may carry a password are never kept, whatever
-- query_text says.  Others keep their text.
SET primary_guard.query_text = full;
SET SESSION AUTHORIZATION regress_s4;
ALTER ROLE regress_s4 PASSWORD 'regress_secret';
ALTER ROLE regress_s4 CONNECTION LIMIT 5;
CREATE ROLE regress_s5 PASSWORD 'regress_secret';
ALTER SYSTEM SET work_mem = '64kB';
DO $$BEGIN EXECUTE 'ALTER USER regress_s4 ENCRYPTED PASSWORD ''regress_secret'''; END$$;
RESET SESSION AUTHORIZATION;
RESET primary_guard.query_text;
SELECT role, rule, query, repeats FROM primary_guard.recent_rejections()
 WHERE role = 'regress_s4' AND rule = 'deny' AND relation IS NULL;
SELECT rejected, last_rejected_query FROM primary_guard.stats WHERE role = 'regress_s4';
SELECT count(*) AS leaks FROM primary_guard.recent_rejections()
 WHERE query LIKE '%regress_secret%' OR reason LIKE '%regress_secret%';

-- Fairness: 100 distinct rejections of one role leave the others' entries,
-- and 100 repeats of one statement take one entry.
SELECT primary_guard.reset_stats();
SET SESSION AUTHORIZATION regress_s3;
SELECT count(*) FROM regress_stats_big /* s3 alone */;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_s1;
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        BEGIN
            EXECUTE format('SELECT count(*) AS c%s FROM regress_stats_big', i);
        EXCEPTION WHEN program_limit_exceeded THEN NULL;
        END;
    END LOOP;
END
$$;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_s2;
SET client_min_messages = error;
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        PERFORM count(*) FROM regress_stats_big WHERE id <> i;
    END LOOP;
END
$$;
RESET client_min_messages;
RESET SESSION AUTHORIZATION;
SELECT role, verdict, query, repeats FROM primary_guard.recent_rejections();
SELECT role, warned, rejected FROM primary_guard.stats ORDER BY role;

-- Encodings: each entry keeps its database's encoding and is converted for
-- the reader.  A rejection in a LATIN1 database, read from a UTF8 one (with
-- the 1.0 declaration of recent_rejections() first: the library serves
-- both), and one from this database read there.
SELECT primary_guard.reset_stats();
CREATE DATABASE regress_stats_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE regress_stats_utf8 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
SET SESSION AUTHORIZATION regress_s2;
SELECT count(*) FROM regress_stats_big WHERE id > 0 /* € */;
RESET SESSION AUTHORIZATION;
\c regress_stats_latin1
SET client_encoding = 'UTF8';
CREATE EXTENSION primary_guard;
CREATE TABLE "café" (id int);
INSERT INTO "café" SELECT generate_series(1, 20000);
ANALYZE "café";
GRANT SELECT ON "café" TO regress_s1;
SELECT primary_guard.set_policy('regress_s1', 'limit', max_scan_rows => 1000);
SET SESSION AUTHORIZATION regress_s1;
SELECT count(*) FROM "café" /* déjà vu */;
RESET SESSION AUTHORIZATION;
SELECT role, relation, query FROM primary_guard.recent_rejections() ORDER BY role;
\c regress_stats_utf8
SET client_encoding = 'UTF8';
CREATE EXTENSION primary_guard VERSION '1.0';
SELECT role, relation, reason, query FROM primary_guard.recent_rejections() ORDER BY role;
ALTER EXTENSION primary_guard UPDATE TO '1.1';
SELECT role, relation, query, database, repeats FROM primary_guard.recent_rejections() ORDER BY role;
SELECT role, last_rejected_query FROM primary_guard.stats ORDER BY role;
\c contrib_regression
DROP DATABASE regress_stats_latin1;
DROP DATABASE regress_stats_utf8;

\set VERBOSITY default
TRUNCATE primary_guard.policy;
SELECT primary_guard.reset_stats();
DROP TABLE regress_stats_big;
DROP ROLE regress_s1, regress_s2, regress_s3, regress_s4, regress_watcher;
