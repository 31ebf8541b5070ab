/* store internals shared by core/store-*.c; nothing outside those files
 * includes this.  The parts (store.h has the design):
 *
 *   store-codec.c    byte layout of entries, record headers, meta records
 *   store-read.c     the reader, the file helpers, the scan over offsets
 *   store-write.c    the writer: lock, append, commit, seal, dictionaries
 *   store-recover.c  the writer's repair of a torn tail on open
 *   store-redact.c   notices, tombstones, scrubbed meta
 *
 * Only store-read.c sees inside AnnalsStore: the others go through the
 * functions below. */
#pragma once

#include "core/message.h"
#include "core/store.h"
#include "core/zcodec.h"

#include <string.h>

#define FORMAT_TEXT "annals-store 1\n"
#define PACK_MAGIC "ANNALSPK"
#define OFFSETS_MAGIC "ANNALSOX"
#define META_MAGIC "ANNALSMT"
#define DICT_MAGIC "ANNALSZD"
#define FILE_VERSION 1
#define FILE_HEADER_SIZE 16 /* offsets and meta: magic, version, entry size */
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

#define NOTICE_ID_FORMAT "redaction.%" G_GUINT64_FORMAT "@annals.invalid"

/* Little-endian fields. */
static inline void
put32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_LE (v);
  memcpy (p, &v, 4);
}
static inline void
put64 (guint8 *p, guint64 v)
{
  v = GUINT64_TO_LE (v);
  memcpy (p, &v, 8);
}
static inline guint32
get32 (const guint8 *p)
{
  guint32 v;
  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}
static inline guint64
get64 (const guint8 *p)
{
  guint64 v;
  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

/* One offsets entry. */
typedef struct {
  guint32 pack;
  guint32 flags;
  guint64 pack_offset;
  guint64 meta_offset;
  guint64 msgid_hash;
  guint8 sha_prefix[8];
  guint32 meta_length;
} Entry;

static inline gboolean
numbered_type (guint32 type)
{
  return type == RECORD_MESSAGE || type == RECORD_REDACTED || type == RECORD_REDACTION;
}

/* Bytes a record takes in its pack. */
static inline guint64
record_span (const AnnalsStoreRecord *r)
{
  return RECORD_HEADER_SIZE + (guint64) r->envelope_length + r->stored_size;
}

/* --- Codecs (store-codec.c) ----------------------------------------- */

G_GNUC_INTERNAL void annals_store_entry_encode (const Entry *e, guint8 out[ENTRY_SIZE]);
/* FALSE when the entry fails its CRC. */
G_GNUC_INTERNAL gboolean annals_store_entry_decode (const guint8 in[ENTRY_SIZE], Entry *e);
G_GNUC_INTERNAL void annals_store_record_encode (guint8 out[RECORD_HEADER_SIZE], guint32 type,
                                                 const AnnalsStoreRecord *r, guint32 payload_crc);
/* Returns the record type, or 0 when the header is not a whole record header. */
G_GNUC_INTERNAL guint32 annals_store_record_decode (const guint8 in[RECORD_HEADER_SIZE], AnnalsStoreRecord *r,
                                                    guint32 *payload_crc);
/* A new meta record of the ten strings (meta order: envelope, Message-ID,
 * In-Reply-To, References, From, its address, To, Cc, Subject, List-Id);
 * pad_to: 0, or the length to reach with an eleventh string of zero bytes
 * (at least 4 more than the record without it). */
G_GNUC_INTERNAL GByteArray *annals_store_meta_encode_fields (guint64 number, guint32 flags, gint64 date, gint64 receipt,
                                                             const char *const strings[META_STRINGS], gsize pad_to);
/* The scrubbed form (Redaction in doc/store-format.md) of a meta record
 * of total bytes: every string absent but the Message-ID, cut to fit;
 * NULL when total is too small for any record. */
G_GNUC_INTERNAL GByteArray *annals_store_meta_encode_scrubbed (guint64 number, guint32 flags, gint64 receipt,
                                                               const char *message_id, gsize total);
/* The same for a message's header fields; free with g_byte_array_unref(). */
G_GNUC_INTERNAL GByteArray *annals_store_meta_encode (guint64 number, guint32 flags, gint64 receipt,
                                                      const char *envelope, const AnnalsMessageHeader *hdr);
/* A new AnnalsStoreMeta, or NULL when p is not a whole meta record as
 * the encoder writes it. */
G_GNUC_INTERNAL AnnalsStoreMeta *annals_store_meta_decode (const guint8 *p, gsize len);
/* Pointers to meta's ten string fields, in meta order. */
G_GNUC_INTERNAL void annals_store_meta_slots (AnnalsStoreMeta *m, char **slots[META_STRINGS]);
G_GNUC_INTERNAL guint64 annals_store_msgid_hash (const char *message_id);

/* --- Files (store-read.c) ------------------------------------------- */

G_GNUC_INTERNAL gboolean annals_store_set_io_error (GError **error, int errnum, const char *what, const char *path);
G_GNUC_INTERNAL gboolean annals_store_pread_all (int fd, void *buf, gsize len, guint64 offset, const char *path,
                                                 GError **error);
G_GNUC_INTERNAL gboolean annals_store_pwrite_all (int fd, const void *buf, gsize len, guint64 offset, const char *path,
                                                  GError **error);
G_GNUC_INTERNAL gboolean annals_store_fsync_path (const char *path, GError **error);
G_GNUC_INTERNAL guint64 annals_store_file_size (int fd);
/* New paths of pack and dictionary files under dir. */
G_GNUC_INTERNAL char *annals_store_pack_path (const char *dir, guint32 pack);
G_GNUC_INTERNAL char *annals_store_dict_path (const char *dir, guint32 id);

/* --- Reader internals (store-read.c) -------------------------------- */

G_GNUC_INTERNAL gboolean annals_store_read_entry (AnnalsStore *store, guint64 number, Entry *e, GError **error);
/* The dictionary: owned by the store, NULL for id 0 (no error) or on error. */
G_GNUC_INTERNAL GBytes *annals_store_load_dict (AnnalsStore *store, guint32 id, GError **error);
/* The record header at offset of pack, any type (in *type). */
G_GNUC_INTERNAL gboolean annals_store_read_record_at (AnnalsStore *store, guint32 pack, guint64 offset,
                                                      AnnalsStoreRecord *r, guint32 *type, guint32 *payload_crc,
                                                      GError **error);
/* Entry number's record header, checked to be that entry's; its payload
 * CRC in *crc. */
G_GNUC_INTERNAL gboolean annals_store_read_numbered (AnnalsStore *store, guint64 number, AnnalsStoreRecord *record,
                                                     guint32 *crc, GError **error);
/* Reads and inflates the payload of a record whose header is in r;
 * envelope, if not NULL, gets the record's mbox "From " line or NULL. */
G_GNUC_INTERNAL GBytes *annals_store_read_payload (AnnalsStore *store, const AnnalsStoreRecord *r, guint32 payload_crc,
                                                   char **envelope, GError **error);
/* Closes the store's handle on pack: the file was replaced (redaction). */
G_GNUC_INTERNAL void annals_store_forget_pack (AnnalsStore *store, guint32 pack);

/* The one scan over offsets: entries from..to-1, read in chunks.
 *
 *   AnnalsStoreScan scan;
 *   annals_store_scan_init (&scan, store, 0, annals_store_count (store));
 *   while ((step = annals_store_scan_next (&scan, &e, error)) != ANNALS_STORE_SCAN_END) ...
 *   annals_store_scan_clear (&scan);
 *
 * scan.number is the number of the entry just returned.  Set
 * scan.want_flags after init to step over, undecoded, every entry whose
 * flags lack one of them: a search for the few redacted entries then
 * costs a read of each entry's flags, not its CRC. */
typedef struct {
  AnnalsStore *store;
  guint64 number;
  guint64 end;
  guint32 want_flags;
  guint64 chunk_start; /* entries in buf: chunk_start .. chunk_start + chunk_count - 1 */
  guint64 chunk_count;
  guint8 *buf;
} AnnalsStoreScan;

typedef enum {
  ANNALS_STORE_SCAN_END,
  ANNALS_STORE_SCAN_ENTRY,   /* e holds the entry */
  ANNALS_STORE_SCAN_DAMAGED, /* the entry fails its CRC */
  ANNALS_STORE_SCAN_ERROR,   /* offsets could not be read: error is set */
} AnnalsStoreScanStep;

G_GNUC_INTERNAL void annals_store_scan_init (AnnalsStoreScan *scan, AnnalsStore *store, guint64 from, guint64 to);
G_GNUC_INTERNAL AnnalsStoreScanStep annals_store_scan_next (AnnalsStoreScan *scan, Entry *e, GError **error);
G_GNUC_INTERNAL void annals_store_scan_clear (AnnalsStoreScan *scan);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnnalsStoreScan, annals_store_scan_clear)

