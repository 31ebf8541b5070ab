/* list-view: the lists, a list's newest threads, search; see web.h. */
#include "web-cgi/web.h"

#include <string.h>

static void from_cell (Ctx *c, GString *s, const char *list, const char *from);

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
  g_string_append (
      s, "<table><thead><tr><th scope=\"col\">Date</th><th scope=\"col\">Subject</th><th scope=\"col\">From</th>");
  if (relevance)
    g_string_append (s, "<th scope=\"col\">Match</th>");
  g_string_append (s, "</tr></thead><tbody>");
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *m = &g_array_index (r->hits, AnnalsIndexSummary, i);
    char date[40];
    annals_web_fmt_date (m->hdr.date, date, sizeof date);
    g_autofree char *url = annals_web_message_url (c, m);
    g_string_append_printf (s, "<tr><td class=\"d\">%.10s</td><td><a href=\"", date);
    annals_web_esc (s, url);
    g_string_append (s, "\">");
    annals_web_esc (s, *m->hdr.subject ? m->hdr.subject : "(no subject)");
    g_string_append (s, "</a>");
    if (c->list && strcmp (c->list, "all") == 0)
      g_string_append_printf (s, " <span class=\"d\">[%s]</span>", m->list);
    g_string_append (s, "</td><td>");
    from_cell (c, s, m->list, m->hdr.from);
    g_string_append (s, "</td>");
    if (relevance)
      g_string_append_printf (s, "<td class=\"d\">%d%%</td>", g_array_index (r->percent, int, i));
    g_string_append (s, "</tr>");
    const char *snip = r->snippets ? g_ptr_array_index (r->snippets, i) : NULL;
    /* Xapian escapes the text and adds only <mark>. */
    if (snip != NULL && *snip != '\0')
      g_string_append_printf (s, "<tr class=\"snip\"><td colspan=\"%d\">%s</td></tr>", relevance ? 4 : 3, snip);
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
  gboolean newer = offset > 0, older = offset + shown < count && shown == PAGE_SIZE;
  /* An empty landmark is still announced by screen readers. */
  if (!newer && !older)
    return;
  g_string_append (s, "<nav aria-label=\"pages\">");
  g_autoptr (GString) extra = g_string_new (NULL);
  if (q != NULL) {
    g_autofree char *qe = g_uri_escape_string (q, NULL, FALSE);
    g_string_append_printf (extra, "&amp;q=%s", qe);
  }
  if (relevance)
    g_string_append (extra, "&amp;r");
  if (newer)
    g_string_append_printf (s, "<a href=\"?o=%" G_GUINT64_FORMAT "%s\" rel=\"prev\">newer</a> ",
                            offset > PAGE_SIZE ? offset - PAGE_SIZE : 0, extra->str);
  if (older)
    g_string_append_printf (s, "<a href=\"?o=%" G_GUINT64_FORMAT "%s\" rel=\"next\">older</a>", offset + PAGE_SIZE,
                            extra->str);
  g_string_append (s, "</nav>");
}

/* A From: as name and address: on narrow screens only the name shows
 * (frame.c's CSS hides .ad). */
static void
from_cell (Ctx *c, GString *s, const char *list, const char *from)
{
  gboolean obf = annals_web_row_obfuscates (c, list);
  /* The name as its sender wrote it, without the quotes that keep
   * "Doe, John" one name in the From: (the address shows beside it). */
  g_autofree char *name = annals_message_from_name (from);
  if (name == NULL) {
    annals_web_esc_obf (obf, s, from);
    return;
  }
  const char *lt = strrchr (from, '<');
  g_string_append (s, "<span class=\"nm\">");
  annals_web_esc_obf (obf, s, name);
  g_string_append (s, "</span><span class=\"ad\"> ");
  annals_web_esc_obf (obf, s, lt);
  g_string_append (s, "</span>");
}

/* The address part of a From:, lowercased: who took part. */
static char *
address_of (const char *from)
{
  const char *lt = strrchr (from, '<');
  const char *gt = lt ? strchr (lt, '>') : NULL;
  g_autofree char *a = lt && gt ? g_strndup (lt + 1, (gsize) (gt - lt - 1)) : g_strdup (from);
  return g_ascii_strdown (g_strstrip (a), -1);
}

