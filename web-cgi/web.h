/* web: what the pages of annals.cgi share (private to web-cgi/).
 *
 * One request is a Ctx: the response, the site's configuration, the list
 * it is about and the stores it opened.  The pages are split by what
 * they show, each file with its own part of the site:
 *
 *   frame.c         the page frame (head, navigation, footer, ETag),
 *                   escaping, dates, error pages, [web] limits
 *   lookup.c        finding a message by Message-ID or number, its URL
 *   list-view.c     the site's lists, a list's newest threads, search
 *   thread-view.c   thread order, the skeleton, /t/ and /T/
 *   message-view.c  one message (rendered bodies cached), raw, attachments
 *   feed.c          Atom feeds and mbox.gz downloads
 *   logfiles.c      the transparency log's files and proofs
 *   about.c         what the archive promises, its key, how to verify
 *   router.c        URL to page (doc/urls.md), annals_web_handle()
 *
 * Strings returned by the functions below are the caller's to free.
 */
#pragma once

#include "core/config.h"
#include "web-cgi/http.h"
#include "core/message.h"
#include "search/query.h"
#include "core/store.h"

G_BEGIN_DECLS

#define PAGE_SIZE 25
#define THREAD_MAX 1000
#define COPIES_MAX 100
/* What a redaction can change is cached briefly and revalidated (ETag),
 * never kept as immutable: a cache then drops redacted bytes within
 * minutes. */
#define MESSAGE_CACHE "public, max-age=300"
#define MAX_PATH 4096
#define MAX_QUERY 4096
/* Text of one message in a feed entry. */
#define FEED_TEXT_MAX ((gsize) 64 * 1024)
/* Text of one message a search snippet is taken from. */
#define SNIPPET_TEXT_MAX ((gsize) 64 * 1024)

/* What one request may cost ([web] in annals.conf, doc/urls.md). */
#define MBOX_MAX_MESSAGES 2000
#define MBOX_MAX_BYTES ((guint64) 64 * 1024 * 1024)
#define TEXT_MAX_BYTES ((guint64) 1024 * 1024)
#define MESSAGE_MAX_BYTES ((guint64) 16 * 1024 * 1024)

typedef struct {
  AnnalsHttp *h;
  const char *root;
  AnnalsConfig *config;
  const char *list;   /* NULL for the site, "all" across lists */
  GPtrArray *dirs;    /* list folders searched (one, or all) */
  GHashTable *stores; /* list name -> AnnalsStore used by this request */
  gboolean obfuscate;
} Ctx;

/* frame.c */
void annals_web_fmt_date (gint64 t, char *out, gsize n);
/* When m was sent, as far as the archive believes it: its Date:, or
 * the receipt time when Date: is more than a day later (the index sorts
 * by the same). */
gint64 annals_web_sort_date (const AnnalsIndexSummary *m);
/* That date (its first width characters), and the Date: as the sender's
 * claim when it is not believed. */
void annals_web_date_cell (GString *s, const AnnalsIndexSummary *m, int width);
char *annals_web_obfuscate (gboolean on, const char *text);
void annals_web_esc (GString *s, const char *t);
void annals_web_esc_obf (gboolean on, GString *s, const char *t);
gboolean annals_web_list_obfuscates (Ctx *c, const char *list);
gboolean annals_web_row_obfuscates (Ctx *c, const char *list);
char *annals_web_msg_url (Ctx *c, const char *list, const char *message_id, const char *suffix);
void annals_web_page_start (Ctx *c, GString *s, const char *title);
void annals_web_search_form (Ctx *c, GString *s, const char *value);
/* Ends the page and sends it (or 304 when the client has it). */
void annals_web_page_end (Ctx *c, GString *s);
void annals_web_error_page (Ctx *c, int status, const char *what);
/* The status of a failed search (ANNALS_QUERY_ERROR): 400 for the
 * user's query, 503 for an index not ready yet, 500 for one the server
 * has to mend. */
int annals_web_search_error_status (const GError *error);
/* The list's store, opened once per request (or kept by the process
 * and refreshed) and owned by c or the process. */
