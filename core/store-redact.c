/* store redaction: notices, tombstones, scrubbed meta, and finishing a
 * redaction a crash interrupted. */
#include "core/store-private.h"
#include "core/zcodec.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *
notice_text (guint64 target, gint64 time, const char *reason)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "redacts %" G_GUINT64_FORMAT "\ntime %" G_GINT64_FORMAT "\nreason ", target, time);
  for (const char *p = reason ? reason : ""; *p && s->len < 4000; p++)
    g_string_append_c (s, (guchar) *p < 0x20 ? ' ' : *p);
  g_string_append_c (s, '\n');
  return g_string_free (s, FALSE);
}

static gboolean
parse_notice (const char *text, AnnalsStoreRedaction *out)
{
  memset (out, 0, sizeof *out);
  const char *reason = strstr (text, "\nreason ");
  if (sscanf (text, "redacts %" G_GUINT64_FORMAT "\ntime %" G_GINT64_FORMAT "\n", &out->target, &out->time) != 2
      || reason == NULL)
    return FALSE;
  out->reason = g_strndup (reason + 8, strcspn (reason + 8, "\n"));
  return TRUE;
}

void
annals_store_redaction_clear (AnnalsStoreRedaction *r)
{
  g_clear_pointer (&r->reason, g_free);
}

gboolean
annals_store_read_redaction (AnnalsStore *store, guint64 number, AnnalsStoreRedaction *out, GError **error)
{
  AnnalsStoreRecord r;
  guint32 crc;
  if (!annals_store_read_numbered (store, number, &r, &crc, error))
    return FALSE;
  if (r.type != ANNALS_STORE_RECORD_REDACTION) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NOT_FOUND,
                 "entry %" G_GUINT64_FORMAT " is not a redaction notice", number);
    return FALSE;
  }
  g_autoptr (GBytes) raw = annals_store_read_payload (store, &r, crc, NULL, error);
  if (raw == NULL)
    return FALSE;
  gsize len;
  const char *d = g_bytes_get_data (raw, &len);
  g_autofree char *text = g_strndup (d, len);
  if (!parse_notice (text, out)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "redaction notice %" G_GUINT64_FORMAT " is malformed", number);
    return FALSE;
  }
  return TRUE;
}

/* Calls fn for every entry whose offsets flags have all of want. */
static gboolean
scan_flags (AnnalsStore *store, guint32 want, gboolean (*fn) (guint64 number, gpointer data), gpointer data,
            GError **error)
{
  g_auto (AnnalsStoreScan) scan = { 0 };
  AnnalsStoreScanStep step;
  Entry e;
  annals_store_scan_init (&scan, store, 0, annals_store_count (store));
  scan.want_flags = want;
  while ((step = annals_store_scan_next (&scan, &e, error)) != ANNALS_STORE_SCAN_END
         && step != ANNALS_STORE_SCAN_ERROR) {
    if (step == ANNALS_STORE_SCAN_ENTRY && (e.flags & want) == want && !fn (scan.number, data))
      break;
  }
  return step != ANNALS_STORE_SCAN_ERROR;
}

typedef struct {
  AnnalsStore *store;
  guint64 target;
  gboolean found;
  guint64 notice;
} FindNotice;

static gboolean
check_notice (guint64 number, gpointer data)
{
  FindNotice *f = data;
  g_auto (AnnalsStoreRedaction) red = { 0 };
  if (annals_store_read_redaction (f->store, number, &red, NULL)) {
    gboolean hit = red.target == f->target;
    if (hit) {
      f->found = TRUE;
      f->notice = number;
      return FALSE;
    }
  }
  return TRUE;
}

gboolean
annals_store_find_redaction (AnnalsStore *store, guint64 target, guint64 *notice, GError **error)
{
  FindNotice f = { store, target, FALSE, 0 };
  if (!scan_flags (store, ANNALS_STORE_FLAG_REDACTION, check_notice, &f, error))
    return FALSE;
  if (f.found)
    *notice = f.notice;
  return f.found;
}

static gboolean
add_number (guint64 number, gpointer data)
{
  g_array_append_val ((GArray *) data, number);
  return TRUE;
}

GArray *
annals_store_find_redacted (AnnalsStore *store, GError **error)
{
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (guint64));
  if (!scan_flags (store, ANNALS_STORE_FLAG_REDACTED, add_number, out, error))
    return NULL;
  return g_steal_pointer (&out);
}

/* Rewrites meta record number in place, same length: the Message-ID
 * stays, every other field goes. */
