/* annals-mirror: the program 'annals mirror' runs (cli/helper.h), apart
 * because it alone links libcurl.  annals runs it as
 * "annals-mirror [--root=DIR] mirror ARGS". */
#include <glib.h>

#include "cli/cmdline.h"
#include "cli/mirror.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  signal (SIGXFSZ, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);
  int first = 1;
  if (first < argc && g_str_has_prefix (argv[first], "--root=")) {
    annals_cli_set_global_root (argv[first] + strlen ("--root="));
    first++;
  }
  if (first >= argc || strcmp (argv[first], "mirror") != 0) {
    fprintf (stderr, "annals-mirror: annals runs this program: use 'annals mirror'\n");
    return EX_USAGE;
  }
  /* The usage line of --help says "annals mirror", as annals's would. */
  g_set_prgname ("annals mirror");
  return annals_cli_mirror (argc - first, argv + first);
}
