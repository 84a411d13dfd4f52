# Copyright (c) primary_guard contributors
#
# t/011_coexistence.pl - primary_guard next to other hook users, and loaded
# the wrong way.
#
#  - pg_stat_statements and auto_explain in shared_preload_libraries, before
#    and after primary_guard: the guard still rejects, pg_stat_statements
#    still counts, auto_explain still logs plans (each hook chains to the
#    previous one).
#  - Server log: a superuser turning primary_guard.enabled off writes a LOG
#    line; every rejection (and warning) writes one key=value line.
#  - Without the preload: LOAD, session_preload_libraries and CREATE
#    EXTENSION fail with SQLSTATE 55000 and a hint naming
#    shared_preload_libraries.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $node = PostgreSQL::Test::Cluster->new('coexist');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = on
pg_stat_statements.track = all
});

my $started = 0;

sub set_preload
{
	my ($libs) = @_;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = '$libs'");
	if ($started) { $node->restart; }
	else { $node->start; $started = 1; }
}

# psql with SQLSTATEs; returns (exit code, stdout, stderr).
sub run_sql
{
	my ($user, $sql, %opts) = @_;
	return run_as($node, $user, $sql, %opts);
}

set_preload('pg_stat_statements, auto_explain, primary_guard');
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard;
CREATE EXTENSION pg_stat_statements;
CREATE TABLE big (id int PRIMARY KEY, payload text);
INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
ANALYZE big;
CREATE ROLE guarded LOGIN;
CREATE ROLE free LOGIN;
CREATE ROLE admin LOGIN SUPERUSER;
GRANT SELECT ON big TO guarded, free;
SELECT primary_guard.set_policy('guarded', 'limit', max_scan_rows => 1000);
SELECT primary_guard.set_policy('admin', 'limit', max_scan_rows => 1000);
SELECT primary_guard.set_policy('free', 'limit', max_scan_rows => 1000, mode => 'warn');
});

foreach my $libs ('pg_stat_statements, auto_explain, primary_guard',
	'primary_guard, auto_explain, pg_stat_statements')
{
	set_preload($libs) unless $libs =~ /^pg_stat/;
	my $order = "preload '$libs'";
	$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
	my $offset = -s $node->logfile;

	my ($rc, $out, $err) = run_sql('guarded', 'SELECT count(*) FROM big');
	like($err, qr/ERROR:  54001: statement rejected on primary server: full scan of "big"/,
		"$order: the guard still rejects");
	($rc, $out, $err) = run_sql('guarded', 'SELECT payload FROM big WHERE id = 42');
	is($out, 'row 42', "$order: an allowed query runs");
	run_sql('guarded', 'SELECT payload FROM big WHERE id = 43') for 1 .. 2;

	is( $node->safe_psql(
			'postgres',
			q{SELECT calls FROM pg_stat_statements
			   WHERE query LIKE 'SELECT payload FROM big WHERE id = $1%'}),
		'3', "$order: pg_stat_statements counts the guarded role's queries");

	my $log = slurp_file($node->logfile, $offset);
	like($log, qr/LOG:  duration: [0-9.]+ ms  plan:\n\s*Query Text: SELECT payload FROM big WHERE id = 42/,
		"$order: auto_explain logs the plan");
	like($log,
		qr/^.*LOG:  primary_guard: verdict=reject rule=max_scan_rows role="guarded" state=primary relation="big" estimate=\d+ limit=1000$/m,
		"$order: the rejection wrote one key=value log line");
}

# --- Log lines --------------------------------------------------------------

my $offset = -s $node->logfile;
my ($rc, $out, $err) = run_sql('free', 'SELECT count(*) FROM big');
is($out, '20000', 'warn mode: the statement runs');
like($err, qr/WARNING:  54001: statement rejected on primary server/, 'warn mode: with a WARNING');
like(slurp_file($node->logfile, $offset),
	qr/^.*LOG:  primary_guard: verdict=warn rule=max_scan_rows role="free" state=primary relation="big" estimate=\d+ limit=1000$/m,
	'warn mode: one key=value log line with verdict=warn');

# A policy on a superuser applies; turning the guard off is logged.
$offset = -s $node->logfile;
($rc, $out, $err) = run_sql('admin', 'SELECT count(*) FROM big');
like($err, qr/ERROR:  54001:/, 'a superuser with a policy is rejected');
($rc, $out, $err) = run_sql('admin',
	"SET primary_guard.enabled = off; SELECT count(*) FROM big; SELECT pg_backend_pid()");
my ($count, $pid) = split /\n/, $out;
is($count, '20000', 'a superuser may turn the guard off for the session');
my $log = slurp_file($node->logfile, $offset);
like($log,
	qr/LOG:  primary_guard.enabled set to off in the session of user "admin" \(pid $pid\)/,
	'turning the guard off wrote a LOG line naming the user and pid');
my @lines = $log =~ /^.*primary_guard: verdict=.*$/mg;
is(scalar(@lines), 1, 'exactly one rejection line for the one rejection');

# Parallel workers restore the leader's settings through the same assign
# hook: the session that turned the guard off logs it, its workers do not.
$offset = -s $node->logfile;
($rc, $out, $err) = run_sql('admin', q{
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
DO $$ BEGIN PERFORM set_config(name, 'on', false) FROM pg_settings
          WHERE name IN ('force_parallel_mode', 'debug_parallel_query'); END $$;
SET primary_guard.enabled = off;
SELECT count(*) FROM big; SELECT count(*) FROM big; SELECT count(*) FROM big;
SELECT pg_backend_pid()});
($count, undef, undef, $pid) = split /\n/, $out;
is($count, '20000', 'parallel count with the guard off');
my @off_lines = slurp_file($node->logfile, $offset) =~ /primary_guard.enabled set to off/g;
is(scalar(@off_lines), 1, 'turning the guard off is logged once, not by each parallel worker');

# --- Without the preload ----------------------------------------------------

set_preload('');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
($rc, $out, $err) = run_sql('postgres', "LOAD 'primary_guard'", db => 'fresh');
like($err, qr/ERROR:  55000: primary_guard must be loaded via shared_preload_libraries/,
	'LOAD without the preload fails with 55000');
like($err, qr/HINT:  .*shared_preload_libraries/, 'LOAD: the hint names shared_preload_libraries');
($rc, $out, $err) = run_sql('postgres', 'CREATE EXTENSION primary_guard', db => 'fresh');
like($err, qr/ERROR:  55000: primary_guard must be loaded via shared_preload_libraries/,
	'CREATE EXTENSION without the preload fails with 55000');
like($err, qr/HINT:  .*shared_preload_libraries/,
	'CREATE EXTENSION: the hint names shared_preload_libraries');
is($node->safe_psql('fresh', "SELECT count(*) FROM pg_extension WHERE extname = 'primary_guard'"),
	'0', 'CREATE EXTENSION left nothing behind');
{
	local $ENV{PGOPTIONS} = '-c session_preload_libraries=primary_guard';
	($rc, $out, $err) = run_sql('postgres', 'SELECT 1', db => 'fresh');
}
isnt($rc, 0, 'session_preload_libraries: the connection is refused');
# (a refused connection shows no SQLSTATE; the message is the 55000 one)
like($err, qr/FATAL:  primary_guard must be loaded via shared_preload_libraries\nHINT:  .*shared_preload_libraries/,
	'session_preload_libraries: refused with the message and hint of the 55000 error');
is($node->safe_psql('fresh', 'SELECT 1'), '1', 'the server is fine afterwards');

$node->stop;
done_testing();
