-- Bad input to every SQL function: NULLs, empty strings, huge values, odd
-- role names.  Each is a clear error with the right SQLSTATE (22023 bad
-- argument, 42704 unknown role) and nothing is written.
CREATE ROLE regress_bi;
CREATE ROLE "Regress BI ""Quoted"" Name";
CREATE ROLE "regress_bi_ünïcødé";
CREATE ROLE "REGRESS_BI";
CREATE TABLE regress_bi_t (id int);
SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_rows => 10, note => 'keep');

-- Runs one statement; returns "ok: <first column>" or "<SQLSTATE>: <message>".
CREATE FUNCTION regress_bi_try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r text;
  st text;
  msg text;
BEGIN
  EXECUTE q INTO r;
  RETURN 'ok: ' || coalesce(left(r, 60), '<null>');
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
  RETURN st || ': ' || left(msg, 110);
END$$;

-- A fingerprint of the whole table, compared after each section.
CREATE FUNCTION regress_bi_fingerprint() RETURNS text LANGUAGE sql AS $$
  SELECT md5(coalesce(string_agg(p::text, '|' ORDER BY p.role::oid, p.server_state), ''))
    FROM primary_guard.policy p$$;
CREATE TABLE regress_bi_before AS SELECT regress_bi_fingerprint() AS fp;
CREATE VIEW regress_bi_unchanged AS
  SELECT regress_bi_fingerprint() = fp AS unchanged FROM regress_bi_before;

