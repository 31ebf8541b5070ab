/* store: see store.h and doc/store-format.md. */
#include "core/store.h"
#include "core/message.h"
#include "core/zcodec.h"
#include "core/zdict.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (annals_store_error, annals_store_error)

#define FORMAT_TEXT "annals-store 1\n"
#define PACK_MAGIC "ANNALSPK"
#define OFFSETS_MAGIC "ANNALSOX"
#define META_MAGIC "ANNALSMT"
#define DICT_MAGIC "ANNALSZD"
#define FILE_VERSION 1
#define FILE_HEADER_SIZE 16   /* offsets and meta: magic, version, entry size */
#define PACK_HEADER_SIZE 32
#define RECORD_MAGIC 0x31435241u /* "ARC1" little-endian */
#define RECORD_HEADER_SIZE 88
#define MAX_ENVELOPE 1024
#define RECORD_MESSAGE 1
#define RECORD_REDACTED 3
#define RECORD_REDACTION 4
#define RECORD_SEAL 2
#define ENTRY_SIZE 48
#define META_STRINGS 10
/* Messages whose tail the writer checks on open: a commit point lies
 * within this many of the end (ingest commits at most every 256). */
#define RECOVERY_WINDOW 1024
/* Training: the first dictionary after this many messages, from up to
 * this many recent ones. */
#define DICT_FIRST_AFTER 64
#define DICT_SAMPLE 512
#define DICT_RETRAIN_EVERY 4096
#define COMPRESSION_LEVEL 6

/* Little-endian fields. */
static void
put32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_LE (v);
  memcpy (p, &v, 4);
}
static void
put64 (guint8 *p, guint64 v)
{
  v = GUINT64_TO_LE (v);
  memcpy (p, &v, 8);
}
static guint32
get32 (const guint8 *p)
{
  guint32 v;
  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}
static guint64
get64 (const guint8 *p)
{
  guint64 v;
  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

typedef struct {
  guint32 pack;
  guint32 flags;
  guint64 pack_offset;
  guint64 meta_offset;
  guint64 msgid_hash;
  guint8 sha_prefix[8];
  guint32 meta_length;
} Entry;

static void
entry_encode (const Entry *e, guint8 out[ENTRY_SIZE])
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

static gboolean
entry_decode (const guint8 in[ENTRY_SIZE], Entry *e)
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

static void
record_encode (guint8 out[RECORD_HEADER_SIZE], guint32 type, const AnnalsStoreRecord *r, guint32 payload_crc)
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
static guint32
record_decode (const guint8 in[RECORD_HEADER_SIZE], AnnalsStoreRecord *r, guint32 *payload_crc)
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

static gboolean
numbered_type (guint32 type)
{
  return type == RECORD_MESSAGE || type == RECORD_REDACTED || type == RECORD_REDACTION;
}

/* Bytes a record takes in its pack. */
static guint64
record_span (const AnnalsStoreRecord *r)
{
  return RECORD_HEADER_SIZE + (guint64) r->envelope_length + r->stored_size;
}

static guint64
msgid_hash (const char *message_id)
{
  guint8 digest[32];
  gsize len = sizeof digest;
  g_autoptr (GChecksum) c = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (c, (const guchar *) message_id, (gssize) strlen (message_id));
  g_checksum_get_digest (c, digest, &len);
  return get64 (digest);
}

/* I/O helpers: whole reads and writes, errors naming the file. */
static gboolean
set_io_error (GError **error, int errnum, const char *what, const char *path)
{
  int code = (errnum == ENOSPC || errnum == EFBIG || errnum == EDQUOT) ? ANNALS_STORE_ERROR_NO_SPACE
                                                                         : ANNALS_STORE_ERROR_IO;
  g_set_error (error, ANNALS_STORE_ERROR, code, "cannot %s '%s': %s", what, path, g_strerror (errnum));
  return FALSE;
}

static gboolean
pread_all (int fd, void *buf, gsize len, guint64 offset, const char *path, GError **error)
{
  guint8 *p = buf;
  while (len > 0) {
    ssize_t n = pread (fd, p, len, (off_t) offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return set_io_error (error, errno, "read", path);
    if (n == 0) {
      g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                   "'%s' ends early at byte %" G_GUINT64_FORMAT, path, offset);
      return FALSE;
    }
    p += n;
    len -= (gsize) n;
    offset += (guint64) n;
  }
  return TRUE;
}

static gboolean
pwrite_all (int fd, const void *buf, gsize len, guint64 offset, const char *path, GError **error)
{
  const guint8 *p = buf;
  while (len > 0) {
    ssize_t n = pwrite (fd, p, len, (off_t) offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return set_io_error (error, errno, "write", path);
    if (n == 0)
      return set_io_error (error, ENOSPC, "write", path);
    p += n;
    len -= (gsize) n;
    offset += (guint64) n;
  }
  return TRUE;
}

static gboolean
fsync_path (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return set_io_error (error, errno, "open", path);
  if (fsync (fd) != 0) {
    int e = errno;
    close (fd);
    return set_io_error (error, e, "sync", path);
  }
  close (fd);
  return TRUE;
}

static guint64
file_size (int fd)
{
  struct stat st;
  if (fstat (fd, &st) != 0)
    return 0;
  return (guint64) st.st_size;
}

/* --- Reading ------------------------------------------------------- */

struct _AnnalsStore {
  char *dir;
  char *offsets_path;
  char *meta_path;
  int offsets_fd;
  int meta_fd;
  GHashTable *pack_fds;   /* pack number -> fd + 1 */
  GHashTable *dicts;      /* dict id -> GBytes */
};

static char *
pack_path (const char *dir, guint32 pack)
{
  char name[32];
  g_snprintf (name, sizeof name, "%08u.pack", pack);
  return g_build_filename (dir, "packs", name, NULL);
}

static char *
dict_path (const char *dir, guint32 id)
{
  char name[32];
  g_snprintf (name, sizeof name, "%08u.zdict", id);
  return g_build_filename (dir, "dict", name, NULL);
}

static gboolean
check_file_header (int fd, const char *magic, guint32 entry_size, const char *path, GError **error)
{
  guint8 h[FILE_HEADER_SIZE];
  if (!pread_all (fd, h, sizeof h, 0, path, error))
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
                 "store '%s' has format '%s'; this annals reads '%.*s'",
                 dir, g_strchomp (text), (int) strlen (FORMAT_TEXT) - 1, FORMAT_TEXT);
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
    set_io_error (error, errno, "open", s->offsets_path);
    return NULL;
  }
  s->meta_fd = open (s->meta_path, O_RDONLY | O_CLOEXEC);
  if (s->meta_fd < 0) {
    set_io_error (error, errno, "open", s->meta_path);
    return NULL;
  }
  if (!check_file_header (s->offsets_fd, OFFSETS_MAGIC, ENTRY_SIZE, s->offsets_path, error)
      || !check_file_header (s->meta_fd, META_MAGIC, 0, s->meta_path, error))
    return NULL;
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

guint64
annals_store_count (AnnalsStore *store)
{
  guint64 size = file_size (store->offsets_fd);
  return size < FILE_HEADER_SIZE ? 0 : (size - FILE_HEADER_SIZE) / ENTRY_SIZE;
}

static gboolean
read_entry (AnnalsStore *store, guint64 number, Entry *e, GError **error)
{
  if (number >= annals_store_count (store)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NOT_FOUND,
                 "no message %" G_GUINT64_FORMAT " in '%s' (it holds %" G_GUINT64_FORMAT ")",
                 number, store->dir, annals_store_count (store));
    return FALSE;
  }
  guint8 buf[ENTRY_SIZE];
  if (!pread_all (store->offsets_fd, buf, sizeof buf, FILE_HEADER_SIZE + number * ENTRY_SIZE, store->offsets_path, error))
    return FALSE;
  if (!entry_decode (buf, e)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': entry for message %" G_GUINT64_FORMAT " fails its checksum; rebuild offsets and meta "
                 "from the packs as doc/store-format.md says ('Rebuilding offsets and meta')",
                 store->offsets_path, number);
    return FALSE;
  }
  return TRUE;
}

