/* thread-view: thread order, the thread skeleton, /t/ and /T/; see web.h. */
#include "web-cgi/web.h"

#include <string.h>

AnnalsQueryResults *
annals_web_thread_of (Ctx *c, const char *list, const char *thread)
{
  g_autofree char *dir = annals_config_list_dir (c->config, list, NULL, NULL);
  const char *dirs[] = { dir };
  g_autofree char *term = g_strconcat ("G", thread, NULL);
  AnnalsQueryOptions o = { 0, THREAD_MAX, FALSE, FALSE, FALSE };
  return annals_query_term (dirs, 1, term, &o, TRUE, NULL);
}

/* One row of a thread in reading order: a message (hit is its index in
 * the results) or a ghost, a parent that replies name but the archive
 * never had (hit is G_MAXUINT, ghost its Message-ID), kept so its
 * replies stay together under it (JWZ threading's empty containers).
 * A ghost the archive had until it was redacted (the index forgets it,
 * the store keeps its tombstone) is redacted, with its number. */
typedef struct {
  guint hit;
  guint depth;
  char *ghost; /* owned by the row */
  gboolean redacted;
  guint64 number;
} Row;

static void
row_clear (gpointer data)
{
  g_free (((Row *) data)->ghost);
}

/* Ancestors looked up per missing parent: References keeps 500 at most
 * in the index, a page needs no more. */
#define GHOST_CHAIN_MAX 64

#define NO_HIT G_MAXUINT
/* Past this depth a reply is not moved further right: the depth is
 * written as a number instead, so a deep thread stays readable at
 * 360 px. */
#define INDENT_MAX 8
/* Bodies on one page of a thread; the rest are on the next pages. */
#define BODIES_PER_PAGE 100

/* The References of message s, from the store (NULL when unread). */
static char **
references_of (Ctx *c, AnnalsIndexSummary *s)
{
  AnnalsStore *st = annals_web_store_of (c, s->list, NULL);
  g_autoptr (AnnalsStoreMeta) m
      = st && s->number < annals_store_count (st) ? annals_store_read_meta (st, s->number, NULL) : NULL;
  return m && m->hdr.references ? g_strsplit (m->hdr.references, " ", -1) : NULL;
}

/* Marks the ghost rows of order that are redacted messages of list: one
 * pass over the store's redacted entries, only when there are ghosts. */
static void
mark_redacted (Ctx *c, const char *list, GArray *order)
{
  g_autoptr (GHashTable) ghosts = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint k = 0; k < order->len; k++) {
    Row *row = &g_array_index (order, Row, k);
    if (row->ghost != NULL)
      g_hash_table_insert (ghosts, row->ghost, row);
  }
  AnnalsStore *st = g_hash_table_size (ghosts) > 0 ? annals_web_store_of (c, list, NULL) : NULL;
  g_autoptr (GArray) gone = st ? annals_store_find_redacted (st, NULL) : NULL;
  for (guint k = 0; gone != NULL && k < gone->len; k++) {
    guint64 n = g_array_index (gone, guint64, k);
    g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (st, n, NULL);
    Row *row = m ? g_hash_table_lookup (ghosts, m->hdr.message_id) : NULL;
    /* A reused Message-ID names its first copy. */
    if (row == NULL || row->redacted)
      continue;
    row->redacted = TRUE;
    row->number = n;
  }
}

/* Thread order: parents before children, siblings by date; iterative.
 * A missing parent is a ghost, and so is each missing ancestor its
 * first reply's References name before it (JWZ threading). */
