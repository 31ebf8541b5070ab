/* mirror: a verified copy of another annals site, pulled over HTTP.
 *
 * The origin serves its public record as static files (doc/urls.md):
 * LIST/store/{FORMAT,offsets,meta,packs/N.pack,dict/N.zdict},
 * LIST/log/{checkpoint,tile/...}, log/site-checkpoint and about/vkey.
 * annals_mirror_run() copies them into a local root, fetching only what
 * it lacks (a byte range for files that grew, sealed packs once, a whole
 * pack again when the log says one of its messages was redacted).
 *
 * Each list is staged in ROOT/.mirror/LIST/: the files the mirror holds
 * are hard-linked there (never written through: a changed file is
 * written as NAME.part, fsynced and renamed over its link), the new ones
 * downloaded beside them.  The staged list is verified, on the first run
 * as a whole with annals_tlog_verify() (the checkpoint's signature,
 * every message against its entry, the entries against the tiles and the
 * root), then with annals_tlog_verify_since() from the mirror's
 * checkpoint on (the new entries, the old tree as a prefix, and the old
 * messages the origin rewrote: whose offsets entry changed or whose pack
 * came whole); only then are its files
 * renamed into ROOT/LIST/, the checkpoint last.  A kill leaves the
 * staged downloads, which the next run resumes; a failed verification
 * leaves the mirror as it was and removes the staged copy.  The site
 * checkpoint is copied last, once every list it names is in place.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_MIRROR_ERROR (annals_mirror_error_quark ())
GQuark annals_mirror_error_quark (void);

typedef enum {
  ANNALS_MIRROR_ERROR_NETWORK, /* the origin could not be reached or answered an error */
  ANNALS_MIRROR_ERROR_REFUSED, /* what the origin serves does not verify */
  ANNALS_MIRROR_ERROR_KEY,     /* no usable key, or not the one pinned */
  ANNALS_MIRROR_ERROR_IO,      /* the local file system said no */
} AnnalsMirrorError;

/* What a run says as it goes: warning TRUE for something the user must
 * act on (a key taken from the origin), FALSE for progress. */
typedef void (*AnnalsMirrorReport) (gpointer ctx, gboolean warning, const char *message);

typedef struct {
  const char *url;  /* the origin's base URL, e.g. "https://archive.example.org/" */
  const char *root; /* the local root (created on the first run) */
  const char *list; /* NULL: every list the site checkpoint names */
  const char *key;  /* the verifier key string; NULL: the pinned one, or on the first run the origin's about/vkey */
  AnnalsMirrorReport report;
  gpointer ctx;
} AnnalsMirrorOptions;

typedef struct {
  guint lists;         /* lists mirrored */
  guint lists_updated; /* of those, with new entries */
  guint64 entries;     /* log entries new in this run */
  guint64 redactions;  /* of those, redactions followed */
  guint64 bytes;       /* bytes downloaded */
} AnnalsMirrorStats;

/* Mirrors the site (or one list) at options->url into options->root.
 * On failure the lists already verified in this run are kept, the
 * others stay at their last verified state, and error names the list and
 * the file or entry that failed. */
gboolean annals_mirror_run (const AnnalsMirrorOptions *options, AnnalsMirrorStats *stats, GError **error);

G_END_DECLS
