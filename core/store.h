/* store: the append-only archive of raw messages, the public record.
 *
 * On disk (doc/store-format.md has every byte):
 *
 *   store/FORMAT              "annals-store 1"
 *   store/lock                the writer's lock (flock)
 *   store/packs/NNNNNNNN.pack records: a fixed header + a zlib stream of
 *                             the raw message; a full pack ends with a
 *                             seal record and is never written again
 *   store/dict/NNNNNNNN.zdict preset dictionaries (zdict.h), immutable
 *   store/meta                parsed header fields, one record a message
 *   store/offsets             48-byte entries: message N is entry N
 *
 * The packs are the truth; meta and offsets are derived and rebuilt from
 * the packs by a scan when they lag or are lost.
 *
 * Write sequence (one writer, under store/lock): append the record to the
 * pack, append its meta record, append its offsets entry; a commit
 * fdatasyncs pack, meta and offsets in that order and only then is a
 * message acknowledged.  A reader takes the number of messages from the
 * size of offsets (whole entries only) and so only sees a message once
 * its record and meta are written; every record carries CRCs, so a reader
 * never returns half a record.  After a crash the next writer checks the
 * tail (entry, meta and record CRCs), drops what is torn, and re-indexes
 * whole records found in the pack past the last entry.
 */
#pragma once

#include "core/message.h"

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_STORE_ERROR (annals_store_error_quark ())
GQuark annals_store_error_quark (void);

typedef enum {
  ANNALS_STORE_ERROR_CORRUPT,   /* a checksum or structure does not hold */
  ANNALS_STORE_ERROR_LOCKED,    /* another writer held the lock too long */
  ANNALS_STORE_ERROR_NOT_FOUND, /* no such message */
  ANNALS_STORE_ERROR_IO,        /* the file system said no */
  ANNALS_STORE_ERROR_NO_SPACE,  /* disk full or file size limit */
  ANNALS_STORE_ERROR_FORMAT,    /* not a store, or a newer version */
  ANNALS_STORE_ERROR_TOO_LARGE, /* a message over ANNALS_STORE_MAX_MESSAGE */
  ANNALS_STORE_ERROR_REDACTED,  /* the entry is a redacted message or a redaction notice */
} AnnalsStoreError;

/* The largest message kept.  A sender controls the size; 256 MiB is
 * five times the largest mail any MTA here accepts by default. */
#define ANNALS_STORE_MAX_MESSAGE ((gsize) 256 * 1024 * 1024)
#define ANNALS_STORE_DEFAULT_PACK_LIMIT ((guint64) 64 * 1024 * 1024)

typedef enum {
  ANNALS_STORE_FLAG_REUSED_ID = 1 << 0,  /* Message-ID seen before with other content */
  ANNALS_STORE_FLAG_UNPARSABLE = 1 << 1, /* header block could not be parsed */
  ANNALS_STORE_FLAG_DERIVED_ID = 1 << 2, /* no Message-ID: derived from the hash */
  ANNALS_STORE_FLAG_REDACTED = 1 << 3,   /* the message's bytes were removed */
  ANNALS_STORE_FLAG_REDACTION = 1 << 4,  /* not a message: the notice of a redaction */
} AnnalsStoreFlags;

/* What a store entry is.  Numbers are shared with the transparency log:
 * entry N of the store is leaf N of the log. */
typedef enum {
  ANNALS_STORE_RECORD_MESSAGE = 1,
  ANNALS_STORE_RECORD_REDACTED = 3,  /* a message whose bytes were removed */
  ANNALS_STORE_RECORD_REDACTION = 4, /* a redaction notice: which, when, why */
} AnnalsStoreRecordType;

/* One entry's record, as the pack has it. */
typedef struct {
  AnnalsStoreRecordType type;
  guint64 number;
  gint64 receipt; /* seconds since the epoch, when annals got it */
  guint64 raw_size;
  guint32 flags;     /* AnnalsStoreFlags */
  guint8 sha256[32]; /* of the raw bytes */
  guint32 pack;
  guint64 offset;          /* of the record header in the pack */
  guint32 stored_size;     /* compressed bytes */
  guint32 dict;            /* 0: none */
  guint32 envelope_length; /* bytes of the mbox "From " line kept with it */
} AnnalsStoreRecord;

