# Hardening: the worker resolves nothing through a schema a user
# can write; queued logins leave when their client hangs up and show in the
# governor's views; enforcement goes on while governor.rules is locked; a
# hostile application_name pattern costs nothing; a reserve is reached by
# waiting for it; only sessions that really start make pools; a renamed
# role is reported; rules in a database the worker does not read are
# flagged; idle peers cannot starve /metrics; a queued login is woken only
# by a release that can admit it.
use strict;
use warnings;
use lib 'test/t';
use GovTest;
use IO::Select;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = gov_node('hardening', qq{
max_connections = 40
max_locks_per_transaction = 512
governor.max_pools = 10
}, tcp => 1, no_extension => 1);

# ------------------------------------------------------------------
# 1. A user-defined operator is never run by the worker.
#    governor.database = appdb, owned by a non-superuser who can create
#    objects in its public schema (PostgreSQL 15+ default for an owner).
# ------------------------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE ROLE dbowner LOGIN;
	CREATE ROLE app LOGIN;
	CREATE ROLE other LOGIN;
	CREATE DATABASE appdb OWNER dbowner;
	ALTER SYSTEM SET governor.database = 'appdb';
});
$node->restart;
$node->safe_psql('appdb', 'CREATE EXTENSION pg_governor');
gov_wait_for($node,
	"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'pg_governor' AND datname = 'appdb')",
	'the worker connects to governor.database appdb');
is($node->safe_psql('appdb', q{
	SET ROLE dbowner;
	CREATE FUNCTION public.evil(a numeric, b integer) RETURNS numeric
	LANGUAGE plpgsql AS $$
	BEGIN
		EXECUTE 'ALTER ROLE dbowner SUPERUSER';
		RETURN a * b::numeric;
	END $$;
	CREATE OPERATOR public.* (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.evil);
	RESET ROLE;
	INSERT INTO governor.rules (name, queue_timeout, idle_timeout, mode)
	VALUES ('bait', '5s', '1h', 'monitor');
	SELECT governor.reload();
}), 't', 'the worker read the rules with the operator in place (governor.reload() returns after its pass)');
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'"),
	'f', 'the database owner did not become superuser through the worker');
is($node->safe_psql('appdb', "SELECT count(*) FROM governor.rule_usage WHERE rule = 'bait' AND mode = 'monitor'"),
	'1', 'and the rules were read all the same');

# ------------------------------------------------------------------
# 2. A queued login whose client gives up leaves at once; meanwhile it
#    shows in governor.clients and governor.pools.
# ------------------------------------------------------------------
$node->safe_psql('appdb', q{
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout)
	VALUES ('one', 'cap1', 1, '25s');
	SELECT governor.reload();
});
my $holder = gov_hold($node, user => 'app', app => 'cap1', dbname => 'appdb');
ok($node->poll_query_until('appdb', "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'one'"), 'the only place of rule one is held');
my @quitters = map {
	gov_login_bg($node, 'SELECT 1', user => 'app', app => 'cap1', dbname => 'appdb',
		conn => 'connect_timeout=2')
} 1 .. 5;
ok($node->poll_query_until('appdb',
		"SELECT count(*) = 5 FROM governor.clients WHERE application_name = 'cap1' AND state = 'waiting'"),
	'five queued logins show in governor.clients as waiting');
is($node->safe_psql('appdb', "SELECT cl_waiting FROM governor.pools WHERE application_name = 'cap1'"),
	'5', 'and in governor.pools as cl_waiting');
for my $q (@quitters)
{
	my ($rc, $out, $err) = gov_login_finish($q);
	like($err, qr/timeout expired/, 'the client gave up after connect_timeout');
}
my $gone = time;
ok($node->poll_query_until('appdb',
		"SELECT count(*) = 0 FROM governor.clients WHERE application_name = 'cap1' AND state = 'waiting'"),
	'the abandoned logins left the queue');
cmp_ok(time - $gone, '<', 2, 'within a moment of their clients hanging up, not at the 25 s queue timeout');
is($node->safe_psql('appdb', "SELECT waiting FROM governor.rule_usage WHERE rule = 'one'"), '0',
	'the rule counts no waiter');
