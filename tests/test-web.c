/* End-to-end tests of annals.cgi behind a real lighttpd on loopback, as
 * plain CGI and as FastCGI: every route, content types, exact raw bytes,
 * thread mbox.gz read by Python's mailbox, Atom parsed by feedparser,
 * and messages crafted to attack the reader. */
#include "core/store.h"
#include "tests/test-run.h"
#include "tests/test-servers.h"
#include "tests/test-util.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
  char *tmp;
  char *root;
  char *run_cgi, *run_fcgi;
  int port_cgi, port_fcgi;
  pid_t pid_cgi, pid_fcgi; /* their lighttpd */
} Site;

static Site site;

static gboolean
have (const char *program)
{
  g_autofree char *path = g_find_program_in_path (program);
  return path != NULL;
}

typedef struct {
  int status;
  char *type;
  char *body;
  gsize length;
  char *headers;
} Resp;

static void
resp_clear (Resp *r)
{
  g_free (r->type);
  g_free (r->body);
  g_free (r->headers);
}

/* curl, with the raw path (no normalisation); extra: more curl
 * arguments, already shell-quoted (a header: -H 'Host: x'). */
static Resp
get_with (int port, const char *method, const char *path, const char *extra)
{
  g_autofree char *body = g_build_filename (site.tmp, "body", NULL);
  g_autofree char *hdrs = g_build_filename (site.tmp, "headers", NULL);
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%d%s", port, path);
  g_autofree char *qurl = g_shell_quote (url);
  if (strlen (url) > 65536) {
    /* Too long for a command line: curl reads it from a config file. */
    g_autofree char *cfg = g_build_filename (site.tmp, "curl.cfg", NULL);
    g_autofree char *line = g_strdup_printf ("url = \"%s\"\n", url);
    g_assert_true (g_file_set_contents (cfg, line, -1, NULL));
    g_free (qurl);
    qurl = g_strdup_printf ("-K '%s'", cfg);
  }
  g_autofree char *cmd
      = strcmp (method, "HEAD") == 0
            ? g_strdup_printf ("curl -s --path-as-is -g -I %s -D '%s' -o '%s' -w '%%{http_code} %%{content_type}' %s",
                               extra, hdrs, body, qurl)
            : g_strdup_printf (
                "curl -s --path-as-is -g -X %s %s -D '%s' -o '%s' -w '%%{http_code} %%{content_type}' %s", method,
                extra, hdrs, body, qurl);
  /* curl leaves the file alone when there is no body (a 304). */
  g_unlink (body);
  int st;
  g_autofree char *out = test_sh (cmd, &st);
  Resp r = { 0 };
  r.status = atoi (out);
  const char *sp = strchr (out, ' ');
  r.type = g_strdup (sp ? sp + 1 : "");
  g_file_get_contents (body, &r.body, &r.length, NULL);
  g_file_get_contents (hdrs, &r.headers, NULL, NULL);
  if (r.body == NULL)
    r.body = g_strdup ("");
  g_test_message ("%s %s -> %d %s (%zu bytes)", method, path, r.status, r.type, r.length);
  return r;
}

static Resp
get (int port, const char *method, const char *path)
{
  return get_with (port, method, path, "");
}

static void
expect (int port, const char *path, int status, const char *type_prefix)
{
  Resp r = get (port, "GET", path);
  g_assert_cmpint (r.status, ==, status);
  if (type_prefix && !g_str_has_prefix (r.type, type_prefix))
    g_error ("%s: content type '%s', expected '%s'", path, r.type, type_prefix);
  resp_clear (&r);
}

/* A page's status, a text it must show and one it must not. */
static void
expect_text (int port, const char *path, int status, const char *has, const char *lacks)
{
  Resp r = get (port, "GET", path);
  g_assert_cmpint (r.status, ==, status);
  if (strstr (r.body, has) == NULL)
    g_error ("%s: no '%s' in the page:\n%s", path, has, r.body);
  if (strstr (r.body, lacks) != NULL)
    g_error ("%s: '%s' should not be in the page", path, lacks);
  resp_clear (&r);
}

static const char evil[]
    = "Message-ID: <evil/'\"onmouseover=alert(1)&x%41@x>\n"
      "From: \"<script>alert('name')</script>\" <evil@example.org>\n"
      "Subject: <script>alert('subject')</script> <img src=x onerror=alert(2)>\n"
      "Date: Mon, 5 Jul 2021 10:00:00 +0000\n"
      "MIME-Version: 1.0\n"
      "Content-Type: multipart/mixed; boundary=zz\n\n"
      "--zz\nContent-Type: text/plain\n\n"
      "<script>alert('body')</script> javascript:alert(3) data:text/html,<b>x</b>\n"
      "see https://example.org/ok?a=1&b=<2>\n"
      "--zz\nContent-Type: text/html\n\n<html><body onload=alert(4)><script>alert(5)</script>html part</body></html>\n"
      "--zz\nContent-Type: application/octet-stream\n"
      "Content-Disposition: attachment; filename=\"<script>x.sh\r\nSet-Cookie: evil=1\"\n\nbinary\n"
      "--zz--\n";

#define BASE_URL "http://archive.example/"

/* Sets (or with NULL removes) [site] base-url in annals.conf. */
static void
set_base_url (const char *url)
{
  g_autofree char *conf = g_build_filename (site.root, "annals.conf", NULL);
  g_autoptr (GKeyFile) k = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (k, conf, G_KEY_FILE_KEEP_COMMENTS, NULL));
  if (url)
    g_key_file_set_string (k, "site", "base-url", url);
  else
    g_key_file_remove_key (k, "site", "base-url", NULL);
  g_assert_true (g_key_file_save_to_file (k, conf, NULL));
}

/* One message of the crafted list, as mboxrd: the From_ line's time is
 * its receipt. */
static void
craft_add (GString *mbox, const char *id, const char *parent, const char *from, const char *subject, gint64 date,
           gint64 receipt, const char *body)
{
  g_autoptr (GDateTime) r = g_date_time_new_from_unix_utc (receipt);
  g_autoptr (GDateTime) d = g_date_time_new_from_unix_utc (date);
  g_autofree char *envelope = g_date_time_format (r, "%a %b %d %H:%M:%S %Y");
  g_autofree char *sent = g_date_time_format (d, "%a, %d %b %Y %H:%M:%S +0000");
  g_string_append_printf (mbox, "From craft@example.org %s\nMessage-ID: <%s>\nFrom: %s\nSubject: %s\nDate: %s\n",
                          envelope, id, from, subject, sent);
  if (parent != NULL)
    g_string_append_printf (mbox, "In-Reply-To: <%s>\nReferences: <%s>\n", parent, parent);
  g_string_append_printf (mbox, "\n%s\n\n", body);
}

#define MARCH_2021 G_GINT64_CONSTANT (1614592800) /* 2021-03-01 10:00 UTC */

/* The list "craft": a thread of 153 messages nesting 12 deep, replies
 * to a message never archived, a Date: in 2028 on a 2021 message, and
 * messages in March and April 2021, a patch series with long lines. */
static void
craft_list (void)
{
  assert_ok (
      run (site.root, "list-add", "craft", "--address", "craft@example.org", "--description", "Crafted threads"));
  g_autoptr (GString) mbox = g_string_new (NULL);
  for (int k = 0; k < 153; k++) {
    g_autofree char *id = g_strdup_printf ("long%d@craft", k);
    g_autofree char *parent = k == 0 ? NULL : g_strdup_printf ("long%d@craft", k <= 12 ? k - 1 : 0);
    g_autofree char *from = g_strdup_printf ("Writer Number%d <writer%d@example.org>", k % 5, k % 5);
    g_autofree char *body = g_strdup_printf ("body of long message %d.", k);
    craft_add (mbox, id, parent, from, k == 0 ? "Long thread" : "Re: Long thread", MARCH_2021 + 60 * k,
               MARCH_2021 + 60 * k + 5, body);
  }
  gint64 april = MARCH_2021 + 40 * 86400;
  craft_add (mbox, "orphan1@craft", "never-archived@elsewhere", "Orphan One <o1@example.org>", "Re: lost start", april,
             april + 5, "first reply to a message this archive never had.");
  craft_add (mbox, "orphan2@craft", "never-archived@elsewhere", "Orphan Two <o2@example.org>", "Re: lost start",
             april + 60, april + 65, "second reply to it.");
  craft_add (mbox, "april@craft", NULL, "April Writer <april@example.org>", "April news", april + 86400, april + 86405,
             "news of April.");
  /* Sent "in 2028", received in April 2021 before the April news. */
  craft_add (mbox, "future@craft", NULL, "Clock Skew <skew@example.org>", "From the future",
             G_GINT64_CONSTANT (1830297600), april - 86400, "my clock is wrong.");
  /* A patch series: long subjects, paths and diff lines. */
  for (int k = 0; k <= 3; k++) {
    g_autofree char *id = g_strdup_printf ("series%d@craft", k);
    g_autofree char *subject = g_strdup_printf ("[PATCH v3 %d/3] drivers/net/ethernet/mellanox/mlx5/core/"
                                                "en_accel_ktls_rx_resync_handler.c: fix",
                                                k);
    const char *body
        = "Signed-off-by: Some Developer <some.developer@example.org>\n---\n"
          " drivers/net/ethernet/mellanox/mlx5/core/en_accel/ktls_rx_resync_handler_and_more.c | 12 ++++++------\n"
          "-\tstatic_assert(sizeof(struct mlx5e_ktls_rx_resync_ctx_with_a_long_name) == "
          "MLX5E_KTLS_RX_RESYNC_CTX_SIZE_X);\n";
    craft_add (mbox, id, k ? "series0@craft" : NULL, "Some Developer <some.developer@example.org>", subject,
               april + 3 * 86400 + k, april + 3 * 86400 + k + 5, body);
  }
  /* A long text whose only match is far in. */
  {
    g_autoptr (GString) longbody = g_string_new (NULL);
    for (int k = 0; k < 800; k++)
      g_string_append (longbody, k % 12 == 11 ? "filler words\n" : "filler words ");
    g_string_append (longbody, "\nAt last the platypus shows up.");
    gint64 june2 = MARCH_2021 + 95 * 86400;
    craft_add (mbox, "platypus@craft", NULL, "Long Writer <long@example.org>", "Monotremes", june2, june2 + 5,
               longbody->str);
  }
  /* In May: a reply from an old mail program, "Re:" and no references. */
  gint64 may = MARCH_2021 + 70 * 86400;
  craft_add (mbox, "weekly@craft", NULL, "Chair Person <chair@example.org>", "Weekly call", may, may + 5,
             "agenda of the weekly call.");
  craft_add (mbox, "oldmailer@craft", NULL, "Old Mailer <old@example.org>", "RE: Weekly call", may + 86400, may + 86405,
             "I will be there.");
  /* In June: a reply whose quoted text and new text share a word. */
  gint64 june = MARCH_2021 + 92 * 86400;
  craft_add (mbox, "snippet@craft", NULL, "Quoting Writer <quoting@example.org>", "Marsupials", june, june + 5,
             "On Monday someone wrote:\n> the old quoted line about a wombat\n\n"
             "A fresh reply that names the wombat <again> & more.\nLe r\xc3\xa9seau est pr\xc3\xaat.");
  /* In July: HTML only, with links and attachments named in UTF-8. */
  g_string_append (mbox, "From craft@example.org Thu Jul 01 10:00:05 2021\nMessage-ID: <names@craft>\n"
                         "From: Html Writer <html@example.org>\nSubject: Agenda and files\n"
                         "Date: Thu, 01 Jul 2021 10:00:00 +0000\nMIME-Version: 1.0\n"
                         "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n"
                         "Content-Type: text/html; charset=utf-8\n\n"
                         "<p>See the <a href=\"https://example.org/agenda?a=1&amp;b=2\">agenda</a>.</p>\n--b\n"
                         "Content-Type: application/pdf\n"
                         "Content-Disposition: attachment; filename*=UTF-8''Proc%C3%A8s.pdf\n"
                         "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b\n"
                         "Content-Type: text/plain; name=\"=?UTF-8?Q?R=C3=A9sum=C3=A9_final.txt?=\"\n"
                         "Content-Disposition: attachment\n\nplain file\n--b--\n\n");
  g_autofree char *path = g_build_filename (site.tmp, "craft.mbox", NULL);
  g_assert_true (g_file_set_contents (path, mbox->str, (gssize) mbox->len, NULL));
  assert_ok (run (site.root, "ingest", "craft", "--quiet", path));
}

