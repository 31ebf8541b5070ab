/* End-to-end tests of list administration: list-set, list-close,
 * list-open and lists, with the real binaries.  annals.conf changes must
 * be validated, survive concurrent admins and a kill half-way, and a bad
 * annals.conf must be reported with its line; a closed list refuses mail
 * and keeps serving its record. */
#include "tests/test-util.h"
#include "tests/test-run.h"
#include "tests/test-servers.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

typedef struct {
  char *tmp;
  char *root;
  char *conf;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  (void) data;
  f->tmp = test_util_tmpdir ();
  f->root = g_build_filename (f->tmp, "root", NULL);
  f->conf = g_build_filename (f->root, "annals.conf", NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  test_util_rm_rf (f->tmp);
  g_free (f->tmp);
  g_free (f->root);
  g_free (f->conf);
}

static void
make_archive (Fixture *f)
{
  assert_ok (run (f->root, "init"));
  assert_ok (
      run (f->root, "list-add", "policy", "--address", "policy@example.org", "--description", "Policy discussion"));
}

/* annals.conf as a key file (the test reads it as any tool would). */
static GKeyFile *
load_conf (Fixture *f)
{
  GKeyFile *kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_key_file_load_from_file (kf, f->conf, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  return kf;
}

static char *
conf_get (Fixture *f, const char *list, const char *key)
{
  g_autoptr (GKeyFile) kf = load_conf (f);
  g_autofree char *group = g_strconcat ("list ", list, NULL);
  return g_key_file_get_string (kf, group, key, NULL);
}

static void
write_conf (Fixture *f, const char *text)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_set_contents (f->conf, text, -1, &error));
  g_assert_no_error (error);
}

static const char mail[] = "Message-ID: <closed1@example.org>\nFrom: Alice <alice@example.org>\n"
                           "Subject: before the close\nDate: Mon, 19 Apr 2021 15:28:51 +0000\n\nhello\n";

/* Each new command has --help, its usage line naming it once. */
static void
test_help (Fixture *f, gconstpointer data)
{
  (void) f;
  (void) data;
  const char *cmds[] = { "list-set", "list-close", "list-open", "lists" };
  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++) {
    Run r = run (NULL, cmds[i], "--help");
    assert_status (r, 0);
    g_autofree char *usage = g_strdup_printf ("Usage:\n  annals %s [OPTION", cmds[i]);
    if (!g_str_has_prefix (r.out, usage))
      g_error ("--help of %s: %s", cmds[i], r.out);
    run_clear (&r);
  }
  Run r = run (NULL, "--help");
  assert_status (r, 0);
  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++) {
    g_autofree char *line = g_strdup_printf ("\n  %s ", cmds[i]);
    g_assert_nonnull (strstr (r.out, line));
  }
  run_clear (&r);
}

