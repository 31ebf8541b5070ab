/* annals: the command-line entry point; dispatches to subcommands. */
#include <glib.h>

#include "cli/archive-commands.h"
#include "cli/cmdline.h"
#include "cli/index-commands.h"
#include "cli/list-commands.h"
#include "cli/log-commands.h"
#include "cli/helper.h"
#include "cli/pull.h"
#include "cli/search-commands.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

typedef struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "init", annals_cli_init, "create an archive root" },
  { "list-add", annals_cli_list_add, "add a list" },
  { "list-set", annals_cli_list_set, "change a list's address, description or obfuscation" },
  { "list-close", annals_cli_list_close, "close a list: no more mail, its archive stays served" },
  { "list-open", annals_cli_list_open, "reopen a closed list" },
  { "lists", annals_cli_lists, "show the lists, their state and message counts" },
  { "ingest", annals_cli_ingest, "archive mail (mbox, maildir, or one message from the MTA)" },
  { "pull", annals_cli_pull, "archive what is new in an IMAP mailbox or an NNTP group" },
  { "ls", annals_cli_ls, "list a list's messages" },
  { "cat", annals_cli_cat, "write one message's exact bytes" },
  { "export", annals_cli_export, "write a list's messages as mboxrd" },
  { "index", annals_cli_index, "update the search index (ingest runs it)" },
  { "search", annals_cli_search, "search the archive" },
  { "key", annals_cli_key, "print the transparency logs' verifier key" },
  { "proof", annals_cli_proof, "print a message's .tlog-proof, or a consistency proof" },
  { "verify", annals_cli_verify, "check a mirror of the archive offline" },
  { "verify-proof", annals_cli_verify_proof, "check a .tlog-proof (and a message) offline" },
  { "redact", annals_cli_redact, "remove a message visibly, with a reason in the log" },
  { "mirror", annals_cli_run_helper, "copy and verify another annals site over HTTP" },
};

static void
usage (FILE *to)
{
  fprintf (to, "usage: annals [--root DIR] COMMAND [OPTIONS] [ARGS]\n"
               "       annals --help [COMMAND] | --version\n\n"
               "A mailing-list archive: every message kept byte for byte.\n"
               "The archive root comes from --root DIR (before or after the command)\n"
               "or $ANNALS_ROOT.\n\nCommands:\n");
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
  /* Global options before the command, as git and notmuch take them: the
   * MTA line "annals --root DIR ingest LIST --mda" must not exit 64 (EX_USAGE), which
   * Postfix and Exim treat as a permanent failure. */
  int first = 1;
  gboolean help = FALSE;
  for (; first < argc && argv[first][0] == '-'; first++) {
    const char *a = argv[first];
    if (strcmp (a, "--root") == 0 || strcmp (a, "-r") == 0) {
      if (first + 1 >= argc) {
        fprintf (stderr, "annals: %s needs a DIR (see 'annals --help')\n", a);
        return EX_USAGE;
      }
      annals_cli_set_global_root (argv[++first]);
    } else if (g_str_has_prefix (a, "--root=")) {
      annals_cli_set_global_root (a + strlen ("--root="));
    } else if (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0) {
      help = TRUE;
    } else if (strcmp (a, "--version") == 0) {
      printf ("annals %s\n", ANNALS_VERSION);
      return 0;
    } else {
      fprintf (stderr, "annals: '%s' is not a global option (those are --root DIR, --help, --version)\n\n", a);
      usage (stderr);
      return EX_USAGE;
    }
  }
  if (first < argc && strcmp (argv[first], "help") == 0) {
    help = TRUE;
    first++;
  }
  if (first >= argc) {
    if (help) {
      usage (stdout);
      return 0;
    }
    fprintf (stderr, "annals: no command given\n\n");
    usage (stderr);
    return EX_USAGE;
  }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[first], commands[i].name) == 0) {
      /* The usage line of the command's --help says "annals CMD". */
      g_autofree char *prgname = g_strconcat ("annals ", commands[i].name, NULL);
      g_set_prgname (prgname);
      if (help) {
        char help_opt[] = "--help";
        char *help_argv[] = { argv[first], help_opt, NULL };
        return commands[i].run (2, help_argv);
      }
      return commands[i].run (argc - first, argv + first);
    }
  fprintf (stderr, "annals: '%s' is not a command\n\n", argv[first]);
  usage (stderr);
  return EX_USAGE;
}
