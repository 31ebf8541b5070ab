/* pull: see pull.h. */
#include "archiver/pull.h"
#include "core/message.h"

#include <libetpan/libetpan.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (annals_pull_error, annals_pull_error)

/* A batch is committed, and its position saved, every this many
 * messages or bytes; below ANNALS_INGEST_BATCH, so that the ingest never
 * commits on its own in the middle of a batch. */
#define PULL_BATCH 64
#define PULL_BATCH_BYTES (16u << 20)

struct _AnnalsPull {
  AnnalsPullUrl *url;
  char *password;
  char *ca_file;
  gboolean starttls;
  int cancel_fd;
  guint timeout;
  char *state_path;
  GPtrArray *warnings;

  /* The connection. */
  mailimap *imap;
  newsnntp *nntp;
  gboolean has_idle;

  /* The state: the last UID or article number stored, and the IMAP
   * mailbox's UIDVALIDITY. */
  guint64 last;
  guint64 uidvalidity;
  guint64 committing; /* the last of the batch being committed, or 0 */

  /* What annals_pull_check found: UIDs (IMAP) or the range of article
   * numbers (NNTP) to fetch, with sizes for IMAP. */
  GArray *fetch_uids;
  GArray *fetch_sizes;
  guint64 group_first, group_last;
  /* The next to fetch: an index into fetch_uids (IMAP), an article
   * number (NNTP). */
  guint64 cursor;
};

/* URLs. */

void
annals_pull_url_free (AnnalsPullUrl *url)
{
  if (url == NULL)
    return;
  g_free (url->user);
  g_free (url->host);
  g_free (url->mailbox);
  g_free (url->canonical);
  g_free (url);
}

AnnalsPullUrl *
annals_pull_url_parse (const char *text, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GUri) uri = g_uri_parse (text, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_PATH, &local);
  if (uri == NULL) {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_BAD_URL,
                 "'%s' is not a URL: give imap://USER@HOST[:PORT]/MAILBOX or nntp://HOST[:PORT]/GROUP", text);
    return NULL;
  }
  g_autoptr (AnnalsPullUrl) url = g_new0 (AnnalsPullUrl, 1);
  const char *scheme = g_uri_get_scheme (uri);
  guint16 port;
  if (g_ascii_strcasecmp (scheme, "imap") == 0) {
    url->protocol = ANNALS_PULL_IMAP;
    port = 143;
  } else if (g_ascii_strcasecmp (scheme, "imaps") == 0) {
    url->protocol = ANNALS_PULL_IMAP;
    url->tls = TRUE;
    port = 993;
  } else if (g_ascii_strcasecmp (scheme, "nntp") == 0 || g_ascii_strcasecmp (scheme, "news") == 0) {
    url->protocol = ANNALS_PULL_NNTP;
    port = 119;
  } else if (g_ascii_strcasecmp (scheme, "nntps") == 0) {
    url->protocol = ANNALS_PULL_NNTP;
    url->tls = TRUE;
    port = 563;
  } else {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_BAD_URL,
                 "'%s' is neither imap://, imaps://, nntp:// nor nntps://", scheme);
    return NULL;
  }
  if (g_uri_get_password (uri) != NULL) {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_BAD_URL,
                 "the URL holds a password, which the command line would show to every user: remove it, and "
                 "put it in a credentials file of mode 0600 (--credentials FILE, or pull-credentials in the "
                 "list's section of annals.conf) or in $ANNALS_PULL_PASSWORD");
    return NULL;
  }
  if (g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0') {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_BAD_URL, "'%s' names no host", text);
    return NULL;
  }
  const char *path = g_uri_get_path (uri);
  while (*path == '/')
    path++;
  url->mailbox = g_uri_unescape_string (path, NULL);
  if (url->mailbox == NULL || *url->mailbox == '\0' || strpbrk (url->mailbox, "\r\n") != NULL) {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_BAD_URL, "'%s' names no %s after the host", text,
                 url->protocol == ANNALS_PULL_IMAP ? "MAILBOX" : "GROUP");
    return NULL;
  }
  if (url->protocol == ANNALS_PULL_IMAP && g_uri_get_user (uri) == NULL) {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_BAD_URL,
                 "'%s' names no user: give imap://USER@HOST/MAILBOX", text);
    return NULL;
  }
  if (g_uri_get_user (uri) != NULL)
    url->user = g_uri_unescape_string (g_uri_get_user (uri), NULL);
  url->host = g_strdup (g_uri_get_host (uri));
  url->port = g_uri_get_port (uri) > 0 ? (guint16) g_uri_get_port (uri) : port;
  g_autofree char *user = url->user ? g_uri_escape_string (url->user, NULL, FALSE) : NULL;
  g_autofree char *box = g_uri_escape_string (url->mailbox, "/", FALSE);
  g_autofree char *lower = g_ascii_strdown (scheme, -1);
  url->canonical
      = g_strdup_printf ("%s://%s%s%s:%u/%s", lower, user ? user : "", user ? "@" : "", url->host, url->port, box);
  return g_steal_pointer (&url);
}

