/* pages: see pages.h and doc/urls.md. */
#include "pages.h"
#include "config.h"
#include "mbox.h"
#include "merkle.h"
#include "message.h"
#include "mime.h"
#include "query.h"
#include "store.h"
#include "tlog.h"
#include "zcodec.h"

#include <string.h>
#include <time.h>

#define PAGE_SIZE 25
#define THREAD_MAX 1000
#define COPIES_MAX 100
/* What a redaction can change is cached briefly and revalidated (ETag),
 * never kept as immutable: a cache then drops redacted bytes within
 * minutes. */
#define MESSAGE_CACHE "public, max-age=300"
#define MAX_PATH 4096
#define MAX_QUERY 4096

static const char css[] =
  "body{font:16px/1.45 sans-serif;margin:0 auto;max-width:60em;padding:0 .6em;color:#111;background:#fff}"
  "pre{white-space:pre-wrap;overflow-wrap:anywhere;font:14px/1.4 monospace}"
  ".q{color:#555}a{color:#03c}nav,footer{margin:.6em 0}ul{padding-left:1.2em}"
  "table{border-collapse:collapse;width:100%}td{padding:.15em .4em;vertical-align:top;overflow-wrap:anywhere}"
  ".d{white-space:nowrap;color:#555}.cur{font-weight:bold}.hdr th{text-align:left;padding-right:.6em;white-space:nowrap}"
  "form input[type=search]{width:60%;max-width:30em}.tomb{border:1px solid #a00;padding:.5em}"
  "h1{font-size:1.6em;line-height:1.25}h2{font-size:1.25em}@media (max-width:40em){h1{font-size:1.3em}}"
  "@media (prefers-color-scheme:dark){body{background:#111;color:#ddd}a{color:#8bf}.q,.d{color:#aaa}}";

typedef struct {
  AnnalsHttp *h;
  const char *root;
  AnnalsConfig *config;
  const char *list;   /* NULL for the site, "all" across lists */
  GPtrArray *dirs;    /* list folders searched (one, or all) */
  GHashTable *stores; /* list name -> AnnalsStore opened for this request */
  gboolean obfuscate;
} Ctx;

/* --- Small helpers --------------------------------------------------- */

static void
fmt_date (gint64 t, char *out, gsize n)
{
  time_t tt = (time_t) t;
  struct tm tm;
  if (t == ANNALS_NO_DATE || gmtime_r (&tt, &tm) == NULL || strftime (out, n, "%Y-%m-%d %H:%M UTC", &tm) == 0)
    g_strlcpy (out, "-", n);
}

static void
iso_date (gint64 t, char *out, gsize n)
{
  time_t tt = (time_t) t;
  struct tm tm;
  if (gmtime_r (&tt, &tm) == NULL || strftime (out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    g_strlcpy (out, "1970-01-01T00:00:00Z", n);
}

/* Addresses shown with the dots of their domain as bullets, when the
 * list asks for it (not a lock, a speed bump for harvesters). */
static char *
obfuscate (gboolean on, const char *text)
{
  if (text == NULL)
    return g_strdup ("");
  if (!on)
    return g_strdup (text);
  GString *out = g_string_new (NULL);
  gboolean in_domain = FALSE;
  for (const char *p = text; *p; p++) {
    if (*p == '@')
      in_domain = TRUE;
    else if (!(g_ascii_isalnum (*p) || *p == '.' || *p == '-'))
      in_domain = FALSE;
    if (in_domain && *p == '.')
      g_string_append (out, "\xe2\x80\xa2");
    else
      g_string_append_c (out, *p);
  }
  return g_string_free (out, FALSE);
}

static void
esc (GString *s, const char *t)
{
  annals_html_escape (s, t, -1);
}

static void
esc_obf (gboolean on, GString *s, const char *t)
{
  g_autofree char *o = obfuscate (on, t);
  annals_html_escape (s, o, -1);
}

/* Whether list shows addresses obfuscated (its `obfuscate` option). */
static gboolean
list_obfuscates (Ctx *c, const char *list)
{
  g_autofree char *group = g_strdup_printf ("list %s", list);
  return g_key_file_get_boolean (annals_config_keyfile (c->config), group, "obfuscate", NULL);
}

/* Whether a row from list obfuscates: on /all/ pages each row follows
 * its own list's choice. */
static gboolean
row_obfuscates (Ctx *c, const char *list)
{
  return c->list != NULL && strcmp (c->list, "all") == 0 ? list_obfuscates (c, list) : c->obfuscate;
}

static char *
msg_url (Ctx *c, const char *list, const char *message_id, const char *suffix)
{
  g_autofree char *seg = annals_http_escape_segment (message_id);
  return g_strdup_printf ("%s/%s/%s/%s", c->h->prefix, list, seg, suffix ? suffix : "");
}

static void
page_start (Ctx *c, GString *s, const char *title)
{
  annals_http_header (c->h, "Content-Type", "text/html; charset=utf-8");
  annals_http_header (c->h, "Content-Security-Policy",
                      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'");
  annals_http_header (c->h, "X-Content-Type-Options", "nosniff");
  annals_http_header (c->h, "Referrer-Policy", "same-origin");
  if (c->h->status == 200)
    annals_http_header (c->h, "Cache-Control", "public, max-age=60");
  g_string_append (s, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>");
  esc (s, title);
  g_string_append_printf (s, "</title><style>%s</style>", css);
  if (c->list != NULL && strcmp (c->list, "all") != 0)
    g_string_append_printf (s, "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"%s\" href=\"%s/%s/new.atom\">",
                            c->list, c->h->prefix, c->list);
  g_autofree char *site = g_key_file_get_string (annals_config_keyfile (c->config), "site", "name", NULL);
  g_string_append_printf (s, "</head><body><nav aria-label=\"site\"><a href=\"%s/\">", c->h->prefix);
  esc (s, site ? site : "annals");
  g_string_append (s, "</a>");
  if (c->list != NULL)
    g_string_append_printf (s, " / <a href=\"%s/%s/\">%s</a>", c->h->prefix, c->list, c->list);
  g_string_append (s, "</nav><main>");
}

static void
search_form (Ctx *c, GString *s, const char *value)
{
  const char *where = c->list ? c->list : "all";
  g_string_append_printf (s, "<form role=\"search\" action=\"%s/%s/\" method=\"get\"><label for=\"q\">Search %s</label> "
                             "<input type=\"search\" id=\"q\" name=\"q\" value=\"", c->h->prefix, where, where);
  esc (s, value ? value : "");
  g_string_append (s, "\"> <input type=\"submit\" value=\"search\"></form>");
}

static void
page_end (Ctx *c, GString *s)
{
  g_string_append (s, "</main><footer><small>annals: every message kept byte for byte; "
                      "<a href=\"https://c2sp.org/tlog-tiles\">transparency log</a> per list under <code>/LIST/log/</code>."
                      "</small></footer></body></html>\n");
  if (c->h->status == 200 || c->h->status == 410) {
    /* The page's own hash: whatever changes it (a reply, a redaction)
     * changes the tag, and a client that has it gets 304. */
    g_autofree char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) s->str, s->len);
    g_autofree char *etag = g_strdup_printf ("\"p-%.32s\"", sum);
    if (annals_http_not_modified (c->h, etag))
      return;
  }
  annals_http_write (c->h, s->str, s->len);
}

/* A record's ETag: its SHA-256 and type (a redaction changes both), and
 * which part of it (an attachment) is served. */
static char *
record_etag (const AnnalsStoreRecord *rec, const char *part)
{
  char hex[65];
  for (int i = 0; i < 32; i++)
    g_snprintf (hex + 2 * i, 3, "%02x", rec->sha256[i]);
  return g_strdup_printf ("\"%s-%d%s%s\"", hex, (int) rec->type, *part ? "-" : "", part);
}

static void
error_page (Ctx *c, int status, const char *what)
{
  annals_http_status (c->h, status);
  annals_http_header (c->h, "Cache-Control", "no-store");
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *title = g_strdup_printf ("%d %s", status,
                                            status == 404 ? "Not found" : status == 400 ? "Bad request"
                                            : status == 405 ? "Method not allowed" : status == 413 ? "Too large"
                                            : status == 414 ? "URI too long" : "Error");
  page_start (c, s, title);
  g_string_append (s, "<h1>");
  esc (s, title);
  g_string_append (s, "</h1><p>");
  esc (s, what);
  g_string_append (s, "</p>");
  page_end (c, s);
}

static AnnalsStore *
store_of (Ctx *c, const char *list, GError **error)
{
  AnnalsStore *s = c->stores ? g_hash_table_lookup (c->stores, list) : NULL;
  if (s != NULL)
    return s;
  g_autofree char *dir = annals_config_list_dir (c->config, list, "store", error);
  s = dir ? annals_store_open (dir, error) : NULL;
  if (s == NULL)
    return NULL;
  /* Kept until the request ends: an /all/ page reads from many lists. */
  if (c->stores == NULL)
    c->stores = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) annals_store_free);
  g_hash_table_insert (c->stores, g_strdup (list), s);
  return s;
}

