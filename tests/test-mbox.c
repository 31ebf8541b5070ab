/* Tests for core/mbox.c: splitting every variant, quoting both ways. */
#include "core/mbox.h"
#include "core/message.h"
#include "core/store.h"
#include "tests/test-util.h"

#include <string.h>

typedef struct {
  GPtrArray *bodies;    /* GBytes, unquoted */
  GPtrArray *envelopes; /* char * */
} Split;

static void
split_clear (Split *s)
{
  g_ptr_array_unref (s->bodies);
  g_ptr_array_unref (s->envelopes);
}

/* Splits input whole, or fed chunk bytes at a time when chunk > 0. */
static AnnalsMboxStatus
split (const char *input, gsize length, AnnalsMboxVariant variant, gsize chunk, Split *out)
{
  out->bodies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  out->envelopes = g_ptr_array_new_with_free_func (g_free);
  AnnalsMboxSplitter s;
  annals_mbox_splitter_init (&s, variant == ANNALS_MBOX_AUTO ? annals_mbox_detect ((const guint8 *) input, length)
                                                             : variant);
  gsize start = 0, avail = chunk ? MIN (chunk, length) : length;
  for (;;) {
    gboolean eof = avail == length;
    AnnalsMboxSpan span;
    AnnalsMboxStatus st = annals_mbox_splitter_next (&s, (const guint8 *) input + start, avail - start, eof, &span);
    if (st == ANNALS_MBOX_NEED_MORE) {
      g_assert_false (eof);
      avail = MIN (avail + chunk, length);
      continue;
    }
    if (st == ANNALS_MBOX_END || st == ANNALS_MBOX_NOT_MBOX)
      return st;
    GBytes *un = annals_mbox_unescape (s.variant, span.body, span.body_length);
    g_ptr_array_add (out->bodies, un ? un : g_bytes_new (span.body, span.body_length));
    g_ptr_array_add (out->envelopes, g_strndup ((const char *) span.envelope, span.envelope_length));
    start += span.consumed;
    if (start == length && eof)
      return ANNALS_MBOX_END;
  }
}

static void
test_string_free (GString *s)
{
  g_string_free (s, TRUE);
}

static void
assert_body (Split *s, guint i, const char *expected)
{
  g_assert_cmpuint (i, <, s->bodies->len);
  gsize len;
  const char *data = g_bytes_get_data (s->bodies->pdata[i], &len);
  g_assert_cmpmem (data, len, expected, strlen (expected));
}

static void
test_mboxrd (void)
{
  const char *in = "From a@example.org Mon Apr 19 15:28:51 2021\n"
                   "Subject: one\n\n"
                   ">From the start\n"
                   ">>From deeper\n"
                   "\n"
                   "From b@example.org Mon Apr 19 15:28:52 2021\n"
                   "Subject: two\n\nbody\n\n";
  Split s;
  g_assert_cmpint (split (in, strlen (in), ANNALS_MBOX_RD, 0, &s), ==, ANNALS_MBOX_END);
  g_assert_cmpuint (s.bodies->len, ==, 2);
  assert_body (&s, 0, "Subject: one\n\nFrom the start\n>From deeper\n");
  assert_body (&s, 1, "Subject: two\n\nbody\n");
  g_assert_cmpstr (s.envelopes->pdata[1], ==, "From b@example.org Mon Apr 19 15:28:52 2021");
  split_clear (&s);
}

static void
test_mboxo (void)
{
  const char *in = "From a Mon Apr 19 15:28:51 2021\nSubject: one\n\n>From x\n>>From y\n";
  Split s;
  split (in, strlen (in), ANNALS_MBOX_O, 0, &s);
  g_assert_cmpuint (s.bodies->len, ==, 1);
  assert_body (&s, 0, "Subject: one\n\nFrom x\n>>From y\n");
  split_clear (&s);
}

/* Pipermail bodies keep "From " lines unquoted: only a From line after a
 * blank line and before a header block separates. */
