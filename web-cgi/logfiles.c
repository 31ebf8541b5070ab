/* logfiles: the transparency log's files and proofs; see web.h. */
#include "web-cgi/web.h"
#include "core/merkle.h"
#include "core/tlog.h"

#include <string.h>

void
annals_web_page_proof (Ctx *c, AnnalsIndexSummary *m)
{
  g_autofree char *dir = annals_config_list_dir (c->config, m->list, "log", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsTlogReader) r = dir ? annals_tlog_reader_open (dir, NULL, &error) : NULL;
  if (r == NULL || m->number >= annals_tlog_reader_checkpoint (r)->size) {
    annals_web_error_page (c, 404, "This message is not in the log's checkpoint yet.");
    return;
  }
  gpointer ctx;
  AnnalsMerkleSource src = annals_tlog_reader_source (r, &ctx);
  g_autoptr (GBytes) entry = annals_tlog_reader_entry (r, m->number, &error);
  g_autoptr (GArray) proof = entry ? annals_merkle_inclusion_proof (src, ctx, m->number,
                                                                    annals_tlog_reader_checkpoint (r)->size, &error)
                                   : NULL;
  if (proof == NULL) {
    annals_web_error_page (c, 500, error ? error->message : "cannot make the proof");
    return;
  }
  g_autofree char *text = annals_tlog_proof_format (entry, m->number, proof, annals_tlog_reader_note (r));
  annals_http_header (c->h, "Content-Type", "text/plain; charset=utf-8");
  annals_http_header (c->h, "Cache-Control", "public, max-age=60");
  annals_http_write (c->h, text, strlen (text));
}

/* /<list>/log/checkpoint and /<list>/log/tile/...: the static files. */
void
annals_web_page_log_file (Ctx *c, const char *rest)
{
  gboolean checkpoint = strcmp (rest, "checkpoint") == 0;
  static GRegex *tile_re;
  if (tile_re == NULL)
    tile_re = g_regex_new ("^tile/(entries|[0-9]|[1-5][0-9]|6[0-3])(/x[0-9]{3})*/[0-9]{3}(\\.p/([1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$",
                           G_REGEX_OPTIMIZE, 0, NULL);
  if (!checkpoint && !g_regex_match (tile_re, rest, 0, NULL)) {
    annals_web_error_page (c, 404, "No such log file.");
    return;
  }
  g_autofree char *dir = annals_config_list_dir (c->config, c->list, "log", NULL);
  g_autofree char *path = g_build_filename (dir, rest, NULL);
  g_autofree char *data = NULL;
  gsize len;
  if (!g_file_get_contents (path, &data, &len, NULL)) {
    annals_web_error_page (c, 404, "No such log file.");
    return;
  }
  annals_http_header (c->h, "Content-Type", checkpoint ? "text/plain; charset=utf-8" : "application/octet-stream");
  annals_http_header (c->h, "Cache-Control", checkpoint ? "public, max-age=5" : "public, max-age=31536000, immutable");
  annals_http_header (c->h, "Access-Control-Allow-Origin", "*");
  annals_http_write (c->h, data, len);
}
