/* End-to-end tests of the annals program: the real binary, real files.
 * Covers the command line, every kind of bad input, MDA exit codes,
 * maildirs, and crashes (SIGKILL at random moments). */
#include "core/mbox.h"
#include "core/store.h"
#include "core/zcodec.h"
#include "tests/test-util.h"
#include "tests/test-run.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  char *tmp;
  char *root;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tmp = test_util_tmpdir_with ("root", &f->root);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_util_tmpdir_clear (&f->tmp, &f->root);
}

static void
make_archive (Fixture *f, const char *list)
{
  assert_ok (run (f->root, "init"));
  assert_ok (run (f->root, "list-add", list, "--description", "Policy discussion"));
}

static char *
write_tmp (Fixture *f, const char *name, const void *data, gsize len)
{
  char *path = g_build_filename (f->tmp, name, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_set_contents (path, data, (gssize) len, &error));
  return path;
}

/* An mbox of n generated messages as annals would export it. */
static GString *
make_mbox (guint from, guint n, gsize body)
{
  GString *mbox = g_string_new (NULL);
  for (guint i = from; i < from + n; i++) {
    g_autoptr (GString) m = test_util_message (i, body);
    if (i % 5 == 0)
      g_string_append (m, "\nFrom the archives: a line mboxrd must quote\n>From and this one too\n");
    annals_mbox_append_mboxrd (mbox, NULL, "member@example.org", 1618846131 + i, (const guint8 *) m->str, m->len);
  }
  return mbox;
}

/* make_mbox (from, n, body) written to name in the fixture's folder: its path. */
static char *
write_mbox (Fixture *f, const char *name, guint from, guint n, gsize body)
{
  g_autoptr (GString) mbox = make_mbox (from, n, body);
  return write_tmp (f, name, mbox->str, mbox->len);
}

static void
test_help (Fixture *f, gconstpointer data)
{
  const char *cmds[] = { "init", "list-add", "lists", "ingest", "ls", "cat", "export" };
  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++) {
    Run r = run (NULL, cmds[i], "--help");
    assert_status (r, 0);
    g_assert_nonnull (strstr (r.out, "Usage:"));
    run_clear (&r);
  }
  Run r = run (NULL, "--help");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "ingest"));
  run_clear (&r);
  assert_fails (run (NULL, "frobnicate"), 64, "not a command");
  assert_fails (run (NULL, "ingest", "--bogus"), 64, "Unknown option");
}

/* Every command's --help names it once, after "annals":
 * "annals ingest [OPTION…] NAME [PATH...]". */
static void
test_help_usage_line (Fixture *f, gconstpointer data)
{
  const char *cmds[] = { "init",  "list-add", "lists", "ingest", "ls",     "cat",          "export",
                         "index", "search",   "key",   "proof",  "verify", "verify-proof", "redact" };
  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++) {
    Run r = run (NULL, cmds[i], "--help");
    assert_status (r, 0);
    g_auto (GStrv) lines = g_strsplit (r.out, "\n", 3);
    g_assert_cmpstr (lines[0], ==, "Usage:");
    g_assert_nonnull (lines[1]);
    g_test_message ("%s: %s", cmds[i], lines[1]);
    g_autofree char *prefix = g_strdup_printf ("  annals %s [OPTION", cmds[i]);
    if (!g_str_has_prefix (lines[1], prefix))
      g_error ("usage line of '%s' is '%s', expected it to start with '%s'", cmds[i], lines[1], prefix);
    /* The command name appears once: not again among the parameters. */
    const char *params = strchr (lines[1] + strlen (prefix), ']');
    g_assert_nonnull (params);
    g_autofree char *word = g_strdup_printf (" %s", cmds[i]);
    if (strstr (params, word) != NULL)
      g_error ("usage line of '%s' names the command twice: '%s'", cmds[i], lines[1]);
    g_assert_false (g_str_has_suffix (lines[1], " "));
    run_clear (&r);
  }
}

/* Global options go before the command as well as after it: the MTA line
 * of the README, "annals --root DIR ingest policy --mda", must store the
 * message and exit 0 (64 would bounce every list message). */
static void
test_global_options (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *msg = "Message-ID: <mta@x>\nSubject: from the MTA\n\nhello\n";
  Run r = run_full (NULL, msg, strlen (msg), NULL, "--root", f->root, "ingest", "policy", "--mda", NULL);
  assert_status (r, 0);
  run_clear (&r);
  g_autofree char *root_eq = g_strconcat ("--root=", f->root, NULL);
  r = run (NULL, root_eq, "cat", "policy", "<mta@x>");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, msg);
  run_clear (&r);
  r = run (NULL, "-r", f->root, "ls", "policy");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "from the MTA"));
  run_clear (&r);
  /* After the command, as before; the later --root wins. */
  r = run (NULL, "--root", "/nonexistent/annals", "lists", "--root", f->root);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "policy\t1"));
  run_clear (&r);
  /* A global --root beats $ANNALS_ROOT. */
  r = run ("/nonexistent/annals", "--root", f->root, "lists");
  assert_status (r, 0);
  run_clear (&r);
  r = run (NULL, "--version");
  assert_status (r, 0);
  g_assert_true (g_str_has_prefix (r.out, "annals "));
  run_clear (&r);
  r = run (NULL, "--root", f->root, "--version");
  assert_status (r, 0);
  g_assert_true (g_str_has_prefix (r.out, "annals "));
  run_clear (&r);
  r = run (NULL, "--root", f->root, "--help");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "Commands:"));
  run_clear (&r);
  /* "annals --help ingest" is the help of ingest. */
  r = run (NULL, "--help", "ingest");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "--mda"));
  run_clear (&r);
  assert_fails (run (NULL, "--root"), 64, "--root needs a DIR");
  assert_fails (run (NULL, "--root", f->root), 64, "no command");
  assert_fails (run (NULL, "--bogus", "lists"), 64, "'--bogus' is not a global option");
}

/* key --generate on an archive whose logs are signed already would sign
 * on under a new key of the same name: every published checkpoint and
 * proof would stop verifying.  It refuses and leaves the keys folder as
 * it was. */
static void
test_key_generate_signed (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *msg = "Message-ID: <g@x>\nSubject: before\n\nhello\n";
  assert_ok (run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", NULL));
  g_autofree char *key = g_build_filename (f->root, "keys", "site.key", NULL);
  g_autofree char *vkey = g_build_filename (f->root, "keys", "site.vkey", NULL);
  g_autofree char *before = NULL;
  g_assert_true (g_file_get_contents (vkey, &before, NULL, NULL));
  g_assert_cmpint (g_unlink (key), ==, 0);
  Run r = run (f->root, "key", "--generate");
  g_test_message ("stderr: %s", r.err);
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.err, "site.key"));
  g_assert_nonnull (strstr (r.err, "backup"));
  run_clear (&r);
  g_assert_false (g_file_test (key, G_FILE_TEST_EXISTS));
  g_autofree char *after = NULL;
  g_assert_true (g_file_get_contents (vkey, &after, NULL, NULL));
  g_assert_cmpstr (after, ==, before);
  /* Even without the public half, the site checkpoint says logs exist. */
  g_assert_cmpint (g_unlink (vkey), ==, 0);
  assert_fails (run (f->root, "key", "--generate"), 1, "backup");
  g_assert_false (g_file_test (key, G_FILE_TEST_EXISTS));
}

/* A lost signing key must be restored, not replaced: a new key makes
 * every published checkpoint and proof unverifiable. */
static void
test_key_missing (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *msg = "Message-ID: <k@x>\nSubject: before\n\nhello\n";
  assert_ok (run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", NULL));
  g_autofree char *key = g_build_filename (f->root, "keys", "site.key", NULL);
  g_assert_cmpint (g_unlink (key), ==, 0);
  const char *msg2 = "Message-ID: <k2@x>\nSubject: after\n\nhello\n";
  Run runs[] = {
    run (f->root, "key"),
    run (f->root, "proof", "policy", "0"),
    run (f->root, "redact", "policy", "0", "--reason", "test"),
    run_full (f->root, msg2, strlen (msg2), NULL, "ingest", "policy", "--mda", NULL),
  };
  for (guint i = 0; i < G_N_ELEMENTS (runs); i++) {
    g_test_message ("stderr: %s", runs[i].err);
    g_assert_nonnull (strstr (runs[i].err, "site.key"));
    g_assert_nonnull (strstr (runs[i].err, "restore"));
    g_assert_nonnull (strstr (runs[i].err, "backup"));
    /* Generating is named only as what a new archive does. */
    const char *gen = strstr (runs[i].err, "annals key --generate");
    if (gen != NULL)
      g_assert_nonnull (strstr (runs[i].err, "new archive"));
    g_assert_null (strstr (runs[i].err, "create one with"));
    run_clear (&runs[i]);
  }
}

/* The public key is in site.vkey: a mirror or an auditor asking for it
 * gets it while the operator restores site.key, with a warning. */
static void
test_key_public_only (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  Run r = run (f->root, "key");
  assert_status (r, 0);
  g_assert_cmpstr (r.err, ==, "");
  g_autofree char *before = g_steal_pointer (&r.out);
  run_clear (&r);
  g_autofree char *key = g_build_filename (f->root, "keys", "site.key", NULL);
  g_assert_cmpint (g_unlink (key), ==, 0);
  r = run (f->root, "key");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, before);
  g_assert_nonnull (strstr (r.err, "warning"));
  g_assert_nonnull (strstr (r.err, "site.key"));
  g_assert_nonnull (strstr (r.err, "restore"));
  g_assert_nonnull (strstr (r.err, "backup"));
  run_clear (&r);
  g_assert_false (g_file_test (key, G_FILE_TEST_EXISTS));
  /* A site.vkey that is not a key is not printed. */
  g_autofree char *vkey = g_build_filename (f->root, "keys", "site.vkey", NULL);
  g_assert_true (g_file_set_contents (vkey, "garbage\n", -1, NULL));
  r = run (f->root, "key");
  assert_status (r, 1);
  g_assert_cmpstr (r.out, ==, "");
  g_assert_nonnull (strstr (r.err, "site.vkey"));
  g_assert_nonnull (strstr (r.err, "backup"));
  run_clear (&r);
  /* With neither half there is nothing to print. */
  g_assert_cmpint (g_unlink (vkey), ==, 0);
  assert_fails (run (f->root, "key"), 1, "backup");
}

