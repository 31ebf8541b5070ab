/* Tests for core/store-*.c: byte-exact storage, dedupe, packs, dictionaries,
 * crash recovery, locking, concurrent readers, a full disk, and redactions
 * a crash interrupted. */
#include "core/store.h"
#include "core/message.h"
#include "tests/test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  char *tmp;
  char *dir; /* the store */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tmp = test_util_tmpdir_with ("store", &f->dir);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_util_tmpdir_clear (&f->tmp, &f->dir);
}

static guint64
add (AnnalsStoreWriter *w, const char *raw, gsize len, AnnalsStoreAddStatus want)
{
  AnnalsStoreAddResult r;
  g_autoptr (GError) error = NULL;
  g_assert_true (annals_store_writer_add (w, (const guint8 *) raw, len, 1618846131, NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.status, ==, want);
  return r.number;
}

static void
assert_message (AnnalsStore *s, guint64 n, const char *raw, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) got = annals_store_read (s, n, NULL, &error);
  g_assert_no_error (error);
  gsize glen;
  const void *g = g_bytes_get_data (got, &glen);
  g_assert_cmpmem (g, glen, raw, len);
}

static void
test_roundtrip (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
  g_assert_no_error (error);
  const char binary[] = "Subject: bin\n\n\0\x01\x02\xff\r\n\0";
  g_autoptr (GString) big = test_util_message (7, 3 << 20);
  struct {
    const char *raw;
    gsize len;
  } msgs[] = {
    { "Subject: one\nMessage-ID: <1@x>\n\nhello\n", 0 },
    { binary, sizeof binary - 1 },
    { big->str, big->len },
    { "x", 1 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (msgs); i++) {
    gsize len = msgs[i].len ? msgs[i].len : strlen (msgs[i].raw);
    g_assert_cmpuint (add (w, msgs[i].raw, len, ANNALS_STORE_ADDED), ==, i);
  }
  g_assert_true (annals_store_writer_commit (w, &error));
  g_autoptr (AnnalsStore) s = annals_store_open (f->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (annals_store_count (s), ==, G_N_ELEMENTS (msgs));
  for (guint i = 0; i < G_N_ELEMENTS (msgs); i++)
    assert_message (s, i, msgs[i].raw, msgs[i].len ? msgs[i].len : strlen (msgs[i].raw));
  g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (s, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->hdr.message_id, ==, "1@x");
  g_assert_cmpstr (m->hdr.subject, ==, "one");
  g_assert_cmpint (m->receipt, ==, 1618846131);
  g_autoptr (AnnalsStoreMeta) m3 = annals_store_read_meta (s, 3, &error);
  g_assert_true (m3->flags & ANNALS_STORE_FLAG_UNPARSABLE);
  g_assert_true (m3->flags & ANNALS_STORE_FLAG_DERIVED_ID);
  g_assert_null (annals_store_read (s, 4, NULL, &error));
  g_assert_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NOT_FOUND);
}

static void
test_dedupe (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
  const char *a = "Message-ID: <same@x>\nSubject: a\n\nfirst\n";
  const char *b = "Message-ID: <same@x>\nSubject: a\n\nedited\n";
  const char *noid = "Subject: no id\n\nbody\n";
  g_assert_cmpuint (add (w, a, strlen (a), ANNALS_STORE_ADDED), ==, 0);
  g_assert_cmpuint (add (w, a, strlen (a), ANNALS_STORE_DUPLICATE), ==, 0);
  AnnalsStoreAddResult r;
  g_assert_true (annals_store_writer_add (w, (const guint8 *) b, strlen (b), 1, NULL, &r, &error));
  g_assert_cmpint (r.status, ==, ANNALS_STORE_ADDED);
  g_assert_cmpuint (r.number, ==, 1);
  g_assert_true (r.flags & ANNALS_STORE_FLAG_REUSED_ID);
  /* Both copies stay duplicates of themselves, old and new. */
  g_assert_cmpuint (add (w, a, strlen (a), ANNALS_STORE_DUPLICATE), ==, 0);
  g_assert_cmpuint (add (w, b, strlen (b), ANNALS_STORE_DUPLICATE), ==, 1);
  g_assert_cmpuint (add (w, noid, strlen (noid), ANNALS_STORE_ADDED), ==, 2);
  g_assert_cmpuint (add (w, noid, strlen (noid), ANNALS_STORE_DUPLICATE), ==, 2);
  g_assert_true (annals_store_writer_commit (w, &error));
  g_clear_pointer (&w, annals_store_writer_free);

  /* Across runs too. */
  w = annals_store_writer_open (f->dir, 1000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (add (w, b, strlen (b), ANNALS_STORE_DUPLICATE), ==, 1);
  g_autoptr (GArray) found = annals_store_find_message_id (annals_store_writer_reader (w), "same@x", &error);
  g_assert_cmpuint (found->len, ==, 2);
}

static void
test_packs_seal (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
  annals_store_writer_set_pack_limit (w, 16 * 1024);
  g_autoptr (GPtrArray) msgs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (guint i = 0; i < 400; i++) {
    g_autoptr (GString) m = test_util_message (i, 200 + (i * 37) % 4000);
    g_ptr_array_add (msgs, g_bytes_new (m->str, m->len));
    g_assert_cmpuint (add (w, m->str, m->len, ANNALS_STORE_ADDED), ==, i);
    if (i == 200) {
      /* Reopen mid-way: numbering, packs and dictionaries go on. */
      g_assert_true (annals_store_writer_commit (w, &error));
      g_clear_pointer (&w, annals_store_writer_free);
      w = annals_store_writer_open (f->dir, 1000, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (annals_store_writer_recovered (w), ==, 0);
      annals_store_writer_set_pack_limit (w, 16 * 1024);
    }
  }
  g_assert_true (annals_store_writer_commit (w, &error));
  g_autoptr (AnnalsStore) s = annals_store_open (f->dir, &error);
  for (guint i = 0; i < msgs->len; i++) {
    gsize len;
    const char *raw = g_bytes_get_data (msgs->pdata[i], &len);
    assert_message (s, i, raw, len);
  }
  /* Several packs, all but the last sealed read-only. */
  g_autofree char *p0 = g_build_filename (f->dir, "packs", "00000000.pack", NULL);
  g_autofree char *p5 = g_build_filename (f->dir, "packs", "00000005.pack", NULL);
  struct stat st;
  g_assert_cmpint (stat (p0, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0222, ==, 0);
  g_assert_true (g_file_test (p5, G_FILE_TEST_EXISTS));
  /* Dictionaries were trained and are used. */
  AnnalsStoreRecord r;
  g_assert_true (annals_store_read_record (s, 399, &r, &error));
  g_assert_cmpuint (r.dict, >, 0);
}

static gsize
file_length (const char *path)
{
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  return (gsize) st.st_size;
}

static void
truncate_to (const char *path, gsize len)
{
  g_assert_cmpint (truncate (path, (off_t) len), ==, 0);
}

static void
append_bytes (const char *path, const void *data, gsize len)
{
  int fd = open (path, O_WRONLY | O_APPEND);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, data, len), ==, (ssize_t) len);
  close (fd);
}

/* Writes n messages and commits. */
static void
fill (const char *dir, guint from, guint n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (dir, 1000, &error);
  g_assert_no_error (error);
  for (guint i = from; i < from + n; i++) {
    g_autoptr (GString) m = test_util_message (i, 500);
    add (w, m->str, m->len, ANNALS_STORE_ADDED);
  }
  g_assert_true (annals_store_writer_commit (w, &error));
}

static void
check_all (const char *dir, guint n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStore) s = annals_store_open (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (annals_store_count (s), ==, n);
  for (guint i = 0; i < n; i++) {
    g_autoptr (GString) m = test_util_message (i, 500);
    assert_message (s, i, m->str, m->len);
  }
}

/* A record cut half-way (a write torn by a crash) is dropped; the
 * messages before it stay. */
static void
test_recover_torn (Fixture *f, gconstpointer data)
{
  fill (f->dir, 0, 10);
  g_autofree char *pack = g_build_filename (f->dir, "packs", "00000000.pack", NULL);
  g_autofree char *offsets = g_build_filename (f->dir, "offsets", NULL);
  g_autofree char *meta = g_build_filename (f->dir, "meta", NULL);
  gsize pack_len = file_length (pack), off_len = file_length (offsets), meta_len = file_length (meta);
  fill (f->dir, 10, 1);
  /* Message 10's record is torn, its entries half written. */
  truncate_to (pack, pack_len + 50);
  truncate_to (offsets, off_len + 20);
  truncate_to (meta, meta_len + 7);
  g_autoptr (GError) error = NULL;
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (annals_store_writer_count (w), ==, 10);
  }
  g_assert_cmpuint (file_length (pack), ==, pack_len);
  check_all (f->dir, 10);
  fill (f->dir, 10, 5);
  check_all (f->dir, 15);
}

/* Records written to the pack whose entries never were (a kill between
 * the two) are indexed again from the pack. */
static void
test_recover_unindexed (Fixture *f, gconstpointer data)
{
  fill (f->dir, 0, 5);
  g_autofree char *offsets = g_build_filename (f->dir, "offsets", NULL);
  g_autofree char *meta = g_build_filename (f->dir, "meta", NULL);
  gsize off_len = file_length (offsets), meta_len = file_length (meta);
  fill (f->dir, 5, 3);
  truncate_to (offsets, off_len);
  truncate_to (meta, meta_len);
  g_autoptr (GError) error = NULL;
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (annals_store_writer_recovered (w), ==, 3);
  }
  check_all (f->dir, 8);
  /* Garbage after the last record is cut too. */
  g_autofree char *pack = g_build_filename (f->dir, "packs", "00000000.pack", NULL);
  gsize pack_len = file_length (pack);
  append_bytes (pack, "ARC1 not a record at all, just noise from a crash", 49);
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
    g_assert_no_error (error);
    g_assert_nonnull (w);
  }
  g_assert_cmpuint (file_length (pack), ==, pack_len);
  check_all (f->dir, 8);
}

