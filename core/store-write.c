/* store writer: the lock, appending records with their meta and offsets
 * entries, commits, sealing packs, dictionaries. */
#include "core/store-private.h"
#include "core/zcodec.h"
#include "core/zdict.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
write_file_header (int fd, const char *magic, guint32 entry_size, const char *path, GError **error)
{
  guint8 h[FILE_HEADER_SIZE];
  memcpy (h, magic, 8);
  put32 (h + 8, FILE_VERSION);
  put32 (h + 12, entry_size);
  return annals_store_pwrite_all (fd, h, sizeof h, 0, path, error);
}

static gboolean
create_store (const char *dir, GError **error)
{
  g_autofree char *packs = g_build_filename (dir, "packs", NULL);
  g_autofree char *dicts = g_build_filename (dir, "dict", NULL);
  if (g_mkdir_with_parents (packs, 0755) != 0)
    return annals_store_set_io_error (error, errno, "create", packs);
  if (g_mkdir_with_parents (dicts, 0755) != 0)
    return annals_store_set_io_error (error, errno, "create", dicts);
  struct {
    const char *name, *magic;
    guint32 entry;
  } files[] = { { "offsets", OFFSETS_MAGIC, ENTRY_SIZE }, { "meta", META_MAGIC, 0 } };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *path = g_build_filename (dir, files[i].name, NULL);
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return annals_store_set_io_error (error, errno, "create", path);
    gboolean ok = annals_store_file_size (fd) >= FILE_HEADER_SIZE
                  || (write_file_header (fd, files[i].magic, files[i].entry, path, error) && fsync (fd) == 0);
    close (fd);
    if (!ok)
      return FALSE;
  }
  /* FORMAT last: its presence says the store is whole. */
  g_autofree char *format = g_build_filename (dir, "FORMAT", NULL);
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents_full (format, FORMAT_TEXT, -1, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, &local)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_IO, "cannot create store: %s", local->message);
    return FALSE;
  }
  return annals_store_fsync_path (dir, error);
}

static gboolean
take_lock (AnnalsStoreWriter *w, guint timeout_ms, GError **error)
{
  g_autofree char *path = g_build_filename (w->dir, "lock", NULL);
  w->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (w->lock_fd < 0)
    return annals_store_set_io_error (error, errno, "open", path);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (flock (w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR)
      return annals_store_set_io_error (error, errno, "lock", path);
    if (g_get_monotonic_time () >= deadline) {
      g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_LOCKED,
                   "store '%s' is locked by another writer (waited %u ms for '%s'); try again later", w->dir,
                   timeout_ms, path);
      return FALSE;
    }
    g_usleep (20000);
  }
  return TRUE;
}

gboolean
annals_store_writer_open_pack (AnnalsStoreWriter *w, guint32 pack, GError **error)
{
  if (w->pack_fd >= 0)
    close (w->pack_fd);
  g_free (w->pack_path);
  w->pack = pack;
  w->pack_path = annals_store_pack_path (w->dir, pack);
  w->pack_fd = open (w->pack_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (w->pack_fd < 0)
    return annals_store_set_io_error (error, errno, "open", w->pack_path);
  w->pack_size = annals_store_file_size (w->pack_fd);
  if (w->pack_size < PACK_HEADER_SIZE) {
    guint8 h[PACK_HEADER_SIZE] = { 0 };
    memcpy (h, PACK_MAGIC, 8);
    put32 (h + 8, FILE_VERSION);
    put32 (h + 12, pack);
    put32 (h + 16, RECORD_HEADER_SIZE);
    if (!annals_store_pwrite_all (w->pack_fd, h, sizeof h, 0, w->pack_path, error))
      return FALSE;
    if (ftruncate (w->pack_fd, PACK_HEADER_SIZE) != 0 || fdatasync (w->pack_fd) != 0)
      return annals_store_set_io_error (error, errno, "write", w->pack_path);
    g_autofree char *packs = g_build_filename (w->dir, "packs", NULL);
    if (!annals_store_fsync_path (packs, error))
      return FALSE;
    w->pack_size = PACK_HEADER_SIZE;
  } else {
    guint8 h[PACK_HEADER_SIZE];
    if (!annals_store_pread_all (w->pack_fd, h, sizeof h, 0, w->pack_path, error))
      return FALSE;
    if (memcmp (h, PACK_MAGIC, 8) != 0 || get32 (h + 8) != FILE_VERSION || get32 (h + 12) != pack) {
      g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_FORMAT, "'%s' is not pack %u of an annals store",
                   w->pack_path, pack);
      return FALSE;
    }
  }
  return TRUE;
}

