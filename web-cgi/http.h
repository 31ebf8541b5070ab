/* http: one request and its response, over plain CGI or FastCGI.
 *
 * The CGI entry fills an AnnalsHttp from the environment (or the FastCGI
 * parameters) and pages write through it: headers first, then the body,
 * which HEAD requests drop.  Bodies are written as produced, so a large
 * download streams instead of piling up in memory.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef gboolean (*AnnalsHttpWrite) (gpointer sink, const void *data, gsize length);
typedef const char *(*AnnalsHttpParam) (gpointer source, const char *name);

typedef struct {
  /* request */
  const char *method; /* GET, HEAD, POST */
  char *path;         /* not decoded: REQUEST_URI's path (keeps %2F), else PATH_INFO */
  char *query;        /* raw query string, or "" */
  GHashTable *params; /* decoded query (and POST form) parameters */
  char *base;         /* "http://host:port/script-prefix/" for absolute links */
  char *prefix;       /* the script's path prefix ("" at the root) */
  gboolean head;
  /* response */
  AnnalsHttpWrite write;
  gpointer sink;
  gboolean sent_headers;
  GString *headers;
  int status;
  gint64 last_modified; /* set by annals_http_last_modified(), else 0 */
} AnnalsHttp;

/* Reads the request from param (getenv-like) and the POST body from
 * body_read (may be NULL). */
void annals_http_init (AnnalsHttp *h, AnnalsHttpParam param, gpointer source, const char *post_body, gsize post_length,
                       AnnalsHttpWrite write, gpointer sink);
void annals_http_clear (AnnalsHttp *h);

const char *annals_http_param (AnnalsHttp *h, const char *name);

void annals_http_status (AnnalsHttp *h, int status);
void annals_http_header (AnnalsHttp *h, const char *name, const char *value);
/* Sends the headers (once); later writes go to the body. */
void annals_http_begin (AnnalsHttp *h);
gboolean annals_http_write (AnnalsHttp *h, const void *data, gsize length);
void annals_http_print (AnnalsHttp *h, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Sets the response's ETag (a quoted strong tag) and, when the request's
 * If-None-Match names it (or is *), answers 304 with no body: TRUE means
 * the response is complete. */
gboolean annals_http_not_modified (AnnalsHttp *h, const char *etag);
/* Sets Last-Modified (seconds since the epoch, > 0): without an
 * If-None-Match, annals_http_not_modified() then answers 304 when the
 * request's If-Modified-Since is that time or later. */
void annals_http_last_modified (AnnalsHttp *h, gint64 t);

/* HTML-escapes text (all of &<>"') into out. */
void annals_html_escape (GString *out, const char *text, gssize length);
/* Percent-decodes (NULL on a bad escape or a NUL byte). */
char *annals_http_unescape (const char *s, gsize length);
/* Percent-encodes a Message-ID for a path segment ('/' as %2F). */
char *annals_http_escape_segment (const char *s);

G_END_DECLS
