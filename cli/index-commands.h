/* index-commands: annals index, and the index updates ingest and redact
 * run after they write. */
#pragma once

#include "core/config.h"

G_BEGIN_DECLS

int annals_cli_index (int argc, char **argv);

/* Brings list's index up to date, printing progress (unless quiet) and
 * errors; FALSE after printing why. */
gboolean annals_cli_index_update (AnnalsConfig *config, const char *list, gboolean quiet);

/* Indexing beside a bulk ingest: started once the store is open (at
 * committed messages), told of every commit (an AnnalsIngestCommitted),
 * finished after the last; finish prints why on failure, as command cmd
 * ("ingest", "pull": the one the operator ran), and frees. */
typedef struct _AnnalsIndexFollower AnnalsIndexFollower;
AnnalsIndexFollower *annals_cli_index_follow_start (AnnalsConfig *config, const char *cmd, const char *list,
                                                    guint64 committed);
void annals_cli_index_follow_committed (gpointer follower, guint64 count);
gboolean annals_cli_index_follow_finish (AnnalsIndexFollower *follower, gboolean quiet);

G_END_DECLS
