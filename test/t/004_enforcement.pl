# Session limits: each limit ends sessions in its own state and no other,
# the client gets a FATAL with the right SQLSTATE, rule, limit and observed
# value; monitor mode only records; exempt sessions survive; governor.kill
# and governor.reconnect act on what they say; a rule change reaches a
# running session.
use strict;
use warnings;
use lib 'test/t';
use GovTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = gov_node('enforce', "max_connections = 40\n", no_extension => 1);

my $pgversion = $node->safe_psql('postgres', 'SHOW server_version_num');
my $xact_sqlstate = $pgversion >= 170000 ? '25P04' : '57P01';

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_governor;
CREATE ROLE app LOGIN;
CREATE TABLE t (v text);
GRANT ALL ON t TO app;
INSERT INTO governor.rules (name, application_name, idle_in_transaction_timeout)
  VALUES ('r_iit', 'iit%', '1s');
INSERT INTO governor.rules (name, application_name, idle_timeout)
  VALUES ('r_idle', 'idle%', '1s');
INSERT INTO governor.rules (name, application_name, max_transaction_duration)
  VALUES ('r_xact', 'xact%', '1.5s');
INSERT INTO governor.rules (name, application_name, max_lifetime)
  VALUES ('r_life', 'life%', '2s');
INSERT INTO governor.rules (name, application_name, idle_in_transaction_timeout, mode)
  VALUES ('r_mon', 'mon%', '0.5s', 'monitor');
INSERT INTO governor.rules (name, application_name, idle_timeout)
  VALUES ('r_su', 'su%', '0.5s');
INSERT INTO governor.rules (name, application_name, idle_timeout)
  VALUES ('r_chg', 'chg%', '1h');
SELECT governor.reload();
});

my $timeout = $PostgreSQL::Test::Utils::timeout_default;

# The LOG line of an event: observed and limit of the first one for a pid.
sub event_line
{
	my ($action, $pid) = @_;
	my $log = slurp_file($node->logfile);
	my @lines = $log =~ /(pg_governor: $action pid $pid .*)/g;
	return @lines;
}

