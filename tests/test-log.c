/* End-to-end tests of the transparency log: verify a mirror, catch and
 * name every kind of tampering, proofs that outlive growth and
 * redaction, and bad input to the log commands. */
#include "core/mbox.h"
#include "core/note.h"
#include "core/store.h"
#include "tests/test-run.h"
#include "tests/test-util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>

typedef struct {
  char *tmp;
  char *root;   /* the live archive */
  char *mirror; /* a copy that tests tamper with */
  char *vkey;   /* file holding the verifier key */
} Fixture;

static char *G_GNUC_PRINTF (1, 2) sh (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *cmd = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_autofree char *out = NULL;
  int status;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_command_line_sync (cmd, &out, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return g_steal_pointer (&out);
}

static GString *
make_mbox (guint from, guint n)
{
  GString *mbox = g_string_new (NULL);
  for (guint i = from; i < from + n; i++) {
    g_autoptr (GString) m = test_util_message (i, 300);
    annals_mbox_append_mboxrd (mbox, NULL, "member@example.org", 1618846131 + i, (const guint8 *) m->str, m->len);
  }
  return mbox;
}

static void
ingest (Fixture *f, const char *list, guint from, guint n)
{
  g_autoptr (GString) mbox = make_mbox (from, n);
  Run r = run_full (f->root, mbox->str, mbox->len, NULL, "ingest", list, "--quiet", NULL);
  assert_status (r, 0);
  run_clear (&r);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tmp = test_util_tmpdir ();
  f->root = g_build_filename (f->tmp, "root", NULL);
  f->mirror = g_build_filename (f->tmp, "mirror", NULL);
  f->vkey = g_build_filename (f->tmp, "site.vkey", NULL);
  assert_ok (run (f->root, "init", "--base-url", "https://archive.example.org/"));
  assert_ok (run (f->root, "list-add", "policy"));
  /* 600 messages: two full tiles and a partial one. */
  ingest (f, "policy", 0, 600);
  Run r = run (f->root, "key");
  assert_status (r, 0);
  g_assert_true (g_str_has_prefix (r.out, "archive.example.org+"));
  g_assert_true (g_file_set_contents (f->vkey, r.out, -1, NULL));
  run_clear (&r);
  g_free (sh ("cp -a '%s' '%s'", f->root, f->mirror));
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_util_rm_rf (f->tmp);
  g_free (f->tmp);
  g_free (f->root);
  g_free (f->mirror);
  g_free (f->vkey);
}

/* Runs verify on the mirror; returns its output. */
static Run
verify_mirror (Fixture *f, const char *since)
{
  if (since)
    return run (NULL, "verify", f->mirror, "--key", f->vkey, "--since", since);
  return run (NULL, "verify", f->mirror, "--key", f->vkey);
}

static void
expect_failure (Fixture *f, const char *says)
{
  Run r = verify_mirror (f, NULL);
  g_test_message ("%s%s", r.out, r.err);
  assert_status (r, 1);
  g_autofree char *all = g_strconcat (r.out, r.err, NULL);
  if (strstr (all, says) == NULL)
    g_error ("expected '%s' in: %s", says, all);
  run_clear (&r);
}

static char *
mirror_path (Fixture *f, const char *rel)
{
  return g_build_filename (f->mirror, "policy", rel, NULL);
}

static void
flip_byte (const char *path, goffset at)
{
  int fd = open (path, O_RDWR);
  g_assert_cmpint (fd, >=, 0);
  guint8 b;
  g_assert_cmpint (pread (fd, &b, 1, at), ==, 1);
  b ^= 0x20;
  g_assert_cmpint (pwrite (fd, &b, 1, at), ==, 1);
  close (fd);
}

/* Where message n's record is in the mirror's pack. */
static AnnalsStoreRecord
record_of (Fixture *f, guint64 n)
{
  g_autofree char *dir = mirror_path (f, "store");
  g_autoptr (AnnalsStore) s = annals_store_open (dir, NULL);
  AnnalsStoreRecord r;
  g_assert_true (annals_store_read_record (s, n, &r, NULL));
  return r;
}

static void
test_clean (Fixture *f, gconstpointer data)
{
  Run r = verify_mirror (f, NULL);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "ok policy: 600 entries (600 messages, 0 redactions)"));
  run_clear (&r);
  /* The tiles are where C2SP tlog-tiles puts them. */
  g_autofree char *t0 = mirror_path (f, "log/tile/0/000");
  g_autofree char *t2 = mirror_path (f, "log/tile/0/002.p/88");
  g_autofree char *t1 = mirror_path (f, "log/tile/1/000.p/2");
  g_autofree char *e2 = mirror_path (f, "log/tile/entries/002.p/88");
  g_assert_true (g_file_test (t0, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (t2, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (t1, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (e2, G_FILE_TEST_EXISTS));
  /* The key file is private. */
  g_autofree char *key = g_build_filename (f->root, "keys", "site.key", NULL);
  struct stat st;
  g_assert_cmpint (stat (key, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
}

static void
test_tamper_pack_byte (Fixture *f, gconstpointer data)
{
  AnnalsStoreRecord r = record_of (f, 123);
  g_autofree char *pack = mirror_path (f, "store/packs/00000000.pack");
  flip_byte (pack, (goffset) r.offset + 88 + 10);
  expect_failure (f, "message 123 <msg123@example.org>");
}

/* Cuts message n's record out of the pack. */
static void
test_tamper_delete (Fixture *f, gconstpointer data)
{
  AnnalsStoreRecord r = record_of (f, 200), next = record_of (f, 201);
  g_autofree char *pack = mirror_path (f, "store/packs/00000000.pack");
  g_autofree char *bytes = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (pack, &bytes, &len, NULL));
  GString *s = g_string_new_len (bytes, (gssize) r.offset);
  g_string_append_len (s, bytes + next.offset, (gssize) (len - next.offset));
  chmod (pack, 0644);
  g_assert_true (g_file_set_contents (pack, s->str, (gssize) s->len, NULL));
  g_string_free (s, TRUE);
  expect_failure (f, "message 200 <msg200@example.org>");
}

/* Swaps the records of messages 300 and 301 (same total length, so the
 * rest of the pack stays in place). */
static void
test_tamper_swap (Fixture *f, gconstpointer data)
{
  AnnalsStoreRecord a = record_of (f, 300), b = record_of (f, 301), c = record_of (f, 302);
  g_autofree char *pack = mirror_path (f, "store/packs/00000000.pack");
  g_autofree char *bytes = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (pack, &bytes, &len, NULL));
  GString *s = g_string_new_len (bytes, (gssize) a.offset);
  g_string_append_len (s, bytes + b.offset, (gssize) (c.offset - b.offset));
  g_string_append_len (s, bytes + a.offset, (gssize) (b.offset - a.offset));
  g_string_append_len (s, bytes + c.offset, (gssize) (len - c.offset));
  g_assert_cmpuint (s->len, ==, len);
  g_assert_true (g_file_set_contents (pack, s->str, (gssize) s->len, NULL));
  g_string_free (s, TRUE);
  expect_failure (f, "message 300 <msg300@example.org>");
}

static void
test_tamper_bundle (Fixture *f, gconstpointer data)
{
  g_autofree char *bundle = mirror_path (f, "log/tile/entries/001");
  /* Inside entry 256's text: the list name. */
  flip_byte (bundle, 2 + 22);
  expect_failure (f, "tile/0/001 does not match");
}

static void
test_tamper_tile (Fixture *f, gconstpointer data)
{
  g_autofree char *tile = mirror_path (f, "log/tile/0/000");
  flip_byte (tile, 32 * 17 + 3);
  expect_failure (f, "tile tile/0/000 does not match");
}

static void
test_tamper_checkpoint (Fixture *f, gconstpointer data)
{
  g_autofree char *cp = mirror_path (f, "log/checkpoint");
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (cp, &text, NULL, NULL));
  /* A changed size. */
  g_autofree char *bigger = g_strdup (text);
  char *size = strstr (bigger, "\n600\n");
  g_assert_nonnull (size);
  size[1] = '7';
  g_assert_true (g_file_set_contents (cp, bigger, -1, NULL));
  expect_failure (f, "does not verify");
  /* A changed root. */
  g_autofree char *root = g_strdup (text);
  char *r = strstr (root, "\n600\n") + 5;
  r[0] = r[0] == 'A' ? 'B' : 'A';
  g_assert_true (g_file_set_contents (cp, root, -1, NULL));
  expect_failure (f, "does not verify");
}

static void
test_tamper_other_key (Fixture *f, gconstpointer data)
{
  /* Re-signed by a key of the same name that is not the site's. */
  g_autofree char *cp = mirror_path (f, "log/checkpoint");
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (cp, &text, NULL, NULL));
  *strstr (text, "\n\n") = '\0';
  g_autofree char *body = g_strconcat (text, "\n", NULL);
  g_autoptr (AnnalsNoteKey) other = annals_note_key_generate ("archive.example.org", NULL);
  g_autofree char *note = annals_note_sign (other, body);
  g_assert_true (g_file_set_contents (cp, note, -1, NULL));
  expect_failure (f, "no signature by key 'archive.example.org'");
}

