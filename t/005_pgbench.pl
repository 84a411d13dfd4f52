# Copyright (c) primary_guard contributors
#
# t/005_pgbench.pl - what must stay allowed under max_scan_rows => 10000:
# pgbench's built-in select-only and TPC-B-like scripts, run as a role of
# the limited group (every statement is checked and counted while it runs),
# and psql's \d commands on an ordinary schema.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $node = guarded_node('pgbench');
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '2', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench -i');
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard;
CREATE ROLE analysts;
CREATE ROLE analyst LOGIN IN ROLE analysts;
GRANT SELECT, INSERT, UPDATE ON pgbench_accounts, pgbench_branches, pgbench_tellers,
      pgbench_history TO analysts;
SELECT primary_guard.set_policy('analysts', 'limit', max_scan_rows => 10000);
});

foreach my $script ('select-only', 'tpcb-like')
{
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[ 'pgbench', '-n', '-b', $script, '-t', '300', '-c', '2', '-U', 'analyst',
		  '-p', $node->port, '-h', $node->host, 'postgres' ],
		'>', \$out, '2>', \$err);
	ok($ok, "pgbench -b $script as the limited role runs");
	like($out, qr/number of failed transactions: 0/, "$script: no failed transaction");
	unlike($err, qr/rejected|stopped/, "$script: nothing rejected");
}

# psql's \d commands on an ordinary schema, under the same limit.
my ($rc, $out, $err) = run_as($node, 'analyst', '\dt');
is($rc, 0, '\dt runs');
like($out, qr/pgbench_accounts/, '\dt lists the tables');
($rc, $out, $err) = run_as($node, 'analyst', '\d pgbench_accounts');
like($out, qr/^abalance\|integer/m, '\d of a table shows its columns');
($rc, $out, $err) = run_as($node, 'analyst', 'SELECT count(*) FROM pgbench_accounts');
like($err, qr/54001: statement rejected on primary server: full scan of "pgbench_accounts" is too large/,
	'while a full count is rejected');

$node->stop;
done_testing();