static void
start_site (void)
{
  site.tmp = test_util_tmpdir ();
  site.root = g_build_filename (site.tmp, "root", NULL);
  assert_ok (run (site.root, "init", "--name", "Test <site>"));
  /* The logs' origin stays the key's name when base-url changes below
   * (the about page's commands are run against them). */
  {
    g_autofree char *conf0 = g_build_filename (site.root, "annals.conf", NULL);
    g_autoptr (GKeyFile) k0 = g_key_file_new ();
    g_assert_true (g_key_file_load_from_file (k0, conf0, G_KEY_FILE_KEEP_COMMENTS, NULL));
    g_key_file_set_string (k0, "site", "origin", "127.0.0.1:8080");
    g_assert_true (g_key_file_save_to_file (k0, conf0, NULL));
  }
  assert_ok (run (site.root, "list-add", "ksummit", "--description", "Maintainers summit"));
  g_autofree char *sample = test_source_path ("samples/ksummit-sample.mbox.gz");
  assert_ok (run (site.root, "ingest", "ksummit", "--quiet", sample));
  assert_ok (run_full (site.root, evil, strlen (evil), NULL, "ingest", "ksummit", "--mda", NULL));
  /* A redacted message, for the tombstone. */
  assert_ok (run (site.root, "redact", "ksummit", "5", "--reason", "privacy request 2026-11"));
  /* A second list that obfuscates addresses. */
  assert_ok (run (site.root, "list-add", "hidden"));
  g_autofree char *conf = g_build_filename (site.root, "annals.conf", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (conf, &text, NULL, NULL));
  g_autofree char *more = g_strconcat (text, "obfuscate=true\n", NULL);
  g_assert_true (g_file_set_contents (conf, more, -1, NULL));
  /* Where the site says it is served: absolute URLs use it, not the
   * Host header (the servers below listen elsewhere). */
  set_base_url (BASE_URL);
  const char *plain = "Message-ID: <hidden1@x>\nFrom: Alice <alice@example.org>\nSubject: reach me\n\n"
                      "write to bob@example.net\n";
  assert_ok (run_full (site.root, plain, strlen (plain), NULL, "ingest", "hidden", "--mda", NULL));
  craft_list ();
  g_autofree char *serve = test_source_path ("scripts/serve");
  g_autofree char *cgi = test_server_cgi_path ();
  g_setenv ("ANNALS_CGI", cgi, TRUE);
  site.port_cgi = test_server_free_port ();
  site.port_fcgi = test_server_free_port ();
  site.run_cgi = g_build_filename (site.tmp, "cgi", NULL);
  site.run_fcgi = g_build_filename (site.tmp, "fcgi", NULL);
  int st;
  g_autofree char *c1
      = g_strdup_printf ("%s %s --port %d --background --run-dir %s", serve, site.root, site.port_cgi, site.run_cgi);
  g_free (test_sh (c1, &st));
  g_assert_cmpint (st, ==, 0);
  g_autofree char *c2 = g_strdup_printf ("%s %s --port %d --fastcgi --background --run-dir %s", serve, site.root,
                                         site.port_fcgi, site.run_fcgi);
  g_free (test_sh (c2, &st));
  g_assert_cmpint (st, ==, 0);
  g_autofree char *pid_cgi = g_build_filename (site.run_cgi, "lighttpd.pid", NULL);
  g_autofree char *pid_fcgi = g_build_filename (site.run_fcgi, "lighttpd.pid", NULL);
  site.pid_cgi = test_server_adopt_pidfile (pid_cgi);
  site.pid_fcgi = test_server_adopt_pidfile (pid_fcgi);
  for (int i = 0; i < 50; i++) {
    Resp r = get (site.port_fcgi, "GET", "/");
    gboolean up = r.status == 200;
    resp_clear (&r);
    if (up)
      break;
    g_usleep (100000);
  }
}

static void
stop_site (void)
{
  test_server_kill (site.pid_cgi);
  test_server_kill (site.pid_fcgi);
  test_util_rm_rf (site.tmp);
  g_free (site.run_cgi);
  g_free (site.run_fcgi);
  g_free (site.root);
  g_free (site.tmp);
}

static const char mid[] = "20210422084527.u4otu3ccanckrjll@wittgenstein";

static void
routes (int port)
{
  g_autofree char *m = g_strdup_printf ("/ksummit/%s/", mid);
  expect (port, "/", 200, "text/html; charset=utf-8");
  expect (port, "/ksummit/", 200, "text/html; charset=utf-8");
  expect (port, "/ksummit/?o=25", 200, "text/html");
  expect (port, "/ksummit/?q=rust", 200, "text/html");
  expect (port, "/ksummit/?q=rust&r&o=25", 200, "text/html");
  expect (port, "/ksummit/?q=rust&x=A", 200, "application/atom+xml");
  expect (port, "/all/", 200, "text/html");
  expect (port, "/all/?q=rust", 200, "text/html");
  expect (port, m, 200, "text/html; charset=utf-8");
  g_autofree char *t = g_strconcat (m, "t/", NULL);
  g_autofree char *T = g_strconcat (m, "T/", NULL);
  expect (port, t, 200, "text/html");
  expect (port, T, 200, "text/html");
  g_autofree char *mbox = g_strconcat (m, "t.mbox.gz", NULL);
  g_autofree char *tatom = g_strconcat (m, "t.atom", NULL);
  g_autofree char *proof = g_strconcat (m, "proof", NULL);
  expect (port, mbox, 200, "application/gzip");
  expect (port, tatom, 200, "application/atom+xml");
  expect (port, proof, 200, "text/plain");
  expect (port, "/ksummit/new.atom", 200, "application/atom+xml");
  expect (port, "/ksummit/log/checkpoint", 200, "text/plain");
  expect (port, "/ksummit/log/tile/0/000", 200, "application/octet-stream");
  expect (port, "/ksummit/log/tile/entries/001.p/44", 200, "application/octet-stream");
  /* Redirects keep public-inbox's shape, HEAD too. */
  g_autofree char *bare = g_strdup_printf ("/ksummit/%s", mid);
  Resp r = get (port, "GET", bare);
  g_assert_cmpint (r.status, ==, 301);
  g_autofree char *loc = g_strdup_printf ("Location: " BASE_URL "ksummit/%s/", mid);
  g_assert_nonnull (strstr (r.headers, loc));
  resp_clear (&r);
  r = get (port, "HEAD", bare);
  g_assert_cmpint (r.status, ==, 301);
  g_assert_nonnull (strstr (r.headers, loc));
  resp_clear (&r);
  r = get (port, "HEAD", m);
  g_assert_cmpint (r.status, ==, 200);
  g_assert_null (strstr (r.body, "<html")); /* (curl -I writes the headers there) */
  resp_clear (&r);
  /* /all/MESSAGE-ID/ (b4's and lei's way to ask lore) finds the list. */
  g_autofree char *all = g_strdup_printf ("/all/%s/raw", mid);
  r = get (port, "GET", all);
  g_assert_cmpint (r.status, ==, 301);
  g_autofree char *all_loc = g_strdup_printf ("Location: " BASE_URL "ksummit/%s/raw", mid);
  g_assert_nonnull (strstr (r.headers, all_loc));
  resp_clear (&r);
  expect (port, "/all/no-such-id@x/", 404, "text/html");
  expect (port, "/all/bad%zzid/", 400, NULL);
  /* Not found, clearly. */
  expect (port, "/nolist/", 404, "text/html");
  expect (port, "/ksummit/no-such-id@x/", 404, "text/html");
  expect (port, "/ksummit/log/../../annals.conf", 404, NULL);
  expect (port, "/ksummit/log/tile/0/999", 404, NULL);
  expect (port, "/../../etc/passwd", 404, NULL);
  expect (port, "/ksummit/%2e%2e%2f%2e%2e%2fannals.conf/raw", 404, NULL);
  expect (port, "/ksummit/bad%zzid/", 400, NULL);
  expect (port, "/ksummit/nul%00id/", 400, NULL);
  expect (port, "/ksummit/?q=NOT+rust", 400, "text/html");
  expect (port, "/ksummit/?q=a*", 400, "text/html");
}

static void
test_routes_cgi (void)
{
  routes (site.port_cgi);
}

static void
test_routes_fastcgi (void)
{
  routes (site.port_fcgi);
}

static void
test_raw_exact (void)
{
  g_autofree char *path = g_strdup_printf ("/ksummit/%s/raw", mid);
  Resp r = get (site.port_cgi, "GET", path);
  g_assert_cmpint (r.status, ==, 200);
  Run c = run (site.root, "cat", "ksummit", mid);
  g_assert_cmpmem (r.body, r.length, c.out, c.out_len);
  g_assert_nonnull (strstr (r.headers, "ETag: \""));
  g_assert_null (strstr (r.headers, "immutable"));
  run_clear (&c);
  resp_clear (&r);
  /* The evil message's id has a '/': %2F in the URL reaches it. */
  Resp e = get (site.port_fcgi, "GET", "/ksummit/evil%2F'%22onmouseover=alert(1)&x%2541@x/raw");
  g_assert_cmpint (e.status, ==, 200);
  g_assert_cmpmem (e.body, e.length, evil, strlen (evil));
  resp_clear (&e);
}

static void
test_mbox_and_atom (void)
{
  g_autofree char *path = g_strdup_printf ("/ksummit/%s/t.mbox.gz", mid);
  Resp r = get (site.port_cgi, "GET", path);
  g_assert_cmpint (r.status, ==, 200);
  g_autofree char *gz = g_build_filename (site.tmp, "t.mbox.gz", NULL);
  g_assert_true (g_file_set_contents (gz, r.body, (gssize) r.length, NULL));
  resp_clear (&r);
  g_autofree char *py = g_strdup_printf (
      "python3 -c \"import gzip, mailbox, sys; open('%s/t.mbox','wb').write(gzip.open('%s').read()); "
      "msgs=list(mailbox.mbox('%s/t.mbox')); "
      "dates=[m['Date'] for m in msgs]; print(len(msgs)); "
      "ids=[m['Message-ID'] for m in msgs]; assert any('%s' in i for i in ids), ids\"",
      site.tmp, gz, site.tmp, mid);
  int st;
  g_autofree char *out = test_sh (py, &st);
  g_assert_cmpint (st, ==, 0);
  g_test_message ("python mailbox read %s messages", out);
  g_assert_cmpint (atoi (out), >, 10);
  /* mutt reads it too, when present: it copies every message it read to
   * a new mbox, counted again.  mutt needs a terminal (without one it
   * only sends mail), so script(1) gives it a pty. */
  if (have ("mutt") && have ("script")) {
    g_autofree char *copy = g_build_filename (site.tmp, "mutt-copy.mbox", NULL);
    g_autofree char *sh = g_build_filename (site.tmp, "mutt.sh", NULL);
    g_autofree char *script = g_strdup_printf (
        "rm -f '%s'\n"
        "TERM=xterm exec timeout 60 script -qec \"mutt -n -F /dev/null -R -f '%s/t.mbox' "
        "-e 'set confirmcreate=no confirmappend=no' "
        "-e 'push \\\"<tag-pattern>~A<enter><tag-prefix-cond><copy-message>%s<enter><quit>\\\"'\" /dev/null "
        "</dev/null >/dev/null\n",
        copy, site.tmp, copy);
    g_assert_true (g_file_set_contents (sh, script, -1, NULL));
    g_autofree char *cmd = g_strdup_printf ("sh '%s'", sh);
    int mst;
    g_autofree char *mo = test_sh (cmd, &mst);
    g_assert_cmpint (mst, ==, 0);
    g_autofree char *count = g_strdup_printf ("python3 -c \"import mailbox; print(len(mailbox.mbox('%s')))\"", copy);
    g_autofree char *mc = test_sh (count, &mst);
    g_assert_cmpint (mst, ==, 0);
    g_test_message ("mutt read %s messages", mc);
    g_assert_cmpint (atoi (mc), ==, atoi (out));
  }
  /* Atom: a real feed parser, no bozo flag. */
  Resp a = get (site.port_fcgi, "GET", "/ksummit/new.atom");
  g_autofree char *feed = g_build_filename (site.tmp, "new.atom", NULL);
  g_assert_true (g_file_set_contents (feed, a.body, (gssize) a.length, NULL));
  resp_clear (&a);
  g_autofree char *fp
      = g_strdup_printf ("/usr/bin/python3 -c \"import feedparser; f=feedparser.parse('%s'); "
                         "assert not f.bozo, f.bozo_exception; assert f.version=='atom10', f.version; "
                         "assert len(f.entries)>0; e=f.entries[0]; assert e.id and e.title and e.updated and e.link; "
                         "print(len(f.entries))\"",
                         feed);
  g_autofree char *fo = test_sh (fp, &st);
  g_assert_cmpint (st, ==, 0);
  g_test_message ("feedparser read %s entries", fo);
}

/* Every tag in the page is one annals writes, and none has an event
 * handler, a script, or a javascript:/data: link: message text only
 * ever appears escaped. */
static void
assert_only_our_tags (const char *html)
{
  static const char *const ours[]
      = { "!DOCTYPE", "html",   "head",  "meta",  "title",   "style", "link", "body", "nav",  "a",   "main", "h1",
          "h2",       "table",  "thead", "tbody", "tr",      "th",    "td",   "pre",  "span", "p",   "form", "label",
          "input",    "footer", "small", "code",  "article", "ul",    "li",   "div",  "hr",   "mark" };
  g_autoptr (GRegex) handler = g_regex_new ("\\son[a-z]+\\s*=|href=\"(javascript|data):", G_REGEX_CASELESS, 0, NULL);
  for (const char *p = strchr (html, '<'); p != NULL; p = strchr (p + 1, '<')) {
    const char *name = p + 1 + (p[1] == '/');
    gsize len = strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789!DOCTYPE");
    g_autofree char *tag = g_strndup (name, len);
    gboolean known = FALSE;
    for (guint i = 0; i < G_N_ELEMENTS (ours); i++)
      known |= strcmp (tag, ours[i]) == 0;
    if (!known)
      g_error ("a tag annals does not write: <%s", tag);
    const char *end = strchr (p, '>');
    g_autofree char *whole = g_strndup (p, end ? (gsize) (end - p) : strlen (p));
    if (g_regex_match (handler, whole, 0, NULL))
      g_error ("an active attribute in: %s", whole);
  }
  g_assert_null (strstr (html, "<script"));
}

