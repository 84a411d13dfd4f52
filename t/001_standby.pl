# Copyright (c) primary_guard contributors
#
# t/001_standby.pl - primary_guard on a streaming hot standby.
#
# Policies are rows of a table, so they replicate; what matters is that the
# standby reads them for its own state: primary policies do not apply there,
# standby policies do, a change made on the primary reaches sessions that are
# already open on the standby once it is replayed, and check_query() on the
# standby previews what the primary would do.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

# The guard must be preloaded before the backup is taken, so that the
# standby made from it has it too.
my $primary = guarded_node('primary', allows_streaming => 1);

$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard;
CREATE TABLE big (id int PRIMARY KEY, payload text);
INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
ANALYZE big;
CREATE ROLE primary_limited LOGIN;
CREATE ROLE standby_limited LOGIN;
CREATE ROLE late_limited LOGIN;
GRANT SELECT ON big TO primary_limited, standby_limited, late_limited;
SELECT primary_guard.set_policy('primary_limited', 'limit',
    max_scan_rows => 1000, note => 'Use the replica');
SELECT primary_guard.set_policy('standby_limited', 'limit',
    server_state => 'standby', max_scan_rows => 1000,
    note => 'Reports belong on the primary');
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# psql with SQLSTATEs in error messages; returns (exit code, stdout, stderr).
my $heavy = 'SELECT count(*) FROM big';

# --- Replication of the policies themselves -------------------------------

my $policies_sql = q{
SELECT role, server_state, action, mode, max_scan_rows, note, dangling
  FROM primary_guard.policies ORDER BY role, server_state};
my $on_primary = $primary->safe_psql('postgres', $policies_sql);
is($standby->safe_psql('postgres', $policies_sql),
	$on_primary, 'the policies view on the standby equals the primary\'s');
like($on_primary, qr/^primary_limited\|primary\|limit\|enforce\|1000\|/m,
	'the primary policy is listed');
like($on_primary, qr/^standby_limited\|standby\|limit\|enforce\|1000\|/m,
	'the standby policy is listed');

is($primary->safe_psql('postgres', 'SELECT primary_guard.server_state()'),
	'primary', 'server_state() is primary on the primary');
is($standby->safe_psql('postgres', 'SELECT primary_guard.server_state()'),
	'standby', 'server_state() is standby on the standby');

# --- Policies cannot be changed on the standby ------------------------------

my ($rc, $out, $err) = run_as($standby, 'postgres',
	"SELECT primary_guard.set_policy('late_limited', 'deny')");
isnt($rc, 0, 'set_policy on the standby fails');
like($err, qr/ERROR:  25006:/, 'set_policy on the standby fails with SQLSTATE 25006');
($rc, $out, $err) = run_as($standby, 'postgres',
	"SELECT primary_guard.drop_policy('primary_limited')");
like($err, qr/ERROR:  25006:/, 'drop_policy on the standby fails with SQLSTATE 25006');

# --- Which policies apply where ---------------------------------------------

# On the primary, the primary policy rejects and the standby policy does not
# apply: this makes the standby checks below meaningful.
($rc, $out, $err) = run_as($primary, 'primary_limited', $heavy);
like($err, qr/ERROR:  54001: statement rejected on primary server: full scan of "big"/,
	'primary policy rejects the full scan on the primary');
($rc, $out, $err) = run_as($primary, 'standby_limited', $heavy);
is($out, '20000', 'standby policy does not apply on the primary');

($rc, $out, $err) = run_as($standby, 'primary_limited', $heavy);
is($rc, 0, 'primary policy does not apply on the standby: query succeeds');
is($out, '20000', 'primary policy does not apply on the standby: full count returned');

($rc, $out, $err) = run_as($standby, 'standby_limited', $heavy);
isnt($rc, 0, 'standby policy rejects the full scan on the standby');
like($err, qr/ERROR:  54001: statement rejected on standby server: full scan of "big" is too large/,
	'standby rejection says standby server, names the table, SQLSTATE 54001');
