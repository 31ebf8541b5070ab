/* tlog: a list's transparency log (doc/log-format.md).
 *
 * One RFC 6962 Merkle tree per list, stored as C2SP tlog-tiles static
 * files in ROOT/<list>/log/: tile/<L>/<N>[.p/<W>], entry bundles in
 * tile/entries/<N>[.p/<W>], and a signed checkpoint.  Leaf N is store
 * entry N: a message (its hash, size, receipt time and Message-ID, never
 * its bytes) or a redaction (which message, when, why).  Appending costs
 * O(log n): only the partial tile of each level is rewritten.
 *
 * The log follows the store: annals_tlog_sync() appends the entries the
 * store has and the log has not, then signs a checkpoint.  The checkpoint
 * is written last (temp file, fsync, rename), so after a crash the log is
 * its last checkpoint plus files the next sync rewrites.
 *
 * The site checkpoint (ROOT/log/site-checkpoint) is one signed note that
 * names every list's log origin, size and root hash, so that a mirror
 * cannot drop a whole list or roll one back unnoticed.  It is rewritten
 * after every list checkpoint (annals_tlog_set_site()).
 */
#pragma once

#include "core/merkle.h"
#include "core/note.h"
#include "core/store.h"

G_BEGIN_DECLS

#define ANNALS_TLOG_ERROR (annals_tlog_error_quark ())
GQuark annals_tlog_error_quark (void);

typedef enum {
  ANNALS_TLOG_ERROR_MALFORMED, /* an entry, tile, proof or checkpoint that does not parse */
  ANNALS_TLOG_ERROR_MISMATCH,  /* parses, but does not agree with what it should prove */
  ANNALS_TLOG_ERROR_IO,
  ANNALS_TLOG_ERROR_NO_SPACE, /* disk full or file size limit: free space and write again */
} AnnalsTlogError;

typedef enum {
  ANNALS_TLOG_ENTRY_MESSAGE = 1,
  ANNALS_TLOG_ENTRY_REDACTION = 2,
} AnnalsTlogEntryType;

typedef struct {
  AnnalsTlogEntryType type;
  char *list;
  guint64 index;
  /* message */
  gint64 received;
  guint64 size;
  guint8 sha256[32];
  char *message_id;
  /* redaction */
  guint64 redacts;
  gint64 time;
  char *reason;
} AnnalsTlogEntry;

void annals_tlog_entry_clear (AnnalsTlogEntry *entry);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnnalsTlogEntry, annals_tlog_entry_clear)
/* The entry's bytes (the leaf data): a new GBytes. */
GBytes *annals_tlog_entry_encode (const AnnalsTlogEntry *entry);
gboolean annals_tlog_entry_parse (const guint8 *data, gsize length, AnnalsTlogEntry *out, GError **error);
/* The entry for store entry number (message or redaction record). */
gboolean annals_tlog_entry_from_store (AnnalsStore *store, const char *list, guint64 number, AnnalsTlogEntry *out,
                                       GError **error);

typedef struct _AnnalsTlog AnnalsTlog;

/* Opens (creating) the log in dir, at its last checkpoint. */
AnnalsTlog *annals_tlog_open (const char *dir, const char *origin, GError **error);
void annals_tlog_free (AnnalsTlog *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsTlog, annals_tlog_free)

/* After each checkpoint, also rewrite root's site checkpoint from the
 * checkpoints of lists (NULL-terminated; those without a log yet are
 * left out), signed as "<site_origin>/log".  Strings are copied. */
void annals_tlog_set_site (AnnalsTlog *log, const char *root, const char *site_origin, const char *const *lists);

guint64 annals_tlog_size (AnnalsTlog *log);
gboolean annals_tlog_append (AnnalsTlog *log, GBytes *entry, GError **error);
/* Writes the partial tiles and bundle for the current size and a new
 * checkpoint signed by key. */
gboolean annals_tlog_publish (AnnalsTlog *log, const AnnalsNoteKey *key, GError **error);

/* Appends every store entry the log lacks and publishes (if any). */
gboolean annals_tlog_sync (AnnalsTlog *log, AnnalsStore *store, const char *list, const AnnalsNoteKey *key,
                           GError **error);

/* The site checkpoint: ROOT/ANNALS_TLOG_SITE_CHECKPOINT, a signed note
 * "<site origin>/log", the version line, then "<list origin> <size>
 * <base64 root>" per list. */
#define ANNALS_TLOG_SITE_CHECKPOINT "log/site-checkpoint"

typedef struct {
  char *origin;  /* "<site origin>/log" */
  GArray *lists; /* AnnalsCheckpoint, one per list, in the note's order */
} AnnalsTlogSite;

void annals_tlog_site_clear (AnnalsTlogSite *site);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnnalsTlogSite, annals_tlog_site_clear)
/* Parses the note text (as annals_note_open returns it). */
gboolean annals_tlog_site_parse (const char *text, AnnalsTlogSite *out, GError **error);
/* The list name of an entry of site (its origin's last part), or NULL
 * when the origin is not "<site origin>/<list>": owned by the entry. */
const char *annals_tlog_site_list_name (const AnnalsTlogSite *site, const AnnalsCheckpoint *entry);
/* Rewrites root's site checkpoint now (see annals_tlog_set_site()). */
gboolean annals_tlog_site_publish (const char *root, const char *site_origin, const char *const *lists,
                                   const AnnalsNoteKey *key, GError **error);

