/* frame: the page frame, escaping, dates, error pages, limits; see web.h. */
#include "web-cgi/web.h"
#include "web-cgi/pages.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

static const char css[]
    = "body{font:16px/1.45 sans-serif;margin:0 auto;max-width:60em;padding:0 .6em;color:#111;background:#fff;"
      "overflow-wrap:anywhere}"
      "pre{white-space:pre-wrap;overflow-wrap:anywhere;font:14px/1.4 monospace}"
      ".q{color:#555}a{color:#03c}nav,footer{margin:.6em 0}footer,small{font-size:.9em}ul{padding-left:1.2em}"
      "table{border-collapse:collapse;width:100%}td{padding:.15em .4em;vertical-align:top;overflow-wrap:anywhere}"
      /* Only a table's date stays on one line; its note goes under it. */
      ".d{color:#555}td.d{white-space:nowrap}td.d small{display:block;white-space:normal}"
      "th,td.c{overflow-wrap:normal}.cur{font-weight:bold}.hdr "
      "th{text-align:left;padding-right:.6em;white-space:nowrap}"
      "form input[type=search]{width:60%;max-width:30em}.tomb{border:1px solid #a00;padding:.5em}"
      /* Thread indent, one class per level (thread-view.c caps it at 8). */
      ".n1{margin-left:1em}.n2{margin-left:2em}.n3{margin-left:3em}.n4{margin-left:4em}.n5{margin-left:5em}"
      ".n6{margin-left:6em}.n7{margin-left:7em}.n8{margin-left:8em}.ghost{border-left:3px solid #999;padding-left:.5em}"
      "@media (max-width:40em){.n1{margin-left:.5em}.n2{margin-left:1em}.n3{margin-left:1.5em}.n4{margin-left:2em}"
      ".n5{margin-left:2.5em}.n6{margin-left:3em}.n7{margin-left:3.5em}.n8{margin-left:4em}}"
      ".c{text-align:right}@media (max-width:40em){.ad{display:none}}.snip td{padding:0 .4em .6em 1.2em}"
      /* Five columns do not fit 360 px: each thread a block of lines,
       * the counts labelled, the header row kept for screen readers. */
      "@media (max-width:40em){.threads thead{position:absolute;width:1px;height:1px;overflow:hidden;"
      "clip:rect(0 0 0 0)}.threads tr,.threads td{display:block}.threads tr{padding:.3em 0;"
      "border-bottom:1px solid #ccc}.threads td.c{display:inline-block;text-align:left}"
      ".threads td:nth-child(3)::after{content:\" replies\"}.threads td:nth-child(4)::after{content:\" participants\"}"
      ".threads td.d{display:inline-block}}"
      "h1{font-size:1.6em;line-height:1.25}h2{font-size:1.25em}@media (max-width:40em){h1{font-size:1.3em}}"
      "@media (prefers-color-scheme:dark){body{background:#111;color:#ddd}a{color:#8bf}.q,.d{color:#aaa}}";

void
annals_web_fmt_date (gint64 t, char *out, gsize n)
{
  time_t tt = (time_t) t;
  struct tm tm;
  if (t == ANNALS_NO_DATE || gmtime_r (&tt, &tm) == NULL || strftime (out, n, "%Y-%m-%d %H:%M UTC", &tm) == 0)
    g_strlcpy (out, "-", n);
}

gint64
annals_web_sort_date (const AnnalsIndexSummary *m)
{
  return annals_index_sort_date (m->hdr.date, m->receipt);
}

void
annals_web_date_cell (GString *s, const AnnalsIndexSummary *m, int width)
{
  char when[40];
  annals_web_fmt_date (annals_web_sort_date (m), when, sizeof when);
  g_string_append_printf (s, "%.*s", width, when);
  if (annals_web_sort_date (m) != m->hdr.date) {
    annals_web_fmt_date (m->hdr.date, when, sizeof when);
    g_string_append_printf (s, " <small>(received; its Date: says %.10s, claimed by the sender)</small>", when);
  }
}

/* Addresses shown with the dots of their domain as bullets, when the
 * list asks for it (not a lock, a speed bump for harvesters). */
char *
annals_web_obfuscate (gboolean on, const char *text)
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

void
annals_web_esc (GString *s, const char *t)
{
  annals_html_escape (s, t, -1);
}

void
annals_web_esc_obf (gboolean on, GString *s, const char *t)
{
  g_autofree char *o = annals_web_obfuscate (on, t);
  annals_html_escape (s, o, -1);
}

/* Whether list shows addresses obfuscated (its `obfuscate` option). */
gboolean
annals_web_list_obfuscates (Ctx *c, const char *list)
{
  g_autofree char *group = g_strdup_printf ("list %s", list);
  return g_key_file_get_boolean (annals_config_keyfile (c->config), group, "obfuscate", NULL);
}

/* Whether a row from list obfuscates: on /all/ pages each row follows
 * its own list's choice. */
gboolean
annals_web_row_obfuscates (Ctx *c, const char *list)
{
  return c->list != NULL && strcmp (c->list, "all") == 0 ? annals_web_list_obfuscates (c, list) : c->obfuscate;
}

char *
annals_web_msg_url (Ctx *c, const char *list, const char *message_id, const char *suffix)
{
  g_autofree char *seg = annals_http_escape_segment (message_id);
  return g_strdup_printf ("%s/%s/%s/%s", c->h->prefix, list, seg, suffix ? suffix : "");
}

