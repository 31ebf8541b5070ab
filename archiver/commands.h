/* commands: the archiver's subcommands of the annals program.
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status.  They are the only
 * archiver code that prints.
 */
#pragma once

#include "config.h"
#include "ingest.h"
#include "note.h"

G_BEGIN_DECLS

/* Run after ingest and redact changed list's store (unless --no-index):
 * the program sets it to the indexer's update.  Returns FALSE after
 * printing why. */
typedef gboolean (*AnnalsAfterWrite) (AnnalsConfig *config, const char *list, gboolean quiet);
void annals_archiver_set_after_write (AnnalsAfterWrite hook);
AnnalsAfterWrite annals_archiver_after_write (void);

/* Indexing beside a bulk ingest (unless --no-index): started once the
 * store is open, told of every commit, finished after the last.  The
 * program sets these to the indexer's; without them ingest falls back to
 * the after-write update. */
typedef struct _AnnalsIndexFollower AnnalsIndexFollower;
typedef struct {
  AnnalsIndexFollower *(*start) (AnnalsConfig *config, const char *list, guint64 committed);
  void (*committed) (gpointer follower, guint64 count);
  gboolean (*finish) (AnnalsIndexFollower *follower, gboolean quiet); /* prints why on failure */
} AnnalsIndexFollowHooks;
void annals_archiver_set_index_follower (const AnnalsIndexFollowHooks *hooks);

/* One ingest into a list, set up the way `annals ingest` does it: the
 * store writer (holding the list's lock), the transparency log and the
 * index follower.  Other feeders (pull) use it so that every message goes
 * the same way.  Fields are owned by the run; the config is borrowed. */
typedef struct {
  AnnalsConfig *config;
  char *list;
  AnnalsStoreWriter *writer;
  AnnalsIngest *ingest;
  AnnalsTlog *log;
  AnnalsNoteKey *key;
  AnnalsIndexFollower *follower;
  gboolean followed; /* a follower was started (the index needs no catch-up) */
  gboolean no_index;
  AnnalsIngestCommitted on_commit;
  gpointer on_commit_ctx;
} AnnalsIngestRun;
AnnalsIngestRun *annals_archiver_ingest_run_open (AnnalsConfig *config,
                                                  const char *list,
                                                  guint lock_timeout_ms,
                                                  gboolean progress,
                                                  gboolean no_index,
                                                  GError **error);
/* Calls fn right after each store commit, before the index follower
 * and the log (the run owns the ingest's own on-commit slot). */
void annals_archiver_ingest_run_set_on_commit (AnnalsIngestRun *run, AnnalsIngestCommitted fn, gpointer ctx);
/* Lets the index take what was committed; FALSE after printing why. */
gboolean annals_archiver_ingest_run_finish_index (AnnalsIngestRun *run, gboolean quiet);
/* Finishes the index, releases the store's lock, and brings the index up
 * to date if no follower ran.  FALSE after printing why (the messages are
 * stored all the same).  Commit before: what is pending is dropped. */
gboolean annals_archiver_ingest_run_close (AnnalsIngestRun *run, gboolean quiet);
void annals_archiver_ingest_run_free (AnnalsIngestRun *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsIngestRun, annals_archiver_ingest_run_free)

int annals_archiver_cmd_init (int argc, char **argv);
int annals_archiver_cmd_list_add (int argc, char **argv);
int annals_archiver_cmd_lists (int argc, char **argv);
int annals_archiver_cmd_ingest (int argc, char **argv);
int annals_archiver_cmd_cat (int argc, char **argv);
int annals_archiver_cmd_export (int argc, char **argv);
int annals_archiver_cmd_ls (int argc, char **argv);
int annals_archiver_cmd_key (int argc, char **argv);
int annals_archiver_cmd_proof (int argc, char **argv);
int annals_archiver_cmd_verify (int argc, char **argv);
int annals_archiver_cmd_verify_proof (int argc, char **argv);
int annals_archiver_cmd_redact (int argc, char **argv);

G_END_DECLS