/* Whether text holds a terminal control: a C0 byte other than the tab
 * and newline ls separates with, DEL, or a C1 control (U+0080..U+009F). */
static gboolean
has_control (const char *text)
{
  for (const guchar *p = (const guchar *) text; *p != '\0'; p++) {
    if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
      return TRUE;
    if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
      return TRUE;
  }
  return FALSE;
}

/* A display name with specials keeps its quotes in ls, as its sender
 * wrote it: unquoted, "Carol <&> Co" and "Doe, John" read as other
 * addresses.  f: finds them by the words of the name. */
static void
test_ls_quoted_from (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *a = "Message-ID: <q1@x>\nFrom: \"Carol <&> Co\" <carol@example.org>\nSubject: one\n\nbody\n";
  const char *b = "Message-ID: <q2@x>\nFrom: \"Doe, John\" <john@example.org>\nSubject: two\n\nbody\n";
  const char *c = "Message-ID: <q3@x>\nFrom: \"Plain Name\" <plain@example.org>\nSubject: three\n\nbody\n";
  assert_ok (run_full (f->root, a, strlen (a), NULL, "ingest", "policy", "--mda", NULL));
  assert_ok (run_full (f->root, b, strlen (b), NULL, "ingest", "policy", "--mda", NULL));
  assert_ok (run_full (f->root, c, strlen (c), NULL, "ingest", "policy", "--mda", NULL));
  Run r = run (f->root, "ls", "policy");
  assert_status (r, 0);
  g_test_message ("ls: %s", r.out);
  g_assert_nonnull (strstr (r.out, "\t\"Carol <&> Co\" <carol@example.org>\tone\n"));
  g_assert_nonnull (strstr (r.out, "\t\"Doe, John\" <john@example.org>\ttwo\n"));
  g_assert_nonnull (strstr (r.out, "\tPlain Name <plain@example.org>\tthree\n"));
  run_clear (&r);
  const char *queries[] = { "f:carol", "f:doe", "f:john@example.org" };
  for (guint k = 0; k < G_N_ELEMENTS (queries); k++) {
    r = run (f->root, "search", "--count", queries[k]);
    assert_status (r, 0);
    g_test_message ("search %s: %s", queries[k], r.out);
    g_assert_cmpstr (r.out, ==, "1\n");
    run_clear (&r);
  }
}

/* Nothing from mail or from a redaction reason reaches the terminal as a
 * control character: ls shows it escaped. */
static void
test_ls_controls (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *msg = "Message-ID: <ctl@x>\n"
                    "From: =?utf-8?q?Bad=C2=9B2J_Guy?= <bad@example.org>\n"
                    "Subject: =?utf-8?q?csi=C2=9B31m_here?=\n\nbody\n";
  assert_ok (run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", NULL));
  const char *other = "Message-ID: <other@x>\nSubject: to redact\n\nbody\n";
  assert_ok (run_full (f->root, other, strlen (other), NULL, "ingest", "policy", "--mda", NULL));
  assert_ok (run (f->root, "redact", "policy", "1", "--reason", "court \033[2J\033]0;owned\007 order\nnext\tline"));
  /* The message and the redaction notice (number 2). */
  Run r = run (f->root, "ls", "policy", "--to", "0");
  assert_status (r, 0);
  g_test_message ("ls: %s", r.out);
  g_assert_false (has_control (r.out));
  g_assert_nonnull (strstr (r.out, "Bad\\u009b2J Guy"));
  run_clear (&r);
  r = run (f->root, "ls", "policy", "--from", "2");
  assert_status (r, 0);
  g_test_message ("ls: %s", r.out);
  g_assert_false (has_control (r.out));
  /* One line per message: the reason's newline and tab are escaped. */
  g_assert_cmpint (strchr (r.out, '\n') - r.out, ==, (int) strlen (r.out) - 1);
  g_assert_nonnull (strstr (r.out, "[redaction of 1] court"));
  g_assert_nonnull (strstr (r.out, "owned"));
  run_clear (&r);
  /* cat says why the message is gone, escaped too. */
  r = run (f->root, "cat", "policy", "1");
  assert_status (r, 1);
  g_assert_false (has_control (r.err));
  g_assert_nonnull (strstr (r.err, "court"));
  run_clear (&r);
}

/* A number too big for 64 bits is reported as given, not wrapped to
 * another number; option numbers are range-checked too. */
static void
test_number_overflow (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *msg = "Message-ID: <n@x>\nSubject: one\n\nhello\n";
  assert_ok (run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", NULL));
  const char *big = "99999999999999999999999";
  assert_fails (run (f->root, "cat", "policy", big), 1, "no message 99999999999999999999999");
  assert_fails (run (f->root, "cat", "policy", "18446744073709551616"), 1, "no message 18446744073709551616");
  assert_fails (run (f->root, "proof", "policy", big), 1, "no message 99999999999999999999999");
  assert_fails (run (f->root, "redact", "policy", big, "--reason", "x"), 1, "no message 99999999999999999999999");
  const char *opts[][3] = {
    { "export", "--from", "policy" }, { "export", "--to", "policy" }, { "ls", "--from", "policy" },
    { "ls", "--to", "policy" },       { "search", "-n", "x" },        { "proof", "--consistency", "policy" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (opts); i++)
    assert_fails (run (f->root, opts[i][0], opts[i][2], opts[i][1], big), 64, "99999999999999999999999");
  /* The largest number is still just a missing message. */
  assert_fails (run (f->root, "cat", "policy", "18446744073709551615"), 1, "no message 18446744073709551615");
}

/* A date outside what the index holds is a usage error that says so,
 * not some other complaint about the query. */
static void
test_search_date_range (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *msg = "Message-ID: <d@x>\nDate: Mon, 19 Apr 2021 15:28:51 +0000\nSubject: dated\n\nhello\n";
  assert_ok (run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", NULL));
  const char *bad[]
      = { "d:99999.years.ago",  "d:99999.years.ago..",  "d:..99999999999999999999.days.ago", "d:99999-01-01", "d:1969",
          "d:0001-01-01..2021", "rt:100000.years.ago.." };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_test_message ("query %s", bad[i]);
    Run r = run (f->root, "search", bad[i]);
    assert_status (r, 64);
    if (strstr (r.err, "out of range") == NULL || strstr (r.err, bad[i] + (bad[i][0] == 'r' ? 3 : 2)) == NULL)
      g_error ("'%s': expected a 'date out of range' error quoting the query, got: %s", bad[i], r.err);
    run_clear (&r);
  }
  Run r = run (f->root, "search", "d:2021-04..2021-05");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "dated"));
  run_clear (&r);
  r = run (f->root, "search", "d:1970..9999");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "dated"));
  run_clear (&r);
  /* Other query errors are usage errors too. */
  assert_fails (run (f->root, "search", "d:2021-13-45"), 64, "cannot read the date range");
}

/* A Date: more than a day after the receipt is the sender's claim: ls
 * and search show the receipt time, which orders the message and which
 * d: searches, and mark the claim, as the web pages do. */
static void
test_claimed_date (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *mbox = "From traveller@example.org Wed Mar  1 10:00:00 2023\n"
                     "Message-ID: <future@x>\nFrom: Time Traveller <traveller@example.org>\n"
                     "Date: Thu, 01 Jan 2099 10:00:00 +0000\nSubject: Time traveller\n\nhello\n\n"
                     "From member@example.org Thu Mar  2 10:00:00 2023\n"
                     "Message-ID: <late@x>\nFrom: Member <member@example.org>\n"
                     "Date: Thu, 02 Mar 2023 20:00:00 +0000\nSubject: Slow clock\n\nhello\n";
  g_autofree char *path = write_tmp (f, "claimed.mbox", mbox, strlen (mbox));
  assert_ok (run (f->root, "ingest", "policy", "--quiet", path));
  Run r = run (f->root, "ls", "policy");
  assert_status (r, 0);
  g_test_message ("ls: %s", r.out);
  g_assert_nonnull (strstr (r.out, "0\t2023-03-01 10:00\tTime Traveller <traveller@example.org>\t"
                                   "Time traveller (received; its Date: says 2099-01-01)\n"));
  /* Within a day of the receipt, Date: stands, unmarked. */
  g_assert_nonnull (strstr (r.out, "1\t2023-03-02 20:00\tMember <member@example.org>\tSlow clock\n"));
  g_assert_null (strstr (r.out, "2099-01-01 10:00"));
  run_clear (&r);
  r = run (f->root, "search", "d:2023-03");
  assert_status (r, 0);
  g_test_message ("search: %s", r.out);
  g_assert_nonnull (strstr (r.out, "policy:0\t2023-03-01\tTime Traveller <traveller@example.org>\t"
                                   "Time traveller (received; its Date: says 2099-01-01)\n"));
  g_assert_nonnull (strstr (r.out, "policy:1\t2023-03-02\tMember <member@example.org>\tSlow clock\n"));
  run_clear (&r);
  r = run (f->root, "search", "--count", "d:2099");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, "0\n");
  run_clear (&r);
  r = run (f->root, "search", "--format", "json", "d:2023-03");
  assert_status (r, 0);
  g_test_message ("json: %s", r.out);
  g_assert_nonnull (strstr (r.out, "\"number\":0,\"message_id\":\"future@x\",\"date\":\"2023-03-01T10:00:00Z\","
                                   "\"date_claimed\":\"2099-01-01T10:00:00Z\",\"receipt\":\"2023-03-01T10:00:00Z\","));
  g_assert_nonnull (strstr (r.out, "\"number\":1,\"message_id\":\"late@x\",\"date\":\"2023-03-02T20:00:00Z\","
                                   "\"receipt\":\"2023-03-02T10:00:00Z\","));
  run_clear (&r);
}