static void
test_corrupt_read (Fixture *f, gconstpointer data)
{
  fill (f->dir, 0, 3);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStore) s = annals_store_open (f->dir, &error);
  AnnalsStoreRecord r;
  g_assert_true (annals_store_read_record (s, 1, &r, &error));
  g_autofree char *pack = g_build_filename (f->dir, "packs", "00000000.pack", NULL);
  int fd = open (pack, O_RDWR);
  guint8 b;
  g_assert_cmpint (pread (fd, &b, 1, (off_t) r.offset + 84 + 5), ==, 1);
  b ^= 0x40;
  g_assert_cmpint (pwrite (fd, &b, 1, (off_t) r.offset + 84 + 5), ==, 1);
  close (fd);
  g_assert_null (annals_store_read (s, 1, NULL, &error));
  g_assert_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_autoptr (GString) first = test_util_message (0, 500);
  assert_message (s, 0, first->str, first->len);
}

/* A damaged offsets entry older than any crash could reach: the error
 * says how to rebuild offsets and meta, and doing what doc/store-format.md
 * says ("Rebuilding offsets and meta") gives every message back. */
static void
test_rebuild_offsets (Fixture *f, gconstpointer data)
{
  const guint n = 1100; /* more than the writer checks on open */
  fill (f->dir, 0, n);
  g_autofree char *offsets = g_build_filename (f->dir, "offsets", NULL);
  g_autofree char *meta = g_build_filename (f->dir, "meta", NULL);
  int fd = open (offsets, O_RDWR);
  guint8 b;
  off_t at = 16 + 48 * 1 + 8;
  g_assert_cmpint (pread (fd, &b, 1, at), ==, 1);
  b ^= 0x40;
  g_assert_cmpint (pwrite (fd, &b, 1, at), ==, 1);
  close (fd);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStore) s = annals_store_open (f->dir, &error);
  g_assert_no_error (error);
  g_assert_null (annals_store_read (s, 1, NULL, &error));
  g_assert_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT);
  g_test_message ("%s", error->message);
  g_assert_null (strstr (error->message, "annals repair"));
  g_assert_nonnull (strstr (error->message, "doc/store-format.md"));
  g_clear_error (&error);
  g_clear_pointer (&s, annals_store_free);
  /* The writer does not repair it by itself ... */
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
  g_assert_null (w);
  g_assert_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT);
  g_clear_error (&error);
  /* ... but rebuilds both files from the packs once they are cut. */
  g_assert_cmpint (truncate (offsets, 16), ==, 0);
  g_assert_cmpint (truncate (meta, 16), ==, 0);
  w = annals_store_writer_open (f->dir, 1000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (annals_store_writer_recovered (w), ==, n);
  g_clear_pointer (&w, annals_store_writer_free);
  check_all (f->dir, n);
}

