/* The index on the shared corpus: every message decodes and indexes
 * (under ASan in CI), threads and search results are the same after
 * --rebuild and when the corpus arrives in ten slices. */
#include "indexer/index.h"
#include "core/mbox.h"
#include "search/query.h"
#include "core/store.h"
#include "tests/test-run.h"
#include "tests/test-util.h"
#include "indexer/xapian-shim.h"

#include <string.h>

static const char *const queries[] = {
  "patch",
  "rust",
  "\"code of conduct\"",
  "f:torvalds",
  "s:regression",
  "d:2021-03-01..2021-03-31",
  "kernel AND maintainer",
  "b:uefi OR b:bmc",
  "nq:thanks -ack",
  "n:*.log",
  "usrp*",
  "d:..2021-01-15",
};

static void
free_gstring (gpointer s)
{
  g_string_free (s, TRUE);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* "list:number thread-members..." lines, and each query's hits. */
static char *
snapshot (const char *root, char **lists)
{
  GString *out = g_string_new (NULL);
  for (char **l = lists; *l; l++) {
    g_autofree char *list_dir = g_build_filename (root, *l, NULL);
    /* All its shards: together their documents have the ids of one
     * index, message number + 1. */
    g_autoptr (GError) error = NULL;
    g_autoptr (GArray) shards = annals_index_reader_shards (list_dir, &error);
    g_assert_no_error (error);
    g_autoptr (GPtrArray) paths = g_ptr_array_new ();
    for (guint k = 0; k < shards->len; k++)
      g_ptr_array_add (paths, g_array_index (shards, AnnalsIndexShard, k).path);
    AnnalsXdb *db = NULL;
    g_assert_cmpint (annals_xdb_open_readonly ((const char *const *) paths->pdata, paths->len, &db, NULL), ==,
                     ANNALS_XSTATUS_OK);
    /* Group numbers by thread; name each group by its smallest number. */
    g_autoptr (GHashTable) groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, free_gstring);
    guint64 docs = 0;
    g_assert_cmpint (annals_xdb_doc_count (db, &docs, NULL), ==, ANNALS_XSTATUS_OK);
    guint64 seen = 0;
    for (guint64 d = 1; seen < docs && d < 1000000; d++) {
      AnnalsXdoc *doc = NULL;
      AnnalsXstatus st = annals_xdb_get (db, d, &doc, NULL);
      if (st == ANNALS_XSTATUS_NOT_FOUND)
        continue;
      g_assert_cmpint (st, ==, ANNALS_XSTATUS_OK);
      seen++;
      gsize len;
      g_autofree char *data = NULL;
      g_assert_cmpint (annals_xdoc_get_data (doc, &data, &len, NULL), ==, ANNALS_XSTATUS_OK);
      g_auto (AnnalsIndexSummary) s = { 0 };
      g_assert_true (annals_index_summary_parse (data, len, &s));
      g_assert_cmpuint (s.number + 1, ==, d);
      GString *g = g_hash_table_lookup (groups, s.thread);
      if (g == NULL) {
        g = g_string_new (NULL);
        g_hash_table_insert (groups, g_strdup (s.thread), g);
      }
      g_string_append_printf (g, " %" G_GUINT64_FORMAT, s.number);
      annals_xdoc_free (doc);
    }
    annals_xdb_free (db);
    g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init (&it, groups);
    while (g_hash_table_iter_next (&it, NULL, &v))
      g_ptr_array_add (lines, g_strdup_printf ("%s:%s", *l, ((GString *) v)->str));
    g_ptr_array_sort (lines, compare_strings);
    g_test_message ("%s: %u documents in %u threads", *l, (guint) docs, lines->len);
    for (guint i = 0; i < lines->len; i++) {
      g_string_append (out, lines->pdata[i]);
      g_string_append_c (out, '\n');
    }
  }
  /* Thread lines come out of hash tables: sort them all. */
  g_auto (GStrv) all = g_strsplit (out->str, "\n", -1);
  g_string_free (out, TRUE);
  g_autoptr (GPtrArray) arr = g_ptr_array_new ();
  for (char **x = all; *x; x++)
    if (**x)
      g_ptr_array_add (arr, *x);
  g_ptr_array_sort (arr, compare_strings);
  GString *sorted = g_string_new (NULL);
  for (guint i = 0; i < arr->len; i++)
    g_string_append_printf (sorted, "%s\n", (char *) arr->pdata[i]);
  /* Search results. */
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  for (char **l = lists; *l; l++)
    g_ptr_array_add (dirs, g_build_filename (root, *l, NULL));
  for (guint q = 0; q < G_N_ELEMENTS (queries); q++) {
    AnnalsQueryOptions o = { 0, 50, FALSE, FALSE, TRUE };
    g_autoptr (GError) error = NULL;
    g_autoptr (AnnalsQueryResults) r
        = annals_query_run ((const char *const *) dirs->pdata, dirs->len, queries[q], &o, &error);
    g_assert_no_error (error);
    g_string_append_printf (sorted, "%s -> %" G_GUINT64_FORMAT ":", queries[q], r->count);
    for (guint i = 0; i < r->hits->len; i++) {
      AnnalsIndexSummary *s = &g_array_index (r->hits, AnnalsIndexSummary, i);
      g_string_append_printf (sorted, " %s:%" G_GUINT64_FORMAT, s->list, s->number);
    }
    g_string_append_c (sorted, '\n');
    g_test_message ("%s -> %" G_GUINT64_FORMAT, queries[q], r->count);
  }
  return g_string_free (sorted, FALSE);
}