/* The crafted message: nothing executes, nothing is injected. */
static void
test_hostile (void)
{
  const char *path = "/ksummit/evil%2F'%22onmouseover=alert(1)&x%2541@x/";
  Resp r = get (site.port_cgi, "GET", path);
  g_assert_cmpint (r.status, ==, 200);
  assert_only_our_tags (r.body);
  g_assert_null (strstr (r.body, "href=\"javascript:"));
  g_assert_null (strstr (r.body, "href=\"data:"));
  g_assert_nonnull (strstr (r.body, "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;"));
  g_assert_nonnull (strstr (r.body, "href=\"https://example.org/ok?a=1&amp;b=\""));
  g_assert_null (strstr (r.headers, "Set-Cookie"));
  g_assert_nonnull (strstr (r.headers, "Content-Security-Policy: default-src 'none'"));
  /* The attachment downloads with a safe name; no header injection. */
  const char *att = strstr (r.body, "Attachment: <a href=\"");
  g_assert_nonnull (att);
  att += strlen ("Attachment: <a href=\"");
  g_autofree char *escaped = g_strndup (att, strcspn (att, "\""));
  resp_clear (&r);
  /* What a browser does with the attribute: entities decoded. */
  GString *h = g_string_new (NULL);
  for (const char *q = escaped; *q; q++) {
    if (g_str_has_prefix (q, "&amp;")) {
      g_string_append_c (h, '&');
      q += 4;
    } else if (g_str_has_prefix (q, "&#39;")) {
      g_string_append_c (h, '\'');
      q += 4;
    } else {
      g_string_append_c (h, *q);
    }
  }
  g_autofree char *href = g_string_free (h, FALSE);
  Resp d = get (site.port_cgi, "GET", href);
  g_assert_cmpint (d.status, ==, 200);
  g_assert_cmpstr (d.type, ==, "application/octet-stream");
  g_assert_null (strstr (d.headers, "Set-Cookie"));
  g_assert_nonnull (strstr (d.headers, "Content-Disposition: attachment; filename=\""));
  g_assert_cmpmem (d.body, d.length, "binary", 6);
  resp_clear (&d);
  /* The list page and search escape it too. */
  Resp l = get (site.port_fcgi, "GET", "/ksummit/?q=alert");
  assert_only_our_tags (l.body);
  resp_clear (&l);
  /* A 1 MB query string: a clear 4xx (from lighttpd, whose header limit
   * comes first), no crash; and one just under it reaches annals. */
  g_autofree char *huge
      = g_strdup_printf ("python3 -c \"import http.client; c=http.client.HTTPConnection('127.0.0.1', %d); "
                         "c.request('GET', '/ksummit/?q=' + 'a'*(1<<20)); print(c.getresponse().status)\"",
                         site.port_fcgi);
  g_autofree char *hs = test_sh (huge, NULL);
  g_assert_cmpint (atoi (hs), >=, 400);
  g_assert_cmpint (atoi (hs), <, 500);
  GString *big = g_string_new ("/ksummit/?q=");
  for (int i = 0; i < 6000; i++)
    g_string_append_c (big, 'a');
  Resp b = get (site.port_fcgi, "GET", big->str);
  g_assert_cmpint (b.status, ==, 413);
  resp_clear (&b);
  g_string_free (big, TRUE);
  /* A wildcard that would expand without bound: refused. */
  Resp w = get (site.port_cgi, "GET", "/ksummit/?q=t*");
  g_test_message ("%s", w.body);
  g_assert_cmpint (w.status, ==, 400);
  g_assert_nonnull (strstr (w.body, "wildcard"));
  resp_clear (&w);
  /* Methods. */
  Resp p = get (site.port_cgi, "DELETE", "/ksummit/");
  g_assert_cmpint (p.status, ==, 405);
  resp_clear (&p);
}

static void
test_search_mbox_post (void)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%d/ksummit/?q=f:torvalds&x=m", site.port_fcgi);
  g_autofree char *out = g_build_filename (site.tmp, "results.mbox.gz", NULL);
  g_autofree char *cmd = g_strdup_printf ("curl -s -X POST -d '' -o '%s' -w '%%{http_code}' '%s'", out, url);
  g_autofree char *code = test_sh (cmd, NULL);
  g_assert_cmpstr (code, ==, "200");
  g_autofree char *py = g_strdup_printf (
      "python3 -c \"import gzip; d=gzip.open('%s').read(); print(d.count(b'\\nFrom ') + d.startswith(b'From '))\"",
      out);
  g_autofree char *n = test_sh (py, NULL);
  g_assert_cmpint (atoi (n), >=, 1);
  /* GET does not make it (a crawler must not pull archives). */
  expect (site.port_fcgi, "/ksummit/?q=f:torvalds&x=m", 405, NULL);
}

static void
test_tombstone_and_obfuscation (void)
{
  Run l = run (site.root, "ls", "ksummit", "--from", "5", "--to", "5");
  g_assert_nonnull (strstr (l.out, "[redacted]"));
  run_clear (&l);
  /* The tombstone: the message page says when and why; raw is gone. */
  g_autofree char *store = g_build_filename (site.root, "ksummit", "store", NULL);
  g_autoptr (AnnalsStore) st = annals_store_open (store, NULL);
  g_autoptr (AnnalsStoreMeta) meta = annals_store_read_meta (st, 5, NULL);
  g_assert_nonnull (meta);
  g_autofree char *seg = g_uri_escape_string (meta->hdr.message_id, "@", FALSE);
  g_autofree char *page = g_strdup_printf ("/ksummit/%s/", seg);
  Resp r = get (site.port_cgi, "GET", page);
  g_assert_cmpint (r.status, ==, 410);
  g_assert_nonnull (strstr (r.body, "This message was removed from the archive on "));
  g_assert_nonnull (strstr (r.body, "Reason: privacy request 2026-11"));
  resp_clear (&r);
  g_autofree char *raw = g_strdup_printf ("/ksummit/%s/raw", seg);
  expect (site.port_cgi, raw, 410, "text/html");
  /* Obfuscated addresses on the list that asks for it. */
  Resp o = get (site.port_fcgi, "GET", "/hidden/hidden1@x/");
  g_assert_cmpint (o.status, ==, 200);
  g_assert_null (strstr (o.body, "alice@example.org"));
  g_assert_null (strstr (o.body, "bob@example.net"));
  g_assert_nonnull (strstr (o.body, "alice@example\xe2\x80\xa2org"));
  g_assert_nonnull (strstr (o.body, "bob@example\xe2\x80\xa2net"));
  resp_clear (&o);
  /* Across lists, each row keeps its own list's choice (page and Atom). */
  expect_text (site.port_cgi, "/all/?q=s:reach", 200, "alice@example\xe2\x80\xa2org", "alice@example.org");
  expect_text (site.port_fcgi, "/all/?q=s:reach&x=A", 200, "alice@example\xe2\x80\xa2org", "alice@example.org");
  Resp k = get (site.port_fcgi, "GET", "/ksummit/20210422084527.u4otu3ccanckrjll@wittgenstein/");
  g_assert_nonnull (strstr (k.body, "christian.brauner@ubuntu.com"));
  resp_clear (&k);
}

/* Forwarded mail (message/rfc822) shows who wrote it, to whom, when and
 * about what before its text, escaped and obfuscated as the list's pages
 * are; an empty attachment is listed as one. */
static void
test_forwarded (void)
{
  const char *msg
      = "Message-ID: <fwd-outer@x>\nFrom: Carol <carol@example.org>\nSubject: Fwd: budget\n"
        "Date: Tue, 6 Jul 2021 10:00:00 +0000\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nSee below.\n--b\n"
        "Content-Type: message/rfc822\n\nFrom: =?UTF-8?Q?Jos=C3=A9?= <jose@example.net>\n"
        "Subject: <b>budget</b> 2021\nDate: Mon, 5 Jul 2021 09:00:00 +0000\n\nthe forwarded numbers\n--b\n"
        "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=empty.bin\n\n\n--b--\n";
  assert_ok (run_full (site.root, msg, strlen (msg), NULL, "ingest", "hidden", "--mda", NULL));
  Resp r = get (site.port_cgi, "GET", "/hidden/fwd-outer@x/");
  g_assert_cmpint (r.status, ==, 200);
  const char *fwd = strstr (r.body, "Forwarded message:");
  g_assert_nonnull (fwd);
  g_assert_nonnull (strstr (fwd, "From: Jos\xc3\xa9 &lt;jose@example\xe2\x80\xa2net&gt;"));
  g_assert_nonnull (strstr (fwd, "Subject: &lt;b&gt;budget&lt;/b&gt; 2021"));
  g_assert_nonnull (strstr (fwd, "Date: Mon, 5 Jul 2021 09:00:00 +0000"));
  g_assert_true (strstr (fwd, "the forwarded numbers") > strstr (fwd, "Subject:"));
  g_assert_null (strstr (r.body, "jose@example.net"));
  g_assert_nonnull (strstr (r.body, "/hidden/fwd-outer@x/2-empty.bin\" download>empty.bin</a>"));
  g_assert_null (strstr (r.body, "Content-Disposition"));
  resp_clear (&r);
}

/* FastCGI keeps rendered bodies: what it serves from its cache is what a
 * fresh CGI process renders, and a redaction is never hidden by it. */
static void
test_fastcgi_body_cache (void)
{
  const char *msg
      = "Message-ID: <cache-canary@x>\nFrom: Carol <carol@example.org>\nSubject: canary\n"
        "Date: Tue, 6 Jul 2021 10:00:00 +0000\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
        "the singing canary of the cache\n> quoted line\n--b\n"
        "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=c.bin\n\nxx\n--b--\n";
  assert_ok (run_full (site.root, msg, strlen (msg), NULL, "ingest", "ksummit", "--mda", NULL));
  const char *pages[] = { "/ksummit/cache-canary@x/", "/ksummit/cache-canary@x/T/", "/ksummit/cache-canary@x/t/" };
  for (guint i = 0; i < G_N_ELEMENTS (pages); i++) {
    Resp fresh = get (site.port_cgi, "GET", pages[i]);
    g_assert_cmpint (fresh.status, ==, 200);
    g_assert_nonnull (strstr (fresh.body, "the singing canary of the cache"));
    /* Two FastCGI processes: enough requests that each serves from its
     * cache more than once. */
    for (int k = 0; k < 6; k++) {
      Resp r = get (site.port_fcgi, "GET", pages[i]);
      g_assert_cmpint (r.status, ==, 200);
      g_assert_cmpstr (r.body, ==, fresh.body);
      resp_clear (&r);
    }
    resp_clear (&fresh);
  }
  assert_ok (run (site.root, "redact", "ksummit", "cache-canary@x", "--reason", "cache test"));
  for (int k = 0; k < 6; k++) {
    expect_text (site.port_fcgi, "/ksummit/cache-canary@x/", 410, "Reason: cache test", "canary of the cache");
    expect_text (site.port_fcgi, "/ksummit/cache-canary@x/T/", 410, "Reason: cache test", "canary of the cache");
  }
}

/* Sets [group] key in annals.conf (value NULL: removes it), as an
 * editor would while the site runs. */
static void
set_conf (const char *group, const char *key, const char *value)
{
  g_autofree char *conf = g_build_filename (site.root, "annals.conf", NULL);
  g_autoptr (GKeyFile) k = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (k, conf, G_KEY_FILE_KEEP_COMMENTS, NULL));
  if (value)
    g_key_file_set_string (k, group, key, value);
  else
    g_key_file_remove_key (k, group, key, NULL);
  g_assert_true (g_key_file_save_to_file (k, conf, NULL));
}

/* A FastCGI process that keeps annals.conf between requests sees an
 * edit on its next request (the reply link's address here). */
static void
test_fastcgi_config_edited (void)
{
  for (int k = 0; k < 6; k++)
    expect_text (site.port_fcgi, "/craft/april@craft/", 200, "href=\"mailto:craft@example.org?", "moved@example.org");
  set_conf ("list craft", "address", "moved@example.org");
  for (int k = 0; k < 6; k++)
    expect_text (site.port_fcgi, "/craft/april@craft/", 200, "href=\"mailto:moved@example.org?", "craft@example.org");
  set_conf ("list craft", "address", "craft@example.org");
  for (int k = 0; k < 6; k++)
    expect_text (site.port_fcgi, "/craft/april@craft/", 200, "href=\"mailto:craft@example.org?", "moved@example.org");
}

/* FastCGI keeps search snippets: the page is what a fresh CGI process
 * makes, an address follows the list's obfuscate option as it changes,
 * and a redacted message's text is never shown from the cache. */
static void
test_fastcgi_snippet_cache (void)
{
  for (int k = 0; k < 6; k++)
    expect_text (site.port_fcgi, "/hidden/?q=write", 200, "bob@example\xe2\x80\xa2net", "bob@example.net");
  set_conf ("list hidden", "obfuscate", "false");
  for (int k = 0; k < 6; k++)
    expect_text (site.port_fcgi, "/hidden/?q=write", 200, "bob@example.net", "bob@example\xe2\x80\xa2net");
  set_conf ("list hidden", "obfuscate", "true");
  for (int k = 0; k < 6; k++)
    expect_text (site.port_fcgi, "/hidden/?q=write", 200, "bob@example\xe2\x80\xa2net", "bob@example.net");

  const char *msg = "Message-ID: <snippet-canary@x>\nFrom: Dan <dan@example.org>\nSubject: burrows\n"
                    "Date: Thu, 8 Jul 2021 10:00:00 +0000\n\nthe wandering quokka digs a burrow\n";
  assert_ok (run_full (site.root, msg, strlen (msg), NULL, "ingest", "ksummit", "--mda", NULL));
  Resp fresh = get (site.port_cgi, "GET", "/ksummit/?q=quokka");
  g_assert_cmpint (fresh.status, ==, 200);
  g_assert_nonnull (strstr (fresh.body, "<mark>quokka</mark> digs a burrow"));
  for (int k = 0; k < 6; k++) {
    Resp r = get (site.port_fcgi, "GET", "/ksummit/?q=quokka");
    g_assert_cmpint (r.status, ==, 200);
    g_assert_cmpstr (r.body, ==, fresh.body);
    resp_clear (&r);
  }
  resp_clear (&fresh);
  assert_ok (run (site.root, "redact", "ksummit", "snippet-canary@x", "--reason", "snippet test"));
  for (int k = 0; k < 6; k++)
    expect_text (site.port_fcgi, "/ksummit/?q=quokka", 200, "Search results", "digs a burrow");
}

/* A page as both FastCGI processes serve it (lighttpd runs two: six
 * requests reach each more than once). */
static void
expect_fcgi (const char *path, int status, const char *has, const char *lacks)
{
  for (int k = 0; k < 6; k++)
    expect_text (site.port_fcgi, path, status, has, lacks);
}

/* A list of its own with one message: what FastCGI keeps open of it
 * is not shared with the other tests. */
static void
kept_list (const char *list, const char *msg)
{
  assert_ok (run (site.root, "list-add", list));
  assert_ok (run_full (site.root, msg, strlen (msg), NULL, "ingest", list, "--mda", NULL));
}

#define NEVER "\x01never shown"

/* FastCGI keeps the store and the index open between requests: a
 * message archived since is on the next page (the index reopened). */
