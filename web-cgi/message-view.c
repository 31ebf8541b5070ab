/* message-view: one message, its raw bytes and attachments; see web.h. */
#include "web-cgi/web.h"
#include "core/mime.h"
#include "web-cgi/pages.h"

#include <string.h>

/* Escapes a body; quoted lines dimmed, http(s) links made clickable. */
static void
render_text (Ctx *c, GString *s, const char *text)
{
  g_autofree char *obf = annals_web_obfuscate (c->obfuscate, text);
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

/* Attachment file names for URLs and Content-Disposition's ASCII
 * fallback: one '_' for each other character.  per_byte: one for each
 * byte, as links made before did ("Proc__s" for "Procès"). */
static char *
safe_name_as (const char *name, guint index, gboolean per_byte)
{
  GString *s = g_string_new (NULL);
  gboolean chars = !per_byte && name != NULL && g_utf8_validate (name, -1, NULL);
  for (const char *p = name ? name : ""; *p && s->len < 100; p = chars ? g_utf8_next_char (p) : p + 1)
    g_string_append_c (s, g_ascii_isalnum (*p) || *p == '.' || *p == '-' || *p == '_' ? *p : '_');
  if (s->len == 0 || s->str[0] == '.')
    g_string_prepend (s, "part");
  char number[16];
  g_snprintf (number, sizeof number, "%u-", index);
  g_string_prepend (s, number);
  return g_string_free (s, FALSE);
}

static char *
safe_name (const char *name, guint index)
{
  return safe_name_as (name, index, FALSE);
}

/* Content-Disposition for a download: the ASCII name (safe, after its
 * "N-"), and the name as written in RFC 5987's form (RFC 6266), which
 * browsers prefer; path separators and controls never pass. */
static char *
disposition (const char *name, const char *safe)
{
  GString *d = g_string_new ("attachment; filename=\"");
  g_string_append (d, safe + strcspn (safe, "-") + 1);
  g_string_append_c (d, '"');
  if (name == NULL || !g_utf8_validate (name, -1, NULL))
    return g_string_free (d, FALSE);
  g_string_append (d, "; filename*=UTF-8''");
  glong chars = 0;
  for (const char *p = name; *p && chars < 100; p = g_utf8_next_char (p), chars++) {
    const char *next = g_utf8_next_char (p);
    for (const char *b = p; b < next; b++) {
      guchar c = (guchar) *b;
      if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
        g_string_append_c (d, '_');
      else if (g_ascii_isalnum (c) || strchr ("!#$&+-.^_`|~", c) != NULL)
        g_string_append_c (d, (char) c);
      else
        g_string_append_printf (d, "%%%02X", c);
    }
  }
  return g_string_free (d, FALSE);
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

/* Keeps data (of the record with this SHA-256) under key, which it takes. */
static void
body_cache_put (char *key, const guint8 *sha256, const char *data, gsize len)
{
  if (body_cache_bytes + len > body_cache_max) {
    /* Full: start over rather than track recency; bodies are cheap to
     * render again and the cache refills with what is read now. */
    g_hash_table_remove_all (body_cache);
    body_cache_bytes = 0;
  }
  if (len > body_cache_max / 4) {
    g_free (key);
    return;
  }
  CachedBody *b = g_new (CachedBody, 1);
  memcpy (b->sha256, sha256, 32);
  b->html = g_memdup2 (data, len);
  b->len = len;
  g_hash_table_replace (body_cache, key, b);
  body_cache_bytes += len;
}

/* The parts of a message: text in <pre>, attachments as links. */
static void
render_body (Ctx *c, GString *s, GBytes *raw, const char *url)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (raw, &len);
  g_autoptr (GPtrArray) parts = annals_mime_parts (d, len);
  guint64 max = annals_web_limit (c, "text-max-bytes", TEXT_MAX_BYTES);
  for (guint i = 0; i < parts->len; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    if (p->forwarded != NULL) { /* who wrote the forwarded message, before its text */
      g_string_append (s, "<p class=\"d\">Forwarded message:</p><pre>");
      render_text (c, s, p->forwarded);
      g_string_append (s, "</pre>");
    }
    if (p->shown) {
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
        annals_web_esc (s, url);
        g_string_append (s, "raw\">raw message</a>.</p>");
      } else {
        render_text (c, s, p->text);
        g_string_append (s, "</pre>");
      }
    } else if (p->attachment || p->text == NULL) {
      g_autofree char *name = safe_name (p->filename, i);
      g_string_append (s, "<p>Attachment: <a href=\"");
      annals_web_esc (s, url);
      annals_web_esc (s, name);
      g_string_append (s, "\" download>");
      annals_web_esc (s, p->filename ? p->filename : name);
      g_string_append_printf (s, "</a> <span class=\"d\">(%s, %" G_GSIZE_FORMAT " bytes encoded)</span></p>",
                              p->content_type, p->body_length);
    }
  }
}

