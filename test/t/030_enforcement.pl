# Session limits: each limit ends sessions in its own state and no other,
# the client gets a FATAL with the right SQLSTATE, rule, limit and observed
# value; monitor mode only records; exempt sessions survive; governor.kill
# and governor.reconnect act on what they say; a rule change reaches a
# running session.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('enforce');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_governor'
governor.naptime = 100ms
max_connections = 40
});
$node->start;

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

# ------------------------------------------------------------------
# A psql session we can leave idle and read the FATAL from afterwards.
# ------------------------------------------------------------------
sub session
{
	my (%o) = @_;
	my $s = { in => '', out => '', err => '' };
	my $connstr = $node->connstr($o{db} // 'postgres')
	  . " user=" . ($o{user} // 'app') . " application_name=$o{app}";
	$s->{timer} = IPC::Run::timeout($timeout);
	$s->{h} = IPC::Run::start([ 'psql', '-XAtq', '-d', $connstr ],
		'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err}, $s->{timer});
	$s->{pid} = query($s, "\\set VERBOSITY verbose\nSELECT pg_backend_pid();");
	return $s;
}

# Run SQL and wait for its output (a client-side echo marks the end).
sub query
{
	my ($s, $sql) = @_;
	$s->{out} = '';
	$s->{in} .= "$sql\n\\echo __done__\n";
	pump_until($s->{h}, $s->{timer}, \$s->{out}, qr/__done__\n/)
	  or die "query did not complete: $sql\nstderr: $s->{err}";
	my $r = $s->{out};
	$s->{out} = '';
	$r =~ s/__done__\n//;
	chomp $r;
	return $r;
}

# Send SQL without waiting for it.
sub send_sql
{
	my ($s, $sql) = @_;
	$s->{out} = '';
	$s->{in} .= "$sql\n";
	$s->{h}->pump_nb;
}

# After the server ended the session: one more query makes psql read the
# FATAL; return everything psql printed on stderr.
# A session cut while running a query has seen its FATAL already and psql
# has exited: pass $no_query so nothing is written to it.
sub finish
{
	my ($s, $no_query) = @_;
	$s->{in} .= "SELECT 1;\n" unless $no_query;
	eval { $s->{h}->finish; 1 } or diag("psql harness: $@");
	return $s->{err};
}

sub wait_gone
{
	my ($s, $what) = @_;
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $s->{pid}"),
		"$what: session ended");
}

sub alive
{
	my ($s) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $s->{pid}") eq '1';
}

# Wait until a session has been in its current state for $secs seconds.
sub wait_state_age
{
	my ($s, $secs) = @_;
	$node->poll_query_until('postgres',
		"SELECT now() - state_change > interval '$secs s' FROM pg_stat_activity WHERE pid = $s->{pid}")
	  or die "session $s->{pid} did not reach state age $secs s";
}

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
	my $iit = session(app => 'iit1');
	my $idle = session(app => 'iit2');
	my $busy = session(app => 'iit3');
	query($iit, "BEGIN; SELECT 1;");
	send_sql($busy, "SELECT pg_sleep(2.5), 'slept';\n\\echo __done__");
	wait_gone($iit, 'idle_in_transaction_timeout');
	like(finish($iit),
		qr/FATAL:  25P03: terminating connection due to idle_in_transaction_timeout of pg_governor rule "r_iit": idle in transaction for [\d.]+ s, limit 1 s/,
		'idle_in_transaction_timeout: client gets 25P03 naming rule, observed and limit');
	ok($node->log_contains(
			qr/FATAL:  terminating connection due to idle_in_transaction_timeout of pg_governor rule "r_iit"/),
		'idle_in_transaction_timeout: server log has the same FATAL');
	check_not_early('terminate', $iit, 'idle_in_transaction_timeout', 'r_iit', 1);

	pump_until($busy->{h}, $busy->{timer}, \$busy->{out}, qr/__done__/);
	like($busy->{out}, qr/slept/, 'idle_in_transaction_timeout: a running query is not cut');
	wait_state_age($idle, 1.5);
	is(query($idle, "SELECT 'alive';"), 'alive',
		'idle_in_transaction_timeout: an idle session outside a transaction is not cut');
	$_->{in} .= "\\q\n", $_->{h}->finish for ($idle, $busy);
}

# ------------------------------------------------------------------
# idle_timeout: cuts an idle session, not an idle transaction nor a
# running query.
# ------------------------------------------------------------------
{
	my $idle = session(app => 'idle1');
	my $iit = session(app => 'idle2');
	my $busy = session(app => 'idle3');
	query($iit, "BEGIN; INSERT INTO t VALUES ('idle2');");
	send_sql($busy, "SELECT pg_sleep(2.5), 'slept';\n\\echo __done__");
	wait_gone($idle, 'idle_timeout');
	like(finish($idle),
		qr/FATAL:  57P05: terminating connection due to idle_timeout of pg_governor rule "r_idle": idle for [\d.]+ s, limit 1 s/,
		'idle_timeout: client gets 57P05');
	check_not_early('terminate', $idle, 'idle_timeout', 'r_idle', 1);
	pump_until($busy->{h}, $busy->{timer}, \$busy->{out}, qr/__done__/);
	like($busy->{out}, qr/slept/, 'idle_timeout: a running query is not cut');
	wait_state_age($iit, 1.5);
	is(query($iit, "COMMIT; \\echo failed=:ERROR"), 'failed=false',
		'idle_timeout: an idle transaction is not cut and commits');
	$_->{in} .= "\\q\n", $_->{h}->finish for ($iit, $busy);
}

# ------------------------------------------------------------------
# max_transaction_duration: cuts a long query inside a transaction, not
# an idle session.
# ------------------------------------------------------------------
{
	my $long = session(app => 'xact1');
	my $idle = session(app => 'xact2');
	send_sql($long, "SELECT pg_sleep(60);");
	wait_gone($long, 'max_transaction_duration');
	like(finish($long, 1),
		qr/FATAL:  $xact_sqlstate: terminating connection due to max_transaction_duration of pg_governor rule "r_xact": transaction open for [\d.]+ s, limit 1.5 s/,
		"max_transaction_duration: client gets $xact_sqlstate");
	check_not_early('terminate', $long, 'max_transaction_duration', 'r_xact', 1.5);
	wait_state_age($idle, 2);
	is(query($idle, "SELECT 'alive';"), 'alive',
		'max_transaction_duration: an idle session is not cut');
	$idle->{in} .= "\\q\n";
	$idle->{h}->finish;
}

# ------------------------------------------------------------------
# max_lifetime: never inside a transaction; the transaction commits, then
# the session is recycled at its idle moment.
# ------------------------------------------------------------------
{
	my $s = session(app => 'life1');
	query($s, "BEGIN; INSERT INTO t VALUES ('life1');");
	# Past the lifetime plus its largest jitter (10 %) and several passes.
	$node->poll_query_until('postgres',
		"SELECT now() - backend_start > interval '3.5 s' FROM pg_stat_activity WHERE pid = $s->{pid}")
	  or die 'lifetime session vanished';
	ok(alive($s), 'max_lifetime: a session inside a transaction is not cut');
	is(query($s, "COMMIT; \\echo failed=:ERROR"), 'failed=false',
		'max_lifetime: the transaction commits');
	wait_gone($s, 'max_lifetime');
	like(finish($s),
		qr/FATAL:  57P01: terminating connection due to max_lifetime of pg_governor rule "r_life": connected for [\d.]+ s, limit 2 s/,
		'max_lifetime: client gets 57P01 naming the limit');
	is($node->safe_psql('postgres', "SELECT count(*) FROM t WHERE v = 'life1'"),
		'1', 'max_lifetime: the committed row is there');
}

# ------------------------------------------------------------------
# Monitor mode records once per episode and leaves the session alone.
# ------------------------------------------------------------------
{
	my $s = session(app => 'mon1');
	query($s, "BEGIN; SELECT 1;");
	ok( $node->wait_for_log(qr/pg_governor: would_terminate pid $s->{pid} /) > 0,
		'monitor: would_terminate logged');
	wait_state_age($s, 2);
	is(query($s, "SELECT 'alive';"), 'alive', 'monitor: the session is not cut');
	check_not_early('would_terminate', $s, 'idle_in_transaction_timeout', 'r_mon', 0.5);
	# A new idle spell is a new episode.
	query($s, "SELECT 2;");
	wait_state_age($s, 1.5);
	is(scalar(() = event_line('would_terminate', $s->{pid})), 2,
		'monitor: one event per idle spell');
	$s->{in} .= "ROLLBACK;\n\\q\n";
	$s->{h}->finish;
}

# ------------------------------------------------------------------
# Superusers are exempt; a governed session under the same rule is cut.
# ------------------------------------------------------------------
{
	my $su = session(app => 'su1', user => $node->safe_psql('postgres', 'SELECT current_user'));
	my $app = session(app => 'su2');
	wait_gone($app, 'exempt check: governed session');
	wait_state_age($su, 1.5);
	ok(alive($su), 'exempt: an idle superuser session is not cut');
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
	my @victims = map { session(app => 'k', db => 'killdb') } 1 .. 3;
	my $su = session(app => 'k', db => 'killdb', user => $su_user);
	my $other = session(app => 'k', db => 'postgres');
	is($node->safe_psql('postgres', "SELECT governor.kill('killdb')"), '3',
		'kill: returns the number of sessions signalled');
	wait_gone($_, 'kill') for @victims;
	like(finish($victims[0]),
		qr/FATAL:  57P01: terminating connection due to pg_governor admin kill/,
		'kill: client gets 57P01 naming the admin kill');
	ok($node->log_contains(qr/pg_governor: kill pid $victims[0]{pid} \(database "killdb".*admin_kill/),
		'kill: event logged');
	ok(alive($su), 'kill: exempt superuser session survives');
	ok(alive($other), 'kill: sessions of other databases survive');
	finish($_) for @victims[1, 2];

	# A (granted) caller never kills itself.
	my $caller = session(app => 'k', db => 'postgres');
	is(query($caller, "SELECT governor.kill('postgres');"), '1',
		'kill: skips the caller');
	wait_gone($other, 'kill by a granted role');
	is(query($caller, "SELECT 'alive';"), 'alive', 'kill: the caller is alive');
	finish($other);
	$_->{in} .= "\\q\n", $_->{h}->finish for ($su, $caller);
}

# ------------------------------------------------------------------
# governor.reconnect(db): idle sessions close now, a transaction finishes
# first; close_needed shows the mark.
# ------------------------------------------------------------------
{
	$node->safe_psql('postgres', 'CREATE DATABASE recdb');
	my @idle = map { session(app => 'r', db => 'recdb') } 1 .. 2;
	my $busy = session(app => 'r', db => 'recdb');
	query($busy, "BEGIN; INSERT INTO t VALUES ('reconnect');");
	is($node->safe_psql('postgres', "SELECT governor.reconnect('recdb')"), '3',
		'reconnect: returns the number of sessions marked');
	wait_gone($_, 'reconnect') for @idle;
	like(finish($idle[0]),
		qr/FATAL:  57P01: terminating connection due to pg_governor reconnect/,
		'reconnect: client is told why');
	finish($idle[1]);
	ok($node->log_contains(qr/pg_governor: reconnect pid $idle[0]{pid} \(database "recdb"/),
		'reconnect: event logged');
	ok(alive($busy), 'reconnect: a session inside a transaction is left to finish');
	is( $node->safe_psql('postgres',
			"SELECT close_needed FROM governor.clients WHERE pid = $busy->{pid}"),
		'1', 'reconnect: close_needed = 1');
	is(query($busy, "COMMIT; \\echo failed=:ERROR"), 'failed=false',
		'reconnect: the transaction commits');
	wait_gone($busy, 'reconnect after commit');
	finish($busy);
}

# ------------------------------------------------------------------
# A rule change shortens the deadline of a session already running.
# ------------------------------------------------------------------
{
	my $s = session(app => 'chg1');
	$node->poll_query_until('postgres',
		"SELECT deadline - state_change = interval '1 hour' AND deadline_reason = 'idle_timeout' FROM governor.clients WHERE pid = $s->{pid}")
	  or die 'deadline of chg1 not shown';
	pass('rule change: deadline shows the hour-long idle_timeout');
	$node->safe_psql('postgres', "UPDATE governor.rules SET idle_timeout = '1s' WHERE name = 'r_chg'");
	wait_gone($s, 'rule change');
	like(finish($s), qr/57P05: .*rule "r_chg": idle for [\d.]+ s, limit 1 s/,
		'rule change: the new limit ended the session');
}

$node->stop;
done_testing();
