# In-process search latency of public-inbox 1.9, for bench/run:
#   perl public-inbox-search-latency.pl RUNS QUERY...   (PI_CONFIG names the inboxes)
# One line per query: query, p50 ms, p95 ms, matches (-1 if the query failed).
use strict; use warnings; use Time::HiRes qw(time);
use PublicInbox::Config;
my ($runs, @queries) = @ARGV;
my $cfg = PublicInbox::Config->new;
my @ibx;
$cfg->each_inbox(sub { push @ibx, $_[0] });
for my $q (@queries) {
  my @t; my $count = 0;
  for my $i (-3 .. $runs - 1) {
    my $t0 = time; my $n = 0;
    for my $ibx (@ibx) {
      my $srch = $ibx->isrch or next;
      my $mset = eval { $srch->mset($q, { limit => 20 }) };
      if (!$mset) { $n = -1; last }
      $n += $mset->get_matches_estimated;
      my $smsgs = $srch->mset_to_smsg($ibx, $mset);
    }
    push @t, (time - $t0) * 1000 if $i >= 0;
    $count = $n;
  }
  @t = sort { $a <=> $b } @t;
  printf "%s\t%.3f\t%.3f\t%d\n", $q, $t[int(@t/2)], $t[int(@t*95/100)], $count;
}
