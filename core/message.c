/* message: see message.h. */
#include "core/message.h"

#include <libetpan/libetpan.h>
#include <string.h>
#include <time.h>

gsize
annals_message_header_length (const guint8 *raw, gsize length)
{
  if (length > 0 && raw[0] == '\n')
    return 1;
  if (length > 1 && raw[0] == '\r' && raw[1] == '\n')
    return 2;
  const guint8 *p = raw;
  const guint8 *end = raw + length;
  while (p < end) {
    const guint8 *nl = memchr (p, '\n', (gsize) (end - p));
    if (nl == NULL)
      break;
    p = nl + 1;
    if (p < end && *p == '\n')
      return (gsize) (p + 1 - raw);
    if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
      return (gsize) (p + 2 - raw);
  }
  return length;
}

char *
annals_message_derived_id (const char *sha256_hex)
{
  return g_strdup_printf ("sha256.%s@annals.invalid", sha256_hex);
}

/* Turns folding and control characters into spaces, collapses runs of
 * white space and trims, in place; text must be valid UTF-8. */
static char *
clean_text (char *text)
{
  char *w = text;
  gboolean space = TRUE; /* drops leading white space */
  for (const char *r = text; *r; r++) {
    unsigned char c = (unsigned char) *r;
    if (c < 0x20 || c == 0x7f || c == ' ') {
      if (!space)
        *w++ = ' ';
      space = TRUE;
    } else {
      *w++ = (char) c;
      space = FALSE;
    }
  }
  if (w > text && w[-1] == ' ')
    w--;
  *w = '\0';
  return text;
}

/* Makes bytes into valid UTF-8: as is when they are, else read as
 * Windows-1252 (what 8-bit headers in the wild mostly are). */
static char *
to_utf8 (const char *bytes, gsize length)
{
  if (g_utf8_validate_len (bytes, length, NULL))
    return g_strndup (bytes, length);
  char *converted = g_convert (bytes, (gssize) length, "UTF-8", "WINDOWS-1252", NULL, NULL, NULL);
  if (converted != NULL)
    return converted;
  return g_utf8_make_valid (bytes, (gssize) length);
}

/* Encoded words that say ISO-8859-1 or US-ASCII mostly carry
 * Windows-1252 bytes (0x80-0x9f: quotes, dashes, the euro), which the
 * declared charset would make control characters: says Windows-1252
 * instead, as the bodies are read (core/mime.c).  Returns a new string. */
static char *
latin1_words_as_cp1252 (const char *value)
{
  static const char *const latin1[] = { "iso-8859-1", "iso_8859-1", "latin1", "us-ascii", "ascii" };
  GString *s = g_string_new (NULL);
  const char *p = value;
  const char *word;
  while ((word = strstr (p, "=?")) != NULL) {
    const char *end = word + 2 + strcspn (word + 2, "?*");
    gsize n = (gsize) (end - word - 2);
    g_string_append_len (s, p, word + 2 - p);
    p = word + 2;
    for (guint i = 0; i < G_N_ELEMENTS (latin1); i++)
      if (*end != '\0' && n == strlen (latin1[i]) && g_ascii_strncasecmp (p, latin1[i], n) == 0) {
        g_string_append (s, "windows-1252");
        p = *end == '*' ? end + strcspn (end, "?") : end; /* RFC 2231 language: dropped */
        break;
      }
  }
  g_string_append (s, p);
  return g_string_free (s, FALSE);
}

char *
annals_message_decode_header (const char *value, gsize length)
{
  g_autofree char *nul_free = g_strndup (value, length); /* stops at NUL */
  gsize len = strlen (nul_free);
  char *out = NULL;
  if (strstr (nul_free, "=?") != NULL) {
    size_t idx = 0;
    char *decoded = NULL;
    g_autofree char *words = latin1_words_as_cp1252 (nul_free);
    if (mailmime_encoded_phrase_parse ("utf-8", words, strlen (words), &idx, "utf-8", &decoded) == MAILIMF_NO_ERROR
        && decoded != NULL) {
      out = g_utf8_make_valid (decoded, -1);
      free (decoded);
    }
  }
  if (out == NULL)
    out = to_utf8 (nul_free, len);
  return clean_text (out);
}

