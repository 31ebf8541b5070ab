/* End-to-end tests of `annals ingest` over mbox input: Mailman 2
 * (pipermail) archives, gzip files and gzip on stdin, damaged gzip, and
 * the memory a large gzip takes, a message over the size limit. */
#include "core/mbox.h"
#include "core/store.h"
#include "core/zcodec.h"
#include "tests/test-util.h"
#include "tests/test-run.h"

#include <fcntl.h>
#include <glib/gstdio.h>
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
  assert_ok (run (f->root, "init"));
  assert_ok (run (f->root, "list-add", "policy"));
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_util_tmpdir_clear (&f->tmp, &f->root);
}

static void
string_free (GString *s)
{
  g_string_free (s, TRUE);
}

/* list policy holds exactly count messages, numbered from 0: messages[i]. */
static void
assert_stored (Fixture *f, GPtrArray *messages, guint count)
{
  for (guint i = 0; i < count; i++) {
    g_autofree char *n = g_strdup_printf ("%u", i);
    Run r = run (f->root, "cat", "policy", n);
    assert_status (r, 0);
    const GString *m = messages->pdata[i];
    g_assert_cmpmem (r.out, r.out_len, m->str, m->len);
    run_clear (&r);
  }
  g_autofree char *past = g_strdup_printf ("%u", count);
  Run r = run (f->root, "cat", "policy", past);
  g_assert_cmpint (r.status, !=, 0);
  run_clear (&r);
}

/* list policy holds msg alone, byte for byte. */
static void
assert_stored_only (Fixture *f, const char *msg)
{
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) string_free);
  g_ptr_array_add (messages, g_string_new (msg));
  assert_stored (f, messages, 1);
}

/* A Mailman 2 text archive: "user at host" envelopes and senders, body
 * lines that start with "From " after blank lines, no quoting. */
static void
test_pipermail (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) string_free);
  g_autoptr (GString) archive = g_string_new (NULL);
  for (guint i = 0; i < 30; i++) {
    GString *m = g_string_new (NULL);
    if (i == 7)
      g_string_append (m, "From: alice at example.org (Alice Liddell)\n");
    else
      g_string_append_printf (m, "From: member%u at example.org (Member %u)\n", i, i);
    g_string_append_printf (m,
                            "Date: Tue, 06 Apr 2021 10:%02u:03 +0000\n"
                            "Subject: [policy] topic %u\n"
                            "Message-ID: <pm%u@example.org>\n\n"
                            "Hello,\n\n"
                            "From the project policies\n"
                            "<https://example.org/policies.html>:\n\n"
                            "From time to time\nNote: still the body\n",
                            i, i, i);
    g_string_append_printf (archive, "From %s at example.org  Tue Apr  6 10:%02u:03 2021\n",
                            i == 7 ? "alice" : "member", i);
    g_string_append_len (archive, m->str, (gssize) m->len);
    g_string_append_c (archive, '\n');
    g_ptr_array_add (messages, m);
  }
  g_autofree char *path = g_build_filename (f->tmp, "2021-April.txt", NULL);
  g_assert_true (g_file_set_contents (path, archive->str, (gssize) archive->len, NULL));
  Run r = run (f->root, "ingest", "policy", path);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 30,"));
  run_clear (&r);
  assert_stored (f, messages, 30);

  r = run (f->root, "search", "--count", "f:alice");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, "1\n");
  run_clear (&r);
  r = run (f->root, "ls", "policy", "--from", "7", "--to", "7");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "\tAlice Liddell <alice@example.org>\t[policy] topic 7"));
  run_clear (&r);
}

/* An mbox of n generated messages (each about body bytes) as mboxrd; the
 * messages go to messages when not NULL. */
static GString *
make_mbox (guint n, gsize body, GPtrArray *messages)
{
  GString *mbox = g_string_new (NULL);
  for (guint i = 0; i < n; i++) {
    GString *m = test_util_message (i, body);
    annals_mbox_append_mboxrd (mbox, NULL, "member@example.org", 1618846131 + i, (const guint8 *) m->str, m->len);
    if (messages != NULL)
      g_ptr_array_add (messages, m);
    else
      g_string_free (m, TRUE);
  }
  return mbox;
}