/* A failed write that cannot be taken back either: the caller's error
 * says both (libraries never print); the next writer repairs the torn
 * tail when it opens the store. */
static void
undo_failed (GError **error, const char *path, int errsv)
{
  if (error == NULL || *error == NULL)
    return;
  char *message = g_strdup_printf ("%s; cannot undo it in '%s' either: %s (the next writer repairs it)",
                                   (*error)->message, path, g_strerror (errsv));
  g_free ((*error)->message);
  (*error)->message = message;
}

/* Appends meta and offsets for a record already in the pack. */
gboolean
annals_store_writer_index (AnnalsStoreWriter *w, const AnnalsStoreRecord *r, const char *envelope,
                           const AnnalsMessageHeader *hdr, GError **error)
{
  g_autoptr (GByteArray) meta = annals_store_meta_encode (r->number, r->flags, r->receipt, envelope, hdr);
  Entry e = {
    .pack = r->pack,
    .flags = r->flags,
    .pack_offset = r->offset,
    .meta_offset = w->meta_size,
    .msgid_hash = annals_store_msgid_hash (hdr->message_id),
    .meta_length = meta->len - 8,
  };
  memcpy (e.sha_prefix, r->sha256, 8);
  guint8 buf[ENTRY_SIZE];
  annals_store_entry_encode (&e, buf);
  g_autofree char *meta_path = g_build_filename (w->dir, "meta", NULL);
  g_autofree char *offsets_path = g_build_filename (w->dir, "offsets", NULL);
  guint64 entry_at = FILE_HEADER_SIZE + r->number * ENTRY_SIZE;
  if (!annals_store_pwrite_all (w->meta_fd, meta->data, meta->len, w->meta_size, meta_path, error)
      || !annals_store_pwrite_all (w->offsets_fd, buf, sizeof buf, entry_at, offsets_path, error)) {
    /* Leave no part of this message's entries behind. */
    if (ftruncate (w->meta_fd, (off_t) w->meta_size) != 0 || ftruncate (w->offsets_fd, (off_t) entry_at) != 0)
      undo_failed (error, w->dir, errno);
    return FALSE;
  }
  w->meta_size += meta->len;
  w->count = r->number + 1;
  g_hash_table_insert (w->by_msgid, (gpointer) (guintptr) e.msgid_hash, (gpointer) (guintptr) (r->number + 1));
  return TRUE;
}