static int
pack_fd (AnnalsStore *store, guint32 pack, GError **error)
{
  gpointer v = g_hash_table_lookup (store->pack_fds, GUINT_TO_POINTER (pack));
  if (v != NULL)
    return GPOINTER_TO_INT (v) - 1;
  g_autofree char *path = pack_path (store->dir, pack);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    set_io_error (error, errno, "open", path);
    return -1;
  }
  g_hash_table_insert (store->pack_fds, GUINT_TO_POINTER (pack), GINT_TO_POINTER (fd + 1));
  return fd;
}

static GBytes *
load_dict (AnnalsStore *store, guint32 id, GError **error)
{
  if (id == 0)
    return NULL;
  GBytes *d = g_hash_table_lookup (store->dicts, GUINT_TO_POINTER (id));
  if (d != NULL)
    return d;
  g_autofree char *path = dict_path (store->dir, id);
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

static gboolean
read_record_at (AnnalsStore *store, guint32 pack, guint64 offset, AnnalsStoreRecord *r, guint32 *type,
                guint32 *payload_crc, GError **error)
{
  int fd = pack_fd (store, pack, error);
  if (fd < 0)
    return FALSE;
  guint8 h[RECORD_HEADER_SIZE];
  g_autofree char *path = pack_path (store->dir, pack);
  if (!pread_all (fd, h, sizeof h, offset, path, error))
    return FALSE;
  *type = record_decode (h, r, payload_crc);
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
static gboolean
read_numbered (AnnalsStore *store, guint64 number, AnnalsStoreRecord *record, guint32 *crc, GError **error)
{
  Entry e;
  guint32 type;
  if (!read_entry (store, number, &e, error)
      || !read_record_at (store, e.pack, e.pack_offset, record, &type, crc, error))
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
  return read_numbered (store, number, record, &crc, error);
}

/* Reads and inflates the payload of a record whose header is in r;
 * envelope, if not NULL, gets the record's mbox "From " line or NULL. */
static GBytes *
read_payload (AnnalsStore *store, const AnnalsStoreRecord *r, guint32 payload_crc, char **envelope, GError **error)
{
  int fd = pack_fd (store, r->pack, error);
  if (fd < 0)
    return NULL;
  g_autofree char *path = pack_path (store->dir, r->pack);
  if (r->raw_size > ANNALS_STORE_MAX_MESSAGE) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': message %" G_GUINT64_FORMAT " claims %" G_GUINT64_FORMAT " bytes", path, r->number, r->raw_size);
    return NULL;
  }
  gsize total = (gsize) r->envelope_length + r->stored_size;
  g_autofree guint8 *stored = g_malloc (MAX (total, 1));
  if (!pread_all (fd, stored, total, r->offset + RECORD_HEADER_SIZE, path, error))
    return NULL;
  if (annals_zcodec_crc32 (0, stored, total) != payload_crc) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': message %" G_GUINT64_FORMAT " fails its checksum", path, r->number);
    return NULL;
  }
  GBytes *dict = NULL;
  if (r->dict != 0 && (dict = load_dict (store, r->dict, error)) == NULL)
    return NULL;
  g_autoptr (GError) local = NULL;
  GBytes *raw = annals_zcodec_inflate (stored + r->envelope_length, r->stored_size, r->raw_size, dict, &local);
  if (raw == NULL) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': message %" G_GUINT64_FORMAT ": %s", path, r->number, local->message);
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
  if (!read_numbered (store, number, &r, &crc, error))
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
  return read_payload (store, &r, crc, NULL, error);
}

