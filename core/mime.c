/* mime: see mime.h. */
#include "core/mime.h"
#include "core/message.h"

#include <libetpan/libetpan.h>
#include <string.h>

void
annals_mime_part_free (AnnalsMimePart *part)
{
  if (part == NULL)
    return;
  g_free (part->content_type);
  g_free (part->charset);
  g_free (part->forwarded);
  g_free (part->filename);
  g_free (part->text);
  g_free (part);
}

/* The unfolded value of the first header field name in the block, new. */
static char *
header_value (const guint8 *block, gsize length, const char *name)
{
  gsize nlen = strlen (name);
  gsize pos = 0;
  while (pos < length) {
    const guint8 *nl = memchr (block + pos, '\n', length - pos);
    gsize end = nl ? (gsize) (nl - block) : length;
    if (end - pos > nlen && block[pos + nlen] == ':'
        && g_ascii_strncasecmp ((const char *) block + pos, name, nlen) == 0) {
      GString *v = g_string_new_len ((const char *) block + pos + nlen + 1, (gssize) (end - pos - nlen - 1));
      /* Continuation lines start with white space. */
      while (end < length && end + 1 < length && (block[end + 1] == ' ' || block[end + 1] == '\t')) {
        gsize next = end + 1;
        const guint8 *nl2 = memchr (block + next, '\n', length - next);
        end = nl2 ? (gsize) (nl2 - block) : length;
        g_string_append_len (v, (const char *) block + next, (gssize) (end - next));
      }
      for (gsize i = 0; i < v->len; i++)
        if (v->str[i] == '\r' || v->str[i] == '\n' || v->str[i] == '\0')
          v->str[i] = ' ';
      return g_strstrip (g_string_free (v, FALSE));
    }
    pos = end + 1;
  }
  return NULL;
}

typedef struct {
  char *type;         /* "text/plain" */
  GHashTable *params; /* lowercased name -> value (RFC 2231 joined and decoded) */
} ContentType;

static void
content_type_clear (ContentType *ct)
{
  g_free (ct->type);
  if (ct->params)
    g_hash_table_unref (ct->params);
}

static int
from_hex (char c)
{
  return g_ascii_isxdigit (c) ? g_ascii_xdigit_value (c) : -1;
}

/* RFC 2231: charset'language'percent-encoded. */
static char *
rfc2231_decode (const char *value, gboolean extended_first)
{
  const char *charset = NULL;
  g_autofree char *cs = NULL;
  const char *p = value;
  if (extended_first) {
    const char *q1 = strchr (value, '\'');
    const char *q2 = q1 ? strchr (q1 + 1, '\'') : NULL;
    if (q2 != NULL) {
      cs = g_strndup (value, (gsize) (q1 - value));
      charset = cs;
      p = q2 + 1;
    }
  }
  GString *out = g_string_new (NULL);
  for (; *p; p++) {
    int h, l;
    if (*p == '%' && (h = from_hex (p[1])) >= 0 && (l = from_hex (p[2])) >= 0) {
      g_string_append_c (out, (char) (h << 4 | l));
      p += 2;
    } else {
      g_string_append_c (out, *p);
    }
  }
  gboolean unknown;
  char *utf8 = annals_mime_to_utf8 (out->str, out->len, charset && *charset ? charset : "utf-8", &unknown);
  g_string_free (out, TRUE);
  return utf8;
}

/* Takes value and returns it as valid UTF-8: parameters can carry raw
 * 8-bit bytes in any charset; invalid sequences become U+FFFD. */
static char *
valid_utf8 (char *value)
{
  if (g_utf8_validate (value, -1, NULL))
    return value;
  char *valid = g_utf8_make_valid (value, -1);
  g_free (value);
  return valid;
}

/* Joins RFC 2231 continuations (name*0, name*1*, ...) and decodes
 * encoded values; plain values get RFC 2047 decoding (what mailers do). */