static void
test_pipermail (void)
{
  const char *in = "From alice at example.org  Tue Jan  5 10:00:00 2010\n"
                   "From: alice at example.org (Alice)\n"
                   "Subject: [list] policy\n\n"
                   "Hello\n\n"
                   "From the minutes of the meeting:\n"
                   "we agreed.\n"
                   "\n"
                   "From bob at example.org  Tue Jan  5 11:00:00 2010\n"
                   "From: bob at example.org (Bob)\n"
                   "Subject: Re: [list] policy\n\n"
                   "Agreed.\n";
  g_assert_cmpint (annals_mbox_detect ((const guint8 *) in, strlen (in)), ==, ANNALS_MBOX_PIPERMAIL);
  Split s;
  split (in, strlen (in), ANNALS_MBOX_AUTO, 0, &s);
  g_assert_cmpuint (s.bodies->len, ==, 2);
  assert_body (&s, 0,
               "From: alice at example.org (Alice)\nSubject: [list] policy\n\nHello\n\n"
               "From the minutes of the meeting:\nwe agreed.\n");
  split_clear (&s);
}

static void
test_mboxcl2 (void)
{
  /* The body holds a separator-shaped block that Content-Length covers. */
  const char *body = "Hi\n\nFrom x@y Mon Apr 19 15:28:51 2021\nX-Not: a header\n\nend";
  g_autofree char *in = g_strdup_printf ("From a Mon Apr 19 15:28:51 2021\nSubject: one\nContent-Length: %zu\n\n%s\n"
                                         "From b Mon Apr 19 15:28:52 2021\nSubject: two\nContent-Length: 3\n\nhi\n\n",
                                         strlen (body), body);
  g_assert_cmpint (annals_mbox_detect ((const guint8 *) in, strlen (in)), ==, ANNALS_MBOX_CL2);
  Split s;
  split (in, strlen (in), ANNALS_MBOX_AUTO, 0, &s);
  g_assert_cmpuint (s.bodies->len, ==, 2);
  g_autofree char *first = g_strdup_printf ("Subject: one\nContent-Length: %zu\n\n%s", strlen (body), body);
  assert_body (&s, 0, first);
  assert_body (&s, 1, "Subject: two\nContent-Length: 3\n\nhi\n");
  split_clear (&s);
}

static void
test_crlf (void)
{
  const char *in = "From a Mon Apr 19 15:28:51 2021\r\nSubject: one\r\n\r\nbody\r\n\r\n"
                   "From b Mon Apr 19 15:28:51 2021\r\nSubject: two\r\n\r\nbody2\r\n";
  Split s;
  split (in, strlen (in), ANNALS_MBOX_RD, 0, &s);
  g_assert_cmpuint (s.bodies->len, ==, 2);
  assert_body (&s, 0, "Subject: one\r\n\r\nbody\r\n");
  assert_body (&s, 1, "Subject: two\r\n\r\nbody2\r\n");
  g_assert_cmpstr (s.envelopes->pdata[0], ==, "From a Mon Apr 19 15:28:51 2021");
  split_clear (&s);
}

static void
test_no_final_newline (void)
{
  const char *in = "From a Mon Apr 19 15:28:51 2021\nSubject: one\n\nno newline";
  Split s;
  split (in, strlen (in), ANNALS_MBOX_RD, 0, &s);
  g_assert_cmpuint (s.bodies->len, ==, 1);
  assert_body (&s, 0, "Subject: one\n\nno newline");
  split_clear (&s);
}

static void
test_not_mbox (void)
{
  Split s;
  const char *in = "Subject: not an mbox\n\nhello\n";
  g_assert_cmpint (split (in, strlen (in), ANNALS_MBOX_AUTO, 0, &s), ==, ANNALS_MBOX_NOT_MBOX);
  split_clear (&s);
  g_assert_cmpint (split ("", 0, ANNALS_MBOX_AUTO, 0, &s), ==, ANNALS_MBOX_END);
  g_assert_cmpuint (s.bodies->len, ==, 0);
  split_clear (&s);
  g_assert_cmpint (split ("\n\n", 2, ANNALS_MBOX_AUTO, 0, &s), ==, ANNALS_MBOX_END);
  split_clear (&s);
}

