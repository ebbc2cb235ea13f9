# Storms and fairness: a queue turns a client's no-backoff retry storm into
# waits; a login rate spreads a burst; governor.max_queued bounds what
# waiting costs (and an operator still gets in); fair and priority order;
# idle eviction hands a waiting login the slot of the longest-idle session;
# the authentication circuit breaker blocks one (role, address) only.
use strict;
use warnings;
use lib 'test/t';
use GovTest;
use IO::Socket::IP;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

# IPv6 loopback gives a second client address for the circuit breaker.
my $have_v6 = IO::Socket::IP->new(Domain => AF_INET6(), LocalHost => '::1', Listen => 1) ? 1 : 0;

my $node = gov_node('storms', qq{
max_connections = 50
log_connections = on
listen_addresses = '127.0.0.1@{[ $have_v6 ? ', ::1' : '' ]}'
governor.max_queued = 30
password_encryption = 'scram-sha-256'
}, no_extension => 1);
my $hba = $node->data_dir . '/pg_hba.conf';
my $old_hba = slurp_file($hba);
open(my $fh, '>', $hba) or die $!;
print $fh "host guessdb all 127.0.0.1/32 scram-sha-256\nhost guessdb all ::1/128 scram-sha-256\n"
  . "host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n" . $old_hba;
close($fh);
$node->reload;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_governor;
	CREATE ROLE app LOGIN;
	CREATE ROLE pw LOGIN SUPERUSER PASSWORD 'right';
	CREATE DATABASE guessdb;
	CREATE TABLE admitted (who text, ts timestamptz DEFAULT clock_timestamp());
	GRANT ALL ON admitted TO app;
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

# The retrying client, built against this server's libpq.
my $tmp = PostgreSQL::Test::Utils::tempdir();
my ($incdir, $libdir) = ($node->config_data('--includedir'), $node->config_data('--libdir'));
system('cc', '-O2', "-I$incdir", '-o', "$tmp/stormclient", 'test/lib/stormclient.c',
	"-L$libdir", "-Wl,-rpath,$libdir", '-lpq') == 0 or die 'could not build stormclient';

sub connections_received { return gov_count_log($node, qr/LOG:  connection received:/); }

# The count once the server has logged every attempt: until it has not
# changed for 300 ms (bounded by the test timeout).
sub connections_received_settled
{
	my $n = connections_received();
	my $since = time;
	my $deadline = $since + $PostgreSQL::Test::Utils::timeout_default;
	while (time - $since < 0.3 && time < $deadline)
	{
		sleep(0.1);
		my $m = connections_received();
		($n, $since) = ($m, time) if $m != $n;
	}
	return $n;
}