like($err, qr/DETAIL:  .*policy for role "standby_limited" allows 1000\./,
	'standby rejection detail names the role and the limit');
like($err, qr/HINT:  Run this statement on the primary server\. Reports belong on the primary/,
	'standby rejection hint points to the primary and carries the note');

($rc, $out, $err) = run_as($standby, 'standby_limited',
	'SELECT payload FROM big WHERE id = 7');
is($out, 'row 7', 'a point query by index still runs under the standby policy');

# --- The standby records its own rejections (shared memory, no writes) ------

is( $standby->safe_psql(
		'postgres',
		"SELECT role || '|' || server_state || '|' || verdict || '|' || rule || '|' || relation
		   FROM primary_guard.recent_rejections() LIMIT 1"),
	'standby_limited|standby|reject|max_scan_rows|big',
	'recent_rejections() on the standby shows its own rejection');
is( $standby->safe_psql(
		'postgres',
		"SELECT rejected > 0 AND checked >= rejected FROM primary_guard.stats WHERE role = 'standby_limited'"),
	't', 'stats on the standby count the standby rejection');
is( $primary->safe_psql(
		'postgres',
		"SELECT count(*) FROM primary_guard.stats WHERE role = 'standby_limited'"),
	'0', 'the primary does not see the standby\'s counters');
like(slurp_file($standby->logfile),
	qr/primary_guard: verdict=reject rule=max_scan_rows role="standby_limited" state=standby relation="big"/,
	'the standby logs the rejection as a key=value line');

# --- A policy change reaches an open standby session ------------------------

my $session = $standby->background_psql(
	'postgres',
	on_error_stop => 0,
	extra_params => [ '-U', 'late_limited', '-v', 'VERBOSITY=verbose' ]);

my ($pid_before) = session_query($session, 'SELECT pg_backend_pid()');
($out, $err) = session_query($session, $heavy);
is($out, '20000', 'open standby session: heavy query runs before any policy');

$primary->safe_psql('postgres',
	"SELECT primary_guard.set_policy('late_limited', 'limit', server_state => 'standby', max_scan_rows => 500)");
$primary->wait_for_catchup($standby);

($out, $err) = session_query($session, $heavy);
like($err, qr/ERROR:  54001: statement rejected on standby server: full scan of "big"/,
	'open standby session: policy set on the primary applies after replay');
like($err, qr/policy for role "late_limited" allows 500\./,
	'open standby session: rejection names the new policy');

$primary->safe_psql('postgres',
	"SELECT primary_guard.drop_policy('late_limited', 'standby')");
$primary->wait_for_catchup($standby);

($out, $err) = session_query($session, $heavy);
is($out, '20000', 'open standby session: dropping the policy on the primary lifts it after replay');
is($err, '', 'open standby session: no error once the policy is dropped');

my ($pid_after) = session_query($session, 'SELECT pg_backend_pid()');
is($pid_after, $pid_before, 'it was one standby session throughout');
$session->quit;

# --- check_query() on the standby previews the primary ----------------------

($rc, $out, $err) = run_as(
	$standby,
	'primary_limited',
	qq{SELECT verdict, reason LIKE '%"big"%'
         FROM primary_guard.check_query('$heavy', server_state => 'primary');
       SELECT verdict FROM primary_guard.check_query('$heavy', server_state => 'standby');
       $heavy;});
is($rc, 0, 'check_query on the standby runs');
my @lines = split /\n/, $out;
is($lines[0], 'reject|t',
	'check_query(server_state => primary) on the standby previews the primary\'s rejection of "big"');
is($lines[1], 'allow', 'check_query(server_state => standby) allows it on the standby');
is($lines[2], '20000', 'the same query really runs on the standby');

$standby->stop;
$primary->stop;

done_testing();
