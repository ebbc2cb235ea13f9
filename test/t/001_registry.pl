# Foundation: the worker, the not-preloaded error, and the session registry
# staying exact through terminations and many connect/disconnect cycles.
use strict;
use warnings;
use lib 'test/t';
use GovTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = gov_node('registry');

# The worker runs, is visible as pg_governor, and comes back after kill -9.
gov_wait_for($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_governor' AND application_name = 'pg_governor'",
	'worker visible in pg_stat_activity');
my $worker = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_governor'");
$node->safe_psql('postgres',
	"INSERT INTO governor.rules (name, application_name, max_connections) VALUES ('cyc', 'cycle', 10)");
kill 'KILL', $worker;
gov_wait_for($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_governor' AND pid <> $worker",
	'worker restarted after kill -9');
gov_wait_for($node, "SELECT count(*) = 1 FROM governor.rule_usage WHERE rule = 'cyc'",
	'rules reloaded from the table after the crash-restart');

# A terminated session frees its slot.
my $s = gov_hold($node, app => 'doomed');
gov_wait_for($node, "SELECT count(*) = 1 FROM governor.clients WHERE application_name = 'doomed'",
	'held session registered');
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM governor.clients WHERE application_name = 'doomed'");
gov_wait_for($node,
	"SELECT count(*) = 0 FROM governor.clients WHERE application_name = 'doomed'",
	'terminated session left the registry');
is($node->safe_psql('postgres', "SELECT count(*) FROM governor.pools WHERE application_name = 'doomed'"),
	'0', 'and its pool row');
gov_release($s);

# 200 connect/disconnect cycles leave no slot behind and count each login.
$node->safe_psql('postgres', 'CREATE ROLE cycler LOGIN');
my $script = $node->basedir . '/select.sql';
PostgreSQL::Test::Utils::append_to_file($script, "SELECT 1;\n");
{
	local $ENV{PGAPPNAME} = 'cycle';
	$node->command_ok(
		[ $node->installed_command('pgbench'), '-n', '-C', '-c', '4', '-j', '2', '-t', '50',
		  '-U', 'cycler', '-f', $script, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'pgbench -C ran 200 connections');
}
gov_wait_for($node,
	"SELECT count(*) = 0 FROM governor.clients WHERE application_name = 'cycle'",
	'no cycle session left in the registry');
is($node->safe_psql('postgres',
	"SELECT connections || '/' || waiting || '/' || total_admitted FROM governor.rule_usage WHERE rule = 'cyc'"),
	'0/0/201', 'bucket back to zero after 200 logins (+ pgbench\'s own first connection), each counted once');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM governor.clients c WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.pid)"),
	'0', 'every registry entry is a live backend');

# pg_dump keeps the rules (governor.rules is an extension configuration table).
my ($dump, $dump_err) = ('', '');
IPC::Run::run([ $node->installed_command('pg_dump'), '-d', $node->connstr('postgres') ],
	'>', \$dump, '2>', \$dump_err);
like($dump, qr/^COPY governor\.rules .*\n(?:.*\n)*?cyc\t/m, 'pg_dump output holds the rows of governor.rules');

$node->stop;

# Without preloading, CREATE EXTENSION works but every function says so.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION pg_governor');
my ($rc, $out, $err) = $plain->psql('postgres', 'SELECT * FROM governor.pools');
isnt($rc, 0, 'pools fails without preloading');
like($err, qr/must be loaded via shared_preload_libraries/, 'error names shared_preload_libraries');
like($err, qr/HINT:.*shared_preload_libraries/, 'with a hint');
($rc, $out, $err) = $plain->psql('postgres', 'SELECT governor.pause(NULL)');
like($err, qr/must be loaded via shared_preload_libraries/, 'admin functions too');
$plain->stop;

done_testing();
