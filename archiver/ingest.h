/* ingest: feeds mail from mbox files, maildirs and an MTA into the store.
 *
 * An AnnalsIngest wraps one store writer for the length of a run: it
 * splits the input, archives each message, commits in batches (every
 * ANNALS_INGEST_BATCH messages, and at the end) and counts what
 * happened; progress and warnings go to the caller's reporter, never to a
 * terminal.  Only messages counted after a successful commit are
 * acknowledged.
 */
#pragma once

#include "core/mbox.h"
#include "core/store.h"
#include "core/tlog.h"

G_BEGIN_DECLS

#define ANNALS_INGEST_BATCH 256

typedef struct {
  guint64 archived;
  guint64 duplicates; /* same Message-ID, same bytes: skipped */
  guint64 reused_ids; /* archived, Message-ID seen before with other content */
  guint64 unparsable; /* archived, header block could not be parsed */
  guint64 rejected;   /* not archived (over the size limit) */
  guint64 bytes;      /* raw bytes read */
  guint64 committed;  /* archived and durable */
} AnnalsIngestStats;

typedef struct _AnnalsIngest AnnalsIngest;

/* writer: borrowed, must outlive the ingest. */
AnnalsIngest *annals_ingest_new (AnnalsStoreWriter *writer);
void annals_ingest_free (AnnalsIngest *ingest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsIngest, annals_ingest_free)

/* Reads an mbox (plain or gzip, known by its magic bytes) from path, or
 * from fd when path is "-"; gzip is inflated as a stream.  A damaged gzip
 * fails with ANNALS_ZCODEC_ERROR_CORRUPT after the whole messages before
 * the damage (the one it cuts off is dropped).
 * Fails when the input is not an mbox or on a store error; messages over
 * the size limit are skipped, counted and told to the reporter's warning,
 * and the run goes on. */
gboolean annals_ingest_mbox (AnnalsIngest *ingest, const char *path, int fd, AnnalsMboxVariant variant, GError **error);

/* Walks a maildir (cur/ and new/, nested folders too), oldest first. */
gboolean annals_ingest_maildir (AnnalsIngest *ingest, const char *path, GError **error);

/* Archives one message as it is. */
gboolean annals_ingest_message (AnnalsIngest *ingest, const guint8 *raw, gsize length, gint64 receipt,
                                const char *envelope, GError **error);

/* Archives one message an MTA delivered (or a maildir file): a first
 * line that reads as an mbox envelope ("From sender date", Postfix's
 * pipe flag F, procmail, fetchmail) followed by a header field is kept as
 * the envelope, not as the message's first line.  The rest is stored as
 * it is.  receipt: ANNALS_NO_DATE for now. */
gboolean annals_ingest_delivery (AnnalsIngest *ingest, const guint8 *raw, gsize length, gint64 receipt, GError **error);

/* After every commit, bring list's transparency log up to date and sign
 * a checkpoint with key (both borrowed). */
void annals_ingest_set_log (AnnalsIngest *ingest, AnnalsTlog *log, const AnnalsNoteKey *key, const char *list);

/* After every commit, tell fn how many messages the store now holds,
 * all of them durable (the indexer follows the ingest this way). */
typedef void (*AnnalsIngestCommitted) (gpointer ctx, guint64 count);
void annals_ingest_set_on_commit (AnnalsIngest *ingest, AnnalsIngestCommitted fn, gpointer ctx);

/* What the ingest tells its caller.  progress: after every message, and
 * with done TRUE at the end of each input (the caller decides how often
 * to show it).  warning: a message was skipped, and why ("FILE: message
 * N not archived: ..."); the run goes on.  Either may be NULL. */
typedef void (*AnnalsIngestProgress) (gpointer ctx, const AnnalsIngestStats *stats, gboolean done);
typedef void (*AnnalsIngestWarning) (gpointer ctx, const char *message);
void annals_ingest_set_reporter (AnnalsIngest *ingest, AnnalsIngestProgress progress, AnnalsIngestWarning warning,
                                 gpointer ctx);

/* Commits what is pending (and updates the log, if set). */
gboolean annals_ingest_commit (AnnalsIngest *ingest, GError **error);

const AnnalsIngestStats *annals_ingest_stats (AnnalsIngest *ingest);

/* Receipt time from an mbox "From " line's asctime date, or
 * ANNALS_NO_DATE (message.h). */
gint64 annals_ingest_envelope_time (const char *envelope);

G_END_DECLS