char *
annals_pull_read_credentials (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_CREDENTIALS, "cannot open credentials file '%s': %s", path,
                 g_strerror (e));
    return NULL;
  }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_CREDENTIALS, "credentials file '%s' is not a regular file",
                 path);
    return NULL;
  }
  if ((st.st_mode & 077) != 0) {
    close (fd);
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_CREDENTIALS,
                 "credentials file '%s' has mode %04o: others may read it; run 'chmod 600 %s' (and change the "
                 "password if others did read it)",
                 path, (unsigned) (st.st_mode & 07777), path);
    return NULL;
  }
  char buf[4096];
  gsize len = 0;
  for (;;) {
    ssize_t n = read (fd, buf + len, sizeof buf - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (gsize) n;
    if (len == sizeof buf - 1)
      break;
  }
  close (fd);
  buf[len] = '\0';
  buf[strcspn (buf, "\r\n")] = '\0';
  if (buf[0] == '\0') {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_CREDENTIALS,
                 "credentials file '%s' is empty: put the password on its first line", path);
    return NULL;
  }
  char *password = g_strdup (buf);
  explicit_bzero (buf, sizeof buf);
  return password;
}

char *
annals_pull_state_path (const char *dir, const AnnalsPullUrl *url)
{
  guint8 digest[32];
  char hash[65];
  annals_store_sha256 ((const guint8 *) url->canonical, strlen (url->canonical), digest, hash);
  g_autofree char *host = g_strdup (url->host);
  g_strcanon (host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", '_');
  g_autofree char *name = g_strdup_printf ("%s-%.16s.state", host, hash);
  return g_build_filename (dir, name, NULL);
}

/* The pull. */

AnnalsPull *
annals_pull_new (const AnnalsPullUrl *url, const AnnalsPullOptions *options, const char *state_path)
{
  AnnalsPull *pull = g_new0 (AnnalsPull, 1);
  pull->url = g_new0 (AnnalsPullUrl, 1);
  *pull->url = *url;
  pull->url->user = g_strdup (url->user);
  pull->url->host = g_strdup (url->host);
  pull->url->mailbox = g_strdup (url->mailbox);
  pull->url->canonical = g_strdup (url->canonical);
  pull->password = g_strdup (options->password);
  pull->ca_file = g_strdup (options->ca_file);
  pull->starttls = options->starttls;
  pull->cancel_fd = options->cancel_fd;
  pull->timeout = options->timeout > 0 ? options->timeout : 60;
  pull->state_path = g_strdup (state_path);
  pull->warnings = g_ptr_array_new_with_free_func (g_free);
  pull->fetch_uids = g_array_new (FALSE, FALSE, sizeof (guint32));
  pull->fetch_sizes = g_array_new (FALSE, FALSE, sizeof (guint32));
  return pull;
}

void
annals_pull_disconnect (AnnalsPull *pull)
{
  if (pull->imap != NULL) {
    mailimap_free (pull->imap); /* closes the stream */
    pull->imap = NULL;
  }
  if (pull->nntp != NULL) {
    newsnntp_free (pull->nntp);
    pull->nntp = NULL;
  }
}

void
annals_pull_free (AnnalsPull *pull)
{
  if (pull == NULL)
    return;
  annals_pull_disconnect (pull);
  annals_pull_url_free (pull->url);
  if (pull->password != NULL)
    explicit_bzero (pull->password, strlen (pull->password));
  g_free (pull->password);
  g_free (pull->ca_file);
  g_free (pull->state_path);
  g_ptr_array_unref (pull->warnings);
  g_array_unref (pull->fetch_uids);
  g_array_unref (pull->fetch_sizes);
  g_free (pull);
}

gboolean
annals_pull_connected (AnnalsPull *pull)
{
  return pull->imap != NULL || pull->nntp != NULL;
}

char **
annals_pull_take_warnings (AnnalsPull *pull)
{
  g_ptr_array_add (pull->warnings, NULL);
  char **w = (char **) g_ptr_array_steal (pull->warnings, NULL);
  return w;
}

gboolean
annals_pull_cancelled (AnnalsPull *pull)
{
  if (pull->cancel_fd < 0)
    return FALSE;
  struct pollfd p = { .fd = pull->cancel_fd, .events = POLLIN };
  return poll (&p, 1, 0) > 0;
}

/* "MAILBOX on HOST:PORT" in messages. */
static char *
where (AnnalsPull *pull)
{
  return g_strdup_printf ("%s '%s' on %s:%u", pull->url->protocol == ANNALS_PULL_IMAP ? "mailbox" : "group",
                          pull->url->mailbox, pull->url->host, pull->url->port);
}

/* State file: a GKeyFile, [pull] url, uidvalidity, last. */

static gboolean
state_load (AnnalsPull *pull, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  pull->last = 0;
  pull->uidvalidity = 0;
  if (!g_key_file_load_from_file (kf, pull->state_path, G_KEY_FILE_NONE, &local)) {
    if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return TRUE;
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_STATE,
                 "cannot read pull state '%s': %s (remove it to fetch everything again; what is archived is skipped)",
                 pull->state_path, local->message);
    return FALSE;
  }
  pull->last = g_key_file_get_uint64 (kf, "pull", "last", NULL);
  pull->uidvalidity = g_key_file_get_uint64 (kf, "pull", "uidvalidity", NULL);
  return TRUE;
}

static gboolean
state_save (AnnalsPull *pull, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_key_file_set_string (kf, "pull", "url", pull->url->canonical);
  if (pull->url->protocol == ANNALS_PULL_IMAP)
    g_key_file_set_uint64 (kf, "pull", "uidvalidity", pull->uidvalidity);
  g_key_file_set_uint64 (kf, "pull", "last", pull->last);
  gsize len;
  g_autofree char *data = g_key_file_to_data (kf, &len, NULL);
  g_autoptr (GError) local = NULL;
  g_autofree char *dir = g_path_get_dirname (pull->state_path);
  if (g_mkdir_with_parents (dir, 0755) != 0
      || !g_file_set_contents_full (pull->state_path, data, (gssize) len,
                                    G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0644, &local)) {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_STATE, "cannot write pull state '%s': %s",
                 pull->state_path, local ? local->message : g_strerror (errno));
    return FALSE;
  }
  /* The rename is durable once the folder is. */
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync (dfd);
    close (dfd);
  }
  return TRUE;
}