static gpointer
close_writer_soon (gpointer data)
{
  g_usleep (100000);
  annals_store_writer_free (data);
  return NULL;
}

static void
test_lock (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
  g_assert_no_error (error);
  g_autoptr (AnnalsStoreWriter) w2 = annals_store_writer_open (f->dir, 200, &error);
  g_assert_null (w2);
  g_assert_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_LOCKED);
  g_clear_error (&error);
  /* A writer that waits gets the lock once the holder lets go: the
   * holder closes from another thread while this one is waiting (a
   * generous timeout, so a busy machine cannot make it fail). */
  GThread *closer = g_thread_new ("closer", close_writer_soon, g_steal_pointer (&w));
  w2 = annals_store_writer_open (f->dir, 60000, &error);
  g_assert_no_error (error);
  g_assert_nonnull (w2);
  g_thread_join (closer);
}

typedef struct {
  const char *dir;
  guint total;
  volatile gint done;
} Concurrent;

static gpointer
writer_thread (gpointer data)
{
  Concurrent *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (c->dir, 5000, &error);
  g_assert_no_error (error);
  annals_store_writer_set_pack_limit (w, 64 * 1024);
  for (guint i = 0; i < c->total; i++) {
    g_autoptr (GString) m = test_util_message (i, 500);
    add (w, m->str, m->len, ANNALS_STORE_ADDED);
    if (i % 7 == 0)
      g_assert_true (annals_store_writer_commit (w, &error));
  }
  g_assert_true (annals_store_writer_commit (w, &error));
  g_atomic_int_set (&c->done, 1);
  return NULL;
}