static gboolean
scrub_meta (AnnalsStoreWriter *w, guint64 number, const Entry *e, GError **error)
{
  g_autofree char *meta_path = g_build_filename (w->dir, "meta", NULL);
  g_autofree char *offsets_path = g_build_filename (w->dir, "offsets", NULL);
  g_autoptr (AnnalsStoreMeta) old = annals_store_read_meta (w->reader, number, error);
  if (old == NULL)
    return FALSE;
  gsize total = (gsize) e->meta_length + 8;
  g_autoptr (GByteArray) rec = annals_store_meta_encode_scrubbed (number, e->flags | ANNALS_STORE_FLAG_REDACTED,
                                                                  old->receipt, old->hdr.message_id, total);
  if (rec == NULL) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': record of message %" G_GUINT64_FORMAT " is too short to be a meta record", meta_path, number);
    return FALSE;
  }
  if (!annals_store_pwrite_all (w->meta_fd, rec->data, rec->len, e->meta_offset, meta_path, error))
    return FALSE;
  Entry ne = *e;
  ne.flags |= ANNALS_STORE_FLAG_REDACTED;
  guint8 eb[ENTRY_SIZE];
  annals_store_entry_encode (&ne, eb);
  return annals_store_pwrite_all (w->offsets_fd, eb, sizeof eb, FILE_HEADER_SIZE + number * ENTRY_SIZE, offsets_path,
                                  error);
}

/* Replaces message target's record by a tombstone of the same length in
 * a new copy of its pack, which then replaces the old file. */
static gboolean
erase_message (AnnalsStoreWriter *w, guint64 target, GError **error)
{
  Entry e;
  AnnalsStoreRecord r;
  guint32 type, crc;
  if (!annals_store_read_entry (w->reader, target, &e, error)
      || !annals_store_read_record_at (w->reader, e.pack, e.pack_offset, &r, &type, &crc, error))
    return FALSE;
  if (type == RECORD_REDACTED)
    return scrub_meta (w, target, &e, error); /* the pack is done already */
  if (type != RECORD_MESSAGE) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NOT_FOUND,
                 "entry %" G_GUINT64_FORMAT " is not a message", target);
    return FALSE;
  }
  g_autofree char *path = annals_store_pack_path (w->dir, e.pack);
  g_autofree char *data = NULL;
  gsize len;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &data, &len, &local)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_IO, "%s", local->message);
    return FALSE;
  }
  guint64 span = record_span (&r);
  if (e.pack_offset + span > len) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT, "'%s': message %" G_GUINT64_FORMAT " is cut",
                 path, target);
    return FALSE;
  }
  g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (w->reader, target, error);
  if (m == NULL)
    return FALSE;
  guint8 *rec = (guint8 *) data + e.pack_offset;
  gsize room = (gsize) span - RECORD_HEADER_SIZE;
  gsize idlen = MIN (MIN (strlen (m->hdr.message_id), MAX_ENVELOPE), room);
  memset (rec + RECORD_HEADER_SIZE, 0, room);
  memcpy (rec + RECORD_HEADER_SIZE, m->hdr.message_id, idlen);
  AnnalsStoreRecord t = r;
  t.type = ANNALS_STORE_RECORD_REDACTED;
  t.envelope_length = (guint32) idlen;
  t.stored_size = (guint32) (room - idlen);
  t.dict = 0;
  t.flags |= ANNALS_STORE_FLAG_REDACTED;
  annals_store_record_encode (rec, RECORD_REDACTED, &t, annals_zcodec_crc32 (0, rec + RECORD_HEADER_SIZE, room));
  /* A sealed pack's seal covers every byte before it: renew it. */
  gboolean sealed = e.pack != w->pack;
  if (sealed && len >= RECORD_HEADER_SIZE + 32) {
    guint8 *seal = (guint8 *) data + len - RECORD_HEADER_SIZE - 32;
    AnnalsStoreRecord sr;
    guint32 scrc;
    if (annals_store_record_decode (seal, &sr, &scrc) == RECORD_SEAL) {
      guint8 digest[32];
      annals_store_sha256 ((const guint8 *) data, len - RECORD_HEADER_SIZE - 32, digest, NULL);
      memcpy (seal + RECORD_HEADER_SIZE, digest, 32);
      annals_store_record_encode (seal, RECORD_SEAL, &sr, annals_zcodec_crc32 (0, digest, 32));
    }
  }
  if (!g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 sealed ? 0444 : 0644, &local)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_IO, "cannot rewrite pack: %s", local->message);
    return FALSE;
  }
  sodium_memzero (data, len);
  /* Handles on the old file are stale now. */
  annals_store_forget_pack (w->reader, e.pack);
  if (!sealed && !annals_store_writer_open_pack (w, w->pack, error))
    return FALSE;
  return scrub_meta (w, target, &e, error);
}