/* How to answer on the list, as public-inbox shows it: a mailto: with
 * In-Reply-To and the subject, where the list has an address
 * ([list NAME] address in annals.conf). */
static void
reply_link (Ctx *c, GString *s, const AnnalsIndexSummary *m)
{
  g_autofree char *address = annals_config_list_get (c->config, m->list, "address");
  if (address == NULL || *address == '\0')
    return;
  g_autofree char *irt = g_strdup_printf ("<%s>", m->hdr.message_id);
  g_autofree char *subject = g_ascii_strncasecmp (m->hdr.subject, "re:", 3) == 0
                                 ? g_strdup (m->hdr.subject)
                                 : g_strconcat ("Re: ", m->hdr.subject, NULL);
  g_autofree char *to = g_uri_escape_string (address, "@", FALSE);
  g_autofree char *irt_e = g_uri_escape_string (irt, NULL, FALSE);
  g_autofree char *subject_e = g_uri_escape_string (subject, NULL, FALSE);
  g_autofree char *href = g_strdup_printf ("mailto:%s?In-Reply-To=%s&subject=%s", to, irt_e, subject_e);
  g_string_append (s, " <a href=\"");
  annals_web_esc (s, href);
  g_string_append (s, "\">reply on the list</a>");
}

/* The text of message m for a feed (new string, at most max bytes, cut
 * on a character), or NULL when it cannot be read (redacted). */
char *
annals_web_message_text (Ctx *c, const AnnalsIndexSummary *m, gsize max)
{
  AnnalsStore *st = annals_web_store_of (c, m->list, NULL);
  AnnalsStoreRecord rec;
  if (st == NULL || !annals_store_read_record (st, m->number, &rec, NULL) || rec.type != ANNALS_STORE_RECORD_MESSAGE
      || rec.raw_size > annals_web_limit (c, "message-max-bytes", MESSAGE_MAX_BYTES))
    return NULL;
  g_autoptr (GBytes) raw = annals_store_read (st, m->number, &rec, NULL);
  if (raw == NULL)
    return NULL;
  gsize len;
  const guint8 *d = g_bytes_get_data (raw, &len);
  g_autoptr (GPtrArray) parts = annals_mime_parts (d, len);
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < parts->len && out->len < max; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    if (!p->shown)
      continue;
    if (out->len > 0)
      g_string_append (out, "\n");
    g_string_append (out, p->text);
  }
  if (out->len > max) {
    const char *cut = g_utf8_find_prev_char (out->str, out->str + max + 1);
    g_string_truncate (out, cut ? (gsize) (cut - out->str) : 0);
  }
  g_autofree char *text = g_string_free (out, FALSE);
  return annals_web_obfuscate (annals_web_row_obfuscates (c, m->list), text);
}

char *
annals_web_message_fresh_text (Ctx *c, const AnnalsIndexSummary *m, gsize max, guint8 *sha256)
{
  AnnalsStore *st = annals_web_store_of (c, m->list, NULL);
  AnnalsStoreRecord rec;
  if (st == NULL || !annals_store_read_record (st, m->number, &rec, NULL) || rec.type != ANNALS_STORE_RECORD_MESSAGE)
    return NULL;
  if (sha256 != NULL)
    memcpy (sha256, rec.sha256, 32);
  /* Search pages show the same messages again and again: a persistent
   * process keeps their new text beside the rendered bodies, checked
   * against the record's hash like them (a redaction changes it). */
  g_autofree char *key = body_cache == NULL
                             ? NULL
                             : g_strdup_printf ("fresh\n%s\n%s\n%" G_GUINT64_FORMAT "\n%d\n%" G_GSIZE_FORMAT, c->root,
                                                m->list, m->number, annals_web_row_obfuscates (c, m->list), max);
  CachedBody *cached = key ? g_hash_table_lookup (body_cache, key) : NULL;
  if (cached != NULL && memcmp (cached->sha256, rec.sha256, 32) == 0)
    return g_strndup (cached->html, cached->len);
  g_autofree char *text = annals_web_message_text (c, m, max);
  if (text == NULL)
    return NULL;
  g_autoptr (GString) fresh = g_string_new (NULL);
  g_autoptr (GString) quoted = g_string_new (NULL);
  annals_mime_split_quoted (text, fresh, quoted);
  if (key != NULL)
    body_cache_put (g_steal_pointer (&key), rec.sha256, fresh->str, fresh->len);
  return g_strdup (fresh->str);
}

