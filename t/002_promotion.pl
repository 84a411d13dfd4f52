# t/002_promotion.pl - the incident primary_guard exists for.
#
# A data team member's session is open on the hot standby, running heavy
# analytics.  The standby is promoted.  The session survives, and from its
# next statement on it gets the primary's policy: the heavy count(*) (and
# the EXECUTE of a statement prepared before the promotion) is rejected
# from planner estimates, while a point query still runs.  Then the old
# primary is rebuilt as a standby of the new one and applies standby rules.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $rows = 100000;
my $note = 'Analytics replica: analytics-db.internal:5432';

my $primary = guarded_node('primary', allows_streaming => 1);

$primary->safe_psql(
	'postgres', qq{
CREATE EXTENSION primary_guard;
CREATE TABLE money_transactions (
    id bigint PRIMARY KEY,
    account int NOT NULL,
    amount numeric(12,2) NOT NULL);
INSERT INTO money_transactions
    SELECT g, g % 1000, (g % 997) * 1.5 FROM generate_series(1, $rows) g;
ANALYZE money_transactions;
CREATE ROLE analysts NOLOGIN;
CREATE ROLE data_team LOGIN IN ROLE analysts;
CREATE ROLE etl LOGIN;
GRANT SELECT ON money_transactions TO analysts, etl;
SELECT primary_guard.set_policy('analysts', 'limit',
    max_scan_rows => 10000, note => '$note');
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $heavy = 'SELECT count(*) FROM money_transactions';
my $point = 'SELECT account FROM money_transactions WHERE id = 4242';

# --- Before the switchover: analytics on the standby ------------------------

my $session = $standby->background_psql(
	'postgres',
	on_error_stop => 0,
	extra_params => [ '-U', 'data_team', '-v', 'VERBOSITY=verbose' ]);

my ($pid_before) = session_query($session, 'SELECT pg_backend_pid()');
my ($out, $err) = session_query($session, 'SELECT primary_guard.server_state()');
is($out, 'standby', 'data_team session starts on a standby');
($out, $err) = session_query($session, "PREPARE heavy AS $heavy");
is($err, '', 'heavy statement prepared on the standby');
($out, $err) = session_query($session, $heavy);
is($out, $rows, 'heavy count(*) runs on the standby');
($out, $err) = session_query($session, 'EXECUTE heavy');
is($out, $rows, 'prepared heavy statement runs on the standby');

# --- The switchover -----------------------------------------------------------

$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'standby did not finish promotion';

# --- The same session, now on the primary ----------------------------------

my ($pid_after) = session_query($session, 'SELECT pg_backend_pid()');
is($pid_after, $pid_before, 'the data_team session survived the promotion');

($out, $err) = session_query($session, 'SELECT primary_guard.server_state()');
is($out, 'primary', 'server_state() says primary in the surviving session');

($out, $err) = session_query($session, $heavy);
is($out, '', 'heavy count(*) after promotion returns no rows');
like($err,
	qr/ERROR:  54001: statement rejected on primary server: full scan of "money_transactions" is too large/,
	'heavy count(*) after promotion fails with 54001 naming money_transactions');
like($err, qr/DETAIL:  .*policy for role "data_team" \(via "analysts"\) allows 10000\./,
	'rejection detail names the role data_team and the group analysts');
like($err, qr/HINT:  Run this statement on a standby server\. \Q$note\E/,
	'rejection hint sends the user to a standby with the policy note');

($out, $err) = session_query($session, 'EXECUTE heavy');
like($err,
	qr/ERROR:  54001: statement rejected on primary server: full scan of "money_transactions"/,
	'EXECUTE of the statement prepared on the standby is rejected too');
like($err, qr/policy for role "data_team" \(via "analysts"\)/,
	'EXECUTE rejection names the role and the group');

($out, $err) = session_query($session, $point);
is($out, 4242 % 1000, 'a point query by index still runs on the new primary');
is($err, '', 'the point query raises nothing');

($out, $err) = session_query($session,
	"SELECT verdict FROM primary_guard.check_query('$heavy')");
is($out, 'reject', 'check_query in the session agrees: reject');
$session->quit;

# --- The old primary comes back as a standby of the new primary -------------

$standby->safe_psql('postgres',
	"SELECT primary_guard.set_policy('etl', 'limit', server_state => 'standby', max_scan_rows => 10000)"
);
$standby->backup('after_promotion');
my $rebuilt = PostgreSQL::Test::Cluster->new('old_primary_rebuilt');
$rebuilt->init_from_backup($standby, 'after_promotion', has_streaming => 1);
$rebuilt->start;
$standby->wait_for_catchup($rebuilt);

is($rebuilt->safe_psql('postgres', 'SELECT primary_guard.server_state()'),
	'standby', 'rebuilt old primary is a standby');

my ($rc, $stderr);
$rc = $rebuilt->psql(
	'postgres', $heavy,
	stdout => \$out,
	stderr => \$stderr,
	extra_params => [ '-U', 'data_team' ]);
is($out, $rows, 'on the rebuilt standby the primary policy of analysts does not apply');

$rc = $rebuilt->psql(
	'postgres', $heavy,
	stdout => \$out,
	stderr => \$stderr,
	extra_params => [ '-U', 'etl', '-v', 'VERBOSITY=verbose' ]);
like($stderr,
	qr/ERROR:  54001: statement rejected on standby server: full scan of "money_transactions"/,
	'on the rebuilt standby a standby policy rejects');

$rebuilt->stop;
$standby->stop;

done_testing();