typedef struct {
  AnnalsStoreWriter *w;
  GError *error;
} FinishRedactions;

/* Are all three steps of redacting target on disk: the tombstone, the
 * scrubbed meta, the offsets flag?  A crash can fall between any two, and
 * a power cut can keep a later write and lose an earlier one. */
static gboolean
redaction_done (AnnalsStore *store, guint64 target, gboolean *done, GError **error)
{
  Entry e;
  AnnalsStoreRecord r;
  *done = FALSE;
  if (!annals_store_read_entry (store, target, &e, error) || !annals_store_read_record (store, target, &r, error))
    return FALSE;
  if (r.type != ANNALS_STORE_RECORD_REDACTED || !(r.flags & ANNALS_STORE_FLAG_REDACTED)
      || !(e.flags & ANNALS_STORE_FLAG_REDACTED))
    return TRUE;
  g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (store, target, error);
  if (m == NULL)
    return FALSE;
  *done = (m->flags & ANNALS_STORE_FLAG_REDACTED) && m->hdr.date == ANNALS_NO_DATE && m->envelope == NULL
          && m->hdr.in_reply_to == NULL && m->hdr.references == NULL && m->hdr.from == NULL && m->hdr.from_addr == NULL
          && m->hdr.to == NULL && m->hdr.cc == NULL && m->hdr.subject == NULL && m->hdr.list_id == NULL;
  return TRUE;
}

static gboolean
finish_one (guint64 number, gpointer data)
{
  FinishRedactions *f = data;
  g_auto (AnnalsStoreRedaction) red = { 0 };
  if (!annals_store_read_redaction (f->w->reader, number, &red, &f->error))
    return FALSE;
  gboolean done;
  if (!redaction_done (f->w->reader, red.target, &done, &f->error))
    return FALSE;
  return done || erase_message (f->w, red.target, &f->error);
}

/* Completes redactions a crash interrupted after their notice. */
gboolean
annals_store_writer_finish_redactions (AnnalsStoreWriter *w, GError **error)
{
  FinishRedactions f = { w, NULL };
  if (!scan_flags (w->reader, ANNALS_STORE_FLAG_REDACTION, finish_one, &f, error))
    return FALSE;
  if (f.error != NULL) {
    g_propagate_error (error, f.error);
    return FALSE;
  }
  return TRUE;
}

gboolean
annals_store_writer_redact (AnnalsStoreWriter *w, guint64 target, const char *reason, gint64 time,
                            AnnalsStoreBeforeErase before_erase, gpointer ctx, guint64 *notice, GError **error)
{
  AnnalsStoreRecord r;
  if (!annals_store_read_record (w->reader, target, &r, error))
    return FALSE;
  if (r.type != ANNALS_STORE_RECORD_MESSAGE) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_REDACTED,
                 r.type == ANNALS_STORE_RECORD_REDACTED ? "message %" G_GUINT64_FORMAT " is redacted already"
                                                        : "entry %" G_GUINT64_FORMAT
                                                          " is a redaction notice, not a message",
                 target);
    return FALSE;
  }
  g_autofree char *text = notice_text (target, time, reason);
  gsize len = strlen (text);
  AnnalsStoreRecord n = { .number = w->count, .receipt = time, .raw_size = len, .flags = ANNALS_STORE_FLAG_REDACTION };
  char hex[65];
  annals_store_sha256 ((const guint8 *) text, len, n.sha256, hex);
  g_auto (AnnalsMessageHeader) hdr = ANNALS_MESSAGE_HEADER_INIT;
  hdr.date = time;
  hdr.message_id = g_strdup_printf (NOTICE_ID_FORMAT, n.number);
  hdr.subject = g_strdup_printf ("redaction of message %" G_GUINT64_FORMAT ": %s", target, reason ? reason : "");
  /* The notice is durable before any byte is removed. */
  if (!annals_store_writer_append (w, RECORD_REDACTION, (const guint8 *) text, len, NULL, &hdr, &n, error)
      || !annals_store_writer_commit (w, error))
    return FALSE;
  *notice = n.number;
  if (before_erase != NULL && !before_erase (ctx, error))
    return FALSE;
  if (!erase_message (w, target, error))
    return FALSE;
  w->dirty = TRUE;
  return annals_store_writer_commit (w, error);
}
