/* Tests for core/mime.c: the MIME walk, transfer encodings, charsets,
 * HTML, file names, quoting, accent folding, and hostile nesting. */
#include "core/mime.h"

#include <string.h>

static GPtrArray *
parts_of (const char *raw)
{
  return annals_mime_parts ((const guint8 *) raw, strlen (raw));
}

static AnnalsMimePart *
part (GPtrArray *parts, guint i)
{
  g_assert_cmpuint (i, <, parts->len);
  return parts->pdata[i];
}

static void
test_plain (void)
{
  g_autoptr (GPtrArray) p = parts_of ("Subject: x\n\nHello world\n");
  g_assert_cmpuint (p->len, ==, 1);
  g_assert_cmpstr (part (p, 0)->content_type, ==, "text/plain");
  g_assert_cmpstr (part (p, 0)->text, ==, "Hello world\n");
  g_assert_false (part (p, 0)->attachment);
}

static void
test_multipart (void)
{
  const char *raw
      = "Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
        "preamble\n"
        "--b1\n"
        "Content-Type: text/plain; charset=utf8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
        "R=C3=A9seau =\nsoft break\n"
        "--b1\n"
        "Content-Type: multipart/alternative; boundary=b2\n\n"
        "--b2\n"
        "Content-Type: text/html; charset=iso-8859-1\n\n"
        "<html><head><style>p{}</style></head><body><p>caf\xe9 &amp; <b>th&eacute;</b></p><br>x &#8364;</body></html>\n"
        "--b2--\n"
        "--b1\n"
        "Content-Type: application/pdf; name=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?=\"\n"
        "Content-Disposition: attachment; filename*=UTF-8''%C3%A9t%C3%A9%20report.pdf\n"
        "Content-Transfer-Encoding: base64\n\n"
        "JVBERi0xLjQK\n"
        "--b1--\n"
        "epilogue\n";
  g_autoptr (GPtrArray) p = parts_of (raw);
  g_assert_cmpuint (p->len, ==, 3);
  g_assert_cmpstr (part (p, 0)->text, ==, "Réseau soft break");
  g_assert_cmpstr (part (p, 1)->content_type, ==, "text/html");
  g_assert_true (part (p, 1)->from_html);
  g_assert_nonnull (strstr (part (p, 1)->text, "café & thé"));
  g_assert_nonnull (strstr (part (p, 1)->text, "x €"));
  g_assert_null (strstr (part (p, 1)->text, "p{}"));
  g_assert_true (part (p, 2)->attachment);
  /* RFC 2231 wins over the RFC 2047 name=. */
  g_assert_cmpstr (part (p, 2)->filename, ==, "été report.pdf");
  g_autoptr (GBytes) pdf = annals_mime_part_decode (part (p, 2));
  g_assert_cmpmem (g_bytes_get_data (pdf, NULL), g_bytes_get_size (pdf), "%PDF-1.4\n", 9);
}

/* HTML-only mail keeps its link targets: numbered references under the
 * text, for http, https and mailto only. */
static void
test_html_links (void)
{
  const char *html = "<p>See the <a href=\"https://example.org/agenda?a=1&amp;b=2\">agenda</a> and the "
                     "<A HREF='http://example.org/minutes'>minutes</A>; write to <a href=mailto:chair@example.org>the "
                     "chair</a>.</p><p>Again the <a href=\"https://example.org/agenda?a=1&amp;b=2\">agenda</a>, "
                     "<a href=\"javascript:alert(1)\">a trap</a>, <a href=\"/relative\">here</a>, "
                     "<a data-href=\"https://no.example/\" name=x>no target</a>, "
                     "<a href=\"https://example.org/same\">https://example.org/same</a>.</p>";
  g_autofree char *t = annals_mime_html_to_text (html, strlen (html));
  g_test_message ("%s", t);
  g_assert_nonnull (strstr (t, "See the agenda [1] and the minutes [2]; write to the chair [3]."));
  g_assert_nonnull (strstr (t, "Again the agenda [1], a trap, here, no target, https://example.org/same."));
  g_assert_true (g_str_has_suffix (t, "\n\n[1] https://example.org/agenda?a=1&b=2\n[2] http://example.org/minutes\n"
                                      "[3] mailto:chair@example.org\n"));
  g_assert_null (strstr (t, "javascript"));
  g_assert_null (strstr (t, "no.example"));
  /* No links, no references. */
  g_autofree char *plain = annals_mime_html_to_text ("<p>x</p>", 8);
  g_assert_null (strstr (plain, "[1]"));
}

