/* Tests for the indexer and the query language: threads (ghosts, late
 * parents, merges, loops, long chains, duplicate Message-IDs, arrival
 * order), incremental indexing, redaction, and every query prefix and
 * operator, stemming, accent folding and refusals. */
#include "indexer/index.h"
#include "search/query.h"
#include "core/store.h"
#include "tests/test-util.h"
#include "indexer/xapian-shim.h"

#include <math.h>
#include <string.h>

typedef struct {
  char *tmp;
  char *list_dir;
  char *store_dir;
  guint shards; /* the index's shard count (the test's data; 1 when NULL) */
  GString *log; /* when set, count() writes each query's hits here */
} Fixture;

/* ROOT/annals.conf (ROOT being the list's parent) asking for n shards. */
static void
set_shards (Fixture *f, guint n)
{
  g_autofree char *conf = g_build_filename (f->tmp, "annals.conf", NULL);
  g_autofree char *text = g_strdup_printf ("[list policy]\nindex-shards=%u\n", n);
  g_assert_true (g_file_set_contents (conf, text, -1, NULL));
  f->shards = n;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tmp = test_util_tmpdir ();
  f->list_dir = g_build_filename (f->tmp, "policy", NULL);
  f->store_dir = g_build_filename (f->list_dir, "store", NULL);
  f->shards = 1;
  if (data != NULL)
    set_shards (f, GPOINTER_TO_UINT (data));
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_util_rm_rf (f->tmp);
  g_free (f->tmp);
  g_free (f->list_dir);
  g_free (f->store_dir);
  if (f->log)
    g_string_free (f->log, TRUE);
}

typedef struct {
  const char *id;
  const char *refs;  /* References, space-separated, or NULL */
  const char *irt;   /* In-Reply-To, or NULL */
  const char *extra; /* more header lines, or NULL */
  const char *body;
} Msg;

static GString *
render (const Msg *m, guint i)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s,
                          "Message-ID: <%s>\nFrom: Member %u <m%u@example.org>\nSubject: message %s\n"
                          "Date: Mon, %u Apr 2021 10:00:00 +0000\n",
                          m->id, i, i, m->id, 1 + i % 28);
  if (m->refs) {
    g_string_append (s, "References:");
    g_auto (GStrv) r = g_strsplit (m->refs, " ", -1);
    for (char **p = r; *p; p++)
      g_string_append_printf (s, " <%s>", *p);
    g_string_append_c (s, '\n');
  }
  if (m->irt)
    g_string_append_printf (s, "In-Reply-To: <%s>\n", m->irt);
  if (m->extra)
    g_string_append (s, m->extra);
  g_string_append_printf (s, "\n%s\n", m->body ? m->body : "text");
  return s;
}

static void
store_add (Fixture *f, const Msg *msgs, guint n, const guint *order)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->store_dir, 1000, &error);
  g_assert_no_error (error);
  for (guint k = 0; k < n; k++) {
    guint i = order ? order[k] : k;
    g_autoptr (GString) s = render (&msgs[i], i);
    AnnalsStoreAddResult r;
    g_assert_true (annals_store_writer_add (w, (const guint8 *) s->str, s->len, 1618826400 + i, NULL, &r, &error));
  }
  g_assert_true (annals_store_writer_commit (w, &error));
}

/* The shards a reader of the list opens, as paths. */
static GPtrArray *
shard_paths (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) shards = annals_index_reader_shards (f->list_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (shards);
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  for (guint k = 0; k < shards->len; k++)
    g_ptr_array_add (paths, g_strdup (g_array_index (shards, AnnalsIndexShard, k).path));
  return paths;
}

static AnnalsIndexStats
index_now (Fixture *f, gboolean rebuild)
{
  g_autoptr (GError) error = NULL;
  AnnalsIndexStats stats;
  g_assert_true (annals_index_update (f->list_dir, "policy", rebuild, NULL, NULL, &stats, &error));
  g_assert_no_error (error);
  /* The index has the shard count asked for, and only whole shards. */
  g_autoptr (GPtrArray) paths = shard_paths (f);
  g_assert_cmpuint (paths->len, ==, f->shards);
  g_autofree char *count_file = g_build_filename (f->list_dir, "index", "shards", NULL);
  g_assert_true (g_file_test (count_file, G_FILE_TEST_EXISTS) == (f->shards > 1));
  return stats;
}

/* Message-ID -> thread id, from every document. */
static GHashTable *
threads (Fixture *f)
{
  GHashTable *t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* Searched together, the shards' documents have the ids of one index:
   * message number + 1. */
  g_autoptr (GPtrArray) paths = shard_paths (f);
  AnnalsXdb *db = NULL;
  g_assert_cmpint (annals_xdb_open_readonly ((const char *const *) paths->pdata, paths->len, &db, NULL), ==,
                   ANNALS_XSTATUS_OK);
  g_autoptr (AnnalsStore) s = annals_store_open (f->store_dir, NULL);
  for (guint64 d = 1; d <= annals_store_count (s); d++) {
    AnnalsXdoc *doc = NULL;
    AnnalsXstatus st = annals_xdb_get (db, d, &doc, NULL);
    if (st == ANNALS_XSTATUS_NOT_FOUND)
      continue;
    g_assert_cmpint (st, ==, ANNALS_XSTATUS_OK);
    gsize len;
    g_autofree char *data = NULL;
    g_assert_cmpint (annals_xdoc_get_data (doc, &data, &len, NULL), ==, ANNALS_XSTATUS_OK);
    g_auto (AnnalsIndexSummary) sum = { 0 };
    g_assert_true (annals_index_summary_parse (data, len, &sum));
    g_assert_cmpuint (sum.number + 1, ==, d);
    /* Duplicates get "#number" so both documents show. */
    char *key = g_hash_table_contains (t, sum.hdr.message_id)
                    ? g_strdup_printf ("%s#%" G_GUINT64_FORMAT, sum.hdr.message_id, sum.number)
                    : g_strdup (sum.hdr.message_id);
    g_hash_table_insert (t, key, g_strdup (sum.thread));
    annals_xdoc_free (doc);
  }
  annals_xdb_free (db);
  return t;
}

static void
assert_same_thread (GHashTable *t, const char *a, const char *b)
{
  const char *ta = g_hash_table_lookup (t, a), *tb = g_hash_table_lookup (t, b);
  g_assert_nonnull (ta);
  g_assert_nonnull (tb);
  if (strcmp (ta, tb) != 0)
    g_error ("%s (thread %s) and %s (thread %s) should share a thread", a, ta, b, tb);
}

static void
assert_other_thread (GHashTable *t, const char *a, const char *b)
{
  g_assert_cmpstr (g_hash_table_lookup (t, a), !=, g_hash_table_lookup (t, b));
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* A canonical form of the partition: sorted lists of sorted members. */
static char *
partition (GHashTable *t)
{
  g_autoptr (GHashTable) groups
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) g_ptr_array_unref);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, t);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    GPtrArray *g = g_hash_table_lookup (groups, v);
    if (g == NULL) {
      g = g_ptr_array_new ();
      g_hash_table_insert (groups, v, g);
    }
    g_ptr_array_add (g, k);
  }
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&it, groups);
  while (g_hash_table_iter_next (&it, NULL, &v)) {
    GPtrArray *g = v;
    g_ptr_array_sort (g, compare_strings);
    g_ptr_array_add (g, NULL);
    g_ptr_array_add (lines, g_strjoinv (" ", (char **) g->pdata));
    g_ptr_array_remove_index (g, g->len - 1);
  }
  g_ptr_array_sort (lines, compare_strings);
  g_ptr_array_add (lines, NULL);
  return g_strjoinv ("\n", (char **) lines->pdata);
}

static void
test_ghosts_and_late_parent (Fixture *f, gconstpointer data)
{
  const Msg first[] = {
    { "b@x", "a@x", "a@x", NULL, "reply one" },
    { "c@x", "a@x", "a@x", NULL, "reply two" },
    { "z@x", NULL, NULL, NULL, "unrelated" },
  };
  store_add (f, first, 3, NULL);
  index_now (f, FALSE);
  g_autoptr (GHashTable) t = threads (f);
  assert_same_thread (t, "b@x", "c@x"); /* through the ghost a@x */
  assert_other_thread (t, "b@x", "z@x");
  /* The parent arrives late: it joins, nothing moves. */
  const char *before = g_hash_table_lookup (t, "b@x");
  g_autofree char *kept = g_strdup (before);
  const Msg late[] = { { "a@x", NULL, NULL, NULL, "the root" } };
  store_add (f, late, 1, NULL);
  index_now (f, FALSE);
  g_autoptr (GHashTable) t2 = threads (f);
  assert_same_thread (t2, "a@x", "b@x");
  g_assert_cmpstr (g_hash_table_lookup (t2, "b@x"), ==, kept);
}

