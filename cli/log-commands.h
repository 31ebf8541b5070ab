/* log-commands: the transparency log's subcommands (key, proof, verify,
 * verify-proof, redact); see archive-commands.h for the convention. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int annals_cli_key (int argc, char **argv);
int annals_cli_proof (int argc, char **argv);
int annals_cli_verify (int argc, char **argv);
int annals_cli_verify_proof (int argc, char **argv);
int annals_cli_redact (int argc, char **argv);

G_END_DECLS