AnnalsStore *annals_web_store_of (Ctx *c, const char *list, GError **error);
guint64 annals_web_limit (Ctx *c, const char *key, guint64 fallback);

/* lookup.c */
AnnalsQueryResults *annals_web_indexed_copies (Ctx *c, const char *list, const char *message_id);
gboolean annals_web_find_message (Ctx *c, const char *list, const char *message_id, AnnalsIndexSummary *out);
gboolean annals_web_find_number (Ctx *c, const char *list, guint64 n, AnnalsIndexSummary *out);
char *annals_web_message_path (Ctx *c, const AnnalsIndexSummary *m);
char *annals_web_message_url (Ctx *c, const AnnalsIndexSummary *m);

/* list-view.c */
void annals_web_page_lists (Ctx *c);
void annals_web_page_list (Ctx *c);
void annals_web_page_search (Ctx *c, const char *q);
/* /LIST/YYYY/, /LIST/YYYY-MM/ and /LIST/YYYY-MM.mbox.gz, by receipt time. */
void annals_web_page_year (Ctx *c, int year);
void annals_web_page_month (Ctx *c, int year, int month);
void annals_web_month_mbox (Ctx *c, int year, int month);

/* thread-view.c */
AnnalsQueryResults *annals_web_thread_of (Ctx *c, const char *list, const char *thread);
void annals_web_render_thread_skeleton (Ctx *c, GString *s, AnnalsIndexSummary *cur, AnnalsQueryResults *t,
                                        gboolean full);
void annals_web_page_thread (Ctx *c, AnnalsIndexSummary *m, gboolean nested);
/* The page of a Message-ID that messages name but the archive never
 * had (200 for the page, 404 with the same links for anything under
 * it); FALSE when nothing names it. */
gboolean annals_web_page_ghost (Ctx *c, const char *list, const char *message_id, gboolean page);

/* message-view.c */
void annals_web_render_message (Ctx *c, GString *s, AnnalsIndexSummary *m, gboolean heading);
/* The note that message number of list was redacted: when and why. */
void annals_web_render_tombstone (Ctx *c, GString *s, const char *list, guint64 number);
char *annals_web_message_text (Ctx *c, const AnnalsIndexSummary *m, gsize max);
/* Its new (non-quoted) lines, from the first max bytes of its text; NULL
 * when it cannot be read (redacted).  sha256 (may be NULL): the SHA-256
 * of the record the text is from. */
char *annals_web_message_fresh_text (Ctx *c, const AnnalsIndexSummary *m, gsize max, guint8 *sha256);
/* A persistent process's search snippets: the one kept for m and query q
 * (a new string) while m's record is still the one with that SHA-256,
 * else NULL (always NULL without a cache). */
char *annals_web_kept_snippet (Ctx *c, const AnnalsIndexSummary *m, const char *q);
void annals_web_keep_snippet (Ctx *c, const AnnalsIndexSummary *m, const char *q, const guint8 *sha256,
                              const char *snippet);
void annals_web_page_message (Ctx *c, AnnalsIndexSummary *m);
void annals_web_page_raw (Ctx *c, AnnalsIndexSummary *m);
void annals_web_page_attachment (Ctx *c, AnnalsIndexSummary *m, const char *seg);

/* feed.c */
void annals_web_mbox_gz (Ctx *c, AnnalsQueryResults *r, const char *name);
void annals_web_atom_feed (Ctx *c, AnnalsQueryResults *r, const char *title, const char *self);
void annals_web_page_new_atom (Ctx *c);
void annals_web_page_thread_atom (Ctx *c, AnnalsIndexSummary *m);

/* about.c: /about/ (list NULL) and /LIST/about/. */
void annals_web_page_about (Ctx *c, const char *list);

/* logfiles.c */
void annals_web_page_proof (Ctx *c, AnnalsIndexSummary *m);
void annals_web_page_log_file (Ctx *c, const char *rest);
/* /LIST/store/...; /log/site-checkpoint ("site-checkpoint") and
 * /about/vkey ("vkey"). */
void annals_web_page_store_file (Ctx *c, const char *rest);
void annals_web_page_site_file (Ctx *c, const char *what);

G_END_DECLS