static void
add_param (GHashTable *params, GHashTable *pieces, const char *name, const char *value)
{
  g_autofree char *lname = g_ascii_strdown (name, -1);
  const char *star = strchr (lname, '*');
  if (star == NULL) {
    if (!g_hash_table_contains (params, lname))
      g_hash_table_insert (params, g_strdup (lname), valid_utf8 (annals_message_decode_header (value, strlen (value))));
    return;
  }
  /* name*, name*N, name*N* */
  g_autofree char *base = g_strndup (lname, (gsize) (star - lname));
  const char *rest = star + 1;
  int index = 0;
  gboolean encoded = FALSE;
  if (*rest == '\0') {
    encoded = TRUE;
  } else {
    index = atoi (rest);
    encoded = g_str_has_suffix (rest, "*");
  }
  if (index < 0 || index > 99)
    return;
  GPtrArray *list = g_hash_table_lookup (pieces, base);
  if (list == NULL) {
    list = g_ptr_array_new_with_free_func (g_free);
    g_hash_table_insert (pieces, g_strdup (base), list);
  }
  while (list->len <= (guint) index)
    g_ptr_array_add (list, NULL);
  g_free (list->pdata[index]);
  /* Mark encoded pieces with a leading \1 so they are decoded once joined. */
  list->pdata[index] = g_strdup_printf ("%c%s", encoded ? 1 : 2, value);
}

static void
finish_params (GHashTable *params, GHashTable *pieces)
{
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, pieces);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    GPtrArray *list = v;
    GString *joined = g_string_new (NULL);
    gboolean first_encoded = FALSE;
    for (guint i = 0; i < list->len; i++) {
      const char *piece = list->pdata[i];
      if (piece == NULL)
        break;
      if (i == 0)
        first_encoded = piece[0] == 1;
      g_string_append (joined, piece + 1);
    }
    char *value = valid_utf8 (first_encoded ? rfc2231_decode (joined->str, TRUE) : g_strdup (joined->str));
    g_string_free (joined, TRUE);
    g_hash_table_insert (params, g_strdup (k), value); /* wins over a plain name= */
  }
}

static void
parse_content_type (const char *value, const char *fallback, ContentType *ct)
{
  ct->params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  struct mailmime_content *c = NULL;
  size_t idx = 0;
  if (value != NULL && mailmime_content_parse (value, strlen (value), &idx, &c) == MAILIMF_NO_ERROR && c != NULL) {
    const char *major = "application";
    if (c->ct_type && c->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE && c->ct_type->tp_data.tp_discrete_type) {
      struct mailmime_discrete_type *d = c->ct_type->tp_data.tp_discrete_type;
      static const char *const names[] = { "application", "text", "image", "audio", "video", "application" };
      major = d->dt_type == MAILMIME_DISCRETE_TYPE_EXTENSION && d->dt_extension ? d->dt_extension
              : d->dt_type >= 0 && d->dt_type < (int) G_N_ELEMENTS (names)      ? names[d->dt_type]
                                                                                : "application";
    } else if (c->ct_type && c->ct_type->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE
               && c->ct_type->tp_data.tp_composite_type) {
      struct mailmime_composite_type *d = c->ct_type->tp_data.tp_composite_type;
      major = d->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE     ? "message"
              : d->ct_type == MAILMIME_COMPOSITE_TYPE_MULTIPART ? "multipart"
              : d->ct_token                                     ? d->ct_token
                                                                : "application";
    }
    g_autofree char *t = g_strdup_printf ("%s/%s", major, c->ct_subtype ? c->ct_subtype : "");
    ct->type = g_ascii_strdown (t, -1);
    g_autoptr (GHashTable) pieces
        = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
    if (c->ct_parameters)
      for (clistiter *it = clist_begin (c->ct_parameters); it; it = clist_next (it)) {
        struct mailmime_parameter *p = clist_content (it);
        if (p && p->pa_name && p->pa_value)
          add_param (ct->params, pieces, p->pa_name, p->pa_value);
      }
    finish_params (ct->params, pieces);
    mailmime_content_free (c);
    return;
  }
  if (c)
    mailmime_content_free (c);
  ct->type = g_strdup (fallback);
}

/* filename from Content-Disposition (RFC 2231 aware), new or NULL. */
static char *
disposition_filename (const char *value, gboolean *attachment)
{
  *attachment = FALSE;
  if (value == NULL)
    return NULL;
  *attachment = g_ascii_strncasecmp (value, "attachment", 10) == 0;
  /* The parameters have the grammar of Content-Type's: reuse it. */
  const char *semi = strchr (value, ';');
  if (semi == NULL)
    return NULL;
  g_autofree char *fake = g_strconcat ("application/octet-stream", semi, NULL);
  ContentType ct = { 0 };
  parse_content_type (fake, "application/octet-stream", &ct);
  char *name = g_strdup (g_hash_table_lookup (ct.params, "filename"));
  content_type_clear (&ct);
  return name;
}