/* What one request may cost ([web] in annals.conf, doc/urls.md). */
#define MBOX_MAX_MESSAGES 2000
#define MBOX_MAX_BYTES ((guint64) 64 * 1024 * 1024)
#define TEXT_MAX_BYTES ((guint64) 1024 * 1024)
#define MESSAGE_MAX_BYTES ((guint64) 16 * 1024 * 1024)

static guint64
web_limit (Ctx *c, const char *key, guint64 fallback)
{
  g_autoptr (GError) error = NULL;
  guint64 v = g_key_file_get_uint64 (annals_config_keyfile (c->config), "web", key, &error);
  return error != NULL || v == 0 ? fallback : v;
}

/* --- Text rendering -------------------------------------------------- */

/* Escapes a body; quoted lines dimmed, http(s) links made clickable. */
static void
render_text (Ctx *c, GString *s, const char *text)
{
  g_autofree char *obf = obfuscate (c->obfuscate, text);
  const char *p = obf;
  while (*p) {
    const char *nl = strchr (p, '\n');
    gsize len = nl ? (gsize) (nl - p) : strlen (p);
    const char *q = p;
    while (q < p + len && *q == ' ')
      q++;
    gboolean quoted = q < p + len && *q == '>';
    if (quoted)
      g_string_append (s, "<span class=\"q\">");
    const char *cur = p;
    const char *end = p + len;
    while (cur < end) {
      const char *http = g_strstr_len (cur, end - cur, "http");
      if (http == NULL || !(g_str_has_prefix (http, "http://") || g_str_has_prefix (http, "https://"))) {
        gsize upto = http ? (gsize) (http - cur) + 4 : (gsize) (end - cur);
        annals_html_escape (s, cur, (gssize) upto);
        cur += upto;
        continue;
      }
      annals_html_escape (s, cur, http - cur);
      const char *u = http;
      while (u < end && (g_ascii_isalnum (*u) || strchr ("-._~:/?#[]@!$&'()*+,;=%", *u)))
        u++;
      while (u > http && strchr (".,;:!?)'", u[-1]))
        u--; /* trailing punctuation is the sentence's */
      g_string_append (s, "<a href=\"");
      annals_html_escape (s, http, u - http);
      g_string_append (s, "\" rel=\"nofollow noreferrer\">");
      annals_html_escape (s, http, u - http);
      g_string_append (s, "</a>");
      cur = u;
    }
    if (quoted)
      g_string_append (s, "</span>");
    g_string_append_c (s, '\n');
    p = nl ? nl + 1 : p + len;
  }
}

/* --- Looking messages up -------------------------------------------- */

static gint
by_number (gconstpointer a, gconstpointer b)
{
  guint64 x = ((const AnnalsIndexSummary *) a)->number, y = ((const AnnalsIndexSummary *) b)->number;
  return x < y ? -1 : x > y;
}

/* Every indexed copy of message_id in list, lowest number first, or
 * NULL when the index has none. */
static AnnalsQueryResults *
indexed_copies (Ctx *c, const char *list, const char *message_id)
{
  g_autofree char *dir = annals_config_list_dir (c->config, list, NULL, NULL);
  if (dir == NULL)
    return NULL;
  const char *dirs[] = { dir };
  g_autofree char *term = annals_index_message_id_term (message_id);
  AnnalsQueryOptions o = { 0, COPIES_MAX, FALSE, FALSE, FALSE };
  g_autoptr (AnnalsQueryResults) r = annals_query_term (dirs, 1, term, &o, TRUE, NULL);
  if (r == NULL || r->hits->len == 0)
    return NULL;
  /* By number, not by Date: the sender writes Date:, the archive the
   * numbers. */
  g_array_sort (r->hits, by_number);
  return g_steal_pointer (&r);
}

/* Moves the hit numbered n out of r into out. */
static gboolean
take_hit (AnnalsQueryResults *r, guint64 n, AnnalsIndexSummary *out)
{
  for (guint i = 0; r != NULL && i < r->hits->len; i++)
    if (g_array_index (r->hits, AnnalsIndexSummary, i).number == n) {
      *out = g_array_index (r->hits, AnnalsIndexSummary, i);
      g_array_remove_index (r->hits, i);
      return TRUE;
    }
  return FALSE;
}

/* Message n from the store alone (redacted, or not indexed yet): no
 * thread. */
static gboolean
summary_from_store (Ctx *c, const char *list, guint64 n, AnnalsIndexSummary *out)
{
  AnnalsStore *st = store_of (c, list, NULL);
  g_autoptr (AnnalsStoreMeta) m = st && n < annals_store_count (st) ? annals_store_read_meta (st, n, NULL) : NULL;
  if (m == NULL)
    return FALSE;
  memset (out, 0, sizeof *out);
  out->list = g_strdup (list);
  out->number = n;
  out->date = m->date != ANNALS_NO_DATE ? m->date : m->receipt;
  out->receipt = m->receipt;
  out->thread = g_strdup ("");
  out->message_id = g_strdup (m->message_id);
  out->parent = g_strdup (m->in_reply_to ? m->in_reply_to : "");
  out->from = g_strdup (m->from ? m->from : "");
  out->subject = g_strdup (m->subject ? m->subject : "");
  return TRUE;
}

/* Whether message n of list is a later copy of a reused Message-ID. */
static gboolean
is_reuse (Ctx *c, const char *list, guint64 n)
{
  AnnalsStore *st = store_of (c, list, NULL);
  AnnalsStoreRecord rec;
  return st != NULL && annals_store_read_record (st, n, &rec, NULL) && (rec.flags & ANNALS_STORE_FLAG_REUSED_ID);
}

/* The first archived copy of message_id in list (the lowest number),
 * whatever its Date: says.  The index answers; the store is asked when
 * the index has no copy, or when its lowest is flagged as a reuse (the
 * first copy was redacted, or is not indexed yet). */
static gboolean
find_message (Ctx *c, const char *list, const char *message_id, AnnalsIndexSummary *out)
{
  g_autoptr (AnnalsQueryResults) r = indexed_copies (c, list, message_id);
  if (r != NULL && !is_reuse (c, list, g_array_index (r->hits, AnnalsIndexSummary, 0).number))
    return take_hit (r, g_array_index (r->hits, AnnalsIndexSummary, 0).number, out);
  AnnalsStore *st = store_of (c, list, NULL);
  g_autoptr (GArray) found = st ? annals_store_find_message_id (st, message_id, NULL) : NULL;
  if (found == NULL || found->len == 0)
    return FALSE;
  guint64 n = g_array_index (found, guint64, 0);
  return take_hit (r, n, out) || summary_from_store (c, list, n, out);
}

/* Message number n of list (/LIST/_/N/), with its thread when indexed. */
static gboolean
find_number (Ctx *c, const char *list, guint64 n, AnnalsIndexSummary *out)
{
  AnnalsStore *st = store_of (c, list, NULL);
  g_autoptr (AnnalsStoreMeta) m = st && n < annals_store_count (st) ? annals_store_read_meta (st, n, NULL) : NULL;
  if (m == NULL)
    return FALSE;
  g_autoptr (AnnalsQueryResults) r = indexed_copies (c, list, m->message_id);
  return take_hit (r, n, out) || summary_from_store (c, list, n, out);
}

