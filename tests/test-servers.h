/* Helpers for end-to-end tests that start servers (lighttpd, Dovecot,
 * public-inbox-nntpd, xapian-tcpsrv) on 127.0.0.1, run annals.cgi on one
 * request, or run a shell command or a helper program.  Built once into
 * a static library every test program links (tests/meson.build).
 *
 * A server started here dies with the test program, even when a failed
 * assertion aborts it; test_server_stop() stops it otherwise:
 *
 *   guint16 port = test_server_free_port ();
 *   g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", port);
 *   char *argv[] = { "some-server", "--listen", listen, NULL };
 *   TestServer *s = test_server_start (argv, NULL, NULL, port, log_path, TEST_SERVER_DEFAULT);
 *   ...
 *   g_clear_pointer (&s, test_server_stop);
 *
 * Every helper asserts: a failure ends the test with a message that says
 * what did not work (for a server, with what it wrote on stderr). */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* A loopback port nothing listens on now, from the kernel. */
guint16 test_server_free_port (void);

/* Whether something accepts connections on 127.0.0.1:port. */
gboolean test_server_port_open (guint16 port);

/* Waits until 127.0.0.1:port answers, for 30 s at the most: whether it does. */
gboolean test_server_wait_port (guint16 port);

typedef enum {
  TEST_SERVER_DEFAULT = 0,
  /* Its own process group, signalled as a whole: for a server that
   * passes a SIGTERM on to its group (xapian-tcpsrv). */
  TEST_SERVER_OWN_GROUP = 1 << 0,
} TestServerFlags;

typedef struct _TestServer TestServer;

/* Starts argv (argv[0] looked up in PATH) in the foreground with env
 * (NULL: the test's) in cwd (NULL: the test's) and waits until
 * 127.0.0.1:port answers, for 30 s at the most; when it exits first or
 * never answers, the test fails with its stderr and the end of log (a
 * file it writes, or NULL).  Its stdout is dropped.  Stop it with
 * test_server_stop(). */
TestServer *test_server_start (char **argv, char **env, const char *cwd, guint16 port, const char *log,
                               TestServerFlags flags);

/* The server's process id (to signal it, e.g. SIGSTOP). */
GPid test_server_pid (TestServer *server);

/* Stops a server (SIGTERM and SIGCONT, a wait, SIGKILL after 10 s) and
 * frees it; NULL does nothing. */
void test_server_stop (TestServer *server);

/* lighttpd serving root with annals.cgi (the one beside ANNALS_BIN) as
 * plain CGI, or as FastCGI when fastcgi, from web-cgi/lighttpd.conf.in:
 * its configuration, htdocs and logs in run_dir; extra (or NULL) is
 * appended to the configuration. */
TestServer *test_server_start_lighttpd (const char *run_dir, const char *root, guint16 port, gboolean fastcgi,
                                        const char *extra);

/* A server another program started (scripts/serve --background writes
 * its pid to pidfile): its pid, killed too when a failed assertion
 * aborts the test program.  Stop it with test_server_kill(). */
pid_t test_server_adopt_pidfile (const char *pidfile);

/* Stops an adopted server: SIGTERM, then waits until it is gone
 * (SIGKILL after 10 s).  0 does nothing. */
void test_server_kill (pid_t pid);

/* A program from PATH or /usr/sbin (Debian's dovecot, lighttpd);
 * fails the test when it is not installed.  The caller frees it. */
char *test_server_find_program (const char *name);

/* rel in the source tree (ANNALS_SOURCE_ROOT).  The caller frees it. */
char *test_source_path (const char *rel);

/* The path of annals.cgi built beside ANNALS_BIN.  The caller frees it. */
char *test_server_cgi_path (void);

/* annals.cgi run as CGI on one GET of path (query: its query string, or
 * NULL) over the archive at root: its whole output, the status and
 * headers first; its stderr is dropped.  The caller frees it. */
char *test_server_cgi_get (const char *root, const char *path, const char *query);

/* Runs a shell command line: its stdout (the caller frees it), and its
 * exit status in *status when status is not NULL.  Its stderr goes to
 * the test log. */
char *test_sh (const char *cmd, int *status);

/* Runs a shell command line that must exit 0: its stdout (the caller
 * frees it).  A failure shows its stdout and stderr. */
char *test_sh_ok (const char *cmd);

/* Runs a helper program (certtool, git, public-inbox-*) found in PATH,
 * with env_extra (name, value pairs, NULL-terminated; or NULL) added to
 * the environment; it must exit 0.  The arguments end with NULL. */
void test_run_tool (const char *const *env_extra, const char *first, ...) G_GNUC_NULL_TERMINATED;