static const struct {
  const char *alias, *iconv;
} charset_aliases[] = {
  { "utf8", "UTF-8" },
  { "ks_c_5601-1987", "CP949" },
  { "ks_c_5601", "CP949" },
  { "euc-kr", "CP949" },
  { "gb2312", "GB18030" },
  { "gbk", "GB18030" },
  { "x-gbk", "GB18030" },
  { "big5", "BIG5-HKSCS" },
  { "iso-8859-1", "WINDOWS-1252" }, /* what senders who say latin1 mean */
  { "us-ascii", "WINDOWS-1252" },
  { "ascii", "WINDOWS-1252" },
  { "x-unknown", NULL },
  { "unknown-8bit", NULL },
  { "default", NULL },
};

char *
annals_mime_to_utf8 (const char *data, gsize length, const char *charset, gboolean *unknown)
{
  *unknown = FALSE;
  if (length > ANNALS_MIME_MAX_TEXT)
    length = ANNALS_MIME_MAX_TEXT;
  const char *to = charset;
  gboolean known = charset != NULL && *charset != '\0';
  for (guint i = 0; known && i < G_N_ELEMENTS (charset_aliases); i++)
    if (g_ascii_strcasecmp (charset, charset_aliases[i].alias) == 0) {
      to = charset_aliases[i].iconv;
      known = to != NULL;
    }
  if (known && g_ascii_strcasecmp (to, "UTF-8") != 0) {
    gsize written = 0;
    char *out = g_convert_with_fallback (data, (gssize) length, "UTF-8", to, "\xef\xbf\xbd", NULL, &written, NULL);
    if (out != NULL) {
      if (g_utf8_validate (out, (gssize) written, NULL) && strlen (out) == written)
        return out;
      g_free (out);
    }
  }
  /* UTF-8, or a charset iconv does not know: valid UTF-8 stays, the rest
   * is read as Windows-1252, and failing that replaced, never dropped. */
  if (g_utf8_validate_len (data, length, NULL) && memchr (data, '\0', length) == NULL)
    return g_strndup (data, length);
  if (known && g_ascii_strcasecmp (to, "UTF-8") == 0) {
    *unknown = FALSE;
    return g_utf8_make_valid (data, (gssize) length);
  }
  *unknown = charset != NULL;
  char *cp = g_convert (data, (gssize) length, "UTF-8", "WINDOWS-1252", NULL, NULL, NULL);
  return cp ? cp : g_utf8_make_valid (data, (gssize) length);
}

static const struct {
  const char *name;
  const char *utf8;
} entities[] = {
  { "amp", "&" },
  { "lt", "<" },
  { "gt", ">" },
  { "quot", "\"" },
  { "apos", "'" },
  { "nbsp", " " },
  { "copy", "\xc2\xa9" },
  { "reg", "\xc2\xae" },
  { "hellip", "\xe2\x80\xa6" },
  { "mdash", "\xe2\x80\x94" },
  { "ndash", "\xe2\x80\x93" },
  { "rsquo", "\xe2\x80\x99" },
  { "lsquo", "\xe2\x80\x98" },
  { "rdquo", "\xe2\x80\x9d" },
  { "ldquo", "\xe2\x80\x9c" },
  { "eacute", "\xc3\xa9" },
  { "egrave", "\xc3\xa8" },
  { "agrave", "\xc3\xa0" },
  { "ccedil", "\xc3\xa7" },
  { "uuml", "\xc3\xbc" },
  { "ouml", "\xc3\xb6" },
  { "auml", "\xc3\xa4" },
};

static gboolean
tag_is (const char *tag, gsize len, const char *name)
{
  gsize n = strlen (name);
  return len >= n && g_ascii_strncasecmp (tag, name, n) == 0 && (len == n || !g_ascii_isalnum (tag[n]));
}

/* The entity at s (which starts with '&') appended to out as UTF-8:
 * the bytes it took, or 0 when it is not one. */
