# t/012_logical_replication.pl - the guard never breaks replication.
#
# Walsenders are never checked: a logical table sync runs COPY table TO in
# a walsender on the publisher, and must pass even under a "public" deny
# policy that applies to every role there, superusers included.  The
# subscriber's apply worker writes without the executor hooks, so a deny
# policy there does not stop replication either.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $publisher = guarded_node('publisher', allows_streaming => 'logical');
my $subscriber = guarded_node('subscriber');

$publisher->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard;
CREATE TABLE accounts (id int PRIMARY KEY, balance int);
INSERT INTO accounts SELECT g, g FROM generate_series(1, 5000) g;
CREATE PUBLICATION accounts_pub FOR TABLE accounts;
CREATE ROLE app LOGIN;
GRANT SELECT ON accounts TO app;
SELECT primary_guard.set_policy('public', 'deny');
});
$subscriber->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard;
CREATE TABLE accounts (id int PRIMARY KEY, balance int);
});

# The policy is in force on the publisher, for the superuser too.
my ($rc, $out, $err) = run_as($publisher, 'app', 'SELECT count(*) FROM accounts');
like($err, qr/ERROR:  42501: statement rejected on primary server: access to "accounts" is denied/,
	'publisher: the public deny policy rejects ordinary sessions');
($rc, $out, $err) = run_as($publisher, 'postgres', 'COPY accounts TO STDOUT');
like($err, qr/ERROR:  42501: .*COPY is not allowed/,
	'publisher: ... and a superuser\'s COPY accounts TO');

# Table sync: COPY accounts TO in a walsender of the publisher.
my $connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION accounts_sub CONNECTION '$connstr' PUBLICATION accounts_pub");
$subscriber->safe_psql('postgres', "SELECT primary_guard.set_policy('public', 'deny')");
$subscriber->wait_for_subscription_sync($publisher, 'accounts_sub');

is($subscriber->safe_psql('postgres',
		'SET primary_guard.enabled = off; SELECT count(*) FROM accounts'),
	'5000', 'the initial table sync copied every row despite deny policies on both sides');

# Streaming changes are applied under the subscriber's deny policy.
$publisher->safe_psql('postgres',
	'SET primary_guard.enabled = off; INSERT INTO accounts SELECT g, g FROM generate_series(5001, 6000) g');
$publisher->wait_for_catchup('accounts_sub');
is($subscriber->safe_psql('postgres',
		'SET primary_guard.enabled = off; SELECT count(*) FROM accounts'),
	'6000', 'later changes stream and are applied');

like(slurp_file($publisher->logfile), qr/primary_guard: verdict=reject rule=deny role="app"/,
	'the publisher logged the ordinary session\'s rejection');
unlike(slurp_file($publisher->logfile), qr/primary_guard: verdict=reject .*role="postgres" state=primary relation="accounts"/,
	'... and no rejection of the table sync');

$subscriber->stop;
$publisher->stop;
done_testing();
