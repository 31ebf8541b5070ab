/* index-commands: see index-commands.h. */
#include "cli/index-commands.h"
#include "cli/cmdline.h"
#include "core/config.h"
#include "indexer/index.h"

#include <stdio.h>
#include <sysexits.h>
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

static void
print_stats (const char *list, const AnnalsIndexStats *stats, double secs)
{
  g_print ("%s: indexed %" G_GUINT64_FORMAT " messages (%.1f MB) in %.2f s, removed %" G_GUINT64_FORMAT
           ", %" G_GUINT64_FORMAT " entries covered\n",
           list, stats->indexed, stats->bytes / 1e6, secs, stats->removed, stats->total);
}

/* Said even with --quiet: a full index run where an update was expected
 * deserves one line. */
static void
say_recreated (const char *list, const AnnalsIndexStats *stats)
{
  if (stats->resharded)
    g_printerr ("annals index: %s: annals.conf asks for another number of index shards (index-shards); "
                "rebuilt the index with it\n",
                list);
  if (stats->upgraded)
    g_printerr ("annals index: %s: the index was of an older format (doc/index-format.md, Versions); "
                "rebuilt it from the store\n",
                list);
  if (stats->recreated)
    g_printerr ("annals index: %s: the index was half-made (a run killed while creating it) or damaged; "
                "rebuilt it from the store\n",
                list);
}

static gboolean
update_list (AnnalsConfig *config, const char *list, gboolean rebuild, gboolean quiet)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = annals_config_list_dir (config, list, NULL, &error);
  if (dir == NULL) {
    annals_cli_fail ("index", error);
    return FALSE;
  }
  Progress p = { list, !quiet && isatty (STDERR_FILENO), g_get_monotonic_time (), 0 };
  AnnalsIndexStats stats;
  gboolean ok = annals_index_update (dir, list, rebuild, show_progress, &p, &stats, &error);
  if (p.tty)
    fputs ("\r\033[K", stderr);
  say_recreated (list, &stats);
  if (!ok) {
    g_printerr ("annals index: %s: %s\n", list, error->message);
    return FALSE;
  }
  if (!quiet)
    print_stats (list, &stats, (g_get_monotonic_time () - p.started) / 1e6);
  return TRUE;
}

gboolean
annals_cli_index_update (AnnalsConfig *config, const char *list, gboolean quiet)
{
  return update_list (config, list, FALSE, quiet);
}

/* The follower: a thread that indexes each batch the ingest commits. */
struct _AnnalsIndexFollower {
  const char *cmd; /* static */
  char *list;
  char *dir;
  GThread *thread;
  GMutex lock;
  GCond more;
  guint64 committed;
  gboolean finished;
  AnnalsIndexStats stats;
  GError *error;
  gint64 started;
};

static guint64
follow_limit (gpointer ctx, guint64 have, gboolean *finished)
{
  AnnalsIndexFollower *f = ctx;
  g_mutex_lock (&f->lock);
  while (f->committed <= have && !f->finished)
    g_cond_wait (&f->more, &f->lock);
  guint64 committed = f->committed;
  *finished = f->finished;
  g_mutex_unlock (&f->lock);
  return committed;
}

static gpointer
follow_thread (gpointer data)
{
  AnnalsIndexFollower *f = data;
  annals_index_follow (f->dir, f->list, follow_limit, f, &f->stats, &f->error);
  return NULL;
}

AnnalsIndexFollower *
annals_cli_index_follow_start (AnnalsConfig *config, const char *cmd, const char *list, guint64 committed)
{
  AnnalsIndexFollower *f = g_new0 (AnnalsIndexFollower, 1);
  f->cmd = cmd;
  f->list = g_strdup (list);
  f->dir = annals_config_list_dir (config, list, NULL, &f->error);
  f->committed = committed;
  f->started = g_get_monotonic_time ();
  g_mutex_init (&f->lock);
  g_cond_init (&f->more);
  if (f->dir != NULL)
    f->thread = g_thread_new ("index-follow", follow_thread, f);
  return f;
}

void
annals_cli_index_follow_committed (gpointer follower, guint64 count)
{
  AnnalsIndexFollower *f = follower;
  g_mutex_lock (&f->lock);
  f->committed = count;
  g_cond_signal (&f->more);
  g_mutex_unlock (&f->lock);
}

gboolean
annals_cli_index_follow_finish (AnnalsIndexFollower *f, gboolean quiet)
{
  g_mutex_lock (&f->lock);
  f->finished = TRUE;
  g_cond_signal (&f->more);
  g_mutex_unlock (&f->lock);
  if (f->thread != NULL)
    g_thread_join (f->thread);
  gboolean ok = f->error == NULL;
  say_recreated (f->list, &f->stats);
  /* The store is complete: a run of the same command would find nothing
   * new and leave the index behind, so the way to catch up is named. */
  if (!ok)
    g_printerr ("annals %s: %s: the messages are stored, but the search index could not take them: %s; "
                "run 'annals index %s' once there is room (or the cause is fixed)\n",
                f->cmd, f->list, f->error->message, f->list);
  else if (!quiet)
    print_stats (f->list, &f->stats, (g_get_monotonic_time () - f->started) / 1e6);
  g_clear_error (&f->error);
  g_mutex_clear (&f->lock);
  g_cond_clear (&f->more);
  g_free (f->list);
  g_free (f->dir);
  g_free (f);
  return ok;
}

int
annals_cli_index (int argc, char **argv)
{
  gboolean rebuild = FALSE, quiet = FALSE;
  int shards = 0;
  const GOptionEntry entries[] = {
    { "rebuild", 0, 0, G_OPTION_ARG_NONE, &rebuild,
      "Build the index anew from the store (beside the old one, then swapped)", NULL },
    { "shards", 0, 0, G_OPTION_ARG_INT, &shards,
      "With --rebuild: split the index into N shards (1 to 64), written in parallel, and set index-shards in "
      "annals.conf",
      "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress and no summary", NULL },
    { NULL },
  };
  if (!annals_cli_parse ("index", "[NAME...]",
                         "Updates the search index of the lists named (all lists by default) with what their\n"
                         "stores hold and it does not: incremental and resumable.  'annals ingest' runs it.",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  g_autoptr (AnnalsConfig) config = annals_cli_open_config ("index");
  if (config == NULL)
    return 1;
  if (shards != 0 && (!rebuild || shards < 1 || shards > 64)) {
    g_printerr ("annals index: --shards takes a number from 1 to 64 and goes with --rebuild "
                "(e.g. 'annals index --rebuild --shards 4 LIST')\n");
    return EX_USAGE;
  }
  g_auto (GStrv) all = annals_config_lists (config);
  char **lists = argc > 1 ? argv + 1 : all;
  int status = 0;
  for (char **l = lists; *l; l++) {
    if (shards != 0) {
      /* The option first: the rebuild reads it, and later runs keep it. */
      g_autoptr (GError) error = NULL;
      AnnalsConfigListChange ch = ANNALS_CONFIG_LIST_CHANGE_INIT;
      ch.index_shards = shards;
      if (!annals_config_change_list (config, *l, &ch, &error)) {
        annals_cli_fail ("index", error);
        status = 1;
        continue;
      }
    }
    if (!update_list (config, *l, rebuild, quiet))
      status = 1;
  }
  return status;
}