# ------------------------------------------------------------------
# A retry storm against a full cap: refused at once, the clients hammer
# the server; queued, they wait.
# ------------------------------------------------------------------
sql(q{
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout)
	VALUES ('storm', 'storm', 2, '0');
	SELECT governor.reload();
});
my @holders = map { gov_hold($node, user => 'app', app => 'storm') } 1 .. 2;
ok($node->poll_query_until('postgres', "SELECT connections = 2 FROM governor.rule_usage WHERE rule = 'storm'"), 'cap full');
my $connstr = "host=127.0.0.1 port=" . $node->port . " dbname=postgres user=app application_name=storm";
my %rate;
for my $mode ('refused at once', 'queued')
{
	sql("UPDATE governor.rules SET queue_timeout = '1s' WHERE name = 'storm'; SELECT governor.reload();")
	  if $mode eq 'queued';
	my $before = connections_received();
	my $t0 = time;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$tmp/stormclient", $connstr, '3', '6', 'SELECT 1' ], '>', \$out, '2>', \$err);
	my $secs = time - $t0;
	my $seen = connections_received_settled() - $before;
	$rate{$mode} = $seen / $secs;
	note sprintf("%s: client %s; the server saw %d logins in %.1f s = %.0f per second",
		$mode, $out =~ s/\n//r, $seen, $secs, $rate{$mode});
}
cmp_ok($rate{'refused at once'}, '>', 50, 'refused at once, six retrying clients hammer the server');
cmp_ok($rate{'queued'}, '<', $rate{'refused at once'} / 10,
	'with a queue the same clients wait: attempts per second drop by more than ten times');
gov_release($_) for @holders;

# ------------------------------------------------------------------
# A login rate: 20 logins at once are spread, never ahead of
# burst + rate x elapsed; a login over the rate is refused at its queue
# timeout saying so.
# ------------------------------------------------------------------
sql(q{
	INSERT INTO governor.rules (name, application_name, max_login_rate, login_burst, queue_timeout)
	VALUES ('rate', 'rate', 10, 3, '10s');
	SELECT governor.reload();
});
my $t0 = time;
my @burst = map { gov_login_bg($node, "INSERT INTO admitted (who) VALUES ('rate')", user => 'app', app => 'rate') } 1 .. 20;
for my $l (@burst)
{
	my ($rc, $out, $err) = gov_login_finish($l);
	is($rc, 0, 'each login of the burst got in') or diag $err;
}
my $took = time - $t0;
my @ts = split /\n/, sql(q{
	SELECT extract(epoch FROM ts - min(ts) OVER ()) FROM admitted WHERE who = 'rate' ORDER BY ts});
is(scalar(@ts), 20, 'twenty admitted');
my $ahead = 0;
for my $k (0 .. $#ts)
{
	# The k+1-th admission at time t: at most burst + rate * t by then.
	$ahead++ if $k + 1 > 3 + 10 * $ts[$k] + 1;
}
is($ahead, 0, 'never more admitted than burst + rate x elapsed');
cmp_ok($ts[-1], '>=', (20 - 3) / 10 - 0.2, sprintf('spread over %.2f s (expected about %.1f s)', $ts[-1], 1.7));
sql("UPDATE governor.rules SET max_login_rate = 1, login_burst = 1, queue_timeout = '300ms' WHERE name = 'rate'; SELECT governor.reload();");
sleep(1.1);
my @two = map { gov_login_bg($node, 'SELECT 1', user => 'app', app => 'rate') } 1 .. 3;
my @errs = map { (gov_login_finish($_))[2] } @two;
my @rate_refusals = grep { /too many logins per second for pg_governor rule "rate"/ } @errs;
is(scalar(@rate_refusals), 2, 'past the rate, logins are refused at the queue timeout');
like($rate_refusals[0] // '', qr/DETAIL:  The rule admits 1 logins per second \(max_login_rate\); this connection waited 0\.[3-9]/,
	'with a DETAIL naming the rate');
is(sql("SELECT total_rejected_rate FROM governor.rule_usage WHERE rule = 'rate'"), '2', 'counted as rate refusals');

# ------------------------------------------------------------------
# governor.max_queued: past it a login is refused at once; an exempt
# operator still gets in.
# ------------------------------------------------------------------
sql(q{
	ALTER SYSTEM SET governor.max_queued = 8;
	SELECT pg_reload_conf();
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout)
	VALUES ('narrow', 'narrow', 1, '30s');
	SELECT governor.reload();
});
ok($node->poll_query_until('postgres', "SELECT current_setting('governor.max_queued') = '8'"), 'max_queued 8');
my $nh = gov_hold($node, user => 'app', app => 'narrow');
ok($node->poll_query_until('postgres', "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'narrow'"), 'slot taken');
my @q = map { gov_login_bg($node, 'SELECT 1', user => 'app', app => 'narrow') } 1 .. 8;
ok($node->poll_query_until('postgres', "SELECT waiting = 8 FROM governor.rule_usage WHERE rule = 'narrow'"),
	'governor.max_queued = 8 logins wait');
$t0 = time;
my ($rc, $out, $err) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'narrow');
like($err, qr/FATAL:  pg_governor: login queue is full/, 'the ninth is refused: queue full');
cmp_ok(time - $t0, '<', 1, 'at once');
ok($node->log_contains(qr/\] 53300 \S+ FATAL:  pg_governor: login queue is full/), 'with 53300');
($rc, $out, $err) = gov_try_login($node, 'SELECT 1', app => 'narrow');
is($rc, 0, 'a superuser (exempt) logs in all the same');
gov_release($nh);
for my $l (@q)
{
	($rc) = gov_login_finish($l);
	is($rc, 0, 'the queued logins get in one by one');
}