static char *
snippet_key (Ctx *c, const AnnalsIndexSummary *m, const char *q)
{
  return g_strdup_printf ("snippet\n%s\n%s\n%" G_GUINT64_FORMAT "\n%d\n%s", c->root, m->list, m->number,
                          annals_web_row_obfuscates (c, m->list), q);
}

char *
annals_web_kept_snippet (Ctx *c, const AnnalsIndexSummary *m, const char *q)
{
  if (body_cache == NULL)
    return NULL;
  g_autofree char *key = snippet_key (c, m, q);
  CachedBody *kept = g_hash_table_lookup (body_cache, key);
  if (kept == NULL)
    return NULL;
  /* Only while the record is the one the snippet was made from: a
   * redaction changes it. */
  AnnalsStore *st = annals_web_store_of (c, m->list, NULL);
  AnnalsStoreRecord rec;
  if (st == NULL || !annals_store_read_record (st, m->number, &rec, NULL) || rec.type != ANNALS_STORE_RECORD_MESSAGE
      || memcmp (kept->sha256, rec.sha256, 32) != 0)
    return NULL;
  return g_strndup (kept->html, kept->len);
}

void
annals_web_keep_snippet (Ctx *c, const AnnalsIndexSummary *m, const char *q, const guint8 *sha256, const char *snippet)
{
  if (body_cache != NULL)
    body_cache_put (snippet_key (c, m, q), sha256, snippet, strlen (snippet));
}

void
annals_web_render_tombstone (Ctx *c, GString *s, const char *list, guint64 number)
{
  AnnalsStore *st = annals_web_store_of (c, list, NULL);
  guint64 notice;
  g_auto (AnnalsStoreRedaction) red = { 0 };
  g_string_append (s, "<p class=\"tomb\" role=\"note\">This message was removed from the archive");
  if (st && annals_store_find_redaction (st, number, &notice, NULL)
      && annals_store_read_redaction (st, notice, &red, NULL)) {
    char when[40];
    annals_web_fmt_date (red.time, when, sizeof when);
    g_string_append_printf (s, " on %s (log entry %" G_GUINT64_FORMAT "). Reason: ", when, notice);
    annals_web_esc (s, red.reason);
  }
  g_string_append (s, ". Its hash stays in the transparency log.</p>");
}

