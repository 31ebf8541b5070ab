/* commands: the archiver's subcommands of the annals program.
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status.  They are the only
 * archiver code that prints.
 */
#pragma once

G_BEGIN_DECLS

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
