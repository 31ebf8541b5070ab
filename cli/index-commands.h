/* commands: the indexer's subcommands (annals index) and the update the
 * archiver runs after it writes (see archiver/commands.h). */
#pragma once

#include "core/config.h"
#include "cli/archive-commands.h"

G_BEGIN_DECLS

int annals_cli_index (int argc, char **argv);

/* Brings list's index up to date, printing progress (unless quiet) and
 * errors.  An AnnalsAfterWrite. */
gboolean annals_cli_index_after_write (AnnalsConfig *config, const char *list, gboolean quiet);

/* The index following a bulk ingest (see archiver/commands.h). */
const AnnalsIndexFollowHooks *annals_cli_index_follow_hooks (void);

G_END_DECLS