static gsize
decode_entity (const char *s, gsize left, GString *out)
{
  const char *semi = memchr (s, ';', MIN (left, 12));
  if (semi == NULL)
    return 0;
  gsize elen = (gsize) (semi - s) - 1;
  const char *ent = s + 1;
  if (elen > 1 && ent[0] == '#') {
    gunichar u = ent[1] == 'x' || ent[1] == 'X' ? (gunichar) g_ascii_strtoull (ent + 2, NULL, 16)
                                                : (gunichar) g_ascii_strtoull (ent + 1, NULL, 10);
    if (u > 0 && g_unichar_validate (u))
      g_string_append_unichar (out, u);
    return elen + 2;
  }
  for (guint e = 0; e < G_N_ELEMENTS (entities); e++)
    if (strlen (entities[e].name) == elen && strncmp (ent, entities[e].name, elen) == 0) {
      g_string_append (out, entities[e].utf8);
      return elen + 2;
    }
  return 0;
}

/* The href of an <a> tag (its text between < and >), entities decoded,
 * when it is a link a reader can follow from plain text: http, https
 * or mailto.  New, or NULL. */
static char *
link_target (const char *tag, gsize len)
{
  gsize i = 1; /* past the "a" */
  while (i < len) {
    while (i < len && (g_ascii_isspace (tag[i]) || tag[i] == '/'))
      i++;
    gsize name = i;
    while (i < len && !g_ascii_isspace (tag[i]) && tag[i] != '=' && tag[i] != '/')
      i++;
    gsize nlen = i - name;
    while (i < len && g_ascii_isspace (tag[i]))
      i++;
    if (i >= len || tag[i] != '=')
      continue;
    i++;
    while (i < len && g_ascii_isspace (tag[i]))
      i++;
    gsize v = i, vlen;
    if (i < len && (tag[i] == '"' || tag[i] == '\'')) {
      const char *q = memchr (tag + i + 1, tag[i], len - i - 1);
      v = i + 1;
      vlen = q ? (gsize) (q - tag) - v : len - v;
      i = v + vlen + 1;
    } else {
      while (i < len && !g_ascii_isspace (tag[i]))
        i++;
      vlen = i - v;
    }
    if (nlen != 4 || g_ascii_strncasecmp (tag + name, "href", 4) != 0)
      continue;
    g_autoptr (GString) href = g_string_new (NULL);
    for (gsize k = v; k < v + vlen; k++) {
      gsize used = tag[k] == '&' ? decode_entity (tag + k, v + vlen - k, href) : 0;
      if (used > 0)
        k += used - 1;
      else
        g_string_append_c (href, tag[k]);
    }
    g_strstrip (href->str);
    for (const char *p = href->str; *p; p++)
      if ((guchar) *p <= ' ' || *p == 0x7f)
        return NULL;
    if (g_ascii_strncasecmp (href->str, "http://", 7) == 0 || g_ascii_strncasecmp (href->str, "https://", 8) == 0
        || g_ascii_strncasecmp (href->str, "mailto:", 7) == 0)
      return g_strdup (href->str);
    return NULL;
  }
  return NULL;
}

/* Links kept from HTML: at most this many numbered references. */
#define MAX_LINKS 500

/* The link that closes at the end of out (its text from start on) gets
 * its reference number, unless its text is the target itself. */
static void
end_link (GString *out, gsize start, char **href, GPtrArray *links)
{
  if (*href == NULL)
    return;
  g_autofree char *target = g_steal_pointer (href);
  g_autofree char *text = g_strstrip (g_strndup (out->str + start, out->len - start));
  const char *bare = g_ascii_strncasecmp (target, "mailto:", 7) == 0 ? target + 7 : target;
  if (strcmp (text, target) == 0 || strcmp (text, bare) == 0)
    return;
  guint n = 0;
  for (guint k = 0; k < links->len && n == 0; k++)
    if (strcmp (links->pdata[k], target) == 0)
      n = k + 1;
  if (n == 0 && links->len < MAX_LINKS) {
    g_ptr_array_add (links, g_steal_pointer (&target));
    n = links->len;
  }
  if (n == 0)
    return;
  /* After the link's words, before the space that follows them. */
  while (out->len > start && out->str[out->len - 1] == ' ')
    g_string_truncate (out, out->len - 1);
  g_string_append_printf (out, " [%u]", n);
}