/* Where message m lives, from the site's root: LIST/MSGID/ for the
 * first copy of its Message-ID, LIST/_/N/ for a later one. */
static char *
message_path (Ctx *c, const AnnalsIndexSummary *m)
{
  if (is_reuse (c, m->list, m->number))
    return g_strdup_printf ("%s/_/%" G_GUINT64_FORMAT "/", m->list, m->number);
  g_autofree char *seg = annals_http_escape_segment (m->message_id);
  return g_strdup_printf ("%s/%s/", m->list, seg);
}

/* message_path() as a link on the site. */
static char *
message_url (Ctx *c, const AnnalsIndexSummary *m)
{
  g_autofree char *path = message_path (c, m);
  return g_strdup_printf ("%s/%s", c->h->prefix, path);
}

static AnnalsQueryResults *
thread_of (Ctx *c, const char *list, const char *thread)
{
  g_autofree char *dir = annals_config_list_dir (c->config, list, NULL, NULL);
  const char *dirs[] = { dir };
  g_autofree char *term = g_strconcat ("G", thread, NULL);
  AnnalsQueryOptions o = { 0, THREAD_MAX, FALSE, FALSE, FALSE };
  return annals_query_term (dirs, 1, term, &o, TRUE, NULL);
}

/* Thread order: parents before children, siblings by date; iterative. */
static GArray *
thread_order (AnnalsQueryResults *t, GArray *depths)
{
  guint n = t->hits->len;
  g_autoptr (GHashTable) by_id = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++) {
    /* A reused Message-ID names its first copy, whatever the dates. */
    AnnalsIndexSummary *s = &g_array_index (t->hits, AnnalsIndexSummary, i);
    guint had = GPOINTER_TO_UINT (g_hash_table_lookup (by_id, s->message_id));
    if (had == 0 || g_array_index (t->hits, AnnalsIndexSummary, had - 1).number > s->number)
      g_hash_table_insert (by_id, s->message_id, GUINT_TO_POINTER (i + 1));
  }
  g_autoptr (GPtrArray) children = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  GArray *roots = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (children, g_array_new (FALSE, FALSE, sizeof (guint)));
  for (guint i = 0; i < n; i++) {
    AnnalsIndexSummary *s = &g_array_index (t->hits, AnnalsIndexSummary, i);
    guint p = GPOINTER_TO_UINT (g_hash_table_lookup (by_id, s->parent));
    if (p != 0 && p - 1 != i)
      g_array_append_val (children->pdata[p - 1], i);
    else
      g_array_append_val (roots, i);
  }
  GArray *order = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) stack = g_array_new (FALSE, FALSE, sizeof (guint) * 2);
  g_autofree gboolean *seen = g_new0 (gboolean, n);
  for (guint r = roots->len; r-- > 0;) {
    guint item[2] = { g_array_index (roots, guint, r), 0 };
    g_array_append_vals (stack, item, 1);
  }
  /* A loop of parents has no root: every unseen message starts one. */
  for (guint extra = n; extra-- > 0 || stack->len > 0;) {
    if (stack->len == 0) {
      if (seen[extra])
        continue;
      guint item[2] = { extra, 0 };
      g_array_append_vals (stack, item, 1);
    }
    while (stack->len > 0) {
      guint *top = &g_array_index (stack, guint, (stack->len - 1) * 2);
      guint i = top[0], depth = top[1];
      g_array_set_size (stack, stack->len - 1);
      if (seen[i])
        continue;
      seen[i] = TRUE;
      g_array_append_val (order, i);
      g_array_append_val (depths, depth);
      GArray *kids = children->pdata[i];
      for (guint k = kids->len; k-- > 0;) {
        guint item[2] = { g_array_index (kids, guint, k), MIN (depth + 1, 50) };
        g_array_append_vals (stack, item, 1);
      }
    }
  }
  g_array_unref (roots);
  return order;
}

/* --- Pages ------------------------------------------------------------- */

static void
page_lists (Ctx *c)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *site = g_key_file_get_string (annals_config_keyfile (c->config), "site", "name", NULL);
  page_start (c, s, site ? site : "annals");
  g_string_append (s, "<h1>");
  esc (s, site ? site : "annals");
  g_string_append (s, "</h1>");
  search_form (c, s, NULL);
  g_string_append (s, "<h2>Lists</h2><ul>");
  g_auto (GStrv) lists = annals_config_lists (c->config);
  for (char **l = lists; *l; l++) {
    g_autofree char *dir = annals_config_list_dir (c->config, *l, "store", NULL);
    g_autoptr (AnnalsStore) st = dir ? annals_store_open (dir, NULL) : NULL;
    g_autofree char *desc = annals_config_list_get (c->config, *l, "description");
    g_string_append_printf (s, "<li><a href=\"%s/%s/\">%s</a> ", c->h->prefix, *l, *l);
    esc (s, desc ? desc : "");
    g_string_append_printf (s, " <span class=\"d\">(%" G_GUINT64_FORMAT " messages)</span></li>",
                            st ? annals_store_count (st) : 0);
  }
  g_string_append (s, "</ul>");
  page_end (c, s);
}

static void
summary_rows (Ctx *c, GString *s, AnnalsQueryResults *r, gboolean relevance)
{
  g_string_append (s, "<table><thead><tr><th scope=\"col\">Date</th><th scope=\"col\">Subject</th><th scope=\"col\">From</th>");
  if (relevance)
    g_string_append (s, "<th scope=\"col\">Match</th>");
  g_string_append (s, "</tr></thead><tbody>");
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *m = &g_array_index (r->hits, AnnalsIndexSummary, i);
    char date[40];
    fmt_date (m->date, date, sizeof date);
    g_autofree char *url = message_url (c, m);
    g_string_append_printf (s, "<tr><td class=\"d\">%.10s</td><td><a href=\"", date);
    esc (s, url);
    g_string_append (s, "\">");
    esc (s, *m->subject ? m->subject : "(no subject)");
    g_string_append (s, "</a>");
    if (c->list && strcmp (c->list, "all") == 0)
      g_string_append_printf (s, " <span class=\"d\">[%s]</span>", m->list);
    g_string_append (s, "</td><td>");
    esc_obf (row_obfuscates (c, m->list), s, m->from);
    g_string_append (s, "</td>");
    if (relevance)
      g_string_append_printf (s, "<td class=\"d\">%d%%</td>", g_array_index (r->percent, int, i));
    g_string_append (s, "</tr>");
  }
  g_string_append (s, "</tbody></table>");
}

static guint64
offset_param (Ctx *c)
{
  const char *o = annals_http_param (c->h, "o");
  guint64 v = o ? g_ascii_strtoull (o, NULL, 10) : 0;
  return MIN (v, 1000000);
}

static void
pager (Ctx *c, GString *s, guint64 offset, guint shown, guint64 count, const char *q, gboolean relevance)
{
  g_string_append (s, "<nav aria-label=\"pages\">");
  g_autoptr (GString) extra = g_string_new (NULL);
  if (q != NULL) {
    g_autofree char *qe = g_uri_escape_string (q, NULL, FALSE);
    g_string_append_printf (extra, "&amp;q=%s", qe);
  }
  if (relevance)
    g_string_append (extra, "&amp;r");
  if (offset > 0)
    g_string_append_printf (s, "<a href=\"?o=%" G_GUINT64_FORMAT "%s\" rel=\"prev\">newer</a> ",
                            offset > PAGE_SIZE ? offset - PAGE_SIZE : 0, extra->str);
  if (offset + shown < count && shown == PAGE_SIZE)
    g_string_append_printf (s, "<a href=\"?o=%" G_GUINT64_FORMAT "%s\" rel=\"next\">older</a>", offset + PAGE_SIZE,
                            extra->str);
  g_string_append (s, "</nav>");
}

static void atom_feed (Ctx *c, AnnalsQueryResults *r, const char *title, const char *self);

static gboolean
gzip_sink (const guint8 *data, gsize length, gpointer user_data)
{
  return annals_http_write (user_data, data, length);
}