/* The parent recorded for a message (the summary's). */
static char *
parent_of (Fixture *f, const char *id)
{
  const char *dirs[] = { f->list_dir };
  AnnalsQueryOptions o = { 0, 1, FALSE, FALSE, FALSE };
  g_autofree char *term = g_strconcat ("Q", id, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r = annals_query_term (dirs, 1, term, &o, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (r->hits->len, ==, 1);
  return g_strdup (g_array_index (r->hits, AnnalsIndexSummary, 0).parent);
}

/* Old mail programs reply with "Re: subject" and no References or
 * In-Reply-To: such a reply joins the thread started under the same
 * base subject when that thread was active in the four weeks before. */
static void
test_subject_threads (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *id, *subject, *headers;
    int day; /* receipt, in days after the first */
  } msgs[] = {
    { "old@x", "Old topic", "", 0 },
    { "active@x", "Active topic", "", 0 },
    { "active-reply@x", "Re: Active topic", "In-Reply-To: <active@x>\n", 30 },
    { "budget@x", "[policy] Budget 2022", "", 40 },
    { "old-re@x", "Re: Old topic", "", 41 },       /* 41 days: too late */
    { "active-re@x", "Re: Active topic", "", 42 }, /* 12 days after the last reply */
    { "b1@x", "Re: Budget 2022", "", 43 },
    { "b2@x", "RE: [policy] AW:  budget\t 2022", "", 44 },
    { "b3@x", "sv: Re: BUDGET 2022", "", 45 },
    { "b-ref@x", "Re: Budget 2022", "In-Reply-To: <elsewhere@x>\n", 46 }, /* names a parent */
    { "b-plain@x", "Budget 2022", "", 47 },                               /* no Re: */
    { "b-fwd@x", "Fwd: Budget 2022", "", 48 },                            /* a forward is no reply */
    { "empty@x", "Re:", "", 49 },
    { "empty2@x", "Re: ", "", 50 },
  };
  g_autoptr (GError) error = NULL;
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->store_dir, 1000, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < G_N_ELEMENTS (msgs); i++) {
      g_autofree char *raw = g_strdup_printf ("Message-ID: <%s>\nFrom: m%u@example.org\nSubject: %s\n"
                                              "Date: Mon, 1 Mar 2021 10:00:00 +0000\n%s\ntext %u\n",
                                              msgs[i].id, i, msgs[i].subject, msgs[i].headers, i);
      AnnalsStoreAddResult r;
      g_assert_true (annals_store_writer_add (w, (const guint8 *) raw, strlen (raw), 1614592800 + msgs[i].day * 86400,
                                              NULL, &r, &error));
    }
    g_assert_true (annals_store_writer_commit (w, &error));
  }
  for (int rebuild = 0; rebuild < 2; rebuild++) {
    index_now (f, rebuild);
    g_autoptr (GHashTable) t = threads (f);
    assert_same_thread (t, "budget@x", "b1@x");
    assert_same_thread (t, "budget@x", "b2@x");
    assert_same_thread (t, "budget@x", "b3@x");
    assert_same_thread (t, "active@x", "active-re@x");
    assert_other_thread (t, "old@x", "old-re@x");
    assert_other_thread (t, "budget@x", "b-ref@x");
    assert_other_thread (t, "budget@x", "b-plain@x");
    assert_other_thread (t, "budget@x", "b-fwd@x");
    assert_other_thread (t, "empty@x", "empty2@x");
    /* Joined by its subject: a reply to the thread's first message. */
    g_autofree char *p1 = parent_of (f, "b2@x");
    g_assert_cmpstr (p1, ==, "budget@x");
    g_autofree char *p2 = parent_of (f, "old-re@x");
    g_assert_cmpstr (p2, ==, "");
    /* The subjects are threading state: in shard 0 only, like the rest
     * of it; every shard says it is of version 4. */
    g_autofree char *h = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "budget 2022", -1);
    g_autofree char *key = g_strdup_printf ("s:%.32s", h);
    g_autoptr (GPtrArray) paths = shard_paths (f);
    for (guint k = 0; k < paths->len; k++) {
      const char *one[] = { paths->pdata[k] };
      AnnalsXdb *db = NULL;
      g_assert_cmpint (annals_xdb_open_readonly (one, 1, &db, NULL), ==, ANNALS_XSTATUS_OK);
      g_autofree char *value = NULL, *version = NULL;
      g_assert_cmpint (annals_xdb_get_metadata (db, key, &value, NULL), ==, ANNALS_XSTATUS_OK);
      g_assert_cmpint (annals_xdb_get_metadata (db, "annals:version", &version, NULL), ==, ANNALS_XSTATUS_OK);
      /* The threads under that subject, newest first: the forward's,
       * the plain one's, the one naming a parent, the first. */
      g_autofree char *latest
          = g_strdup_printf ("%s\tb-fwd@x\n%s\tb-plain@x\n%s\tb-ref@x\n%s\tbudget@x",
                             (char *) g_hash_table_lookup (t, "b-fwd@x"), (char *) g_hash_table_lookup (t, "b-plain@x"),
                             (char *) g_hash_table_lookup (t, "b-ref@x"), (char *) g_hash_table_lookup (t, "budget@x"));
      if (k == 0)
        g_assert_cmpstr (value, ==, latest);
      else
        g_assert_null (value);
      g_assert_cmpstr (version, ==, "4");
      annals_xdb_free (db);
    }
    /* The thread's latest receipt over the shards searched together (b3,
     * day 45, in shard 2 of 3). */
    AnnalsXdb *all = NULL;
    g_assert_cmpint (annals_xdb_open_readonly ((const char *const *) paths->pdata, paths->len, &all, NULL), ==,
                     ANNALS_XSTATUS_OK);
    g_autofree char *term = g_strconcat ("G", (char *) g_hash_table_lookup (t, "budget@x"), NULL);
    gboolean found = FALSE;
    double last = 0;
    g_assert_cmpint (annals_xdb_max_number (all, term, ANNALS_XSLOT_RECEIPT, HUGE_VAL, &found, &last, NULL), ==,
                     ANNALS_XSTATUS_OK);
    g_assert_true (found);
    g_assert_cmpint ((gint64) last, ==, 1614592800 + 45 * 86400);
    annals_xdb_free (all);
  }
}

/* Old mail imported late: replies by subject received before a later
 * thread under the same subject began join the thread of their time,
 * never the later one, incrementally as after a rebuild. */
static void
test_subject_threads_late (Fixture *f, gconstpointer data)
{
  static const struct {
    const char *id, *subject, *headers;
    int day; /* receipt and Date:, in days after 2022-11-03 */
  } msgs[] = {
    { "budget1@x", "Budget for 2023", "", 0 },
    { "budget2@x", "Re: Budget for 2023", "In-Reply-To: <budget1@x>\n", 1 },
    { "budget3@x", "RE: [Policy] Budget for 2023", "", 2 },
    { "budget4@x", "AW: Budget for 2023", "", 47 }, /* 45 days after the last: its own thread */
    /* Imported later, received (From_ line) in November. */
    { "budget5@x", "Re: Budget for 2023", "", 17 },
    { "budget6@x", "Re: Re: budget   for 2023", "", 18 },
  };
  const gint64 nov3 = 1667469600; /* 2022-11-03 10:00 UTC */
  g_autoptr (GError) error = NULL;
  for (guint batch = 0; batch < 2; batch++) {
    {
      g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->store_dir, 1000, &error);
      g_assert_no_error (error);
      for (guint i = batch ? 4 : 0; i < (batch ? G_N_ELEMENTS (msgs) : 4); i++) {
        g_autoptr (GDateTime) d = g_date_time_new_from_unix_utc (nov3 + msgs[i].day * 86400);
        g_autofree char *date = g_date_time_format (d, "%a, %d %b %Y %H:%M:%S +0000");
        g_autofree char *raw = g_strdup_printf ("Message-ID: <%s>\nFrom: m%u@example.org\nSubject: %s\n"
                                                "Date: %s\n%s\ntext %u\n",
                                                msgs[i].id, i, msgs[i].subject, date, msgs[i].headers, i);
        AnnalsStoreAddResult r;
        g_assert_true (annals_store_writer_add (w, (const guint8 *) raw, strlen (raw), nov3 + msgs[i].day * 86400, NULL,
                                                &r, &error));
      }
      g_assert_true (annals_store_writer_commit (w, &error));
    }
    index_now (f, FALSE);
  }
  for (int rebuild = 0; rebuild < 2; rebuild++) {
    if (rebuild)
      index_now (f, TRUE);
    g_test_message (rebuild ? "after a rebuild" : "incremental");
    g_autoptr (GHashTable) t = threads (f);
    assert_same_thread (t, "budget1@x", "budget3@x");
    assert_other_thread (t, "budget1@x", "budget4@x");
    assert_same_thread (t, "budget1@x", "budget5@x");
    assert_same_thread (t, "budget1@x", "budget6@x");
    g_autofree char *p5 = parent_of (f, "budget5@x");
    g_assert_cmpstr (p5, ==, "budget1@x");
  }
}

static void
test_merge (Fixture *f, gconstpointer data)
{
  const Msg msgs[] = {
    { "p1@x", NULL, NULL, NULL, "first thread" },          { "p2@x", "p1@x", "p1@x", NULL, "in first" },
    { "q1@x", NULL, NULL, NULL, "second thread" },         { "q2@x", "q1@x", "q1@x", NULL, "in second" },
    { "join@x", "p2@x q2@x", "q2@x", NULL, "joins both" },
  };
  store_add (f, msgs, 4, NULL);
  index_now (f, FALSE);
  g_autoptr (GHashTable) t = threads (f);
  assert_other_thread (t, "p1@x", "q1@x");
  g_autofree char *older = g_strdup (g_hash_table_lookup (t, "p1@x"));
  store_add (f, msgs + 4, 1, NULL);
  index_now (f, FALSE);
  g_autoptr (GHashTable) t2 = threads (f);
  assert_same_thread (t2, "p1@x", "q2@x");
  assert_same_thread (t2, "q1@x", "join@x");
  /* The older thread id survives the merge. */
  g_assert_cmpstr (g_hash_table_lookup (t2, "q1@x"), ==, older);
}