static void
test_fastcgi_kept_new_message (void)
{
  kept_list ("keepa", "Message-ID: <ka1@x>\nFrom: Ann <ann@example.org>\nSubject: kept root\n"
                      "Date: Mon, 12 Jul 2021 10:00:00 +0000\n\nthe first words\n");
  expect_fcgi ("/keepa/ka1@x/", 200, "the first words", NEVER);
  expect_fcgi ("/keepa/ka1@x/T/", 200, "the first words", "zebra");
  expect_fcgi ("/keepa/", 200, "kept root", "another topic");
  expect_fcgi ("/keepa/ka2@x/raw", 404, "", "zebra");
  const char *reply = "Message-ID: <ka2@x>\nIn-Reply-To: <ka1@x>\nFrom: Bo <bo@example.org>\nSubject: Re: kept root\n"
                      "Date: Mon, 12 Jul 2021 11:00:00 +0000\n\nthe second words of a zebra\n";
  const char *other = "Message-ID: <ka3@x>\nFrom: Cy <cy@example.org>\nSubject: another topic\n"
                      "Date: Mon, 12 Jul 2021 12:00:00 +0000\n\nelsewhere\n";
  assert_ok (run_full (site.root, reply, strlen (reply), NULL, "ingest", "keepa", "--mda", NULL));
  assert_ok (run_full (site.root, other, strlen (other), NULL, "ingest", "keepa", "--mda", NULL));
  expect_fcgi ("/keepa/ka1@x/T/", 200, "the second words of a zebra", NEVER);
  expect_fcgi ("/keepa/ka2@x/", 200, "the second words of a zebra", NEVER);
  expect_fcgi ("/keepa/ka2@x/raw", 200, "the second words of a zebra", NEVER);
  expect_fcgi ("/keepa/", 200, "another topic", NEVER);
}

/* A redaction rewrites the pack: a handle kept on the old file must not
 * serve its bytes. */
static void
test_fastcgi_kept_redaction (void)
{
  kept_list ("keepb", "Message-ID: <kb1@x>\nFrom: Ann <ann@example.org>\nSubject: to be removed\n"
                      "Date: Mon, 12 Jul 2021 10:00:00 +0000\n\nthe secret walrus payload\n");
  expect_fcgi ("/keepb/kb1@x/raw", 200, "the secret walrus payload", NEVER);
  expect_fcgi ("/keepb/kb1@x/", 200, "the secret walrus payload", NEVER);
  assert_ok (run (site.root, "redact", "keepb", "kb1@x", "--reason", "kept handles"));
  expect_fcgi ("/keepb/kb1@x/raw", 410, "", "walrus");
  expect_fcgi ("/keepb/kb1@x/", 410, "Reason: kept handles", "walrus");
}

/* A rebuild swaps in another index folder, which Xapian's reopen() does
 * not follow: searches see the rebuilt index. */
static void
test_fastcgi_kept_rebuild (void)
{
  kept_list ("keepc", "Message-ID: <kc1@x>\nFrom: Ann <ann@example.org>\nSubject: okapi sighting\n"
                      "Date: Mon, 12 Jul 2021 10:00:00 +0000\n\nan okapi\n");
  expect_fcgi ("/keepc/?q=okapi", 200, "okapi sighting", NEVER);
  expect_fcgi ("/keepc/?q=narwhal", 200, "Search results", "narwhal sighting");
  const char *msg = "Message-ID: <kc2@x>\nFrom: Bo <bo@example.org>\nSubject: narwhal sighting\n"
                    "Date: Mon, 12 Jul 2021 11:00:00 +0000\n\na narwhal\n";
  assert_ok (run_full (site.root, msg, strlen (msg), NULL, "ingest", "keepc", "--mda", "--no-index", NULL));
  assert_ok (run (site.root, "index", "--rebuild", "keepc"));
  expect_fcgi ("/keepc/?q=narwhal", 200, "narwhal sighting", NEVER);
  expect_fcgi ("/keepc/?q=okapi", 200, "okapi sighting", NEVER);
  expect_fcgi ("/keepc/kc2@x/", 200, "a narwhal", NEVER);
}

/* A bulk ingest compacts the index into a fresh folder and swaps it in:
 * the next pages are from the new one. */
static void
test_fastcgi_kept_bulk (void)
{
  kept_list ("keepd", "Message-ID: <kd0@x>\nFrom: Ann <ann@example.org>\nSubject: before the flood\n"
                      "Date: Mon, 12 Jul 2021 10:00:00 +0000\n\nquiet\n");
  expect_fcgi ("/keepd/?q=quiet", 200, "before the flood", NEVER);
  expect_fcgi ("/keepd/", 200, "before the flood", "flood message");
  g_autoptr (GString) mbox = g_string_new (NULL);
  for (int i = 1; i <= 8; i++)
    g_string_append_printf (mbox,
                            "From x@y Mon Jul 12 12:00:00 2021\nMessage-ID: <kd%d@x>\nFrom: Bo <bo@example.org>\n"
                            "Subject: flood message %d\nDate: Mon, 12 Jul 2021 12:%02d:00 +0000\n\nthe flood\n\n",
                            i, i, i);
  g_autofree char *path = g_build_filename (site.tmp, "flood.mbox", NULL);
  g_assert_true (g_file_set_contents (path, mbox->str, (gssize) mbox->len, NULL));
  g_autofree char *index = g_build_filename (site.root, "keepd", "index", NULL);
  struct stat before, after;
  g_assert_cmpint (stat (index, &before), ==, 0);
  /* Batches of two: a run of several batches is a bulk run. */
  g_setenv ("ANNALS_INDEX_COMMIT_EVERY", "2", TRUE);
  Run r = run (site.root, "ingest", "keepd", "--quiet", path);
  g_unsetenv ("ANNALS_INDEX_COMMIT_EVERY");
  assert_ok (r);
  /* The compaction swapped the folder (else this test tests nothing). */
  g_assert_cmpint (stat (index, &after), ==, 0);
  g_assert_cmpuint (before.st_ino, !=, after.st_ino);
  expect_fcgi ("/keepd/?q=flood", 200, "flood message 8", NEVER);
  expect_fcgi ("/keepd/", 200, "flood message 8", NEVER);
  expect_fcgi ("/keepd/kd8@x/", 200, "flood message 8", NEVER);
}

/* A large raw message is streamed from the pack, byte for byte, with its
 * length; HEAD sends the headers only. */
static void
test_raw_large (void)
{
  g_autoptr (GString) big = g_string_new ("Message-ID: <big-raw@x>\nFrom: Eve <eve@example.org>\nSubject: big\n"
                                          "Date: Fri, 9 Jul 2021 10:00:00 +0000\n\n");
  /* Text that compresses, and lines that do not, so the pack holds
   * many deflate blocks. */
  guint32 x = 12345;
  for (int k = 0; big->len < 5 * 1024 * 1024; k++) {
    if (k % 3 == 2) {
      /* Characters of 2, 3 and 4 bytes: some are cut between pieces. */
      for (int j = 0; j < 1 + k % 7; j++)
        g_string_append (big, "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80 ");
      g_string_append_c (big, '\n');
    } else if (k % 3 == 0) {
      g_string_append_printf (big, "line %d of the big message, much the same as the others\n", k);
    } else {
      for (int j = 0; j < 60; j++) {
        x = x * 1103515245 + 12345;
        g_string_append_c (big, (char) ('!' + (x >> 16) % 90));
      }
      g_string_append_c (big, '\n');
    }
  }
  assert_ok (run_full (site.root, big->str, big->len, NULL, "ingest", "ksummit", "--mda", NULL));
  /* The same with one byte that is not UTF-8, far in. */
  g_autoptr (GString) bad = g_string_new_len (big->str, (gssize) big->len);
  g_string_replace (bad, "<big-raw@x>", "<big-bad@x>", 1);
  bad->str[3 * 1024 * 1024 + 7] = '\xff';
  assert_ok (run_full (site.root, bad->str, bad->len, NULL, "ingest", "ksummit", "--mda", NULL));
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp b = get (ports[i], "GET", "/ksummit/big-bad@x/raw");
    g_assert_cmpint (b.status, ==, 200);
    g_assert_cmpstr (b.type, ==, "text/plain");
    g_assert_cmpmem (b.body, b.length, bad->str, bad->len);
    resp_clear (&b);
    for (int k = 0; k < 3; k++) {
      Resp r = get (ports[i], "GET", "/ksummit/big-raw@x/raw");
      g_assert_cmpint (r.status, ==, 200);
      g_assert_cmpstr (r.type, ==, "text/plain; charset=utf-8");
      g_assert_cmpmem (r.body, r.length, big->str, big->len);
      g_autofree char *clen = g_strdup_printf ("Content-Length: %" G_GSIZE_FORMAT "\r\n", big->len);
      g_assert_nonnull (strstr (r.headers, clen));
      resp_clear (&r);
    }
    Resp h = get (ports[i], "HEAD", "/ksummit/big-raw@x/raw");
    g_assert_cmpint (h.status, ==, 200);
    g_assert_nonnull (strstr (h.headers, "ETag: \""));
    resp_clear (&h);
  }
}

/* A body must be in a response and another must not (gzip bodies are
 * inflated first). */
static void
assert_serves (int port, const char *path, const char *has, const char *lacks)
{
  Resp r = get (port, "GET", path);
  g_assert_cmpint (r.status, ==, 200);
  g_autofree char *text = NULL;
  if (g_str_has_suffix (path, ".gz")) {
    g_autofree char *gz = g_build_filename (site.tmp, "serves.gz", NULL);
    g_assert_true (g_file_set_contents (gz, r.body, (gssize) r.length, NULL));
    g_autofree char *cmd = g_strdup_printf ("gzip -dc '%s'", gz);
    text = test_sh (cmd, NULL);
  } else {
    text = g_strdup (r.body);
  }
  if (strstr (text, has) == NULL)
    g_error ("%s: no '%s' in:\n%s", path, has, text);
  if (strstr (text, lacks) != NULL)
    g_error ("%s: '%s' should not be in:\n%s", path, lacks, text);
  resp_clear (&r);
}

static void
assert_body_is (int port, const char *path, const void *want, gsize want_len)
{
  Resp r = get (port, "GET", path);
  g_assert_cmpint (r.status, ==, 200);
  g_assert_cmpmem (r.body, r.length, want, want_len);
  resp_clear (&r);
}

/* A later message that reuses a Message-ID (dated 1990, so it sorts
 * first by Date:) never takes over the first copy's URLs; every copy
 * has its own numbered address. */
static void
test_reused_id (void)
{
  const char *first = "Message-ID: <reused-first@x>\nFrom: Ann <ann@example.org>\nSubject: the original patch\n"
                      "Date: Wed, 7 Jul 2021 10:00:00 +0000\n\nfirst copy body\n";
  const char *later = "Message-ID: <reused-first@x>\nFrom: Mallory <m@example.org>\nSubject: impostor patch\n"
                      "Date: Mon, 1 Jan 1990 00:00:00 +0000\n\nimpostor body\n";
  const char *reply = "Message-ID: <reused-reply@x>\nIn-Reply-To: <reused-first@x>\nFrom: Bo <bo@example.org>\n"
                      "Subject: Re: the original patch\nDate: Wed, 7 Jul 2021 11:00:00 +0000\n\nreply body\n";
  assert_ok (run_full (site.root, first, strlen (first), NULL, "ingest", "ksummit", "--mda", NULL));
  assert_ok (run_full (site.root, reply, strlen (reply), NULL, "ingest", "ksummit", "--mda", NULL));
  assert_ok (run_full (site.root, later, strlen (later), NULL, "ingest", "ksummit", "--mda", NULL));
  g_autofree char *store = g_build_filename (site.root, "ksummit", "store", NULL);
  g_autoptr (AnnalsStore) st = annals_store_open (store, NULL);
  g_autoptr (GArray) copies = annals_store_find_message_id (st, "reused-first@x", NULL);
  g_assert_cmpuint (copies->len, ==, 2);
  guint64 na = g_array_index (copies, guint64, 0), nb = g_array_index (copies, guint64, 1);
  g_autofree char *sa = g_strdup_printf ("%" G_GUINT64_FORMAT, na);
  g_autofree char *sb = g_strdup_printf ("%" G_GUINT64_FORMAT, nb);
  Run pa = run (site.root, "proof", "ksummit", sa);
  Run pb = run (site.root, "proof", "ksummit", sb);
  assert_status (pa, 0);
  assert_status (pb, 0);
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < G_N_ELEMENTS (ports); i++) {
    int port = ports[i];
    assert_serves (port, "/ksummit/reused-first@x/", "first copy body", "impostor body");
    assert_serves (port, "/ksummit/reused-first@x/t/", "first copy body", "impostor body");
    assert_serves (port, "/ksummit/reused-first@x/T/", "first copy body", "impostor body");
    assert_serves (port, "/ksummit/reused-first@x/t.mbox.gz", "first copy body", "impostor body");
    assert_serves (port, "/ksummit/reused-first@x/t.atom", "the original patch", "impostor patch");
    /* The reply hangs under the first copy. */
    assert_serves (port, "/ksummit/reused-reply@x/t/", "first copy body", "impostor body");
    assert_body_is (port, "/ksummit/reused-first@x/raw", first, strlen (first));
    assert_body_is (port, "/ksummit/reused-first@x/proof", pa.out, pa.out_len);
    Resp a = get (port, "GET", "/all/reused-first@x/raw");
    g_assert_cmpint (a.status, ==, 301);
    g_assert_nonnull (strstr (a.headers, "/ksummit/reused-first@x/raw\r\n"));
    resp_clear (&a);
    /* Every copy by number, byte for byte, with its proof. */
    g_autofree char *ra = g_strdup_printf ("/ksummit/_/%s/raw", sa);
    g_autofree char *rb = g_strdup_printf ("/ksummit/_/%s/raw", sb);
    g_autofree char *page_b = g_strdup_printf ("/ksummit/_/%s/", sb);
    g_autofree char *proof_b = g_strdup_printf ("/ksummit/_/%s/proof", sb);
    assert_body_is (port, ra, first, strlen (first));
    assert_body_is (port, rb, later, strlen (later));
    assert_body_is (port, proof_b, pb.out, pb.out_len);
    assert_serves (port, page_b, "impostor body", "first copy body");
    /* The first copy's page links to the later one. */
    g_autofree char *link = g_strdup_printf ("href=\"/ksummit/_/%s/\"", sb);
    assert_serves (port, "/ksummit/reused-first@x/", link, "impostor body");
    expect (port, "/ksummit/_/999999/", 404, "text/html");
    expect (port, "/ksummit/_/x1/", 404, "text/html");
  }
  /* The CLI picks the first copy too. */
  Run c = run (site.root, "cat", "ksummit", "<reused-first@x>");
  assert_status (c, 0);
  g_assert_cmpmem (c.out, c.out_len, first, strlen (first));
  run_clear (&c);
  Run p = run (site.root, "proof", "ksummit", "<reused-first@x>");
  assert_status (p, 0);
  g_assert_cmpmem (p.out, p.out_len, pa.out, pa.out_len);
  run_clear (&p);
  run_clear (&pa);
  run_clear (&pb);
}

