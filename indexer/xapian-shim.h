/* xapian-shim: a plain C face for the few parts of Xapian annals uses.
 *
 * Opaque handles, no C++ type or exception crosses this header (notmuch's
 * lib/notmuch.h pattern): every call that can fail returns FALSE/NULL and
 * an error message the caller frees with g_free().  The shim stays thin:
 * databases, documents, terms, values, metadata and the query parser;
 * what gets indexed and how threads form is decided in C (index.c).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _AnnalsXdb AnnalsXdb;
typedef struct _AnnalsXdoc AnnalsXdoc;

/* Value slots. */
enum {
  ANNALS_XSLOT_DATE = 0,    /* sent date, sortable number */
  ANNALS_XSLOT_RECEIPT = 1, /* receipt time, sortable number */
  ANNALS_XSLOT_THREAD = 2,  /* thread id, string */
};

/* Why opening failed, for the callers that act on it. */
typedef enum {
  ANNALS_XDB_FAILED,  /* anything else: permissions, disk, memory */
  ANNALS_XDB_LOCKED,  /* another writer has it */
  ANNALS_XDB_DAMAGED, /* not a database (no revision file), corrupt, or another format */
} AnnalsXdbFailure;

/* Opens a writable database: create makes a new one at path (which must
 * not hold one), else it must exist.  *failure (may be NULL) says why on
 * failure. */
AnnalsXdb *annals_xdb_open_writable (const char *path, gboolean create, AnnalsXdbFailure *failure, char **error);
/* Opens one or more databases read-only, searched as one. */
AnnalsXdb *annals_xdb_open_readonly (const char *const *paths, guint count, char **error);
void annals_xdb_close (AnnalsXdb *db);

guint64 annals_xdb_doc_count (AnnalsXdb *db);
/* The highest document id used (0 when none). */
guint64 annals_xdb_last_docid (AnnalsXdb *db);

/* User metadata: a new string, or NULL when the key is unset. */
char *annals_xdb_get_metadata (AnnalsXdb *db, const char *key);
gboolean annals_xdb_set_metadata (AnnalsXdb *db, const char *key, const char *value, char **error);
gboolean annals_xdb_commit (AnnalsXdb *db, char **error);

/* Documents. */
AnnalsXdoc *annals_xdoc_new (void);
void annals_xdoc_free (AnnalsXdoc *doc);
/* Indexes free text under prefix ("" for none); positions for phrases.
 * Stemmed terms (English then French suffixes, "Z" prefix) are added too. */
void annals_xdoc_index_text (AnnalsXdoc *doc, const char *text, const char *prefix, gboolean positions);
/* A boolean term, exactly as given (at most 240 bytes). */
void annals_xdoc_add_term (AnnalsXdoc *doc, const char *term);
void annals_xdoc_remove_term (AnnalsXdoc *doc, const char *term);
void annals_xdoc_set_number (AnnalsXdoc *doc, guint slot, double value);
void annals_xdoc_set_string (AnnalsXdoc *doc, guint slot, const char *value);
void annals_xdoc_set_data (AnnalsXdoc *doc, const char *data, gsize length);

gboolean annals_xdb_replace (AnnalsXdb *db, guint64 docid, AnnalsXdoc *doc, char **error);
/* *existed (may be NULL): whether there was such a document. */
gboolean annals_xdb_delete (AnnalsXdb *db, guint64 docid, gboolean *existed, char **error);
/* Writes db's last committed revision as a new database at dest (which
 * must not exist), live entries only, document ids kept: nothing of a
 * deleted document survives in it, unlike in db's freed blocks. */
gboolean annals_xdb_compact (AnnalsXdb *db, const char *dest, char **error);
/* The stored document docid, or NULL (no such document). */
AnnalsXdoc *annals_xdb_get (AnnalsXdb *db, guint64 docid, char **error);
/* Document data, new. */
char *annals_xdoc_get_data (AnnalsXdoc *doc, gsize *length);

/* Calls fn for each document holding term; stops when fn returns FALSE. */
gboolean annals_xdb_each_with_term (AnnalsXdb *db, const char *term, gboolean (*fn) (guint64 docid, gpointer data),
                                    gpointer data, char **error);

/* Queries.  fields maps query prefixes to term prefixes. */
typedef struct {
  const char *field;  /* "s", or "" for the default field */
  const char *prefix; /* "S" */
  gboolean boolean;   /* an exact (filter) term, not free text */
} AnnalsXfield;

typedef struct {
  const AnnalsXfield *fields;
  guint n_fields;
  guint64 offset;
  guint64 limit;
  gboolean relevance;  /* else newest first */
  gboolean collapse_threads;
  guint max_expansion; /* a wildcard may expand to at most this many terms */
  /* Unless relevance: newest first by document id (arrival) instead of the
   * date value, unweighed, so the match stops once the page is full. */
  gboolean arrival_order;
  /* With docid_max > 0: only documents docid_min..docid_max (a window of
   * arrival order), which a posting list reaches by skipping. */
  guint64 docid_min, docid_max;
} AnnalsXsearch;

typedef struct {
  guint64 docid;
  int percent;
  char *data;
  gsize data_length;
} AnnalsXhit;

typedef struct {
  guint64 count;  /* matching documents (exact when exact_count was asked) */
  AnnalsXhit *hits;
  guint n_hits;
} AnnalsXresults;

/* Parses and runs query (already accent-folded).  Returns NULL with error
 * on a syntax error, an unbounded wildcard, or a query of only NOT.
 * exact_count: count every match (costlier), else an estimate. */
AnnalsXresults *annals_xdb_search (AnnalsXdb *db, const char *query, const AnnalsXsearch *options,
                                   gboolean exact_count, char **error);
void annals_xresults_free (AnnalsXresults *results);

/* Documents holding term ("" for all), newest first or oldest first. */
AnnalsXresults *annals_xdb_search_term (AnnalsXdb *db, const char *term, const AnnalsXsearch *options,
                                        gboolean oldest_first, char **error);

G_END_DECLS