static GArray *
thread_order (Ctx *c, AnnalsQueryResults *t)
{
  guint n = t->hits->len;
  g_autoptr (GHashTable) by_id = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++) {
    /* A reused Message-ID names its first copy, whatever the dates. */
    AnnalsIndexSummary *s = &g_array_index (t->hits, AnnalsIndexSummary, i);
    guint had = GPOINTER_TO_UINT (g_hash_table_lookup (by_id, s->hdr.message_id));
    if (had == 0 || g_array_index (t->hits, AnnalsIndexSummary, had - 1).number > s->number)
      g_hash_table_insert (by_id, s->hdr.message_id, GUINT_TO_POINTER (i + 1));
  }
  /* Nodes 0..n-1 are the messages, n.. the ghosts (ghost_ids). */
  g_autoptr (GPtrArray) ghost_ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) ghosts = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) children = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  g_autoptr (GArray) roots = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (children, g_array_new (FALSE, FALSE, sizeof (guint)));
  for (guint i = 0; i < n; i++) {
    AnnalsIndexSummary *s = &g_array_index (t->hits, AnnalsIndexSummary, i);
    guint p = GPOINTER_TO_UINT (g_hash_table_lookup (by_id, s->parent));
    if (p != 0 && p - 1 != i) {
      g_array_append_val (children->pdata[p - 1], i);
    } else if (p == 0 && *s->parent && strcmp (s->parent, s->hdr.message_id) != 0) {
      /* The parent was never archived: a ghost, placed where its first
       * reply is, under the ghosts of the ancestors named before it. */
      g_auto (GStrv) refs = NULL;
      g_autoptr (GHashTable) chain = g_hash_table_new (g_str_hash, g_str_equal);
      gint pos = -1;
      guint child = i;
      const char *id = s->parent;
      for (guint steps = 0;; steps++) {
        guint g = GPOINTER_TO_UINT (g_hash_table_lookup (ghosts, id));
        if (g != 0) {
          g_array_append_val (children->pdata[g - 1], child);
          break;
        }
        char *own = g_strdup (id);
        g_ptr_array_add (ghost_ids, own);
        g_ptr_array_add (children, g_array_new (FALSE, FALSE, sizeof (guint)));
        g = n + ghost_ids->len;
        g_hash_table_insert (ghosts, own, GUINT_TO_POINTER (g));
        g_array_append_val (children->pdata[g - 1], child);
        guint node = g - 1;
        if (steps == 0) {
          refs = references_of (c, s);
          for (pos = refs ? (gint) g_strv_length (refs) : 0; pos-- > 0;)
            if (strcmp (refs[pos], id) == 0)
              break;
        }
        /* The id before it in References, skipping repeats of ids of
         * this chain (a loop would leave it without a root). */
        const char *up = NULL;
        g_hash_table_add (chain, own);
        while (pos > 0 && up == NULL) {
          pos--;
          if (*refs[pos] != '\0' && strcmp (refs[pos], s->hdr.message_id) != 0
              && !g_hash_table_contains (chain, refs[pos]))
            up = refs[pos];
        }
        guint p2 = up ? GPOINTER_TO_UINT (g_hash_table_lookup (by_id, up)) : 0;
        if (up == NULL || steps + 1 >= GHOST_CHAIN_MAX) {
          g_array_append_val (roots, node);
          break;
        }
        if (p2 != 0) {
          g_array_append_val (children->pdata[p2 - 1], node);
          break;
        }
        child = node;
        id = up;
      }
    } else {
      g_array_append_val (roots, i);
    }
  }
  guint nodes = children->len;
  GArray *order = g_array_new (FALSE, FALSE, sizeof (Row));
  g_array_set_clear_func (order, row_clear);
  g_autoptr (GArray) stack = g_array_new (FALSE, FALSE, sizeof (guint) * 2);
  g_autofree gboolean *seen = g_new0 (gboolean, nodes);
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
      Row row = { i < n ? i : NO_HIT, depth, i < n ? NULL : g_strdup (ghost_ids->pdata[i - n]), FALSE, 0 };
      g_array_append_val (order, row);
      GArray *kids = children->pdata[i];
      for (guint k = kids->len; k-- > 0;) {
        guint item[2] = { g_array_index (kids, guint, k), depth + 1 };
        g_array_append_vals (stack, item, 1);
      }
    }
  }
  if (n > 0)
    mark_redacted (c, g_array_index (t->hits, AnnalsIndexSummary, 0).list, order);
  return order;
}

/* The indent of a row: a class per level up to INDENT_MAX (frame.c's
 * CSS), its depth for the browser check. */
static void
indent_attrs (GString *s, guint depth, gboolean current)
{
  g_string_append_printf (s, " class=\"n%u%s\" data-depth=\"%u\"", MIN (depth, INDENT_MAX), current ? " cur" : "",
                          depth);
  if (current)
    g_string_append (s, " aria-current=\"page\"");
}

