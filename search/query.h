/* query: the public-inbox query language over annals' Xapian indexes.
 *
 * Prefixes (doc/search.md): s: subject, f: from, t: to, c: cc, tc: to+cc,
 * a: any address, b: body (new and quoted), bs: subject+body, nq: new
 * text, q: quoted text, n: attachment name, l: List-Id, m: Message-ID,
 * d: sent date range, rt: receipt time range; phrases in quotes; AND
 * (default), OR, NOT, +, -; trailing * with a bounded expansion.  Dates:
 * YYYY-MM-DD, YYYYMMDD, YYYY-MM, YYYY, today, yesterday, N.days.ago (also
 * hours, weeks, months, years), either end open: d:2024-01-01..2024-06-30,
 * d:30.days.ago.., d:..2020.  Text is accent-folded like the index.
 */
#pragma once

#include "indexer/index.h"

G_BEGIN_DECLS

/* Whose a failure is: SYNTAX and WILDCARD are the user's (EX_USAGE, HTTP
 * 400), the rest the server's (NO_INDEX and INDEX_UNAVAILABLE:
 * EX_TEMPFAIL, HTTP 503, it comes right by itself or with 'annals index';
 * INDEX_CORRUPT and IO: exit 1, HTTP 500).  NO_INDEX is apart because a
 * list page shows an unindexed list as empty.  Messages name the list
 * when one list is at fault. */
#define ANNALS_QUERY_ERROR (annals_query_error_quark ())
GQuark annals_query_error_quark (void);

typedef enum {
  ANNALS_QUERY_ERROR_SYNTAX,            /* unreadable: syntax, dates, only NOT, too long, not UTF-8 */
  ANNALS_QUERY_ERROR_WILDCARD,          /* a wildcard too broad (too short, or too many terms) */
  ANNALS_QUERY_ERROR_INDEX_UNAVAILABLE, /* no index yet, half-made, or being rewritten */
  ANNALS_QUERY_ERROR_INDEX_CORRUPT,     /* damaged: 'annals index --rebuild LIST' */
  ANNALS_QUERY_ERROR_IO,                /* cannot be read: permissions, disk, anything else */
  ANNALS_QUERY_ERROR_NO_INDEX,          /* none of the lists has an index yet */
} AnnalsQueryError;

#define ANNALS_QUERY_MAX_LENGTH 4096
#define ANNALS_QUERY_MAX_EXPANSION 1000

/* The query as the Xapian query parser takes it: accents folded, dates
 * turned into numeric ranges.  now: seconds since the epoch, for relative
 * dates.  Returns NULL with an error pointing at the problem. */
char *annals_query_prepare (const char *query, gint64 now, GError **error);

typedef struct {
  guint64 offset;
  guint64 limit;
  gboolean relevance;
  gboolean threads;
  gboolean exact_count;
  /* The text a hit's snippet is taken from (a new string, or NULL):
   * with it, annals_query_run() fills snippets. */
  char *(*snippet_text) (const AnnalsIndexSummary *hit, gpointer user_data);
  /* A hit's snippet kept from an earlier search of the same query (a
   * new string), or NULL to make it from snippet_text's (may be NULL). */
  char *(*snippet_kept) (const AnnalsIndexSummary *hit, gpointer user_data);
  gpointer snippet_data;
} AnnalsQueryOptions;

/* Without exact_count, matches are counted exactly up to this many
 * (cheap); past it count is Xapian's estimate and count_exact FALSE.
 * The environment variable ANNALS_SEARCH_EXACT_UP_TO (tests) lowers it. */
#define ANNALS_QUERY_EXACT_UP_TO 500
/* Bytes of text a snippet aims for. */
#define ANNALS_QUERY_SNIPPET_LENGTH 200

typedef struct {
  guint64 count;
  GArray *hits;         /* AnnalsIndexSummary, plus percent in hit_percent */
  GArray *percent;      /* int per hit */
  gboolean count_exact; /* count is exact, else an estimate ("about") */
  GPtrArray *snippets;  /* per hit: HTML (escaped, matches in <mark>) or NULL; NULL unless asked */
} AnnalsQueryResults;

void annals_query_results_free (AnnalsQueryResults *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsQueryResults, annals_query_results_free)

/* A process that answers many requests (FastCGI) keeps each list's
 * index open between them (on), reopened at each search to see new
 * commits and opened anew when the index folder or annals.conf was
 * replaced; off (the default) closes them.  Indexes of several lists
 * searched as one, and remote shards, are opened per search. */
void annals_query_keep_open (gboolean on);

/* Runs query over the indexes of the given list folders (ROOT/<list>). */
AnnalsQueryResults *annals_query_run (const char *const *list_dirs, guint n_lists, const char *query,
                                      const AnnalsQueryOptions *options, GError **error);

/* Messages holding an index term ("" for all; "G<thread>", "Q<id>"),
 * newest or oldest first. */
AnnalsQueryResults *annals_query_term (const char *const *list_dirs, guint n_lists, const char *term,
                                       const AnnalsQueryOptions *options, gboolean oldest_first, GError **error);

/* The thread of a Message-ID that a message of list_dir has or names
 * in References/In-Reply-To (a ghost: the index keeps both).  New
 * string; NULL when the index does not know the id (error unset) or
 * cannot be read (error set). */
char *annals_query_thread_id (const char *list_dir, const char *message_id, GError **error);

/* The first and last receipt time of the list's indexed messages (any
 * order of arrival: an old archive imported after live delivery too);
 * *found FALSE when it has none. */
gboolean annals_query_receipt_bounds (const char *list_dir, gboolean *found, gint64 *first, gint64 *last,
                                      GError **error);

G_END_DECLS