/* "total" in search --format json: the exact count when the search
 * counted every match ("total_exact": true), else Xapian's estimate
 * marked as such; the text output says "about" only then. */
static void
test_search_total_exact (Fixture *f, gconstpointer data)
{
  make_archive (f, "ksummit");
  g_autofree char *sample
      = g_build_filename (g_getenv ("ANNALS_SOURCE_ROOT"), "samples", "ksummit-sample.mbox.gz", NULL);
  assert_ok (run (f->root, "ingest", "ksummit", "--quiet", sample));
  Run c = run (f->root, "search", "--count", "rust");
  assert_status (c, 0);
  g_autofree char *want = g_strdup_printf ("\"total\":%s,\"total_exact\":true", g_strstrip (c.out));
  run_clear (&c);
  /* Newest first and best match first: each counts exactly. */
  for (guint relevance = 0; relevance < 2; relevance++) {
    Run j = run (f->root, "search", "--format", "json", relevance ? "--relevance" : "--offset=0", "-n", "5", "rust");
    assert_status (j, 0);
    if (strstr (j.out, want) == NULL)
      g_error ("no '%s' in: %.200s", want, j.out);
    run_clear (&j);
  }
  Run t = run (f->root, "search", "-n", "2", "rust");
  assert_status (t, 0);
  g_assert_null (strstr (t.err, "about"));
  run_clear (&t);
  /* Counting stopped early (the test hook): an estimate, said so. */
  g_setenv ("ANNALS_SEARCH_EXACT_UP_TO", "1", TRUE);
  Run e = run (f->root, "search", "--format", "json", "-n", "2", "rust");
  Run et = run (f->root, "search", "-n", "2", "rust");
  g_unsetenv ("ANNALS_SEARCH_EXACT_UP_TO");
  assert_status (e, 0);
  g_assert_nonnull (strstr (e.out, "\"total_exact\":false"));
  g_assert_nonnull (strstr (et.err, "of about"));
  run_clear (&e);
  run_clear (&et);
}

static void
test_init_and_lists (Fixture *f, gconstpointer data)
{
  assert_fails (run (NULL, "init"), 1, "no archive root");
  assert_fails (run (f->root, "list-add", "x"), 1, "does not exist");
  assert_ok (run (f->root, "init"));
  assert_fails (run (f->root, "init"), 1, "already");
  const char *bad[] = { "../escape", "a/b", "All", ".hidden", "all", "" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    assert_fails (run (f->root, "list-add", bad[i]), 1, "not allowed");
  assert_ok (run (f->root, "list-add", "policy", "--address", "policy@example.org"));
  assert_fails (run (f->root, "list-add", "policy"), 1, "exists already");
  assert_fails (run (f->root, "ingest", "nolist", "/dev/null"), 1, "no list 'nolist'");
  Run r = run (f->root, "lists");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "policy\t0"));
  run_clear (&r);
}

/* A list named after a word of the site's URLs or a folder of the root
 * would be shadowed (/about/ is the site's key page) or share its folder
 * (ROOT/keys/ holds the signing key). */
static void
test_list_add_reserved (Fixture *f, gconstpointer data)
{
  assert_ok (run (f->root, "init"));
  const char *reserved[] = { "about", "keys", "log", "all" };
  for (guint i = 0; i < G_N_ELEMENTS (reserved); i++) {
    g_test_message ("list-add %s", reserved[i]);
    assert_fails (run (f->root, "list-add", reserved[i]), 1, "not allowed");
  }
  g_autofree char *conf = g_build_filename (f->root, "annals.conf", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (conf, &text, NULL, NULL));
  g_assert_null (strstr (text, "[list "));
  g_autofree char *store = g_build_filename (f->root, "keys", "store", NULL);
  g_assert_false (g_file_test (store, G_FILE_TEST_EXISTS));
}

/* lists counts archived messages, not log entries: a redaction notice
 * is an entry of the store and the log but no message. */
static void
test_lists_counts_messages (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *msgs[] = { "Message-ID: <c1@x>\nSubject: one\n\nhello\n", "Message-ID: <c2@x>\nSubject: two\n\nhi\n" };
  for (guint i = 0; i < G_N_ELEMENTS (msgs); i++)
    assert_ok (run_full (f->root, msgs[i], strlen (msgs[i]), NULL, "ingest", "policy", "--mda", NULL));
  assert_ok (run (f->root, "redact", "policy", "1", "--reason", "test"));
  Run r = run (f->root, "lists");
  assert_status (r, 0);
  g_test_message ("lists: %s", r.out);
  g_assert_true (g_str_has_prefix (r.out, "policy\t2\t"));
  run_clear (&r);
  r = run (f->root, "lists", "--format", "json");
  assert_status (r, 0);
  g_test_message ("lists --format json: %s", r.out);
  g_assert_nonnull (strstr (r.out, "\"messages\": 2, \"redactions\": 1"));
  run_clear (&r);
}

/* One list is "1 list", one entry "1 entry": verify says so. */
static void
test_verify_plurals (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *msg = "Message-ID: <p1@x>\nSubject: one\n\nhello\n";
  assert_ok (run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", NULL));
  Run k = run (f->root, "key");
  assert_status (k, 0);
  g_autofree char *vkey = g_strstrip (g_strdup (k.out));
  run_clear (&k);
  Run v = run (NULL, "verify", f->root, "--key", vkey);
  assert_status (v, 0);
  g_test_message ("verify: %s", v.out);
  g_assert_nonnull (strstr (v.out, "names 1 list ("));
  g_assert_nonnull (strstr (v.out, "ok policy: 1 entry (1 message, 0 redactions)"));
  g_assert_null (strstr (v.out, "1 lists"));
  g_assert_null (strstr (v.out, "1 entries"));
  g_assert_null (strstr (v.out, "1 messages"));
  run_clear (&v);
}

/* init without --base-url names the signing key and the logs after the
 * default URL: it says so, and how to choose (--base-url). */
static void
test_init_origin_note (Fixture *f, gconstpointer data)
{
  Run r = run (f->root, "init");
  assert_status (r, 0);
  g_test_message ("init stderr: %s", r.err);
  g_assert_nonnull (strstr (r.err, "127.0.0.1:8080"));
  g_assert_nonnull (strstr (r.err, "--base-url"));
  /* One line. */
  const char *nl = strchr (r.err, '\n');
  g_assert_nonnull (nl);
  g_assert_cmpint (nl[1], ==, '\0');
  run_clear (&r);
  g_autofree char *other = g_build_filename (f->tmp, "other", NULL);
  r = run (other, "init", "--base-url", "https://lists.example.org/");
  assert_status (r, 0);
  g_assert_null (strstr (r.err, "--base-url"));
  run_clear (&r);
}

static void
test_mbox_roundtrip (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autoptr (GString) mbox = make_mbox (0, 300, 800);
  g_autofree char *path = write_tmp (f, "in.mbox", mbox->str, mbox->len);
  Run r = run (f->root, "ingest", "policy", path);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 300, duplicates skipped 0"));
  run_clear (&r);
  /* Again: everything is a duplicate. */
  r = run (f->root, "ingest", "policy", path);
  g_assert_nonnull (strstr (r.out, "archived 0, duplicates skipped 300"));
  run_clear (&r);
  r = run (f->root, "export", "policy");
  assert_status (r, 0);
  g_assert_cmpmem (r.out, r.out_len, mbox->str, mbox->len);
  run_clear (&r);
  /* A slice, cat by number and by Message-ID, ls. */
  r = run (f->root, "export", "policy", "--from", "10", "--to", "12");
  g_autoptr (GString) slice = make_mbox (10, 3, 800);
  g_assert_cmpmem (r.out, r.out_len, slice->str, slice->len);
  run_clear (&r);
  g_autoptr (GString) m7 = test_util_message (7, 800);
  r = run (f->root, "cat", "policy", "7");
  g_assert_cmpmem (r.out, r.out_len, m7->str, m7->len);
  run_clear (&r);
  r = run (f->root, "cat", "policy", "<msg7@example.org>");
  g_assert_cmpmem (r.out, r.out_len, m7->str, m7->len);
  run_clear (&r);
  assert_fails (run (f->root, "cat", "policy", "nobody@nowhere"), 1, "no message with Message-ID");
  assert_fails (run (f->root, "cat", "policy", "300"), 1, "no message 300");
  r = run (f->root, "ls", "policy", "--from", "7", "--to", "7");
  g_assert_cmpstr (r.out, ==, "7\t2021-04-19 15:00\tMember 7 <member7@example.org>\t[policy] topic 2\n");
  run_clear (&r);
  /* Stdin and gzip input. */
  assert_ok (run (f->root, "list-add", "other"));
  r = run_full (f->root, mbox->str, mbox->len, NULL, "ingest", "other", NULL);
  g_assert_nonnull (strstr (r.out, "archived 300"));
  run_clear (&r);
  g_autofree char *gz = g_strconcat (path, ".gz", NULL);
  g_autofree char *cmd = g_strdup_printf ("gzip -c '%s' > '%s'", path, gz);
  g_assert_cmpint (system (cmd), ==, 0);
  assert_ok (run (f->root, "list-add", "gz"));
  r = run (f->root, "ingest", "gz", gz);
  g_assert_nonnull (strstr (r.out, "archived 300"));
  run_clear (&r);
}

static void
write_file (const char *dir, const char *name, const char *content, gint64 mtime)
{
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, content, -1, NULL));
  struct timespec ts[2] = { { (time_t) mtime, 0 }, { (time_t) mtime, 0 } };
  utimensat (AT_FDCWD, path, ts, 0);
}

