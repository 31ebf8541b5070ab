/* store reader: opening a store, reading entries, records, payloads and
 * meta, and the one scan over offsets; the file helpers all parts use. */
#include "core/store-private.h"
#include "core/zcodec.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (annals_store_error, annals_store_error)

/* I/O helpers: whole reads and writes, errors naming the file. */
gboolean
annals_store_set_io_error (GError **error, int errnum, const char *what, const char *path)
{
  int code
      = (errnum == ENOSPC || errnum == EFBIG || errnum == EDQUOT) ? ANNALS_STORE_ERROR_NO_SPACE : ANNALS_STORE_ERROR_IO;
  g_set_error (error, ANNALS_STORE_ERROR, code, "cannot %s '%s': %s", what, path, g_strerror (errnum));
  return FALSE;
}

gboolean
annals_store_pread_all (int fd, void *buf, gsize len, guint64 offset, const char *path, GError **error)
{
  guint8 *p = buf;
  while (len > 0) {
    ssize_t n = pread (fd, p, len, (off_t) offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return annals_store_set_io_error (error, errno, "read", path);
    if (n == 0) {
      g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT, "'%s' ends early at byte %" G_GUINT64_FORMAT,
                   path, offset);
      return FALSE;
    }
    p += n;
    len -= (gsize) n;
    offset += (guint64) n;
  }
  return TRUE;
}

gboolean
annals_store_pwrite_all (int fd, const void *buf, gsize len, guint64 offset, const char *path, GError **error)
{
  const guint8 *p = buf;
  while (len > 0) {
    ssize_t n = pwrite (fd, p, len, (off_t) offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return annals_store_set_io_error (error, errno, "write", path);
    if (n == 0)
      return annals_store_set_io_error (error, ENOSPC, "write", path);
    p += n;
    len -= (gsize) n;
    offset += (guint64) n;
  }
  return TRUE;
}

gboolean
annals_store_fsync_path (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return annals_store_set_io_error (error, errno, "open", path);
  if (fsync (fd) != 0) {
    int e = errno;
    close (fd);
    return annals_store_set_io_error (error, e, "sync", path);
  }
  close (fd);
  return TRUE;
}

guint64
annals_store_file_size (int fd)
{
  struct stat st;
  if (fstat (fd, &st) != 0)
    return 0;
  return (guint64) st.st_size;
}

struct _AnnalsStore {
  char *dir;
  char *offsets_path;
  char *meta_path;
  int offsets_fd;
  int meta_fd;
  GHashTable *pack_fds; /* pack number -> fd + 1 */
  GHashTable *dicts;    /* dict id -> GBytes */
  struct stat seen;     /* offsets as annals_store_refresh() last saw it */
  gboolean settled;     /* seen was older than the clock's granularity */
};

char *
annals_store_pack_path (const char *dir, guint32 pack)
{
  char name[32];
  g_snprintf (name, sizeof name, "%08u.pack", pack);
  return g_build_filename (dir, "packs", name, NULL);
}

char *
annals_store_dict_path (const char *dir, guint32 id)
{
  char name[32];
  g_snprintf (name, sizeof name, "%08u.zdict", id);
  return g_build_filename (dir, "dict", name, NULL);
}

static gboolean
check_file_header (int fd, const char *magic, guint32 entry_size, const char *path, GError **error)
{
  guint8 h[FILE_HEADER_SIZE];
  if (!annals_store_pread_all (fd, h, sizeof h, 0, path, error))
    return FALSE;
  if (memcmp (h, magic, 8) != 0 || get32 (h + 12) != entry_size) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_FORMAT, "'%s' is not an annals store file", path);
    return FALSE;
  }
  if (get32 (h + 8) != FILE_VERSION) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_FORMAT,
                 "'%s' has format version %u; this annals reads version %u", path, get32 (h + 8), FILE_VERSION);
    return FALSE;
  }
  return TRUE;
}