static void
test_loops_and_long_chains (Fixture *f, gconstpointer data)
{
  GString *chain = g_string_new (NULL);
  for (int i = 0; i < 500; i++)
    g_string_append_printf (chain, "%sc%d@x", i ? " " : "", i);
  const Msg msgs[] = {
    { "a@x", "b@x", "b@x", NULL, "loop one" },
    { "b@x", "a@x", "a@x", NULL, "loop two" },
    { "self@x", "self@x", "self@x", NULL, "names itself" },
    { "long@x", chain->str, "c499@x", NULL, "a 500-long chain" },
    { "tail@x", NULL, "c0@x", NULL, "replies to the chain's root" },
  };
  store_add (f, msgs, G_N_ELEMENTS (msgs), NULL);
  index_now (f, FALSE);
  g_autoptr (GHashTable) t = threads (f);
  assert_same_thread (t, "a@x", "b@x");
  assert_other_thread (t, "self@x", "a@x");
  assert_same_thread (t, "long@x", "tail@x");
  g_string_free (chain, TRUE);
}

static void
test_duplicate_ids (Fixture *f, gconstpointer data)
{
  const Msg msgs[] = {
    { "dup@x", NULL, NULL, NULL, "first version" },
    { "dup@x", NULL, NULL, NULL, "second version, same id" },
    { "r@x", "dup@x", "dup@x", NULL, "reply" },
  };
  store_add (f, msgs, 3, NULL);
  index_now (f, FALSE);
  g_autoptr (GHashTable) t = threads (f);
  g_assert_cmpuint (g_hash_table_size (t), ==, 3); /* two documents for dup@x */
  /* The id is the first copy's: the later one (a reuse, flagged so by
   * the store) starts its own thread, replies join the first's. */
  assert_other_thread (t, "dup@x", "dup@x#1");
  assert_same_thread (t, "dup@x", "r@x");
}

static const Msg order_msgs[] = {
  { "o1@x", NULL, NULL, NULL, "a" },          { "o2@x", "o1@x", "o1@x", NULL, "b" },
  { "o3@x", "o1@x o2@x", "o2@x", NULL, "c" }, { "o4@x", "o9@x", "o9@x", NULL, "d" },
  { "o5@x", "o4@x", "o4@x", NULL, "e" },      { "o6@x", "o3@x o5@x", "o5@x", NULL, "f" },
  { "o7@x", NULL, NULL, NULL, "g" },          { "o8@x", "o7@x", "o7@x", NULL, "h" },
  { "o10@x", "o11@x", "o11@x", NULL, "i" },   { "o11@x", "o10@x", NULL, NULL, "j" },
};

/* Whatever the arrival order, the same threads. */
static void
test_arrival_order (Fixture *f, gconstpointer data)
{
  guint n = G_N_ELEMENTS (order_msgs);
  g_autofree char *reference = NULL;
  GRand *rand = g_rand_new_with_seed (42);
  for (int round = 0; round < 8; round++) {
    guint order[G_N_ELEMENTS (order_msgs)];
    for (guint i = 0; i < n; i++)
      order[i] = i;
    for (guint i = n - 1; i > 0 && round > 0; i--) {
      guint j = (guint) g_rand_int_range (rand, 0, (gint32) i + 1);
      guint tmp = order[i];
      order[i] = order[j];
      order[j] = tmp;
    }
    test_util_rm_rf (f->list_dir);
    store_add (f, order_msgs, n, order);
    index_now (f, FALSE);
    g_autoptr (GHashTable) t = threads (f);
    g_autofree char *p = partition (t);
    g_test_message ("round %d:\n%s", round, p);
    if (reference == NULL)
      reference = g_strdup (p);
    g_assert_cmpstr (p, ==, reference);
  }
  g_rand_free (rand);
  g_assert_nonnull (strstr (reference, "o1@x o2@x o3@x o4@x o5@x o6@x"));
}

/* Indexed in ten slices or in one pass, or rebuilt: the same threads. */
static void
test_incremental (Fixture *f, gconstpointer data)
{
  guint n = G_N_ELEMENTS (order_msgs);
  for (guint i = 0; i < n; i++) {
    store_add (f, order_msgs + i, 1, NULL);
    index_now (f, FALSE);
  }
  g_autoptr (GHashTable) sliced = threads (f);
  g_autofree char *a = partition (sliced);
  index_now (f, TRUE);
  g_autoptr (GHashTable) rebuilt = threads (f);
  g_autofree char *b = partition (rebuilt);
  g_assert_cmpstr (a, ==, b);
}

static guint64
count (Fixture *f, const char *query)
{
  const char *dirs[] = { f->list_dir };
  AnnalsQueryOptions o = { 0, 0, FALSE, FALSE, TRUE };
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r = annals_query_run (dirs, 1, query, &o, &error);
  if (r == NULL)
    g_error ("query '%s': %s", query, error->message);
  g_test_message ("%s -> %" G_GUINT64_FORMAT, query, r->count);
  if (f->log != NULL) {
    /* The hits themselves, in each order, with and without threads. */
    g_string_append_printf (f->log, "%s -> %" G_GUINT64_FORMAT "\n", query, r->count);
    for (guint v = 0; v < 4; v++) {
      AnnalsQueryOptions ov = { 0, 100, v & 1, (v & 2) != 0, TRUE };
      g_autoptr (AnnalsQueryResults) h = annals_query_run (dirs, 1, query, &ov, &error);
      g_assert_no_error (error);
      g_string_append_printf (f->log, " %u:", v);
      for (guint i = 0; i < h->hits->len; i++)
        g_string_append_printf (
            f->log, " %" G_GUINT64_FORMAT "/%d/%s", g_array_index (h->hits, AnnalsIndexSummary, i).number,
            g_array_index (h->percent, int, i), g_array_index (h->hits, AnnalsIndexSummary, i).thread);
      g_string_append_c (f->log, '\n');
    }
  }
  return r->count;
}

static void
refused (Fixture *f, const char *query, const char *says)
{
  g_test_message ("refused? %.60s", query);
  const char *dirs[] = { f->list_dir };
  AnnalsQueryOptions o = { 0, 10, FALSE, FALSE, FALSE };
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r = annals_query_run (dirs, 1, query, &o, &error);
  g_assert_null (r);
  /* The user's to fix (exit 64, HTTP 400): a wildcard, or the syntax. */
  gboolean wildcard = strstr (says, "wildcard") != NULL || strstr (says, "too broad") != NULL;
  g_assert_error (error, ANNALS_QUERY_ERROR, wildcard ? ANNALS_QUERY_ERROR_WILDCARD : ANNALS_QUERY_ERROR_SYNTAX);
  if (strstr (error->message, says) == NULL)
    g_error ("query '%s': expected '%s' in '%s'", query, says, error->message);
}

static void query_language_checks (Fixture *f);

static void
test_query_language (Fixture *f, gconstpointer data)
{
  const Msg msgs[] = {
    { "q1@x", NULL, NULL,
      "To: Policy List <policy@lists.example.org>\nCc: Carol <carol@example.net>\n"
      "List-Id: Policy discussion <policy.lists.example.org>\n",
      "We are running a routing review of the réseaux.\n> quoted elephant remark\n" },
    { "q2@x", "q1@x", "q1@x", "To: Dave <dave@example.com>\n",
      "The routers run fine. Le réseau fonctionne.\n> We are running a routing review\n" },
    { "q3@x", NULL, NULL, "Content-Type: multipart/mixed; boundary=zz\nMIME-Version: 1.0\n",
      "--zz\nContent-Type: text/plain\n\nsee the minutes attached\n--zz\n"
      "Content-Type: application/pdf\nContent-Disposition: attachment; "
      "filename=\"board-minutes-2021.pdf\"\n\nxx\n--zz--" },
    { "q4@x", NULL, NULL, NULL, "unicorns and rainbows, completely unrelated" },
  };
  store_add (f, msgs, G_N_ELEMENTS (msgs), NULL);
  /* 1,200 words that one wildcard would match. */
  GString *many = g_string_new (NULL);
  for (int i = 0; i < 1200; i++)
    g_string_append_printf (many, "wide%d ", i);
  Msg wide = { "q5@x", NULL, NULL, NULL, many->str }; /* dated April 1st, like q1 */
  store_add (f, &wide, 1, NULL);
  g_string_free (many, TRUE);
  index_now (f, FALSE);
  if (f->shards == 1) {
    query_language_checks (f);
    return;
  }
  /* Sharded: every query answers as it does from one shard, hits and
   * order alike; and annals.conf asking for one shard reshards. */
  f->log = g_string_new (NULL);
  query_language_checks (f);
  g_autofree char *sharded = g_string_free (g_steal_pointer (&f->log), FALSE);
  set_shards (f, 1);
  AnnalsIndexStats stats = index_now (f, FALSE);
  g_assert_true (stats.resharded);
  f->log = g_string_new (NULL);
  query_language_checks (f);
  g_assert_cmpstr (sharded, ==, f->log->str);
}

