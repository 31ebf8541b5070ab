/* query: see query.h. */
#include "search/query.h"
#include "core/message.h"
#include "core/mime.h"
#include "indexer/xapian-shim.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* public-inbox's prefixes, mapped to annals' term prefixes (index.c). */
static const AnnalsXfield fields[] = {
  { "", "", FALSE }, /* the default field: new text and subject */
  { "", "S", FALSE },    { "s", "S", FALSE },   { "f", "A", FALSE },  { "t", "XT", FALSE },  { "c", "XC", FALSE },
  { "tc", "XT", FALSE }, { "tc", "XC", FALSE }, { "a", "A", FALSE },  { "a", "XT", FALSE },  { "a", "XC", FALSE },
  { "b", "", FALSE },    { "b", "XQ", FALSE },  { "bs", "", FALSE },  { "bs", "XQ", FALSE }, { "bs", "S", FALSE },
  { "nq", "", FALSE },   { "q", "XQ", FALSE },  { "n", "XN", FALSE }, { "l", "XL", TRUE },   { "m", "Q", TRUE },
};

G_DEFINE_QUARK (annals_query_error, annals_query_error)

static const struct {
  const char *unit;
  gint64 seconds;
} units[] = {
  { "hour", 3600 },        { "hours", 3600 },        { "day", 86400 },        { "days", 86400 },
  { "week", 7 * 86400 },   { "weeks", 7 * 86400 },   { "month", 30 * 86400 }, { "months", 30 * 86400 },
  { "year", 365 * 86400 }, { "years", 365 * 86400 },
};

typedef enum { DATE_OK, DATE_UNREADABLE, DATE_OUT_OF_RANGE } DateParse;

/* The index holds dates from 1970 to 9999: what lies outside cannot
 * match, and computing it would overflow. */
#define FIRST_YEAR 1970
#define LAST_YEAR 9999

/* Parses one end of a date range.  upper: the end of the named period. */
static DateParse
parse_date (const char *s, gboolean upper, gint64 now, gint64 *out)
{
  if (*s == '\0') {
    *out = upper ? G_GINT64_CONSTANT (99999999999) : 0;
    return DATE_OK;
  }
  gint64 day0 = now - now % 86400;
  if (strcmp (s, "now") == 0) {
    *out = now;
    return DATE_OK;
  }
  if (strcmp (s, "today") == 0 || strcmp (s, "yesterday") == 0) {
    gint64 start = day0 - (s[0] == 'y' ? 86400 : 0);
    *out = upper ? start + 86399 : start;
    return DATE_OK;
  }
  /* N.unit.ago, N checked: sscanf would wrap a number too big. */
  gsize digits = strspn (s, "0123456789");
  const char *ago = g_str_has_suffix (s, ".ago") ? s + strlen (s) - strlen (".ago") : NULL;
  if (digits > 0 && s[digits] == '.' && ago != NULL && ago > s + digits) {
    g_autofree char *unit = g_strndup (s + digits + 1, (gsize) (ago - s - digits - 1));
    for (guint i = 0; i < G_N_ELEMENTS (units); i++)
      if (strcmp (unit, units[i].unit) == 0) {
        g_autofree char *num = g_strndup (s, digits);
        guint64 n;
        if (!g_ascii_string_to_unsigned (num, 10, 0, G_MAXUINT64, &n, NULL) || n > (guint64) now / units[i].seconds)
          return DATE_OUT_OF_RANGE;
        *out = now - (gint64) n * units[i].seconds;
        return DATE_OK;
      }
    return DATE_UNREADABLE;
  }
  int y = 0, m = 0, d = 0;
  gsize len = strlen (s);
  if (strspn (s, "0123456789-") != len)
    return DATE_UNREADABLE;
  if (len == 10 && sscanf (s, "%4d-%2d-%2d", &y, &m, &d) == 3) {
  } else if (len == 8 && s[4] != '-' && sscanf (s, "%4d%2d%2d", &y, &m, &d) == 3) {
  } else if (len == 7 && sscanf (s, "%4d-%2d", &y, &m) == 2) {
    d = 0;
  } else if (len == 4 && sscanf (s, "%4d", &y) == 1) {
    m = 0;
  } else if (digits > 4 && (s[digits] == '\0' || s[digits] == '-')) {
    return DATE_OUT_OF_RANGE; /* a year of five digits or more */
  } else {
    return DATE_UNREADABLE;
  }
  /* Checked here: the date parser maps years below 1000 to 19xx/20xx. */
  if (y < FIRST_YEAR || y > LAST_YEAR)
    return DATE_OUT_OF_RANGE;
  int sm = m ? m : 1, sd = d ? d : 1;
  gint64 start = annals_message_date_to_unix (y, sm, sd, 0, 0, 0, 0);
  if (start == ANNALS_NO_DATE)
    return DATE_UNREADABLE;
  if (!upper) {
    *out = start;
    return DATE_OK;
  }
  /* The first second after the period, minus one. */
  gint64 next;
  if (d)
    next = start + 86400;
  else if (m)
    next = annals_message_date_to_unix (m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1, 0, 0, 0, 0);
  else
    next = annals_message_date_to_unix (y + 1, 1, 1, 0, 0, 0, 0);
  /* The period that ends 9999 has no first second after it. */
  *out = next == ANNALS_NO_DATE ? annals_message_date_to_unix (LAST_YEAR, 12, 31, 23, 59, 59, 0) : next - 1;
  return DATE_OK;
}

