/* Tests for core/mbox.c: splitting every variant, quoting both ways. */
#include "mbox.h"
#include "message.h"

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
  assert_body (&s, 0, "From: alice at example.org (Alice)\nSubject: [list] policy\n\nHello\n\n"
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
    g_string_append_printf (in, "From m%d Mon Apr 19 15:28:51 2021\nSubject: %d\n\nline\n>From q\n\nFrom not a separator\n\n",
                            i, i);
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
  g_test_add_func ("/mbox/split/chunked", test_chunked);
  g_test_add_func ("/mbox/write/roundtrip", test_roundtrip);
  return g_test_run ();
}