static void
query_language_checks (Fixture *f)
{
  g_assert_cmpuint (count (f, "review"), ==, 1);   /* default field: new text, not quoted */
  g_assert_cmpuint (count (f, "b:review"), ==, 2); /* body includes quoted */
  g_assert_cmpuint (count (f, "nq:elephant"), ==, 0);
  g_assert_cmpuint (count (f, "q:elephant"), ==, 1);
  /* Quoted text has only stems (doc/index-format.md, version 4): each
   * form of a quoted word still finds it, alone or with others. */
  g_assert_cmpuint (count (f, "q:elephants"), ==, 1);
  g_assert_cmpuint (count (f, "q:Elephant"), ==, 1);
  g_assert_cmpuint (count (f, "q:ELEPHANT"), ==, 1);
  g_assert_cmpuint (count (f, "q:eleph*"), ==, 1);
  g_assert_cmpuint (count (f, "q:Eleph*"), ==, 1);
  g_assert_cmpuint (count (f, "q:Running"), ==, 1);
  g_assert_cmpuint (count (f, "q:(elephant remark)"), ==, 1);
  g_assert_cmpuint (count (f, "q:(Elephant OR unicorns)"), ==, 1);
  g_assert_cmpuint (count (f, "b:Elephant"), ==, 1);
  g_assert_cmpuint (count (f, "b:eleph*"), ==, 1);
  g_assert_cmpuint (count (f, "bs:Elephant"), ==, 1);
  g_assert_cmpuint (count (f, "bs:eleph*"), ==, 1);
  g_assert_cmpuint (count (f, "b:Running"), ==, 2); /* new text of q1, quoted in q2 */
  g_assert_cmpuint (count (f, "q:Elephant OR unicorns"), ==, 2);
  g_assert_cmpuint (count (f, "q:Elephant AND unicorns"), ==, 0);
  g_assert_cmpuint (count (f, "b:Review -q:Elephant"), ==, 1);
  g_assert_cmpuint (count (f, "b:review NOT q:eleph*"), ==, 1);
  g_assert_cmpuint (count (f, "b:review AND NOT q:Remark"), ==, 1);
  /* A phrase only ever matched new text: quoted text has no positions. */
  g_assert_cmpuint (count (f, "b:\"quoted elephant\""), ==, 0);
  g_assert_cmpuint (count (f, "b:\"routing review\""), ==, 1);
  g_assert_cmpuint (count (f, "s:q3"), ==, 1); /* subject "message q3@x" */
  g_assert_cmpuint (count (f, "bs:unicorns"), ==, 1);
  g_assert_cmpuint (count (f, "f:m2@example.org"), ==, 1);
  g_assert_cmpuint (count (f, "f:\"Member 1\""), ==, 1);
  g_assert_cmpuint (count (f, "t:policy@lists.example.org"), ==, 1);
  g_assert_cmpuint (count (f, "c:carol"), ==, 1);
  g_assert_cmpuint (count (f, "tc:dave"), ==, 1);
  g_assert_cmpuint (count (f, "tc:carol"), ==, 1);
  g_assert_cmpuint (count (f, "a:carol"), ==, 1);
  g_assert_cmpuint (count (f, "a:m3@example.org"), ==, 1);
  g_assert_cmpuint (count (f, "n:minutes"), ==, 1);
  g_assert_cmpuint (count (f, "n:board-minutes-2021.pdf"), ==, 1);
  g_assert_cmpuint (count (f, "l:policy.lists.example.org"), ==, 1);
  g_assert_cmpuint (count (f, "m:q2@x"), ==, 1);
  g_assert_cmpuint (count (f, "m:q2"), ==, 0); /* exact, not a word */
  /* Phrases, operators. */
  g_assert_cmpuint (count (f, "\"routing review\""), ==, 1);
  g_assert_cmpuint (count (f, "\"review routing\""), ==, 0);
  g_assert_cmpuint (count (f, "routers AND fine"), ==, 1);
  g_assert_cmpuint (count (f, "routers fine"), ==, 1);
  g_assert_cmpuint (count (f, "unicorns OR minutes"), ==, 2);
  g_assert_cmpuint (count (f, "b:review NOT fine"), ==, 1);
  g_assert_cmpuint (count (f, "b:review -fine"), ==, 1);
  g_assert_cmpuint (count (f, "+unicorns rainbows"), ==, 1);
  g_assert_cmpuint (count (f, "(unicorns OR minutes) AND NOT attached"), ==, 1);
  g_assert_cmpuint (count (f, "unicor*"), ==, 1);
  /* Stemming in both languages, accents folded both ways. */
  g_assert_cmpuint (count (f, "run"), ==, 2);    /* running, run */
  g_assert_cmpuint (count (f, "router"), ==, 2); /* routers, routing: one stem */
  g_assert_cmpuint (count (f, "reseau"), ==, 2); /* réseaux, réseau */
  g_assert_cmpuint (count (f, "réseaux"), ==, 2);
  g_assert_cmpuint (count (f, "fonctionner"), ==, 1); /* French: fonctionne */
  /* Dates: absolute, relative, open ends (messages are in April 2021). */
  g_assert_cmpuint (count (f, "d:2021-04-01..2021-04-30"), ==, 5);
  g_assert_cmpuint (count (f, "d:2021-04-02..2021-04-02"), ==, 1);
  g_assert_cmpuint (count (f, "d:20210403.."), ==, 2);
  g_assert_cmpuint (count (f, "d:..2021-04-02"), ==, 3);
  g_assert_cmpuint (count (f, "d:2021-04"), ==, 5);
  g_assert_cmpuint (count (f, "d:2021"), ==, 5);
  g_assert_cmpuint (count (f, "d:2022.."), ==, 0);
  g_assert_cmpuint (count (f, "d:30.days.ago.."), ==, 0);
  g_assert_cmpuint (count (f, "d:..1.days.ago"), ==, 5);
  g_assert_cmpuint (count (f, "rt:2021-04-19..2021-04-19"), ==, 5);
  g_assert_cmpuint (count (f, "unicorns d:2021-04"), ==, 1);
  /* Refusals, each with a message that says why. */
  refused (f, "", "is empty");
  refused (f, "   ", "is empty");
  refused (f, "()", "is empty");
  refused (f, "NOT fine", "only NOT");
  refused (f, "-fine", "only NOT");
  refused (f, "NOT (fine OR review)", "only NOT");
  refused (f, "(fine", "left open");
  refused (f, "fine)", "closes nothing");
  refused (f, "OR fine", "nothing before it");
  refused (f, "wide*", "wildcard");
  refused (f, "w*", "too broad");
  refused (f, "s:x*", "too broad");
  g_assert_cmpuint (count (f, "wide11*"), ==, 1); /* 11 terms: fine */
  refused (f, "\"unclosed phrase", "unclosed");
  refused (f, "d:someday", "date range");
  refused (f, "d:2022..2021", "ends before it starts");
  refused (f, "routers AND", "'AND' at position 9 has nothing after it");
  g_autofree char *huge = g_strnfill (1 << 20, 'a');
  refused (f, huge, "limit");
}

static gboolean
count_doc (guint64 docid, gpointer data)
{
  (void) docid;
  (*(guint *) data)++;
  return TRUE;
}

/* Documents holding term, over every shard. */
static guint
docs_with (Fixture *f, const char *term)
{
  g_autoptr (GPtrArray) paths = shard_paths (f);
  AnnalsXdb *db = NULL;
  g_assert_cmpint (annals_xdb_open_readonly ((const char *const *) paths->pdata, paths->len, &db, NULL), ==,
                   ANNALS_XSTATUS_OK);
  guint n = 0;
  g_assert_cmpint (annals_xdb_each_with_term (db, term, count_doc, &n, NULL), ==, ANNALS_XSTATUS_OK);
  annals_xdb_free (db);
  return n;
}

/* Sets annals:version in every shard (NULL: reads shard 0's into *out). */
static void
shard_versions (Fixture *f, const char *set, char **out)
{
  g_autoptr (GPtrArray) paths = shard_paths (f);
  for (guint k = 0; k < paths->len; k++) {
    AnnalsXdb *db = NULL;
    g_assert_cmpint (annals_xdb_open_writable (paths->pdata[k], FALSE, &db, NULL), ==, ANNALS_XSTATUS_OK);
    if (set != NULL) {
      g_assert_cmpint (annals_xdb_set_metadata (db, "annals:version", set, NULL), ==, ANNALS_XSTATUS_OK);
      g_assert_cmpint (annals_xdb_commit (db, NULL), ==, ANNALS_XSTATUS_OK);
    } else if (k == 0) {
      g_assert_cmpint (annals_xdb_get_metadata (db, "annals:version", out, NULL), ==, ANNALS_XSTATUS_OK);
    }
    annals_xdb_free (db);
  }
}

static void
test_quoted_stems (Fixture *f, gconstpointer data)
{
  const Msg msgs[] = {
    { "s1@x", NULL, NULL, NULL, "Walking elephants\n> Quoted Elephants walking\n" },
  };
  store_add (f, msgs, 1, NULL);
  index_now (f, FALSE);
  /* New text: words and stems; quoted text: stems only. */
  g_assert_cmpuint (docs_with (f, "elephants"), ==, 1);
  g_assert_cmpuint (docs_with (f, "Zeleph"), ==, 1);
  g_assert_cmpuint (docs_with (f, "ZXQeleph"), ==, 1);
  g_assert_cmpuint (docs_with (f, "ZXQwalk"), ==, 1);
  g_assert_cmpuint (docs_with (f, "XQelephants"), ==, 0);
  g_assert_cmpuint (docs_with (f, "XQwalking"), ==, 0);
  g_autofree char *version = NULL;
  shard_versions (f, NULL, &version);
  g_assert_cmpstr (version, ==, "4");
  /* An index of version 3 (unstemmed quoted terms) is rebuilt by the
   * next writer, which says so. */
  shard_versions (f, "3", NULL);
  AnnalsIndexStats stats = index_now (f, FALSE);
  g_assert_true (stats.upgraded);
  g_assert_false (stats.recreated);
  g_clear_pointer (&version, g_free);
  shard_versions (f, NULL, &version);
  g_assert_cmpstr (version, ==, "4");
  g_assert_cmpuint (docs_with (f, "ZXQeleph"), ==, 1);
  g_assert_false (index_now (f, FALSE).upgraded);
  g_assert_cmpuint (count (f, "q:Elephants"), ==, 1);
  /* A wildcard longer than the stem: the words of new text that begin
   * so give their stems.  (Not in the query-language checks: sharded,
   * Xapian weighs such a synonym a little differently.) */
  const Msg more[] = {
    { "s2@x", NULL, NULL, NULL, "> running late\n> happy days\n" },
    { "s3@x", NULL, NULL, NULL, "running again, happy and happening" },
  };
  store_add (f, more, G_N_ELEMENTS (more), NULL);
  index_now (f, FALSE);
  g_assert_cmpuint (count (f, "q:runn*"), ==, 1);
  g_assert_cmpuint (count (f, "b:runn*"), ==, 2);
  g_assert_cmpuint (count (f, "q:happy*"), ==, 1); /* stem "happi" */
  g_assert_cmpuint (count (f, "q:Happy*"), ==, 1);
  g_assert_cmpuint (count (f, "q:happen*"), ==, 0);
}

