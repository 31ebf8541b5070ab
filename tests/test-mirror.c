/* End-to-end tests of mirroring: an origin root served by a real
 * lighttpd on loopback (annals.cgi as CGI), and 'annals mirror' pulling
 * it into a second root, which 'annals verify' must accept. */
#include "core/config.h"
#include "core/note.h"
#include "core/store.h"
#include "tests/test-run.h"
#include "tests/test-servers.h"
#include "tests/test-util.h"
#include "core/tlog.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *tmp;
  char *origin; /* the origin's root */
  char *mirror; /* the mirror's root */
  char *url;
  TestServer *server;
  int port;
} Fixture;

/* Starts lighttpd on root (annals.cgi as CGI), sending at most kbps
 * KB/s per connection when kbps > 0. */
static void
server_start (Fixture *f, const char *root, int kbps)
{
  g_autofree char *run_dir = g_build_filename (f->tmp, kbps ? "run-slow" : "run", NULL);
  g_autofree char *slow = kbps > 0 ? g_strdup_printf ("connection.kbytes-per-second = %d\n", kbps) : NULL;
  f->port = test_server_free_port ();
  f->server = test_server_start_lighttpd (run_dir, root, f->port, FALSE, slow);
  g_free (f->url);
  f->url = g_strdup_printf ("http://127.0.0.1:%d/", f->port);
}

static void
server_stop (Fixture *f)
{
  g_clear_pointer (&f->server, test_server_stop);
}

/* Archives messages first..last-1 (test_util_message) in list through
 * the store's library with small packs (so that there are sealed ones),
 * and logs them as ingest does. */
static void
origin_add (Fixture *f, const char *list, guint first, guint last, guint64 pack_limit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsConfig) config = annals_config_open (f->origin, &error);
  g_assert_no_error (error);
  g_autofree char *store_dir = annals_config_list_dir (config, list, "store", &error);
  g_autofree char *log_dir = annals_config_list_dir (config, list, "log", &error);
  g_assert_no_error (error);
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (store_dir, 5000, &error);
  g_assert_no_error (error);
  annals_store_writer_set_pack_limit (w, pack_limit);
  for (guint i = first; i < last; i++) {
    GString *m = test_util_message (i, 3000);
    AnnalsStoreAddResult res;
    g_assert_true (annals_store_writer_add (w, (const guint8 *) m->str, m->len, 1618846131 + i, NULL, &res, &error));
    g_string_free (m, TRUE);
  }
  g_assert_true (annals_store_writer_commit (w, &error));
  AnnalsNoteKey *key = annals_config_load_key (config, &error);
  g_assert_no_error (error);
  g_autofree char *origin = annals_config_log_origin (config, list);
  g_autofree char *site_origin = annals_config_site_origin (config);
  g_auto (GStrv) lists = annals_config_lists (config);
  g_autoptr (AnnalsTlog) log = annals_tlog_open (log_dir, origin, &error);
  g_assert_no_error (error);
  annals_tlog_set_site (log, f->origin, site_origin, (const char *const *) lists);
  g_assert_true (annals_tlog_sync (log, annals_store_writer_reader (w), list, key, &error));
  g_assert_no_error (error);
  annals_note_key_free (key);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->tmp = test_util_tmpdir ();
  f->origin = g_build_filename (f->tmp, "origin", NULL);
  f->mirror = g_build_filename (f->tmp, "mirror", NULL);
  assert_ok (run (f->origin, "init", "--name", "Origin"));
  assert_ok (run (f->origin, "list-add", "alpha"));
  assert_ok (run (f->origin, "list-add", "beta"));
  origin_add (f, "alpha", 0, 40, 16 * 1024);
  const char *mail = "Message-ID: <b1@example.org>\nFrom: B <b@example.org>\nSubject: beta one\n\nhello\n";
  assert_ok (run_full (f->origin, mail, strlen (mail), NULL, "ingest", "beta", "--mda", NULL));
  server_start (f, f->origin, 0);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  server_stop (f);
  test_util_rm_rf (f->tmp);
  g_free (f->tmp);
  g_free (f->origin);
  g_free (f->mirror);
  g_free (f->url);
}

static char *
vkey (Fixture *f)
{
  Run r = run (f->origin, "key");
  g_assert_cmpint (r.status, ==, 0);
  char *k = g_strdup (g_strstrip (r.out));
  run_clear (&r);
  return k;
}

/* The origin's key, after a first mirror run with it (which the
 * mirror keeps for the next runs). */
