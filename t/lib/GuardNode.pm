# t/lib/GuardNode.pm - a started PostgreSQL::Test::Cluster node with
# primary_guard preloaded, shared by the TAP tests.
#
# The library is preloaded before anything else happens, so that a backup
# taken from the node (for a standby) has it too.
package GuardNode;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(guarded_node run_as session_query);

# guarded_node($name, %init_params, conf => "extra postgresql.conf lines")
sub guarded_node
{
	my ($name, %params) = @_;
	my $conf = delete $params{conf} // '';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%params);
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'primary_guard'\n$conf");
	$node->start;
	return $node;
}

# run_as($node, $user, $sql, db => 'postgres'): psql as $user with verbose
# errors (SQLSTATEs shown); returns (exit code, stdout, stderr).
sub run_as
{
	my ($node, $user, $sql, %opts) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql(
		$opts{db} // 'postgres', $sql,
		stdout => \$stdout,
		stderr => \$stderr,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ]);
	return ($rc, $stdout, $stderr);
}

# session_query($background_psql, $sql): (stdout, stderr) of one query.
# BackgroundPsql::query keeps stderr across queries; start each one clean.
sub session_query
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	my ($output) = $s->query($sql);
	return ($output, $s->{stderr});
}

1;