/* Streams the messages as mboxrd, gzip-compressed, as they are read. */
static void
mbox_gz (Ctx *c, AnnalsQueryResults *r, const char *name)
{
  annals_http_header (c->h, "Content-Type", "application/gzip");
  g_autofree char *disp = g_strdup_printf ("attachment; filename=\"%s.mbox.gz\"", name);
  annals_http_header (c->h, "Content-Disposition", disp);
  annals_http_header (c->h, "X-Content-Type-Options", "nosniff");
  annals_http_begin (c->h);
  if (c->h->head)
    return;
  AnnalsGzipWriter *gz = annals_gzip_writer_new (gzip_sink, c->h);
  g_autoptr (GString) out = g_string_new (NULL);
  guint64 max_bytes = web_limit (c, "mbox-max-bytes", MBOX_MAX_BYTES), bytes = 0;
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *m = &g_array_index (r->hits, AnnalsIndexSummary, i);
    AnnalsStore *st = store_of (c, m->list, NULL);
    if (st == NULL)
      continue;
    g_autoptr (GBytes) raw = annals_store_read (st, m->number, NULL, NULL);
    g_autoptr (AnnalsStoreMeta) meta = raw ? annals_store_read_meta (st, m->number, NULL) : NULL;
    if (meta == NULL)
      continue;
    gsize len;
    const guint8 *d = g_bytes_get_data (raw, &len);
    /* Bounded: stops before the message that would pass the limit
     * (the first always goes). */
    if (bytes > 0 && bytes + len > max_bytes)
      break;
    bytes += len;
    g_string_truncate (out, 0);
    annals_mbox_append_mboxrd (out, meta->envelope, meta->from_addr, meta->date != ANNALS_NO_DATE ? meta->date : meta->receipt,
                               d, len);
    if (!annals_gzip_writer_write (gz, out->str, out->len))
      break;
  }
  annals_gzip_writer_finish (gz);
}


static void
page_list (Ctx *c)
{
  guint64 offset = offset_param (c);
  AnnalsQueryOptions o = { offset, PAGE_SIZE, FALSE, TRUE, FALSE };
  g_autoptr (GError) error = NULL;
  g_autofree char *term = strcmp (c->list, "all") == 0 ? g_strdup ("") : g_strconcat ("K", c->list, NULL);
  g_autoptr (AnnalsQueryResults) r = annals_query_term ((const char *const *) c->dirs->pdata, c->dirs->len, term, &o,
                                                         FALSE, &error);
  g_autoptr (GString) s = g_string_new (NULL);
  page_start (c, s, c->list);
  g_string_append_printf (s, "<h1>%s</h1>", c->list);
  if (strcmp (c->list, "all") != 0) {
    g_autofree char *desc = annals_config_list_get (c->config, c->list, "description");
    g_string_append (s, "<p>");
    esc (s, desc ? desc : "");
    g_string_append_printf (s, " <a href=\"%s/%s/new.atom\">Atom feed</a></p>", c->h->prefix, c->list);
  }
  search_form (c, s, NULL);
  g_string_append (s, "<h2>Newest threads</h2>");
  if (r == NULL) {
    g_string_append (s, "<p>This list has no index yet: run <code>annals index</code>.</p>");
  } else {
    summary_rows (c, s, r, FALSE);
    pager (c, s, offset, r->hits->len, r->count, NULL, FALSE);
  }
  page_end (c, s);
}

/* A search that failed: the user's query (400), an index that is not
 * ready yet (503), or one the server has to mend (500). */
static int
search_error_status (const GError *error)
{
  if (g_error_matches (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX)
      || g_error_matches (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_WILDCARD))
    return 400;
  return g_error_matches (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_INDEX_UNAVAILABLE) ? 503 : 500;
}

static void
page_search (Ctx *c, const char *q)
{
  if (strlen (q) > MAX_QUERY) {
    error_page (c, 413, "The query is longer than 4,096 bytes.");
    return;
  }
  gboolean relevance = annals_http_param (c->h, "r") != NULL;
  const char *x = annals_http_param (c->h, "x");
  gboolean atom = x && strcmp (x, "A") == 0;
  gboolean mbox = x && strcmp (x, "m") == 0;
  if (mbox && strcmp (c->h->method, "POST") != 0) {
    error_page (c, 405, "The mbox of search results is made on POST only (a form button), never on a link.");
    return;
  }
  guint64 offset = offset_param (c);
  guint64 mbox_max = web_limit (c, "mbox-max-messages", MBOX_MAX_MESSAGES);
  AnnalsQueryOptions o = { mbox ? 0 : offset, mbox ? mbox_max : PAGE_SIZE, relevance, FALSE, FALSE };
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r = annals_query_run ((const char *const *) c->dirs->pdata, c->dirs->len, q, &o, &error);
  if (r == NULL) {
    int status = search_error_status (error);
    annals_http_status (c->h, status);
    g_autoptr (GString) s = g_string_new (NULL);
    page_start (c, s, "Search");
    search_form (c, s, q);
    g_string_append (s, "<p role=\"alert\">");
    esc (s, error->message);
    g_string_append (s, "</p>");
    if (status == 400)
      g_string_append (s, "<p>See the <a href=\"https://public-inbox.org/meta/_/text/help/\">query language</a>: "
                          "s: f: t: c: b: d: …</p>");
    page_end (c, s);
    return;
  }
  if (atom) {
    g_autofree char *title = g_strdup_printf ("%s: %s", c->list, q);
    atom_feed (c, r, title, NULL);
    return;
  }
  if (mbox) {
    if (r->count > r->hits->len) {
      g_autofree char *note = g_strdup_printf ("the first %u of %" G_GUINT64_FORMAT " messages; annals search "
                                               "--format mbox gives them all", r->hits->len, r->count);
      annals_http_header (c->h, "X-Annals-Limit", note);
    }
    mbox_gz (c, r, "results");
    return;
  }
  g_autoptr (GString) s = g_string_new (NULL);
  page_start (c, s, q);
  search_form (c, s, q);
  g_string_append_printf (s, "<h1>Search results</h1><p>%" G_GUINT64_FORMAT " messages", r->count);
  g_autofree char *qe = g_uri_escape_string (q, NULL, FALSE);
  g_string_append_printf (s, "; <a href=\"?q=%s%s\">%s</a>; <a href=\"?q=%s&amp;x=A\">Atom</a></p>", qe,
                          relevance ? "" : "&amp;r", relevance ? "newest first" : "best match first", qe);
  g_string_append_printf (s, "<form method=\"post\" action=\"?q=%s&amp;x=m\"><input type=\"submit\" "
                             "value=\"download as mbox.gz\">", qe);
  if (r->count > mbox_max) {
    /* The way to the rest, runnable as shown. */
    g_autofree char *quoted = g_shell_quote (q);
    g_string_append_printf (s, " <small>(the first %" G_GUINT64_FORMAT " of these messages, at most %" G_GUINT64_FORMAT
                               " MB; for all of them: <code>annals search",
                            mbox_max, web_limit (c, "mbox-max-bytes", MBOX_MAX_BYTES) >> 20);
    if (strcmp (c->list, "all") != 0)
      g_string_append_printf (s, " --list %s", c->list);
    g_string_append (s, " --format mbox ");
    esc (s, quoted);
    g_string_append (s, "</code>)</small>");
  }
  g_string_append (s, "</form>");
  summary_rows (c, s, r, relevance);
  pager (c, s, offset, r->hits->len, r->count, q, relevance);
  page_end (c, s);
}