static char *
mirror_first (Fixture *f)
{
  char *k = vkey (f);
  assert_ok (run (NULL, "mirror", f->url, f->mirror, "--key", k));
  return k;
}

static guint64
count_of (const char *root, const char *list)
{
  g_autofree char *dir = g_build_filename (root, list, "store", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStore) s = annals_store_open (dir, &error);
  g_assert_no_error (error);
  return annals_store_count (s);
}

/* 'annals cat' of every message gives the same answer on both roots. */
static void
assert_same_messages (Fixture *f, const char *list)
{
  guint64 n = count_of (f->origin, list);
  g_assert_cmpuint (count_of (f->mirror, list), ==, n);
  for (guint64 i = 0; i < n; i++) {
    g_autofree char *num = g_strdup_printf ("%" G_GUINT64_FORMAT, i);
    Run a = run (f->origin, "cat", list, num);
    Run b = run (f->mirror, "cat", list, num);
    g_assert_cmpint (a.status, ==, b.status);
    g_assert_cmpmem (a.out, a.out_len, b.out, b.out_len);
    g_assert_cmpstr (a.err, ==, b.err);
    run_clear (&a);
    run_clear (&b);
  }
}

static void
assert_verifies (Fixture *f, const char *has)
{
  g_autofree char *k = vkey (f);
  Run r = run (NULL, "verify", f->mirror, "--key", k);
  assert_status (r, 0);
  if (has != NULL && strstr (r.out, has) == NULL)
    g_error ("expected '%s' in verify's output: %s", has, r.out);
  run_clear (&r);
}

static char *
read_file (const char *path, gsize *len)
{
  char *data = NULL;
  g_assert_true (g_file_get_contents (path, &data, len, NULL));
  return data;
}