/* TLS: libetpan's own GnuTLS code does not check the server's
 * certificate, so the session is ours and libetpan reads through it. */

typedef struct {
  int fd;
  gnutls_session_t session;
  gnutls_certificate_credentials_t creds;
} TlsLow;

/* GNUTLS_E_AGAIN means a timeout (SO_RCVTIMEO) when the socket said so,
 * and otherwise a record with no data (a TLS 1.3 session ticket): read on. */
static gboolean
tls_retry (ssize_t n)
{
  return n == GNUTLS_E_INTERRUPTED || (n == GNUTLS_E_AGAIN && errno != EAGAIN && errno != EWOULDBLOCK);
}

static ssize_t
tls_read (mailstream_low *s, void *buf, size_t count)
{
  TlsLow *t = s->data;
  for (;;) {
    errno = 0;
    ssize_t n = gnutls_record_recv (t->session, buf, count);
    if (tls_retry (n))
      continue;
    if (n == GNUTLS_E_PREMATURE_TERMINATION)
      return 0;
    return n < 0 ? -1 : n;
  }
}

static ssize_t
tls_write (mailstream_low *s, const void *buf, size_t count)
{
  TlsLow *t = s->data;
  for (;;) {
    errno = 0;
    ssize_t n = gnutls_record_send (t->session, buf, count);
    if (tls_retry (n))
      continue;
    return n < 0 ? -1 : n;
  }
}

static int
tls_close (mailstream_low *s)
{
  TlsLow *t = s->data;
  if (t->fd >= 0) {
    gnutls_bye (t->session, GNUTLS_SHUT_WR);
    close (t->fd);
    t->fd = -1;
  }
  return 0;
}

static int
tls_get_fd (mailstream_low *s)
{
  TlsLow *t = s->data;
  return t->fd;
}

static void
tls_free (mailstream_low *s)
{
  TlsLow *t = s->data;
  gnutls_deinit (t->session);
  gnutls_certificate_free_credentials (t->creds);
  g_free (t);
  free (s);
}

static struct mailstream_cancel *
tls_get_cancel (mailstream_low *s)
{
  return NULL;
}

static carray *
tls_get_certificate_chain (mailstream_low *s)
{
  return NULL;
}

static mailstream_low_driver tls_driver = {
  .mailstream_read = tls_read,
  .mailstream_write = tls_write,
  .mailstream_close = tls_close,
  .mailstream_get_fd = tls_get_fd,
  .mailstream_free = tls_free,
  .mailstream_get_cancel = tls_get_cancel,
  .mailstream_get_certificate_chain = tls_get_certificate_chain,
};

/* Wraps the connected fd in TLS, verifying the server's certificate
 * chain and host name.  The fd is the low's (closed with it) on success. */
static mailstream_low *
tls_open (AnnalsPull *pull, int fd, GError **error)
{
  g_autofree char *w = where (pull);
  gnutls_certificate_credentials_t creds;
  gnutls_certificate_allocate_credentials (&creds);
  int r = pull->ca_file != NULL ? gnutls_certificate_set_x509_trust_file (creds, pull->ca_file, GNUTLS_X509_FMT_PEM)
                                : gnutls_certificate_set_x509_system_trust (creds);
  if (r <= 0) {
    gnutls_certificate_free_credentials (creds);
    if (pull->ca_file != NULL)
      g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_UNAVAILABLE,
                   "cannot load CA file '%s': %s (give a PEM file of CA certificates)", pull->ca_file,
                   r == 0 ? "no certificate in it" : gnutls_strerror (r));
    else
      g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_UNAVAILABLE,
                   "cannot load the system's trusted CAs: %s (install ca-certificates, or give --ca-file)",
                   r == 0 ? "none found" : gnutls_strerror (r));
    return NULL;
  }
  gnutls_session_t session;
  gnutls_init (&session, GNUTLS_CLIENT);
  gnutls_set_default_priority (session);
  gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, creds);
  gnutls_server_name_set (session, GNUTLS_NAME_DNS, pull->url->host, strlen (pull->url->host));
  /* Checks the chain against the trusted CAs and the name against the
   * host of the URL during the handshake. */
  gnutls_session_set_verify_cert (session, pull->url->host, 0);
  gnutls_transport_set_int (session, fd);
  gnutls_handshake_set_timeout (session, pull->timeout * 1000);
  do
    r = gnutls_handshake (session);
  while (r < 0 && gnutls_error_is_fatal (r) == 0);
  if (r < 0) {
    if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
      gnutls_datum_t out = { 0 };
      unsigned status = gnutls_session_get_verify_cert_status (session);
      gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &out, 0);
      g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_UNAVAILABLE,
                   "TLS with %s failed: the server's certificate is not trusted: %s (a private CA: give it with "
                   "--ca-file FILE)",
                   w, out.data ? (char *) out.data : "verification failed");
      gnutls_free (out.data);
    } else {
      g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_UNAVAILABLE, "TLS with %s failed: %s", w,
                   gnutls_strerror (r));
    }
    gnutls_deinit (session);
    gnutls_certificate_free_credentials (creds);
    return NULL;
  }
  TlsLow *t = g_new0 (TlsLow, 1);
  t->fd = fd;
  t->session = session;
  t->creds = creds;
  return mailstream_low_new (t, &tls_driver);
}

