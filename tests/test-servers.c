/* Servers, CGI requests and shell commands for the end-to-end tests
 * (tests/test-servers.h). */
#include "tests/test-servers.h"
#include "tests/test-run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long a server may take to answer, and to stop, in 50 ms steps. */
#define START_STEPS 600
#define STOP_STEPS 200

struct _TestServer {
  GPid pid;
  gboolean group; /* signalled as a process group */
  char *name;     /* argv[0], for messages */
  char *err_path; /* its stderr */
};

/* The servers running now, killed when a failed assertion aborts the
 * test program (a group's pid negated); kill() is safe in a handler. */
static volatile pid_t running[32];

static void
kill_running_on_abort (int sig)
{
  for (guint i = 0; i < G_N_ELEMENTS (running); i++)
    if (running[i] != 0)
      kill (running[i], SIGTERM);
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
remember (pid_t target)
{
  static gboolean handlers;
  if (!handlers) {
    signal (SIGABRT, kill_running_on_abort);
    signal (SIGTRAP, kill_running_on_abort);
    handlers = TRUE;
  }
  for (guint i = 0; i < G_N_ELEMENTS (running); i++)
    if (running[i] == 0) {
      running[i] = target;
      return;
    }
  g_error ("more than %u test servers at once", (guint) G_N_ELEMENTS (running));
}

static void
forget (pid_t target)
{
  for (guint i = 0; i < G_N_ELEMENTS (running); i++)
    if (running[i] == target)
      running[i] = 0;
}

guint16
test_server_free_port (void)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint (fd, >=, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  g_assert_cmpint (bind (fd, (struct sockaddr *) &a, sizeof a), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &a, &len), ==, 0);
  close (fd);
  return ntohs (a.sin_port);
}

gboolean
test_server_port_open (guint16 port)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint (fd, >=, 0);
  struct sockaddr_in a
      = { .sin_family = AF_INET, .sin_port = htons (port), .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  gboolean ok = connect (fd, (struct sockaddr *) &a, sizeof a) == 0;
  close (fd);
  return ok;
}

gboolean
test_server_wait_port (guint16 port)
{
  for (int i = 0; i < START_STEPS; i++) {
    if (test_server_port_open (port))
      return TRUE;
    g_usleep (50000);
  }
  return test_server_port_open (port);
}

/* The server dies with the test program even when it is killed. */
static void
server_child_setup (gpointer data)
{
  if (GPOINTER_TO_INT (data)) {
    setpgid (0, 0);
    prctl (PR_SET_PDEATHSIG, SIGKILL);
  } else {
    prctl (PR_SET_PDEATHSIG, SIGTERM);
  }
}

/* The last 4 KiB of a file, or a note that there is none. */
static char *
file_tail (const char *path)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  if (path == NULL || !g_file_get_contents (path, &text, &len, NULL))
    return g_strdup ("(none)");
  if (len == 0)
    return g_strdup ("(empty)");
  return g_strdup (len > 4096 ? text + len - 4096 : text);
}

static void server_fail (TestServer *s, const char *log, const char *fmt, ...) G_GNUC_PRINTF (3, 4) G_GNUC_NORETURN;

/* Ends the test saying why the server is not serving, with what it said. */
static void
server_fail (TestServer *s, const char *log, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_autofree char *err = file_tail (s->err_path);
  g_autofree char *log_text = log ? file_tail (log) : NULL;
  if (log != NULL)
    g_error ("%s %s\n--- its stderr:\n%s\n--- %s:\n%s", s->name, why, err, log, log_text);
  g_error ("%s %s\n--- its stderr:\n%s", s->name, why, err);
}