/* Reading a log's files (a live log or a mirror). */
typedef struct _AnnalsTlogReader AnnalsTlogReader;

/* Reads dir/checkpoint and checks its signature by key (key NULL: not
 * checked, for serving the log as it is). */
AnnalsTlogReader *annals_tlog_reader_open (const char *dir, const AnnalsNoteKey *key, GError **error);
void annals_tlog_reader_free (AnnalsTlogReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsTlogReader, annals_tlog_reader_free)
/* Owned by the reader. */
const AnnalsCheckpoint *annals_tlog_reader_checkpoint (AnnalsTlogReader *reader);
const char *annals_tlog_reader_note (AnnalsTlogReader *reader);
/* Entry index's bytes from the entry bundles: a new GBytes. */
GBytes *annals_tlog_reader_entry (AnnalsTlogReader *reader, guint64 index, GError **error);
/* A source of tile hashes for merkle.h, for the checkpoint's size. */
AnnalsMerkleSource annals_tlog_reader_source (AnnalsTlogReader *reader, gpointer *ctx);
/* Reads a tile file as the checkpoint's size has it (NULL when absent). */
GBytes *annals_tlog_reader_tile (AnnalsTlogReader *reader, int level, guint64 tile, GError **error);

/* .tlog-proof files (C2SP tlog-proof@v1).  The log entry travels as the
 * proof's extra data, so the proof alone shows what was logged. */
char *annals_tlog_proof_format (GBytes *entry, guint64 index, GArray *proof, const char *checkpoint_note);

typedef struct {
  GBytes *entry; /* may be NULL when the proof has no extra data */
  guint64 index;
  GArray *hashes;   /* AnnalsHash */
  char *checkpoint; /* the note, verbatim */
} AnnalsTlogProof;

void annals_tlog_proof_clear (AnnalsTlogProof *proof);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnnalsTlogProof, annals_tlog_proof_clear)
gboolean annals_tlog_proof_parse (const char *text, gsize length, AnnalsTlogProof *out, GError **error);

/* Consistency proofs: "annals/consistency-proof@v1", "old N", hashes,
 * blank line, the new checkpoint. */
char *annals_tlog_consistency_format (guint64 old_size, GArray *proof, const char *checkpoint_note);
gboolean annals_tlog_consistency_parse (const char *text, gsize length, guint64 *old_size, GArray **hashes,
                                        char **checkpoint_note, GError **error);

/* Verification of a list's mirror (its store/ and log/ folders): every
 * stored message hashes to its entry, the entries to the tiles, the tiles
 * to the checkpoint's root, the checkpoint is signed by key, and an old
 * checkpoint (if given) is a prefix of the new one. */
typedef struct {
  guint64 entries;
  guint64 messages;
  guint64 redactions;
  guint64 failures;
  guint64 bytes;     /* message bytes hashed */
  guint64 unlogged;  /* store entries past the checkpoint whose records are sound */
  guint64 rechecked; /* annals_tlog_verify_since: entries before the old checkpoint verified again */
} AnnalsTlogVerifyStats;

/* A size and root the log must extend: named by what, e.g. "the site
 * checkpoint". */
typedef struct {
  const char *what;
  guint64 size;
  guint8 root[32];
} AnnalsTlogPrefix;

/* failure TRUE: a problem (named in message); FALSE with a message: a
 * fact to show (a redaction); FALSE with NULL: progress (see stats). */
typedef void (*AnnalsTlogReport) (gpointer ctx, gboolean failure, const char *message,
                                  const AnnalsTlogVerifyStats *stats);

/* Returns FALSE with error when verification cannot run at all (no
 * checkpoint, bad signature, rolled back); problems with single messages
 * or tiles, a log that does not extend one of prefixes, and store entries
 * past the checkpoint that fail their record checks go to report and
 * count in stats->failures. */
gboolean annals_tlog_verify (const char *list_dir, const char *list, const AnnalsNoteKey *key, const char *old_note,
                             gsize old_length, const AnnalsTlogPrefix *prefixes, guint n_prefixes,
                             AnnalsTlogReport report, gpointer ctx, AnnalsTlogVerifyStats *stats, GError **error);

/* Verifies only what is new since a verified state (annals mirror's
 * re-runs): old_note (required) is the checkpoint verified then, and
 * verified_store the store folder as it was then.  The old entries are
 * not read again, but the tree they make (from the tiles, and the
 * entries of the old partial tile) must give old_note's root, the new
 * entries extend it to the checkpoint's root (tiles compared as they
 * fill), and each new entry is checked against the store as in
 * annals_tlog_verify().  Old entries are verified again when listed in
 * recheck (ascending; the caller's: those whose store record or pack
 * the origin rewrote) or redacted by a new entry.  Errors and reports as
 * annals_tlog_verify(); stats->entries counts the new entries. */
gboolean annals_tlog_verify_since (const char *list_dir, const char *list, const AnnalsNoteKey *key,
                                   const char *old_note, gsize old_length, const char *verified_store,
                                   const guint64 *recheck, gsize n_recheck, const AnnalsTlogPrefix *prefixes,
                                   guint n_prefixes, AnnalsTlogReport report, gpointer ctx,
                                   AnnalsTlogVerifyStats *stats, GError **error);

G_END_DECLS