/* Fed in pieces of every small size, the split is the same as whole. */
static void
test_chunked (void)
{
  GString *in = g_string_new (NULL);
  for (int i = 0; i < 20; i++)
    g_string_append_printf (
        in, "From m%d Mon Apr 19 15:28:51 2021\nSubject: %d\n\nline\n>From q\n\nFrom not a separator\n\n", i, i);
  Split whole;
  split (in->str, in->len, ANNALS_MBOX_RD, 0, &whole);
  g_assert_cmpuint (whole.bodies->len, ==, 20);
  for (gsize chunk = 1; chunk < 90; chunk += 7) {
    g_test_message ("chunk %zu", chunk);
    Split part;
    split (in->str, in->len, ANNALS_MBOX_RD, chunk, &part);
    g_assert_cmpuint (part.bodies->len, ==, whole.bodies->len);
    for (guint i = 0; i < part.bodies->len; i++)
      g_assert_true (g_bytes_equal (part.bodies->pdata[i], whole.bodies->pdata[i]));
    split_clear (&part);
  }
  split_clear (&whole);
  g_string_free (in, TRUE);
}

/* Envelope lines as real MTAs, mutt and pipermail write them, and body
 * lines that start with "From " but are no envelope. */
static void
test_envelope (void)
{
  static const struct {
    const char *line;
    gboolean envelope;
    gint64 when; /* checked when envelope */
  } cases[] = {
    { "From alice@example.org Tue Apr 6 10:02:03 2021", TRUE, 1617703323 },
    { "From alice at example.org  Tue Apr  6 10:02:03 2021", TRUE, 1617703323 },
    { "From MAILER-DAEMON Tue Apr  6 10:02:03 2021", TRUE, 1617703323 },
    { "From alice@example.org Tue Apr  6 10:02:03 2021 +0000", TRUE, 1617703323 },
    { "From alice@example.org Tue Apr  6 12:02:03 +0200 2021", TRUE, 1617703323 },
    { "From alice@example.org Tue Apr  6 10:02:03 PST 2021", TRUE, 1617703323 },
    { "From xxxx@example.fr Tue Apr  6 10:02:03 MET DST 2021", TRUE, 1617703323 },
    { "From alice@example.org Tue Apr  6 10:02 2021", TRUE, 1617703320 },
    { "From alice@example.org Tue Apr  6 10:02:03 21", TRUE, 1617703323 },
    { "From alice@example.org Mon Apr  6 10:02:03 98", TRUE, 891856923 },
    { "From \"john doe\"@example.org Tue Apr  6 10:02:03 2021", TRUE, 1617703323 },
    { "From john\\ doe@example.org Tue Apr  6 10:02:03 2021", TRUE, 1617703323 },
    { "From  Tue Apr  6 10:02:03 2021", TRUE, 1617703323 },
    { "From Mon Tue Apr  6 10:02:03 2021", TRUE, 1617703323 },
    { "From alice@example.org Tue Apr  6 10:02:03 2021 remote from uucp", TRUE, 1617703323 },
    { "From the project policies", FALSE, 0 },
    { "From 2019 onwards: Tue Apr 6 10:02:03 2021", FALSE, 0 },
    { "From Monday to Friday, Apr 6 10:02 2021", FALSE, 0 },
    { "From alice@example.org", FALSE, 0 },
    { "From alice@example.org Tue Apr  6 2021", FALSE, 0 },
    { "From alice@example.org Tue Apr  6 10:02:03", FALSE, 0 },
    { "From alice@example.org Tue Foo  6 10:02:03 2021", FALSE, 0 },
    { "From alice@example.org Tue Apr 32 10:02:03 2021", FALSE, 0 },
    { "From alice@example.org Tue Apr  6 25:02:03 2021", FALSE, 0 },
    { "From alice@example.org Tue Apr  6 10:02:03 20211", FALSE, 0 },
    { "From \"unterminated@example.org Tue Apr  6 10:02:03 2021", FALSE, 0 },
    { "From me at Tue", FALSE, 0 },
    { "From ", FALSE, 0 },
    { ">From alice@example.org Tue Apr 6 10:02:03 2021", FALSE, 0 },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    g_test_message ("case %u: %s", k, cases[k].line);
    gint64 when = 0;
    g_assert_cmpint (annals_mbox_envelope_parse ((const guint8 *) cases[k].line, strlen (cases[k].line), &when), ==,
                     cases[k].envelope);
    if (cases[k].envelope)
      g_assert_cmpint (when, ==, cases[k].when);
  }
}

/* One generated message: body lines that start with "From " after blank
 * lines, some followed by header-shaped lines, as Mailman 2 archives
 * hold them. */
