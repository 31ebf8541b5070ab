/* search-commands: the search subcommand. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int annals_cli_search (int argc, char **argv);

G_END_DECLS
