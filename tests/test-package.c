/* The Debian package: debian/ builds with dpkg-buildpackage -us -uc -b (in
 * a copy of the source tree, so the .deb lands in a temporary folder),
 * lintian finds no error in it, and what it holds works: the package's
 * annals runs, its annals.cgi answers a CGI request, its manual pages
 * render with man -l, its lighttpd example names its annals.cgi.
 *
 * Slow (a whole build): suite 'package', run by
 * `meson test --setup package --suite package` (scripts/test, once). The
 * tools come from scripts/install-deps package. */
#include "test-run.h"
#include "test-util.h"

#include <string.h>

/* Runs a shell command in dir; returns its stdout and stderr, asserts it
 * exited 0. */
static char *
sh_in (const char *dir, const char *cmd)
{
  g_autofree char *out = NULL, *err = NULL;
  int status;
  g_autoptr (GError) error = NULL;
  g_test_message ("(in %s) $ %s", dir, cmd);
  const char *argv[] = { "sh", "-c", cmd, NULL };
  g_assert_true (
      g_spawn_sync (dir, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("'%s' failed:\n%s%s", cmd, out, err);
  return g_strconcat (out, err, NULL);
}

static void
test_package (void)
{
  const char *src = g_getenv ("ANNALS_SOURCE_ROOT");
  g_assert_nonnull (src);
  const char *tools[] = { "dpkg-buildpackage", "dh", "lintian", "man" };
  for (gsize i = 0; i < G_N_ELEMENTS (tools); i++) {
    g_autofree char *p = g_find_program_in_path (tools[i]);
    if (p == NULL) {
      g_autofree char *why = g_strdup_printf ("needs %s: scripts/install-deps package", tools[i]);
      g_test_skip (why);
      return;
    }
  }
  g_autofree char *tmp = test_util_tmpdir ();
  g_autofree char *tree = g_build_filename (tmp, "annals", NULL);
  g_assert_cmpint (g_mkdir_with_parents (tree, 0755), ==, 0);
  /* The source without build folders or git: what a release tarball has. */
  g_autofree char *copy = g_strdup_printf ("tar -C '%s' --exclude='./build*' --exclude=./.git --exclude='./obj-*' "
                                           "--exclude=./debian/annals --exclude=./debian/.debhelper -cf - . "
                                           "| tar -C '%s' -xf -",
                                           src, tree);
  g_free (sh_in (tmp, copy));
  g_autofree char *log = sh_in (tree, "DEB_BUILD_OPTIONS='nocheck parallel=2' dpkg-buildpackage -us -uc -b");
  g_test_message ("%s", log);

  g_autofree char *version = sh_in (tree, "dpkg-parsechangelog -S Version");
  g_strstrip (version);
  g_autofree char *arch = sh_in (tree, "dpkg-architecture -q DEB_HOST_ARCH");
  g_strstrip (arch);
  g_autofree char *deb = g_strdup_printf ("annals_%s_%s.deb", version, arch);
  g_autofree char *changes = g_strdup_printf ("annals_%s_%s.changes", version, arch);
  g_autofree char *deb_path = g_build_filename (tmp, deb, NULL);
  g_assert_true (g_file_test (deb_path, G_FILE_TEST_EXISTS));

  /* lintian: warnings are logged, errors fail. */
  g_autofree char *lint_cmd = g_strdup_printf ("lintian --fail-on error '%s'", changes);
  g_autofree char *lint = sh_in (tmp, lint_cmd);
  g_test_message ("lintian says:\n%s", lint);

  /* What the package holds, unpacked (not installed system-wide). */
  g_autofree char *x_cmd = g_strdup_printf ("dpkg -x '%s' x", deb);
  g_free (sh_in (tmp, x_cmd));
  g_autofree char *bin = g_build_filename (tmp, "x", "usr", "bin", "annals", NULL);
  g_autofree char *cgi = g_build_filename (tmp, "x", "usr", "libexec", "annals", "annals.cgi", NULL);
  g_assert_true (g_file_test (cgi, G_FILE_TEST_IS_EXECUTABLE));

  /* Its annals is this tree's version. */
  Run built = run (NULL, "--version");
  assert_status (built, 0);
  g_setenv ("ANNALS_BIN", bin, TRUE);
  Run v = run (NULL, "--version");
  assert_status (v, 0);
  g_assert_cmpstr (v.out, ==, built.out);
  run_clear (&v);
  run_clear (&built);

  /* Its 'annals mirror' runs its annals-mirror (libexec/annals). */
  g_autofree char *helper = g_build_filename (tmp, "x", "usr", "libexec", "annals", "annals-mirror", NULL);
  g_assert_true (g_file_test (helper, G_FILE_TEST_IS_EXECUTABLE));
  Run h = run (NULL, "mirror", "--help");
  assert_status (h, 0);
  g_assert_nonnull (strstr (h.out, "annals mirror [OPTION"));
  run_clear (&h);

  /* Its annals makes an archive and its annals.cgi serves it. */
  g_autofree char *root = g_build_filename (tmp, "root", NULL);
  assert_ok (run (root, "init", "--name", "Packaged site"));
  assert_ok (run (root, "list-add", "policy"));
  g_autofree char *cgi_cmd = g_strdup_printf ("ANNALS_ROOT='%s' REQUEST_METHOD=GET REQUEST_URI=/ '%s'", root, cgi);
  g_autofree char *page = sh_in (tmp, cgi_cmd);
  g_assert_nonnull (strstr (page, "Packaged site"));
  g_assert_nonnull (strstr (page, "policy"));

  /* Its manual pages render. */
  const char *pages[][2] = {
    { "man1/annals.1.gz", "annals - a mailing-list archive" },
    { "man5/annals.conf.5.gz", "annals.conf - configuration of an annals archive" },
    { "man8/annals.cgi.8.gz", "annals.cgi - an annals archive on the web" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (pages); i++) {
    g_autofree char *man = g_strdup_printf ("MANWIDTH=80 man -l x/usr/share/man/%s", pages[i][0]);
    g_autofree char *out = sh_in (tmp, man);
    if (strstr (out, pages[i][1]) == NULL)
      g_error ("man -l %s does not say '%s':\n%s", pages[i][0], pages[i][1], out);
  }

  /* Its lighttpd example names its annals.cgi. */
  g_autofree char *example = g_build_filename (tmp, "x", "usr", "share", "annals", "lighttpd.conf.example", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (example, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "\"/usr/libexec/annals/annals.cgi\""));
  test_util_rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("debian/ builds a lintian-clean package whose annals, annals.cgi and manual pages work");
  g_test_add_func ("/package/deb/build", test_package);
  return g_test_run ();
}
