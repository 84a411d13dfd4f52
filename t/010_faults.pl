# Copyright (c) primary_guard contributors
#
# t/010_faults.pl - primary_guard through faults: a backend killed with
# SIGKILL mid-statement (the postmaster reinitializes), an immediate
# shutdown (crash restart), VACUUM FULL / REINDEX of the policy table,
# DROP EXTENSION under sessions holding cached policies, a database without
# the extension, and a look-alike "primary_guard" schema made by a
# non-superuser in such a database (it must be ignored, never read: reading
# it with our column layout crashed the server).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $node = guarded_node('faults', conf => 'restart_after_crash = on');

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard;
CREATE TABLE big (id int PRIMARY KEY, payload text);
INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
ANALYZE big;
CREATE ROLE guarded LOGIN;
CREATE ROLE free LOGIN;
GRANT SELECT ON big TO guarded, free;
SELECT primary_guard.set_policy('guarded', 'limit', max_scan_rows => 1000);
});

my $heavy = 'SELECT count(*) FROM big';

# psql as a role with SQLSTATEs in messages; returns (exit code, stdout, stderr).
sub run_sql
{
	my ($user, $sql, $db) = @_;
	return run_as($node, $user, $sql, db => $db);
}

# The guard rejects the heavy query of 'guarded' and lets a point query run.
sub guard_works
{
	my ($what) = @_;
	my ($rc, $out, $err) = run_sql('guarded', $heavy);
	like($err, qr/ERROR:  54001: statement rejected on primary server: full scan of "big"/,
		"$what: a new session of the guarded role is rejected");
	($rc, $out, $err) = run_sql('guarded', 'SELECT payload FROM big WHERE id = 7');
	is($out, 'row 7', "$what: a point query still runs");
}

# A session that stays open; each query starts with empty stderr.
sub open_session
{
	my ($user) = @_;
	return $node->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ]);
}

guard_works('at start');

# --- SIGKILL of a backend in the middle of a long statement ----------------

my $log_offset = -s $node->logfile;
my $victim = open_session('free');
$victim->query_until(qr/started/, "\\echo started\nSELECT pg_sleep(300);\n");
my $pid;
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(300)%' AND pid <> pg_backend_pid()")
  or die 'the long statement never started';
$pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(300)%' AND pid <> pg_backend_pid()");
ok(kill('KILL', $pid), "SIGKILL sent to backend $pid");
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'the server did not come back after the crash';
# 15 says "server process (PID n)", 18 names the kind: "client backend (PID n)".
like(slurp_file($node->logfile, $log_offset),
	qr/(?:server process|client backend) \(PID $pid\) was terminated by signal 9/,
	'the killed backend is reported and the postmaster reinitialized');
eval { $victim->quit };
guard_works('after a backend was killed');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM primary_guard.policies WHERE role = 'guarded'"),
	'1', 'the policy is still there after the reinitialization');

# --- Crash restart: immediate shutdown keeps the policies -------------------

$node->safe_psql('postgres',
	"SELECT primary_guard.set_policy('free', 'limit', max_cost => 100000, note => 'crash-safe')");
