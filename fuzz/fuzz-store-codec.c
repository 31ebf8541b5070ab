/* Fuzz target: the store's codecs on their own (core/store-codec.c).
 * The input is decoded as an offsets entry, a record header and a meta
 * record; whatever decodes must encode back to the same bytes, so a
 * decoder never accepts what the encoder cannot write. */
#include "core/store-private.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size >= ENTRY_SIZE) {
    Entry e;
    if (annals_store_entry_decode (data, &e)) {
      guint8 out[ENTRY_SIZE];
      annals_store_entry_encode (&e, out);
      g_assert_cmpmem (out, sizeof out, data, ENTRY_SIZE);
    }
  }
  if (size >= RECORD_HEADER_SIZE) {
    AnnalsStoreRecord r;
    guint32 crc;
    guint32 type = annals_store_record_decode (data, &r, &crc);
    if (type != 0) {
      guint8 out[RECORD_HEADER_SIZE];
      annals_store_record_encode (out, type, &r, crc);
      g_assert_cmpmem (out, sizeof out, data, RECORD_HEADER_SIZE);
    }
  }
  g_autoptr (AnnalsStoreMeta) m = annals_store_meta_decode (data, size);
  if (m != NULL) {
    char **slots[META_STRINGS];
    const char *strings[META_STRINGS];
    annals_store_meta_slots (m, slots);
    for (guint i = 0; i < META_STRINGS; i++)
      strings[i] = *slots[i];
    /* An eleventh string is the padding of a scrubbed record. */
    gsize pad_to = get32 (data + 36) == META_STRINGS + 1 ? size : 0;
    g_autoptr (GByteArray) out
        = annals_store_meta_encode_fields (m->number, m->flags, m->hdr.date, m->receipt, strings, pad_to);
    g_assert_cmpmem (out->data, out->len, data, size);
  }
  return 0;
}
