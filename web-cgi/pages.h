/* pages: the archive on the web (doc/urls.md).
 *
 * annals_web_handle() answers one request under the archive root: the
 * lists, a list's newest threads, messages with their thread, threads
 * nested and flat, raw messages, thread mbox.gz, Atom feeds, search, the
 * transparency log's files and proofs, attachments.  Every byte that
 * comes from a message is HTML-escaped; HTML parts are shown as text;
 * no JavaScript.  The pages live in the files of web-cgi/ (web.h says which file
 * has what).
 */
#pragma once

#include "web-cgi/http.h"

G_BEGIN_DECLS

void annals_web_handle (AnnalsHttp *h, const char *root);

/* A process that answers many requests (FastCGI) keeps rendered message
 * bodies between them, up to max_bytes; 0 turns the cache off (the
 * default: a plain CGI process answers once). */
void annals_web_set_body_cache (gsize max_bytes);

/* A process that answers many requests (FastCGI) keeps the lists'
 * stores and indexes open between them (on), each checked at its first
 * use in a request: new messages, a redaction, an index rebuilt or a
 * list made again are seen at once.  Off (the default) closes them. */
void annals_web_set_keep_open (gboolean on);

G_END_DECLS