/* The files the web serves for a mirror, and those it never serves. */
static void
test_web_files (Fixture *f, gconstpointer data)
{
  g_test_summary ("the store's files, the site checkpoint and the key are served, with byte ranges; locks, keys, "
                  "temp files and the index are not");
  g_autofree char *k = vkey (f);
  struct {
    const char *path;
    const char *code;
  } cases[] = {
    { "alpha/store/FORMAT", "200" },
    { "alpha/store/offsets", "200" },
    { "alpha/store/meta", "200" },
    { "alpha/store/packs/00000000.pack", "200" },
    { "log/site-checkpoint", "200" },
    { "about/vkey", "200" },
    { "alpha/store/lock", "404" },
    { "alpha/store/packs/00000000.pack.tmp", "404" },
    { "alpha/store/../../keys/site.key", "404" },
    { "alpha/store/packs/../../../keys/site.key", "404" },
    { "alpha/index/", "404" },
    { "log/lock", "404" },
    { "alpha/store/dict/99999999.zdict", "404" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *cmd
        = g_strdup_printf ("curl -s --path-as-is -o /dev/null -w %%{http_code} %s%s", f->url, cases[i].path);
    g_autofree char *code = test_sh (cmd, NULL);
    g_test_message ("%s -> %s", cases[i].path, code);
    g_assert_cmpstr (code, ==, cases[i].code);
  }
  g_autofree char *cmd = g_strdup_printf ("curl -s %sabout/vkey", f->url);
  g_autofree char *served = test_sh (cmd, NULL);
  g_assert_cmpstr (g_strstrip (served), ==, k);
  /* A byte range of the open pack, and its cache policy. */
  g_autofree char *pack = g_build_filename (f->origin, "alpha", "store", "packs", NULL);
  g_autoptr (GDir) d = g_dir_open (pack, 0, NULL);
  guint packs = 0;
  while (g_dir_read_name (d) != NULL)
    packs++;
  g_assert_cmpuint (packs, >=, 3);
  g_autofree char *last = g_strdup_printf ("%s/%08u.pack", pack, packs - 1);
  gsize len;
  g_autofree char *bytes = read_file (last, &len);
  g_autofree char *body_path = g_build_filename (f->tmp, "body", NULL);
  g_autofree char *rcmd
      = g_strdup_printf ("curl -s -D - -o %s -r 10- %salpha/store/packs/%08u.pack", body_path, f->url, packs - 1);
  g_autofree char *resp = test_sh (rcmd, NULL);
  g_autofree char *cr = g_strdup_printf ("Content-Range: bytes 10-%zu/%zu", len - 1, len);
  g_assert_nonnull (strstr (resp, " 206"));
  g_assert_nonnull (strstr (resp, cr));
  g_assert_nonnull (strstr (resp, "max-age=5"));
  g_assert_nonnull (strstr (resp, "ETag: \""));
  gsize blen;
  g_autofree char *body = read_file (body_path, &blen);
  g_assert_cmpmem (body, blen, bytes + 10, len - 10);
  g_autofree char *scmd = g_strdup_printf ("curl -s -I %salpha/store/packs/00000000.pack", f->url);
  g_autofree char *sealed = test_sh (scmd, NULL);
  g_assert_nonnull (strstr (sealed, "max-age=3600"));
  g_assert_null (strstr (sealed, "immutable"));
  g_autofree char *past = g_strdup_printf (
      "curl -s -o /dev/null -w %%{http_code} -r %zu- %salpha/store/packs/%08u.pack", len, f->url, packs - 1);
  g_autofree char *code = test_sh (past, NULL);
  g_assert_cmpstr (code, ==, "416");
}

/* Mirror, add and redact on the origin, mirror again. */
static void
test_pull_follow (Fixture *f, gconstpointer data)
{
  g_test_summary ("a mirror copies every list, verifies, follows new messages and a redaction, and its copy "
                  "verifies and has the origin's bytes");
  Run r = run (NULL, "mirror", f->url, f->mirror);
  assert_status (r, 0);
  /* No --key: the origin's, with a warning to pin it. */
  g_assert_nonnull (strstr (r.err, "warning: no --key given"));
  g_assert_nonnull (strstr (r.out, "mirrored 2 lists"));
  run_clear (&r);
  assert_verifies (f, NULL);
  assert_same_messages (f, "alpha");
  assert_same_messages (f, "beta");
  assert_ok (run (f->mirror, "index"));
  /* The same again: nothing new, nothing fetched but checkpoints. */
  r = run (NULL, "mirror", f->url, f->mirror);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "alpha: up to date (40 entries)"));
  g_assert_nonnull (strstr (r.out, "0 new entries"));
  g_assert_cmpstr (r.err, ==, "");
  run_clear (&r);
  /* A key other than the pinned one is refused. */
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsNoteKey) other = annals_note_key_generate ("other.example", &error);
  g_autofree char *other_v = annals_note_key_verifier_string (other);
  assert_fails (run (NULL, "mirror", f->url, f->mirror, "--key", other_v), 1, "not the one this mirror pinned");

  /* New messages (a new sealed pack, the open one grows), a delivery to
   * beta, and a redaction of a message in a sealed pack. */
  origin_add (f, "alpha", 40, 60, 16 * 1024);
  const char *mail = "Message-ID: <b2@example.org>\nFrom: B <b@example.org>\nSubject: beta two\n\nhello\n";
  assert_ok (run_full (f->origin, mail, strlen (mail), NULL, "ingest", "beta", "--mda", NULL));
  assert_ok (run (f->origin, "redact", "alpha", "3", "--reason", "privacy request 2026-12"));
  g_autofree char *k = vkey (f);
  r = run (NULL, "mirror", f->url, f->mirror, "--key", k);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "alpha: message 3 was redacted on the origin: privacy request 2026-12"));
  g_assert_nonnull (strstr (r.out, "(1 redactions followed)"));
  /* The index here follows, and keeps none of the message. */
  g_assert_nonnull (strstr (r.out, "alpha: indexed 20 messages, removed 1"));
  run_clear (&r);
  r = run (f->mirror, "search", "--list", "alpha", "m:msg3@example.org");
  assert_status (r, 0);
  g_assert_null (strstr (r.out, "msg3@"));
  run_clear (&r);
  r = run (f->mirror, "search", "--list", "alpha", "m:msg4@example.org");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "topic 1"));
  run_clear (&r);
  assert_verifies (f, "message 3 was redacted on");
  assert_same_messages (f, "alpha");
  assert_same_messages (f, "beta");
  assert_fails (run (f->mirror, "cat", "alpha", "3"), 1, "was redacted");
  /* The bytes are gone from the mirror too: its packs are the origin's,
   * and nothing is left staged. */
  for (guint p = 0; p < 3; p++) {
    g_autofree char *a = g_strdup_printf ("%s/alpha/store/packs/%08u.pack", f->origin, p);
    g_autofree char *b = g_strdup_printf ("%s/alpha/store/packs/%08u.pack", f->mirror, p);
    gsize la, lb;
    g_autofree char *da = read_file (a, &la);
    g_autofree char *db = read_file (b, &lb);
    g_assert_cmpmem (da, la, db, lb);
  }
  g_autofree char *staged = g_build_filename (f->mirror, ".mirror", "alpha", NULL);
  g_assert_false (g_file_test (staged, G_FILE_TEST_EXISTS));
  /* The copy is indexed and searched. */
  assert_ok (run (f->mirror, "index"));
  r = run (f->mirror, "search", "--list", "beta", "s:two");
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "beta two"));
  run_clear (&r);
}