static void
test_list_set (Fixture *f, gconstpointer data)
{
  (void) data;
  make_archive (f);
  assert_ok (run (f->root, "list-set", "policy", "--address", "policy-new@lists.example.org", "--description",
                  "Policy, budgets and votes", "--obfuscate", "on"));
  g_autofree char *address = conf_get (f, "policy", "address");
  g_autofree char *desc = conf_get (f, "policy", "description");
  g_autofree char *obf = conf_get (f, "policy", "obfuscate");
  g_assert_cmpstr (address, ==, "policy-new@lists.example.org");
  g_assert_cmpstr (desc, ==, "Policy, budgets and votes");
  g_assert_cmpstr (obf, ==, "true");
  Run r = run (f->root, "lists");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==,
                   "policy\t0\topen\tobfuscate=on\tpolicy-new@lists.example.org\tPolicy, budgets and votes\n");
  run_clear (&r);
  /* One field at a time: the others stay. */
  assert_ok (run (f->root, "list-set", "policy", "--obfuscate", "off"));
  g_autofree char *obf2 = conf_get (f, "policy", "obfuscate");
  g_autofree char *desc2 = conf_get (f, "policy", "description");
  g_assert_cmpstr (obf2, ==, "false");
  g_assert_cmpstr (desc2, ==, "Policy, budgets and votes");
  /* An empty address clears it. */
  assert_ok (run (f->root, "list-set", "policy", "--address", ""));
  r = run (f->root, "lists");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, "policy\t0\topen\tobfuscate=off\t-\tPolicy, budgets and votes\n");
  run_clear (&r);

  /* Bad values are refused and change nothing. */
  g_autofree char *before = NULL;
  g_assert_true (g_file_get_contents (f->conf, &before, NULL, NULL));
  const struct {
    const char *opt, *value, *says;
  } bad[] = {
    { "--address", "not an address", "not an address" },
    { "--address", "policy@", "not an address" },
    { "--address", "@example.org", "not an address" },
    { "--address", "a@b@example.org", "not an address" },
    { "--address", "<policy@example.org>", "not an address" },
    { "--description", "two\nlines", "one line" },
    { "--description", "bell\a", "control character" },
    { "--description", "escape \x1b[31m red", "control character" },
    /* GOption or annals: either refuses it as a usage error. */
    { "--description", "bad \xff utf-8", "list-set" },
    { "--obfuscate", "maybe", "on or off" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autofree char *shown = g_strescape (bad[i].value, NULL);
    g_test_message ("bad %s '%s'", bad[i].opt, shown);
    assert_fails (run (f->root, "list-set", "policy", bad[i].opt, bad[i].value), EX_USAGE, bad[i].says);
  }
  g_autofree char *after = NULL;
  g_assert_true (g_file_get_contents (f->conf, &after, NULL, NULL));
  g_assert_cmpstr (after, ==, before);
  assert_fails (run (f->root, "list-set", "policy"), EX_USAGE, "nothing to change");
  assert_fails (run (f->root, "list-set"), EX_USAGE, "list NAME");
  assert_fails (run (f->root, "list-set", "nolist", "--obfuscate", "on"), 1, "no list 'nolist'");
  /* list-add validates the same way. */
  assert_fails (run (f->root, "list-add", "other", "--address", "nobody"), EX_USAGE, "not an address");
  assert_fails (run (f->root, "list-add", "other", "--description", "a\nb"), EX_USAGE, "one line");
}

static void
test_lists_json (Fixture *f, gconstpointer data)
{
  (void) data;
  make_archive (f);
  assert_ok (run_full (f->root, mail, strlen (mail), NULL, "ingest", "policy", "--mda", NULL));
  assert_ok (run (f->root, "list-add", "quiet"));
  assert_ok (run (f->root, "list-close", "quiet", "--reason", "moved to \"forum\""));
  Run r = run (f->root, "lists", "--format", "json");
  assert_status (r, 0);
  g_test_message ("%s", r.out);
  g_assert_true (g_str_has_prefix (r.out, "[\n"));
  g_assert_nonnull (
      strstr (r.out, "{\"name\": \"policy\", \"messages\": 1, \"redactions\": 0, \"address\": \"policy@example.org\", "
                     "\"description\": \"Policy discussion\", \"obfuscate\": false, \"closed\": false}"));
  g_assert_nonnull (strstr (
      r.out, "\"name\": \"quiet\", \"messages\": 0, \"redactions\": 0, \"address\": null, \"description\": null, "
             "\"obfuscate\": false, \"closed\": true, \"closed-date\": \""));
  g_assert_nonnull (strstr (r.out, "\"closed-reason\": \"moved to \\\"forum\\\"\"}"));
  run_clear (&r);
  assert_fails (run (f->root, "lists", "--format", "xml"), EX_USAGE, "text or json");
}

