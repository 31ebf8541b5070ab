/* http: see http.h. */
#include "web-cgi/http.h"

#include <stdio.h>
#include <string.h>

static int
hexval (char c)
{
  return g_ascii_isxdigit (c) ? g_ascii_xdigit_value (c) : -1;
}

char *
annals_http_unescape (const char *s, gsize length)
{
  GString *out = g_string_sized_new (length);
  for (gsize i = 0; i < length; i++) {
    if (s[i] == '%') {
      int h = i + 2 < length ? hexval (s[i + 1]) : -1;
      int l = i + 2 < length ? hexval (s[i + 2]) : -1;
      if (h < 0 || l < 0) {
        g_string_free (out, TRUE);
        return NULL;
      }
      char c = (char) (h << 4 | l);
      if (c == '\0') {
        g_string_free (out, TRUE);
        return NULL;
      }
      g_string_append_c (out, c);
      i += 2;
    } else {
      g_string_append_c (out, s[i]);
    }
  }
  return g_string_free (out, FALSE);
}

/* Query strings: '+' is a space too. */
static char *
form_unescape (const char *s, gsize length)
{
  g_autofree char *plus = g_strndup (s, length);
  for (char *p = plus; *p; p++)
    if (*p == '+')
      *p = ' ';
  return annals_http_unescape (plus, strlen (plus));
}

char *
annals_http_escape_segment (const char *s)
{
  GString *out = g_string_new (NULL);
  for (const guchar *p = (const guchar *) s; *p; p++) {
    if (g_ascii_isalnum (*p) || strchr ("-._~!$&'()*+,;=:@", *p) != NULL)
      g_string_append_c (out, (char) *p);
    else
      g_string_append_printf (out, "%%%02X", *p);
  }
  return g_string_free (out, FALSE);
}

void
annals_html_escape (GString *out, const char *text, gssize length)
{
  if (text == NULL)
    return;
  const char *end = length < 0 ? text + strlen (text) : text + length;
  const char *p = text;
  while (p < end) {
    /* Runs of plain text are copied at once: pages are mostly text. */
    const char *run = p;
    while (p < end && *p != '&' && *p != '<' && *p != '>' && *p != '"' && *p != '\'' && *p != '\0')
      p++;
    g_string_append_len (out, run, p - run);
    if (p == end)
      break;
    switch (*p) {
    case '&':
      g_string_append_len (out, "&amp;", 5);
      break;
    case '<':
      g_string_append_len (out, "&lt;", 4);
      break;
    case '>':
      g_string_append_len (out, "&gt;", 4);
      break;
    case '"':
      g_string_append_len (out, "&quot;", 6);
      break;
    case '\'':
      g_string_append_len (out, "&#39;", 5);
      break;
    default: /* NUL: dropped */
      break;
    }
    p++;
  }
}

static void
parse_form (GHashTable *params, const char *qs, gsize length)
{
  g_autofree char *copy = g_strndup (qs, length);
  g_auto (GStrv) pairs = g_strsplit (copy, "&", 64);
  for (char **p = pairs; *p; p++) {
    if (**p == '\0')
      continue;
    char *eq = strchr (*p, '=');
    g_autofree char *k = form_unescape (*p, eq ? (gsize) (eq - *p) : strlen (*p));
    char *v = eq ? form_unescape (eq + 1, strlen (eq + 1)) : g_strdup ("");
    if (k == NULL || v == NULL || !g_utf8_validate (v, -1, NULL)) {
      g_free (v);
      continue;
    }
    if (!g_hash_table_contains (params, k))
      g_hash_table_insert (params, g_strdup (k), v);
    else
      g_free (v);
  }
}

void
annals_http_init (AnnalsHttp *h, AnnalsHttpParam param, gpointer source, const char *post_body, gsize post_length,
                  AnnalsHttpWrite write, gpointer sink)
{
  memset (h, 0, sizeof *h);
  h->write = write;
  h->sink = sink;
  h->status = 200;
  h->headers = g_string_new (NULL);
  h->params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const char *m = param (source, "REQUEST_METHOD");
  h->method = m && (strcmp (m, "HEAD") == 0 || strcmp (m, "POST") == 0) ? (m[0] == 'H' ? "HEAD" : "POST")
              : m && strcmp (m, "GET") == 0                             ? "GET"
              : m                                                       ? "OTHER"
                                                                        : "GET";
  h->head = strcmp (h->method, "HEAD") == 0;
  /* Web servers decode PATH_INFO (lighttpd turns %2F into /): the
   * request line keeps Message-IDs as they were written. */
  const char *uri = param (source, "REQUEST_URI");
  /* Links start with the script's path when the URL shows it; when the
   * server maps the whole site onto the script (a rewrite), they don't. */
  const char *script = param (source, "SCRIPT_NAME");
  gboolean shown = script && *script && strcmp (script, "/") != 0 && (uri == NULL || g_str_has_prefix (uri, script));
  h->prefix = g_strdup (shown ? script : "");
  if (g_str_has_suffix (h->prefix, "/"))
    h->prefix[strlen (h->prefix) - 1] = '\0';
  const char *path_info = param (source, "PATH_INFO");
  if (uri != NULL) {
    gsize plen = strcspn (uri, "?#");
    const char *p = uri;
    if (*h->prefix && g_str_has_prefix (uri, h->prefix))
      p = uri + strlen (h->prefix);
    h->path = g_strndup (p, plen - (gsize) (p - uri));
  } else {
    h->path = g_strdup (path_info ? path_info : "/");
  }
  if (h->path[0] != '/') {
    char *t = g_strconcat ("/", h->path, NULL);
    g_free (h->path);
    h->path = t;
  }
  const char *qs = param (source, "QUERY_STRING");
  h->query = g_strdup (qs ? qs : "");
  parse_form (h->params, h->query, strlen (h->query));
  if (post_body != NULL)
    parse_form (h->params, post_body, post_length);
  const char *host = param (source, "HTTP_HOST");
  const char *https = param (source, "HTTPS");
  const char *port = param (source, "SERVER_PORT");
  const char *server = param (source, "SERVER_NAME");
  if (host == NULL || strpbrk (host, "/\\\"<> \t\r\n") != NULL)
    host = NULL;
  g_autofree char *authority
      = host ? g_strdup (host)
             : g_strdup_printf ("%s%s%s", server ? server : "localhost", port ? ":" : "", port ? port : "");
  h->base = g_strdup_printf ("%s://%s%s/", https && *https && strcmp (https, "off") ? "https" : "http", authority,
                             h->prefix);
}

