# What 17+ servers offer, and races made deterministic with injection
# points (17+ built with --enable-injection-points): the server's own
# transaction_timeout ends a transaction exactly at max_transaction_duration
# (25P04); a kill booked while the rules are reloaded goes to the right
# rule; a login sees rules reloaded while it authenticated; a kill during
# admission is not lost; a slot handed to a waiter at its timeout is kept.
use strict;
use warnings;
use lib 'test/t';
use GovTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();

my $node = gov_node('races', "max_connections = 30\ngovernor.naptime = 10s\n");
if ($node->safe_psql('postgres', 'SHOW server_version_num') < 170000)
{
	$node->stop;
	plan skip_all => 'PostgreSQL 17+ features';
}
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');

# ------------------------------------------------------------------
# max_transaction_duration through the server's own transaction_timeout:
# exact (the worker sleeps 10 s here), 25P04, naming the rule; a client's
# SET cannot lift it; booked once.
# ------------------------------------------------------------------
$node->safe_psql('postgres', q{
	INSERT INTO governor.rules (name, application_name, max_transaction_duration)
	VALUES ('xd', 'xd', '1s');
	SELECT governor.reload();
});
my $t0 = Time::HiRes::time();
my ($rc, $out, $err) = gov_try_login($node, "SET transaction_timeout = 0; BEGIN; SELECT pg_sleep(5);",
	user => 'app', app => 'xd');
my $took = Time::HiRes::time() - $t0;
like($err, qr/FATAL:  25P04: terminating connection due to max_transaction_duration of pg_governor rule "xd": transaction open for 1\.\d+ s, limit 1 s/,
	'the server ends the transaction with 25P04 naming the rule, although the client SET transaction_timeout = 0');
cmp_ok($took, '<', 2.5, sprintf('at the limit (%.2f s), not at the worker\'s next pass (naptime 10 s)', $took));
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM governor.events WHERE rule = 'xd' AND action = 'terminate'
	   AND reason = 'max_transaction_duration'}), 'recorded once as the governor\'s termination');
is($node->safe_psql('postgres', "SELECT total_terminated_transaction_duration FROM governor.rule_usage WHERE rule = 'xd'"),
	'1', 'and counted on its rule');
($rc, $out, $err) = gov_try_login($node, 'SHOW transaction_timeout', app => 'other');
is($out, '0', 'sessions the rule does not govern keep their own transaction_timeout');
($rc, $out, $err) = gov_try_login($node,
	"SELECT set_config('transaction_timeout', '5s', false); SHOW transaction_timeout; "
	  . "BEGIN; SET LOCAL transaction_timeout = '7s'; SHOW transaction_timeout; COMMIT;",
	app => 'other');
is(join(',', grep { /s$/ } split /\n/, $out), '5s,5s,7s',
	'and whatever way they set it (set_config, SET LOCAL), the next statement keeps it');

# A stricter value of the session's own stays, and ends the transaction
# with the server's own message (not booked to the rule).
($rc, $out, $err) = gov_try_login($node, "SET transaction_timeout = '300ms'; SELECT pg_sleep(3);",
	user => 'app', app => 'xd');
like($err, qr/FATAL:  25P04: terminating connection due to transaction timeout/,
	'a stricter transaction_timeout the session set itself is kept');
is($node->safe_psql('postgres', "SELECT total_terminated_transaction_duration FROM governor.rule_usage WHERE rule = 'xd'"),
	'1', 'and not booked to the rule');

# The limit is raised while a session runs; the transaction that armed the
# new value rolls back (undoing it): the next one runs under the new limit.
my $s = gov_session($node, app => 'xd');
is(gov_query($s, 'SHOW transaction_timeout;'), '1s', 'armed at the rule\'s limit');
$node->safe_psql('postgres', q{
	UPDATE governor.rules SET max_transaction_duration = '4s' WHERE name = 'xd';
	SELECT governor.reload();
});
gov_query($s, 'BEGIN; SELECT 1; ROLLBACK;');
is(gov_query($s, "BEGIN; SELECT pg_sleep(1.5); COMMIT; SELECT 'alive';"), "\nalive",
	'a transaction longer than the old limit runs: the rolled-back arming was noticed');
is(gov_query($s, 'SHOW transaction_timeout;'), '4s', 'armed at the new limit');
gov_session_end($s, 1);
$node->safe_psql('postgres', q{
	UPDATE governor.rules SET max_transaction_duration = '1s' WHERE name = 'xd';
	SELECT governor.reload();
});

my $have = $node->safe_psql('postgres', q{
	SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'injection_points')});
