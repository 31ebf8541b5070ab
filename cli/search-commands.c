/* search-commands: annals search. */
#include "cli/search-commands.h"
#include "cli/cmdline.h"
#include "core/mbox.h"
#include "core/message.h"
#include "search/query.h"
#include "core/store.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

static void
json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const char *p = s ? s : ""; *p; p++) {
    guchar c = (guchar) *p;
    if (c == '"' || c == '\\')
      g_string_append_printf (out, "\\%c", c);
    else if (c < 0x20)
      g_string_append_printf (out, "\\u%04x", c);
    else
      g_string_append_c (out, (char) c);
  }
  g_string_append_c (out, '"');
}

static void
print_json (const char *query, const AnnalsQueryResults *r, guint64 offset)
{
  GString *out = g_string_new ("{\"query\":");
  json_string (out, query);
  /* count stays for older readers; total_exact says whether it is exact. */
  g_string_append_printf (out,
                          ",\"count\":%" G_GUINT64_FORMAT ",\"total\":%" G_GUINT64_FORMAT ",\"total_exact\":%s"
                          ",\"offset\":%" G_GUINT64_FORMAT ",\"results\":[",
                          r->count, r->count, r->count_exact ? "true" : "false", offset);
  for (guint i = 0; i < r->hits->len; i++) {
    const AnnalsIndexSummary *s = &g_array_index (r->hits, AnnalsIndexSummary, i);
    /* date: the one it is ordered and found (d:) by; Date: too when
     * that is not it. */
    gint64 when = annals_index_sort_date (s->hdr.date, s->receipt);
    char date[ANNALS_MESSAGE_ISO_DATE_SIZE], claimed[ANNALS_MESSAGE_ISO_DATE_SIZE],
        receipt[ANNALS_MESSAGE_ISO_DATE_SIZE];
    annals_message_iso_date (when, date);
    annals_message_iso_date (s->receipt, receipt);
    g_string_append (out, i ? ",\n{" : "\n{");
    g_string_append (out, "\"list\":");
    json_string (out, s->list);
    g_string_append_printf (out, ",\"number\":%" G_GUINT64_FORMAT ",\"message_id\":", s->number);
    json_string (out, s->hdr.message_id);
    g_string_append_printf (out, ",\"date\":\"%s\"", date);
    if (when != s->hdr.date && annals_message_iso_date (s->hdr.date, claimed))
      g_string_append_printf (out, ",\"date_claimed\":\"%s\"", claimed);
    g_string_append_printf (out, ",\"receipt\":\"%s\",\"from\":", receipt);
    json_string (out, s->hdr.from);
    g_string_append (out, ",\"subject\":");
    json_string (out, s->hdr.subject);
    g_string_append (out, ",\"thread\":");
    json_string (out, s->thread);
    g_string_append (out, ",\"parent\":");
    json_string (out, s->parent);
    g_string_append_printf (out, ",\"relevance\":%d}", g_array_index (r->percent, int, i));
  }
  g_string_append (out, "]}\n");
  fputs (out->str, stdout);
  g_string_free (out, TRUE);
}

static int
print_mbox (AnnalsConfig *config, const AnnalsQueryResults *r)
{
  g_autoptr (GHashTable) stores
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) annals_store_free);
  g_autoptr (GString) out = g_string_new (NULL);
  for (guint i = 0; i < r->hits->len; i++) {
    const AnnalsIndexSummary *s = &g_array_index (r->hits, AnnalsIndexSummary, i);
    AnnalsStore *store = g_hash_table_lookup (stores, s->list);
    g_autoptr (GError) error = NULL;
    if (store == NULL) {
      g_autofree char *dir = annals_config_list_dir (config, s->list, "store", &error);
      store = dir ? annals_store_open (dir, &error) : NULL;
      if (store == NULL)
        return annals_cli_fail ("search", error);
      g_hash_table_insert (stores, g_strdup (s->list), store);
    }
    g_string_truncate (out, 0);
    if (!annals_mbox_append_stored (out, store, s->number, NULL, &error))
      continue; /* redacted since it was indexed */
    fwrite (out->str, 1, out->len, stdout);
  }
  return 0;
}

/* A query that cannot run is the user's to fix (EX_USAGE); an index that
 * is not there yet, half-made or being rewritten comes right later
 * (EX_TEMPFAIL); a damaged or unreadable one is the server's (1). */
static int
exit_status (const GError *error)
{
  if (error->domain != ANNALS_QUERY_ERROR)
    return 1;
  switch ((AnnalsQueryError) error->code) {
  case ANNALS_QUERY_ERROR_SYNTAX:
  case ANNALS_QUERY_ERROR_WILDCARD:
    return EX_USAGE;
  case ANNALS_QUERY_ERROR_INDEX_UNAVAILABLE:
  case ANNALS_QUERY_ERROR_NO_INDEX:
    return EX_TEMPFAIL;
  case ANNALS_QUERY_ERROR_INDEX_CORRUPT:
  case ANNALS_QUERY_ERROR_IO:
    break;
  }
  return 1;
}