AnnalsStore *
annals_store_open (const char *dir, GError **error)
{
  g_autofree char *format = g_build_filename (dir, "FORMAT", NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (format, &text, NULL, NULL)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_FORMAT,
                 "'%s' is not an annals store (no FORMAT file): archive a message first", dir);
    return NULL;
  }
  if (strcmp (text, FORMAT_TEXT) != 0) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_FORMAT,
                 "store '%s' has format '%s'; this annals reads '%.*s'", dir, g_strchomp (text),
                 (int) strlen (FORMAT_TEXT) - 1, FORMAT_TEXT);
    return NULL;
  }
  g_autoptr (AnnalsStore) s = g_new0 (AnnalsStore, 1);
  s->dir = g_strdup (dir);
  s->offsets_fd = s->meta_fd = -1;
  s->offsets_path = g_build_filename (dir, "offsets", NULL);
  s->meta_path = g_build_filename (dir, "meta", NULL);
  s->pack_fds = g_hash_table_new (g_direct_hash, g_direct_equal);
  s->dicts = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) g_bytes_unref);
  s->offsets_fd = open (s->offsets_path, O_RDONLY | O_CLOEXEC);
  if (s->offsets_fd < 0) {
    annals_store_set_io_error (error, errno, "open", s->offsets_path);
    return NULL;
  }
  s->meta_fd = open (s->meta_path, O_RDONLY | O_CLOEXEC);
  if (s->meta_fd < 0) {
    annals_store_set_io_error (error, errno, "open", s->meta_path);
    return NULL;
  }
  if (!check_file_header (s->offsets_fd, OFFSETS_MAGIC, ENTRY_SIZE, s->offsets_path, error)
      || !check_file_header (s->meta_fd, META_MAGIC, 0, s->meta_path, error))
    return NULL;
  /* Before any pack is opened: a write after this is seen by the next
   * refresh. */
  if (fstat (s->offsets_fd, &s->seen) != 0) {
    annals_store_set_io_error (error, errno, "read", s->offsets_path);
    return NULL;
  }
  return g_steal_pointer (&s);
}

void
annals_store_free (AnnalsStore *store)
{
  if (store == NULL)
    return;
  if (store->offsets_fd >= 0)
    close (store->offsets_fd);
  if (store->meta_fd >= 0)
    close (store->meta_fd);
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, store->pack_fds);
  while (g_hash_table_iter_next (&it, NULL, &value))
    close (GPOINTER_TO_INT (value) - 1);
  g_hash_table_unref (store->pack_fds);
  g_hash_table_unref (store->dicts);
  g_free (store->offsets_path);
  g_free (store->meta_path);
  g_free (store->dir);
  g_free (store);
}

static gboolean
same_times (const struct stat *a, const struct stat *b)
{
  return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec
         && a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

gboolean
annals_store_refresh (AnnalsStore *store)
{
  struct stat now;
  if (stat (store->offsets_path, &now) != 0 || now.st_ino != store->seen.st_ino || now.st_dev != store->seen.st_dev)
    return FALSE;
  if (store->settled && same_times (&now, &store->seen))
    return TRUE;
  /* Written since (an append, or a redaction, which replaces a pack file
   * before it flags the entry): the handles on packs may be on files no
   * longer there.  Dictionaries never change. */
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, store->pack_fds);
  while (g_hash_table_iter_next (&it, NULL, &value))
    close (GPOINTER_TO_INT (value) - 1);
  g_hash_table_remove_all (store->pack_fds);
  store->seen = now;
  /* A write within the same tick of the file system's clock leaves the
   * times as they are: only times a second old are trusted (git's
   * "racy clean" rule). */
  store->settled = now.st_mtim.tv_sec + 1 < g_get_real_time () / G_USEC_PER_SEC
                   && now.st_ctim.tv_sec + 1 < g_get_real_time () / G_USEC_PER_SEC;
  return TRUE;
}

guint64
annals_store_count (AnnalsStore *store)
{
  guint64 size = annals_store_file_size (store->offsets_fd);
  return size < FILE_HEADER_SIZE ? 0 : (size - FILE_HEADER_SIZE) / ENTRY_SIZE;
}

