/* Fuzz target: the mbox splitter, every variant, whole and in pieces;
 * and mboxrd written by annals must split back to the same messages. */
#include "core/mbox.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
split_all (const guint8 *data, gsize size, AnnalsMboxVariant variant, gsize chunk, GPtrArray *out)
{
  AnnalsMboxSplitter s;
  annals_mbox_splitter_init (&s, variant == ANNALS_MBOX_AUTO ? annals_mbox_detect (data, size) : variant);
  gsize start = 0, avail = chunk ? MIN (chunk, size) : size;
  for (guint guard = 0; guard < 1000000; guard++) {
    gboolean eof = avail == size;
    AnnalsMboxSpan span;
    AnnalsMboxStatus st = annals_mbox_splitter_next (&s, data + start, avail - start, eof, &span);
    if (st == ANNALS_MBOX_NEED_MORE) {
      g_assert_false (eof);
      avail = MIN (avail + chunk, size);
      continue;
    }
    if (st != ANNALS_MBOX_MESSAGE)
      return;
    g_assert_cmpuint (span.consumed, >, 0);
    g_assert_cmpuint (span.consumed, <=, avail - start);
    GBytes *un = annals_mbox_unescape (s.variant, span.body, span.body_length);
    if (out != NULL)
      g_ptr_array_add (out, un ? un : g_bytes_new (span.body, span.body_length));
    else if (un != NULL)
      g_bytes_unref (un);
    start += span.consumed;
    if (start == size)
      return;
  }
  g_assert_not_reached ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  for (int v = ANNALS_MBOX_AUTO; v <= ANNALS_MBOX_PIPERMAIL; v++)
    split_all (data, size, (AnnalsMboxVariant) v, 0, NULL);
  g_autoptr (GPtrArray) whole = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr (GPtrArray) pieces = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  split_all (data, size, ANNALS_MBOX_RD, 0, whole);
  split_all (data, size, ANNALS_MBOX_RD, 7, pieces);
  g_assert_cmpuint (whole->len, ==, pieces->len);
  for (guint i = 0; i < whole->len; i++)
    g_assert_true (g_bytes_equal (whole->pdata[i], pieces->pdata[i]));

  /* Round trip through the mboxrd writer. */
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GPtrArray) kept = g_ptr_array_new ();
  for (guint i = 0; i < whole->len; i++) {
    gsize len;
    const guint8 *m = g_bytes_get_data (whole->pdata[i], &len);
    /* Only messages that end with a newline survive mboxrd exactly. */
    if (len == 0 || m[len - 1] != '\n' || m[0] == '\n' || m[0] == '\r')
      continue;
    annals_mbox_append_mboxrd (out, NULL, "fuzz@example.org", 0, m, len);
    g_ptr_array_add (kept, whole->pdata[i]);
  }
  g_autoptr (GPtrArray) again = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  split_all ((const guint8 *) out->str, out->len, ANNALS_MBOX_RD, 0, again);
  g_assert_cmpuint (again->len, ==, kept->len);
  for (guint i = 0; i < kept->len; i++)
    g_assert_true (g_bytes_equal (again->pdata[i], kept->pdata[i]));
  return 0;
}
