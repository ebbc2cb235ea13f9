# Admission: exact caps under a reconnect storm, refusals after the queue
# timeout, caps per address and application pattern, exemptions, and no
# stale count after a backend crash.
use strict;
use warnings;
use lib 'test/t';
use GovTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = gov_node('admission', "max_connections = 60\nauthentication_timeout = 3s\n", tcp => 1);
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE ROLE ops LOGIN;
	CREATE TABLE samples (bucket int);
	CREATE TABLE stormlog (pid int, phase text, ts timestamptz DEFAULT clock_timestamp());
	GRANT ALL ON samples, stormlog TO PUBLIC;
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout)
	VALUES ('storm', 'storm', 5, '200ms');
	SELECT governor.reload();
});

# --- Reconnect storm: 20 clients reconnecting per transaction against a cap of 5,
# while a sampler reads the bucket every 2 ms, and each storm session logs
# when its work starts and ends: at most 5 of those intervals overlap.
my $sampler = gov_hold($node, app => 'sampler', sql => q{
	DO $$ DECLARE b int; BEGIN
	  FOR i IN 1..2000 LOOP
	    SELECT connections INTO b FROM governor.rule_usage WHERE rule = 'storm';
	    INSERT INTO samples VALUES (b);
	    PERFORM pg_stat_clear_snapshot();
	    PERFORM pg_sleep(0.002);
	  END LOOP;
	END $$;});
my $script = $node->basedir . '/storm.sql';
# Independent of our counters, and consistent (unlike a pg_stat_activity
# snapshot, which reads one backend after another): the sessions' own
# timestamps, taken after admission and before they leave.
PostgreSQL::Test::Utils::append_to_file($script, q{
INSERT INTO stormlog (pid, phase) VALUES (pg_backend_pid(), 's');
SELECT pg_sleep(0.01);
INSERT INTO stormlog (pid, phase) VALUES (pg_backend_pid(), 'e');
});
my ($out, $err) = ('', '');
{
	local $ENV{PGAPPNAME} = 'storm';
	IPC::Run::run([ $node->installed_command('pgbench'), '-n', '-C', '-c', '20', '-j', '4', '-T', '4',
		'-U', 'app', '-f', $script, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err);
}
gov_release($sampler);
my ($maxb, $n) = split /\|/, $node->safe_psql('postgres', 'SELECT max(bucket), count(*) FROM samples');
my $maxs = $node->safe_psql('postgres', q{
	SELECT coalesce(max(running), 0) FROM (
	  SELECT sum(CASE phase WHEN 's' THEN 1 ELSE -1 END)
	           OVER (ORDER BY ts, CASE phase WHEN 'e' THEN 0 ELSE 1 END) AS running
	  FROM stormlog) r});
cmp_ok($n, '>', 100, "sampled the bucket $n times during the storm");
cmp_ok($maxb, '<=', 5, "bucket never above its cap of 5 (max seen $maxb)");
cmp_ok($maxs, '<=', 5, "never more than 5 storm sessions working at once, from their own timestamps (max $maxs)");
# Both samplers must have seen the cap reached, or their bounds prove nothing.
cmp_ok($maxb, '>=', 5, 'the storm filled the bucket to its cap while sampled');
cmp_ok($maxs, '>=', 5, 'and 5 storm sessions did work at once');
my $admitted = $node->safe_psql('postgres', "SELECT total_admitted FROM governor.rule_usage WHERE rule = 'storm'");
cmp_ok($admitted, '>', 20, "storm logins admitted: $admitted");
my @refusals = ($err =~ /FATAL:\s+(.*)/g);
my $rejected = $node->safe_psql('postgres', "SELECT total_rejected FROM governor.rule_usage WHERE rule = 'storm'");
note "pgbench saw " . scalar(@refusals) . " refusals, rule_usage counts $rejected";
my @other = grep { !/too many connections for pg_governor rule "storm"/ } @refusals;
is(scalar(@other), 0, 'every refusal pgbench saw names the rule') or diag join("\n", @other);
my $log = slurp_file($node->logfile);
my @fatal = ($log =~ /\] (\S+) \S+ FATAL:  too many connections for pg_governor rule "storm"/g);
my @bad = grep { $_ ne '53300' } @fatal;
cmp_ok(scalar(@fatal), '>=', scalar(@refusals), 'the server log has a FATAL for every refusal');
is(scalar(@bad), 0, 'every refusal in the server log carries SQLSTATE 53300 (' . scalar(@fatal) . ' seen)');
gov_wait_for($node, "SELECT connections = 0 FROM governor.rule_usage WHERE rule = 'storm'",
	'bucket back to zero after the storm');