void
annals_store_meta_free (AnnalsStoreMeta *meta)
{
  if (meta == NULL)
    return;
  g_free (meta->envelope);
  g_free (meta->message_id);
  g_free (meta->in_reply_to);
  g_free (meta->references);
  g_free (meta->from);
  g_free (meta->from_addr);
  g_free (meta->to);
  g_free (meta->cc);
  g_free (meta->subject);
  g_free (meta->list_id);
  g_free (meta);
}

static void
meta_slots (AnnalsStoreMeta *m, char **slots[META_STRINGS])
{
  char **all[META_STRINGS] = {
    &m->envelope, &m->message_id, &m->in_reply_to, &m->references, &m->from,
    &m->from_addr, &m->to, &m->cc, &m->subject, &m->list_id,
  };
  memcpy (slots, all, sizeof all);
}

/* Meta record: u32 body length, u32 body CRC, body: u64 number, i64 date,
 * i64 receipt, u32 flags, u32 string count, then each string as u32
 * length + bytes (length 0: absent). */
static GByteArray *
meta_encode (guint64 number, guint32 flags, gint64 receipt, const char *envelope, const AnnalsMessageInfo *info)
{
  const char *strings[META_STRINGS] = {
    envelope, info->message_id, info->in_reply_to, info->references, info->from,
    info->from_addr, info->to, info->cc, info->subject, info->list_id,
  };
  GByteArray *b = g_byte_array_sized_new (256);
  guint8 fixed[8 + 36];
  memset (fixed, 0, 8);
  put64 (fixed + 8, number);
  put64 (fixed + 16, (guint64) info->date);
  put64 (fixed + 24, (guint64) receipt);
  put32 (fixed + 32, flags);
  put32 (fixed + 36, META_STRINGS);
  g_byte_array_append (b, fixed, 40);
  for (guint i = 0; i < META_STRINGS; i++) {
    guint32 len = strings[i] ? (guint32) MIN (strlen (strings[i]), 65535) : 0;
    guint8 l[4];
    put32 (l, len);
    g_byte_array_append (b, l, 4);
    if (len > 0)
      g_byte_array_append (b, (const guint8 *) strings[i], len);
  }
  put32 (b->data, b->len - 8);
  put32 (b->data + 4, annals_zcodec_crc32 (0, b->data + 8, b->len - 8));
  return b;
}

static AnnalsStoreMeta *
meta_decode (const guint8 *p, gsize len)
{
  if (len < 40 || get32 (p) != len - 8 || get32 (p + 4) != annals_zcodec_crc32 (0, p + 8, len - 8))
    return NULL;
  AnnalsStoreMeta *m = g_new0 (AnnalsStoreMeta, 1);
  m->number = get64 (p + 8);
  m->date = (gint64) get64 (p + 16);
  m->receipt = (gint64) get64 (p + 24);
  m->flags = get32 (p + 32);
  guint32 n = get32 (p + 36);
  char **slots[META_STRINGS];
  meta_slots (m, slots);
  gsize pos = 40;
  for (guint32 i = 0; i < n; i++) {
    if (pos + 4 > len)
      goto bad;
    guint32 sl = get32 (p + pos);
    pos += 4;
    if (pos + sl > len)
      goto bad;
    if (i < META_STRINGS && sl > 0)
      *slots[i] = g_strndup ((const char *) p + pos, sl);
    pos += sl;
  }
  if (m->message_id == NULL)
    goto bad;
  return m;
bad:
  annals_store_meta_free (m);
  return NULL;
}

AnnalsStoreMeta *
annals_store_read_meta (AnnalsStore *store, guint64 number, GError **error)
{
  Entry e;
  if (!read_entry (store, number, &e, error))
    return NULL;
  gsize len = (gsize) e.meta_length + 8;
  g_autofree guint8 *buf = g_malloc (len);
  if (!pread_all (store->meta_fd, buf, len, e.meta_offset, store->meta_path, error))
    return NULL;
  AnnalsStoreMeta *m = meta_decode (buf, len);
  if (m == NULL || m->number != number) {
    annals_store_meta_free (m);
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                 "'%s': record of message %" G_GUINT64_FORMAT " is damaged", store->meta_path, number);
    return NULL;
  }
  return m;
}

GArray *
annals_store_find_message_id (AnnalsStore *store, const char *message_id, GError **error)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint64 want = msgid_hash (message_id);
  guint64 n = annals_store_count (store);
  /* A linear scan of 48-byte entries: about 1 ms per 20,000 messages. */
  const guint64 chunk = 4096;
  g_autofree guint8 *buf = g_malloc (chunk * ENTRY_SIZE);
  for (guint64 start = 0; start < n; start += chunk) {
    guint64 count = MIN (chunk, n - start);
    if (!pread_all (store->offsets_fd, buf, count * ENTRY_SIZE, FILE_HEADER_SIZE + start * ENTRY_SIZE,
                    store->offsets_path, error)) {
      g_array_unref (out);
      return NULL;
    }
    for (guint64 i = 0; i < count; i++) {
      Entry e;
      if (!entry_decode (buf + i * ENTRY_SIZE, &e) || e.msgid_hash != want)
        continue;
      guint64 number = start + i;
      g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (store, number, NULL);
      if (m != NULL && strcmp (m->message_id, message_id) == 0)
        g_array_append_val (out, number);
    }
  }
  return out;
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
  g_autofree char *bare = g_strdup (id[0] == '<' ? id + 1 : id);
  if (id[0] == '<' && g_str_has_suffix (bare, ">"))
    bare[strlen (bare) - 1] = '\0';
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

/* --- Writing ------------------------------------------------------- */

