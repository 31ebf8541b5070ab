/* xapian-shim: a plain C face for the few parts of Xapian annals uses.
 *
 * Opaque handles, no C++ type or exception crosses this header (notmuch's
 * lib/notmuch.h pattern).  Every entry point catches Xapian::Error,
 * std::exception and anything else; a call that can fail returns an
 * AnnalsXstatus and, when it is not ANNALS_XSTATUS_OK, sets *message (may
 * be NULL) to a new string the caller frees with g_free(); out-parameters
 * are set only on success.  The shim stays thin: databases, documents,
 * terms, values, metadata and the query parser; what gets indexed and how
 * threads form is decided in C (index.c).  It is its own static library,
 * the only code compiled against Xapian's headers.
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

/* What went wrong, for the callers that act on it. */
typedef enum {
  ANNALS_XSTATUS_OK = 0,
  ANNALS_XSTATUS_NOT_FOUND,          /* no such document, or no database at the path */
  ANNALS_XSTATUS_QUERY_SYNTAX,       /* the query cannot be parsed, or looks for nothing */
  ANNALS_XSTATUS_WILDCARD_TOO_BROAD, /* a wildcard expands to more terms than allowed */
  ANNALS_XSTATUS_LOCKED,             /* another writer has it, or it changed under a reader twice */
  ANNALS_XSTATUS_CORRUPT,            /* damaged, half-made, or of a format this Xapian cannot read */
  ANNALS_XSTATUS_IO,                 /* cannot open, read or write it: permissions, disk full, ... */
  ANNALS_XSTATUS_NOT_WRITABLE,       /* a write through a handle opened read-only */
  ANNALS_XSTATUS_UNREACHABLE,        /* a remote database did not answer (refused, closed, timed out) */
  ANNALS_XSTATUS_INTERNAL,           /* anything else: a closed handle, out of memory, a bug */
} AnnalsXstatus;

/* Opens a writable database into *db: create makes a new one at path
 * (which must not hold one), else it must exist (NOT_FOUND when path is
 * not there, CORRUPT when it is but holds no whole database). */
AnnalsXstatus annals_xdb_open_writable (const char *path, gboolean create, AnnalsXdb **db, char **message);
/* Opens one or more databases read-only, searched as one.  The message
 * names the path that failed. */
AnnalsXstatus annals_xdb_open_readonly (const char *const *paths, guint count, AnnalsXdb **db, char **message);
/* Where a read-only database is: a local path, or a remote one served
 * by xapian-tcpsrv at host:port (path NULL), which must connect and then
 * answer each request within timeout_ms (0: 5000). */
typedef struct {
  const char *path;
  const char *host;
  guint port;
  guint timeout_ms;
} AnnalsXsource;

/* Opens sources, local or remote, searched as one (their document ids
 * interleave: Xapian::Database::add_database).  *failed (when not NULL)
 * is the index of the source that failed (count when none did).  The
 * message names a local path that failed; a remote source's is only the
 * cause, the caller naming it: UNREACHABLE with "connection refused",
 * "timed out", "connection closed" or the like. */
AnnalsXstatus annals_xdb_open_sources (const AnnalsXsource *sources, guint count, AnnalsXdb **db, guint *failed,
                                       char **message);
/* Closes db (a writable one commits what is pending); the handle stays
 * to be freed, and every call on it fails with INTERNAL. */
AnnalsXstatus annals_xdb_close (AnnalsXdb *db, char **message);
/* Brings a read handle kept open to the latest commit of its databases
 * (cheap when none was made).  It does not follow a database replaced
 * by another at the same path (an index swapped in): open that anew. */
AnnalsXstatus annals_xdb_reopen (AnnalsXdb *db, char **message);
/* Closes db if it is open, ignoring errors, and frees it.  NULL is fine. */
void annals_xdb_free (AnnalsXdb *db);

AnnalsXstatus annals_xdb_doc_count (AnnalsXdb *db, guint64 *count, char **message);
/* The highest document id used (0 when none); of several databases
 * searched as one, the highest combined id. */
AnnalsXstatus annals_xdb_last_docid (AnnalsXdb *db, guint64 *docid, char **message);

/* User metadata: *value is a new string, or NULL when the key is unset. */
AnnalsXstatus annals_xdb_get_metadata (AnnalsXdb *db, const char *key, char **value, char **message);
AnnalsXstatus annals_xdb_set_metadata (AnnalsXdb *db, const char *key, const char *value, char **message);
AnnalsXstatus annals_xdb_commit (AnnalsXdb *db, char **message);

/* Documents.  The builders below cannot fail one by one: the first
 * failure is kept in the document (the others are then skipped) and
 * annals_xdb_replace() reports it instead of writing the document. */
/* A new empty document, or NULL when out of memory. */
AnnalsXdoc *annals_xdoc_new (void);
void annals_xdoc_free (AnnalsXdoc *doc);
/* Indexes free text under prefix ("" for none); positions for phrases.
 * Stemmed terms (English then French suffixes, "Z" prefix) are added too;
 * without positions, only they are (text found by its words, never by a
 * phrase nor an exact form: quoted text). */
void annals_xdoc_index_text (AnnalsXdoc *doc, const char *text, const char *prefix, gboolean positions);
/* A boolean term, exactly as given (at most 240 bytes). */
void annals_xdoc_add_term (AnnalsXdoc *doc, const char *term);
/* Removing a term the document does not hold is no failure. */
void annals_xdoc_remove_term (AnnalsXdoc *doc, const char *term);
void annals_xdoc_set_number (AnnalsXdoc *doc, guint slot, double value);
void annals_xdoc_set_string (AnnalsXdoc *doc, guint slot, const char *value);
void annals_xdoc_set_data (AnnalsXdoc *doc, const char *data, gsize length);
/* Document data: *data is new (NUL-terminated too), *length its size.
 * Read from the database for a stored document, so it can fail. */
