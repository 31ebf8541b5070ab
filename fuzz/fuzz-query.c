/* Fuzz target: the query language, from the raw string to Xapian's
 * parser and a search of a small index: no crash, every refusal is a
 * clear error. */
#include "indexer/index.h"
#include "search/query.h"
#include "core/fsutil.h"
#include "core/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char *list_dir;
static char *tmp_dir;

static void
remove_index (void)
{
  annals_fs_remove_tree (tmp_dir, NULL);
}

static void
make_index (void)
{
  char *tmp = g_dir_make_tmp ("annals-fuzz-query-XXXXXX", NULL);
  g_assert_nonnull (tmp);
  tmp_dir = g_strdup (tmp);
  atexit (remove_index);
  list_dir = g_build_filename (tmp, "l", NULL);
  g_autofree char *store = g_build_filename (list_dir, "store", NULL);
  AnnalsStoreWriter *w = annals_store_writer_open (store, 1000, NULL);
  g_assert_nonnull (w);
  const char *msgs[] = {
    "Message-ID: <a@x>\nFrom: Ann <ann@example.org>\nSubject: policy review\nDate: Mon, 1 Feb 2021 10:00:00 +0000\n\n"
    "the routing policy\n> quoted réseau\n",
    "Message-ID: <b@x>\nIn-Reply-To: <a@x>\nFrom: Bob <bob@example.org>\nSubject: Re: policy review\n\nagreed\n",
  };
  for (guint i = 0; i < G_N_ELEMENTS (msgs); i++) {
    AnnalsStoreAddResult r;
    g_assert_true (annals_store_writer_add (w, (const guint8 *) msgs[i], strlen (msgs[i]), 1612173600, NULL, &r, NULL));
  }
  g_assert_true (annals_store_writer_commit (w, NULL));
  annals_store_writer_free (w);
  AnnalsIndexStats stats;
  g_assert_true (annals_index_update (list_dir, "l", FALSE, NULL, NULL, &stats, NULL));
  g_free (tmp);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (list_dir == NULL)
    make_index ();
  g_autofree char *q = g_strndup ((const char *) data, size);
  const char *dirs[] = { list_dir };
  AnnalsQueryOptions o = { 0, 5, size % 2 == 0, size % 3 == 0, size % 5 == 0 };
  GError *error = NULL;
  AnnalsQueryResults *r = annals_query_run (dirs, 1, q, &o, &error);
  if (r == NULL) {
    g_assert_nonnull (error);
    g_assert_true (g_utf8_validate (error->message, -1, NULL));
    g_error_free (error);
  } else {
    g_assert_null (error);
    annals_query_results_free (r);
  }
  return 0;
}