gboolean
annals_store_read_entry (AnnalsStore *store, guint64 number, Entry *e, GError **error)
{
  if (number >= annals_store_count (store)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NOT_FOUND,
                 "no message %" G_GUINT64_FORMAT " in '%s' (it holds %" G_GUINT64_FORMAT ")", number, store->dir,
                 annals_store_count (store));
    return FALSE;
  }
  guint8 buf[ENTRY_SIZE];
  if (!annals_store_pread_all (store->offsets_fd, buf, sizeof buf, FILE_HEADER_SIZE + number * ENTRY_SIZE,
                               store->offsets_path, error))
    return FALSE;
  if (!annals_store_entry_decode (buf, e)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': entry for message %" G_GUINT64_FORMAT " fails its checksum; rebuild offsets and meta "
                 "from the packs as doc/store-format.md says ('Rebuilding offsets and meta')",
                 store->offsets_path, number);
    return FALSE;
  }
  return TRUE;
}

/* Entries are read 4096 at a time (192 KiB): a linear scan costs about
 * 1 ms per 20,000 messages. */
#define SCAN_CHUNK 4096

void
annals_store_scan_init (AnnalsStoreScan *scan, AnnalsStore *store, guint64 from, guint64 to)
{
  memset (scan, 0, sizeof *scan);
  scan->store = store;
  scan->number = from;
  scan->end = to;
  scan->chunk_start = from;
}

AnnalsStoreScanStep
annals_store_scan_next (AnnalsStoreScan *scan, Entry *e, GError **error)
{
  guint64 next = scan->buf == NULL ? scan->number : scan->number + 1;
  for (;; next++) {
    if (next >= scan->end)
      return ANNALS_STORE_SCAN_END;
    if (scan->buf == NULL || next >= scan->chunk_start + scan->chunk_count) {
      if (scan->buf == NULL)
        scan->buf = g_malloc (SCAN_CHUNK * ENTRY_SIZE);
      scan->chunk_start = next;
      scan->chunk_count = MIN (SCAN_CHUNK, scan->end - next);
      if (!annals_store_pread_all (scan->store->offsets_fd, scan->buf, scan->chunk_count * ENTRY_SIZE,
                                   FILE_HEADER_SIZE + next * ENTRY_SIZE, scan->store->offsets_path, error)) {
        scan->end = next; /* no further steps */
        return ANNALS_STORE_SCAN_ERROR;
      }
    }
    const guint8 *in = scan->buf + (next - scan->chunk_start) * ENTRY_SIZE;
    scan->number = next;
    /* The flags field, unchecked: an entry it rules out is not wanted
     * whether its CRC holds or not. */
    if ((get32 (in + 4) & scan->want_flags) != scan->want_flags)
      continue;
    if (!annals_store_entry_decode (in, e))
      return ANNALS_STORE_SCAN_DAMAGED;
    return ANNALS_STORE_SCAN_ENTRY;
  }
}

void
annals_store_scan_clear (AnnalsStoreScan *scan)
{
  g_clear_pointer (&scan->buf, g_free);
}

static int
pack_fd (AnnalsStore *store, guint32 pack, GError **error)
{
  gpointer v = g_hash_table_lookup (store->pack_fds, GUINT_TO_POINTER (pack));
  if (v != NULL)
    return GPOINTER_TO_INT (v) - 1;
  g_autofree char *path = annals_store_pack_path (store->dir, pack);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    annals_store_set_io_error (error, errno, "open", path);
    return -1;
  }
  g_hash_table_insert (store->pack_fds, GUINT_TO_POINTER (pack), GINT_TO_POINTER (fd + 1));
  return fd;
}

void
annals_store_forget_pack (AnnalsStore *store, guint32 pack)
{
  gpointer fdp = NULL;
  if (g_hash_table_steal_extended (store->pack_fds, GUINT_TO_POINTER (pack), NULL, &fdp))
    close (GPOINTER_TO_INT (fdp) - 1);
}