TestServer *
test_server_start (char **argv, char **env, const char *cwd, guint16 port, const char *log, TestServerFlags flags)
{
  TestServer *s = g_new0 (TestServer, 1);
  s->group = (flags & TEST_SERVER_OWN_GROUP) != 0;
  s->name = g_path_get_basename (argv[0]);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmpl = g_strdup_printf ("annals-%s-XXXXXX.err", s->name);
  int err_fd = g_file_open_tmp (tmpl, &s->err_path, &error);
  g_assert_no_error (error);
  gboolean ok = g_spawn_async_with_fds (
      cwd, argv, env, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, server_child_setup,
      GINT_TO_POINTER (s->group), &s->pid, -1, -1, err_fd, &error);
  close (err_fd);
  g_assert_no_error (error);
  g_assert_true (ok);
  remember (s->group ? -s->pid : s->pid);
  for (int i = 0; i < START_STEPS; i++) {
    if (test_server_port_open (port))
      return s;
    int status;
    if (waitpid (s->pid, &status, WNOHANG) == s->pid) {
      forget (s->group ? -s->pid : s->pid);
      if (WIFEXITED (status))
        server_fail (s, log, "exited with status %d before it answered on 127.0.0.1:%u", WEXITSTATUS (status), port);
      server_fail (s, log, "died of signal %d before it answered on 127.0.0.1:%u", WTERMSIG (status), port);
    }
    g_usleep (50000);
  }
  if (test_server_port_open (port))
    return s;
  server_fail (s, log, "did not answer on 127.0.0.1:%u within %d s", port, START_STEPS / 20);
}

GPid
test_server_pid (TestServer *s)
{
  return s->pid;
}

void
test_server_stop (TestServer *s)
{
  if (s == NULL)
    return;
  pid_t target = s->group ? -s->pid : s->pid;
  kill (target, SIGTERM);
  /* A stopped (SIGSTOP) server takes its SIGTERM once continued. */
  kill (target, SIGCONT);
  gboolean gone = FALSE;
  for (int i = 0; i < STOP_STEPS && !gone; i++) {
    gone = waitpid (s->pid, NULL, WNOHANG) == s->pid;
    if (!gone)
      g_usleep (50000);
  }
  if (!gone) {
    g_test_message ("%s did not stop on SIGTERM: SIGKILL", s->name);
    kill (target, SIGKILL);
    waitpid (s->pid, NULL, 0);
  }
  forget (target);
  g_spawn_close_pid (s->pid);
  g_unlink (s->err_path);
  g_free (s->err_path);
  g_free (s->name);
  g_free (s);
}

TestServer *
test_server_start_lighttpd (const char *run_dir, const char *root, guint16 port, gboolean fastcgi, const char *extra)
{
  g_autofree char *htdocs = g_build_filename (run_dir, "htdocs", NULL);
  g_assert_cmpint (g_mkdir_with_parents (htdocs, 0755), ==, 0);
  g_autofree char *cgi = test_server_cgi_path ();
  g_autofree char *link = g_build_filename (htdocs, "annals.cgi", NULL);
  g_unlink (link);
  g_assert_cmpint (symlink (cgi, link), ==, 0);
  g_autofree char *in = test_source_path ("web-cgi/lighttpd.conf.in");
  g_autofree char *conf = NULL;
  g_assert_true (g_file_get_contents (in, &conf, NULL, NULL));
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  const char *subst[][2] = {
    { "@PORT@", port_text },
    { "@RUNDIR@", run_dir },
    { "@ROOT@", root },
    { "@CGI@", cgi },
    { "@EXT@", fastcgi ? "fcgi" : "cgi" },
    { "@MODE@", fastcgi ? "fastcgi" : "cgi" },
  };
  g_autoptr (GString) s = g_string_new (conf);
  for (guint i = 0; i < G_N_ELEMENTS (subst); i++)
    g_string_replace (s, subst[i][0], subst[i][1], 0);
  if (extra != NULL)
    g_string_append (s, extra);
  g_autofree char *conf_path = g_build_filename (run_dir, "lighttpd.conf", NULL);
  g_assert_true (g_file_set_contents (conf_path, s->str, -1, NULL));
  g_autofree char *lighttpd = test_server_find_program ("lighttpd");
  g_autofree char *log = g_build_filename (run_dir, "error.log", NULL);
  char *argv[] = { lighttpd, "-D", "-f", conf_path, NULL };
  return test_server_start (argv, NULL, NULL, port, log, TEST_SERVER_DEFAULT);
}