static void
test_list_close (Fixture *f, gconstpointer data)
{
  (void) data;
  make_archive (f);
  assert_ok (run_full (f->root, mail, strlen (mail), NULL, "ingest", "policy", "--mda", NULL));
  g_autofree char *mbox = g_build_filename (f->tmp, "more.mbox", NULL);
  g_assert_true (
      g_file_set_contents (mbox, "From x Mon Apr 19 15:28:51 2021\nMessage-ID: <more@x>\n\nmore\n", -1, NULL));
  assert_ok (run (f->root, "list-close", "policy", "--reason", "moved to discuss.example.org"));
  g_autofree char *closed = conf_get (f, "policy", "closed");
  g_autofree char *reason = conf_get (f, "policy", "closed-reason");
  g_autofree char *date = conf_get (f, "policy", "closed-date");
  g_assert_cmpstr (closed, ==, "true");
  g_assert_cmpstr (reason, ==, "moved to discuss.example.org");
  g_assert_nonnull (date);
  g_assert_cmpuint (strlen (date), ==, 10); /* YYYY-MM-DD */
  assert_fails (run (f->root, "list-close", "policy"), 1, "closed already");

  /* No more mail, from any way in, with a status no MTA retries. */
  const char next[] = "Message-ID: <closed2@example.org>\nSubject: after\n\nlate\n";
  Run r = run_full (f->root, next, strlen (next), NULL, "ingest", "policy", "--mda", NULL);
  assert_status (r, EX_UNAVAILABLE);
  g_assert_nonnull (strstr (r.err, "list 'policy' is closed"));
  g_assert_nonnull (strstr (r.err, "moved to discuss.example.org"));
  run_clear (&r);
  assert_fails (run (f->root, "ingest", "policy", mbox), EX_UNAVAILABLE, "is closed");
  assert_fails (run_full (f->root, "", 0, NULL, "ingest", "policy", NULL), EX_UNAVAILABLE, "is closed");
  /* pull refuses before it connects (nothing listens on port 1). */
  assert_fails (run (f->root, "pull", "policy", "imap://archiver@127.0.0.1:1/INBOX"), EX_UNAVAILABLE, "is closed");

  /* The record stays: store, log, proofs, verification. */
  r = run (f->root, "lists");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, "policy\t1\tclosed\tobfuscate=off\tpolicy@example.org\tPolicy discussion\n");
  run_clear (&r);
  r = run (f->root, "cat", "policy", "0");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, mail);
  run_clear (&r);
  assert_ok (run (f->root, "proof", "policy", "<closed1@example.org>"));
  r = run (f->root, "key");
  assert_status (r, 0);
  g_autofree char *vkey = g_strstrip (g_strdup (r.out));
  run_clear (&r);
  assert_ok (run (NULL, "verify", f->root, "--key", vkey));
  /* Other admin changes still work on a closed list. */
  assert_ok (run (f->root, "list-set", "policy", "--obfuscate", "on"));

  /* The web still serves it, and says it is closed. */
  g_autofree char *page = test_server_cgi_get (f->root, "/policy/", NULL);
  g_assert_nonnull (strstr (page, "200"));
  g_assert_nonnull (strstr (page, "This list is closed"));
  g_assert_nonnull (strstr (page, "moved to discuss.example.org"));
  g_autofree char *msg = test_server_cgi_get (f->root, "/policy/closed1@example.org/raw", NULL);
  g_assert_nonnull (strstr (msg, "hello"));

  /* Reopened, it takes mail again. */
  assert_ok (run (f->root, "list-open", "policy"));
  g_autofree char *closed2 = conf_get (f, "policy", "closed");
  g_autofree char *reason2 = conf_get (f, "policy", "closed-reason");
  g_assert_null (closed2);
  g_assert_null (reason2);
  assert_fails (run (f->root, "list-open", "policy"), 1, "not closed");
  assert_ok (run_full (f->root, next, strlen (next), NULL, "ingest", "policy", "--mda", NULL));
  g_autofree char *page2 = test_server_cgi_get (f->root, "/policy/", NULL);
  g_assert_null (strstr (page2, "This list is closed"));
  assert_fails (run (f->root, "list-close", "nolist"), 1, "no list 'nolist'");
  assert_fails (run (f->root, "list-close", "policy", "--reason", "a\nb"), EX_USAGE, "one line");
}

static void
test_corrupt_conf (Fixture *f, gconstpointer data)
{
  (void) data;
  make_archive (f);
  write_conf (f, "[site]\nversion=1\nname=annals\n\n[list policy]\nthis line is no key\naddress=policy@example.org\n");
  assert_fails (run (f->root, "lists"), 1, "annals.conf:6:");
  Run r = run (f->root, "ls", "policy");
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.err, f->conf));
  g_assert_nonnull (strstr (r.err, ":6:"));
  run_clear (&r);
  /* An unclosed group on the first line. */
  write_conf (f, "[site\nname=x\n");
  assert_fails (run (f->root, "lists"), 1, "annals.conf:1:");
  /* A value that is neither true nor false is named, with its list. */
  write_conf (f, "[site]\nname=annals\n\n[list policy]\naddress=policy@example.org\nobfuscate=maybe\n");
  r = run (f->root, "lists");
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.err, "annals.conf"));
  g_assert_nonnull (strstr (r.err, "list 'policy'"));
  g_assert_nonnull (strstr (r.err, "obfuscate=maybe"));
  run_clear (&r);
  write_conf (f, "[site]\nname=annals\n\n[list policy]\nclosed=perhaps\n");
  assert_fails (run (f->root, "ingest", "policy", "/dev/null"), 1, "closed=perhaps");
  /* The web says it too, rather than serving with a guess. */
  g_autofree char *page = test_server_cgi_get (f->root, "/policy/", NULL);
  g_assert_nonnull (strstr (page, "500"));
  g_assert_nonnull (strstr (page, "closed=perhaps"));
}

