# Races made deterministic with injection points (servers 17+ built with
# --enable-injection-points; skipped elsewhere): a kill booked while the
# rules are reloaded goes to the right rule.
use strict;
use warnings;
use lib 'test/t';
use GovTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = gov_node('races', "max_connections = 30\n");
my $have = $node->safe_psql('postgres', q{
	SELECT current_setting('server_version_num')::int >= 170000
	   AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'injection_points')});
if ($have ne 't')
{
	$node->stop;
	plan skip_all => 'injection points need PostgreSQL 17+ built with --enable-injection-points';
}
$node->safe_psql('postgres', q{
	CREATE EXTENSION injection_points;
	CREATE ROLE app LOGIN;
});

# Wait until a backend sleeps at an injection point.
sub at_point
{
	my ($point) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = '$point'");
}

# ------------------------------------------------------------------
# governor.kill() collects its targets, then the rules are reloaded with
# new numbers, then it books the kills: by name, to the rule the session
# was governed by.
# ------------------------------------------------------------------
$node->safe_psql('postgres', q{
	INSERT INTO governor.rules (name, application_name) VALUES ('m_first', 'victim'), ('m_second', 'victim');
	SELECT governor.reload();
});
my $victim = gov_hold($node, user => 'app', app => 'victim');
$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM governor.clients WHERE application_name = 'victim'");
$node->safe_psql('postgres', "SELECT injection_points_attach('pg-governor-kill-targets', 'wait')");
my $killer = gov_login_bg($node, 'SELECT governor.kill()');
ok(at_point('pg-governor-kill-targets'), 'kill() collected its target and waits');
# m_first goes, a rule sorting first arrives: every index moves.
$node->safe_psql('postgres', q{
	DELETE FROM governor.rules WHERE name = 'm_first';
	INSERT INTO governor.rules (name, application_name) VALUES ('a_new', 'nobody');
	SELECT governor.reload();
	SELECT injection_points_detach('pg-governor-kill-targets');
	SELECT injection_points_wakeup('pg-governor-kill-targets');
});
my ($rc, $out, $err) = gov_login_finish($killer);
is($out, '1', 'kill() ended the session');
is($node->safe_psql('postgres', q{SELECT string_agg(rule || ':' || total_killed, ' ' ORDER BY rule) FROM governor.rule_usage}),
	'a_new:0 m_second:1', 'booked to the rule that governed it, not to the rule now at its old index');
gov_release($victim);

$node->stop;
done_testing();
