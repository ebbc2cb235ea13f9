#!/usr/bin/perl
# Helpers of test/prometheus/run, in core Perl only (HTTP::Tiny, JSON::PP):
# free ports, HTTP GET, histogram consistency of an exposition, and the
# PromQL checks against a running Prometheus (the shipped dashboard, the
# alert rules Prometheus loaded, the Grafana pgbouncer mixin's panels,
# known values).  Checks print "ok - what" or "not ok - what" (run numbers
# them) and "# ..." diagnostics.
#
#   promcheck.pl freeport
#   promcheck.pl get URL
#   promcheck.pl histograms BEFORE AFTER [SERIES_THAT_MUST_GROW...]
#   promcheck.pl dashboard PROM_URL DASHBOARD.json PG_MAJOR
#   promcheck.pl rules PROM_URL
#   promcheck.pl mixin PROM_URL
#   promcheck.pl values PROM_URL < lines "description | expr | op | number"
use strict;
use warnings;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;

# What Grafana would put for its interval variables: long enough to cover
# the whole load of the run.
my %GRAFANA = ('__rate_interval' => '1m', '__interval' => '1m', '__range' => '5m');

my $http = HTTP::Tiny->new(timeout => 10);

sub ok
{
	my ($pass, $what, @diag) = @_;
	print(($pass ? 'ok' : 'not ok') . " - $what\n");
	print "# $_\n" for map { split /\n/ } grep { defined && length } @diag;
	return $pass;
}

# Instant query: (status, result array or undef, error text).
sub query
{
	my ($base, $expr) = @_;
	my $r = $http->post_form("$base/api/v1/query", { query => $expr });
	my $body = eval { decode_json($r->{content}) };
	return ('http', undef, "HTTP $r->{status}: $r->{content}") unless $body;
	return ($body->{status}, undef, "$body->{errorType}: $body->{error}")
	  if $body->{status} ne 'success';
	my $d = $body->{data};
	return ('success', $d->{resultType} eq 'vector' ? $d->{result} : [ { value => $d->{result} } ], '');
}

