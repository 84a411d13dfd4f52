# t/022_on_promote_watcher.pl - the life of the promotion watcher.
#
# The background worker behind primary_guard.on_promote must be there
# whenever a standby may be promoted, and quiet otherwise:
#   - a crash restart of the standby (a backend killed with SIGKILL) starts
#     it again, and on_promote still works afterwards;
#   - a standby's fast shutdown stops it without a FATAL line and with exit
#     code 0, whatever on_promote is;
#   - with on_promote = none it idles, and a reload to cancel (also after
#     going back and forth) makes it act at the next promotion;
#   - on a primary, and once it has acted, it is gone.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $sleep = 8;    # seconds each long statement would run

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

# The pid of $node's promotion watcher, or undef: a child of its postmaster
# with the worker's process title (it has no pg_stat_activity row).
sub watcher_pid
{
	my ($node) = @_;
	my $postmaster = $node->{_pid} or return undef;
	foreach my $stat (glob('/proc/[0-9]*/stat'))
	{
		my ($pid) = $stat =~ m{/proc/(\d+)/stat};
		open(my $fh, '<', $stat) or next;
		my $line = <$fh>;
		close($fh);
		next unless defined $line && $line =~ /^\d+ \(.*\) \S (\d+)/;
		next unless $1 == $postmaster;
		open($fh, '<', "/proc/$pid/cmdline") or next;
		my $cmdline = <$fh> // '';
		close($fh);
		return $pid if $cmdline =~ /primary_guard promotion watcher/;
	}
	return undef;
}

# Wait until $node has a watcher (other than $old_pid); returns its pid.
sub wait_watcher
{
	my ($node, $old_pid) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		my $pid = watcher_pid($node);
		return $pid if defined $pid && (!defined $old_pid || $pid != $old_pid);
		usleep(100_000);
	}
	return undef;
}

sub new_standby
{
	my ($name, $on_promote) = @_;
	my $standby = PostgreSQL::Test::Cluster->new($name);
	$standby->init_from_backup($primary, 'base', has_streaming => 1);
	$standby->append_conf('postgresql.conf',
		"primary_guard.on_promote = $on_promote\nrestart_after_crash = on");
	$standby->start;
	$primary->wait_for_catchup($standby);
	return $standby;
}

sub set_on_promote
{
	my ($node, $value) = @_;
	$node->append_conf('postgresql.conf', "primary_guard.on_promote = $value");
	$node->reload;
	$node->poll_query_until('postgres', 'SHOW primary_guard.on_promote', $value)
	  or die "on_promote did not become $value";
}

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

# Promote $node while a guarded and an unguarded long statement run; returns
# both, with the seconds each took after the promotion.
sub promote_during_statements
{
	my ($node) = @_;
	my $guarded = start_long($node, 'data_team');
	my $unguarded = start_long($node, 'etl');
	$node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE query LIKE 'SELECT ''finished''%' AND state = 'active'"
	) or die 'long statements did not start';
	my $promoted_at = time;
	$node->promote;
	foreach my $s ($guarded, $unguarded)
	{
		$s->{handle}->finish;
		$s->{seconds} = time - $promoted_at;
	}
	return ($guarded, $unguarded);
}

# Lines a FATAL or a non-zero exit of the watcher would leave.  (The
# walreceiver's own FATAL at shutdown and promotion is PostgreSQL's.)
my $noisy = qr/FATAL:.*primary_guard promotion watcher|promotion watcher.*exited with exit code/;

# --- on a primary it exits at once, for good --------------------------------

usleep(500_000);
is(watcher_pid($primary), undef, 'primary: no watcher runs');
unlike(slurp_file($primary->logfile), $noisy, 'primary: ... and it left no FATAL or exit code');

# --- a crash restart of the standby starts the watcher again ----------------

my $standby = new_standby('standby_crash', 'cancel');
my $watcher = wait_watcher($standby);
ok(defined $watcher, 'standby: the watcher runs');

my $log_offset = -s $standby->logfile;
my $victim = $standby->background_psql('postgres', on_error_stop => 0);
$victim->query_until(qr/started/, "\\echo started\nSELECT pg_sleep(300);\n");
$standby->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(300)%'")
  or die 'the victim statement did not start';
my $victim_pid = $standby->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(300)%'");
ok(kill('KILL', $victim_pid), "SIGKILL sent to backend $victim_pid");
$standby->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
$victim->{run}->kill_kill;    # its server process is gone
$standby->poll_query_until('postgres', 'SELECT pg_is_in_recovery()')
  or die 'the standby did not come back';
my $restarted = wait_watcher($standby, $watcher);
ok(defined $restarted, 'after the crash restart the watcher runs again');

my ($guarded, $unguarded) = promote_during_statements($standby);
like(${ $guarded->{err} }, qr/canceling statement due to user request/,
	'after a crash restart: the guarded statement is cancelled at promotion');
cmp_ok($guarded->{seconds}, '<', 2.5, '... within about a second');
like(${ $unguarded->{out} }, qr/finished/, '... the unguarded one completes');
like(slurp_file($standby->logfile, $log_offset),
	qr/primary_guard: server promoted, canceling the statement of backend \d+ \(role "data_team"\)/,
	'... and the cancel is logged');
$standby->stop;

# --- fast shutdown of a standby: no FATAL, exit code 0 -----------------------

$standby = new_standby('standby_quiet', 'none');
foreach my $on_promote ('none', 'cancel')
{
	set_on_promote($standby, $on_promote) if $on_promote ne 'none';
	ok(defined wait_watcher($standby), "on_promote = $on_promote: the watcher runs");
	$log_offset = -s $standby->logfile;
	$standby->stop('fast');
	my $log = slurp_file($standby->logfile, $log_offset);
	like($log, qr/database system is shut down/, "on_promote = $on_promote: the standby stopped");
	unlike($log, $noisy, '... and the watcher left no FATAL line nor exit code');
	$standby->start;
}

# --- reloads: none -> cancel -> none -> cancel, then promote -----------------

set_on_promote($standby, 'none');
$standby->restart;
$watcher = wait_watcher($standby);
ok(defined $watcher, 'on_promote = none at start: the watcher idles');
foreach my $value ('cancel', 'none', 'cancel')
{
	set_on_promote($standby, $value);
	# Give the watcher time to go back to an idle sleep after each change.
	usleep(300_000);
}
is(watcher_pid($standby), $watcher, 'the same watcher went through the reloads');
$log_offset = -s $standby->logfile;
($guarded, $unguarded) = promote_during_statements($standby);
like(${ $guarded->{err} }, qr/canceling statement due to user request/,
	'reloaded to cancel: the guarded statement is cancelled at promotion');
cmp_ok($guarded->{seconds}, '<', 2.5, '... within about a second (the reload woke the watcher)');
like(${ $unguarded->{out} }, qr/finished/, '... the unguarded one completes');

# Once it has acted the watcher exits with code 0 and is not started again.
usleep(1_500_000);
is(watcher_pid($standby), undef, 'after promotion the watcher is gone');
unlike(slurp_file($standby->logfile, $log_offset), $noisy, '... without a FATAL line or exit code');
$standby->stop;

# --- promoted with on_promote = none: nothing is signalled -------------------

$standby = new_standby('standby_none', 'none');
$log_offset = -s $standby->logfile;
($guarded, $unguarded) = promote_during_statements($standby);
like(${ $guarded->{out} }, qr/finished/, 'none: the guarded statement completes');
unlike(slurp_file($standby->logfile, $log_offset), qr/server promoted, |$noisy/,
	'none: nothing is signalled, nothing noisy logged');
$standby->stop;

$primary->stop;
done_testing();
