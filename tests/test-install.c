/* `meson install` gives a working annals: installed with --destdir into a
 * temporary folder, the installed annals archives and indexes a list,
 * scripts/serve --prefix serves it with the installed annals.cgi (CGI),
 * the installed lighttpd example serves it as FastCGI, and the installed
 * manual pages render with man -l.
 *
 * ANNALS_BUILD_ROOT and ANNALS_PREFIX (set by meson) name the build and
 * its prefix; lighttpd and curl come from scripts/install-deps test. */
#include "tests/test-run.h"
#include "tests/test-servers.h"
#include "tests/test-util.h"

#include <stdlib.h>
#include <string.h>

static char *sh_quote_printf (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static char *
sh_quote_printf (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *cmd = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_autofree char *q = g_shell_quote (cmd);
  return g_strdup_printf ("sh -c %s", q);
}

/* GETs path from 127.0.0.1:port; asserts 200 and that the page says has. */
static void
expect_page (int port, const char *path, const char *has)
{
  g_autofree char *cmd = g_strdup_printf ("curl -s --retry 20 --retry-connrefused --retry-delay 1 -o - "
                                          "-w '\\n%%{http_code}' http://127.0.0.1:%d%s",
                                          port, path);
  g_autofree char *out = test_sh_ok (cmd);
  g_test_message ("%s", out);
  g_assert_true (g_str_has_suffix (out, "\n200"));
  g_assert_nonnull (strstr (out, has));
}

static void
test_install (void)
{
  const char *build = g_getenv ("ANNALS_BUILD_ROOT");
  const char *prefix_opt = g_getenv ("ANNALS_PREFIX");
  const char *src = g_getenv ("ANNALS_SOURCE_ROOT");
  g_assert_nonnull (build);
  g_assert_nonnull (prefix_opt);
  g_assert_nonnull (src);
  g_autofree char *lighttpd = g_find_program_in_path ("lighttpd");
  g_autofree char *curl = g_find_program_in_path ("curl");
  if ((lighttpd == NULL && !g_file_test ("/usr/sbin/lighttpd", G_FILE_TEST_IS_EXECUTABLE)) || curl == NULL) {
    g_test_skip ("needs lighttpd and curl: scripts/install-deps test");
    return;
  }
  g_autofree char *tmp = test_util_tmpdir ();
  g_autofree char *dest = g_build_filename (tmp, "dest", NULL);
  g_autofree char *install = g_strdup_printf ("meson install -C '%s' --no-rebuild --quiet --destdir '%s'", build, dest);
  g_free (test_sh_ok (install));
  g_autofree char *prefix = g_build_filename (dest, prefix_opt, NULL);

  /* The build tree's annals runs the build tree's annals-mirror. */
  Run h = run (NULL, "mirror", "--help");
  assert_status (h, 0);
  g_assert_nonnull (strstr (h.out, "annals mirror [OPTION"));
  run_clear (&h);

  /* The CLI in bindir, the CGI in libexecdir/annals. */
  g_autofree char *bin = g_build_filename (prefix, "bin", "annals", NULL);
  g_autofree char *cgi = g_build_filename (prefix, "libexec", "annals", "annals.cgi", NULL);
  g_assert_true (g_file_test (bin, G_FILE_TEST_IS_EXECUTABLE));
  g_assert_true (g_file_test (cgi, G_FILE_TEST_IS_EXECUTABLE));
  g_setenv ("ANNALS_BIN", bin, TRUE);
  Run v = run (NULL, "--version");
  assert_status (v, 0);
  g_assert_true (g_str_has_prefix (v.out, "annals "));
  run_clear (&v);

  /* Only annals-mirror, in libexecdir/annals, links libcurl (its twenty
   * libraries would double the start-up of every command); the installed
   * 'annals mirror' finds it there. */
  g_autofree char *helper = g_build_filename (prefix, "libexec", "annals", "annals-mirror", NULL);
  g_assert_true (g_file_test (helper, G_FILE_TEST_IS_EXECUTABLE));
  g_autofree char *ldd_bin = g_strdup_printf ("ldd '%s'", bin);
  g_autofree char *ldd_helper = g_strdup_printf ("ldd '%s'", helper);
  g_autofree char *libs_bin = test_sh_ok (ldd_bin);
  g_autofree char *libs_helper = test_sh_ok (ldd_helper);
  g_assert_null (strstr (libs_bin, "libcurl"));
  g_assert_nonnull (strstr (libs_helper, "libcurl"));
  Run h2 = run (NULL, "mirror", "--help");
  assert_status (h2, 0);
  g_assert_nonnull (strstr (h2.out, "annals mirror [OPTION"));
  run_clear (&h2);
  Run u = run (NULL, "mirror");
  assert_fails (u, 64, "give the origin's URL and a DIR");
  /* Without it, a message that says which file is missing. */
  g_autofree char *helper_away = g_strconcat (helper, ".away", NULL);
  g_assert_cmpint (g_rename (helper, helper_away), ==, 0);
  Run gone = run (NULL, "mirror", "--help");
  g_assert_nonnull (strstr (gone.err, helper));
  assert_fails (gone, 1, "the installation is incomplete");
  g_assert_cmpint (g_rename (helper_away, helper), ==, 0);

  /* An archive made by the installed annals. */
  g_autofree char *root = g_build_filename (tmp, "root", NULL);
  assert_ok (run (root, "init", "--name", "Installed site"));
  assert_ok (run (root, "list-add", "policy", "--description", "Policy discussion"));
  g_autoptr (GString) mbox = g_string_new (NULL);
  for (guint i = 1; i <= 3; i++) {
    g_autoptr (GString) m = test_util_message (i, 200);
    g_string_append (mbox, "From member@example.org Mon Apr 19 15:28:51 2021\n");
    g_string_append_len (mbox, m->str, (gssize) m->len);
    g_string_append_c (mbox, '\n');
  }
  assert_ok (run_full (root, mbox->str, mbox->len, NULL, "ingest", "policy", "--quiet", NULL));

  int port = test_server_free_port ();

  /* scripts/serve --prefix: the installed annals.cgi, as CGI. */
  g_unsetenv ("ANNALS_CGI");
  g_autofree char *run_cgi = g_build_filename (tmp, "run-cgi", NULL);
  g_autofree char *serve = g_strdup_printf (
      "'%s/scripts/serve' '%s' --prefix '%s' --port %d --background --run-dir '%s'", src, root, prefix, port, run_cgi);
  g_free (test_sh_ok (serve));
  g_autofree char *pid_cgi = g_build_filename (run_cgi, "lighttpd.pid", NULL);
  pid_t server = test_server_adopt_pidfile (pid_cgi);
  g_autofree char *link = g_build_filename (run_cgi, "htdocs", "annals.cgi", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);
  g_assert_cmpstr (target, ==, cgi);
  expect_page (port, "/", "Installed site");
  expect_page (port, "/policy/", "topic 0");
  test_server_kill (server);

  /* The installed lighttpd example, with its variables set to this test's
   * paths and a loopback address: annals.cgi as FastCGI. */
  g_autofree char *example = g_build_filename (prefix, "share", "annals", "lighttpd.conf.example", NULL);
  g_assert_true (g_file_test (example, G_FILE_TEST_EXISTS));
  g_autofree char *run_fcgi = g_build_filename (tmp, "run-fcgi", NULL);
  int fcgi_port = test_server_free_port ();
  g_assert_cmpint (g_mkdir_with_parents (run_fcgi, 0755), ==, 0);
  g_autofree char *conf = g_build_filename (run_fcgi, "lighttpd.conf", NULL);
  g_autofree char *sed = sh_quote_printf ("sed -e 's|^var.annals_root = .*|var.annals_root = \"%s\"|' "
                                          "-e 's|^var.annals_run = .*|var.annals_run = \"%s\"|' "
                                          "-e 's|^var.annals_cgi = .*|var.annals_cgi = \"%s\"|' "
                                          "-e 's|^server.port = .*|server.port = %d|' '%s' > '%s' && "
                                          "echo 'server.bind = \"127.0.0.1\"' >> '%s'",
                                          root, run_fcgi, cgi, fcgi_port, example, conf, conf);
  g_free (test_sh_ok (sed));
  g_autofree char *conf_text = NULL;
  g_assert_true (g_file_get_contents (conf, &conf_text, NULL, NULL));
  g_autofree char *want = g_strdup_printf ("var.annals_cgi = \"%s\"", cgi);
  g_assert_nonnull (strstr (conf_text, want));
  g_autofree char *lighttpd_path = test_server_find_program ("lighttpd");
  g_autofree char *start = g_strdup_printf ("%s -f '%s'", lighttpd_path, conf);
  g_free (test_sh_ok (start));
  g_autofree char *pid_fcgi = g_build_filename (run_fcgi, "lighttpd.pid", NULL);
  server = test_server_adopt_pidfile (pid_fcgi);
  expect_page (fcgi_port, "/", "Installed site");
  expect_page (fcgi_port, "/policy/", "topic 0");
  test_server_kill (server);

  /* The manual pages, rendered. */
  const char *pages[][2] = {
    { "man1/annals.1", "annals - a mailing-list archive" },
    { "man5/annals.conf.5", "annals.conf - configuration of an annals archive" },
    { "man8/annals.cgi.8", "annals.cgi - an annals archive on the web" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (pages); i++) {
    g_autofree char *man = sh_quote_printf ("MANWIDTH=80 man -l '%s/share/man/%s' 2>&1", prefix, pages[i][0]);
    g_autofree char *out = test_sh_ok (man);
    if (strstr (out, pages[i][1]) == NULL)
      g_error ("man -l %s does not say '%s':\n%s", pages[i][0], pages[i][1], out);
  }
  test_util_rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("meson install gives a working annals, annals.cgi, lighttpd example and manual pages");
  g_test_add_func ("/install/meson/destdir", test_install);
  return g_test_run ();
}
