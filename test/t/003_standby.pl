# On a hot standby the worker runs, picks up rule changes replicated from
# the primary (no trigger fires there) and the caps apply to standby logins.
use strict;
use warnings;
use lib 'test/t';
use GovTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pg_governor'\ngovernor.naptime = 100ms\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pg_governor; CREATE ROLE app LOGIN;');
$primary->backup('bk');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

gov_wait_for($standby,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_governor'",
	'worker runs on the standby');

$primary->safe_psql('postgres', q{
	INSERT INTO governor.rules (name, role, max_connections, queue_timeout)
	VALUES ('ro_cap', 'app', 1, '0')});
$primary->wait_for_catchup($standby);
gov_wait_for($standby, "SELECT count(*) = 1 FROM governor.rule_usage WHERE rule = 'ro_cap'",
	'standby worker loaded the replicated rule by itself');

my $held = gov_hold($standby, user => 'app', app => 'ro-1');
gov_wait_for($standby, "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'ro_cap'",
	'standby session counted');
my ($rc, $out, $err) = gov_try_login($standby, 'SELECT 1', user => 'app', app => 'ro-2');
like($err, qr/too many connections for pg_governor rule "ro_cap"/, 'cap enforced on the standby');
is($standby->safe_psql('postgres', "SELECT cl_active FROM governor.pools WHERE application_name = 'ro-1'"),
	'1', 'pools view works on the standby');
gov_release($held);

$standby->stop;
$primary->stop;
done_testing();