/* A reader going on while the writer appends (and seals packs) sees
 * only whole messages, each with its exact bytes. */
static void
test_concurrent_reader (Fixture *f, gconstpointer data)
{
  fill (f->dir, 0, 0);
  Concurrent c = { f->dir, 1500, 0 };
  /* The writer starts from an empty store made by fill(). */
  GThread *t = g_thread_new ("writer", writer_thread, &c);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStore) s = annals_store_open (f->dir, &error);
  g_assert_no_error (error);
  guint64 seen = 0, reads = 0;
  while (!g_atomic_int_get (&c.done) || seen < c.total) {
    guint64 n = annals_store_count (s);
    g_assert_cmpuint (n, >=, seen);
    seen = n;
    if (n == 0)
      continue;
    guint64 k = n - 1 - (reads % MIN (n, 20));
    g_autoptr (GString) want = test_util_message ((guint) k, 500);
    assert_message (s, k, want->str, want->len);
    reads++;
  }
  g_thread_join (t);
  g_test_message ("%" G_GUINT64_FORMAT " reads while writing", reads);
  check_all (f->dir, c.total);
}

/* A full disk (here a file size limit) fails the message clearly and
 * leaves everything before it whole. */
static void
test_no_space (Fixture *f, gconstpointer data)
{
  fill (f->dir, 0, 20);
  g_autofree char *pack = g_build_filename (f->dir, "packs", "00000000.pack", NULL);
  gsize pack_len = file_length (pack);
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0) {
    signal (SIGXFSZ, SIG_IGN);
    struct rlimit rl = { pack_len + 4096, pack_len + 4096 };
    setrlimit (RLIMIT_FSIZE, &rl);
    GError *error = NULL;
    AnnalsStoreWriter *w = annals_store_writer_open (f->dir, 1000, &error);
    if (w == NULL)
      _exit (2);
    for (guint i = 20; i < 40; i++) {
      GString *m = test_util_message (i, 2000);
      AnnalsStoreAddResult r;
      if (!annals_store_writer_add (w, (const guint8 *) m->str, m->len, 1, NULL, &r, &error))
        _exit (g_error_matches (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NO_SPACE) ? 10 : 3);
      if (!annals_store_writer_commit (w, &error))
        _exit (g_error_matches (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NO_SPACE) ? 11 : 4);
    }
    _exit (0);
  }
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 10);
  /* Whole messages made it; the failed one left nothing. */
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
  g_assert_no_error (error);
  guint64 n = annals_store_writer_count (w);
  g_test_message ("%" G_GUINT64_FORMAT " messages fit", n);
  g_assert_cmpuint (n, >=, 20);
  g_assert_cmpuint (n, <, 40);
  g_autoptr (AnnalsStore) s = annals_store_open (f->dir, &error);
  for (guint i = 0; i < n; i++) {
    g_autoptr (GString) m = test_util_message (i, i < 20 ? 500 : 2000);
    assert_message (s, i, m->str, m->len);
  }
}

