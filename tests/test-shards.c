/* Sharded indexes served from elsewhere: shards built by annals, served
 * by xapian-tcpsrv (read-only unless --writable) on 127.0.0.1, give annals search and
 * annals.cgi the answers of the local index; with one server gone, both
 * fail naming it (exit 75, HTTP 503), never with partial results. */
#include "tests/test-run.h"
#include "tests/test-servers.h"
#include "tests/test-util.h"

typedef struct {
  char *tmp;
  char *root;
  TestServer *servers[2];
  guint ports[2];
} Fixture;

static const char *const queries[] = {
  "kernel", "s:summit", "f:torvalds", "\"code of conduct\"", "maintainer AND rust", "d:2021..2022", "b:uefi OR b:bmc",
};

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tmp = test_util_tmpdir_with ("root", &f->root);
}

static void
stop_server (Fixture *f, guint i)
{
  g_clear_pointer (&f->servers[i], test_server_stop);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (f->servers); i++)
    stop_server (f, i);
  test_util_tmpdir_clear (&f->tmp, &f->root);
}

/* Each server has its own process group, since xapian-tcpsrv passes a
 * SIGTERM on to its whole group (its connections' processes). */
static void
start_server (Fixture *f, guint i, const char *db)
{
  f->ports[i] = test_server_free_port ();
  g_autofree char *port = g_strdup_printf ("%u", f->ports[i]);
  char *argv[] = { "xapian-tcpsrv", "--interface", "127.0.0.1", "--port", port, "--quiet", (char *) db, NULL };
  f->servers[i] = test_server_start (argv, NULL, NULL, f->ports[i], NULL, TEST_SERVER_OWN_GROUP);
}

/* Every query's results from annals search, one block each. */
static char *
answers (Fixture *f)
{
  GString *all = g_string_new (NULL);
  for (guint q = 0; q < G_N_ELEMENTS (queries); q++) {
    Run r = run_full (f->root, NULL, 0, NULL, "search", "--list", "ks", "--limit", "50", queries[q], NULL);
    if (r.status != 0)
      g_error ("search '%s' exited %d: %s", queries[q], r.status, r.err);
    g_string_append_printf (all, "== %s\n%s", queries[q], r.out);
    run_clear (&r);
  }
  return g_string_free (all, FALSE);
}

static void
set_remote (Fixture *f, const char *value)
{
  g_autofree char *conf = g_build_filename (f->root, "annals.conf", NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (kf, conf, G_KEY_FILE_KEEP_COMMENTS, NULL));
  if (value != NULL) {
    g_key_file_set_string (kf, "list ks", "index-remote", value);
    g_key_file_set_string (kf, "list ks", "index-remote-timeout", "2");
  } else {
    g_key_file_remove_key (kf, "list ks", "index-remote", NULL);
  }
  g_assert_true (g_key_file_save_to_file (kf, conf, NULL));
}

static gboolean
have_tcpsrv (void)
{
  g_autofree char *tcpsrv = g_find_program_in_path ("xapian-tcpsrv");
  if (tcpsrv == NULL)
    g_test_skip ("xapian-tcpsrv is missing: scripts/install-deps test installs xapian-tools");
  return tcpsrv != NULL;
}

/* The sample in list ks, indexed in 2 shards, each served from a copy
 * (as another host would hold it) by its xapian-tcpsrv; the local index
 * moved away. */
static void
serve_shards (Fixture *f)
{
  g_autofree char *source_root = g_strdup (g_getenv ("ANNALS_SOURCE_ROOT"));
  g_assert_nonnull (source_root);
  g_autofree char *sample = g_build_filename (source_root, "samples", "ksummit-sample.mbox.gz", NULL);
  assert_ok (run (f->root, "init"));
  assert_ok (run (f->root, "list-add", "ks"));
  assert_ok (run (f->root, "ingest", "ks", "--quiet", sample));
  assert_ok (run (f->root, "index", "--rebuild", "--shards", "2", "--quiet", "ks"));
  for (guint i = 0; i < 2; i++) {
    g_autofree char *name = g_strdup_printf ("shard-%u", i);
    g_autofree char *db = g_build_filename (f->root, "ks", "index", name, NULL);
    g_autofree char *host = g_strdup_printf ("%s/host%u", f->tmp, i);
    g_autofree char *cmd = g_strdup_printf ("cp -r '%s' '%s'", db, host);
    g_assert_cmpint (system (cmd), ==, 0);
    start_server (f, i, host);
  }
  g_autofree char *remote = g_strdup_printf ("127.0.0.1:%u, 127.0.0.1:%u", f->ports[0], f->ports[1]);
  set_remote (f, remote);
  g_autofree char *index = g_build_filename (f->root, "ks", "index", NULL);
  g_autofree char *moved = g_build_filename (f->root, "ks", "index.away", NULL);
  g_assert_cmpint (g_rename (index, moved), ==, 0);
}

