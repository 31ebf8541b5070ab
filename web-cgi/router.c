/* router: URL to page (doc/urls.md); see web.h. */
#include "web-cgi/web.h"
#include "web-cgi/pages.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
  char *bare = annals_message_id_strip (mid);
  g_free (mid);
  return bare;
}

/* Whether the list's index knows id as a parent that replies name
 * (a ghost, which has a page as a message has). */
static gboolean
ghost_known (Ctx *c, const char *list, const char *id)
{
  g_autofree char *dir = annals_config_list_dir (c->config, list, NULL, NULL);
  g_autofree char *tid = dir ? annals_query_thread_id (dir, id, NULL) : NULL;
  return tid != NULL;
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
  gboolean thread_page = action != NULL
                         && (strcmp (action, "t") == 0 || strcmp (action, "T") == 0 || strcmp (action, "t.mbox.gz") == 0
                             || strcmp (action, "t.atom") == 0);
  if (thread_page && *m->thread == '\0') {
    /* Only in the store: redacted (its tombstone says so), or not
     * indexed yet. */
    annals_web_page_message (c, m);
  } else if (action == NULL) {
    redirect (c, base);
  } else if (*action == '\0') {
    annals_web_page_message (c, m);
  } else if (strcmp (action, "raw") == 0) {
    annals_web_page_raw (c, m);
  } else if ((strcmp (action, "t") == 0 || strcmp (action, "T") == 0) && after != NULL && *after == '\0') {
    annals_web_page_thread (c, m, action[0] == 't');
  } else if (strcmp (action, "t") == 0 || strcmp (action, "T") == 0) {
    g_autofree char *to = g_strdup_printf ("%s%s/", base, action);
    redirect (c, to);
  } else if (strcmp (action, "t.mbox.gz") == 0) {
    g_autoptr (AnnalsQueryResults) t = annals_web_thread_of (c, m->list, m->thread);
    if (t == NULL)
      annals_web_error_page (c, 404, "No thread.");
    else
      annals_web_mbox_gz (c, t, "thread");
  } else if (strcmp (action, "t.atom") == 0) {
    annals_web_page_thread_atom (c, m);
  } else if (strcmp (action, "proof") == 0) {
    annals_web_page_proof (c, m);
  } else if (g_ascii_isdigit (action[0])) {
    annals_web_page_attachment (c, m, action);
  } else {
    annals_web_error_page (c, 404, "No such page for this message.");
  }
}

