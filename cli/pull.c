/* pull: see pull.h. */
#include <glib.h>

#include "archiver/pull.h"
#include "cli/cmdline.h"
#include "cli/ingest-run.h"
#include "cli/pull.h"
#include "core/store.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static int
exit_status (const GError *error)
{
  if (error->domain == ANNALS_PULL_ERROR) {
    switch ((AnnalsPullError) error->code) {
    case ANNALS_PULL_ERROR_BAD_URL:
      return EX_DATAERR;
    case ANNALS_PULL_ERROR_CREDENTIALS:
      return EX_NOPERM;
    case ANNALS_PULL_ERROR_NO_HOST:
      return EX_NOHOST;
    case ANNALS_PULL_ERROR_UNAVAILABLE:
      return EX_UNAVAILABLE;
    case ANNALS_PULL_ERROR_AUTH:
      return EX_NOPERM;
    case ANNALS_PULL_ERROR_NO_MAILBOX:
      return EX_NOINPUT;
    case ANNALS_PULL_ERROR_TEMPFAIL:
      return EX_TEMPFAIL;
    case ANNALS_PULL_ERROR_STATE:
      return EX_IOERR;
    }
  }
  if (g_error_matches (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NO_SPACE)
      || g_error_matches (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_LOCKED))
    return EX_TEMPFAIL;
  return EX_IOERR;
}

/* Errors a later try may not see: --watch backs off and tries again. */
static gboolean
retryable (const GError *error)
{
  return g_error_matches (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_TEMPFAIL)
         || g_error_matches (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_UNAVAILABLE)
         || g_error_matches (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_NO_HOST)
         || g_error_matches (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_LOCKED)
         || g_error_matches (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NO_SPACE);
}

/* SIGTERM and SIGINT write to a pipe: the pull finishes its batch,
 * saves its position and stops. */
static int stop_pipe[2] = { -1, -1 };

static void
on_stop (int sig)
{
  int saved = errno;
  if (write (stop_pipe[1], "x", 1) < 0) {
    /* Full pipe: a stop is pending already. */
  }
  errno = saved;
}

