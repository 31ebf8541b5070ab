/* The command lines the docs show a user, run as written.
 *
 * Every fenced code block of README.md, doc/NAME.md and the manual pages
 * (doc/man/NAME.scd) is read at run time: a
 * block tagged sh (shell, bash, console) is a terminal session, every line
 * of it a command; in any other block a line is a command when it starts
 * with the annals program or a script of ours (the MTA line, a synopsis).
 * Each command runs with `sh -c`, one shell per block, in a temporary
 * folder that holds what the lines name (an archive root in place of
 * /srv/annals, old-archive.mbox, ~/Maildir/policy, message, big.mbox.xz,
 * my-copy.eml, 2021-April.txt.gz, $VKEY, yesterdays-checkpoint,
 * yesterdays-site-checkpoint) with `annals` on PATH as the
 * built binary.  Exported variables carry over from block to block, as in
 * one terminal.  Every command must exit 0, or N when its comment says
 * "exits N".  A command that cannot run here is on the exemption list
 * below, with the reason; an exemption that matches no doc line fails the
 * test, so the list stays short and true. */
#include "core/mbox.h"
#include "tests/test-util.h"
#include "tests/test-run.h"
#include "tests/test-servers.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Doc lines that are not run, by file and the start of the line. */
static const struct {
  const char *file;
  const char *prefix;
  const char *why;
} exemptions[] = {
  /* Installs packages, builds and serves in the foreground until Ctrl-C:
   * the demo of the whole tree, not something one test can run. */
  { "README.md", "./scripts/demo", "builds and serves in the foreground (the whole-tree demo)" },
  /* Runs both builds and every test, this one included. */
  { "README.md", "./scripts/test", "runs the whole test suite, this test included" },
  /* A synopsis: the brackets mark optional parts, it is no command line. */
  { "doc/search.md", "annals search [--list NAME]", "synopsis, not a command line" },
  /* Their hosts are examples; test-pull runs the same commands against
   * servers it starts. */
  { "README.md", "annals pull ",
    "needs an IMAP or NNTP server (test-pull runs them against Dovecot and public-inbox-nntpd)" },
};

/* Absolute paths in the docs and what stands for them here (under the
 * temporary folder). */
static const char *const doc_paths[] = { "/srv/annals", "/mirror/of/root", "/srv/mirror" };

typedef struct {
  guint line;    /* line number in the file, 1-based */
  char *text;    /* as the doc shows it (continuations joined) */
  int expect;    /* exit status the doc states, 0 by default */
  int exemption; /* index into exemptions[], or -1 */
} DocLine;

typedef struct {
  char *file; /* relative to the source root: README.md, doc/x.md */
  guint line; /* where the block opens */
  GPtrArray *lines;
} DocBlock;

static void
doc_line_free (DocLine *l)
{
  g_free (l->text);
  g_free (l);
}

static void
doc_block_free (DocBlock *b)
{
  g_free (b->file);
  g_ptr_array_unref (b->lines);
  g_free (b);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DocBlock, doc_block_free)

static gboolean
is_shell_tag (const char *tag)
{
  return strcmp (tag, "sh") == 0 || strcmp (tag, "shell") == 0 || strcmp (tag, "bash") == 0
         || strcmp (tag, "console") == 0;
}

/* Whether a line outside a shell block is a command: its first word is
 * the annals program or one of our scripts ("scripts/serve", not the
 * folder "scripts/" of a layout listing). */
static gboolean
looks_like_command (const char *line)
{
  if (g_str_has_prefix (line, "$ "))
    line += 2;
  g_autofree char *word = g_strndup (line, strcspn (line, " \t"));
  if (strcmp (word, "annals") == 0 || strcmp (word, "annals.cgi") == 0)
    return TRUE;
  /* The environment the commands after it read (export ANNALS_ROOT=...). */
  if (strcmp (word, "export") == 0)
    return TRUE;
  const char *w = g_str_has_prefix (word, "./") ? word + 2 : word;
  const char *dirs[] = { "scripts/", "bench/" };
  for (guint i = 0; i < G_N_ELEMENTS (dirs); i++)
    if (g_str_has_prefix (w, dirs[i]) && w[strlen (dirs[i])] != '\0')
      return TRUE;
  return FALSE;
}

