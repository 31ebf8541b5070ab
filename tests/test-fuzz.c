/* Tests for the fuzz driver (fuzz/fuzz-driver.c), which replays a fuzz
 * target's seeds as a TAP test when there is no fuzzer: given the seed
 * folder, it lists it when it runs, so a crasher dropped into
 * fuzz/seeds/<target>/ is replayed by the next test run, without a
 * reconfigure. */
#include "tests/test-util.h"

#include <string.h>
#include <sys/wait.h>

typedef struct {
  char *tmp;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tmp = test_util_tmpdir ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_util_rm_rf (f->tmp);
  g_free (f->tmp);
}

/* Runs the fuzz-headers driver over args; its TAP output in *out. */
static int
run_driver (const char *const *args, char **out)
{
  const char *bin = g_getenv ("ANNALS_FUZZ_HEADERS");
  g_assert_nonnull (bin);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) bin);
  g_ptr_array_add (argv, (gpointer) "--tap");
  for (const char *const *a = args; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, NULL);
  g_autofree char *err = NULL;
  int status;
  g_autoptr (GError) error = NULL;
  g_assert_true (
      g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("driver: %s%s", *out, err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

static void
add_seed (Fixture *f, const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (f->tmp, dir, name, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_assert_true (g_file_set_contents (path, "Message-ID: <x@y>\nSubject: seed\n\nbody\n", -1, NULL));
}

static void
test_seed_dir (Fixture *f, gconstpointer data)
{
  if (g_getenv ("ANNALS_FUZZ_HEADERS") == NULL) {
    g_test_skip ("the fuzz targets are libFuzzer programs in this build (-Dfuzzing=true)");
    return;
  }
  g_autofree char *seeds = g_build_filename (f->tmp, "seeds", NULL);
  add_seed (f, "seeds", "b.eml");
  add_seed (f, "seeds", "a.eml");
  add_seed (f, "seeds", ".hidden");
  const char *args[] = { seeds, NULL };
  g_autofree char *out = NULL;
  g_assert_cmpint (run_driver (args, &out), ==, 0);
  /* Every seed, in name order; hidden files are not seeds. */
  g_assert_nonnull (strstr (out, "ok 1 /fuzz/a.eml\n"));
  g_assert_nonnull (strstr (out, "ok 2 /fuzz/b.eml\n"));
  g_assert_nonnull (strstr (out, "1..2\n"));
  /* A seed added afterwards is replayed by the same command. */
  add_seed (f, "seeds", "c.eml");
  g_free (g_steal_pointer (&out));
  g_assert_cmpint (run_driver (args, &out), ==, 0);
  g_assert_nonnull (strstr (out, "ok 3 /fuzz/c.eml\n"));
  g_assert_nonnull (strstr (out, "1..3\n"));
}

static void
test_missing_dir (Fixture *f, gconstpointer data)
{
  if (g_getenv ("ANNALS_FUZZ_HEADERS") == NULL) {
    g_test_skip ("the fuzz targets are libFuzzer programs in this build (-Dfuzzing=true)");
    return;
  }
  g_autofree char *none = g_build_filename (f->tmp, "none", NULL);
  const char *args[] = { none, NULL };
  g_autofree char *out = NULL;
  /* A seed folder that is not there fails: it must not pass as 0 tests. */
  g_assert_cmpint (run_driver (args, &out), !=, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("The fuzz driver lists its seed folder when it runs");
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/fuzz-driver/seed-dir/listed-at-run-time", test_seed_dir);
  ADD ("/fuzz-driver/seed-dir/missing", test_missing_dir);
  return g_test_run ();
}