static void
test_maildir (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autofree char *md = g_build_filename (f->tmp, "Maildir", NULL);
  g_autofree char *cur = g_build_filename (md, "cur", NULL);
  g_autofree char *newd = g_build_filename (md, "new", NULL);
  g_autofree char *tmpd = g_build_filename (md, "tmp", NULL);
  g_autofree char *sub = g_build_filename (md, ".Archive", "cur", NULL);
  write_file (cur, "1600000002.M1P1.host:2,S", "Message-ID: <b@x>\nSubject: second\n\nb\n", 1600000002);
  write_file (newd, "1600000001.M1P1.host", "Message-ID: <a@x>\nSubject: first\n\na\n", 1600000001);
  write_file (tmpd, "1600000009.M1P1.host", "Message-ID: <tmp@x>\n\nnot delivered yet\n", 1600000009);
  write_file (sub, "1600000003.M1P1.host:2,", "Message-ID: <c@x>\nSubject: nested\n\nc\n", 1600000003);
  Run r = run (f->root, "ingest", "policy", "--maildir", md);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 3,"));
  run_clear (&r);
  r = run (f->root, "ls", "policy");
  g_assert_nonnull (strstr (r.out, "0\t"));
  g_assert_nonnull (strstr (r.out, "first"));
  g_assert_true (strstr (r.out, "first") < strstr (r.out, "second"));
  g_assert_true (strstr (r.out, "second") < strstr (r.out, "nested"));
  g_assert_null (strstr (r.out, "tmp@x"));
  run_clear (&r);
  g_autofree char *plain = g_build_filename (f->tmp, "plain-folder", NULL);
  g_assert_cmpint (g_mkdir (plain, 0755), ==, 0);
  assert_fails (run (f->root, "ingest", "policy", "--maildir", plain), 1, "not a maildir");
  assert_fails (run (f->root, "ingest", "policy", "--maildir", "/nonexistent/maildir"), 1, "does not exist");
}

static void
test_mda (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  const char *msg = "Message-ID: <mda@x>\nSubject: delivered\n\nhello\n";
  Run r = run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", NULL);
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, "");
  run_clear (&r);
  /* A re-delivery is fine and stored once. */
  assert_ok (run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", NULL));
  /* Malformed mail is kept, exit 0. */
  const char *junk = "\x01\x02 this is \0 not mail";
  assert_ok (run_full (f->root, junk, 20, NULL, "ingest", "policy", "--mda", NULL));
  r = run (f->root, "ls", "policy");
  g_assert_nonnull (strstr (r.out, "[unparsable] [no-id]"));
  g_assert_null (strstr (r.out, "2\t"));
  run_clear (&r);
  r = run (f->root, "cat", "policy", "1");
  g_assert_cmpmem (r.out, r.out_len, junk, 20);
  run_clear (&r);
  /* Empty stdin: nothing to store. */
  assert_fails (run_full (f->root, "", 0, NULL, "ingest", "policy", "--mda", NULL), 65, "empty");
  /* Lock held too long: temporary failure, the MTA retries. */
  g_autofree char *store = g_build_filename (f->root, "policy", "store", NULL);
  g_autoptr (GError) error = NULL;
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (store, 1000, &error);
    g_assert_nonnull (w);
    g_assert_no_error (error);
    assert_fails (run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", "--lock-timeout", "1", NULL),
                  75, "locked by another writer");
  }
  /* No such list or root: temporary failure too (a configuration slip). */
  assert_fails (run_full (f->root, msg, strlen (msg), NULL, "ingest", "nolist", "--mda", NULL), 75, "no list");
}

static void
test_bad_input (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autofree char *empty = write_tmp (f, "empty.mbox", "", 0);
  assert_fails (run (f->root, "ingest", "policy", empty), 1, "holds no messages");
  g_autofree char *notmail = write_tmp (f, "notes.txt", "Dear diary,\ntoday nothing.\n", 27);
  assert_fails (run (f->root, "ingest", "policy", notmail), 1, "is not an mbox");
  assert_fails (run (f->root, "ingest", "policy", "/nonexistent/file.mbox"), 1, "No such file");
  assert_fails (run (f->root, "ingest", "policy", f->tmp), 1, "is a directory");

  /* 8-bit and NUL bytes in headers, CRLF, no final newline: kept exactly. */
  const char odd[]
      = "From x Mon Apr 19 15:28:51 2021\r\nSubject: caf\xe9 \0 bar\r\nMessage-ID: <odd@x>\r\n\r\nbody\r\n\r\n"
        "From y Mon Apr 19 15:28:51 2021\nSubject: last\nMessage-ID: <last@x>\n\nno final newline";
  g_autofree char *oddp = write_tmp (f, "odd.mbox", odd, sizeof odd - 1);
  assert_ok (run (f->root, "ingest", "policy", oddp));
  Run r = run (f->root, "cat", "policy", "0");
  const char want0[] = "Subject: caf\xe9 \0 bar\r\nMessage-ID: <odd@x>\r\n\r\nbody\r\n";
  g_assert_cmpmem (r.out, r.out_len, want0, sizeof want0 - 1);
  run_clear (&r);
  r = run (f->root, "cat", "policy", "last@x");
  g_assert_cmpstr (r.out, ==, "Subject: last\nMessage-ID: <last@x>\n\nno final newline");
  run_clear (&r);

  /* 10,000 header lines. */
  GString *many = g_string_new ("From x Mon Apr 19 15:28:51 2021\n");
  for (int i = 0; i < 10000; i++)
    g_string_append_printf (many, "X-Trace-%d: hop %d\n", i, i);
  g_string_append (many, "Message-ID: <many@x>\nSubject: many headers\n\nbody\n");
  g_autofree char *manyp = write_tmp (f, "many.mbox", many->str, many->len);
  assert_ok (run (f->root, "ingest", "policy", manyp));
  r = run (f->root, "ls", "policy");
  g_assert_nonnull (strstr (r.out, "many headers"));
  run_clear (&r);
  g_string_free (many, TRUE);

  /* A 50 MB message, through the MDA path and an mbox. */
  g_autoptr (GString) big = test_util_message (99999, 50 * 1000 * 1000);
  assert_ok (run_full (f->root, big->str, big->len, NULL, "ingest", "policy", "--mda", NULL));
  r = run (f->root, "cat", "policy", "msg99999@example.org");
  g_assert_cmpmem (r.out, r.out_len, big->str, big->len);
  run_clear (&r);

  /* Nothing above changed what was archived before. */
  r = run (f->root, "cat", "policy", "0");
  g_assert_cmpmem (r.out, r.out_len, want0, sizeof want0 - 1);
  run_clear (&r);
}

/* Unreadable input and a root that belongs to somebody else: annals
 * runs as 'nobody', which only root can arrange. */
static void
test_permissions (Fixture *f, gconstpointer data)
{
  struct passwd *nobody = getpwnam ("nobody");
  if (getuid () != 0 || nobody == NULL) {
    g_test_skip ("needs root and a user 'nobody' to run annals as another user");
    return;
  }
  make_archive (f, "policy");
  const char first[] = "From x Mon Apr 19 15:28:51 2021\nSubject: kept\nMessage-ID: <kept@x>\n\nbody\n";
  g_autofree char *firstp = write_tmp (f, "first.mbox", first, sizeof first - 1);
  assert_ok (run (f->root, "ingest", "policy", firstp));
  g_autofree char *secret = write_tmp (f, "secret.mbox", "From x Mon Apr 19 15:28:51 2021\nSubject: s\n\n", 43);
  chmod (secret, 0600);
  chmod (f->tmp, 0755);
  ChildLimits as_nobody = { 0, nobody->pw_uid };
  /* An archive nobody may write, an input it may not read. */
  g_autofree char *give = g_strdup_printf ("chown -R nobody '%s'", f->root);
  g_assert_cmpint (system (give), ==, 0);
  Run n = run_full (f->root, NULL, 0, &as_nobody, "ingest", "policy", secret, NULL);
  assert_status (n, 1);
  g_assert_true (strstr (n.err, "cannot open") != NULL && strstr (n.err, "secret.mbox") != NULL);
  g_assert_true (strstr (n.err, "Permission denied") != NULL);
  run_clear (&n);
  /* An archive root that belongs to somebody else. */
  g_autofree char *take = g_strdup_printf ("chown -R root '%s'", f->root);
  g_assert_cmpint (system (take), ==, 0);
  g_autofree char *readable = write_tmp (f, "readable.mbox", "From x Mon Apr 19 15:28:51 2021\nSubject: s\n\n", 43);
  chmod (readable, 0644);
  n = run_full (f->root, NULL, 0, &as_nobody, "ingest", "policy", readable, NULL);
  assert_status (n, 1);
  g_assert_true (strstr (n.err, "Permission denied") != NULL);
  run_clear (&n);
  /* Nothing above changed what was archived before. */
  Run r = run (f->root, "cat", "policy", "0");
  g_assert_cmpstr (r.out, ==, "Subject: kept\nMessage-ID: <kept@x>\n\nbody\n");
  run_clear (&r);
}