/* The status a line's comment states ("# ... exits 75"), or 0. */
static int
stated_status (const char *text)
{
  const char *hash = strstr (text, " #");
  const char *s = hash ? strstr (hash, "exits ") : NULL;
  return s ? atoi (s + strlen ("exits ")) : 0;
}

static int
find_exemption (const char *file, const char *text)
{
  for (guint i = 0; i < G_N_ELEMENTS (exemptions); i++)
    if (strcmp (exemptions[i].file, file) == 0 && g_str_has_prefix (text, exemptions[i].prefix))
      return (int) i;
  return -1;
}

/* The blocks of markdown text that hold at least one command. */
static GPtrArray *
docs_extract (const char *file, const char *markdown)
{
  GPtrArray *blocks = g_ptr_array_new_with_free_func ((GDestroyNotify) doc_block_free);
  g_auto (GStrv) lines = g_strsplit (markdown, "\n", -1);
  DocBlock *block = NULL;
  gboolean shell = FALSE;
  DocLine *last = NULL;
  for (guint i = 0; lines[i] != NULL; i++) {
    const char *l = lines[i];
    if (g_str_has_prefix (l, "```")) {
      if (block == NULL) {
        block = g_new0 (DocBlock, 1);
        block->file = g_strdup (file);
        block->line = i + 1;
        block->lines = g_ptr_array_new_with_free_func ((GDestroyNotify) doc_line_free);
        g_autofree char *tag = g_strstrip (g_strdup (l + 3));
        shell = is_shell_tag (tag);
      } else {
        if (block->lines->len > 0)
          g_ptr_array_add (blocks, block);
        else
          doc_block_free (block);
        block = NULL;
      }
      last = NULL;
      continue;
    }
    if (block == NULL)
      continue;
    g_autofree char *trimmed = g_strstrip (g_strdup (l));
    /* A continued line: a trailing backslash, or (in a synopsis) an
     * indented line under a command. */
    if (last != NULL && (g_str_has_suffix (last->text, "\\") || (!shell && l[0] == ' ' && *trimmed != '\0'))) {
      char *joined = g_strconcat (last->text, "\n", l, NULL);
      g_free (last->text);
      last->text = joined;
      continue;
    }
    last = NULL;
    if (*trimmed == '\0' || *trimmed == '#')
      continue;
    if (!shell && !looks_like_command (trimmed))
      continue;
    DocLine *d = g_new0 (DocLine, 1);
    d->line = i + 1;
    d->text = g_strdup (trimmed);
    d->expect = stated_status (trimmed);
    d->exemption = find_exemption (file, trimmed);
    g_ptr_array_add (block->lines, d);
    last = d;
  }
  if (block != NULL) /* an unclosed fence: what it holds still counts */
    g_ptr_array_add (blocks, block);
  return blocks;
}