static void
depth_label (GString *s, guint depth)
{
  if (depth > INDENT_MAX)
    g_string_append_printf (s, "<span class=\"d\">(depth %u)</span> ", depth);
}

static void
ghost_row (Ctx *c, GString *s, const char *list, const Row *row)
{
  g_autofree char *u = annals_web_msg_url (c, list, row->ghost, NULL);
  g_string_append (s, "<span class=\"d\">&lt;");
  annals_web_esc (s, row->ghost);
  g_string_append (s, "&gt;</span> <a href=\"");
  annals_web_esc (s, u);
  g_string_append (s, row->redacted ? "\">removed from the archive</a>" : "\">not in this archive</a>");
}

void
annals_web_render_thread_skeleton (Ctx *c, GString *s, AnnalsIndexSummary *cur, AnnalsQueryResults *t, gboolean full)
{
  g_autoptr (GArray) order = thread_order (c, t);
  guint at = G_MAXUINT;
  for (guint k = 0; cur != NULL && k < order->len; k++) {
    Row *row = &g_array_index (order, Row, k);
    if (row->hit != NO_HIT && g_array_index (t->hits, AnnalsIndexSummary, row->hit).number == cur->number)
      at = k;
  }
  g_string_append_printf (s, "<h2 id=\"thread\">Thread (%u %s)</h2><nav aria-label=\"thread\">", t->hits->len,
                          t->hits->len == 1 ? "message" : "messages");
  /* Previous and next skip ghosts: they have no page to read.  Only a
   * message page (!full) calls them its rel="prev"/"next": it has no
   * pager, and reading on goes message by message in thread order.  On
   * a thread page rel names the pager's pages, which a crawler or a
   * reader's "next page" key must walk. */
  const char *rel_prev = full ? "" : " rel=\"prev\"";
  const char *rel_next = full ? "" : " rel=\"next\"";
  for (guint k = at; at != G_MAXUINT && k-- > 0;) {
    Row *row = &g_array_index (order, Row, k);
    if (row->hit == NO_HIT)
      continue;
    g_autofree char *u = annals_web_message_url (c, &g_array_index (t->hits, AnnalsIndexSummary, row->hit));
    g_string_append_printf (s, "<a%s href=\"", rel_prev);
    annals_web_esc (s, u);
    g_string_append (s, "\">previous</a> ");
    break;
  }
  for (guint k = at + 1; at != G_MAXUINT && k < order->len; k++) {
    Row *row = &g_array_index (order, Row, k);
    if (row->hit == NO_HIT)
      continue;
    g_autofree char *u = annals_web_message_url (c, &g_array_index (t->hits, AnnalsIndexSummary, row->hit));
    g_string_append_printf (s, "<a%s href=\"", rel_next);
    annals_web_esc (s, u);
    g_string_append (s, "\">next</a> ");
    break;
  }
  if (cur != NULL && *cur->parent) {
    g_autofree char *u = annals_web_msg_url (c, cur->list, cur->parent, NULL);
    g_string_append (s, "<a href=\"");
    annals_web_esc (s, u);
    g_string_append (s, "\">parent</a>");
  }
  g_string_append (s, "</nav><ul class=\"th\">");
  for (guint k = 0; k < order->len; k++) {
    Row *row = &g_array_index (order, Row, k);
    if (!full && at != G_MAXUINT && (k + 12 < at || k > at + 12))
      continue;
    if (row->hit == NO_HIT) {
      g_string_append (s, "<li");
      indent_attrs (s, row->depth, FALSE);
      g_string_append (s, ">");
      depth_label (s, row->depth);
      ghost_row (c, s, c->list, row);
      g_string_append (s, "</li>");
      continue;
    }
    AnnalsIndexSummary *m = &g_array_index (t->hits, AnnalsIndexSummary, row->hit);
    char date[40];
    annals_web_fmt_date (m->hdr.date, date, sizeof date);
    g_string_append (s, "<li");
    indent_attrs (s, row->depth, cur != NULL && m->number == cur->number);
    g_string_append (s, ">");
    depth_label (s, row->depth);
    g_autofree char *u = annals_web_message_url (c, m);
    g_string_append (s, "<a href=\"");
    annals_web_esc (s, u);
    g_string_append (s, "\">");
    annals_web_esc (s, *m->hdr.subject ? m->hdr.subject : "(no subject)");
    g_string_append (s, "</a> ");
    annals_web_esc_obf (c->obfuscate, s, m->hdr.from);
    g_string_append_printf (s, " <span class=\"d\">%.16s</span></li>", date);
  }
  g_string_append (s, "</ul>");
}

