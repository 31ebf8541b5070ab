/* store recovery: the writer checks the tail a crash may have torn and
 * re-indexes whole records found in the packs past the last entry. */
#include "core/store-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* Indexes a tombstone or a notice found in a pack (recovery). */
static gboolean
reindex_special (AnnalsStoreWriter *w, const AnnalsStoreRecord *r, GError **error)
{
  g_auto (AnnalsMessageHeader) hdr = ANNALS_MESSAGE_HEADER_INIT;
  if (r->type == ANNALS_STORE_RECORD_REDACTED) {
    /* A tombstone's envelope is the redacted message's id. */
    g_autofree char *id = g_malloc0 (r->envelope_length + 1);
    if (!annals_store_pread_all (w->pack_fd, id, r->envelope_length, r->offset + RECORD_HEADER_SIZE, w->pack_path,
                                 error))
      return FALSE;
    hdr.message_id = g_steal_pointer (&id);
  } else {
    hdr.message_id = g_strdup_printf (NOTICE_ID_FORMAT, r->number);
  }
  return annals_store_writer_index (w, r, NULL, &hdr, error);
}

/* Checks the last entries against meta and the packs and cuts at the
 * first one that does not hold, then indexes whole records found in the
 * packs beyond the last entry. */
gboolean
annals_store_writer_recover (AnnalsStoreWriter *w, GError **error)
{
  g_autofree char *offsets_path = g_build_filename (w->dir, "offsets", NULL);
  g_autofree char *meta_path = g_build_filename (w->dir, "meta", NULL);
  guint64 osize = annals_store_file_size (w->offsets_fd);
  guint64 n = osize < FILE_HEADER_SIZE ? 0 : (osize - FILE_HEADER_SIZE) / ENTRY_SIZE;
  guint64 first = n > RECOVERY_WINDOW ? n - RECOVERY_WINDOW : 0;
  guint64 good = first;
  Entry last = { 0 };
  guint64 last_span = 0;
  AnnalsStoreScan scan;
  Entry e;
  annals_store_scan_init (&scan, w->reader, first, n);
  while (annals_store_scan_next (&scan, &e, NULL) == ANNALS_STORE_SCAN_ENTRY) {
    guint64 i = scan.number;
    AnnalsStoreRecord r;
    guint32 type, crc;
    if (!annals_store_read_record_at (w->reader, e.pack, e.pack_offset, &r, &type, &crc, NULL) || !numbered_type (type)
        || r.number != i)
      break;
    /* The payload CRC is checked for the newest entries only: older
     * ones were committed before the crash could touch them. */
    if (n - i <= 64 && type != RECORD_REDACTED) {
      g_autoptr (GBytes) raw = annals_store_read_payload (w->reader, &r, crc, NULL, NULL);
      if (raw == NULL)
        break;
    }
    gsize mlen = (gsize) e.meta_length + 8;
    g_autofree guint8 *mbuf = g_malloc (mlen);
    if (!annals_store_pread_all (w->meta_fd, mbuf, mlen, e.meta_offset, meta_path, NULL))
      break;
    g_autoptr (AnnalsStoreMeta) m = annals_store_meta_decode (mbuf, mlen);
    if (m == NULL || m->number != i)
      break;
    good = i + 1;
    last = e;
    last_span = record_span (&r);
  }
  annals_store_scan_clear (&scan);
  if (good == first && first > 0) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "store '%s': message %" G_GUINT64_FORMAT " is damaged and older than any crash could reach; "
                 "run 'annals verify' to see the damage",
                 w->dir, first);
    return FALSE;
  }
  if (good == 0 && first == 0)
    last.meta_offset = 0;
  if (good < n || osize != FILE_HEADER_SIZE + n * ENTRY_SIZE) {
    if (ftruncate (w->offsets_fd, (off_t) (FILE_HEADER_SIZE + good * ENTRY_SIZE)) != 0)
      return annals_store_set_io_error (error, errno, "repair", offsets_path);
  }
  guint64 meta_end = good > 0 ? last.meta_offset + last.meta_length + 8 : FILE_HEADER_SIZE;
  if (annals_store_file_size (w->meta_fd) != meta_end && ftruncate (w->meta_fd, (off_t) meta_end) != 0)
    return annals_store_set_io_error (error, errno, "repair", meta_path);
  w->meta_size = meta_end;
  w->count = good;

  /* Continue in the packs after the last indexed record. */
  guint32 pack = good > 0 ? last.pack : 0;
  guint64 offset = good > 0 ? last.pack_offset + last_span : PACK_HEADER_SIZE;
  if (!annals_store_writer_open_pack (w, pack, error))
    return FALSE;
  w->pack_records = 0;
  for (;;) {
    AnnalsStoreRecord r;
    guint32 type = 0, crc = 0;
    guint8 h[RECORD_HEADER_SIZE];
    gboolean whole = offset + RECORD_HEADER_SIZE <= w->pack_size
                     && annals_store_pread_all (w->pack_fd, h, sizeof h, offset, w->pack_path, NULL)
                     && (type = annals_store_record_decode (h, &r, &crc)) != 0
                     && offset + record_span (&r) <= w->pack_size;
    if (whole && type == RECORD_SEAL) {
      if (!annals_store_writer_open_pack (w, pack + 1, error))
        return FALSE;
      pack++;
      offset = PACK_HEADER_SIZE;
      w->pack_records = 0;
      continue;
    }
    g_autoptr (GBytes) raw = NULL;
    g_autofree char *envelope = NULL;
    if (whole && numbered_type (type) && r.number == w->count) {
      r.pack = pack;
      r.offset = offset;
      /* The message's id is all a tombstone keeps; meta gets that.  A
       * redaction record counts once its payload reads back. */
      gboolean special = type == RECORD_REDACTED;
      if (!special) {
        raw = annals_store_read_payload (w->reader, &r, crc, &envelope, NULL);
        special = raw != NULL && type == RECORD_REDACTION;
      }
      if (special) {
        if (!reindex_special (w, &r, error))
          return FALSE;
        w->recovered++;
        w->pack_records++;
        offset += record_span (&r);
        continue;
      }
    }
    if (raw == NULL) {
      /* A torn or foreign tail: cut it. */
      if (w->pack_size > offset) {
        if (ftruncate (w->pack_fd, (off_t) offset) != 0)
          return annals_store_set_io_error (error, errno, "repair", w->pack_path);
        w->pack_size = offset;
      }
      break;
    }
    guint8 sha[32];
    char hex[65];
    gsize rlen;
    const guint8 *rdata = g_bytes_get_data (raw, &rlen);
    annals_store_sha256 (rdata, rlen, sha, hex);
    if (memcmp (sha, r.sha256, 32) != 0)
      break;
    g_autoptr (AnnalsMessageInfo) info = annals_message_info_parse (rdata, rlen, hex);
    if (!annals_store_writer_index (w, &r, envelope, &info->hdr, error))
      return FALSE;
    w->recovered++;
    w->pack_records++;
    offset += record_span (&r);
  }
  /* Packs past the one being appended to can only be leftovers of a
   * crash between creating a pack and sealing the one before. */
  for (guint32 p = pack + 1;; p++) {
    g_autofree char *path = annals_store_pack_path (w->dir, p);
    if (g_unlink (path) != 0)
      break;
  }
  if (w->recovered > 0 || good < n)
    w->dirty = TRUE;
  return TRUE;
}