$node->stop('immediate');
$node->start;
is( $node->safe_psql(
		'postgres',
		"SELECT role || ':' || action || ':' || coalesce(note, '')
		   FROM primary_guard.policies ORDER BY role"),
	"free:limit:crash-safe\nguarded:limit:",
	'both policies survive an immediate shutdown and restart');
guard_works('after crash restart');
$node->safe_psql('postgres', "SELECT primary_guard.drop_policy('free')");

# --- VACUUM FULL and REINDEX of the policy table ---------------------------

my $guarded = open_session('guarded');
my ($out, $err) = session_query($guarded, $heavy);
like($err, qr/ERROR:  54001:/, 'open session: rejected before VACUUM FULL (policy cached)');

$node->safe_psql('postgres',
	'VACUUM FULL primary_guard.policy; REINDEX TABLE primary_guard.policy; VACUUM FULL ANALYZE primary_guard.policy');
($out, $err) = session_query($guarded, $heavy);
like($err, qr/ERROR:  54001:/, 'open session: still rejected after VACUUM FULL and REINDEX');
($out, $err) = session_query($guarded, 'SELECT payload FROM big WHERE id = 8');
is($out, 'row 8', 'open session: point query runs after VACUUM FULL and REINDEX');
guard_works('after VACUUM FULL and REINDEX');

# A change after the rewrite still reaches the open session.
$node->safe_psql('postgres', "SELECT primary_guard.set_policy('guarded', 'allow')");
($out, $err) = session_query($guarded, $heavy);
is($out, '20000', 'open session: a change after VACUUM FULL is seen (allow)');
$node->safe_psql('postgres',
	"SELECT primary_guard.set_policy('guarded', 'limit', max_scan_rows => 1000)");
($out, $err) = session_query($guarded, $heavy);
like($err, qr/ERROR:  54001:/, 'open session: and the limit again');

# --- DROP EXTENSION under sessions holding cached policies ------------------

my $guarded2 = open_session('guarded');
($out, $err) = session_query($guarded2, $heavy);
like($err, qr/ERROR:  54001:/, 'second open session: rejected (policy cached)');

$node->safe_psql('postgres', 'DROP EXTENSION primary_guard');
($out, $err) = session_query($guarded, $heavy);
is($out, '20000', 'after DROP EXTENSION: the open session is no longer guarded');
is($err, '', 'after DROP EXTENSION: and its next statement has no error');
($out, $err) = session_query($guarded2, "SELECT 1; $heavy; BEGIN; $heavy; ROLLBACK");
is($err, '', 'after DROP EXTENSION: statements and transactions in the other session run cleanly');
my ($rc, $o, $e) = run_sql('guarded', $heavy);
is($o, '20000', 'after DROP EXTENSION: a new session is not guarded');

# Installed again: open sessions pick the new table up.
$node->safe_psql('postgres',
	"CREATE EXTENSION primary_guard; SELECT primary_guard.set_policy('guarded', 'limit', max_scan_rows => 1000)");
($out, $err) = session_query($guarded, $heavy);
like($err, qr/ERROR:  54001:/, 'after CREATE EXTENSION again: the open session is guarded again');
($out, $err) = session_query($guarded2, $heavy);
like($err, qr/ERROR:  54001:/, 'after CREATE EXTENSION again: so is the other one');
$guarded->quit;
$guarded2->quit;

# --- A database without the extension ---------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE plain');
$node->safe_psql(
	'plain', q{
CREATE TABLE big (id int PRIMARY KEY, payload text);
INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
ANALYZE big;
GRANT SELECT ON big TO guarded;
});
($rc, $o, $e) = run_sql("guarded", "$heavy; COPY big TO STDOUT; CREATE TEMP TABLE t AS SELECT * FROM big", "plain");
is($rc, 0, 'database without the extension: the guarded role runs everything');
like($o, qr/^20000\n/, 'database without the extension: the full scan returned its count');
is($e, '', 'database without the extension: no error, no warning');

# --- A look-alike schema made by a non-superuser ----------------------------

# The owner of a database without the extension makes a "primary_guard"
# schema with a "policy" table of another layout and a row in it.
$node->safe_psql('postgres',
	'CREATE ROLE dbowner LOGIN; CREATE DATABASE owned OWNER dbowner');
$log_offset = -s $node->logfile;
($rc, $o, $e) = run_sql(
	'dbowner', q{
CREATE SCHEMA primary_guard;
CREATE TABLE primary_guard.policy (role oid, server_state text, action int,
    mode int, max_cost int, max_scan_rows int, max_scan_size int,
    blocked_commands int, note int, PRIMARY KEY (role, server_state));
INSERT INTO primary_guard.policy VALUES (0, 'primary', 12345, 1, 1, 1, 1, 1, 1);
CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 20000) g;
}, 'owned');
is($rc, 0, 'a non-superuser creates a look-alike primary_guard.policy');
($rc, $o, $e) = run_sql('dbowner', 'SELECT count(*) FROM big', 'owned');
is($o, '20000', 'look-alike schema: a new session runs normally (the table is not read)');
($rc, $o, $e) = run_sql('postgres', 'SELECT count(*) FROM big', 'owned');
is($o, '20000', 'look-alike schema: so does a superuser session');
# Same layout as the real table, a deny for public: still ignored.
($rc, $o, $e) = run_sql(
	'dbowner', q{
DROP TABLE primary_guard.policy;
CREATE TABLE primary_guard.policy (LIKE pg_catalog.pg_class INCLUDING ALL);
DROP TABLE primary_guard.policy;
CREATE TABLE primary_guard.policy (role regrole, server_state text, action text,
    mode text, max_cost float8, max_scan_rows int8, max_scan_size int8,
    blocked_commands text[], note text, CONSTRAINT policy_pkey PRIMARY KEY (role, server_state));
INSERT INTO primary_guard.policy VALUES (0, 'primary', 'deny', 'enforce');
}, 'owned');
($rc, $o, $e) = run_sql('postgres', 'SELECT count(*) FROM big', 'owned');
is($o, '20000', 'look-alike schema: a forged public deny is not obeyed');
unlike(slurp_file($node->logfile, $log_offset),
	qr/terminated by signal|was terminated/,
	'look-alike schema: no backend crashed');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');

$node->stop;
done_testing();
