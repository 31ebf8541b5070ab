/* `meson install` gives a working annals: installed with --destdir into a
 * temporary folder, the installed annals archives and indexes a list,
 * scripts/serve --prefix serves it with the installed annals.cgi (CGI),
 * the installed lighttpd example serves it as FastCGI, and the installed
 * manual pages render with man -l.
 *
 * ANNALS_BUILD_ROOT and ANNALS_PREFIX (set by meson) name the build and
 * its prefix; lighttpd and curl come from scripts/install-deps test. */
#include "test-run.h"
#include "test-util.h"

#include <stdlib.h>
#include <string.h>

static volatile pid_t server_pid;

static void
stop_server_on_abort (int sig)
{
  if (server_pid > 0)
    kill (server_pid, SIGTERM);
  signal (sig, SIG_DFL);
  raise (sig);
}

/* Runs a shell command; returns its stdout, asserts it exited 0. */
static char *
sh (const char *cmd)
{
  g_autofree char *out = NULL, *err = NULL;
  int status;
  g_autoptr (GError) error = NULL;
  g_test_message ("$ %s", cmd);
  g_assert_true (g_spawn_command_line_sync (cmd, &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("'%s' failed: %s%s", cmd, out, err);
  return g_steal_pointer (&out);
}

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
  g_autofree char *out = sh (cmd);
  g_test_message ("%s", out);
  g_assert_true (g_str_has_suffix (out, "\n200"));
  g_assert_nonnull (strstr (out, has));
}

static pid_t
read_pid (const char *run_dir)
{
  g_autofree char *pidf = g_build_filename (run_dir, "lighttpd.pid", NULL);
  g_autofree char *pid = NULL;
  g_assert_true (g_file_get_contents (pidf, &pid, NULL, NULL));
  return atoi (pid);
}

static void
stop_server (void)
{
  if (server_pid > 0)
    kill (server_pid, SIGTERM);
  server_pid = 0;
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
  g_autofree char *lighttpd_sbin
      = g_file_test ("/usr/sbin/lighttpd", G_FILE_TEST_IS_EXECUTABLE) ? g_strdup ("/usr/sbin/lighttpd") : NULL;
  g_autofree char *curl = g_find_program_in_path ("curl");
  if ((lighttpd == NULL && lighttpd_sbin == NULL) || curl == NULL) {
    g_test_skip ("needs lighttpd and curl: scripts/install-deps test");
    return;
  }
  g_autofree char *tmp = test_util_tmpdir ();
  g_autofree char *dest = g_build_filename (tmp, "dest", NULL);
  g_autofree char *install = g_strdup_printf ("meson install -C '%s' --no-rebuild --quiet --destdir '%s'", build, dest);
  g_free (sh (install));
  g_autofree char *prefix = g_build_filename (dest, prefix_opt, NULL);

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

  signal (SIGABRT, stop_server_on_abort);
  signal (SIGTRAP, stop_server_on_abort);
  int port = 18000 + g_random_int_range (0, 20000);

  /* scripts/serve --prefix: the installed annals.cgi, as CGI. */
  g_unsetenv ("ANNALS_CGI");
  g_autofree char *run_cgi = g_build_filename (tmp, "run-cgi", NULL);
  g_autofree char *serve = g_strdup_printf (
      "'%s/scripts/serve' '%s' --prefix '%s' --port %d --background --run-dir '%s'", src, root, prefix, port, run_cgi);
  g_free (sh (serve));
  server_pid = read_pid (run_cgi);
  g_autofree char *link = g_build_filename (run_cgi, "htdocs", "annals.cgi", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);
  g_assert_cmpstr (target, ==, cgi);
  expect_page (port, "/", "Installed site");
  expect_page (port, "/policy/", "topic 0");
  stop_server ();

  /* The installed lighttpd example, with its variables set to this test's
   * paths and a loopback address: annals.cgi as FastCGI. */
  g_autofree char *example = g_build_filename (prefix, "share", "annals", "lighttpd.conf.example", NULL);
  g_assert_true (g_file_test (example, G_FILE_TEST_EXISTS));
  g_autofree char *run_fcgi = g_build_filename (tmp, "run-fcgi", NULL);
  g_assert_cmpint (g_mkdir_with_parents (run_fcgi, 0755), ==, 0);
  g_autofree char *conf = g_build_filename (run_fcgi, "lighttpd.conf", NULL);
  g_autofree char *sed = sh_quote_printf ("sed -e 's|^var.annals_root = .*|var.annals_root = \"%s\"|' "
                                          "-e 's|^var.annals_run = .*|var.annals_run = \"%s\"|' "
                                          "-e 's|^var.annals_cgi = .*|var.annals_cgi = \"%s\"|' "
                                          "-e 's|^server.port = .*|server.port = %d|' '%s' > '%s' && "
                                          "echo 'server.bind = \"127.0.0.1\"' >> '%s'",
                                          root, run_fcgi, cgi, port + 1, example, conf, conf);
  g_free (sh (sed));
  g_autofree char *conf_text = NULL;
  g_assert_true (g_file_get_contents (conf, &conf_text, NULL, NULL));
  g_autofree char *want = g_strdup_printf ("var.annals_cgi = \"%s\"", cgi);
  g_assert_nonnull (strstr (conf_text, want));
  g_autofree char *start = g_strdup_printf ("%s -f '%s'", lighttpd ? lighttpd : lighttpd_sbin, conf);
  g_free (sh (start));
  server_pid = read_pid (run_fcgi);
  expect_page (port + 1, "/", "Installed site");
  expect_page (port + 1, "/policy/", "topic 0");
  stop_server ();

  /* The manual pages, rendered. */
  const char *pages[][2] = {
    { "man1/annals.1", "annals - a mailing-list archive" },
    { "man5/annals.conf.5", "annals.conf - configuration of an annals archive" },
    { "man8/annals.cgi.8", "annals.cgi - an annals archive on the web" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (pages); i++) {
    g_autofree char *man = sh_quote_printf ("MANWIDTH=80 man -l '%s/share/man/%s' 2>&1", prefix, pages[i][0]);
    g_autofree char *out = sh (man);
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