int
annals_cli_search (int argc, char **argv)
{
  char **lists = NULL, *format = NULL;
  gboolean all = FALSE, count = FALSE, relevance = FALSE, threads = FALSE;
  gint64 limit = 20, offset = 0;
  const GOptionEntry entries[] = {
    { "list", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &lists, "Search this list (repeatable; default: all lists)", "NAME" },
    { "all", 'a', 0, G_OPTION_ARG_NONE, &all, "Search every list", NULL },
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "text (default), json or mbox", "FORMAT" },
    { "count", 0, 0, G_OPTION_ARG_NONE, &count, "Print only the number of matching messages", NULL },
    { "limit", 'n', 0, G_OPTION_ARG_INT64, &limit, "At most N results (default 20)", "N" },
    { "offset", 'o', 0, G_OPTION_ARG_INT64, &offset, "Skip the first N results", "N" },
    { "relevance", 'r', 0, G_OPTION_ARG_NONE, &relevance, "Best matches first (default: newest first)", NULL },
    { "threads", 't', 0, G_OPTION_ARG_NONE, &threads, "One result per thread", NULL },
    { NULL },
  };
  if (!annals_cli_parse ("search", "QUERY...",
                         "Searches the archive with the public-inbox query language: s: subject, f: from,\n"
                         "t: to, c: cc, tc:, a: any address, b: body, bs: subject+body, nq: new text,\n"
                         "q: quoted text, n: attachment name, l: List-Id, m: Message-ID, d: and rt: date\n"
                         "ranges (d:2024-01-01..2024-06-30, d:30.days.ago..), \"phrases\", AND OR NOT + -,\n"
                         "word* (see doc/search.md).",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  g_auto (GStrv) G_GNUC_UNUSED owned_lists = lists;
  g_autofree G_GNUC_UNUSED char *owned_format = format;
  if (argc < 2)
    return annals_cli_usage ("search", "give a QUERY");
  if (format && strcmp (format, "text") && strcmp (format, "json") && strcmp (format, "mbox"))
    return annals_cli_usage ("search", "--format takes text, json or mbox");
  if (limit < 0 || offset < 0 || limit > 100000)
    return annals_cli_usage ("search", "--limit takes 0 to 100000, --offset 0 or more");
  if (all && lists)
    return annals_cli_usage ("search", "give --list or --all, not both");
  g_autoptr (AnnalsConfig) config = annals_cli_open_config ("search");
  if (config == NULL)
    return 1;
  g_auto (GStrv) every = annals_config_lists (config);
  char **names = lists ? lists : every;
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  for (char **n = names; *n; n++) {
    g_autoptr (GError) error = NULL;
    char *dir = annals_config_list_dir (config, *n, NULL, &error);
    if (dir == NULL)
      return annals_cli_fail ("search", error);
    g_ptr_array_add (dirs, dir);
  }
  g_autofree char *query = g_strjoinv (" ", argv + 1);
  AnnalsQueryOptions o = { (guint64) offset, count ? 0 : (guint64) limit, relevance, threads, count };
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsQueryResults) r = annals_query_run ((const char *const *) dirs->pdata, dirs->len, query, &o, &error);
  if (r == NULL) {
    annals_cli_fail ("search", error);
    return exit_status (error);
  }
  if (count) {
    g_print ("%" G_GUINT64_FORMAT "\n", r->count);
    return 0;
  }
  if (format && strcmp (format, "json") == 0) {
    print_json (query, r, (guint64) offset);
    return 0;
  }
  if (format && strcmp (format, "mbox") == 0)
    return print_mbox (config, r);
  for (guint i = 0; i < r->hits->len; i++) {
    const AnnalsIndexSummary *s = &g_array_index (r->hits, AnnalsIndexSummary, i);
    char date[ANNALS_MESSAGE_ISO_DATE_SIZE];
    annals_message_iso_date (annals_index_sort_date (s->hdr.date, s->receipt), date);
    date[10] = '\0';
    g_autofree char *note = annals_cli_date_note (s->hdr.date, s->receipt);
    g_print ("%s:%" G_GUINT64_FORMAT "\t%s\t%s\t%s%s\n", s->list, s->number, date, s->hdr.from, s->hdr.subject, note);
  }
  if (r->count > (guint64) offset + r->hits->len)
    g_printerr ("(%" G_GUINT64_FORMAT " of %s%" G_GUINT64_FORMAT " shown; --offset and --limit page)\n",
                (guint64) r->hits->len, r->count_exact ? "" : "about ", r->count);
  return 0;
}