static void
test_rollback (Fixture *f, gconstpointer data)
{
  /* The live log grows; the mirror keeps its older checkpoint. */
  ingest (f, "policy", 600, 50);
  g_autofree char *newer = g_build_filename (f->root, "policy", "log", "checkpoint", NULL);
  Run r = verify_mirror (f, newer);
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.out, "rolled back"));
  run_clear (&r);
  /* The other way round is what auditors want to see. */
  g_autofree char *older = g_build_filename (f->tmp, "older-checkpoint", NULL);
  g_free (sh ("cp '%s/policy/log/checkpoint' '%s'", f->mirror, older));
  r = run (NULL, "verify", f->root, "--key", f->vkey, "--since", older);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "extends the old checkpoint"));
  run_clear (&r);
  /* A rewritten history: a log with other entries at the old size. */
  g_autofree char *rewritten = g_build_filename (f->tmp, "rewritten", NULL);
  assert_ok (run (rewritten, "init", "--base-url", "https://archive.example.org/"));
  g_free (sh ("cp '%s/keys/site.key' '%s/keys/site.key'", f->root, rewritten));
  assert_ok (run (rewritten, "list-add", "policy"));
  g_autoptr (GString) other = make_mbox (1000, 650);
  Run ir = run_full (rewritten, other->str, other->len, NULL, "ingest", "policy", "--quiet", NULL);
  run_clear (&ir);
  r = run (NULL, "verify", rewritten, "--key", f->vkey, "--since", older);
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.out, "history was rewritten"));
  run_clear (&r);
}