static gboolean
append_sink (const guint8 *data, gsize length, gpointer user_data)
{
  g_string_append_len (user_data, (const char *) data, (gssize) length);
  return TRUE;
}

static GString *
gzip_string (const GString *plain)
{
  GString *gz = g_string_new (NULL);
  AnnalsGzipWriter *w = annals_gzip_writer_new (append_sink, gz);
  g_assert_true (annals_gzip_writer_write (w, plain->str, plain->len));
  g_assert_true (annals_gzip_writer_finish (w));
  return gz;
}

/* A gzip file and a gzip stream on stdin are both inflated; two gzip
 * members one after the other (cat a.gz b.gz) read as one stream. */
static void
test_gzip_stdin (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) string_free);
  g_autoptr (GString) mbox = make_mbox (40, 3000, messages);
  const char *half = strstr (mbox->str + mbox->len / 2, "\nFrom ");
  g_assert_nonnull (half);
  g_autoptr (GString) first = g_string_new_len (mbox->str, half + 1 - mbox->str);
  g_autoptr (GString) second = g_string_new (half + 1);
  g_autoptr (GString) gz = gzip_string (first);
  g_autoptr (GString) gz2 = gzip_string (second);
  g_string_append_len (gz, gz2->str, (gssize) gz2->len);
  Run r = run_full (f->root, gz->str, gz->len, NULL, "ingest", "policy", NULL);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 40,"));
  run_clear (&r);
  assert_stored (f, messages, 40);

  /* The same again from a file: all duplicates. */
  g_autofree char *path = g_build_filename (f->tmp, "policy.mbox.gz", NULL);
  g_assert_true (g_file_set_contents (path, gz->str, (gssize) gz->len, NULL));
  r = run (f->root, "ingest", "policy", path);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 0, duplicates skipped 40"));
  run_clear (&r);
}

/* A .gz cut short: exit 65, the file named, the cut-off message not
 * stored (whole ones before it may be). */
static void
test_gzip_truncated (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) string_free);
  g_autoptr (GString) mbox = make_mbox (60, 20000, messages);
  g_autoptr (GString) gz = gzip_string (mbox);
  g_autofree char *path = g_build_filename (f->tmp, "cut.mbox.gz", NULL);
  g_assert_true (g_file_set_contents (path, gz->str, (gssize) (gz->len * 2 / 3), NULL));
  Run r = run (f->root, "ingest", "policy", path);
  assert_status (r, 65);
  g_assert_nonnull (strstr (r.err, path));
  g_assert_nonnull (strstr (r.err, "truncated"));
  run_clear (&r);
  /* What is stored is whole messages, in order. */
  r = run (f->root, "ls", "policy");
  assert_status (r, 0);
  guint stored = 0;
  for (const char *p = r.out; (p = strchr (p, '\n')) != NULL; p++)
    stored++;
  run_clear (&r);
  g_test_message ("%u of 60 stored", stored);
  g_assert_cmpuint (stored, <, 60);
  assert_stored (f, messages, stored);

  /* A small file (one read inflates it all) keeps its whole messages
   * too: only the gzip trailer is missing, the last message is not
   * known to be whole and stays out. */
  assert_ok (run (f->root, "list-add", "small"));
  g_autoptr (GPtrArray) few = g_ptr_array_new_with_free_func ((GDestroyNotify) string_free);
  g_autoptr (GString) small = make_mbox (5, 300, few);
  g_autoptr (GString) small_gz = gzip_string (small);
  r = run_full (f->root, small_gz->str, small_gz->len - 8, NULL, "ingest", "small", NULL);
  assert_status (r, 65);
  g_assert_nonnull (strstr (r.err, "truncated"));
  g_assert_nonnull (strstr (r.err, "the 4 whole messages before the damage are archived"));
  run_clear (&r);
  r = run (f->root, "ls", "small");
  assert_status (r, 0);
  guint small_stored = 0;
  for (const char *p = r.out; (p = strchr (p, '\n')) != NULL; p++)
    small_stored++;
  run_clear (&r);
  g_assert_cmpuint (small_stored, ==, 4);

  /* The same on stdin. */
  assert_ok (run (f->root, "list-add", "other"));
  r = run_full (f->root, gz->str, gz->len / 2, NULL, "ingest", "other", NULL);
  assert_status (r, 65);
  g_assert_nonnull (strstr (r.err, "stdin"));
  g_assert_nonnull (strstr (r.err, "truncated"));
  run_clear (&r);
}

