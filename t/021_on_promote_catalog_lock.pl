# t/021_on_promote_catalog_lock.pl - on_promote while pg_authid is locked.
#
# On a standby with on_promote = cancel, a statement the primary's policy
# would reject is flagged with the name of the role whose policy applies.
# Looking that name up reads pg_authid, and can wait for a lock there: an
# AccessExclusiveLock taken on the primary is replayed and held by the
# startup process.  A lock timeout (or a cancel) during that wait must be
# an ordinary error.  It once happened while the backend held its slot's
# spinlock: the next statement spun on it and the server PANICked with
# "stuck spinlock" and crash-restarted.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $primary = guarded_node('primary', allows_streaming => 1);
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard;
CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 50000) g;
ANALYZE big;
CREATE ROLE r2 NOLOGIN;
GRANT SELECT ON big TO r2;
SELECT primary_guard.set_policy('public', 'limit', max_scan_rows => 1000);
});
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', 'primary_guard.on_promote = cancel');
$standby->start;
$primary->wait_for_catchup($standby);

# The primary's "public" policy rejects a full scan of big, so after SET
# ROLE r2 the heavy statement is flagged, with r2's name (the role the
# policy was resolved for; the rejection message itself names "public" and
# needs no lookup).  Once r2's catalog entry is invalidated, almost anything
# a new statement does first reads it again: the search path's privilege
# check, parse analysis.  A statement prepared earlier, with an empty search
# path, reaches the executor, and the guard's lookup of the name, without
# that.
my $heavy = 'EXECUTE heavy';
my $session = $standby->background_psql(
	'postgres',
	on_error_stop => 0,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
my ($pid) = session_query($session, 'SELECT pg_backend_pid()');
session_query($session,
	"SET ROLE r2; SET search_path = ''; SET lock_timeout = '500ms'; "
	  . 'PREPARE heavy AS SELECT count(*) FROM public.big');
my ($out, $err) = session_query($session, $heavy);
is($out, '50000', 'the heavy statement runs on the standby (standby rules)');

# Invalidate r2's catalog cache entry, then hold pg_authid on the primary;
# the startup process replays the lock and holds it on the standby.  While
# it is held no new session can log in on either server (authentication
# reads pg_authid), so every session used meanwhile is opened first.
$primary->safe_psql('postgres', 'ALTER ROLE r2 CONNECTION LIMIT 7');
my $locker = $primary->background_psql('postgres');
my $flusher = $primary->background_psql('postgres');
my $watcher = $standby->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK pg_authid IN ACCESS EXCLUSIVE MODE');
# A commit flushes the WAL up to it, the lock record included.
$flusher->query_safe('SELECT pg_current_xact_id()');
my $replayed = 0;
foreach (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
{
	$replayed = $watcher->query_safe(
		"SELECT count(*) FROM pg_locks WHERE relation = 1260 AND mode = 'AccessExclusiveLock' AND granted"
	);
	last if $replayed eq '1';
	usleep(100_000);
}
is($replayed, '1', 'the startup process of the standby holds the lock on pg_authid');

my $log_offset = -s $standby->logfile;
($out, $err) = session_query($session, $heavy);
ok($out eq '50000' || $err =~ /canceling statement due to lock timeout/,
	'while pg_authid is locked, the heavy statement fails with a lock timeout (or runs)')
  or diag("stdout: $out\nstderr: $err");
note("while locked: stdout '$out', stderr '$err'");

$locker->query_safe('ROLLBACK');
$locker->quit;
$flusher->quit;
$watcher->quit;
$primary->wait_for_catchup($standby);

($out, $err) = session_query($session, $heavy);
is($out, '50000', 'after the lock is released, the session runs the heavy statement');
is($err, '', '... without an error');
($out, $err) = session_query($session, 'SELECT pg_backend_pid()');
is($out, $pid, '... in the same backend: it survived');

my $log = slurp_file($standby->logfile, $log_offset);
unlike($log, qr/PANIC|stuck spinlock/, 'no PANIC, no stuck spinlock');
unlike($log, qr/terminated by signal|server process .* exited|reinitializing/,
	'the standby did not crash-restart');

# The slot still works: a heavy statement of this session running at
# promotion is cancelled.
$session->query_until(qr/started/,
	"\\echo started\nSELECT pg_sleep(60) FROM public.big LIMIT 1;\n");
$standby->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'"
) or die 'the long statement did not start';
$standby->promote;
ok($standby->wait_for_log(qr/canceling the statement of backend $pid \(role "r2"\)/, $log_offset),
	'at promotion the long heavy statement of the session is cancelled');
($out, $err) = session_query($session, 'SELECT pg_backend_pid()');
is($out, $pid, 'the session survives the cancel (same backend)');
$session->quit;

$log = slurp_file($standby->logfile, $log_offset);
unlike($log, qr/PANIC|stuck spinlock/, 'no PANIC after the promotion either');

$standby->stop;
$primary->stop;
done_testing();