# A login records its event after it gave its queue place back: wait for it.
ok($node->poll_query_until('appdb',
		"SELECT count(*) FROM governor.events WHERE action = 'abandon' AND reason = 'client_disconnected'", '5'),
	'each abandoned login is an event');
gov_release($holder);

# ------------------------------------------------------------------
# 3. Enforcement goes on while governor.rules is locked.
# ------------------------------------------------------------------
$node->safe_psql('appdb', q{
	INSERT INTO governor.rules (name, application_name, idle_in_transaction_timeout)
	VALUES ('iit', 'iit', '1s');
	SELECT governor.reload();
});
my $locker = $node->background_psql('appdb');
$locker->query_safe('BEGIN; LOCK TABLE governor.rules IN ACCESS EXCLUSIVE MODE;');
ok($node->poll_query_until('appdb', "SELECT status <> 'ok' FROM governor.health WHERE signal = 'rules_state'"),
	'health shows the rules could not be read while the table is locked');
my $t0 = time;
my $idle = gov_hold($node, user => 'app', app => 'iit', dbname => 'appdb', sql => "BEGIN; SELECT 'iit in';");
# In first: a login not yet registered would pass the check below at once,
# and its release would end it before its limit.
ok(gov_wait_output($idle, qr/iit in/), 'the session is in its transaction');
ok($node->poll_query_until('appdb', "SELECT count(*) = 0 FROM governor.clients WHERE application_name = 'iit'"),
	'the idle-in-transaction session is terminated while governor.rules is locked');
cmp_ok(time - $t0, '<', 3, 'on time: limit 1 s, not blocked behind the lock');
gov_release($idle);
ok($node->poll_query_until('appdb', q{
	SELECT count(*) = 1 FROM governor.events WHERE action = 'terminate' AND rule = 'iit'
	   AND reason = 'idle_in_transaction_timeout'}), 'booked to its rule');
$locker->query_safe('COMMIT');
$locker->quit;
ok($node->poll_query_until('appdb', "SELECT status = 'ok' FROM governor.health WHERE signal = 'rules_state'"),
	'rules read again once the lock is gone');

# ------------------------------------------------------------------
# 4. A pattern with many % costs nothing, however long the name.
# ------------------------------------------------------------------
$node->safe_psql('appdb', q{
	INSERT INTO governor.rules (name, application_name, max_connections)
	VALUES ('nasty', '%a%a%a%a%a%a%a%b', 1000);
	SELECT governor.reload();
});
my $long = 'a' x 63;
$t0 = time;
my ($rc, $out, $err) = gov_try_login($node, 'SELECT 1', user => 'app', app => $long, dbname => 'appdb');
my $took = time - $t0;
is($rc, 0, 'a login whose application_name defeats a backtracking matcher gets in');
cmp_ok($took, '<', 2, "and it took $took s, not minutes");
my $m1 = gov_hold($node, user => 'app', app => 'aaaaaaab', dbname => 'appdb');
my $m2 = gov_hold($node, user => 'app', app => 'aaaaaaaaaaaaaaaa', dbname => 'appdb');
ok($node->poll_query_until('appdb', q{
	SELECT count(*) = 2 FROM governor.clients WHERE application_name IN ('aaaaaaab', 'aaaaaaaaaaaaaaaa')}),
	'two sessions up');
is($node->safe_psql('appdb', q{
	SELECT string_agg(application_name || ':' || ('nasty' = ANY (coalesce(rules, '{}'))), ' ' ORDER BY application_name)
	FROM governor.clients WHERE application_name IN ('aaaaaaab', 'aaaaaaaaaaaaaaaa')}),
	'aaaaaaaaaaaaaaaa:false aaaaaaab:true', 'the pattern still matches what LIKE matches');
gov_release($m1);
gov_release($m2);

# ------------------------------------------------------------------
# 5. A reserve is reached by waiting for it, even with queue_timeout 0.
# ------------------------------------------------------------------
$node->safe_psql('appdb', q{
	INSERT INTO governor.rules (name, application_name, max_connections, reserve_connections, reserve_timeout)
	VALUES ('res', 'res', 1, 1, '300ms');
	SELECT governor.reload();
});
my $r1 = gov_hold($node, user => 'app', app => 'res', dbname => 'appdb');
ok($node->poll_query_until('appdb', "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'res'"), 'the first login takes the place of rule res');
$t0 = time;
my $r2 = gov_hold($node, user => 'app', app => 'res', dbname => 'appdb');
ok($node->poll_query_until('appdb', "SELECT connections = 2 FROM governor.rule_usage WHERE rule = 'res'"),
	'the second login gets the reserve slot');