/* A full disk: the file size limit stands in for it (a tmpfs needs
 * mount rights CI may not have). */
static void
test_full_disk (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autoptr (GString) first = make_mbox (0, 50, 1000);
  g_autofree char *firstp = write_tmp (f, "first.mbox", first->str, first->len);
  assert_ok (run (f->root, "ingest", "policy", firstp));
  g_autoptr (GString) more = make_mbox (50, 400, 20000);
  g_autofree char *morep = write_tmp (f, "more.mbox", more->str, more->len);
  ChildLimits small = { 512 * 1024, 0 };
  Run r = run_full (f->root, NULL, 0, &small, "ingest", "policy", morep, NULL);
  assert_status (r, 75);
  g_assert_nonnull (strstr (r.err, "File too large"));
  g_assert_nonnull (strstr (r.err, "run the same command again"));
  run_clear (&r);
  ChildLimits tiny = { 1024, 0 };
  const char *msg = "Message-ID: <full@x>\nSubject: full\n\n";
  g_autoptr (GString) bigmsg = test_util_message (123456, 8000);
  assert_fails (run_full (f->root, bigmsg->str, bigmsg->len, &tiny, "ingest", "policy", "--mda", NULL), 75,
                "should retry");
  (void) msg;
  /* With room again, the same command finishes the job. */
  assert_ok (run (f->root, "ingest", "policy", morep));
  g_autoptr (GString) all = g_string_new (first->str);
  g_string_append_len (all, more->str, (gssize) more->len);
  r = run (f->root, "export", "policy");
  g_assert_cmpmem (r.out, r.out_len, all->str, all->len);
  run_clear (&r);
}

/* The index fails after the store took the messages (a directory where
 * index.lock goes stands in for a full disk, as root ignores modes):
 * the messages stay, the command fails under its own name and says how
 * to catch the index up. */
static void
test_ingest_index_fails (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autoptr (GString) mbox = make_mbox (0, 5, 500);
  g_autofree char *path = write_tmp (f, "five.mbox", mbox->str, mbox->len);
  g_autofree char *lock = g_build_filename (f->root, "policy", "index.lock", NULL);
  g_assert_cmpint (g_mkdir (lock, 0755), ==, 0);
  Run r = run (f->root, "ingest", "policy", path);
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.err, "annals ingest: policy: "));
  g_assert_nonnull (strstr (r.err, "stored"));
  g_assert_nonnull (strstr (r.err, "run 'annals index policy'"));
  g_assert_null (strstr (r.err, "annals index:"));
  run_clear (&r);
  r = run (f->root, "export", "policy");
  g_assert_cmpmem (r.out, r.out_len, mbox->str, mbox->len);
  run_clear (&r);
  /* What the message says to do catches the index up. */
  g_assert_cmpint (g_rmdir (lock), ==, 0);
  assert_ok (run (f->root, "index", "policy"));
  r = run (f->root, "search", "--list", "policy", "--count", "s:topic");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, "5\n");
  run_clear (&r);
}

/* SIGKILL at random moments: the store always opens, holds a prefix of
 * the input byte for byte, keeps every acknowledged message, and the
 * same command finishes the job. */
/* Checks that list's store holds message i of make_mbox(0, ...) as
 * number i, for the last few it holds. */
static void
check_prefix (const char *store)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStore) s = annals_store_open (store, NULL);
  if (s == NULL)
    return; /* killed before the store was created */
  guint64 n = annals_store_count (s);
  for (guint64 i = n > 20 ? n - 20 : 0; i < n; i++) {
    g_autoptr (GString) want = test_util_message ((guint) i, 1500);
    if (i % 5 == 0)
      g_string_append (want, "\nFrom the archives: a line mboxrd must quote\n>From and this one too\n");
    g_autoptr (GBytes) got = annals_store_read (s, i, NULL, &error);
    g_assert_no_error (error);
    gsize len;
    const void *d = g_bytes_get_data (got, &len);
    g_assert_cmpmem (d, len, want->str, want->len);
  }
}

static void
test_kill9 (Fixture *f, gconstpointer data)
{
  assert_ok (run (f->root, "init"));
  g_autoptr (GString) mbox = make_mbox (0, 3000, 1500);
  g_autofree char *path = write_tmp (f, "in.mbox", mbox->str, mbox->len);
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "ANNALS_ROOT", f->root, TRUE);
  GRand *rand = g_rand_new_with_seed (20261122);
  guint kills = 0, lists = 0, rounds = 0;
  g_autofree char *list = NULL;
  g_autofree char *store = NULL;
  /* Kill until 50 runs died mid-way; a run that finishes is checked
   * whole and the next round starts a new list. */
  while (kills < 50) {
    g_assert_cmpuint (++rounds, <, 1000);
    if (list == NULL) {
      list = g_strdup_printf ("policy%u", lists++);
      store = g_build_filename (f->root, list, "store", NULL);
      assert_ok (run (f->root, "list-add", list));
    }
    const char *argv[] = { annals_bin (), "ingest", list, "--quiet", path, NULL };
    GPid pid;
    g_autoptr (GError) error = NULL;
    g_assert_true (g_spawn_async (NULL, (char **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error));
    g_usleep (g_rand_int_range (rand, 0, 150000));
    kill (pid, SIGKILL);
    int status;
    waitpid (pid, &status, 0);
    g_spawn_close_pid (pid);
    check_prefix (store);
    if (WIFSIGNALED (status)) {
      kills++;
      continue;
    }
    g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    Run r = run (f->root, "export", list);
    g_assert_cmpmem (r.out, r.out_len, mbox->str, mbox->len);
    run_clear (&r);
    g_clear_pointer (&list, g_free);
    g_clear_pointer (&store, g_free);
  }
  g_rand_free (rand);
  g_test_message ("%u runs killed mid-way in %u rounds over %u lists", kills, rounds, lists);

  /* Acknowledged MDA deliveries survive a kill of the next one. */
  GRand *r2 = g_rand_new_with_seed (7);
  g_autoptr (GPtrArray) acked = g_ptr_array_new_with_free_func (g_free);
  assert_ok (run (f->root, "list-add", "mda"));
  for (guint i = 0; i < 60; i++) {
    g_autofree char *msg = g_strdup_printf ("Message-ID: <ack%u@x>\nSubject: ack %u\n\nbody %u\n", i, i, i);
    const char *margv[] = { annals_bin (), "ingest", "mda", "--mda", NULL };
    GPid pid;
    int in_fd;
    g_autoptr (GError) error = NULL;
    g_assert_true (g_spawn_async_with_pipes (NULL, (char **) margv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                             &in_fd, NULL, NULL, &error));
    g_assert_cmpint (write (in_fd, msg, strlen (msg)), ==, (ssize_t) strlen (msg));
    close (in_fd);
    g_usleep (g_rand_int_range (r2, 0, 30000));
    kill (pid, SIGKILL);
    int status;
    waitpid (pid, &status, 0);
    g_spawn_close_pid (pid);
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
      g_ptr_array_add (acked, g_strdup_printf ("ack%u@x", i));
  }
  g_rand_free (r2);
  g_test_message ("%u of 60 deliveries acknowledged before the kill", acked->len);
  g_autoptr (GError) error = NULL;
  g_autofree char *mda_store = g_build_filename (f->root, "mda", "store", NULL);
  /* A writer repairs whatever the last kill left, then every
   * acknowledged message is there exactly once. */
  assert_ok (run_full (f->root, "Message-ID: <last@x>\n\nx\n", 20, NULL, "ingest", "mda", "--mda", NULL));
  g_autoptr (AnnalsStore) s = annals_store_open (mda_store, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < acked->len; i++) {
    g_autoptr (GArray) found = annals_store_find_message_id (s, acked->pdata[i], &error);
    g_assert_cmpuint (found->len, ==, 1);
  }
  /* Every list's transparency log survived the kills too: a last ingest
   * brings each up to date, then the whole archive verifies. */
  for (guint i = 0; i < lists; i++) {
    g_autofree char *l = g_strdup_printf ("policy%u", i);
    assert_ok (run (f->root, "ingest", l, "--quiet", path));
    /* The index followed each killed ingest; it has all, once. */
    Run c = run (f->root, "search", "--list", l, "--count", "d:..now");
    assert_status (c, 0);
    g_assert_cmpstr (c.out, ==, "3000\n");
    run_clear (&c);
  }
  Run k = run (f->root, "key");
  g_autofree char *vkey = g_strstrip (g_strdup (k.out));
  run_clear (&k);
  Run v = run (NULL, "verify", f->root, "--key", vkey);
  g_test_message ("%s", v.out);
  assert_status (v, 0);
  run_clear (&v);
}