/* Rewrites "d:X..Y" (or "rt:") into numbers for the range processor. */
static gboolean
rewrite_range (GString *out, const char *prefix, const char *spec, gint64 now, GError **error)
{
  const char *dots = strstr (spec, "..");
  g_autofree char *a = dots ? g_strndup (spec, (gsize) (dots - spec)) : g_strdup (spec);
  const char *b = dots ? dots + 2 : spec;
  gint64 lo, hi;
  DateParse pa = parse_date (a, FALSE, now, &lo), pb = pa == DATE_OK ? parse_date (b, TRUE, now, &hi) : pa;
  if (pa == DATE_OUT_OF_RANGE || pb == DATE_OUT_OF_RANGE) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX,
                 "date out of range in '%s%s': dates go from %d-01-01 to %d-12-31", prefix, spec, FIRST_YEAR,
                 LAST_YEAR);
    return FALSE;
  }
  if (pa != DATE_OK || pb != DATE_OK) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX,
                 "cannot read the date range '%s%s': use YYYY-MM-DD, YYYY-MM, YYYY, today, yesterday or "
                 "N.days.ago, with '..' between the ends (either may be left out)",
                 prefix, spec);
    return FALSE;
  }
  if (lo > hi) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX, "the date range '%s%s' ends before it starts",
                 prefix, spec);
    return FALSE;
  }
  g_string_append_printf (out, "%s%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, prefix, MAX (lo, 0), hi);
  return TRUE;
}

static gboolean
is_op (const char *t, gsize len, const char *op)
{
  return len == strlen (op) && strncmp (t, op, len) == 0;
}

/* What Xapian's parser would quietly reinterpret: unbalanced parentheses,
 * dangling operators, and queries of nothing but NOT.  The message says
 * where. */
static gboolean
check_syntax (const char *q, GError **error)
{
  int depth = 0;
  int negated_from = -1; /* depth at which a NOT (...) group started */
  gboolean positive = FALSE, negate_next = FALSE, in_quotes = FALSE;
  const char *pending_op = NULL; /* an AND/OR/NOT waiting for its right side */
  gsize pending_at = 0;
  gboolean seen_operand = FALSE;
  const char *p = q;
  while (*p) {
    if (*p == ' ') {
      p++;
      continue;
    }
    gsize at = (gsize) (p - q) + 1;
    if (*p == '(') {
      depth++;
      if (negate_next && negated_from < 0)
        negated_from = depth;
      negate_next = FALSE;
      pending_op = NULL;
      p++;
      continue;
    }
    if (*p == ')') {
      if (depth == 0) {
        g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX,
                     "query syntax: ')' at position %zu closes nothing", at);
        return FALSE;
      }
      if (pending_op) {
        g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX,
                     "query syntax: '%s' at position %zu has nothing after it", pending_op, pending_at);
        return FALSE;
      }
      if (negated_from == depth)
        negated_from = -1;
      depth--;
      p++;
      continue;
    }
    /* A token: up to a space or parenthesis outside quotes. */
    const char *start = p;
    while (*p && (in_quotes || (*p != ' ' && *p != '(' && *p != ')'))) {
      if (*p == '"')
        in_quotes = !in_quotes;
      p++;
    }
    gsize len = (gsize) (p - start);
    if (is_op (start, len, "AND") || is_op (start, len, "OR") || is_op (start, len, "XOR")) {
      if (!seen_operand || pending_op) {
        g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX,
                     "query syntax: '%.*s' at position %zu has nothing before it", (int) len, start, at);
        return FALSE;
      }
      pending_op = is_op (start, len, "AND") ? "AND" : is_op (start, len, "OR") ? "OR" : "XOR";
      pending_at = at;
      continue;
    }
    if (is_op (start, len, "NOT")) {
      negate_next = TRUE;
      pending_op = "NOT";
      pending_at = at;
      continue;
    }
    if (len > 0 && start[len - 1] == '*' && !in_quotes) {
      /* A one-letter stem matches a fixed share of every language: it
       * grows with the archive, so it is refused whatever the count. */
      const char *word = start;
      while (word < start + len && (*word == '+' || *word == '-'))
        word++;
      const char *colon = memchr (word, ':', (gsize) (start + len - word));
      if (colon != NULL)
        word = colon + 1;
      if (start + len - 1 - word < 2) {
        g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_WILDCARD,
                     "query syntax: the wildcard '%.*s' at position %zu is too broad: give at least two letters "
                     "before '*'",
                     (int) len, start, at);
        return FALSE;
      }
    }
    gboolean negated = negate_next || start[0] == '-' || negated_from >= 0;
    if (!negated)
      positive = TRUE;
    negate_next = FALSE;
    pending_op = NULL;
    seen_operand = TRUE;
  }
  if (depth > 0) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX, "query syntax: %d '(' left open", depth);
    return FALSE;
  }
  if (pending_op) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX,
                 "query syntax: '%s' at position %zu has nothing after it", pending_op, pending_at);
    return FALSE;
  }
  if (!seen_operand && pending_op == NULL) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX,
                 "the query is empty: give words to find, e.g. 's:budget' or 'f:alice d:2024'");
    return FALSE;
  }
  if (!positive) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX,
                 "the query has nothing to look for: a query of only NOT or '-' terms is refused "
                 "(add what to find, e.g. 'd:2024 NOT spam')");
    return FALSE;
  }
  return TRUE;
}