sub check_not_early
{
	my ($action, $s, $reason, $rule, $limit) = @_;
	my @lines = event_line($action, $s->{pid});
	is(scalar @lines, 1, "$reason: one $action event logged");
	my ($observed, $lim) =
	  ($lines[0] // '') =~ /$reason by rule "$rule", observed ([\d.]+), limit ([\d.]+)/;
	ok(defined $observed && $observed >= $limit && $lim == $limit,
		"$reason: acted at or after the limit (observed " . ($observed // 'none') . ")");
}

# ------------------------------------------------------------------
# idle_in_transaction_timeout: cuts an idle transaction, not an idle
# session nor a running query.
# ------------------------------------------------------------------
{
	my $iit = gov_session($node, app => 'iit1');
	my $idle = gov_session($node, app => 'iit2');
	my $busy = gov_session($node, app => 'iit3');
	gov_query($iit, "BEGIN; SELECT 1;");
	gov_session_send($busy, "SELECT pg_sleep(2.5), 'slept';\n\\echo __done__");
	gov_session_wait_gone($iit, 'idle_in_transaction_timeout');
	like(gov_session_end($iit),
		qr/FATAL:  25P03: terminating connection due to idle_in_transaction_timeout of pg_governor rule "r_iit": idle in transaction for [\d.]+ s, limit 1 s/,
		'idle_in_transaction_timeout: client gets 25P03 naming rule, observed and limit');
	ok($node->log_contains(
			qr/FATAL:  terminating connection due to idle_in_transaction_timeout of pg_governor rule "r_iit"/),
		'idle_in_transaction_timeout: server log has the same FATAL');
	check_not_early('terminate', $iit, 'idle_in_transaction_timeout', 'r_iit', 1);

	pump_until($busy->{h}, $busy->{timer}, \$busy->{out}, qr/__done__/);
	like($busy->{out}, qr/slept/, 'idle_in_transaction_timeout: a running query is not cut');
	gov_session_wait_state_age($idle, 1.5);
	is(gov_query($idle, "SELECT 'alive';"), 'alive',
		'idle_in_transaction_timeout: an idle session outside a transaction is not cut');
	$_->{in} .= "\\q\n", $_->{h}->finish for ($idle, $busy);
}

# ------------------------------------------------------------------
# idle_timeout: cuts an idle session, not an idle transaction nor a
# running query.
# ------------------------------------------------------------------
{
	my $idle = gov_session($node, app => 'idle1');
	my $iit = gov_session($node, app => 'idle2');
	my $busy = gov_session($node, app => 'idle3');
	gov_query($iit, "BEGIN; INSERT INTO t VALUES ('idle2');");
	gov_session_send($busy, "SELECT pg_sleep(2.5), 'slept';\n\\echo __done__");
	gov_session_wait_gone($idle, 'idle_timeout');
	like(gov_session_end($idle),
		qr/FATAL:  57P05: terminating connection due to idle_timeout of pg_governor rule "r_idle": idle for [\d.]+ s, limit 1 s/,
		'idle_timeout: client gets 57P05');
	check_not_early('terminate', $idle, 'idle_timeout', 'r_idle', 1);
	pump_until($busy->{h}, $busy->{timer}, \$busy->{out}, qr/__done__/);
	like($busy->{out}, qr/slept/, 'idle_timeout: a running query is not cut');
	gov_session_wait_state_age($iit, 1.5);
	is(gov_query($iit, "COMMIT; \\echo failed=:ERROR"), 'failed=false',
		'idle_timeout: an idle transaction is not cut and commits');
	$_->{in} .= "\\q\n", $_->{h}->finish for ($iit, $busy);
}

# ------------------------------------------------------------------
# max_transaction_duration: cuts a long query inside a transaction, not
# an idle session.
# ------------------------------------------------------------------
{
	my $long = gov_session($node, app => 'xact1');
	my $idle = gov_session($node, app => 'xact2');
	gov_session_send($long, "SELECT pg_sleep(60);");
	gov_session_wait_gone($long, 'max_transaction_duration');
	like(gov_session_end($long, 1),
		qr/FATAL:  $xact_sqlstate: terminating connection due to max_transaction_duration of pg_governor rule "r_xact": transaction open for [\d.]+ s, limit 1.5 s/,
		"max_transaction_duration: client gets $xact_sqlstate");
	check_not_early('terminate', $long, 'max_transaction_duration', 'r_xact', 1.5);
	gov_session_wait_state_age($idle, 2);
	is(gov_query($idle, "SELECT 'alive';"), 'alive',
		'max_transaction_duration: an idle session is not cut');
	$idle->{in} .= "\\q\n";
	$idle->{h}->finish;
}

# ------------------------------------------------------------------
# max_lifetime: never inside a transaction; the transaction commits, then
# the session is recycled at its idle moment.
# ------------------------------------------------------------------
{
	my $s = gov_session($node, app => 'life1');
	gov_query($s, "BEGIN; INSERT INTO t VALUES ('life1');");
	# Past the lifetime plus its largest jitter (10 %) and several passes.
	$node->poll_query_until('postgres',
		"SELECT now() - backend_start > interval '3.5 s' FROM pg_stat_activity WHERE pid = $s->{pid}")
	  or die 'lifetime session vanished';
	ok(gov_session_alive($s), 'max_lifetime: a session inside a transaction is not cut');
	is(gov_query($s, "COMMIT; \\echo failed=:ERROR"), 'failed=false',
		'max_lifetime: the transaction commits');
	gov_session_wait_gone($s, 'max_lifetime');
	like(gov_session_end($s),
		qr/FATAL:  57P01: terminating connection due to max_lifetime of pg_governor rule "r_life": connected for [\d.]+ s, limit 2 s/,
		'max_lifetime: client gets 57P01 naming the limit');
	is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE v = 'life1'"),
		'1', 'max_lifetime: the committed row is there');
}

# ------------------------------------------------------------------
# Monitor mode records once per episode and leaves the session alone.
# ------------------------------------------------------------------
{
	my $s = gov_session($node, app => 'mon1');
	gov_query($s, "BEGIN; SELECT 1;");
	ok( $node->wait_for_log(qr/pg_governor: would_terminate pid $s->{pid} /) > 0,
		'monitor: would_terminate logged');
	gov_session_wait_state_age($s, 2);
	is(gov_query($s, "SELECT 'alive';"), 'alive', 'monitor: the session is not cut');
	check_not_early('would_terminate', $s, 'idle_in_transaction_timeout', 'r_mon', 0.5);
	# A new idle spell is a new episode.
	gov_query($s, "SELECT 2;");
	gov_session_wait_state_age($s, 1.5);
	is(scalar(() = event_line('would_terminate', $s->{pid})), 2,
		'monitor: one event per idle spell');
	$s->{in} .= "ROLLBACK;\n\\q\n";
	$s->{h}->finish;
}

# ------------------------------------------------------------------
# Superusers are exempt; a governed session under the same rule is cut.
# ------------------------------------------------------------------
{
	my $su = gov_session($node, app => 'su1', user => $node->safe_psql('postgres', 'SELECT current_user'));
	my $app = gov_session($node, app => 'su2');
	gov_session_wait_gone($app, 'exempt check: governed session');
	gov_session_wait_state_age($su, 1.5);
	ok(gov_session_alive($su), 'exempt: an idle superuser session is not cut');
	is( $node->safe_psql('postgres',
			"SELECT deadline IS NULL FROM governor.clients WHERE pid = $su->{pid}"),
		't', 'exempt: no deadline for a superuser');
	$su->{in} .= "\\q\n";
	$su->{h}->finish;
}

# ------------------------------------------------------------------
# governor.kill(db): its governed sessions, not exempt ones nor the caller.
# ------------------------------------------------------------------
{
	$node->safe_psql('postgres', 'CREATE DATABASE killdb; GRANT EXECUTE ON FUNCTION governor.kill(name) TO app; GRANT USAGE ON SCHEMA governor TO app;');
	my $su_user = $node->safe_psql('postgres', 'SELECT current_user');
	my @victims = map { gov_session($node, app => 'k', db => 'killdb') } 1 .. 3;
	my $su = gov_session($node, app => 'k', db => 'killdb', user => $su_user);
	my $other = gov_session($node, app => 'k', db => 'postgres');
	is($node->safe_psql('postgres', "SELECT governor.kill('killdb')"), '3',
		'kill: returns the number of sessions signalled');
	gov_session_wait_gone($_, 'kill') for @victims;
	like(gov_session_end($victims[0]),
		qr/FATAL:  57P01: terminating connection due to pg_governor admin kill/,
		'kill: client gets 57P01 naming the admin kill');
	ok($node->log_contains(qr/pg_governor: kill pid $victims[0]{pid} \(database "killdb".*admin_kill/),
		'kill: event logged');
	ok(gov_session_alive($su), 'kill: exempt superuser session survives');
	ok(gov_session_alive($other), 'kill: sessions of other databases survive');
	gov_session_end($_) for @victims[1, 2];

	# A (granted) caller never kills itself.
	my $caller = gov_session($node, app => 'k', db => 'postgres');
	is(gov_query($caller, "SELECT governor.kill('postgres');"), '1',
		'kill: skips the caller');
	gov_session_wait_gone($other, 'kill by a granted role');
	is(gov_query($caller, "SELECT 'alive';"), 'alive', 'kill: the caller is alive');
	gov_session_end($other);
	$_->{in} .= "\\q\n", $_->{h}->finish for ($su, $caller);
}

# ------------------------------------------------------------------
# governor.reconnect(db): idle sessions close now, a transaction finishes
# first; close_needed shows the mark.
# ------------------------------------------------------------------
{
	$node->safe_psql('postgres', 'CREATE DATABASE recdb');
	my @idle = map { gov_session($node, app => 'r', db => 'recdb') } 1 .. 2;
	my $busy = gov_session($node, app => 'r', db => 'recdb');
	gov_query($busy, "BEGIN; INSERT INTO t VALUES ('reconnect');");
	is($node->safe_psql('postgres', "SELECT governor.reconnect('recdb')"), '3',
		'reconnect: returns the number of sessions marked');
	gov_session_wait_gone($_, 'reconnect') for @idle;
	like(gov_session_end($idle[0]),
		qr/FATAL:  57P01: terminating connection due to pg_governor reconnect/,
		'reconnect: client is told why');
	gov_session_end($idle[1]);
	ok($node->log_contains(qr/pg_governor: reconnect pid $idle[0]{pid} \(database "recdb"/),
		'reconnect: event logged');
	ok(gov_session_alive($busy), 'reconnect: a session inside a transaction is left to finish');
	is( $node->safe_psql('postgres',
			"SELECT close_needed FROM governor.clients WHERE pid = $busy->{pid}"),
		'1', 'reconnect: close_needed = 1');
	is(gov_query($busy, "COMMIT; \\echo failed=:ERROR"), 'failed=false',
		'reconnect: the transaction commits');
	gov_session_wait_gone($busy, 'reconnect after commit');
	gov_session_end($busy);
}

# ------------------------------------------------------------------
# A rule change shortens the deadline of a session already running.
# ------------------------------------------------------------------
{
	my $s = gov_session($node, app => 'chg1');
	$node->poll_query_until('postgres',
		"SELECT deadline - state_change = interval '1 hour' AND deadline_reason = 'idle_timeout' FROM governor.clients WHERE pid = $s->{pid}")
	  or die 'deadline of chg1 not shown';
	pass('rule change: deadline shows the hour-long idle_timeout');
	$node->safe_psql('postgres', "UPDATE governor.rules SET idle_timeout = '1s' WHERE name = 'r_chg'");
	gov_session_wait_gone($s, 'rule change');
	like(gov_session_end($s), qr/57P05: .*rule "r_chg": idle for [\d.]+ s, limit 1 s/,
		'rule change: the new limit ended the session');
}

$node->stop;
done_testing();