static void
atom_feed (Ctx *c, AnnalsQueryResults *r, const char *title, const char *self)
{
  annals_http_header (c->h, "Content-Type", "application/atom+xml; charset=utf-8");
  annals_http_header (c->h, "Cache-Control", "public, max-age=60");
  g_autoptr (GString) s = g_string_new ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">");
  g_string_append (s, "<title>");
  esc (s, title);
  g_string_append (s, "</title>");
  g_autofree char *home = g_strdup_printf ("%s%s/", c->h->base, c->list);
  g_string_append (s, "<link rel=\"alternate\" type=\"text/html\" href=\"");
  esc (s, home);
  g_string_append (s, "\"/><id>");
  esc (s, self ? self : home);
  g_string_append (s, "</id>");
  char updated[32];
  gint64 newest = 0;
  for (guint i = 0; i < r->hits->len; i++)
    newest = MAX (newest, g_array_index (r->hits, AnnalsIndexSummary, i).receipt);
  iso_date (newest, updated, sizeof updated);
  g_string_append_printf (s, "<updated>%s</updated>", updated);
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *m = &g_array_index (r->hits, AnnalsIndexSummary, i);
    g_autofree char *path = message_path (c, m);
    g_autofree char *url = g_strdup_printf ("%s%s", c->h->base, path);
    char when[32];
    iso_date (m->date, when, sizeof when);
    g_string_append (s, "\n<entry><author><name>");
    esc_obf (row_obfuscates (c, m->list), s, *m->from ? m->from : "unknown");
    g_string_append (s, "</name></author><title>");
    esc (s, *m->subject ? m->subject : "(no subject)");
    g_string_append_printf (s, "</title><updated>%s</updated><link href=\"", when);
    esc (s, url);
    g_string_append (s, "\"/><id>");
    esc (s, url);
    g_string_append (s, "</id></entry>");
  }
  g_string_append (s, "\n</feed>\n");
  annals_http_write (c->h, s->str, s->len);
}

static void
page_new_atom (Ctx *c)
{
  AnnalsQueryOptions o = { 0, PAGE_SIZE, FALSE, FALSE, FALSE };
  g_autofree char *term = g_strconcat ("K", c->list, NULL);
  g_autoptr (AnnalsQueryResults) r = annals_query_term ((const char *const *) c->dirs->pdata, c->dirs->len, term, &o,
                                                         FALSE, NULL);
  if (r == NULL) {
    error_page (c, 404, "This list has no index yet.");
    return;
  }
  g_autofree char *self = g_strdup_printf ("%s%s/new.atom", c->h->base, c->list);
  atom_feed (c, r, c->list, self);
}

/* Attachment file names for URLs and Content-Disposition. */
static char *
safe_name (const char *name, guint index)
{
  GString *s = g_string_new (NULL);
  for (const char *p = name ? name : ""; *p && s->len < 100; p++)
    g_string_append_c (s, g_ascii_isalnum (*p) || *p == '.' || *p == '-' || *p == '_' ? *p : '_');
  if (s->len == 0 || s->str[0] == '.')
    g_string_prepend (s, "part");
  char number[16];
  g_snprintf (number, sizeof number, "%u-", index);
  g_string_prepend (s, number);
  return g_string_free (s, FALSE);
}

static void
render_thread_skeleton (Ctx *c, GString *s, AnnalsIndexSummary *cur, AnnalsQueryResults *t, gboolean full)
{
  g_autoptr (GArray) depths = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) order = thread_order (t, depths);
  guint at = G_MAXUINT;
  for (guint k = 0; k < order->len; k++)
    if (g_array_index (t->hits, AnnalsIndexSummary, g_array_index (order, guint, k)).number == cur->number)
      at = k;
  g_string_append_printf (s, "<h2 id=\"thread\">Thread (%u messages)</h2><nav aria-label=\"thread\">", order->len);
  if (at != G_MAXUINT && at > 0) {
    AnnalsIndexSummary *p = &g_array_index (t->hits, AnnalsIndexSummary, g_array_index (order, guint, at - 1));
    g_autofree char *u = message_url (c, p);
    g_string_append (s, "<a rel=\"prev\" href=\"");
    esc (s, u);
    g_string_append (s, "\">previous</a> ");
  }
  if (at != G_MAXUINT && at + 1 < order->len) {
    AnnalsIndexSummary *n = &g_array_index (t->hits, AnnalsIndexSummary, g_array_index (order, guint, at + 1));
    g_autofree char *u = message_url (c, n);
    g_string_append (s, "<a rel=\"next\" href=\"");
    esc (s, u);
    g_string_append (s, "\">next</a> ");
  }
  if (*cur->parent) {
    g_autofree char *u = msg_url (c, cur->list, cur->parent, NULL);
    g_string_append (s, "<a href=\"");
    esc (s, u);
    g_string_append (s, "\">parent</a>");
  }
  g_string_append (s, "</nav><ul>");
  for (guint k = 0; k < order->len; k++) {
    AnnalsIndexSummary *m = &g_array_index (t->hits, AnnalsIndexSummary, g_array_index (order, guint, k));
    guint depth = g_array_index (depths, guint, k);
    if (!full && at != G_MAXUINT && (k + 12 < at || k > at + 12))
      continue;
    char date[40];
    fmt_date (m->date, date, sizeof date);
    g_string_append_printf (s, "<li style=\"margin-left:%ume\"%s>", MIN (depth, 12),
                            m->number == cur->number ? " class=\"cur\" aria-current=\"page\"" : "");
    g_autofree char *u = message_url (c, m);
    g_string_append (s, "<a href=\"");
    esc (s, u);
    g_string_append (s, "\">");
    esc (s, *m->subject ? m->subject : "(no subject)");
    g_string_append (s, "</a> ");
    esc_obf (c->obfuscate, s, m->from);
    g_string_append_printf (s, " <span class=\"d\">%.16s</span></li>", date);
  }
  g_string_append (s, "</ul>");
}

/* Rendered bodies kept between requests by a persistent process.  A
 * body never changes once archived; a redaction rewrites the record, so
 * an entry is used only while the record still holds the same bytes
 * (its type and SHA-256 are checked on every use, which costs a read of
 * the record header instead of inflating, decoding and escaping). */
typedef struct {
  guint8 sha256[32];
  char *html;
  gsize len;
} CachedBody;

static GHashTable *body_cache;
static gsize body_cache_bytes;
static gsize body_cache_max;

static void
cached_body_free (CachedBody *b)
{
  g_free (b->html);
  g_free (b);
}

void
annals_web_set_body_cache (gsize max_bytes)
{
  body_cache_max = max_bytes;
  g_clear_pointer (&body_cache, g_hash_table_unref);
  body_cache_bytes = 0;
  if (max_bytes > 0)
    body_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) cached_body_free);
}

/* The parts of a message: text in <pre>, attachments as links. */
static void
render_body (Ctx *c, GString *s, GBytes *raw, const char *url)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (raw, &len);
  g_autoptr (GPtrArray) parts = annals_mime_parts (d, len);
  gboolean have_plain = FALSE;
  for (guint i = 0; i < parts->len; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    if (p->text && !p->from_html)
      have_plain = TRUE;
  }
  guint64 max = web_limit (c, "text-max-bytes", TEXT_MAX_BYTES);
  for (guint i = 0; i < parts->len; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    if (p->text != NULL && !(p->from_html && have_plain)) {
      if (p->from_html)
        g_string_append (s, "<p class=\"d\">(an HTML part, shown as text)</p>");
      g_string_append (s, "<pre>");
      gsize tlen = strlen (p->text);
      if (tlen > max) {
        /* Bounded: a page shows the start of a long part (cut on a
         * character boundary), the raw message has it all. */
        const char *cut = g_utf8_find_prev_char (p->text, p->text + max + 1);
        g_autofree char *head = g_strndup (p->text, cut ? (gsize) (cut - p->text) : 0);
        render_text (c, s, head);
        g_string_append (s, "</pre><p class=\"d\">Cut here: more bytes of this part are in the <a href=\"");
        esc (s, url);
        g_string_append (s, "raw\">raw message</a>.</p>");
      } else {
        render_text (c, s, p->text);
        g_string_append (s, "</pre>");
      }
    } else if (p->attachment || p->text == NULL) {
      g_autofree char *name = safe_name (p->filename, i);
      g_string_append (s, "<p>Attachment: <a href=\"");
      esc (s, url);
      esc (s, name);
      g_string_append (s, "\" download>");
      esc (s, p->filename ? p->filename : name);
      g_string_append_printf (s, "</a> <span class=\"d\">(%s, %" G_GSIZE_FORMAT " bytes encoded)</span></p>",
                              p->content_type, p->body_length);
    }
  }
}