/* One message's parsed fields (message.h), as meta has them.  Strings
 * are NULL when the header was absent. */
typedef struct {
  guint64 number;
  guint32 flags;
  gint64 receipt;
  char *envelope;          /* the mbox "From " line it came with, or NULL */
  AnnalsMessageHeader hdr; /* hdr.message_id is never NULL */
} AnnalsStoreMeta;

void annals_store_meta_free (AnnalsStoreMeta *meta);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsStoreMeta, annals_store_meta_free)

/* Reading.  Any number of readers, never blocked by the writer. */
typedef struct _AnnalsStore AnnalsStore;

AnnalsStore *annals_store_open (const char *dir, GError **error);
void annals_store_free (AnnalsStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsStore, annals_store_free)

/* For a reader kept open across requests (FastCGI): looks at the
 * store's files again, one stat.  FALSE when the store is no longer the
 * one opened (removed, made again, offsets rebuilt): free it and open it
 * anew.  Otherwise, when it was written since the last look, drops the
 * handles on pack files (a redaction replaces one), and keeps the
 * dictionaries it loaded.  Appended messages need no refresh:
 * annals_store_count() follows offsets. */
gboolean annals_store_refresh (AnnalsStore *store);

/* Messages in the store now (re-read on every call). */
guint64 annals_store_count (AnnalsStore *store);

/* Of the store's entries, how many are redaction notices (*notices) and
 * how many messages (*messages, redacted ones too).  Reads the offsets
 * file only, not the packs (about 1 ms per 20,000 entries). */
gboolean annals_store_count_kinds (AnnalsStore *store, guint64 *messages, guint64 *notices, GError **error);

/* Message N's exact bytes: a new GBytes owned by the caller.  record,
 * if not NULL, is filled in. */
GBytes *annals_store_read (AnnalsStore *store, guint64 number, AnnalsStoreRecord *record, GError **error);

/* Message N's exact bytes handed to sink in pieces (at most 64 KiB),
 * for a message of any size in bounded memory: the stored bytes'
 * checksum is checked first (one read of them), then they are inflated
 * as they are read again.  Fails like annals_store_read() before the
 * first piece; a damaged stream or a sink that returns FALSE (it ends
 * the reading) fails after some.  record, if not NULL, is filled in. */
gboolean annals_store_read_to (AnnalsStore *store, guint64 number, AnnalsStoreRecord *record,
                               gboolean (*sink) (const guint8 *data, gsize length, gpointer user_data),
                               gpointer user_data, GError **error);

/* A redaction notice. */
typedef struct {
  guint64 target; /* the redacted message's number */
  gint64 time;    /* when, seconds since the epoch */
  char *reason;   /* owned by the caller */
} AnnalsStoreRedaction;

/* Frees r's reason (r itself is the caller's); accepts one never read. */
void annals_store_redaction_clear (AnnalsStoreRedaction *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnnalsStoreRedaction, annals_store_redaction_clear)

/* Reads redaction notice number. */
gboolean annals_store_read_redaction (AnnalsStore *store, guint64 number, AnnalsStoreRedaction *out, GError **error);

/* The notice that redacted message target: FALSE (no error) when none. */
gboolean annals_store_find_redaction (AnnalsStore *store, guint64 target, guint64 *notice, GError **error);

/* Numbers of the redacted messages (their tombstones), oldest first: a
 * new array of guint64, empty when there is none.  One pass over the
 * offsets. */
GArray *annals_store_find_redacted (AnnalsStore *store, GError **error);

/* Entry N's record header only (no decompression): any record type.
 * (annals_store_read() fails with REDACTED for anything but a message.) */
gboolean annals_store_read_record (AnnalsStore *store, guint64 number, AnnalsStoreRecord *record, GError **error);