struct _AnnalsStoreWriter {
  char *dir;
  AnnalsStore *reader;
  int lock_fd;
  int pack_fd;
  int meta_fd;
  int offsets_fd;
  char *pack_path;
  guint32 pack;
  guint64 pack_size;      /* bytes in the current pack */
  guint64 pack_records;   /* message records in the current pack */
  guint64 pack_limit;
  guint64 meta_size;
  guint64 count;          /* messages in the store */
  guint64 recovered;
  guint32 dict_id;        /* the dictionary new records use */
  GBytes *dict;
  guint32 next_dict_id;
  AnnalsDeflater *deflater;
  GHashTable *by_msgid;   /* msgid hash -> latest number + 1 */
  gboolean dirty;         /* written since the last commit */
};

static gboolean
write_file_header (int fd, const char *magic, guint32 entry_size, const char *path, GError **error)
{
  guint8 h[FILE_HEADER_SIZE];
  memcpy (h, magic, 8);
  put32 (h + 8, FILE_VERSION);
  put32 (h + 12, entry_size);
  return pwrite_all (fd, h, sizeof h, 0, path, error);
}

static gboolean
create_store (const char *dir, GError **error)
{
  g_autofree char *packs = g_build_filename (dir, "packs", NULL);
  g_autofree char *dicts = g_build_filename (dir, "dict", NULL);
  if (g_mkdir_with_parents (packs, 0755) != 0)
    return set_io_error (error, errno, "create", packs);
  if (g_mkdir_with_parents (dicts, 0755) != 0)
    return set_io_error (error, errno, "create", dicts);
  struct {
    const char *name, *magic;
    guint32 entry;
  } files[] = { { "offsets", OFFSETS_MAGIC, ENTRY_SIZE }, { "meta", META_MAGIC, 0 } };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *path = g_build_filename (dir, files[i].name, NULL);
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return set_io_error (error, errno, "create", path);
    gboolean ok = file_size (fd) >= FILE_HEADER_SIZE
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
  return fsync_path (dir, error);
}

static gboolean
take_lock (AnnalsStoreWriter *w, guint timeout_ms, GError **error)
{
  g_autofree char *path = g_build_filename (w->dir, "lock", NULL);
  w->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (w->lock_fd < 0)
    return set_io_error (error, errno, "open", path);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (flock (w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR)
      return set_io_error (error, errno, "lock", path);
    if (g_get_monotonic_time () >= deadline) {
      g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_LOCKED,
                   "store '%s' is locked by another writer (waited %u ms for '%s'); try again later",
                   w->dir, timeout_ms, path);
      return FALSE;
    }
    g_usleep (20000);
  }
  return TRUE;
}

static gboolean
open_pack_for_append (AnnalsStoreWriter *w, guint32 pack, GError **error)
{
  if (w->pack_fd >= 0)
    close (w->pack_fd);
  g_free (w->pack_path);
  w->pack = pack;
  w->pack_path = pack_path (w->dir, pack);
  w->pack_fd = open (w->pack_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (w->pack_fd < 0)
    return set_io_error (error, errno, "open", w->pack_path);
  w->pack_size = file_size (w->pack_fd);
  if (w->pack_size < PACK_HEADER_SIZE) {
    guint8 h[PACK_HEADER_SIZE] = { 0 };
    memcpy (h, PACK_MAGIC, 8);
    put32 (h + 8, FILE_VERSION);
    put32 (h + 12, pack);
    put32 (h + 16, RECORD_HEADER_SIZE);
    if (!pwrite_all (w->pack_fd, h, sizeof h, 0, w->pack_path, error))
      return FALSE;
    if (ftruncate (w->pack_fd, PACK_HEADER_SIZE) != 0 || fdatasync (w->pack_fd) != 0)
      return set_io_error (error, errno, "write", w->pack_path);
    g_autofree char *packs = g_build_filename (w->dir, "packs", NULL);
    if (!fsync_path (packs, error))
      return FALSE;
    w->pack_size = PACK_HEADER_SIZE;
  } else {
    guint8 h[PACK_HEADER_SIZE];
    if (!pread_all (w->pack_fd, h, sizeof h, 0, w->pack_path, error))
      return FALSE;
    if (memcmp (h, PACK_MAGIC, 8) != 0 || get32 (h + 8) != FILE_VERSION || get32 (h + 12) != pack) {
      g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_FORMAT, "'%s' is not pack %u of an annals store",
                   w->pack_path, pack);
      return FALSE;
    }
  }
  return TRUE;
}

/* Appends meta and offsets for a record already in the pack. */
static gboolean
index_record (AnnalsStoreWriter *w, const AnnalsStoreRecord *r, const char *envelope, const AnnalsMessageInfo *info,
              GError **error)
{
  g_autoptr (GByteArray) meta = meta_encode (r->number, r->flags, r->receipt, envelope, info);
  Entry e = {
    .pack = r->pack,
    .flags = r->flags,
    .pack_offset = r->offset,
    .meta_offset = w->meta_size,
    .msgid_hash = msgid_hash (info->message_id),
    .meta_length = meta->len - 8,
  };
  memcpy (e.sha_prefix, r->sha256, 8);
  guint8 buf[ENTRY_SIZE];
  entry_encode (&e, buf);
  g_autofree char *meta_path = g_build_filename (w->dir, "meta", NULL);
  g_autofree char *offsets_path = g_build_filename (w->dir, "offsets", NULL);
  guint64 entry_at = FILE_HEADER_SIZE + r->number * ENTRY_SIZE;
  if (!pwrite_all (w->meta_fd, meta->data, meta->len, w->meta_size, meta_path, error)
      || !pwrite_all (w->offsets_fd, buf, sizeof buf, entry_at, offsets_path, error)) {
    /* Leave no part of this message's entries behind. */
    if (ftruncate (w->meta_fd, (off_t) w->meta_size) != 0 || ftruncate (w->offsets_fd, (off_t) entry_at) != 0)
      g_warning ("cannot undo a failed write in '%s': %s", w->dir, g_strerror (errno));
    return FALSE;
  }
  w->meta_size += meta->len;
  w->count = r->number + 1;
  g_hash_table_insert (w->by_msgid, (gpointer) (guintptr) e.msgid_hash, (gpointer) (guintptr) (r->number + 1));
  return TRUE;
}

