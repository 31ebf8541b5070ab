/* mime: a message's MIME tree, walked iteratively, decoded to text.
 *
 * annals_mime_parts() walks the tree with an explicit stack (never
 * recursion on sender-controlled nesting), at most ANNALS_MIME_MAX_DEPTH
 * deep and ANNALS_MIME_MAX_PARTS parts; libetpan parses each part's
 * Content-Type and undoes its Content-Transfer-Encoding; iconv converts
 * charsets to UTF-8 (with the aliases real mail uses; unknown charsets
 * become U+FFFD, never dropped); text/html becomes text, format=flowed
 * text is joined back into paragraphs (RFC 3676, DelSp too).  Broken input
 * gives what could be read, never a failure.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_MIME_MAX_DEPTH 16
#define ANNALS_MIME_MAX_PARTS 500
/* Text kept per part for indexing and display. */
#define ANNALS_MIME_MAX_TEXT (4 * 1024 * 1024)

typedef struct {
  char *content_type;       /* "text/plain", lowercased */
  char *charset;            /* as declared, or NULL */
  char *filename;           /* decoded (RFC 2047 / RFC 2231), or NULL */
  guint depth;              /* 0 for the message itself */
  gboolean attachment;      /* a download rather than text to show */
  gboolean from_html;       /* text made from text/html */
  gboolean charset_unknown; /* bytes were replaced: the charset was not known */
  char *text;               /* UTF-8 text of text parts; NULL for others */
  gboolean shown;           /* the message's text, shown and indexed: a text part,
                             * not an HTML alternative of a plain one */
  const guint8 *body;       /* the part's body as in the message (still encoded) */
  gsize body_length;
  int encoding;    /* libetpan's MAILMIME_MECHANISM_* */
  char *forwarded; /* on the first part of a message/rfc822 (forwarded mail): its
                    * From, To, Cc, Date and Subject as "Name: value" lines, decoded; else NULL */
} AnnalsMimePart;

void annals_mime_part_free (AnnalsMimePart *part);

/* The leaf parts of raw in document order: a new array of
 * AnnalsMimePart (freed with it).  Parts point into raw: keep it alive. */
GPtrArray *annals_mime_parts (const guint8 *raw, gsize length);

/* A part's body with its transfer encoding undone: new. */
GBytes *annals_mime_part_decode (const AnnalsMimePart *part);

/* Converts bytes in charset to valid UTF-8 (new string).  *unknown is
 * set when the charset was not known and bytes were replaced. */
char *annals_mime_to_utf8 (const char *data, gsize length, const char *charset, gboolean *unknown);

/* text/html to plain text (new): tags dropped, block ends as newlines,
 * entities decoded, script and style dropped.  Links to http, https and
 * mailto targets keep them: "agenda [1]", and "[1] https://..." lines
 * under the text (other schemes and relative links are dropped). */
char *annals_mime_html_to_text (const char *html, gsize length);

/* Splits text into new lines and quoted lines ("> ..." and the like). */
void annals_mime_split_quoted (const char *text, GString *fresh, GString *quoted);

/* Lowercases nothing, drops accents: "réseau" -> "reseau" (new). */
char *annals_mime_fold_accents (const char *utf8);

G_END_DECLS