/* "number=thread" lines from search --format json, newest first. */
static char *
thread_partition (const char *root)
{
  Run r = run (root, "search", "--format", "json", "-n", "100000", "d:..now");
  assert_status (r, 0);
  /* "number":N,...,"thread":"T": one result per line. */
  g_auto (GStrv) rows = g_strsplit (r.out, "\n", -1);
  GString *all = g_string_new (NULL);
  for (char **row = rows; *row; row++) {
    const char *num = strstr (*row, "\"number\":");
    const char *th = strstr (*row, "\"thread\":\"");
    if (num == NULL || th == NULL)
      continue;
    guint64 n = g_ascii_strtoull (num + 9, NULL, 10);
    g_autofree char *tid = g_strndup (th + 10, strcspn (th + 10, "\""));
    g_string_append_printf (all, "%" G_GUINT64_FORMAT "=%s\n", n, tid);
  }
  run_clear (&r);
  return g_string_free (all, FALSE);
}

/* An indexer killed at random moments resumes from its last commit and
 * ends with the same threads and results as a clean rebuild. */
static void
test_index_kill (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  GString *mbox = g_string_new (NULL);
  for (guint i = 0; i < 3000; i++) {
    g_autoptr (GString) m = g_string_new (NULL);
    g_string_append_printf (m,
                            "Message-ID: <k%u@x>\nSubject: topic %u\nFrom: a%u@example.org\n"
                            "Date: Mon, 19 Apr 2021 10:%02u:00 +0000\n",
                            i, i / 7, i % 13, i % 60);
    if (i % 7 != 0)
      g_string_append_printf (m, "In-Reply-To: <k%u@x>\nReferences: <k%u@x> <k%u@x>\n", i - 1, (i / 7) * 7, i - 1);
    g_string_append_printf (m, "\nbody of %u, about routing %s\n", i, i % 2 ? "policy" : "budgets");
    annals_mbox_append_mboxrd (mbox, NULL, "a@example.org", 1618826400 + i, (const guint8 *) m->str, m->len);
  }
  g_autofree char *path = write_tmp (f, "k.mbox", mbox->str, mbox->len);
  g_string_free (mbox, TRUE);
  assert_ok (run (f->root, "ingest", "policy", "--quiet", "--no-index", path));
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "ANNALS_ROOT", f->root, TRUE);
  env = g_environ_setenv (env, "ANNALS_INDEX_COMMIT_EVERY", "100", TRUE);
  const char *argv[] = { annals_bin (), "index", "--quiet", NULL };
  GRand *rand = g_rand_new_with_seed (99);
  guint kills = 0;
  for (guint round = 0; round < 200; round++) {
    GPid pid;
    g_autoptr (GError) error = NULL;
    g_assert_true (g_spawn_async (NULL, (char **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error));
    /* Kills at growing delays from 0 (0, 1, 2 ... 29 ms, then 30, 60,
     * 120 ms ... plus jitter): the first land before or while the index
     * is created, the next while indexing, the last lets it finish. */
    guint delay = round < 30 ? round * 1000u : (30000u << MIN (round - 30, 10));
    g_usleep (delay + (guint) g_rand_int_range (rand, 0, 1000));
    kill (pid, SIGKILL);
    int status;
    waitpid (pid, &status, 0);
    g_spawn_close_pid (pid);
    if (WIFSIGNALED (status)) {
      kills++;
      continue;
    }
    g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    break;
  }
  g_rand_free (rand);
  g_test_message ("%u kills before the index finished", kills);
  g_assert_cmpuint (kills, >, 0);
  assert_ok (run (f->root, "index", "--quiet"));
  g_autofree char *resumed = thread_partition (f->root);
  Run c1 = run (f->root, "search", "--count", "routing policy");
  assert_ok (run (f->root, "index", "--rebuild", "--quiet"));
  g_autofree char *rebuilt = thread_partition (f->root);
  Run c2 = run (f->root, "search", "--count", "routing policy");
  g_assert_cmpstr (c1.out, ==, c2.out);
  g_assert_cmpstr (c1.out, ==, "1500\n");
  g_assert_cmpstr (resumed, ==, rebuilt);
  run_clear (&c1);
  run_clear (&c2);
}

static void
assert_count (Fixture *f, const char *query, const char *want)
{
  Run r = run (f->root, "search", "--count", query);
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, want);
  run_clear (&r);
}

/* Runs annals with ANNALS_INDEX_TEST_KILL=stage (and commit batches of
 * 7): its wait status. */
static int
run_hooked (Fixture *f, const char *stage, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) annals_bin ());
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "ANNALS_ROOT", f->root, TRUE);
  env = g_environ_setenv (env, "ANNALS_INDEX_TEST_KILL", stage, TRUE);
  env = g_environ_setenv (env, "ANNALS_INDEX_COMMIT_EVERY", "7", TRUE);
  int status;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, env,
                               G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status,
                               &error));
  return status;
}

/* Runs annals with ANNALS_INDEX_TEST_KILL=stage and checks that it died
 * there (so the stage is reached and the kill is real). */
static void
run_killed_at (Fixture *f, const char *stage, const char *const *args)
{
  int status = run_hooked (f, stage, args);
  g_test_message ("annals %s killed at %s", args[0], stage);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
}

/* Runs annals with the hook at stage and checks that it never got there
 * and succeeded. */
static void
run_not_reaching (Fixture *f, const char *stage, const char *const *args)
{
  int status = run_hooked (f, stage, args);
  g_test_message ("annals %s did not reach %s", args[0], stage);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
}

/* thread_partition with each thread named by its oldest message: ids
 * differ after a redaction (a rebuild does not give the redacted message
 * a thread, the live index keeps ids stable), the threads do not. */
static char *
thread_groups (const char *root)
{
  g_autofree char *raw = thread_partition (root);
  g_auto (GStrv) rows = g_strsplit (raw, "\n", -1);
  g_autoptr (GHashTable) oldest = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (char **row = rows; *row && **row; row++) {
    const char *eq = strchr (*row, '=');
    guint64 n = g_ascii_strtoull (*row, NULL, 10);
    gpointer have;
    if (!g_hash_table_lookup_extended (oldest, eq + 1, NULL, &have) || n < GPOINTER_TO_SIZE (have))
      g_hash_table_insert (oldest, g_strdup (eq + 1), GSIZE_TO_POINTER ((gsize) n));
  }
  GString *out = g_string_new (NULL);
  for (char **row = rows; *row && **row; row++) {
    const char *eq = strchr (*row, '=');
    g_string_append_printf (out, "%.*s=%" G_GSIZE_FORMAT "\n", (int) (eq - *row), *row,
                            GPOINTER_TO_SIZE (g_hash_table_lookup (oldest, eq + 1)));
  }
  return g_string_free (out, FALSE);
}

/* The index after a kill and one more plain 'annals index': complete,
 * and the same threads as a rebuild. */
static void
check_index_whole (Fixture *f, const char *count)
{
  Run r = run (f->root, "index", "--quiet");
  assert_status (r, 0);
  /* Nothing half-made: the kill left the old index or the new one. */
  g_assert_null (strstr (r.err, "half-made"));
  run_clear (&r);
  assert_count (f, "d:..now", count);
  g_autofree char *resumed = thread_groups (f->root);
  assert_ok (run (f->root, "index", "--rebuild", "--quiet"));
  g_autofree char *rebuilt = thread_groups (f->root);
  g_assert_cmpstr (resumed, ==, rebuilt);
  g_autofree char *fresh = g_build_filename (f->root, "policy", "index.new", NULL);
  g_assert_false (g_file_test (fresh, G_FILE_TEST_EXISTS));
}

/* A kill at every stage of an index's life, by the test hook: creation
 * (before and after the first commit), an incremental commit, a rebuild
 * (built beside, swapped in), the compaction after a redaction. */
static void
test_index_kill_stages (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autoptr (GString) mbox = make_mbox (0, 30, 300);
  g_autofree char *path = write_tmp (f, "in.mbox", mbox->str, mbox->len);
  assert_ok (run (f->root, "ingest", "policy", "--quiet", "--no-index", path));
  const char *index[] = { "index", "--quiet", NULL };
  const char *rebuild[] = { "index", "--rebuild", "--quiet", NULL };
  const char *stages[] = { "created", "committed" };
  for (guint i = 0; i < G_N_ELEMENTS (stages); i++) {
    g_autofree char *dir = g_build_filename (f->root, "policy", "index", NULL);
    test_util_rm_rf (dir);
    run_killed_at (f, stages[i], index);
    check_index_whole (f, "30\n");
  }
  const char *rebuild_stages[] = { "created", "committed", "built", "swapped" };
  for (guint i = 0; i < G_N_ELEMENTS (rebuild_stages); i++) {
    run_killed_at (f, rebuild_stages[i], rebuild);
    check_index_whole (f, "30\n");
  }
  /* A redaction's compaction, killed before and after the swap: the
   * next run finishes it. */
  g_autofree char *morep = write_mbox (f, "more.mbox", 30, 4, 300);
  assert_ok (run (f->root, "ingest", "policy", "--quiet", "--no-index", morep));
  const char *redact1[] = { "redact", "policy", "3", "--reason", "test", NULL };
  run_killed_at (f, "built", redact1);
  check_index_whole (f, "33\n");
  const char *redact2[] = { "redact", "policy", "4", "--reason", "test", NULL };
  run_killed_at (f, "swapped", redact2);
  check_index_whole (f, "32\n");
}

