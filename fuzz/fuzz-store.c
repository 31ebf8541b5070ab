/* Fuzz target: the store round trip (systemd's fuzz-compress pattern).
 * The input is cut into messages at 0xff bytes; each is archived and
 * must read back byte for byte, and a re-add must be a duplicate. */
#include "core/fsutil.h"
#include "core/store.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *tmp = g_dir_make_tmp ("annals-fuzz-XXXXXX", NULL);
  g_assert_nonnull (tmp);
  g_autofree char *dir = g_build_filename (tmp, "store", NULL);
  g_autoptr (GError) error = NULL;
  AnnalsStoreWriter *w = annals_store_writer_open (dir, 1000, &error);
  g_assert_no_error (error);
  annals_store_writer_set_pack_limit (w, 4096);
  g_autoptr (GArray) numbers = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  gsize start = 0;
  for (gsize i = 0; i <= size; i++) {
    if (i < size && data[i] != 0xff)
      continue;
    AnnalsStoreAddResult r;
    g_assert_true (annals_store_writer_add (w, data + start, i - start, 1,
                                            i % 2 ? "From fuzz Thu Jan  1 00:00:00 1970" : NULL, &r, &error));
    g_assert_no_error (error);
    g_array_append_val (numbers, r.number);
    g_ptr_array_add (parts, g_bytes_new (data + start, i - start));
    start = i + 1;
  }
  g_assert_true (annals_store_writer_commit (w, &error));
  annals_store_writer_free (w);
  AnnalsStore *s = annals_store_open (dir, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < parts->len; i++) {
    GBytes *got = annals_store_read (s, g_array_index (numbers, guint64, i), NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_bytes_equal (got, parts->pdata[i]));
    g_bytes_unref (got);
  }
  annals_store_free (s);
  annals_fs_remove_tree (tmp, NULL);
  return 0;
}