/* A TCP connection to the URL's host, with the network timeout on
 * connect, reads and writes. */
static int
tcp_connect (AnnalsPull *pull, GError **error)
{
  g_autofree char *w = where (pull);
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
  struct addrinfo *res = NULL;
  char port[8];
  g_snprintf (port, sizeof port, "%u", pull->url->port);
  int r = getaddrinfo (pull->url->host, port, &hints, &res);
  if (r != 0) {
    g_set_error (error, ANNALS_PULL_ERROR, r == EAI_AGAIN ? ANNALS_PULL_ERROR_TEMPFAIL : ANNALS_PULL_ERROR_NO_HOST,
                 "cannot find host '%s': %s (check the URL)", pull->url->host, gai_strerror (r));
    return -1;
  }
  int fd = -1, err = 0;
  struct timeval tv = { .tv_sec = pull->timeout };
  for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
    fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    while ((r = connect (fd, ai->ai_addr, ai->ai_addrlen)) != 0 && errno == EINTR)
      ;
    if (r != 0) {
      err = errno;
      close (fd);
      fd = -1;
    }
  }
  freeaddrinfo (res);
  if (fd < 0)
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_UNAVAILABLE, "cannot connect to %s: %s", w,
                 g_strerror (err));
  return fd;
}

static mailstream *
open_stream (AnnalsPull *pull, GError **error)
{
  int fd = tcp_connect (pull, error);
  if (fd < 0)
    return NULL;
  if (pull->url->tls) {
    mailstream_low *low = tls_open (pull, fd, error);
    if (low == NULL) {
      close (fd);
      return NULL;
    }
    return mailstream_new (low, 8192);
  }
  mailstream *s = mailstream_socket_open_timeout (fd, pull->timeout);
  if (s == NULL)
    close (fd);
  return s;
}

/* Logging in: the same words for both protocols. */

static gboolean
no_password (AnnalsPull *pull, GError **error)
{
  g_autofree char *w = where (pull);
  g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_AUTH,
               "no password for user '%s' on %s: give a credentials file (--credentials FILE, or "
               "pull-credentials in annals.conf) or $ANNALS_PULL_PASSWORD",
               pull->url->user, w);
  annals_pull_disconnect (pull);
  return FALSE;
}

/* said: what the server answered, or NULL. */
static gboolean
login_refused (AnnalsPull *pull, const char *said, GError **error)
{
  g_autofree char *w = where (pull);
  g_autofree char *why = said != NULL ? g_strdup_printf (" (the server said: %s)", said) : g_strdup ("");
  g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_AUTH,
               "%s refused the login of user '%s'%s: check the password in the credentials file or "
               "$ANNALS_PULL_PASSWORD",
               w, pull->url->user, why);
  annals_pull_disconnect (pull);
  return FALSE;
}

/* IMAP. */

static gboolean
imap_fail (AnnalsPull *pull, int r, const char *doing, GError **error)
{
  g_autofree char *w = where (pull);
  const char *said = pull->imap && pull->imap->imap_response ? pull->imap->imap_response : NULL;
  int code = (r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_PARSE) ? ANNALS_PULL_ERROR_TEMPFAIL
                                                                       : ANNALS_PULL_ERROR_UNAVAILABLE;
  if (r == MAILIMAP_ERROR_STREAM)
    g_set_error (error, ANNALS_PULL_ERROR, code, "connection to %s lost while %s; run again later", w, doing);
  else if (r == MAILIMAP_ERROR_PARSE)
    /* libetpan says PARSE when the stream ends inside an answer too. */
    g_set_error (error, ANNALS_PULL_ERROR, code,
                 "connection to %s lost, or its answer unreadable, while %s; nothing of it is stored; run again later",
                 w, doing);
  else
    g_set_error (error, ANNALS_PULL_ERROR, code, "%s: failed %s (libetpan error %d; the server said: %s)", w, doing, r,
                 said ? said : "nothing");
  annals_pull_disconnect (pull);
  return FALSE;
}

static gboolean
imap_greet (AnnalsPull *pull, mailstream *s, GError **error)
{
  pull->imap = mailimap_new (0, NULL);
  mailimap_set_timeout (pull->imap, pull->timeout);
  int r = mailimap_connect (pull->imap, s);
  if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED && r != MAILIMAP_NO_ERROR_AUTHENTICATED)
    return imap_fail (pull, r, "reading its greeting", error);
  return TRUE;
}

