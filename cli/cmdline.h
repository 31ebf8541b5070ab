/* cmdline: what every annals subcommand does the same way: option
 * parsing with --help, the archive root, and error messages of the form
 * "annals CMD: what went wrong".
 *
 * Exit codes: 0, 1 for a failure, and sysexits.h's EX_* (and only those
 * names) where a caller acts on the kind: EX_USAGE (64), EX_DATAERR (65),
 * EX_TEMPFAIL (75, the MTA retries). */
#pragma once

#include "core/config.h"

G_BEGIN_DECLS

/* Parses options (adding --root when with_root); prints the error and
 * returns FALSE on a usage error. */
gboolean annals_cli_parse (const char *cmd, const char *params, const char *summary, const GOptionEntry *entries,
                           gboolean with_root, int *argc, char ***argv);
/* The root given before the command ("annals --root DIR CMD ..."); a
 * --root after the command wins.  dir is copied. */
void annals_cli_set_global_root (const char *dir);
/* That root, or NULL (owned by cmdline). */
const char *annals_cli_global_root (void);
/* Prints "annals CMD: message" and returns 1. */
int annals_cli_fail (const char *cmd, const GError *error);
/* Prints a usage error and returns EX_USAGE. */
int annals_cli_usage (const char *cmd, const char *what);
/* one when n is 1, else many: "1 list", "2 lists". */
const char *annals_cli_plural (guint64 n, const char *one, const char *many);
/* The root named by --root or $ANNALS_ROOT (new), or NULL with error. */
char *annals_cli_find_root (GError **error);
/* The archive named by --root or $ANNALS_ROOT, or NULL after printing why. */
AnnalsConfig *annals_cli_open_config (const char *cmd);
/* What ls and search print after a subject when the message is ordered
 * by its receipt, not by date (its Date:, more than a day later): the
 * web's mark, " (received; its Date: says 2099-01-01)"; else "".  New. */
char *annals_cli_date_note (gint64 date, gint64 receipt);

G_END_DECLS