char *
annals_query_prepare (const char *query, gint64 now, GError **error)
{
  gsize len = strlen (query);
  if (len > ANNALS_QUERY_MAX_LENGTH) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX, "the query is %zu bytes long; the limit is %d",
                 len, ANNALS_QUERY_MAX_LENGTH);
    return NULL;
  }
  if (!g_utf8_validate (query, -1, NULL)) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX, "the query is not valid UTF-8");
    return NULL;
  }
  g_autofree char *folded = annals_mime_fold_accents (query);
  GString *out = g_string_new (NULL);
  const char *p = folded;
  gboolean in_quotes = FALSE;
  while (*p) {
    if (*p == '"') {
      in_quotes = !in_quotes;
      g_string_append_c (out, *p++);
      continue;
    }
    gboolean token_start = p == folded || p[-1] == ' ' || p[-1] == '(' || p[-1] == '+' || p[-1] == '-';
    const char *prefix = NULL;
    if (!in_quotes && token_start) {
      if (g_str_has_prefix (p, "d:"))
        prefix = "d:";
      else if (g_str_has_prefix (p, "rt:"))
        prefix = "rt:";
    }
    if (prefix != NULL) {
      const char *spec = p + strlen (prefix);
      gsize slen = strcspn (spec, " )");
      g_autofree char *s = g_strndup (spec, slen);
      if (!rewrite_range (out, prefix, s, now, error)) {
        g_string_free (out, TRUE);
        return NULL;
      }
      p = spec + slen;
      continue;
    }
    g_string_append_c (out, *p++);
  }
  if (in_quotes) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX, "the query has an unclosed \" (quote)");
    g_string_free (out, TRUE);
    return NULL;
  }
  if (!check_syntax (out->str, error)) {
    g_string_free (out, TRUE);
    return NULL;
  }
  return g_string_free (out, FALSE);
}

void
annals_query_results_free (AnnalsQueryResults *r)
{
  if (r == NULL)
    return;
  for (guint i = 0; r->hits && i < r->hits->len; i++)
    annals_index_summary_clear (&g_array_index (r->hits, AnnalsIndexSummary, i));
  if (r->hits)
    g_array_unref (r->hits);
  if (r->percent)
    g_array_unref (r->percent);
  if (r->snippets)
    g_ptr_array_unref (r->snippets);
  g_free (r);
}

/* One database a search opens: a list's shard, local or remote. */
typedef struct {
  char *list;
  char *name; /* "the index of 'x'", or "shard K of the index of 'x' (host:port)" */
  AnnalsXsource source;
  AnnalsIndexShard shard;
} Source;

static void
source_free (gpointer data)
{
  Source *s = data;
  if (s == NULL)
    return;
  g_free (s->list);
  g_free (s->name);
  annals_index_shard_clear (&s->shard);
  g_free (s);
}

/* A failure of the shim as a query error: the user's (syntax, wildcard)
 * or the server's, naming the source when it is known (may be NULL).
 * message is freed. */
static void
set_xerror (GError **error, AnnalsXstatus st, char *message, const Source *src)
{
  const char *subject = src ? src->name : "the index";
  const char *list = src ? src->list : NULL;
  const char *m = message ? message : "?";
  switch (st) {
  case ANNALS_XSTATUS_QUERY_SYNTAX:
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX, "%s", m);
    break;
  case ANNALS_XSTATUS_WILDCARD_TOO_BROAD:
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_WILDCARD, "%s", m);
    break;
  case ANNALS_XSTATUS_LOCKED:
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_INDEX_UNAVAILABLE,
                 "%s is being rewritten (%s); try again in a moment", subject, m);
    break;
  case ANNALS_XSTATUS_UNREACHABLE:
    /* Never a partial answer: the whole search fails, naming the shard. */
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_INDEX_UNAVAILABLE,
                 "%s does not answer (%s); check that its xapian-tcpsrv runs, or try again later", subject, m);
    break;
  case ANNALS_XSTATUS_CORRUPT:
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_INDEX_CORRUPT,
                 "%s is damaged (%s); 'annals index --rebuild%s%s' builds it again from the store", subject, m,
                 list ? " " : "", list ? list : "");
    break;
  default:
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_IO, "cannot read %s: %s", subject, m);
    break;
  }
  g_free (message);
}

/* A search over an open database (run_term, run_query). */
typedef AnnalsXstatus (*RunFn) (AnnalsXdb *db, gconstpointer ctx, AnnalsXresults **out, char **message);

/* Several databases are searched as one, and Xapian's words do not say
 * which one failed: each is tried alone (open, then run) to name it.
 * Returns the failing one, its status and message, or NULL when each
 * works alone. */
static const Source *
find_culprit (GPtrArray *sources, RunFn run, gconstpointer ctx, AnnalsXstatus *st, char **message)
{
  for (guint i = 0; i < sources->len; i++) {
    const Source *src = sources->pdata[i];
    AnnalsXdb *db = NULL;
    AnnalsXresults *xr = NULL;
    *st = annals_xdb_open_sources (&src->source, 1, &db, NULL, message);
    if (*st == ANNALS_XSTATUS_OK && run != NULL)
      *st = run (db, ctx, &xr, message);
    annals_xresults_free (xr);
    annals_xdb_free (db);
    if (*st != ANNALS_XSTATUS_OK)
      return src;
  }
  return NULL;
}

