/* ingest-run: see ingest-run.h. */
#include <glib.h>

#include "cli/ingest-run.h"
#include "core/tlog.h"

gboolean
annals_cli_open_log (AnnalsConfig *config, const char *list, AnnalsTlog **log, AnnalsNoteKey **key, GError **error)
{
  *key = annals_config_load_key (config, error);
  if (*key == NULL)
    return FALSE;
  g_autofree char *dir = annals_config_list_dir (config, list, "log", error);
  g_autofree char *origin = annals_config_log_origin (config, list);
  *log = dir ? annals_tlog_open (dir, origin, error) : NULL;
  if (*log == NULL)
    return FALSE;
  /* Every list checkpoint is followed by the site's. */
  g_autofree char *site_origin = annals_config_site_origin (config);
  g_auto (GStrv) lists = annals_config_lists (config);
  annals_tlog_set_site (*log, annals_config_root (config), site_origin, (const char *const *) lists);
  return TRUE;
}

/* After each store commit: the feeder first (pull saves its position),
 * then the index follower. */
static void
run_committed (gpointer ctx, guint64 count)
{
  AnnalsIngestRun *run = ctx;
  if (run->on_commit != NULL)
    run->on_commit (run->on_commit_ctx, count);
  if (run->follower != NULL)
    annals_cli_index_follow_committed (run->follower, count);
}

AnnalsIngestRun *
annals_cli_ingest_run_open (AnnalsConfig *config, const char *cmd, const char *list, guint lock_timeout_ms,
                            gboolean no_index, GError **error)
{
  g_autofree char *store_dir = annals_config_list_dir (config, list, "store", error);
  if (store_dir == NULL)
    return NULL;
  g_autoptr (AnnalsIngestRun) run = g_new0 (AnnalsIngestRun, 1);
  run->config = config;
  run->list = g_strdup (list);
  run->writer = annals_store_writer_open (store_dir, lock_timeout_ms, error);
  if (run->writer == NULL)
    return NULL;
  run->ingest = annals_ingest_new (run->writer);
  if (!annals_cli_open_log (config, list, &run->log, &run->key, error))
    return NULL;
  annals_ingest_set_log (run->ingest, run->log, run->key, list);
  /* The index follows the ingest batch by batch, on the other core. */
  if (!no_index)
    run->follower = annals_cli_index_follow_start (config, cmd, list, annals_store_writer_count (run->writer));
  annals_ingest_set_on_commit (run->ingest, run_committed, run);
  return g_steal_pointer (&run);
}

void
annals_cli_ingest_run_set_on_commit (AnnalsIngestRun *run, AnnalsIngestCommitted fn, gpointer ctx)
{
  run->on_commit = fn;
  run->on_commit_ctx = ctx;
}

gboolean
annals_cli_ingest_run_finish_index (AnnalsIngestRun *run, gboolean quiet)
{
  if (run->follower == NULL)
    return TRUE;
  return annals_cli_index_follow_finish (g_steal_pointer (&run->follower), quiet);
}

gboolean
annals_cli_ingest_run_close (AnnalsIngestRun *run, gboolean quiet)
{
  gboolean indexed = annals_cli_ingest_run_finish_index (run, quiet);
  g_clear_pointer (&run->ingest, annals_ingest_free);
  g_clear_pointer (&run->writer, annals_store_writer_free); /* readers see it all; the lock is free */
  return indexed;
}

void
annals_cli_ingest_run_free (AnnalsIngestRun *run)
{
  if (run == NULL)
    return;
  annals_cli_ingest_run_finish_index (run, TRUE);
  g_clear_pointer (&run->ingest, annals_ingest_free);
  g_clear_pointer (&run->writer, annals_store_writer_free);
  g_clear_pointer (&run->log, annals_tlog_free);
  g_clear_pointer (&run->key, annals_note_key_free);
  g_free (run->list);
  g_free (run);
}
