/* store codecs: the byte layout of offsets entries, record headers and
 * meta records (doc/store-format.md), without any I/O. */
#include "core/store-private.h"
#include "core/zcodec.h"

#include <gnutls/crypto.h>
#include <sodium.h>
#include <string.h>

void
annals_store_entry_encode (const Entry *e, guint8 out[ENTRY_SIZE])
{
  put32 (out, e->pack);
  put32 (out + 4, e->flags);
  put64 (out + 8, e->pack_offset);
  put64 (out + 16, e->meta_offset);
  put64 (out + 24, e->msgid_hash);
  memcpy (out + 32, e->sha_prefix, 8);
  put32 (out + 40, e->meta_length);
  put32 (out + 44, annals_zcodec_crc32 (0, out, 44));
}

gboolean
annals_store_entry_decode (const guint8 in[ENTRY_SIZE], Entry *e)
{
  if (get32 (in + 44) != annals_zcodec_crc32 (0, in, 44))
    return FALSE;
  e->pack = get32 (in);
  e->flags = get32 (in + 4);
  e->pack_offset = get64 (in + 8);
  e->meta_offset = get64 (in + 16);
  e->msgid_hash = get64 (in + 24);
  memcpy (e->sha_prefix, in + 32, 8);
  e->meta_length = get32 (in + 40);
  return TRUE;
}

void
annals_store_record_encode (guint8 out[RECORD_HEADER_SIZE], guint32 type, const AnnalsStoreRecord *r,
                            guint32 payload_crc)
{
  put32 (out, RECORD_MAGIC);
  put32 (out + 4, type);
  put64 (out + 8, r->number);
  put64 (out + 16, (guint64) r->receipt);
  put64 (out + 24, r->raw_size);
  put32 (out + 32, r->stored_size);
  put32 (out + 36, r->dict);
  put32 (out + 40, r->flags);
  put32 (out + 44, payload_crc);
  memcpy (out + 48, r->sha256, 32);
  put32 (out + 80, r->envelope_length);
  put32 (out + 84, annals_zcodec_crc32 (0, out, 84));
}

/* Returns the record type, or 0 when the header is not a whole record header. */
guint32
annals_store_record_decode (const guint8 in[RECORD_HEADER_SIZE], AnnalsStoreRecord *r, guint32 *payload_crc)
{
  if (get32 (in) != RECORD_MAGIC || get32 (in + 84) != annals_zcodec_crc32 (0, in, 84))
    return 0;
  r->number = get64 (in + 8);
  r->receipt = (gint64) get64 (in + 16);
  r->raw_size = get64 (in + 24);
  r->stored_size = get32 (in + 32);
  r->dict = get32 (in + 36);
  r->flags = get32 (in + 40);
  *payload_crc = get32 (in + 44);
  memcpy (r->sha256, in + 48, 32);
  r->envelope_length = get32 (in + 80);
  if (r->envelope_length > MAX_ENVELOPE)
    return 0;
  r->type = (AnnalsStoreRecordType) get32 (in + 4);
  return get32 (in + 4);
}

guint64
annals_store_msgid_hash (const char *message_id)
{
  guint8 digest[32];
  annals_store_sha256 ((const guint8 *) message_id, strlen (message_id), digest, NULL);
  return get64 (digest);
}

void
annals_store_sha256 (const guint8 *data, gsize len, guint8 out[32], char hex[65])
{
  /* GnuTLS goes through nettle, which uses the CPU's SHA instructions
   * (SHA-NI, ARMv8 SHA2) where there are some: 6x libsodium's portable C.
   * It fails only without memory or with SHA-256 disabled; libsodium then
   * gives the same digest. */
  if (gnutls_hash_fast (GNUTLS_DIG_SHA256, data, len, out) < 0)
    crypto_hash_sha256 (out, data, len);
  if (hex != NULL)
    sodium_bin2hex (hex, 65, out, 32);
}

void
annals_store_meta_free (AnnalsStoreMeta *meta)
{
  if (meta == NULL)
    return;
  g_free (meta->envelope);
  annals_message_header_clear (&meta->hdr);
  g_free (meta);
}

void
annals_store_meta_slots (AnnalsStoreMeta *m, char **slots[META_STRINGS])
{
  char **all[META_STRINGS] = {
    &m->envelope,      &m->hdr.message_id, &m->hdr.in_reply_to, &m->hdr.references, &m->hdr.from,
    &m->hdr.from_addr, &m->hdr.to,         &m->hdr.cc,          &m->hdr.subject,    &m->hdr.list_id,
  };
  memcpy (slots, all, sizeof all);
}

/* Meta record: u32 body length, u32 body CRC, body: u64 number, i64 date,
 * i64 receipt, u32 flags, u32 string count, then each string as u32
 * length + bytes (length 0: absent).  The count is 10, or 11 when an
 * eleventh string of zero bytes pads a scrubbed record to its old length. */