/* A proof made for message 42 verifies after 1,000 more messages and a
 * redaction; the redaction is visible; the sender's copy checks. */
static void
test_proof_survives (Fixture *f, gconstpointer data)
{
  Run r = run (f->root, "proof", "policy", "42");
  assert_status (r, 0);
  g_autofree char *proof = g_build_filename (f->tmp, "42.tlog-proof", NULL);
  g_assert_true (g_file_set_contents (proof, r.out, (gssize) r.out_len, NULL));
  g_test_message ("proof of %zu bytes", r.out_len);
  run_clear (&r);
  g_autofree char *old_cp = g_build_filename (f->tmp, "old-checkpoint", NULL);
  g_free (sh ("cp '%s/policy/log/checkpoint' '%s'", f->root, old_cp));
  g_autoptr (GString) m42 = test_util_message (42, 300);
  g_autofree char *msg = g_build_filename (f->tmp, "42.eml", NULL);
  g_assert_true (g_file_set_contents (msg, m42->str, (gssize) m42->len, NULL));

  ingest (f, "policy", 600, 1000);
  assert_ok (run (f->root, "redact", "policy", "<msg7@example.org>", "--reason", "court order 12/2026"));
  r = run (f->root, "cat", "policy", "7");
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.err, "was redacted on"));
  g_assert_nonnull (strstr (r.err, "court order 12/2026"));
  run_clear (&r);
  /* The bytes are gone from the pack. */
  g_autofree char *pack = g_build_filename (f->root, "policy", "store", "packs", "00000000.pack", NULL);
  g_autofree char *packdata = NULL;
  gsize packlen;
  g_assert_true (g_file_get_contents (pack, &packdata, &packlen, NULL));
  g_assert_null (g_strstr_len (packdata, (gssize) packlen, "Member 7 <member7@example.org>"));

  r = run (NULL, "verify-proof", proof, "--key", f->vkey, "--message", msg);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "byte for byte"));
  run_clear (&r);
  /* Another file is not the message. */
  assert_fails (run (NULL, "verify-proof", proof, "--key", f->vkey, "--message", f->vkey), 1, "NOT the logged message");
  /* The whole archive verifies and lists the redaction. */
  r = run (NULL, "verify", f->root, "--key", f->vkey, "--since", old_cp);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "message 7 was redacted on"));
  g_assert_nonnull (strstr (r.out, "1601 entries (1599 messages, 1 redaction)"));
  run_clear (&r);
  /* A consistency proof from the old size checks against the old checkpoint. */
  r = run (f->root, "proof", "policy", "--consistency", "600");
  g_autofree char *cons = g_build_filename (f->tmp, "cons", NULL);
  g_assert_true (g_file_set_contents (cons, r.out, (gssize) r.out_len, NULL));
  run_clear (&r);
  r = run (NULL, "verify-proof", cons, "--key", f->vkey, "--since", old_cp);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "consistent"));
  run_clear (&r);
  /* Removing a message without a redaction entry is caught. */
  g_free (sh ("cp -a '%s/policy/store' '%s/policy/'", f->root, f->mirror));
  g_free (sh ("cp -a '%s/policy/log' '%s/policy/'", f->root, f->mirror));
  g_autofree char *mstore = mirror_path (f, "store");
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (mstore, 1000, NULL);
    guint64 notice;
    g_assert_true (annals_store_writer_redact (w, 99, "silent", 0, NULL, NULL, &notice, NULL));
  }
  expect_failure (f, "message 99 was removed from the store without a redaction entry");
}

