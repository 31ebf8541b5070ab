/* mbox: see mbox.h. */
#include "core/mbox.h"
#include "core/message.h"
#include "core/store.h"

#include <string.h>
#include <time.h>

void
annals_mbox_splitter_init (AnnalsMboxSplitter *splitter, AnnalsMboxVariant variant)
{
  splitter->variant = variant;
  splitter->scan = 0;
}

static const char *const day_names[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const month_names[]
    = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* A three-letter name from names, followed by white space. */
static int
name_index (const char *s, const char *const *names, int n)
{
  if (strlen (s) < 4 || !g_ascii_isspace (s[3]))
    return -1;
  for (int k = 0; k < n; k++)
    if (g_ascii_strncasecmp (s, names[k], 3) == 0)
      return k;
  return -1;
}

static const char *
skip_space (const char *s)
{
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

static const char *
next_word (const char *s)
{
  while (*s != '\0' && *s != ' ' && *s != '\t')
    s++;
  return skip_space (s);
}

/* Reads 1 to max digits; returns the value or -1. */
static int
read_number (const char **s, int max)
{
  int v = 0, n = 0;
  while (n < max && g_ascii_isdigit (**s)) {
    v = v * 10 + (**s - '0');
    (*s)++;
    n++;
  }
  return n > 0 ? v : -1;
}

gboolean
annals_mbox_envelope_parse (const guint8 *line, gsize length, gint64 *when)
{
  /* The same decision as mutt's is_from(): "From ", an optional sender
   * (quotes and backslashes may hide spaces in it; pipermail writes
   * "user at host"), then weekday, month, day, hh:mm[:ss], up to two
   * zone words, and a two- or four-digit year.  Anything after the year
   * (e.g. "remote from host") is ignored. */
  char copy[1024];
  if (length < 5 || length >= sizeof copy || memcmp (line, "From ", 5) != 0 || memchr (line, '\0', length) != NULL)
    return FALSE;
  memcpy (copy, line, length);
  copy[length] = '\0';
  const char *s = skip_space (copy + 5);
  if (*s == '\0')
    return FALSE;
  if (name_index (s, day_names, 7) < 0) {
    const char *p = s;
    gboolean quoted = FALSE;
    for (; *p != '\0' && (quoted || (*p != ' ' && *p != '\t')); p++) {
      if (*p == '\\') {
        if (*++p == '\0')
          return FALSE;
      } else if (*p == '"') {
        quoted = !quoted;
      }
    }
    if (quoted || *p == '\0')
      return FALSE;
    if (g_ascii_strncasecmp (p, " at ", 4) == 0) {
      p = strchr (p + 4, ' ');
      if (p == NULL)
        return FALSE;
    }
    s = skip_space (p);
    if (name_index (s, day_names, 7) < 0)
      return FALSE;
  }
  s = next_word (s);
  /* A local user named like a weekday: "From Mon Mon Apr ...". */
  if (name_index (s, day_names, 7) >= 0)
    s = next_word (s);
  int month = name_index (s, month_names, 12);
  if (month < 0)
    return FALSE;
  s = next_word (s);
  int day = read_number (&s, 2);
  if (day < 1 || day > 31 || (*s != ' ' && *s != '\t'))
    return FALSE;
  s = skip_space (s);
  int hour = read_number (&s, 2);
  if (hour < 0 || hour > 23 || *s++ != ':')
    return FALSE;
  int min = read_number (&s, 2);
  if (min < 0 || min > 59)
    return FALSE;
  int sec = 0;
  if (*s == ':') {
    s++;
    sec = read_number (&s, 2);
    if (sec < 0 || sec > 60)
      return FALSE;
  }
  if (*s != ' ' && *s != '\t')
    return FALSE;
  s = skip_space (s);
  int zone = 0;
  if (g_ascii_isalpha (*s) || *s == '+' || *s == '-') {
    if (*s == '+' || *s == '-') {
      const char *z = s + 1;
      int v = read_number (&z, 4);
      if (v >= 0 && z - s == 5)
        zone = *s == '-' ? -v : v;
    }
    s = next_word (s);
    /* Two zone words: "Wed Aug  2 00:39:12 MET DST 1995". */
    if (g_ascii_isalpha (*s))
      s = next_word (s);
  }
  const char *y = s;
  int year = read_number (&s, 4);
  if (year < 0 || (s - y != 2 && s - y != 4) || (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r'))
    return FALSE;
  if (when != NULL)
    *when = annals_message_date_to_unix (year, month + 1, day, hour, min, sec, zone);
  return TRUE;
}

/* Content-Length of the header block [p, p+length), or -1. */
static gssize
content_length (const guint8 *p, gsize length)
{
  static const char name[] = "content-length:";
  const gsize nlen = sizeof name - 1;
  gsize i = 0;
  while (i < length) {
    const guint8 *nl = memchr (p + i, '\n', length - i);
    gsize end = nl ? (gsize) (nl - p) : length;
    if (end - i > nlen && g_ascii_strncasecmp ((const char *) p + i, name, nlen) == 0) {
      gsize j = i + nlen;
      while (j < end && (p[j] == ' ' || p[j] == '\t'))
        j++;
      gint64 v = 0;
      gsize digits = 0;
      while (j < end && g_ascii_isdigit (p[j]) && digits < 12) {
        v = v * 10 + (p[j] - '0');
        j++;
        digits++;
      }
      return digits > 0 ? (gssize) v : -1;
    }
    i = end + 1;
  }
  return -1;
}

/* mboxcl2: the message ends Content-Length bytes after its header block,
 * where a separator (or the end) must stand.  Returns the body end, or 0
 * when Content-Length is absent or does not land on a separator, or
 * G_MAXSIZE when more data is needed to tell. */
static gsize
cl2_end (const guint8 *buf, gsize length, gboolean eof, gsize body_start)
{
  gsize hlen = annals_message_header_length (buf + body_start, length - body_start);
  if (body_start + hlen == length && !eof)
    return G_MAXSIZE;
  gssize cl = content_length (buf + body_start, hlen);
  if (cl < 0)
    return 0;
  gsize end = body_start + hlen + (gsize) cl;
  if (end + 7 > length && !eof)
    return G_MAXSIZE;
  if (end > length)
    return 0;
  if (end == length)
    return end;
  const guint8 *rest = buf + end;
  gsize left = length - end;
  if (left >= 1 && rest[0] == '\n' && (left == 1 || (left >= 6 && memcmp (rest + 1, "From ", 5) == 0)))
    return end;
  if (left >= 5 && memcmp (rest, "From ", 5) == 0)
    return end;
  return 0;
}

AnnalsMboxStatus
annals_mbox_splitter_next (AnnalsMboxSplitter *s, const guint8 *buf, gsize length, gboolean eof, AnnalsMboxSpan *span)
{
  memset (span, 0, sizeof *span);
  gsize pos = 0;
  for (;;) {
    if (pos < length && buf[pos] == '\n')
      pos++;
    else if (pos + 1 < length && buf[pos] == '\r' && buf[pos + 1] == '\n')
      pos += 2;
    else
      break;
  }
  if (pos == length || (pos + 1 == length && buf[pos] == '\r')) {
    span->consumed = length;
    return eof ? ANNALS_MBOX_END : ANNALS_MBOX_NEED_MORE;
  }
  if (length - pos < 5 && !eof)
    return ANNALS_MBOX_NEED_MORE;
  if (length - pos < 5 || memcmp (buf + pos, "From ", 5) != 0)
    return ANNALS_MBOX_NOT_MBOX;

  const guint8 *nl = memchr (buf + pos, '\n', length - pos);
  if (nl == NULL && !eof)
    return ANNALS_MBOX_NEED_MORE;
  gsize env_end = nl ? (gsize) (nl - buf) : length;
  span->envelope = buf + pos;
  span->envelope_length = env_end - pos;
  if (span->envelope_length > 0 && buf[env_end - 1] == '\r')
    span->envelope_length--;
  gsize body_start = nl ? env_end + 1 : length;

  if (s->variant == ANNALS_MBOX_CL2) {
    gsize end = cl2_end (buf, length, eof, body_start);
    if (end == G_MAXSIZE)
      return ANNALS_MBOX_NEED_MORE;
    if (end > 0) {
      span->body = buf + body_start;
      span->body_length = end - body_start;
      span->consumed = end < length && buf[end] == '\n' ? end + 1 : end;
      s->scan = 0;
      return ANNALS_MBOX_MESSAGE;
    }
  }

  gsize from = MAX (body_start, s->scan);
  while (from < length) {
    const guint8 *hit = memmem (buf + from, length - from, "\nFrom ", 6);
    if (hit == NULL) {
      from = length;
      break;
    }
    gsize i = (gsize) (hit - buf); /* buf[i] ends the line before the From line */
    from = i + 1;
    /* A blank line before the envelope is the usual, not the rule:
     * Eudora and concatenated files have none, and mutt does not ask for
     * it.  The envelope and header tests below decide. */
    gboolean blank_before
        = i == body_start || buf[i - 1] == '\n' || (buf[i - 1] == '\r' && (i - 1 == body_start || buf[i - 2] == '\n'));
    const guint8 *from_nl = memchr (buf + i + 1, '\n', length - i - 1);
    const guint8 *next_nl = from_nl ? memchr (from_nl + 1, '\n', (gsize) (buf + length - from_nl - 1)) : NULL;
    if (next_nl == NULL && !eof) {
      s->scan = i;
      return ANNALS_MBOX_NEED_MORE;
    }
    if (from_nl == NULL)
      break;
    gsize next_start = (gsize) (from_nl + 1 - buf);
    gsize next_end = next_nl ? (gsize) (next_nl - buf) : length;
    gsize from_end = (gsize) (from_nl - buf);
    if (from_end > i + 1 && buf[from_end - 1] == '\r')
      from_end--;
    /* Body lines such as "From the policies" followed by
     * "<https://...>:" are common in pipermail and careless mboxo: only
     * a real envelope line separates. */
    if (!annals_mbox_envelope_parse (buf + i + 1, from_end - i - 1, NULL)
        || !annals_message_header_shaped (buf + next_start, next_end - next_start))
      continue;
    gsize blank = blank_before ? i : i + 1; /* where the blank line starts (none: the body keeps its line end) */
    if (blank_before && i > body_start && buf[i - 1] == '\r' && (i - 1 == body_start || buf[i - 2] == '\n'))
      blank = i - 1;
    span->body = buf + body_start;
    span->body_length = blank - body_start;
    span->consumed = i + 1;
    s->scan = 0;
    return ANNALS_MBOX_MESSAGE;
  }
  if (!eof) {
    /* Resume a little before the end: a "\nFrom " may straddle it. */
    s->scan = length > body_start + 8 ? length - 8 : body_start;
    return ANNALS_MBOX_NEED_MORE;
  }
  gsize end = length;
  if (end >= body_start + 2 && buf[end - 1] == '\n' && buf[end - 2] == '\n')
    end--;
  else if (end >= body_start + 4 && memcmp (buf + end - 4, "\r\n\r\n", 4) == 0)
    end -= 2;
  span->body = buf + body_start;
  span->body_length = end - body_start;
  span->consumed = length;
  s->scan = 0;
  return ANNALS_MBOX_MESSAGE;
}

AnnalsMboxVariant
annals_mbox_detect (const guint8 *buf, gsize length)
{
  gsize pos = 0;
  while (pos < length && (buf[pos] == '\n' || buf[pos] == '\r'))
    pos++;
  if (length - pos < 5 || memcmp (buf + pos, "From ", 5) != 0)
    return ANNALS_MBOX_RD;
  const guint8 *nl = memchr (buf + pos, '\n', length - pos);
  gsize env_end = nl ? (gsize) (nl - buf) : length;
  /* Pipermail writes the sender as "user at example.org". */
  const guint8 *addr_end = memchr (buf + pos + 5, ' ', env_end - pos - 5);
  if (addr_end != NULL && env_end - (gsize) (addr_end - buf) > 4 && memcmp (addr_end, " at ", 4) == 0)
    return ANNALS_MBOX_PIPERMAIL;
  if (nl != NULL) {
    gsize body_start = env_end + 1;
    gsize end = cl2_end (buf, length, TRUE, body_start);
    if (end > 0 && end != G_MAXSIZE)
      return ANNALS_MBOX_CL2;
  }
  return ANNALS_MBOX_RD;
}

static const char *const variant_names[] = { "auto", "mboxrd", "mboxo", "mboxcl2", "pipermail" };

const char *
annals_mbox_variant_name (AnnalsMboxVariant variant)
{
  return variant <= ANNALS_MBOX_PIPERMAIL ? variant_names[variant] : "?";
}

gboolean
annals_mbox_variant_from_name (const char *name, AnnalsMboxVariant *variant)
{
  for (guint i = 0; i < G_N_ELEMENTS (variant_names); i++)
    if (g_strcmp0 (name, variant_names[i]) == 0) {
      *variant = (AnnalsMboxVariant) i;
      return TRUE;
    }
  return FALSE;
}

/* Does the line at p (length bytes left) read ">...>From "? Returns the
 * number of '>' or 0. */
static gsize
quoted_from (const guint8 *p, gsize length)
{
  gsize q = 0;
  while (q < length && p[q] == '>')
    q++;
  if (q > 0 && length - q >= 5 && memcmp (p + q, "From ", 5) == 0)
    return q;
  return 0;
}

GBytes *
annals_mbox_unescape (AnnalsMboxVariant variant, const guint8 *body, gsize length)
{
  if (variant != ANNALS_MBOX_RD && variant != ANNALS_MBOX_O)
    return NULL;
  if (memmem (body, length, ">From ", 6) == NULL)
    return NULL;
  GByteArray *out = NULL;
  gsize copied = 0; /* body[0, copied) is in out already */
  gsize line = 0;
  while (line < length) {
    gsize q = quoted_from (body + line, length - line);
    if (q > 0 && (variant == ANNALS_MBOX_RD || q == 1)) {
      if (out == NULL)
        out = g_byte_array_sized_new ((guint) MIN (length, G_MAXUINT));
      g_byte_array_append (out, body + copied, (guint) (line - copied));
      copied = line + 1; /* drop one '>' */
    }
    const guint8 *nl = memchr (body + line, '\n', length - line);
    line = nl ? (gsize) (nl - body) + 1 : length;
  }
  if (out == NULL)
    return NULL;
  g_byte_array_append (out, body + copied, (guint) (length - copied));
  return g_byte_array_free_to_bytes (out);
}

void
annals_mbox_append_mboxrd (GString *out, const char *envelope, const char *sender, gint64 date, const guint8 *raw,
                           gsize length)
{
  /* A stored envelope is written again only when it reads as one, or
   * the message would not split off on import. */
  if (envelope != NULL && annals_mbox_envelope_parse ((const guint8 *) envelope, strlen (envelope), NULL)
      && strpbrk (envelope, "\r\n") == NULL
      /* A pipermail envelope would make the output read as pipermail,
       * whose bodies are not unquoted. */
      && annals_mbox_detect ((const guint8 *) envelope, strlen (envelope)) != ANNALS_MBOX_PIPERMAIL) {
    g_string_append (out, envelope);
  } else {
    /* asctime form in UTC, as mbox(5) has it. */
    char when[64] = "Thu Jan  1 00:00:00 1970";
    if (date != ANNALS_NO_DATE) {
      time_t t = (time_t) date;
      struct tm tm;
      if (gmtime_r (&t, &tm) != NULL)
        strftime (when, sizeof when, "%a %b %e %H:%M:%S %Y", &tm);
    }
    gsize line = out->len;
    g_string_append_printf (out, "From %s %s",
                            sender && *sender && !strpbrk (sender, " \t\r\n") ? sender : "MAILER-DAEMON", when);
    /* A sender that spoils the line (an unbalanced quote): the line must
     * read as an envelope, or the message would not split off. */
    if (!annals_mbox_envelope_parse ((const guint8 *) out->str + line, out->len - line, NULL)) {
      g_string_truncate (out, line);
      g_string_append_printf (out, "From MAILER-DAEMON %s", when);
    }
  }
  g_string_append_c (out, '\n');
  gsize line = 0;
  while (line < length) {
    const guint8 *nl = memchr (raw + line, '\n', length - line);
    gsize end = nl ? (gsize) (nl - raw) + 1 : length;
    gsize q = 0;
    while (line + q < end && raw[line + q] == '>')
      q++;
    if (end - line - q >= 5 && memcmp (raw + line + q, "From ", 5) == 0)
      g_string_append_c (out, '>');
    g_string_append_len (out, (const char *) raw + line, (gssize) (end - line));
    line = end;
  }
  if (length == 0 || raw[length - 1] != '\n')
    g_string_append_c (out, '\n');
  g_string_append_c (out, '\n');
}

gboolean
annals_mbox_append_stored (GString *out, AnnalsStore *store, guint64 number, gsize *raw_length, GError **error)
{
  g_autoptr (GBytes) raw = annals_store_read (store, number, NULL, error);
  if (raw == NULL)
    return FALSE;
  g_autoptr (AnnalsStoreMeta) meta = annals_store_read_meta (store, number, error);
  if (meta == NULL)
    return FALSE;
  gsize length;
  const guint8 *data = g_bytes_get_data (raw, &length);
  annals_mbox_append_mboxrd (out, meta->envelope, meta->hdr.from_addr,
                             meta->hdr.date != ANNALS_NO_DATE ? meta->hdr.date : meta->receipt, data, length);
  if (raw_length != NULL)
    *raw_length = length;
  return TRUE;
}