static void
test_not_a_store (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (annals_store_open (f->dir, &error));
  g_assert_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_FORMAT);
  g_clear_error (&error);
  fill (f->dir, 0, 1);
  g_autofree char *format = g_build_filename (f->dir, "FORMAT", NULL);
  g_assert_true (g_file_set_contents (format, "annals-store 9\n", -1, NULL));
  g_assert_null (annals_store_open (f->dir, &error));
  g_assert_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_FORMAT);
  g_test_message ("%s", error->message);
}

/* Redaction, interrupted.  Steps after the committed notice: the pack
 * rewrite (tombstone), the meta scrub, the offsets flag.  What a crash
 * leaves at each point is made by redacting and then putting back the
 * old bytes of the files the later steps had not reached yet (the notice,
 * appended past their old ends, stays).  The next writer must finish the
 * redaction, and no byte of the message may be left in any file. */
typedef enum {
  CRASH_BEFORE_PACK,  /* notice committed, nothing removed */
  CRASH_AFTER_PACK,   /* tombstone written, meta and offsets old */
  CRASH_AFTER_META,   /* meta scrubbed, offsets entry without flag 8 */
  CRASH_FLAG_NO_META, /* a power cut kept the offsets write, lost the meta one */
  CRASH_AFTER_FLAG,   /* everything written, not committed */
} CrashPoint;

typedef struct {
  CrashPoint point;
  gboolean sealed; /* the message is in a sealed pack */
} RedactCrash;

#define CANARY_SUBJECT "canary-subject-5d1f"
#define CANARY_SENDER "canary-sender-9a3c"
#define CANARY_BODY "canary-body-e72b"

/* A message whose body is mostly random bytes: zlib keeps it in stored
 * blocks, so its words are in the pack as they are, for the grep. */
static GString *
canary_message (void)
{
  GString *m = g_string_new ("From: Canary <" CANARY_SENDER "@example.org>\nTo: policy@example.org\n"
                             "Subject: " CANARY_SUBJECT "\nMessage-ID: <canary@example.org>\n"
                             "Date: Mon, 19 Apr 2021 15:28:51 +0000\n\n");
  GRand *rand = g_rand_new_with_seed (7);
  for (guint i = 0; i < 4096; i++)
    g_string_append_c (m, (char) g_rand_int_range (rand, 0, 256));
  g_string_append (m, "\n" CANARY_BODY "\n");
  for (guint i = 0; i < 4096; i++)
    g_string_append_c (m, (char) g_rand_int_range (rand, 0, 256));
  g_rand_free (rand);
  return m;
}

