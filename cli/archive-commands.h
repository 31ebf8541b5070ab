/* commands: the archiver's subcommands of the annals program.
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status.  They are the only
 * archiver code that prints.
 */
#pragma once

#include "core/config.h"

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

int annals_cli_init (int argc, char **argv);
int annals_cli_list_add (int argc, char **argv);
int annals_cli_lists (int argc, char **argv);
int annals_cli_ingest (int argc, char **argv);
int annals_cli_cat (int argc, char **argv);
int annals_cli_export (int argc, char **argv);
int annals_cli_ls (int argc, char **argv);
int annals_cli_key (int argc, char **argv);
int annals_cli_proof (int argc, char **argv);
int annals_cli_verify (int argc, char **argv);
int annals_cli_verify_proof (int argc, char **argv);
int annals_cli_redact (int argc, char **argv);

G_END_DECLS
