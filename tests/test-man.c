/* The manual pages say what the programs do: every command `annals --help`
 * lists has a section in annals(1) naming each option its `--help` prints;
 * every annals.conf key the code reads is under its [group] in
 * annals.conf(5); every environment variable the programs read is in
 * annals(1) or annals.cgi(8).
 *
 * Data-driven: the commands and options come from the built binary, the
 * keys and variables from the source files (ANNALS_SOURCE_ROOT), so a
 * command, option or key added to the code and not to the page fails here.
 * The pages are read in their source form, doc/man/NAME.scd (scdoc):
 * a command's section opens with a line `## annals CMD`, an option is an
 * item line starting `*-`, a key group opens with `## [GROUP]` and a key is
 * an item line `*KEY*`. */
#include "test-run.h"
#include "test-util.h"

#include <string.h>

static char *
source_path (const char *rel)
{
  const char *root = g_getenv ("ANNALS_SOURCE_ROOT");
  g_assert_nonnull (root);
  return g_build_filename (root, rel, NULL);
}

static char *
read_source (const char *rel)
{
  g_autofree char *path = source_path (rel);
  g_autoptr (GError) error = NULL;
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, &error))
    g_error ("cannot read the page '%s': %s (write it in doc/man/)", path, error->message);
  return text;
}

/* The lines of page after the line equal to heading, up to the next
 * heading (a line starting with '#'); NULL when there is no such heading. */
static char *
page_section (const char *page, const char *heading)
{
  g_auto (GStrv) lines = g_strsplit (page, "\n", -1);
  GString *s = NULL;
  for (char **l = lines; *l != NULL; l++) {
    if (s != NULL) {
      if ((*l)[0] == '#')
        break;
      g_string_append (s, *l);
      g_string_append_c (s, '\n');
    } else if (strcmp (g_strchomp (*l), heading) == 0) {
      s = g_string_new (NULL);
    }
  }
  return s ? g_string_free (s, FALSE) : NULL;
}

/* Whether section has an item line (starting with '*') that shows each of
 * the space-separated words in bold (`*word*`). */