void
annals_web_render_message (Ctx *c, GString *s, AnnalsIndexSummary *m, gboolean heading)
{
  g_autoptr (GError) error = NULL;
  AnnalsStore *st = annals_web_store_of (c, m->list, &error);
  g_autoptr (AnnalsStoreMeta) meta = st ? annals_store_read_meta (st, m->number, NULL) : NULL;
  AnnalsStoreRecord rec;
  g_autofree char *url = annals_web_message_url (c, m);
  g_autofree char *key = NULL;
  CachedBody *cached = NULL;
  /* With a cache, the record's header decides whether the body kept is
   * still this message's; a miss (or no cache) reads the message, which
   * also fails for a redacted one. */
  gboolean have_record = st != NULL && annals_store_read_record (st, m->number, &rec, NULL);
  /* Bounded: a message larger than this is not decoded for a page. */
  gboolean too_large = have_record && rec.type == ANNALS_STORE_RECORD_MESSAGE
                       && rec.raw_size > annals_web_limit (c, "message-max-bytes", MESSAGE_MAX_BYTES);
  if (have_record && !too_large && body_cache != NULL && rec.type == ANNALS_STORE_RECORD_MESSAGE) {
    /* The URL is in the body's attachment links, the limit decides
     * where the text is cut. */
    key = g_strdup_printf ("%s\n%s\n%" G_GUINT64_FORMAT "\n%d\n%" G_GUINT64_FORMAT, c->root, url, m->number,
                           c->obfuscate, annals_web_limit (c, "text-max-bytes", TEXT_MAX_BYTES));
    cached = g_hash_table_lookup (body_cache, key);
    if (cached != NULL && memcmp (cached->sha256, rec.sha256, 32) != 0)
      cached = NULL;
  }
  g_autoptr (GBytes) raw
      = st != NULL && cached == NULL && !too_large ? annals_store_read (st, m->number, &rec, &error) : NULL;
  g_string_append (s, heading ? "<article><h1>" : "<article><h2>");
  annals_web_esc (s, *m->hdr.subject ? m->hdr.subject : "(no subject)");
  g_string_append (s, heading ? "</h1>" : "</h2>");
  if (raw == NULL && cached == NULL && !too_large) {
    annals_web_render_tombstone (c, s, m->list, m->number);
    g_string_append (s, "</article>");
    return;
  }
  char sent[40], received[40];
  annals_web_fmt_date (m->hdr.date, sent, sizeof sent);
  annals_web_fmt_date (m->receipt, received, sizeof received);
  /* A Date: far after the receipt is the sender's clock: said so, and
   * not what the lists sort by. */
  g_autofree char *claimed
      = annals_web_sort_date (m) != m->hdr.date
            ? g_strdup_printf ("%s (claimed by the sender: later than the archive received it)", sent)
            : NULL;
  g_string_append (s, "<table class=\"hdr\">");
  struct {
    const char *name, *value;
  } rows[] = { { "From", meta ? meta->hdr.from : m->hdr.from },
               { "To", meta ? meta->hdr.to : NULL },
               { "Cc", meta ? meta->hdr.cc : NULL },
               { "Date", claimed ? claimed : sent },
               { "Received", received },
               { "Message-ID", m->hdr.message_id },
               { "List-Id", meta ? meta->hdr.list_id : NULL } };
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++) {
    if (rows[i].value == NULL || !*rows[i].value)
      continue;
    g_string_append_printf (s, "<tr><th scope=\"row\">%s</th><td>", rows[i].name);
    if (i < 3)
      annals_web_esc_obf (c->obfuscate, s, rows[i].value);
    else
      annals_web_esc (s, rows[i].value);
    g_string_append (s, "</td></tr>");
  }
  /* One per message on a thread page: each landmark has its own name. */
  g_string_append_printf (s, "</table><nav aria-label=\"message %" G_GUINT64_FORMAT "\">", m->number);
  g_string_append (s, "<a href=\"");
  annals_web_esc (s, url);
  g_string_append (s, "raw\">raw</a> <a href=\"");
  annals_web_esc (s, url);
  g_string_append (s, "proof\">proof</a> <a href=\"");
  annals_web_esc (s, url);
  g_string_append (s, "t/#thread\">thread</a> <a href=\"");
  annals_web_esc (s, url);
  g_string_append (s, "t.mbox.gz\">thread mbox.gz</a>");
  reply_link (c, s, m);
  g_string_append (s, "</nav>");
  if (too_large) {
    g_string_append_printf (s,
                            "<p class=\"tomb\" role=\"note\">This message is %" G_GUINT64_FORMAT
                            " bytes, too large to show here: the <a href=\"",
                            rec.raw_size);
    annals_web_esc (s, url);
    g_string_append_printf (
        s, "raw\">raw message</a> has every byte (or <code>annals cat %s %" G_GUINT64_FORMAT "</code>).</p>", m->list,
        m->number);
  } else if (cached != NULL) {
    g_string_append_len (s, cached->html, (gssize) cached->len);
  } else if (body_cache == NULL) {
    render_body (c, s, raw, url);
  } else {
    gsize from = s->len;
    render_body (c, s, raw, url);
    gsize len = s->len - from;
    if (key != NULL)
      body_cache_put (g_steal_pointer (&key), rec.sha256, s->str + from, len);
  }
  g_string_append (s, "</article>");
}

/* The other messages that carry m's Message-ID, each at its own
 * address: a reused id must not hide what else was archived under it. */
