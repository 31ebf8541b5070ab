/* list-view: the lists, a list's newest threads, search; see web.h. */
#include "web.h"

#include <string.h>

void
annals_web_page_lists (Ctx *c)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *site = g_key_file_get_string (annals_config_keyfile (c->config), "site", "name", NULL);
  annals_web_page_start (c, s, site ? site : "annals");
  g_string_append (s, "<h1>");
  annals_web_esc (s, site ? site : "annals");
  g_string_append (s, "</h1>");
  annals_web_search_form (c, s, NULL);
  g_string_append (s, "<h2>Lists</h2><ul>");
  g_auto (GStrv) lists = annals_config_lists (c->config);
  for (char **l = lists; *l; l++) {
    g_autofree char *dir = annals_config_list_dir (c->config, *l, "store", NULL);
    g_autoptr (AnnalsStore) st = dir ? annals_store_open (dir, NULL) : NULL;
    g_autofree char *desc = annals_config_list_get (c->config, *l, "description");
    g_string_append_printf (s, "<li><a href=\"%s/%s/\">%s</a> ", c->h->prefix, *l, *l);
    annals_web_esc (s, desc ? desc : "");
    g_string_append_printf (s, " <span class=\"d\">(%" G_GUINT64_FORMAT " messages)</span></li>",
                            st ? annals_store_count (st) : 0);
  }
  g_string_append (s, "</ul>");
  annals_web_page_end (c, s);
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
    annals_web_fmt_date (m->date, date, sizeof date);
    g_autofree char *url = annals_web_message_url (c, m);
    g_string_append_printf (s, "<tr><td class=\"d\">%.10s</td><td><a href=\"", date);
    annals_web_esc (s, url);
    g_string_append (s, "\">");
    annals_web_esc (s, *m->subject ? m->subject : "(no subject)");
    g_string_append (s, "</a>");
    if (c->list && strcmp (c->list, "all") == 0)
      g_string_append_printf (s, " <span class=\"d\">[%s]</span>", m->list);
    g_string_append (s, "</td><td>");
    annals_web_esc_obf (annals_web_row_obfuscates (c, m->list), s, m->from);
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

void
annals_web_page_list (Ctx *c)
{
  guint64 offset = offset_param (c);
  AnnalsQueryOptions o = { offset, PAGE_SIZE, FALSE, TRUE, FALSE };
  g_autoptr (GError) error = NULL;
  g_autofree char *term = strcmp (c->list, "all") == 0 ? g_strdup ("") : g_strconcat ("K", c->list, NULL);
  g_autoptr (AnnalsQueryResults) r = annals_query_term ((const char *const *) c->dirs->pdata, c->dirs->len, term, &o,
                                                         FALSE, &error);
  g_autoptr (GString) s = g_string_new (NULL);
  annals_web_page_start (c, s, c->list);
  g_string_append_printf (s, "<h1>%s</h1>", c->list);
  if (strcmp (c->list, "all") != 0) {
    g_autofree char *desc = annals_config_list_get (c->config, c->list, "description");
    g_string_append (s, "<p>");
    annals_web_esc (s, desc ? desc : "");
    g_string_append_printf (s, " <a href=\"%s/%s/new.atom\">Atom feed</a></p>", c->h->prefix, c->list);
  }
  annals_web_search_form (c, s, NULL);
  g_string_append (s, "<h2>Newest threads</h2>");
  if (r == NULL) {
    g_string_append (s, "<p>This list has no index yet: run <code>annals index</code>.</p>");
  } else {
    summary_rows (c, s, r, FALSE);
    pager (c, s, offset, r->hits->len, r->count, NULL, FALSE);
  }
  annals_web_page_end (c, s);
}

void
annals_web_page_search (Ctx *c, const char *q)
{
  if (strlen (q) > MAX_QUERY) {
    annals_web_error_page (c, 413, "The query is longer than 4,096 bytes.");
    return;
  }
  gboolean relevance = annals_http_param (c->h, "r") != NULL;
  const char *x = annals_http_param (c->h, "x");
  gboolean atom = x && strcmp (x, "A") == 0;
  gboolean mbox = x && strcmp (x, "m") == 0;
  if (mbox && strcmp (c->h->method, "POST") != 0) {
    annals_web_error_page (c, 405, "The mbox of search results is made on POST only (a form button), never on a link.");
    return;
  }
  guint64 offset = offset_param (c);
  guint64 mbox_max = annals_web_limit (c, "mbox-max-messages", MBOX_MAX_MESSAGES);
  AnnalsQueryOptions o = { mbox ? 0 : offset, mbox ? mbox_max : PAGE_SIZE, relevance, FALSE, FALSE };
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r = annals_query_run ((const char *const *) c->dirs->pdata, c->dirs->len, q, &o, &error);
  if (r == NULL) {
    annals_http_status (c->h, 400);
    g_autoptr (GString) s = g_string_new (NULL);
    annals_web_page_start (c, s, "Search");
    annals_web_search_form (c, s, q);
    g_string_append (s, "<p role=\"alert\">");
    annals_web_esc (s, error->message);
    g_string_append (s, "</p><p>See the <a href=\"https://public-inbox.org/meta/_/text/help/\">query language</a>: "
                        "s: f: t: c: b: d: …</p>");
    annals_web_page_end (c, s);
    return;
  }
  if (atom) {
    g_autofree char *title = g_strdup_printf ("%s: %s", c->list, q);
    annals_web_atom_feed (c, r, title, NULL);
    return;
  }
  if (mbox) {
    if (r->count > r->hits->len) {
      g_autofree char *note = g_strdup_printf ("the first %u of %" G_GUINT64_FORMAT " messages; annals search "
                                               "--format mbox gives them all", r->hits->len, r->count);
      annals_http_header (c->h, "X-Annals-Limit", note);
    }
    annals_web_mbox_gz (c, r, "results");
    return;
  }
  g_autoptr (GString) s = g_string_new (NULL);
  annals_web_page_start (c, s, q);
  annals_web_search_form (c, s, q);
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
                            mbox_max, annals_web_limit (c, "mbox-max-bytes", MBOX_MAX_BYTES) >> 20);
    if (strcmp (c->list, "all") != 0)
      g_string_append_printf (s, " --list %s", c->list);
    g_string_append (s, " --format mbox ");
    annals_web_esc (s, quoted);
    g_string_append (s, "</code>)</small>");
  }
  g_string_append (s, "</form>");
  summary_rows (c, s, r, relevance);
  pager (c, s, offset, r->hits->len, r->count, q, relevance);
  annals_web_page_end (c, s);
}