GBytes *
annals_store_load_dict (AnnalsStore *store, guint32 id, GError **error)
{
  if (id == 0)
    return NULL;
  GBytes *d = g_hash_table_lookup (store->dicts, GUINT_TO_POINTER (id));
  if (d != NULL)
    return d;
  g_autofree char *path = annals_store_dict_path (store->dir, id);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &data, &len, &local)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT, "cannot read dictionary: %s", local->message);
    return NULL;
  }
  const guint8 *p = (const guint8 *) data;
  if (len < 24 || memcmp (p, DICT_MAGIC, 8) != 0 || get32 (p + 8) != FILE_VERSION || get32 (p + 12) != id
      || get32 (p + 16) != len - 24 || get32 (p + 20) != annals_zcodec_crc32 (0, p + 24, len - 24)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT, "dictionary '%s' is damaged", path);
    return NULL;
  }
  d = g_bytes_new (p + 24, len - 24);
  g_hash_table_insert (store->dicts, GUINT_TO_POINTER (id), d);
  return d;
}

gboolean
annals_store_read_record_at (AnnalsStore *store, guint32 pack, guint64 offset, AnnalsStoreRecord *r, guint32 *type,
                             guint32 *payload_crc, GError **error)
{
  int fd = pack_fd (store, pack, error);
  if (fd < 0)
    return FALSE;
  guint8 h[RECORD_HEADER_SIZE];
  g_autofree char *path = annals_store_pack_path (store->dir, pack);
  if (!annals_store_pread_all (fd, h, sizeof h, offset, path, error))
    return FALSE;
  *type = annals_store_record_decode (h, r, payload_crc);
  if (*type == 0) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': no whole record at byte %" G_GUINT64_FORMAT, path, offset);
    return FALSE;
  }
  r->pack = pack;
  r->offset = offset;
  return TRUE;
}

/* Entry number's record header, checked to be that entry's; its payload
 * CRC in *crc. */
gboolean
annals_store_read_numbered (AnnalsStore *store, guint64 number, AnnalsStoreRecord *record, guint32 *crc, GError **error)
{
  Entry e;
  guint32 type;
  if (!annals_store_read_entry (store, number, &e, error)
      || !annals_store_read_record_at (store, e.pack, e.pack_offset, record, &type, crc, error))
    return FALSE;
  if (!numbered_type (type) || record->number != number) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "pack %u byte %" G_GUINT64_FORMAT ": expected entry %" G_GUINT64_FORMAT ", found %" G_GUINT64_FORMAT,
                 e.pack, e.pack_offset, number, record->number);
    return FALSE;
  }
  return TRUE;
}

gboolean
annals_store_read_record (AnnalsStore *store, guint64 number, AnnalsStoreRecord *record, GError **error)
{
  guint32 crc;
  return annals_store_read_numbered (store, number, record, &crc, error);
}

/* Reads and inflates the payload of a record whose header is in r;
 * envelope, if not NULL, gets the record's mbox "From " line or NULL. */
GBytes *
annals_store_read_payload (AnnalsStore *store, const AnnalsStoreRecord *r, guint32 payload_crc, char **envelope,
                           GError **error)
{
  int fd = pack_fd (store, r->pack, error);
  if (fd < 0)
    return NULL;
  g_autofree char *path = annals_store_pack_path (store->dir, r->pack);
  if (r->raw_size > ANNALS_STORE_MAX_MESSAGE) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': message %" G_GUINT64_FORMAT " claims %" G_GUINT64_FORMAT " bytes", path, r->number,
                 r->raw_size);
    return NULL;
  }
  gsize total = (gsize) r->envelope_length + r->stored_size;
  g_autofree guint8 *stored = g_malloc (MAX (total, 1));
  if (!annals_store_pread_all (fd, stored, total, r->offset + RECORD_HEADER_SIZE, path, error))
    return NULL;
  if (annals_zcodec_crc32 (0, stored, total) != payload_crc) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': message %" G_GUINT64_FORMAT " fails its checksum", path, r->number);
    return NULL;
  }
  GBytes *dict = NULL;
  if (r->dict != 0 && (dict = annals_store_load_dict (store, r->dict, error)) == NULL)
    return NULL;
  g_autoptr (GError) local = NULL;
  GBytes *raw = annals_zcodec_inflate (stored + r->envelope_length, r->stored_size, r->raw_size, dict, &local);
  if (raw == NULL) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT, "'%s': message %" G_GUINT64_FORMAT ": %s", path,
                 r->number, local->message);
    return NULL;
  }
  if (envelope != NULL)
    *envelope = r->envelope_length > 0 ? g_strndup ((const char *) stored, r->envelope_length) : NULL;
  return raw;
}