/* A large .gz is streamed: the ingest's peak memory stays well below
 * the inflated size (a memory bound, not a timing one). */
static void
test_gzip_memory (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->tmp, "big.mbox.gz", NULL);
  g_autoptr (GString) gz = g_string_new (NULL);
  AnnalsGzipWriter *w = annals_gzip_writer_new (append_sink, gz);
  gsize inflated = 0;
  guint count = 0;
  while (inflated < (gsize) 50 << 20) {
    g_autoptr (GString) one = g_string_new (NULL);
    g_autoptr (GString) m = test_util_message (count++, 8000);
    annals_mbox_append_mboxrd (one, NULL, "member@example.org", 1618846131, (const guint8 *) m->str, m->len);
    g_assert_true (annals_gzip_writer_write (w, one->str, one->len));
    inflated += one->len;
  }
  g_assert_true (annals_gzip_writer_finish (w));
  g_assert_true (g_file_set_contents (path, gz->str, (gssize) gz->len, NULL));
  g_string_truncate (gz, 0);

  /* The peak is measured by a fresh copy of this program (see
   * peak_rss_main): a child forked straight from here would count this
   * process's pages as its own. */
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_assert_nonnull (self);
  const char *argv[] = { self, "--peak-rss", annals_bin (), "ingest", "policy", "--no-index", "--quiet", path, NULL };
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "ANNALS_ROOT", f->root, TRUE);
  /* Under ASan, freed memory waits in a quarantine (256 MB by default)
   * that would count against the bound: keep it small. */
  const char *asan_options = g_environ_getenv (env, "ASAN_OPTIONS");
  g_autofree char *asan = g_strdup_printf ("%s:quarantine_size_mb=8", asan_options ? asan_options : "");
  env = g_environ_setenv (env, "ASAN_OPTIONS", asan, TRUE);
  g_autofree char *out = NULL;
  int status;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  gsize peak = (gsize) g_ascii_strtoull (out, NULL, 10);
  g_test_message ("%u messages, %zu bytes inflated, peak RSS %zu bytes", count, inflated, peak);
  g_assert_cmpuint (peak, >, 0);
#if defined(__SANITIZE_ADDRESS__)
  /* ASan's shadow, redzones and allocator caches make RSS say little
   * about the heap (a 14 MB baseline, 55 MB here): the bound is checked
   * in the normal build; this one checks the streaming for memory errors. */
  g_test_message ("ASan build: peak RSS not bounded here");
#else
  g_assert_cmpuint (peak, <, inflated / 2);
#endif
  g_autofree char *last = g_strdup_printf ("%u", count - 1);
  Run r = run (f->root, "cat", "policy", last);
  assert_status (r, 0);
  run_clear (&r);
}

/* A message over the size limit is skipped with a warning in the
 * command's own words (the ingest library reports it; the program says
 * it), the others are archived, and the exit status says one was left out.
 * The big body is a hole in a sparse file: no disk, no write time. */