static void
sha256_of (const guint8 *data, gsize len, guint8 out[32], char hex[65])
{
  g_autoptr (GChecksum) c = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (c, data, (gssize) len);
  gsize dlen = 32;
  g_checksum_get_digest (c, out, &dlen);
  for (int i = 0; i < 32; i++)
    g_snprintf (hex + 2 * i, 3, "%02x", out[i]);
}

static gboolean reindex_special (AnnalsStoreWriter *w, const AnnalsStoreRecord *r, GError **error);
static gboolean finish_redactions (AnnalsStoreWriter *w, GError **error);

/* Checks the last entries against meta and the packs and cuts at the
 * first one that does not hold, then indexes whole records found in the
 * packs beyond the last entry. */
static gboolean
recover (AnnalsStoreWriter *w, GError **error)
{
  g_autofree char *offsets_path = g_build_filename (w->dir, "offsets", NULL);
  g_autofree char *meta_path = g_build_filename (w->dir, "meta", NULL);
  guint64 osize = file_size (w->offsets_fd);
  guint64 n = osize < FILE_HEADER_SIZE ? 0 : (osize - FILE_HEADER_SIZE) / ENTRY_SIZE;
  guint64 first = n > RECOVERY_WINDOW ? n - RECOVERY_WINDOW : 0;
  guint64 good = first;
  Entry last = { 0 };
  guint64 last_span = 0;
  for (guint64 i = first; i < n; i++) {
    guint8 buf[ENTRY_SIZE];
    Entry e;
    AnnalsStoreRecord r;
    guint32 type, crc;
    if (!pread_all (w->offsets_fd, buf, sizeof buf, FILE_HEADER_SIZE + i * ENTRY_SIZE, offsets_path, NULL)
        || !entry_decode (buf, &e))
      break;
    if (!read_record_at (w->reader, e.pack, e.pack_offset, &r, &type, &crc, NULL) || !numbered_type (type)
        || r.number != i)
      break;
    /* The payload CRC is checked for the newest entries only: older
     * ones were committed before the crash could touch them. */
    if (n - i <= 64 && type != RECORD_REDACTED) {
      g_autoptr (GBytes) raw = read_payload (w->reader, &r, crc, NULL, NULL);
      if (raw == NULL)
        break;
    }
    gsize mlen = (gsize) e.meta_length + 8;
    g_autofree guint8 *mbuf = g_malloc (mlen);
    if (!pread_all (w->meta_fd, mbuf, mlen, e.meta_offset, meta_path, NULL))
      break;
    g_autoptr (AnnalsStoreMeta) m = meta_decode (mbuf, mlen);
    if (m == NULL || m->number != i)
      break;
    good = i + 1;
    last = e;
    last_span = record_span (&r);
  }
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
      return set_io_error (error, errno, "repair", offsets_path);
  }
  guint64 meta_end = good > 0 ? last.meta_offset + last.meta_length + 8 : FILE_HEADER_SIZE;
  if (file_size (w->meta_fd) != meta_end && ftruncate (w->meta_fd, (off_t) meta_end) != 0)
    return set_io_error (error, errno, "repair", meta_path);
  w->meta_size = meta_end;
  w->count = good;

  /* Continue in the packs after the last indexed record. */
  guint32 pack = good > 0 ? last.pack : 0;
  guint64 offset = good > 0 ? last.pack_offset + last_span : PACK_HEADER_SIZE;
  if (!open_pack_for_append (w, pack, error))
    return FALSE;
  w->pack_records = 0;
  for (;;) {
    AnnalsStoreRecord r;
    guint32 type = 0, crc = 0;
    guint8 h[RECORD_HEADER_SIZE];
    gboolean whole = offset + RECORD_HEADER_SIZE <= w->pack_size
                     && pread_all (w->pack_fd, h, sizeof h, offset, w->pack_path, NULL)
                     && (type = record_decode (h, &r, &crc)) != 0
                     && offset + record_span (&r) <= w->pack_size;
    if (whole && type == RECORD_SEAL) {
      if (!open_pack_for_append (w, pack + 1, error))
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
      if (type == RECORD_REDACTED) {
        /* The message's id is all a tombstone keeps; meta gets that. */
        if (!reindex_special (w, &r, error))
          return FALSE;
        w->recovered++;
        w->pack_records++;
        offset += record_span (&r);
        continue;
      }
      raw = read_payload (w->reader, &r, crc, &envelope, NULL);
      if (raw != NULL && type == RECORD_REDACTION) {
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
          return set_io_error (error, errno, "repair", w->pack_path);
        w->pack_size = offset;
      }
      break;
    }
    guint8 sha[32];
    char hex[65];
    gsize rlen;
    const guint8 *rdata = g_bytes_get_data (raw, &rlen);
    sha256_of (rdata, rlen, sha, hex);
    if (memcmp (sha, r.sha256, 32) != 0)
      break;
    g_autoptr (AnnalsMessageInfo) info = annals_message_info_parse (rdata, rlen, hex);
    if (!index_record (w, &r, envelope, info, error))
      return FALSE;
    w->recovered++;
    w->pack_records++;
    offset += record_span (&r);
  }
  /* Packs past the one being appended to can only be leftovers of a
   * crash between creating a pack and sealing the one before. */
  for (guint32 p = pack + 1;; p++) {
    g_autofree char *path = pack_path (w->dir, p);
    if (g_unlink (path) != 0)
      break;
  }
  if (w->recovered > 0 || good < n)
    w->dirty = TRUE;
  return TRUE;
}