/* Sets error for a shim failure over sources: names the list (and the
 * shard) when one of several fails alone. */
static void
fail_over (GError **error, AnnalsXstatus st, char *message, GPtrArray *sources, RunFn run, gconstpointer ctx)
{
  if (st == ANNALS_XSTATUS_QUERY_SYNTAX || st == ANNALS_XSTATUS_WILDCARD_TOO_BROAD) {
    set_xerror (error, st, message, NULL);
    return;
  }
  if (sources->len == 1) {
    set_xerror (error, st, message, sources->pdata[0]);
    return;
  }
  AnnalsXstatus alone;
  char *why = NULL;
  const Source *culprit = find_culprit (sources, run, ctx, &alone, &why);
  if (culprit != NULL) {
    g_free (message);
    set_xerror (error, alone, why, culprit);
  } else {
    set_xerror (error, st, message, NULL);
  }
}

/* The databases of list_dirs' indexes (those that have one), every
 * shard of each, or NULL with error: a half-made index fails the whole
 * search, never leaves it silently partial. */
static GPtrArray *
index_sources (const char *const *list_dirs, guint n_lists, GError **error)
{
  /* Per list, then put in shard-major order (shard 0 of every list, then
   * shard 1, ...): Xapian interleaves the databases' ids, and lists of
   * the same shard count then get the ids, and so the order among equal
   * hits, they would have unsharded. */
  g_autoptr (GPtrArray) per_list = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  guint most = 0;
  for (guint i = 0; i < n_lists; i++) {
    g_autoptr (GError) local = NULL;
    g_autoptr (GArray) shards = annals_index_reader_shards (list_dirs[i], &local);
    if (local != NULL) {
      /* Half-made: the next index run rebuilds it, so it is a while away. */
      g_set_error_literal (error, ANNALS_QUERY_ERROR,
                           g_error_matches (local, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_NOT_READY)
                               ? ANNALS_QUERY_ERROR_INDEX_UNAVAILABLE
                               : ANNALS_QUERY_ERROR_IO,
                           local->message);
      return NULL;
    }
    if (shards == NULL)
      continue;
    g_autofree char *list = g_path_get_basename (list_dirs[i]);
    GPtrArray *these = g_ptr_array_new_with_free_func (source_free);
    g_ptr_array_add (per_list, these);
    most = MAX (most, shards->len);
    for (guint k = 0; k < shards->len; k++) {
      AnnalsIndexShard *sh = &g_array_index (shards, AnnalsIndexShard, k);
      Source *src = g_new0 (Source, 1);
      src->list = g_strdup (list);
      src->shard = *sh;
      memset (sh, 0, sizeof *sh); /* taken */
      if (src->shard.host != NULL)
        src->name
            = g_strdup_printf ("shard %u of the index of '%s' (%s:%u)", k, list, src->shard.host, src->shard.port);
      else if (shards->len > 1)
        src->name = g_strdup_printf ("shard %u of the index of '%s'", k, list);
      else
        src->name = g_strdup_printf ("the index of '%s'", list);
      src->source = (AnnalsXsource){ src->shard.path, src->shard.host, src->shard.port, src->shard.timeout_ms };
      g_ptr_array_add (these, src);
    }
  }
  g_autoptr (GPtrArray) sources = g_ptr_array_new_with_free_func (source_free);
  for (guint k = 0; k < most; k++)
    for (guint j = 0; j < per_list->len; j++) {
      GPtrArray *these = per_list->pdata[j];
      if (k < these->len)
        g_ptr_array_add (sources, g_steal_pointer (&these->pdata[k]));
    }
  if (sources->len == 0) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_NO_INDEX,
                 "no index to search: run 'annals index' first");
    return NULL;
  }
  return g_steal_pointer (&sources);
}

static AnnalsXdb *
open_sources (GPtrArray *sources, guint count, GError **error)
{
  g_autofree AnnalsXsource *xs = g_new0 (AnnalsXsource, count);
  for (guint i = 0; i < count; i++)
    xs[i] = ((Source *) sources->pdata[i])->source;
  char *err = NULL;
  AnnalsXdb *db = NULL;
  guint failed = count;
  AnnalsXstatus st = annals_xdb_open_sources (xs, count, &db, &failed, &err);
  if (st != ANNALS_XSTATUS_OK) {
    /* The shim names the one that failed: opening each again to find
     * it would wait out a stopped server's timeout a second time. */
    if (failed < count)
      set_xerror (error, st, err, sources->pdata[failed]);
    else
      fail_over (error, st, err, sources, NULL, NULL);
    return NULL;
  }
  return db;
}

/* One list's index open for a search: kept from an earlier search of
 * this process (then the table owns sources and db), or opened for this
 * one. */
typedef struct {
  GPtrArray *sources;
  AnnalsXdb *db;
  char *key; /* in the table of kept ones, or NULL */
} ListDb;

/* A process answering many requests keeps each list's index open: a
 * search reopens it (Xapian's reopen() follows new commits) when
 * annals.conf and the index folder are the ones it was opened from.  A
 * rebuild or compaction swaps in another folder, which reopen() does not
 * follow: that opens it anew. */
static gboolean keep_open;
static GHashTable *kept; /* "list folder\nshards wanted" -> Kept */

typedef struct {
  GPtrArray *sources;
  AnnalsXdb *db;
  struct stat conf;  /* annals.conf, all zero when there is none */
  struct stat index; /* the index folder */
} Kept;

