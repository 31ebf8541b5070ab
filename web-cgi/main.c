/* annals.cgi: the web entry point, as plain CGI or as a FastCGI
 * application (the same binary: a FastCGI server starts it with a socket
 * on stdin, a CGI server with the request in the environment). */
#include <fcgiapp.h>
#include <glib.h>

#include "web-cgi/pages.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_POST (64 * 1024)

static const char *
cgi_param (gpointer source, const char *name)
{
  if (name[0] == '\x01')
    return NULL;
  return g_getenv (name);
}

static gboolean
stdout_write (gpointer sink, const void *data, gsize length)
{
  return fwrite (data, 1, length, stdout) == length;
}

static const char *
fcgi_param (gpointer source, const char *name)
{
  return FCGX_GetParam (name, ((FCGX_Request *) source)->envp);
}

static gboolean
fcgi_write (gpointer sink, const void *data, gsize length)
{
  return FCGX_PutStr (data, (int) length, sink) == (int) length;
}

/* If-None-Match, If-Modified-Since and Range reach pages through
 * reserved parameter names. */
static void
conditional (AnnalsHttp *h, const char *inm, const char *ims, const char *range)
{
  if (inm != NULL)
    g_hash_table_insert (h->params, g_strdup ("\x01if-none-match"), g_strdup (inm));
  if (ims != NULL)
    g_hash_table_insert (h->params, g_strdup ("\x01if-modified-since"), g_strdup (ims));
  if (range != NULL)
    g_hash_table_insert (h->params, g_strdup ("\x01range"), g_strdup (range));
}

static char *
read_post (int (*get) (gpointer, char *, int), gpointer in, const char *length_str, gsize *length)
{
  gsize want = length_str ? (gsize) g_ascii_strtoull (length_str, NULL, 10) : 0;
  *length = 0;
  if (want == 0 || want > MAX_POST)
    return NULL;
  char *buf = g_malloc (want + 1);
  gsize got = 0;
  while (got < want) {
    int n = get (in, buf + got, (int) (want - got));
    if (n <= 0)
      break;
    got += (gsize) n;
  }
  buf[got] = '\0';
  *length = got;
  return buf;
}

static int
stdin_get (gpointer in, char *buf, int n)
{
  return (int) fread (buf, 1, (size_t) n, stdin);
}

static int
fcgi_get (gpointer in, char *buf, int n)
{
  return FCGX_GetStr (buf, n, in);
}

int
main (int argc, char **argv)
{
  signal (SIGPIPE, SIG_IGN);
  /* Picks libsodium's fastest BLAKE2b for this CPU (page ETags). */
  if (sodium_init () < 0)
    return 1;
  if (argc > 1 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)) {
    printf ("usage: annals.cgi (run by a web server)\n\n"
            "The annals archive on the web, as CGI or FastCGI.  The archive root comes\n"
            "from ANNALS_ROOT in the server's configuration.  URLs: doc/urls.md.\n");
    return 0;
  }
  if (FCGX_IsCGI ()) {
    const char *root = g_getenv ("ANNALS_ROOT");
    gsize plen;
    g_autofree char *post = read_post (stdin_get, NULL, g_getenv ("CONTENT_LENGTH"), &plen);
    AnnalsHttp h;
    annals_http_init (&h, cgi_param, NULL, post, plen, stdout_write, NULL);
    conditional (&h, g_getenv ("HTTP_IF_NONE_MATCH"), g_getenv ("HTTP_IF_MODIFIED_SINCE"), g_getenv ("HTTP_RANGE"));
    annals_web_handle (&h, root);
    annals_http_clear (&h);
    fflush (stdout);
    return 0;
  }
  /* FastCGI: one process answers request after request, and keeps the
   * message bodies it rendered (ANNALS_BODY_CACHE_MB, default 64). */
  const char *mb = g_getenv ("ANNALS_BODY_CACHE_MB");
  annals_web_set_body_cache ((gsize) (mb ? g_ascii_strtoull (mb, NULL, 10) : 64) * 1024 * 1024);
  annals_web_set_keep_open (TRUE);
  FCGX_Init ();
  FCGX_Request req;
  FCGX_InitRequest (&req, 0, 0);
  while (FCGX_Accept_r (&req) >= 0) {
    const char *root = FCGX_GetParam ("ANNALS_ROOT", req.envp);
    if (root == NULL)
      root = g_getenv ("ANNALS_ROOT");
    gsize plen;
    g_autofree char *post = read_post (fcgi_get, req.in, FCGX_GetParam ("CONTENT_LENGTH", req.envp), &plen);
    AnnalsHttp h;
    annals_http_init (&h, fcgi_param, &req, post, plen, fcgi_write, req.out);
    conditional (&h, FCGX_GetParam ("HTTP_IF_NONE_MATCH", req.envp), FCGX_GetParam ("HTTP_IF_MODIFIED_SINCE", req.envp),
                 FCGX_GetParam ("HTTP_RANGE", req.envp));
    annals_web_handle (&h, root);
    annals_http_clear (&h);
    FCGX_Finish_r (&req);
  }
  return 0;
}
