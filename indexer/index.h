/* index: a list's Xapian index and threads, derived from its store.
 *
 * ROOT/<list>/index/ is a Xapian database with one document per message
 * (document id = message number + 1), built incrementally: the metadata
 * key "annals:indexed" says how many store entries are in, and moves in
 * the same commit as the documents, so a killed run resumes where the
 * last commit left it.  --rebuild builds a new database beside the old
 * one from the store alone and swaps it in.
 *
 * An index may be split into N shards ([list NAME] index-shards in
 * annals.conf): message n goes to shard n mod N, each shard is written
 * on its own thread, and readers open them together; the threading
 * metadata and the resume mark live in shard 0.  Shards may be read from
 * other hosts (index-remote, served by xapian-tcpsrv).
 *
 * Threads (doc/index-format.md): a message joins the thread of any
 * message it names in References/In-Reply-To or that names it; unseen
 * parents are ghosts (metadata only) that later messages can join; when
 * a message joins two threads they merge into the older id.  The result
 * is the connected components of the reference graph, whatever the
 * arrival order; ids never change except by a merge.  One subject rule
 * only: a "Re:" with no References or In-Reply-To joins the newest
 * thread started under its base subject that had a message received in
 * the 28 days before it (never one that began after it).
 * No recursion: loops and self-references are only more edges.
 */
#pragma once

#include "core/message.h"

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_INDEX_ERROR (annals_index_error_quark ())
GQuark annals_index_error_quark (void);

typedef enum {
  ANNALS_INDEX_ERROR_XAPIAN,    /* Xapian said no (cannot open, read or write: permissions, disk full) */
  ANNALS_INDEX_ERROR_STORE,     /* the store could not be read */
  ANNALS_INDEX_ERROR_LOCKED,    /* another process is writing the index */
  ANNALS_INDEX_ERROR_NOT_READY, /* the index is there but half-made: a writer rebuilds it */
  ANNALS_INDEX_ERROR_CORRUPT,   /* the index is damaged: 'annals index --rebuild LIST' */
  ANNALS_INDEX_ERROR_CONFIG,    /* annals.conf's index keys cannot be read */
} AnnalsIndexError;

typedef struct {
  guint64 indexed;        /* messages added this run */
  guint64 removed;        /* documents removed (redactions) */
  guint64 total;          /* store entries covered now */
  guint64 bytes;          /* raw bytes read */
  gboolean recreated;     /* the index was half-made or damaged and is built again from the store */
  gboolean scrub_pending; /* (internal) a redacted document's words wait in freed blocks */
  gboolean scrubbed;      /* compacted into a fresh copy after a redaction */
  gboolean resharded;     /* annals.conf asked for another shard count: built again with it */
  gboolean upgraded;      /* the index was of an older format version: built again in this one */
} AnnalsIndexStats;

typedef void (*AnnalsIndexProgress) (gpointer ctx, const AnnalsIndexStats *stats, guint64 of);

/* Brings list_dir/index up to date with list_dir/store (or rebuilds it).
 * Writers hold list_dir/index.lock (a second one fails with
 * ANNALS_INDEX_ERROR_LOCKED).  A new database is created beside, in
 * list_dir/index.new, and renamed into place, so a kill never leaves a
 * half-made index/; one left by an older version, or one too damaged to
 * open, is built again from the store (stats->recreated says so), as is
 * one of an older format version (stats->upgraded).  One
 * that opens but cannot be read fails with ANNALS_INDEX_ERROR_CORRUPT
 * (carrying on would index everything again, or restart thread ids).  After a
 * redaction removed an indexed document, the index is compacted into a
 * fresh copy and swapped in, so none of its words stay on disk. */
gboolean annals_index_update (const char *list_dir, const char *list, gboolean rebuild, AnnalsIndexProgress progress,
                              gpointer ctx, AnnalsIndexStats *stats, GError **error);

/* How far a store being written may be indexed: blocks until more than
 * `have` messages are committed or the writer has finished, and returns
 * the number committed; *finished is set once no more will come. */
typedef guint64 (*AnnalsIndexLimit) (gpointer ctx, guint64 have, gboolean *finished);

/* annals_index_update while a writer in this process adds to the store:
 * indexes each batch as the writer commits it, so ingest and index run
 * side by side.  Only what the writer has committed is read. */
gboolean annals_index_follow (const char *list_dir, const char *list, AnnalsIndexLimit limit, gpointer limit_ctx,
                              AnnalsIndexStats *stats, GError **error);

/* How many shards annals.conf asks for list_dir's index ([list NAME]
 * index-shards, 1 to 64; 1 without annals.conf next to list_dir): FALSE
 * with CONFIG when it cannot be read. */
gboolean annals_index_configured_shards (const char *list_dir, guint *shards, GError **error);

/* Where a reader finds one shard: a local database (path), or a
 * remote one (host, port) that must answer within timeout_ms. */
typedef struct {
  char *path;
  char *host;
  guint port;
  guint timeout_ms;
} AnnalsIndexShard;

/* Frees sh's strings (sh itself is the caller's). */
void annals_index_shard_clear (AnnalsIndexShard *sh);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnnalsIndexShard, annals_index_shard_clear)

/* The shards of list_dir's index for readers, in order (shard 0 first,
 * holding the threads): a new array of AnnalsIndexShard; NULL without
 * error when the list has no index yet; NULL with NOT_READY when it is
 * half-made (the next writer rebuilds it), CONFIG when annals.conf's
 * index-remote or index-remote-timeout cannot be read.  With
 * index-remote set, every shard is the remote one it names. */
GArray *annals_index_reader_shards (const char *list_dir, GError **error);

/* How far after its receipt a Date: is still taken as the date it was
 * sent (sorting, d:); later ones are the sender's claim. */
#define ANNALS_INDEX_DATE_SLACK 86400

/* The date a message is ordered by and d: searches: date (Date:), or
 * receipt when date is ANNALS_NO_DATE or more than
 * ANNALS_INDEX_DATE_SLACK after it.  Every program shows this one. */
gint64 annals_index_sort_date (gint64 date, gint64 receipt);

/* The document data fields, tab-separated, in this order: list, number,
 * hdr.date, receipt, thread, hdr.message_id, parent, hdr.from,
 * hdr.subject.  Of hdr only these four are kept (the rest stay NULL), and
 * hdr.date is Date:, or the receipt when there is none. */
typedef struct {
  char *list;
  guint64 number;
  gint64 receipt;
  char *thread;
  char *parent; /* Message-ID of the parent, or "" */
  AnnalsMessageHeader hdr;
} AnnalsIndexSummary;

void annals_index_summary_clear (AnnalsIndexSummary *s);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnnalsIndexSummary, annals_index_summary_clear)

/* The boolean term of a Message-ID: "Q<id>", or "Qsha256:<hex>" for ids
 * too long to be a term.  New string. */
char *annals_index_message_id_term (const char *message_id);
/* The threading state key of a Message-ID (doc/index-format.md): "t:"
 * and the first 32 hex digits of its SHA-256.  New string. */
char *annals_index_thread_key (const char *message_id);
gboolean annals_index_summary_parse (const char *data, gsize length, AnnalsIndexSummary *out);
/* The document data of s, as annals_index_summary_parse() reads it (new
 * string): tabs and line ends in a field become spaces, NULL is "". */
char *annals_index_summary_encode (const AnnalsIndexSummary *s);

G_END_DECLS