# ------------------------------------------------------------------
# Order: priority first, then fair (fewest of the bucket's sessions).
# ------------------------------------------------------------------
sql(q{
	TRUNCATE admitted;
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout, queue_order)
	VALUES ('fairq', 'fq-%', 2, '30s', 'fair');
	INSERT INTO governor.rules (name, application_name, priority) VALUES ('fq_vip', 'fq-vip', 10);
	SELECT governor.reload();
});
my @x = map { gov_hold($node, user => 'app', app => 'fq-x') } 1 .. 2;
ok($node->poll_query_until('postgres', "SELECT connections = 2 FROM governor.rule_usage WHERE rule = 'fairq'"), 'pool x holds the bucket');
my @order;
for my $who (qw(x y vip))
{
	push @order, gov_login_bg($node, "INSERT INTO admitted (who) VALUES ('$who'); SELECT pg_sleep(0.2);",
		user => 'app', app => "fq-$who");
	my $k = scalar @order;
	ok($node->poll_query_until('postgres', "SELECT waiting = $k FROM governor.rule_usage WHERE rule = 'fairq'"), "$who waits");
}
gov_release($x[0]);
gov_login_finish($_) for @order;
gov_release($x[1]);
is(sql("SELECT string_agg(who, ',' ORDER BY ts) FROM admitted"), 'vip,y,x',
	'priority first; then the pool holding fewer of the bucket (y) before the longer waiter (x)');

# ------------------------------------------------------------------
# Idle eviction: a waiting login takes the slot of the longest-idle
# session; never one in a transaction, never a young one.
# ------------------------------------------------------------------
sql(q{
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout, evict_idle_after)
	VALUES ('ev', 'ev-%', 3, '10s', '1s');
	SELECT governor.reload();
});
my $idle_old = gov_hold($node, user => 'app', app => 'ev-old');
ok($node->poll_query_until('postgres', "SELECT state = 'idle' AND query LIKE 'SELECT 1%' FROM pg_stat_activity WHERE application_name = 'ev-old'"),
	'ev-old idle first');
my $idle_new = gov_hold($node, user => 'app', app => 'ev-new');
my $busy = gov_hold($node, user => 'app', app => 'ev-busy', sql => 'BEGIN; SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT connections = 3 FROM governor.rule_usage WHERE rule = 'ev'"), 'bucket full');
# Both idle sessions past evict_idle_after (ev-new, idle since after
# ev-old, last): the eviction must choose between them.
ok(gov_app_wait_state_age($node, 'ev-new', 1.2), 'ev-old and ev-new idle for more than evict_idle_after');
$t0 = time;
my $w = gov_login_bg($node, "SELECT 'in'", user => 'app', app => 'ev-wait');
($rc, $out, $err) = gov_login_finish($w);
is($out, 'in', 'the waiting login got in');
cmp_ok(time - $t0, '<', 2, 'promptly');
# Its client reads the FATAL at its next query.
gov_send($idle_old, 'SELECT 2;');
my $evicted_err = gov_release($idle_old);
is(sql(q{SELECT string_agg(application_name, ',' ORDER BY application_name) FROM governor.events
         WHERE action = 'evict' AND rule = 'ev'}), 'ev-old', 'the longest-idle session was evicted, not the one in a transaction');
ok($node->log_contains(qr/\] 57P05 \S+ FATAL:  terminating connection to admit a waiting login: evict_idle_after of pg_governor rule "ev"/),
	'its client got FATAL 57P05 naming the rule and why');
like($evicted_err, qr/FATAL:  terminating connection to admit a waiting login: evict_idle_after of pg_governor rule "ev"/,
	'and the evicted psql printed it');
is(sql("SELECT total_evicted FROM governor.rule_usage WHERE rule = 'ev'"), '1', 'counted in rule_usage');
like($node->safe_psql('postgres', 'SELECT governor.metrics()'),
	qr/^pg_governor_rule_terminated_total\{rule="ev",reason="evict_idle_after"\} 1$/m, 'and in the metrics');
# Never a young one: with evict_idle_after at 5 s, a bucket of the session
# in a transaction and two idle ones that just logged in stays full for a
# waiter with a 2 s queue timeout, who is refused; once the same two are
# older than evict_idle_after, a waiter takes the place of one of them.
gov_release($idle_new);
sql("UPDATE governor.rules SET queue_timeout = '2s', evict_idle_after = '5s' WHERE name = 'ev'; SELECT governor.reload();");
ok($node->poll_query_until('postgres', "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'ev'"),
	'only the session in a transaction left');
my @young = map { gov_hold($node, user => 'app', app => 'ev-young') } 1 .. 2;
ok($node->poll_query_until('postgres', q{
	SELECT (SELECT connections = 3 AND waiting = 0 FROM governor.rule_usage WHERE rule = 'ev')
	   AND (SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name = 'ev-young' AND state = 'idle')}),
	'full again: two young sessions, idle');
