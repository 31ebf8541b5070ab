/* archive-commands: the archive's subcommands of the annals program
 * (init, list-add, ingest, ls, cat, export; lists is in list-commands.h).
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int annals_cli_init (int argc, char **argv);
int annals_cli_list_add (int argc, char **argv);
int annals_cli_ingest (int argc, char **argv);
int annals_cli_cat (int argc, char **argv);
int annals_cli_export (int argc, char **argv);
int annals_cli_ls (int argc, char **argv);

G_END_DECLS