static void
test_extract_rules (void)
{
  const char *md = "# A doc\n"
                   "annals outside a block is prose\n"
                   "```sh\n"
                   "export ANNALS_ROOT=/srv/annals   # a comment\n"
                   "\n"
                   "# a comment line\n"
                   "annals ingest policy x.mbox \\\n"
                   "  --quiet\n"
                   "annals verify /mirror/of/root   # exits 1 when a check fails\n"
                   "```\n"
                   "```\n"
                   "store/FORMAT   the text\n"
                   "scripts/       install-deps, build (a layout)\n"
                   "policy: archived 3\n"
                   "```\n"
                   "```\n"
                   "annals --root /srv/annals ingest policy --mda\n"
                   "scripts/serve /srv/annals --port 8080\n"
                   "```\n"
                   "```\n"
                   "annals search [--list NAME]... [--all]\n"
                   "              [--limit N] QUERY...\n"
                   "```\n";
  g_autoptr (GPtrArray) blocks = docs_extract ("doc/search.md", md);
  g_assert_cmpuint (blocks->len, ==, 3);
  DocBlock *b = blocks->pdata[0];
  g_assert_cmpuint (b->line, ==, 3);
  g_assert_cmpuint (b->lines->len, ==, 3);
  DocLine *l = b->lines->pdata[0];
  g_assert_cmpstr (l->text, ==, "export ANNALS_ROOT=/srv/annals   # a comment");
  g_assert_cmpuint (l->line, ==, 4);
  l = b->lines->pdata[1];
  g_assert_cmpstr (l->text, ==, "annals ingest policy x.mbox \\\n  --quiet");
  l = b->lines->pdata[2];
  g_assert_cmpint (l->expect, ==, 1);
  g_assert_cmpint (l->exemption, ==, -1);
  b = blocks->pdata[1];
  g_assert_cmpuint (b->lines->len, ==, 2);
  g_assert_cmpstr (((DocLine *) b->lines->pdata[0])->text, ==, "annals --root /srv/annals ingest policy --mda");
  g_assert_cmpstr (((DocLine *) b->lines->pdata[1])->text, ==, "scripts/serve /srv/annals --port 8080");
  b = blocks->pdata[2];
  g_assert_cmpuint (b->lines->len, ==, 1);
  l = b->lines->pdata[0];
  g_assert_nonnull (strstr (l->text, "[--limit N]"));
  g_assert_cmpint (l->exemption, >=, 0);
}

/* The session the doc lines run in. */
typedef struct {
  char *tmp;
  char *src;
  char *root;       /* stands for /srv/annals */
  char *stdin_path; /* what a block's stdin holds: a delivery from the MTA */
  GStrv env;
  GArray *server_pids; /* lighttpd started by serve lines */
  guint serves;
  int serve_port; /* the block's last serve line's port: stands for 8080 in its URLs */
  GString *failures;
} Session;

static char *
in_tmp (Session *s, const char *rel)
{
  return g_build_filename (s->tmp, rel, NULL);
}

static void
put (Session *s, const char *rel, const char *data, gssize len)
{
  g_autofree char *path = in_tmp (s, rel);
  g_autofree char *dir = g_path_get_dirname (path);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_set_contents (path, data, len, &error));
}

