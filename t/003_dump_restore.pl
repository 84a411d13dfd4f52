# t/003_dump_restore.pl - policies survive pg_dump and restore.
#
# primary.policy is an extension configuration table, so pg_dump writes its
# rows and a restore into a new database brings back every policy: own role,
# group, public, standby policies, notes, blocked_commands and warn mode.
# The restored policies must also be enforced, not merely listed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $node = guarded_node('main');

$node->safe_psql('postgres', 'CREATE DATABASE origin');
$node->safe_psql(
	'origin', q{
CREATE EXTENSION primary_guard;
CREATE TABLE big (id int PRIMARY KEY, payload text);
INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
CREATE ROLE analysts NOLOGIN;
CREATE ROLE data_team LOGIN IN ROLE analysts;
CREATE ROLE analyst2 LOGIN IN ROLE analysts;
CREATE ROLE app LOGIN;
GRANT SELECT ON big TO analysts, app;
SELECT primary_guard.set_policy('data_team', 'limit',
    max_scan_rows => 1000, max_scan_size => '10MB',
    note => 'Analytics replica: analytics-db.internal:5432');
SELECT primary_guard.set_policy('analysts', 'deny', mode => 'warn',
    note => 'Analysts work on the replica');
SELECT primary_guard.set_policy('analysts', 'limit', server_state => 'standby',
    max_cost => 1e9, blocked_commands => ARRAY['CREATE INDEX', 'VACUUM'],
    note => 'Standby: no maintenance');
SELECT primary_guard.set_policy('public', 'limit',
    blocked_commands => ARRAY['VACUUM', 'CLUSTER']);
});

my $policies_sql = 'SELECT * FROM primary_guard.policies ORDER BY role, server_state';
my $before = $node->safe_psql('origin', $policies_sql);
is(scalar(split /\n/, $before), 4, 'four policies before the dump');

# Dump, then restore into a database that has never seen the extension.
my $dump = $node->basedir . '/origin.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('origin') ],
	'pg_dump of a database with primary_guard policies');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into a new database');
# Statistics are not dumped; analyze as after any restore.
$node->safe_psql('restored', 'ANALYZE big');

is($node->safe_psql('restored', $policies_sql),
	$before, 'every policy is restored identically (policies view, all columns)');

# --- The restored policies are enforced ---------------------------------------

sub run_sql
{
	my ($user, $sql) = @_;
	return run_as($node, $user, $sql, db => 'restored');
}

my ($rc, $out, $err) = run_sql('data_team', 'SELECT count(*) FROM big');
like($err,
	qr/ERROR:  54001: statement rejected on primary server: full scan of "big" is too large/,
	'restored own limit policy rejects the full scan with 54001');
like($err, qr/policy for role "data_team" allows 1000\./,
	'restored own policy is named in the rejection');
like($err, qr/HINT:  .*Analytics replica: analytics-db\.internal:5432/,
	'restored note is in the hint');

($rc, $out, $err) = run_sql('analyst2', 'SELECT count(*) FROM big');
is($out, '20000', 'restored warn-mode group policy lets the query run');
like($err, qr/WARNING:  42501: statement rejected on primary server: access to "big" is denied/,
	'restored warn-mode deny policy of the group warns');
like($err, qr/policy for role "analyst2" \(via "analysts"\)/,
	'restored group policy is inherited through membership');

($rc, $out, $err) = run_sql('app', 'VACUUM big');
like($err, qr/ERROR:  42501: statement rejected on primary server: VACUUM is not allowed/,
	'restored public policy blocks VACUUM');
($rc, $out, $err) = run_sql('app', 'SELECT count(*) FROM big');
is($out, '20000', 'restored public policy has no scan limit');

is( $node->safe_psql(
		'restored',
		q{SELECT action, max_cost, blocked_commands, note, source
            FROM primary_guard.effective_policy('analyst2', 'standby')}),
	'limit|1000000000|{"CREATE INDEX",VACUUM}|Standby: no maintenance|inherited from "analysts"',
	'restored standby policy resolves for a group member');

# --- A database owner who is not a superuser can back up its database ---------

# The install script grants SELECT on the policy table to the database owner:
# pg_dump dumps a configuration table's rows, so it must read them.
$node->safe_psql('postgres', q{
CREATE ROLE dbowner LOGIN;
CREATE ROLE clerk LOGIN;
CREATE DATABASE owned OWNER dbowner;
});
$node->safe_psql('owned', 'CREATE EXTENSION primary_guard');
$node->safe_psql(
	'owned', q{
SET ROLE dbowner;
CREATE TABLE orders (id int PRIMARY KEY);
INSERT INTO orders SELECT g FROM generate_series(1, 1000) g;
ANALYZE orders;
GRANT SELECT ON orders TO clerk;
RESET ROLE;
SELECT primary_guard.set_policy('clerk', 'limit', max_scan_rows => 10, note => 'Owner dump test');
SELECT primary_guard.set_policy('public', 'limit', blocked_commands => ARRAY['VACUUM']);
});
is( $node->safe_psql(
		'owned',
		q{SELECT has_table_privilege('dbowner', 'primary_guard.policy', 'SELECT'),
                 has_table_privilege('dbowner', 'primary_guard.policy', 'INSERT')}),
	't|f',
	'the database owner may read the policy table, not write it');
my $owned_before = $node->safe_psql('owned', $policies_sql);
is(scalar(split /\n/, $owned_before), 2, 'two policies in the owner\'s database');

my $owner_dump = $node->basedir . '/owned.dump';
my ($dump_out, $dump_err) = ('', '');
my $dumped = IPC::Run::run(
	[ 'pg_dump', '-Fc', '-f', $owner_dump, '-d', $node->connstr('owned') . ' user=dbowner' ],
	'>', \$dump_out, '2>', \$dump_err);
ok($dumped, 'pg_dump as the non-superuser database owner succeeds');
is($dump_err, '', '... with nothing on stderr');

$node->safe_psql('postgres', 'CREATE DATABASE owned_restored OWNER dbowner');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('owned_restored'), $owner_dump ],
	'the owner\'s dump restores');
$node->safe_psql('owned_restored', 'ANALYZE orders');
is($node->safe_psql('owned_restored', $policies_sql),
	$owned_before, 'every policy comes back from the owner\'s dump');
($rc, $out, $err) = run_as($node, 'clerk', 'SELECT count(*) FROM orders', db => 'owned_restored');
like($err, qr/ERROR:  54001: statement rejected on primary server: full scan of "orders" is too large/,
	'the restored policy is in force');

$node->stop;

done_testing();
