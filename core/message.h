/* message: the header fields annals keeps, parsed once with libetpan.
 *
 * annals_message_info_parse() never fails: mail that libetpan cannot parse
 * still gets an info with `unparsable` set and whatever could be found,
 * because the archive keeps every message byte for byte regardless.
 * Every string is valid UTF-8 with RFC 2047 encoded-words decoded and
 * folding and control characters turned into spaces.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Marks an absent or unreadable Date:. */
#define ANNALS_NO_DATE G_MININT64

/* Sender-controlled sizes are capped: a header block past this is
 * parsed up to the cap only. */
#define ANNALS_MESSAGE_MAX_HEADER_BYTES (1024 * 1024)

/* The header fields annals keeps, one value struct embedded (member
 * `hdr`) wherever they travel: AnnalsMessageInfo (parsed here),
 * AnnalsStoreMeta (the store's meta record), AnnalsIndexSummary (the
 * index's document data, which keeps a few).  Strings are owned, NULL
 * when the header was absent.  Start from ANNALS_MESSAGE_HEADER_INIT (or
 * annals_message_header_init()); annals_message_header_clear() frees. */
typedef struct {
  char *message_id;  /* without angle brackets */
  char *in_reply_to; /* first Message-ID of In-Reply-To */
  char *references;  /* Message-IDs of References, space-separated */
  gint64 date;       /* Date: as seconds since the epoch (UTC), or ANNALS_NO_DATE */
  char *from;        /* "Name <addr>" or "addr" */
  char *from_addr;   /* the address alone */
  char *to;          /* decoded, comma-separated */
  char *cc;
  char *subject;
  char *list_id;
} AnnalsMessageHeader;

#define ANNALS_MESSAGE_HEADER_INIT ((AnnalsMessageHeader){ .date = ANNALS_NO_DATE })

/* Sets h to no fields (h holds nothing yet). */
void annals_message_header_init (AnnalsMessageHeader *h);
/* Frees h's strings and leaves it as annals_message_header_init() does. */
void annals_message_header_clear (AnnalsMessageHeader *h);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnnalsMessageHeader, annals_message_header_clear)

typedef struct {
  AnnalsMessageHeader hdr;     /* hdr.message_id is never NULL */
  gboolean message_id_derived; /* no Message-ID: derived from the content hash */
  gboolean unparsable;         /* libetpan could not parse the header block */
} AnnalsMessageInfo;

/* Parses the header block of raw.  sha256_hex (64 hex digits) names the
 * content and supplies the derived Message-ID when there is none.
 * Returns a new info, free with annals_message_info_free(). */
AnnalsMessageInfo *annals_message_info_parse (const guint8 *raw, gsize length, const char *sha256_hex);
void annals_message_info_free (AnnalsMessageInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsMessageInfo, annals_message_info_free)

/* The Message-ID given to mail without one: "sha256.<hex>@annals.invalid". */
char *annals_message_derived_id (const char *sha256_hex);

/* A Message-ID as a user or a URL gives it, without its <> (a lone
 * leading < goes too).  Returns a new string. */
char *annals_message_id_strip (const char *id);

/* Decodes an unstructured header value (RFC 2047 words, folding,
 * 8-bit text read as UTF-8 or else Windows-1252).  Returns a new string. */
char *annals_message_decode_header (const char *value, gsize length);

/* The display name of a From: as hdr.from holds it ("Name <addr>", the
 * name quoted when it has RFC 5322 specials), without its quotes and
 * backslashes.  Returns a new string, NULL when from is an address alone. */
char *annals_message_from_name (const char *from);

/* Does p (length bytes) start with something shaped like a header
 * field: a name of printable ASCII without spaces, then a colon? */
gboolean annals_message_header_shaped (const guint8 *p, gsize length);

/* Length of the header block including the blank line that ends it
 * (the whole message when there is no blank line). */
gsize annals_message_header_length (const guint8 *raw, gsize length);

/* Bytes of an ISO 8601 date as annals_message_iso_date() writes it. */
#define ANNALS_MESSAGE_ISO_DATE_SIZE 32

/* Writes t (seconds since the epoch) to out as "2021-04-19T15:28:51Z",
 * the one form every program prints.  ANNALS_NO_DATE, or a date that
 * cannot be written, gives "" and FALSE. */
gboolean annals_message_iso_date (gint64 t, char out[ANNALS_MESSAGE_ISO_DATE_SIZE]);

/* Converts a broken-down date with its zone (+hhmm as an int, e.g. -500)
 * to seconds since the epoch; ANNALS_NO_DATE when out of range. */
gint64 annals_message_date_to_unix (int year, int month, int day, int hour, int min, int sec, int zone);

G_END_DECLS