static void
test_redaction (Fixture *f, gconstpointer data)
{
  const Msg msgs[] = {
    { "keep@x", NULL, NULL, NULL, "keep this zebra" },
    { "gone@x", NULL, NULL, NULL, "remove this zebra" },
  };
  store_add (f, msgs, 2, NULL);
  index_now (f, FALSE);
  g_assert_cmpuint (count (f, "zebra"), ==, 2);
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (f->store_dir, 1000, NULL);
    guint64 notice;
    g_assert_true (annals_store_writer_redact (w, 1, "test", 1, NULL, NULL, &notice, NULL));
  }
  /* Compacted afterwards, whichever shard held it. */
  g_assert_true (index_now (f, FALSE).scrubbed);
  g_assert_cmpuint (count (f, "zebra"), ==, 1);
  g_assert_cmpuint (count (f, "m:gone@x"), ==, 0);
  index_now (f, TRUE);
  g_assert_cmpuint (count (f, "zebra"), ==, 1);
}

/* Metadata key of every shard of the list's index, as a new string or
 * NULL (one entry per shard). */
static GPtrArray *
shard_metadata (Fixture *f, const char *key)
{
  GPtrArray *values = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) paths = shard_paths (f);
  for (guint k = 0; k < paths->len; k++) {
    const char *one[] = { paths->pdata[k] };
    AnnalsXdb *db = NULL;
    g_assert_cmpint (annals_xdb_open_readonly (one, 1, &db, NULL), ==, ANNALS_XSTATUS_OK);
    char *value = NULL;
    g_assert_cmpint (annals_xdb_get_metadata (db, key, &value, NULL), ==, ANNALS_XSTATUS_OK);
    g_ptr_array_add (values, value);
    annals_xdb_free (db);
  }
  return values;
}

static void
assert_compacted_at (Fixture *f, const char *want)
{
  g_autoptr (GPtrArray) at = shard_metadata (f, "annals:compacted");
  g_autoptr (GPtrArray) pending = shard_metadata (f, "annals:compact");
  for (guint k = 0; k < at->len; k++) {
    g_test_message ("shard %u: compacted at %s", k, (char *) at->pdata[k]);
    g_assert_cmpstr (at->pdata[k], ==, want);
    g_assert_null (pending->pdata[k]);
  }
}

/* A bulk run (more than one commit batch) is compacted into a fresh copy
 * at its end, every shard; a small incremental run is not (it would
 * rewrite the whole index for a few messages).  Results are the same. */
static void
test_compact_bulk (Fixture *f, gconstpointer data)
{
  enum { N = 120 };
  Msg *msgs = g_new0 (Msg, N + 5);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < N + 5; i++) {
    g_ptr_array_add (ids, g_strdup_printf ("c%u@x", i));
    msgs[i].id = ids->pdata[i];
    msgs[i].refs = i % 4 ? ids->pdata[i - 1] : NULL;
    msgs[i].body = i % 2 ? "compacted zebra" : "compacted okapi";
  }
  g_setenv ("ANNALS_INDEX_COMMIT_EVERY", "25", TRUE);
  store_add (f, msgs, N, NULL);
  AnnalsIndexStats stats = index_now (f, FALSE);
  g_assert_cmpuint (stats.indexed, ==, N);
  g_assert_false (stats.scrubbed); /* not a redaction */
  assert_compacted_at (f, "120");
  g_assert_cmpuint (count (f, "zebra"), ==, N / 2);
  g_autoptr (GHashTable) t = threads (f);
  assert_same_thread (t, "c4@x", "c7@x");
  assert_other_thread (t, "c3@x", "c4@x");
  g_autofree char *fresh = g_build_filename (f->list_dir, "index.new", NULL);
  g_assert_false (g_file_test (fresh, G_FILE_TEST_EXISTS));

  /* Five more: one batch, left as it is. */
  store_add (f, msgs + N, 5, NULL);
  index_now (f, FALSE);
  assert_compacted_at (f, "120");
  g_assert_cmpuint (count (f, "okapi"), ==, (N + 5 + 1) / 2);

  /* A rebuild is a bulk run too. */
  index_now (f, TRUE);
  assert_compacted_at (f, "125");
  g_assert_cmpuint (count (f, "compacted"), ==, N + 5);
  g_unsetenv ("ANNALS_INDEX_COMMIT_EVERY");
  g_free (msgs);
}

/* Message-IDs of 200 bytes or more become a hashed term
 * (doc/index-format.md): a Xapian term has room for 245 bytes. */
static void
test_message_id_term (Fixture *f, gconstpointer data)
{
  g_autofree char *short_id = g_strnfill (199, 'a');
  g_autofree char *long_id = g_strnfill (200, 'a');
  g_autofree char *t1 = annals_index_message_id_term (short_id);
  g_autofree char *t2 = annals_index_message_id_term (long_id);
  g_autofree char *want1 = g_strconcat ("Q", short_id, NULL);
  g_autofree char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, long_id, -1);
  g_autofree char *want2 = g_strconcat ("Qsha256:", hex, NULL);
  g_assert_cmpstr (t1, ==, want1);
  g_assert_cmpstr (t2, ==, want2);
}

/* The thread key of a Message-ID: "t:" and the first 32 hex digits of
 * its SHA-256, the same for the indexer and the search (the index format:
 * doc/index-format.md); GChecksum is the independent oracle here.  And
 * core's SHA-256 gives the digest and its hex. */
static void
test_thread_key (Fixture *f, gconstpointer data)
{
  const char *ids[] = { "a@b", "", "budget@x", "\xc3\xa9t\xc3\xa9@example.org" };
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
    g_test_message ("Message-ID '%s'", ids[i]);
    g_autofree char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA256, ids[i], -1);
    g_autofree char *want = g_strdup_printf ("t:%.32s", hex);
    g_autofree char *key = annals_index_thread_key (ids[i]);
    g_assert_cmpstr (key, ==, want);
    guint8 digest[32];
    char got[65];
    annals_store_sha256 ((const guint8 *) ids[i], strlen (ids[i]), digest, got);
    g_assert_cmpstr (got, ==, hex);
  }
}

/* A database big enough that its postlist table has branch blocks (for
 * test_util_garble_glass): docs documents of a few words each, with a
 * metadata key. */
static char *
make_xdb (Fixture *f, const char *name, guint docs)
{
  char *path = g_build_filename (f->tmp, name, NULL);
  AnnalsXdb *db = NULL;
  g_assert_cmpint (annals_xdb_open_writable (path, TRUE, &db, NULL), ==, ANNALS_XSTATUS_OK);
  for (guint i = 1; i <= docs; i++) {
    AnnalsXdoc *doc = annals_xdoc_new ();
    g_autofree char *text = g_strdup_printf ("word%u text%x common", i, i * 2654435761u);
    annals_xdoc_index_text (doc, text, "", TRUE);
    annals_xdoc_add_term (doc, "Kpolicy");
    annals_xdoc_set_number (doc, ANNALS_XSLOT_DATE, i);
    annals_xdoc_set_data (doc, text, strlen (text));
    g_assert_cmpint (annals_xdb_replace (db, i, doc, NULL), ==, ANNALS_XSTATUS_OK);
    annals_xdoc_free (doc);
  }
  g_assert_cmpint (annals_xdb_set_metadata (db, "annals:indexed", "1", NULL), ==, ANNALS_XSTATUS_OK);
  g_assert_cmpint (annals_xdb_commit (db, NULL), ==, ANNALS_XSTATUS_OK);
  annals_xdb_free (db);
  return path;
}

static gboolean
count_one (guint64 docid, gpointer data)
{
  (*(guint *) data)++;
  return TRUE;
}

/* A snippet's text: the hit's data. */
static char *
hit_text (guint64 docid, const char *data, gsize length, gpointer user_data)
{
  return g_strndup (data, length);
}

/* Every entry point that takes a database, on db: each must answer
 * want (a message with it), never throw or crash.  writes: the calls
 * that write are checked too (they answer want_write). */