/* Files under dir (relative path -> contents). */
static void
snapshot (GHashTable *out, const char *dir, const char *rel)
{
  g_autofree char *path = rel ? g_build_filename (dir, rel, NULL) : g_strdup (dir);
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
    g_assert_nonnull (d);
    for (const char *n; (n = g_dir_read_name (d)) != NULL;) {
      g_autofree char *sub = rel ? g_build_filename (rel, n, NULL) : g_strdup (n);
      snapshot (out, dir, sub);
    }
    return;
  }
  char *data;
  gsize len;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_hash_table_insert (out, g_strdup (rel), g_bytes_new_take (data, len));
}

/* Writes back the first bytes of the file as they were in before. */
static void
restore_prefix (const char *dir, GHashTable *before, const char *rel)
{
  GBytes *old = g_hash_table_lookup (before, rel);
  g_assert_nonnull (old);
  g_autofree char *path = g_build_filename (dir, rel, NULL);
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpint (chmod (path, 0644), ==, 0);
  int fd = open (path, O_WRONLY);
  g_assert_cmpint (fd, >=, 0);
  gsize len;
  const void *d = g_bytes_get_data (old, &len);
  g_assert_cmpint (pwrite (fd, d, len, 0), ==, (ssize_t) len);
  close (fd);
  g_assert_cmpint (chmod (path, st.st_mode & 07777), ==, 0);
}

static gboolean
store_has (GHashTable *files, const char *needle, const char **where)
{
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, files);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    gsize len;
    const void *d = g_bytes_get_data (v, &len);
    if (memmem (d, len, needle, strlen (needle)) != NULL) {
      *where = k;
      return TRUE;
    }
  }
  return FALSE;
}

static guint32
offsets_flags (const char *dir, guint64 number)
{
  g_autofree char *path = g_build_filename (dir, "offsets", NULL);
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpuint (len, >=, 16 + (number + 1) * 48);
  guint32 v;
  memcpy (&v, data + 16 + number * 48 + 4, 4);
  return GUINT32_FROM_LE (v);
}