/* A store whose offsets file was cut short (a bad copy, a restore) has
 * lost its newest entries: verify says so once, with the repair, not
 * once per entry, and does not call the redactions past the cut
 * missing; the repair doc/store-format.md gives makes it verify. */
static void
test_offsets_truncated (Fixture *f, gconstpointer data)
{
  assert_ok (run (f->root, "redact", "policy", "100", "--reason", "asked"));
  ingest (f, "policy", 600, 10);
  g_free (sh ("rm -rf '%s'", f->mirror));
  g_free (sh ("cp -a '%s' '%s'", f->root, f->mirror));
  g_autofree char *offsets = mirror_path (f, "store/offsets");
  g_assert_cmpint (truncate (offsets, 16 + 300 * 48), ==, 0);
  Run r = verify_mirror (f, NULL);
  g_test_message ("%s%s", r.out, r.err);
  assert_status (r, 1);
  g_autofree char *all = g_strconcat (r.out, r.err, NULL);
  g_assert_nonnull (strstr (all, "the store ends at entry 300"));
  g_assert_nonnull (strstr (all, "Rebuilding offsets and meta"));
  g_assert_null (strstr (all, "without a redaction entry"));
  guint fails = 0;
  for (const char *p = all; (p = strstr (p, "FAIL")) != NULL; p++)
    fails++;
  g_assert_cmpuint (fails, <=, 2);
  run_clear (&r);
  /* The repair: any writer re-indexes what the packs hold. */
  g_autofree char *empty = g_build_filename (f->tmp, "empty", NULL);
  g_free (sh ("mkdir -p '%s/cur' '%s/new' '%s/tmp'", empty, empty, empty));
  assert_ok (run (f->mirror, "ingest", "policy", "--maildir", empty));
  assert_ok (verify_mirror (f, NULL));
}

static void
test_bad_input (Fixture *f, gconstpointer data)
{
  g_autofree char *garbage = g_build_filename (f->tmp, "garbage", NULL);
  g_assert_true (g_file_set_contents (garbage, "this is not a checkpoint\n", -1, NULL));
  /* A malformed checkpoint in the mirror. */
  g_autofree char *cp = mirror_path (f, "log/checkpoint");
  g_autofree char *orig = NULL;
  g_assert_true (g_file_get_contents (cp, &orig, NULL, NULL));
  g_assert_true (g_file_set_contents (cp, "garbage\x01\n", -1, NULL));
  expect_failure (f, "not a signed note");
  g_assert_true (g_file_set_contents (cp, orig, -1, NULL));
  /* A truncated tile. */
  g_autofree char *tile = mirror_path (f, "log/tile/0/002.p/88");
  g_assert_cmpint (truncate (tile, 100), ==, 0);
  expect_failure (f, "tile/0/002.p/88");
  /* A wrong key string. */
  assert_fails (run (NULL, "verify", f->root, "--key", "not+a+key"), 1, "not a key");
  assert_fails (run (NULL, "verify-proof", garbage, "--key", "x+0000000+AA=="), 1, "not a key");
  /* A proof that is not one, an old checkpoint that is garbage. */
  assert_fails (run (NULL, "verify-proof", garbage, "--key", f->vkey), 1, "not a tlog-proof");
  assert_fails (run (NULL, "verify", f->root, "--key", f->vkey, "--since", garbage), 1, "old checkpoint");
  /* A proof for another origin. */
  assert_ok (run (f->root, "list-add", "other"));
  ingest (f, "other", 0, 3);
  Run r = run (f->root, "proof", "other", "1");
  g_autofree char *proof = g_build_filename (f->tmp, "other.tlog-proof", NULL);
  g_assert_true (g_file_set_contents (proof, r.out, (gssize) r.out_len, NULL));
  run_clear (&r);
  assert_fails (run (NULL, "verify-proof", proof, "--key", f->vkey, "--origin", "archive.example.org/policy"), 1,
                "not 'archive.example.org/policy'");
  /* A proof whose hashes were edited. */
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (proof, &text, NULL, NULL));
  char *line = strstr (text, "\nindex 1\n") + 9;
  line[0] = line[0] == 'A' ? 'B' : 'A';
  g_assert_true (g_file_set_contents (proof, text, -1, NULL));
  assert_fails (run (NULL, "verify-proof", proof, "--key", f->vkey), 1, "NOT included");
  /* Proofs of messages the log does not have. */
  assert_fails (run (f->root, "proof", "policy", "100000"), 1, "not in the log");
  assert_fails (run (f->root, "proof", "policy", "--consistency", "100000"), 1, "larger than the tree");
}

