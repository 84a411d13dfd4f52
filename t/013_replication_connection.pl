# t/013_replication_connection.pl - a replication connection is checked.
#
# A walsender connected with replication=database runs plain SQL too, as
# any role with the REPLICATION attribute.  It is checked like any session,
# except for what logical replication itself hands over: COPY of a published
# table (schema-qualified) TO STDOUT, and COPY (SELECT ... FROM one published
# table ...) TO STDOUT.  Replication commands keep working, and so does the
# table synchronisation of subscriptions (row filters, a partitioned table
# published through its root, a schema publication) under a public deny.
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

my $tables = q{
CREATE TABLE big (id int PRIMARY KEY, v text);
CREATE TABLE accounts (id int PRIMARY KEY, balance int);
CREATE TABLE lookup (id int PRIMARY KEY);
CREATE TABLE filtered (id int PRIMARY KEY, region text);
CREATE TABLE parted (id int, region text) PARTITION BY LIST (region);
CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id int PRIMARY KEY, amount int);
};
$publisher->safe_psql('postgres', "CREATE EXTENSION primary_guard; $tables" . q{
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO accounts SELECT g, g FROM generate_series(1, 5000) g;
INSERT INTO lookup SELECT g FROM generate_series(1, 100) g;
INSERT INTO filtered SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 3000) g;
INSERT INTO parted SELECT g, CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 3000) g;
INSERT INTO sales.orders SELECT g, g FROM generate_series(1, 2000) g;
ANALYZE;
CREATE PUBLICATION accounts_pub FOR TABLE accounts, lookup;
CREATE PUBLICATION filtered_pub FOR TABLE filtered WHERE (region = 'eu'), parted
  WITH (publish_via_partition_root = true);
CREATE PUBLICATION sales_pub FOR TABLES IN SCHEMA sales;
CREATE ROLE analysts NOLOGIN;
CREATE ROLE repl_analyst LOGIN REPLICATION IN ROLE analysts;
CREATE ROLE deniers NOLOGIN;
CREATE ROLE repl_denied LOGIN REPLICATION IN ROLE deniers;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO analysts, deniers;
GRANT USAGE ON SCHEMA sales TO analysts, deniers;
GRANT SELECT ON sales.orders TO analysts, deniers;
GRANT CREATE ON SCHEMA public TO analysts, deniers;
SELECT primary_guard.set_policy('analysts', 'limit', max_scan_rows => 1000, max_cost => 100000);
SELECT primary_guard.set_policy('deniers', 'deny');
SELECT primary_guard.set_policy('public', 'deny');
});

# psql on a replication=database connection: (exit code, stdout, stderr).
sub repl
{
	my ($user, $sql) = @_;
	my ($stdout, $stderr);
	my $rc = $publisher->psql(
		'postgres', $sql,
		replication => 'database',
		stdout => \$stdout,
		stderr => \$stderr,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ]);
	return ($rc, $stdout, $stderr);
}

my $too_large = qr/ERROR:  54001: statement rejected on primary server: full scan of "big" is too large/;

# --- Plain SQL on a replication connection is checked --------------------------

my ($rc, $out, $err) = repl('repl_analyst', 'SELECT count(*) FROM big');
like($err, $too_large, 'replication connection: a full scan of big is rejected');
is($out, '', '... and returns nothing');

($rc, $out, $err) = repl('repl_analyst', 'SELECT pg_backend_pid() = pid FROM pg_stat_replication');
is($out, 't', 'the session really is a walsender');

($rc, $out, $err) = repl('repl_analyst', 'IDENTIFY_SYSTEM');
is($rc, 0, 'replication commands still work on that connection');
like($out, qr/^\d+\|\d+\|[0-9A-F]+\/[0-9A-F]+\|postgres$/, '... IDENTIFY_SYSTEM returns the system row');

($rc, $out, $err) = repl('repl_analyst', 'COPY public.big TO STDOUT');
like($err, qr/ERROR:  54001: .*full scan of "big" is too large/,
	'COPY of an unpublished table is checked');
($rc, $out, $err) = repl('repl_analyst', 'COPY (SELECT id FROM public.big) TO STDOUT');
like($err, $too_large, 'COPY (SELECT) of an unpublished table is checked');

# --- What replication hands over ----------------------------------------------

($rc, $out, $err) = run_as($publisher, 'repl_analyst', 'COPY public.accounts TO STDOUT');
like($err, qr/ERROR:  54001: .*full scan of "accounts" is too large/,
	'ordinary connection: COPY of the published table is rejected');
($rc, $out, $err) = repl('repl_analyst', 'COPY public.accounts TO STDOUT');
is(scalar(split /\n/, $out), 5000, 'replication connection: COPY of a published table runs');
($rc, $out, $err) = repl('repl_analyst', 'COPY accounts TO STDOUT');
like($err, qr/ERROR:  54001: .*full scan of "accounts" is too large/,
	'... but only with a schema-qualified name, as table sync writes it');