/* Flips byte at of path (made writable for it). */
static void
flip_byte (const char *path, gsize at)
{
  gsize len;
  g_autofree char *d = read_file (path, &len);
  g_assert_cmpuint (at, <, len);
  d[at] ^= 0x20;
  g_chmod (path, 0644);
  g_assert_true (g_file_set_contents (path, d, (gssize) len, NULL));
}

/* The again-count of a run's "LIST: verified N new entries (M verified
 * before, K of them again)" line, after checking its start. */
static guint64
verified_again (const char *out, const char *start)
{
  const char *line = strstr (out, start);
  if (line == NULL)
    g_error ("expected '%s' in: %s", start, out);
  return g_ascii_strtoull (line + strlen (start), NULL, 10);
}

static void
test_pull_incremental (Fixture *f, gconstpointer data)
{
  g_test_summary ("a re-run verifies only the new entries and the old ones the origin rewrote, not the whole list "
                  "again; annals verify of the mirror still checks everything");
  g_autofree char *k = vkey (f);
  Run r = run (NULL, "mirror", f->url, f->mirror, "--key", k);
  assert_status (r, 0);
  g_assert_cmpuint (verified_again (r.out, "alpha: verified 40 new entries (0 verified before, "), ==, 0);
  run_clear (&r);

  /* The mirror's own copy of an old sealed pack is damaged: a re-run
   * does not read it again (it was verified when it came), annals verify
   * does. */
  g_autofree char *pack0 = g_build_filename (f->mirror, "alpha", "store", "packs", "00000000.pack", NULL);
  gsize plen;
  g_autofree char *good = read_file (pack0, &plen);
  flip_byte (pack0, 32 + 88 + 40);
  g_chmod (pack0, 0444);
  origin_add (f, "alpha", 40, 60, 16 * 1024);
  r = run (NULL, "mirror", f->url, f->mirror);
  assert_status (r, 0);
  g_assert_cmpuint (verified_again (r.out, "alpha: verified 20 new entries (40 verified before, "), ==, 0);
  g_assert_nonnull (strstr (r.out, "of them again); 60 in all"));
  run_clear (&r);
  r = run (NULL, "verify", f->mirror, "--key", k);
  g_assert_cmpint (r.status, ==, 1);
  g_test_message ("%s", r.out);
  if (strstr (r.out, "alpha: message 0 <msg0@example.org>") == NULL)
    g_error ("expected the damaged message named in: %s", r.out);
  run_clear (&r);

  /* A redaction in that pack: the origin rewrote it, so it comes whole
   * and its old entries are verified again (not all 60). */
  assert_ok (run (f->origin, "redact", "alpha", "3", "--reason", "privacy request 2026-12"));
  r = run (NULL, "mirror", f->url, f->mirror);
  assert_status (r, 0);
  guint64 again = verified_again (r.out, "alpha: verified 1 new entries (60 verified before, ");
  g_test_message ("verified again: %" G_GUINT64_FORMAT, again);
  g_assert_cmpuint (again, >, 1);
  g_assert_cmpuint (again, <, 60);
  run_clear (&r);
  gsize nlen;
  g_autofree char *now = read_file (pack0, &nlen);
  g_assert_false (nlen == plen && memcmp (now, good, plen) == 0); /* the origin's rewritten pack */
  assert_verifies (f, "message 3 was redacted on");
  assert_same_messages (f, "alpha");
}

