/* thread-view: thread order, the thread skeleton, /t/ and /T/; see web.h. */
#include "web.h"

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

void
annals_web_render_thread_skeleton (Ctx *c, GString *s, AnnalsIndexSummary *cur, AnnalsQueryResults *t, gboolean full)
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
    g_autofree char *u = annals_web_message_url (c, p);
    g_string_append (s, "<a rel=\"prev\" href=\"");
    annals_web_esc (s, u);
    g_string_append (s, "\">previous</a> ");
  }
  if (at != G_MAXUINT && at + 1 < order->len) {
    AnnalsIndexSummary *n = &g_array_index (t->hits, AnnalsIndexSummary, g_array_index (order, guint, at + 1));
    g_autofree char *u = annals_web_message_url (c, n);
    g_string_append (s, "<a rel=\"next\" href=\"");
    annals_web_esc (s, u);
    g_string_append (s, "\">next</a> ");
  }
  if (*cur->parent) {
    g_autofree char *u = annals_web_msg_url (c, cur->list, cur->parent, NULL);
    g_string_append (s, "<a href=\"");
    annals_web_esc (s, u);
    g_string_append (s, "\">parent</a>");
  }
  g_string_append (s, "</nav><ul>");
  for (guint k = 0; k < order->len; k++) {
    AnnalsIndexSummary *m = &g_array_index (t->hits, AnnalsIndexSummary, g_array_index (order, guint, k));
    guint depth = g_array_index (depths, guint, k);
    if (!full && at != G_MAXUINT && (k + 12 < at || k > at + 12))
      continue;
    char date[40];
    annals_web_fmt_date (m->date, date, sizeof date);
    g_string_append_printf (s, "<li style=\"margin-left:%ume\"%s>", MIN (depth, 12),
                            m->number == cur->number ? " class=\"cur\" aria-current=\"page\"" : "");
    g_autofree char *u = annals_web_message_url (c, m);
    g_string_append (s, "<a href=\"");
    annals_web_esc (s, u);
    g_string_append (s, "\">");
    annals_web_esc (s, *m->subject ? m->subject : "(no subject)");
    g_string_append (s, "</a> ");
    annals_web_esc_obf (c->obfuscate, s, m->from);
    g_string_append_printf (s, " <span class=\"d\">%.16s</span></li>", date);
  }
  g_string_append (s, "</ul>");
}


void
annals_web_page_thread (Ctx *c, AnnalsIndexSummary *m, gboolean nested)
{
  g_autoptr (AnnalsQueryResults) t = annals_web_thread_of (c, m->list, m->thread);
  if (t == NULL) {
    annals_web_error_page (c, 404, "No thread for this message.");
    return;
  }
  g_autoptr (GString) s = g_string_new (NULL);
  annals_web_page_start (c, s, *m->subject ? m->subject : "(thread)");
  g_string_append (s, "<h1>");
  annals_web_esc (s, *m->subject ? m->subject : "(no subject)");
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
    annals_web_render_message (c, s, x, FALSE);
    g_string_append (s, "</div><hr>");
  }
  annals_web_render_thread_skeleton (c, s, m, t, TRUE);
  annals_web_page_end (c, s);
}
