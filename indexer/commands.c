/* commands: see commands.h. */
#include "commands.h"
#include "cmdline.h"
#include "index.h"

#include <stdio.h>
#include <unistd.h>

typedef struct {
  const char *list;
  gboolean tty;
  gint64 started;
  gint64 last;
} Progress;

static void
show_progress (gpointer ctx, const AnnalsIndexStats *stats, guint64 of)
{
  Progress *p = ctx;
  if (!p->tty)
    return;
  gint64 now = g_get_monotonic_time ();
  if (now - p->last < 250000 && stats->total < of)
    return;
  p->last = now;
  double secs = MAX ((now - p->started) / 1e6, 1e-3);
  fprintf (stderr, "\r\033[Kindex %s: %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " (%.0f msg/s)", p->list, stats->total,
           of, stats->indexed / secs);
  fflush (stderr);
}

static gboolean
update_list (AnnalsConfig *config, const char *list, gboolean rebuild, gboolean quiet)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = annals_config_list_dir (config, list, NULL, &error);
  if (dir == NULL) {
    annals_cmd_fail ("index", error);
    return FALSE;
  }
  Progress p = { list, !quiet && isatty (STDERR_FILENO), g_get_monotonic_time (), 0 };
  AnnalsIndexStats stats;
  gboolean ok = annals_index_update (dir, list, rebuild, show_progress, &p, &stats, &error);
  if (p.tty)
    fputs ("\r\033[K", stderr);
  if (!ok) {
    g_printerr ("annals index: %s: %s\n", list, error->message);
    return FALSE;
  }
  double secs = (g_get_monotonic_time () - p.started) / 1e6;
  if (!quiet)
    g_print ("%s: indexed %" G_GUINT64_FORMAT " messages (%.1f MB) in %.2f s, removed %" G_GUINT64_FORMAT
             ", %" G_GUINT64_FORMAT " entries covered\n", list, stats.indexed, stats.bytes / 1e6, secs, stats.removed,
             stats.total);
  return TRUE;
}

gboolean
annals_indexer_after_write (AnnalsConfig *config, const char *list, gboolean quiet)
{
  return update_list (config, list, FALSE, quiet);
}

int
annals_indexer_cmd_index (int argc, char **argv)
{
  gboolean rebuild = FALSE, quiet = FALSE;
  const GOptionEntry entries[] = {
    { "rebuild", 0, 0, G_OPTION_ARG_NONE, &rebuild, "Build the index anew from the store (beside the old one, then swapped)",
      NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress and no summary", NULL },
    { NULL },
  };
  if (!annals_cmd_parse ("index", "[NAME...]",
                         "Updates the search index of the lists named (all lists by default) with what their\n"
                         "stores hold and it does not: incremental and resumable.  'annals ingest' runs it.",
                         entries, TRUE, &argc, &argv))
    return ANNALS_EX_USAGE;
  g_autoptr (AnnalsConfig) config = annals_cmd_open_config ("index");
  if (config == NULL)
    return 1;
  g_auto (GStrv) all = annals_config_lists (config);
  char **lists = argc > 1 ? argv + 1 : all;
  int status = 0;
  for (char **l = lists; *l; l++)
    if (!update_list (config, *l, rebuild, quiet))
      status = 1;
  return status;
}