/* A response header's value (first one), or NULL. */
static char *
header_of (const Resp *r, const char *name)
{
  g_autofree char *want = g_strdup_printf ("\n%s: ", name);
  g_autofree char *all = g_strconcat ("\n", r->headers, NULL);
  const char *p = strcasestr (all, want);
  if (p == NULL)
    return NULL;
  p += strlen (want);
  return g_strndup (p, strcspn (p, "\r\n"));
}

/* ETag and Cache-Control of a response a redaction can change, and a
 * 304 when the client has it already. */
static char *
assert_revalidates (int port, const char *path)
{
  Resp r = get (port, "GET", path);
  g_assert_cmpint (r.status, ==, 200);
  char *etag = header_of (&r, "ETag");
  g_autofree char *cc = header_of (&r, "Cache-Control");
  if (etag == NULL || cc == NULL || strstr (cc, "immutable") != NULL || strstr (cc, "max-age=") == NULL)
    g_error ("%s: ETag %s, Cache-Control %s", path, etag, cc);
  g_assert_cmpint (atoi (strstr (cc, "max-age=") + 8), <=, 3600);
  resp_clear (&r);
  g_autofree char *arg = g_strdup_printf ("If-None-Match: %s", etag);
  g_autofree char *qarg = g_shell_quote (arg);
  g_autofree char *extra = g_strconcat ("-H ", qarg, NULL);
  Resp n = get_with (port, "GET", path, extra);
  g_assert_cmpint (n.status, ==, 304);
  g_assert_cmpuint (n.length, ==, 0);
  resp_clear (&n);
  /* Another tag (or a list of others) gets the body. */
  Resp o = get_with (port, "GET", path, "-H 'If-None-Match: \"x\", W/\"y\"'");
  g_assert_cmpint (o.status, ==, 200);
  resp_clear (&o);
  return etag;
}

/* A message's /raw says when it was received (Last-Modified): a client
 * that revalidates by date (curl -z, wget -N, caches without the tag)
 * gets 304 when it has it, the bytes when it is older; If-None-Match,
 * when sent, decides alone (RFC 9110 13.2.2). */
static void
test_raw_if_modified_since (void)
{
  g_autofree char *path = g_strdup_printf ("/ksummit/%s/raw", mid);
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp r = get (ports[i], "GET", path);
    g_assert_cmpint (r.status, ==, 200);
    g_autofree char *lm = header_of (&r, "Last-Modified");
    g_assert_nonnull (lm);
    resp_clear (&r);
    struct {
      const char *ims, *inm;
      int status;
    } cases[] = {
      { lm, NULL, 304 },
      { "Fri, 31 Dec 2100 23:59:59 GMT", NULL, 304 },
      { "Sat, 01 Jan 2000 00:00:00 GMT", NULL, 200 },
      { "not a date", NULL, 200 },
      { lm, "\"other\"", 200 },
    };
    for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
      g_autofree char *h1 = g_strdup_printf ("If-Modified-Since: %s", cases[k].ims);
      g_autofree char *q1 = g_shell_quote (h1);
      g_autofree char *h2 = g_strdup_printf ("If-None-Match: %s", cases[k].inm ? cases[k].inm : "");
      g_autofree char *q2 = g_shell_quote (h2);
      g_autofree char *extra = g_strdup_printf ("-H %s %s %s", q1, cases[k].inm ? "-H" : "", cases[k].inm ? q2 : "");
      g_test_message ("If-Modified-Since: %s, If-None-Match: %s", cases[k].ims, cases[k].inm ? cases[k].inm : "-");
      Resp c = get_with (ports[i], "GET", path, extra);
      g_assert_cmpint (c.status, ==, cases[k].status);
      g_assert_cmpuint (c.length, ==, cases[k].status == 304 ? 0 : strlen (c.body));
      resp_clear (&c);
    }
  }
}

/* Message responses revalidate (ETag, 304) instead of being cached as
 * immutable, so a redaction reaches caches within minutes. */
static void
test_cache_etag (void)
{
  const char *msg
      = "Message-ID: <etag-canary@x>\nFrom: Dee <dee@example.org>\nSubject: etag\n"
        "Date: Tue, 6 Jul 2021 10:00:00 +0000\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nto be redacted\n--b\n"
        "Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=e.bin\n\nxx\n--b--\n";
  assert_ok (run_full (site.root, msg, strlen (msg), NULL, "ingest", "ksummit", "--mda", NULL));
  const char *paths[] = { "/ksummit/etag-canary@x/raw", "/ksummit/etag-canary@x/", "/ksummit/etag-canary@x/1-e.bin" };
  char *before[G_N_ELEMENTS (paths)][2];
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    for (guint k = 0; k < 2; k++)
      before[i][k] = assert_revalidates (ports[k], paths[i]);
  /* Only the log's sealed tiles stay immutable. */
  Resp t = get (site.port_cgi, "GET", "/ksummit/log/tile/0/000");
  g_assert_nonnull (strstr (t.headers, "immutable"));
  resp_clear (&t);
  assert_ok (run (site.root, "redact", "ksummit", "etag-canary@x", "--reason", "etag test"));
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    for (guint k = 0; k < 2; k++) {
      /* A cache revalidating what it kept gets the redaction, not 304. */
      g_autofree char *arg = g_strdup_printf ("If-None-Match: %s", before[i][k]);
      g_autofree char *qarg = g_shell_quote (arg);
      g_autofree char *extra = g_strconcat ("-H ", qarg, NULL);
      Resp r = get_with (ports[k], "GET", paths[i], extra);
      g_assert_cmpint (r.status, !=, 304);
      g_assert_cmpint (r.status, >=, 400);
      g_autofree char *etag = header_of (&r, "ETag");
      g_assert_cmpstr (etag, !=, before[i][k]);
      g_assert_null (strstr (r.body, "to be redacted"));
      resp_clear (&r);
      g_free (before[i][k]);
    }
}

/* Absolute URLs come from [site] base-url when it is set: a forged
 * Host header cannot poison a cached redirect or feed. */
static void
test_base_url_over_host (void)
{
  const char *forged = "-H 'Host: evil.example'";
  int ports[] = { site.port_cgi, site.port_fcgi };
  g_autofree char *bare = g_strdup_printf ("/ksummit/%s", mid);
  g_autofree char *tatom = g_strdup_printf ("/ksummit/%s/t.atom", mid);
  const char *feeds[] = { "/ksummit/new.atom", tatom, "/ksummit/?q=rust&x=A", "/all/?q=rust&x=A" };
  for (guint k = 0; k < 2; k++) {
    Resp r = get_with (ports[k], "GET", bare, forged);
    g_assert_cmpint (r.status, ==, 301);
    g_autofree char *loc = header_of (&r, "Location");
    g_autofree char *want = g_strdup_printf (BASE_URL "ksummit/%s/", mid);
    g_assert_cmpstr (loc, ==, want);
    resp_clear (&r);
    Resp a = get_with (ports[k], "GET", "/all/reused-first@x/", forged);
    g_assert_cmpint (a.status, ==, 301);
    g_assert_null (strstr (a.headers, "evil.example"));
    resp_clear (&a);
    for (guint i = 0; i < G_N_ELEMENTS (feeds); i++) {
      Resp f = get_with (ports[k], "GET", feeds[i], forged);
      g_assert_cmpint (f.status, ==, 200);
      g_assert_null (strstr (f.body, "evil.example"));
      g_assert_nonnull (strstr (f.body, "<id>" BASE_URL));
      resp_clear (&f);
    }
  }
  /* Without base-url, the request's own host is all there is. */
  set_base_url (NULL);
  Resp r = get (site.port_cgi, "GET", bare);
  g_autofree char *loc = header_of (&r, "Location");
  g_autofree char *want = g_strdup_printf ("http://127.0.0.1:%d/ksummit/%s/", site.port_cgi, mid);
  g_assert_cmpstr (loc, ==, want);
  resp_clear (&r);
  /* A base-url without its final slash is read as if it had it. */
  set_base_url ("https://lists.example/archive");
  Resp s = get (site.port_fcgi, "GET", bare);
  g_autofree char *sloc = header_of (&s, "Location");
  g_autofree char *swant = g_strdup_printf ("https://lists.example/archive/ksummit/%s/", mid);
  g_assert_cmpstr (sloc, ==, swant);
  resp_clear (&s);
  set_base_url (BASE_URL);
}

/* Sets (or with NULL removes) key in annals.conf's [web] group. */
static void
set_web_limit (const char *key, const char *value)
{
  g_autofree char *conf = g_build_filename (site.root, "annals.conf", NULL);
  g_autoptr (GKeyFile) k = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (k, conf, G_KEY_FILE_KEEP_COMMENTS, NULL));
  if (value)
    g_key_file_set_string (k, "web", key, value);
  else
    g_key_file_remove_key (k, "web", key, NULL);
  g_assert_true (g_key_file_save_to_file (k, conf, NULL));
}

/* POSTs a search for its mbox.gz: how many messages, and the headers. */
static int
search_mbox_count (const char *q, char **headers)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%d/ksummit/?q=%s&x=m", site.port_fcgi, q);
  g_autofree char *out = g_build_filename (site.tmp, "limit.mbox.gz", NULL);
  g_autofree char *hdrs = g_build_filename (site.tmp, "limit.headers", NULL);
  g_autofree char *cmd
      = g_strdup_printf ("curl -s -X POST -d '' -D '%s' -o '%s' -w '%%{http_code}' '%s'", hdrs, out, url);
  g_autofree char *code = test_sh (cmd, NULL);
  g_assert_cmpstr (code, ==, "200");
  g_assert_true (g_file_get_contents (hdrs, headers, NULL, NULL));
  g_autofree char *py = g_strdup_printf ("python3 -c \"import gzip; d=gzip.open('%s').read(); "
                                         "print(d.count(b'\\nFrom ') + d.startswith(b'From '))\"",
                                         out);
  g_autofree char *n = test_sh (py, NULL);
  return atoi (n);
}

/* One request's cost is bounded: the mbox.gz of a search (messages and
 * bytes), the text of a message part, the size of a message shown. */
static void
test_limits (void)
{
  /* Defaults: a few thousand messages, nothing cut from a small search. */
  char *h = NULL;
  int all = search_mbox_count ("rust", &h);
  g_assert_cmpint (all, >, 3);
  g_assert_null (strstr (h, "X-Annals-Limit"));
  g_free (h);
  set_web_limit ("mbox-max-messages", "3");
  g_assert_cmpint (search_mbox_count ("rust", &h), ==, 3);
  g_assert_nonnull (strstr (h, "X-Annals-Limit: "));
  g_free (h);
  expect_text (site.port_cgi, "/ksummit/?q=rust", 200, "annals search --list ksummit --format mbox", "\x01");
  set_web_limit ("mbox-max-messages", NULL);
  /* Bytes: stops before the message that would pass the limit (one
   * message always goes). */
  set_web_limit ("mbox-max-bytes", "1");
  g_assert_cmpint (search_mbox_count ("rust", &h), ==, 1);
  g_free (h);
  set_web_limit ("mbox-max-bytes", NULL);

  /* A long text part is cut, with the way to the rest. */
  GString *big = g_string_new ("Message-ID: <long-text@x>\nFrom: Eve <eve@example.org>\nSubject: long\n"
                               "Date: Tue, 6 Jul 2021 10:00:00 +0000\n\nstart of the text\n");
  while (big->len < 1536 * 1024)
    g_string_append (big, "filler line of a very long message, to be cut on the web page\n");
  g_string_append (big, "the very end of the text\n");
  assert_ok (run_full (site.root, big->str, big->len, NULL, "ingest", "ksummit", "--mda", NULL));
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint k = 0; k < 2; k++) {
    Resp r = get (ports[k], "GET", "/ksummit/long-text@x/");
    g_assert_cmpint (r.status, ==, 200);
    g_assert_nonnull (strstr (r.body, "start of the text"));
    g_assert_null (strstr (r.body, "the very end of the text"));
    g_assert_nonnull (
        strstr (r.body, "more bytes of this part are in the <a href=\"/ksummit/long-text@x/raw\">raw message</a>"));
    g_assert_cmpuint (r.length, <, 1200 * 1024); /* the default: about 1 MB a part */
    resp_clear (&r);
    assert_body_is (ports[k], "/ksummit/long-text@x/raw", big->str, big->len);
  }
  set_web_limit ("text-max-bytes", "20");
  expect_text (site.port_fcgi, "/ksummit/long-text@x/", 200, "start of the text", "filler line");
  set_web_limit ("text-max-bytes", NULL);
  /* A message over the size shown: headers and a link to its bytes. */
  set_web_limit ("message-max-bytes", "1000");
  for (guint k = 0; k < 2; k++) {
    expect_text (ports[k], "/ksummit/long-text@x/", 200, "too large to show here", "start of the text");
    expect_text (ports[k], "/ksummit/long-text@x/T/", 200, "too large to show here", "start of the text");
  }
  set_web_limit ("message-max-bytes", NULL);
  g_string_free (big, TRUE);
}