static void
test_rfc2231_continuations (void)
{
  const char *raw = "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                    "Content-Type: application/octet-stream\n"
                    "Content-Disposition: attachment;\n filename*0*=utf-8''long%20na;\n filename*1=me.txt\n\n"
                    "data\n--b--\n";
  g_autoptr (GPtrArray) p = parts_of (raw);
  g_assert_cmpuint (p->len, ==, 1);
  g_assert_cmpstr (part (p, 0)->filename, ==, "long name.txt");
}

/* File names as mailers write them: RFC 2231, RFC 2047 in a quoted
 * string, raw UTF-8, and raw 8-bit Latin-1 (old Outlook). */
static void
test_filenames (void)
{
  static const struct {
    const char *header, *want;
  } cases[] = {
    { "Content-Disposition: attachment; filename*=UTF-8''Proc%C3%A8s.pdf", "Procès.pdf" },
    { "Content-Disposition: attachment; filename=\"=?UTF-8?Q?Proc=C3=A8s.pdf?=\"", "Procès.pdf" },
    { "Content-Disposition: attachment; filename=\"=?iso-8859-1?B?UHJvY+hzLnBkZg==?=\"", "Procès.pdf" },
    { "Content-Disposition: attachment; filename=\"Proc\xc3\xa8s.pdf\"", "Procès.pdf" },
    { "Content-Disposition: attachment; filename=\"Proc\xe8s.pdf\"", "Procès.pdf" },
    { "Content-Type: application/pdf; name=\"=?UTF-8?B?UHJvY8Oocy5wZGY=?=\"", "Procès.pdf" },
    { "Content-Disposition: attachment;\n filename*0*=iso-8859-1''Proc%E8;\n filename*1=s.pdf", "Procès.pdf" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *raw = g_strdup_printf (
        "Content-Type: multipart/mixed; boundary=b\n\n--b\n%s%s\n\ndata\n--b--\n",
        g_str_has_prefix (cases[i].header, "Content-Type") ? "" : "Content-Type: application/pdf\n", cases[i].header);
    /* Escaped: a Latin-1 byte in the TAP output breaks meson's reader. */
    g_autofree char *shown = g_strescape (cases[i].header, NULL);
    g_test_message ("%s", shown);
    g_autoptr (GPtrArray) p = parts_of (raw);
    g_assert_cmpuint (p->len, ==, 1);
    g_assert_cmpstr (part (p, 0)->filename, ==, cases[i].want);
  }
}

static void
test_charsets (void)
{
  struct {
    const char *data, *charset, *want;
    gboolean unknown;
  } cases[] = {
    { "caf\xc3\xa9", "utf8", "café", FALSE },
    { "caf\xe9", "iso-8859-1", "café", FALSE },
    { "\xc4\xe3\xba\xc3", "gb2312", "你好", FALSE },
    { "\xbe\xc8\xb3\xe7", "ks_c_5601-1987", "안녕", FALSE },
    { "\x1b$B$3$s\x1b(B", "iso-2022-jp", "こん", FALSE },
    { "\xa4\xa4\xa4\xe5", "big5", "中文", FALSE },
    { "plain \xe9", "x-made-up-charset", "plain é", TRUE },
    { "bad \xff\xfe utf8", "utf-8", "bad \xef\xbf\xbd\xef\xbf\xbd utf8", FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_test_message ("charset %s", cases[i].charset);
    gboolean unknown;
    g_autofree char *out = annals_mime_to_utf8 (cases[i].data, strlen (cases[i].data), cases[i].charset, &unknown);
    g_assert_cmpstr (out, ==, cases[i].want);
    g_assert_cmpint (unknown, ==, cases[i].unknown);
  }
}

static void
test_broken_encodings (void)
{
  const char *raw = "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not base64 at all%%%\n";
  g_autoptr (GPtrArray) p = parts_of (raw);
  g_assert_cmpuint (p->len, ==, 1);
  g_assert_nonnull (part (p, 0)->text);
  g_assert_true (g_utf8_validate (part (p, 0)->text, -1, NULL));
  /* A multipart without a closing boundary, and one without any. */
  g_autoptr (GPtrArray) q = parts_of ("Content-Type: multipart/mixed; boundary=z\n\n--z\n\nunclosed part\n");
  g_assert_cmpuint (q->len, ==, 1);
  g_assert_cmpstr (part (q, 0)->text, ==, "unclosed part\n");
  g_autoptr (GPtrArray) r = parts_of ("Content-Type: multipart/mixed\n\nno boundary at all\n");
  g_assert_cmpuint (r->len, ==, 1);
}

/* 10,000 nested multiparts: bounded depth, no stack growth. */
static void
test_deep_nesting (void)
{
  GString *raw = g_string_new ("Content-Type: multipart/mixed; boundary=b0\n\n");
  for (int i = 0; i < 10000; i++)
    g_string_append_printf (raw, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i + 1);
  g_string_append (raw, "--b10000\nContent-Type: text/plain\n\ndeep\n");
  g_autoptr (GPtrArray) p = annals_mime_parts ((const guint8 *) raw->str, raw->len);
  g_assert_cmpuint (p->len, <=, ANNALS_MIME_MAX_PARTS);
  for (guint i = 0; i < p->len; i++)
    g_assert_cmpuint (part (p, i)->depth, <=, ANNALS_MIME_MAX_DEPTH);
  g_string_free (raw, TRUE);
  /* Many parts: capped. */
  GString *wide = g_string_new ("Content-Type: multipart/mixed; boundary=w\n\n");
  for (int i = 0; i < 5000; i++)
    g_string_append (wide, "--w\n\nx\n");
  g_autoptr (GPtrArray) w = annals_mime_parts ((const guint8 *) wide->str, wide->len);
  g_assert_cmpuint (w->len, ==, ANNALS_MIME_MAX_PARTS);
  g_string_free (wide, TRUE);
}

static void
test_message_rfc822 (void)
{
  const char *raw = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nouter\n--b\n"
                    "Content-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/plain\n\ninner body\n--b--\n";
  g_autoptr (GPtrArray) p = parts_of (raw);
  g_assert_cmpuint (p->len, ==, 2);
  g_assert_cmpstr (part (p, 1)->text, ==, "inner body");
  g_assert_cmpuint (part (p, 1)->depth, ==, 2);
  g_assert_null (part (p, 0)->forwarded);
  g_assert_cmpstr (part (p, 1)->forwarded, ==, "Subject: inner\n");
}

/* Forwarded mail: the first part of the inner message carries who wrote
 * it, when and about what (decoded), whatever its own structure. */
static void
test_forwarded_headers (void)
{
  const char *raw
      = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nFYI\n--b\n"
        "Content-Type: message/rfc822\n\n"
        "From: =?UTF-8?Q?Jos=C3=A9?= <jose@example.org>\nTo: board@example.org\n"
        "Subject: Budget\n 2024\nDate: Tue, 2 Jan 2024 10:00:00 +0000\nMessage-ID: <in@x>\n"
        "Content-Type: multipart/alternative; boundary=c\n\n"
        "--c\nContent-Type: text/plain\n\nthe numbers\n--c\nContent-Type: text/html\n\n<p>the numbers</p>\n--c--\n"
        "--b--\n";
  g_autoptr (GPtrArray) p = parts_of (raw);
  g_assert_cmpuint (p->len, ==, 3);
  g_assert_null (part (p, 0)->forwarded);
  g_assert_cmpstr (part (p, 1)->forwarded, ==,
                   "From: Jos\xc3\xa9 <jose@example.org>\nTo: board@example.org\n"
                   "Date: Tue, 2 Jan 2024 10:00:00 +0000\nSubject: Budget 2024\n");
  g_assert_cmpstr (part (p, 1)->text, ==, "the numbers");
  g_assert_null (part (p, 2)->forwarded);
}

/* A 0-byte attachment: its header block ends the part, blank line and
 * all; it is not a part without headers whose text is those lines. */
static void
test_empty_part (void)
{
  const char *raws[] = {
    "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nsee attached\n--b\n"
    "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"empty.bin\"\n\n\n--b--\n",
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nsee attached\r\n--b\r\n"
    "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
    "filename=\"empty.bin\"\r\n\r\n\r\n--b--\r\n",
  };
  for (guint i = 0; i < G_N_ELEMENTS (raws); i++) {
    g_test_message ("vector %u", i);
    g_autoptr (GPtrArray) p = parts_of (raws[i]);
    g_assert_cmpuint (p->len, ==, 2);
    g_assert_cmpstr (part (p, 1)->content_type, ==, "application/octet-stream");
    g_assert_cmpstr (part (p, 1)->filename, ==, "empty.bin");
    g_assert_true (part (p, 1)->attachment);
    g_assert_null (part (p, 1)->text);
    g_assert_cmpuint (part (p, 1)->body_length, ==, 0);
  }
  /* A part with no blank line at all is still all body. */
  g_autoptr (GPtrArray) q = parts_of ("Content-Type: multipart/mixed; boundary=b\n\n--b\nno header here\n--b--\n");
  g_assert_cmpuint (q->len, ==, 1);
  g_assert_cmpstr (part (q, 0)->text, ==, "no header here");
}

/* format=flowed (RFC 3676): soft breaks joined, quote depth kept, space
 * stuffing undone; with DelSp=yes (Apple Mail) the space before a soft
 * break goes too, so words split across lines read (and index) whole. */
static void
test_format_flowed (void)
{
  static const struct {
    const char *params, *body, *text;
  } vectors[] = {
    { "; format=flowed", "This is a long \nparagraph.\n\nSecond.\n", "This is a long paragraph.\n\nSecond.\n" },
    { "; format=Flowed; DelSp=Yes", "A wr \napped word.\n", "A wrapped word.\n" },
    { "; format=flowed", "> quoted \n> text\n>> deeper \n>> still\nnew \ntext\n",
      "> quoted text\n>> deeper still\nnew text\n" },
    { "; format=flowed", " From stuffed\n  two\n", "From stuffed\n two\n" },
    { "; format=flowed", "Bye \n-- \nsig \nline\n", "Bye \n-- \nsig line\n" },
    { "; format=flowed", "crlf \r\nends\r\n", "crlf ends\n" },
    { "", "fixed \nlines\n", "fixed \nlines\n" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (vectors); i++) {
    g_test_message ("vector %u: %s", i, vectors[i].body);
    g_autofree char *raw
        = g_strdup_printf ("Content-Type: text/plain; charset=utf-8%s\n\n%s", vectors[i].params, vectors[i].body);
    g_autoptr (GPtrArray) p = parts_of (raw);
    g_assert_cmpuint (p->len, ==, 1);
    g_assert_cmpstr (part (p, 0)->text, ==, vectors[i].text);
  }
}

/* A byte order mark opening a text part (UTF-8, or UTF-16 converted) is
 * no character of the text: it would start the page and the first word. */
static void
test_bom (void)
{
  g_autoptr (GPtrArray) p = parts_of ("Content-Type: text/plain; charset=utf-8\n\n\xef\xbb\xbfHello\n");
  g_assert_cmpstr (part (p, 0)->text, ==, "Hello\n");
  g_autoptr (GPtrArray) h = parts_of ("Content-Type: text/html; charset=utf-8\n\n\xef\xbb\xbf<p>Hi</p>\n");
  g_assert_true (g_str_has_prefix (part (h, 0)->text, "Hi"));
}

static void
test_quoted_split (void)
{
  g_autoptr (GString) fresh = g_string_new (NULL);
  g_autoptr (GString) quoted = g_string_new (NULL);
  annals_mime_split_quoted ("On Monday Bob wrote:\n> old text\n  >> older\nnew text\n| also quoted\n", fresh, quoted);
  g_assert_cmpstr (fresh->str, ==, "On Monday Bob wrote:\nnew text\n");
  g_assert_cmpstr (quoted->str, ==, "> old text\n  >> older\n| also quoted\n");
}

static void
test_fold (void)
{
  g_autofree char *a = annals_mime_fold_accents ("Réseau à élire, Ångström, naïve");
  g_assert_cmpstr (a, ==, "Reseau a elire, Angstrom, naive");
  g_autofree char *b = annals_mime_fold_accents ("plain ascii");
  g_assert_cmpstr (b, ==, "plain ascii");
}

/* Which parts are the message's text, shown and indexed: text parts,
 * but not an HTML alternative of a plain one, nor attachments. */
static void
test_shown (void)
{
  const char *alternative = "Content-Type: multipart/mixed; boundary=b1\n\n--b1\n"
                            "Content-Type: multipart/alternative; boundary=b2\n\n--b2\n"
                            "Content-Type: text/plain\n\nplain\n--b2\n"
                            "Content-Type: text/html\n\n<p>html</p>\n--b2--\n--b1\n"
                            "Content-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nfile\n--b1\n"
                            "Content-Type: application/pdf\n\nJVBERi0xLjQK\n--b1--\n";
  g_autoptr (GPtrArray) p = parts_of (alternative);
  g_assert_cmpuint (p->len, ==, 4);
  g_assert_true (part (p, 0)->shown);
  g_assert_false (part (p, 1)->shown);
  g_assert_false (part (p, 2)->shown);
  g_assert_false (part (p, 3)->shown);
  g_autoptr (GPtrArray) h = parts_of ("Content-Type: text/html\n\n<p>only html</p>\n");
  g_assert_cmpuint (h->len, ==, 1);
  g_assert_true (part (h, 0)->shown);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("MIME decoding for the index and the web");
  g_test_add_func ("/mime/plain", test_plain);
  g_test_add_func ("/mime/multipart", test_multipart);
  g_test_add_func ("/mime/html-links", test_html_links);
  g_test_add_func ("/mime/shown", test_shown);
  g_test_add_func ("/mime/rfc2231-continuations", test_rfc2231_continuations);
  g_test_add_func ("/mime/filenames", test_filenames);
  g_test_add_func ("/mime/charsets", test_charsets);
  g_test_add_func ("/mime/broken-encodings", test_broken_encodings);
  g_test_add_func ("/mime/deep-nesting", test_deep_nesting);
  g_test_add_func ("/mime/message-rfc822", test_message_rfc822);
  g_test_add_func ("/mime/forwarded-headers", test_forwarded_headers);
  g_test_add_func ("/mime/empty-part", test_empty_part);
  g_test_add_func ("/mime/format-flowed", test_format_flowed);
  g_test_add_func ("/mime/bom", test_bom);
  g_test_add_func ("/mime/quoted-split", test_quoted_split);
  g_test_add_func ("/mime/fold-accents", test_fold);
  return g_test_run ();
}