/* One row per thread of r (collapsed hits): subject and starter, number
 * of replies and of participants, and the date of the last message. */
static void
thread_rows (Ctx *c, GString *s, AnnalsQueryResults *r)
{
  g_string_append (s,
                   "<table class=\"threads\"><thead><tr><th scope=\"col\">Subject</th><th scope=\"col\">Started by</th>"
                   "<th scope=\"col\">Replies</th><th scope=\"col\">Participants</th>"
                   "<th scope=\"col\">Last message</th></tr></thead><tbody>");
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *h = &g_array_index (r->hits, AnnalsIndexSummary, i);
    g_autoptr (AnnalsQueryResults) t = *h->thread ? annals_web_thread_of (c, h->list, h->thread) : NULL;
    AnnalsIndexSummary *first = h, *last = h;
    guint count = 1;
    g_autoptr (GHashTable) who = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    if (t != NULL && t->hits->len > 0) {
      count = t->hits->len;
      /* Oldest first by plausible date: the first is the starter. */
      first = &g_array_index (t->hits, AnnalsIndexSummary, 0);
      last = first;
      for (guint k = 0; k < t->hits->len; k++) {
        AnnalsIndexSummary *x = &g_array_index (t->hits, AnnalsIndexSummary, k);
        g_hash_table_add (who, address_of (x->hdr.from));
        if (annals_web_sort_date (x) >= annals_web_sort_date (last))
          last = x;
      }
    } else {
      g_hash_table_add (who, address_of (h->hdr.from));
    }
    g_autofree char *url = annals_web_message_url (c, first);
    g_autofree char *last_url = annals_web_message_url (c, last);
    g_string_append (s, "<tr><td><a href=\"");
    annals_web_esc (s, url);
    g_string_append (s, "\">");
    annals_web_esc (s, *first->hdr.subject ? first->hdr.subject : "(no subject)");
    g_string_append (s, "</a>");
    if (c->list && strcmp (c->list, "all") == 0)
      g_string_append_printf (s, " <span class=\"d\">[%s]</span>", h->list);
    g_string_append (s, "</td><td>");
    from_cell (c, s, first->list, first->hdr.from);
    g_string_append_printf (s, "</td><td class=\"c\">%u</td><td class=\"c\">%u</td><td class=\"d\"><a href=\"",
                            count - 1, g_hash_table_size (who));
    annals_web_esc (s, last_url);
    g_string_append (s, "\">");
    annals_web_date_cell (s, last, 16);
    g_string_append (s, "</a></td></tr>");
  }
  g_string_append (s, "</tbody></table>");
}

static const char *const month_names[]
    = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Answers for an index that is there but fails (damaged: 500, half-made
 * or being rewritten: 503) and returns TRUE; none at all is no failure,
 * the page says "no index yet". */
static gboolean
index_failed (Ctx *c, const GError *error)
{
  if (error == NULL || g_error_matches (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_NO_INDEX))
    return FALSE;
  annals_web_error_page (c, annals_web_search_error_status (error), error->message);
  return TRUE;
}

/* Messages of the list received in a month (month 0: the whole year). */
static guint64
count_received (Ctx *c, int year, int month)
{
  g_autofree char *q = month ? g_strdup_printf ("rt:%04d-%02d..%04d-%02d", year, month, year, month)
                             : g_strdup_printf ("rt:%04d..%04d", year, year);
  AnnalsQueryOptions o = { 0, 0, FALSE, FALSE, TRUE };
  g_autoptr (AnnalsQueryResults) r = annals_query_run ((const char *const *) c->dirs->pdata, c->dirs->len, q, &o, NULL);
  return r ? r->count : 0;
}

/* The years the list received messages in.  The store's first and last
 * records do not tell: an old archive imported after live delivery began
 * comes later in the store with earlier receipt times. */