static gint64
days_from_civil (gint64 y, int m, int d)
{
  /* Howard Hinnant's algorithm: days since 1970-01-01, proleptic Gregorian. */
  y -= m <= 2;
  gint64 era = (y >= 0 ? y : y - 399) / 400;
  gint64 yoe = y - era * 400;
  gint64 doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  gint64 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

gint64
annals_message_date_to_unix (int year, int month, int day, int hour, int min, int sec, int zone)
{
  if (year >= 0 && year < 50)
    year += 2000; /* RFC 5322 4.3: obsolete two-digit years */
  else if (year >= 50 && year < 1000)
    year += 1900;
  if (year < 1900 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || min < 0
      || min > 59 || sec < 0 || sec > 60 || zone < -9959 || zone > 9959)
    return ANNALS_NO_DATE;
  int zone_minutes = (zone / 100) * 60 + zone % 100;
  return days_from_civil (year, month, day) * 86400 + hour * 3600 + min * 60 + sec - (gint64) zone_minutes * 60;
}

static const char *const month_names[] = { "january", "february", "march",     "april",   "may",      "june",
                                           "july",    "august",   "september", "october", "november", "december" };

/* A month name, or its first three letters or more; -1 if none. */
static int
month_of (const char *word)
{
  gsize n = strlen (word);
  for (int m = 0; n >= 3 && m < 12; m++)
    if (n <= strlen (month_names[m]) && g_ascii_strncasecmp (word, month_names[m], n) == 0)
      return m + 1;
  return -1;
}

/* "+hhmm", "+hh:mm" or "+hh" at s into *zone (as +hhmm); FALSE if not. */
static gboolean
numeric_zone (const char *s, int *zone)
{
  if ((*s != '+' && *s != '-') || !g_ascii_isdigit (s[1]) || !g_ascii_isdigit (s[2]))
    return FALSE;
  int v = (s[1] - '0') * 1000 + (s[2] - '0') * 100;
  const char *m = s[3] == ':' ? s + 4 : s + 3;
  if (g_ascii_isdigit (m[0]) && g_ascii_isdigit (m[1]) && m[2] == '\0')
    v += (m[0] - '0') * 10 + (m[1] - '0');
  else if (s[3] != '\0')
    return FALSE;
  *zone = *s == '-' ? -v : v;
  return TRUE;
}

/* "hh:mm[:ss]" (or with dots) at *s, moving *s past it. */
static gboolean
clock_time (const char **s, int *hour, int *min, int *sec)
{
  const char *p = *s;
  int v[3] = { 0, 0, 0 }, n = 0;
  while (n < 3) {
    if (!g_ascii_isdigit (*p))
      return FALSE;
    v[n] = *p++ - '0';
    if (g_ascii_isdigit (*p))
      v[n] = v[n] * 10 + (*p++ - '0');
    n++;
    if ((*p != ':' && *p != '.') || !g_ascii_isdigit (p[1]))
      break;
    p++;
  }
  if (n < 2)
    return FALSE;
  *hour = v[0], *min = v[1], *sec = v[2];
  *s = p;
  return TRUE;
}

/* Reads a Date: value in the forms mailers have written: RFC 5322 and
 * 822 (zones UT, GMT, EST...), RFC 850 ("Wednesday, 03-Jan-24"),
 * asctime, ISO 8601, "+01:00" zones, full month names, dots in the time,
 * no time at all (midnight).  libetpan reads some of these wrongly (UT
 * and "+01:00" as one minute east) and others not at all.  Returns FALSE
 * when value does not name a day, month and year; else *date is the
 * instant or ANNALS_NO_DATE when the fields are impossible. */
static gboolean
loose_date (const char *value, gint64 *date)
{
  static const struct {
    const char *name;
    int zone;
  } zones[] = { { "UT", 0 },     { "UTC", 0 },    { "GMT", 0 },    { "Z", 0 },      { "EST", -500 }, { "EDT", -400 },
                { "CST", -600 }, { "CDT", -500 }, { "MST", -700 }, { "MDT", -600 }, { "PST", -800 }, { "PDT", -700 } };
  g_autofree char *copy = g_strdup (value);
  int depth = 0; /* comments (nested) go */
  for (char *c = copy; *c != '\0'; c++) {
    if (*c == '(')
      depth++;
    char ch = *c;
    if (depth > 0 || ch == ',' || g_ascii_isspace (ch))
      *c = ' ';
    if (ch == ')' && depth > 0)
      depth--;
  }
  int year = -1, month = -1, day = -1, hour = 0, min = 0, sec = 0, zone = 0, year_digits = 0;
  gboolean pm = FALSE, am = FALSE;
  g_auto (GStrv) words = g_strsplit (copy, " ", -1);
  for (char **w = words; *w != NULL; w++) {
    const char *t = *w;
    gsize n = strlen (t);
    if (n == 0)
      continue;
    if (n >= 10 && g_ascii_isdigit (t[0]) && t[4] == '-' && t[7] == '-') {
      /* ISO 8601: 2024-01-03[Thh:mm:ss][zone] */
      year = atoi (t), month = atoi (t + 5), day = atoi (t + 8), year_digits = 4;
      const char *rest = t + 10;
      if ((*rest == 'T' || *rest == 't') && (rest++, !clock_time (&rest, &hour, &min, &sec)))
        return FALSE;
      if (*rest != '\0' && !numeric_zone (rest, &zone) && g_ascii_strcasecmp (rest, "Z") != 0)
        return FALSE;
    } else if (g_ascii_isdigit (t[0]) && strchr (t, '-') != NULL) {
      /* RFC 850: 03-Jan-24 */
      g_auto (GStrv) part = g_strsplit (t, "-", 3);
      if (g_strv_length (part) != 3 || (month = month_of (part[1])) < 0)
        return FALSE;
      day = atoi (part[0]), year = atoi (part[2]), year_digits = (int) strlen (part[2]);
    } else if (g_ascii_isdigit (t[0]) && strpbrk (t, ":.") != NULL) {
      const char *rest = t;
      if (!clock_time (&rest, &hour, &min, &sec) || *rest != '\0')
        return FALSE;
    } else if (g_ascii_isdigit (t[0])) {
      for (const char *c = t; *c != '\0'; c++)
        if (!g_ascii_isdigit (*c))
          return FALSE;
      if (n <= 2 && day < 0)
        day = atoi (t);
      else if (year < 0)
        year = atoi (t), year_digits = (int) n;
      else
        return FALSE;
    } else if (*t == '+' || *t == '-') {
      if (!numeric_zone (t, &zone))
        return FALSE;
    } else if (g_ascii_strcasecmp (t, "PM") == 0) {
      pm = TRUE;
    } else if (g_ascii_strcasecmp (t, "AM") == 0) {
      am = TRUE;
    } else if (month < 0 && month_of (t) > 0) {
      month = month_of (t);
    } else {
      /* A zone name ("GMT+0100" too), a weekday, or an unknown zone
       * (read as +0000, as RFC 5322 says). */
      for (guint z = 0; z < G_N_ELEMENTS (zones); z++) {
        gsize zn = strlen (zones[z].name);
        if (g_ascii_strncasecmp (t, zones[z].name, zn) == 0 && (t[zn] == '\0' || numeric_zone (t + zn, &zone))) {
          if (t[zn] == '\0')
            zone = zones[z].zone;
          break;
        }
      }
    }
  }
  if (year < 0 || month < 0 || day < 0)
    return FALSE;
  if ((pm || am) && (hour < 1 || hour > 12))
    hour = -1;
  else if (pm || am)
    hour = hour % 12 + (pm ? 12 : 0);
  /* Four digits are a year as written: 0000 is not 2000. */
  if ((year_digits != 2 && year_digits != 3 && year_digits != 4) || (year_digits == 4 && year < 1000))
    *date = ANNALS_NO_DATE;
  else
    *date = annals_message_date_to_unix (year, month, day, hour, min, sec, zone);
  return TRUE;
}

char *
annals_message_from_name (const char *from)
{
  /* The last '<': a quoted display name may hold one. */
  const char *lt = from ? strrchr (from, '<') : NULL;
  if (lt == NULL)
    return NULL;
  g_autofree char *name = g_strstrip (g_strndup (from, (gsize) (lt - from)));
  gsize n = strlen (name);
  if (n == 0)
    return NULL;
  if (n < 2 || name[0] != '"' || name[n - 1] != '"')
    return g_steal_pointer (&name);
  GString *out = g_string_sized_new (n);
  for (gsize k = 1; k + 1 < n; k++) {
    if (name[k] == '\\' && k + 2 < n)
      k++;
    g_string_append_c (out, name[k]);
  }
  return g_string_free (out, FALSE);
}

/* "Name <addr>", the name quoted (its '"' and '\\' escaped) when it holds
 * an RFC 5322 special, as mail clients write it: unquoted, "Carol <&>
 * Co" or "Doe, John" reads as other addresses. */
static void
append_name_addr (GString *s, const char *name, const char *addr)
{
  if (strpbrk (name, "<>()[]:;@\\,.\"") == NULL) {
    g_string_append_printf (s, "%s <%s>", name, addr);
    return;
  }
  g_string_append_c (s, '"');
  for (const char *p = name; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_c (s, '\\');
    g_string_append_c (s, *p);
  }
  g_string_append_printf (s, "\" <%s>", addr);
}

static void
append_mailbox (GString *s, struct mailimf_mailbox *mb)
{
  if (mb == NULL || mb->mb_addr_spec == NULL)
    return;
  if (s->len > 0)
    g_string_append (s, ", ");
  g_autofree char *addr = annals_message_decode_header (mb->mb_addr_spec, strlen (mb->mb_addr_spec));
  if (mb->mb_display_name != NULL && mb->mb_display_name[0] != '\0') {
    g_autofree char *name = annals_message_decode_header (mb->mb_display_name, strlen (mb->mb_display_name));
    append_name_addr (s, name, addr);
  } else {
    g_string_append (s, addr);
  }
}

static void
append_mailbox_list (GString *s, struct mailimf_mailbox_list *list)
{
  if (list == NULL)
    return;
  for (clistiter *it = clist_begin (list->mb_list); it != NULL; it = clist_next (it))
    append_mailbox (s, clist_content (it));
}

static char *
format_address_list (struct mailimf_address_list *list)
{
  if (list == NULL)
    return NULL;
  GString *s = g_string_new (NULL);
  for (clistiter *it = clist_begin (list->ad_list); it != NULL; it = clist_next (it)) {
    struct mailimf_address *a = clist_content (it);
    if (a->ad_type == MAILIMF_ADDRESS_MAILBOX)
      append_mailbox (s, a->ad_data.ad_mailbox);
    else if (a->ad_type == MAILIMF_ADDRESS_GROUP && a->ad_data.ad_group != NULL)
      append_mailbox_list (s, a->ad_data.ad_group->grp_mb_list);
  }
  if (s->len == 0)
    return g_string_free (s, TRUE), NULL;
  return g_string_free (s, FALSE);
}

static char *
join_msgids (clist *ids)
{
  if (ids == NULL)
    return NULL;
  GString *s = g_string_new (NULL);
  for (clistiter *it = clist_begin (ids); it != NULL; it = clist_next (it)) {
    const char *id = clist_content (it);
    if (id == NULL || *id == '\0')
      continue;
    g_autofree char *clean = annals_message_decode_header (id, strlen (id));
    if (*clean == '\0' || strchr (clean, ' ') != NULL)
      continue;
    if (s->len > 0)
      g_string_append_c (s, ' ');
    g_string_append (s, clean);
  }
  if (s->len == 0)
    return g_string_free (s, TRUE), NULL;
  return g_string_free (s, FALSE);
}

/* A Message-ID that libetpan could not parse, taken from the raw value:
 * what is between the first < and the next >, or the trimmed value. */
static char *
loose_msgid (const char *value)
{
  g_autofree char *clean = annals_message_decode_header (value, strlen (value));
  const char *lt = strchr (clean, '<');
  if (lt != NULL) {
    const char *gt = strchr (lt, '>');
    /* "<<id>@x>": from the last '<', since a lookup strips a leading one. */
    while (gt != NULL && lt[1] == '<' && lt + 1 < gt)
      lt++;
    if (gt != NULL && gt > lt + 1)
      return g_strndup (lt + 1, (gsize) (gt - lt - 1));
  }
  const char *v = clean + strspn (clean, "<");
  if (*v == '\0')
    return NULL;
  return g_strdup (v);
}

static void
take_fields (AnnalsMessageInfo *info, struct mailimf_fields *fields)
{
  g_autofree char *loose_id = NULL;
  for (clistiter *it = clist_begin (fields->fld_list); it != NULL; it = clist_next (it)) {
    struct mailimf_field *f = clist_content (it);
    switch (f->fld_type) {
    case MAILIMF_FIELD_ORIG_DATE:
      if (info->hdr.date == ANNALS_NO_DATE && f->fld_data.fld_orig_date != NULL) {
        struct mailimf_date_time *dt = f->fld_data.fld_orig_date->dt_date_time;
        if (dt != NULL)
          info->hdr.date = annals_message_date_to_unix (dt->dt_year, dt->dt_month, dt->dt_day, dt->dt_hour, dt->dt_min,
                                                        dt->dt_sec, dt->dt_zone);
      }
      break;
    case MAILIMF_FIELD_FROM:
      if (info->hdr.from == NULL && f->fld_data.fld_from != NULL) {
        struct mailimf_mailbox_list *l = f->fld_data.fld_from->frm_mb_list;
        GString *s = g_string_new (NULL);
        append_mailbox_list (s, l);
        if (s->len > 0) {
          info->hdr.from = g_string_free (s, FALSE);
          clistiter *first = l ? clist_begin (l->mb_list) : NULL;
          struct mailimf_mailbox *mb = first ? clist_content (first) : NULL;
          if (mb != NULL && mb->mb_addr_spec != NULL)
            info->hdr.from_addr = annals_message_decode_header (mb->mb_addr_spec, strlen (mb->mb_addr_spec));
        } else {
          g_string_free (s, TRUE);
        }
      }
      break;
    case MAILIMF_FIELD_TO:
      if (info->hdr.to == NULL && f->fld_data.fld_to != NULL)
        info->hdr.to = format_address_list (f->fld_data.fld_to->to_addr_list);
      break;
    case MAILIMF_FIELD_CC:
      if (info->hdr.cc == NULL && f->fld_data.fld_cc != NULL)
        info->hdr.cc = format_address_list (f->fld_data.fld_cc->cc_addr_list);
      break;
    case MAILIMF_FIELD_MESSAGE_ID:
      if (info->hdr.message_id == NULL && f->fld_data.fld_message_id != NULL
          && f->fld_data.fld_message_id->mid_value != NULL) {
        const char *v = f->fld_data.fld_message_id->mid_value;
        char *id = annals_message_decode_header (v, strlen (v));
        if (*id != '\0')
          info->hdr.message_id = id;
        else
          g_free (id);
      }
      break;
    case MAILIMF_FIELD_IN_REPLY_TO:
      if (info->hdr.in_reply_to == NULL && f->fld_data.fld_in_reply_to != NULL) {
        g_autofree char *all = join_msgids (f->fld_data.fld_in_reply_to->mid_list);
        if (all != NULL) {
          char *space = strchr (all, ' ');
          info->hdr.in_reply_to = space ? g_strndup (all, (gsize) (space - all)) : g_strdup (all);
        }
      }
      break;
    case MAILIMF_FIELD_REFERENCES:
      if (info->hdr.references == NULL && f->fld_data.fld_references != NULL)
        info->hdr.references = join_msgids (f->fld_data.fld_references->mid_list);
      break;
    case MAILIMF_FIELD_SUBJECT:
      if (info->hdr.subject == NULL && f->fld_data.fld_subject != NULL && f->fld_data.fld_subject->sbj_value != NULL) {
        const char *v = f->fld_data.fld_subject->sbj_value;
        info->hdr.subject = annals_message_decode_header (v, strlen (v));
      }
      break;
    case MAILIMF_FIELD_OPTIONAL_FIELD: {
      struct mailimf_optional_field *o = f->fld_data.fld_optional_field;
      if (o == NULL || o->fld_name == NULL || o->fld_value == NULL)
        break;
      if (info->hdr.list_id == NULL && g_ascii_strcasecmp (o->fld_name, "List-Id") == 0)
        info->hdr.list_id = annals_message_decode_header (o->fld_value, strlen (o->fld_value));
      else if (loose_id == NULL && g_ascii_strcasecmp (o->fld_name, "Message-ID") == 0)
        loose_id = loose_msgid (o->fld_value);
      else if (info->hdr.subject == NULL && g_ascii_strcasecmp (o->fld_name, "Subject") == 0)
        info->hdr.subject = annals_message_decode_header (o->fld_value, strlen (o->fld_value));
      break;
    }
    default:
      break;
    }
  }
  if (info->hdr.message_id == NULL && loose_id != NULL)
    info->hdr.message_id = g_steal_pointer (&loose_id);
}

/* The value of the first field called name in the header block, still
 * folded, or NULL. */
static char *
raw_field (const char *block, gsize length, const char *name)
{
  gsize nlen = strlen (name);
  gsize line = 0;
  while (line < length) {
    const char *nl = memchr (block + line, '\n', length - line);
    gsize end = nl ? (gsize) (nl - block) + 1 : length;
    if (end - line > nlen && g_ascii_strncasecmp (block + line, name, nlen) == 0) {
      gsize v = line + nlen;
      while (v < end && (block[v] == ' ' || block[v] == '\t'))
        v++;
      if (v < end && block[v] == ':') {
        /* Continuation lines start with white space. */
        while (end < length && (block[end] == ' ' || block[end] == '\t')) {
          nl = memchr (block + end, '\n', length - end);
          end = nl ? (gsize) (nl - block) + 1 : length;
        }
        return g_strndup (block + v + 1, end - v - 1);
      }
    }
    line = end;
  }
  return NULL;
}

/* Reads "local at domain" from *p (white space around "at"), moving *p
 * past it.  Returns "local@domain" or NULL. */
static char *
obfuscated_addr (const char **p)
{
  static const char specials[] = "()<>,;:\"[]\\@";
  const char *s = *p;
  while (g_ascii_isspace (*s))
    s++;
  const char *local = s;
  while (*s > ' ' && *s < 127 && strchr (specials, *s) == NULL)
    s++;
  gsize llen = (gsize) (s - local);
  if (llen == 0 || (*s != ' ' && *s != '\t'))
    return NULL;
  while (*s == ' ' || *s == '\t')
    s++;
  if (g_ascii_strncasecmp (s, "at", 2) != 0 || (s[2] != ' ' && s[2] != '\t'))
    return NULL;
  s += 2;
  while (*s == ' ' || *s == '\t')
    s++;
  const char *domain = s;
  while (*s > ' ' && *s < 127 && strchr (specials, *s) == NULL)
    s++;
  if (s == domain)
    return NULL;
  *p = s;
  return g_strdup_printf ("%.*s@%.*s", (int) llen, local, (int) (s - domain), domain);
}

/* Mailman 2 (pipermail) archives obfuscate the sender: "user at host
 * (Name)" or "Name <user at host>".  libetpan reads that as the address
 * "useratexample.org"; this reads it back.  FALSE when value is not that
 * form (it has an '@', say). */
static gboolean
pipermail_from (const char *value, char **from, char **from_addr)
{
  if (strchr (value, '@') != NULL)
    return FALSE;
  g_autofree char *flat = g_strdup (value);
  for (char *c = flat; *c != '\0'; c++)
    if (*c == '\r' || *c == '\n' || *c == '\t')
      *c = ' ';
  g_strstrip (flat);
  g_autofree char *addr = NULL;
  g_autofree char *name = NULL;
  const char *lt = strchr (flat, '<');
  if (lt != NULL) {
    const char *p = lt + 1;
    addr = obfuscated_addr (&p);
    while (*p == ' ')
      p++;
    if (addr == NULL || *p != '>' || p[1] != '\0')
      return FALSE;
    name = g_strndup (flat, (gsize) (lt - flat));
  } else {
    const char *p = flat;
    addr = obfuscated_addr (&p);
    if (addr == NULL)
      return FALSE;
    while (*p == ' ')
      p++;
    if (*p == '(') {
      const char *close = strrchr (p, ')');
      if (close == NULL || close[1] != '\0')
        return FALSE;
      name = g_strndup (p + 1, (gsize) (close - p - 1));
    } else if (*p != '\0') {
      return FALSE;
    }
  }
  if (name != NULL) {
    g_strstrip (name);
    gsize n = strlen (name);
    if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
      memmove (name, name + 1, n - 2);
      name[n - 2] = '\0';
    }
  }
  g_autofree char *decoded = name && *name ? annals_message_decode_header (name, strlen (name)) : NULL;
  GString *text = g_string_new (NULL);
  if (decoded && *decoded)
    append_name_addr (text, decoded, addr);
  else
    g_string_append (text, addr);
  *from = g_string_free (text, FALSE);
  *from_addr = g_steal_pointer (&addr);
  return TRUE;
}

