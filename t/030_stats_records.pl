# Copyright (c) primary_guard contributors
#
# t/030_stats_records.pl - what the guard records and logs about a
# rejection, and that recording it never hangs.
#
#  - No undetectable deadlock: a monitoring session reading
#    recent_rejections() while a guarded superuser holds LOCK pg_authid
#    waits for that lock without holding the guard's LWLock, so the
#    superuser's next rejection is recorded and both sessions finish.  (With
#    the LWLock held across the role name lookup, both hung for good and no
#    cancel or terminate could end them: here the rejection is bounded by a
#    timer and the node is stopped immediately if it hangs.)
#  - The key=value log line escapes control characters: a table name with a
#    newline cannot forge a second "primary_guard:" line.
#  - Passwords: a rejected ALTER ROLE ... PASSWORD (directly or through
#    EXECUTE in a DO block) leaves the password in no log line (LOG line,
#    ERROR, STATEMENT, CONTEXT), while an ordinary rejection's statement is
#    logged with primary_guard.query_text = full.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use FindBin;
use lib "$FindBin::Bin/lib";
use GuardNode;

my $node = guarded_node('records',
	conf => "primary_guard.query_text = full\nlog_min_error_statement = error\n"
	  # Statements are logged only with errors (the test default is all).
	  . "log_statement = none\n");

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION primary_guard;
CREATE TABLE big (id int PRIMARY KEY, payload text);
INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
ANALYZE big;
CREATE ROLE locker SUPERUSER;
CREATE ROLE guarded LOGIN;
CREATE ROLE denied LOGIN;
GRANT SELECT ON big TO guarded;
SELECT primary_guard.set_policy('locker', 'limit', max_scan_rows => 1000);
SELECT primary_guard.set_policy('guarded', 'limit', max_scan_rows => 1000);
SELECT primary_guard.set_policy('denied', 'deny');
SELECT primary_guard.reset_stats();
});

# --- No deadlock between a reader and a rejected lock holder ---------------

my $s1 = $node->background_psql('postgres', on_error_stop => 0, timeout => 30);
$s1->set_query_timer_restart();
my $s2 = $node->background_psql('postgres', timeout => 60);
$s2->set_query_timer_restart();
my $mon = $node->background_psql('postgres', timeout => 60);
$mon->set_query_timer_restart();

my $read = q{SELECT '%s:' || role || ':' || repeats FROM primary_guard.recent_rejections()};

# The reader's first call (empty ring) caches everything but the role name
# of the entry it will read next.
is($s2->query_safe(sprintf($read, 'warm')), '', 'reader: the ring is empty');
$s1->query_safe('SET ROLE locker');
my ($out, $err) = session_query($s1, 'SELECT count(*) FROM big');
like($err, qr/statement rejected/, 'the guarded superuser is rejected');
($out, $err) = session_query($s1, 'BEGIN; LOCK pg_authid IN ACCESS EXCLUSIVE MODE');
is($err, '', 'the guarded superuser locks pg_authid');

# The reader needs "locker"'s name from pg_authid: it waits for s1's lock.
$s2->query_until(qr/reader started/,
	"\\echo reader started\n" . sprintf($read, 'blocked') . ";\n");
my $waiting = 0;
for (1 .. 100)
{
	$waiting = $mon->query_safe(
		'SELECT count(*) FROM pg_locks WHERE relation = 1260 AND NOT granted');
	last if $waiting eq '1';
	sleep 0.1;
}
is($waiting, '1', 'the reader waits for pg_authid, held by the guarded session');