# --- Refusal after the queue timeout names the rule, the cap and the wait.
$node->safe_psql('postgres', q{
	INSERT INTO governor.rules (name, role, application_name, max_connections, queue_timeout)
	VALUES ('single', 'app', 'single', 1, '500ms');
	SELECT governor.reload();});
my $holder = gov_hold($node, user => 'app', app => 'single');
gov_wait_for($node, "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'single'", 'slot held');
my $t0 = time;
my ($rc, $o, $e) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'single');
my $took = time - $t0;
isnt($rc, 0, 'second login refused');
like($e, qr/FATAL:  too many connections for pg_governor rule "single"/, 'the FATAL names the rule');
like(slurp_file($node->logfile), qr/\] 53300 \S+ FATAL:  too many connections for pg_governor rule "single"/,
	'with SQLSTATE 53300');
like($e, qr/DETAIL:  The rule allows 1 connections, 1 are in use; this connection waited 0\.[5-9]\d\d s\./,
	'DETAIL gives cap, in use and the wait');
cmp_ok($took, '>=', 0.5, 'it waited the queue timeout first');

# A queue longer than authentication_timeout is cut short, and says so.
# The governor refuses 200 ms before authentication_timeout (3 s) would
# fire; had the server's own timeout come first, the client would read
# "canceling authentication due to timeout" (or libpq a timeout) instead.
$node->safe_psql('postgres', "UPDATE governor.rules SET queue_timeout = '30s' WHERE name = 'single'; SELECT governor.reload();");
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'single');
isnt($rc, 0, 'a login queued past authentication_timeout is refused');
like($e, qr/FATAL:  too many connections for pg_governor rule "single"/, 'by the governor, naming the rule');
like($e, qr/cut short by authentication_timeout/, 'the refusal says authentication_timeout cut the wait');
like($e, qr/this connection waited [0-2]\.\d+ s \(the wait was cut short by authentication_timeout\)/,
	'and came before authentication_timeout (3 s) fired: the server measured less than 3 s of waiting');
unlike($e, qr/canceling authentication due to timeout|timeout expired/,
	'the server\'s own authentication timeout did not end the login');

# Freeing the slot admits a queued login at once.
$node->safe_psql('postgres', "UPDATE governor.rules SET queue_timeout = '2s' WHERE name = 'single'; SELECT governor.reload();");
my $queued = gov_hold($node, user => 'app', app => 'single', sql => 'SELECT 42;');
gov_wait_for($node, "SELECT waiting = 1 FROM governor.rule_usage WHERE rule = 'single'", 'login queued');
gov_release($holder);
gov_wait_for($node, "SELECT connections = 1 AND waiting = 0 FROM governor.rule_usage WHERE rule = 'single'",
	'queued login admitted when the slot freed');
like(gov_release($queued), qr/^$/, 'queued login ran without error');

# governor.kill() reaches a login still in the queue at once, and its client
# is told why; the slot holder (another database) is left alone.
$node->safe_psql('postgres', "CREATE DATABASE other; UPDATE governor.rules SET queue_timeout = '20s' WHERE name = 'single'; SELECT governor.reload();");
my $holder2 = gov_hold($node, user => 'app', app => 'single');
gov_wait_for($node, "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'single'", 'slot held again');
my ($kout, $kerr) = ('', '');
my $kh = IPC::Run::start([ $node->installed_command('psql'), '-X', '-d',
	gov_connstr($node, user => 'app', app => 'single', dbname => 'other'), '-c', 'SELECT 1' ], '>', \$kout, '2>', \$kerr);
