/* logfiles: the transparency log's files and proofs; see web.h. */
#include "web-cgi/web.h"
#include "core/merkle.h"
#include "core/tlog.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
  g_autoptr (GArray) proof
      = entry ? annals_merkle_inclusion_proof (src, ctx, m->number, annals_tlog_reader_checkpoint (r)->size, &error)
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
    tile_re = g_regex_new ("^tile/(entries|[0-9]|[1-5][0-9]|6[0-3])(/x[0-9]{3})*/[0-9]{3}(\\.p/"
                           "([1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$",
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

/* One file of the public record, streamed (a pack is up to 64 MiB), with
 * an ETag that changes when the file is appended to or replaced (a
 * redaction renames a new pack over the old one), and one byte range
 * ("bytes=A-" or "bytes=A-B") so that a mirror fetches only what it
 * lacks. */
static void
serve_file (Ctx *c, const char *path, const char *type, const char *cache)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
    if (fd >= 0)
      close (fd);
    annals_web_error_page (c, 404, "No such file.");
    return;
  }
  g_autofree char *etag
      = g_strdup_printf ("\"%llx-%llx-%llx.%lx\"", (unsigned long long) st.st_ino, (unsigned long long) st.st_size,
                         (unsigned long long) st.st_mtim.tv_sec, (unsigned long) st.st_mtim.tv_nsec);
  annals_http_header (c->h, "Content-Type", type);
  annals_http_header (c->h, "Cache-Control", cache);
  annals_http_header (c->h, "Access-Control-Allow-Origin", "*");
  annals_http_header (c->h, "Accept-Ranges", "bytes");
  if (annals_http_not_modified (c->h, etag)) {
    close (fd);
    return;
  }
  guint64 size = (guint64) st.st_size, from = 0, to = size;
  const char *range = annals_http_param (c->h, "\x01range");
  if (range != NULL && g_str_has_prefix (range, "bytes=") && strchr (range, ',') == NULL) {
    const char *p = range + 6;
    char *end;
    guint64 a = g_ascii_strtoull (p, &end, 10);
    gboolean ok = end != p && *end == '-';
    guint64 b = size ? size - 1 : 0;
    if (ok && end[1] != '\0') {
      const char *q = end + 1;
      b = g_ascii_strtoull (q, &end, 10);
      ok = end != q && *end == '\0' && b >= a;
    }
    if (ok && a >= size) {
      g_autofree char *cr = g_strdup_printf ("bytes */%" G_GUINT64_FORMAT, size);
      close (fd);
      annals_http_status (c->h, 416);
      annals_http_header (c->h, "Content-Range", cr);
      annals_http_begin (c->h);
      return;
    }
    if (ok) {
      from = a;
      to = MIN (b + 1, size);
      g_autofree char *cr = g_strdup_printf ("bytes %" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                                             from, to - 1, size);
      annals_http_status (c->h, 206);
      annals_http_header (c->h, "Content-Range", cr);
    }
  }
  g_autofree char *length = g_strdup_printf ("%" G_GUINT64_FORMAT, to - from);
  annals_http_header (c->h, "Content-Length", length);
  annals_http_begin (c->h);
  if (c->h->head) {
    close (fd);
    return;
  }
  g_autofree char *buf = g_malloc (65536);
  for (guint64 at = from; at < to;) {
    ssize_t n = pread (fd, buf, (size_t) MIN ((guint64) 65536, to - at), (off_t) at);
    if (n <= 0 || !annals_http_write (c->h, buf, (gsize) n))
      break; /* the client sees a short body against Content-Length */
    at += (guint64) n;
  }
  close (fd);
}

/* /<list>/store/...: the packs, dictionaries, offsets, meta and FORMAT;
 * never the lock or a temporary file (the names are matched exactly). */
void
annals_web_page_store_file (Ctx *c, const char *rest)
{
  static GRegex *store_re;
  if (store_re == NULL)
    store_re = g_regex_new ("^(FORMAT|meta|offsets|packs/[0-9]{8}\\.pack|dict/[0-9]{8}\\.zdict)$", G_REGEX_OPTIMIZE, 0,
                            NULL);
  if (!g_regex_match (store_re, rest, 0, NULL)) {
    annals_web_error_page (c, 404, "No such store file.");
    return;
  }
  g_autofree char *dir = annals_config_list_dir (c->config, c->list, "store", NULL);
  g_autofree char *path = g_build_filename (dir, rest, NULL);
  /* Dictionaries never change.  A sealed pack (mode 0444) changes only
   * when one of its messages is redacted, and then must not linger in a
   * cache: an hour, revalidated by its ETag.  The rest grows with every
   * delivery. */
  struct stat st;
  gboolean sealed = g_str_has_prefix (rest, "packs/") && stat (path, &st) == 0 && (st.st_mode & 0222) == 0;
  const char *cache = g_str_has_prefix (rest, "dict/") ? "public, max-age=31536000, immutable"
                      : sealed                         ? "public, max-age=3600"
                                                       : "public, max-age=5";
  serve_file (c, path, strcmp (rest, "FORMAT") == 0 ? "text/plain; charset=utf-8" : "application/octet-stream", cache);
}

/* /log/site-checkpoint and /about/vkey: the site's signed list of logs
 * and the public half of its key (ROOT/keys/site.vkey; the signing key
 * beside it is never read here). */
void
annals_web_page_site_file (Ctx *c, const char *what)
{
  const char *root = annals_config_root (c->config);
  g_autofree char *path = strcmp (what, "vkey") == 0 ? g_build_filename (root, "keys", "site.vkey", NULL)
                                                     : g_build_filename (root, ANNALS_TLOG_SITE_CHECKPOINT, NULL);
  serve_file (c, path, "text/plain; charset=utf-8", "public, max-age=5");
}