static void
sh_ok (Session *s, const char *script)
{
  const char *argv[] = { "sh", "-c", script, NULL };
  g_autofree char *err = NULL;
  int status;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (s->tmp, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("'%s' failed: %s", script, err);
}

static const char doc_message[] = "From: Member <member@example.org>\n"
                                  "To: policy@example.org\n"
                                  "Subject: [policy] the message the docs deliver\n"
                                  "Date: Tue, 20 Apr 2021 10:00:00 +0000\n"
                                  "Message-ID: <id@example.org>\n"
                                  "\n"
                                  "The budget, and a code of conduct.\n";

static const char mta_delivery[] = "From: Other <other@example.org>\n"
                                   "To: policy@example.org\n"
                                   "Subject: [policy] delivered by the MTA\n"
                                   "Date: Wed, 21 Apr 2021 10:00:00 +0000\n"
                                   "Message-ID: <mta-delivery@example.org>\n"
                                   "\n"
                                   "Piped to annals by Postfix.\n";

/* The files the doc lines name. */
static void
session_setup (Session *s)
{
  s->tmp = test_util_tmpdir ();
  s->src = g_strdup (g_getenv ("ANNALS_SOURCE_ROOT"));
  g_assert_nonnull (s->src);
  s->root = in_tmp (s, "srv/annals");
  s->failures = g_string_new (NULL);
  s->server_pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  /* annals on PATH is the binary under test. */
  g_autofree char *bin_dir = in_tmp (s, "bin");
  g_assert_cmpint (g_mkdir_with_parents (bin_dir, 0755), ==, 0);
  g_autofree char *bin = g_canonicalize_filename (annals_bin (), NULL);
  g_autofree char *link = g_build_filename (bin_dir, "annals", NULL);
  g_assert_cmpint (symlink (bin, link), ==, 0);
  g_autofree char *srv = in_tmp (s, "srv");
  g_assert_cmpint (g_mkdir_with_parents (srv, 0755), ==, 0);
  /* The mirror is the archive itself (verify reads it offline). */
  g_autofree char *mirror = in_tmp (s, "mirror/of");
  g_assert_cmpint (g_mkdir_with_parents (mirror, 0755), ==, 0);
  g_autofree char *mirror_root = in_tmp (s, "mirror/of/root");
  g_assert_cmpint (symlink (s->root, mirror_root), ==, 0);
  /* The shipped sample as the old archive (300 real messages). */
  g_autofree char *sample = g_build_filename (s->src, "samples", "ksummit-sample.mbox.gz", NULL);
  g_autofree char *qsample = g_shell_quote (sample);
  g_autofree char *unzip = g_strdup_printf ("gzip -dc %s > old-archive.mbox", qsample);
  sh_ok (s, unzip);
  /* Enough more messages for the README's slices and its consistency proof
   * from 1000 entries. */
  g_autoptr (GString) big = g_string_new (NULL);
  for (guint i = 0; i < 1000; i++) {
    g_autoptr (GString) m = test_util_message (10000 + i, 300);
    annals_mbox_append_mboxrd (big, NULL, "member@example.org", 1618846131 + i, (const guint8 *) m->str, m->len);
  }
  put (s, "big.mbox", big->str, (gssize) big->len);
  sh_ok (s, "xz -z big.mbox");
  /* A Mailman 2 month, gzip'd, as pipermail publishes it. */
  put (s, "2021-April.txt",
       "From alice at example.org  Tue Apr  6 10:02:03 2021\n"
       "From: alice at example.org (Alice Liddell)\n"
       "Date: Tue, 06 Apr 2021 10:02:03 +0000\n"
       "Subject: [policy] Budget\n"
       "Message-ID: <pipermail-1@example.org>\n"
       "\n"
       "From the project policies:\n"
       "<https://example.org/policies.html>\n"
       "\n",
       -1);
  sh_ok (s, "gzip 2021-April.txt");
  put (s, "message", doc_message, -1);
  put (s, "my-copy.eml", doc_message, -1);
  put (s, "mta-delivery.eml", mta_delivery, -1);
  s->stdin_path = in_tmp (s, "mta-delivery.eml");
  put (s, "home/Maildir/policy/cur/1600000001.M1P1.host:2,S",
       "Message-ID: <md1@example.org>\nSubject: from the maildir\n\none\n", -1);
  put (s, "home/Maildir/policy/new/1600000002.M1P1.host", "Message-ID: <md2@example.org>\nSubject: new\n\ntwo\n", -1);
  g_autofree char *md_tmp = in_tmp (s, "home/Maildir/policy/tmp");
  g_assert_cmpint (g_mkdir_with_parents (md_tmp, 0755), ==, 0);
  /* The user's environment: no ANNALS_ROOT (the docs export it). */
  s->env = g_get_environ ();
  s->env = g_environ_unsetenv (s->env, "ANNALS_ROOT");
  s->env = g_environ_unsetenv (s->env, "VKEY");
  g_autofree char *home = in_tmp (s, "home");
  s->env = g_environ_setenv (s->env, "HOME", home, TRUE);
  g_autofree char *path = g_strconcat (bin_dir, ":", g_environ_getenv (s->env, "PATH"), NULL);
  s->env = g_environ_setenv (s->env, "PATH", path, TRUE);
  /* scripts/serve runs the CGI built beside the annals under test. */
  g_autofree char *cgi = test_server_cgi_path ();
  s->env = g_environ_setenv (s->env, "ANNALS_CGI", cgi, TRUE);
}

static void
stop_servers (Session *s)
{
  for (guint i = 0; i < s->server_pids->len; i++)
    test_server_kill (g_array_index (s->server_pids, GPid, i));
  g_array_set_size (s->server_pids, 0);
}

static void
session_clear (Session *s)
{
  stop_servers (s);
  test_util_rm_rf (s->tmp);
  g_free (s->tmp);
  g_free (s->src);
  g_free (s->root);
  g_free (s->stdin_path);
  g_strfreev (s->env);
  g_array_unref (s->server_pids);
  g_string_free (s->failures, TRUE);
}

static char *
replace_all (const char *text, const char *from, const char *to)
{
  g_auto (GStrv) parts = g_strsplit (text, from, -1);
  return g_strjoinv (to, parts);
}

typedef struct {
  int port;
  char *run_dir;
} Serve;

/* The doc line as the test runs it: paths moved under the temporary
 * folder, our scripts found in the source tree, and a serve line in the
 * background on a free port (stopped after its block). */
static char *
rewrite (Session *s, const char *text, Serve *serve)
{
  g_autofree char *t = g_strdup (text);
  for (guint i = 0; i < G_N_ELEMENTS (doc_paths); i++) {
    g_autofree char *to = g_strconcat (s->tmp, doc_paths[i], NULL);
    g_autofree char *next = replace_all (t, doc_paths[i], to);
    g_free (t);
    t = g_steal_pointer (&next);
  }
  if (s->serve_port > 0 && strstr (t, "scripts/serve ") == NULL) {
    g_autofree char *to = g_strdup_printf ("127.0.0.1:%d", s->serve_port);
    g_autofree char *next = replace_all (t, "127.0.0.1:8080", to);
    g_free (t);
    t = g_steal_pointer (&next);
  }
  const char *rel = g_str_has_prefix (t, "./") ? t + 2 : t;
  if (g_str_has_prefix (rel, "scripts/") || g_str_has_prefix (rel, "bench/")) {
    char *abs = g_build_filename (s->src, rel, NULL);
    g_free (t);
    t = abs;
  }
  if (strstr (t, "scripts/serve ") != NULL) {
    serve->port = test_server_free_port ();
    s->serve_port = serve->port;
    serve->run_dir = g_strdup_printf ("%s/serve-%u", s->tmp, s->serves++);
    /* Drop a trailing comment so the options added below count. */
    char *hash = strstr (t, " #");
    if (hash != NULL)
      *hash = '\0';
    g_autofree char *port = g_strdup_printf ("--port %d", serve->port);
    g_autofree char *moved = replace_all (t, "--port 8080", port);
    g_free (t);
    t = g_strdup_printf ("%s --background --run-dir %s", moved, serve->run_dir);
  }
  return g_steal_pointer (&t);
}

static void
stdin_from_file (gpointer path)
{
  int fd = open (path, O_RDONLY);
  if (fd >= 0) {
    dup2 (fd, STDIN_FILENO);
    close (fd);
  }
}

static void fail (Session *s, const DocBlock *b, const DocLine *l, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static void
fail (Session *s, const DocBlock *b, const DocLine *l, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_string_append_printf (s->failures, "%s:%u: %s\n    %s\n", b->file, l->line, l->text, why);
}

/* A served archive answers its front page. */
static void
check_served (Session *s, const DocBlock *b, const DocLine *l, Serve *serve)
{
  g_autofree char *pidf = g_build_filename (serve->run_dir, "lighttpd.pid", NULL);
  if (!g_file_test (pidf, G_FILE_TEST_EXISTS)) {
    fail (s, b, l, "no lighttpd.pid in '%s'", serve->run_dir);
    return;
  }
  GPid p = test_server_adopt_pidfile (pidf);
  g_array_append_val (s->server_pids, p);
  g_autofree char *cmd = g_strdup_printf ("curl -s -o /dev/null -w '%%{http_code}' --retry 50 --retry-connrefused "
                                          "--retry-delay 0 --retry-max-time 30 http://127.0.0.1:%d/",
                                          serve->port);
  g_autofree char *out = NULL;
  int status;
  g_spawn_command_line_sync (cmd, &out, NULL, &status, NULL);
  if (out == NULL || strcmp (out, "200") != 0)
    fail (s, b, l, "the served archive answered '/' with '%s', not 200", out ? out : "nothing");
}

/* What the docs take from earlier steps, made once the archive exists:
 * $VKEY (the output of 'annals key') and yesterdays-checkpoint. */
static void
prepare_derived (Session *s)
{
  g_autofree char *key = g_build_filename (s->root, "keys", "site.key", NULL);
  if (g_environ_getenv (s->env, "VKEY") == NULL && g_file_test (key, G_FILE_TEST_EXISTS)) {
    Run r = run (s->root, "key");
    assert_status (r, 0);
    g_strchomp (r.out);
    s->env = g_environ_setenv (s->env, "VKEY", r.out, TRUE);
    run_clear (&r);
  }
  g_autofree char *cp = g_build_filename (s->root, "policy", "log", "checkpoint", NULL);
  g_autofree char *old = in_tmp (s, "yesterdays-checkpoint");
  g_autofree char *text = NULL;
  gsize len;
  if (!g_file_test (old, G_FILE_TEST_EXISTS) && g_file_get_contents (cp, &text, &len, NULL))
    put (s, "yesterdays-checkpoint", text, (gssize) len);
  g_autofree char *site_cp = g_build_filename (s->root, "log", "site-checkpoint", NULL);
  g_autofree char *old_site = in_tmp (s, "yesterdays-site-checkpoint");
  g_autofree char *site_text = NULL;
  if (!g_file_test (old_site, G_FILE_TEST_EXISTS) && g_file_get_contents (site_cp, &site_text, &len, NULL))
    put (s, "yesterdays-site-checkpoint", site_text, (gssize) len);
}

static void
run_block (Session *s, const DocBlock *b)
{
  g_autoptr (GString) script = g_string_new (NULL);
  g_autofree Serve *serves = g_new0 (Serve, b->lines->len);
  guint to_run = 0;
  for (guint i = 0; i < b->lines->len; i++) {
    const DocLine *l = b->lines->pdata[i];
    if (l->exemption >= 0) {
      g_test_message ("%s:%u: exempt (%s): %s", b->file, l->line, exemptions[l->exemption].why, l->text);
      continue;
    }
    g_autofree char *cmd = rewrite (s, l->text, &serves[i]);
    g_string_append_printf (script, "%s\necho \"%u $?\" >> \"$ANNALS_DOC_STATUS\"\n", cmd, i);
    to_run++;
  }
  s->serve_port = 0;
  if (to_run == 0)
    return;
  g_string_append (script, "env -0 > \"$ANNALS_DOC_ENV\"\n");
  g_autofree char *status_path = in_tmp (s, "doc-status");
  g_autofree char *env_path = in_tmp (s, "doc-env");
  g_unlink (status_path);
  g_unlink (env_path);
  g_auto (GStrv) env = g_strdupv (s->env);
  env = g_environ_setenv (env, "ANNALS_DOC_STATUS", status_path, TRUE);
  env = g_environ_setenv (env, "ANNALS_DOC_ENV", env_path, TRUE);
  const char *argv[] = { "sh", "-c", script->str, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int wait_status;
  g_autoptr (GError) error = NULL;
  g_test_message ("%s:%u: running\n%s", b->file, b->line, script->str);
  g_assert_true (g_spawn_sync (s->tmp, (char **) argv, env, G_SPAWN_SEARCH_PATH, stdin_from_file, s->stdin_path, &out,
                               &err, &wait_status, &error));
  g_assert_no_error (error);
  /* Each line's exit status, by its index in the block. */
  g_autofree char *statuses = NULL;
  g_file_get_contents (status_path, &statuses, NULL, NULL);
  g_auto (GStrv) rows = g_strsplit (statuses ? statuses : "", "\n", -1);
  g_autofree int *got = g_new (int, b->lines->len);
  for (guint i = 0; i < b->lines->len; i++)
    got[i] = -1;
  for (guint i = 0; rows[i] != NULL; i++) {
    guint idx;
    int st;
    if (sscanf (rows[i], "%u %d", &idx, &st) == 2 && idx < b->lines->len)
      got[idx] = st;
  }
  for (guint i = 0; i < b->lines->len; i++) {
    const DocLine *l = b->lines->pdata[i];
    if (l->exemption >= 0)
      continue;
    if (got[i] < 0)
      fail (s, b, l, "did not run (the block's shell stopped before it); stderr:\n%s", err);
    else if (got[i] != l->expect)
      fail (s, b, l, "exited %d, the doc says %d; the block's stderr:\n%s", got[i], l->expect, err);
    else if (serves[i].run_dir != NULL)
      check_served (s, b, l, &serves[i]);
    g_free (serves[i].run_dir);
  }
  stop_servers (s);
  /* Exports carry over to the next block, as in one terminal. */
  g_autofree char *envs = NULL;
  gsize len = 0;
  if (g_file_get_contents (env_path, &envs, &len, NULL)) {
    for (const char *p = envs; p < envs + len; p += strlen (p) + 1) {
      const char *eq = strchr (p, '=');
      if (eq == NULL)
        continue;
      g_autofree char *name = g_strndup (p, (gsize) (eq - p));
      const char *skip[] = { "_", "SHLVL", "PWD", "OLDPWD", "ANNALS_DOC_STATUS", "ANNALS_DOC_ENV" };
      gboolean keep = TRUE;
      for (guint k = 0; k < G_N_ELEMENTS (skip); k++)
        keep &= strcmp (name, skip[k]) != 0;
      if (keep)
        s->env = g_environ_setenv (s->env, name, eq + 1, TRUE);
    }
  }
  prepare_derived (s);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static GPtrArray *
doc_files (const char *src)
{
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (files, g_strdup ("README.md"));
  g_autofree char *doc = g_build_filename (src, "doc", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) d = g_dir_open (doc, 0, &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".md"))
      g_ptr_array_add (names, g_strconcat ("doc/", name, NULL));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    g_ptr_array_add (files, g_strdup (names->pdata[i]));
  return files;
}

/* The manual pages (doc/man/NAME.scd): each EXAMPLES section is a walk
 * through of its own, from an empty archive. */
static GPtrArray *
man_files (const char *src)
{
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *man = g_build_filename (src, "doc", "man", NULL);
  g_autoptr (GDir) d = g_dir_open (man, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".scd"))
      g_ptr_array_add (files, g_strconcat ("doc/man/", name, NULL));
  g_ptr_array_sort (files, compare_names);
  return files;
}

static void
run_file (Session *s, const char *file, gboolean *used, guint *ran)
{
  g_autofree char *path = g_build_filename (s->src, file, NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_autoptr (GPtrArray) blocks = docs_extract (file, text);
  for (guint i = 0; i < blocks->len; i++) {
    DocBlock *b = blocks->pdata[i];
    for (guint k = 0; k < b->lines->len; k++) {
      DocLine *l = b->lines->pdata[k];
      if (l->exemption >= 0)
        used[l->exemption] = TRUE;
      else
        (*ran)++;
    }
    run_block (s, b);
  }
}

static void
test_doc_commands (void)
{
  Session s = { 0 };
  session_setup (&s);
  g_autoptr (GPtrArray) files = doc_files (s.src);
  gboolean used[G_N_ELEMENTS (exemptions)] = { FALSE };
  guint ran = 0;
  for (guint f = 0; f < files->len; f++)
    run_file (&s, files->pdata[f], used, &ran);
  g_autoptr (GString) all_failures = g_string_new (s.failures->str);
  g_autoptr (GPtrArray) pages = man_files (s.src);
  session_clear (&s);
  for (guint f = 0; f < pages->len; f++) {
    Session m = { 0 };
    session_setup (&m);
    run_file (&m, pages->pdata[f], used, &ran);
    g_string_append (all_failures, m.failures->str);
    session_clear (&m);
  }
  for (guint i = 0; i < G_N_ELEMENTS (exemptions); i++)
    if (!used[i])
      g_string_append_printf (all_failures, "exemption '%s' in %s matches no doc line: remove it from test-docs.c\n",
                              exemptions[i].prefix, exemptions[i].file);
  g_test_message ("%u doc command lines run", ran);
  if (all_failures->len > 0)
    g_error ("doc command lines that fail:\n%s", all_failures->str);
  /* The README's walk-through alone has more than twenty. */
  g_assert_cmpuint (ran, >=, 20);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("Every command line README.md, doc/*.md and the manual pages show a user runs as written");
  g_test_add_func ("/docs/extract/rules", test_extract_rules);
  g_test_add_func ("/docs/commands/run-all", test_doc_commands);
  return g_test_run ();
}