/* b4 fetches a thread from the local server like from lore. */
static void
test_b4 (void)
{
  if (!have ("b4")) {
    g_test_skip ("b4 is not installed (scripts/install-deps test)");
    return;
  }
  /* b4 follows redirects, which point at base-url: the site is served
   * here for this test. */
  g_autofree char *here = g_strdup_printf ("http://127.0.0.1:%d/", site.port_fcgi);
  set_base_url (here);
  g_autofree char *home = g_build_filename (site.tmp, "home", NULL);
  g_mkdir_with_parents (home, 0700);
  g_autofree char *cfg = g_build_filename (home, ".gitconfig", NULL);
  g_autofree char *conf = g_strdup_printf (
      "[b4]\n\tmidmask = http://127.0.0.1:%d/ksummit/%%s\n\tlinkmask = http://127.0.0.1:%d/ksummit/%%s\n",
      site.port_fcgi, site.port_fcgi);
  g_assert_true (g_file_set_contents (cfg, conf, -1, NULL));
  g_autofree char *outdir = g_build_filename (site.tmp, "b4out", NULL);
  g_mkdir_with_parents (outdir, 0755);
  g_autofree char *cmd
      = g_strdup_printf ("sh -c \"cd '%s' && HOME='%s' b4 mbox -o '%s' '%s' 2>&1\"", site.tmp, home, outdir, mid);
  int st;
  g_autofree char *out = test_sh (cmd, &st);
  g_test_message ("b4: %s", out);
  g_assert_cmpint (st, ==, 0);
  g_autofree char *ls = g_strdup_printf ("sh -c \"cat '%s'/*.mbx | grep -c '^Message-ID:'\"", outdir);
  g_autofree char *count = test_sh (ls, NULL);
  g_autofree char *path = g_strdup_printf ("/ksummit/%s/t.mbox.gz", mid);
  g_autofree char *py = g_strdup_printf ("sh -c \"curl -s http://127.0.0.1:%d%s | gunzip | grep -c '^Message-ID:'\"",
                                         site.port_fcgi, path);
  g_autofree char *want = test_sh (py, NULL);
  /* The thread has replies: a count of 0 on both sides means nothing
   * was fetched. */
  g_assert_cmpint (atoi (want), >, 1);
  set_base_url (BASE_URL);
  g_assert_cmpint (atoi (count), ==, atoi (want));
}

/* Headless Chromium at 360 and 1280 px: headings, labels, no overflow,
 * no script; screenshots kept as test artefacts. */
static void
test_browser (void)
{
  if (!have ("chromium")) {
    g_test_skip ("chromium is not installed (scripts/install-deps test)");
    return;
  }
  const char *art = g_getenv ("ANNALS_ARTIFACTS");
  g_autofree char *outdir = g_build_filename (art ? art : site.tmp, "screenshots", NULL);
  g_autofree char *script = test_source_path ("tests/browser-check.py");
  g_autofree char *cmd = g_strdup_printf (
      "%s '%s' http://127.0.0.1:%d/ksummit/ 'http://127.0.0.1:%d/ksummit/%s/t/' "
      "'http://127.0.0.1:%d/ksummit/%s/' 'http://127.0.0.1:%d/ksummit/?q=rust' "
      "http://127.0.0.1:%d/ http://127.0.0.1:%d/craft/long0@craft/t/#nested "
      "http://127.0.0.1:%d/craft/long5@craft/#nested http://127.0.0.1:%d/craft/ "
      "http://127.0.0.1:%d/craft/2021-04/ http://127.0.0.1:%d/craft/2021/ "
      "http://127.0.0.1:%d/craft/series0@craft/t/ http://127.0.0.1:%d/craft/series2@craft/ "
      "http://127.0.0.1:%d/craft/never-archived@elsewhere/ "
      "http://127.0.0.1:%d/about/ http://127.0.0.1:%d/craft/about/ "
      "http://127.0.0.1:%d/craft/future@craft/ http://127.0.0.1:%d/craft/names@craft/ "
      "http://127.0.0.1:%d/craft/?q=wombat",
      script, outdir, site.port_fcgi, site.port_fcgi, mid, site.port_fcgi, mid, site.port_fcgi, site.port_fcgi,
      site.port_fcgi, site.port_fcgi, site.port_fcgi, site.port_fcgi, site.port_fcgi, site.port_fcgi, site.port_fcgi,
      site.port_fcgi, site.port_fcgi, site.port_fcgi, site.port_fcgi, site.port_fcgi, site.port_fcgi);
  int st;
  g_autofree char *out = test_sh (cmd, &st);
  g_test_message ("%s", out);
  g_assert_cmpint (st, ==, 0);
}

/* Replies sit to the right of their parent (em, not the "me" typo),
 * and past 8 levels the depth is written as a number. */
static void
test_thread_nesting (void)
{
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp r = get (ports[i], "GET", "/craft/long0@craft/t/");
    g_assert_cmpint (r.status, ==, 200);
    g_assert_null (strstr (r.body, "me\""));
    g_assert_nonnull (strstr (r.body, "class=\"n1\""));
    g_assert_nonnull (strstr (r.body, "class=\"n8\""));
    g_assert_nonnull (strstr (r.body, "depth 12"));
    resp_clear (&r);
    Resp m = get (ports[i], "GET", "/craft/long3@craft/");
    g_assert_nonnull (strstr (m.body, "class=\"n3"));
    resp_clear (&m);
  }
}

/* A parent never archived is a placeholder with its replies under it,
 * and its address explains itself instead of answering 404. */
static void
test_thread_ghost (void)
{
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp t = get (ports[i], "GET", "/craft/orphan1@craft/t/");
    g_assert_cmpint (t.status, ==, 200);
    const char *ghost = strstr (t.body, "never-archived@elsewhere");
    g_assert_nonnull (ghost);
    g_assert_nonnull (strstr (t.body, "not in this archive"));
    /* The replies come after it, one level in. */
    g_assert_nonnull (strstr (ghost, "data-depth=\"1\""));
    resp_clear (&t);
    Resp m = get (ports[i], "GET", "/craft/orphan2@craft/");
    g_assert_nonnull (strstr (m.body, "href=\"/craft/never-archived@elsewhere/\">parent</a>"));
    resp_clear (&m);
    Resp g = get (ports[i], "GET", "/craft/never-archived@elsewhere/");
    g_assert_cmpint (g.status, ==, 200);
    g_assert_nonnull (strstr (g.body, "not in this archive"));
    g_assert_nonnull (strstr (g.body, "href=\"/craft/orphan1@craft/\""));
    g_assert_nonnull (strstr (g.body, "href=\"/craft/orphan2@craft/\""));
    resp_clear (&g);
    /* Its other addresses answer as a real message's: 301 to the page,
     * from the list without the slash and from /all/. */
    Resp ns = get (ports[i], "GET", "/craft/never-archived@elsewhere");
    g_assert_cmpint (ns.status, ==, 301);
    g_autofree char *nsloc = header_of (&ns, "Location");
    g_assert_cmpstr (nsloc, ==, BASE_URL "craft/never-archived@elsewhere/");
    resp_clear (&ns);
    Resp al = get (ports[i], "GET", "/all/never-archived@elsewhere/");
    g_assert_cmpint (al.status, ==, 301);
    g_autofree char *alloc = header_of (&al, "Location");
    g_assert_cmpstr (alloc, ==, BASE_URL "craft/never-archived@elsewhere/");
    resp_clear (&al);
    /* An id nobody archived or referenced is still unknown. */
    expect (ports[i], "/craft/nobody-said-this@x/", 404, "text/html");
    expect (ports[i], "/craft/nobody-said-this@x", 404, "text/html");
    expect (ports[i], "/all/nobody-said-this@x/", 404, "text/html");
  }
}

static guint
count_of (const char *text, const char *what)
{
  guint k = 0;
  for (const char *p = strstr (text, what); p; p = strstr (p + 1, what))
    k++;
  return k;
}

/* Every missing ancestor named in References is a placeholder (JWZ's
 * empty containers): the lost root above the lost parent, linked. */
static void
test_thread_ghost_chain (void)
{
  assert_ok (run (site.root, "list-add", "lost", "--description", "Replies to lost mail"));
  const char *a = "Message-ID: <orphan-a@lost>\nFrom: A <a@example.org>\nSubject: Re: Missing parent\n"
                  "Date: Tue, 10 Jan 2023 09:00:00 +0000\nIn-Reply-To: <lost-parent@x>\n"
                  "References: <lost-root@x> <lost-parent@x>\n\nquokka\n";
  const char *b = "Message-ID: <orphan-b@lost>\nFrom: B <b@example.org>\nSubject: Re: Missing parent\n"
                  "Date: Wed, 11 Jan 2023 09:00:00 +0000\nIn-Reply-To: <orphan-a@lost>\n"
                  "References: <lost-root@x> <lost-parent@x> <orphan-a@lost>\n\nme too\n";
  assert_ok (run_full (site.root, a, strlen (a), NULL, "ingest", "lost", "--mda", NULL));
  /* A sibling of the lost parent: under the same lost root. */
  const char *c = "Message-ID: <orphan-c@lost>\nFrom: C <c@example.org>\nSubject: Re: Missing parent\n"
                  "Date: Thu, 12 Jan 2023 09:00:00 +0000\nIn-Reply-To: <lost-uncle@x>\n"
                  "References: <lost-root@x> <lost-uncle@x>\n\nelsewhere\n";
  assert_ok (run_full (site.root, b, strlen (b), NULL, "ingest", "lost", "--mda", NULL));
  assert_ok (run_full (site.root, c, strlen (c), NULL, "ingest", "lost", "--mda", NULL));
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp t = get (ports[i], "GET", "/lost/orphan-a@lost/t/");
    g_assert_cmpint (t.status, ==, 200);
    /* The root's placeholder first, at depth 0, linked; the parent's
     * under it; the replies under that. */
    const char *root = strstr (t.body, "&lt;lost-root@x&gt;");
    g_assert_nonnull (root);
    g_assert_nonnull (strstr (t.body, "href=\"/lost/lost-root@x/\""));
    const char *parent = strstr (root, "&lt;lost-parent@x&gt;");
    g_assert_nonnull (parent);
    g_assert_nonnull (strstr (root, "data-depth=\"1\""));
    g_assert_true (strstr (root, "data-depth=\"1\"") < parent);
    g_assert_nonnull (strstr (parent, "data-depth=\"2\""));
    g_assert_nonnull (strstr (parent, "data-depth=\"3\""));
    /* One root only: the uncle's placeholder is at depth 1 too. */
    g_assert_cmpuint (count_of (t.body, "&lt;lost-root@x&gt;"), ==, 2); /* the bodies and the skeleton */
    const char *uncle = strstr (t.body, "&lt;lost-uncle@x&gt;");
    g_assert_nonnull (uncle);
    g_assert_true (g_strrstr_len (t.body, uncle - t.body, "data-depth=") != NULL);
    g_assert_true (strncmp (g_strrstr_len (t.body, uncle - t.body, "data-depth="), "data-depth=\"1\"", 14) == 0);
    resp_clear (&t);
  }
}

/* Delivers one message to list as the MTA would. */
static void
deliver (const char *list, const char *msg)
{
  assert_ok (run_full (site.root, msg, strlen (msg), NULL, "ingest", list, "--mda", NULL));
}

/* A <nav> with nothing in it: screen readers announce the landmark. */
static gboolean
has_empty_nav (const char *body)
{
  for (const char *p = strstr (body, "<nav"); p != NULL; p = strstr (p + 1, "<nav")) {
    const char *end = strchr (p, '>');
    if (end != NULL && g_str_has_prefix (end + 1, "</nav>"))
      return TRUE;
  }
  return FALSE;
}

/* A list of three messages fits on one page: its list, month and search
 * pages have no pager at all. */
static void
test_one_page_no_nav (void)
{
  assert_ok (run (site.root, "list-add", "three", "--description", "Three messages"));
  g_autoptr (GString) mbox = g_string_new (NULL);
  for (int k = 0; k < 3; k++) {
    g_autofree char *id = g_strdup_printf ("three%d@x", k);
    g_autofree char *subject = g_strdup_printf ("Three %d", k);
    craft_add (mbox, id, NULL, "Tri <tri@example.org>", subject, MARCH_2021 + 60 * k, MARCH_2021 + 60 * k + 5, "body");
  }
  g_autofree char *path = g_build_filename (site.tmp, "three.mbox", NULL);
  g_assert_true (g_file_set_contents (path, mbox->str, (gssize) mbox->len, NULL));
  assert_ok (run (site.root, "ingest", "three", "--quiet", path));
  const char *paths[] = { "/three/", "/three/2021-03/", "/three/?q=body" };
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++) {
    Resp r = get (site.port_cgi, "GET", paths[i]);
    g_assert_cmpint (r.status, ==, 200);
    g_assert_nonnull (strstr (r.body, "Three 2"));
    if (has_empty_nav (r.body))
      g_error ("%s: an empty <nav>:\n%s", paths[i], r.body);
    resp_clear (&r);
  }
}

/* A redacted message in the middle of a thread keeps its place in both
 * views as its tombstone (when and why), its replies under it; it is
 * not a parent the archive never received. */