static void
expect_statuses (AnnalsXdb *db, AnnalsXstatus want, AnnalsXstatus want_write, const char *dest)
{
  guint64 n = 0, last = 0;
  char *value = NULL, *m = NULL;
  guint seen = 0;
  gboolean existed;
  AnnalsXdoc *doc = NULL;
  AnnalsXresults *xr = NULL, *xr_term = NULL, *xr_more = NULL;
  static const AnnalsXfield fields[] = { { "", "", FALSE } };
  AnnalsXsearch s = { .fields = fields, .n_fields = 1, .limit = 10, .max_expansion = 100 };
  AnnalsXmore more = { .check_at_least = 100, .snippet_text = hit_text, .snippet_length = 40 };
  gboolean found = FALSE;
  double max = 0;
  AnnalsXdoc *fresh = annals_xdoc_new ();
  struct {
    const char *call;
    AnnalsXstatus got, want;
  } calls[] = {
    { "reopen", annals_xdb_reopen (db, NULL), want },
    { "doc_count", annals_xdb_doc_count (db, &n, NULL), want },
    { "last_docid", annals_xdb_last_docid (db, &last, NULL), want },
    { "get_metadata", annals_xdb_get_metadata (db, "annals:indexed", &value, NULL), want },
    { "get", annals_xdb_get (db, 1, &doc, NULL), want },
    { "each_with_term", annals_xdb_each_with_term (db, "Kpolicy", count_one, &seen, NULL), want },
    { "search", annals_xdb_search (db, "common", &s, TRUE, &xr, NULL), want },
    { "search_term", annals_xdb_search_term (db, "Kpolicy", &s, FALSE, &xr_term, NULL), want },
    { "search_more", annals_xdb_search_more (db, "common", &s, &more, &xr_more, NULL), want },
    { "max_number", annals_xdb_max_number (db, "Kpolicy", ANNALS_XSLOT_DATE, HUGE_VAL, &found, &max, NULL), want },
    { "compact", annals_xdb_compact (db, dest, NULL), want },
    { "set_metadata", annals_xdb_set_metadata (db, "k", "v", NULL), want_write },
    { "replace", annals_xdb_replace (db, 7, fresh, NULL), want_write },
    { "delete", annals_xdb_delete (db, 1, &existed, NULL), want_write },
    { "commit", annals_xdb_commit (db, NULL), want_write },
  };
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++) {
    g_test_message ("%s -> %d (want %d)", calls[i].call, calls[i].got, calls[i].want);
    g_assert_cmpint (calls[i].got, ==, calls[i].want);
  }
  /* A failure always says something. */
  g_clear_pointer (&value, g_free);
  g_assert_cmpint (annals_xdb_get_metadata (db, "annals:indexed", &value, &m), ==, want);
  if (want != ANNALS_XSTATUS_OK) {
    g_assert_nonnull (m);
    g_assert_cmpstr (m, !=, "");
  }
  g_free (m);
  g_free (value);
  annals_xdoc_free (doc);
  annals_xresults_free (xr);
  if (want == ANNALS_XSTATUS_OK) {
    /* The new entry points' answers, not only their statuses. */
    g_assert_true (found);
    g_assert_cmpfloat (max, >=, 2999);
    g_assert_nonnull (xr_more);
    g_assert_cmpuint (xr_more->n_hits, ==, 10);
    g_assert_nonnull (strstr (xr_more->hits[0].snippet, "<mark>common</mark>"));
  } else {
    g_assert_null (xr_more);
  }
  annals_xresults_free (xr_term);
  annals_xresults_free (xr_more);
  annals_xdoc_free (fresh);
}

/* The shim's statuses: on a read-only, a closed and a damaged handle,
 * for missing, half-made and locked databases, for queries, and for a
 * document whose building failed. */
static void
test_shim_statuses (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_xdb (f, "db", 3000);
  g_autofree char *dest = g_build_filename (f->tmp, "compacted", NULL);
  const char *paths[] = { path };

  g_test_message ("read-only");
  AnnalsXdb *db = NULL;
  g_assert_cmpint (annals_xdb_open_readonly (paths, 1, &db, NULL), ==, ANNALS_XSTATUS_OK);
  expect_statuses (db, ANNALS_XSTATUS_OK, ANNALS_XSTATUS_NOT_WRITABLE, dest);
  g_assert_cmpint (annals_xdb_close (db, NULL), ==, ANNALS_XSTATUS_OK);

  g_test_message ("closed");
  expect_statuses (db, ANNALS_XSTATUS_INTERNAL, ANNALS_XSTATUS_INTERNAL, dest);
  g_assert_cmpint (annals_xdb_close (db, NULL), ==, ANNALS_XSTATUS_INTERNAL);
  annals_xdb_free (db);
  db = NULL;
  g_assert_cmpint (annals_xdb_open_writable (path, FALSE, &db, NULL), ==, ANNALS_XSTATUS_OK);
  g_assert_cmpint (annals_xdb_close (db, NULL), ==, ANNALS_XSTATUS_OK);
  expect_statuses (db, ANNALS_XSTATUS_INTERNAL, ANNALS_XSTATUS_INTERNAL, dest);
  annals_xdb_free (db);

  g_test_message ("locked");
  AnnalsXdb *writer = NULL;
  db = NULL;
  g_assert_cmpint (annals_xdb_open_writable (path, FALSE, &writer, NULL), ==, ANNALS_XSTATUS_OK);
  g_assert_cmpint (annals_xdb_open_writable (path, FALSE, &db, NULL), ==, ANNALS_XSTATUS_LOCKED);
  g_assert_null (db);
  annals_xdb_free (writer);

  g_test_message ("queries");
  db = NULL;
  g_assert_cmpint (annals_xdb_open_readonly (paths, 1, &db, NULL), ==, ANNALS_XSTATUS_OK);
  static const AnnalsXfield fields[] = { { "", "", FALSE } };
  AnnalsXsearch s = { .fields = fields, .n_fields = 1, .limit = 10, .max_expansion = 10 };
  AnnalsXresults *xr = NULL;
  g_assert_cmpint (annals_xdb_search (db, "NOT common", &s, FALSE, &xr, NULL), ==, ANNALS_XSTATUS_QUERY_SYNTAX);
  g_assert_cmpint (annals_xdb_search (db, "word*", &s, FALSE, &xr, NULL), ==, ANNALS_XSTATUS_WILDCARD_TOO_BROAD);
  g_assert_null (xr);
  AnnalsXmore more = { .check_at_least = 100, .snippet_text = hit_text, .snippet_length = 40 };
  g_assert_cmpint (annals_xdb_search_more (db, "NOT common", &s, &more, &xr, NULL), ==, ANNALS_XSTATUS_QUERY_SYNTAX);
  g_assert_cmpint (annals_xdb_search_more (db, "word*", &s, &more, &xr, NULL), ==, ANNALS_XSTATUS_WILDCARD_TOO_BROAD);
  g_assert_null (xr);
  gboolean found = TRUE;
  double max = -1;
  g_assert_cmpint (annals_xdb_max_number (db, "Knone", ANNALS_XSLOT_DATE, HUGE_VAL, &found, &max, NULL), ==,
                   ANNALS_XSTATUS_OK);
  g_assert_false (found);
  g_assert_cmpfloat (max, ==, -1);
  AnnalsXdoc *doc = NULL;
  g_assert_cmpint (annals_xdb_get (db, 99999, &doc, NULL), ==, ANNALS_XSTATUS_NOT_FOUND);
  g_assert_null (doc);
  annals_xdb_free (db);

  g_test_message ("a document whose building failed is not written");
  db = NULL;
  g_assert_cmpint (annals_xdb_open_writable (path, FALSE, &db, NULL), ==, ANNALS_XSTATUS_OK);
  doc = annals_xdoc_new ();
  annals_xdoc_add_term (doc, ""); /* Xapian refuses empty terms */
  annals_xdoc_add_term (doc, "Kkept");
  char *m = NULL;
  g_assert_cmpint (annals_xdb_replace (db, 5000, doc, &m), ==, ANNALS_XSTATUS_INTERNAL);
  g_assert_nonnull (m);
  g_free (m);
  annals_xdoc_free (doc);
  doc = NULL;
  g_assert_cmpint (annals_xdb_get (db, 5000, &doc, NULL), ==, ANNALS_XSTATUS_NOT_FOUND);
  annals_xdb_free (db);

  g_test_message ("missing and half-made");
  g_autofree char *none = g_build_filename (f->tmp, "none", NULL);
  const char *none_paths[] = { path, none };
  db = NULL;
  g_assert_cmpint (annals_xdb_open_writable (none, FALSE, &db, NULL), ==, ANNALS_XSTATUS_NOT_FOUND);
  g_assert_cmpint (annals_xdb_open_readonly (none_paths, 2, &db, &m), ==, ANNALS_XSTATUS_NOT_FOUND);
  g_assert_nonnull (strstr (m, none)); /* names the one that failed */
  g_clear_pointer (&m, g_free);
  g_assert_cmpint (g_mkdir (none, 0755), ==, 0);
  g_assert_cmpint (annals_xdb_open_writable (none, FALSE, &db, NULL), ==, ANNALS_XSTATUS_CORRUPT);
  g_assert_cmpint (annals_xdb_open_readonly (none_paths, 2, &db, NULL), ==, ANNALS_XSTATUS_CORRUPT);
  g_assert_null (db);

  g_test_message ("sources: local, missing, and a remote that refuses");
  AnnalsXsource local_src[] = { { path, NULL, 0, 0 }, { none, NULL, 0, 0 } };
  g_assert_cmpint (annals_xdb_open_sources (local_src, 1, &db, NULL, NULL), ==, ANNALS_XSTATUS_OK);
  annals_xdb_free (db);
  db = NULL;
  guint failed = 0;
  g_assert_cmpint (annals_xdb_open_sources (local_src, 2, &db, &failed, &m), ==, ANNALS_XSTATUS_CORRUPT);
  g_assert_cmpuint (failed, ==, 1); /* names the one that failed */
  g_assert_nonnull (strstr (m, none));
  g_clear_pointer (&m, g_free);
  /* Port 1 on loopback: nothing listens there (it would need root). */
  AnnalsXsource remote_src[] = { { path, NULL, 0, 0 }, { NULL, "127.0.0.1", 1, 1000 } };
  g_assert_cmpint (annals_xdb_open_sources (remote_src, 2, &db, &failed, &m), ==, ANNALS_XSTATUS_UNREACHABLE);
  g_assert_cmpuint (failed, ==, 1);
  g_assert_cmpstr (m, ==, "connection refused"); /* the cause alone: the caller names it */
  g_clear_pointer (&m, g_free);
  g_assert_null (db);
  g_assert_cmpint (annals_xdb_open_sources (remote_src, 1, &db, &failed, NULL), ==, ANNALS_XSTATUS_OK);
  g_assert_cmpuint (failed, ==, 1); /* none failed: count */
  g_clear_pointer (&db, annals_xdb_free);

  g_test_message ("damaged");
  test_util_garble_glass (path, "postlist");
  g_assert_cmpint (annals_xdb_open_readonly (paths, 1, &db, NULL), ==, ANNALS_XSTATUS_OK);
  g_assert_cmpint (annals_xdb_get_metadata (db, "annals:indexed", &m, NULL), ==, ANNALS_XSTATUS_CORRUPT);
  AnnalsXsearch all = { .fields = fields, .n_fields = 1, .limit = 10, .max_expansion = 10 };
  g_assert_cmpint (annals_xdb_search (db, "common", &all, TRUE, &xr, NULL), ==, ANNALS_XSTATUS_CORRUPT);
  g_assert_cmpint (annals_xdb_search_term (db, "Kpolicy", &all, FALSE, &xr, NULL), ==, ANNALS_XSTATUS_CORRUPT);
  g_assert_cmpint (annals_xdb_search_more (db, "common", &all, &more, &xr, NULL), ==, ANNALS_XSTATUS_CORRUPT);
  guint seen = 0;
  g_assert_cmpint (annals_xdb_each_with_term (db, "Kpolicy", count_one, &seen, NULL), ==, ANNALS_XSTATUS_CORRUPT);
  /* (Not annals_xdb_compact: Xapian 1.4 leaks its tables when a
   * compaction of a damaged database throws, which LeakSanitizer fails.) */
  annals_xdb_free (db);
  db = NULL;
  g_assert_cmpint (annals_xdb_open_writable (path, FALSE, &db, NULL), ==, ANNALS_XSTATUS_OK);
  g_assert_cmpint (annals_xdb_get_metadata (db, "annals:indexed", &m, NULL), ==, ANNALS_XSTATUS_CORRUPT);
  annals_xdb_free (db);
}