/* Reads the dictionary state and the Message-ID table. */
static gboolean
load_state (AnnalsStoreWriter *w, GError **error)
{
  g_autofree char *offsets_path = g_build_filename (w->dir, "offsets", NULL);
  const guint64 chunk = 4096;
  g_autofree guint8 *buf = g_malloc (chunk * ENTRY_SIZE);
  w->pack_records = 0;
  for (guint64 start = 0; start < w->count; start += chunk) {
    guint64 count = MIN (chunk, w->count - start);
    if (!pread_all (w->offsets_fd, buf, count * ENTRY_SIZE, FILE_HEADER_SIZE + start * ENTRY_SIZE, offsets_path, error))
      return FALSE;
    for (guint64 i = 0; i < count; i++) {
      Entry e;
      if (!entry_decode (buf + i * ENTRY_SIZE, &e)) {
        g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_CORRUPT,
                     "'%s': entry %" G_GUINT64_FORMAT " fails its checksum; rebuild offsets and meta from the packs "
                     "as doc/store-format.md says ('Rebuilding offsets and meta')",
                     offsets_path, start + i);
        return FALSE;
      }
      g_hash_table_insert (w->by_msgid, (gpointer) (guintptr) e.msgid_hash, (gpointer) (guintptr) (start + i + 1));
      if (e.pack == w->pack)
        w->pack_records++;
    }
  }
  w->dict_id = 0;
  if (w->count > 0) {
    AnnalsStoreRecord r;
    if (!annals_store_read_record (w->reader, w->count - 1, &r, error))
      return FALSE;
    w->dict_id = r.dict;
  }
  if (w->dict_id != 0) {
    GBytes *d = load_dict (w->reader, w->dict_id, error);
    if (d == NULL)
      return FALSE;
    w->dict = g_bytes_ref (d);
  }
  /* Dictionary files past the one in use are leftovers: ids go on after them. */
  w->next_dict_id = w->dict_id + 1;
  for (;;) {
    g_autofree char *path = dict_path (w->dir, w->next_dict_id);
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
    set_io_error (error, errno, "create", dir);
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
    set_io_error (error, errno, "open", offsets_path);
    return NULL;
  }
  w->meta_fd = open (meta_path, O_RDWR | O_CLOEXEC);
  if (w->meta_fd < 0) {
    set_io_error (error, errno, "open", meta_path);
    return NULL;
  }
  w->deflater = annals_deflater_new (COMPRESSION_LEVEL);
  if (!recover (w, error) || !load_state (w, error) || !finish_redactions (w, error))
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
    return set_io_error (error, errno, "sync", w->pack_path);
  if (fdatasync (w->meta_fd) != 0)
    return set_io_error (error, errno, "sync", "meta");
  if (fdatasync (w->offsets_fd) != 0)
    return set_io_error (error, errno, "sync", "offsets");
  w->dirty = FALSE;
  return TRUE;
}

/* Seals the current pack: a seal record holding the SHA-256 of every
 * byte before it, fsync, read-only; then starts the next pack. */