static void
test_oversized (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->tmp, "big.mbox", NULL);
  const char first[] = "From a@example.org Thu Jan  1 00:00:00 2004\nMessage-ID: <one@example.org>\n\nsmall\n\n"
                       "From b@example.org Thu Jan  1 00:00:00 2004\nMessage-ID: <big@example.org>\n\n";
  const char last[] = "\n\nFrom c@example.org Thu Jan  1 00:00:00 2004\nMessage-ID: <three@example.org>\n\nsmall\n";
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, first, strlen (first)), ==, (gssize) strlen (first));
  off_t hole = (off_t) (strlen (first) + ANNALS_STORE_MAX_MESSAGE + 1);
  g_assert_cmpint (pwrite (fd, last, strlen (last), hole), ==, (gssize) strlen (last));
  g_assert_cmpint (close (fd), ==, 0);

  Run r = run (f->root, "ingest", "policy", "--no-index", path);
  assert_status (r, 1);
  g_autofree char *says = g_strdup_printf ("annals ingest: warning: %s: message 2 not archived", path);
  g_assert_nonnull (strstr (r.err, says));
  g_assert_null (strstr (r.err, "WARNING **"));
  run_clear (&r);
  r = run (f->root, "cat", "policy", "<three@example.org>");
  assert_status (r, 0);
  run_clear (&r);
}

/* An MTA that delivers with an envelope line first (Postfix pipe with
 * flag F, procmail, exim's use_from_line): the line is the envelope, as
 * in an mbox, not the message's first header line. */
static void
test_mda_envelope (Fixture *f, gconstpointer data)
{
  const char msg[] = "From: Carol <carol@example.org>\nSubject: delivered\nDate: Wed, 3 Jan 2024 10:00:00 +0000\n"
                     "Message-ID: <env@example.org>\n\nbody\n";
  const char envelope[] = "From carol@example.org  Wed Jan  3 10:00:01 2024";
  g_autofree char *input = g_strdup_printf ("%s\n%s", envelope, msg);
  Run r = run_full (f->root, input, strlen (input), NULL, "ingest", "policy", "--mda", NULL);
  assert_status (r, 0);
  run_clear (&r);
  r = run (f->root, "cat", "policy", "<env@example.org>");
  assert_status (r, 0);
  g_assert_cmpmem (r.out, r.out_len, msg, strlen (msg));
  run_clear (&r);
  r = run (f->root, "ls", "policy");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "\tCarol <carol@example.org>\tdelivered\n"));
  run_clear (&r);
  r = run (f->root, "export", "policy");
  assert_status (r, 0);
  g_assert_true (g_str_has_prefix (r.out, envelope));
  run_clear (&r);

  /* CRLF from a pipe that did not convert line ends. */
  const char crlf[] = "From carol@example.org Wed Jan  3 10:00:02 2024\r\nFrom: carol@example.org\r\n"
                      "Subject: crlf\r\nMessage-ID: <env-crlf@example.org>\r\n\r\nbody\r\n";
  r = run_full (f->root, crlf, strlen (crlf), NULL, "ingest", "policy", "--mda", NULL);
  assert_status (r, 0);
  run_clear (&r);
  r = run (f->root, "cat", "policy", "<env-crlf@example.org>");
  assert_status (r, 0);
  const char *rest = strchr (crlf, '\n') + 1;
  g_assert_cmpmem (r.out, r.out_len, rest, strlen (rest));
  run_clear (&r);

  /* A first line that only starts with "From " is the message's own. */
  const char prose[] = "From the board: no headers here\n\nbody\n";
  r = run_full (f->root, prose, strlen (prose), NULL, "ingest", "policy", "--mda", NULL);
  assert_status (r, 0);
  run_clear (&r);
  r = run (f->root, "cat", "policy", "2");
  assert_status (r, 0);
  g_assert_cmpmem (r.out, r.out_len, prose, strlen (prose));
  run_clear (&r);
}

/* An mbox that an editor saved with a UTF-8 byte order mark first: the
 * mark is not part of the first message, from a file or from stdin. */
static void
test_mbox_bom (Fixture *f, gconstpointer data)
{
  const char msg[] = "From: a@example.org\nSubject: bom\nMessage-ID: <bom@example.org>\n\nbody\n";
  g_autofree char *mbox = g_strdup_printf ("\xef\xbb\xbf"
                                           "From a@example.org Mon Jan  1 10:00:00 2024\n%s",
                                           msg);
  g_autofree char *path = g_build_filename (f->tmp, "bom.mbox", NULL);
  g_assert_true (g_file_set_contents (path, mbox, -1, NULL));
  Run r = run (f->root, "ingest", "policy", "--no-index", path);
  assert_status (r, 0);
  run_clear (&r);
  r = run_full (f->root, mbox, strlen (mbox), NULL, "ingest", "policy", "--no-index", NULL);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 0, duplicates skipped 1"));
  run_clear (&r);
  assert_stored_only (f, msg);
}