static void
route (Ctx *c)
{
  AnnalsHttp *h = c->h;
  if (strcmp (h->method, "OTHER") == 0) {
    annals_http_header (h, "Allow", "GET, HEAD, POST");
    annals_web_error_page (c, 405, "Only GET, HEAD and POST are served.");
    return;
  }
  if (strlen (h->path) > MAX_PATH) {
    annals_web_error_page (c, 414, "The address is too long.");
    return;
  }
  if (strlen (h->query) > 2 * MAX_QUERY) {
    annals_web_error_page (c, 413, "The query string is longer than 8 KiB.");
    return;
  }
  if (strcmp (h->path, "/") == 0) {
    annals_web_page_lists (c);
    return;
  }
  if (strcmp (h->path, "/about/") == 0) {
    annals_web_page_about (c, NULL);
    return;
  }
  if (strcmp (h->path, "/about/vkey") == 0 || strcmp (h->path, "/log/site-checkpoint") == 0) {
    annals_web_page_site_file (c, strrchr (h->path, '/') + 1);
    return;
  }
  /* Segments, still percent-encoded. */
  g_auto (GStrv) seg = g_strsplit (h->path + 1, "/", 4);
  guint n = g_strv_length (seg);
  const char *list = seg[0];
  gboolean all = strcmp (list, "all") == 0;
  if (!all && !annals_config_has_list (c->config, list)) {
    annals_web_error_page (c, 404, "There is no such list here.");
    return;
  }
  c->list = list;
  c->dirs = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lists = annals_config_lists (c->config);
  for (char **l = lists; *l; l++)
    if (all || strcmp (*l, list) == 0)
      g_ptr_array_add (c->dirs, annals_config_list_dir (c->config, *l, NULL, NULL));
  c->obfuscate = !all && annals_web_list_obfuscates (c, list);
  if (n == 1) {
    g_autofree char *to = g_strdup_printf ("/%s/", list);
    redirect (c, to);
    return;
  }
  if (n == 2 && seg[1][0] == '\0') {
    const char *q = annals_http_param (h, "q");
    if (q != NULL && *q != '\0')
      annals_web_page_search (c, q);
    else
      annals_web_page_list (c);
    return;
  }
  if (n == 2 && strcmp (seg[1], "new.atom") == 0) {
    annals_web_page_new_atom (c);
    return;
  }
  if (all) {
    /* /all/MESSAGE-ID/... (b4 and lei ask lore this way): the list that
     * has the message, first in the site's order. */
    g_autofree char *amid = message_id_of (seg[1]);
    if (amid == NULL) {
      annals_web_error_page (c, 400, "That is not a valid Message-ID.");
      return;
    }
    for (char **l = lists; *l; l++) {
      g_auto (AnnalsIndexSummary) am = { 0 };
      if (annals_web_find_message (c, *l, amid, &am)) {
        g_autofree char *enc = annals_http_escape_segment (amid);
        g_autofree char *rest = n >= 3 ? g_strjoinv ("/", seg + 2) : g_strdup ("");
        g_autofree char *to = g_strdup_printf ("/%s/%s/%s", *l, enc, rest);
        redirect (c, to);
        return;
      }
    }
    /* Else the first list whose messages name it: its ghost page. */
    for (char **l = lists; *l; l++)
      if (ghost_known (c, *l, amid)) {
        g_autofree char *enc = annals_http_escape_segment (amid);
        g_autofree char *rest = n >= 3 ? g_strjoinv ("/", seg + 2) : g_strdup ("");
        g_autofree char *to = g_strdup_printf ("/%s/%s/%s", *l, enc, rest);
        redirect (c, to);
        return;
      }
    annals_web_error_page (c, 404, "No list here has a message with that Message-ID.");
    return;
  }
  static GRegex *date_re;
  if (date_re == NULL)
    date_re = g_regex_new ("^([0-9]{4})(-([0-9]{2})(\\.mbox\\.gz)?)?$", G_REGEX_OPTIMIZE, 0, NULL);
  g_autoptr (GMatchInfo) dm = NULL;
  if (g_regex_match (date_re, seg[1], 0, &dm)) {
    /* /LIST/YYYY/, /LIST/YYYY-MM/, /LIST/YYYY-MM.mbox.gz */
    g_autofree char *ys = g_match_info_fetch (dm, 1);
    g_autofree char *ms = g_match_info_fetch (dm, 3);
    g_autofree char *gz = g_match_info_fetch (dm, 4);
    int year = atoi (ys), month = ms && *ms ? atoi (ms) : 0;
    gboolean mbox = gz && *gz;
    if (year < 1970 || (ms && *ms && (month < 1 || month > 12)) || n > 3 || (n == 3 && (mbox || seg[2][0] != '\0'))) {
      annals_web_error_page (c, 404, "No such page: months are /LIST/YYYY-MM/ (01 to 12), years /LIST/YYYY/.");
    } else if (mbox) {
      annals_web_month_mbox (c, year, month);
    } else if (n == 2) {
      g_autofree char *to = g_strdup_printf ("/%s/%s/", list, seg[1]);
      redirect (c, to);
    } else if (month == 0) {
      annals_web_page_year (c, year);
    } else {
      annals_web_page_month (c, year, month);
    }
    return;
  }
  if (strcmp (seg[1], "about") == 0 && n == 3 && seg[2][0] == '\0') {
    annals_web_page_about (c, list);
    return;
  }
  if (strcmp (seg[1], "log") == 0 && n >= 3) {
    g_autofree char *rest = g_strjoinv ("/", seg + 2);
    annals_web_page_log_file (c, rest);
    return;
  }
  if (strcmp (seg[1], "store") == 0 && n >= 3) {
    g_autofree char *rest = g_strjoinv ("/", seg + 2);
    annals_web_page_store_file (c, rest);
    return;
  }
  if (strcmp (seg[1], "_") == 0) {
    /* /LIST/_/N/...: message N, every copy of a reused Message-ID. */
    g_auto (GStrv) nseg = g_strsplit (h->path + 1, "/", 5);
    const char *num = nseg[2];
    g_auto (AnnalsIndexSummary) m = { 0 };
    if (num == NULL || *num == '\0' || strlen (num) > 19 || strspn (num, "0123456789") != strlen (num)
        || !annals_web_find_number (c, list, g_ascii_strtoull (num, NULL, 10), &m)) {
      annals_web_error_page (c, 404, "No message with that number in this list.");
      return;
    }
    g_autofree char *base = g_strdup_printf ("/%s/_/%s/", list, num);
    serve_message (c, &m, base, nseg[3], nseg[3] ? nseg[4] : NULL);
    return;
  }
  g_autofree char *mid = message_id_of (seg[1]);
  if (mid == NULL) {
    annals_web_error_page (c, 400, "That is not a valid Message-ID.");
    return;
  }
  g_auto (AnnalsIndexSummary) m = { 0 };
  g_autofree char *enc = annals_http_escape_segment (mid);
  g_autofree char *base = g_strdup_printf ("/%s/%s/", list, enc);
  if (!annals_web_find_message (c, list, mid, &m)) {
    /* A ghost's address without the slash moves to its page, as a
     * message's does. */
    if (n < 3 && ghost_known (c, list, mid))
      redirect (c, base);
    else if (n < 3 || !annals_web_page_ghost (c, list, mid, seg[2][0] == '\0'))
      annals_web_error_page (c, 404, "No message with that Message-ID in this list.");
    return;
  }
  serve_message (c, &m, base, n >= 3 ? seg[2] : NULL, n >= 4 ? seg[3] : NULL);
}