static void
kept_free (gpointer data)
{
  Kept *k = data;
  g_ptr_array_unref (k->sources);
  annals_xdb_free (k->db);
  g_free (k);
}

void
annals_query_keep_open (gboolean on)
{
  keep_open = on;
  if (!on)
    g_clear_pointer (&kept, g_hash_table_unref);
}

/* The identities that tell whether a kept index is still the one to use. */
static void
list_files (const char *list_dir, struct stat *conf, struct stat *index)
{
  g_autofree char *root = g_path_get_dirname (list_dir);
  g_autofree char *conf_path = g_build_filename (root, "annals.conf", NULL);
  g_autofree char *index_path = g_build_filename (list_dir, "index", NULL);
  if (stat (conf_path, conf) != 0)
    memset (conf, 0, sizeof *conf);
  if (stat (index_path, index) != 0)
    memset (index, 0, sizeof *index);
}

static gboolean
same_conf (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
         && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec
         && a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static AnnalsXdb *open_sources (GPtrArray *sources, guint count, GError **error);
static GPtrArray *index_sources (const char *const *list_dirs, guint n_lists, GError **error);

/* Opens list_dir's index, every shard or shard 0 alone (shard0), or
 * takes the kept one; give it back with list_db_release(). */
static gboolean
list_db_take (const char *list_dir, gboolean shard0, ListDb *out, GError **error)
{
  memset (out, 0, sizeof *out);
  struct stat conf, index;
  g_autofree char *key = NULL;
  if (keep_open) {
    list_files (list_dir, &conf, &index);
    key = g_strdup_printf ("%s\n%d", list_dir, shard0);
    Kept *k = kept ? g_hash_table_lookup (kept, key) : NULL;
    /* The folder's own times change with every commit: its identity
     * alone says whether it was swapped. */
    if (k != NULL && same_conf (&conf, &k->conf) && index.st_ino != 0 && index.st_ino == k->index.st_ino
        && index.st_dev == k->index.st_dev && annals_xdb_reopen (k->db, NULL) == ANNALS_XSTATUS_OK) {
      out->sources = k->sources;
      out->db = k->db;
      out->key = g_steal_pointer (&key);
      return TRUE;
    }
    if (k != NULL)
      g_hash_table_remove (kept, key);
  }
  g_autoptr (GPtrArray) sources = index_sources (&list_dir, 1, error);
  if (sources == NULL)
    return FALSE;
  AnnalsXdb *db = open_sources (sources, shard0 ? 1 : sources->len, error);
  if (db == NULL)
    return FALSE;
  gboolean remote = FALSE;
  for (guint i = 0; i < sources->len; i++)
    remote = remote || ((Source *) sources->pdata[i])->source.host != NULL;
  /* A remote shard's connection is not kept: its server may restart. */
  if (keep_open && !remote && index.st_ino != 0) {
    Kept *k = g_new0 (Kept, 1);
    k->sources = g_ptr_array_ref (sources);
    k->db = db;
    k->conf = conf;
    k->index = index;
    if (kept == NULL)
      kept = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, kept_free);
    g_hash_table_insert (kept, g_strdup (key), k);
    out->key = g_steal_pointer (&key);
    out->sources = k->sources;
    out->db = db;
    return TRUE;
  }
  out->sources = g_steal_pointer (&sources);
  out->db = db;
  return TRUE;
}

/* Gives back what list_db_take() gave; failed: a search over it failed,
 * so a kept one is dropped (the next search opens it anew). */
static void
list_db_release (ListDb *l, gboolean failed)
{
  if (l->key != NULL) {
    if (failed && kept != NULL)
      g_hash_table_remove (kept, l->key);
    g_free (l->key);
  } else {
    if (l->sources != NULL)
      g_ptr_array_unref (l->sources);
    annals_xdb_free (l->db);
  }
  memset (l, 0, sizeof *l);
}

static void
release_ok (gpointer data)
{
  list_db_release (data, FALSE);
}

static AnnalsQueryResults *
convert (AnnalsXresults *xr)
{
  AnnalsQueryResults *r = g_new0 (AnnalsQueryResults, 1);
  r->count = xr->count;
  r->count_exact = xr->count_exact;
  r->hits = g_array_new (FALSE, FALSE, sizeof (AnnalsIndexSummary));
  r->percent = g_array_new (FALSE, FALSE, sizeof (int));
  for (guint i = 0; i < xr->n_hits; i++) {
    AnnalsIndexSummary sum;
    if (!annals_index_summary_parse (xr->hits[i].data, xr->hits[i].data_length, &sum))
      continue;
    g_array_append_val (r->hits, sum);
    g_array_append_val (r->percent, xr->hits[i].percent);
    if (xr->hits[i].snippet != NULL && r->snippets == NULL) {
      r->snippets = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_set_size (r->snippets, (gint) r->hits->len - 1);
    }
    if (r->snippets != NULL)
      g_ptr_array_add (r->snippets, g_steal_pointer (&xr->hits[i].snippet));
  }
  annals_xresults_free (xr);
  return r;
}

typedef struct {
  const char *term;
  const char *query;
  const AnnalsXsearch *search;
  const AnnalsXmore *more; /* run_query's */
  gboolean flag;           /* run_term's oldest_first */
} Run;

static AnnalsXstatus
run_term (AnnalsXdb *db, gconstpointer ctx, AnnalsXresults **out, char **message)
{
  const Run *r = ctx;
  return annals_xdb_search_term (db, r->term, r->search, r->flag, out, message);
}

