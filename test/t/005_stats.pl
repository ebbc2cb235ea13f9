# governor.stats averages over the stats window, governor.health under a
# login queue and auth failures, governor.metrics() through promtool, and
# the worker's HTTP endpoint with bad and silent clients.
use strict;
use warnings;
use IO::Socket::INET;
use IPC::Run;
use Time::HiRes qw(time);
use lib 'test/t';
use GovTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('stats');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_governor'
governor.naptime = 100ms
governor.stats_period = 2s
max_connections = 30
});
# Password authentication for one role, first match on the local socket.
my $hba = $node->data_dir . '/pg_hba.conf';
my $old_hba = slurp_file($hba);
open(my $fh, '>', $hba) or die $!;
print $fh "local all regress_pw scram-sha-256\n" . $old_hba;
close($fh);
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_governor;
CREATE ROLE app LOGIN;
CREATE ROLE app2 LOGIN;
SET password_encryption = 'scram-sha-256';
CREATE ROLE regress_pw LOGIN PASSWORD 'right';
});

sub pool_stat
{
	my ($user, $appname, $cols) = @_;
	return $node->safe_psql('postgres',
		"SELECT $cols FROM governor.pool_stats WHERE \"user\" = '$user' AND application_name = '$appname'"
	);
}
# Sessions started by the test carry its name as application_name.
my $appname = $node->safe_psql('postgres', "SELECT current_setting('application_name')");

sub health_status
{
	my ($signal) = @_;
	return $node->safe_psql('postgres',
		"SELECT status FROM governor.health WHERE signal = '$signal'");
}

sub reload_settings
{
	my ($sql) = @_;
	$node->safe_psql('postgres', $sql);
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

sub promtool_ok
{
	my ($text, $name) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run([ 'promtool', 'check', 'metrics' ],
		'<', \$text, '>', \$out, '2>', \$err);
	ok($ok, $name) or diag("promtool: $out $err");
}

# ---- averages over the window ------------------------------------------
{
	local $ENV{PGAPPNAME} = 'avg_app';
	$node->safe_psql('postgres',
		join('', map { "SELECT pg_sleep(0.05);\n" } 1 .. 10));
}
my ($xacts, $queries, $avg_xact_time, $avg_query_time, $avg_rate) = split /\|/,
  pool_stat('postgres', 'avg_app',
	'total_xact_count, total_query_count, avg_xact_time, avg_query_time, avg_xact_count'
  );
is($xacts, 10, 'ten transactions counted');
is($queries, 10, 'ten queries counted');
cmp_ok($avg_xact_time, '>=', 50000, 'avg_xact_time is microseconds per transaction (>= 50 ms)');
cmp_ok($avg_xact_time, '<', 5000000, 'avg_xact_time is not inflated');
cmp_ok($avg_query_time, '>=', 50000, 'avg_query_time is microseconds per query');
cmp_ok($avg_rate, '>=', 1, 'avg_xact_count is a rate per second over the window');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT avg_xact_count = 0 AND avg_xact_time = 0 AND total_xact_count = 10
		    FROM governor.pool_stats WHERE application_name = 'avg_app'}),
	'averages fall to 0 once the activity leaves the window, totals stay');

# ---- a login queue turns health warn and crit --------------------------
reload_settings(q{
ALTER SYSTEM SET governor.health_waiting_warn = 1;
ALTER SYSTEM SET governor.health_waiting_crit = 2;
ALTER SYSTEM SET governor.health_wait_warn = '1ms';
ALTER SYSTEM SET governor.health_wait_crit = '2ms';
ALTER SYSTEM SET governor.health_connections_warn = 1;
});
ok($node->poll_query_until('postgres',
		"SELECT warn = 1 FROM governor.health WHERE signal = 'waiting_sessions'"),
	'health thresholds follow a reload');
is(health_status('connection_usage_percent'), 'warn',
	'connection usage warns above its threshold');
$node->safe_psql('postgres', q{
INSERT INTO governor.rules (name, role, max_connections, queue_timeout)
VALUES ('cap_app', 'app', 1, '60s');
SELECT governor.reload();
});
is(health_status('waiting_sessions'), 'ok', 'no queue: waiting_sessions ok');