static gboolean
section_has_item (const char *section, const char *first, const char *second)
{
  if (section == NULL)
    return FALSE;
  g_autofree char *b1 = g_strdup_printf ("*%s*", first);
  g_autofree char *b2 = second ? g_strdup_printf ("*%s*", second) : NULL;
  g_auto (GStrv) lines = g_strsplit (section, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    if ((*l)[0] == '*' && strstr (*l, b1) != NULL && (b2 == NULL || strstr (*l, b2) != NULL))
      return TRUE;
  return FALSE;
}

/* The commands `annals --help` lists, in its order. */
static GPtrArray *
help_commands (void)
{
  Run r = run (NULL, "--help");
  assert_status (r, 0);
  GPtrArray *cmds = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lines = g_strsplit (r.out, "\n", -1);
  gboolean in = FALSE;
  for (char **l = lines; *l != NULL; l++) {
    if (strcmp (*l, "Commands:") == 0) {
      in = TRUE;
      continue;
    }
    if (in && **l == '\0')
      break;
    if (in) {
      g_auto (GStrv) words = g_strsplit_set (g_strstrip (*l), " \t", 2);
      g_ptr_array_add (cmds, g_strdup (words[0]));
    }
  }
  run_clear (&r);
  g_assert_cmpuint (cmds->len, >, 0);
  return cmds;
}

/* Which options of cmd (as its --help prints them) the page does not show,
 * one "CMD --OPTION" per line; "" when none. */
static char *
missing_options (const char *page, const char *cmd)
{
  GString *missing = g_string_new (NULL);
  g_autofree char *heading = g_strdup_printf ("## annals %s", cmd);
  g_autofree char *section = page_section (page, heading);
  g_autofree char *global = page_section (page, "# OPTIONS");
  if (section == NULL)
    g_string_append_printf (missing, "%s (no '%s' section)\n", cmd, heading);
  Run r = run (NULL, cmd, "--help");
  assert_status (r, 0);
  g_autoptr (GRegex) re = g_regex_new ("^\\s+(?:(-\\w), )?(--[\\w-]+)", G_REGEX_MULTILINE, 0, NULL);
  g_autoptr (GMatchInfo) m = NULL;
  guint n = 0;
  for (g_regex_match (re, r.out, 0, &m); g_match_info_matches (m); g_match_info_next (m, NULL)) {
    g_autofree char *shortopt = g_match_info_fetch (m, 1);
    g_autofree char *longopt = g_match_info_fetch (m, 2);
    const char *s = *shortopt ? shortopt : NULL;
    n++;
    if (!section_has_item (section, longopt, s) && !section_has_item (global, longopt, s))
      g_string_append_printf (missing, "%s %s%s%s\n", cmd, s ? s : "", s ? ", " : "", longopt);
  }
  run_clear (&r);
  /* --help at least: a parse that finds nothing would pass anything. */
  g_assert_cmpuint (n, >, 0);
  return g_string_free (missing, FALSE);
}

static void
test_commands (void)
{
  g_autofree char *page = read_source ("doc/man/annals.1.scd");
  g_autoptr (GPtrArray) cmds = help_commands ();
  GString *missing = g_string_new (NULL);
  for (guint i = 0; i < cmds->len; i++) {
    g_autofree char *m = missing_options (page, cmds->pdata[i]);
    g_string_append (missing, m);
  }
  g_autofree char *all = g_string_free (missing, FALSE);
  if (*all != '\0')
    g_error ("doc/man/annals.1.scd does not document (an item line '*-x*, *--opt*' under '## annals CMD'):\n%s", all);
}

/* No section for a command the program does not have. */
static void
test_no_stale_commands (void)
{
  g_autofree char *page = read_source ("doc/man/annals.1.scd");
  g_autoptr (GPtrArray) cmds = help_commands ();
  g_auto (GStrv) lines = g_strsplit (page, "\n", -1);
  for (char **l = lines; *l != NULL; l++) {
    if (!g_str_has_prefix (*l, "## annals "))
      continue;
    const char *cmd = *l + strlen ("## annals ");
    gboolean known = FALSE;
    for (guint i = 0; i < cmds->len && !known; i++)
      known = strcmp (cmds->pdata[i], cmd) == 0;
    if (!known)
      g_error ("doc/man/annals.1.scd has a section for '%s', which 'annals --help' does not list", cmd);
  }
}

/* The check above fails when an option is missing from the page: remove
 * one item line and one section and see it named. */
static void
test_catches_missing (void)
{
  g_autofree char *page = read_source ("doc/man/annals.1.scd");
  g_autofree char *ok = missing_options (page, "ingest");
  g_assert_cmpstr (ok, ==, "");
  g_autoptr (GRegex) item = g_regex_new ("^\\*--mda\\*\\n", G_REGEX_MULTILINE, 0, NULL);
  g_autofree char *cut = g_regex_replace_literal (item, page, -1, 0, "", 0, NULL);
  g_assert_cmpuint (strlen (cut), <, strlen (page));
  g_autofree char *m = missing_options (cut, "ingest");
  g_assert_cmpstr (m, ==, "ingest --mda\n");
  g_auto (GStrv) parts = g_strsplit (page, "## annals ingest\n", -1);
  g_autofree char *gone = g_strjoinv ("## annals ingested\n", parts);
  g_autofree char *m2 = missing_options (gone, "ingest");
  g_assert_nonnull (strstr (m2, "no '## annals ingest' section"));
}

/* The source files of the programs: every .c and .cc under the top-level
 * folders except tests, fuzz and bench (a folder added later is read too). */
static GPtrArray *
program_sources (void)
{
  g_autofree char *root = source_path (".");
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) top = g_dir_open (root, 0, NULL);
  g_assert_nonnull (top);
  for (const char *d; (d = g_dir_read_name (top)) != NULL;) {
    if (d[0] == '.' || g_str_has_prefix (d, "build") || strcmp (d, "tests") == 0 || strcmp (d, "fuzz") == 0
        || strcmp (d, "bench") == 0)
      continue;
    g_autofree char *dir = g_build_filename (root, d, NULL);
    g_autoptr (GDir) sub = g_dir_open (dir, 0, NULL);
    if (sub == NULL)
      continue;
    for (const char *f; (f = g_dir_read_name (sub)) != NULL;)
      if (g_str_has_suffix (f, ".c") || g_str_has_suffix (f, ".cc"))
        g_ptr_array_add (files, g_build_filename (d, f, NULL));
  }
  g_assert_cmpuint (files->len, >, 10);
  return files;
}

typedef struct {
  const char *pattern; /* group in \1 (or fixed), key in \2 */
  const char *group;   /* NULL: from the match; "" when any group will do */
} KeyRead;

/* How the code reads annals.conf.  A variable group (a list's "list %s")
 * is not known here: its key must be under some group. */
static const KeyRead key_reads[] = {
  { "g_key_file_get_\\w+\\s*\\(\\s*[^,;]+,\\s*\"([^\"]+)\"\\s*,\\s*\"([^\"]+)\"", NULL },
  { "g_key_file_get_\\w+\\s*\\(\\s*[^,;]+,\\s*()[a-z_]\\w*\\s*,\\s*\"([^\"]+)\"", "" },
  { "annals_config_\\w*get\\w*\\s*\\(\\s*[^,;]+,\\s*\"([^\"]+)\"\\s*,\\s*\"([^\"]+)\"", NULL },
  { "annals_config_list_get\\s*\\(\\s*[^,;]+,[^,;]+,\\s*()\"([^\"]+)\"", "list NAME" },
  { "annals_web_limit\\s*\\(\\s*[^,;]+,\\s*()\"([^\"]+)\"", "web" },
};

/* Groups of other key files than annals.conf, documented where they are
 * (doc/config.md): the pull state, ROOT/LIST/pull/HOST-HASH.state. */
static const char *const not_conf_groups[] = { "pull" };