static AnnalsXstatus
run_query (AnnalsXdb *db, gconstpointer ctx, AnnalsXresults **out, char **message)
{
  const Run *r = ctx;
  return annals_xdb_search_more (db, r->query, r->search, r->more, out, message);
}

/* Opens the indexes of list_dirs as one and runs fn over them. */
static AnnalsQueryResults *
run_over (const char *const *list_dirs, guint n_lists, RunFn fn, const Run *run, GError **error)
{
  if (n_lists == 1) {
    ListDb l;
    if (!list_db_take (list_dirs[0], FALSE, &l, error))
      return NULL;
    char *err = NULL;
    AnnalsXresults *xr = NULL;
    AnnalsXstatus st = fn (l.db, run, &xr, &err);
    if (st != ANNALS_XSTATUS_OK)
      fail_over (error, st, err, l.sources, fn, run);
    list_db_release (&l, st != ANNALS_XSTATUS_OK);
    return st == ANNALS_XSTATUS_OK ? convert (xr) : NULL;
  }
  g_autoptr (GPtrArray) sources = index_sources (list_dirs, n_lists, error);
  if (sources == NULL)
    return NULL;
  AnnalsXdb *db = open_sources (sources, sources->len, error);
  if (db == NULL)
    return NULL;
  char *err = NULL;
  AnnalsXresults *xr = NULL;
  AnnalsXstatus st = fn (db, run, &xr, &err);
  annals_xdb_free (db);
  if (st != ANNALS_XSTATUS_OK) {
    fail_over (error, st, err, sources, fn, run);
    return NULL;
  }
  return convert (xr);
}

AnnalsQueryResults *
annals_query_term (const char *const *list_dirs, guint n_lists, const char *term, const AnnalsQueryOptions *o,
                   gboolean oldest_first, GError **error)
{
  AnnalsXsearch s = { .offset = o->offset, .limit = o->limit, .collapse_threads = o->threads };
  Run run = { .term = term, .search = &s, .flag = oldest_first };
  return run_over (list_dirs, n_lists, run_term, &run, error);
}

/* How many matches to count exactly: the cheap few hundred, and never
 * fewer than the page asked for. */
static guint64
exact_up_to (const AnnalsQueryOptions *o)
{
  const char *hook = g_getenv ("ANNALS_SEARCH_EXACT_UP_TO");
  guint64 n = hook ? g_ascii_strtoull (hook, NULL, 10) : ANNALS_QUERY_EXACT_UP_TO;
  return hook ? n : MAX (n, o->offset + o->limit);
}

/* The shim's snippet callback: the caller's, given the hit's summary. */
static char *
snippet_text (guint64 docid, const char *data, gsize length, gpointer user_data)
{
  const AnnalsQueryOptions *o = user_data;
  g_auto (AnnalsIndexSummary) sum = { 0 };
  if (!annals_index_summary_parse (data, length, &sum))
    return NULL;
  return o->snippet_text (&sum, o->snippet_data);
}

/* The shim's kept-snippet callback: the caller's, given the summary. */
static char *
snippet_kept (guint64 docid, const char *data, gsize length, gpointer user_data)
{
  const AnnalsQueryOptions *o = user_data;
  g_auto (AnnalsIndexSummary) sum = { 0 };
  if (!annals_index_summary_parse (data, length, &sum))
    return NULL;
  return o->snippet_kept (&sum, o->snippet_data);
}

/* Moves hit i of part (summary, percent, snippet) to the end of r. */
static void
take_hit (AnnalsQueryResults *r, AnnalsQueryResults *part, guint i)
{
  AnnalsIndexSummary *h = &g_array_index (part->hits, AnnalsIndexSummary, i);
  g_array_append_val (r->hits, *h);
  memset (h, 0, sizeof *h); /* moved into r: the part frees nothing twice */
  g_array_append_val (r->percent, g_array_index (part->percent, int, i));
  if (r->snippets != NULL)
    g_ptr_array_add (r->snippets, part->snippets ? g_steal_pointer (&part->snippets->pdata[i]) : NULL);
}

/* One list's first `want` matches, newest first, and their count.
 * Postings come in ascending document id (arrival) order, so a
 * descending walk would visit every match: the search goes through
 * windows of ids from the newest down, each four times wider than the
 * last, and stops once the page is full (the cost follows the page, not
 * the number of matches).  With threads, a thread seen in a newer window
 * is left out of the older ones.  db is the list's shards as one (their
 * combined ids are the arrival order too).  Without windows (a remote
 * shard: xapian-tcpsrv knows only Xapian's own posting sources), one
 * search in the same order, which visits every match. */