static GString *
policy_message (guint i)
{
  GString *m = g_string_new (NULL);
  g_string_append_printf (m,
                          "From: member%u at example.org (Member %u)\n"
                          "Date: Tue, 06 Apr 2021 10:%02u:03 +0000\n"
                          "Subject: [policy] topic %u\n"
                          "Message-ID: <policy%u@example.org>\n"
                          "\n"
                          "Hello,\n\n"
                          "From the project policies\n"
                          "<https://example.org/policies.html>:\n\n"
                          "From: the minutes of meeting %u\n\n"
                          "From 2019 onwards: we meet monthly\n"
                          "Note: this is a body line\n\n"
                          "From time to time\n"
                          "Subject: more body\n",
                          i, i, i % 60, i, i, i);
  if (i % 3 == 0)
    g_string_append (m, "\nFrom alice@example.org\nX: not an envelope (no date)\n");
  if (i % 4 == 0)
    g_string_append (m, "\n\n"); /* blank lines at the end belong to the message */
  return m;
}

/* Envelope line kind (0..4) for message i, in the shapes MTAs write. */
static char *
envelope_line (guint kind, guint i)
{
  switch (kind % 5) {
  case 0:
    return g_strdup_printf ("From member%u at example.org  Tue Apr  6 10:02:03 2021", i);
  case 1:
    return g_strdup_printf ("From member%u@example.org Tue Apr 6 10:02:03 2021", i);
  case 2:
    return g_strdup ("From MAILER-DAEMON Tue Apr  6 10:02:03 2021 +0000");
  case 3:
    return g_strdup_printf ("From \"member %u\"@example.org Tue Apr  6 10:02:03 PST 2021", i);
  default:
    return g_strdup_printf ("From member%u@example.org Tue Apr  6 10:02 21", i);
  }
}

/* Splits archive with variant, whole and in chunks; every message must
 * come back as generated. */
static void
assert_split_matches (const GString *archive, AnnalsMboxVariant variant, GPtrArray *messages)
{
  for (gsize chunk = 0; chunk < 5000; chunk = chunk ? chunk * 7 : 13) {
    g_test_message ("variant %s, chunk %zu", annals_mbox_variant_name (variant), chunk);
    Split s;
    g_assert_cmpint (split (archive->str, archive->len, variant, chunk, &s), ==, ANNALS_MBOX_END);
    g_assert_cmpuint (s.bodies->len, ==, messages->len);
    for (guint i = 0; i < messages->len; i++) {
      const GString *m = messages->pdata[i];
      gsize len;
      const char *data = g_bytes_get_data (s.bodies->pdata[i], &len);
      g_assert_cmpmem (data, len, m->str, m->len);
    }
    split_clear (&s);
  }
}

/* A Mailman 2 text archive: envelopes "user at host", no quoting at all. */
static void
test_pipermail_generated (void)
{
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) test_string_free);
  g_autoptr (GString) archive = g_string_new (NULL);
  for (guint i = 0; i < 200; i++) {
    GString *m = policy_message (i);
    g_autofree char *envelope
        = i % 2 ? envelope_line (0, i) : g_strdup_printf ("From member%u at example.org  Mon Apr 19 15:28:51 2021", i);
    g_string_append_printf (archive, "%s\n", envelope);
    g_string_append_len (archive, m->str, (gssize) m->len);
    g_string_append_c (archive, '\n');
    g_ptr_array_add (messages, m);
  }
  g_assert_cmpint (annals_mbox_detect ((const guint8 *) archive->str, archive->len), ==, ANNALS_MBOX_PIPERMAIL);
  assert_split_matches (archive, ANNALS_MBOX_AUTO, messages);
  assert_split_matches (archive, ANNALS_MBOX_PIPERMAIL, messages);
}

/* A mboxo file from a careless writer: some body "From " lines quoted as
 * ">From ", others not; envelopes in every shape MTAs write. */
static void
test_mboxo_generated (void)
{
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) test_string_free);
  g_autoptr (GString) archive = g_string_new (NULL);
  for (guint i = 0; i < 200; i++) {
    GString *m = policy_message (i);
    g_string_append (m, "\nFrom here on, quoted by the writer\n");
    g_autofree char *envelope = envelope_line (i + 1, i);
    g_string_append_printf (archive, "%s\n", envelope);
    /* The writer quoted only "From here" lines. */
    g_auto (GStrv) parts = g_strsplit (m->str, "\nFrom here", -1);
    g_autofree char *written = g_strjoinv ("\n>From here", parts);
    g_string_append (archive, written);
    g_string_append_c (archive, '\n');
    g_ptr_array_add (messages, m);
  }
  assert_split_matches (archive, ANNALS_MBOX_O, messages);
  assert_split_matches (archive, ANNALS_MBOX_AUTO, messages);
}