static gboolean
seal_pack (AnnalsStoreWriter *w, GError **error)
{
  g_autoptr (GChecksum) c = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buf = g_malloc (1 << 20);
  for (guint64 off = 0; off < w->pack_size;) {
    gsize n = (gsize) MIN ((guint64) 1 << 20, w->pack_size - off);
    if (!pread_all (w->pack_fd, buf, n, off, w->pack_path, error))
      return FALSE;
    g_checksum_update (c, buf, (gssize) n);
    off += n;
  }
  AnnalsStoreRecord r = { .number = w->pack_records, .stored_size = 32 };
  gsize dlen = 32;
  guint8 digest[32];
  g_checksum_get_digest (c, digest, &dlen);
  guint8 rec[RECORD_HEADER_SIZE + 32];
  record_encode (rec, RECORD_SEAL, &r, annals_zcodec_crc32 (0, digest, 32));
  memcpy (rec + RECORD_HEADER_SIZE, digest, 32);
  if (!pwrite_all (w->pack_fd, rec, sizeof rec, w->pack_size, w->pack_path, error)) {
    if (ftruncate (w->pack_fd, (off_t) w->pack_size) != 0)
      g_warning ("cannot undo a failed seal of '%s'", w->pack_path);
    return FALSE;
  }
  if (fdatasync (w->pack_fd) != 0)
    return set_io_error (error, errno, "sync", w->pack_path);
  if (fchmod (w->pack_fd, 0444) != 0)
    return set_io_error (error, errno, "seal", w->pack_path);
  w->pack_size += sizeof rec;
  if (!open_pack_for_append (w, w->pack + 1, error))
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
  g_autofree char *path = dict_path (w->dir, id);
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
find_duplicate (AnnalsStoreWriter *w, const char *message_id, guint64 hash, const guint8 sha[32],
                guint64 *number, gboolean *reused, GError **error)
{
  *reused = FALSE;
  guintptr latest = (guintptr) g_hash_table_lookup (w->by_msgid, (gpointer) (guintptr) hash);
  if (latest == 0)
    return FALSE;
  /* The common case, a re-import: the latest copy is the same. */
  AnnalsStoreRecord r;
  g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (w->reader, latest - 1, NULL);
  if (m != NULL && strcmp (m->message_id, message_id) == 0) {
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
static gboolean
append_record (AnnalsStoreWriter *w, guint32 type, const guint8 *raw, gsize length, const char *envelope,
               const AnnalsMessageInfo *info, AnnalsStoreRecord *r, GError **error)
{
  /* A dictionary once the list has shown what it repeats, better ones
   * as it shows more, and a fresh one now and then as its traffic moves. */
  if (w->count > 0 && (w->count == DICT_FIRST_AFTER || w->count == 4 * DICT_FIRST_AFTER
                       || w->count == 16 * DICT_FIRST_AFTER || w->count % DICT_RETRAIN_EVERY == 0)) {
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
  record_encode (header, type, r, crc);
  g_autofree char *kept_envelope = g_strndup (envelope, elen);
  w->dirty = TRUE;
  if (!pwrite_all (w->pack_fd, header, sizeof header, r->offset, w->pack_path, error)
      || !pwrite_all (w->pack_fd, envelope, elen, r->offset + RECORD_HEADER_SIZE, w->pack_path, error)
      || !pwrite_all (w->pack_fd, sdata, slen, r->offset + RECORD_HEADER_SIZE + elen, w->pack_path, error)
      || !index_record (w, r, kept_envelope, info, error)) {
    if (ftruncate (w->pack_fd, (off_t) r->offset) != 0)
      g_warning ("cannot undo a failed write in '%s': %s", w->pack_path, g_strerror (errno));
    return FALSE;
  }
  w->pack_size += record_span (r);
  w->pack_records++;
  return TRUE;
}

gboolean
annals_store_writer_add (AnnalsStoreWriter *w,
                         const guint8 *raw,
                         gsize length,
                         gint64 receipt,
                         const char *envelope,
                         AnnalsStoreAddResult *result,
                         GError **error)
{
  memset (result, 0, sizeof *result);
  if (length > ANNALS_STORE_MAX_MESSAGE) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_TOO_LARGE,
                 "message of %" G_GSIZE_FORMAT " bytes is over the limit of %" G_GSIZE_FORMAT " bytes",
                 length, ANNALS_STORE_MAX_MESSAGE);
    return FALSE;
  }
  AnnalsStoreRecord r = { .number = w->count, .receipt = receipt, .raw_size = length };
  char hex[65];
  sha256_of (raw, length, r.sha256, hex);
  g_autoptr (AnnalsMessageInfo) info = annals_message_info_parse (raw, length, hex);

  guint64 hash = msgid_hash (info->message_id);
  gboolean reused = FALSE;
  guint64 existing;
  g_autoptr (GError) local = NULL;
  if (find_duplicate (w, info->message_id, hash, r.sha256, &existing, &reused, &local)) {
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

  if (!append_record (w, RECORD_MESSAGE, raw, length, envelope, info, &r, error))
    return FALSE;
  result->status = ANNALS_STORE_ADDED;
  result->number = r.number;
  result->flags = r.flags;
  return TRUE;
}

/* --- Redaction ------------------------------------------------------ */

#define NOTICE_ID_FORMAT "redaction.%" G_GUINT64_FORMAT "@annals.invalid"

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

gboolean
annals_store_read_redaction (AnnalsStore *store, guint64 number, AnnalsStoreRedaction *out, GError **error)
{
  AnnalsStoreRecord r;
  guint32 crc;
  if (!read_numbered (store, number, &r, &crc, error))
    return FALSE;
  if (r.type != ANNALS_STORE_RECORD_REDACTION) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NOT_FOUND,
                 "entry %" G_GUINT64_FORMAT " is not a redaction notice", number);
    return FALSE;
  }
  g_autoptr (GBytes) raw = read_payload (store, &r, crc, NULL, error);
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
  guint64 n = annals_store_count (store);
  const guint64 chunk = 4096;
  g_autofree guint8 *buf = g_malloc (chunk * ENTRY_SIZE);
  for (guint64 start = 0; start < n; start += chunk) {
    guint64 count = MIN (chunk, n - start);
    if (!pread_all (store->offsets_fd, buf, count * ENTRY_SIZE, FILE_HEADER_SIZE + start * ENTRY_SIZE,
                    store->offsets_path, error))
      return FALSE;
    for (guint64 i = 0; i < count; i++) {
      Entry e;
      if (entry_decode (buf + i * ENTRY_SIZE, &e) && (e.flags & want) == want && !fn (start + i, data))
        return TRUE;
    }
  }
  return TRUE;
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
  AnnalsStoreRedaction red;
  if (annals_store_read_redaction (f->store, number, &red, NULL)) {
    gboolean hit = red.target == f->target;
    g_free (red.reason);
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

/* Indexes a tombstone or a notice found in a pack (recovery). */
static gboolean
reindex_special (AnnalsStoreWriter *w, const AnnalsStoreRecord *r, GError **error)
{
  g_autoptr (AnnalsMessageInfo) info = g_new0 (AnnalsMessageInfo, 1);
  info->date = ANNALS_NO_DATE;
  if (r->type == ANNALS_STORE_RECORD_REDACTED) {
    /* A tombstone's envelope is the redacted message's id. */
    g_autofree char *id = g_malloc0 (r->envelope_length + 1);
    if (!pread_all (w->pack_fd, id, r->envelope_length, r->offset + RECORD_HEADER_SIZE, w->pack_path, error))
      return FALSE;
    info->message_id = g_steal_pointer (&id);
  } else {
    info->message_id = g_strdup_printf (NOTICE_ID_FORMAT, r->number);
  }
  return index_record (w, r, NULL, info, error);
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
  g_autofree guint8 *buf = g_malloc0 (total);
  gsize idlen = MIN (strlen (old->message_id), total - 8 - 40 - 11 * 4);
  put64 (buf + 8, number);
  put64 (buf + 16, (guint64) ANNALS_NO_DATE);
  put64 (buf + 24, (guint64) old->receipt);
  put32 (buf + 32, e->flags | ANNALS_STORE_FLAG_REDACTED);
  put32 (buf + 36, META_STRINGS + 1); /* the last string pads to the old length */
  gsize pos = 40;
  for (guint i = 0; i < META_STRINGS; i++) {
    guint32 l = i == 1 ? (guint32) idlen : 0;
    put32 (buf + pos, l);
    pos += 4;
    if (l > 0) {
      memcpy (buf + pos, old->message_id, l);
      pos += l;
    }
  }
  put32 (buf + pos, (guint32) (total - pos - 4));
  put32 (buf, (guint32) (total - 8));
  put32 (buf + 4, annals_zcodec_crc32 (0, buf + 8, total - 8));
  if (!pwrite_all (w->meta_fd, buf, total, e->meta_offset, meta_path, error))
    return FALSE;
  Entry ne = *e;
  ne.flags |= ANNALS_STORE_FLAG_REDACTED;
  guint8 eb[ENTRY_SIZE];
  entry_encode (&ne, eb);
  return pwrite_all (w->offsets_fd, eb, sizeof eb, FILE_HEADER_SIZE + number * ENTRY_SIZE, offsets_path, error);
}

/* Replaces message target's record by a tombstone of the same length in
 * a new copy of its pack, which then replaces the old file. */
static gboolean
erase_message (AnnalsStoreWriter *w, guint64 target, GError **error)
{
  Entry e;
  AnnalsStoreRecord r;
  guint32 type, crc;
  if (!read_entry (w->reader, target, &e, error)
      || !read_record_at (w->reader, e.pack, e.pack_offset, &r, &type, &crc, error))
    return FALSE;
  if (type == RECORD_REDACTED)
    return scrub_meta (w, target, &e, error); /* the pack is done already */
  if (type != RECORD_MESSAGE) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NOT_FOUND,
                 "entry %" G_GUINT64_FORMAT " is not a message", target);
    return FALSE;
  }
  g_autofree char *path = pack_path (w->dir, e.pack);
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
  gsize idlen = MIN (MIN (strlen (m->message_id), MAX_ENVELOPE), room);
  memset (rec + RECORD_HEADER_SIZE, 0, room);
  memcpy (rec + RECORD_HEADER_SIZE, m->message_id, idlen);
  AnnalsStoreRecord t = r;
  t.type = ANNALS_STORE_RECORD_REDACTED;
  t.envelope_length = (guint32) idlen;
  t.stored_size = (guint32) (room - idlen);
  t.dict = 0;
  t.flags |= ANNALS_STORE_FLAG_REDACTED;
  record_encode (rec, RECORD_REDACTED, &t, annals_zcodec_crc32 (0, rec + RECORD_HEADER_SIZE, room));
  /* A sealed pack's seal covers every byte before it: renew it. */
  gboolean sealed = e.pack != w->pack;
  if (sealed && len >= RECORD_HEADER_SIZE + 32) {
    guint8 *seal = (guint8 *) data + len - RECORD_HEADER_SIZE - 32;
    AnnalsStoreRecord sr;
    guint32 scrc;
    if (record_decode (seal, &sr, &scrc) == RECORD_SEAL) {
      guint8 digest[32];
      gsize dlen = 32;
      g_autoptr (GChecksum) c = g_checksum_new (G_CHECKSUM_SHA256);
      g_checksum_update (c, (const guchar *) data, (gssize) (len - RECORD_HEADER_SIZE - 32));
      g_checksum_get_digest (c, digest, &dlen);
      memcpy (seal + RECORD_HEADER_SIZE, digest, 32);
      record_encode (seal, RECORD_SEAL, &sr, annals_zcodec_crc32 (0, digest, 32));
    }
  }
  if (!g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 sealed ? 0444 : 0644, &local)) {
    g_set_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_IO, "cannot rewrite pack: %s", local->message);
    return FALSE;
  }
  sodium_memzero (data, len);
  /* Handles on the old file are stale now. */
  gpointer fdp = NULL;
  if (g_hash_table_steal_extended (w->reader->pack_fds, GUINT_TO_POINTER (e.pack), NULL, &fdp))
    close (GPOINTER_TO_INT (fdp) - 1);
  if (!sealed && !open_pack_for_append (w, w->pack, error))
    return FALSE;
  return scrub_meta (w, target, &e, error);
}