/* Re-copies the live root to the mirror. */
static void
remirror (Fixture *f)
{
  test_util_rm_rf (f->mirror);
  g_free (sh ("cp -a '%s' '%s'", f->root, f->mirror));
}

static void
expect_in (Run r, int status, const char *says)
{
  g_autofree char *all = g_strconcat (r.out, r.err, NULL);
  g_test_message ("%s", all);
  assert_status (r, status);
  if (strstr (all, says) == NULL)
    g_error ("expected '%s' in: %s", says, all);
  run_clear (&r);
}

/* A mirror without a whole list folder fails, naming the list; a list
 * the site checkpoint does not name is reported. */
static void
test_site_list_deleted (Fixture *f, gconstpointer data)
{
  g_autofree char *site = g_build_filename (f->tmp, "site-checkpoint-1", NULL);
  g_free (sh ("cp '%s/log/site-checkpoint' '%s'", f->root, site));
  assert_ok (run (f->root, "list-add", "other"));
  ingest (f, "other", 0, 10);
  remirror (f);
  /* Untouched, it passes. */
  Run r = verify_mirror (f, NULL);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "ok other: 10 entries"));
  g_assert_nonnull (strstr (r.out, "note: the signed site checkpoint names 2 lists (archive.example.org/log)"));
  run_clear (&r);
  /* The site checkpoint names every list's origin, size and root. */
  g_autofree char *text = NULL;
  g_autofree char *sitepath = g_build_filename (f->mirror, "log", "site-checkpoint", NULL);
  g_assert_true (g_file_get_contents (sitepath, &text, NULL, NULL));
  g_assert_true (g_str_has_prefix (text, "archive.example.org/log\nannals-site-checkpoint/2\n"));
  g_assert_nonnull (strstr (text, "\narchive.example.org/policy 600 "));
  g_assert_nonnull (strstr (text, "\narchive.example.org/other 10 "));
  /* A list the (older) site checkpoint does not name: reported. */
  g_free (sh ("cp '%s' '%s'", site, sitepath));
  expect_in (verify_mirror (f, NULL), 0, "note other: not named in the site checkpoint");
  /* A list folder deleted from the mirror. */
  remirror (f);
  g_autofree char *other = g_build_filename (f->mirror, "other", NULL);
  test_util_rm_rf (other);
  expect_in (verify_mirror (f, NULL), 1, "FAIL other: named in the site checkpoint (10 entries) but missing");
  /* Every list deleted. */
  g_autofree char *policy = g_build_filename (f->mirror, "policy", NULL);
  test_util_rm_rf (policy);
  expect_in (verify_mirror (f, NULL), 1, "FAIL policy: named in the site checkpoint (600 entries) but missing");
}

