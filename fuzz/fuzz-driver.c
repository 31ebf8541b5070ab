/* Runs a fuzz target over files given on the command line, as a TAP
 * test: how the targets run in the ordinary test suite without a fuzzer
 * (GLib's fuzzing/driver.c does the same).  A folder argument (the
 * test suite passes fuzz/seeds/<target>/) is listed when the test runs,
 * so a crasher dropped into it is replayed without a reconfigure. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
run_one (gconstpointer path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  g_assert_no_error (error);
  LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
  /* Every prefix too: truncated input is the commonest bad input. */
  for (gsize cut = 0; cut < len; cut += MAX (len / 16, 1))
    LLVMFuzzerTestOneInput ((const uint8_t *) data, cut);
}

static void
add_one (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *name = g_strdup_printf ("/fuzz/%s", base);
  g_test_add_data_func_full (name, g_strdup (path), run_one, g_free);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Adds the files of dir in name order; hidden files are not seeds. */
static gboolean
add_dir (const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &error);
  if (d == NULL) {
    g_printerr ("cannot list the seeds in '%s': %s\n", dir, error->message);
    return FALSE;
  }
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (const char *n; (n = g_dir_read_name (d)) != NULL;)
    if (n[0] != '.')
      g_ptr_array_add (names, g_strdup (n));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
    if (!g_file_test (path, G_FILE_TEST_IS_DIR))
      add_one (path);
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("A fuzz target over its seed files and their prefixes");
  for (int i = 1; i < argc; i++) {
    if (!g_file_test (argv[i], G_FILE_TEST_EXISTS)) {
      /* A missing seed folder must not pass as zero tests. */
      g_printerr ("no seed file or folder '%s'\n", argv[i]);
      return 1;
    }
    if (g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
      if (!add_dir (argv[i]))
        return 1;
    } else {
      add_one (argv[i]);
    }
  }
  return g_test_run ();
}