static void
test_thread_redacted (void)
{
  assert_ok (run (site.root, "list-add", "redmid", "--description", "A thread with a hole"));
  const char *msgs[] = {
    "Message-ID: <rm-root@x>\nFrom: R <r@example.org>\nSubject: Hole\nDate: Tue, 10 Jan 2023 09:00:00 +0000\n\n"
    "the start\n",
    "Message-ID: <rm-mid@x>\nFrom: M <m@example.org>\nSubject: Re: Hole\nDate: Tue, 10 Jan 2023 10:00:00 +0000\n"
    "In-Reply-To: <rm-root@x>\nReferences: <rm-root@x>\n\nwords to take back\n",
    "Message-ID: <rm-child@x>\nFrom: C <c@example.org>\nSubject: Re: Hole\nDate: Tue, 10 Jan 2023 11:00:00 +0000\n"
    "In-Reply-To: <rm-mid@x>\nReferences: <rm-root@x> <rm-mid@x>\n\nan answer to the removed one\n",
  };
  for (guint k = 0; k < G_N_ELEMENTS (msgs); k++)
    deliver ("redmid", msgs[k]);
  assert_ok (run (site.root, "redact", "redmid", "rm-mid@x", "--reason", "asked by <M> & co"));
  int ports[] = { site.port_cgi, site.port_fcgi };
  const char *views[] = { "/redmid/rm-root@x/t/", "/redmid/rm-root@x/T/", "/redmid/rm-child@x/" };
  for (guint i = 0; i < 2; i++)
    for (guint v = 0; v < G_N_ELEMENTS (views); v++) {
      Resp t = get (ports[i], "GET", views[v]);
      g_assert_cmpint (t.status, ==, 200);
      if (strstr (t.body, "not in this archive") != NULL || strstr (t.body, "words to take back") != NULL)
        g_error ("%s: the redacted message shows as never received, or its text shows:\n%s", views[v], t.body);
      /* Its place says when and why (the thread skeleton of a message
       * page: that it was removed), links its tombstone, and comes
       * before its reply. */
      const char *tomb = strstr (t.body, v < 2 ? "Reason: asked by &lt;M&gt; &amp; co" : "removed from the archive");
      if (tomb == NULL || strstr (t.body, "href=\"/redmid/rm-mid@x/\"") == NULL)
        g_error ("%s: no tombstone for the redacted message:\n%s", views[v], t.body);
      if (v < 2)
        g_assert_nonnull (strstr (tomb, "an answer to the removed one"));
      resp_clear (&t);
    }
}

/* A display name may hold '<' in its quotes: the address is the last
 * <...>, for the name shown on narrow screens and for who took part. */
static void
test_from_name_angles (void)
{
  assert_ok (run (site.root, "list-add", "angles", "--description", "Names with angle brackets"));
  const char *a = "Message-ID: <ang-a@x>\nFrom: \"Carol <x> Co\" <carol@example.com>\nSubject: Angles\n"
                  "Date: Tue, 10 Jan 2023 09:00:00 +0000\n\nfirst\n";
  const char *b = "Message-ID: <ang-b@x>\nFrom: \"Dan <x> Co\" <dan@example.com>\nSubject: Re: Angles\n"
                  "Date: Tue, 10 Jan 2023 10:00:00 +0000\nIn-Reply-To: <ang-a@x>\nReferences: <ang-a@x>\n\nsecond\n";
  deliver ("angles", a);
  deliver ("angles", b);
  Resp r = get (site.port_cgi, "GET", "/angles/");
  g_assert_cmpint (r.status, ==, 200);
  if (strstr (r.body, "<span class=\"nm\">Carol &lt;x&gt; Co</span><span class=\"ad\"> &lt;carol@example.com&gt;")
          == NULL
      || strstr (r.body, "<td class=\"c\">1</td><td class=\"c\">2</td>") == NULL)
    g_error ("/angles/: the name is cut at its '<', or the two senders count as one:\n%s", r.body);
  resp_clear (&r);
  /* The message's From: row keeps the quotes that make it one name. */
  Resp m = get (site.port_cgi, "GET", "/angles/ang-a@x/");
  g_assert_cmpint (m.status, ==, 200);
  g_assert_nonnull (strstr (m.body, "<td>&quot;Carol &lt;x&gt; Co&quot; &lt;carol@example.com&gt;</td>"));
  resp_clear (&m);
}

/* A thread longer than a page of bodies says which messages it shows
 * and links to the rest; every body is on one of its pages. */
static void
test_thread_long (void)
{
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp a = get (ports[i], "GET", "/craft/long0@craft/t/");
    g_assert_nonnull (strstr (a.body, "messages 1-100 of 153"));
    g_assert_nonnull (strstr (a.body, "href=\"?o=100\""));
    g_assert_nonnull (strstr (a.body, "body of long message 0."));
    resp_clear (&a);
    Resp b = get (ports[i], "GET", "/craft/long0@craft/t/?o=100");
    g_assert_cmpint (b.status, ==, 200);
    g_assert_nonnull (strstr (b.body, "messages 101-153 of 153"));
    g_assert_nonnull (strstr (b.body, "body of long message 152."));
    g_assert_null (strstr (b.body, "body of long message 0."));
    resp_clear (&b);
  }
}

/* On a thread page rel="next" and rel="prev" are its other pages of
 * bodies, once each; the thread list's previous and next message are
 * plain links.  The message page (no pager) keeps them as its rel. */
static void
test_thread_pager_rel (void)
{
  int ports[] = { site.port_cgi, site.port_fcgi };
  const char *views[] = { "t", "T" };
  for (guint i = 0; i < 2; i++) {
    for (guint v = 0; v < G_N_ELEMENTS (views); v++) {
      g_autofree char *first = g_strdup_printf ("/craft/long5@craft/%s/", views[v]);
      g_test_message ("%s", first);
      Resp a = get (ports[i], "GET", first);
      g_assert_cmpint (a.status, ==, 200);
      g_assert_nonnull (strstr (a.body, ">next</a>"));
      g_assert_nonnull (strstr (a.body, ">previous</a>"));
      g_assert_cmpuint (count_of (a.body, "rel=\"next\""), ==, 1);
      g_assert_nonnull (strstr (a.body, "href=\"?o=100\" rel=\"next\""));
      g_assert_cmpuint (count_of (a.body, "rel=\"prev\""), ==, 0);
      resp_clear (&a);
      g_autofree char *second = g_strdup_printf ("%s?o=100", first);
      Resp b = get (ports[i], "GET", second);
      g_assert_cmpint (b.status, ==, 200);
      g_assert_cmpuint (count_of (b.body, "rel=\"prev\""), ==, 1);
      g_assert_nonnull (strstr (b.body, "href=\"?o=0\" rel=\"prev\""));
      g_assert_cmpuint (count_of (b.body, "rel=\"next\""), ==, 0);
      resp_clear (&b);
    }
    Resp m = get (ports[i], "GET", "/craft/long5@craft/");
    g_assert_cmpuint (count_of (m.body, "rel=\"next\""), ==, 1);
    g_assert_nonnull (strstr (m.body, "rel=\"next\" href=\"/craft/long6@craft/\""));
    g_assert_cmpuint (count_of (m.body, "rel=\"prev\""), ==, 1);
    g_assert_nonnull (strstr (m.body, "rel=\"prev\" href=\"/craft/long4@craft/\""));
    resp_clear (&m);
  }
}

/* Pipermail's archive index: months with counts on the list page, a
 * page per year and per month, each month as mbox.gz. */
static void
test_months (void)
{
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp l = get (ports[i], "GET", "/craft/");
    g_assert_nonnull (strstr (l.body, "href=\"/craft/2021-03/\""));
    g_assert_nonnull (strstr (l.body, "(153)"));
    g_assert_nonnull (strstr (l.body, "href=\"/craft/2021-04/\""));
    g_assert_nonnull (strstr (l.body, "(8)"));
    resp_clear (&l);
    Resp y = get (ports[i], "GET", "/craft/2021/");
    g_assert_cmpint (y.status, ==, 200);
    g_assert_nonnull (strstr (y.body, "href=\"/craft/2021-04/\""));
    g_assert_nonnull (strstr (y.body, "href=\"/craft/2021-04.mbox.gz\""));
    resp_clear (&y);
    Resp m = get (ports[i], "GET", "/craft/2021-04/");
    g_assert_cmpint (m.status, ==, 200);
    g_assert_nonnull (strstr (m.body, "April news"));
    g_assert_nonnull (strstr (m.body, "Re: lost start"));
    g_assert_nonnull (strstr (m.body, "From the future"));
    g_assert_null (strstr (m.body, "Long thread"));
    g_assert_nonnull (strstr (m.body, "href=\"/craft/2021-04.mbox.gz\""));
    resp_clear (&m);
    expect (ports[i], "/craft/2021-13/", 404, "text/html");
    expect (ports[i], "/craft/1999-01/", 200, "text/html");
  }
  g_autofree char *out = g_build_filename (site.tmp, "month.mbox.gz", NULL);
  g_autofree char *cmd
      = g_strdup_printf ("curl -s -o '%s' http://127.0.0.1:%d/craft/2021-04.mbox.gz", out, site.port_fcgi);
  g_free (test_sh (cmd, NULL));
  g_autofree char *py
      = g_strdup_printf ("python3 -c \"import gzip, mailbox; open('%s.x','wb').write(gzip.open('%s').read()); "
                         "print(len(mailbox.mbox('%s.x')))\"",
                         out, out, out);
  g_autofree char *n = test_sh (py, NULL);
  g_assert_cmpint (atoi (n), ==, 8);
}

/* A thread row: subject, starter's name, replies, participants, last
 * message; names stand alone on narrow screens. */
static void
test_thread_rows (void)
{
  Resp m = get (site.port_cgi, "GET", "/craft/2021-03/");
  const char *row = strstr (m.body, "Long thread");
  g_assert_nonnull (row);
  g_assert_nonnull (strstr (row, "Writer Number0"));
  g_assert_nonnull (strstr (row, "<td class=\"c\">152</td>"));
  g_assert_nonnull (strstr (row, "<td class=\"c\">5</td>"));
  g_assert_nonnull (strstr (row, "2021-03-01"));
  g_assert_nonnull (strstr (m.body, "class=\"ad\""));
  resp_clear (&m);
  Resp l = get (site.port_fcgi, "GET", "/craft/");
  g_assert_nonnull (strstr (l.body, "<th scope=\"col\">Participants</th>"));
  resp_clear (&l);
}

/* A Date: years after the receipt does not pin its thread on top, and
 * is shown as the sender's claim. */
static void
test_future_date (void)
{
  Resp l = get (site.port_fcgi, "GET", "/craft/");
  const char *news = strstr (l.body, "April news"), *future = strstr (l.body, "From the future");
  g_assert_nonnull (news);
  g_assert_nonnull (future);
  g_assert_true (news < future);
  resp_clear (&l);
  expect_text (site.port_cgi, "/craft/future@craft/", 200, "claimed by the sender", "\x01");
}

/* A message page says how to answer on the list, where it has an
 * address (public-inbox's mailto: with In-Reply-To and the subject). */
static void
test_reply_link (void)
{
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    expect_text (ports[i], "/craft/orphan1@craft/", 200,
                 "href=\"mailto:craft@example.org?In-Reply-To=%3Corphan1%40craft%3E&amp;subject=Re%3A%20lost%20start\"",
                 "\x01");
    expect_text (ports[i], "/craft/april@craft/", 200, "subject=Re%3A%20April%20news\"", "\x01");
    /* ksummit has no address in annals.conf: no link to nowhere. */
    g_autofree char *page = g_strdup_printf ("/ksummit/%s/", mid);
    expect_text (ports[i], page, 200, "<h1>", "mailto:");
  }
}

/* Feeds: each entry carries the message's text, escaped; /all/new.atom
 * has the newest across lists.  Read by feedparser. */
static void
test_feed_content (void)
{
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    g_autofree char *fp = g_strdup_printf (
        "/usr/bin/python3 -c \"import feedparser; f=feedparser.parse('http://127.0.0.1:%d/craft/new.atom'); "
        "assert not f.bozo, f.bozo_exception; "
        "e=[x for x in f.entries if x.title == 'April news'][0]; assert 'news of April.' in e.content[0].value, e; "
        "a=feedparser.parse('http://127.0.0.1:%d/all/new.atom'); assert not a.bozo, a.bozo_exception; "
        "links=' '.join(x.link for x in a.entries); assert '/hidden/' in links and '/ksummit/' in links and "
        "len(a.entries) == 25, links; "
        "print('ok')\"",
        ports[i], ports[i]);
    int st;
    g_autofree char *out = test_sh (fp, &st);
    g_assert_cmpint (st, ==, 0);
    expect (ports[i], "/all/new.atom", 200, "application/atom+xml");
  }
  /* Escaped: the hostile body is text in the feed, never markup. */
  Resp a = get (site.port_fcgi, "GET", "/ksummit/?q=s:alert&x=A");
  g_assert_nonnull (strstr (a.body, "<content type=\"text\">&lt;script&gt;alert("));
  g_assert_null (strstr (a.body, "<script>"));
  resp_clear (&a);
}

/* The about pages publish the verifier key and each log's origin, and
 * the commands they show verify a message as written. */
/* Search hits show a snippet of their new text with the words found
 * marked, the rest escaped; the count is exact when it was counted. */
static void
test_search_snippet (void)
{
  Run c = run (site.root, "search", "--list", "ksummit", "--count", "rust");
  g_autofree char *count = g_strdup_printf ("<p>%" G_GUINT64_FORMAT " messages", g_ascii_strtoull (c.out, NULL, 10));
  run_clear (&c);
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp r = get (ports[i], "GET", "/ksummit/?q=rust");
    g_assert_cmpint (r.status, ==, 200);
    if (strstr (r.body, count) == NULL)
      g_error ("no '%s' (the exact count) in the page:\n%s", count, r.body);
    g_assert_nonnull (strstr (r.body, "<mark>"));
    resp_clear (&r);
    Resp w = get (ports[i], "GET", "/craft/?q=wombat");
    g_assert_cmpint (w.status, ==, 200);
    if (strstr (w.body, "A fresh reply that names the <mark>wombat</mark> &lt;again&gt; &amp; more") == NULL)
      g_error ("no snippet of the new text in the page:\n%s", w.body);
    g_assert_null (strstr (w.body, "quoted line"));
    resp_clear (&w);
    /* Found 8 KB into the text, marked there. */
    expect_text (ports[i], "/craft/?q=platypus", 200, "At last the <mark>platypus</mark> shows up.", "\x01");
    /* Accents are folded for matching, shown as written. */
    expect_text (ports[i], "/craft/?q=reseau", 200, "Le <mark>réseau</mark> est prêt.", "\x01");
    expect_text (ports[i], "/craft/?q=r%C3%A9seaux", 200, "Le <mark>réseau</mark> est prêt.", "\x01");
    Resp e = get (ports[i], "GET", "/ksummit/?q=javascript");
    g_assert_cmpint (e.status, ==, 200);
    g_assert_nonnull (strstr (e.body, "<mark>javascript</mark>"));
    g_assert_null (strstr (e.body, "<script"));
    resp_clear (&e);
  }
}