/* A hand-edited value annals would misread (a negative web limit read
 * as unlimited, an address that is none, a date that is none) is
 * reported by every command and the web with its file, line and key. */
static void
test_bad_values (Fixture *f, gconstpointer data)
{
  (void) data;
  make_archive (f);
  static const struct {
    const char *group, *line, *expect;
  } cases[] = {
    { "web", "mbox-max-messages=-5", "[web] mbox-max-messages=-5" },
    { "web", "mbox-max-bytes=lots", "[web] mbox-max-bytes=lots" },
    { "web", "text-max-bytes=0", "[web] text-max-bytes=0" },
    { "web", "message-max-bytes=16M", "[web] message-max-bytes=16M" },
    { "site", "base-url=ftp://example.org/", "[site] base-url=ftp://example.org/" },
    { "list policy", "address=policy at example.org", "[list policy] address=policy at example.org" },
    { "list policy", "description=two\\nlines", "[list policy] description=" },
    { "list policy", "closed-date=yesterday", "[list policy] closed-date=yesterday" },
    { "list policy", "closed-reason=a\\tb", "[list policy] closed-reason=" },
    { "list policy", "index-shards=0", "[list policy] index-shards=0 is not a whole number from 1 to 64" },
    { "list policy", "index-shards=65", "[list policy] index-shards=65" },
    { "list policy", "index-shards=four", "[list policy] index-shards=four" },
    { "list policy", "index-remote-timeout=0",
      "[list policy] index-remote-timeout=0 is not a whole number from 1 to 3600" },
    { "list policy", "index-remote-timeout=5s", "[list policy] index-remote-timeout=5s" },
    { "list policy", "index-remote-timeout=3601", "[list policy] index-remote-timeout=3601" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_test_message ("[%s] %s", cases[i].group, cases[i].line);
    g_autofree char *text = g_strdup_printf ("[site]\nversion=1\nname=annals\n\n[list policy]\n"
                                             "obfuscate=false\n\n[%s]\n%s\n",
                                             cases[i].group, cases[i].line);
    write_conf (f, text);
    Run r = run (f->root, "lists");
    g_test_message ("stderr: %s", r.err);
    assert_status (r, 1);
    g_assert_nonnull (strstr (r.err, f->conf));
    g_assert_nonnull (strstr (r.err, ":9:"));
    g_assert_nonnull (strstr (r.err, cases[i].expect));
    run_clear (&r);
    g_autofree char *page = test_server_cgi_get (f->root, "/policy/", NULL);
    g_assert_nonnull (strstr (page, "500"));
    g_assert_nonnull (strstr (page, cases[i].expect));
  }
  /* The good values still load. */
  write_conf (f, "[site]\nname=annals\nbase-url=https://lists.example.org/\n\n[list policy]\n"
                 "address=policy@example.org\nclosed=true\nclosed-date=2026-12-01\nclosed-reason=moved\n"
                 "index-shards=64\nindex-remote-timeout=3600\n\n"
                 "[web]\nmbox-max-messages=10\nmbox-max-bytes=1048576\ntext-max-bytes=4096\n"
                 "message-max-bytes=1048576\n");
  assert_ok (run (f->root, "lists"));
  /* init does not write a base-url every command would then refuse. */
  g_autofree char *other = g_build_filename (f->tmp, "other", NULL);
  assert_fails (run (other, "init", "--base-url", "ftp://example.org/"), 64, "--base-url");
  g_assert_false (g_file_test (other, G_FILE_TEST_EXISTS));
}

/* Starts annals in the background, its output discarded. */
static GPid
spawn_bg (Fixture *f, const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  g_autoptr (GPtrArray) argv = run_argv_va (annals_bin (), first, ap);
  va_end (ap);
  g_auto (GStrv) env = g_get_environ ();
  env = g_environ_setenv (env, "ANNALS_ROOT", f->root, TRUE);
  GPid pid;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_async (NULL, (char **) argv->pdata, env,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                NULL, NULL, &pid, &error));
  g_assert_no_error (error);
  return pid;
}