/* Reads the dictionary state and the Message-ID table. */
static gboolean
load_state (AnnalsStoreWriter *w, GError **error)
{
  g_autofree char *offsets_path = g_build_filename (w->dir, "offsets", NULL);
  AnnalsStoreScan scan;
  AnnalsStoreScanStep step;
  Entry e;
  w->pack_records = 0;
  annals_store_scan_init (&scan, w->reader, 0, w->count);
  while ((step = annals_store_scan_next (&scan, &e, error)) == ANNALS_STORE_SCAN_ENTRY) {
    g_hash_table_insert (w->by_msgid, (gpointer) (guintptr) e.msgid_hash, (gpointer) (guintptr) (scan.number + 1));
    if (e.pack == w->pack)
      w->pack_records++;
  }
  annals_store_scan_clear (&scan);
  if (step == ANNALS_STORE_SCAN_DAMAGED)
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': entry %" G_GUINT64_FORMAT " fails its checksum; rebuild offsets and meta from the packs "
                 "as doc/store-format.md says ('Rebuilding offsets and meta')",
                 offsets_path, scan.number);
  if (step != ANNALS_STORE_SCAN_END)
    return FALSE;
  w->dict_id = 0;
  if (w->count > 0) {
    AnnalsStoreRecord r;
    if (!annals_store_read_record (w->reader, w->count - 1, &r, error))
      return FALSE;
    w->dict_id = r.dict;
  }
  if (w->dict_id != 0) {
    GBytes *d = annals_store_load_dict (w->reader, w->dict_id, error);
    if (d == NULL)
      return FALSE;
    w->dict = g_bytes_ref (d);
  }
  /* Dictionary files past the one in use are leftovers: ids go on after them. */
  w->next_dict_id = w->dict_id + 1;
  for (;;) {
    g_autofree char *path = annals_store_dict_path (w->dir, w->next_dict_id);
    if (!g_file_test (path, G_FILE_TEST_EXISTS))
      break;
    w->next_dict_id++;
  }
  return TRUE;
}

AnnalsStoreWriter *
annals_store_writer_open (const char *dir, guint lock_timeout_ms, GError **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    annals_store_set_io_error (error, errno, "create", dir);
    return NULL;
  }
  g_autoptr (AnnalsStoreWriter) w = g_new0 (AnnalsStoreWriter, 1);
  w->dir = g_strdup (dir);
  w->lock_fd = w->pack_fd = w->meta_fd = w->offsets_fd = -1;
  w->pack_limit = ANNALS_STORE_DEFAULT_PACK_LIMIT;
  w->by_msgid = g_hash_table_new (g_direct_hash, g_direct_equal);
  if (!take_lock (w, lock_timeout_ms, error))
    return NULL;
  g_autofree char *format = g_build_filename (dir, "FORMAT", NULL);
  if (!g_file_test (format, G_FILE_TEST_EXISTS) && !create_store (dir, error))
    return NULL;
  w->reader = annals_store_open (dir, error);
  if (w->reader == NULL)
    return NULL;
  g_autofree char *offsets_path = g_build_filename (dir, "offsets", NULL);
  g_autofree char *meta_path = g_build_filename (dir, "meta", NULL);
  w->offsets_fd = open (offsets_path, O_RDWR | O_CLOEXEC);
  if (w->offsets_fd < 0) {
    annals_store_set_io_error (error, errno, "open", offsets_path);
    return NULL;
  }
  w->meta_fd = open (meta_path, O_RDWR | O_CLOEXEC);
  if (w->meta_fd < 0) {
    annals_store_set_io_error (error, errno, "open", meta_path);
    return NULL;
  }
  w->deflater = annals_deflater_new (COMPRESSION_LEVEL);
  if (!annals_store_writer_recover (w, error) || !load_state (w, error)
      || !annals_store_writer_finish_redactions (w, error))
    return NULL;
  if (w->dirty && !annals_store_writer_commit (w, error))
    return NULL;
  return g_steal_pointer (&w);
}

void
annals_store_writer_free (AnnalsStoreWriter *w)
{
  if (w == NULL)
    return;
  annals_store_free (w->reader);
  for (int *fd = &w->pack_fd; fd <= &w->offsets_fd; fd++)
    if (*fd >= 0)
      close (*fd);
  if (w->lock_fd >= 0)
    close (w->lock_fd); /* releases the flock */
  g_clear_pointer (&w->dict, g_bytes_unref);
  annals_deflater_free (w->deflater);
  if (w->by_msgid)
    g_hash_table_unref (w->by_msgid);
  g_free (w->pack_path);
  g_free (w->dir);
  g_free (w);
}