char *
annals_mime_html_to_text (const char *html, gsize length)
{
  GString *out = g_string_sized_new (length / 2 + 16);
  g_autoptr (GPtrArray) links = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *href = NULL; /* the open <a>'s target */
  gsize link_start = 0;
  gsize i = 0;
  while (i < length) {
    char c = html[i];
    if (c == '<') {
      if (i + 3 < length && strncmp (html + i, "<!--", 4) == 0) {
        const char *end = g_strstr_len (html + i + 4, (gssize) (length - i - 4), "-->");
        i = end ? (gsize) (end - html) + 3 : length;
        continue;
      }
      const char *gt = memchr (html + i, '>', length - i);
      gsize tend = gt ? (gsize) (gt - html) : length;
      const char *tag = html + i + 1;
      gsize tlen = tend - i - 1;
      gboolean closing = tlen > 0 && tag[0] == '/';
      const char *name = closing ? tag + 1 : tag;
      gsize nlen = closing ? tlen - 1 : tlen;
      if (!closing && (tag_is (name, nlen, "script") || tag_is (name, nlen, "style") || tag_is (name, nlen, "head"))) {
        /* Skip to the matching close tag. */
        char close[16];
        g_snprintf (close, sizeof close, "</%s",
                    tag_is (name, nlen, "script")  ? "script"
                    : tag_is (name, nlen, "style") ? "style"
                                                   : "head");
        gsize j = tend;
        while (j < length && g_ascii_strncasecmp (html + j, close, strlen (close)) != 0)
          j++;
        const char *gt2 = j < length ? memchr (html + j, '>', length - j) : NULL;
        i = gt2 ? (gsize) (gt2 - html) + 1 : length;
        continue;
      }
      static const char *const blocks[] = { "br", "p",  "div",        "tr",    "li",  "h1", "h2", "h3", "h4",
                                            "h5", "h6", "blockquote", "table", "pre", "hr", "ul", "ol" };
      for (guint b = 0; b < G_N_ELEMENTS (blocks); b++)
        if (tag_is (name, nlen, blocks[b])) {
          if (out->len > 0 && out->str[out->len - 1] != '\n')
            g_string_append_c (out, '\n');
          break;
        }
      if (tag_is (name, nlen, "td") || tag_is (name, nlen, "th"))
        g_string_append_c (out, ' ');
      if (tag_is (name, nlen, "a")) {
        /* An <a> left open ends where the next one starts. */
        end_link (out, link_start, &href, links);
        if (!closing) {
          href = link_target (name, nlen);
          link_start = out->len;
        }
      }
      i = tend + 1;
      continue;
    }
    if (c == '&') {
      gsize used = decode_entity (html + i, length - i, out);
      if (used > 0) {
        i += used;
        continue;
      }
    }
    if (c == '\r') {
      i++;
      continue;
    }
    /* HTML white space collapses; newlines come from block tags. */
    if (c == '\n' || c == '\t' || c == ' ') {
      if (out->len > 0 && out->str[out->len - 1] != ' ' && out->str[out->len - 1] != '\n')
        g_string_append_c (out, ' ');
      i++;
      continue;
    }
    g_string_append_c (out, c);
    i++;
  }
  end_link (out, link_start, &href, links);
  /* The targets under the text, as a plain-text mail would give them. */
  if (links->len > 0) {
    g_string_append (out, out->len > 0 && out->str[out->len - 1] != '\n' ? "\n\n" : "\n");
    for (guint k = 0; k < links->len; k++)
      g_string_append_printf (out, "[%u] %s\n", k + 1, (const char *) links->pdata[k]);
  }
  return g_string_free (out, FALSE);
}

void
annals_mime_split_quoted (const char *text, GString *fresh, GString *quoted)
{
  const char *p = text;
  while (*p) {
    const char *nl = strchr (p, '\n');
    gsize len = nl ? (gsize) (nl - p) : strlen (p);
    const char *q = p;
    while (q < p + len && (*q == ' ' || *q == '\t'))
      q++;
    GString *to = (q < p + len && (*q == '>' || *q == '|')) ? quoted : fresh;
    g_string_append_len (to, p, (gssize) len);
    g_string_append_c (to, '\n');
    p = nl ? nl + 1 : p + len;
  }
}