/* The document data: one encoder beside the parser, fields in order,
 * tabs and line ends in a field turned into spaces so it parses back. */
static void
test_summary_encode (void)
{
  AnnalsIndexSummary in = { .list = "policy",
                            .number = 7,
                            .hdr.date = 1618846131,
                            .receipt = -5,
                            .thread = "3",
                            .hdr.message_id = "a@x",
                            .parent = "",
                            .hdr.from = "A\tB <a@x>",
                            .hdr.subject = "line\r\nbreak" };
  g_autofree char *data = annals_index_summary_encode (&in);
  g_assert_cmpstr (data, ==, "policy\t7\t1618846131\t-5\t3\ta@x\t\tA B <a@x>\tline  break");
  g_auto (AnnalsIndexSummary) out = { 0 };
  g_assert_true (annals_index_summary_parse (data, strlen (data), &out));
  g_assert_cmpstr (out.list, ==, "policy");
  g_assert_cmpuint (out.number, ==, 7);
  g_assert_cmpint (out.hdr.date, ==, 1618846131);
  g_assert_cmpint (out.receipt, ==, -5);
  g_assert_cmpstr (out.thread, ==, "3");
  g_assert_cmpstr (out.hdr.message_id, ==, "a@x");
  g_assert_cmpstr (out.parent, ==, "");
  g_assert_cmpstr (out.hdr.from, ==, "A B <a@x>");
  g_assert_cmpstr (out.hdr.subject, ==, "line  break");
  /* Absent strings are empty fields. */
  AnnalsIndexSummary empty = { 0 };
  g_autofree char *none = annals_index_summary_encode (&empty);
  g_assert_cmpstr (none, ==, "\t0\t0\t0\t\t\t\t\t");
}

/* "list:number" of each hit of a newest-first query over dirs, comma-separated. */
static char *
newest (const char *const *dirs, guint n_dirs, const char *query, guint64 offset, guint64 limit, gboolean threads)
{
  AnnalsQueryOptions o = { offset, limit, FALSE, threads, FALSE };
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r = annals_query_run (dirs, n_dirs, query, &o, &error);
  g_assert_no_error (error);
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *h = &g_array_index (r->hits, AnnalsIndexSummary, i);
    g_string_append_printf (s, "%s%s:%" G_GUINT64_FORMAT, i ? "," : "", h->list, h->number);
  }
  return g_string_free (s, FALSE);
}

/* Newest first is arrival order (the store's numbers, descending), so a
 * page is the first matches in document order and the search stops there
 * (doc/search.md): a Date: earlier than a later arrival's does not move
 * a message down. */
static void
test_newest_first_arrival (Fixture *f, gconstpointer data)
{
  const Msg msgs[] = {
    { "n1@x", NULL, NULL, NULL, "walrus one" },
    { "n2@x", NULL, NULL, NULL, "walrus two" },
    { "n3@x", NULL, NULL, NULL, "walrus three" },
    { "n4@x", NULL, NULL, NULL, "other" },
  };
  /* Arrivals 0..3 carry Dates April 3, 1, 4, 2. */
  const guint order[] = { 2, 0, 3, 1 };
  store_add (f, msgs, G_N_ELEMENTS (msgs), order);
  index_now (f, FALSE);
  const char *dirs[] = { f->list_dir };
  g_autofree char *all = newest (dirs, 1, "walrus OR other", 0, 10, FALSE);
  g_assert_cmpstr (all, ==, "policy:3,policy:2,policy:1,policy:0");
  g_autofree char *some = newest (dirs, 1, "walrus", 0, 10, FALSE);
  g_assert_cmpstr (some, ==, "policy:3,policy:1,policy:0");
  g_autofree char *page = newest (dirs, 1, "walrus", 1, 1, FALSE);
  g_assert_cmpstr (page, ==, "policy:1");
  g_autofree char *past = newest (dirs, 1, "walrus", 3, 10, FALSE);
  g_assert_cmpstr (past, ==, "");
}

/* Several lists: each list's arrival order, merged by date; pages of one
 * add up to the whole; threads collapse within a list only (thread ids are
 * per list, so the same id in two lists is two threads). */
static void
test_newest_first_lists (Fixture *f, gconstpointer data)
{
  const Msg a[] = {
    { "a1@x", NULL, NULL, NULL, "walrus a1" },     /* April 1 */
    { "a2@x", "a1@x", "a1@x", NULL, "walrus a2" }, /* April 2, same thread */
    { "a3@x", NULL, NULL, NULL, "walrus a3" },     /* April 3 */
  };
  store_add (f, a, G_N_ELEMENTS (a), NULL);
  index_now (f, FALSE);
  g_autofree char *other = g_build_filename (f->tmp, "other", NULL);
  g_autofree char *other_store = g_build_filename (other, "store", NULL);
  {
    /* April 4 then April 5 (render dates by position). */
    const Msg b[] = { { "skip@x", NULL, NULL, NULL, "x" },
                      { "skip2@x", NULL, NULL, NULL, "x" },
                      { "skip3@x", NULL, NULL, NULL, "x" },
                      { "b1@x", NULL, NULL, NULL, "walrus b1" },
                      { "b2@x", NULL, NULL, NULL, "walrus b2" } };
    const guint order[] = { 4, 3 }; /* b2 arrives first but is dated later */
    char *saved = f->store_dir;
    f->store_dir = other_store;
    store_add (f, b, G_N_ELEMENTS (order), order);
    f->store_dir = saved;
    g_autoptr (GError) error = NULL;
    AnnalsIndexStats stats;
    g_assert_true (annals_index_update (other, "other", FALSE, NULL, NULL, &stats, &error));
  }
  const char *dirs[] = { f->list_dir, other };
  /* other:1 (b1, April 4) arrived after other:0 (b2, April 5): it stays
   * on top within its list, and the lists merge by date after it. */
  g_autofree char *all = newest (dirs, 2, "walrus", 0, 10, FALSE);
  g_assert_cmpstr (all, ==, "other:1,other:0,policy:2,policy:1,policy:0");
  GString *paged = g_string_new (NULL);
  for (guint64 i = 0; i < 6; i++) {
    g_autofree char *one = newest (dirs, 2, "walrus", i, 1, FALSE);
    g_string_append_printf (paged, "%s%s", paged->len && *one ? "," : "", one);
  }
  g_assert_cmpstr (paged->str, ==, all);
  g_string_free (paged, TRUE);
  /* policy:0 and other:0 both head the first thread of their list. */
  g_autofree char *threads = newest (dirs, 2, "walrus", 0, 10, TRUE);
  g_assert_cmpstr (threads, ==, "other:1,other:0,policy:2,policy:1");
}

/* Matches dense in the old messages and sparse in the new: the
 * newest-first search sizes its first window of ids by the average
 * density, finds too few there, and goes on into older, wider windows; a
 * thread already shown from a newer window is not shown again. */