static gboolean
is_conf_group (const char *group)
{
  for (gsize i = 0; i < G_N_ELEMENTS (not_conf_groups); i++)
    if (strcmp (group, not_conf_groups[i]) == 0)
      return FALSE;
  return TRUE;
}

static void
test_conf_keys (void)
{
  g_autofree char *page = read_source ("doc/man/annals.conf.5.scd");
  g_autoptr (GPtrArray) files = program_sources ();
  GString *missing = g_string_new (NULL);
  guint found = 0;
  for (guint i = 0; i < files->len; i++) {
    g_autofree char *text = read_source (files->pdata[i]);
    for (gsize k = 0; k < G_N_ELEMENTS (key_reads); k++) {
      g_autoptr (GRegex) re = g_regex_new (key_reads[k].pattern, 0, 0, NULL);
      g_autoptr (GMatchInfo) m = NULL;
      for (g_regex_match (re, text, 0, &m); g_match_info_matches (m); g_match_info_next (m, NULL)) {
        g_autofree char *g = g_match_info_fetch (m, 1);
        g_autofree char *key = g_match_info_fetch (m, 2);
        const char *group = key_reads[k].group ? key_reads[k].group : g;
        if (!is_conf_group (group))
          continue;
        g_autofree char *what = g_strdup_printf ("[%s] %s", *group ? group : "*", key);
        g_test_message ("%s reads %s", (char *) files->pdata[i], what);
        found++;
        gboolean ok;
        if (*group == '\0') {
          ok = FALSE;
          g_auto (GStrv) lines = g_strsplit (page, "\n", -1);
          for (char **l = lines; *l != NULL && !ok; l++)
            if (g_str_has_prefix (*l, "## [")) {
              g_autofree char *s = page_section (page, *l);
              ok = section_has_item (s, key, NULL);
            }
        } else {
          g_autofree char *heading = g_strdup_printf ("## [%s]", group);
          g_autofree char *s = page_section (page, heading);
          ok = section_has_item (s, key, NULL);
        }
        if (!ok)
          g_string_append_printf (missing, "%s (read in %s)\n", what, (char *) files->pdata[i]);
      }
    }
  }
  g_autofree char *all = g_string_free (missing, FALSE);
  if (*all != '\0')
    g_error ("doc/man/annals.conf.5.scd does not document (an item line '*key*' under '## [group]'):\n%s", all);
  /* The site's name and base-url at least: patterns that match nothing
   * would pass anything. */
  g_assert_cmpuint (found, >=, 5);
}

/* Every environment variable read in files under dir (or outside tests,
 * fuzz, bench and web-cgi when dir is NULL) is an item of the page's
 * ENVIRONMENT section.  Test hooks (_TEST_ in the name) are not for users. */
static void
check_environment (const char *page_file, const char *dir)
{
  g_autofree char *page = read_source (page_file);
  g_autofree char *env = page_section (page, "# ENVIRONMENT");
  g_assert_nonnull (env);
  g_autoptr (GPtrArray) files = program_sources ();
  g_autoptr (GRegex) re
      = g_regex_new ("(?:getenv|FCGX_GetParam|param)\\s*\\(\\s*(?:source\\s*,\\s*)?\"([A-Z][A-Z0-9_]*)\"", 0, 0, NULL);
  GString *missing = g_string_new (NULL);
  guint found = 0;
  for (guint i = 0; i < files->len; i++) {
    const char *f = files->pdata[i];
    if (dir ? !g_str_has_prefix (f, dir) : g_str_has_prefix (f, "web-cgi/"))
      continue;
    g_autofree char *text = read_source (f);
    g_autoptr (GMatchInfo) m = NULL;
    for (g_regex_match (re, text, 0, &m); g_match_info_matches (m); g_match_info_next (m, NULL)) {
      g_autofree char *name = g_match_info_fetch (m, 1);
      if (strstr (name, "_TEST_") != NULL)
        continue;
      found++;
      g_autofree char *bold = g_strdup_printf ("*%s*", name);
      if (!section_has_item (env, name, NULL) && strstr (missing->str, bold) == NULL)
        g_string_append_printf (missing, "%s (read in %s)\n", bold, f);
    }
  }
  g_autofree char *all = g_string_free (missing, FALSE);
  if (*all != '\0')
    g_error ("%s does not document in its ENVIRONMENT section:\n%s", page_file, all);
  g_assert_cmpuint (found, >, 0);
}

static void
test_environment (void)
{
  check_environment ("doc/man/annals.1.scd", NULL);
}

static void
test_cgi_environment (void)
{
  check_environment ("doc/man/annals.cgi.8.scd", "web-cgi/");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The manual pages document every command, option, annals.conf key and environment variable");
  g_test_add_func ("/man/annals/commands", test_commands);
  g_test_add_func ("/man/annals/no-stale-commands", test_no_stale_commands);
  g_test_add_func ("/man/annals/catches-missing", test_catches_missing);
  g_test_add_func ("/man/annals/environment", test_environment);
  g_test_add_func ("/man/conf/keys", test_conf_keys);
  g_test_add_func ("/man/cgi/environment", test_cgi_environment);
  return g_test_run ();
}