static gint
by_number (gconstpointer a, gconstpointer b)
{
  guint64 x = (*(Row *const *) a)->number, y = (*(Row *const *) b)->number;
  return x < y ? -1 : x > y;
}

/* "messages 101-153 of 153" and links to the other pages of bodies.
 * The pager stands above and below the bodies; rel (the page's one
 * rel="prev"/"next") goes on one of them. */
static void
thread_pager (GString *s, guint offset, guint shown, guint total, gboolean rel)
{
  if (total <= BODIES_PER_PAGE)
    return;
  g_string_append_printf (s, "<nav aria-label=\"thread pages\"><p>Showing messages %u-%u of %u.", offset + 1,
                          offset + shown, total);
  if (offset > 0) {
    guint from = offset > BODIES_PER_PAGE ? offset - BODIES_PER_PAGE : 0;
    g_string_append_printf (s, " <a href=\"?o=%u\"%s>messages %u-%u</a>", from, rel ? " rel=\"prev\"" : "", from + 1,
                            MIN (from + BODIES_PER_PAGE, total));
  }
  if (offset + shown < total)
    g_string_append_printf (s, " <a href=\"?o=%u\"%s>messages %u-%u</a>", offset + shown, rel ? " rel=\"next\"" : "",
                            offset + shown + 1, MIN (offset + shown + BODIES_PER_PAGE, total));
  g_string_append (s, "</p></nav>");
}

void
annals_web_page_thread (Ctx *c, AnnalsIndexSummary *m, gboolean nested)
{
  g_autoptr (AnnalsQueryResults) t = annals_web_thread_of (c, m->list, m->thread);
  if (t == NULL) {
    annals_web_error_page (c, 404, "No thread for this message.");
    return;
  }
  guint total = t->hits->len;
  const char *o = annals_http_param (c->h, "o");
  guint offset = o ? (guint) MIN (g_ascii_strtoull (o, NULL, 10), total) : 0;
  if (offset >= total)
    offset = 0;
  guint shown = MIN (BODIES_PER_PAGE, total - offset);
  g_autoptr (GString) s = g_string_new (NULL);
  annals_web_page_start (c, s, *m->hdr.subject ? m->hdr.subject : "(thread)");
  g_string_append (s, "<h1>");
  annals_web_esc (s, *m->hdr.subject ? m->hdr.subject : "(no subject)");
  g_string_append_printf (s, " <small>(thread of %u)</small></h1>", total);
  g_string_append_printf (s, "<p>%s view; <a href=\"../%s/\">%s view</a>", nested ? "Nested" : "Flat",
                          nested ? "T" : "t", nested ? "flat" : "nested");
  if (total >= THREAD_MAX)
    g_string_append_printf (s, " (the first %d messages)", THREAD_MAX);
  g_string_append (s, "</p>");
  thread_pager (s, offset, shown, total, TRUE);
  g_autoptr (GArray) order = NULL;
  if (nested) {
    order = thread_order (c, t);
  } else {
    /* By date, each redacted message (from the nested order's ghosts;
     * its Date: is gone) before the first message archived after it. */
    g_autoptr (GArray) nested_order = thread_order (c, t);
    g_autoptr (GArray) gone = g_array_new (FALSE, FALSE, sizeof (Row *));
    for (guint k = 0; k < nested_order->len; k++) {
      Row *row = &g_array_index (nested_order, Row, k);
      if (row->redacted)
        g_array_append_val (gone, row);
    }
    g_array_sort (gone, by_number);
    order = g_array_new (FALSE, FALSE, sizeof (Row));
    g_array_set_clear_func (order, row_clear);
    guint g = 0;
    for (guint i = 0; i <= total; i++) {
      for (; g < gone->len
             && (i == total
                 || g_array_index (gone, Row *, g)->number < g_array_index (t->hits, AnnalsIndexSummary, i).number);
           g++) {
        Row row = *g_array_index (gone, Row *, g);
        row.depth = 0;
        row.ghost = g_strdup (row.ghost);
        g_array_append_val (order, row);
      }
      Row row = { i, 0, NULL, FALSE, 0 };
      if (i < total)
        g_array_append_val (order, row);
    }
  }
  /* Bounded: one page renders BODIES_PER_PAGE bodies (and the ghosts
   * among them); the pager says where the rest are. */
  guint seen = 0;
  for (guint k = 0; k < order->len && seen < offset + shown; k++) {
    Row *row = &g_array_index (order, Row, k);
    if (row->hit == NO_HIT) {
      /* Shown when the next message is: the ghost heads its replies. */
      if (seen < offset)
        continue;
      g_string_append (s, "<div");
      indent_attrs (s, row->depth, FALSE);
      g_string_append (s, "><article class=\"ghost\"><h2>");
      depth_label (s, row->depth);
      ghost_row (c, s, m->list, row);
      g_string_append (s, "</h2>");
      if (row->redacted)
        annals_web_render_tombstone (c, s, m->list, row->number);
      else
        g_string_append (s, "<p>The archive never received this message; the replies to it follow.</p>");
      g_string_append (s, "</article></div><hr>");
      continue;
    }
    if (seen++ < offset)
      continue;
    AnnalsIndexSummary *x = &g_array_index (t->hits, AnnalsIndexSummary, row->hit);
    g_string_append (s, "<div");
    indent_attrs (s, row->depth, FALSE);
    g_string_append (s, ">");
    depth_label (s, row->depth);
    annals_web_render_message (c, s, x, FALSE);
    g_string_append (s, "</div><hr>");
  }
  thread_pager (s, offset, shown, total, FALSE);
  annals_web_render_thread_skeleton (c, s, m, t, TRUE);
  annals_web_page_end (c, s);
}