($rc, $out, $err) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'ev-late');
like($err, qr/too many connections for pg_governor rule "ev"/, 'nobody idle long enough: the login waits and is refused');
is(sql("SELECT total_evicted FROM governor.rule_usage WHERE rule = 'ev'"), '1', 'no young session was evicted');
ok(gov_app_wait_state_age($node, 'ev-young', 5.2), 'the same two sessions idle past evict_idle_after');
($rc, $out, $err) = gov_try_login($node, "SELECT 'in'", user => 'app', app => 'ev-later');
is($out, 'in', 'now a waiting login gets in') or diag $err;
is(sql("SELECT count(*) FROM governor.events WHERE action = 'evict' AND rule = 'ev' AND application_name = 'ev-young'"), '1',
	'by evicting one of them');
gov_release($_) for ($busy, @young);

# ------------------------------------------------------------------
# The authentication circuit breaker.
# ------------------------------------------------------------------
$node->append_conf('postgresql.conf', "governor.auth_fail_limit = 3\ngovernor.auth_ban_time = 30s\ngovernor.max_bans = 16\n");
$node->restart;
sub pw_login
{
	my ($host, $password, $user) = @_;
	local $ENV{PGPASSWORD} = $password;
	return gov_try_login($node, 'SELECT 1', host => $host, user => $user // 'pw', app => 'guess',
		dbname => 'guessdb');
}
for (1 .. 3)
{
	($rc, $out, $err) = pw_login('127.0.0.1', 'wrong');
	like($err, qr/password authentication failed/, 'a wrong password');
}
($rc, $out, $err) = pw_login('127.0.0.1', 'right');
like($err, qr/FATAL:  pg_governor: logins of role "pw" from this address are blocked until/,
	'after 3 failures the right password is refused too (superuser included)');
ok($node->log_contains(qr/\] 28000 \S+ FATAL:  pg_governor: logins of role "pw" from this address are blocked/), 'with 28000');
is(sql("SELECT role || ' ' || client_addr || ' ' || failures || ' ' || (\"until\" > now()) FROM governor.bans"),
	'pw 127.0.0.1 3 true', 'governor.bans lists it');
SKIP:
{
	skip 'no IPv6 loopback for a second client address', 1 unless $have_v6;
	($rc, $out, $err) = pw_login('::1', 'right');
	is($rc, 0, 'the same role from another address gets in');
}
($rc, $out, $err) = gov_try_login($node, 'SELECT 1', user => 'pw', app => 'local', dbname => 'guessdb');
is($rc, 0, 'a local socket login is never blocked');
$node->safe_psql('postgres', "ALTER ROLE app PASSWORD 'apppw'");
($rc, $out, $err) = pw_login('127.0.0.1', 'apppw', 'app');
is($rc, 0, 'another role from the blocked address gets in');
is(sql("SELECT count(*) FROM governor.events WHERE action IN ('ban', 'banned_reject')"), '2', 'ban and refusal are events');
is(sql("SELECT governor.unban('pw', '127.0.0.1')"), '1', 'unban lifts it');
($rc, $out, $err) = pw_login('127.0.0.1', 'right');
is($rc, 0, 'and the role logs in from there again');
# Bounded memory: more (role, address) pairs than governor.max_bans.
sql(join('', map { "CREATE ROLE ghost$_ LOGIN PASSWORD 'g';" } 1 .. 20));
for my $i (1 .. 20)
{
	pw_login('127.0.0.1', 'x', "ghost$i") for 1 .. 3;
}
cmp_ok(sql('SELECT count(*) FROM governor.bans'), '<=', 16, 'never more bans than governor.max_bans');
my $forgotten = sql("SELECT count(*) FROM governor.events WHERE action = 'unban' AND reason LIKE '%max_bans'");
cmp_ok($forgotten, '>=', 4, 'and what had to go is an event, not silence');
# Guessed role names that do not exist share one entry per address: they
# cannot push the bans out.
pw_login('127.0.0.1', 'x', "nobody$_") for 1 .. 30;
is(sql("SELECT count(*) FROM governor.bans WHERE role = ''"), '1',
	'thirty role names that do not exist make one ban for the address');
cmp_ok(sql("SELECT count(*) FROM governor.events WHERE action = 'unban' AND reason LIKE '%max_bans'"), '<=', $forgotten + 1,
	'which took the place of one ban at most');
is(sql(q{SELECT value FROM governor.health WHERE signal = 'connection_error_rate_percent'}) > 0 ? 't' : 'f', 't',
	'health counts the breaker\'s refusals as connection errors');

$node->stop;
done_testing();