# Sessions held with psql over IPC::Run (GovTest): background_psql cannot
# start a login that queues on every version's TAP modules.
my $h1 = gov_hold($node, user => 'app', app => $appname, sql => "SELECT 'h1 in';");
ok(gov_wait_output($h1, qr/h1 in/), 'first login of the capped role admitted');
my $h2 = gov_hold($node, user => 'app', app => $appname, sql => "SELECT 'h2 in';");
# h2 queues first, so it is the one admitted when h1 leaves (FIFO).
ok( $node->poll_query_until('postgres',
		"SELECT status = 'warn' FROM governor.health WHERE signal = 'waiting_sessions'"),
	'one queued login: waiting_sessions warn');
my $h3 = gov_hold($node, user => 'app', app => $appname, sql => "SELECT 'h3 in';");
ok( $node->poll_query_until('postgres',
		"SELECT status = 'crit' FROM governor.health WHERE signal = 'waiting_sessions'"),
	'two queued logins: waiting_sessions crit');
ok( $node->poll_query_until('postgres',
		q{SELECT maxwait >= 1 FROM governor.pools WHERE "user" = 'app'}),
	'queued logins wait at least a second');
# Both, not only the first: the total below counts on two waits of a second.
ok( $node->poll_query_until('postgres',
		qq{SELECT count(*) = 2 AND min(wait) >= 1 FROM governor.clients
		   WHERE state = 'waiting' AND application_name = '$appname'}),
	'each queued login has waited a second (governor.clients wait)');
gov_release($h1);
ok(gov_wait_output($h2, qr/h2 in/), 'the first queued login is admitted when the slot frees');
ok( $node->poll_query_until('postgres',
		"SELECT status = 'warn' FROM governor.health WHERE signal = 'waiting_sessions'"),
	'one queued login left: waiting_sessions warn again');
is($node->safe_psql('postgres', "SELECT connections || ' ' || waiting FROM governor.rule_usage WHERE rule = 'cap_app'"),
	'1 1', 'the second queued login still waits (rule cap_app: 1 in, 1 waiting)');
is($node->safe_psql('postgres', qq{SELECT cl_active || ' ' || cl_waiting FROM governor.pools WHERE "user" = 'app' AND application_name = '$appname'}),
	'1 1', 'and its pool shows it waiting (cl_active 1, cl_waiting 1)');
gov_release($h2);
ok(gov_wait_output($h3, qr/h3 in/), 'the second queued login is admitted next');
my ($wait_total, $avg_wait, $conns) = split /\|/,
  pool_stat('app', $appname, 'total_wait_time, avg_wait_time, total_connections');
is($conns, 3, 'three admitted connections for the capped role');
cmp_ok($wait_total, '>=', 2000000, 'total_wait_time has both waits, in microseconds');
cmp_ok($avg_wait, '>=', 600000, 'avg_wait_time is wait per admitted connection');
is(health_status('waiting_sessions'), 'ok', 'queue drained: waiting_sessions ok');
isnt(health_status('avg_wait_ms'), 'ok', 'average admission wait over its threshold');
gov_release($h3);

# ---- refusals and authentication failures ------------------------------
$node->safe_psql('postgres', q{
INSERT INTO governor.rules (name, role, max_connections, queue_timeout)
VALUES ('cap_app2', 'app2', 1, '0');
SELECT governor.reload();
});
my $holder = $node->background_psql('postgres', extra_params => [ '-U', 'app2' ]);
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT 1', extra_params => [ '-U', 'app2' ]);
isnt($ret, 0, 'login over the cap is refused');
$holder->quit;
is(pool_stat('app2', $appname, 'total_rejected'), 1, 'refused login counted in total_rejected');

{
	local $ENV{PGPASSWORD} = 'wrong';
	($ret, $out, $err) = $node->psql('postgres', 'SELECT 1',
		extra_params => [ '-U', 'regress_pw', '-w' ]);
	isnt($ret, 0, 'wrong password refused');
	like($err, qr/password authentication failed/, 'refused by authentication');
	($ret, $out, $err) = $node->psql('postgres', 'SELECT 1',
		extra_params => [ '-U', 'regress_pw', '-w' ]);
}
{
	local $ENV{PGPASSWORD} = 'right';
	($ret, $out, $err) = $node->psql('postgres', 'SELECT 1',
		extra_params => [ '-U', 'regress_pw', '-w' ]);
	is($ret, 0, 'right password admitted');
}
is( $node->safe_psql('postgres',
		q{SELECT sum(total_auth_failed) || '/' || sum(total_connections)
		    FROM governor.pool_stats WHERE "user" = 'regress_pw'}),
	'2/1',
	'two auth failures and one login counted');
is($node->safe_psql('postgres',
		"SELECT value > 0 FROM governor.health WHERE signal = 'connection_error_rate_percent'"),
	't', 'connection error rate counts refusals and auth failures');