static void
test_redact_crash (Fixture *f, gconstpointer data)
{
  const RedactCrash *c = data;
  g_test_message ("crash point %d, %s pack", c->point, c->sealed ? "sealed" : "current");
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) canary = canary_message ();
  const guint64 target = 3;
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
    g_assert_no_error (error);
    if (c->sealed)
      annals_store_writer_set_pack_limit (w, 12 * 1024);
    for (guint i = 0; i < 12; i++) {
      g_autoptr (GString) m = i == target ? g_string_new_len (canary->str, canary->len) : test_util_message (i, 500);
      g_assert_cmpuint (add (w, m->str, m->len, ANNALS_STORE_ADDED), ==, i);
    }
    g_assert_true (annals_store_writer_commit (w, &error));
    AnnalsStoreRecord t, last;
    g_assert_true (annals_store_read_record (annals_store_writer_reader (w), target, &t, &error));
    g_assert_true (annals_store_read_record (annals_store_writer_reader (w), 11, &last, &error));
    g_assert_cmpint (t.pack < last.pack, ==, c->sealed);
  }
  g_autoptr (GHashTable) before
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  snapshot (before, f->dir, NULL);
  const char *where = NULL;
  /* The test can fail: every word is in the store before. */
  g_assert_true (store_has (before, CANARY_SUBJECT, &where));
  g_assert_true (store_has (before, CANARY_SENDER, &where));
  g_assert_true (store_has (before, CANARY_BODY, &where));
  g_assert_cmpstr (where, !=, "meta");
  guint64 notice;
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
    g_assert_no_error (error);
    g_assert_true (annals_store_writer_redact (w, target, "test", 1800000000, NULL, NULL, &notice, &error));
    g_assert_no_error (error);
  }
  /* Undo what the crash stopped from happening. */
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, before);
  while (g_hash_table_iter_next (&it, &k, NULL)) {
    gboolean pack = g_str_has_prefix (k, "packs/");
    gboolean meta = g_str_equal (k, "meta"), offsets = g_str_equal (k, "offsets");
    if ((pack && c->point == CRASH_BEFORE_PACK)
        || (meta && (c->point == CRASH_BEFORE_PACK || c->point == CRASH_AFTER_PACK || c->point == CRASH_FLAG_NO_META))
        || (offsets && c->point <= CRASH_AFTER_META))
      restore_prefix (f->dir, before, k);
  }
  /* The next writer finishes the redaction. */
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (annals_store_writer_count (w), ==, 13);
  }
  g_autoptr (AnnalsStore) s = annals_store_open (f->dir, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) gone = annals_store_read (s, target, NULL, &error);
  g_assert_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_REDACTED);
  g_clear_error (&error);
  AnnalsStoreRecord r;
  g_assert_true (annals_store_read_record (s, target, &r, &error));
  g_assert_cmpint (r.type, ==, ANNALS_STORE_RECORD_REDACTED);
  g_assert_true (r.flags & ANNALS_STORE_FLAG_REDACTED);
  g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (s, target, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->hdr.message_id, ==, "canary@example.org");
  g_assert_null (m->hdr.from);
  g_assert_null (m->hdr.from_addr);
  g_assert_null (m->hdr.subject);
  g_assert_null (m->hdr.to);
  g_assert_cmpint (m->hdr.date, ==, ANNALS_NO_DATE);
  g_assert_true (m->flags & ANNALS_STORE_FLAG_REDACTED);
  g_assert_true (offsets_flags (f->dir, target) & ANNALS_STORE_FLAG_REDACTED);
  guint64 found;
  g_assert_true (annals_store_find_redaction (s, target, &found, &error));
  g_assert_cmpuint (found, ==, notice);
  for (guint i = 0; i < 12; i++) {
    if (i == target)
      continue;
    g_autoptr (GString) other = test_util_message (i, 500);
    assert_message (s, i, other->str, other->len);
  }
  g_autoptr (GHashTable) after
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  snapshot (after, f->dir, NULL);
  const char *words[] = { CANARY_SUBJECT, CANARY_SENDER, CANARY_BODY };
  for (guint i = 0; i < G_N_ELEMENTS (words); i++) {
    if (store_has (after, words[i], &where))
      g_test_message ("'%s' is still in %s", words[i], where);
    g_assert_false (store_has (after, words[i], &where));
  }
}

/* A message with a short Message-ID and no other header field has a meta
 * record too small for the usual scrubbed form: the scrub stays inside
 * the record and the Message-ID still reads back. */
static void
test_redact_small_meta (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *msgs[] = { "Message-ID: <ab@x>\n\nbody\n", "Message-ID: <abcdefgh@x>\n\nbody\n",
                         "Message-ID: <abcdef@x>\nSubject: s\n\nbody\n" };
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (msgs); i++)
    add (w, msgs[i], strlen (msgs[i]), ANNALS_STORE_ADDED);
  g_assert_true (annals_store_writer_commit (w, &error));
  for (guint i = 0; i < G_N_ELEMENTS (msgs); i++) {
    g_test_message ("message %u: %s", i, msgs[i]);
    guint64 notice;
    g_assert_true (annals_store_writer_redact (w, i, "test", 1, NULL, NULL, &notice, &error));
    g_assert_no_error (error);
    g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (annals_store_writer_reader (w), i, &error);
    g_assert_no_error (error);
    g_assert_nonnull (m->hdr.message_id);
    g_assert_null (m->hdr.subject);
    g_assert_true (m->flags & ANNALS_STORE_FLAG_REDACTED);
  }
  /* The next message's meta is untouched. */
  g_clear_pointer (&w, annals_store_writer_free);
  w = annals_store_writer_open (f->dir, 1000, &error);
  g_assert_no_error (error);
  g_autoptr (AnnalsStoreMeta) n = annals_store_read_meta (annals_store_writer_reader (w), 3, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (n->hdr.message_id, ==, "redaction.3@annals.invalid");
}

/* annals_store_sha256 and a pack's seal agree with an independent SHA-256
 * (GChecksum) at every length around the 64-byte block and on a large
 * input, whatever implementation the store uses. */