/* Message N's parsed fields: new, free with annals_store_meta_free(). */
AnnalsStoreMeta *annals_store_read_meta (AnnalsStore *store, guint64 number, GError **error);

/* Numbers of the messages with this Message-ID (without <>), oldest
 * first: a new array of guint64, empty when there is none. */
GArray *annals_store_find_message_id (AnnalsStore *store, const char *message_id, GError **error);

/* What a user typed for a message: its number, or its Message-ID with
 * or without <>.  The first copy of a reused Message-ID; *copies (may be
 * NULL) says how many there are.  NOT_FOUND when there is none. */
gboolean annals_store_resolve_id (AnnalsStore *store, const char *id, guint64 *number, guint *copies, GError **error);

/* Writing.  One writer at a time. */
typedef struct _AnnalsStoreWriter AnnalsStoreWriter;

/* Creates the store if dir has none.  Waits up to lock_timeout_ms for
 * the lock, then fails with LOCKED.  Repairs a torn tail. */
AnnalsStoreWriter *annals_store_writer_open (const char *dir, guint lock_timeout_ms, GError **error);

/* Uncommitted messages are not acknowledged: they may or may not be in
 * the store afterwards (the next writer keeps the whole ones). */
void annals_store_writer_free (AnnalsStoreWriter *writer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsStoreWriter, annals_store_writer_free)

/* For tests: seal packs at this many bytes instead of the default. */
void annals_store_writer_set_pack_limit (AnnalsStoreWriter *writer, guint64 bytes);

/* How many messages the writer found in the store when it opened and
 * had to re-index from the packs (crash recovery). */
guint64 annals_store_writer_recovered (AnnalsStoreWriter *writer);

typedef enum {
  ANNALS_STORE_ADDED,
  ANNALS_STORE_DUPLICATE, /* same Message-ID and same bytes: skipped */
} AnnalsStoreAddStatus;

typedef struct {
  AnnalsStoreAddStatus status;
  guint64 number; /* the new number, or the number of the copy kept */
  guint32 flags;  /* AnnalsStoreFlags of the new record */
} AnnalsStoreAddResult;

/* Archives one message.  receipt: when it was received (seconds since
 * the epoch).  envelope: its mbox "From " line, or NULL.  On failure
 * nothing of this message is left in the store. */
gboolean annals_store_writer_add (AnnalsStoreWriter *writer, const guint8 *raw, gsize length, gint64 receipt,
                                  const char *envelope, AnnalsStoreAddResult *result, GError **error);

/* Redacts message target: appends a redaction notice (committed before
 * anything is removed), then removes the message's bytes from its pack
 * (rewritten to a new file that replaces the old) and its parsed fields
 * from meta.  The notice's number goes to *notice.  A crash half-way is
 * finished by the next writer. */
typedef gboolean (*AnnalsStoreBeforeErase) (gpointer ctx, GError **error);
/* before_erase (may be NULL) runs once the notice is committed and
 * before the bytes go: the caller logs the notice there. */
gboolean annals_store_writer_redact (AnnalsStoreWriter *writer, guint64 target, const char *reason, gint64 time,
                                     AnnalsStoreBeforeErase before_erase, gpointer ctx, guint64 *notice,
                                     GError **error);

/* Makes every message added so far durable.  Acknowledge after this. */
gboolean annals_store_writer_commit (AnnalsStoreWriter *writer, GError **error);

guint64 annals_store_writer_count (AnnalsStoreWriter *writer);

/* Reads back through the writer (sees its uncommitted messages too). */
AnnalsStore *annals_store_writer_reader (AnnalsStoreWriter *writer);

/* SHA-256 of data into out and, if hex is not NULL, as lowercase hex
 * into hex: the SHA-256 of annals's messages (GnuTLS, which uses the
 * CPU's SHA instructions; meson.build says why). */
void annals_store_sha256 (const guint8 *data, gsize len, guint8 out[32], char hex[65]);

G_END_DECLS