static void
other_copies (Ctx *c, GString *s, AnnalsIndexSummary *m)
{
  g_autoptr (AnnalsQueryResults) r = annals_web_indexed_copies (c, m->list, m->hdr.message_id);
  if (r == NULL || r->hits->len < 2)
    return;
  g_string_append (s, "<section aria-label=\"copies\"><p>Other messages used this Message-ID:</p><ul>");
  for (guint i = 0; i < r->hits->len; i++) {
    AnnalsIndexSummary *x = &g_array_index (r->hits, AnnalsIndexSummary, i);
    if (x->number == m->number)
      continue;
    char date[40];
    annals_web_fmt_date (x->receipt, date, sizeof date);
    g_autofree char *u = annals_web_message_url (c, x);
    g_string_append_printf (s, "<li>%s message %" G_GUINT64_FORMAT ", received %s: <a href=\"",
                            x->number < m->number ? "the first," : "later,", x->number, date);
    annals_web_esc (s, u);
    g_string_append (s, "\">");
    annals_web_esc (s, *x->hdr.subject ? x->hdr.subject : "(no subject)");
    g_string_append (s, "</a> ");
    annals_web_esc_obf (c->obfuscate, s, x->hdr.from);
    g_string_append (s, "</li>");
  }
  g_string_append (s, "</ul></section>");
}