static gboolean
received_years (Ctx *c, int *from, int *to)
{
  if (c->dirs->len == 0)
    return FALSE;
  gboolean found = FALSE;
  gint64 first = 0, last = 0;
  if (!annals_query_receipt_bounds (c->dirs->pdata[0], &found, &first, &last, NULL) || !found)
    return FALSE;
  g_autoptr (GDateTime) x = g_date_time_new_from_unix_utc (first);
  g_autoptr (GDateTime) y = g_date_time_new_from_unix_utc (last);
  if (x == NULL || y == NULL)
    return FALSE;
  *from = g_date_time_get_year (x);
  *to = MIN (g_date_time_get_year (y), *from + 100);
  return TRUE;
}

/* Pipermail's archive index: each year, its months with their counts. */
static void
month_index (Ctx *c, GString *s)
{
  int from, to;
  if (!received_years (c, &from, &to))
    return;
  g_string_append (s, "<h2>Archive by month</h2><ul class=\"months\">");
  for (int y = to; y >= from; y--) {
    if (count_received (c, y, 0) == 0)
      continue;
    g_string_append_printf (s, "<li><a href=\"%s/%s/%04d/\">%04d</a>:", c->h->prefix, c->list, y, y);
    for (int m = 1; m <= 12; m++) {
      guint64 n = count_received (c, y, m);
      if (n > 0)
        g_string_append_printf (s, " <a href=\"%s/%s/%04d-%02d/\">%s</a>&nbsp;(%" G_GUINT64_FORMAT ")", c->h->prefix,
                                c->list, y, m, month_names[m - 1], n);
    }
    g_string_append (s, "</li>");
  }
  g_string_append (s, "</ul>");
}

void
annals_web_page_year (Ctx *c, int year)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *title = g_strdup_printf ("%s in %04d", c->list, year);
  annals_web_page_start (c, s, title);
  g_string_append_printf (s,
                          "<h1>%s</h1><p>Messages received each month; each month can be downloaded as an mbox "
                          "(mboxrd, gzip).</p><ul class=\"months\">",
                          title);
  guint64 total = 0;
  for (int m = 1; m <= 12; m++) {
    guint64 n = count_received (c, year, m);
    total += n;
    if (n == 0)
      continue;
    g_string_append_printf (s,
                            "<li><a href=\"%s/%s/%04d-%02d/\">%s %04d</a>: %" G_GUINT64_FORMAT " %s, "
                            "<a href=\"%s/%s/%04d-%02d.mbox.gz\">mbox.gz</a></li>",
                            c->h->prefix, c->list, year, m, month_names[m - 1], year, n,
                            n == 1 ? "message" : "messages", c->h->prefix, c->list, year, m);
  }
  g_string_append (s, "</ul>");
  if (total == 0)
    g_string_append (s, "<p>The archive received no messages for this list that year.</p>");
  annals_web_page_end (c, s);
}

void
annals_web_page_month (Ctx *c, int year, int month)
{
  guint64 offset = offset_param (c);
  g_autofree char *q = g_strdup_printf ("rt:%04d-%02d..%04d-%02d", year, month, year, month);
  AnnalsQueryOptions o = { offset, PAGE_SIZE, FALSE, TRUE, FALSE };
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r
      = annals_query_run ((const char *const *) c->dirs->pdata, c->dirs->len, q, &o, &error);
  if (index_failed (c, error))
    return;
  guint64 count = count_received (c, year, month);
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *title = g_strdup_printf ("%s, %s %04d", c->list, month_names[month - 1], year);
  annals_web_page_start (c, s, title);
  g_string_append_printf (s,
                          "<h1>%s</h1><p>%" G_GUINT64_FORMAT " messages received this month, newest threads first. "
                          "<a href=\"%s/%s/%04d-%02d.mbox.gz\">Download them as mbox.gz</a>; "
                          "<a href=\"%s/%s/%04d/\">other months of %04d</a>.</p>",
                          title, count, c->h->prefix, c->list, year, month, c->h->prefix, c->list, year, year);
  if (r == NULL) {
    g_string_append (s, "<p>This list has no index yet: run <code>annals index</code>.</p>");
  } else if (r->hits->len > 0) {
    thread_rows (c, s, r);
    pager (c, s, offset, r->hits->len, r->count, NULL, FALSE);
  }
  annals_web_page_end (c, s);
}

/* A month's messages as mboxrd, gzip, oldest first, within the [web]
 * limits (doc/urls.md). */