static int
wait_status (GPid pid)
{
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

/* Admins at the same moment: every change lands, none overwrites another. */
static void
test_concurrent (Fixture *f, gconstpointer data)
{
  (void) data;
  enum { N = 20 };
  assert_ok (run (f->root, "init"));
  for (guint i = 0; i < N; i++) {
    g_autofree char *name = g_strdup_printf ("l%u", i);
    assert_ok (run (f->root, "list-add", name));
  }
  GPid pids[3 * N];
  for (guint i = 0; i < N; i++) {
    g_autofree char *name = g_strdup_printf ("l%u", i);
    g_autofree char *desc = g_strdup_printf ("description %u", i);
    g_autofree char *addr = g_strdup_printf ("l%u@example.org", i);
    g_autofree char *added = g_strdup_printf ("new%u", i);
    pids[3 * i] = spawn_bg (f, "list-set", name, "--description", desc, NULL);
    pids[3 * i + 1] = spawn_bg (f, "list-set", name, "--address", addr, NULL);
    pids[3 * i + 2] = spawn_bg (f, "list-add", added, NULL);
  }
  for (guint i = 0; i < 3 * N; i++)
    g_assert_cmpint (wait_status (pids[i]), ==, 0);
  g_autoptr (GKeyFile) kf = load_conf (f);
  guint lost = 0;
  for (guint i = 0; i < N; i++) {
    g_autofree char *group = g_strdup_printf ("list l%u", i);
    g_autofree char *desc = g_key_file_get_string (kf, group, "description", NULL);
    g_autofree char *addr = g_key_file_get_string (kf, group, "address", NULL);
    g_autofree char *want_desc = g_strdup_printf ("description %u", i);
    g_autofree char *want_addr = g_strdup_printf ("l%u@example.org", i);
    g_autofree char *added = g_strdup_printf ("list new%u", i);
    if (g_strcmp0 (desc, want_desc) != 0 || g_strcmp0 (addr, want_addr) != 0 || !g_key_file_has_group (kf, added)) {
      g_test_message ("l%u: description '%s', address '%s', new%u %s", i, desc, addr, i,
                      g_key_file_has_group (kf, added) ? "added" : "missing");
      lost++;
    }
  }
  g_assert_cmpuint (lost, ==, 0);
}

/* No annals.conf.XXXXXX temporary file in the root. */
static guint
count_temps (Fixture *f)
{
  g_autoptr (GDir) dir = g_dir_open (f->root, 0, NULL);
  guint n = 0;
  for (const char *e; (e = g_dir_read_name (dir)) != NULL;)
    if (g_str_has_prefix (e, "annals.conf.") && strcmp (e, "annals.conf.lock") != 0)
      n++;
  return n;
}

/* A kill while annals.conf is written leaves the old file or the new
 * one, never a torn one. */
static void
test_kill_during_write (Fixture *f, gconstpointer data)
{
  (void) data;
  make_archive (f);
  g_autofree char *before = NULL;
  g_assert_true (g_file_get_contents (f->conf, &before, NULL, NULL));
  /* Killed half-way through the temporary file: the old file. */
  g_setenv ("ANNALS_CONFIG_TEST_KILL", "half-written", TRUE);
  Run r = run (f->root, "list-set", "policy", "--description", "the new words");
  g_unsetenv ("ANNALS_CONFIG_TEST_KILL");
  g_assert_cmpint (r.status, ==, 128 + SIGKILL);
  run_clear (&r);
  g_autofree char *now = NULL;
  g_assert_true (g_file_get_contents (f->conf, &now, NULL, NULL));
  g_assert_cmpstr (now, ==, before);
  g_assert_cmpuint (count_temps (f), ==, 1);
  /* Killed after the rename: the new file, whole. */
  g_setenv ("ANNALS_CONFIG_TEST_KILL", "renamed", TRUE);
  r = run (f->root, "list-set", "policy", "--description", "the new words");
  g_unsetenv ("ANNALS_CONFIG_TEST_KILL");
  g_assert_cmpint (r.status, ==, 128 + SIGKILL);
  run_clear (&r);
  g_autofree char *desc = conf_get (f, "policy", "description");
  g_assert_cmpstr (desc, ==, "the new words");
  /* The next change cleared what the first kill left behind. */
  g_assert_cmpuint (count_temps (f), ==, 0);

  /* Kills at whatever moment they land: the file always parses, and
   * holds one of the two descriptions. */
  for (guint i = 0; i < 20; i++) {
    const char *d = i % 2 ? "odd words" : "even words";
    GPid pid = spawn_bg (f, "list-set", "policy", "--description", d, NULL);
    g_usleep (g_random_int_range (0, 4000));
    kill (pid, SIGKILL);
    wait_status (pid);
    g_autofree char *got = conf_get (f, "policy", "description");
    g_test_message ("kill %u: '%s'", i, got);
    g_assert_true (g_strcmp0 (got, "odd words") == 0 || g_strcmp0 (got, "even words") == 0
                   || g_strcmp0 (got, "the new words") == 0);
  }
}

/* An operator sets up live delivery first and imports the old archive
 * later: the list page's month index must still reach back to the old
 * years once more mail arrives (the store's first and last records are
 * both recent then). */
static void
test_months_after_late_import (Fixture *f, gconstpointer data)
{
  (void) data;
  make_archive (f);
  static const char live1[] = "Message-ID: <live1@example.org>\nFrom: Bob <bob@example.org>\n"
                              "Subject: live\nDate: Tue, 01 Dec 2026 00:00:00 +0000\n\none\n";
  static const char live2[] = "Message-ID: <live2@example.org>\nFrom: Bob <bob@example.org>\n"
                              "Subject: live again\nDate: Tue, 01 Dec 2026 00:01:00 +0000\n\ntwo\n";
  static const char old[] = "From alice@example.org Mon Apr 19 15:28:51 2021\n"
                            "Message-ID: <old1@example.org>\nFrom: Alice <alice@example.org>\n"
                            "Subject: from the old archive\nDate: Mon, 19 Apr 2021 15:28:51 +0000\n\nold\n";
  assert_ok (run_full (f->root, live1, strlen (live1), NULL, "ingest", "policy", "--mda", NULL));
  assert_ok (run_full (f->root, old, strlen (old), NULL, "ingest", "policy", "--quiet", NULL));
  assert_ok (run_full (f->root, live2, strlen (live2), NULL, "ingest", "policy", "--mda", NULL));
  g_autofree char *page = test_server_cgi_get (f->root, "/policy/", NULL);
  g_assert_nonnull (strstr (page, "Archive by month"));
  g_assert_nonnull (strstr (page, "/policy/2021-04/"));
  g_assert_nonnull (strstr (page, "/policy/2026-"));
  /* One message is one, not "1 messages". */
  g_autofree char *year = test_server_cgi_get (f->root, "/policy/2021/", NULL);
  g_assert_nonnull (strstr (year, "</a>: 1 message, "));
}

/* annals.conf holds only keys with values, and a key added to a group
 * that another follows stays inside it (no blank line before it). */
static void
test_only_set_keys (Fixture *f, gconstpointer data)
{
  (void) data;
  assert_ok (run (f->root, "init"));
  assert_ok (run (f->root, "list-add", "a"));
  assert_ok (run (f->root, "list-add", "b", "--address", "b@example.org", "--description", "Bee"));
  assert_ok (run (f->root, "list-set", "a", "--obfuscate", "on"));
  assert_ok (run (f->root, "list-set", "b", "--address", "", "--description", ""));
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (f->conf, &text, NULL, NULL));
  g_assert_cmpstr (text, ==,
                   "# annals archive configuration (see doc/config.md)\n\n"
                   "[site]\nversion=1\nname=annals\norigin=127.0.0.1:8080\n\n"
                   "[list a]\nobfuscate=true\n\n"
                   "[list b]\n");
  Run l = run (f->root, "lists");
  assert_status (l, 0);
  g_assert_cmpstr (l.out, ==, "a\t0\topen\tobfuscate=on\t-\t-\nb\t0\topen\tobfuscate=off\t-\t-\n");
  run_clear (&l);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("List administration end to end: list-set, list-close, list-open, lists, annals.conf safety");
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/admin/help", test_help);
  ADD ("/admin/list-set/fields", test_list_set);
  ADD ("/admin/lists/json", test_lists_json);
  ADD ("/admin/list-close/refuses-ingest-keeps-record", test_list_close);
  ADD ("/admin/config/corrupt", test_corrupt_conf);
  ADD ("/admin/config/only-set-keys", test_only_set_keys);
  ADD ("/admin/config/bad-values", test_bad_values);
  ADD ("/admin/config/concurrent-admins", test_concurrent);
  ADD ("/admin/config/kill-during-write", test_kill_during_write);
  ADD ("/admin/list-page/months-after-late-import", test_months_after_late_import);
  return g_test_run ();
}