/* STARTTLS where asked, LOGIN, EXAMINE. */
static gboolean
imap_open (AnnalsPull *pull, GError **error)
{
  g_autofree char *w = where (pull);
  int r;
  if (pull->starttls) {
    r = mailimap_starttls (pull->imap);
    if (r != MAILIMAP_NO_ERROR)
      return imap_fail (pull, r, "switching to TLS (STARTTLS)", error);
    mailstream_low *plain = mailstream_get_low (pull->imap->imap_stream);
    int fd = mailstream_low_get_fd (plain);
    mailstream_low *low = tls_open (pull, fd, error);
    if (low == NULL) {
      annals_pull_disconnect (pull);
      return FALSE;
    }
    mailstream_low_free (plain); /* frees the plain driver, not the fd */
    mailstream_set_low (pull->imap->imap_stream, low);
  }
  struct mailimap_capability_data *caps = NULL;
  if (pull->password != NULL) {
    r = mailimap_login (pull->imap, pull->url->user, pull->password);
    if (r == MAILIMAP_ERROR_LOGIN)
      return login_refused (pull, pull->imap->imap_response ? pull->imap->imap_response : "nothing", error);
    if (r != MAILIMAP_NO_ERROR)
      return imap_fail (pull, r, "logging in", error);
  } else if (pull->imap->imap_state != MAILIMAP_STATE_AUTHENTICATED) {
    return no_password (pull, error);
  }
  if (mailimap_capability (pull->imap, &caps) == MAILIMAP_NO_ERROR)
    mailimap_capability_data_free (caps);
  pull->has_idle = mailimap_has_idle (pull->imap);
  /* EXAMINE: read-only, so that fetching leaves \Seen flags alone. */
  r = mailimap_examine (pull->imap, pull->url->mailbox);
  if (r == MAILIMAP_ERROR_EXAMINE) {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_NO_MAILBOX,
                 "%s cannot be opened (the server said: %s): check the mailbox name in the URL", w,
                 pull->imap->imap_response ? pull->imap->imap_response : "nothing");
    annals_pull_disconnect (pull);
    return FALSE;
  }
  if (r != MAILIMAP_NO_ERROR)
    return imap_fail (pull, r, "opening the mailbox (EXAMINE)", error);
  guint64 uidvalidity = pull->imap->imap_selection_info->sel_uidvalidity;
  if (pull->uidvalidity != 0 && uidvalidity != pull->uidvalidity) {
    g_ptr_array_add (pull->warnings,
                     g_strdup_printf ("the UIDVALIDITY of %s changed from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                                      " (the mailbox was recreated): fetching all of it again; what is archived "
                                      "already is skipped",
                                      w, pull->uidvalidity, uidvalidity));
    pull->last = 0;
  }
  pull->uidvalidity = uidvalidity;
  return TRUE;
}

/* UID FETCH of the UIDs in set (freed): UID and RFC822.SIZE, and with
 * body the whole message (BODY.PEEK[], leaving \Seen alone). */
static int
imap_uid_fetch (AnnalsPull *pull, struct mailimap_set *set, gboolean body, clist **result)
{
  struct mailimap_fetch_type *type = mailimap_fetch_type_new_fetch_att_list_empty ();
  mailimap_fetch_type_new_fetch_att_list_add (type, mailimap_fetch_att_new_uid ());
  mailimap_fetch_type_new_fetch_att_list_add (type, mailimap_fetch_att_new_rfc822_size ());
  if (body)
    mailimap_fetch_type_new_fetch_att_list_add (type,
                                                mailimap_fetch_att_new_body_peek_section (mailimap_section_new (NULL)));
  int r = mailimap_uid_fetch (pull->imap, set, type, result);
  mailimap_fetch_type_free (type);
  mailimap_set_free (set);
  return r;
}

/* Asks for the UIDs above the position, with their sizes. */
static gboolean
imap_check (AnnalsPull *pull, guint64 *count, GError **error)
{
  g_array_set_size (pull->fetch_uids, 0);
  g_array_set_size (pull->fetch_sizes, 0);
  pull->cursor = 0;
  *count = 0;
  if (pull->imap->imap_selection_info->sel_exists == 0)
    return TRUE;
  struct mailimap_set *set = mailimap_set_new_interval ((uint32_t) MIN (pull->last + 1, G_MAXUINT32), 0);
  clist *result = NULL;
  int r = imap_uid_fetch (pull, set, FALSE, &result);
  if (r != MAILIMAP_NO_ERROR)
    return imap_fail (pull, r, "listing new messages (UID FETCH)", error);
  for (clistiter *i = clist_begin (result); i != NULL; i = clist_next (i)) {
    struct mailimap_msg_att *att = clist_content (i);
    guint32 uid = 0, size = 0;
    for (clistiter *j = clist_begin (att->att_list); j != NULL; j = clist_next (j)) {
      struct mailimap_msg_att_item *item = clist_content (j);
      if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
        continue;
      if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID)
        uid = item->att_data.att_static->att_data.att_uid;
      else if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE)
        size = item->att_data.att_static->att_data.att_rfc822_size;
    }
    /* "N:*" always matches the newest message, even below N. */
    if (uid > pull->last) {
      g_array_append_val (pull->fetch_uids, uid);
      g_array_append_val (pull->fetch_sizes, size);
    }
  }
  mailimap_fetch_list_free (result);
  /* Servers answer in sequence order, which is UID order; make sure. */
  for (guint i = 1; i < pull->fetch_uids->len; i++)
    if (g_array_index (pull->fetch_uids, guint32, i) <= g_array_index (pull->fetch_uids, guint32, i - 1)) {
      g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_TEMPFAIL,
                   "the server listed the UIDs of %s out of order; run again later", pull->url->mailbox);
      return FALSE;
    }
  *count = pull->fetch_uids->len;
  return TRUE;
}

/* CRLF to LF: what an MTA would have delivered. */
static GBytes *
to_lf (const char *data, gsize len)
{
  GByteArray *out = g_byte_array_sized_new ((guint) len);
  gsize start = 0;
  for (gsize i = 0; i + 1 < len; i++)
    if (data[i] == '\r' && data[i + 1] == '\n') {
      g_byte_array_append (out, (const guint8 *) data + start, (guint) (i - start));
      start = i + 1;
    }
  g_byte_array_append (out, (const guint8 *) data + start, (guint) (len - start));
  return g_byte_array_free_to_bytes (out);
}

typedef struct {
  guint32 uid;
  GBytes *raw;
} Fetched;

static void
fetched_clear (gpointer p)
{
  Fetched *f = p;
  g_bytes_unref (f->raw);
}