void
annals_store_writer_set_pack_limit (AnnalsStoreWriter *writer, guint64 bytes)
{
  writer->pack_limit = MAX (bytes, (guint64) PACK_HEADER_SIZE + RECORD_HEADER_SIZE);
}

guint64
annals_store_writer_recovered (AnnalsStoreWriter *writer)
{
  return writer->recovered;
}

guint64
annals_store_writer_count (AnnalsStoreWriter *writer)
{
  return writer->count;
}

AnnalsStore *
annals_store_writer_reader (AnnalsStoreWriter *writer)
{
  return writer->reader;
}

gboolean
annals_store_writer_commit (AnnalsStoreWriter *w, GError **error)
{
  if (!w->dirty)
    return TRUE;
  /* Pack first: meta and offsets are derived from it. */
  if (fdatasync (w->pack_fd) != 0)
    return annals_store_set_io_error (error, errno, "sync", w->pack_path);
  if (fdatasync (w->meta_fd) != 0)
    return annals_store_set_io_error (error, errno, "sync", "meta");
  if (fdatasync (w->offsets_fd) != 0)
    return annals_store_set_io_error (error, errno, "sync", "offsets");
  w->dirty = FALSE;
  return TRUE;
}

/* Seals the current pack: a seal record holding the SHA-256 of every
 * byte before it, fsync, read-only; then starts the next pack. */
static gboolean
seal_pack (AnnalsStoreWriter *w, GError **error)
{
  /* GnuTLS, as annals_store_sha256 (store-codec.c says why). */
  gnutls_hash_hd_t c;
  int gr = gnutls_hash_init (&c, GNUTLS_DIG_SHA256);
  if (gr < 0) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_IO, "cannot seal pack '%s': SHA-256: %s", w->pack_path,
                 gnutls_strerror (gr));
    return FALSE;
  }
  g_autofree guint8 *buf = g_malloc (1 << 20);
  guint8 digest[32];
  for (guint64 off = 0; off < w->pack_size;) {
    gsize n = (gsize) MIN ((guint64) 1 << 20, w->pack_size - off);
    if (!annals_store_pread_all (w->pack_fd, buf, n, off, w->pack_path, error)) {
      gnutls_hash_deinit (c, digest);
      return FALSE;
    }
    gnutls_hash (c, buf, n);
    off += n;
  }
  AnnalsStoreRecord r = { .number = w->pack_records, .stored_size = 32 };
  gnutls_hash_deinit (c, digest);
  guint8 rec[RECORD_HEADER_SIZE + 32];
  annals_store_record_encode (rec, RECORD_SEAL, &r, annals_zcodec_crc32 (0, digest, 32));
  memcpy (rec + RECORD_HEADER_SIZE, digest, 32);
  if (!annals_store_pwrite_all (w->pack_fd, rec, sizeof rec, w->pack_size, w->pack_path, error)) {
    if (ftruncate (w->pack_fd, (off_t) w->pack_size) != 0)
      undo_failed (error, w->pack_path, errno);
    return FALSE;
  }
  if (fdatasync (w->pack_fd) != 0)
    return annals_store_set_io_error (error, errno, "sync", w->pack_path);
  if (fchmod (w->pack_fd, 0444) != 0)
    return annals_store_set_io_error (error, errno, "seal", w->pack_path);
  w->pack_size += sizeof rec;
  if (!annals_store_writer_open_pack (w, w->pack + 1, error))
    return FALSE;
  w->pack_records = 0;
  return TRUE;
}