void
annals_web_page_start (Ctx *c, GString *s, const char *title)
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
  annals_web_esc (s, title);
  g_string_append_printf (s, "</title><style>%s</style>", css);
  if (c->list != NULL && strcmp (c->list, "all") != 0)
    g_string_append_printf (
        s, "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"%s\" href=\"%s/%s/new.atom\">", c->list,
        c->h->prefix, c->list);
  g_autofree char *site = g_key_file_get_string (annals_config_keyfile (c->config), "site", "name", NULL);
  g_string_append_printf (s, "</head><body><nav aria-label=\"site\"><a href=\"%s/\">", c->h->prefix);
  annals_web_esc (s, site ? site : "annals");
  g_string_append (s, "</a>");
  if (c->list != NULL)
    g_string_append_printf (s, " / <a href=\"%s/%s/\">%s</a>", c->h->prefix, c->list, c->list);
  g_string_append (s, "</nav><main>");
}

void
annals_web_search_form (Ctx *c, GString *s, const char *value)
{
  const char *where = c->list ? c->list : "all";
  g_string_append_printf (s,
                          "<form role=\"search\" action=\"%s/%s/\" method=\"get\"><label for=\"q\">Search %s</label> "
                          "<input type=\"search\" id=\"q\" name=\"q\" value=\"",
                          c->h->prefix, where, where);
  annals_web_esc (s, value ? value : "");
  g_string_append (s, "\"> <input type=\"submit\" value=\"search\"></form>");
}

void
annals_web_page_end (Ctx *c, GString *s)
{
  g_string_append_printf (s,
                          "</main><footer>annals: every message kept byte for byte; "
                          "<a href=\"https://c2sp.org/tlog-tiles\">transparency log</a> per list under "
                          "<code>/LIST/log/</code>; <a href=\"%s/about/\">how to verify</a>.</footer></body></html>\n",
                          c->h->prefix);
  if (c->h->status == 200 || c->h->status == 410) {
    /* The page's own hash: whatever changes it (a reply, a redaction)
     * changes the tag, and a client that has it gets 304.  BLAKE2b
     * (libsodium's generichash), a tenth of what GLib's SHA-256 costs
     * per byte: on a message page that hash was a quarter of the work. */
    guint8 sum[16];
    crypto_generichash (sum, sizeof sum, (const guint8 *) s->str, s->len, NULL, 0);
    char etag[40] = "\"p-";
    for (guint i = 0; i < sizeof sum; i++)
      g_snprintf (etag + 3 + 2 * i, 3, "%02x", sum[i]);
    g_strlcat (etag, "\"", sizeof etag);
    if (annals_http_not_modified (c->h, etag))
      return;
  }
  annals_http_write (c->h, s->str, s->len);
}

void
annals_web_error_page (Ctx *c, int status, const char *what)
{
  annals_http_status (c->h, status);
  annals_http_header (c->h, "Cache-Control", "no-store");
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *title = g_strdup_printf ("%d %s", status,
                                            status == 404   ? "Not found"
                                            : status == 400 ? "Bad request"
                                            : status == 405 ? "Method not allowed"
                                            : status == 413 ? "Too large"
                                            : status == 414 ? "URI too long"
                                                            : "Error");
  annals_web_page_start (c, s, title);
  g_string_append (s, "<h1>");
  annals_web_esc (s, title);
  g_string_append (s, "</h1><p>");
  annals_web_esc (s, what);
  g_string_append (s, "</p>");
  annals_web_page_end (c, s);
}

int
annals_web_search_error_status (const GError *error)
{
  if (g_error_matches (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_SYNTAX)
      || g_error_matches (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_WILDCARD))
    return 400;
  if (g_error_matches (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_INDEX_UNAVAILABLE)
      || g_error_matches (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_NO_INDEX))
    return 503;
  return 500;
}

/* A FastCGI process keeps the stores it opened (files open,
 * dictionaries loaded) from request to request, by folder; a request
 * looks at each again (annals_store_refresh) the first time it uses it. */
static gboolean keep_open;
static GHashTable *kept_stores; /* store folder -> AnnalsStore */

void
annals_web_set_keep_open (gboolean on)
{
  keep_open = on;
  annals_query_keep_open (on);
  if (!on)
    g_clear_pointer (&kept_stores, g_hash_table_unref);
}

AnnalsStore *
annals_web_store_of (Ctx *c, const char *list, GError **error)
{
  AnnalsStore *s = c->stores ? g_hash_table_lookup (c->stores, list) : NULL;
  if (s != NULL)
    return s;
  g_autofree char *dir = annals_config_list_dir (c->config, list, "store", error);
  if (dir == NULL)
    return NULL;
  s = kept_stores ? g_hash_table_lookup (kept_stores, dir) : NULL;
  if (s != NULL && !annals_store_refresh (s)) {
    /* Removed or made again since: not the store to read. */
    g_hash_table_remove (kept_stores, dir);
    s = NULL;
  }
  if (s == NULL)
    s = annals_store_open (dir, error);
  if (s == NULL)
    return NULL;
  /* Kept until the request ends at least: an /all/ page reads from many
   * lists. */
  if (c->stores == NULL)
    c->stores = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       keep_open ? NULL : (GDestroyNotify) annals_store_free);
  g_hash_table_insert (c->stores, g_strdup (list), s);
  if (keep_open) {
    if (kept_stores == NULL)
      kept_stores = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) annals_store_free);
    if (!g_hash_table_contains (kept_stores, dir))
      g_hash_table_insert (kept_stores, g_steal_pointer (&dir), s);
  }
  return s;
}

guint64
annals_web_limit (Ctx *c, const char *key, guint64 fallback)
{
  g_autoptr (GError) error = NULL;
  guint64 v = g_key_file_get_uint64 (annals_config_keyfile (c->config), "web", key, &error);
  return error != NULL || v == 0 ? fallback : v;
}
