/* ingest-run: one ingest into a list, set up the way `annals ingest`
 * does it: the store writer (holding the list's lock), the transparency
 * log and the index following the ingest batch by batch.  `annals ingest`
 * and `annals pull` both use it, so that every message goes the same way.
 */
#pragma once

#include "archiver/ingest.h"
#include "cli/index-commands.h"
#include "core/config.h"
#include "core/note.h"

G_BEGIN_DECLS

/* Opens list's log and the site key for an ingest; every list checkpoint
 * is followed by the site's. */
gboolean annals_cli_open_log (AnnalsConfig *config, const char *list, AnnalsTlog **log, AnnalsNoteKey **key,
                              GError **error);

/* Fields are owned by the run; the config is borrowed.  The caller sets
 * the ingest's reporter (annals_ingest_set_reporter) to say what it
 * reports. */
typedef struct {
  AnnalsConfig *config;
  char *list;
  AnnalsStoreWriter *writer;
  AnnalsIngest *ingest;
  AnnalsTlog *log;
  AnnalsNoteKey *key;
  AnnalsIndexFollower *follower; /* NULL with no_index, or once finished */
  AnnalsIngestCommitted on_commit;
  gpointer on_commit_ctx;
} AnnalsIngestRun;

/* cmd is the command run ("ingest", "pull", static): it names the index's
 * errors. */
AnnalsIngestRun *annals_cli_ingest_run_open (AnnalsConfig *config, const char *cmd, const char *list,
                                             guint lock_timeout_ms, gboolean no_index, GError **error);
/* Calls fn right after each store commit, before the index follower
 * and the log (the run owns the ingest's own on-commit slot). */
void annals_cli_ingest_run_set_on_commit (AnnalsIngestRun *run, AnnalsIngestCommitted fn, gpointer ctx);
/* Lets the index take what was committed; FALSE after printing why. */
gboolean annals_cli_ingest_run_finish_index (AnnalsIngestRun *run, gboolean quiet);
/* Finishes the index and releases the store's lock (readers see it all).
 * FALSE after printing why the index failed (the messages are stored all
 * the same).  Commit before: what is pending is dropped, and the ingest's
 * stats go with it. */
gboolean annals_cli_ingest_run_close (AnnalsIngestRun *run, gboolean quiet);
void annals_cli_ingest_run_free (AnnalsIngestRun *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsIngestRun, annals_cli_ingest_run_free)

G_END_DECLS