/* Hands the fetched messages to ingest in order, commits, and saves the
 * position of the last one. */
static gboolean
store_batch (AnnalsPull *pull, AnnalsIngest *ingest, GArray *batch, guint64 *fetched, GError **error)
{
  if (batch->len == 0)
    return TRUE;
  for (guint i = 0; i < batch->len; i++) {
    Fetched *f = &g_array_index (batch, Fetched, i);
    gsize len;
    const guint8 *data = g_bytes_get_data (f->raw, &len);
    if (!annals_ingest_message (ingest, data, len, ANNALS_NO_DATE, NULL, error))
      return FALSE;
  }
  guint64 last = g_array_index (batch, Fetched, batch->len - 1).uid;
  pull->committing = last;
  gboolean ok = annals_ingest_commit (ingest, error);
  pull->committing = 0;
  /* The store took the batch even when the log or the index did not. */
  if (pull->last != last && annals_ingest_stats (ingest)->committed == annals_ingest_stats (ingest)->archived) {
    pull->last = last;
    g_autoptr (GError) state_error = NULL;
    if (!state_save (pull, ok ? error : &state_error))
      return FALSE;
  }
  if (!ok)
    return FALSE;
  *fetched += batch->len;
  g_array_set_size (batch, 0);
  return TRUE;
}

void
annals_pull_committed (gpointer data, guint64 count)
{
  AnnalsPull *pull = data;
  if (pull->committing == 0)
    return;
  guint64 previous = pull->last;
  pull->last = pull->committing;
  /* A failure here is reported by the save that follows the commit. */
  if (!state_save (pull, NULL))
    pull->last = previous;
}

/* The next batch: up to PULL_BATCH messages or PULL_BATCH_BYTES of the
 * UIDs imap_check listed, in one UID FETCH. */
static gboolean
imap_fetch_batch (AnnalsPull *pull, GArray *batch, guint64 *asked, GError **error)
{
  g_autofree char *w = where (pull);
  guint n = pull->fetch_uids->len;
  guint i = (guint) pull->cursor;
  *asked = 0;
  if (i >= n)
    return TRUE;
  guint end = i;
  guint64 bytes = 0;
  struct mailimap_set *set = mailimap_set_new_empty ();
  while (end < n && end - i < PULL_BATCH && (end == i || bytes < PULL_BATCH_BYTES)) {
    mailimap_set_add_single (set, g_array_index (pull->fetch_uids, guint32, end));
    bytes += g_array_index (pull->fetch_sizes, guint32, end);
    end++;
  }
  clist *result = NULL;
  int r = imap_uid_fetch (pull, set, TRUE, &result);
  if (r != MAILIMAP_NO_ERROR)
    return imap_fail (pull, r, "fetching messages", error);
  /* Match the answers to the UIDs asked for, in UID order. */
  g_autoptr (GHashTable) got = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_bytes_unref);
  g_autoptr (GError) bad = NULL;
  for (clistiter *it = clist_begin (result); it != NULL; it = clist_next (it)) {
    struct mailimap_msg_att *att = clist_content (it);
    guint32 uid = 0, size = 0;
    gboolean has_size = FALSE;
    const char *body = NULL;
    gsize body_len = 0;
    for (clistiter *j = clist_begin (att->att_list); j != NULL; j = clist_next (j)) {
      struct mailimap_msg_att_item *item = clist_content (j);
      if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
        continue;
      struct mailimap_msg_att_static *st = item->att_data.att_static;
      if (st->att_type == MAILIMAP_MSG_ATT_UID) {
        uid = st->att_data.att_uid;
      } else if (st->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE) {
        size = st->att_data.att_rfc822_size;
        has_size = TRUE;
      } else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION && st->att_data.att_body_section != NULL) {
        body = st->att_data.att_body_section->sec_body_part;
        body_len = st->att_data.att_body_section->sec_length;
      }
    }
    if (uid == 0 || body == NULL)
      continue; /* an unsolicited FETCH (flags) */
    if (has_size && body_len != size && bad == NULL)
      g_set_error (&bad, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_TEMPFAIL,
                   "%s sent %" G_GSIZE_FORMAT " bytes of message UID %u, but its RFC822.SIZE is %u: the "
                   "message is truncated and not stored; run again later",
                   w, body_len, uid, size);
    if (!has_size || body_len == size)
      g_hash_table_insert (got, GUINT_TO_POINTER (uid), to_lf (body, body_len));
  }
  mailimap_fetch_list_free (result);
  for (guint k = i; k < end; k++) {
    guint32 uid = g_array_index (pull->fetch_uids, guint32, k);
    GBytes *raw = g_hash_table_lookup (got, GUINT_TO_POINTER (uid));
    if (raw == NULL && bad != NULL)
      break; /* the truncated one: keep what came whole before it */
    if (raw == NULL)
      continue; /* expunged meanwhile */
    Fetched f = { uid, g_bytes_ref (raw) };
    g_array_append_val (batch, f);
  }
  if (bad != NULL) {
    g_propagate_error (error, g_steal_pointer (&bad));
    return FALSE;
  }
  pull->cursor = end;
  *asked = g_array_index (pull->fetch_uids, guint32, end - 1);
  return TRUE;
}

/* NNTP. */

