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
  gov_login_bg gov_login_finish gov_count_log gov_wait_output gov_send);

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

# Keep a session open (psql reading from a pipe) until gov_release.
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
		'<', \$in, '>', \$out, '2>', \$err);
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
		$s->{h}->pump_nb;
		select(undef, undef, undef, 0.02);
	}
	return 1;
}

sub gov_release
{
	my ($s) = @_;
	# The session may be gone already (terminated): then there is nothing to quit.
	eval {
		${ $s->{in} } .= "\\q\n";
		$s->{h}->finish;
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

# Poll a query until it returns 't' (like poll_query_until, shorter sleeps).
sub gov_wait_for
{
	my ($node, $sql, $what) = @_;
	ok($node->poll_query_until('postgres', $sql), $what);
}

1;
