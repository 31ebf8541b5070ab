/* pull: the "annals pull" command, fetching a list's mail from IMAP or
 * NNTP (the work is archiver/pull.h's; this is the command line). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int annals_cli_pull (int argc, char **argv);

G_END_DECLS