/* A list's log replaced by an older copy: the site checkpoint catches it. */
static void
test_site_rolled_back (Fixture *f, gconstpointer data)
{
  g_autofree char *old_log = g_build_filename (f->tmp, "old-log", NULL);
  g_free (sh ("cp -a '%s/policy/log' '%s'", f->root, old_log));
  ingest (f, "policy", 600, 50);
  remirror (f);
  expect_in (verify_mirror (f, NULL), 0, "ok policy: 650 entries");
  g_autofree char *log = mirror_path (f, "log");
  test_util_rm_rf (log);
  g_free (sh ("cp -a '%s' '%s'", old_log, log));
  expect_in (verify_mirror (f, NULL), 1, "FAIL policy: rolled back: the site checkpoint has 650 entries");
  /* A log of another history at the same size. */
  g_autofree char *rewritten = g_build_filename (f->tmp, "rewritten", NULL);
  assert_ok (run (rewritten, "init", "--base-url", "https://archive.example.org/"));
  g_free (sh ("cp '%s/keys/site.key' '%s/keys/site.key'", f->root, rewritten));
  assert_ok (run (rewritten, "list-add", "policy"));
  g_autoptr (GString) other = make_mbox (1000, 650);
  Run ir = run_full (rewritten, other->str, other->len, NULL, "ingest", "policy", "--quiet", "--no-index", NULL);
  run_clear (&ir);
  g_autofree char *mpolicy = g_build_filename (f->mirror, "policy", NULL);
  test_util_rm_rf (mpolicy);
  g_free (sh ("cp -a '%s/policy' '%s'", rewritten, f->mirror));
  expect_in (verify_mirror (f, NULL), 1, "FAIL policy: the site checkpoint (650 entries) is not a prefix of this log");
}

/* --since an older site checkpoint checks every list it names. */
static void
test_site_since (Fixture *f, gconstpointer data)
{
  assert_ok (run (f->root, "list-add", "other"));
  ingest (f, "other", 0, 10);
  g_autofree char *old = g_build_filename (f->tmp, "old-site-checkpoint", NULL);
  g_free (sh ("cp '%s/log/site-checkpoint' '%s'", f->root, old));
  ingest (f, "policy", 600, 20);
  ingest (f, "other", 10, 5);
  expect_in (run (NULL, "verify", f->root, "--key", f->vkey, "--since", old), 0,
             "ok other: 15 entries (15 messages, 0 redactions)");
  Run r = run (NULL, "verify", f->root, "--key", f->vkey, "--since", old);
  g_assert_nonnull (strstr (r.out, "policy: 620 entries"));
  g_assert_nonnull (strstr (r.out, "extends the old site checkpoint"));
  run_clear (&r);
  /* The mirror is older than the old site checkpoint: rolled back. */
  expect_in (run (NULL, "verify", f->mirror, "--key", f->vkey, "--since", old), 1,
             "FAIL other: named in the old site checkpoint (10 entries) but missing");
}

/* A root written before site checkpoints: verify says so and fails,
 * unless told it is one; the next write creates it. */
static void
test_site_missing (Fixture *f, gconstpointer data)
{
  g_autofree char *sitepath = g_build_filename (f->mirror, "log", "site-checkpoint", NULL);
  g_assert_cmpint (g_unlink (sitepath), ==, 0);
  expect_in (verify_mirror (f, NULL), 1, "no site checkpoint");
  expect_in (run (NULL, "verify", f->mirror, "--key", f->vkey, "--no-site-checkpoint"), 0, "ok policy: 600 entries");
  /* A signature by another key. */
  g_autofree char *livesite = g_build_filename (f->root, "log", "site-checkpoint", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (livesite, &text, NULL, NULL));
  *strstr (text, "\n\n") = '\0';
  g_autofree char *body = g_strconcat (text, "\n", NULL);
  g_autoptr (AnnalsNoteKey) other = annals_note_key_generate ("archive.example.org", NULL);
  g_autofree char *note = annals_note_sign (other, body);
  g_assert_true (g_file_set_contents (sitepath, note, -1, NULL));
  expect_in (verify_mirror (f, NULL), 1, "FAIL: site checkpoint");
  /* An old root gets one with its next write. */
  g_assert_cmpint (g_unlink (livesite), ==, 0);
  ingest (f, "policy", 0, 1); /* a duplicate: nothing new for the list's log */
  g_assert_true (g_file_test (livesite, G_FILE_TEST_EXISTS));
  expect_in (run (NULL, "verify", f->root, "--key", f->vkey), 0, "ok policy: 600 entries");
}

/* Store entries past the checkpoint must at least be sound records:
 * garbage appended to offsets fails, naming the file and the first bad
 * entry; a valid message the log has not caught up with passes. */