AnnalsXstatus annals_xdoc_get_data (AnnalsXdoc *doc, char **data, gsize *length, char **message);

/* Stores doc as docid (replacing any), or reports the failure doc kept. */
AnnalsXstatus annals_xdb_replace (AnnalsXdb *db, guint64 docid, AnnalsXdoc *doc, char **message);
/* *existed (may be NULL): whether there was such a document. */
AnnalsXstatus annals_xdb_delete (AnnalsXdb *db, guint64 docid, gboolean *existed, char **message);
/* Writes db's last committed revision as a new database at dest (which
 * must not exist), live entries only, document ids kept: nothing of a
 * deleted document survives in it, unlike in db's freed blocks. */
AnnalsXstatus annals_xdb_compact (AnnalsXdb *db, const char *dest, char **message);
/* The stored document docid into *doc (free with annals_xdoc_free), or
 * NOT_FOUND. */
AnnalsXstatus annals_xdb_get (AnnalsXdb *db, guint64 docid, AnnalsXdoc **doc, char **message);

/* The smallest and largest number in slot over the whole database (cheap:
 * Xapian keeps the bounds); *found FALSE (and OK) when no document has a
 * value there. */
AnnalsXstatus annals_xdb_number_bounds (AnnalsXdb *db, guint slot, gboolean *found, double *lo, double *hi,
                                        char **message);

/* The largest number in slot (annals_xdoc_set_number) that is at most
 * upto (HUGE_VAL: any) among the documents holding term, uncommitted
 * ones included, into *out with *found TRUE; *found FALSE (and OK) when
 * no such document. */
AnnalsXstatus annals_xdb_max_number (AnnalsXdb *db, const char *term, guint slot, double upto, gboolean *found,
                                     double *out, char **message);

/* Calls fn for each document holding term; stops when fn returns FALSE. */
AnnalsXstatus annals_xdb_each_with_term (AnnalsXdb *db, const char *term, gboolean (*fn) (guint64 docid, gpointer data),
                                         gpointer data, char **message);

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
  gboolean relevance; /* else newest first */
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
  char *snippet; /* annals_xdb_search_more() only: HTML, or NULL */
} AnnalsXhit;

typedef struct {
  guint64 count; /* matching documents (exact when count_exact) */
  AnnalsXhit *hits;
  guint n_hits;
  gboolean count_exact; /* count is every match, not Xapian's estimate */
} AnnalsXresults;

/* What annals_xdb_search_more() does beyond annals_xdb_search(). */
typedef struct {
  /* Count every match up to this many (G_MAXUINT64: all; 0: estimate
   * only); count_exact says whether the count is exact, else it is
   * Xapian's estimate. */
  guint64 check_at_least;
  /* The text to take a hit's snippet from (a new string, or NULL for no
   * snippet): called for each hit returned, with its data.  It must not
   * call the shim. */
  char *(*snippet_text) (guint64 docid, const char *data, gsize length, gpointer user_data);
  /* A snippet the caller kept from an earlier search of the same query
   * (a new string), or NULL to make one from snippet_text's; asked first
   * when set.  It must not call the shim. */
  char *(*snippet_kept) (guint64 docid, const char *data, gsize length, gpointer user_data);
  gpointer user_data;
  gsize snippet_length; /* bytes of text to aim for */
  /* How the indexed text was folded (a new string), so the snippet's
   * words match the terms as they do in the index; NULL: not folded. */
  char *(*fold) (const char *text);
} AnnalsXmore;

/* Parses and runs query (already accent-folded) into *results:
 * QUERY_SYNTAX for a syntax error or a query of only NOT,
 * WILDCARD_TOO_BROAD past max_expansion.  more (may be NULL): how far to
 * count, and each hit's snippet, the part of its text where the query
 * matches, HTML-escaped, matches in <mark>...</mark>. */
AnnalsXstatus annals_xdb_search_more (AnnalsXdb *db, const char *query, const AnnalsXsearch *options,
                                      const AnnalsXmore *more, AnnalsXresults **results, char **message);
/* Tests: with on, every search from then counts the documents its
 * matcher examined (a Xapian MatchSpy, which changes neither the matches
 * nor the counts); annals_xdb_examined() says how many so far, and
 * turning it on starts again from 0.  A search's cost follows this
 * number. */
void annals_xdb_count_examined (gboolean on);
guint64 annals_xdb_examined (void);
/* The stem of a lower-case word, as the index and queries make it (the
 * caller frees *stem), and how many words the calling thread's stem cache
 * holds (at most 100,000). */
AnnalsXstatus annals_xstem (const char *word, char **stem, char **message);
guint annals_xstem_cached (void);
/* annals_xdb_search_more() without snippets.  exact_count: count every
 * match (costlier), else an estimate. */
AnnalsXstatus annals_xdb_search (AnnalsXdb *db, const char *query, const AnnalsXsearch *options, gboolean exact_count,
                                 AnnalsXresults **results, char **message);
void annals_xresults_free (AnnalsXresults *results);

/* Documents holding term ("" for all), newest first or oldest first. */
AnnalsXstatus annals_xdb_search_term (AnnalsXdb *db, const char *term, const AnnalsXsearch *options,
                                      gboolean oldest_first, AnnalsXresults **results, char **message);

G_END_DECLS