/* A bulk run (more than one commit batch: ingest with the index
 * following, or index) ends by compacting the index into a fresh copy,
 * swapped in.  A kill during the compaction or around the swap leaves an
 * index that opens with every message, and the next writer finishes the
 * compaction; a small incremental run does not compact. */
static void
test_index_compact_kill (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autoptr (GString) mbox = make_mbox (0, 30, 300);
  g_autofree char *path = write_tmp (f, "in.mbox", mbox->str, mbox->len);
  const char *ingest[] = { "ingest", "policy", "--quiet", path, NULL };
  run_killed_at (f, "compacting", ingest);
  assert_count (f, "d:..now", "30\n");
  /* Nothing new to index, but the compaction is still owed. */
  const char *index[] = { "index", "--quiet", NULL };
  run_killed_at (f, "built", index);
  assert_count (f, "d:..now", "30\n");
  run_killed_at (f, "swapped", index);
  assert_count (f, "d:..now", "30\n");
  /* The swap was the end of it: nothing more to compact. */
  run_not_reaching (f, "compacting", index);
  check_index_whole (f, "30\n");
  g_autoptr (GString) more = make_mbox (30, 4, 300);
  g_autofree char *morep = write_tmp (f, "more.mbox", more->str, more->len);
  const char *ingest_more[] = { "ingest", "policy", "--quiet", morep, NULL };
  run_not_reaching (f, "compacting", ingest_more);
  assert_count (f, "d:..now", "34\n");
  /* A rebuild is a bulk run. */
  const char *rebuild[] = { "index", "--rebuild", "--quiet", NULL };
  run_killed_at (f, "compacting", rebuild);
  check_index_whole (f, "34\n");
}

/* A damaged index (readable enough to open, not to search) is the
 * server's problem, not the user's: exit 1 naming the list and the way
 * out, while a bad query stays a usage error (64).  'annals index' stops
 * on it instead of taking the unreadable mark as "nothing indexed yet". */
static void
test_search_damaged_index (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  assert_ok (run (f->root, "list-add", "other"));
  g_autofree char *path = write_mbox (f, "in.mbox", 0, 300, 800);
  assert_ok (run (f->root, "ingest", "policy", "--quiet", path));
  assert_ok (run (f->root, "ingest", "other", "--quiet", path));
  g_autofree char *index = g_build_filename (f->root, "policy", "index", NULL);
  test_util_garble_glass (index, "postlist");

  /* Every list (the default) and the damaged one alone: named. */
  const char *lists[] = { "--all", "--list=policy" };
  for (guint i = 0; i < G_N_ELEMENTS (lists); i++) {
    Run r = run (f->root, "search", lists[i], "says");
    assert_status (r, 1);
    g_assert_nonnull (strstr (r.err, "'policy'"));
    g_assert_nonnull (strstr (r.err, "annals index --rebuild policy"));
    run_clear (&r);
  }
  assert_fails (run (f->root, "search", "--list=policy", "NOT says"), 64, "only NOT");
  assert_fails (run (f->root, "search", "--list=policy", "s*"), 64, "too broad");
  Run other = run (f->root, "search", "--count", "--list=other", "says");
  assert_status (other, 0);
  g_assert_cmpstr (other.out, ==, "300\n");
  run_clear (&other);

  /* index: fails and says what to run, the index left as it was. */
  Run r = run (f->root, "index", "policy");
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.err, "damaged"));
  g_assert_nonnull (strstr (r.err, "'annals index --rebuild policy'"));
  g_assert_null (strstr (r.err, "rebuilt it from the store"));
  run_clear (&r);
  assert_ok (run (f->root, "index", "--rebuild", "policy"));
  assert_count (f, "says", "600\n");
}

/* What a kill inside Xapian's database creation leaves (seen on a busy
 * machine): index/ with a lock file and no revision file (iamglass).
 * Writers rebuild it from the store, saying so in one line; readers
 * say the index is not ready instead of passing on Xapian's words. */
static void
make_half_made_index (Fixture *f, const char *list)
{
  g_autofree char *dir = g_build_filename (f->root, list, "index", NULL);
  test_util_rm_rf (dir);
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  g_autofree char *lock = g_build_filename (dir, "flintlock", NULL);
  g_assert_true (g_file_set_contents (lock, "", 0, NULL));
}

/* Marks the list's index as written by an annals of format version 3. */
static void
set_index_version_3 (Fixture *f, const char *list)
{
  g_autofree char *dir = g_build_filename (f->root, list, "index", NULL);
  const char *argv[] = { "xapian-metadata", "set", dir, "annals:version", "3", NULL };
  int status = -1;
  g_autoptr (GError) error = NULL;
  g_assert_true (
      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
}

static void
test_index_older_version (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autofree char *path = write_mbox (f, "in.mbox", 0, 40, 300);
  assert_ok (run (f->root, "ingest", "policy", "--quiet", path));
  set_index_version_3 (f, "policy");
  /* Read as it is until a writer comes. */
  assert_count (f, "d:..now", "40\n");
  /* index: rebuilt in this format, one line on stderr saying why. */
  Run r = run (f->root, "index", "--quiet");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.err, "older format"));
  g_auto (GStrv) lines = g_strsplit (r.err, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  run_clear (&r);
  assert_count (f, "d:..now", "40\n");
  r = run (f->root, "index", "--quiet");
  assert_status (r, 0);
  g_assert_cmpstr (r.err, ==, "");
  run_clear (&r);
  /* ingest: the same, with the new messages in. */
  set_index_version_3 (f, "policy");
  g_autofree char *more = write_mbox (f, "more.mbox", 40, 10, 300);
  r = run (f->root, "ingest", "policy", "--quiet", more);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.err, "older format"));
  run_clear (&r);
  assert_count (f, "d:..now", "50\n");
}

static void
test_index_half_made (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autoptr (GString) mbox = make_mbox (0, 40, 300);
  g_autofree char *path = write_tmp (f, "in.mbox", mbox->str, mbox->len);
  assert_ok (run (f->root, "ingest", "policy", "--quiet", "--no-index", path));
  make_half_made_index (f, "policy");

  /* A reader: a clear error naming the list and what to run, and 75
   * (EX_TEMPFAIL): the index comes right with the next index run. */
  Run r = run (f->root, "search", "--count", "d:..now");
  g_assert_cmpint (r.status, ==, 75);
  g_assert_nonnull (strstr (r.err, "'policy'"));
  g_assert_nonnull (strstr (r.err, "annals index"));
  g_assert_null (strstr (r.err, "iamglass"));
  g_assert_null (strstr (r.err, "Error"));
  run_clear (&r);

  /* index: rebuilt, one line on stderr. */
  r = run (f->root, "index", "--quiet");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.err, "rebuilt it from the store"));
  g_auto (GStrv) lines = g_strsplit (r.err, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 2);
  run_clear (&r);
  assert_count (f, "d:..now", "40\n");

  /* ingest: the same, and the new messages are in too. */
  make_half_made_index (f, "policy");
  g_autofree char *morep = write_mbox (f, "more.mbox", 40, 10, 300);
  r = run (f->root, "ingest", "policy", "--quiet", morep);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.err, "rebuilt it from the store"));
  run_clear (&r);
  assert_count (f, "d:..now", "50\n");

  /* An MDA delivery too. */
  make_half_made_index (f, "policy");
  const char *msg = "Message-ID: <late@x>\nSubject: late\nDate: Mon, 19 Apr 2021 10:00:00 +0000\n\nlate\n";
  r = run_full (f->root, msg, strlen (msg), NULL, "ingest", "policy", "--mda", NULL);
  assert_status (r, 0);
  run_clear (&r);
  assert_count (f, "d:..now", "51\n");
}

/* Whether the bytes of a file hold marker. */
static gboolean
bytes_hold (const char *data, gsize len, const char *marker)
{
  return memmem (data, len, marker, strlen (marker)) != NULL;
}

/* Little-endian fields at any alignment. */
static guint32
le32_at (const guint8 *p)
{
  guint32 v;
  memcpy (&v, p, sizeof v);
  return GUINT32_FROM_LE (v);
}

static guint64
le64_at (const guint8 *p)
{
  guint64 v;
  memcpy (&v, p, sizeof v);
  return GUINT64_FROM_LE (v);
}

/* Whether a pack's message records hold marker once inflated (with the
 * dictionary they name), per doc/store-format.md. */
static gboolean
pack_inflated_holds (const char *store, const char *data, gsize len, const char *marker)
{
  const guint8 *d = (const guint8 *) data;
  gsize off = 32;
  while (off + 88 <= len) {
    guint32 type = le32_at (d + off + 4);
    guint64 raw = le64_at (d + off + 24);
    guint32 stored = le32_at (d + off + 32);
    guint32 dict_id = le32_at (d + off + 36);
    guint32 env = le32_at (d + off + 80);
    gsize payload = off + 88 + env;
    g_assert_cmpuint (payload + stored, <=, len);
    if (type == 1) {
      g_autoptr (GBytes) dict = NULL;
      if (dict_id != 0) {
        g_autofree char *name = g_strdup_printf ("%08u.zdict", dict_id);
        g_autofree char *dpath = g_build_filename (store, "dict", name, NULL);
        g_autofree char *zd = NULL;
        gsize zdlen;
        g_assert_true (g_file_get_contents (dpath, &zd, &zdlen, NULL));
        g_assert_cmpuint (zdlen, >=, 20);
        dict = g_bytes_new (zd + 20, zdlen - 20);
      }
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) msg = annals_zcodec_inflate (d + payload, stored, raw, dict, &error);
      g_assert_no_error (error);
      gsize mlen;
      const char *m = g_bytes_get_data (msg, &mlen);
      if (bytes_hold (m, mlen, marker))
        return TRUE;
    }
    off = payload + stored;
  }
  return FALSE;
}