if ($have ne 't')
{
	$node->stop;
	note 'no injection_points module: the race tests need a build with --enable-injection-points';
	done_testing();
	exit 0;
}
$node->safe_psql('postgres', 'CREATE EXTENSION injection_points');

# Wait until a backend reached an injection point (each is used once per
# node).  A login is not in pg_stat_activity before 18; the wait event the
# point registers on its first wait is.
sub at_point
{
	my ($point) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = '$point')
		    OR EXISTS (SELECT 1 FROM pg_get_wait_events() WHERE name = '$point')});
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
gov_wait_for($node, "SELECT count(*) = 1 FROM governor.clients WHERE application_name = 'victim'", 'the victim session is up');
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
($rc, $out, $err) = gov_login_finish($killer);
is($out, '1', 'kill() ended the session');
is($node->safe_psql('postgres', q{SELECT string_agg(rule || ':' || total_killed, ' ' ORDER BY rule) FROM governor.rule_usage}),
	'a_new:0 m_second:1 xd:0', 'booked to the rule that governed it, not to the rule now at its old index');
gov_release($victim);

# ------------------------------------------------------------------
# Rules reloaded while a login authenticated: it is admitted under the
# rules in force when it is admitted.
# ------------------------------------------------------------------
$node->safe_psql('postgres', "SELECT injection_points_attach('pg-governor-login-claimed', 'wait')");
my $late = gov_login_bg($node, 'SELECT 1', user => 'app', app => 'late');
ok(at_point('pg-governor-login-claimed'), 'a login is past authentication, not yet admitted');
$node->safe_psql('postgres', q{
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout)
	VALUES ('closed', 'late', 0, '0');
	SELECT governor.reload();
	SELECT injection_points_detach('pg-governor-login-claimed');
	SELECT injection_points_wakeup('pg-governor-login-claimed');
});
($rc, $out, $err) = gov_login_finish($late);
like($err, qr/too many connections for pg_governor rule "closed"/, 'the rule added meanwhile applies to it');

# ------------------------------------------------------------------
# governor.kill() while a login is being admitted: the login ends.
# ------------------------------------------------------------------
$node->safe_psql('postgres', "SELECT injection_points_attach('pg-governor-login-admitted', 'wait')");
my $doomed = gov_login_bg($node, 'SELECT 1', user => 'app', app => 'doomed');
ok(at_point('pg-governor-login-admitted'), 'a login is admitted, its session not yet begun');
is($node->safe_psql('postgres', "SELECT governor.kill()"), '1', 'kill() reaches it');
$node->safe_psql('postgres', q{
	SELECT injection_points_detach('pg-governor-login-admitted');
	SELECT injection_points_wakeup('pg-governor-login-admitted');
});
($rc, $out, $err) = gov_login_finish($doomed);
like($err, qr/FATAL:  terminating connection due to pg_governor admin kill/,
	'its session does not start: its client is told why');
like(slurp_file($node->logfile), qr/57P01 \[unknown\] FATAL:  terminating connection due to pg_governor admin kill/,
	'with 57P01');

# ------------------------------------------------------------------
# A slot freed just as a waiter's queue timeout comes: the waiter gets it
# once, and the bucket stays exact.
# ------------------------------------------------------------------
$node->safe_psql('postgres', q{
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout)
	VALUES ('edge', 'edge', 1, '300ms');
	SELECT governor.reload();
});
my $holder = gov_hold($node, user => 'app', app => 'edge');
ok($node->poll_query_until('postgres', "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'edge'"), 'slot held');
$node->safe_psql('postgres', "SELECT injection_points_attach('pg-governor-queue-timeout', 'wait')");
my $w = gov_login_bg($node, "SELECT 'got in'", user => 'app', app => 'edge');
ok(at_point('pg-governor-queue-timeout'), 'the waiter reached its timeout');
gov_release($holder);
ok($node->poll_query_until('postgres', "SELECT connections = 1 AND waiting = 0 FROM governor.rule_usage WHERE rule = 'edge'"),
	'the freed slot was handed to it meanwhile');
$node->safe_psql('postgres', q{
	SELECT injection_points_detach('pg-governor-queue-timeout');
	SELECT injection_points_wakeup('pg-governor-queue-timeout');
});
($rc, $out, $err) = gov_login_finish($w);
is($out, 'got in', 'a waiter handed a slot at its timeout gets in, not a refusal');
ok($node->poll_query_until('postgres', "SELECT connections = 0 FROM governor.rule_usage WHERE rule = 'edge'"),
	'and the bucket is exact afterwards');
is($node->safe_psql('postgres', "SELECT total_rejected FROM governor.rule_usage WHERE rule = 'edge'"), '0', 'nothing refused');

$node->stop;
done_testing();