/* Trains a dictionary on recent messages and makes it current. */
static gboolean
train_dict (AnnalsStoreWriter *w, GError **error)
{
  g_autoptr (GPtrArray) samples = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint64 from = w->count > DICT_SAMPLE ? w->count - DICT_SAMPLE : 0;
  for (guint64 i = from; i < w->count; i++) {
    GBytes *raw = annals_store_read (w->reader, i, NULL, error);
    if (raw == NULL)
      return FALSE;
    g_ptr_array_add (samples, raw);
  }
  g_autoptr (GBytes) dict = annals_zdict_train (samples);
  gsize dlen;
  const guint8 *d = g_bytes_get_data (dict, &dlen);
  if (dlen < 64)
    return TRUE; /* nothing worth priming with yet */
  guint32 id = w->next_dict_id;
  g_autofree guint8 *file = g_malloc (24 + dlen);
  memcpy (file, DICT_MAGIC, 8);
  put32 (file + 8, FILE_VERSION);
  put32 (file + 12, id);
  put32 (file + 16, (guint32) dlen);
  put32 (file + 20, annals_zcodec_crc32 (0, d, dlen));
  memcpy (file + 24, d, dlen);
  g_autofree char *path = annals_store_dict_path (w->dir, id);
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents_full (path, (const char *) file, (gssize) (24 + dlen),
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0444, &local)) {
    int code = g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOSPC) ? ANNALS_STORE_ERROR_NO_SPACE
                                                                         : ANNALS_STORE_ERROR_IO;
    g_set_error (error, ANNALS_STORE_ERROR, code, "cannot write dictionary: %s", local->message);
    return FALSE;
  }
  w->next_dict_id = id + 1;
  w->dict_id = id;
  g_clear_pointer (&w->dict, g_bytes_unref);
  w->dict = g_bytes_ref (dict);
  return TRUE;
}

/* Is raw (with this hash and Message-ID) already stored?  Sets *reused
 * when the Message-ID is, with other content. */
static gboolean
find_duplicate (AnnalsStoreWriter *w, const char *message_id, guint64 hash, const guint8 sha[32], guint64 *number,
                gboolean *reused, GError **error)
{
  *reused = FALSE;
  guintptr latest = (guintptr) g_hash_table_lookup (w->by_msgid, (gpointer) (guintptr) hash);
  if (latest == 0)
    return FALSE;
  /* The common case, a re-import: the latest copy is the same. */
  AnnalsStoreRecord r;
  g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (w->reader, latest - 1, NULL);
  if (m != NULL && strcmp (m->hdr.message_id, message_id) == 0) {
    *reused = TRUE;
    if (annals_store_read_record (w->reader, latest - 1, &r, NULL) && memcmp (r.sha256, sha, 32) == 0) {
      *number = latest - 1;
      return TRUE;
    }
  }
  /* Otherwise every copy with this Message-ID. */
  g_autoptr (GArray) all = annals_store_find_message_id (w->reader, message_id, error);
  if (all == NULL)
    return FALSE;
  for (guint i = 0; i < all->len; i++) {
    guint64 k = g_array_index (all, guint64, i);
    *reused = TRUE;
    if (annals_store_read_record (w->reader, k, &r, NULL) && memcmp (r.sha256, sha, 32) == 0) {
      *number = k;
      return TRUE;
    }
  }
  return FALSE;
}

/* Compresses raw and appends it as the next record of the given type;
 * r holds its number, receipt, size, hash and flags and gets the rest. */