static void
test_corpus_index (void)
{
  const char *corpus = g_getenv ("ANNALS_CORPUS");
  if (corpus == NULL || !g_file_test (corpus, G_FILE_TEST_IS_DIR)) {
    g_test_skip ("../shared/corpus is absent: the corpus index test needs it");
    return;
  }
  g_autofree char *tmp = test_util_tmpdir ();
  g_autofree char *one = g_build_filename (tmp, "one", NULL);
  g_autofree char *sliced = g_build_filename (tmp, "sliced", NULL);
  assert_ok (run (one, "init"));
  assert_ok (run (sliced, "init"));
  g_autoptr (GPtrArray) lists = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) d = g_dir_open (corpus, 0, NULL);
  const char *name;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".mbox.xz"))
      g_ptr_array_add (names, g_strdup (name));
  g_assert_cmpuint (names->len, ==, 4);
  for (guint i = 0; i < names->len; i++) {
    name = names->pdata[i];
    char *list = g_strndup (name, strlen (name) - strlen (".mbox.xz"));
    g_ptr_array_add (lists, list);
    g_autofree char *xz = g_build_filename (corpus, name, NULL);
    g_autofree char *mbox = g_build_filename (tmp, "in.mbox", NULL);
    g_autofree char *cmd = g_strdup_printf ("xz -dc '%s' > '%s'", xz, mbox);
    g_assert_cmpint (system (cmd), ==, 0);
    /* One pass: ingest (which indexes). */
    assert_ok (run (one, "list-add", list));
    assert_ok (run (one, "ingest", list, "--quiet", mbox));
    /* Ten slices, each ingested and indexed on its own. */
    assert_ok (run (sliced, "list-add", list));
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true (g_file_get_contents (mbox, &data, &len, NULL));
    GPtrArray *starts = g_ptr_array_new ();
    AnnalsMboxSplitter sp;
    annals_mbox_splitter_init (&sp, ANNALS_MBOX_RD);
    gsize pos = 0;
    while (pos < len) {
      AnnalsMboxSpan span;
      if (annals_mbox_splitter_next (&sp, (guint8 *) data + pos, len - pos, TRUE, &span) != ANNALS_MBOX_MESSAGE)
        break;
      g_ptr_array_add (starts, GSIZE_TO_POINTER (pos));
      pos += span.consumed;
    }
    guint n = starts->len;
    for (guint s = 0; s < 10; s++) {
      gsize from = GPOINTER_TO_SIZE (starts->pdata[n * s / 10]);
      gsize to = s == 9 ? len : GPOINTER_TO_SIZE (starts->pdata[n * (s + 1) / 10]);
      assert_ok (run_full (sliced, data + from, to - from, NULL, "ingest", list, "--quiet", NULL));
    }
    g_ptr_array_unref (starts);
  }
  g_ptr_array_add (lists, NULL);
  g_autofree char *a = snapshot (one, (char **) lists->pdata);
  assert_ok (run (one, "index", "--rebuild", "--quiet"));
  g_autofree char *b = snapshot (one, (char **) lists->pdata);
  g_assert_cmpstr (a, ==, b);
  g_autofree char *c = snapshot (sliced, (char **) lists->pdata);
  g_assert_cmpstr (a, ==, c);
  /* Three shards per list: the same threads, hits and order; and the
   * sliced archive, indexed as it came, once annals.conf asks for three. */
  for (char **l = (char **) lists->pdata; *l; l++)
    assert_ok (run (one, "index", "--rebuild", "--shards", "3", "--quiet", *l));
  g_autofree char *d3 = snapshot (one, (char **) lists->pdata);
  g_assert_cmpstr (a, ==, d3);
  test_util_rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The shared corpus: index, rebuild, ten slices and three shards agree");
  g_test_add_func ("/corpus/index/rebuild-and-slices", test_corpus_index);
  return g_test_run ();
}
