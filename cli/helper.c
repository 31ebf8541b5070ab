/* helper: see helper.h. */
#include "cli/helper.h"
#include "cli/cmdline.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The path of the program annals-CMD (new): the first that exists, else
 * where this annals's installation should have it. */
static char *
find_helper (const char *name)
{
  g_autofree char *installed = g_build_filename (ANNALS_HELPER_DIR, name, NULL);
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  if (self == NULL)
    return g_steal_pointer (&installed);
  g_autofree char *dir = g_path_get_dirname (self);
  g_autofree char *beside = g_build_filename (dir, name, NULL);
  if (g_file_test (beside, G_FILE_TEST_IS_EXECUTABLE))
    return g_steal_pointer (&beside);
  /* PREFIX/bin/annals finds PREFIX/libexec/annals/annals-CMD, wherever
   * PREFIX was moved to (meson install --destdir). */
  const char *bindir = ANNALS_BINDIR, *libexecdir = ANNALS_LIBEXECDIR;
  gsize dl = strlen (dir), bl = strlen (bindir);
  if (g_path_is_absolute (bindir) || g_path_is_absolute (libexecdir) || dl <= bl + 1
      || strcmp (dir + dl - bl, bindir) != 0 || dir[dl - bl - 1] != '/')
    return g_steal_pointer (&installed);
  g_autofree char *prefix = g_strndup (dir, dl - bl - 1);
  g_autofree char *moved = g_build_filename (prefix, libexecdir, "annals", name, NULL);
  if (g_file_test (moved, G_FILE_TEST_IS_EXECUTABLE) || !g_file_test (installed, G_FILE_TEST_IS_EXECUTABLE))
    return g_steal_pointer (&moved);
  return g_steal_pointer (&installed);
}

int
annals_cli_run_helper (int argc, char **argv)
{
  g_autofree char *name = g_strconcat ("annals-", argv[0], NULL);
  g_autofree char *path = find_helper (name);
  const char *global_root = annals_cli_global_root ();
  g_autofree char *root = global_root != NULL ? g_strconcat ("--root=", global_root, NULL) : NULL;
  g_autofree char **args = g_new0 (char *, argc + 3);
  int n = 0;
  args[n++] = path;
  if (root != NULL)
    args[n++] = root;
  for (int i = 0; i < argc; i++)
    args[n++] = argv[i];
  execv (path, args);
  int e = errno;
  g_printerr ("annals %s: cannot run '%s': %s; the installation is incomplete (annals %s is that program)\n", argv[0],
              path, g_strerror (e), argv[0]);
  return 1;
}