/* How many connections wait in the accept queue of the server on
 * 127.0.0.1:port (/proc/net/tcp's rx_queue of a listening socket): a
 * stopped server accepts none, so each attempt to reach it stays there. */
static guint
waiting_connections (guint port)
{
  g_autofree char *table = NULL;
  g_assert_true (g_file_get_contents ("/proc/net/tcp", &table, NULL, NULL));
  g_autofree char *local = g_strdup_printf ("0100007F:%04X 00000000:0000 0A ", port);
  const char *line = strstr (table, local);
  g_assert_nonnull (line);
  /* tx_queue:rx_queue, in hex. */
  const char *colon = strchr (line + strlen (local), ':');
  g_assert_nonnull (colon);
  return (guint) g_ascii_strtoull (colon + 1, NULL, 16);
}

/* How often needle occurs in haystack. */
static guint
occurrences (const char *haystack, const char *needle)
{
  guint n = 0;
  for (const char *p = strstr (haystack, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

/* A stopped server (SIGSTOP: it takes connections into its queue and
 * never answers) fails the search after one timeout, naming it once in
 * one sentence: the stopped shard is asked once per search. */
static void
test_stopped (Fixture *f, gconstpointer data)
{
  if (!have_tcpsrv ())
    return;
  serve_shards (f);
  g_autofree char *stopped = g_strdup_printf ("127.0.0.1:%u", f->ports[1]);
  g_assert_cmpint (kill (test_server_pid (f->servers[1]), SIGSTOP), ==, 0);
  g_assert_cmpuint (waiting_connections (f->ports[1]), ==, 0);
  /* A hang guard, not a timing assertion: index-remote-timeout is 2 s. */
  alarm (300);
  Run r = run_full (f->root, NULL, 0, NULL, "search", "--count", "--list", "ks", "kernel", NULL);
  g_test_message ("%s", r.err);
  g_assert_cmpint (r.status, ==, 75);
  g_assert_cmpstr (r.out, ==, "");
  g_assert_nonnull (strstr (r.err, "shard 1 of the index of 'ks'"));
  g_assert_cmpuint (occurrences (r.err, stopped), ==, 1);
  g_assert_nonnull (strstr (r.err, "timed out"));
  g_assert_null (strstr (r.err, "Error"));   /* no raw Xapian text */
  g_assert_null (strstr (r.err, "context")); /* (Xapian's "context: remote:tcp(...)") */
  g_assert_cmpuint (occurrences (r.err, "\n"), ==, 1);
  run_clear (&r);
  g_assert_cmpuint (waiting_connections (f->ports[1]), ==, 1);

  g_autofree char *page = test_server_cgi_get (f->root, "/ks/", "q=kernel");
  g_test_message ("%.300s", page);
  g_assert_true (g_str_has_prefix (page, "Status: 503 Service Unavailable\r\n"));
  g_assert_nonnull (strstr (page, "shard 1 of the index of &#39;ks&#39;"));
  g_assert_cmpuint (occurrences (page, stopped), ==, 1);
  g_assert_nonnull (strstr (page, "timed out"));
  g_assert_cmpuint (waiting_connections (f->ports[1]), ==, 2);
  alarm (0);
}

static void
test_remote (Fixture *f, gconstpointer data)
{
  if (!have_tcpsrv ())
    return;
  g_autofree char *source_root = g_strdup (g_getenv ("ANNALS_SOURCE_ROOT"));
  g_assert_nonnull (source_root);
  g_autofree char *sample = g_build_filename (source_root, "samples", "ksummit-sample.mbox.gz", NULL);
  assert_ok (run (f->root, "init"));
  assert_ok (run (f->root, "list-add", "ks"));
  assert_ok (run (f->root, "ingest", "ks", "--quiet", sample));
  g_autofree char *unsharded = answers (f);
  g_autofree char *page_one = test_server_cgi_get (f->root, "/ks/", "q=kernel");
  assert_ok (run (f->root, "index", "--rebuild", "--shards", "2", "--quiet", "ks"));
  g_autofree char *local = answers (f);
  g_assert_cmpstr (local, ==, unsharded);

  g_test_message ("two shards, each from its xapian-tcpsrv");
  /* Each served from a copy, as another host would hold it. */
  for (guint i = 0; i < 2; i++) {
    g_autofree char *name = g_strdup_printf ("shard-%u", i);
    g_autofree char *db = g_build_filename (f->root, "ks", "index", name, NULL);
    g_autofree char *host = g_strdup_printf ("%s/host%u", f->tmp, i);
    g_autofree char *cmd = g_strdup_printf ("cp -r '%s' '%s'", db, host);
    g_assert_cmpint (system (cmd), ==, 0);
    start_server (f, i, host);
  }
  g_autofree char *remote = g_strdup_printf ("127.0.0.1:%u, 127.0.0.1:%u", f->ports[0], f->ports[1]);
  set_remote (f, remote);
  /* Not the local index: it is moved away. */
  g_autofree char *index = g_build_filename (f->root, "ks", "index", NULL);
  g_autofree char *moved = g_build_filename (f->root, "ks", "index.away", NULL);
  g_assert_cmpint (g_rename (index, moved), ==, 0);
  g_autofree char *served = answers (f);
  g_assert_cmpstr (served, ==, unsharded);
  g_autofree char *page = test_server_cgi_get (f->root, "/ks/", "q=kernel");
  g_assert_false (g_str_has_prefix (page, "Status: 5"));
  /* The same page as from the local index, below its headers. */
  g_assert_nonnull (strstr (page_one, "\r\n\r\n"));
  g_assert_cmpstr (strstr (page, "\r\n\r\n"), ==, strstr (page_one, "\r\n\r\n"));

  g_test_message ("one server gone: exit 75 and 503, naming it");
  stop_server (f, 1);
  /* Stopping one server leaves the other serving (its own group). */
  g_assert_true (test_server_port_open (f->ports[0]));
  g_autofree char *gone = g_strdup_printf ("127.0.0.1:%u", f->ports[1]);
  Run r = run_full (f->root, NULL, 0, NULL, "search", "--list", "ks", "kernel", NULL);
  g_test_message ("%s", r.err);
  g_assert_cmpint (r.status, ==, 75);
  /* One sentence: the shard, its host:port once, the short cause. */
  g_assert_nonnull (strstr (r.err, "shard 1 of the index of 'ks'"));
  g_assert_cmpuint (occurrences (r.err, gone), ==, 1);
  g_assert_nonnull (strstr (r.err, "connection refused"));
  g_assert_null (strstr (r.err, "Error"));
  g_assert_cmpstr (r.out, ==, "");
  run_clear (&r);
  r = run_full (f->root, NULL, 0, NULL, "search", "kernel", NULL); /* every list, as /all/ */
  g_assert_cmpint (r.status, ==, 75);
  g_assert_cmpuint (occurrences (r.err, gone), ==, 1);
  g_assert_nonnull (strstr (r.err, "connection refused"));
  run_clear (&r);
  for (guint p = 0; p < 2; p++) {
    g_autofree char *out = test_server_cgi_get (f->root, p == 0 ? "/ks/" : "/all/", "q=kernel");
    g_test_message ("%.80s", out);
    g_assert_true (g_str_has_prefix (out, "Status: 503 Service Unavailable\r\n"));
    g_assert_cmpuint (occurrences (out, gone), ==, 1);
    g_assert_nonnull (strstr (out, "connection refused"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("Remote shards through xapian-tcpsrv: the same answers, and 503 / exit 75 when one is gone");
  g_test_add ("/shards/remote/search-and-unreachable", Fixture, NULL, fixture_setup, test_remote, fixture_teardown);
  g_test_add ("/shards/remote/stopped", Fixture, NULL, fixture_setup, test_stopped, fixture_teardown);
  return g_test_run ();
}
