/* Runs a fuzz target over files given on the command line, as a TAP
 * test: how the targets run in the ordinary test suite without a fuzzer
 * (GLib's fuzzing/driver.c does the same). */
#include <glib.h>
#include <stdint.h>

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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("A fuzz target over its seed files and their prefixes");
  for (int i = 1; i < argc; i++) {
    g_autofree char *base = g_path_get_basename (argv[i]);
    g_autofree char *name = g_strdup_printf ("/fuzz/%s", base);
    g_test_add_data_func (name, argv[i], run_one);
  }
  return g_test_run ();
}
