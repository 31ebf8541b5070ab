/* search-latency: in-process search latency of annals, for bench/run and
 * bench/index.
 * usage: search-latency RUNS LIST_DIR... -- QUERY...
 * Each list's index is opened as the annals.conf beside LIST_DIR says
 * (index-shards, index-remote), as annals search does: sharded and
 * remote indexes are measured the same way.
 * Prints one line per query: p50 and p95 in microseconds and the count. */
#include "search/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  if (argc < 4) {
    fprintf (stderr, "usage: search-latency RUNS LIST_DIR... -- QUERY...\n");
    return 64;
  }
  int runs = atoi (argv[1]);
  int sep = 2;
  while (sep < argc && strcmp (argv[sep], "--") != 0)
    sep++;
  const char *const *dirs = (const char *const *) argv + 2;
  guint n_dirs = (guint) (sep - 2);
  for (int q = sep + 1; q < argc; q++) {
    double *t = g_new (double, (gsize) runs);
    guint64 count = 0;
    for (int i = -3; i < runs; i++) { /* three warm-up runs */
      AnnalsQueryOptions o = { 0, 20, FALSE, FALSE, FALSE };
      gint64 t0 = g_get_monotonic_time ();
      GError *error = NULL;
      AnnalsQueryResults *r = annals_query_run (dirs, n_dirs, argv[q], &o, &error);
      gint64 t1 = g_get_monotonic_time ();
      if (r == NULL) {
        fprintf (stderr, "%s: %s\n", argv[q], error->message);
        return 1;
      }
      if (i >= 0)
        t[i] = (double) (t1 - t0);
      AnnalsQueryOptions c = { 0, 0, FALSE, FALSE, TRUE };
      if (i == runs - 1) {
        AnnalsQueryResults *rc = annals_query_run (dirs, n_dirs, argv[q], &c, NULL);
        count = rc ? rc->count : 0;
        annals_query_results_free (rc);
      }
      annals_query_results_free (r);
    }
    qsort (t, (size_t) runs, sizeof (double), compare_doubles);
    printf ("%s\t%.0f\t%.0f\t%" G_GUINT64_FORMAT "\n", argv[q], t[runs / 2], t[(runs * 95) / 100], count);
    g_free (t);
  }
  return 0;
}