gboolean
annals_message_header_shaped (const guint8 *p, gsize length)
{
  gsize i = 0;
  while (i < length && p[i] > ' ' && p[i] < 127 && p[i] != ':')
    i++;
  return i > 0 && i < length && p[i] == ':';
}

AnnalsMessageInfo *
annals_message_info_parse (const guint8 *raw, gsize length, const char *sha256_hex)
{
  AnnalsMessageInfo *info = g_new0 (AnnalsMessageInfo, 1);
  info->hdr.date = ANNALS_NO_DATE;

  gsize hlen = annals_message_header_length (raw, length);
  if (hlen > ANNALS_MESSAGE_MAX_HEADER_BYTES) {
    /* Parse up to the last whole line under the cap. */
    const guint8 *nl = memrchr (raw, '\n', ANNALS_MESSAGE_MAX_HEADER_BYTES);
    hlen = nl ? (gsize) (nl + 1 - raw) : ANNALS_MESSAGE_MAX_HEADER_BYTES;
  }
  /* libetpan works on C strings in places: NUL bytes become spaces in
   * this parsing copy only; the stored bytes stay as received. */
  char *copy = g_malloc (hlen + 2);
  memcpy (copy, raw, hlen);
  for (gsize i = 0; i < hlen; i++)
    if (copy[i] == '\0')
      copy[i] = ' ';
  /* libetpan drops a last field without its line end. */
  if (hlen > 0 && copy[hlen - 1] != '\n')
    copy[hlen++] = '\n';
  copy[hlen] = '\0';

  if (!annals_message_header_shaped ((const guint8 *) copy, hlen)) {
    info->unparsable = TRUE;
  } else {
    size_t idx = 0;
    struct mailimf_fields *fields = NULL;
    int rc = mailimf_envelope_and_optional_fields_parse (copy, hlen, &idx, &fields);
    if (rc != MAILIMF_NO_ERROR || fields == NULL) {
      info->unparsable = TRUE;
    } else {
      take_fields (info, fields);
      mailimf_fields_free (fields);
      g_autofree char *raw_date = raw_field (copy, hlen, "Date");
      gint64 date;
      if (raw_date != NULL && loose_date (raw_date, &date))
        info->hdr.date = date;
      g_autofree char *raw_from = raw_field (copy, hlen, "From");
      char *from = NULL, *from_addr = NULL;
      if (raw_from != NULL && pipermail_from (raw_from, &from, &from_addr)) {
        g_free (info->hdr.from);
        g_free (info->hdr.from_addr);
        info->hdr.from = from;
        info->hdr.from_addr = from_addr;
      }
    }
  }
  g_free (copy);

  if (info->hdr.message_id == NULL) {
    info->hdr.message_id = annals_message_derived_id (sha256_hex);
    info->message_id_derived = TRUE;
  }
  return info;
}