gboolean
annals_store_writer_append (AnnalsStoreWriter *w, guint32 type, const guint8 *raw, gsize length, const char *envelope,
                            const AnnalsMessageHeader *hdr, AnnalsStoreRecord *r, GError **error)
{
  /* A dictionary once the list has shown what it repeats, better ones
   * as it shows more, and a fresh one now and then as its traffic moves. */
  if (w->count > 0
      && (w->count == DICT_FIRST_AFTER || w->count == 4 * DICT_FIRST_AFTER || w->count == 16 * DICT_FIRST_AFTER
          || w->count % DICT_RETRAIN_EVERY == 0)) {
    if (!train_dict (w, error))
      return FALSE;
  }
  g_autoptr (GBytes) stored = annals_deflater_compress (w->deflater, raw, length, w->dict, error);
  if (stored == NULL)
    return FALSE;
  gsize slen;
  const guint8 *sdata = g_bytes_get_data (stored, &slen);
  if (w->pack_records > 0
      && w->pack_size + RECORD_HEADER_SIZE + MAX_ENVELOPE + slen + RECORD_HEADER_SIZE + 32 > w->pack_limit) {
    if (!seal_pack (w, error))
      return FALSE;
    /* A new pack gets a dictionary trained on what the list sends now. */
    if (!train_dict (w, error))
      return FALSE;
    g_clear_pointer (&stored, g_bytes_unref);
    stored = annals_deflater_compress (w->deflater, raw, length, w->dict, error);
    if (stored == NULL)
      return FALSE;
    sdata = g_bytes_get_data (stored, &slen);
  }
  gsize elen = envelope ? MIN (strlen (envelope), MAX_ENVELOPE) : 0;
  r->stored_size = (guint32) slen;
  r->envelope_length = (guint32) elen;
  r->dict = w->dict != NULL ? w->dict_id : 0;
  r->pack = w->pack;
  r->offset = w->pack_size;
  guint8 header[RECORD_HEADER_SIZE];
  guint32 crc = annals_zcodec_crc32 (annals_zcodec_crc32 (0, envelope, elen), sdata, slen);
  annals_store_record_encode (header, type, r, crc);
  g_autofree char *kept_envelope = g_strndup (envelope, elen);
  w->dirty = TRUE;
  if (!annals_store_pwrite_all (w->pack_fd, header, sizeof header, r->offset, w->pack_path, error)
      || !annals_store_pwrite_all (w->pack_fd, envelope, elen, r->offset + RECORD_HEADER_SIZE, w->pack_path, error)
      || !annals_store_pwrite_all (w->pack_fd, sdata, slen, r->offset + RECORD_HEADER_SIZE + elen, w->pack_path, error)
      || !annals_store_writer_index (w, r, kept_envelope, hdr, error)) {
    if (ftruncate (w->pack_fd, (off_t) r->offset) != 0)
      undo_failed (error, w->pack_path, errno);
    return FALSE;
  }
  w->pack_size += record_span (r);
  w->pack_records++;
  return TRUE;
}

gboolean
annals_store_writer_add (AnnalsStoreWriter *w, const guint8 *raw, gsize length, gint64 receipt, const char *envelope,
                         AnnalsStoreAddResult *result, GError **error)
{
  memset (result, 0, sizeof *result);
  if (length > ANNALS_STORE_MAX_MESSAGE) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_TOO_LARGE,
                 "message of %" G_GSIZE_FORMAT " bytes is over the limit of %" G_GSIZE_FORMAT " bytes", length,
                 ANNALS_STORE_MAX_MESSAGE);
    return FALSE;
  }
  AnnalsStoreRecord r = { .number = w->count, .receipt = receipt, .raw_size = length };
  char hex[65];
  annals_store_sha256 (raw, length, r.sha256, hex);
  g_autoptr (AnnalsMessageInfo) info = annals_message_info_parse (raw, length, hex);

  guint64 hash = annals_store_msgid_hash (info->hdr.message_id);
  gboolean reused = FALSE;
  guint64 existing;
  g_autoptr (GError) local = NULL;
  if (find_duplicate (w, info->hdr.message_id, hash, r.sha256, &existing, &reused, &local)) {
    result->status = ANNALS_STORE_DUPLICATE;
    result->number = existing;
    return TRUE;
  }
  if (local != NULL) {
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  r.flags = (reused ? ANNALS_STORE_FLAG_REUSED_ID : 0) | (info->unparsable ? ANNALS_STORE_FLAG_UNPARSABLE : 0)
            | (info->message_id_derived ? ANNALS_STORE_FLAG_DERIVED_ID : 0);

  if (!annals_store_writer_append (w, RECORD_MESSAGE, raw, length, envelope, &info->hdr, &r, error))
    return FALSE;
  result->status = ANNALS_STORE_ADDED;
  result->number = r.number;
  result->flags = r.flags;
  return TRUE;
}