cmp_ok(time - $t0, '>=', 0.3, 'after waiting reserve_timeout');
($rc, $out, $err) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'res', dbname => 'appdb');
like($err, qr/too many connections for pg_governor rule "res".*\n.*allows 2 connections, 2 are in use; this connection waited 0\.[3-9]/,
	'a third is refused once reserve_timeout has passed, naming cap and reserve');
gov_release($r1);
gov_release($r2);

# ------------------------------------------------------------------
# 7. Only sessions that really start make pools; nothing a client sends
#    is stored unvalidated.
# ------------------------------------------------------------------
gov_try_login($node, 'SELECT 1', user => 'app', app => "bad\xff", dbname => "bad\xffdb");
gov_try_login($node, 'SELECT 1', user => "nobody\xfe", app => 'x', dbname => 'appdb');
$node->safe_psql('postgres', 'CREATE DATABASE locked; REVOKE CONNECT ON DATABASE locked FROM PUBLIC;');
($rc, $out, $err) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'not-let-in', dbname => 'locked');
like($err, qr/permission denied for database "locked"/, 'a login the server refuses after authentication');
for my $i (1 .. 15)
{
	gov_try_login($node, 'SELECT 1', user => 'app', app => "ghost$i", dbname => "nosuchdb$i");
}
($rc, $out, $err) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'newapp', dbname => 'appdb');
is($rc, 0, 'a real new application logs in');
is($node->safe_psql('appdb', q{
	SELECT count(*) FROM governor.pool_stats WHERE database LIKE 'nosuchdb%' OR database LIKE 'bad%'
	    OR application_name LIKE 'ghost%' OR "user" LIKE 'nobody%'}),
	'0', 'logins to databases that do not exist left no pool');
is($node->safe_psql('appdb', "SELECT total_connections FROM governor.pool_stats WHERE application_name = 'newapp'"),
	'1', 'the new application has a pool of its own, not the overflow row');
is($node->safe_psql('appdb', q{
	SELECT coalesce(sum(total_connections), 0) FROM governor.pool_stats WHERE database = 'locked'}),
	'0', 'a login refused after authentication is not counted as a connection');
is($node->safe_psql('appdb', q{
	SET client_encoding = 'LATIN1';
	SELECT count(*) > 0 FROM governor.pool_stats, governor.stats, governor.events, governor.clients}),
	't', 'a LATIN1 client reads every view');

# ------------------------------------------------------------------
# 8. A renamed role switches its rule off visibly.
# ------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE ROLE oldname LOGIN');
$node->safe_psql('appdb', q{
	INSERT INTO governor.rules (name, role, max_connections) VALUES ('by_role', 'oldname', 5);
	SELECT governor.reload();
});
is($node->safe_psql('appdb', "SELECT problem IS NULL FROM governor.rule_usage WHERE rule = 'by_role'"),
	't', 'a rule naming an existing role has no problem');
$node->safe_psql('postgres', 'ALTER ROLE oldname RENAME TO newname');
ok($node->poll_query_until('appdb', q{
	SELECT problem LIKE 'role "oldname" was renamed to "newname"%' FROM governor.rule_usage WHERE rule = 'by_role'}),
	'rule_usage says the role was renamed');
ok($node->poll_query_until('appdb', q{
	SELECT count(*) = 1 FROM governor.events WHERE action = 'rule_problem' AND rule = 'by_role'}),
	'once, as an event');
ok($node->log_contains(qr/WARNING:  pg_governor rule "by_role" matches nobody: role "oldname" was renamed to "newname"/),
	'and a WARNING in the server log');
$node->safe_psql('appdb', "UPDATE governor.rules SET role = 'newname' WHERE name = 'by_role'; SELECT governor.reload();");
ok($node->poll_query_until('appdb', "SELECT problem IS NULL FROM governor.rule_usage WHERE rule = 'by_role'"),
	'naming it again clears the problem');

