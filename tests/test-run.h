/* Helpers for end-to-end tests: run the annals binary and check what it
 * says.  ANNALS_BIN (set by meson) names the binary. */
#pragma once

#include <glib.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static inline const char *
annals_bin (void)
{
  const char *bin = g_getenv ("ANNALS_BIN");
  g_assert_nonnull (bin);
  return bin;
}

typedef struct {
  int status; /* exit status, or 128 + signal */
  char *out;
  gsize out_len;
  char *err;
} Run;

static inline void
run_clear (Run *r)
{
  g_free (r->out);
  g_free (r->err);
}

typedef struct {
  rlim_t fsize;
  uid_t uid;
} ChildLimits;

static inline void
child_setup (gpointer data)
{
  ChildLimits *l = data;
  if (l == NULL)
    return;
  if (l->fsize > 0) {
    struct rlimit rl = { l->fsize, l->fsize };
    setrlimit (RLIMIT_FSIZE, &rl);
  }
  if (l->uid != 0) {
    if (setgid (l->uid) != 0 || setuid (l->uid) != 0)
      _exit (99);
  }
}

/* An argv (NULL-terminated) of prog (when not NULL), first and the
 * arguments in ap up to NULL; the strings are borrowed. */
static inline GPtrArray *
run_argv_va (const char *prog, const char *first, va_list ap)
{
  GPtrArray *argv = g_ptr_array_new ();
  if (prog != NULL)
    g_ptr_array_add (argv, (gpointer) prog);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* Runs annals with ANNALS_ROOT=root, stdin from input (may be NULL). */
static inline Run
run_full (const char *root, const void *input, gsize input_len, ChildLimits *limits, const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  g_autoptr (GPtrArray) argv = run_argv_va (annals_bin (), first, ap);
  va_end (ap);
  g_auto (GStrv) env = g_get_environ ();
  env = root ? g_environ_setenv (env, "ANNALS_ROOT", root, TRUE) : g_environ_unsetenv (env, "ANNALS_ROOT");
  int in_fd, out_fd, err_fd;
  GPid pid;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv->pdata, env, G_SPAWN_DO_NOT_REAP_CHILD, child_setup,
                                           limits, &pid, &in_fd, &out_fd, &err_fd, &error));
  g_assert_no_error (error);
  /* annals may exit before it has read all its input (an oversized
   * message, a lock it cannot get): the write then fails with EPIPE
   * instead of killing the test. */
  signal (SIGPIPE, SIG_IGN);
  /* Feed stdin from a thread-free loop: write all, then read outputs.
   * Inputs here are small enough for the pipe or read concurrently by
   * annals before it writes anything. */
  const guint8 *p = input;
  gsize left = input ? input_len : 0;
  while (left > 0) {
    ssize_t n = write (in_fd, p, left);
    if (n <= 0)
      break;
    p += n;
    left -= (gsize) n;
  }
  close (in_fd);
  g_autoptr (GIOChannel) oc = g_io_channel_unix_new (out_fd);
  g_autoptr (GIOChannel) ec = g_io_channel_unix_new (err_fd);
  g_io_channel_set_encoding (oc, NULL, NULL);
  g_io_channel_set_encoding (ec, NULL, NULL);
  g_io_channel_set_close_on_unref (oc, TRUE);
  g_io_channel_set_close_on_unref (ec, TRUE);
  Run r = { 0 };
  g_io_channel_read_to_end (oc, &r.out, &r.out_len, NULL);
  g_io_channel_read_to_end (ec, &r.err, NULL, NULL);
  int status;
  waitpid (pid, &status, 0);
  g_spawn_close_pid (pid);
  r.status = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
  if (r.err == NULL)
    r.err = g_strdup ("");
  if (r.out == NULL)
    r.out = g_strdup ("");
  g_test_message ("annals %s -> %d: %s", first, r.status, r.err);
  return r;
}

#define run(root, ...) run_full (root, NULL, 0, NULL, __VA_ARGS__, NULL)

static inline void
assert_ok (Run r)
{
  if (r.status != 0)
    g_error ("annals failed (%d): %s", r.status, r.err);
  run_clear (&r);
}

/* Checks an exit status without consuming r; on a mismatch the failure
 * shows what annals printed on stderr (an ASan report, say). */
#define assert_status(r, expected)                                                                                     \
  do {                                                                                                                 \
    if ((r).status != (expected))                                                                                      \
      g_error ("annals exited %d, expected %d; its stderr:\n%s", (r).status, (expected), (r).err);                     \
  } while (0)

static inline void
assert_fails (Run r, int status, const char *says)
{
  g_assert_cmpint (r.status, ==, status);
  if (strstr (r.err, says) == NULL)
    g_error ("expected '%s' in: %s", says, r.err);
  run_clear (&r);
}