/* --- Writer (store-write.c) ----------------------------------------- */

struct _AnnalsStoreWriter {
  char *dir;
  AnnalsStore *reader;
  int lock_fd;
  int pack_fd;
  int meta_fd;
  int offsets_fd;
  char *pack_path;
  guint32 pack;
  guint64 pack_size;    /* bytes in the current pack */
  guint64 pack_records; /* message records in the current pack */
  guint64 pack_limit;
  guint64 meta_size;
  guint64 count; /* messages in the store */
  guint64 recovered;
  guint32 dict_id; /* the dictionary new records use */
  GBytes *dict;
  guint32 next_dict_id;
  AnnalsDeflater *deflater;
  GHashTable *by_msgid; /* msgid hash -> latest number + 1 */
  gboolean dirty;       /* written since the last commit */
};

G_GNUC_INTERNAL gboolean annals_store_writer_open_pack (AnnalsStoreWriter *w, guint32 pack, GError **error);
/* Appends meta and offsets for a record already in the pack. */
G_GNUC_INTERNAL gboolean annals_store_writer_index (AnnalsStoreWriter *w, const AnnalsStoreRecord *r,
                                                    const char *envelope, const AnnalsMessageHeader *hdr,
                                                    GError **error);
/* Compresses raw and appends it as the next record of the given type;
 * r holds its number, receipt, size, hash and flags and gets the rest. */
G_GNUC_INTERNAL gboolean annals_store_writer_append (AnnalsStoreWriter *w, guint32 type, const guint8 *raw,
                                                     gsize length, const char *envelope, const AnnalsMessageHeader *hdr,
                                                     AnnalsStoreRecord *r, GError **error);

/* --- Recovery (store-recover.c, store-redact.c) --------------------- */

/* Checks the last entries against meta and the packs and cuts at the
 * first one that does not hold, then indexes whole records found in the
 * packs beyond the last entry. */
G_GNUC_INTERNAL gboolean annals_store_writer_recover (AnnalsStoreWriter *w, GError **error);
/* Completes redactions a crash interrupted after their notice. */
G_GNUC_INTERNAL gboolean annals_store_writer_finish_redactions (AnnalsStoreWriter *w, GError **error);