GBytes *
annals_store_read (AnnalsStore *store, guint64 number, AnnalsStoreRecord *record, GError **error)
{
  AnnalsStoreRecord r;
  guint32 crc;
  if (!annals_store_read_numbered (store, number, &r, &crc, error))
    return NULL;
  guint32 type = r.type;
  if (type == RECORD_REDACTED) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_REDACTED, "message %" G_GUINT64_FORMAT " was redacted",
                 number);
    return NULL;
  }
  if (type == RECORD_REDACTION) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_REDACTED,
                 "entry %" G_GUINT64_FORMAT " is a redaction notice, not a message", number);
    return NULL;
  }
  if (record != NULL)
    *record = r;
  return annals_store_read_payload (store, &r, crc, NULL, error);
}

#define STREAM_PIECE (64 * 1024)

gboolean
annals_store_read_to (AnnalsStore *store, guint64 number, AnnalsStoreRecord *record,
                      gboolean (*sink) (const guint8 *data, gsize length, gpointer user_data), gpointer user_data,
                      GError **error)
{
  AnnalsStoreRecord r;
  guint32 crc;
  if (!annals_store_read_numbered (store, number, &r, &crc, error))
    return FALSE;
  if (r.type == RECORD_REDACTED || r.type == RECORD_REDACTION) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_REDACTED,
                 r.type == RECORD_REDACTED ? "message %" G_GUINT64_FORMAT " was redacted"
                                           : "entry %" G_GUINT64_FORMAT " is a redaction notice, not a message",
                 number);
    return FALSE;
  }
  if (record != NULL)
    *record = r;
  int fd = pack_fd (store, r.pack, error);
  if (fd < 0)
    return FALSE;
  g_autofree char *path = annals_store_pack_path (store->dir, r.pack);
  if (r.raw_size > ANNALS_STORE_MAX_MESSAGE) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': message %" G_GUINT64_FORMAT " claims %" G_GUINT64_FORMAT " bytes", path, r.number, r.raw_size);
    return FALSE;
  }
  guint64 start = r.offset + RECORD_HEADER_SIZE;
  gsize total = (gsize) r.envelope_length + r.stored_size;
  g_autofree guint8 *buf = g_malloc (STREAM_PIECE);
  guint32 sum = 0;
  for (gsize at = 0; at < total; at += MIN (STREAM_PIECE, total - at)) {
    gsize n = MIN (STREAM_PIECE, total - at);
    if (!annals_store_pread_all (fd, buf, n, start + at, path, error))
      return FALSE;
    sum = annals_zcodec_crc32 (sum, buf, n);
  }
  if (sum != crc) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': message %" G_GUINT64_FORMAT " fails its checksum", path, r.number);
    return FALSE;
  }
  GBytes *dict = NULL; /* the store's */
  if (r.dict != 0 && (dict = annals_store_load_dict (store, r.dict, error)) == NULL)
    return FALSE;
  g_autoptr (GError) local = NULL;
  g_autoptr (AnnalsInflater) inflater = annals_inflater_new (dict, r.raw_size, sink, user_data, &local);
  gboolean ok = inflater != NULL;
  for (gsize at = r.envelope_length; ok && at < total; at += MIN (STREAM_PIECE, total - at)) {
    gsize n = MIN (STREAM_PIECE, total - at);
    ok = annals_store_pread_all (fd, buf, n, start + at, path, error)
         && annals_inflater_push (inflater, buf, n, &local);
  }
  if (ok && annals_inflater_finish (inflater, &local))
    return TRUE;
  if (local != NULL)
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT, "'%s': message %" G_GUINT64_FORMAT ": %s", path,
                 r.number, local->message);
  return FALSE;
}

