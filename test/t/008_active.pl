# Active-transaction slots (max_active): never more than max_active of a
# rule's sessions inside a transaction, with real concurrent clients in the
# simple and extended protocols, pipelines, implicit and explicit
# transactions; waiting order by priority then fifo or fair; the queue
# timeout (53400), statement_timeout, cancel and terminate end a wait; a
# slot comes back after an error, a crash and PREPARE TRANSACTION; pause
# holds new transactions; a wait for a slot is not transaction time;
# monitor mode never waits; the views show it.
use strict;
use warnings;
use lib 'test/t';
use GovTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = gov_node('active', "max_connections = 60\nmax_prepared_transactions = 5\n");
my $v = $node->safe_psql('postgres', 'SHOW server_version_num');
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE TABLE xlog (pid int, phase text, ts timestamptz DEFAULT clock_timestamp());
	CREATE TABLE ord (who text, ts timestamptz DEFAULT clock_timestamp());
	GRANT ALL ON xlog, ord TO app;
	-- One implicit transaction: start, a short wait, end.
	CREATE FUNCTION xpair() RETURNS void LANGUAGE sql AS $$
		INSERT INTO xlog (pid, phase) VALUES (pg_backend_pid(), 's');
		SELECT pg_sleep(0.002);
		INSERT INTO xlog (pid, phase) VALUES (pg_backend_pid(), 'e');
	$$;
	INSERT INTO governor.rules (name, application_name, max_active, queue_timeout)
	VALUES ('churn', 'churn%', 3, '30s');
	SELECT governor.reload();
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

# How many of a rule's transactions overlapped at most (from their own
# start/end timestamps, taken inside the transaction).
sub max_overlap
{
	return sql(q{
		SELECT coalesce(max(running), 0) FROM (
		  SELECT sum(CASE phase WHEN 's' THEN 1 ELSE -1 END)
		           OVER (ORDER BY ts, CASE phase WHEN 'e' THEN 0 ELSE 1 END) AS running
		  FROM xlog) r});
}

# ------------------------------------------------------------------
# Exactness under churn: 12 clients, four ways of running transactions.
# ------------------------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$dir/explicit.sql", q{
BEGIN;
INSERT INTO xlog (pid, phase) VALUES (pg_backend_pid(), 's');
SELECT pg_sleep(0.002);
INSERT INTO xlog (pid, phase) VALUES (pg_backend_pid(), 'e');
COMMIT;
});
PostgreSQL::Test::Utils::append_to_file("$dir/implicit.sql", "SELECT xpair();\n");
PostgreSQL::Test::Utils::append_to_file("$dir/pipeline.sql", q{
\startpipeline
INSERT INTO xlog (pid, phase) VALUES (pg_backend_pid(), 's');
SELECT pg_sleep(0.002);
INSERT INTO xlog (pid, phase) VALUES (pg_backend_pid(), 'e');
\endpipeline
});
my $sampler = gov_hold($node, app => 'sampler', sql => q{
	CREATE TABLE samples (active int, in_xact int);
	DO $$ BEGIN
	  FOR i IN 1..1500 LOOP
	    INSERT INTO samples
	    SELECT (SELECT active FROM governor.rule_usage WHERE rule = 'churn'),
	           (SELECT count(*) FROM governor.servers WHERE application_name LIKE 'churn%' AND state = 'active');
	    PERFORM pg_sleep(0.002);
	  END LOOP;
	END $$;});