typedef struct {
  AnnalsStoreWriter *w;
  GError *error;
} FinishRedactions;

static gboolean
finish_one (guint64 number, gpointer data)
{
  FinishRedactions *f = data;
  AnnalsStoreRedaction red;
  if (!annals_store_read_redaction (f->w->reader, number, &red, &f->error))
    return FALSE;
  g_free (red.reason);
  AnnalsStoreRecord r;
  if (!annals_store_read_record (f->w->reader, red.target, &r, &f->error))
    return FALSE;
  if (r.type == ANNALS_STORE_RECORD_REDACTED && (r.flags & ANNALS_STORE_FLAG_REDACTED))
    return TRUE;
  return erase_message (f->w, red.target, &f->error);
}

/* Completes redactions a crash interrupted after their notice. */
static gboolean
finish_redactions (AnnalsStoreWriter *w, GError **error)
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
                                                        : "entry %" G_GUINT64_FORMAT " is a redaction notice, not a message",
                 target);
    return FALSE;
  }
  g_autofree char *text = notice_text (target, time, reason);
  gsize len = strlen (text);
  AnnalsStoreRecord n = { .number = w->count, .receipt = time, .raw_size = len, .flags = ANNALS_STORE_FLAG_REDACTION };
  char hex[65];
  sha256_of ((const guint8 *) text, len, n.sha256, hex);
  g_autoptr (AnnalsMessageInfo) info = g_new0 (AnnalsMessageInfo, 1);
  info->date = time;
  info->message_id = g_strdup_printf (NOTICE_ID_FORMAT, n.number);
  info->subject = g_strdup_printf ("redaction of message %" G_GUINT64_FORMAT ": %s", target, reason ? reason : "");
  /* The notice is durable before any byte is removed. */
  if (!append_record (w, RECORD_REDACTION, (const guint8 *) text, len, NULL, info, &n, error)
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
