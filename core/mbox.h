/* mbox: split mbox input into messages, and write mboxrd.
 *
 * The splitter works on a buffer that the caller fills: it returns one
 * message at a time, or asks for more data.  A separator is a "From "
 * line at the start of the input or after a blank line that reads as an
 * envelope ("From " sender asctime-date, see annals_mbox_envelope_parse),
 * followed by a line shaped like a header field.  That one rule reads
 * mboxrd, mboxo and Mailman 2 pipermail text archives (whose bodies hold
 * unescaped "From " lines such as "From the minutes:"); mboxcl2 messages are cut by their Content-Length when it lands
 * on a separator.  The blank line before a separator belongs to the
 * separator, not to the message.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  ANNALS_MBOX_AUTO,      /* guess from the first message */
  ANNALS_MBOX_RD,        /* >From quoting: one '>' is taken off ^>+From */
  ANNALS_MBOX_O,         /* only ^>From loses its '>' */
  ANNALS_MBOX_CL2,       /* Content-Length, no quoting */
  ANNALS_MBOX_PIPERMAIL, /* Mailman 2 text archive, no quoting */
} AnnalsMboxVariant;

typedef enum {
  ANNALS_MBOX_MESSAGE,   /* span holds one message */
  ANNALS_MBOX_NEED_MORE, /* append data to buf (keep its start) and call again */
  ANNALS_MBOX_END,       /* only blank lines were left */
  ANNALS_MBOX_NOT_MBOX,  /* buf does not start with a "From " line */
} AnnalsMboxStatus;

typedef struct {
  AnnalsMboxVariant variant; /* never AUTO once splitting starts */
  gsize scan;                /* where the separator search resumes */
} AnnalsMboxSplitter;

typedef struct {
  gsize consumed;         /* bytes of buf this message took, separator included */
  const guint8 *envelope; /* the "From " line, without its line end */
  gsize envelope_length;
  const guint8 *body; /* the message as it stands in the mbox (still quoted) */
  gsize body_length;
} AnnalsMboxSpan;

void annals_mbox_splitter_init (AnnalsMboxSplitter *splitter, AnnalsMboxVariant variant);

/* Finds the next message at the start of buf.  With eof FALSE it may ask
 * for more data; with eof TRUE it always decides. */
AnnalsMboxStatus annals_mbox_splitter_next (AnnalsMboxSplitter *splitter, const guint8 *buf, gsize length, gboolean eof,
                                            AnnalsMboxSpan *span);

/* Is line (length bytes, no line end) an mbox envelope line, "From "
 * sender date, as mutt's is_from() decides?  The sender may be absent,
 * quoted ("a b"@host), MAILER-DAEMON or pipermail's "user at host"; the
 * date is asctime with optional seconds, up to two zone words (PST,
 * +0000, MET DST) and a two- or four-digit year.  When it is, sets *when
 * (may be NULL) to the date in seconds (a numeric zone applied, zone names
 * ignored), or ANNALS_NO_DATE when the fields are out of range. */
gboolean annals_mbox_envelope_parse (const guint8 *line, gsize length, gint64 *when);

/* Guesses the variant from the start of an mbox. */
AnnalsMboxVariant annals_mbox_detect (const guint8 *buf, gsize length);

const char *annals_mbox_variant_name (AnnalsMboxVariant variant);
gboolean annals_mbox_variant_from_name (const char *name, AnnalsMboxVariant *variant);

/* Undoes the variant's From quoting.  Returns a new GBytes owned by the
 * caller, or NULL when the body needs no change. */
GBytes *annals_mbox_unescape (AnnalsMboxVariant variant, const guint8 *body, gsize length);

/* Appends one message to out as mboxrd: the From line (envelope if not
 * it reads as an envelope line, else made from sender and date), the quoted message, a final
 * newline if it lacks one, and the blank separator line. */
void annals_mbox_append_mboxrd (GString *out, const char *envelope, const char *sender, gint64 date, const guint8 *raw,
                                gsize length);

typedef struct _AnnalsStore AnnalsStore;

/* Appends message number of store to out as mboxrd, as every exporter
 * writes it: its stored envelope, else one made from its sender and its
 * Date: (its receipt when it has none).  *raw_length (may be NULL) gets
 * the message's size as stored.  On failure out is unchanged; a
 * redacted message or a redaction notice fails with
 * ANNALS_STORE_ERROR_REDACTED (it is not mail). */
gboolean annals_mbox_append_stored (GString *out, AnnalsStore *store, guint64 number, gsize *raw_length,
                                    GError **error);

G_END_DECLS