# "3 series: 0, 1, 2.5" (values rounded for reading).
sub summary
{
	my ($res) = @_;
	my @v = map { fmt($_->{value}[1]) } @$res;
	my $more = @v > 6 ? ', ...' : '';
	return scalar(@v) . ' series: ' . join(', ', @v[ 0 .. ($#v < 5 ? $#v : 5) ]) . $more;
}

sub fmt
{
	my ($v) = @_;
	return $v if $v !~ /^-?[\d.e+-]+$/i;
	return $v == int($v) ? int($v) : sprintf('%.4g', $v);
}

# Grafana's label_values(selector, label) (the series API, as Grafana's
# Prometheus data source does for a selector).
sub label_values
{
	my ($base, $selector, $label) = @_;
	my $url = "$base/api/v1/series?" . $http->www_form_urlencode({ 'match[]' => $selector });
	my $r = $http->get($url);
	my $body = eval { decode_json($r->{content}) };
	return (undef, "HTTP $r->{status}: $r->{content}") unless $body && $body->{status} eq 'success';
	my %seen;
	$seen{ $_->{$label} } = 1 for grep { defined $_->{$label} } @{ $body->{data} };
	return ([ sort keys %seen ], '');
}

# Substitute $var / ${var} / [[var]]: Grafana's own interval variables,
# then the dashboard's (a multi-value selection becomes a regex
# alternation, as Grafana formats it for =~).
sub substitute
{
	my ($expr, $vars) = @_;
	my %all = (%GRAFANA, %$vars);
	for my $name (sort { length($b) <=> length($a) } keys %all)
	{
		my $v = $all{$name};
		$expr =~ s/\$\{\Q$name\E(?::[a-z]+)?\}/$v/g;
		$expr =~ s/\[\[\Q$name\E\]\]/$v/g;
		$expr =~ s/\$\Q$name\E\b/$v/g;
	}
	return $expr;
}

sub regex_of
{
	my @v = map { my $x = $_; $x =~ s/([\\.^\$|?*+()\[\]{}])/\\\\$1/g; $x } @_;
	return @v == 1 ? $v[0] : '(' . join('|', @v) . ')';
}

# Resolve the template variables of a dashboard, in order (later ones may
# use earlier ones).  Query variables need at least one value.
sub resolve_vars
{
	my ($base, $list, $what) = @_;
	my %vars;
	for my $v (@$list)
	{
		my $name = $v->{name};
		if ($v->{type} eq 'datasource') { next; }
		if ($v->{type} eq 'custom')
		{
			my ($first) = split /\s*,\s*/, $v->{query};
			($vars{$name}) = split /\s*:\s*/, $first;
			next;
		}
		next unless $v->{type} eq 'query';
		my $q = ref $v->{query} ? $v->{query}{query} : $v->{query};
		my $sub = substitute($q, \%vars);
		if ($sub !~ /^label_values\((.*),\s*(\w+)\)$/s)
		{
			ok(0, "$what variable \$$name: unknown query $q");
			next;
		}
		my ($sel, $label) = ($1, $2);
		# The mixin writes {,job=~"..."}: Grafana's editor tolerates the
		# leading comma, the series API does not.
		$sel =~ s/\{\s*,/{/;
		my ($values, $err) = label_values($base, $sel, $label);
		my $n = $values ? scalar(@$values) : 0;
		ok($n > 0, "$what variable \$$name = $q: " . ($n ? join(', ', @$values) : 'no values'), $err);
		$vars{$name} = $n ? ($v->{multi} || $v->{includeAll} ? regex_of(@$values) : regex_of($values->[0])) : '.+';
	}
	return \%vars;
}

# One expression: it must parse, and return data unless $may_be_empty.
sub check_expr
{
	my ($base, $what, $expr, $may_be_empty) = @_;
	my ($status, $res, $err) = query($base, $expr);
	if ($status ne 'success')
	{
		return ok(0, "$what: query failed", $err, "query: $expr");
	}
	if (!@$res)
	{
		return ok(1, "$what: no data, as expected ($may_be_empty)") if $may_be_empty;
		return ok(0, "$what: no data", "query: $expr");
	}
	return ok(1, "$what: " . summary($res));
}

sub panels
{
	my ($list) = @_;
	return map { ($_, panels($_->{panels} // [])) } @$list;
}

sub slurp
{
	my ($file) = @_;
	open my $fh, '<', $file or die "$file: $!";
	local $/;
	return <$fh>;
}

# ----------------------------------------------------------------------
# The Grafana pgbouncer mixin: panel expressions of its dashboards as
# generated in grafana/jsonnet-libs, pgbouncer-mixin/dashboards_out/
# overview and clusterOverview (snapshot 6da2b4b8, 2026-08-20), its
# variables, and the expressions of prometheus_rules_out/
# prometheus_alerts.yaml.  Only the queries are kept here, not the
# dashboards.
my $M = 'job=~"$job",pgbouncer_cluster=~"$pgbouncer_cluster",instance=~"$instance",database=~"$database",';
my $MI = 'job=~"$job",pgbouncer_cluster=~"$pgbouncer_cluster",instance=~"$instance",';
my $MC = 'job=~"$job",pgbouncer_cluster=~"$pgbouncer_cluster",';
my @MIXIN_VARS = (
	{ name => 'job', type => 'query', multi => 1, includeAll => 1,
	  query => 'label_values(pgbouncer_databases_current_connections{}, job)' },
	{ name => 'pgbouncer_cluster', type => 'query', multi => 1, includeAll => 1,
	  query => 'label_values(pgbouncer_databases_current_connections{,job=~"$job"}, pgbouncer_cluster)' },
	{ name => 'instance', type => 'query', multi => 0, includeAll => 0,
	  query => 'label_values(pgbouncer_databases_current_connections{,job=~"$job",pgbouncer_cluster=~"$pgbouncer_cluster"}, instance)' },
	{ name => 'database', type => 'query', multi => 1, includeAll => 1,
	  query => 'label_values(pgbouncer_databases_current_connections{}, database)' },
	{ name => 'top_database_count', type => 'custom', query => '2 : 2,4 : 4,6 : 6,8 : 8,10 : 10' },
);
my @MIXIN_PANELS = (
	[ 'overview', 'Client waiting connections', "sum(pgbouncer_pools_client_waiting_connections{$M})" ],
	[ 'overview', 'Active client connections', "sum(pgbouncer_pools_client_active_connections{$M})" ],
	[ 'overview', 'Active server connections', "sum(pgbouncer_pools_server_active_connections{$M})" ],
	[ 'overview', 'Max database connections', "sum(pgbouncer_databases_max_connections{$M})" ],
	[ 'overview', 'Max user connections', "sum(pgbouncer_config_max_user_connections{$MI})" ],
	[ 'overview', 'Max client connections', "sum(pgbouncer_config_max_client_connections{$MI})" ],
	[ 'overview', 'Queries processed', "rate(pgbouncer_stats_queries_pooled_total{$M}[\$__rate_interval])" ],
	[ 'overview', 'Queries average duration',
	  "1000 * increase(pgbouncer_stats_queries_duration_seconds_total{$M}[\$__interval:]) / clamp_min(increase(pgbouncer_stats_queries_pooled_total{$M}[\$__interval:]), 1)" ],
	[ 'overview', 'Network traffic (received)', "rate(pgbouncer_stats_received_bytes_total{$M}[\$__rate_interval])" ],
	[ 'overview', 'Network traffic (sent)', "rate(pgbouncer_stats_sent_bytes_total{$M}[\$__rate_interval])" ],
	[ 'overview', 'SQL transaction rate', "rate(pgbouncer_stats_sql_transactions_pooled_total{$M}[\$__rate_interval])" ],
	[ 'overview', 'SQL average transaction duration',
	  "1000 * increase(pgbouncer_stats_server_in_transaction_seconds_total{$M}[\$__interval:]) / clamp_min(increase(pgbouncer_stats_sql_transactions_pooled_total{$M}[\$__interval:]), 1)" ],
	[ 'overview', 'Server connections (idle)', "pgbouncer_pools_server_idle_connections{$M}" ],
	[ 'overview', 'Server connections (used)', "pgbouncer_pools_server_used_connections{$M}" ],
	[ 'overview', 'Server connections (login)', "pgbouncer_pools_server_login_connections{$M}" ],
	[ 'overview', 'Server connections (testing)', "pgbouncer_pools_server_testing_connections{$M}" ],
	[ 'overview', 'Active client connections (per pool)', "pgbouncer_pools_client_active_connections{$M}" ],
	[ 'overview', 'Waiting clients', "pgbouncer_pools_client_waiting_connections{$M}" ],
	[ 'overview', 'Max client wait time', "pgbouncer_pools_client_maxwait_seconds{$M}" ],
	[ 'cluster overview', 'Top databases by active connections',
	  "topk by(database, instance, pgbouncer_cluster)(\$top_database_count, pgbouncer_pools_client_active_connections{$MC})" ],
	[ 'cluster overview', 'Top databases by queries processed',
	  "topk by(database, instance, pgbouncer_cluster)(\$top_database_count, rate(pgbouncer_stats_queries_pooled_total{$MC}[\$__rate_interval]))" ],
	[ 'cluster overview', 'Top databases by average query duration',
	  "topk by(database, instance, pgbouncer_cluster)(\$top_database_count, 1000 * increase(pgbouncer_stats_queries_duration_seconds_total{$MC}[\$__interval:]) / clamp_min(increase(pgbouncer_stats_queries_pooled_total{$MC}[\$__interval:]), 1))" ],
	[ 'cluster overview', 'Top databases by network traffic (received)',
	  "topk by(database, instance, pgbouncer_cluster)(\$top_database_count, rate(pgbouncer_stats_received_bytes_total{$MC}[\$__rate_interval]))" ],
	[ 'cluster overview', 'Top databases by network traffic (sent)',
	  "topk by(database, instance, pgbouncer_cluster)(\$top_database_count, rate(pgbouncer_stats_sent_bytes_total{$MC}[\$__rate_interval]))" ],
	# The mixin's alerts, without their thresholds.
	[ 'alert', 'PGBouncerHighNumberWaitingConnections (> 20)', 'pgbouncer_pools_client_waiting_connections{}' ],
	[ 'alert', 'PGBouncerHighWaitTime (> 15)', 'pgbouncer_pools_client_maxwait_seconds{}' ],
	[ 'alert', 'PGBouncerServerSaturationWarning / Critical (> 80 / 90)',
	  '100 * (sum without (database, user) (pgbouncer_pools_server_active_connections{} + pgbouncer_pools_server_idle_connections{} + pgbouncer_pools_server_used_connections{}) / clamp_min(pgbouncer_config_max_user_connections{},1))' ],
);

# ----------------------------------------------------------------------
my $cmd = shift // '';

if ($cmd eq 'freeport')
{
	my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:0', ReuseAddr => 1)
	  or die "no free port: $!";
	print $s->sockport, "\n";
}
elsif ($cmd eq 'get')
{
	my $r = $http->get($ARGV[0]);
	print $r->{content} // '';
	exit($r->{success} ? 0 : 1);
}
elsif ($cmd eq 'histograms')
{
	my ($before, $after, @grow) = @ARGV;
	my %b = parse_histograms(slurp($before));
	my %a = parse_histograms(slurp($after));
	ok(scalar(keys %a) > 0, 'the exposition has histograms: ' . join(', ', sort keys %a));
	for my $key (sort keys %a)
	{
		my $h = $a{$key};
		my @les = sort { $a <=> $b } map { $_ eq '+Inf' ? 9**9**9 : $_ } keys %{ $h->{bucket} };
		my @problems;
		my $prev = -1;
		for my $le (@les)
		{
			my $c = $h->{bucket}{ $le == 9**9**9 ? '+Inf' : $le };
			push @problems, "bucket le=$le ($c) below the previous one ($prev)" if $c < $prev;
			$prev = $c;
		}
		push @problems, 'no +Inf bucket' unless exists $h->{bucket}{'+Inf'};
		push @problems, 'no _count' unless defined $h->{count};
		push @problems, 'no _sum' unless defined $h->{sum};
		push @problems, "_count $h->{count} is not the +Inf bucket $h->{bucket}{'+Inf'}"
		  if defined $h->{count} && exists $h->{bucket}{'+Inf'} && $h->{count} != $h->{bucket}{'+Inf'};
		push @problems, "_sum $h->{sum} < 0" if defined $h->{sum} && $h->{sum} < 0;
		push @problems, "_sum $h->{sum} with _count 0" if ($h->{count} // 0) == 0 && ($h->{sum} // 0) != 0;
		push @problems, scalar(@les) . ' buckets, not 16' if @les != 16;
		ok(!@problems, "histogram $key: cumulative, _count = +Inf bucket = "
			  . ($h->{count} // '?') . ", _sum = " . ($h->{sum} // '?'), @problems);
		if (my $old = $b{$key})
		{
			my @shrunk = grep { $h->{bucket}{$_} < ($old->{bucket}{$_} // 0) } keys %{ $h->{bucket} };
			ok(!@shrunk && $h->{count} >= $old->{count} && $h->{sum} >= $old->{sum},
				"histogram $key never goes down ($old->{count} -> $h->{count})",
				map { "bucket le=$_ went down" } @shrunk);
		}
	}
	for my $key (@grow)
	{
		my ($o, $n) = ($b{$key}, $a{$key});
		ok($n && $n->{sum} > ($o ? $o->{sum} : 0) && $n->{count} > ($o ? $o->{count} : 0),
			"histogram $key: _sum and _count grew after more waits ("
			  . ($o ? "$o->{sum} s / $o->{count}" : 'absent') . ' -> '
			  . ($n ? "$n->{sum} s / $n->{count}" : 'absent') . ')');
	}
}
elsif ($cmd eq 'dashboard')
{
	my ($base, $file, $major) = @ARGV;
	my $d = eval { decode_json(slurp($file)) };
	ok($d && ref $d->{panels} eq 'ARRAY', "$file is a Grafana dashboard (JSON model)", $@) or exit;
	my @dsvars = grep { $_->{type} eq 'datasource' } @{ $d->{templating}{list} };
	ok(@dsvars == 1 && $dsvars[0]{query} eq 'prometheus', 'a datasource variable of type prometheus');
	my $vars = resolve_vars($base, $d->{templating}{list}, 'dashboard');
	my ($n, %refs) = (0);
	for my $p (panels($d->{panels}))
	{
		next if $p->{type} eq 'row';
		my $ds = $p->{datasource}{uid} // '';
		ok(0, "panel \"$p->{title}\": datasource is not the variable (\"$ds\")") if $ds ne '${datasource}';
		for my $t (@{ $p->{targets} // [] })
		{
			$n++;
			my $expr = substitute($t->{expr}, $vars);
			my $why = $expr =~ /pg_governor_connection_setup_seconds/ && $major < 18
			  ? "PostgreSQL $major does not record connection setup time" : '';
			check_expr($base, "dashboard \"$p->{title}\" $t->{refId}", $expr, $why);
		}
	}
	ok($n > 0, "the dashboard has $n PromQL expressions, each checked");
}
elsif ($cmd eq 'rules')
{
	my ($base) = @ARGV;
	my $r = $http->get("$base/api/v1/rules");
	my $body = eval { decode_json($r->{content}) };
	my @rules = map { @{ $_->{rules} } } @{ $body->{data}{groups} // [] };
	ok(scalar(@rules) == 8, 'Prometheus loaded the 8 alerting rules of pg_governor.rules.yml (' . scalar(@rules) . ')');
	for my $rule (@rules)
	{
		my $what = "alert $rule->{name} ($rule->{labels}{severity})";
		ok($rule->{health} eq 'ok', "$what: evaluated by Prometheus ($rule->{health}, state $rule->{state})",
			$rule->{lastError});
		my ($status, $res, $err) = query($base, $rule->{query});
		if ($status ne 'success')
		{
			ok(0, "$what: query failed", $err);
			next;
		}
		if (@$res)
		{
			ok(1, "$what: condition true now: " . summary($res));
			next;
		}
		# Below the threshold: the expression without its comparison has data.
		(my $inner = $rule->{query}) =~ s/\s*>\s*[\d.]+\s*$//;
		check_expr($base, "$what: below the threshold; its value", $inner, '');
	}
}
elsif ($cmd eq 'mixin')
{
	my ($base) = @ARGV;
	my $vars = resolve_vars($base, \@MIXIN_VARS, 'mixin');
	for my $p (@MIXIN_PANELS)
	{
		my ($dash, $title, $expr) = @$p;
		check_expr($base, "mixin $dash \"$title\"", substitute($expr, $vars), '');
	}
}
elsif ($cmd eq 'values')
{
	my ($base) = @ARGV;
	while (my $line = <STDIN>)
	{
		next if $line =~ /^\s*(#|$)/;
		chomp $line;
		my ($what, $expr, $op, $want) = map { s/^\s+|\s+$//gr } split /\s+\|\s+/, $line;
		my ($status, $res, $err) = query($base, $expr);
		if ($status ne 'success' || !@$res)
		{
			ok(0, "$what: " . ($status ne 'success' ? 'query failed' : 'no data'), $err, "query: $expr");
			next;
		}
		my @bad = grep {
			my $v = $_->{value}[1];
			!($op eq '==' ? $v == $want : $op eq '>=' ? $v >= $want : $op eq '>' ? $v > $want
			  : $op eq '<=' ? $v <= $want : $op eq '<' ? $v < $want : die "unknown operator $op\n")
		} @$res;
		ok(!@bad, "$what: $op $want (" . summary($res) . ')', @bad ? "query: $expr" : ());
	}
}
else
{
	die "usage: $0 freeport|get|histograms|dashboard|rules|mixin|values ...\n";
}

# A check that dies part-way must fail the run, not end it quietly.
END { print "not ok - promcheck.pl $cmd ended with status $?\n" if $? && ($cmd // "") =~ /^(values|mixin|dashboard|rules|histograms)$/; }

# name{labels without le} => { bucket => { le => count }, sum, count }
sub parse_histograms
{
	my ($text) = @_;
	my (%type, %h);
	for my $line (split /\n/, $text)
	{
		if ($line =~ /^# TYPE (\S+) (\S+)/) { $type{$1} = $2; next; }
		next if $line =~ /^#/ || $line !~ /\S/;
		my ($name, $labels, $value) = $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/
		  or next;
		my ($base, $part) = $name =~ /^(.*)_(bucket|sum|count)$/ or next;
		next unless ($type{$base} // '') eq 'histogram';
		my %l;
		while (($labels // '') =~ /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g) { $l{$1} = $2; }
		my $le = delete $l{le};
		my $key = $base . '{' . join(',', map { "$_=\"$l{$_}\"" } sort keys %l) . '}';
		if ($part eq 'bucket') { $h{$key}{bucket}{$le} = $value; }
		else { $h{$key}{$part} = $value; }
	}
	return %h;
}