static void
test_unlogged_garbage (Fixture *f, gconstpointer data)
{
  g_autofree char *offsets = mirror_path (f, "store/offsets");
  g_autofree char *orig = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (offsets, &orig, &len, NULL));
  /* Bytes that are no entry at all. */
  GString *s = g_string_new_len (orig, (gssize) len);
  for (guint i = 0; i < 48 * 100; i++)
    g_string_append_c (s, (char) (i * 131 + 7));
  g_assert_true (g_file_set_contents (offsets, s->str, (gssize) s->len, NULL));
  g_string_free (s, TRUE);
  expect_failure (f, "store/offsets: entry 600 (past the checkpoint)");
  /* Well-formed entries that point at a record already logged. */
  s = g_string_new_len (orig, (gssize) len);
  for (guint i = 0; i < 3; i++)
    g_string_append_len (s, orig + len - 48, 48);
  g_assert_true (g_file_set_contents (offsets, s->str, (gssize) s->len, NULL));
  g_string_free (s, TRUE);
  expect_failure (f, "store/offsets: entry 600 (past the checkpoint)");
}

static void
test_unlogged_valid (Fixture *f, gconstpointer data)
{
  /* The live store has a message the mirror's log does not. */
  ingest (f, "policy", 600, 1);
  g_autofree char *store = mirror_path (f, "store");
  test_util_rm_rf (store);
  g_free (sh ("cp -a '%s/policy/store' '%s'", f->root, store));
  Run r = verify_mirror (f, NULL);
  g_test_message ("%s", r.out);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "ok policy: 600 entries"));
  g_assert_nonnull (strstr (r.out, "note policy: 1 stored entries are newer than the checkpoint"));
  run_clear (&r);
  /* The same message damaged in its pack. */
  AnnalsStoreRecord rec = record_of (f, 600);
  g_autofree char *pack = mirror_path (f, "store/packs/00000000.pack");
  flip_byte (pack, (goffset) rec.offset + 88 + 10);
  expect_failure (f, "entry 600 (past the checkpoint)");
}

static goffset
file_size (const char *root, const char *rel)
{
  g_autofree char *path = g_build_filename (root, rel, NULL);
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_size;
}

/* A full disk while the log is written, after the store committed: the
 * file size limit stands in for it (as in test-cli's full-disk case).
 * Long, compressible Message-IDs make the entry bundle the largest file
 * written, so the limit hits the log and not the store. */
static void
test_full_disk_log (Fixture *f, gconstpointer data)
{
  GString *mbox = g_string_new (NULL);
  g_autofree char *pad = g_strnfill (2000, 'a');
  for (guint i = 0; i < 200; i++) {
    g_autofree char *m = g_strdup_printf ("Message-ID: <%s.%u@example.org>\n\nbody %u\n", pad, i, i);
    annals_mbox_append_mboxrd (mbox, NULL, "member@example.org", 1618846131 + i, (const guint8 *) m, strlen (m));
  }
  g_autofree char *path = g_build_filename (f->tmp, "long-ids.mbox", NULL);
  g_assert_true (g_file_set_contents (path, mbox->str, (gssize) mbox->len, NULL));
  g_string_free (mbox, TRUE);
  /* Without a limit first: how large each file gets. */
  g_autofree char *dry = g_build_filename (f->tmp, "dry", NULL);
  assert_ok (run (dry, "init"));
  assert_ok (run (dry, "list-add", "full"));
  assert_ok (run (dry, "ingest", "full", "--quiet", "--no-index", path));
  goffset store_max = MAX (file_size (dry, "full/store/meta"), file_size (dry, "full/store/packs/00000000.pack"));
  store_max = MAX (store_max, file_size (dry, "full/store/offsets"));
  goffset bundle = file_size (dry, "full/log/tile/entries/000.p/200");
  g_test_message ("largest store file %" G_GOFFSET_FORMAT " bytes, entry bundle %" G_GOFFSET_FORMAT, store_max, bundle);
  g_assert_cmpint (bundle, >, store_max + 2000);

  assert_ok (run (f->root, "list-add", "full"));
  ChildLimits limit = { (rlim_t) (store_max + (bundle - store_max) / 2), 0 };
  Run r = run_full (f->root, NULL, 0, &limit, "ingest", "full", "--no-index", path, NULL);
  assert_status (r, 75);
  g_assert_nonnull (strstr (r.err, "transparency log"));
  g_assert_nonnull (strstr (r.err, "File too large"));
  g_assert_nonnull (
      strstr (r.err, "the 200 messages archived before are safe; free space and run the same command again"));
  run_clear (&r);
  /* The store holds them all, consistently; the log has not caught up. */
  r = run (f->root, "lists");
  g_assert_nonnull (strstr (r.out, "full\t200\t"));
  run_clear (&r);
  g_autofree char *cp = g_build_filename (f->root, "full", "log", "checkpoint", NULL);
  g_assert_false (g_file_test (cp, G_FILE_TEST_EXISTS));
  /* With room again, the same command finishes the job. */
  r = run (f->root, "ingest", "full", "--no-index", path);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "archived 0, duplicates skipped 200"));
  run_clear (&r);
  r = run (NULL, "verify", f->root, "--key", f->vkey);
  g_test_message ("%s", r.out);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "ok full: 200 entries (200 messages, 0 redactions)"));
  g_assert_null (strstr (r.out, "newer than the checkpoint"));
  run_clear (&r);
}