static void
render_message (Ctx *c, GString *s, AnnalsIndexSummary *m, gboolean heading)
{
  g_autoptr (GError) error = NULL;
  AnnalsStore *st = store_of (c, m->list, &error);
  g_autoptr (AnnalsStoreMeta) meta = st ? annals_store_read_meta (st, m->number, NULL) : NULL;
  AnnalsStoreRecord rec;
  g_autofree char *url = message_url (c, m);
  g_autofree char *key = NULL;
  CachedBody *cached = NULL;
  /* With a cache, the record's header decides whether the body kept is
   * still this message's; a miss (or no cache) reads the message, which
   * also fails for a redacted one. */
  gboolean have_record = st != NULL && annals_store_read_record (st, m->number, &rec, NULL);
  /* Bounded: a message larger than this is not decoded for a page. */
  gboolean too_large = have_record && rec.type == ANNALS_STORE_RECORD_MESSAGE
                       && rec.raw_size > web_limit (c, "message-max-bytes", MESSAGE_MAX_BYTES);
  if (have_record && !too_large && body_cache != NULL && rec.type == ANNALS_STORE_RECORD_MESSAGE) {
    /* The URL is in the body's attachment links, the limit decides
     * where the text is cut. */
    key = g_strdup_printf ("%s\n%s\n%" G_GUINT64_FORMAT "\n%d\n%" G_GUINT64_FORMAT, c->root, url, m->number,
                           c->obfuscate, web_limit (c, "text-max-bytes", TEXT_MAX_BYTES));
    cached = g_hash_table_lookup (body_cache, key);
    if (cached != NULL && memcmp (cached->sha256, rec.sha256, 32) != 0)
      cached = NULL;
  }
  g_autoptr (GBytes) raw = st != NULL && cached == NULL && !too_large ? annals_store_read (st, m->number, &rec, &error)
                                                                       : NULL;
  g_string_append (s, heading ? "<article><h1>" : "<article><h2>");
  esc (s, *m->subject ? m->subject : "(no subject)");
  g_string_append (s, heading ? "</h1>" : "</h2>");
  if (raw == NULL && cached == NULL && !too_large) {
    /* A redacted message: a tombstone with the date and reason. */
    guint64 notice;
    AnnalsStoreRedaction red = { 0 };
    g_string_append (s, "<p class=\"tomb\" role=\"note\">This message was removed from the archive");
    if (st && annals_store_find_redaction (st, m->number, &notice, NULL)
        && annals_store_read_redaction (st, notice, &red, NULL)) {
      char when[40];
      fmt_date (red.time, when, sizeof when);
      g_string_append_printf (s, " on %s (log entry %" G_GUINT64_FORMAT "). Reason: ", when, notice);
      esc (s, red.reason);
      g_free (red.reason);
    }
    g_string_append (s, ". Its hash stays in the transparency log.</p></article>");
    return;
  }
  char sent[40], received[40];
  fmt_date (m->date, sent, sizeof sent);
  fmt_date (m->receipt, received, sizeof received);
  g_string_append (s, "<table class=\"hdr\">");
  struct {
    const char *name, *value;
  } rows[] = { { "From", meta ? meta->from : m->from }, { "To", meta ? meta->to : NULL }, { "Cc", meta ? meta->cc : NULL },
               { "Date", sent }, { "Received", received }, { "Message-ID", m->message_id },
               { "List-Id", meta ? meta->list_id : NULL } };
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++) {
    if (rows[i].value == NULL || !*rows[i].value)
      continue;
    g_string_append_printf (s, "<tr><th scope=\"row\">%s</th><td>", rows[i].name);
    if (i < 3)
      esc_obf (c->obfuscate, s, rows[i].value);
    else
      esc (s, rows[i].value);
    g_string_append (s, "</td></tr>");
  }
  g_string_append (s, "</table><nav aria-label=\"message\">");
  g_string_append (s, "<a href=\"");
  esc (s, url);
  g_string_append (s, "raw\">raw</a> <a href=\"");
  esc (s, url);
  g_string_append (s, "proof\">proof</a> <a href=\"");
  esc (s, url);
  g_string_append (s, "t/#thread\">thread</a> <a href=\"");
  esc (s, url);
  g_string_append (s, "t.mbox.gz\">thread mbox.gz</a></nav>");
  if (too_large) {
    g_string_append_printf (s, "<p class=\"tomb\" role=\"note\">This message is %" G_GUINT64_FORMAT
                               " bytes, too large to show here: the <a href=\"", rec.raw_size);
    esc (s, url);
    g_string_append_printf (s, "raw\">raw message</a> has every byte (or <code>annals cat %s %" G_GUINT64_FORMAT
                               "</code>).</p>", m->list, m->number);
  } else if (cached != NULL) {
    g_string_append_len (s, cached->html, (gssize) cached->len);
  } else if (body_cache == NULL) {
    render_body (c, s, raw, url);
  } else {
    gsize from = s->len;
    render_body (c, s, raw, url);
    gsize len = s->len - from;
    if (body_cache_bytes + len > body_cache_max) {
      /* Full: start over rather than track recency; bodies are cheap to
       * render again and the cache refills with what is read now. */
      g_hash_table_remove_all (body_cache);
      body_cache_bytes = 0;
    }
    if (key != NULL && len <= body_cache_max / 4) {
      CachedBody *b = g_new (CachedBody, 1);
      memcpy (b->sha256, rec.sha256, 32);
      b->html = g_memdup2 (s->str + from, len);
      b->len = len;
      g_hash_table_replace (body_cache, g_steal_pointer (&key), b);
      body_cache_bytes += len;
    }
  }
  g_string_append (s, "</article>");
}

/* The other messages that carry m's Message-ID, each at its own
 * address: a reused id must not hide what else was archived under it. */
static void
other_copies (Ctx *c, GString *s, AnnalsIndexSummary *m)
{
  g_autoptr (AnnalsQueryResults) r = indexed_copies (c, m->list, m->message_id);
  if (r == NULL || r->hits->len < 2)
    return;
  g_string_append (s, "<section aria-label=\"copies\"><p>Other messages used this Message-ID:</p><ul>");
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *x = &g_array_index (r->hits, AnnalsIndexSummary, i);
    if (x->number == m->number)
      continue;
    char date[40];
    fmt_date (x->receipt, date, sizeof date);
    g_autofree char *u = message_url (c, x);
    g_string_append_printf (s, "<li>%s message %" G_GUINT64_FORMAT ", received %s: <a href=\"",
                            x->number < m->number ? "the first," : "later,", x->number, date);
    esc (s, u);
    g_string_append (s, "\">");
    esc (s, *x->subject ? x->subject : "(no subject)");
    g_string_append (s, "</a> ");
    esc_obf (c->obfuscate, s, x->from);
    g_string_append (s, "</li>");
  }
  g_string_append (s, "</ul></section>");
}

static void
page_message (Ctx *c, AnnalsIndexSummary *m)
{
  AnnalsStoreRecord rec;
  AnnalsStore *st = store_of (c, m->list, NULL);
  if (st && annals_store_read_record (st, m->number, &rec, NULL) && rec.type != ANNALS_STORE_RECORD_MESSAGE)
    annals_http_status (c->h, 410);
  g_autoptr (GString) s = g_string_new (NULL);
  page_start (c, s, *m->subject ? m->subject : "(no subject)");
  render_message (c, s, m, TRUE);
  other_copies (c, s, m);
  g_autoptr (AnnalsQueryResults) t = *m->thread ? thread_of (c, m->list, m->thread) : NULL;
  if (t != NULL)
    render_thread_skeleton (c, s, m, t, FALSE);
  page_end (c, s);
}