AnnalsStoreMeta *
annals_store_read_meta (AnnalsStore *store, guint64 number, GError **error)
{
  Entry e;
  if (!annals_store_read_entry (store, number, &e, error))
    return NULL;
  gsize len = (gsize) e.meta_length + 8;
  g_autofree guint8 *buf = g_malloc (len);
  if (!annals_store_pread_all (store->meta_fd, buf, len, e.meta_offset, store->meta_path, error))
    return NULL;
  AnnalsStoreMeta *m = annals_store_meta_decode (buf, len);
  if (m == NULL || m->number != number) {
    annals_store_meta_free (m);
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': record of message %" G_GUINT64_FORMAT " is damaged", store->meta_path, number);
    return NULL;
  }
  return m;
}

gboolean
annals_store_count_kinds (AnnalsStore *store, guint64 *messages, guint64 *notices, GError **error)
{
  guint64 count = annals_store_count (store), n = 0;
  AnnalsStoreScan scan;
  AnnalsStoreScanStep step;
  Entry e;
  annals_store_scan_init (&scan, store, 0, count);
  scan.want_flags = ANNALS_STORE_FLAG_REDACTION;
  while ((step = annals_store_scan_next (&scan, &e, error)) != ANNALS_STORE_SCAN_END && step != ANNALS_STORE_SCAN_ERROR)
    if (step == ANNALS_STORE_SCAN_ENTRY && (e.flags & ANNALS_STORE_FLAG_REDACTION))
      n++;
  annals_store_scan_clear (&scan);
  *notices = n;
  *messages = count - n;
  return step != ANNALS_STORE_SCAN_ERROR;
}

GArray *
annals_store_find_message_id (AnnalsStore *store, const char *message_id, GError **error)
{
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint64 want = annals_store_msgid_hash (message_id);
  AnnalsStoreScan scan;
  AnnalsStoreScanStep step;
  Entry e;
  annals_store_scan_init (&scan, store, 0, annals_store_count (store));
  while ((step = annals_store_scan_next (&scan, &e, error)) != ANNALS_STORE_SCAN_END
         && step != ANNALS_STORE_SCAN_ERROR) {
    if (step != ANNALS_STORE_SCAN_ENTRY || e.msgid_hash != want)
      continue;
    guint64 number = scan.number;
    g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (store, number, NULL);
    if (m != NULL && strcmp (m->hdr.message_id, message_id) == 0)
      g_array_append_val (out, number);
  }
  annals_store_scan_clear (&scan);
  return step == ANNALS_STORE_SCAN_ERROR ? NULL : g_steal_pointer (&out);
}

gboolean
annals_store_resolve_id (AnnalsStore *store, const char *id, guint64 *number, guint *copies, GError **error)
{
  if (copies)
    *copies = 1;
  if (*id != '\0' && strspn (id, "0123456789") == strlen (id)) {
    /* Checked: strtoull would turn a too-big number into another one. */
    if (!g_ascii_string_to_unsigned (id, 10, 0, G_MAXUINT64, number, NULL)) {
      g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NOT_FOUND, "no message %s: the number is out of range",
                   id);
      return FALSE;
    }
    return TRUE;
  }
  g_autofree char *bare = annals_message_id_strip (id);
  g_autoptr (GArray) found = annals_store_find_message_id (store, bare, error);
  if (found == NULL)
    return FALSE;
  if (found->len == 0) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NOT_FOUND, "no message with Message-ID <%s>", bare);
    return FALSE;
  }
  if (copies)
    *copies = found->len;
  *number = g_array_index (found, guint64, 0);
  return TRUE;
}