static gboolean
nntp_fail (AnnalsPull *pull, int r, const char *doing, GError **error)
{
  g_autofree char *w = where (pull);
  if (r == NEWSNNTP_ERROR_STREAM)
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_TEMPFAIL,
                 "connection to %s lost while %s; run again later", w, doing);
  else
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_UNAVAILABLE,
                 "%s: failed %s (libetpan error %d; the server said: %s)", w, doing, r,
                 pull->nntp && pull->nntp->nntp_response ? pull->nntp->nntp_response : "nothing");
  annals_pull_disconnect (pull);
  return FALSE;
}

static gboolean
nntp_group (AnnalsPull *pull, GError **error)
{
  g_autofree char *w = where (pull);
  struct newsnntp_group_info *info = NULL;
  int r = newsnntp_group (pull->nntp, pull->url->mailbox, &info);
  if (r == NEWSNNTP_ERROR_NO_SUCH_NEWS_GROUP) {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_NO_MAILBOX,
                 "%s does not exist: check the group name in the URL", w);
    annals_pull_disconnect (pull);
    return FALSE;
  }
  if (r == NEWSNNTP_ERROR_REQUEST_AUTHORIZATION_USERNAME || r == NEWSNNTP_ERROR_NO_PERMISSION) {
    g_set_error (error, ANNALS_PULL_ERROR, ANNALS_PULL_ERROR_AUTH,
                 "%s wants a login: give USER@ in the URL and a password in a credentials file or "
                 "$ANNALS_PULL_PASSWORD",
                 w);
    annals_pull_disconnect (pull);
    return FALSE;
  }
  if (r != NEWSNNTP_NO_ERROR)
    return nntp_fail (pull, r, "opening the group (GROUP)", error);
  pull->group_first = info->grp_first;
  pull->group_last = info->grp_last;
  newsnntp_group_free (info);
  return TRUE;
}

static gboolean
nntp_greet (AnnalsPull *pull, mailstream *s, GError **error)
{
  pull->nntp = newsnntp_new (0, NULL);
  newsnntp_set_timeout (pull->nntp, pull->timeout);
  int r = newsnntp_connect (pull->nntp, s);
  if (r != NEWSNNTP_NO_ERROR && r != NEWSNNTP_ERROR_POSTING_NOT_ALLOWED)
    return nntp_fail (pull, r, "reading its greeting", error);
  return TRUE;
}

/* MODE READER, AUTHINFO where a user is given, GROUP. */
static gboolean
nntp_open (AnnalsPull *pull, GError **error)
{
  newsnntp_mode_reader (pull->nntp); /* some servers need it, others refuse it: either is fine */
  if (pull->url->user != NULL) {
    if (pull->password == NULL)
      return no_password (pull, error);
    int r = newsnntp_authinfo_username (pull->nntp, pull->url->user);
    if (r == NEWSNNTP_WARNING_REQUEST_AUTHORIZATION_PASSWORD)
      r = newsnntp_authinfo_password (pull->nntp, pull->password);
    if (r != NEWSNNTP_NO_ERROR)
      return login_refused (pull, NULL, error);
  }
  return nntp_group (pull, error);
}

static gboolean
nntp_check (AnnalsPull *pull, guint64 *count, GError **error)
{
  g_autofree char *w = where (pull);
  *count = 0;
  pull->cursor = G_MAXUINT64; /* nothing to fetch until the group says otherwise */
  if (!nntp_group (pull, error))
    return FALSE;
  if (pull->group_last < pull->group_first || pull->group_last == 0)
    return TRUE; /* empty group */
  if (pull->last > pull->group_last) {
    g_ptr_array_add (pull->warnings,
                     g_strdup_printf ("the article numbers of %s went backwards (we had %" G_GUINT64_FORMAT
                                      ", the newest is now %" G_GUINT64_FORMAT "): the group was renumbered; "
                                      "fetching all of it again; what is archived already is skipped",
                                      w, pull->last, pull->group_last));
    pull->last = 0;
  } else if (pull->last > 0 && pull->group_first > pull->last + 1) {
    g_ptr_array_add (
        pull->warnings,
        g_strdup_printf ("%s starts at article %" G_GUINT64_FORMAT ", above our position %" G_GUINT64_FORMAT
                         ": articles %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " are gone from the "
                         "server (expired or renumbered); fetching from %" G_GUINT64_FORMAT,
                         w, pull->group_first, pull->last, pull->last + 1, pull->group_first - 1, pull->group_first));
  }
  pull->cursor = MAX (pull->last + 1, pull->group_first);
  *count = pull->group_last >= pull->cursor ? pull->group_last - pull->cursor + 1 : 0;
  return TRUE;
}

/* The next batch: one ARTICLE at a time up to PULL_BATCH articles or
 * PULL_BATCH_BYTES, or until the caller cancels. */
static gboolean
nntp_fetch_batch (AnnalsPull *pull, GArray *batch, guint64 *asked, GError **error)
{
  guint64 bytes = 0;
  *asked = 0;
  while (pull->cursor <= pull->group_last && batch->len < PULL_BATCH && bytes < PULL_BATCH_BYTES
         && !annals_pull_cancelled (pull)) {
    guint64 n = pull->cursor;
    char *content = NULL;
    size_t len = 0;
    int r = newsnntp_article (pull->nntp, (uint32_t) n, &content, &len);
    if (r != NEWSNNTP_NO_ERROR && r != NEWSNNTP_ERROR_ARTICLE_NOT_FOUND && r != NEWSNNTP_ERROR_INVALID_ARTICLE_NUMBER)
      return nntp_fail (pull, r, "fetching an article", error);
    pull->cursor++;
    *asked = n;
    if (r != NEWSNNTP_NO_ERROR)
      continue; /* a gap: cancelled or expired */
    Fetched f = { (guint32) n, to_lf (content, len) };
    newsnntp_article_free (content);
    bytes += len;
    g_array_append_val (batch, f);
  }
  return TRUE;
}