void
annals_message_header_init (AnnalsMessageHeader *h)
{
  memset (h, 0, sizeof *h);
  h->date = ANNALS_NO_DATE;
}

void
annals_message_header_clear (AnnalsMessageHeader *h)
{
  g_free (h->message_id);
  g_free (h->in_reply_to);
  g_free (h->references);
  g_free (h->from);
  g_free (h->from_addr);
  g_free (h->to);
  g_free (h->cc);
  g_free (h->subject);
  g_free (h->list_id);
  annals_message_header_init (h);
}

void
annals_message_info_free (AnnalsMessageInfo *info)
{
  if (info == NULL)
    return;
  annals_message_header_clear (&info->hdr);
  g_free (info);
}

gboolean
annals_message_iso_date (gint64 t, char out[ANNALS_MESSAGE_ISO_DATE_SIZE])
{
  time_t tt = (time_t) t;
  struct tm tm;
  if (t == ANNALS_NO_DATE || gmtime_r (&tt, &tm) == NULL
      || strftime (out, ANNALS_MESSAGE_ISO_DATE_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    out[0] = '\0';
    return FALSE;
  }
  return TRUE;
}

char *
annals_message_id_strip (const char *id)
{
  if (id[0] != '<')
    return g_strdup (id);
  char *bare = g_strdup (id + 1);
  if (g_str_has_suffix (bare, ">"))
    bare[strlen (bare) - 1] = '\0';
  return bare;
}
