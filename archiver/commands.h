/* commands: the archiver's subcommands of the annals program.
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status.  They are the only
 * archiver code that prints.
 */
#pragma once

#include "config.h"

G_BEGIN_DECLS

/* Run after ingest and redact changed list's store (unless --no-index):
 * the program sets it to the indexer's update.  Returns FALSE after
 * printing why. */
typedef gboolean (*AnnalsAfterWrite) (AnnalsConfig *config, const char *list, gboolean quiet);
void annals_archiver_set_after_write (AnnalsAfterWrite hook);
AnnalsAfterWrite annals_archiver_after_write (void);

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