void
annals_web_month_mbox (Ctx *c, int year, int month)
{
  g_autofree char *q = g_strdup_printf ("rt:%04d-%02d..%04d-%02d", year, month, year, month);
  guint64 max = annals_web_limit (c, "mbox-max-messages", MBOX_MAX_MESSAGES);
  AnnalsQueryOptions o = { 0, max, FALSE, FALSE, TRUE };
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r
      = annals_query_run ((const char *const *) c->dirs->pdata, c->dirs->len, q, &o, &error);
  if (index_failed (c, error))
    return;
  if (r == NULL) {
    annals_web_error_page (c, 404, "This list has no index yet: run annals index.");
    return;
  }
  /* Newest first from the index; a month reads oldest first. */
  for (guint i = 0, j = r->hits->len; i + 1 < j; i++, j--) {
    AnnalsIndexSummary tmp = g_array_index (r->hits, AnnalsIndexSummary, i);
    g_array_index (r->hits, AnnalsIndexSummary, i) = g_array_index (r->hits, AnnalsIndexSummary, j - 1);
    g_array_index (r->hits, AnnalsIndexSummary, j - 1) = tmp;
  }
  if (r->count > r->hits->len) {
    g_autofree char *note = g_strdup_printf ("the newest %u of %" G_GUINT64_FORMAT " messages; annals search --list "
                                             "%s --format mbox %s gives them all",
                                             r->hits->len, r->count, c->list, q);
    annals_http_header (c->h, "X-Annals-Limit", note);
  }
  g_autofree char *name = g_strdup_printf ("%s-%04d-%02d", c->list, year, month);
  annals_web_mbox_gz (c, r, name);
}

void
annals_web_page_list (Ctx *c)
{
  guint64 offset = offset_param (c);
  AnnalsQueryOptions o = { offset, PAGE_SIZE, FALSE, TRUE, FALSE };
  g_autoptr (GError) error = NULL;
  g_autofree char *term = strcmp (c->list, "all") == 0 ? g_strdup ("") : g_strconcat ("K", c->list, NULL);
  g_autoptr (AnnalsQueryResults) r
      = annals_query_term ((const char *const *) c->dirs->pdata, c->dirs->len, term, &o, FALSE, &error);
  if (index_failed (c, error))
    return;
  g_autoptr (GString) s = g_string_new (NULL);
  annals_web_page_start (c, s, c->list);
  g_string_append_printf (s, "<h1>%s</h1>", c->list);
  if (strcmp (c->list, "all") != 0) {
    g_autofree char *desc = annals_config_list_get (c->config, c->list, "description");
    g_string_append (s, "<p>");
    annals_web_esc (s, desc ? desc : "");
    g_string_append_printf (s, " <a href=\"%s/%s/new.atom\">Atom feed</a></p>", c->h->prefix, c->list);
    if (annals_config_list_get_boolean (c->config, c->list, "closed")) {
      g_autofree char *since = annals_config_list_get (c->config, c->list, "closed-date");
      g_autofree char *why = annals_config_list_get (c->config, c->list, "closed-reason");
      g_string_append (s, "<p><strong>This list is closed");
      if (since != NULL) {
        g_string_append (s, " since ");
        annals_web_esc (s, since);
      }
      g_string_append (s, "</strong>");
      if (why != NULL) {
        g_string_append (s, ": ");
        annals_web_esc (s, why);
      }
      g_string_append (s, ". It takes no more mail; its archive stays here.</p>");
    }
  }
  annals_web_search_form (c, s, NULL);
  g_string_append (s, "<h2>Newest threads</h2>");
  if (r == NULL) {
    g_string_append (s, "<p>This list has no index yet: run <code>annals index</code>.</p>");
  } else {
    thread_rows (c, s, r);
    pager (c, s, offset, r->hits->len, r->count, NULL, FALSE);
  }
  if (strcmp (c->list, "all") != 0 && offset == 0)
    month_index (c, s);
  annals_web_page_end (c, s);
}

/* What the snippet callbacks of one search share: the SHA-256 of each
 * record a text was read from ("list\nnumber" -> 32 bytes), which the
 * snippet made of it is kept under. */