char *
annals_mime_fold_accents (const char *utf8)
{
  /* Only non-ASCII text needs the work. */
  const char *p = utf8;
  while (*p && (guchar) *p < 0x80)
    p++;
  if (*p == '\0')
    return g_strdup (utf8);
  g_autofree char *nfd = g_utf8_normalize (utf8, -1, G_NORMALIZE_NFD);
  if (nfd == NULL)
    return g_strdup (utf8);
  GString *out = g_string_sized_new (strlen (nfd));
  for (const char *q = nfd; *q; q = g_utf8_next_char (q)) {
    gunichar c = g_utf8_get_char (q);
    if (g_unichar_type (c) == G_UNICODE_NON_SPACING_MARK)
      continue;
    g_string_append_unichar (out, c);
  }
  return g_string_free (out, FALSE);
}

static int
encoding_of (const char *cte)
{
  if (cte == NULL)
    return MAILMIME_MECHANISM_8BIT;
  if (g_ascii_strncasecmp (cte, "base64", 6) == 0)
    return MAILMIME_MECHANISM_BASE64;
  if (g_ascii_strncasecmp (cte, "quoted-printable", 16) == 0)
    return MAILMIME_MECHANISM_QUOTED_PRINTABLE;
  if (g_ascii_strncasecmp (cte, "binary", 6) == 0)
    return MAILMIME_MECHANISM_BINARY;
  return MAILMIME_MECHANISM_8BIT;
}

GBytes *
annals_mime_part_decode (const AnnalsMimePart *part)
{
  if (part->encoding != MAILMIME_MECHANISM_BASE64 && part->encoding != MAILMIME_MECHANISM_QUOTED_PRINTABLE)
    return g_bytes_new (part->body, part->body_length);
  size_t idx = 0;
  char *result = NULL;
  size_t rlen = 0;
  /* libetpan's quoted-printable decoder reads a little past a trailing
   * '=' (found by fuzz-mime): give it a zero-padded copy. */
  g_autofree char *padded = g_malloc0 (part->body_length + 8);
  memcpy (padded, part->body, part->body_length);
  if (mailmime_part_parse (padded, part->body_length, &idx, part->encoding, &result, &rlen) != MAILIMF_NO_ERROR
      || result == NULL)
    return g_bytes_new (part->body, part->body_length); /* broken encoding: the bytes as they are */
  GBytes *b = g_bytes_new (result, rlen);
  mailmime_decoded_part_free (result);
  return b;
}

typedef struct {
  const guint8 *data;
  gsize length;
  guint depth;
  const char *default_type;
  const guint8 *forwarded; /* the message/rfc822 this is the start of, or NULL */
  gsize forwarded_length;
} Pending;

/* Splits a multipart body at its boundary; pushes the parts so that they
 * pop in document order. */
static void
push_multipart (GArray *stack, const guint8 *body, gsize length, const char *boundary, guint depth,
                const char *child_default, const Pending *parent)
{
  gsize blen = strlen (boundary);
  GArray *found = g_array_new (FALSE, FALSE, sizeof (Pending));
  gsize pos = 0;
  gssize start = -1; /* where the current part's bytes begin */
  while (pos < length && found->len < ANNALS_MIME_MAX_PARTS) {
    const guint8 *nl = memchr (body + pos, '\n', length - pos);
    gsize end = nl ? (gsize) (nl - body) : length;
    if (end - pos >= blen + 2 && body[pos] == '-' && body[pos + 1] == '-'
        && memcmp (body + pos + 2, boundary, blen) == 0) {
      if (start >= 0) {
        /* The line break before the delimiter belongs to it. */
        gsize stop = pos;
        if (stop > (gsize) start && body[stop - 1] == '\n')
          stop--;
        if (stop > (gsize) start && body[stop - 1] == '\r')
          stop--;
        Pending p = { body + start, stop - (gsize) start, depth, child_default };
        g_array_append_val (found, p);
      }
      gboolean last = end - pos >= blen + 4 && body[pos + 2 + blen] == '-' && body[pos + 3 + blen] == '-';
      if (last) {
        start = -1;
        break;
      }
      start = (gssize) (nl ? end + 1 : length);
    }
    pos = end + 1;
  }
  if (start >= 0 && (gsize) start < length) { /* no closing delimiter: take the rest */
    Pending p = { body + start, length - (gsize) start, depth, child_default };
    g_array_append_val (found, p);
  }
  if (found->len > 0) { /* a forwarded message's summary goes with its first part */
    g_array_index (found, Pending, 0).forwarded = parent->forwarded;
    g_array_index (found, Pending, 0).forwarded_length = parent->forwarded_length;
  }
  for (guint i = found->len; i-- > 0;)
    g_array_append_val (stack, g_array_index (found, Pending, i));
  g_array_unref (found);
}