static AnnalsXstatus
newest_in_list (AnnalsXdb *db, const char *prepared, const AnnalsQueryOptions *o, gboolean windows, guint64 offset,
                guint64 want, AnnalsQueryResults **out, char **message)
{
  AnnalsXsearch s = {
    .fields = fields,
    .n_fields = G_N_ELEMENTS (fields),
    .collapse_threads = o->threads,
    .max_expansion = ANNALS_QUERY_MAX_EXPANSION,
    .arrival_order = TRUE,
  };
  /* The count alone: no page, so Xapian counts the matches up to
   * check_at_least and estimates past it. */
  AnnalsXmore count_only = { .check_at_least = o->exact_count ? G_MAXUINT64 : exact_up_to (o) };
  AnnalsXmore page = {
    .snippet_text = o->snippet_text ? snippet_text : NULL,
    .snippet_kept = o->snippet_text && o->snippet_kept ? snippet_kept : NULL,
    .user_data = (gpointer) o,
    .snippet_length = ANNALS_QUERY_SNIPPET_LENGTH,
    .fold = annals_mime_fold_accents,
  };
  AnnalsXresults *xr = NULL;
  if (!windows) {
    page.check_at_least = count_only.check_at_least;
    s.offset = offset;
    s.limit = MIN (want - offset, G_MAXUINT32); /* Xapian counts in 32 bits */
    AnnalsXstatus st = annals_xdb_search_more (db, prepared, &s, &page, &xr, message);
    if (st == ANNALS_XSTATUS_OK)
      *out = convert (xr);
    return st;
  }
  AnnalsXstatus st = annals_xdb_search_more (db, prepared, &s, &count_only, &xr, message);
  if (st != ANNALS_XSTATUS_OK)
    return st;
  g_autoptr (AnnalsQueryResults) r = convert (xr);
  if (o->snippet_text != NULL)
    r->snippets = g_ptr_array_new_with_free_func (g_free);
  guint64 last = 0;
  st = annals_xdb_last_docid (db, &last, message);
  if (st != ANNALS_XSTATUS_OK)
    return st;
  g_autoptr (GHashTable) seen = o->threads ? g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) : NULL;
  guint64 skipped = 0;
  /* The first window holds about twice the page at the estimated density
   * of matches; a wrong estimate costs a few more windows, not a wrong page. */
  double guess = (double) want * 2 * (double) last / (double) MAX (r->count, 1);
  guint64 width = guess >= (double) last ? MAX (last, 64) : MAX (64, (guint64) guess);
  gboolean complete = TRUE; /* no window cut short by its limit */
  guint64 hi = last;
  while (hi > 0 && r->hits->len < want - skipped) {
    s.docid_min = hi > width ? hi - width + 1 : 1;
    s.docid_max = hi;
    /* Xapian counts in 32 bits. */
    s.limit = MIN (want - skipped - r->hits->len + (seen ? g_hash_table_size (seen) : 0), G_MAXUINT32);
    st = annals_xdb_search_more (db, prepared, &s, &page, &xr, message);
    if (st != ANNALS_XSTATUS_OK)
      return st;
    g_autoptr (AnnalsQueryResults) part = convert (xr);
    if (part->hits->len >= s.limit)
      complete = FALSE;
    for (guint i = 0; i < part->hits->len && r->hits->len < want - skipped; i++) {
      AnnalsIndexSummary *h = &g_array_index (part->hits, AnnalsIndexSummary, i);
      if (seen != NULL && !g_hash_table_add (seen, g_strdup (h->thread)))
        continue;
      if (skipped < offset) { /* before the page (one list alone) */
        skipped++;
        continue;
      }
      take_hit (r, part, i);
    }
    hi = s.docid_min - 1;
    width = width > G_MAXUINT64 / 4 ? G_MAXUINT64 : width * 4;
  }
  /* Every match seen: the count is exact, whatever the estimate said. */
  if (hi == 0 && complete) {
    r->count = skipped + r->hits->len;
    r->count_exact = TRUE;
  } else {
    r->count = MAX (r->count, skipped + r->hits->len);
  }
  *out = g_steal_pointer (&r);
  return ANNALS_XSTATUS_OK;
}

/* Newest first: each list's matches in arrival order, several lists
 * merged by date.  Each list alone, because the ids of different lists
 * interleave and thread ids are per list. */