/* Both: the steps that differ, behind one table. */

typedef struct {
  /* Makes the client and reads the server's greeting on s. */
  gboolean (*greet) (AnnalsPull *pull, mailstream *s, GError **error);
  /* Logs in and opens the mailbox or group. */
  gboolean (*open) (AnnalsPull *pull, GError **error);
  /* Finds what is new: sets fetch_uids or the group's range, and cursor. */
  gboolean (*check) (AnnalsPull *pull, guint64 *count, GError **error);
  /* Appends the next batch from cursor to batch and moves cursor on;
   * *asked: the last UID or number it asked for, 0 when none was left.
   * On failure, what it appended came whole and is stored. */
  gboolean (*fetch_batch) (AnnalsPull *pull, GArray *batch, guint64 *asked, GError **error);
  /* Waits for new mail, up to seconds. */
  gboolean (*wait) (AnnalsPull *pull, guint seconds, GError **error);
} PullOps;

static gboolean imap_wait (AnnalsPull *pull, guint seconds, GError **error);
static gboolean nntp_wait (AnnalsPull *pull, guint seconds, GError **error);

static const PullOps imap_ops = { imap_greet, imap_open, imap_check, imap_fetch_batch, imap_wait };
static const PullOps nntp_ops = { nntp_greet, nntp_open, nntp_check, nntp_fetch_batch, nntp_wait };

static const PullOps *
ops_of (AnnalsPull *pull)
{
  return pull->url->protocol == ANNALS_PULL_IMAP ? &imap_ops : &nntp_ops;
}

gboolean
annals_pull_connect (AnnalsPull *pull, GError **error)
{
  annals_pull_disconnect (pull);
  if (!state_load (pull, error))
    return FALSE;
  mailstream *s = open_stream (pull, error);
  if (s == NULL)
    return FALSE;
  return ops_of (pull)->greet (pull, s, error) && ops_of (pull)->open (pull, error);
}

gboolean
annals_pull_check (AnnalsPull *pull, guint64 *count, GError **error)
{
  g_return_val_if_fail (annals_pull_connected (pull), FALSE);
  return ops_of (pull)->check (pull, count, error);
}

gboolean
annals_pull_fetch (AnnalsPull *pull, AnnalsIngest *ingest, guint64 *fetched, GError **error)
{
  g_return_val_if_fail (annals_pull_connected (pull), FALSE);
  *fetched = 0;
  g_autoptr (GArray) batch = g_array_new (FALSE, FALSE, sizeof (Fetched));
  g_array_set_clear_func (batch, fetched_clear);
  while (!annals_pull_cancelled (pull)) {
    guint64 asked = 0;
    g_autoptr (GError) fetch_error = NULL;
    gboolean ok = ops_of (pull)->fetch_batch (pull, batch, &asked, &fetch_error);
    /* After a failure too: keep what came whole. */
    if (!store_batch (pull, ingest, batch, fetched, error))
      return FALSE;
    if (!ok) {
      g_propagate_error (error, g_steal_pointer (&fetch_error));
      return FALSE;
    }
    if (asked == 0)
      break;
    /* Expunged or expired messages at the end still move the position on. */
    if (asked > pull->last) {
      pull->last = asked;
      if (!state_save (pull, error))
        return FALSE;
    }
  }
  return TRUE;
}

/* Waits for fd (may be -1) or the cancel fd, up to ms.  TRUE when fd is
 * readable. */
static gboolean
wait_fd (AnnalsPull *pull, int fd, gint64 ms)
{
  struct pollfd p[2] = { { .fd = pull->cancel_fd, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
  gint64 deadline = g_get_monotonic_time () + ms * 1000;
  for (;;) {
    gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
    if (left <= 0)
      return FALSE;
    int r = poll (p, fd >= 0 ? 2 : 1, (int) MIN (left, 3600 * 1000));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0 || (p[0].revents & POLLIN))
      return FALSE;
    return (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  }
}

static gboolean
nntp_wait (AnnalsPull *pull, guint seconds, GError **error)
{
  wait_fd (pull, -1, (gint64) seconds * 1000);
  return TRUE;
}

/* IDLE where the server has it, else a wait and a NOOP. */
static gboolean
imap_wait (AnnalsPull *pull, guint seconds, GError **error)
{
  if (!pull->has_idle) {
    wait_fd (pull, -1, (gint64) seconds * 1000);
    int r = mailimap_noop (pull->imap); /* brings the EXISTS count up to date */
    return r == MAILIMAP_NO_ERROR || imap_fail (pull, r, "polling (NOOP)", error);
  }
  int r = mailimap_idle (pull->imap);
  if (r != MAILIMAP_NO_ERROR)
    return imap_fail (pull, r, "waiting for mail (IDLE)", error);
  /* Servers drop an IDLE after 30 minutes: end it well before. */
  gint64 ms = (gint64) MIN (seconds, 25 * 60) * 1000;
  wait_fd (pull, mailimap_idle_get_fd (pull->imap), ms);
  r = mailimap_idle_done (pull->imap);
  if (r != MAILIMAP_NO_ERROR)
    return imap_fail (pull, r, "waiting for mail (IDLE)", error);
  return TRUE;
}

gboolean
annals_pull_wait (AnnalsPull *pull, guint seconds, GError **error)
{
  g_return_val_if_fail (annals_pull_connected (pull), FALSE);
  return ops_of (pull)->wait (pull, seconds, error);
}