static gboolean
catch_stop_signals (void)
{
  if (pipe2 (stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    return FALSE;
  struct sigaction sa = { 0 };
  sa.sa_handler = on_stop;
  sa.sa_flags = SA_RESTART;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  return TRUE;
}

static void
print_warnings (AnnalsPull *pull, const char *list)
{
  g_auto (GStrv) warnings = annals_pull_take_warnings (pull);
  for (char **w = warnings; *w != NULL; w++)
    g_printerr ("annals pull: %s: warning: %s\n", list, *w);
}

/* What the ingest skips (a message over the size limit), said at once. */
static void
ingest_warning (gpointer list, const char *message)
{
  g_printerr ("annals pull: %s: warning: %s\n", (const char *) list, message);
}

/* The password: --credentials FILE, else [list NAME] pull-credentials
 * (relative to ROOT), else $ANNALS_PULL_PASSWORD; NULL if none. */
static gboolean
find_password (AnnalsConfig *config, const char *list, const char *credentials, char **password, GError **error)
{
  *password = NULL;
  g_autofree char *from_config = annals_config_list_get (config, list, "pull-credentials");
  g_autofree char *path = NULL;
  if (credentials != NULL) {
    path = g_strdup (credentials);
  } else if (from_config != NULL && *from_config != '\0') {
    if (g_path_is_absolute (from_config)) {
      path = g_strdup (from_config);
    } else {
      g_autofree char *list_dir = annals_config_list_dir (config, list, NULL, error);
      if (list_dir == NULL)
        return FALSE;
      g_autofree char *root = g_path_get_dirname (list_dir);
      path = g_build_filename (root, from_config, NULL);
    }
  }
  if (path != NULL) {
    *password = annals_pull_read_credentials (path, error);
    return *password != NULL;
  }
  const char *env = g_getenv ("ANNALS_PULL_PASSWORD");
  if (env != NULL && *env != '\0')
    *password = g_strdup (env);
  return TRUE;
}

/* One round: what is new goes into the store, through the same ingest
 * path as "annals ingest" (writer, log, index), and its position is
 * saved.  The list's lock is held only while there is mail to store.
 * *indexed is FALSE when the index could not take what was stored (said
 * already): the round itself succeeded. */
static gboolean
pull_round (AnnalsPull *pull, AnnalsConfig *config, const char *list, const char *source, guint lock_timeout_ms,
            gboolean quiet, gboolean no_index, gboolean say_nothing_new, gboolean *indexed, GError **error)
{
  *indexed = TRUE;
  guint64 count = 0;
  if (!annals_pull_check (pull, &count, error))
    return FALSE;
  print_warnings (pull, list);
  if (count == 0) {
    if (!quiet && say_nothing_new)
      g_print ("%s: nothing new in %s\n", list, source);
    return TRUE;
  }
  g_autoptr (AnnalsIngestRun) run = annals_cli_ingest_run_open (config, "pull", list, lock_timeout_ms, no_index, error);
  if (run == NULL)
    return FALSE;
  annals_cli_ingest_run_set_on_commit (run, annals_pull_committed, pull);
  annals_ingest_set_reporter (run->ingest, NULL, ingest_warning, (gpointer) list);
  guint64 fetched = 0;
  gboolean ok = annals_pull_fetch (pull, run->ingest, &fetched, error);
  /* Whatever was committed is kept, and the index takes it. */
  const AnnalsIngestStats *s = annals_ingest_stats (run->ingest);
  if (!quiet && fetched > 0)
    g_print ("%s: pulled %" G_GUINT64_FORMAT " from %s: archived %" G_GUINT64_FORMAT
             ", duplicates skipped %" G_GUINT64_FORMAT ", Message-ID reused with new content %" G_GUINT64_FORMAT "\n",
             list, fetched, source, s->committed, s->duplicates, s->reused_ids);
  *indexed = annals_cli_ingest_run_close (run, quiet);
  return ok;
}

int
annals_cli_pull (int argc, char **argv)
{
  char *credentials = NULL, *ca_file = NULL;
  gboolean watch = FALSE, starttls = FALSE, quiet = FALSE, no_index = FALSE;
  int interval = 300, lock_timeout = 300, timeout = 60;
  const GOptionEntry entries[] = {
    { "credentials", 0, 0, G_OPTION_ARG_FILENAME, &credentials,
      "File (mode 0600) whose first line is the password (default: the list's pull-credentials in annals.conf, "
      "else $ANNALS_PULL_PASSWORD)",
      "FILE" },
    { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file,
      "Trust the CA certificates in this PEM file instead of the system's", "FILE" },
    { "starttls", 0, 0, G_OPTION_ARG_NONE, &starttls, "imap:// only: switch to TLS with STARTTLS before the login",
      NULL },
    { "watch", 0, 0, G_OPTION_ARG_NONE, &watch,
      "Keep running: IMAP IDLE where the server has it, else poll; stop with SIGTERM or SIGINT", NULL },
    { "interval", 0, 0, G_OPTION_ARG_INT, &interval, "With --watch: seconds between polls (default 300)", "SECONDS" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "Network timeout (default 60)", "SECONDS" },
    { "lock-timeout", 0, 0, G_OPTION_ARG_INT, &lock_timeout,
      "Seconds to wait for another writer of the list (default 300)", "SECONDS" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No summary", NULL },
    { "no-index", 0, 0, G_OPTION_ARG_NONE, &no_index, "Do not update the search index", NULL },
    { NULL },
  };
  if (!annals_cli_parse ("pull", "NAME URL",
                         "Archives into list NAME what is new in an IMAP mailbox or an NNTP group:\n"
                         "  imap://USER@HOST[:PORT]/MAILBOX   imaps://USER@HOST[:PORT]/MAILBOX\n"
                         "  nntp://[USER@]HOST[:PORT]/GROUP    nntps://[USER@]HOST[:PORT]/GROUP\n"
                         "Each run fetches only what came after the last one (its position is kept in\n"
                         "ROOT/NAME/pull/).  The password never goes in the URL: see --credentials.\n"
                         "Exit status: 0 done, 1 stored but not indexed (run 'annals index NAME'), 65 bad URL,\n"
                         "66 no such mailbox or group, 68 unknown host, 69 cannot connect or TLS failed,\n"
                         "75 try again later, 77 login refused, 78 no such list.",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  g_autofree char *credentials_owned = credentials;
  g_autofree char *ca_file_owned = ca_file;
  if (argc != 3)
    return annals_cli_usage ("pull", "give the list NAME and the source URL");
  if (interval < 1 || timeout < 1 || lock_timeout < 0)
    return annals_cli_usage ("pull", "--interval and --timeout take a number of seconds (1 or more)");
  const char *list = argv[1];
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsPullUrl) url = annals_pull_url_parse (argv[2], &error);
  if (url == NULL) {
    annals_cli_fail ("pull", error);
    return EX_DATAERR;
  }
  if (starttls && (url->protocol != ANNALS_PULL_IMAP || url->tls))
    return annals_cli_usage ("pull", "--starttls goes with imap:// URLs only (imaps:// is TLS from the start)");
  g_autoptr (AnnalsConfig) config = annals_cli_open_config ("pull");
  if (config == NULL)
    return EX_CONFIG;
  g_autofree char *state_dir = annals_config_list_dir (config, list, "pull", &error);
  if (state_dir == NULL) {
    annals_cli_fail ("pull", error);
    return EX_CONFIG;
  }
  /* Permanent, as for ingest: a retry would find the list closed again. */
  if (!annals_config_list_check_open (config, list, &error)) {
    annals_cli_fail ("pull", error);
    return EX_UNAVAILABLE;
  }
  g_autofree char *password = NULL;
  if (!find_password (config, list, credentials, &password, &error)) {
    annals_cli_fail ("pull", error);
    return exit_status (error);
  }
  /* Loopback is the one place a password in clear does not travel. */
  if (password != NULL && !url->tls && !starttls && strcmp (url->host, "127.0.0.1") != 0
      && strcmp (url->host, "localhost") != 0 && strcmp (url->host, "[::1]") != 0 && strcmp (url->host, "::1") != 0)
    g_printerr ("annals pull: %s: warning: the password goes to %s unencrypted: use %s\n", list, url->host,
                url->protocol == ANNALS_PULL_IMAP ? "imaps:// or --starttls" : "nntps://");
  if (!catch_stop_signals ()) {
    g_printerr ("annals pull: cannot make a pipe: %s\n", g_strerror (errno));
    return EX_SOFTWARE;
  }
  g_autofree char *state_path = annals_pull_state_path (state_dir, url);
  AnnalsPullOptions options = {
    .password = password,
    .ca_file = ca_file,
    .starttls = starttls,
    .cancel_fd = stop_pipe[0],
    .timeout = (guint) timeout,
  };
  g_autoptr (AnnalsPull) pull = annals_pull_new (url, &options, state_path);
  if (password != NULL)
    explicit_bzero (password, strlen (password));
  guint lock_ms = (guint) lock_timeout * 1000;
  gboolean indexed = TRUE;

  if (!watch) {
    if (!annals_pull_connect (pull, &error)
        || !pull_round (pull, config, list, url->canonical, lock_ms, quiet, no_index, TRUE, &indexed, &error)) {
      print_warnings (pull, list);
      annals_cli_fail ("pull", error);
      return exit_status (error);
    }
    return indexed ? 0 : 1; /* as ingest: stored, but the index is behind */
  }

  /* --watch: errors the next try may not see are retried, waiting twice
   * as long each time up to the interval; the first connection must
   * succeed, so that a wrong URL or password is reported at once. */
  guint backoff = 0;
  gboolean first = TRUE;
  while (!annals_pull_cancelled (pull)) {
    g_clear_error (&error);
    gboolean ok = (annals_pull_connected (pull) || annals_pull_connect (pull, &error))
                  && pull_round (pull, config, list, url->canonical, lock_ms, quiet, no_index, first, &indexed, &error)
                  && (annals_pull_cancelled (pull) || annals_pull_wait (pull, (guint) interval, &error));
    if (ok) {
      backoff = 0;
      first = FALSE;
      continue;
    }
    print_warnings (pull, list);
    if (first || !retryable (error)) {
      annals_cli_fail ("pull", error);
      return exit_status (error);
    }
    backoff = backoff == 0 ? 5 : MIN (backoff * 2, (guint) MAX (interval, 5));
    g_printerr ("annals pull: %s: %s; trying again in %u s\n", list, error->message, backoff);
    annals_pull_disconnect (pull);
    struct pollfd p = { .fd = stop_pipe[0], .events = POLLIN };
    while (poll (&p, 1, (int) backoff * 1000) < 0 && errno == EINTR)
      ;
  }
  if (!quiet)
    g_printerr ("annals pull: %s: stopped; the position is saved\n", list);
  return 0;
}