my @runs;
for my $job ([ 'explicit', 'simple' ], [ 'implicit', 'prepared' ], [ 'pipeline', 'extended' ], [ 'explicit', 'prepared' ])
{
	my ($script, $mode) = @$job;
	local $ENV{PGAPPNAME} = "churn-$script-$mode";
	my ($out, $err) = ('', '');
	push @runs, [ IPC::Run::start([ $node->installed_command('pgbench'), '-n', '-c', '3', '-j', '3', '-t', '40',
		'-M', $mode, '-U', 'app', '-f', "$dir/$script.sql", '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err), \$out, \$err, "$script/$mode" ];
}
for my $r (@runs)
{
	$r->[0]->finish;
	is($? >> 8, 0, "pgbench $r->[3] finished") or diag ${ $r->[2] };
}
gov_release($sampler);
is(sql("SELECT count(*) FROM xlog WHERE phase = 'e'"), 12 * 40, 'every transaction completed');
cmp_ok(max_overlap(), '<=', 3, 'never more than max_active = 3 transactions overlapped (from their own timestamps)');
cmp_ok(max_overlap(), '>=', 2, 'and the slots were used concurrently');
my ($maxa, $maxs, $n) = split /\|/, sql('SELECT max(active), max(in_xact), count(*) FROM samples');
cmp_ok($n, '>', 100, "sampled $n times");
cmp_ok($maxa, '<=', 3, "rule_usage.active never above 3 (max $maxa)");
cmp_ok($maxs, '<=', 3, "governor.servers never showed more than 3 in a transaction (max $maxs)");
# Both samplers must have seen the cap reached, or their bounds prove nothing.
cmp_ok($maxa, '>=', 3, 'rule_usage.active reached max_active = 3 while sampled');
cmp_ok($maxs, '>=', 3, 'and governor.servers showed 3 in a transaction at once');
ok($node->poll_query_until('postgres', "SELECT active = 0 AND active_waiting = 0 FROM governor.rule_usage WHERE rule = 'churn'"),
	'every slot back afterwards');
cmp_ok(sql("SELECT total_active_waits FROM governor.rule_usage WHERE rule = 'churn'"), '>', 0,
	'transactions did wait for a slot');

# ------------------------------------------------------------------
# Waiting: the views, the wait event, order by priority then fifo.
# ------------------------------------------------------------------
sql(q{
	INSERT INTO governor.rules (name, application_name, max_active, queue_timeout)
	VALUES ('one', 'one-%', 1, '30s');
	INSERT INTO governor.rules (name, application_name, priority) VALUES ('vip', 'one-vip', 5);
	SELECT governor.reload();
});
my $holder = gov_hold($node, user => 'app', app => 'one-holder', sql => 'BEGIN; SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT active = 1 FROM governor.rule_usage WHERE rule = 'one'"), 'slot held');
my @w;
for my $who (qw(a b vip))
{
	push @w, gov_login_bg($node, "BEGIN; INSERT INTO ord VALUES ('$who'); COMMIT;", user => 'app', app => "one-$who");
	my $k = scalar @w;
	ok($node->poll_query_until('postgres', "SELECT active_waiting = $k FROM governor.rule_usage WHERE rule = 'one'"),
		"$who waits for the slot");
}
is(sql("SELECT state FROM governor.clients WHERE application_name = 'one-a'"), 'waiting', 'clients.state says waiting');
is(sql("SELECT cl_waiting || ' ' || pool_mode FROM governor.pools WHERE application_name = 'one-b'"),
	'1 transaction', 'pools: cl_waiting, pool_mode transaction');
ok(sql("SELECT maxwait * 1000000 + maxwait_us > 0 FROM governor.pools WHERE application_name = 'one-a'") eq 't',
	'maxwait counts the wait');
is(sql("SELECT wait_event_type || ':' || wait_event FROM pg_stat_activity WHERE application_name = 'one-a'"),
	$v >= 170000 ? 'Extension:GovernorActiveSlot' : 'Extension:Extension',
	'pg_stat_activity shows what it waits for');
# The holder is inside its transaction: it never waits for its own rule.
gov_send($holder, 'SELECT 2; SELECT 3;');
gov_send($holder, 'COMMIT;');
for my $l (@w)
{
	my ($rc, $out, $err) = gov_login_finish($l);
	is($rc, 0, 'each waiter ran its transaction') or diag $err;
}
is(sql("SELECT string_agg(who, ',' ORDER BY ts) FROM ord"), 'vip,a,b', 'the higher priority first, then first come first served');
gov_release($holder);

# ------------------------------------------------------------------
# queue_order = 'fair': the waiter whose pool holds the fewest slots.
# ------------------------------------------------------------------
sql(q{
	TRUNCATE ord;
	INSERT INTO governor.rules (name, application_name, max_active, queue_timeout, queue_order)
	VALUES ('fair', 'fair-%', 2, '30s', 'fair');
	SELECT governor.reload();
});
my $x1 = gov_hold($node, user => 'app', app => 'fair-x', sql => 'BEGIN; SELECT 1;');
my $x2 = gov_hold($node, user => 'app', app => 'fair-x', sql => 'BEGIN; SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT active = 2 FROM governor.rule_usage WHERE rule = 'fair'"), 'pool x holds both slots');
my $x3 = gov_login_bg($node, "BEGIN; INSERT INTO ord VALUES ('x3'); COMMIT;", user => 'app', app => 'fair-x');
ok($node->poll_query_until('postgres', "SELECT active_waiting = 1 FROM governor.rule_usage WHERE rule = 'fair'"), 'x3 waits');
my $y1 = gov_login_bg($node, "BEGIN; INSERT INTO ord VALUES ('y1'); SELECT pg_sleep(0.3); COMMIT;", user => 'app', app => 'fair-y');
ok($node->poll_query_until('postgres', "SELECT active_waiting = 2 FROM governor.rule_usage WHERE rule = 'fair'"), 'then y1 waits');
gov_send($x1, 'COMMIT;');
gov_login_finish($y1);
gov_send($x2, 'COMMIT;');
gov_login_finish($x3);
is(sql("SELECT string_agg(who, ',' ORDER BY ts) FROM ord"), 'y1,x3',
	'the freed slot went to the pool holding none, before the longer waiter of the pool holding one');
gov_release($x1);
gov_release($x2);

# ------------------------------------------------------------------
# Ending a wait: queue timeout (53400, the session stays usable),
# statement_timeout, pg_cancel_backend, pg_terminate_backend.
# ------------------------------------------------------------------
sql(q{
	INSERT INTO governor.rules (name, application_name, max_active, queue_timeout)
	VALUES ('short', 'short-%', 1, '500ms');
	SELECT governor.reload();
});
$holder = gov_hold($node, user => 'app', app => 'short-holder', sql => 'BEGIN; SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT active = 1 FROM governor.rule_usage WHERE rule = 'short'"), 'slot held');
my $t0 = time;
my ($rc, $out, $err) = gov_try_login($node, 'BEGIN', user => 'app', app => 'short-late');
like($err, qr/ERROR:  53400: too many active transactions for pg_governor rule "short"/, 'the queue timeout gives 53400 naming the rule');
like($err, qr/DETAIL:  The rule allows 1 sessions inside a transaction at once \(max_active\), 1 are; this transaction waited 0\.[5-9]/,
	'with the cap and the wait');
# A session of its own (short-late2, also matched by short-%) is refused
# the same way and stays usable.
my $late = gov_hold($node, user => 'app', app => 'short-late2', sql => 'BEGIN;');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM governor.events WHERE action = 'reject' AND reason = 'max_active' AND application_name = 'short-late2'"),
	'refusal recorded');
gov_send($holder, 'COMMIT;');
gov_send($late, "SELECT 'usable';");
ok(gov_wait_output($late, qr/usable/), 'after a refusal the session runs the next transaction once a slot is free');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM governor.clients WHERE application_name = 'short-late2' AND state = 'waiting'"),
	'and waits no more');
my $late_err = gov_release($late);
like($late_err, qr/ERROR:  too many active transactions for pg_governor rule "short"/, 'its client was told of the refusal');
my @late_errors = ($late_err =~ /\b(?:ERROR|FATAL|PANIC):\s+(.*)/g);
is(scalar(@late_errors), 1, 'no other error') or diag $late_err;
is(sql("SELECT total_active_timeouts >= 1 FROM governor.rule_usage WHERE rule = 'short'"), 't', 'timeouts counted');

sql("UPDATE governor.rules SET queue_timeout = '30s' WHERE name = 'short'; SELECT governor.reload();");
$holder = gov_hold($node, user => 'app', app => 'short-holder', sql => 'BEGIN; SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT active = 1 FROM governor.rule_usage WHERE rule = 'short'"), 'slot held again');
my $st = gov_login_bg($node, 'BEGIN', user => 'app', app => 'short-st', conn => "options='-c statement_timeout=300'");
($rc, $out, $err) = gov_login_finish($st);
like($err, qr/57014: canceling statement due to statement timeout/, 'statement_timeout ends the wait');
my $c = gov_login_bg($node, 'BEGIN', user => 'app', app => 'short-cancel');
ok($node->poll_query_until('postgres', "SELECT active_waiting = 1 FROM governor.rule_usage WHERE rule = 'short'"), 'a waiter');
sql("SELECT pg_cancel_backend(pid) FROM governor.clients WHERE application_name = 'short-cancel'");
($rc, $out, $err) = gov_login_finish($c);
like($err, qr/57014: canceling statement due to user request/, 'pg_cancel_backend ends the wait');
$c = gov_login_bg($node, 'BEGIN', user => 'app', app => 'short-term');
ok($node->poll_query_until('postgres', "SELECT active_waiting = 1 FROM governor.rule_usage WHERE rule = 'short'"), 'another waiter');
sql("SELECT pg_terminate_backend(pid) FROM governor.clients WHERE application_name = 'short-term'");
gov_login_finish($c);
ok($node->poll_query_until('postgres', "SELECT active = 1 AND active_waiting = 0 FROM governor.rule_usage WHERE rule = 'short'"),
	'a terminated waiter gives back nothing it did not hold');
gov_send($holder, 'COMMIT;');
ok($node->poll_query_until('postgres', "SELECT active = 0 FROM governor.rule_usage WHERE rule = 'short'"), 'the holder gives its slot back');
gov_release($holder);

# ------------------------------------------------------------------
# The slot comes back: after an error, PREPARE TRANSACTION, a crash.
# ------------------------------------------------------------------
($rc, $out, $err) = gov_try_login($node, 'SELECT 1/0', user => 'app', app => 'short-err');
like($err, qr/division by zero/, 'an implicit transaction fails');
my $s = gov_hold($node, user => 'app', app => 'short-err2', sql => 'BEGIN; SELECT 1/0;');
ok($node->poll_query_until('postgres', q{
	SELECT backend_state = 'idle in transaction (aborted)' FROM governor.clients WHERE application_name = 'short-err2'}),
	'an explicit transaction fails and stays open');
is(sql("SELECT active FROM governor.rule_usage WHERE rule = 'short'"), '0',
	'the error gave the slot back at once: the aborted transaction holds nothing while it waits for ROLLBACK');
gov_send($s, 'ROLLBACK; BEGIN; SAVEPOINT a; SELECT 1/0;');
ok($node->poll_query_until('postgres', q{
	SELECT backend_state = 'idle in transaction (aborted)' FROM governor.clients WHERE application_name = 'short-err2'}),
	'an error inside a savepoint');
is(sql("SELECT active FROM governor.rule_usage WHERE rule = 'short'"), '1', 'keeps the slot: the transaction goes on');
gov_send($s, 'ROLLBACK TO a; SELECT 1; COMMIT;');
ok($node->poll_query_until('postgres', "SELECT active = 0 FROM governor.rule_usage WHERE rule = 'short'"), 'until COMMIT');
gov_release($s);
$s = gov_hold($node, user => 'app', app => 'short-2pc', sql => "BEGIN; INSERT INTO ord VALUES ('2pc'); PREPARE TRANSACTION 'gov2pc';");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_prepared_xacts WHERE gid = 'gov2pc'"), 'prepared');
is(sql("SELECT active FROM governor.rule_usage WHERE rule = 'short'"), '0', 'PREPARE TRANSACTION gives the slot back');
gov_send($s, "COMMIT PREPARED 'gov2pc'; SELECT 1;");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_prepared_xacts"), 'COMMIT PREPARED runs');
gov_release($s);
$s = gov_hold($node, user => 'app', app => 'short-crash', sql => 'BEGIN; SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT active = 1 FROM governor.rule_usage WHERE rule = 'short'"), 'slot held by a session about to crash');
my $pid = sql("SELECT pid FROM governor.clients WHERE application_name = 'short-crash'");
kill 'KILL', $pid;
gov_release($s);
ok($node->poll_query_until('postgres', "SELECT active = 0 FROM governor.rule_usage WHERE rule = 'short'"),
	'after the crash-restart the slot is free');

# ------------------------------------------------------------------
# pause holds new transactions; resume releases them.
# ------------------------------------------------------------------
$s = gov_hold($node, user => 'app', app => 'short-paused', sql => 'SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM governor.clients WHERE application_name = 'short-paused'"), 'session up');
sql("SELECT governor.pause('postgres')");
gov_send($s, "INSERT INTO ord VALUES ('after-resume');");
ok($node->poll_query_until('postgres', "SELECT state = 'waiting' FROM governor.clients WHERE application_name = 'short-paused'"),
	'a new transaction waits while the database is paused');
sql("SELECT governor.resume('postgres')");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ord WHERE who = 'after-resume'"), 'and runs after resume');
gov_release($s);

# ------------------------------------------------------------------
# A wait for a slot is not transaction time: the queue timeout governs the
# wait, max_transaction_duration runs from the slot (on 17+ the server's
# transaction_timeout too), and the stats book the wait as wait time.
# ------------------------------------------------------------------
sql(q{
	INSERT INTO governor.rules (name, application_name, max_active, queue_timeout) VALUES ('slot1', 'dur-%', 1, '30s');
	INSERT INTO governor.rules (name, application_name, max_transaction_duration) VALUES ('dur', 'dur-w', '1s');
	SELECT governor.reload();
});
my $w = gov_hold($node, user => 'app', app => 'dur-w', sql => "SELECT 'w up';");
ok(gov_wait_output($w, qr/w up/), 'the waiter is up (its limit armed on 17+)');
my $h = gov_hold($node, user => 'app', app => 'dur-h', sql => 'BEGIN; SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT active = 1 FROM governor.rule_usage WHERE rule = 'slot1'"), 'the only slot is held');
gov_send($w, "SELECT 'waited, then ran';");
ok($node->poll_query_until('postgres', "SELECT active_waiting = 1 FROM governor.rule_usage WHERE rule = 'slot1'"), 'the waiter waits');
sleep 2.5;
gov_send($h, 'COMMIT;');
ok(gov_wait_output($w, qr/waited, then ran/),
	'a transaction that waited 2.5 s for its slot is not ended by a 1 s max_transaction_duration');
is(sql("SELECT count(*) FROM governor.events WHERE rule = 'dur'"), '0', 'nothing ended');
my ($xact_us, $wait_us) = split /\|/, sql(q{
	SELECT total_xact_time, total_wait_time FROM governor.pool_stats WHERE application_name = 'dur-w'});
cmp_ok($wait_us, '>=', 2_400_000, "the wait is booked as wait time ($wait_us us)");
cmp_ok($xact_us, '<', 1_000_000, "not as transaction time ($xact_us us)");

gov_send($h, 'BEGIN; SELECT 1;');
ok($node->poll_query_until('postgres', "SELECT active = 1 FROM governor.rule_usage WHERE rule = 'slot1'"), 'the slot is held again');
gov_send($w, 'SELECT pg_sleep(5);');
ok($node->poll_query_until('postgres', "SELECT active_waiting = 1 FROM governor.rule_usage WHERE rule = 'slot1'"), 'the waiter waits again');
# Longer than the limit by far: counted from the transaction's start, the
# observed time would be 2.5 s or more.
sleep 2.5;
gov_send($h, 'COMMIT;');
my $werr = gov_release($w);
like($werr, qr/terminating connection due to max_transaction_duration of pg_governor rule "dur": transaction open for 1\.\d+ s, limit 1 s/,
	'with the slot, its transaction is ended at the limit counted from the slot (not from its start, 2.5 s earlier)');
is(sql("SELECT count(*) FROM governor.events WHERE rule = 'dur' AND action = 'terminate' AND observed < 1.5"), '1',
	'recorded once, observed from the slot');
gov_release($h);

# ------------------------------------------------------------------
# Monitor mode never waits; it records would_wait.
# ------------------------------------------------------------------
sql(q{
	INSERT INTO governor.rules (name, application_name, max_active, mode) VALUES ('watch', 'watch', 0, 'monitor');
	SELECT governor.reload();
});
$t0 = time;
($rc, $out, $err) = gov_try_login($node, 'BEGIN; SELECT 1; COMMIT;', user => 'app', app => 'watch');
is($rc, 0, 'a monitor-mode max_active of 0 lets the transaction run');
cmp_ok(time - $t0, '<', 2, 'without waiting');
is(sql("SELECT total_would_wait > 0 FROM governor.rule_usage WHERE rule = 'watch'"), 't', 'would_wait counted');
is(sql("SELECT count(*) > 0 FROM governor.events WHERE action = 'would_wait' AND rule = 'watch'"), 't', 'and recorded');

$node->stop;
done_testing();
