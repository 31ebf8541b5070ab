/* pull: fetches a list's mail from an IMAP mailbox or an NNTP group.
 *
 * A source is a URL without a password: imap://user@host[:port]/MAILBOX,
 * imaps://..., nntp://[user@]host[:port]/GROUP, nntps://...  An
 * AnnalsPull connects (TLS verified against the system's CAs or a given
 * CA file), logs in, selects the mailbox or group, and fetches what is
 * new since the position saved in its state file: IMAP UIDs under one
 * UIDVALIDITY, NNTP article numbers.
 *
 * Fetched messages go into an AnnalsIngest (dedupe, log, index) batch by
 * batch; once the store has committed a batch, the position is written to
 * the state file (write, fsync, rename, fsync the folder).  A kill at any
 * moment thus loses nothing: at worst the last batch is fetched again and
 * the store skips it as duplicates.
 *
 * Servers send mail with CRLF line ends; the store keeps what an MTA
 * would have delivered, so CRLF becomes LF (the same bytes an ingest of
 * the server's maildir gives).
 *
 * The library never prints: failures are GErrors in ANNALS_PULL_ERROR,
 * and things worth a warning (a changed UIDVALIDITY) are queued for the
 * caller (annals_pull_take_warnings).  Passwords appear in no message.
 */
#pragma once

#include "archiver/ingest.h"

G_BEGIN_DECLS

#define ANNALS_PULL_ERROR (annals_pull_error_quark ())
GQuark annals_pull_error_quark (void);

typedef enum {
  ANNALS_PULL_ERROR_BAD_URL,     /* not a pull URL, or a password in it */
  ANNALS_PULL_ERROR_CREDENTIALS, /* credentials file unsafe or unreadable */
  ANNALS_PULL_ERROR_NO_HOST,     /* the host name does not resolve */
  ANNALS_PULL_ERROR_UNAVAILABLE, /* cannot connect, TLS failed, protocol refused */
  ANNALS_PULL_ERROR_AUTH,        /* the server refused the login */
  ANNALS_PULL_ERROR_NO_MAILBOX,  /* no such mailbox or group */
  ANNALS_PULL_ERROR_TEMPFAIL,    /* connection lost, message truncated: try again */
  ANNALS_PULL_ERROR_STATE,       /* the state file cannot be read or written */
} AnnalsPullError;

typedef enum {
  ANNALS_PULL_IMAP,
  ANNALS_PULL_NNTP,
} AnnalsPullProtocol;

typedef struct {
  AnnalsPullProtocol protocol;
  gboolean tls; /* imaps://, nntps:// */
  char *user;   /* NULL: none given (anonymous NNTP) */
  char *host;
  guint16 port;
  char *mailbox;   /* IMAP mailbox or NNTP group, percent-decoded */
  char *canonical; /* scheme://[user@]host:port/mailbox: names the source */
} AnnalsPullUrl;

/* Parses a source URL.  Refuses a password in it, saying where to put it. */
AnnalsPullUrl *annals_pull_url_parse (const char *url, GError **error);
void annals_pull_url_free (AnnalsPullUrl *url);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsPullUrl, annals_pull_url_free)

/* The password in a credentials file: its first line.  Refuses a file
 * that its group or others may read or write.  A new string. */
char *annals_pull_read_credentials (const char *path, GError **error);

typedef struct {
  const char *password; /* NULL: no login (NNTP) */
  const char *ca_file;  /* NULL: the system's trusted CAs */
  gboolean starttls;    /* imap:// only: STARTTLS before login, required */
  int cancel_fd;        /* readable when the caller wants a clean stop; -1: none */
  guint timeout;        /* network timeout in seconds (0: 60) */
} AnnalsPullOptions;

typedef struct _AnnalsPull AnnalsPull;

/* url and options are copied.  state_path: the state file. */
AnnalsPull *annals_pull_new (const AnnalsPullUrl *url, const AnnalsPullOptions *options, const char *state_path);
void annals_pull_free (AnnalsPull *pull);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsPull, annals_pull_free)

/* Connects, logs in, selects the mailbox or group and reads the state. */
gboolean annals_pull_connect (AnnalsPull *pull, GError **error);
gboolean annals_pull_connected (AnnalsPull *pull);
/* Drops the connection (after an error, before connecting again). */
void annals_pull_disconnect (AnnalsPull *pull);

/* Looks for messages newer than the saved position: sets *count to how
 * many (0: nothing to fetch). */
gboolean annals_pull_check (AnnalsPull *pull, guint64 *count, GError **error);

/* Fetches what annals_pull_check found into ingest, committing and
 * saving the position after each batch.  *fetched counts the messages
 * handed to ingest.  Stops early, without error, once cancel_fd is
 * readable (what was fetched is committed and its position saved). */
gboolean annals_pull_fetch (AnnalsPull *pull, AnnalsIngest *ingest, guint64 *fetched, GError **error);

/* An AnnalsIngestCommitted for the ingest given to annals_pull_fetch:
 * saves the position as soon as the store has committed a batch, before
 * the log and the index catch up, so that a kill in between does not
 * make the next run fetch the batch again.  (annals_pull_fetch saves it
 * after the commit anyway; this only narrows the window.) */
void annals_pull_committed (gpointer pull, guint64 count);

/* Waits up to seconds for new mail: IMAP IDLE where the server has it,
 * else a plain wait.  Returns early when cancel_fd becomes readable. */
gboolean annals_pull_wait (AnnalsPull *pull, guint seconds, GError **error);

/* Warnings queued since the last call: a new NULL-terminated vector. */
char **annals_pull_take_warnings (AnnalsPull *pull);

/* Whether cancel_fd is readable. */
gboolean annals_pull_cancelled (AnnalsPull *pull);

/* The state file for url in folder dir: dir/<host>-<hash>.state.  New. */
char *annals_pull_state_path (const char *dir, const AnnalsPullUrl *url);

G_END_DECLS
