# Copyright (c) primary_guard contributors
#
# t/004_upgrade.pl - from 1.0 to 1.1, node by node, keeping every policy.
#
# A primary and a streaming standby run the new library with a 1.0 catalog
# (as after a rolling restart, before ALTER EXTENSION ... UPDATE): the
# guard keeps enforcing the 1.0 policies and the 1.0 functions keep
# working.  Then the primary runs the update, the standby replays it, the
# policies are all there on both, max_scan_rows => 0 still means "no full
# scans", and the new max_duration works on the primary while the standby,
# whose state has no such policy, is untouched.  Finally a statement admitted
# on the standby is cancelled by on_promote at promotion, and the session's
# next statement gets the primary's max_duration.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $primary = guarded_node('primary', allows_streaming => 1);
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard VERSION '1.0';
CREATE TABLE big (id int PRIMARY KEY, payload text);
INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
ANALYZE big;
CREATE ROLE analysts;
CREATE ROLE analyst LOGIN IN ROLE analysts;
CREATE ROLE no_full LOGIN;
CREATE ROLE reporter LOGIN;
GRANT SELECT ON big TO analysts, no_full, reporter;
SELECT primary_guard.set_policy('analysts', 'limit', max_scan_rows => 1000,
    note => 'Use the replica');
SELECT primary_guard.set_policy('no_full', 'limit', max_scan_rows => 0);
SELECT primary_guard.set_policy('reporter', 'limit', server_state => 'standby',
    max_cost => 1);
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $heavy = 'SELECT count(*) FROM big';
my $policies_sql = q{
SELECT role, server_state, action, mode, max_cost, max_scan_rows, note
  FROM primary_guard.policies ORDER BY role, server_state};
my $before = $primary->safe_psql('postgres', $policies_sql);

# --- The new library on a 1.0 catalog -------------------------------------

is($primary->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'primary_guard'"),
	'1.0', 'the catalog is 1.0');
my ($rc, $out, $err) = run_as($primary, 'analyst', $heavy);
like($err, qr/54001: statement rejected on primary server: full scan of "big" is too large/,
	'1.0 catalog: a 1.0 limit is enforced');
($rc, $out, $err) = run_as($primary, 'no_full', 'SELECT payload FROM big WHERE id = 7');
is($out, 'row 7', '1.0 catalog: max_scan_rows => 0 allows an index lookup');
($rc, $out, $err) = run_as($standby, 'reporter', $heavy);
like($err, qr/54001: statement rejected on standby server: estimated cost is too high/,
	'1.0 catalog: a standby policy is enforced on the standby');
is($primary->safe_psql('postgres',
		"SELECT action || ' ' || source FROM primary_guard.effective_policy('analyst')"),
	'limit inherited from "analysts"', '1.0 catalog: effective_policy() works');
$primary->safe_psql('postgres',
	"SELECT primary_guard.set_policy('reporter', 'limit', server_state => 'standby', max_cost => 2)");
is($primary->safe_psql('postgres',
		"SELECT max_cost FROM primary_guard.policy WHERE role = 'reporter'::regrole"),
	'2', '1.0 catalog: set_policy() (1.0 declaration) writes');
$primary->safe_psql('postgres',
	"SELECT primary_guard.set_policy('reporter', 'limit', server_state => 'standby', max_cost => 1)");

# --- The update, on the primary, replayed on the standby -------------------

$primary->safe_psql('postgres', 'ALTER EXTENSION primary_guard UPDATE');
$primary->wait_for_catchup($standby);
is($primary->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'primary_guard'"),
	'1.1', 'updated to 1.1');
is($primary->safe_psql('postgres', $policies_sql), $before,
	'every policy is kept by the update');
is($standby->safe_psql('postgres', $policies_sql), $before,
	'and the standby has them after replay');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM primary_guard.policies WHERE max_duration IS NULL"),
	'3', 'the standby sees the new max_duration column');

($rc, $out, $err) = run_as($primary, 'analyst', $heavy);
like($err, qr/54001: statement rejected on primary server: full scan of "big" is too large/,
	'1.1: the 1.0 limit is still enforced');
($rc, $out, $err) = run_as($primary, 'no_full', $heavy);
like($err, qr/allows no full scans/, '1.1: max_scan_rows => 0 still forbids full scans');
($rc, $out, $err) = run_as($primary, 'no_full', 'SELECT payload FROM big WHERE id = 7');
is($out, 'row 7', '1.1: and still allows an index lookup');
($rc, $out, $err) = run_as($standby, 'reporter', $heavy);
like($err, qr/54001: statement rejected on standby server: estimated cost is too high/,
	'1.1: the standby policy is still enforced on the standby');

# --- max_duration on the primary only ---------------------------------------

$primary->safe_psql('postgres',
	"SELECT primary_guard.set_policy('analysts', 'limit', max_scan_rows => 1000, max_duration => '500ms')");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres',
		"SELECT max_duration FROM primary_guard.effective_policy('analyst', 'primary')"),
	'00:00:00.5', 'the standby sees the new policy');
($rc, $out, $err) = run_as($primary, 'analyst', 'SELECT pg_sleep(3)');
like($err,
	qr/57014: canceling statement on primary server: it ran longer than its policy allows.*allows 500 ms on the primary server/s,
	'max_duration cancels a long statement on the primary');
($rc, $out, $err) = run_as($standby, 'analyst', 'SELECT pg_sleep(1)');
is($rc, 0, 'the standby, with no such policy for its state, lets it run');
is($err, '', 'without a message');

# --- A statement admitted on the standby, running at promotion ------------
# It was admitted under standby rules; on_promote = cancel stops it at
# promotion because the primary's policy would reject its plan.  The
# session's next statement gets the primary's max_duration.

$standby->append_conf('postgresql.conf', "primary_guard.on_promote = cancel\n");
$standby->reload;
my ($long_out, $long_err) = ('', '');
my $long = IPC::Run::start(
	[
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose',
		'-d', $standby->connstr('postgres') . ' user=analyst',
		'-c', "SELECT 'finished' FROM (SELECT pg_sleep(30) FROM big LIMIT 1) s"
	],
	'>', \$long_out, '2>', \$long_err);
$standby->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT ''finished''%' AND state = 'active'")
  or die "the long statement did not start";
my $session = $standby->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'analyst', '-v', 'VERBOSITY=verbose' ]);
my ($pid_before) = session_query($session, 'SELECT pg_backend_pid()');
$standby->promote;
$long->finish;
like($long_err, qr/57014: canceling statement due to user request/,
	'the statement admitted on the standby is cancelled at promotion (on_promote = cancel)');
is($long_out, '', 'it did not finish');
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()');
my ($pid_after) = session_query($session, 'SELECT pg_backend_pid()');
is($pid_after, $pid_before, 'a session opened on the standby is still there');
my ($sout, $serr) = session_query($session, 'SELECT pg_sleep(3)');
like($serr,
	qr/57014: canceling statement on primary server: it ran longer than its policy allows/,
	'and its next long statement gets the primary\'s max_duration');
$session->quit;

$standby->stop;
$primary->stop;
done_testing();