($rc, $out, $err) = repl('repl_analyst',
	q{COPY (SELECT id, region FROM ONLY public.filtered WHERE (region = 'eu')) TO STDOUT});
is(scalar(split /\n/, $out), 1500, 'COPY (SELECT ... WHERE) of a published table runs');
($rc, $out, $err) = repl('repl_analyst', 'COPY (SELECT id, region FROM public.parted) TO STDOUT');
is(scalar(split /\n/, $out), 3000, 'COPY (SELECT) of a table published through its root runs');
($rc, $out, $err) = repl('repl_analyst', 'COPY public.parted_eu TO STDOUT');
is(scalar(split /\n/, $out), 1000, 'COPY of a partition of a published root runs');
($rc, $out, $err) = repl('repl_analyst', 'COPY sales.orders TO STDOUT');
is(scalar(split /\n/, $out), 2000, 'COPY of a table of a published schema runs');

($rc, $out, $err) = repl('repl_analyst',
	'COPY (SELECT a.id FROM public.accounts a, public.accounts b WHERE a.id = b.id) TO STDOUT');
like($err, qr/ERROR:  54001: .*full scan of "accounts" is too large/,
	'a self-join of a published table is checked');
($rc, $out, $err) = repl('repl_analyst',
	'COPY (SELECT id FROM public.lookup WHERE id IN (SELECT id FROM public.big)) TO STDOUT');
like($err, $too_large, 'a COPY (SELECT) that also reads an unpublished table is checked');
($rc, $out, $err) = repl('repl_analyst',
	'COPY (SELECT id FROM public.lookup UNION ALL SELECT id FROM public.big) TO STDOUT');
like($err, $too_large, 'a UNION with an unpublished table is checked');
($rc, $out, $err) = repl('repl_analyst',
	'COPY (SELECT l.id FROM public.lookup l, generate_series(1, 10000000) g) TO STDOUT');
like($err, qr/ERROR:  54001: statement rejected on primary server: estimated cost is too high/,
	'a published table joined with a function in FROM is checked');
($rc, $out, $err) = repl('repl_analyst', 'COPY (SELECT id FROM public.lookup) TO STDOUT');
is(scalar(split /\n/, $out), 100, '... while reading the published table alone runs');
($rc, $out, $err) = repl('repl_analyst', 'SELECT count(*) FROM accounts');
like($err, qr/ERROR:  54001: .*full scan of "accounts" is too large/,
	'a plain SELECT of a published table is checked');

# A deny policy: utility commands and reads are denied, the copy runs.
($rc, $out, $err) = repl('repl_denied', 'CREATE TABLE mine (a int)');
like($err, qr/ERROR:  42501: statement rejected on primary server: CREATE TABLE is not allowed/,
	'deny: a utility command on a replication connection is rejected');
($rc, $out, $err) = repl('repl_denied', 'SELECT id FROM accounts WHERE id = 1');
like($err, qr/ERROR:  42501: .*access to "accounts" is denied/,
	'deny: a read on a replication connection is rejected');
($rc, $out, $err) = repl('repl_denied', 'COPY public.accounts TO STDOUT');
is(scalar(split /\n/, $out), 5000, 'deny: COPY of a published table still runs');
($rc, $out, $err) = repl('repl_denied', 'COPY public.big TO STDOUT');
like($err, qr/ERROR:  42501: .*COPY is not allowed/, 'deny: COPY of an unpublished table is rejected');

# --- Subscriptions still synchronise under the public deny ----------------------

$subscriber->safe_psql('postgres', "CREATE EXTENSION primary_guard; $tables");
my $connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub CONNECTION '$connstr' PUBLICATION accounts_pub, filtered_pub, sales_pub");
$subscriber->safe_psql('postgres', "SELECT primary_guard.set_policy('public', 'deny')");
$subscriber->wait_for_subscription_sync($publisher, 'sub');

is( $subscriber->safe_psql(
		'postgres', q{SET primary_guard.enabled = off;
SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM filtered),
       (SELECT count(*) FROM parted), (SELECT count(*) FROM sales.orders)}),
	'5000|1500|3000|2000',
	'table sync copied every published row (plain, row filter, partition root, schema)');

# FOR ALL TABLES publishes big as well.
$publisher->safe_psql('postgres',
	'SET primary_guard.enabled = off; CREATE PUBLICATION all_pub FOR ALL TABLES');
($rc, $out, $err) = repl('repl_analyst', 'COPY public.big TO STDOUT');
is(scalar(split /\n/, $out), 20000, 'FOR ALL TABLES: COPY of any table runs on a replication connection');
($rc, $out, $err) = repl('repl_analyst', 'SELECT count(*) FROM big');
like($err, $too_large, '... while a SELECT of it is still checked');

my $log = slurp_file($publisher->logfile);
like($log, qr/primary_guard: verdict=reject .*role="repl_analyst"/,
	'the publisher logged the replication connection\'s rejections');
unlike($log, qr/primary_guard: verdict=reject .*role="postgres"/,
	'... and no rejection of the table sync');

$subscriber->stop;
$publisher->stop;
done_testing();