gov_wait_for($node, "SELECT waiting = 1 FROM governor.rule_usage WHERE rule = 'single'", 'another login queued');
$t0 = time;
is($node->safe_psql('postgres', "SELECT governor.kill('other')"), '1', 'kill() acted on the queued login only');
$kh->finish;
cmp_ok(time - $t0, '<', 5, 'the queued login ended at once, not at its queue timeout');
like($kerr, qr/FATAL:  terminating connection due to pg_governor admin kill/,
	'the queued client receives the admin-kill FATAL');
gov_wait_for($node, "SELECT connections = 1 AND waiting = 0 FROM governor.rule_usage WHERE rule = 'single'",
	'queue empty, the holder still in');
gov_release($holder2);

# --- Caps per client address range and per application pattern.
$node->safe_psql('postgres', q{
	DELETE FROM governor.rules;
	INSERT INTO governor.rules (name, client_addr, max_connections, queue_timeout) VALUES ('lan', '127.0.0.0/8', 1, '0');
	INSERT INTO governor.rules (name, application_name, max_connections, queue_timeout) VALUES ('batch', 'batch-%', 1, '0');
	SELECT governor.reload();});
my $tcp1 = gov_hold($node, host => '127.0.0.1', user => 'app', app => 'tcp-1');
gov_wait_for($node, "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'lan'", 'TCP session counted by CIDR rule');
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', host => '127.0.0.1', user => 'app', app => 'tcp-2');
like($e, qr/too many connections for pg_governor rule "lan"/, 'second TCP session from 127.0.0.0/8 refused');
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'socket');
is($rc, 0, 'Unix-socket session does not match the CIDR rule');
is($node->safe_psql('postgres', "SELECT addr FROM governor.clients WHERE application_name = 'tcp-1'"),
	'127.0.0.1', 'clients shows the client address');
gov_release($tcp1);
my $b1 = gov_hold($node, user => 'app', app => 'batch-1');
gov_wait_for($node, "SELECT connections = 1 FROM governor.rule_usage WHERE rule = 'batch'", 'batch-1 counted');
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'batch-2');
like($e, qr/rule "batch"/, 'batch-2 refused by the application pattern');
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'web-1');
is($rc, 0, 'web-1 does not match batch-%');

# --- Exemptions: superusers (by default) and governor.exempt_roles.
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', app => 'batch-9');
is($rc, 0, 'superuser not capped by a full bucket');
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', user => 'ops', app => 'batch-3');
isnt($rc, 0, 'ops capped before it is exempt');
$node->append_conf('postgresql.conf', "governor.exempt_roles = 'ops'\n");
$node->reload;
gov_wait_for($node, "SELECT current_setting('governor.exempt_roles') = 'ops'", 'governor.exempt_roles = ops in force');
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', user => 'ops', app => 'batch-3');
is($rc, 0, 'role in governor.exempt_roles not capped');
$node->append_conf('postgresql.conf', "governor.exempt_superusers = off\n");
$node->reload;
gov_wait_for($node, "SELECT NOT current_setting('governor.exempt_superusers')::bool", 'governor.exempt_superusers = off in force');
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', app => 'batch-4');
like($e, qr/rule "batch"/, 'superuser capped once governor.exempt_superusers is off');
$node->append_conf('postgresql.conf', "governor.exempt_superusers = on\n");
$node->reload;
gov_wait_for($node, "SELECT current_setting('governor.exempt_superusers')::bool", 'governor.exempt_superusers = on again');

# --- A crashed backend leaves no stale count.
my $victim = $node->safe_psql('postgres', "SELECT pid FROM governor.clients WHERE application_name = 'batch-1'");
kill 'KILL', $victim;
gov_wait_for($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_governor'",
	'the worker is back after the crash-restart');
gov_wait_for($node, "SELECT connections = 0 FROM governor.rule_usage WHERE rule = 'batch'",
	'after the crash-restart the batch bucket is empty');
($rc, $o, $e) = gov_try_login($node, 'SELECT 1', user => 'app', app => 'batch-5');
is($rc, 0, 'and a new batch login is admitted');
gov_release($b1);

$node->stop;
done_testing();