static void
test_sha256 (Fixture *f, gconstpointer data)
{
  gsize big = 3 * 1024 * 1024 + 7;
  g_autofree guint8 *buf = g_malloc (big);
  for (gsize i = 0; i < big; i++)
    buf[i] = (guint8) (i * 131 + (i >> 9));
  gsize lengths[300];
  for (gsize i = 0; i < G_N_ELEMENTS (lengths) - 1; i++)
    lengths[i] = i;
  lengths[G_N_ELEMENTS (lengths) - 1] = big;
  for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++) {
    guint8 digest[32];
    char hex[65];
    annals_store_sha256 (buf, lengths[i], digest, hex);
    g_autofree char *want = g_compute_checksum_for_data (G_CHECKSUM_SHA256, buf, lengths[i]);
    g_assert_cmpstr (hex, ==, want);
  }

  /* A seal record (doc/store.md: 88-byte header, then the digest) holds
   * the SHA-256 of every byte of the pack before it. */
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->dir, 1000, &error);
  g_assert_no_error (error);
  annals_store_writer_set_pack_limit (w, 16 * 1024);
  for (guint i = 0; i < 20; i++) {
    g_autoptr (GString) m = test_util_message (i, 3000);
    add (w, m->str, m->len, ANNALS_STORE_ADDED);
  }
  g_assert_true (annals_store_writer_commit (w, &error));
  g_autofree char *p0 = g_build_filename (f->dir, "packs", "00000000.pack", NULL);
  g_autofree char *pack = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (p0, &pack, &len, &error));
  g_assert_cmpuint (len, >, 88 + 32);
  g_autofree char *want = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guint8 *) pack, len - 88 - 32);
  g_autofree char *got = g_malloc (65);
  for (guint i = 0; i < 32; i++)
    g_snprintf (got + 2 * i, 3, "%02x", (guint8) pack[len - 32 + i]);
  g_assert_cmpstr (got, ==, want);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The store: exact bytes, dedupe, packs, recovery, locking, readers, full disk, redaction crashes");
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/store/roundtrip", test_roundtrip);
  ADD ("/store/dedupe", test_dedupe);
  ADD ("/store/packs/seal-and-dictionaries", test_packs_seal);
  ADD ("/store/sha256/matches-gchecksum", test_sha256);
  ADD ("/store/recover/torn-tail", test_recover_torn);
  ADD ("/store/recover/unindexed-records", test_recover_unindexed);
  ADD ("/store/read/corrupt", test_corrupt_read);
  ADD ("/store/rebuild/damaged-offsets", test_rebuild_offsets);
  ADD ("/store/lock/second-writer-waits-then-fails", test_lock);
  ADD ("/store/concurrent/reader-while-writing", test_concurrent_reader);
  ADD ("/store/no-space", test_no_space);
  ADD ("/store/open/not-a-store", test_not_a_store);
  ADD ("/store/redact/small-meta", test_redact_small_meta);
  static const struct {
    const char *name;
    RedactCrash c;
  } crashes[] = {
    { "before-pack", { CRASH_BEFORE_PACK, FALSE } },     { "after-pack", { CRASH_AFTER_PACK, FALSE } },
    { "after-meta", { CRASH_AFTER_META, FALSE } },       { "flag-without-meta", { CRASH_FLAG_NO_META, FALSE } },
    { "after-flag", { CRASH_AFTER_FLAG, FALSE } },       { "sealed/before-pack", { CRASH_BEFORE_PACK, TRUE } },
    { "sealed/after-pack", { CRASH_AFTER_PACK, TRUE } }, { "sealed/after-meta", { CRASH_AFTER_META, TRUE } },
  };
  for (guint i = 0; i < G_N_ELEMENTS (crashes); i++) {
    g_autofree char *path = g_strdup_printf ("/store/redact/crash/%s", crashes[i].name);
    g_test_add (path, Fixture, &crashes[i].c, fixture_setup, test_redact_crash, fixture_teardown);
  }
  return g_test_run ();
}