# ------------------------------------------------------------------
# 9. Rules in a database the worker does not read are flagged.
# ------------------------------------------------------------------
($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION pg_governor');
like($err, qr/WARNING:  governor.rules of database "postgres" will not be used/,
	'CREATE EXTENSION outside governor.database warns');
($rc, $out, $err) = $node->psql('postgres', 'SELECT governor.reload()');
like($err, qr/ERROR:  governor.rules of database "postgres" is not used/, 'reload() there is an error');
($rc, $out, $err) = $node->psql('postgres', "INSERT INTO governor.rules (name) VALUES ('lost')");
like($err, qr/WARNING:  governor.rules of database "postgres" is not used/, 'a rule written there warns');
is($node->safe_psql('postgres', "SELECT count(*) > 0 FROM governor.pools"), 't',
	'the views work there');

# ------------------------------------------------------------------
# 10. Idle peers cannot keep scrapers off /metrics; a client outside
#     governor.metrics_allowed_clients is refused.
# ------------------------------------------------------------------
my $port = PostgreSQL::Test::Cluster::get_free_port();
$node->safe_psql('postgres', qq{
	ALTER SYSTEM SET governor.metrics_listen_address = '127.0.0.1';
	ALTER SYSTEM SET governor.metrics_port = $port;
	SELECT pg_reload_conf();});
ok(wait_port($port), 'the endpoint listens');
my @idle_peers;
my $ok = 0;
for (1 .. 20)
{
	# Fresh idle peers before every scrape: more than the endpoint's 8 slots.
	close($_) for grep { defined } @idle_peers;
	@idle_peers = map { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 2) } 1 .. 12;
	sleep(0.05);
	$ok++ if scrape('127.0.0.1', $port) =~ /^HTTP\/1.1 200 OK/;
}
is($ok, 20, 'every scrape succeeded while 12 idle connections were held open');
close($_) for grep { defined } @idle_peers;
$node->safe_psql('postgres', "ALTER SYSTEM SET governor.metrics_allowed_clients = '127.0.0.2/32'; SELECT pg_reload_conf();");
ok($node->poll_query_until('postgres', "SELECT current_setting('governor.metrics_allowed_clients') = '127.0.0.2/32'"),
	'allowed clients set');
# The worker applies it at its next SIGHUP: scrape until it does.
my $outside;
my $acl_deadline = time + $PostgreSQL::Test::Utils::timeout_default;
do
{
	$outside = scrape('127.0.0.1', $port);
	sleep(0.05) if $outside ne '';
} while ($outside ne '' && time < $acl_deadline);
is($outside, '', 'a client outside metrics_allowed_clients gets nothing');
is(join('', map { scrape('127.0.0.1', $port) } 1 .. 3), '', 'every time');
like(scrape('127.0.0.1', $port, '127.0.0.2'), qr/^HTTP\/1.1 200 OK/, 'one inside it is served');
($rc, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET governor.metrics_allowed_clients = '10.0.0.0/33'");
like($err, qr/invalid value for parameter "governor.metrics_allowed_clients"/, 'a bad range is refused');

# ------------------------------------------------------------------
# 15. A release wakes only a login it can admit.
# ------------------------------------------------------------------
$node->safe_psql('appdb', q{
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout)
	VALUES ('full', 'full', 1, '60s');
	SELECT governor.reload();
});
my $fh = gov_hold($node, user => 'app', app => 'full', dbname => 'appdb');
ok($node->poll_query_until('appdb', "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'full'"), 'the only place of rule full is held');
my @queued = map { gov_login_bg($node, 'SELECT 1', user => 'app', app => 'full', dbname => 'appdb') } 1 .. 8;
ok($node->poll_query_until('appdb', "SELECT waiting = 8 FROM governor.rule_usage WHERE rule = 'full'"),
	'eight logins queued');
my @pids = split /\n/, $node->safe_psql('appdb',
	"SELECT pid FROM governor.clients WHERE application_name = 'full' AND state = 'waiting'");
