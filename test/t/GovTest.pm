# Helpers shared by pg_governor's TAP tests.
package GovTest;

use strict;
use warnings;
use IPC::Run;
use Time::HiRes ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Exporter 'import';

our @EXPORT = qw(gov_node gov_connstr gov_try_login gov_hold gov_release gov_wait_for
  gov_login_bg gov_login_finish gov_count_log gov_wait_output gov_send
  gov_session gov_query gov_session_send gov_session_end gov_session_wait_gone
  gov_session_alive gov_session_wait_state_age gov_app_wait_state_age);

# A node with pg_governor preloaded; extra settings appended.  Options:
# tcp => 1 (listen on 127.0.0.1, trust), db => database for CREATE
# EXTENSION (default postgres; undef with no_extension => 1 for none),
# env => { VAR => value } for the server's environment.
sub gov_node
{
	my ($name, $conf, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_governor'\n"
		  . "governor.naptime = 100ms\n"
		  . "log_line_prefix = '%m [%p] %e %a '\n"
		  . "restart_after_crash = on\n"
		  . ($conf // ''));
	if ($opts{tcp})
	{
		$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
		$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
	}
	{
		local %ENV = (%ENV, %{ $opts{env} // {} });
		$node->start;
	}
	$node->safe_psql($opts{db} // 'postgres', 'CREATE EXTENSION pg_governor')
	  unless $opts{no_extension};
	return $node;
}

# libpq connection string; host => '127.0.0.1' for TCP, else the node's socket.
sub gov_connstr
{
	my ($node, %p) = @_;
	my $host = $p{host} // $node->host;
	my $s = "host=$host port=" . $node->port . " dbname=" . ($p{dbname} // 'postgres');
	$s .= " user=$p{user}" if $p{user};
	$s .= " application_name=$p{app}" if defined $p{app};
	return $s;
}

# One login + query; returns (exit code, stdout, stderr).
sub gov_try_login
{
	my ($node, $sql, %p) = @_;
	my ($out, $err) = ('', '');
	my $cmd = [ $node->installed_command('psql'), '-X', '-A', '-t', '-v', 'VERBOSITY=verbose',
		'-d', gov_connstr($node, %p), '-c', $sql ];
	local %ENV = %ENV;
	delete $ENV{PGAPPNAME};
	IPC::Run::run($cmd, '<', \'', '>', \$out, '2>', \$err);
	chomp $out;
	return ($? >> 8, $out, $err);
}

# Keep a session open (psql reading from a pipe) until gov_release.  Like
# gov_login_bg and gov_session it runs under the test timeout: a psql that
# hangs makes the next pump or finish die instead of blocking the run.
sub gov_hold
{
	my ($node, %p) = @_;
	my $in = '';
	my $out = '';
	my $err = '';
	local %ENV = %ENV;
	delete $ENV{PGAPPNAME};
	my $h = IPC::Run::start(
		[ $node->installed_command('psql'), '-X', '-q', '-d', gov_connstr($node, %p) ],
		'<', \$in, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	$in .= ($p{sql} // 'SELECT 1;') . "\n";
	$h->pump_nb;
	return { h => $h, in => \$in, out => \$out, err => \$err };
}

# Wait until a gov_hold session's output matches $re (e.g. the result of
# its first query, which a queued login prints only once admitted); true if
# it did within the test timeout.  Works with every version's TAP modules,
# unlike background_psql(..., wait => 0) (15.20 and 18 have it, 16.0 and
# 17.4 do not).
sub gov_wait_output
{
	my ($s, $re) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (${ $s->{out} } !~ $re)
	{
		return 0 if time() > $deadline || !$s->{h}->pumpable;
		# The session's own timeout expired: not matched.
		eval { $s->{h}->pump_nb; 1 } or return 0;
		select(undef, undef, undef, 0.02);
	}
	return 1;
}

sub gov_release
{
	my ($s) = @_;
	# psql quits at the end of its input: finish closes it.  Writing "\\q"
	# instead races with a session its server has ended (psql leaves at
	# once): the write fails with EPIPE and finish dies before reading what
	# psql printed.  If psql hangs, its timeout makes finish die: then stop
	# it (by the harness's own pid) and say so.
	eval {
		$s->{h}->finish;
		1;
	} or do {
		my $why = $@;
		if ($why =~ /timeout/i)
		{
			diag("psql session did not end: $why");
			eval { $s->{h}->kill_kill; };
		}
		else
		{
			diag("psql session: $why");
		}
	};
	return ${ $s->{err} };
}

# Send more SQL to a held session.
sub gov_send
{
	my ($s, $sql) = @_;
	${ $s->{in} } .= "$sql\n";
	$s->{h}->pump_nb;
}

# Start a login in the background (psql -c sql); it may wait in a queue.
# Extra libpq parameters: conn => 'connect_timeout=2'.
sub gov_login_bg
{
	my ($node, $sql, %p) = @_;
	my $l = { in => '', out => '', err => '', start => Time::HiRes::time() };
	my $connstr = gov_connstr($node, %p) . ($p{conn} ? " $p{conn}" : '');
	local %ENV = %ENV;
	delete $ENV{PGAPPNAME};
	$l->{h} = IPC::Run::start(
		[ $node->installed_command('psql'), '-X', '-A', '-t', '-v', 'VERBOSITY=verbose',
		  '-d', $connstr, '-c', $sql ],
		'<', \$l->{in}, '>', \$l->{out}, '2>', \$l->{err},
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return $l;
}

# Wait for a background login to end; returns (exit code, stdout, stderr, seconds).
sub gov_login_finish
{
	my ($l) = @_;
	$l->{h}->finish;
	chomp $l->{out};
	return ($? >> 8, $l->{out}, $l->{err}, Time::HiRes::time() - $l->{start});
}

# How many lines of the server log match a pattern.
sub gov_count_log
{
	my ($node, $re) = @_;
	my @m = (slurp_file($node->logfile) =~ /$re/g);
	return scalar(@m);
}

# Poll a query until it returns 't' (poll_query_until: every 100 ms, up to
# the test timeout) and make that a test: a timeout fails it.
sub gov_wait_for
{
	my ($node, $sql, $what) = @_;
	ok($node->poll_query_until('postgres', $sql), $what);
}

# ------------------------------------------------------------------
# An interactive session (psql reading a pipe) that can be left idle, in a
# transaction or in a query, and whose FATAL is read afterwards.  It knows
# its backend pid.  Options as gov_connstr (user defaults to app).
# ------------------------------------------------------------------
sub gov_session
{
	my ($node, %p) = @_;
	my $s = { node => $node, in => '', out => '', err => '' };
	local %ENV = %ENV;
	delete $ENV{PGAPPNAME};
	$s->{timer} = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	$s->{h} = IPC::Run::start(
		[ $node->installed_command('psql'), '-XAtq', '-d',
		  gov_connstr($node, %p, user => $p{user} // 'app', dbname => $p{db}) ],
		'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err}, $s->{timer});
	$s->{pid} = gov_query($s, "\\set VERBOSITY verbose\nSELECT pg_backend_pid();");
	return $s;
}

# Run SQL in a session and return its output (a client-side echo marks the end).
sub gov_query
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

# Send SQL to a session without waiting for it.
sub gov_session_send
{
	my ($s, $sql) = @_;
	$s->{out} = '';
	$s->{in} .= "$sql\n";
	$s->{h}->pump_nb;
}

# End a session and return all psql printed on stderr.  After the server
# ended it, one more query makes psql read the FATAL; a session cut while
# running a query has seen it already and psql has exited: pass $no_query.
sub gov_session_end
{
	my ($s, $no_query) = @_;
	$s->{in} .= "SELECT 1;\n" unless $no_query;
	eval { $s->{h}->finish; 1 } or diag("psql harness: $@");
	return $s->{err};
}

# Test that the session's backend is gone.
sub gov_session_wait_gone
{
	my ($s, $what) = @_;
	ok($s->{node}->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $s->{pid}"),
		"$what: session ended");
}

sub gov_session_alive
{
	my ($s) = @_;
	return $s->{node}->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $s->{pid}") eq '1';
}

# Wait until a session has been in its current state for $secs seconds.
sub gov_session_wait_state_age
{
	my ($s, $secs) = @_;
	$s->{node}->poll_query_until('postgres',
		"SELECT now() - state_change > interval '$secs s' FROM pg_stat_activity WHERE pid = $s->{pid}")
	  or die "session $s->{pid} did not reach state age $secs s";
}

# The same for sessions known by application_name (gov_hold does not know
# its backend's pid): wait until every session of $app (there must be one)
# has been in its current state for more than $secs seconds; true if so
# within the test timeout.
sub gov_app_wait_state_age
{
	my ($node, $app, $secs, $db) = @_;
	return $node->poll_query_until($db // 'postgres', qq{
		SELECT bool_and(now() - state_change > interval '$secs s')
		FROM pg_stat_activity WHERE application_name = '$app'});
}

1;