is($node->safe_psql('postgres',
		q{SELECT total_auth_failed >= 2 AND total_rejected >= 1 FROM governor.stats WHERE database = 'postgres'}),
	't', 'governor.stats sums governance totals per database');

# ---- metrics through promtool ------------------------------------------
$node->safe_psql('postgres', q{
INSERT INTO governor.rules (name, role, max_connections)
VALUES (E'odd\n"rule\\\\', 'nobody_here', 5);
SELECT governor.reload();
});
{
	local $ENV{PGAPPNAME} = 'we"ird\app';
	$node->safe_psql('postgres', 'SELECT 1');
}
my $metrics = $node->safe_psql('postgres', 'SELECT governor.metrics()') . "\n";
promtool_ok($metrics, 'promtool check metrics accepts governor.metrics()');
like($metrics, qr/^pg_governor_stats_totals_sql_transactions_pooled_total\{database="postgres"\} \d+$/m,
	'per-database transaction counter');
like($metrics, qr/^pg_governor_pool_stats_auth_failures_total\{database="postgres",user="regress_pw",application_name="[^"]*"\} 2$/m,
	'per-pool auth failure counter');
like($metrics, qr/^pg_governor_rule_rejected_total\{rule="cap_app2"\} 1$/m,
	'rule rejections');
like($metrics, qr/^pg_governor_rule_max_connections\{rule="odd\\n\\"rule\\\\"\} 5$/m,
	'label values escape newline, quote and backslash');
like($metrics, qr/application_name="we\\"ird\\\\app"/, 'application_name label escaped');
like($metrics, qr/^pg_governor_pools_client_active_connections\{database="postgres",user="postgres",application_name="[^"]*"\} \d+$/m,
	'pool gauges');
like($metrics, qr/^pg_governor_health_status\{signal="waiting_sessions"\} [012]$/m,
	'health in metrics');
like($metrics, qr/^pg_governor_events_total \d+$/m, 'event counter');

# ---- HTTP endpoint -----------------------------------------------------
my $port = PostgreSQL::Test::Cluster::get_free_port();
sub curl
{
	my ($path, @extra) = @_;
	my ($body, $cerr);
	my $code = '';
	IPC::Run::run(
		[
			'curl', '-s', '--max-time', '5', @extra, '-o', '-', '-w',
			'\n%{http_code}', "http://127.0.0.1:$port$path"
		],
		'>', \$body, '2>', \$cerr);
	$code = $1 if $body =~ s/\n(\d{3})\z//;
	return ($code, $body);
}
my ($code, $body) = curl('/metrics');
is($code, '000', 'endpoint off by default');
reload_settings(qq{
ALTER SYSTEM SET governor.metrics_listen_address = '127.0.0.1';
ALTER SYSTEM SET governor.metrics_port = $port;
});
my $served = 0;
for (1 .. 100)
{
	($code, $body) = curl('/metrics');
	if ($code eq '200') { $served = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($served, 'GET /metrics served after a reload');
promtool_ok($body, 'promtool accepts the HTTP body');
like($body, qr/^pg_governor_events_total \d+$/m, 'HTTP body is the metrics text');
($code) = curl('/other');
is($code, '404', 'other paths are 404');
($code) = curl('/metrics', '-X', 'POST');
is($code, '404', 'other methods are 404');

my $bad = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
  or die "connect: $!";
print $bad "garbage\r\n\r\n";
my $bin = '';
vec($bin, fileno($bad), 1) = 1;
my $line = select(my $bout = $bin, undef, undef, 10) > 0 ? <$bad> : undef;
like($line // '', qr{^HTTP/1\.1 400}, 'malformed request gets 400');
close($bad);

my $silent = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
  or die "connect: $!";
my $t0 = time();
($code, $body) = curl('/metrics');
is($code, '200', 'served while a silent client is connected');
cmp_ok(time() - $t0, '<', 3, 'the silent client does not delay others');
is($node->safe_psql('postgres', 'SELECT governor.reload()'), 't',
	'worker keeps ticking while a silent client is connected');
my $rin = '';
vec($rin, fileno($silent), 1) = 1;
my $ready = select(my $rout = $rin, undef, undef, 15);
my $got = $ready > 0 ? sysread($silent, my $buf, 100) : -1;
is($got, 0, 'the silent client is disconnected by the server');
cmp_ok(time() - $t0, '<', 10, 'within the read timeout');
close($silent);

$node->stop;
done_testing();