GByteArray *
annals_store_meta_encode_fields (guint64 number, guint32 flags, gint64 date, gint64 receipt,
                                 const char *const strings[META_STRINGS], gsize pad_to)
{
  GByteArray *b = g_byte_array_sized_new (MAX (pad_to, 256));
  guint8 fixed[8 + 36];
  memset (fixed, 0, 8);
  put64 (fixed + 8, number);
  put64 (fixed + 16, (guint64) date);
  put64 (fixed + 24, (guint64) receipt);
  put32 (fixed + 32, flags);
  put32 (fixed + 36, pad_to > 0 ? META_STRINGS + 1 : META_STRINGS);
  g_byte_array_append (b, fixed, 40);
  for (guint i = 0; i < META_STRINGS; i++) {
    guint32 len = strings[i] ? (guint32) MIN (strlen (strings[i]), 65535) : 0;
    guint8 l[4];
    put32 (l, len);
    g_byte_array_append (b, l, 4);
    if (len > 0)
      g_byte_array_append (b, (const guint8 *) strings[i], len);
  }
  if (pad_to > 0) {
    g_assert (pad_to >= b->len + 4);
    guint8 l[4];
    put32 (l, (guint32) (pad_to - b->len - 4));
    g_byte_array_append (b, l, 4);
    gsize at = b->len;
    g_byte_array_set_size (b, (guint) pad_to);
    memset (b->data + at, 0, pad_to - at);
  }
  put32 (b->data, b->len - 8);
  put32 (b->data + 4, annals_zcodec_crc32 (0, b->data + 8, b->len - 8));
  return b;
}

GByteArray *
annals_store_meta_encode (guint64 number, guint32 flags, gint64 receipt, const char *envelope,
                          const AnnalsMessageHeader *hdr)
{
  const char *strings[META_STRINGS] = {
    envelope,       hdr->message_id, hdr->in_reply_to, hdr->references, hdr->from,
    hdr->from_addr, hdr->to,         hdr->cc,          hdr->subject,    hdr->list_id,
  };
  return annals_store_meta_encode_fields (number, flags, hdr->date, receipt, strings, 0);
}

GByteArray *
annals_store_meta_encode_scrubbed (guint64 number, guint32 flags, gint64 receipt, const char *message_id, gsize total)
{
  const gsize fixed = 40 + META_STRINGS * 4; /* the record with every string absent */
  if (total <= fixed)
    return NULL;
  gsize room = total - fixed;
  gsize idlen = MIN (strlen (message_id), room);
  gsize pad_to = 0;
  g_autofree char *id = NULL;
  if (idlen < room) {
    if (room - idlen >= 4 || room > 4) {
      /* The rest is an eleventh string, whose length takes 4 bytes. */
      idlen = MIN (idlen, room - 4);
      pad_to = total;
    }
    /* else no room for both: the id is padded with spaces to fill it. */
  }
  id = g_strnfill (pad_to > 0 ? idlen : room, ' ');
  memcpy (id, message_id, idlen);
  const char *strings[META_STRINGS] = { NULL, id };
  return annals_store_meta_encode_fields (number, flags, ANNALS_NO_DATE, receipt, strings, pad_to);
}

AnnalsStoreMeta *
annals_store_meta_decode (const guint8 *p, gsize len)
{
  if (len < 40 || get32 (p) != len - 8 || get32 (p + 4) != annals_zcodec_crc32 (0, p + 8, len - 8))
    return NULL;
  AnnalsStoreMeta *m = g_new0 (AnnalsStoreMeta, 1);
  m->number = get64 (p + 8);
  m->hdr.date = (gint64) get64 (p + 16);
  m->receipt = (gint64) get64 (p + 24);
  m->flags = get32 (p + 32);
  guint32 n = get32 (p + 36);
  char **slots[META_STRINGS];
  annals_store_meta_slots (m, slots);
  /* Only what the encoder writes is accepted: the count, every length,
   * strings without NUL, the padding zero, no bytes after the last string. */
  if (n != META_STRINGS && n != META_STRINGS + 1)
    goto bad;
  gsize pos = 40;
  for (guint32 i = 0; i < n; i++) {
    if (pos + 4 > len)
      goto bad;
    guint32 sl = get32 (p + pos);
    pos += 4;
    if (pos + sl > len)
      goto bad;
    if (i < META_STRINGS) {
      if (sl > 65535 || memchr (p + pos, 0, sl) != NULL)
        goto bad;
      if (sl > 0)
        *slots[i] = g_strndup ((const char *) p + pos, sl);
    } else {
      for (guint32 j = 0; j < sl; j++)
        if (p[pos + j] != 0)
          goto bad;
    }
    pos += sl;
  }
  if (pos != len || m->hdr.message_id == NULL)
    goto bad;
  return m;
bad:
  annals_store_meta_free (m);
  return NULL;
}