void
annals_http_clear (AnnalsHttp *h)
{
  g_free (h->path);
  g_free (h->query);
  g_free (h->base);
  g_free (h->prefix);
  g_hash_table_unref (h->params);
  g_string_free (h->headers, TRUE);
}

const char *
annals_http_param (AnnalsHttp *h, const char *name)
{
  return g_hash_table_lookup (h->params, name);
}

void
annals_http_status (AnnalsHttp *h, int status)
{
  h->status = status;
}

void
annals_http_header (AnnalsHttp *h, const char *name, const char *value)
{
  /* No header injection: values never carry line breaks. */
  g_string_append_printf (h->headers, "%s: ", name);
  for (const char *p = value; *p; p++)
    g_string_append_c (h->headers, *p == '\r' || *p == '\n' ? ' ' : *p);
  g_string_append (h->headers, "\r\n");
}

static const char *
reason (int status)
{
  switch (status) {
  case 200:
    return "OK";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 410:
    return "Gone";
  case 413:
    return "Payload Too Large";
  case 414:
    return "URI Too Long";
  case 416:
    return "Range Not Satisfiable";
  case 503:
    return "Service Unavailable";
  default:
    return status >= 500 ? "Internal Server Error" : "Error";
  }
}

void
annals_http_begin (AnnalsHttp *h)
{
  if (h->sent_headers)
    return;
  h->sent_headers = TRUE;
  g_autofree char *head = g_strdup_printf ("Status: %d %s\r\n%s\r\n", h->status, reason (h->status), h->headers->str);
  h->write (h->sink, head, strlen (head));
}

gboolean
annals_http_write (AnnalsHttp *h, const void *data, gsize length)
{
  annals_http_begin (h);
  if (h->head || length == 0)
    return TRUE;
  return h->write (h->sink, data, length);
}

void
annals_http_print (AnnalsHttp *h, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *s = g_strdup_vprintf (format, ap);
  va_end (ap);
  annals_http_write (h, s, strlen (s));
}

void
annals_http_last_modified (AnnalsHttp *h, gint64 t)
{
  g_autoptr (GDateTime) d = g_date_time_new_from_unix_utc (t);
  g_autofree char *s = d ? g_date_time_format (d, "%a, %d %b %Y %H:%M:%S GMT") : NULL;
  if (s == NULL)
    return;
  annals_http_header (h, "Last-Modified", s);
  h->last_modified = t;
}

/* An HTTP-date in its preferred form (IMF-fixdate, "Sun, 06 Nov 1994
 * 08:49:37 GMT"), or -1: the obsolete forms are not sent by clients of
 * this century, and an unread date only costs a 200. */
static gint64
http_date (const char *s)
{
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  char mon[4];
  int day, year, hh, mm, ss, used = 0;
  if (sscanf (s, "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &day, mon, &year, &hh, &mm, &ss, &used) != 6
      || used == 0 || s[used] != '\0')
    return -1;
  const char *m = strstr (months, mon);
  if (m == NULL || strlen (mon) != 3 || (m - months) % 3 != 0)
    return -1;
  g_autoptr (GDateTime) d = g_date_time_new_utc (year, (int) (m - months) / 3 + 1, day, hh, mm, ss);
  return d ? g_date_time_to_unix (d) : -1;
}

gboolean
annals_http_not_modified (AnnalsHttp *h, const char *etag)
{
  annals_http_header (h, "ETag", etag);
  const char *inm = annals_http_param (h, "\x01if-none-match");
  const char *ims = annals_http_param (h, "\x01if-modified-since");
  if (inm == NULL && ims != NULL && h->last_modified > 0) {
    gint64 since = http_date (ims);
    if (since < h->last_modified)
      return FALSE;
    annals_http_status (h, 304);
    annals_http_begin (h);
    return TRUE;
  }
  if (inm == NULL)
    return FALSE;
  /* A list of tags; weak comparison (RFC 9110 13.1.2). */
  g_auto (GStrv) tags = g_strsplit (inm, ",", 64);
  gboolean match = FALSE;
  for (char **t = tags; *t && !match; t++) {
    const char *tag = g_strstrip (*t);
    if (g_str_has_prefix (tag, "W/"))
      tag += 2;
    match = strcmp (tag, "*") == 0 || strcmp (tag, etag) == 0;
  }
  if (!match)
    return FALSE;
  annals_http_status (h, 304);
  annals_http_begin (h);
  return TRUE;
}