static void
page_thread (Ctx *c, AnnalsIndexSummary *m, gboolean nested)
{
  g_autoptr (AnnalsQueryResults) t = thread_of (c, m->list, m->thread);
  if (t == NULL) {
    error_page (c, 404, "No thread for this message.");
    return;
  }
  g_autoptr (GString) s = g_string_new (NULL);
  page_start (c, s, *m->subject ? m->subject : "(thread)");
  g_string_append (s, "<h1>");
  esc (s, *m->subject ? m->subject : "(no subject)");
  g_string_append_printf (s, " <small>(thread of %u)</small></h1>", t->hits->len);
  g_string_append_printf (s, "<p>%s view; <a href=\"../%s/\">%s view</a>", nested ? "Nested" : "Flat",
                          nested ? "T" : "t", nested ? "flat" : "nested");
  if (t->hits->len >= THREAD_MAX)
    g_string_append_printf (s, " (the first %d messages)", THREAD_MAX);
  g_string_append (s, "</p>");
  g_autoptr (GArray) depths = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) order = thread_order (t, depths);
  /* Bounded: the thread page renders at most 100 bodies. */
  for (guint k = 0; k < order->len && k < 100; k++) {
    guint idx = nested ? g_array_index (order, guint, k) : k;
    AnnalsIndexSummary *x = &g_array_index (t->hits, AnnalsIndexSummary, idx);
    guint depth = nested ? g_array_index (depths, guint, k) : 0;
    g_string_append_printf (s, "<div style=\"margin-left:%ume\">", MIN (depth, 8));
    render_message (c, s, x, FALSE);
    g_string_append (s, "</div><hr>");
  }
  render_thread_skeleton (c, s, m, t, TRUE);
  page_end (c, s);
}

static void
page_raw (Ctx *c, AnnalsIndexSummary *m)
{
  g_autoptr (GError) error = NULL;
  AnnalsStore *st = store_of (c, m->list, &error);
  AnnalsStoreRecord rec;
  g_autoptr (GBytes) raw = st ? annals_store_read (st, m->number, &rec, &error) : NULL;
  if (raw == NULL) {
    error_page (c, 410, "This message was redacted; its hash stays in the transparency log.");
    return;
  }
  g_autofree char *etag = record_etag (&rec, "");
  gsize len;
  const guint8 *d = g_bytes_get_data (raw, &len);
  annals_http_header (c->h, "Content-Type", g_utf8_validate ((const char *) d, (gssize) len, NULL)
                                              ? "text/plain; charset=utf-8" : "text/plain");
  annals_http_header (c->h, "Cache-Control", MESSAGE_CACHE);
  annals_http_header (c->h, "X-Content-Type-Options", "nosniff");
  char lm[64];
  time_t t = (time_t) rec.receipt;
  struct tm tm;
  if (gmtime_r (&t, &tm) && strftime (lm, sizeof lm, "%a, %d %b %Y %H:%M:%S GMT", &tm))
    annals_http_header (c->h, "Last-Modified", lm);
  if (annals_http_not_modified (c->h, etag))
    return;
  g_autofree char *clen = g_strdup_printf ("%" G_GSIZE_FORMAT, len);
  annals_http_header (c->h, "Content-Length", clen);
  annals_http_write (c->h, d, len);
}

