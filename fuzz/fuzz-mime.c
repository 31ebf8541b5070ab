/* Fuzz target: MIME decoding (the iterative walk, transfer encodings,
 * charsets, HTML): no crash, and all text is valid UTF-8. */
#include "core/mime.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GPtrArray) parts = annals_mime_parts (data, size);
  g_assert_cmpuint (parts->len, <=, ANNALS_MIME_MAX_PARTS);
  for (guint i = 0; i < parts->len; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    g_assert_cmpuint (p->depth, <=, ANNALS_MIME_MAX_DEPTH);
    if (p->text != NULL)
      g_assert_true (g_utf8_validate (p->text, -1, NULL));
    if (p->filename != NULL)
      g_assert_true (g_utf8_validate (p->filename, -1, NULL));
    g_autoptr (GBytes) decoded = annals_mime_part_decode (p);
    g_assert_nonnull (decoded);
  }
  return 0;
}
