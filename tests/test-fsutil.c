/* Tests for core/fsutil: removing a tree. */
#include "core/fsutil.h"
#include "tests/test-util.h"

#include <unistd.h>

static void
write_file (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_set_contents (path, "x", 1, &error));
  g_assert_no_error (error);
}

/* Everything below goes, a symbolic link as a link: what it points to
 * stays. */
static void
test_nested (void)
{
  g_autofree char *tmp = test_util_tmpdir ();
  g_autofree char *keep = g_build_filename (tmp, "keep", NULL);
  g_autofree char *tree = g_build_filename (tmp, "tree", NULL);
  g_autofree char *deep = g_build_filename (tree, "a", "b", "c", NULL);
  g_assert_cmpint (g_mkdir_with_parents (deep, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (keep, 0755), ==, 0);
  write_file (keep, "kept");
  write_file (tree, "one");
  write_file (deep, "two");
  g_autofree char *link = g_build_filename (tree, "a", "link", NULL);
  g_assert_cmpint (symlink (keep, link), ==, 0);
  g_autoptr (GError) error = NULL;
  g_assert_true (annals_fs_remove_tree (tree, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (tree, G_FILE_TEST_EXISTS));
  g_autofree char *kept = g_build_filename (keep, "kept", NULL);
  g_assert_true (g_file_test (kept, G_FILE_TEST_IS_REGULAR));
  /* Gone already is no error, and so is a plain file. */
  g_assert_true (annals_fs_remove_tree (tree, &error));
  g_assert_no_error (error);
  g_assert_true (annals_fs_remove_tree (kept, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (kept, G_FILE_TEST_EXISTS));
  test_util_rm_rf (tmp);
}

/* A failure is an error that names the path. */
static void
test_fails (void)
{
  g_autofree char *tmp = test_util_tmpdir ();
  write_file (tmp, "file");
  g_autofree char *below = g_build_filename (tmp, "file", "below", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_false (annals_fs_remove_tree (below, &error));
  g_assert_error (error, ANNALS_FS_ERROR, ANNALS_FS_ERROR_IO);
  g_assert_nonnull (strstr (error->message, below));
  test_util_rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("Removing a tree of files");
  g_test_add_func ("/fs/remove-tree/nested", test_nested);
  g_test_add_func ("/fs/remove-tree/fails", test_fails);
  return g_test_run ();
}