static void
test_refuse_tampered (Fixture *f, gconstpointer data)
{
  g_test_summary ("a pack or a tile altered on the origin is refused, named, and the mirror keeps its last "
                  "verified state");
  g_autofree char *k = mirror_first (f);
  g_autofree char *cp_path = g_build_filename (f->mirror, "alpha", "log", "checkpoint", NULL);
  gsize cp_len;
  g_autofree char *cp = read_file (cp_path, &cp_len);

  /* A new sealed pack with a flipped byte in a message's payload. */
  origin_add (f, "alpha", 40, 70, 16 * 1024);
  g_autofree char *packs = g_build_filename (f->origin, "alpha", "store", "packs", NULL);
  g_autoptr (GDir) d = g_dir_open (packs, 0, NULL);
  guint n = 0;
  while (g_dir_read_name (d) != NULL)
    n++;
  g_autofree char *victim = g_strdup_printf ("%s/%08u.pack", packs, n - 2);
  gsize vlen;
  g_autofree char *orig = read_file (victim, &vlen);
  flip_byte (victim, 32 + 88 + 40);
  Run r = run (NULL, "mirror", f->url, f->mirror);
  assert_status (r, 1);
  g_autofree char *named = g_strdup_printf ("store/packs/%08u.pack", n - 2);
  if (strstr (r.err, named) == NULL || strstr (r.err, "keeps its last verified state") == NULL)
    g_error ("expected the pack named and the state kept in: %s", r.err);
  run_clear (&r);
  gsize now_len;
  g_autofree char *now = read_file (cp_path, &now_len);
  g_assert_cmpmem (now, now_len, cp, cp_len);
  assert_verifies (f, NULL);
  g_assert_true (g_file_set_contents (victim, orig, (gssize) vlen, NULL));
  g_chmod (victim, 0444);

  /* A rewritten tile (the new partial level-0 tile). */
  g_autofree char *tile_rel = annals_merkle_tile_path (0, 0, 70);
  g_autofree char *tile = g_build_filename (f->origin, "alpha", "log", tile_rel, NULL);
  gsize tlen;
  g_autofree char *torig = read_file (tile, &tlen);
  flip_byte (tile, 40 * 32 + 5);
  r = run (NULL, "mirror", f->url, f->mirror);
  assert_status (r, 1);
  if (strstr (r.err, tile_rel) == NULL || strstr (r.err, "keeps its last verified state") == NULL)
    g_error ("expected '%s' named and the state kept in: %s", tile_rel, r.err);
  run_clear (&r);
  g_free (now);
  now = read_file (cp_path, &now_len);
  g_assert_cmpmem (now, now_len, cp, cp_len);
  assert_verifies (f, NULL);
  g_assert_true (g_file_set_contents (tile, torig, (gssize) tlen, NULL));

  /* Made good again on the origin, the mirror takes it. */
  assert_ok (run (NULL, "mirror", f->url, f->mirror));
  assert_verifies (f, NULL);
  assert_same_messages (f, "alpha");
}

/* Removes list's store and log on the origin and writes messages
 * first..last-1 there instead: a new history signed by the same key. */
static void
origin_rewrite (Fixture *f, const char *list, guint first, guint last)
{
  g_autofree char *store = g_build_filename (f->origin, list, "store", NULL);
  g_autofree char *log = g_build_filename (f->origin, list, "log", NULL);
  test_util_rm_rf (store);
  test_util_rm_rf (log);
  origin_add (f, list, first, last, 16 * 1024);
}

static void
test_refuse_rewritten (Fixture *f, gconstpointer data)
{
  g_test_summary ("a log rolled back or with another history is refused (the old checkpoint must be a prefix of "
                  "the new one), and so is a list the site no longer names");
  g_autofree char *k = mirror_first (f);
  origin_rewrite (f, "alpha", 100, 130);
  assert_fails (run (NULL, "mirror", f->url, f->mirror), 1, "rolled back to 30 entries, the mirror has 40");
  origin_rewrite (f, "alpha", 100, 150);
  assert_fails (run (NULL, "mirror", f->url, f->mirror), 1, "is not a prefix of this log: history was rewritten");
  assert_verifies (f, NULL);
  g_assert_cmpuint (count_of (f->mirror, "alpha"), ==, 40);
  /* One list alone (--list) is checked the same way. */
  assert_fails (run (NULL, "mirror", f->url, f->mirror, "--list", "alpha"), 1, "history was rewritten");
  g_autofree char *one = g_build_filename (f->tmp, "one", NULL);
  assert_ok (run (NULL, "mirror", f->url, one, "--list", "beta", "--key", k));
  g_autofree char *beta = g_build_filename (one, "beta", NULL);
  Run r = run (NULL, "verify", beta, "--key", k);
  assert_status (r, 0);
  run_clear (&r);
  g_autofree char *alpha = g_build_filename (one, "alpha", NULL);
  g_assert_false (g_file_test (alpha, G_FILE_TEST_EXISTS));
  /* An origin that does not answer: try again later (EX_TEMPFAIL). */
  server_stop (f);
  assert_fails (run (NULL, "mirror", f->url, one, "--list", "beta"), 75, "cannot fetch");
}

