/* lookup: finding messages by Message-ID or number, and their URLs; see web.h. */
#include "web-cgi/web.h"

#include <string.h>

static gint
by_number (gconstpointer a, gconstpointer b)
{
  guint64 x = ((const AnnalsIndexSummary *) a)->number, y = ((const AnnalsIndexSummary *) b)->number;
  return x < y ? -1 : x > y;
}

/* Every indexed copy of message_id in list, lowest number first, or
 * NULL when the index has none. */
AnnalsQueryResults *
annals_web_indexed_copies (Ctx *c, const char *list, const char *message_id)
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
  AnnalsStore *st = annals_web_store_of (c, list, NULL);
  g_autoptr (AnnalsStoreMeta) m = st && n < annals_store_count (st) ? annals_store_read_meta (st, n, NULL) : NULL;
  if (m == NULL)
    return FALSE;
  memset (out, 0, sizeof *out);
  out->list = g_strdup (list);
  out->number = n;
  out->hdr.date = m->hdr.date != ANNALS_NO_DATE ? m->hdr.date : m->receipt;
  out->receipt = m->receipt;
  out->thread = g_strdup ("");
  out->hdr.message_id = g_strdup (m->hdr.message_id);
  out->parent = g_strdup (m->hdr.in_reply_to ? m->hdr.in_reply_to : "");
  out->hdr.from = g_strdup (m->hdr.from ? m->hdr.from : "");
  out->hdr.subject = g_strdup (m->hdr.subject ? m->hdr.subject : "");
  return TRUE;
}

/* Whether message n of list is a later copy of a reused Message-ID. */
static gboolean
is_reuse (Ctx *c, const char *list, guint64 n)
{
  AnnalsStore *st = annals_web_store_of (c, list, NULL);
  AnnalsStoreRecord rec;
  return st != NULL && annals_store_read_record (st, n, &rec, NULL) && (rec.flags & ANNALS_STORE_FLAG_REUSED_ID);
}

/* The first archived copy of message_id in list (the lowest number),
 * whatever its Date: says.  The index answers; the store is asked when
 * the index has no copy, or when its lowest is flagged as a reuse (the
 * first copy was redacted, or is not indexed yet). */
gboolean
annals_web_find_message (Ctx *c, const char *list, const char *message_id, AnnalsIndexSummary *out)
{
  g_autoptr (AnnalsQueryResults) r = annals_web_indexed_copies (c, list, message_id);
  if (r != NULL && !is_reuse (c, list, g_array_index (r->hits, AnnalsIndexSummary, 0).number))
    return take_hit (r, g_array_index (r->hits, AnnalsIndexSummary, 0).number, out);
  AnnalsStore *st = annals_web_store_of (c, list, NULL);
  g_autoptr (GArray) found = st ? annals_store_find_message_id (st, message_id, NULL) : NULL;
  if (found == NULL || found->len == 0)
    return FALSE;
  guint64 n = g_array_index (found, guint64, 0);
  return take_hit (r, n, out) || summary_from_store (c, list, n, out);
}

/* Message number n of list (/LIST/_/N/), with its thread when indexed. */
gboolean
annals_web_find_number (Ctx *c, const char *list, guint64 n, AnnalsIndexSummary *out)
{
  AnnalsStore *st = annals_web_store_of (c, list, NULL);
  g_autoptr (AnnalsStoreMeta) m = st && n < annals_store_count (st) ? annals_store_read_meta (st, n, NULL) : NULL;
  if (m == NULL)
    return FALSE;
  g_autoptr (AnnalsQueryResults) r = annals_web_indexed_copies (c, list, m->hdr.message_id);
  return take_hit (r, n, out) || summary_from_store (c, list, n, out);
}

/* Where message m lives, from the site's root: LIST/MSGID/ for the
 * first copy of its Message-ID, LIST/_/N/ for a later one. */
char *
annals_web_message_path (Ctx *c, const AnnalsIndexSummary *m)
{
  if (is_reuse (c, m->list, m->number))
    return g_strdup_printf ("%s/_/%" G_GUINT64_FORMAT "/", m->list, m->number);
  g_autofree char *seg = annals_http_escape_segment (m->hdr.message_id);
  return g_strdup_printf ("%s/%s/", m->list, seg);
}

/* message_path() as a link on the site. */
char *
annals_web_message_url (Ctx *c, const AnnalsIndexSummary *m)
{
  g_autofree char *path = annals_web_message_path (c, m);
  return g_strdup_printf ("%s/%s", c->h->prefix, path);
}