static void
test_newest_first_windows (Fixture *f, gconstpointer data)
{
  guint n = 2100;
  Msg *msgs = g_new0 (Msg, n);
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++) {
    char *id = g_strdup_printf ("w%u@x", i);
    g_ptr_array_add (ids, id);
    msgs[i].id = id;
    msgs[i].body = i < 900 || i == 1000 || i == 2000 ? "walrus" : "filler";
  }
  msgs[2000].irt = msgs[1000].id; /* one thread from window to window */
  store_add (f, msgs, n, NULL);
  index_now (f, FALSE);
  const char *dirs[] = { f->list_dir };
  g_autofree char *top = newest (dirs, 1, "walrus", 0, 3, FALSE);
  g_assert_cmpstr (top, ==, "policy:2000,policy:1000,policy:899");
  g_autofree char *page = newest (dirs, 1, "walrus", 2, 2, FALSE);
  g_assert_cmpstr (page, ==, "policy:899,policy:898");
  g_autofree char *threads = newest (dirs, 1, "walrus", 0, 3, TRUE);
  g_assert_cmpstr (threads, ==, "policy:2000,policy:899,policy:898");
  g_autofree char *all = newest (dirs, 1, "filler", 0, 2, FALSE);
  g_assert_cmpstr (all, ==, "policy:2099,policy:2098");
  g_ptr_array_unref (ids);
  g_free (msgs);
}

/* A newest-first page costs about the page, not the matches: of 3,000
 * messages that all match, the search examines the ones counted exactly
 * (ANNALS_QUERY_EXACT_UP_TO) and a window or two of the newest, not every
 * match (the count alone once walked them all, in descending order). */
static void
test_newest_first_examined (Fixture *f, gconstpointer data)
{
  guint n = 3000, limit = 20;
  Msg *msgs = g_new0 (Msg, n);
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++) {
    char *id = g_strdup_printf ("e%u@x", i);
    g_ptr_array_add (ids, id);
    msgs[i].id = id;
    msgs[i].body = "walrus";
  }
  store_add (f, msgs, n, NULL);
  index_now (f, FALSE);
  const char *dirs[] = { f->list_dir };
  for (int threads = 0; threads < 2; threads++) {
    annals_xdb_count_examined (TRUE);
    g_autofree char *page = newest (dirs, 1, "walrus", 0, limit, threads);
    guint64 examined = annals_xdb_examined ();
    annals_xdb_count_examined (FALSE);
    g_assert_true (g_str_has_prefix (page, "policy:2999,policy:2998,"));
    g_test_message ("threads %d: %" G_GUINT64_FORMAT " documents examined", threads, examined);
    g_assert_cmpuint (examined, <=, ANNALS_QUERY_EXACT_UP_TO + 8 * limit);
    /* Counting fewer exactly, the page alone. */
    g_setenv ("ANNALS_SEARCH_EXACT_UP_TO", "1", TRUE);
    annals_xdb_count_examined (TRUE);
    g_autofree char *again = newest (dirs, 1, "walrus", 0, limit, threads);
    examined = annals_xdb_examined ();
    annals_xdb_count_examined (FALSE);
    g_unsetenv ("ANNALS_SEARCH_EXACT_UP_TO");
    g_assert_cmpstr (again, ==, page);
    g_test_message ("threads %d, exact up to 1: %" G_GUINT64_FORMAT " documents examined", threads, examined);
    g_assert_cmpuint (examined, <=, 8 * limit);
  }
  g_ptr_array_unref (ids);
  g_free (msgs);
}

/* Stems as the index and queries make them (English, then French),
 * through the per-thread stem cache: a word asked again, or after other
 * words, gets its own stem, not the last one or a neighbour's. */
static void
test_stem_cache (void)
{
  static const struct {
    const char *word, *stem;
  } words[] = {
    { "running", "run" },
    { "cats", "cat" },
    { "running", "run" },
    { "routers", "rout" },
    { "routing", "rout" },
    { "cats", "cat" },
    { "runs", "run" },
    { "run", "run" },
    { "r\xc3\xa9seaux", "r\xc3\xa9seau" },
    { "policies", "polic" },
    { "nationalisation", "national" },
    { "generously", "generous" },
  };
  for (guint round = 0; round < 2; round++)
    for (guint i = 0; i < G_N_ELEMENTS (words); i++) {
      g_autofree char *stem = NULL, *m = NULL;
      g_assert_cmpint (annals_xstem (words[i].word, &stem, &m), ==, ANNALS_XSTATUS_OK);
      g_test_message ("%s -> %s", words[i].word, stem);
      g_assert_cmpstr (stem, ==, words[i].stem);
    }
  g_assert_cmpuint (annals_xstem_cached (), >=, 10);
}

/* The cache is bounded: past 100,000 words it starts again, and the
 * stems stay right across the clearing.  In its own thread, so the count
 * starts from 0. */
static gpointer
stem_many (gpointer data)
{
  g_autofree char *stem = NULL;
  g_assert_cmpint (annals_xstem ("running", &stem, NULL), ==, ANNALS_XSTATUS_OK);
  g_assert_cmpstr (stem, ==, "run");
  guint most = 0;
  for (guint i = 0; i < 150000; i++) {
    char word[16];
    g_snprintf (word, sizeof word, "w%u", i);
    g_autofree char *s = NULL;
    g_assert_cmpint (annals_xstem (word, &s, NULL), ==, ANNALS_XSTATUS_OK);
    g_assert_cmpstr (s, ==, word); /* digits: no suffix to strip */
    most = MAX (most, annals_xstem_cached ());
  }
  g_test_message ("at most %u words cached, %u at the end", most, annals_xstem_cached ());
  g_assert_cmpuint (most, ==, 100000);
  g_assert_cmpuint (annals_xstem_cached (), <, 100000);
  g_clear_pointer (&stem, g_free);
  g_assert_cmpint (annals_xstem ("running", &stem, NULL), ==, ANNALS_XSTATUS_OK);
  g_assert_cmpstr (stem, ==, "run");
  return NULL;
}

static void
test_stem_cache_bound (void)
{
  g_thread_join (g_thread_new ("stem", stem_many, NULL));
}

/* Chinese and Japanese run words together without spaces: each run is
 * indexed as its characters and their pairs (Xapian's CJK n-grams), so
 * a word inside a sentence is found, in new and quoted text alike. */
static void
test_cjk (Fixture *f, gconstpointer data)
{
  (void) data;
  const char *utf8 = "Content-Type: text/plain; charset=utf-8\nMIME-Version: 1.0\n";
  const Msg msgs[] = {
    { "cjk1@x", NULL, NULL, utf8, "東京で会議を開きます。予算は未定です。\n> 前回の議事録を添付します\n" },
    { "cjk2@x", NULL, NULL, utf8, "大阪の天気は晴れです。" },
    { "cjk3@x", NULL, NULL, utf8, "我们讨论了预算问题。" },
  };
  store_add (f, msgs, G_N_ELEMENTS (msgs), NULL);
  index_now (f, FALSE);
  g_assert_cmpuint (count (f, "会議"), ==, 1);
  g_assert_cmpuint (count (f, "予算"), ==, 1);
  g_assert_cmpuint (count (f, "東京"), ==, 1);
  g_assert_cmpuint (count (f, "天気"), ==, 1);
  g_assert_cmpuint (count (f, "预算"), ==, 1);
  g_assert_cmpuint (count (f, "会議 予算"), ==, 1);
  g_assert_cmpuint (count (f, "会議 天気"), ==, 0);
  g_assert_cmpuint (count (f, "b:天気 OR b:预算"), ==, 2);
  g_assert_cmpuint (count (f, "q:議事録"), ==, 1);
  g_assert_cmpuint (count (f, "b:議事録"), ==, 1);
  g_assert_cmpuint (count (f, "議事録"), ==, 0); /* quoted text is not in the default field */
  g_assert_cmpuint (count (f, "\"会議を開\""), ==, 1);
  g_assert_cmpuint (count (f, "\"会議は開\""), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("Threads, incremental indexing and the query language");
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  /* The same tests over an index of three shards (doc/index-format.md). */
#define ADD_SHARDED(module, path, fn)                                                                                  \
  do {                                                                                                                 \
    ADD ("/" module path, fn);                                                                                         \
    g_test_add ("/" module "/sharded" path, Fixture, GUINT_TO_POINTER (3), fixture_setup, fn, fixture_teardown);       \
  } while (0)
  ADD_SHARDED ("index", "/threads/ghosts-and-late-parent", test_ghosts_and_late_parent);
  ADD_SHARDED ("index", "/threads/merge", test_merge);
  ADD_SHARDED ("index", "/threads/subject", test_subject_threads);
  ADD_SHARDED ("index", "/threads/subject-late", test_subject_threads_late);
  ADD_SHARDED ("index", "/threads/loops-and-long-chains", test_loops_and_long_chains);
  ADD_SHARDED ("index", "/threads/duplicate-message-ids", test_duplicate_ids);
  ADD_SHARDED ("index", "/threads/arrival-order", test_arrival_order);
  ADD_SHARDED ("index", "/incremental-and-rebuild", test_incremental);
  ADD_SHARDED ("index", "/redaction", test_redaction);
  ADD_SHARDED ("index", "/compact/bulk", test_compact_bulk);
  ADD_SHARDED ("index", "/quoted/stems-only", test_quoted_stems);
  ADD ("/index/message-id-term/threshold", test_message_id_term);
  ADD ("/index/thread-key/sha256", test_thread_key);
  ADD_SHARDED ("search", "/query-language", test_query_language);
  ADD_SHARDED ("search", "/cjk", test_cjk);
  ADD_SHARDED ("search", "/newest-first/arrival-order", test_newest_first_arrival);
  ADD_SHARDED ("search", "/newest-first/lists", test_newest_first_lists);
  ADD_SHARDED ("search", "/newest-first/windows", test_newest_first_windows);
  ADD ("/search/newest-first/examined", test_newest_first_examined);
  ADD ("/index/shim/statuses", test_shim_statuses);
  g_test_add_func ("/index/stem/cache/same-stems", test_stem_cache);
  g_test_add_func ("/index/stem/cache/bound", test_stem_cache_bound);
  g_test_add_func ("/index/summary/encode", test_summary_encode);
  return g_test_run ();
}