/* annals.conf as this process last read it, and that file's identity:
 * a FastCGI process reads it again only when it was written since (a
 * save renames a new file over it, an edit in place changes its times). */
static AnnalsConfig *kept_config;
static struct stat kept_stat;

static gboolean
same_file (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
         && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec
         && a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static AnnalsConfig *
config_of (const char *root, GError **error)
{
  g_autofree char *path = g_build_filename (root, "annals.conf", NULL);
  struct stat st;
  /* Looked at before it is read: a write after this shows at the next
   * request. */
  gboolean known = stat (path, &st) == 0;
  if (known && kept_config != NULL && strcmp (annals_config_root (kept_config), root) == 0
      && same_file (&st, &kept_stat))
    return kept_config;
  AnnalsConfig *config = annals_config_open (root, error);
  if (config == NULL)
    return NULL;
  g_clear_pointer (&kept_config, annals_config_free);
  if (known) {
    kept_config = config;
    kept_stat = st;
  }
  return config;
}

void
annals_web_handle (AnnalsHttp *h, const char *root)
{
  Ctx c = { h, root };
  g_autoptr (GError) error = NULL;
  c.config = root ? config_of (root, &error) : NULL;
  if (c.config == NULL) {
    annals_http_status (h, 500);
    annals_http_header (h, "Content-Type", "text/plain; charset=utf-8");
    annals_http_print (h, "annals.cgi: %s\n",
                       root ? error->message : "ANNALS_ROOT is not set in the web server's configuration");
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
  if (c.config != kept_config)
    annals_config_free (c.config);
}
