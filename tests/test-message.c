/* Tests for core/message.c: header fields parsed with libetpan. */
#include "core/message.h"

#include <string.h>

static const char hash[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static AnnalsMessageInfo *
parse (const char *raw, gsize len)
{
  return annals_message_info_parse ((const guint8 *) raw, len, hash);
}

static void
test_fields (void)
{
  const char *raw = "Received: from x by y; Mon, 19 Apr 2021 15:28:51 +0000\n"
                    "From: =?UTF-8?Q?Ren=C3=A9_Dupont?= <rene@example.fr>\n"
                    "To: list@example.org, \"Bob B.\" <bob@example.org>\n"
                    "Cc: Carol <carol@example.org>\n"
                    "Subject: =?ISO-8859-1?Q?R=E9seau?= and\n routing\n"
                    "Date: Mon, 19 Apr 2021 17:28:51 +0200\n"
                    "Message-ID: <abc@example.fr>\n"
                    "In-Reply-To: <parent@example.org>\n"
                    "References: <root@example.org>\n <parent@example.org>\n"
                    "List-Id: Policy <policy.example.org>\n"
                    "\n"
                    "Body\n";
  g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
  g_assert_false (i->unparsable);
  g_assert_cmpstr (i->hdr.message_id, ==, "abc@example.fr");
  g_assert_false (i->message_id_derived);
  g_assert_cmpstr (i->hdr.from, ==, "René Dupont <rene@example.fr>");
  g_assert_cmpstr (i->hdr.from_addr, ==, "rene@example.fr");
  g_assert_cmpstr (i->hdr.to, ==, "list@example.org, \"Bob B.\" <bob@example.org>");
  g_assert_cmpstr (i->hdr.cc, ==, "Carol <carol@example.org>");
  g_assert_cmpstr (i->hdr.subject, ==, "Réseau and routing");
  g_assert_cmpint (i->hdr.date, ==, 1618846131);
  g_assert_cmpstr (i->hdr.in_reply_to, ==, "parent@example.org");
  g_assert_cmpstr (i->hdr.references, ==, "root@example.org parent@example.org");
  g_assert_cmpstr (i->hdr.list_id, ==, "Policy <policy.example.org>");
}

static void
test_no_message_id (void)
{
  const char *raw = "Subject: hi\n\nbody\n";
  g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
  g_assert_true (i->message_id_derived);
  g_autofree char *want = g_strdup_printf ("sha256.%s@annals.invalid", hash);
  g_assert_cmpstr (i->hdr.message_id, ==, want);
}

static void
test_not_mail (void)
{
  const char *raw = "\x7f"
                    "ELF\x02\x01\x01 this is not mail at all";
  g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
  g_assert_true (i->unparsable);
  g_assert_true (i->message_id_derived);
  g_autoptr (AnnalsMessageInfo) empty = parse ("", 0);
  g_assert_true (empty->unparsable);
}

/* NUL and 8-bit bytes in headers: parsed, strings valid UTF-8. */
static void
test_nul_and_8bit (void)
{
  const char raw[] = "Subject: caf\xe9 \0 au lait\nFrom: J\xfcrgen <j@example.de>\nMessage-ID: <n\0ul@x>\n\nbody\n";
  g_autoptr (AnnalsMessageInfo) i = parse (raw, sizeof raw - 1);
  g_assert_nonnull (i->hdr.subject);
  g_assert_true (g_utf8_validate (i->hdr.subject, -1, NULL));
  g_assert_true (g_str_has_prefix (i->hdr.subject, "café"));
  g_assert_nonnull (i->hdr.from);
  g_assert_true (g_utf8_validate (i->hdr.from, -1, NULL));
  g_assert_true (g_utf8_validate (i->hdr.message_id, -1, NULL));
}

static void
test_many_headers (void)
{
  GString *raw = g_string_new (NULL);
  for (int k = 0; k < 10000; k++)
    g_string_append_printf (raw, "X-Header-%d: value %d\n", k, k);
  g_string_append (raw, "Subject: after ten thousand\nMessage-ID: <many@x>\n\nbody\n");
  g_autoptr (AnnalsMessageInfo) i = parse (raw->str, raw->len);
  g_assert_cmpstr (i->hdr.subject, ==, "after ten thousand");
  g_assert_cmpstr (i->hdr.message_id, ==, "many@x");
  g_string_free (raw, TRUE);
}

static void
test_crlf_headers (void)
{
  const char *raw = "Subject: crlf\r\nMessage-ID: <crlf@x>\r\nDate: Tue, 1 Jan 2019 00:00:00 -0500\r\n\r\nbody";
  g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
  g_assert_cmpstr (i->hdr.subject, ==, "crlf");
  g_assert_cmpstr (i->hdr.message_id, ==, "crlf@x");
  g_assert_cmpint (i->hdr.date, ==, 1546318800);
  g_assert_cmpuint (annals_message_header_length ((const guint8 *) raw, strlen (raw)), ==, strlen (raw) - 4);
}

static void
test_dates (void)
{
  struct {
    int y, mo, d, h, mi, s, zone;
    gint64 want;
  } cases[] = {
    { 1970, 1, 1, 0, 0, 0, 0, 0 },
    { 2021, 4, 19, 15, 28, 51, 0, 1618846131 },
    { 99, 12, 31, 23, 59, 59, 0, 946684799 }, /* two-digit year */
    { 2024, 2, 29, 12, 0, 0, -130, 1709213400 },
    { 2021, 13, 1, 0, 0, 0, 0, ANNALS_NO_DATE },
    { 2021, 1, 1, 25, 0, 0, 0, ANNALS_NO_DATE },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    g_test_message ("case %u", k);
    g_assert_cmpint (annals_message_date_to_unix (cases[k].y, cases[k].mo, cases[k].d, cases[k].h, cases[k].mi,
                                                  cases[k].s, cases[k].zone),
                     ==, cases[k].want);
  }
}

static void
test_bad_message_id (void)
{
  /* Not RFC 5322 msg-ids: kept as the sender wrote them, near enough
   * (libetpan drops white space inside the brackets). */
  const char *raw = "Message-ID: <two words@x>\nSubject: s\n\n";
  g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
  g_assert_false (i->message_id_derived);
  g_assert_cmpstr (i->hdr.message_id, ==, "twowords@x");
  const char *raw2 = "Message-ID: no brackets here\nSubject: s\n\n";
  g_autoptr (AnnalsMessageInfo) j = parse (raw2, strlen (raw2));
  g_assert_false (j->message_id_derived);
  g_assert_nonnull (strstr (j->hdr.message_id, "brackets"));
  /* Doubled brackets: the id must not start with '<', which every
   * lookup by id (annals cat, the web's /LIST/ID/) strips. */
  const char *raw3 = "Message-ID: <<abc>@x>\nSubject: s\n\n";
  g_autoptr (AnnalsMessageInfo) k = parse (raw3, strlen (raw3));
  g_assert_cmpstr (k->hdr.message_id, ==, "abc");
  const char *raw4 = "Message-ID: <unclosed@x\nSubject: s\n\n";
  g_autoptr (AnnalsMessageInfo) l = parse (raw4, strlen (raw4));
  g_assert_cmpstr (l->hdr.message_id, ==, "unclosed@x");
}

/* Mailman 2 (pipermail) archives obfuscate the sender as "user at host"
 * with the name in a comment; the address and name are read back. */
static void
test_pipermail_from (void)
{
  static const struct {
    const char *field;
    const char *from;
    const char *addr;
  } cases[] = {
    { "From: alice at example.org (Alice Liddell)\n", "Alice Liddell <alice@example.org>", "alice@example.org" },
    { "From: bob at lists.example.org\n", "bob@lists.example.org", "bob@lists.example.org" },
    { "From:   carol.x at example.org   (=?utf-8?q?Ren=C3=A9?=\n Dupont)\n", "René Dupont <carol.x@example.org>",
      "carol.x@example.org" },
    { "From: Dave <dave at example.org>\n", "Dave <dave@example.org>", "dave@example.org" },
    /* Not obfuscated: left to the RFC 5322 parser. */
    { "From: Erin <erin@example.org>\n", "Erin <erin@example.org>", "erin@example.org" },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    g_test_message ("case %u: %s", k, cases[k].field);
    g_autofree char *raw = g_strconcat (cases[k].field, "Subject: s\nMessage-ID: <p@x>\n\nbody\n", NULL);
    g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
    g_assert_false (i->unparsable);
    g_assert_cmpstr (i->hdr.from, ==, cases[k].from);
    g_assert_cmpstr (i->hdr.from_addr, ==, cases[k].addr);
    g_assert_cmpstr (i->hdr.subject, ==, "s");
  }
}

/* A display name keeps its quotes where RFC 5322 needs them (a special
 * in it), as mail clients write it: "Carol <&> Co" <carol@x> is not
 * Carol <&> Co <carol@x>.  annals_message_from_name() reads it back. */
static void
test_from_quoting (void)
{
  static const struct {
    const char *field;
    const char *from;
    const char *name;
  } cases[] = {
    { "From: \"Carol <&> Co\" <carol@example.org>\n", "\"Carol <&> Co\" <carol@example.org>", "Carol <&> Co" },
    { "From: \"Doe, John\" <john@example.org>\n", "\"Doe, John\" <john@example.org>", "Doe, John" },
    { "From: \"J. R. Hacker\" <jr@example.org>\n", "\"J. R. Hacker\" <jr@example.org>", "J. R. Hacker" },
    { "From: \"Bob \\\"B\\\" (x)\" <bob@example.org>\n", "\"Bob \\\"B\\\" (x)\" <bob@example.org>", "Bob \"B\" (x)" },
    { "From: \"back\\\\slash\" <bs@example.org>\n", "\"back\\\\slash\" <bs@example.org>", "back\\slash" },
    { "From: =?UTF-8?Q?Dupont=2C_Ren=C3=A9?= <rene@example.fr>\n", "\"Dupont, René\" <rene@example.fr>",
      "Dupont, René" },
    /* Plain names need no quotes, whether written with them or not. */
    { "From: \"Alice Liddell\" <alice@example.org>\n", "Alice Liddell <alice@example.org>", "Alice Liddell" },
    { "From: René O'Neil <rene@example.fr>\n", "René O'Neil <rene@example.fr>", "René O'Neil" },
    { "From: dave@example.org\n", "dave@example.org", NULL },
    /* Pipermail's obfuscated form, read back, is quoted the same way. */
    { "From: erin at example.org (Erin [ops]: on call)\n", "\"Erin [ops]: on call\" <erin@example.org>",
      "Erin [ops]: on call" },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    g_test_message ("case %u: %s", k, cases[k].field);
    g_autofree char *raw = g_strconcat (cases[k].field, "Subject: s\nMessage-ID: <q@x>\n\nbody\n", NULL);
    g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
    g_assert_cmpstr (i->hdr.from, ==, cases[k].from);
    g_autofree char *name = annals_message_from_name (i->hdr.from);
    g_assert_cmpstr (name, ==, cases[k].name);
  }
}

/* One ISO 8601 form for every date annals prints (search --format json,
 * Atom feeds), and one answer for a message without a date. */
static void
test_iso_date (void)
{
  const struct {
    gint64 t;
    gboolean ok;
    const char *text;
  } vectors[] = {
    { 0, TRUE, "1970-01-01T00:00:00Z" },
    { 1618846131, TRUE, "2021-04-19T15:28:51Z" },
    { -86400, TRUE, "1969-12-31T00:00:00Z" },
    { ANNALS_NO_DATE, FALSE, "" },
    { G_MAXINT64, FALSE, "" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (vectors); i++) {
    char out[ANNALS_MESSAGE_ISO_DATE_SIZE] = "junk";
    g_test_message ("%" G_GINT64_FORMAT, vectors[i].t);
    g_assert_cmpint (annals_message_iso_date (vectors[i].t, out), ==, vectors[i].ok);
    g_assert_cmpstr (out, ==, vectors[i].text);
  }
}

/* A Message-ID as typed or as in a URL, with or without <>. */
static void
test_id_strip (void)
{
  const char *vectors[][2] = {
    { "<a@x>", "a@x" }, { "a@x", "a@x" }, { "<a@x", "a@x" }, { "a@x>", "a@x>" }, { "<>", "" }, { "<", "" }, { "", "" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (vectors); i++) {
    g_test_message ("%s", vectors[i][0]);
    g_autofree char *bare = annals_message_id_strip (vectors[i][0]);
    g_assert_cmpstr (bare, ==, vectors[i][1]);
  }
}

/* What reads as a header field: a name of printable characters, then a
 * colon (used to tell a header block and an mbox separator). */
static void
test_header_shaped (void)
{
  const struct {
    const char *line;
    gboolean shaped;
  } vectors[] = {
    { "Subject: x", TRUE },      { "X-Y:", TRUE },         { "Subject x", FALSE }, { ": x", FALSE },
    { " Subject: x", FALSE },    { "Sub ject: x", FALSE }, { "Subject", FALSE },   { "", FALSE },
    { "Caf\xc3\xa9: x", FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (vectors); i++) {
    g_test_message ("%s", vectors[i].line);
    g_assert_cmpint (annals_message_header_shaped ((const guint8 *) vectors[i].line, strlen (vectors[i].line)), ==,
                     vectors[i].shaped);
  }
  /* The length bounds the look: the colon must be inside it. */
  g_assert_false (annals_message_header_shaped ((const guint8 *) "Subject: x", 7));
}

/* Encoded words that say ISO-8859-1 or US-ASCII but carry Windows-1252
 * bytes (Outlook's quotes and dashes): read as Windows-1252, as the
 * bodies are, not as C1 control characters. */
static void
test_latin1_words (void)
{
  const char *raw = "Subject: =?iso-8859-1?q?it=92s_=93quoted=94?= =?US-ASCII*en?Q?=96_ok?=\n"
                    "From: =?ISO-8859-1?Q?Ren=E9?= <rene@example.fr>\n"
                    "Message-ID: <latin1@example.fr>\n\nbody\n";
  g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
  g_assert_cmpstr (i->hdr.subject, ==, "it\u2019s \u201cquoted\u201d\u2013 ok");
  g_assert_cmpstr (i->hdr.from, ==, "René <rene@example.fr>");
}

/* Date: fields as old and careless mailers write them, each parsed to
 * the right instant (2024-01-03 10:00:00 UTC = 1704276000 unless said). */
static void
test_obsolete_dates (void)
{
  struct {
    const char *date;
    gint64 want;
  } cases[] = {
    { "Wed, 3 Jan 2024 10:00:00 +0000", 1704276000 },
    { "Wed, 03 Jan 2024 11:00:00 +0100 (CET)", 1704276000 },
    { "Wed, 3 Jan 2024 10:00:00 UT", 1704276000 }, /* RFC 822 zone */
    { "Wed, 3 Jan 2024 10:00:00 GMT", 1704276000 },
    { "Wed, 3 Jan 2024 05:00:00 EST", 1704276000 },
    { "Wed, 03 Jan 2024 11:00:00 +01:00", 1704276000 },   /* colon in the zone */
    { "Wednesday, 03-Jan-24 10:00:00 GMT", 1704276000 },  /* RFC 850 */
    { "Wed Jan  3 10:00:00 2024", 1704276000 },           /* asctime */
    { "Wed, 3 January 2024 10:00:00 +0000", 1704276000 }, /* full month name */
    { "Wed, 3 Jan 2024 10.00.00 +0000", 1704276000 },     /* dots */
    { "2024-01-03 10:00:00", 1704276000 },                /* ISO 8601 */
    { "2024-01-03T11:00:00+01:00", 1704276000 },
    { "Wed, 3 Jan 2024", 1704240000 }, /* no time: midnight */
    { "Fri, 3 Jan 97 10:00 EST", 852303600 },
    { "Wed, 3 Jan 2024 25:00:00 +0000", ANNALS_NO_DATE },
    { "Wed, 3 Foo 2024 10:00:00 +0000", ANNALS_NO_DATE },
    { "Wed, 1 Jan 0000 10:00:00 +0000", ANNALS_NO_DATE }, /* a four-digit year 0 is no year */
    { "soon", ANNALS_NO_DATE },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    g_test_message ("Date: %s", cases[k].date);
    g_autofree char *raw
        = g_strdup_printf ("From: a@example.org\nDate: %s\nMessage-ID: <d@x>\n\nbody\n", cases[k].date);
    g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
    g_assert_cmpint (i->hdr.date, ==, cases[k].want);
  }
}

/* A message of only header fields whose last line has no newline (a
 * script's printf, a truncated delivery): its last field still counts. */
static void
test_no_final_newline (void)
{
  const char *raw = "Message-ID: <nonl@example.org>\nSubject: last line";
  g_autoptr (AnnalsMessageInfo) i = parse (raw, strlen (raw));
  g_assert_false (i->unparsable);
  g_assert_cmpstr (i->hdr.message_id, ==, "nonl@example.org");
  g_assert_cmpstr (i->hdr.subject, ==, "last line");
  const char *crlf = "Subject: crlf\r\nMessage-ID: <nonl2@example.org>";
  g_autoptr (AnnalsMessageInfo) j = parse (crlf, strlen (crlf));
  g_assert_cmpstr (j->hdr.message_id, ==, "nonl2@example.org");
  g_assert_cmpstr (j->hdr.subject, ==, "crlf");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("Header parsing: the fields annals keeps, from well-formed and broken mail");
  g_test_add_func ("/message/parse/fields", test_fields);
  g_test_add_func ("/message/parse/no-message-id", test_no_message_id);
  g_test_add_func ("/message/parse/not-mail", test_not_mail);
  g_test_add_func ("/message/parse/nul-and-8bit", test_nul_and_8bit);
  g_test_add_func ("/message/parse/many-headers", test_many_headers);
  g_test_add_func ("/message/parse/crlf", test_crlf_headers);
  g_test_add_func ("/message/parse/bad-message-id", test_bad_message_id);
  g_test_add_func ("/message/parse/pipermail-from", test_pipermail_from);
  g_test_add_func ("/message/parse/from-quoting", test_from_quoting);
  g_test_add_func ("/message/date/to-unix", test_dates);
  g_test_add_func ("/message/date/iso", test_iso_date);
  g_test_add_func ("/message/date/obsolete", test_obsolete_dates);
  g_test_add_func ("/message/id/strip", test_id_strip);
  g_test_add_func ("/message/parse/header-shaped", test_header_shaped);
  g_test_add_func ("/message/parse/latin1-words", test_latin1_words);
  g_test_add_func ("/message/parse/no-final-newline", test_no_final_newline);
  return g_test_run ();
}