static void
page_attachment (Ctx *c, AnnalsIndexSummary *m, const char *seg)
{
  guint index = (guint) g_ascii_strtoull (seg, NULL, 10);
  AnnalsStore *st = store_of (c, m->list, NULL);
  AnnalsStoreRecord rec;
  g_autoptr (GBytes) raw = st ? annals_store_read (st, m->number, &rec, NULL) : NULL;
  if (raw == NULL) {
    error_page (c, st && annals_store_read_record (st, m->number, &rec, NULL) ? 410 : 404,
                "No such attachment: the message was redacted, or is not in this archive.");
    return;
  }
  gsize len;
  const guint8 *d = g_bytes_get_data (raw, &len);
  g_autoptr (GPtrArray) parts = annals_mime_parts (d, len);
  if (index >= parts->len) {
    error_page (c, 404, "No such attachment.");
    return;
  }
  AnnalsMimePart *p = parts->pdata[index];
  g_autofree char *name = safe_name (p->filename, index);
  if (strcmp (name, seg) != 0) {
    error_page (c, 404, "No such attachment.");
    return;
  }
  g_autoptr (GBytes) body = annals_mime_part_decode (p);
  /* Never rendered by the browser: a download, whatever it claims to be. */
  annals_http_header (c->h, "Content-Type", "application/octet-stream");
  g_autofree char *disp = g_strdup_printf ("attachment; filename=\"%s\"", name + strcspn (name, "-") + 1);
  annals_http_header (c->h, "Content-Disposition", disp);
  annals_http_header (c->h, "X-Content-Type-Options", "nosniff");
  annals_http_header (c->h, "Cache-Control", MESSAGE_CACHE);
  g_autofree char *etag = record_etag (&rec, seg);
  if (annals_http_not_modified (c->h, etag))
    return;
  annals_http_write (c->h, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

static void
page_thread_atom (Ctx *c, AnnalsIndexSummary *m)
{
  g_autoptr (AnnalsQueryResults) t = thread_of (c, m->list, m->thread);
  if (t == NULL) {
    error_page (c, 404, "No thread.");
    return;
  }
  g_autofree char *path = message_path (c, m);
  g_autofree char *self = g_strdup_printf ("%s%st.atom", c->h->base, path);
  atom_feed (c, t, *m->subject ? m->subject : "(thread)", self);
}

static void
page_proof (Ctx *c, AnnalsIndexSummary *m)
{
  g_autofree char *dir = annals_config_list_dir (c->config, m->list, "log", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsTlogReader) r = dir ? annals_tlog_reader_open (dir, NULL, &error) : NULL;
  if (r == NULL || m->number >= annals_tlog_reader_checkpoint (r)->size) {
    error_page (c, 404, "This message is not in the log's checkpoint yet.");
    return;
  }
  gpointer ctx;
  AnnalsMerkleSource src = annals_tlog_reader_source (r, &ctx);
  g_autoptr (GBytes) entry = annals_tlog_reader_entry (r, m->number, &error);
  g_autoptr (GArray) proof = entry ? annals_merkle_inclusion_proof (src, ctx, m->number,
                                                                    annals_tlog_reader_checkpoint (r)->size, &error)
                                   : NULL;
  if (proof == NULL) {
    error_page (c, 500, error ? error->message : "cannot make the proof");
    return;
  }
  g_autofree char *text = annals_tlog_proof_format (entry, m->number, proof, annals_tlog_reader_note (r));
  annals_http_header (c->h, "Content-Type", "text/plain; charset=utf-8");
  annals_http_header (c->h, "Cache-Control", "public, max-age=60");
  annals_http_write (c->h, text, strlen (text));
}

/* /<list>/log/checkpoint and /<list>/log/tile/...: the static files. */
static void
page_log_file (Ctx *c, const char *rest)
{
  gboolean checkpoint = strcmp (rest, "checkpoint") == 0;
  static GRegex *tile_re;
  if (tile_re == NULL)
    tile_re = g_regex_new ("^tile/(entries|[0-9]|[1-5][0-9]|6[0-3])(/x[0-9]{3})*/[0-9]{3}(\\.p/([1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$",
                           G_REGEX_OPTIMIZE, 0, NULL);
  if (!checkpoint && !g_regex_match (tile_re, rest, 0, NULL)) {
    error_page (c, 404, "No such log file.");
    return;
  }
  g_autofree char *dir = annals_config_list_dir (c->config, c->list, "log", NULL);
  g_autofree char *path = g_build_filename (dir, rest, NULL);
  g_autofree char *data = NULL;
  gsize len;
  if (!g_file_get_contents (path, &data, &len, NULL)) {
    error_page (c, 404, "No such log file.");
    return;
  }
  annals_http_header (c->h, "Content-Type", checkpoint ? "text/plain; charset=utf-8" : "application/octet-stream");
  annals_http_header (c->h, "Cache-Control", checkpoint ? "public, max-age=5" : "public, max-age=31536000, immutable");
  annals_http_header (c->h, "Access-Control-Allow-Origin", "*");
  annals_http_write (c->h, data, len);
}

/* The Message-ID in a URL segment (percent-encoded, brackets tolerated:
 * public-inbox sends ids without them), or NULL when it is not one. */
static char *
message_id_of (const char *segment)
{
  char *mid = annals_http_unescape (segment, strlen (segment));
  if (mid == NULL || *mid == '\0' || strlen (mid) > 1000 || !g_utf8_validate (mid, -1, NULL)) {
    g_free (mid);
    return NULL;
  }
  if (mid[0] == '<' && g_str_has_suffix (mid, ">")) {
    mid[strlen (mid) - 1] = '\0';
    memmove (mid, mid + 1, strlen (mid));
  }
  return mid;
}

static void
redirect (Ctx *c, const char *path)
{
  g_autofree char *loc = g_strdup_printf ("%s%s", c->h->base, path[0] == '/' ? path + 1 : path);
  annals_http_status (c->h, 301);
  annals_http_header (c->h, "Location", loc);
  annals_http_header (c->h, "Content-Type", "text/plain; charset=utf-8");
  annals_http_print (c->h, "moved to %s\n", loc);
}

/* The pages of message m, at base ("/LIST/MSGID/" or "/LIST/_/N/"):
 * action is the segment after it (NULL: none, "" the page), after the
 * one after that. */
static void
serve_message (Ctx *c, AnnalsIndexSummary *m, const char *base, const char *action, const char *after)
{
  gboolean thread_page = action != NULL && (strcmp (action, "t") == 0 || strcmp (action, "T") == 0
                                            || strcmp (action, "t.mbox.gz") == 0 || strcmp (action, "t.atom") == 0);
  if (thread_page && *m->thread == '\0') {
    /* Only in the store: redacted (its tombstone says so), or not
     * indexed yet. */
    page_message (c, m);
  } else if (action == NULL) {
    redirect (c, base);
  } else if (*action == '\0') {
    page_message (c, m);
  } else if (strcmp (action, "raw") == 0) {
    page_raw (c, m);
  } else if ((strcmp (action, "t") == 0 || strcmp (action, "T") == 0) && after != NULL && *after == '\0') {
    page_thread (c, m, action[0] == 't');
  } else if (strcmp (action, "t") == 0 || strcmp (action, "T") == 0) {
    g_autofree char *to = g_strdup_printf ("%s%s/", base, action);
    redirect (c, to);
  } else if (strcmp (action, "t.mbox.gz") == 0) {
    g_autoptr (AnnalsQueryResults) t = thread_of (c, m->list, m->thread);
    if (t == NULL)
      error_page (c, 404, "No thread.");
    else
      mbox_gz (c, t, "thread");
  } else if (strcmp (action, "t.atom") == 0) {
    page_thread_atom (c, m);
  } else if (strcmp (action, "proof") == 0) {
    page_proof (c, m);
  } else if (g_ascii_isdigit (action[0])) {
    page_attachment (c, m, action);
  } else {
    error_page (c, 404, "No such page for this message.");
  }
}

static void
route (Ctx *c)
{
  AnnalsHttp *h = c->h;
  if (strcmp (h->method, "OTHER") == 0) {
    annals_http_header (h, "Allow", "GET, HEAD, POST");
    error_page (c, 405, "Only GET, HEAD and POST are served.");
    return;
  }
  if (strlen (h->path) > MAX_PATH) {
    error_page (c, 414, "The address is too long.");
    return;
  }
  if (strlen (h->query) > 2 * MAX_QUERY) {
    error_page (c, 413, "The query string is longer than 8 KiB.");
    return;
  }
  if (strcmp (h->path, "/") == 0) {
    page_lists (c);
    return;
  }
  /* Segments, still percent-encoded. */
  g_auto (GStrv) seg = g_strsplit (h->path + 1, "/", 4);
  guint n = g_strv_length (seg);
  const char *list = seg[0];
  gboolean all = strcmp (list, "all") == 0;
  if (!all && !annals_config_has_list (c->config, list)) {
    error_page (c, 404, "There is no such list here.");
    return;
  }
  c->list = list;
  c->dirs = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lists = annals_config_lists (c->config);
  for (char **l = lists; *l; l++)
    if (all || strcmp (*l, list) == 0)
      g_ptr_array_add (c->dirs, annals_config_list_dir (c->config, *l, NULL, NULL));
  c->obfuscate = !all && list_obfuscates (c, list);
  if (n == 1) {
    g_autofree char *to = g_strdup_printf ("/%s/", list);
    redirect (c, to);
    return;
  }
  if (n == 2 && seg[1][0] == '\0') {
    const char *q = annals_http_param (h, "q");
    if (q != NULL && *q != '\0')
      page_search (c, q);
    else
      page_list (c);
    return;
  }
  if (all) {
    /* /all/MESSAGE-ID/... (b4 and lei ask lore this way): the list that
     * has the message, first in the site's order. */
    g_autofree char *amid = message_id_of (seg[1]);
    if (amid == NULL) {
      error_page (c, 400, "That is not a valid Message-ID.");
      return;
    }
    for (char **l = lists; *l; l++) {
      AnnalsIndexSummary am;
      if (find_message (c, *l, amid, &am)) {
        annals_index_summary_clear (&am);
        g_autofree char *enc = annals_http_escape_segment (amid);
        g_autofree char *rest = n >= 3 ? g_strjoinv ("/", seg + 2) : g_strdup ("");
        g_autofree char *to = g_strdup_printf ("/%s/%s/%s", *l, enc, rest);
        redirect (c, to);
        return;
      }
    }
    error_page (c, 404, "No list here has a message with that Message-ID.");
    return;
  }
  if (n == 2 && strcmp (seg[1], "new.atom") == 0) {
    page_new_atom (c);
    return;
  }
  if (strcmp (seg[1], "log") == 0 && n >= 3) {
    g_autofree char *rest = g_strjoinv ("/", seg + 2);
    page_log_file (c, rest);
    return;
  }
  if (strcmp (seg[1], "_") == 0) {
    /* /LIST/_/N/...: message N, every copy of a reused Message-ID. */
    g_auto (GStrv) nseg = g_strsplit (h->path + 1, "/", 5);
    const char *num = nseg[2];
    AnnalsIndexSummary m;
    if (num == NULL || *num == '\0' || strlen (num) > 19 || strspn (num, "0123456789") != strlen (num)
        || !find_number (c, list, g_ascii_strtoull (num, NULL, 10), &m)) {
      error_page (c, 404, "No message with that number in this list.");
      return;
    }
    g_autofree char *base = g_strdup_printf ("/%s/_/%s/", list, num);
    serve_message (c, &m, base, nseg[3], nseg[3] ? nseg[4] : NULL);
    annals_index_summary_clear (&m);
    return;
  }
  g_autofree char *mid = message_id_of (seg[1]);
  if (mid == NULL) {
    error_page (c, 400, "That is not a valid Message-ID.");
    return;
  }
  AnnalsIndexSummary m;
  if (!find_message (c, list, mid, &m)) {
    error_page (c, 404, "No message with that Message-ID in this list.");
    return;
  }
  g_autofree char *enc = annals_http_escape_segment (mid);
  g_autofree char *base = g_strdup_printf ("/%s/%s/", list, enc);
  serve_message (c, &m, base, n >= 3 ? seg[2] : NULL, n >= 4 ? seg[3] : NULL);
  annals_index_summary_clear (&m);
}

void
annals_web_handle (AnnalsHttp *h, const char *root)
{
  Ctx c = { h, root };
  g_autoptr (GError) error = NULL;
  c.config = root ? annals_config_open (root, &error) : NULL;
  if (c.config == NULL) {
    annals_http_status (h, 500);
    annals_http_header (h, "Content-Type", "text/plain; charset=utf-8");
    annals_http_print (h, "annals.cgi: %s\n", root ? error->message : "ANNALS_ROOT is not set in the web server's configuration");
    return;
  }
  /* Absolute URLs (redirects, feeds) use where the site says it is
   * served: the Host header is the client's to forge, and a forged one
   * would reach whatever caches the answer. */
  g_autofree char *base = g_key_file_get_string (annals_config_keyfile (c.config), "site", "base-url", NULL);
  if (base != NULL && (g_str_has_prefix (base, "http://") || g_str_has_prefix (base, "https://"))) {
    g_free (h->base);
    h->base = g_str_has_suffix (base, "/") ? g_strdup (base) : g_strconcat (base, "/", NULL);
  }
  route (&c);
  annals_http_begin (h);
  if (c.dirs)
    g_ptr_array_unref (c.dirs);
  if (c.stores)
    g_hash_table_unref (c.stores);
  annals_config_free (c.config);
}