typedef struct {
  Ctx *c;
  const char *q;
  GHashTable *made;
} Snippets;

static char *
hit_key (const AnnalsIndexSummary *hit)
{
  return g_strdup_printf ("%s\n%" G_GUINT64_FORMAT, hit->list, hit->number);
}

/* A hit's new (non-quoted) text, for its snippet. */
static char *
snippet_text (const AnnalsIndexSummary *hit, gpointer data)
{
  Snippets *sn = data;
  guint8 sha256[32];
  char *text = annals_web_message_fresh_text (sn->c, hit, SNIPPET_TEXT_MAX, sha256);
  if (text != NULL)
    g_hash_table_insert (sn->made, hit_key (hit), g_memdup2 (sha256, sizeof sha256));
  return text;
}

/* The snippet a persistent process made for this hit and query before:
 * MSet::snippet is most of a search page's work. */
static char *
snippet_kept (const AnnalsIndexSummary *hit, gpointer data)
{
  Snippets *sn = data;
  return annals_web_kept_snippet (sn->c, hit, sn->q);
}

static void
keep_snippets (Snippets *sn, AnnalsQueryResults *r)
{
  for (guint i = 0; r->snippets != NULL && i < r->hits->len && i < r->snippets->len; i++) {
    AnnalsIndexSummary *m = &g_array_index (r->hits, AnnalsIndexSummary, i);
    const char *snip = g_ptr_array_index (r->snippets, i);
    g_autofree char *key = hit_key (m);
    const guint8 *sha256 = g_hash_table_lookup (sn->made, key);
    if (snip != NULL && sha256 != NULL)
      annals_web_keep_snippet (sn->c, m, sn->q, sha256, snip);
  }
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
  g_autoptr (GHashTable) made = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  Snippets sn = { c, q, made };
  if (!mbox && !atom) {
    o.snippet_text = snippet_text;
    o.snippet_kept = snippet_kept;
    o.snippet_data = &sn;
  }
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r
      = annals_query_run ((const char *const *) c->dirs->pdata, c->dirs->len, q, &o, &error);
  if (r != NULL)
    keep_snippets (&sn, r);
  if (r == NULL) {
    int status = annals_web_search_error_status (error);
    annals_http_status (c->h, status);
    g_autoptr (GString) s = g_string_new (NULL);
    annals_web_page_start (c, s, "Search");
    annals_web_search_form (c, s, q);
    g_string_append (s, "<p role=\"alert\">");
    annals_web_esc (s, error->message);
    g_string_append (s, "</p>");
    if (status == 400)
      g_string_append (s, "<p>See the <a href=\"https://public-inbox.org/meta/_/text/help/\">query language</a>: "
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
                                               "--format mbox gives them all",
                                               r->hits->len, r->count);
      annals_http_header (c->h, "X-Annals-Limit", note);
    }
    annals_web_mbox_gz (c, r, "results");
    return;
  }
  g_autoptr (GString) s = g_string_new (NULL);
  annals_web_page_start (c, s, q);
  annals_web_search_form (c, s, q);
  /* Xapian's estimate is never shown as a count. */
  g_string_append_printf (s, "<h1>Search results</h1><p>%s%" G_GUINT64_FORMAT " %s", r->count_exact ? "" : "about ",
                          r->count, r->count == 1 ? "message" : "messages");
  g_autofree char *qe = g_uri_escape_string (q, NULL, FALSE);
  g_string_append_printf (s, "; <a href=\"?q=%s%s\">%s</a>; <a href=\"?q=%s&amp;x=A\">Atom</a></p>", qe,
                          relevance ? "" : "&amp;r", relevance ? "newest first" : "best match first", qe);
  g_string_append_printf (s,
                          "<form method=\"post\" action=\"?q=%s&amp;x=m\"><input type=\"submit\" "
                          "value=\"download as mbox.gz\">",
                          qe);
  if (r->count > mbox_max) {
    /* The way to the rest, runnable as shown. */
    g_autofree char *quoted = g_shell_quote (q);
    g_string_append_printf (s,
                            " <small>(the first %" G_GUINT64_FORMAT " of these messages, at most %" G_GUINT64_FORMAT
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