/* The one choice of what a message's text is, for the page, the feed
 * and the index alike: an HTML alternative of a plain part says the
 * same again. */
static void
choose_shown (GPtrArray *parts)
{
  gboolean have_plain = FALSE;
  for (guint i = 0; i < parts->len; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    have_plain |= p->text != NULL && !p->from_html;
  }
  for (guint i = 0; i < parts->len; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    p->shown = p->text != NULL && !(p->from_html && have_plain);
  }
}

static gboolean
param_is (GHashTable *params, const char *name, const char *value)
{
  const char *v = g_hash_table_lookup (params, name);
  return v != NULL && g_ascii_strcasecmp (v, value) == 0;
}

/* Undoes format=flowed (RFC 3676) in text (new): a line ending in a
 * space is joined to the next one of the same quote depth, space
 * stuffing goes, and with DelSp=yes so does the space before each soft
 * break.  "-- " (a signature separator) is never flowed. */
static char *
unflow (const char *text, gboolean delsp)
{
  GString *out = g_string_sized_new (strlen (text));
  gboolean open = FALSE; /* the last line written was flowed */
  guint open_depth = 0;
  const char *p = text;
  while (*p != '\0') {
    const char *nl = strchr (p, '\n');
    gsize len = nl ? (gsize) (nl - p) : strlen (p);
    if (len > 0 && p[len - 1] == '\r')
      len--;
    guint depth = 0;
    while (depth < len && p[depth] == '>')
      depth++;
    const char *line = p + depth;
    gsize llen = len - depth;
    if (llen > 0 && line[0] == ' ') { /* space stuffing */
      line++;
      llen--;
    }
    gboolean sig = llen == 3 && memcmp (line, "-- ", 3) == 0;
    gboolean flowed = !sig && llen > 0 && line[llen - 1] == ' ';
    gboolean ends = open && (depth != open_depth || sig); /* a new quote depth or the signature */
    if (ends)
      g_string_append_c (out, '\n');
    if (!open || ends) {
      for (guint i = 0; i < depth; i++)
        g_string_append_c (out, '>');
      if (depth > 0)
        g_string_append_c (out, ' ');
    }
    g_string_append_len (out, line, (gssize) (flowed && delsp ? llen - 1 : llen));
    if (!flowed && (nl != NULL || len > 0))
      g_string_append_c (out, '\n');
    open = flowed;
    open_depth = depth;
    p = nl ? nl + 1 : p + len + (p[len] == '\r');
  }
  if (open)
    g_string_append_c (out, '\n');
  return g_string_free (out, FALSE);
}

/* The header lines of a forwarded message a reader needs (new), or NULL
 * when it has none of them. */
static char *
forwarded_summary (const guint8 *msg, gsize length)
{
  gsize hlen = MIN (annals_message_header_length (msg, length), (gsize) 65536);
  static const char *const names[] = { "From", "To", "Cc", "Date", "Subject" };
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree char *v = header_value (msg, hlen, names[i]);
    if (v == NULL || *v == '\0')
      continue;
    g_autofree char *decoded = valid_utf8 (annals_message_decode_header (v, strlen (v)));
    g_string_append_printf (out, "%s: %s\n", names[i], decoded);
  }
  return out->len > 0 ? g_string_free (out, FALSE) : (g_string_free (out, TRUE), NULL);
}

/* Whether data ends with an empty line: the end of a header block whose
 * body is empty (a 0-byte attachment). */
static gboolean
ends_with_blank_line (const guint8 *data, gsize length)
{
  if (length < 2 || data[length - 1] != '\n')
    return FALSE;
  return data[length - 2] == '\n' || (length >= 3 && data[length - 2] == '\r' && data[length - 3] == '\n');
}

