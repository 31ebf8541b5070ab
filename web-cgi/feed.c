/* feed: Atom feeds and mbox.gz downloads; see web.h. */
#include "web-cgi/web.h"
#include "core/mbox.h"
#include "core/zcodec.h"

#include <string.h>

static gboolean
gzip_sink (const guint8 *data, gsize length, gpointer user_data)
{
  return annals_http_write (user_data, data, length);
}

/* Streams the messages as mboxrd, gzip-compressed, as they are read. */
void
annals_web_mbox_gz (Ctx *c, AnnalsQueryResults *r, const char *name)
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
  guint64 max_bytes = annals_web_limit (c, "mbox-max-bytes", MBOX_MAX_BYTES), bytes = 0;
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *m = &g_array_index (r->hits, AnnalsIndexSummary, i);
    AnnalsStore *st = annals_web_store_of (c, m->list, NULL);
    if (st == NULL)
      continue;
    g_string_truncate (out, 0);
    gsize len;
    if (!annals_mbox_append_stored (out, st, m->number, &len, NULL))
      continue;
    /* Bounded: stops before the message that would pass the limit
     * (the first always goes). */
    if (bytes > 0 && bytes + len > max_bytes)
      break;
    bytes += len;
    if (!annals_gzip_writer_write (gz, out->str, out->len))
      break;
  }
  annals_gzip_writer_finish (gz);
}

void
annals_web_atom_feed (Ctx *c, AnnalsQueryResults *r, const char *title, const char *self)
{
  annals_http_header (c->h, "Content-Type", "application/atom+xml; charset=utf-8");
  annals_http_header (c->h, "Cache-Control", "public, max-age=60");
  g_autoptr (GString) s
      = g_string_new ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">");
  g_string_append (s, "<title>");
  annals_web_esc (s, title);
  g_string_append (s, "</title>");
  g_autofree char *home = g_strdup_printf ("%s%s/", c->h->base, c->list);
  g_string_append (s, "<link rel=\"alternate\" type=\"text/html\" href=\"");
  annals_web_esc (s, home);
  g_string_append (s, "\"/><id>");
  annals_web_esc (s, self ? self : home);
  g_string_append (s, "</id>");
  char updated[ANNALS_MESSAGE_ISO_DATE_SIZE];
  gint64 newest = 0;
  for (guint i = 0; i < r->hits->len; i++)
    newest = MAX (newest, g_array_index (r->hits, AnnalsIndexSummary, i).receipt);
  annals_message_iso_date (newest, updated);
  g_string_append_printf (s, "<updated>%s</updated>", updated);
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *m = &g_array_index (r->hits, AnnalsIndexSummary, i);
    g_autofree char *path = annals_web_message_path (c, m);
    g_autofree char *url = g_strdup_printf ("%s%s", c->h->base, path);
    /* Atom wants a date in every entry: the receipt stands in for a
     * missing Date:. */
    char when[ANNALS_MESSAGE_ISO_DATE_SIZE];
    if (!annals_message_iso_date (m->hdr.date, when))
      annals_message_iso_date (m->receipt, when);
    g_string_append (s, "\n<entry><author><name>");
    annals_web_esc_obf (annals_web_row_obfuscates (c, m->list), s, *m->hdr.from ? m->hdr.from : "unknown");
    g_string_append (s, "</name></author><title>");
    annals_web_esc (s, *m->hdr.subject ? m->hdr.subject : "(no subject)");
    g_string_append_printf (s, "</title><updated>%s</updated><link href=\"", when);
    annals_web_esc (s, url);
    g_string_append (s, "\"/><id>");
    annals_web_esc (s, url);
    g_string_append (s, "</id>");
    /* The text, escaped, so a feed reader shows the message. */
    g_autofree char *text = annals_web_message_text (c, m, FEED_TEXT_MAX);
    if (text != NULL) {
      g_string_append (s, "<content type=\"text\">");
      annals_web_esc (s, text);
      g_string_append (s, "</content>");
    }
    g_string_append (s, "</entry>");
  }
  g_string_append (s, "\n</feed>\n");
  annals_http_write (c->h, s->str, s->len);
}

void
annals_web_page_new_atom (Ctx *c)
{
  AnnalsQueryOptions o = { 0, PAGE_SIZE, FALSE, FALSE, FALSE };
  gboolean all = strcmp (c->list, "all") == 0;
  g_autofree char *term = all ? g_strdup ("") : g_strconcat ("K", c->list, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r
      = annals_query_term ((const char *const *) c->dirs->pdata, c->dirs->len, term, &o, FALSE, &error);
  if (r == NULL) {
    /* Only a list never indexed has no feed; a failing index is the
     * server's (500, or 503 while not ready), which a feed reader retries
     * instead of dropping the feed. */
    gboolean none = g_error_matches (error, ANNALS_QUERY_ERROR, ANNALS_QUERY_ERROR_NO_INDEX);
    annals_web_error_page (c, none ? 404 : annals_web_search_error_status (error),
                           none ? "This list has no index yet." : error->message);
    return;
  }
  g_autofree char *self = g_strdup_printf ("%s%s/new.atom", c->h->base, c->list);
  annals_web_atom_feed (c, r, all ? "newest across lists" : c->list, self);
}

void
annals_web_page_thread_atom (Ctx *c, AnnalsIndexSummary *m)
{
  g_autoptr (AnnalsQueryResults) t = annals_web_thread_of (c, m->list, m->thread);
  if (t == NULL) {
    annals_web_error_page (c, 404, "No thread.");
    return;
  }
  g_autofree char *path = annals_web_message_path (c, m);
  g_autofree char *self = g_strdup_printf ("%s%st.atom", c->h->base, path);
  annals_web_atom_feed (c, t, *m->hdr.subject ? m->hdr.subject : "(thread)", self);
}