/* Apple Mail exports a mailbox as a folder Name.mbox holding the file
 * mbox (and table_of_contents): the folder is read as that file. */
static void
test_mbox_folder (Fixture *f, gconstpointer data)
{
  const char msg[] = "From: a@example.org\nSubject: apple\nMessage-ID: <apple@example.org>\n\nbody\n";
  g_autofree char *mbox = g_strdup_printf ("From a@example.org Mon Jan  1 10:00:00 2024\n%s", msg);
  g_autofree char *dir = g_build_filename (f->tmp, "Policy.mbox", NULL);
  g_autofree char *path = g_build_filename (dir, "mbox", NULL);
  g_autofree char *toc = g_build_filename (dir, "table_of_contents", NULL);
  g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, mbox, -1, NULL));
  g_assert_true (g_file_set_contents (toc, "\x01\x02binary", -1, NULL));
  Run r = run (f->root, "ingest", "policy", "--no-index", dir);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 1,"));
  run_clear (&r);
  assert_stored_only (f, msg);

  /* A folder that is neither says what to do. */
  g_assert_cmpint (g_unlink (path), ==, 0);
  r = run (f->root, "ingest", "policy", "--no-index", dir);
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.err, "is a directory"));
  run_clear (&r);
}

/* A UW-IMAP or Pine mbox starts with the folder's internal data, a
 * pseudo message mutt and Dovecot hide: it is not the list's mail, so it
 * is skipped, with a warning; the same text later in a file is mail. */
static void
test_mbox_imap_pseudo (Fixture *f, gconstpointer data)
{
  const char pseudo[] = "From MAILER-DAEMON Mon Jan  1 10:00:00 2024\n"
                        "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
                        "From: Mail System Internal Data <MAILER-DAEMON@mail.example.org>\n"
                        "Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
                        "Message-ID: <1704103200@mail.example.org>\n"
                        "X-IMAP: 1704103200 0000000002\n"
                        "Status: RO\n\n"
                        "This text is part of the internal format of your mail folder, and is not\n"
                        "a real message.  It is created automatically by the mail system software.\n\n";
  const char msg[] = "From: a@example.org\nSubject: real\nMessage-ID: <real@example.org>\n\nbody\n";
  g_autofree char *mbox = g_strdup_printf ("%sFrom a@example.org Mon Jan  1 10:00:00 2024\n%s", pseudo, msg);
  g_autofree char *path = g_build_filename (f->tmp, "INBOX", NULL);
  g_assert_true (g_file_set_contents (path, mbox, -1, NULL));
  Run r = run (f->root, "ingest", "policy", "--no-index", path);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 1,"));
  g_autofree char *says = g_strdup_printf ("annals ingest: warning: %s: message 1 skipped: it is the folder's internal "
                                           "data (UW-IMAP), not mail",
                                           path);
  g_assert_nonnull (strstr (r.err, says));
  run_clear (&r);
  assert_stored_only (f, msg);
}

/* "-" as a PATH is stdin, as for cat and tar, also among files. */
static void
test_dash_stdin (Fixture *f, gconstpointer data)
{
  const char msg[] = "From: a@example.org\nSubject: dash\nMessage-ID: <dash@example.org>\n\nbody\n";
  g_autofree char *mbox = g_strdup_printf ("From a@example.org Mon Jan  1 10:00:00 2024\n%s", msg);
  Run r = run_full (f->root, mbox, strlen (mbox), NULL, "ingest", "policy", "--no-index", "-", NULL);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 1,"));
  run_clear (&r);
  assert_stored_only (f, msg);
}