void
annals_web_page_message (Ctx *c, AnnalsIndexSummary *m)
{
  AnnalsStoreRecord rec;
  AnnalsStore *st = annals_web_store_of (c, m->list, NULL);
  if (st && annals_store_read_record (st, m->number, &rec, NULL) && rec.type != ANNALS_STORE_RECORD_MESSAGE)
    annals_http_status (c->h, 410);
  g_autoptr (GString) s = g_string_new (NULL);
  annals_web_page_start (c, s, *m->hdr.subject ? m->hdr.subject : "(no subject)");
  annals_web_render_message (c, s, m, TRUE);
  other_copies (c, s, m);
  g_autoptr (AnnalsQueryResults) t = *m->thread ? annals_web_thread_of (c, m->list, m->thread) : NULL;
  if (t != NULL)
    annals_web_render_thread_skeleton (c, s, m, t, FALSE);
  annals_web_page_end (c, s);
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

/* Raw messages up to this size are read whole; larger ones are streamed
 * from the pack in pieces (a 200 MB message must not take 200 MB). */
#define RAW_WHOLE_MAX ((guint64) 1024 * 1024)

/* UTF-8 checked piece by piece: a character cut between two pieces is
 * carried over to the next. */
typedef struct {
  gboolean valid;
  guint8 carry[4];
  gsize ncarry, need; /* bytes carried, and the length of their character */
} Utf8Check;

static gsize
utf8_length (guint8 lead)
{
  return lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
}

static gboolean
utf8_piece (const guint8 *data, gsize len, gpointer user_data)
{
  Utf8Check *u = user_data;
  gsize i = 0;
  if (u->valid && u->ncarry > 0) {
    gsize take = MIN (len, u->need - u->ncarry);
    memcpy (u->carry + u->ncarry, data, take);
    u->ncarry += take;
    i = take;
    if (u->ncarry == u->need) {
      u->valid = g_utf8_validate_len ((const char *) u->carry, u->need, NULL);
      u->ncarry = 0;
    }
  }
  if (!u->valid || i >= len)
    return TRUE;
  const char *end;
  if (g_utf8_validate_len ((const char *) data + i, len - i, &end))
    return TRUE;
  gsize at = (gsize) ((const guint8 *) end - data), rest = len - at;
  gsize need = utf8_length (data[at]);
  gboolean cut = need > rest;
  for (gsize k = 1; cut && k < rest; k++)
    cut = (data[at + k] & 0xc0) == 0x80;
  if (!cut) {
    u->valid = FALSE;
    return TRUE;
  }
  memcpy (u->carry, data + at, rest);
  u->ncarry = rest;
  u->need = need;
  return TRUE;
}

static gboolean
raw_piece (const guint8 *data, gsize len, gpointer user_data)
{
  return annals_http_write (user_data, data, len);
}

void
annals_web_page_raw (Ctx *c, AnnalsIndexSummary *m)
{
  g_autoptr (GError) error = NULL;
  AnnalsStore *st = annals_web_store_of (c, m->list, &error);
  AnnalsStoreRecord rec;
  /* The record's header decides the ETag: a revalidation reads nothing
   * more. */
  if (st == NULL || !annals_store_read_record (st, m->number, &rec, &error)
      || rec.type != ANNALS_STORE_RECORD_MESSAGE) {
    annals_web_error_page (c, 410, "This message was redacted; its hash stays in the transparency log.");
    return;
  }
  g_autofree char *etag = record_etag (&rec, "");
  g_autoptr (GBytes) raw = NULL;
  gboolean utf8;
  if (rec.raw_size <= RAW_WHOLE_MAX) {
    raw = annals_store_read (st, m->number, &rec, &error);
    utf8 = raw != NULL && g_utf8_validate (g_bytes_get_data (raw, NULL), (gssize) g_bytes_get_size (raw), NULL);
  } else {
    /* Its charset first, from one streamed pass. */
    Utf8Check check = { TRUE };
    raw = annals_store_read_to (st, m->number, &rec, utf8_piece, &check, &error) ? g_bytes_new (NULL, 0) : NULL;
    utf8 = check.valid && check.ncarry == 0;
  }
  if (raw == NULL) {
    annals_web_error_page (c, 410, "This message was redacted; its hash stays in the transparency log.");
    return;
  }
  annals_http_header (c->h, "Content-Type", utf8 ? "text/plain; charset=utf-8" : "text/plain");
  annals_http_header (c->h, "Cache-Control", MESSAGE_CACHE);
  annals_http_header (c->h, "X-Content-Type-Options", "nosniff");
  annals_http_last_modified (c->h, rec.receipt);
  if (annals_http_not_modified (c->h, etag))
    return;
  g_autofree char *clen = g_strdup_printf ("%" G_GUINT64_FORMAT, rec.raw_size);
  annals_http_header (c->h, "Content-Length", clen);
  if (rec.raw_size <= RAW_WHOLE_MAX) {
    annals_http_write (c->h, g_bytes_get_data (raw, NULL), g_bytes_get_size (raw));
    return;
  }
  /* Headers are out: a failure now can only cut the body short, which
   * the client sees against Content-Length. */
  annals_http_begin (c->h);
  if (!c->h->head)
    annals_store_read_to (st, m->number, &rec, raw_piece, c->h, NULL);
}

void
annals_web_page_attachment (Ctx *c, AnnalsIndexSummary *m, const char *seg)
{
  guint index = (guint) g_ascii_strtoull (seg, NULL, 10);
  AnnalsStore *st = annals_web_store_of (c, m->list, NULL);
  AnnalsStoreRecord rec;
  g_autoptr (GBytes) raw = st ? annals_store_read (st, m->number, &rec, NULL) : NULL;
  if (raw == NULL) {
    annals_web_error_page (c, st && annals_store_read_record (st, m->number, &rec, NULL) ? 410 : 404,
                           "No such attachment: the message was redacted, or is not in this archive.");
    return;
  }
  gsize len;
  const guint8 *d = g_bytes_get_data (raw, &len);
  g_autoptr (GPtrArray) parts = annals_mime_parts (d, len);
  if (index >= parts->len) {
    annals_web_error_page (c, 404, "No such attachment.");
    return;
  }
  AnnalsMimePart *p = parts->pdata[index];
  g_autofree char *name = safe_name (p->filename, index);
  g_autofree char *old_name = safe_name_as (p->filename, index, TRUE);
  if (strcmp (name, seg) != 0 && strcmp (old_name, seg) != 0) {
    annals_web_error_page (c, 404, "No such attachment.");
    return;
  }
  g_autoptr (GBytes) body = annals_mime_part_decode (p);
  /* Never rendered by the browser: a download, whatever it claims to be. */
  annals_http_header (c->h, "Content-Type", "application/octet-stream");
  g_autofree char *disp = disposition (p->filename, name);
  annals_http_header (c->h, "Content-Disposition", disp);
  annals_http_header (c->h, "X-Content-Type-Options", "nosniff");
  annals_http_header (c->h, "Cache-Control", MESSAGE_CACHE);
  g_autofree char *etag = record_etag (&rec, seg);
  if (annals_http_not_modified (c->h, etag))
    return;
  annals_http_write (c->h, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}