static AnnalsQueryResults *
run_newest (const char *const *list_dirs, guint n_lists, const char *prepared, const AnnalsQueryOptions *o,
            GError **error)
{
  g_autoptr (GArray) lists = g_array_new (FALSE, TRUE, sizeof (ListDb));
  g_array_set_clear_func (lists, release_ok);
  for (guint i = 0; i < n_lists; i++) {
    GError *local = NULL;
    ListDb l;
    if (!list_db_take (list_dirs[i], FALSE, &l, &local)) {
      if (g_error_matches (local, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_NO_INDEX)) {
        g_clear_error (&local);
        continue;
      }
      g_propagate_error (error, local);
      return NULL;
    }
    g_array_append_val (lists, l);
  }
  if (lists->len == 0) {
    g_set_error (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_NO_INDEX,
                 "no index to search: run 'annals index' first");
    return NULL;
  }
  guint64 want = o->limit > G_MAXUINT64 - o->offset ? G_MAXUINT64 : o->offset + o->limit;
  /* To name the shard that fails, when one does: the query alone. */
  AnnalsXsearch plain = {
    .fields = fields,
    .n_fields = G_N_ELEMENTS (fields),
    .max_expansion = ANNALS_QUERY_MAX_EXPANSION,
  };
  Run culprit = { .query = prepared, .search = &plain };
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func ((GDestroyNotify) annals_query_results_free);
  guint64 count = 0;
  gboolean exact = TRUE;
  for (guint i = 0; i < lists->len; i++) {
    ListDb *l = &g_array_index (lists, ListDb, i);
    GPtrArray *sources = l->sources;
    gboolean remote = FALSE;
    for (guint k = 0; k < sources->len; k++)
      remote = remote || ((Source *) sources->pdata[k])->source.host != NULL;
    AnnalsQueryResults *part = NULL;
    char *err = NULL;
    /* One list skips the offset itself; several skip it in the merge. */
    AnnalsXstatus st = newest_in_list (l->db, prepared, o, !remote, lists->len == 1 ? o->offset : 0, want, &part, &err);
    if (st != ANNALS_XSTATUS_OK) {
      fail_over (error, st, err, sources, run_query, &culprit);
      list_db_release (l, TRUE);
      return NULL;
    }
    count += part->count;
    exact = exact && part->count_exact;
    g_ptr_array_add (parts, part);
  }
  if (parts->len == 1)
    return g_ptr_array_steal_index (parts, 0);
  AnnalsQueryResults *r = g_new0 (AnnalsQueryResults, 1);
  r->count = count;
  r->count_exact = exact;
  r->hits = g_array_new (FALSE, FALSE, sizeof (AnnalsIndexSummary));
  r->percent = g_array_new (FALSE, FALSE, sizeof (int));
  if (o->snippet_text != NULL)
    r->snippets = g_ptr_array_new_with_free_func (g_free);
  g_autofree guint *next = g_new0 (guint, parts->len);
  for (guint64 taken = 0; taken < want; taken++) {
    gint best = -1;
    gint64 best_date = 0;
    for (guint i = 0; i < parts->len; i++) {
      AnnalsQueryResults *p = g_ptr_array_index (parts, i);
      if (next[i] >= p->hits->len)
        continue;
      const AnnalsIndexSummary *h = &g_array_index (p->hits, AnnalsIndexSummary, next[i]);
      gint64 d = annals_index_sort_date (h->hdr.date, h->receipt);
      if (best < 0 || d > best_date) {
        best = (gint) i;
        best_date = d;
      }
    }
    if (best < 0)
      break;
    guint k = next[best]++;
    if (taken >= o->offset)
      take_hit (r, g_ptr_array_index (parts, (guint) best), k);
  }
  return r;
}

AnnalsQueryResults *
annals_query_run (const char *const *list_dirs, guint n_lists, const char *query, const AnnalsQueryOptions *o,
                  GError **error)
{
  g_autofree char *prepared = annals_query_prepare (query, g_get_real_time () / G_USEC_PER_SEC, error);
  if (prepared == NULL)
    return NULL;
  if (!o->relevance)
    return run_newest (list_dirs, n_lists, prepared, o, error);
  AnnalsXsearch s = {
    .fields = fields,
    .n_fields = G_N_ELEMENTS (fields),
    .offset = o->offset,
    .limit = o->limit,
    .relevance = o->relevance,
    .collapse_threads = o->threads,
    .max_expansion = ANNALS_QUERY_MAX_EXPANSION,
  };
  AnnalsXmore more = {
    .check_at_least = o->exact_count ? G_MAXUINT64 : exact_up_to (o),
    .snippet_text = o->snippet_text ? snippet_text : NULL,
    .snippet_kept = o->snippet_text && o->snippet_kept ? snippet_kept : NULL,
    .user_data = (gpointer) o,
    .snippet_length = ANNALS_QUERY_SNIPPET_LENGTH,
    .fold = annals_mime_fold_accents,
  };
  Run run = { .query = prepared, .search = &s, .more = &more };
  return run_over (list_dirs, n_lists, run_query, &run, error);
}

/* Threading state (doc/index-format.md), all in shard 0: "t:" + 32 hex
 * of SHA-256(id) names the id's thread, "a:" + thread the one it merged
 * into. */
char *
annals_query_thread_id (const char *list_dir, const char *message_id, GError **error)
{
  ListDb l;
  if (!list_db_take (list_dir, TRUE, &l, error))
    return NULL;
  AnnalsXdb *db = l.db;
  g_autofree char *key = annals_index_thread_key (message_id);
  char *tid = NULL, *err = NULL;
  AnnalsXstatus st = annals_xdb_get_metadata (db, key, &tid, &err);
  for (int i = 0; st == ANNALS_XSTATUS_OK && tid != NULL && i < 64; i++) {
    g_autofree char *alias = g_strdup_printf ("a:%s", tid);
    char *next = NULL;
    st = annals_xdb_get_metadata (db, alias, &next, &err);
    if (next == NULL)
      break;
    g_free (tid);
    tid = next;
  }
  if (st != ANNALS_XSTATUS_OK) {
    /* A thread id from a half-read alias chain would be the wrong one. */
    g_free (tid);
    set_xerror (error, st, err, l.sources->pdata[0]);
    list_db_release (&l, TRUE);
    return NULL;
  }
  list_db_release (&l, FALSE);
  return tid;
}

gboolean
annals_query_receipt_bounds (const char *list_dir, gboolean *found, gint64 *first, gint64 *last, GError **error)
{
  ListDb l;
  if (!list_db_take (list_dir, TRUE, &l, error))
    return FALSE;
  double lo = 0, hi = 0;
  char *err = NULL;
  AnnalsXstatus st = annals_xdb_number_bounds (l.db, ANNALS_XSLOT_RECEIPT, found, &lo, &hi, &err);
  if (st != ANNALS_XSTATUS_OK)
    set_xerror (error, st, err, l.sources->pdata[0]);
  list_db_release (&l, st != ANNALS_XSTATUS_OK);
  if (st != ANNALS_XSTATUS_OK)
    return FALSE;
  *first = (gint64) lo;
  *last = (gint64) hi;
  return TRUE;
}
