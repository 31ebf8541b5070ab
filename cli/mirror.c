/* mirror: 'annals mirror URL DIR', a verified copy of a site over HTTP;
 * see mirror.h and archiver/mirror.h. */
#include <glib.h>

#include "cli/mirror.h"
#include "cli/cmdline.h"
#include "archiver/mirror.h"
#include "indexer/index.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

static void
on_report (gpointer ctx, gboolean warning, const char *message)
{
  if (warning)
    g_printerr ("annals mirror: warning: %s\n", message);
  else
    g_print ("%s\n", message);
}

int
annals_cli_mirror (int argc, char **argv)
{
  char *list = NULL, *key_arg = NULL;
  const GOptionEntry entries[] = {
    { "list", 0, 0, G_OPTION_ARG_STRING, &list, "Mirror only this list (without the site checkpoint)", "NAME" },
    { "key", 0, 0, G_OPTION_ARG_STRING, &key_arg,
      "The origin's verifier key (the string, or a file holding it); default: the key pinned by the first run, "
      "which takes the origin's /about/vkey with a warning",
      "VKEY" },
    { NULL },
  };
  if (!annals_cli_parse ("mirror", "URL DIR",
                         "Copies the public record of the annals site at URL (every list, or --list NAME) into\n"
                         "the local root DIR, fetching only what is new since the last run, and verifies it\n"
                         "before it replaces anything: the signed checkpoints, every message against the log,\n"
                         "and that the log extends what DIR held (no rollback, no rewritten history); a re-run\n"
                         "verifies only the new entries and the old ones the origin rewrote (a redaction):\n"
                         "'annals verify DIR' checks the whole copy.\n"
                         "Redactions on the origin are followed (the bytes go here too).  A run that is\n"
                         "killed or cut off resumes its downloads; one that does not verify changes nothing\n"
                         "and exits 1.  Exit 75: the origin could not be reached (run it again later).\n"
                         "Lists indexed in DIR are indexed as they are copied (run 'annals --root DIR index'\n"
                         "once to start); scripts/serve DIR serves the copy.",
                         entries, FALSE, &argc, &argv))
    return EX_USAGE;
  g_autofree G_GNUC_UNUSED char *l_owned = list, *k_owned = key_arg;
  if (argc != 3)
    return annals_cli_usage ("mirror", "give the origin's URL and a DIR");
  g_autofree char *key_text = NULL;
  if (key_arg != NULL && g_file_test (key_arg, G_FILE_TEST_IS_REGULAR)) {
    g_autoptr (GError) error = NULL;
    if (!g_file_get_contents (key_arg, &key_text, NULL, &error))
      return annals_cli_fail ("mirror", error);
  } else if (key_arg != NULL) {
    key_text = g_strdup (key_arg);
  }
  AnnalsMirrorOptions o = { argv[1], argv[2], list, key_text, on_report, NULL };
  AnnalsMirrorStats stats;
  g_autoptr (GError) error = NULL;
  if (!annals_mirror_run (&o, &stats, &error)) {
    annals_cli_fail ("mirror", error);
    return g_error_matches (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_NETWORK) ? EX_TEMPFAIL : 1;
  }
  /* A list already indexed here is kept up to date, as ingest does:
   * above all, a redaction followed must leave none of the message's
   * words in the index. */
  g_autoptr (AnnalsConfig) config = annals_config_open (argv[2], &error);
  g_auto (GStrv) lists = config ? annals_config_lists (config) : NULL;
  for (char **l = lists; l && *l; l++) {
    g_autofree char *dir = g_build_filename (argv[2], *l, NULL);
    g_autofree char *index = g_build_filename (dir, "index", NULL);
    if ((list != NULL && strcmp (list, *l) != 0) || !g_file_test (index, G_FILE_TEST_IS_DIR))
      continue;
    AnnalsIndexStats is;
    if (!annals_index_update (dir, *l, FALSE, NULL, NULL, &is, &error)) {
      g_printerr ("annals mirror: %s: the copy is verified, but its index could not be updated: %s; run 'annals "
                  "--root %s index %s'\n",
                  *l, error->message, argv[2], *l);
      return 1;
    }
    g_print ("%s: indexed %" G_GUINT64_FORMAT " messages, removed %" G_GUINT64_FORMAT "\n", *l, is.indexed, is.removed);
  }
  g_print ("mirrored %u list%s from %s: %" G_GUINT64_FORMAT " new entries (%" G_GUINT64_FORMAT
           " redactions followed), %.1f MB fetched\n",
           stats.lists, annals_cli_plural (stats.lists, "", "s"), argv[1], stats.entries, stats.redactions,
           (double) stats.bytes / 1e6);
  return 0;
}
