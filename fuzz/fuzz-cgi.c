/* Fuzz target: the CGI entry point.  The input is a request: method,
 * REQUEST_URI and QUERY_STRING on the first three lines, a POST body
 * after; it is answered against a small archive made once.  No crash,
 * and an answer always starts with a Status line. */
#include "web-cgi/pages.h"
#include "core/fsutil.h"
#include "core/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char *root;

static void
remove_root (void)
{
  annals_fs_remove_tree (root, NULL);
}

static void
make_archive (void)
{
  root = g_dir_make_tmp ("annals-fuzz-cgi-XXXXXX", NULL);
  g_assert_nonnull (root);
  atexit (remove_root);
  const char *annals = g_getenv ("ANNALS_BIN");
  g_autofree char *cmd = g_strdup_printf (
      "sh -c 'export ANNALS_ROOT=%s; %s init >/dev/null && %s list-add l >/dev/null && "
      "printf \"Message-ID: <a/b@x>\\nSubject: hello <b>\\nContent-Type: multipart/mixed; boundary=z\\n\\n--z\\n\\n"
      "text https://example.org/\\n--z\\nContent-Disposition: attachment; filename=x.bin\\n\\nbin\\n--z--\\n\" "
      "| %s ingest l --mda && printf \"Message-ID: <c@x>\\nIn-Reply-To: <a/b@x>\\nSubject: Re: hello\\n\\nreply\\n\" "
      "| %s ingest l --mda'",
      root, annals ? annals : "annals", annals ? annals : "annals", annals ? annals : "annals",
      annals ? annals : "annals");
  g_assert_cmpint (system (cmd), ==, 0);
}

typedef struct {
  const char *method, *uri, *query;
} Env;

static const char *
param (gpointer source, const char *name)
{
  Env *e = source;
  if (strcmp (name, "REQUEST_METHOD") == 0)
    return e->method;
  if (strcmp (name, "REQUEST_URI") == 0)
    return e->uri;
  if (strcmp (name, "QUERY_STRING") == 0)
    return e->query;
  if (strcmp (name, "HTTP_HOST") == 0)
    return "127.0.0.1:8080";
  return NULL;
}

typedef struct {
  gsize bytes;
  gboolean first_ok;
  gboolean started;
} Sink;

static gboolean
sink_write (gpointer sink, const void *data, gsize length)
{
  Sink *s = sink;
  if (!s->started) {
    s->started = TRUE;
    s->first_ok = length >= 8 && memcmp (data, "Status: ", 8) == 0;
  }
  s->bytes += length;
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (root == NULL)
    make_archive ();
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_auto (GStrv) lines = g_strsplit (text, "\n", 4);
  guint n = g_strv_length (lines);
  Env e = { n > 0 ? lines[0] : "GET", n > 1 ? lines[1] : "/", n > 2 ? lines[2] : "" };
  const char *body = n > 3 ? lines[3] : NULL;
  Sink s = { 0 };
  AnnalsHttp h;
  annals_http_init (&h, param, &e, body, body ? strlen (body) : 0, sink_write, &s);
  annals_web_handle (&h, root);
  annals_http_clear (&h);
  g_assert_true (s.first_ok);
  return 0;
}