/* Maildir files as some tools leave them: one that starts with an mbox
 * envelope line (fetchmail, mbox converters), and an empty one (a
 * delivery cut off): the line is the envelope, the empty file is skipped
 * with a warning naming it. */
static void
test_maildir_envelope_empty (Fixture *f, gconstpointer data)
{
  const char msg[] = "From: a@example.org\nSubject: maildir\nMessage-ID: <md-env@example.org>\n\nbody\n";
  g_autofree char *md = g_build_filename (f->tmp, "Maildir", NULL);
  g_autofree char *cur = g_build_filename (md, "cur", NULL);
  g_autofree char *tmp = g_build_filename (md, "tmp", NULL);
  g_assert_cmpint (g_mkdir_with_parents (cur, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (tmp, 0700), ==, 0);
  g_autofree char *one = g_build_filename (cur, "1700000000.M1P1.host:2,S", NULL);
  g_autofree char *empty = g_build_filename (cur, "1700000001.M1P1.host:2,", NULL);
  g_autofree char *content = g_strdup_printf ("From a@example.org Mon Jan  1 10:00:00 2024\n%s", msg);
  g_assert_true (g_file_set_contents (one, content, -1, NULL));
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  Run r = run (f->root, "ingest", "policy", "--no-index", "--maildir", md);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 1,"));
  g_autofree char *says = g_strdup_printf ("annals ingest: warning: %s: empty file, not archived", empty);
  g_assert_nonnull (strstr (r.err, says));
  run_clear (&r);
  assert_stored_only (f, msg);
}

/* --peak-rss PROGRAM ARGS...: runs PROGRAM, prints its peak RSS in
 * bytes and exits with its status. */
static int
peak_rss_main (char **argv)
{
  pid_t pid = fork ();
  if (pid < 0)
    return 99;
  if (pid == 0) {
    int null = open ("/dev/null", O_WRONLY);
    dup2 (null, STDOUT_FILENO);
    execv (argv[0], argv);
    _exit (127);
  }
  int status;
  struct rusage ru;
  if (wait4 (pid, &status, 0, &ru) != pid)
    return 99;
  printf ("%ld\n", ru.ru_maxrss * 1024L);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 99;
}

int
main (int argc, char **argv)
{
  if (argc > 2 && strcmp (argv[1], "--peak-rss") == 0)
    return peak_rss_main (argv + 2);
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("annals ingest on mbox input: pipermail, gzip files and streams, damaged gzip, memory");
  g_test_add ("/ingest/pipermail/archive", Fixture, NULL, fixture_setup, test_pipermail, fixture_teardown);
  g_test_add ("/ingest/gzip/stdin", Fixture, NULL, fixture_setup, test_gzip_stdin, fixture_teardown);
  g_test_add ("/ingest/gzip/truncated", Fixture, NULL, fixture_setup, test_gzip_truncated, fixture_teardown);
  g_test_add ("/ingest/gzip/bounded-memory", Fixture, NULL, fixture_setup, test_gzip_memory, fixture_teardown);
  g_test_add ("/ingest/oversized/warning", Fixture, NULL, fixture_setup, test_oversized, fixture_teardown);
  g_test_add ("/ingest/mda/envelope-line", Fixture, NULL, fixture_setup, test_mda_envelope, fixture_teardown);
  g_test_add ("/ingest/mbox/byte-order-mark", Fixture, NULL, fixture_setup, test_mbox_bom, fixture_teardown);
  g_test_add ("/ingest/mbox/apple-mail-folder", Fixture, NULL, fixture_setup, test_mbox_folder, fixture_teardown);
  g_test_add ("/ingest/mbox/imap-folder-data", Fixture, NULL, fixture_setup, test_mbox_imap_pseudo, fixture_teardown);
  g_test_add ("/ingest/mbox/dash-is-stdin", Fixture, NULL, fixture_setup, test_dash_stdin, fixture_teardown);
  g_test_add ("/ingest/maildir/envelope-and-empty", Fixture, NULL, fixture_setup, test_maildir_envelope_empty,
              fixture_teardown);
  return g_test_run ();
}
