# t/020_on_promote.pl - primary_guard.on_promote.
#
# A heavy statement admitted under standby rules keeps running after a
# promotion and hits the new primary.  With on_promote = cancel (or
# terminate), the promotion watcher stops exactly the statements the
# primary's policy would reject, within about a second; unguarded
# statements finish.  With none (the default), both finish.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;
use Time::HiRes qw(time);

my $sleep = 6;    # seconds each long statement would run

my $primary = guarded_node('primary', allows_streaming => 1);
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard;
CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 50000) g;
ANALYZE big;
CREATE ROLE analysts NOLOGIN;
CREATE ROLE data_team LOGIN IN ROLE analysts;
CREATE ROLE etl LOGIN;
GRANT SELECT ON big TO analysts, etl;
SELECT primary_guard.set_policy('analysts', 'limit', max_scan_rows => 1000);
});
$primary->backup('base');

# Start a long statement on $node as $user; returns a handle and its output refs.
sub start_long
{
	my ($node, $user) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres') . " user=$user",
			'-c', "SELECT 'finished' FROM (SELECT pg_sleep($sleep) FROM big LIMIT 1) s"
		],
		'>', \$out, '2>', \$err);
	return { handle => $h, out => \$out, err => \$err };
}

sub wait_running
{
	my ($node, $count) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) = $count FROM pg_stat_activity WHERE query LIKE 'SELECT ''finished''%' AND state = 'active'"
	) or die "long statements did not start";
}

# Promote a fresh standby with the given on_promote while a guarded and an
# unguarded long statement run; returns what happened to each.
sub promote_during_statements
{
	my ($name, $on_promote) = @_;
	my $standby = PostgreSQL::Test::Cluster->new($name);
	$standby->init_from_backup($primary, 'base', has_streaming => 1);
	$standby->append_conf('postgresql.conf', "primary_guard.on_promote = $on_promote");
	$standby->start;
	$primary->wait_for_catchup($standby);

	my $guarded = start_long($standby, 'data_team');
	my $unguarded = start_long($standby, 'etl');
	wait_running($standby, 2);

	my $promoted_at = time;
	$standby->promote;
	$guarded->{handle}->finish;
	$guarded->{seconds} = time - $promoted_at;
	$unguarded->{handle}->finish;
	$unguarded->{seconds} = time - $promoted_at;
	my $log = slurp_file($standby->logfile);
	$standby->stop;
	return ($guarded, $unguarded, $log);
}

my ($guarded, $unguarded, $log) = promote_during_statements('standby_cancel', 'cancel');
like(${ $guarded->{err} }, qr/canceling statement due to user request/,
	'cancel: the guarded statement is cancelled at promotion');
cmp_ok($guarded->{seconds}, '<', 2.5,
	'cancel: ... within about a second of the promotion');
like(${ $unguarded->{out} }, qr/finished/, 'cancel: the unguarded statement completes');
is(${ $unguarded->{err} }, '', 'cancel: ... without an error');
cmp_ok($unguarded->{seconds}, '>', 1, 'cancel: ... and was not cut short');
like($log, qr/primary_guard: server promoted, canceling the statement of backend \d+ \(role "data_team"\)/,
	'cancel: the action is logged with pid and role');
like($log, qr/full scan of "big" is too large/, 'cancel: ... and the reason');

($guarded, $unguarded, $log) = promote_during_statements('standby_terminate', 'terminate');
like(${ $guarded->{err} }, qr/terminating connection due to administrator command/,
	'terminate: the guarded session is terminated at promotion');
cmp_ok($guarded->{seconds}, '<', 2.5, 'terminate: ... within about a second');
like(${ $unguarded->{out} }, qr/finished/, 'terminate: the unguarded statement completes');
like($log, qr/terminating the session of backend \d+ \(role "data_team"\)/,
	'terminate: the action is logged');

($guarded, $unguarded, $log) = promote_during_statements('standby_none', 'none');
like(${ $guarded->{out} }, qr/finished/, 'none: the guarded statement completes');
is(${ $guarded->{err} }, '', 'none: ... without an error');
cmp_ok($guarded->{seconds}, '>', 1, 'none: ... after running its course');
is(${ $unguarded->{err} }, '', 'none: the unguarded statement completes');
unlike($log, qr/server promoted, /, 'none: nothing is signalled');

$primary->stop;
done_testing();