/* /LIST/MSGID/ for a Message-ID that archived messages name as their
 * parent or in References but that the archive never received: say so
 * and link the messages that reply to it.  FALSE when no message names
 * it (a plain 404). */
gboolean
annals_web_page_ghost (Ctx *c, const char *list, const char *message_id, gboolean page)
{
  g_autofree char *dir = annals_config_list_dir (c->config, list, NULL, NULL);
  g_autofree char *tid = dir ? annals_query_thread_id (dir, message_id, NULL) : NULL;
  g_autoptr (AnnalsQueryResults) t = tid ? annals_web_thread_of (c, list, tid) : NULL;
  if (t == NULL || t->hits->len == 0)
    return FALSE;
  /* Only the page itself is 200: its raw bytes, proof or attachments do
   * not exist. */
  if (!page)
    annals_http_status (c->h, 404);
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *title = g_strdup_printf ("<%s>: not in this archive", message_id);
  annals_web_page_start (c, s, title);
  g_string_append (s, "<h1>");
  annals_web_esc (s, title);
  g_string_append (s, "</h1><p>Messages archived here answer or refer to this message, but the archive never "
                      "received it (it went to another list, or was sent before the archive began).</p>"
                      "<h2>Replies to it</h2><ul>");
  guint replies = 0;
  for (guint i = 0; i < t->hits->len; i++) {
    AnnalsIndexSummary *x = &g_array_index (t->hits, AnnalsIndexSummary, i);
    if (strcmp (x->parent, message_id) != 0)
      continue;
    replies++;
    g_autofree char *u = annals_web_message_url (c, x);
    char date[40];
    annals_web_fmt_date (x->hdr.date, date, sizeof date);
    g_string_append (s, "<li><a href=\"");
    annals_web_esc (s, u);
    g_string_append (s, "\">");
    annals_web_esc (s, *x->hdr.subject ? x->hdr.subject : "(no subject)");
    g_string_append (s, "</a> ");
    annals_web_esc_obf (c->obfuscate, s, x->hdr.from);
    g_string_append_printf (s, " <span class=\"d\">%.16s</span></li>", date);
  }
  if (replies == 0)
    g_string_append (s, "<li>None directly: the messages of the thread below name it in References.</li>");
  g_string_append (s, "</ul>");
  annals_web_render_thread_skeleton (c, s, NULL, t, TRUE);
  annals_web_page_end (c, s);
  return TRUE;
}