GPtrArray *
annals_mime_parts (const guint8 *raw, gsize length)
{
  GPtrArray *parts = g_ptr_array_new_with_free_func ((GDestroyNotify) annals_mime_part_free);
  g_autoptr (GArray) stack = g_array_new (FALSE, FALSE, sizeof (Pending));
  Pending top = { raw, length, 0, "text/plain" };
  g_array_append_val (stack, top);
  guint visited = 0;
  while (stack->len > 0 && parts->len < ANNALS_MIME_MAX_PARTS && visited++ < 4 * ANNALS_MIME_MAX_PARTS) {
    Pending cur = g_array_index (stack, Pending, stack->len - 1);
    g_array_set_size (stack, stack->len - 1);
    gsize hlen = annals_message_header_length (cur.data, cur.length);
    if (hlen == cur.length && cur.depth > 0 && (cur.length == 0 || cur.data[0] != '\n')
        && !ends_with_blank_line (cur.data, cur.length))
      hlen = 0; /* a part with no header block at all (an empty body still has its blank line) */
    g_autofree char *ctv = header_value (cur.data, MIN (hlen, (gsize) 65536), "Content-Type");
    g_autofree char *ctev = header_value (cur.data, MIN (hlen, (gsize) 65536), "Content-Transfer-Encoding");
    g_autofree char *cdv = header_value (cur.data, MIN (hlen, (gsize) 65536), "Content-Disposition");
    ContentType ct = { 0 };
    parse_content_type (ctv, cur.default_type, &ct);
    const guint8 *body = cur.data + hlen;
    gsize blen = cur.length - hlen;
    const char *boundary = g_hash_table_lookup (ct.params, "boundary");
    if (g_str_has_prefix (ct.type, "multipart/") && boundary != NULL && *boundary != '\0'
        && cur.depth < ANNALS_MIME_MAX_DEPTH) {
      push_multipart (stack, body, blen, boundary, cur.depth + 1,
                      strcmp (ct.type, "multipart/digest") == 0 ? "message/rfc822" : "text/plain", &cur);
      content_type_clear (&ct);
      continue;
    }
    if (strcmp (ct.type, "message/rfc822") == 0 && cur.depth < ANNALS_MIME_MAX_DEPTH
        && encoding_of (ctev) != MAILMIME_MECHANISM_BASE64) {
      Pending inner = { body, blen, cur.depth + 1, "text/plain", body, blen };
      g_array_append_val (stack, inner);
      content_type_clear (&ct);
      continue;
    }
    AnnalsMimePart *part = g_new0 (AnnalsMimePart, 1);
    part->content_type = g_strdup (ct.type);
    part->charset = g_strdup (g_hash_table_lookup (ct.params, "charset"));
    part->depth = cur.depth;
    part->body = body;
    part->body_length = blen;
    part->encoding = encoding_of (ctev);
    if (cur.forwarded != NULL)
      part->forwarded = forwarded_summary (cur.forwarded, cur.forwarded_length);
    gboolean disposition_attachment;
    part->filename = disposition_filename (cdv, &disposition_attachment);
    if (part->filename == NULL && g_hash_table_lookup (ct.params, "name"))
      part->filename = g_strdup (g_hash_table_lookup (ct.params, "name"));
    gboolean is_text = g_str_has_prefix (ct.type, "text/") || strcmp (ct.type, "message/delivery-status") == 0;
    part->attachment = disposition_attachment || !is_text;
    if (is_text && !disposition_attachment) {
      g_autoptr (GBytes) decoded = annals_mime_part_decode (part);
      gsize dlen;
      const char *d = g_bytes_get_data (decoded, &dlen);
      g_autofree char *utf8 = annals_mime_to_utf8 (d ? d : "", dlen, part->charset, &part->charset_unknown);
      if (g_str_has_prefix (utf8, "\xef\xbb\xbf")) /* a byte order mark is no text */
        memmove (utf8, utf8 + 3, strlen (utf8 + 3) + 1);
      if (strcmp (ct.type, "text/html") == 0) {
        part->text = annals_mime_html_to_text (utf8, strlen (utf8));
        part->from_html = TRUE;
      } else if (param_is (ct.params, "format", "flowed")) {
        part->text = unflow (utf8, param_is (ct.params, "delsp", "yes"));
      } else {
        part->text = g_steal_pointer (&utf8);
      }
    }
    g_ptr_array_add (parts, part);
    content_type_clear (&ct);
  }
  choose_shown (parts);
  return parts;
}