/* The key is named for the site origin when it is created; setting or
 * changing base-url later must not rename the logs (their checkpoints
 * would no longer match the key). */
static void
test_origin_pinned (Fixture *f, gconstpointer data)
{
  g_autofree char *root = g_build_filename (f->tmp, "late-base-url", NULL);
  assert_ok (run (root, "init"));
  assert_ok (run (root, "list-add", "policy"));
  g_autofree char *conf = g_build_filename (root, "annals.conf", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (conf, &text, NULL, NULL));
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (kf, text, (gsize) -1, G_KEY_FILE_KEEP_COMMENTS, NULL));
  g_key_file_set_string (kf, "site", "base-url", "https://lists.example.net/");
  g_assert_true (g_key_file_save_to_file (kf, conf, NULL));
  g_autoptr (GString) mbox = make_mbox (0, 5);
  Run r = run_full (root, mbox->str, mbox->len, NULL, "ingest", "policy", "--quiet", NULL);
  assert_status (r, 0);
  run_clear (&r);
  r = run (root, "key");
  assert_status (r, 0);
  g_autofree char *vkey = g_build_filename (f->tmp, "late.vkey", NULL);
  g_assert_true (g_file_set_contents (vkey, r.out, -1, NULL));
  run_clear (&r);
  r = run (root, "proof", "policy", "3");
  assert_status (r, 0);
  g_autofree char *proof = g_build_filename (f->tmp, "late.tlog-proof", NULL);
  g_assert_true (g_file_set_contents (proof, r.out, (gssize) r.out_len, NULL));
  run_clear (&r);
  r = run (NULL, "verify-proof", proof, "--key", vkey);
  g_test_message ("%s%s", r.out, r.err);
  assert_status (r, 0);
  run_clear (&r);
  r = run (NULL, "verify", root, "--key", vkey);
  g_test_message ("%s%s", r.out, r.err);
  assert_status (r, 0);
  run_clear (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The transparency log end to end: verify, tampering, proofs, redaction, bad input");
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/log/verify/clean", test_clean);
  ADD ("/log/tamper/pack-byte", test_tamper_pack_byte);
  ADD ("/log/tamper/message-deleted", test_tamper_delete);
  ADD ("/log/tamper/records-swapped", test_tamper_swap);
  ADD ("/log/tamper/entry-bundle", test_tamper_bundle);
  ADD ("/log/tamper/tile", test_tamper_tile);
  ADD ("/log/tamper/checkpoint", test_tamper_checkpoint);
  ADD ("/log/tamper/other-key", test_tamper_other_key);
  ADD ("/log/tamper/rollback-and-rewrite", test_rollback);
  ADD ("/log/proof/survives-growth-and-redaction", test_proof_survives);
  ADD ("/log/tamper/offsets-truncated", test_offsets_truncated);
  ADD ("/log/bad-input", test_bad_input);
  ADD ("/log/verify/unlogged-garbage", test_unlogged_garbage);
  ADD ("/log/verify/unlogged-valid", test_unlogged_valid);
  ADD ("/log/ingest/full-disk", test_full_disk_log);
  ADD ("/log/site/list-deleted", test_site_list_deleted);
  ADD ("/log/site/rolled-back", test_site_rolled_back);
  ADD ("/log/site/since", test_site_since);
  ADD ("/log/site/missing", test_site_missing);
  ADD ("/log/origin/pinned-at-init", test_origin_pinned);
  return g_test_run ();
}
