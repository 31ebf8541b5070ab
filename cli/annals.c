/* annals: the command-line entry point; dispatches to subcommands. */
#include <glib.h>

#include "archiver/commands.h"
#include "cli/pull.h"
#include "indexer/commands.h"
#include "search/commands.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "init", annals_archiver_cmd_init, "create an archive root" },
  { "list-add", annals_archiver_cmd_list_add, "add a list" },
  { "lists", annals_archiver_cmd_lists, "show the lists and their message counts" },
  { "ingest", annals_archiver_cmd_ingest, "archive mail (mbox, maildir, or one message from the MTA)" },
  { "pull", annals_cli_pull, "archive what is new in an IMAP mailbox or an NNTP group" },
  { "ls", annals_archiver_cmd_ls, "list a list's messages" },
  { "cat", annals_archiver_cmd_cat, "write one message's exact bytes" },
  { "export", annals_archiver_cmd_export, "write a list's messages as mboxrd" },
  { "index", annals_indexer_cmd_index, "update the search index (ingest runs it)" },
  { "search", annals_search_cmd_search, "search the archive" },
  { "key", annals_archiver_cmd_key, "print the transparency logs' verifier key" },
  { "proof", annals_archiver_cmd_proof, "print a message's .tlog-proof, or a consistency proof" },
  { "verify", annals_archiver_cmd_verify, "check a mirror of the archive offline" },
  { "verify-proof", annals_archiver_cmd_verify_proof, "check a .tlog-proof (and a message) offline" },
  { "redact", annals_archiver_cmd_redact, "remove a message visibly, with a reason in the log" },
};

static void
usage (FILE *to)
{
  fprintf (to, "usage: annals COMMAND [OPTIONS] [ARGS]\n\n"
               "A mailing-list archive: every message kept byte for byte.\n"
               "The archive root comes from --root DIR or $ANNALS_ROOT.\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (to, "  %-13s %s\n", commands[i].name, commands[i].summary);
  fprintf (to, "\n'annals COMMAND --help' describes one command.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  /* A file size limit must give EFBIG and a clear message, not a kill. */
  signal (SIGXFSZ, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);
  annals_archiver_set_after_write (annals_indexer_after_write);
  annals_archiver_set_index_follower (annals_indexer_follow_hooks ());
  if (argc < 2) {
    usage (stderr);
    return 64;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0) {
    usage (stdout);
    return 0;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("annals %s\n", ANNALS_VERSION);
    return 0;
  }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, "annals: '%s' is not a command\n\n", argv[1]);
  usage (stderr);
  return 64;
}