# The lock holder's next rejection must be recorded without waiting.
my $t0 = time;
my $finished = eval {
	($out, $err) = session_query($s1, 'SELECT count(*) FROM big');
	1;
};
ok($finished, 'the lock holder\'s rejection finishes while the reader waits');
if (!$finished)
{
	# Both sessions are stuck for good; only an immediate stop ends them.
	diag('rejection hung: ' . ($@ // ''));
	$node->stop('immediate');
	done_testing();
	exit;
}
note sprintf('rejection recorded in %.3f s', time - $t0);
like($err, qr/statement rejected/, 'the second rejection is reported');
session_query($s1, 'COMMIT');

# The reader gets its rows once the lock is gone; the copy it took shows
# the entry as it was, a new read the recorded repeat.
my $rows = $s2->query_safe(sprintf($read, 'again'));
like($rows, qr/^blocked:locker:1$/m, 'the blocked reader finishes');
like($rows, qr/^again:locker:2$/m, 'the rejection made while it waited was recorded');
$s1->quit;
$s2->quit;
$mon->quit;

# --- The key=value line escapes control characters -------------------------

$node->safe_psql(
	'postgres', q{
DO $$
BEGIN
    EXECUTE format('CREATE TABLE %I AS SELECT generate_series(1, 20000) AS id',
                   E'forged\nLOG:  primary_guard: verdict=reject rule=forged');
    EXECUTE format('CREATE TABLE %I AS SELECT generate_series(1, 20000) AS id',
                   E'tab\there\x01\r\\\\"');
    EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO guarded';
    EXECUTE 'ANALYZE';
END
$$});
my $offset = -s $node->logfile;
my $rc;
($rc, $out, $err) = run_as($node, 'guarded',
	qq{SELECT count(*) FROM "forged\nLOG:  primary_guard: verdict=reject rule=forged"});
like($err, qr/statement rejected/, 'a scan of the oddly named table is rejected');
($rc, $out, $err) = run_as($node, 'guarded',
	q{DO $$BEGIN EXECUTE format('SELECT count(*) FROM %I', E'tab\there\x01\r\\\\"'); END$$});
like($err, qr/statement rejected/, 'and so is one of the table with a tab in its name');
my $log = slurp_file($node->logfile, $offset);
my @lines = $log =~ /^.*LOG:  primary_guard: verdict=reject rule=max_scan_rows .* estimate=\d+ limit=1000$/mg;
is(scalar(@lines), 2, 'two rejections, two key=value lines, each on one line');
like($log,
	qr/relation="forged\\nLOG:  primary_guard: verdict=reject rule=forged" estimate=/,
	'a newline in a name is written as \n');
unlike($log, qr/^\s*LOG:  primary_guard: verdict=reject rule=forged" estimate=/m,
	'no line of the log starts with the forged text');
like($log, qr/relation="tab\\there\\x01\\r\\\\\\"" estimate=/,
	'tab, other control characters, backslash and quote are escaped');

# --- Passwords stay out of the log ------------------------------------------

$offset = -s $node->logfile;
($rc, $out, $err) = run_as($node, 'denied', q{ALTER ROLE denied PASSWORD 'tap_secret_1'});
like($err, qr/ALTER ROLE is not allowed/, 'ALTER ROLE ... PASSWORD is rejected under deny');
($rc, $out, $err) = run_as($node, 'denied',
	q{DO $$BEGIN EXECUTE 'ALTER ROLE denied PASSWORD ''tap_secret_2'''; END$$});
like($err, qr/ALTER ROLE is not allowed/, 'so is one run by EXECUTE in a DO block');
($rc, $out, $err) = run_as($node, 'denied', q{ALTER ROLE denied CONNECTION LIMIT 7});
like($err, qr/ALTER ROLE is not allowed/, 'and an ALTER ROLE without a password');
$log = slurp_file($node->logfile, $offset);
@lines = $log =~ /^.*primary_guard: verdict=reject rule=deny role="denied".*$/mg;
is(scalar(@lines), 3, 'each rejection wrote its key=value line');
unlike($log, qr/tap_secret/, 'no password in the server log');
like($log, qr/STATEMENT:  ALTER ROLE denied CONNECTION LIMIT 7/,
	'the statement without a password is logged (query_text = full)');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM primary_guard.recent_rejections()
		   WHERE query LIKE '%tap_secret%'}),
	'0', 'and none in recent_rejections()');

$node->stop;
done_testing();