pid_t
test_server_adopt_pidfile (const char *pidfile)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (pidfile, &text, NULL, NULL))
    g_error ("no server pid in '%s'", pidfile);
  pid_t pid = atoi (text);
  g_assert_cmpint (pid, >, 0);
  remember (pid);
  return pid;
}

/* Whether pid is gone: no such process, or a zombie nobody reaps yet. */
static gboolean
process_gone (pid_t pid)
{
  if (kill (pid, 0) != 0 && errno == ESRCH)
    return TRUE;
  g_autofree char *stat_path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  if (!g_file_get_contents (stat_path, &stat, NULL, NULL))
    return TRUE;
  const char *end = strrchr (stat, ')');
  return end != NULL && end[1] == ' ' && end[2] == 'Z';
}

void
test_server_kill (pid_t pid)
{
  if (pid <= 0)
    return;
  kill (pid, SIGTERM);
  gboolean gone = FALSE;
  for (int i = 0; i < STOP_STEPS && !(gone = process_gone (pid)); i++)
    g_usleep (50000);
  if (!gone) {
    g_test_message ("server %d did not stop on SIGTERM: SIGKILL", (int) pid);
    kill (pid, SIGKILL);
  }
  forget (pid);
}

char *
test_server_find_program (const char *name)
{
  char *path = g_find_program_in_path (name);
  if (path == NULL)
    path = g_build_filename ("/usr/sbin", name, NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
    g_error ("%s is not installed: run scripts/install-deps test", name);
  return path;
}

char *
test_source_path (const char *rel)
{
  const char *root = g_getenv ("ANNALS_SOURCE_ROOT");
  g_assert_nonnull (root);
  return g_build_filename (root, rel, NULL);
}

char *
test_server_cgi_path (void)
{
  g_autofree char *cli_dir = g_path_get_dirname (annals_bin ());
  g_autofree char *build_dir = g_path_get_dirname (cli_dir);
  return g_build_filename (build_dir, "web-cgi", "annals.cgi", NULL);
}

char *
test_server_cgi_get (const char *root, const char *path, const char *query)
{
  g_autofree char *cgi = test_server_cgi_path ();
  const char *argv[] = { cgi, NULL };
  g_autofree char *uri = query ? g_strdup_printf ("%s?%s", path, query) : g_strdup (path);
  g_auto (GStrv) env = g_get_environ ();
  env = g_environ_setenv (env, "ANNALS_ROOT", root, TRUE);
  env = g_environ_setenv (env, "REQUEST_METHOD", "GET", TRUE);
  env = g_environ_setenv (env, "REQUEST_URI", uri, TRUE);
  env = g_environ_setenv (env, "SCRIPT_NAME", "", TRUE);
  env = g_environ_setenv (env, "QUERY_STRING", query ? query : "", TRUE);
  char *out = NULL;
  int status;
  g_autoptr (GError) error = NULL;
  g_assert_true (
      g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status, &error));
  g_assert_no_error (error);
  return out;
}

char *
test_sh (const char *cmd, int *status)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int st;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_command_line_sync (cmd, &out, &err, &st, &error));
  g_assert_no_error (error);
  if (status)
    *status = WIFEXITED (st) ? WEXITSTATUS (st) : 128;
  if (err && *err)
    g_test_message ("stderr: %s", err);
  return g_steal_pointer (&out);
}

char *
test_sh_ok (const char *cmd)
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

void
test_run_tool (const char *const *env_extra, const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  g_autoptr (GPtrArray) argv = run_argv_va (NULL, first, ap);
  va_end (ap);
  g_auto (GStrv) env = g_get_environ ();
  for (const char *const *e = env_extra; e != NULL && *e != NULL; e += 2)
    env = g_environ_setenv (env, e[0], e[1], TRUE);
  g_autofree char *out = NULL, *err = NULL;
  int status;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (NULL, (char **) argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s%s", first, out, err);
}