/* mboxrd written by annals reads back to the same bytes. */
static void
test_roundtrip (void)
{
  const char *messages[] = {
    "Subject: a\n\nFrom here\n>From there\n>>From far\n",
    "Subject: b\r\n\r\nCRLF body\r\n",
    "Subject: c\n\n\n\nblank lines at the end\n\n",
    "Subject: d\n\nFrom \n",
  };
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    annals_mbox_append_mboxrd (out, NULL, "someone@example.org", 1618846131, (const guint8 *) messages[i],
                               strlen (messages[i]));
  g_assert_true (g_str_has_prefix (out->str, "From someone@example.org Mon Apr 19 15:28:51 2021\n"));
  Split s;
  split (out->str, out->len, ANNALS_MBOX_RD, 0, &s);
  g_assert_cmpuint (s.bodies->len, ==, G_N_ELEMENTS (messages));
  for (guint i = 0; i < G_N_ELEMENTS (messages); i++)
    assert_body (&s, i, messages[i]);
  split_clear (&s);
  g_string_free (out, TRUE);
}

/* A stored envelope that is no envelope line (the first one of an
 * import is not checked) is replaced on export, or the message would
 * not split off again; so is a sender that would spoil the new one. */
static void
test_write_bad_envelope (void)
{
  GString *out = g_string_new (NULL);
  const char *m = "Subject: x\n\nbody\n";
  annals_mbox_append_mboxrd (out, "From somebody", "a@example.org", 1618846131, (const guint8 *) m, strlen (m));
  annals_mbox_append_mboxrd (out, "From b@example.org Mon Apr 19 15:28:51 2021 +0000", NULL, 0, (const guint8 *) m,
                             strlen (m));
  annals_mbox_append_mboxrd (out, "From nobody at all", "\"odd", 0, (const guint8 *) m, strlen (m));
  g_assert_cmpstr (out->str, ==,
                   "From a@example.org Mon Apr 19 15:28:51 2021\nSubject: x\n\nbody\n\n"
                   "From b@example.org Mon Apr 19 15:28:51 2021 +0000\nSubject: x\n\nbody\n\n"
                   "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: x\n\nbody\n\n");
  Split s;
  split (out->str, out->len, ANNALS_MBOX_AUTO, 0, &s);
  g_assert_cmpuint (s.bodies->len, ==, 3);
  split_clear (&s);
  /* A pipermail envelope first would make the export read as pipermail,
   * which keeps the '>' of quoted body lines. */
  g_string_truncate (out, 0);
  const char *p = "From: alice at example.org (Alice)\n\nHi\n\nFrom the policies\n";
  annals_mbox_append_mboxrd (out, "From alice at example.org  Tue Apr  6 10:02:03 2021", "alice@example.org",
                             1617703323, (const guint8 *) p, strlen (p));
  g_assert_true (g_str_has_prefix (out->str, "From alice@example.org Tue Apr  6 10:02:03 2021\n"));
  split (out->str, out->len, ANNALS_MBOX_AUTO, 0, &s);
  g_assert_cmpuint (s.bodies->len, ==, 1);
  assert_body (&s, 0, p);
  split_clear (&s);
  g_string_free (out, TRUE);
}

/* A stored message goes out as mboxrd with the envelope it came with,
 * or one made from its sender and date (its receipt when it has no
 * Date:); a redacted one is not mail and says so. */
