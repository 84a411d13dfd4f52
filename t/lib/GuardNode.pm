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

our @EXPORT = qw(guarded_node);

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

1;