/* The first file under root whose bytes (or whose pack records, inflated)
 * hold marker, or NULL. */
static char *
find_marker (const char *root, const char *marker)
{
  g_autoptr (GPtrArray) todo = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (todo, g_strdup (root));
  while (todo->len > 0) {
    g_autofree char *dir = g_ptr_array_steal_index (todo, todo->len - 1);
    g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
    g_assert_nonnull (d);
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL) {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
        g_ptr_array_add (todo, g_steal_pointer (&path));
        continue;
      }
      g_autofree char *data = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (path, &data, &len, NULL));
      g_autofree char *packs = g_path_get_basename (dir);
      g_autofree char *store = g_path_get_dirname (dir);
      if (bytes_hold (data, len, marker)
          || (strcmp (packs, "packs") == 0 && g_str_has_suffix (name, ".pack")
              && pack_inflated_holds (store, data, len, marker)))
        return g_steal_pointer (&path);
    }
  }
  return NULL;
}

/* After 'annals redact' no byte of the message is left anywhere under the
 * root: not in the index (Xapian keeps freed blocks), the store's packs
 * (inflated too), meta, offsets, nor any leftover file. */
static void
test_redact_no_residue (Fixture *f, gconstpointer data)
{
  make_archive (f, "policy");
  g_autoptr (GString) mbox = make_mbox (0, 40, 400);
  const char *markers[] = { "qzvsubjmarker", "qzvsendermarker", "qzvbodymarker" };
  GString *secret = g_string_new ("From: Whistle Blower <qzvsendermarker@example.org>\n"
                                  "Subject: qzvsubjmarker plans\n"
                                  "Message-ID: <s1@example.org>\n"
                                  "Date: Mon, 19 Apr 2021 10:00:00 +0000\n\n");
  for (guint i = 0; i < 50; i++)
    g_string_append_printf (secret, "line %u: the qzvbodymarker is where the keys are\n", i);
  annals_mbox_append_mboxrd (mbox, NULL, "qzvsendermarker@example.org", 1618846131, (const guint8 *) secret->str,
                             secret->len);
  g_string_free (secret, TRUE);
  g_autoptr (GString) after = make_mbox (40, 20, 400);
  g_string_append_len (mbox, after->str, (gssize) after->len);
  g_autofree char *path = write_tmp (f, "in.mbox", mbox->str, mbox->len);
  assert_ok (run (f->root, "ingest", "policy", "--quiet", path));
  g_test_message ("the secret is message 40");
  assert_count (f, "qzvbodymarker", "1\n");

  /* The check can fail: every marker is there before. */
  g_autofree char *index = g_build_filename (f->root, "policy", "index", NULL);
  g_autofree char *store = g_build_filename (f->root, "policy", "store", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (markers); i++) {
    g_autofree char *in_index = find_marker (index, markers[i]);
    g_autofree char *in_store = find_marker (store, markers[i]);
    g_test_message ("before: %s in %s and %s", markers[i], in_index, in_store);
    g_assert_nonnull (in_index);
    g_assert_nonnull (in_store);
  }

  Run r = run (f->root, "redact", "policy", "40", "--reason", "leaked keys");
  assert_status (r, 0);
  run_clear (&r);
  for (guint i = 0; i < G_N_ELEMENTS (markers); i++) {
    g_autofree char *left = find_marker (f->root, markers[i]);
    if (left != NULL)
      g_error ("'%s' is still in '%s' after redact", markers[i], left);
  }
  /* The rest is still searchable and threads are unchanged. */
  assert_count (f, "d:..now", "60\n");
  assert_count (f, "qzvbodymarker", "0\n");

  /* A redact killed before its fresh index is swapped in leaves the old
   * one; running the same redact again finishes the job. */
  const char *late = "From: <qzvlatemarker@example.org>\nSubject: late\nMessage-ID: <s2@example.org>\n"
                     "Date: Mon, 19 Apr 2021 11:00:00 +0000\n\nqzvlatemarker\n";
  assert_ok (run_full (f->root, late, strlen (late), NULL, "ingest", "policy", "--mda", NULL));
  const char *redact[] = { "redact", "policy", "<s2@example.org>", "--reason", "again", NULL };
  run_killed_at (f, "built", redact);
  g_autofree char *kept = find_marker (index, "qzvlatemarker");
  g_assert_nonnull (kept);
  r = run (f->root, "redact", "policy", "<s2@example.org>", "--reason", "again");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "redacted already"));
  run_clear (&r);
  g_autofree char *left = find_marker (f->root, "qzvlatemarker");
  if (left != NULL)
    g_error ("'qzvlatemarker' is still in '%s' after the second redact", left);
  assert_count (f, "d:..now", "60\n");
}

/* The whole shared corpus: ingest, export, byte for byte. */
static void
test_corpus (Fixture *f, gconstpointer data)
{
  const char *corpus = g_getenv ("ANNALS_CORPUS");
  if (corpus == NULL || !g_file_test (corpus, G_FILE_TEST_IS_DIR)) {
    g_test_skip ("../shared/corpus is absent: the corpus round trip needs it");
    return;
  }
  g_autoptr (GDir) d = g_dir_open (corpus, 0, NULL);
  const char *name;
  guint files = 0;
  make_archive (f, "corpus");
  while ((name = g_dir_read_name (d)) != NULL) {
    if (!g_str_has_suffix (name, ".mbox.xz"))
      continue;
    files++;
    g_autofree char *list = g_strndup (name, strlen (name) - strlen (".mbox.xz"));
    g_autofree char *xz = g_build_filename (corpus, name, NULL);
    g_autofree char *mbox = g_build_filename (f->tmp, "in.mbox", NULL);
    g_autofree char *cmd = g_strdup_printf ("xz -dc '%s' > '%s'", xz, mbox);
    g_assert_cmpint (system (cmd), ==, 0);
    assert_ok (run (f->root, "list-add", list));
    Run r = run (f->root, "ingest", list, mbox);
    assert_status (r, 0);
    g_test_message ("%s", r.out);
    g_assert_nonnull (strstr (r.out, "duplicates skipped 0"));
    run_clear (&r);
    r = run (f->root, "export", list);
    g_autofree char *orig = NULL;
    gsize orig_len;
    g_assert_true (g_file_get_contents (mbox, &orig, &orig_len, NULL));
    g_assert_cmpuint (r.out_len, ==, orig_len);
    g_assert_true (memcmp (r.out, orig, orig_len) == 0);
    run_clear (&r);
  }
  g_assert_cmpuint (files, ==, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The annals command end to end: options, inputs, bad inputs, MDA, crashes, the corpus");
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/cli/help", test_help);
  ADD ("/cli/help/usage-line", test_help_usage_line);
  ADD ("/cli/global-options", test_global_options);
  ADD ("/cli/key/missing", test_key_missing);
  ADD ("/cli/key/generate-refuses-signed-logs", test_key_generate_signed);
  ADD ("/cli/key/public-only", test_key_public_only);
  ADD ("/cli/ls/control-characters", test_ls_controls);
  ADD ("/cli/ls/quoted-from", test_ls_quoted_from);
  ADD ("/cli/numbers/overflow", test_number_overflow);
  ADD ("/cli/search/date-out-of-range", test_search_date_range);
  ADD ("/cli/search/damaged-index", test_search_damaged_index);
  ADD ("/cli/search/total-exact", test_search_total_exact);
  ADD ("/cli/search/claimed-date", test_claimed_date);
  ADD ("/cli/init-and-lists", test_init_and_lists);
  ADD ("/cli/list-add/reserved-names", test_list_add_reserved);
  ADD ("/cli/lists/counts-messages", test_lists_counts_messages);
  ADD ("/cli/verify/plurals", test_verify_plurals);
  ADD ("/cli/init/origin-note", test_init_origin_note);
  ADD ("/cli/ingest/mbox-roundtrip", test_mbox_roundtrip);
  ADD ("/cli/ingest/maildir", test_maildir);
  ADD ("/cli/ingest/mda", test_mda);
  ADD ("/cli/ingest/bad-input", test_bad_input);
  ADD ("/cli/ingest/permissions", test_permissions);
  ADD ("/cli/ingest/full-disk", test_full_disk);
  ADD ("/cli/ingest/index-fails", test_ingest_index_fails);
  ADD ("/cli/crash/kill9", test_kill9);
  ADD ("/cli/crash/index-kill", test_index_kill);
  ADD ("/cli/crash/index-half-made", test_index_half_made);
  ADD ("/cli/index/older-version", test_index_older_version);
  ADD ("/cli/crash/index-kill-stages", test_index_kill_stages);
  ADD ("/cli/crash/index-compact-kill", test_index_compact_kill);
  ADD ("/cli/redact/no-residue", test_redact_no_residue);
  ADD ("/cli/corpus/export-roundtrip", test_corpus);
  return g_test_run ();
}