my %before = map { $_ => ctxt($_) } @pids;
for (1 .. 100)
{
	gov_try_login($node, 'SELECT 1', user => 'other', app => 'churn', dbname => 'appdb');
}
my $woken = 0;
for my $pid (@pids)
{
	my $after = ctxt($pid);
	note "pid $pid: voluntary context switches $before{$pid} -> $after";
	$woken += $after - $before{$pid};
}
cmp_ok($woken, '<=', 8, "100 unrelated logins and exits woke the 8 queued logins $woken times in all");
gov_release($fh);
for my $q (@queued)
{
	($rc) = gov_login_finish($q);
	is($rc, 0, 'each queued login got in when the slot passed along');
}

# ------------------------------------------------------------------
# A terminated session is ended once, however long it takes to exit
# (here: dropping its thousands of temp tables).
# ------------------------------------------------------------------
my $slow = gov_hold($node, user => 'app', app => 'slowexit', dbname => 'appdb', sql => join('', map {
	"DO \$\$ BEGIN FOR i IN ${_}001..${\($_ + 1)}000 LOOP EXECUTE format('CREATE TEMP TABLE t%s (a int)', i); END LOOP; END \$\$;\n"
} 0 .. 3));
ok($node->poll_query_until('appdb', q{
	SELECT count(*) = 4000 FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'}),
	'a session with thousands of temp tables');
$node->safe_psql('appdb', q{
	INSERT INTO governor.rules (name, application_name, max_transaction_duration)
	VALUES ('slowexit', 'slowexit', '1s');
	SELECT governor.reload();
});
gov_send($slow, 'SELECT pg_sleep(30);');
ok($node->poll_query_until('appdb', q{
	SELECT count(*) = 1 FROM governor.events WHERE rule = 'slowexit' AND action = 'terminate'}),
	'the long transaction is terminated');
ok($node->poll_query_until('appdb', "SELECT count(*) = 0 FROM governor.clients WHERE application_name = 'slowexit'"),
	'and its session is gone');
is($node->safe_psql('appdb', q{
	SELECT count(*) FROM governor.events WHERE rule = 'slowexit' AND action = 'terminate'}),
	'1', 'terminated once, not again while it was exiting');
is($node->safe_psql('appdb', "SELECT total_terminated_transaction_duration FROM governor.rule_usage WHERE rule = 'slowexit'"),
	'1', 'and counted once');
gov_release($slow);

$node->stop;

# ------------------------------------------------------------------
# 6. A worker that cannot read the rules: no restart loop, no long wait,
#    the state shows in health, and the policy is a setting.
# ------------------------------------------------------------------
my $nodb = gov_node('nodb', "governor.database = 'nosuchdb'\n", no_extension => 1);
$nodb->safe_psql('postgres', 'CREATE EXTENSION pg_governor; CREATE ROLE app LOGIN;');
$t0 = time;
($rc, $out, $err) = gov_try_login($nodb, 'SELECT 1', user => 'app', app => 'early');
is($rc, 0, 'a governed login is admitted (governor.rules_unavailable = admit)');
cmp_ok(time - $t0, '<', 3, 'without a long wait for rules that cannot come');
sleep(3);
is(gov_count_log($nodb, qr/FATAL:  database "nosuchdb" does not exist/), 1,
	'the worker failed to connect once, not once a second');
is(gov_count_log($nodb, qr/WARNING:  pg_governor: database "nosuchdb" named by governor.database does not exist/), 1,
	'and said so once');
is($nodb->safe_psql('postgres', "SELECT value || ' ' || status FROM governor.health WHERE signal = 'rules_state'"),
	'2 crit', 'health says no rules are loaded');
like($nodb->safe_psql('postgres', 'SELECT governor.metrics()'),
	qr/^pg_governor_health_value\{signal="rules_state"\} 2/m, 'so do the metrics');
$nodb->safe_psql('postgres', "ALTER SYSTEM SET governor.rules_unavailable = 'refuse'; SELECT pg_reload_conf();");
ok($nodb->poll_query_until('postgres', "SELECT current_setting('governor.rules_unavailable') = 'refuse'"),
	'governor.rules_unavailable = refuse in force');
($rc, $out, $err) = gov_try_login($nodb, 'SELECT 1', user => 'app', app => 'strict');
like($err, qr/FATAL:  pg_governor: connection rules are not loaded/,
	'with rules_unavailable = refuse a governed login is refused');
ok($nodb->log_contains(qr/\] 53300 \S+ FATAL:  pg_governor: connection rules are not loaded/), 'with 53300');
($rc, $out, $err) = gov_try_login($nodb, 'SELECT 1', app => 'operator');
is($rc, 0, 'a superuser still gets in');
$nodb->safe_psql('postgres', 'CREATE DATABASE nosuchdb');
ok($nodb->poll_query_until('postgres',
		"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'pg_governor' AND datname = 'nosuchdb')"),
	'once the database exists the worker connects to it');
ok($nodb->poll_query_until('postgres', "SELECT status = 'ok' FROM governor.health WHERE signal = 'rules_state'"),
	'and health is ok again');
$nodb->stop;

# ------------------------------------------------------------------
# 13. A wall-clock step backwards does not stall the worker's cadences.
# ------------------------------------------------------------------
my $shim = PostgreSQL::Test::Utils::tempdir() . '/clockshift.so';
system('cc', '-shared', '-fPIC', '-O2', '-o', $shim, 'test/lib/clockshift.c', '-ldl') == 0
  or die 'could not build the clock shim';
my $shift = PostgreSQL::Test::Utils::tempdir() . '/shift';
PostgreSQL::Test::Utils::append_to_file($shift, "0\n");
my $clock = gov_node('clock', '', env => { LD_PRELOAD => $shim, GOV_CLOCK_SHIFT_FILE => $shift });
$clock->safe_psql('postgres', 'SELECT governor.reload()');
open(my $sf, '>', $shift) or die;
print $sf "-3600\n";
close($sf);
# The shim re-reads the file every 20 ms at most.  Wait until a new
# backend's wall clock is an hour behind ours (this process runs without
# the shim), which proves the shim is in the server at all, and until the
# worker's state_change is too: the worker stamps it with its own wall
# clock at every rules read, so the worker has lived through the step
# before the rule below is written.
my ($behind, $worker_behind) = (0, 0);
my $stepped = sub { abs($_[0] - 3600) < 60 };
my $clock_deadline = time + $PostgreSQL::Test::Utils::timeout_default;
while (time < $clock_deadline)
{
	$behind = time - $clock->safe_psql('postgres', 'SELECT extract(epoch FROM now())');
	my $w = $clock->safe_psql('postgres',
		"SELECT extract(epoch FROM state_change) FROM pg_stat_activity WHERE backend_type = 'pg_governor'");
	$worker_behind = $w eq '' ? 0 : time - $w;
	last if $stepped->($behind) && $stepped->($worker_behind);
	sleep(0.05);
}
ok($stepped->($behind), sprintf('a new backend\'s wall clock stepped back an hour (%.1f s behind)', $behind));
ok($stepped->($worker_behind), sprintf('so did the worker\'s, at a rules read after the step (%.1f s behind)', $worker_behind));
# Written with triggers off (as on a standby or by pg_restore): only the
# worker's own polling can find it.
$clock->safe_psql('postgres', q{
	SET session_replication_role = replica;
	INSERT INTO governor.rules (name, max_connections) VALUES ('polled', 10);});
ok($clock->poll_query_until('postgres', "SELECT count(*) = 1 FROM governor.rule_usage WHERE rule = 'polled'"),
	'after the wall clock stepped back an hour, the worker still polls the rules');
$clock->stop;

done_testing();

# ------------------------------------------------------------------
sub ctxt
{
	my ($pid) = @_;
	open(my $f, '<', "/proc/$pid/status") or return 0;
	while (my $line = <$f>)
	{
		return $1 if $line =~ /^voluntary_ctxt_switches:\s+(\d+)/;
	}
	return 0;
}

sub wait_port
{
	my ($p) = @_;
	for (1 .. 100)
	{
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p, Timeout => 1);
		return 1 if $s;
		sleep(0.1);
	}
	return 0;
}

sub scrape
{
	my ($host, $p, $from) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $p, Timeout => 3,
		$from ? (LocalAddr => $from) : ()) or return '';
	my $sel = IO::Select->new($s);
	my $resp = '';
	syswrite($s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	while ($sel->can_read(5))
	{
		my $n = sysread($s, my $buf, 65536);
		last unless $n;
		$resp .= $buf;
	}
	close($s);
	return $resp;
}
