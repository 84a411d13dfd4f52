# t/023_on_promote_statements.pl - which statements on_promote stops.
#
# With on_promote = cancel, at promotion:
#   - a flagged statement that caught an error inside (a plpgsql EXCEPTION
#     block, a subtransaction abort) is still cancelled: only the abort of
#     the subtransaction that flagged it unflags it;
#   - an open cursor flags nothing while it is not being fetched from: an
#     unrelated statement of its session, running at promotion, completes;
#     the next FETCH from the cursor, on the new primary, gets the primary's
#     rejection, as the DECLARE would have;
#   - a WITH HOLD cursor declared in an earlier transaction was materialized
#     at its commit: fetching from it after promotion reads no table and
#     works; one whose transaction commits after the promotion would be
#     materialized by scanning on the new primary: that COMMIT gets the
#     rejection (the transaction began in recovery, so it wrote nothing);
#   - a query opened on the standby whose executor first runs after the
#     promotion (here a plpgsql cursor OPENed before and FETCHed after, in
#     one statement; the same check closes the window between a statement's
#     admission and the watcher's single scan) gets the primary's rejection.
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
CREATE EXTENSION primary_guard;
CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 50000) g;
ANALYZE big;
CREATE ROLE analysts NOLOGIN;
CREATE ROLE data_team LOGIN IN ROLE analysts;
GRANT SELECT ON big TO analysts;
SELECT primary_guard.set_policy('analysts', 'limit', max_scan_rows => 1000);

-- Catches an error in a subtransaction of the calling statement.
CREATE FUNCTION swallow() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM 1 / 0;
	EXCEPTION WHEN division_by_zero THEN
		NULL;
	END;
	RETURN 1;
END $$;

-- Opens a scan of big, waits, then fetches from it.
CREATE FUNCTION open_wait_fetch(secs float8) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	c refcursor;
	r record;
BEGIN
	OPEN c FOR SELECT id FROM big;
	PERFORM pg_sleep(secs);
	FETCH c INTO r;
	RETURN r.id;
END $$;
});

$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', 'primary_guard.on_promote = cancel');
$standby->start;
$primary->wait_for_catchup($standby);

sub open_session
{
	return $standby->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => [ '-U', 'data_team', '-v', 'VERBOSITY=verbose' ]);
}

# Start $sql (no trailing semicolon) in $s and wait until it runs.
sub start_in
{
	my ($s, $sql, $pattern) = @_;
	$s->{stderr} = '';
	$s->query_until(qr/started/, "\\echo started\n$sql;\n");
	$standby->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '$pattern' AND state = 'active'"
	) or die "statement '$sql' did not start";
}

# Wait for the statement started in $s; returns its (stdout, stderr).
sub finish_in
{
	my ($s) = @_;
	my $out = $s->query("SELECT 'next'");
	return ($out, $s->{stderr});
}

my %pid;
my %session = map { $_ => open_session() } qw(cursor swallow late held);
foreach my $name (keys %session)
{
	($pid{$name}) = session_query($session{$name}, 'SELECT pg_backend_pid()');
}

# A WITH HOLD cursor, materialized when its transaction (this statement) commits.
my ($out, $err) = session_query($session{cursor},
	'DECLARE held CURSOR WITH HOLD FOR SELECT id FROM big ORDER BY id');
is($err, '', 'standby: a held cursor over big is declared');
($out, $err) = session_query($session{cursor},
	'BEGIN; DECLARE c CURSOR FOR SELECT id FROM big ORDER BY id; FETCH 2 FROM c');
is($out, "1\n2", 'standby: an open cursor over big fetches (standby rules)');

($out, $err) = session_query($session{held},
	'BEGIN; DECLARE held_late CURSOR WITH HOLD FOR SELECT id FROM big ORDER BY id; FETCH 1 FROM held_late');
is($out, '1', 'standby: a held cursor in an open transaction fetches');

start_in($session{cursor}, "SELECT 'slept' FROM pg_sleep(4)", q{SELECT ''slept''%});
start_in($session{swallow},
	"SELECT 'finished' FROM (SELECT swallow(), pg_sleep(30) FROM big LIMIT 1) s",
	q{SELECT ''finished''%});
start_in($session{late}, 'SELECT open_wait_fetch(4)', 'SELECT open_wait_fetch%');

my $log_offset = -s $standby->logfile;
$standby->promote;

($out, $err) = finish_in($session{swallow});
like($err, qr/canceling statement due to user request/,
	'a flagged statement that caught an error inside is still cancelled at promotion');

($out, $err) = finish_in($session{cursor});
like($out, qr/^slept/, 'an unrelated statement of a session with an open cursor completes');
is($err, '', '... without an error');

($out, $err) = finish_in($session{late});
like($err,
	qr/ERROR:  54001: statement rejected on primary server: full scan of "big" is too large/,
	'a scan opened on the standby and first run after promotion gets the primary\'s rejection');
unlike($err, qr/canceling statement/, '... not a cancel');

($out, $err) = session_query($session{cursor}, 'FETCH 2 FROM c');
like($err,
	qr/ERROR:  54001: statement rejected on primary server: full scan of "big" is too large/,
	'FETCH from the open cursor on the new primary gets the primary\'s rejection');
($out, $err) = session_query($session{cursor}, 'ROLLBACK');
($out, $err) = session_query($session{cursor}, 'FETCH 2 FROM held');
is($out, "1\n2", 'the held cursor, materialized on the standby, still fetches');
is($err, '', '... without an error');
($out, $err) = session_query($session{cursor}, 'SELECT count(*) FROM big');
like($err, qr/54001/, 'a new heavy statement of that session is rejected as usual');

($out, $err) = session_query($session{held}, 'COMMIT');
like($err, qr/ERROR:  54001: statement rejected on primary server: full scan of "big"/,
	'COMMIT of a transaction whose held cursor would be materialized on the new primary is rejected');
($out, $err) = session_query($session{held}, 'FETCH 1 FROM held_late');
like($err, qr/cursor "held_late" does not exist/, '... and the transaction rolled back');

my $log = slurp_file($standby->logfile, $log_offset);
like($log,
	qr/canceling the statement of backend $pid{swallow} \(role "data_team"\)/,
	'the log names the cancelled statement\'s backend');
unlike($log, qr/canceling the statement of backend ($pid{cursor}|$pid{late}|$pid{held})\b/,
	'no other backend was signalled');

$_->quit foreach values %session;
$standby->stop;
$primary->stop;
done_testing();