static void
test_write_stored (void)
{
  g_autofree char *dir = test_util_tmpdir ();
  g_autoptr (GError) error = NULL;
  const char *with_date
      = "From: A <a@example.org>\nDate: Mon, 19 Apr 2021 15:28:51 +0000\nMessage-ID: <a@x>\n\nFrom here\n";
  const char *no_date = "From: B <b@example.org>\nMessage-ID: <b@x>\n\nbody";
  const char *gone = "From: C <c@example.org>\nMessage-ID: <c@x>\n\nsecret\n";
  {
    g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (dir, 1000, &error);
    g_assert_no_error (error);
    AnnalsStoreAddResult r;
    g_assert_true (annals_store_writer_add (w, (const guint8 *) with_date, strlen (with_date), 1618846200,
                                            "From a@example.org Mon Apr 19 15:30:00 2021", &r, &error));
    g_assert_true (
        annals_store_writer_add (w, (const guint8 *) no_date, strlen (no_date), 1618846131, NULL, &r, &error));
    g_assert_true (annals_store_writer_add (w, (const guint8 *) gone, strlen (gone), 1618846131, NULL, &r, &error));
    g_assert_true (annals_store_writer_commit (w, &error));
    guint64 notice;
    g_assert_true (annals_store_writer_redact (w, 2, "test", 1618846300, NULL, NULL, &notice, &error));
    g_assert_no_error (error);
  }
  g_autoptr (AnnalsStore) st = annals_store_open (dir, &error);
  g_assert_no_error (error);
  g_autoptr (GString) out = g_string_new (NULL);
  gsize raw_length = 0;
  g_assert_true (annals_mbox_append_stored (out, st, 0, &raw_length, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (raw_length, ==, strlen (with_date));
  g_assert_true (annals_mbox_append_stored (out, st, 1, &raw_length, &error));
  g_assert_cmpuint (raw_length, ==, strlen (no_date));
  g_assert_cmpstr (out->str, ==,
                   "From a@example.org Mon Apr 19 15:30:00 2021\n"
                   "From: A <a@example.org>\nDate: Mon, 19 Apr 2021 15:28:51 +0000\nMessage-ID: <a@x>\n\n>From here\n\n"
                   "From b@example.org Mon Apr 19 15:28:51 2021\n"
                   "From: B <b@example.org>\nMessage-ID: <b@x>\n\nbody\n\n");
  gsize before = out->len;
  g_assert_false (annals_mbox_append_stored (out, st, 2, NULL, &error));
  g_assert_error (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_REDACTED);
  g_assert_cmpuint (out->len, ==, before);
  test_util_rm_rf (dir);
}

/* Eudora and files concatenated by scripts: no blank line before the
 * next envelope.  A real envelope line followed by a header field still
 * separates (as mutt reads it); the body keeps its last line end.  A
 * body line that is only "From " prose does not, blank line or not. */
static void
test_no_blank_line (void)
{
  const char *in = "From ???@??? Mon Jan 01 10:00:00 2024\n"
                   "Subject: one\n\n"
                   "body one\n"
                   "From the minutes:\n"
                   "From ???@??? Mon Jan 01 10:05:00 2024\n"
                   "Subject: two\n\n"
                   "body two\n";
  for (gsize chunk = 0; chunk <= 7; chunk += 7) {
    g_test_message ("chunk %" G_GSIZE_FORMAT, chunk);
    Split s;
    split (in, strlen (in), ANNALS_MBOX_AUTO, chunk, &s);
    g_assert_cmpuint (s.bodies->len, ==, 2);
    assert_body (&s, 0, "Subject: one\n\nbody one\nFrom the minutes:\n");
    assert_body (&s, 1, "Subject: two\n\nbody two\n");
    split_clear (&s);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("Splitting mbox variants and writing mboxrd");
  g_test_add_func ("/mbox/split/mboxrd", test_mboxrd);
  g_test_add_func ("/mbox/split/mboxo", test_mboxo);
  g_test_add_func ("/mbox/split/pipermail", test_pipermail);
  g_test_add_func ("/mbox/split/mboxcl2", test_mboxcl2);
  g_test_add_func ("/mbox/split/crlf", test_crlf);
  g_test_add_func ("/mbox/split/no-final-newline", test_no_final_newline);
  g_test_add_func ("/mbox/split/not-mbox", test_not_mbox);
  g_test_add_func ("/mbox/split/no-blank-line", test_no_blank_line);
  g_test_add_func ("/mbox/split/chunked", test_chunked);
  g_test_add_func ("/mbox/split/pipermail-generated", test_pipermail_generated);
  g_test_add_func ("/mbox/split/mboxo-generated", test_mboxo_generated);
  g_test_add_func ("/mbox/envelope/variants", test_envelope);
  g_test_add_func ("/mbox/write/roundtrip", test_roundtrip);
  g_test_add_func ("/mbox/write/bad-envelope", test_write_bad_envelope);
  g_test_add_func ("/mbox/write/stored", test_write_stored);
  return g_test_run ();
}
