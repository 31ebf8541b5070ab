/* list-commands: administering the archive's lists without editing
 * annals.conf (lists, list-set, list-close, list-open).
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int annals_cli_lists (int argc, char **argv);
int annals_cli_list_set (int argc, char **argv);
int annals_cli_list_close (int argc, char **argv);
int annals_cli_list_open (int argc, char **argv);

G_END_DECLS