/* Attachment names in UTF-8 (RFC 2231, RFC 2047) show as written and
 * download under their name (RFC 6266 filename*, ASCII fallback); HTML
 * mail keeps its link targets. */
static void
test_attachment_names (void)
{
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp m = get (ports[i], "GET", "/craft/names@craft/");
    g_assert_cmpint (m.status, ==, 200);
    if (strstr (m.body, "href=\"/craft/names@craft/1-Proc_s.pdf\" download>Procès.pdf</a>") == NULL)
      g_error ("no link to Procès.pdf in the page:\n%s", m.body);
    g_assert_nonnull (strstr (m.body, ">Résumé final.txt</a>"));
    g_assert_nonnull (strstr (m.body, "See the agenda [1]."));
    g_assert_nonnull (strstr (m.body, "[1] <a href=\"https://example.org/agenda?a=1&amp;b=2\""));
    resp_clear (&m);
    Resp a = get (ports[i], "GET", "/craft/names@craft/1-Proc_s.pdf");
    g_assert_cmpint (a.status, ==, 200);
    if (strstr (a.headers, "Content-Disposition: attachment; filename=\"Proc_s.pdf\"; "
                           "filename*=UTF-8''Proc%C3%A8s.pdf\r\n")
        == NULL)
      g_error ("wrong Content-Disposition:\n%s", a.headers);
    g_assert_cmpmem (a.body, a.length, "%PDF-1.4\n", 9);
    resp_clear (&a);
    Resp b = get (ports[i], "GET", "/craft/names@craft/2-R_sum__final.txt");
    g_assert_cmpint (b.status, ==, 200);
    g_assert_nonnull (
        strstr (b.headers, "filename=\"R_sum__final.txt\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20final.txt"));
    resp_clear (&b);
    /* The per-byte form of earlier links still answers. */
    expect (ports[i], "/craft/names@craft/1-Proc__s.pdf", 200, "application/octet-stream");
  }
}

/* A reply that names no parent but answers a thread's subject shows in
 * that thread, under its first message. */
static void
test_thread_subject (void)
{
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    Resp t = get (ports[i], "GET", "/craft/weekly@craft/t/");
    g_assert_cmpint (t.status, ==, 200);
    const char *reply = strstr (t.body, "href=\"/craft/oldmailer@craft/\"");
    if (reply == NULL)
      g_error ("the old mailer's reply is not in the thread:\n%s", t.body);
    resp_clear (&t);
    expect_text (ports[i], "/craft/oldmailer@craft/", 200, "href=\"/craft/weekly@craft/\"", "\x01");
  }
}

/* The subject threading and the snippets over indexes of three shards:
 * the same pages (then back to one shard, as the other tests had it). */
static void
test_sharded_subject_and_snippets (void)
{
  const char *lists[] = { "craft", "ksummit" };
  for (guint i = 0; i < G_N_ELEMENTS (lists); i++)
    assert_ok (run (site.root, "index", "--rebuild", "--shards", "3", "--quiet", lists[i]));
  g_autofree char *shards = g_build_filename (site.root, "craft", "index", "shard-2", NULL);
  g_assert_true (g_file_test (shards, G_FILE_TEST_IS_DIR));
  test_thread_subject ();
  test_search_snippet ();
  for (guint i = 0; i < G_N_ELEMENTS (lists); i++)
    assert_ok (run (site.root, "index", "--rebuild", "--shards", "1", "--quiet", lists[i]));
}

static void
test_about (void)
{
  Run k = run (site.root, "key");
  g_assert_cmpint (k.status, ==, 0);
  g_autofree char *vkey = g_strstrip (g_strdup (k.out));
  run_clear (&k);
  int ports[] = { site.port_cgi, site.port_fcgi };
  for (guint i = 0; i < 2; i++) {
    expect_text (ports[i], "/about/", 200, vkey, "\x01");
    expect_text (ports[i], "/about/", 200, "href=\"/craft/about/\"", "\x01");
    Resp a = get (ports[i], "GET", "/craft/about/");
    g_assert_cmpint (a.status, ==, 200);
    g_assert_nonnull (strstr (a.body, vkey));
    g_assert_nonnull (strstr (a.body, "href=\"/craft/log/checkpoint\""));
    g_assert_nonnull (strstr (a.body, "annals verify-proof message.tlog-proof --key"));
    g_assert_nonnull (strstr (a.body, "annals verify "));
    resp_clear (&a);
  }
  /* Run what the page says, with what the site serves. */
  g_autofree char *proof = g_build_filename (site.tmp, "message.tlog-proof", NULL);
  g_autofree char *eml = g_build_filename (site.tmp, "message.eml", NULL);
  g_autofree char *c1
      = g_strdup_printf ("curl -s -o '%s' http://127.0.0.1:%d/ksummit/%s/proof", proof, site.port_cgi, mid);
  g_autofree char *c2 = g_strdup_printf ("curl -s -o '%s' http://127.0.0.1:%d/ksummit/%s/raw", eml, site.port_cgi, mid);
  g_free (test_sh (c1, NULL));
  g_free (test_sh (c2, NULL));
  Run v = run (site.root, "verify-proof", proof, "--key", vkey, "--message", eml);
  g_test_message ("%s%s", v.out, v.err);
  g_assert_cmpint (v.status, ==, 0);
  run_clear (&v);
}

/* A search whose index fails is the server's answer, not the user's: a
 * damaged index 500, a half-made one 503 (the next index run mends it),
 * on the list and on /all/, naming the list; never 400, never a silently
 * partial /all/.  A third list is added and damaged, then rebuilt. */
static void
test_search_index_errors (void)
{
  assert_ok (run (site.root, "list-add", "broken"));
  g_autofree char *sample = test_source_path ("samples/ksummit-sample.mbox.gz");
  assert_ok (run (site.root, "ingest", "broken", "--quiet", sample));
  g_autofree char *index = g_build_filename (site.root, "broken", "index", NULL);
  test_util_garble_glass (index, "postlist");
  expect_text (site.port_cgi, "/broken/?q=rust", 500, "&#39;broken&#39;", "query language");
  expect_text (site.port_cgi, "/all/?q=rust", 500, "&#39;broken&#39;", "query language");
  /* The query is still looked at first: the user's mistake stays 400. */
  expect (site.port_cgi, "/broken/?q=NOT+rust", 400, "text/html");

  /* Half-made: the revision file gone, as a kill inside the creation
   * leaves it. */
  g_autofree char *rev = g_build_filename (index, "iamglass", NULL);
  g_assert_cmpint (g_unlink (rev), ==, 0);
  expect_text (site.port_cgi, "/broken/?q=rust", 503, "&#39;annals index broken&#39;", "query language");
  expect_text (site.port_cgi, "/all/?q=rust", 503, "&#39;broken&#39;", "Search results");

  assert_ok (run (site.root, "index", "--rebuild", "broken"));
  expect (site.port_cgi, "/all/?q=rust", 200, "text/html");
}

/* The list page, its month pages and new.atom say "no index yet" only
 * when there is none: a damaged index is 500 and a half-made one 503
 * there too (as on a search), naming the list, never an empty list or a
 * 404 that a cache or a feed reader would keep. */
static void
test_list_index_errors (void)
{
  assert_ok (run (site.root, "list-add", "unindexed"));
  expect_text (site.port_cgi, "/unindexed/", 200, "no index yet", "&#39;unindexed&#39;");
  expect (site.port_cgi, "/unindexed/new.atom", 404, "text/html");

  assert_ok (run (site.root, "list-add", "mangled"));
  g_autofree char *sample = test_source_path ("samples/ksummit-sample.mbox.gz");
  assert_ok (run (site.root, "ingest", "mangled", "--quiet", sample));
  /* A month the list has, from its page while the index is whole. */
  Resp l = get (site.port_cgi, "GET", "/mangled/");
  g_assert_cmpint (l.status, ==, 200);
  const char *at = strstr (l.body, "href=\"/mangled/");
  g_assert_nonnull (at);
  at += strlen ("href=\"");
  while (at != NULL && !(g_ascii_isdigit (at[9]) && at[13] == '-' && at[16] == '/'))
    at = strstr (at + 1, "/mangled/");
  g_assert_nonnull (at);
  g_autofree char *month = g_strndup (at, strlen ("/mangled/YYYY-MM/"));
  g_autofree char *month_mbox = g_strdup_printf ("%.*s.mbox.gz", (int) strlen ("/mangled/YYYY-MM"), at);
  g_test_message ("month page %s", month);
  resp_clear (&l);

  g_autofree char *index = g_build_filename (site.root, "mangled", "index", NULL);
  test_util_garble_glass (index, "postlist");
  expect_text (site.port_cgi, "/mangled/", 500, "&#39;mangled&#39;", "no index yet");
  expect_text (site.port_cgi, "/mangled/new.atom", 500, "&#39;mangled&#39;", "no index yet");
  expect_text (site.port_cgi, month, 500, "&#39;mangled&#39;", "no index yet");
  expect_text (site.port_cgi, month_mbox, 500, "&#39;mangled&#39;", "no index yet");
  expect_text (site.port_cgi, "/all/", 500, "&#39;mangled&#39;", "no index yet");
  expect_text (site.port_cgi, "/all/new.atom", 500, "&#39;mangled&#39;", "no index yet");

  g_autofree char *rev = g_build_filename (index, "iamglass", NULL);
  g_assert_cmpint (g_unlink (rev), ==, 0);
  expect_text (site.port_cgi, "/mangled/", 503, "&#39;annals index mangled&#39;", "no index yet");
  expect_text (site.port_cgi, "/mangled/new.atom", 503, "&#39;annals index mangled&#39;", "no index yet");
  expect_text (site.port_cgi, month, 503, "&#39;annals index mangled&#39;", "no index yet");
  expect_text (site.port_cgi, "/all/new.atom", 503, "&#39;mangled&#39;", "no index yet");

  assert_ok (run (site.root, "index", "--rebuild", "mangled"));
  expect (site.port_cgi, "/mangled/", 200, "text/html");
  expect (site.port_cgi, "/mangled/new.atom", 200, "application/atom+xml");
  expect (site.port_cgi, month, 200, "text/html");
  expect (site.port_cgi, "/all/new.atom", 200, "application/atom+xml");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("annals.cgi behind lighttpd, CGI and FastCGI");
  if (!have ("lighttpd") || !have ("curl")) {
    g_printerr ("lighttpd and curl are needed: scripts/install-deps\n");
    return 1;
  }
  start_site ();
  g_test_add_func ("/web/routes/cgi", test_routes_cgi);
  g_test_add_func ("/web/routes/fastcgi", test_routes_fastcgi);
  g_test_add_func ("/web/raw-exact", test_raw_exact);
  g_test_add_func ("/web/mbox-and-atom", test_mbox_and_atom);
  g_test_add_func ("/web/hostile-message", test_hostile);
  g_test_add_func ("/web/search-mbox-post", test_search_mbox_post);
  g_test_add_func ("/web/b4", test_b4);
  g_test_add_func ("/web/tombstone-and-obfuscation", test_tombstone_and_obfuscation);
  g_test_add_func ("/web/browser", test_browser);
  g_test_add_func ("/web/fastcgi-body-cache", test_fastcgi_body_cache);
  g_test_add_func ("/web/forwarded", test_forwarded);
  g_test_add_func ("/web/fastcgi/config-edited", test_fastcgi_config_edited);
  g_test_add_func ("/web/fastcgi/snippet-cache", test_fastcgi_snippet_cache);
  g_test_add_func ("/web/fastcgi/kept/new-message", test_fastcgi_kept_new_message);
  g_test_add_func ("/web/fastcgi/kept/redaction", test_fastcgi_kept_redaction);
  g_test_add_func ("/web/fastcgi/kept/rebuild", test_fastcgi_kept_rebuild);
  g_test_add_func ("/web/fastcgi/kept/bulk-compaction", test_fastcgi_kept_bulk);
  g_test_add_func ("/web/raw/large-streamed", test_raw_large);
  g_test_add_func ("/web/reused-id/first-copy", test_reused_id);
  g_test_add_func ("/web/cache/etag-and-redaction", test_cache_etag);
  g_test_add_func ("/web/cache/raw-if-modified-since", test_raw_if_modified_since);
  g_test_add_func ("/web/base-url/over-host", test_base_url_over_host);
  g_test_add_func ("/web/limits", test_limits);
  g_test_add_func ("/web/thread/nesting", test_thread_nesting);
  g_test_add_func ("/web/thread/ghost", test_thread_ghost);
  g_test_add_func ("/web/thread/ghost-chain", test_thread_ghost_chain);
  g_test_add_func ("/web/thread/long", test_thread_long);
  g_test_add_func ("/web/thread/pager-rel", test_thread_pager_rel);
  g_test_add_func ("/web/thread/redacted-middle", test_thread_redacted);
  g_test_add_func ("/web/list/months", test_months);
  g_test_add_func ("/web/list/thread-rows", test_thread_rows);
  g_test_add_func ("/web/list/from-name-angles", test_from_name_angles);
  g_test_add_func ("/web/list/one-page-no-nav", test_one_page_no_nav);
  g_test_add_func ("/web/list/future-date", test_future_date);
  g_test_add_func ("/web/message/reply-link", test_reply_link);
  g_test_add_func ("/web/feed/content-and-all", test_feed_content);
  g_test_add_func ("/web/about", test_about);
  g_test_add_func ("/web/search/index-errors", test_search_index_errors);
  g_test_add_func ("/web/list/index-errors", test_list_index_errors);
  g_test_add_func ("/web/search/snippet-and-count", test_search_snippet);
  g_test_add_func ("/web/message/attachment-names", test_attachment_names);
  g_test_add_func ("/web/thread/subject", test_thread_subject);
  g_test_add_func ("/web/sharded/subject-and-snippets", test_sharded_subject_and_snippets);
  int status = g_test_run ();
  stop_site ();
  return status;
}