-- set_policy: NULL where a value is required.
SELECT regress_bi_try(q) FROM (VALUES
  ($q$SELECT primary_guard.set_policy(NULL, 'deny')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', NULL)$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'deny', NULL)$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'deny', mode => NULL)$q$),
  ($q$SELECT primary_guard.set_policy(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)$q$)) AS t(q);
-- Empty strings and unknown words.
SELECT regress_bi_try(q) FROM (VALUES
  ($q$SELECT primary_guard.set_policy('', 'deny')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', '')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'deny', '')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'deny', mode => '')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'forbid')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'deny', 'replica')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'deny', mode => 'log')$q$)) AS t(q);
-- Thresholds: negative, not finite, out of range, with the wrong action.
SELECT regress_bi_try(q) FROM (VALUES
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_cost => -1)$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_cost => 'NaN')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_cost => 'Infinity')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_cost => '-Infinity')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_rows => -1)$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_rows => -9223372036854775808)$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_size => '')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_size => '-1')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_size => '-1 GB')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_size => '1 XB')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_size => 'lots')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_size => 'NaN')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_size => '1e308')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_size => '9223372036854775808')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'allow', max_cost => 1)$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'deny', max_scan_rows => 0)$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'deny', blocked_commands => '{VACUUM}')$q$)) AS t(q);
-- blocked_commands: empty, NULL elements, nested, not utility, unknown.
SELECT regress_bi_try(q) FROM (VALUES
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', blocked_commands => '{}')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', blocked_commands => '{NULL}')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', blocked_commands => '{VACUUM,NULL}')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', blocked_commands => '{{VACUUM},{CLUSTER}}')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', blocked_commands => '{""}')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', blocked_commands => '{SELECT}')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', blocked_commands => '{ROLLBACK}')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', blocked_commands => '{"VACUUM; DROP TABLE x"}')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi', 'limit', blocked_commands => ARRAY[repeat('V', 100000)])$q$)) AS t(q);
-- Odd role names: matched exactly, never case-folded, trimmed or parsed.
SELECT regress_bi_try(q) FROM (VALUES
  ($q$SELECT primary_guard.set_policy('REGRESS_bi', 'deny')$q$),
  ($q$SELECT primary_guard.set_policy(' regress_bi', 'deny')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi ', 'deny')$q$),
  ($q$SELECT primary_guard.set_policy('"regress_bi"', 'deny')$q$),
  ($q$SELECT primary_guard.set_policy('PUBLIC', 'deny')$q$),
  ($q$SELECT primary_guard.set_policy('Public', 'deny')$q$),
  ($q$SELECT primary_guard.set_policy($$regress_bi'; DROP TABLE regress_bi_t; --$$, 'deny')$q$),
  ($q$SELECT primary_guard.set_policy('Regress BI "Quoted" name', 'deny')$q$),
  ($q$SELECT primary_guard.set_policy('regress_bi_unicode', 'deny')$q$),
  ($q$SELECT primary_guard.set_policy(repeat('r', 100000), 'deny')$q$),
  ($q$SELECT primary_guard.set_policy(E'regress_bi\ttab', 'deny')$q$)) AS t(q);
SELECT * FROM regress_bi_unchanged;

-- drop_policy.
SELECT regress_bi_try(q) FROM (VALUES
  ($q$SELECT primary_guard.drop_policy(NULL)$q$),
  ($q$SELECT primary_guard.drop_policy('regress_bi', NULL)$q$),
  ($q$SELECT primary_guard.drop_policy('')$q$),
  ($q$SELECT primary_guard.drop_policy('regress_bi', '')$q$),
  ($q$SELECT primary_guard.drop_policy('regress_bi', 'replica')$q$),
  ($q$SELECT primary_guard.drop_policy('REGRESS_bi')$q$),
  ($q$SELECT primary_guard.drop_policy('0')$q$),
  ($q$SELECT primary_guard.drop_policy('-1')$q$),
  ($q$SELECT primary_guard.drop_policy('1e3')$q$),
  ($q$SELECT primary_guard.drop_policy(repeat('9', 1000))$q$)) AS t(q);
-- An OID out of range does not wrap around onto an existing role.
SELECT split_part(regress_bi_try(q), ':', 1) AS result FROM (VALUES
  ($q$SELECT primary_guard.drop_policy(('regress_bi'::regrole::oid::int8 + 4294967296)::text)$q$)) AS t(q);
SELECT * FROM regress_bi_unchanged;

-- effective_policy.
SELECT regress_bi_try(q) FROM (VALUES
  ($q$SELECT action FROM primary_guard.effective_policy('')$q$),
  ($q$SELECT action FROM primary_guard.effective_policy('REGRESS_bi')$q$),
  ($q$SELECT action FROM primary_guard.effective_policy(repeat('x', 100000))$q$),
  ($q$SELECT action FROM primary_guard.effective_policy(NULL, '')$q$),
  ($q$SELECT action FROM primary_guard.effective_policy(NULL, 'replica')$q$),
  ($q$SELECT action FROM primary_guard.effective_policy('regress_bi', 'replica')$q$)) AS t(q);
-- check_query: nothing it is given ever runs.
SELECT regress_bi_try(q) FROM (VALUES
  ($q$SELECT * FROM primary_guard.check_query(NULL)$q$),
  ($q$SELECT * FROM primary_guard.check_query('')$q$),
  ($q$SELECT * FROM primary_guard.check_query(';')$q$),
  ($q$SELECT * FROM primary_guard.check_query('   ')$q$),
  ($q$SELECT * FROM primary_guard.check_query('-- only a comment')$q$),
  ($q$SELECT * FROM primary_guard.check_query('SELECT 1; SELECT 2')$q$),
  ($q$SELECT verdict FROM primary_guard.check_query('SELECT ''' || repeat('x', 100000) || '''')$q$),
  ($q$SELECT * FROM primary_guard.check_query('SELECT ' || repeat('x ', 50000))$q$),
  ($q$SELECT * FROM primary_guard.check_query(E'SELECT \\x00')$q$),
  ($q$SELECT * FROM primary_guard.check_query('SELECT 1', '')$q$),
  ($q$SELECT * FROM primary_guard.check_query('SELECT 1', 'REGRESS_bi')$q$),
  ($q$SELECT * FROM primary_guard.check_query('SELECT 1', 'regress_bi', '')$q$),
  ($q$SELECT * FROM primary_guard.check_query('SELECT 1', 'regress_bi', 'replica')$q$),
  ($q$SELECT verdict FROM primary_guard.check_query('SELECT 1', 'regress_bi', NULL)$q$),
  ($q$SELECT verdict FROM primary_guard.check_query('INSERT INTO regress_bi_t VALUES (1)', 'regress_bi')$q$),
  ($q$SELECT verdict FROM primary_guard.check_query('DROP TABLE regress_bi_t', 'regress_bi')$q$),
  ($q$SELECT verdict FROM primary_guard.check_query('TRUNCATE primary_guard.policy', 'regress_bi')$q$),
  ($q$SELECT verdict FROM primary_guard.check_query( $$SELECT primary_guard.drop_policy('regress_bi')$$, 'regress_bi')$q$),
  ($q$SELECT verdict FROM primary_guard.check_query('SELECT pg_sleep(3600)', 'regress_bi')$q$),
  ($q$SELECT count(*) AS never_inserted FROM regress_bi_t$q$)) AS t(q);
SELECT * FROM regress_bi_unchanged;


-- Huge but valid values are stored as given; a 100 kB note works.
\set VERBOSITY terse
SELECT primary_guard.set_policy('regress_bi', 'limit', max_cost => 1e308,
       max_scan_rows => 9223372036854775807, max_scan_size => '8 PB',
       blocked_commands => '{vacuum,VACUUM,Vacuum,cluster}', note => repeat('n', 100000));
SELECT action, max_cost, max_scan_rows, max_scan_size, blocked_commands, length(note)
  FROM primary_guard.policies WHERE role = 'regress_bi';
SELECT max_cost, max_scan_rows, max_scan_size, length(note)
  FROM primary_guard.effective_policy('regress_bi');
SELECT primary_guard.set_policy('regress_bi', 'limit', max_cost => 0, max_scan_rows => 0,
       max_scan_size => '0');
SELECT action, max_cost, max_scan_rows, max_scan_size FROM primary_guard.policies
 WHERE role = 'regress_bi';
-- A long note reaches the rejection's HINT intact.
SELECT primary_guard.set_policy('regress_bi', 'limit', max_scan_rows => 0,
       note => repeat('n', 100000));
GRANT SELECT ON regress_bi_t TO regress_bi;
SET ROLE regress_bi;
DO $$
BEGIN
  PERFORM count(*) FROM regress_bi_t;
EXCEPTION WHEN statement_too_complex THEN
  DECLARE hint text;
  BEGIN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RAISE NOTICE 'hint length %', length(hint);
  END;
END$$;
RESET ROLE;
-- Odd but existing role names are found exactly.
SELECT primary_guard.set_policy('Regress BI "Quoted" Name', 'deny');
SELECT primary_guard.set_policy('regress_bi_ünïcødé', 'deny', 'standby');
SELECT primary_guard.set_policy('REGRESS_BI', 'allow');
SELECT role, server_state, action FROM primary_guard.policies
 WHERE role <> 'regress_bi' ORDER BY role COLLATE "C";
SELECT action, source FROM primary_guard.effective_policy('Regress BI "Quoted" Name');
SELECT action, source FROM primary_guard.effective_policy('regress_bi_ünïcødé', 'standby');
SELECT primary_guard.drop_policy('Regress BI "Quoted" Name'),
       primary_guard.drop_policy('regress_bi_ünïcødé', 'standby'),
       primary_guard.drop_policy('REGRESS_BI'),
       primary_guard.drop_policy('REGRESS_BI');
\set VERBOSITY default

TRUNCATE primary_guard.policy;
DROP VIEW regress_bi_unchanged;
DROP TABLE regress_bi_t, regress_bi_before;
DROP FUNCTION regress_bi_try(text), regress_bi_fingerprint();
DROP ROLE regress_bi, "Regress BI ""Quoted"" Name", "regress_bi_ünïcødé", "REGRESS_BI";