static double
fetched_mb (const char *out)
{
  const char *p = strstr (out, "redactions followed), ");
  g_assert_nonnull (p);
  return g_ascii_strtod (p + strlen ("redactions followed), "), NULL);
}

static void
test_resume_after_kill (Fixture *f, gconstpointer data)
{
  g_test_summary ("a mirror killed during a large download keeps its last verified state and the next run "
                  "resumes the download to a verified copy");
  g_autofree char *k = mirror_first (f);
  /* A larger archive: the sample, about 0.7 MB of pack. */
  g_autofree char *sample = test_source_path ("samples/ksummit-sample.mbox.gz");
  assert_ok (run (f->origin, "ingest", "beta", "--quiet", sample));
  server_stop (f);
  server_start (f, f->origin, 128);
  g_autofree char *argv0 = g_strdup (annals_bin ());
  char *argv[] = { argv0, "mirror", f->url, f->mirror, NULL };
  GPid pid;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                                &pid, &error));
  g_autofree char *part = g_build_filename (f->mirror, ".mirror", "beta", "store", "packs", "00000000.pack.part", NULL);
  g_autofree char *live_pack = g_build_filename (f->mirror, "beta", "store", "packs", "00000000.pack", NULL);
  struct stat st, lst;
  g_assert_cmpint (stat (live_pack, &lst), ==, 0);
  gboolean seen = FALSE;
  /* Until half of the new bytes are staged (the server sends 128 KB/s). */
  for (int i = 0; i < 1200 && !seen; i++) {
    seen = stat (part, &st) == 0 && st.st_size > lst.st_size + 350 * 1024;
    if (!seen)
      g_usleep (50000);
  }
  g_assert_true (seen);
  kill (pid, SIGKILL);
  int status;
  waitpid (pid, &status, 0);
  g_spawn_close_pid (pid);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (stat (part, &st), ==, 0);
  g_test_message ("killed with %" G_GUINT64_FORMAT " bytes of the pack staged", (guint64) st.st_size);
  /* Its last verified state is whole. */
  assert_verifies (f, NULL);
  g_assert_cmpuint (count_of (f->mirror, "beta"), ==, 1);
  /* Resumed at full speed: only the rest of the pack is fetched. */
  server_stop (f);
  server_start (f, f->origin, 0);
  Run r = run (NULL, "mirror", f->url, f->mirror);
  assert_status (r, 0);
  g_autofree char *opack = g_build_filename (f->origin, "beta", "store", "packs", "00000000.pack", NULL);
  struct stat ost;
  g_assert_cmpint (stat (opack, &ost), ==, 0);
  double mb = fetched_mb (r.out);
  g_test_message ("resumed run fetched %.1f MB of a %.2f MB pack", mb, ost.st_size / 1e6);
  g_assert_cmpfloat (mb, <, (double) (ost.st_size - (st.st_size - lst.st_size)) / 1e6 + 0.1);
  run_clear (&r);
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  assert_verifies (f, NULL);
  assert_same_messages (f, "beta");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autofree char *lighttpd = g_find_program_in_path ("lighttpd");
  g_autofree char *curl = g_find_program_in_path ("curl");
  if (lighttpd == NULL || curl == NULL) {
    g_test_skip ("lighttpd and curl are needed (scripts/install-deps test)");
    return 0;
  }
  g_test_add ("/mirror/web/files", Fixture, NULL, fixture_set_up, test_web_files, fixture_tear_down);
  g_test_add ("/mirror/pull/follow", Fixture, NULL, fixture_set_up, test_pull_follow, fixture_tear_down);
  g_test_add ("/mirror/pull/incremental", Fixture, NULL, fixture_set_up, test_pull_incremental, fixture_tear_down);
  g_test_add ("/mirror/refuse/tampered", Fixture, NULL, fixture_set_up, test_refuse_tampered, fixture_tear_down);
  g_test_add ("/mirror/refuse/rewritten", Fixture, NULL, fixture_set_up, test_refuse_rewritten, fixture_tear_down);
  g_test_add ("/mirror/resume/after-kill", Fixture, NULL, fixture_set_up, test_resume_after_kill, fixture_tear_down);
  return g_test_run ();
}
