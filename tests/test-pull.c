/* End-to-end tests of "annals pull" against real servers the tests
 * start: Dovecot (IMAP, IMAPS, STARTTLS) as an unprivileged instance
 * over a generated maildir, and public-inbox-nntpd over a v2 inbox.
 *
 * Servers run in the foreground as children that get SIGTERM when the
 * test process dies (PR_SET_PDEATHSIG), so an assertion that aborts
 * still stops them; the fixtures' teardown stops them otherwise. */
#include "tests/test-run.h"
#include "tests/test-servers.h"
#include "tests/test-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#define PASSWORD "s3cret-Pa55"

typedef struct {
  char *dir;          /* the fixture's temp folder */
  char *root;         /* the archive */
  TestServer *server; /* Dovecot's or nntpd's master, or NULL */
  guint16 port;       /* plain IMAP or NNTP */
  guint16 tls_port;
  char *maildir;             /* the user's INBOX (IMAP) */
  char *ca;                  /* the test CA's certificate (PEM) */
  char *other_ca;            /* a CA that signed nothing the server has */
  const char *dovecot_extra; /* more lines for dovecot.conf */
  uid_t mail_uid;
  gid_t mail_gid;
} Fixture;

static void
free_gstring (gpointer s)
{
  g_string_free (s, TRUE);
}

static void
write_file (const char *path, const char *text, int mode)
{
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (chmod (path, mode), ==, 0);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = test_util_tmpdir ();
  g_assert_cmpint (chmod (f->dir, 0755), ==, 0);
  f->root = g_build_filename (f->dir, "root", NULL);
  assert_ok (run (f->root, "init", "--name", "Pull test"));
  assert_ok (run (f->root, "list-add", "policy"));
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_server_stop (f->server);
  test_util_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->root);
  g_free (f->maildir);
  g_free (f->ca);
  g_free (f->other_ca);
}

/* A test CA and a server certificate for the name localhost (not for
 * 127.0.0.1, so that the name check can fail), made with certtool; and
 * a second CA that signed nothing. */
static void
make_certificates (Fixture *f)
{
  const char *names[] = { "ca", "other-ca", "server" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree char *key = g_strdup_printf ("%s/%s.key", f->dir, names[i]);
    test_run_tool (NULL, "certtool", "--generate-privkey", "--key-type=ecdsa", "--outfile", key, NULL);
  }
  g_autofree char *ca_tmpl = g_build_filename (f->dir, "ca.tmpl", NULL);
  write_file (ca_tmpl, "cn = annals test CA\nca\ncert_signing_key\nexpiration_days = 30\n", 0644);
  g_autofree char *srv_tmpl = g_build_filename (f->dir, "server.tmpl", NULL);
  write_file (srv_tmpl,
              "cn = localhost\ndns_name = localhost\ntls_www_server\nsigning_key\n"
              "encryption_key\nexpiration_days = 30\n",
              0644);
  f->ca = g_build_filename (f->dir, "ca.pem", NULL);
  f->other_ca = g_build_filename (f->dir, "other-ca.pem", NULL);
  g_autofree char *ca_key = g_build_filename (f->dir, "ca.key", NULL);
  g_autofree char *other_key = g_build_filename (f->dir, "other-ca.key", NULL);
  g_autofree char *srv_key = g_build_filename (f->dir, "server.key", NULL);
  g_autofree char *srv_pem = g_build_filename (f->dir, "server.pem", NULL);
  test_run_tool (NULL, "certtool", "--generate-self-signed", "--load-privkey", ca_key, "--template", ca_tmpl,
                 "--outfile", f->ca, NULL);
  test_run_tool (NULL, "certtool", "--generate-self-signed", "--load-privkey", other_key, "--template", ca_tmpl,
                 "--outfile", f->other_ca, NULL);
  test_run_tool (NULL, "certtool", "--generate-certificate", "--load-privkey", srv_key, "--load-ca-certificate", f->ca,
                 "--load-ca-privkey", ca_key, "--template", srv_tmpl, "--outfile", srv_pem, NULL);
  chmod (srv_key, 0644); /* Dovecot's config process reads it as itself */
}

/* Writes message i of the test mail into the maildir as a new message. */
static GString *
deliver (Fixture *f, guint i)
{
  GString *m = test_util_message (i, 200 + (i * 97) % 3000);
  g_autofree char *name = g_strdup_printf ("%s/new/%u.%06u.test", f->maildir, 1700000000 + i, i);
  g_autofree char *tmp = g_strdup_printf ("%s/tmp/%u.%06u.test", f->maildir, 1700000000 + i, i);
  g_autoptr (GError) error = NULL;
  g_file_set_contents (tmp, m->str, (gssize) m->len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (chown (tmp, f->mail_uid, f->mail_gid), ==, 0);
  g_assert_cmpint (rename (tmp, name), ==, 0);
  return m;
}

/* Dovecot: an instance of its own (base_dir, state, log in the temp
 * folder), IMAP on 127.0.0.1:port, IMAPS on tls_port, STARTTLS offered,
 * user "test" with PASSWORD from a passwd-file, mail in a maildir. */
static void
start_dovecot (Fixture *f)
{
  make_certificates (f);
  if (getuid () == 0) {
    struct passwd *pw = getpwnam ("nobody");
    g_assert_nonnull (pw);
    f->mail_uid = pw->pw_uid;
    f->mail_gid = pw->pw_gid;
  } else {
    f->mail_uid = getuid ();
    f->mail_gid = getgid ();
  }
  struct passwd *user = getpwuid (f->mail_uid);
  g_assert_nonnull (user);
  f->port = test_server_free_port ();
  f->tls_port = test_server_free_port ();
  g_autofree char *home = g_build_filename (f->dir, "mail", NULL);
  f->maildir = g_build_filename (home, "Maildir", NULL);
  const char *subs[] = { "cur", "new", "tmp" };
  for (guint i = 0; i < G_N_ELEMENTS (subs); i++) {
    g_autofree char *d = g_build_filename (f->maildir, subs[i], NULL);
    g_assert_cmpint (g_mkdir_with_parents (d, 0700), ==, 0);
    g_assert_cmpint (chown (d, f->mail_uid, f->mail_gid), ==, 0);
  }
  g_assert_cmpint (chown (f->maildir, f->mail_uid, f->mail_gid), ==, 0);
  g_assert_cmpint (chown (home, f->mail_uid, f->mail_gid), ==, 0);
  g_autofree char *passwd = g_build_filename (f->dir, "passwd", NULL);
  write_file (passwd, "test:{PLAIN}" PASSWORD "\n", 0644);
  g_autofree char *conf = g_build_filename (f->dir, "dovecot.conf", NULL);
  g_autofree char *log = g_build_filename (f->dir, "dovecot.log", NULL);
  g_autofree char *text = g_strdup_printf (
      "base_dir = %1$s/run\n"
      "state_dir = %1$s/state\n"
      "instance_name = annals-test-%2$u\n"
      "log_path = %1$s/dovecot.log\n"
      "protocols = imap\n"
      "listen = 127.0.0.1\n"
      "ssl = yes\n"
      "ssl_cert = <%1$s/server.pem\n"
      "ssl_key = <%1$s/server.key\n"
      "disable_plaintext_auth = no\n"
      "auth_mechanisms = plain\n"
      "default_internal_user = %3$s\n"
      "default_login_user = %3$s\n"
      "first_valid_uid = 0\n"
      "mail_location = maildir:%1$s/mail/Maildir\n"
      "passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%%u %1$s/passwd\n}\n"
      "userdb {\n  driver = static\n  args = uid=%4$u gid=%5$u home=%1$s/mail\n}\n"
      "service imap-login {\n  chroot =\n"
      "  inet_listener imap {\n    port = %2$u\n  }\n"
      "  inet_listener imaps {\n    port = %6$u\n    ssl = yes\n  }\n}\n"
      "service anvil {\n  chroot =\n}\n%7$s",
      f->dir, f->port, user->pw_name, f->mail_uid, f->mail_gid, f->tls_port, f->dovecot_extra ? f->dovecot_extra : "");
  write_file (conf, text, 0644);
  g_autofree char *dovecot = test_server_find_program ("dovecot");
  char *argv[] = { dovecot, "-F", "-c", conf, NULL };
  f->server = test_server_start (argv, NULL, f->dir, f->port, log, TEST_SERVER_DEFAULT);
  test_server_wait_port (f->tls_port);
}

/* Dovecot (start_dovecot) with messages 0..count-1 delivered: they. */
static GPtrArray *
start_dovecot_with (Fixture *f, guint count)
{
  start_dovecot (f);
  GPtrArray *sent = g_ptr_array_new_with_free_func (free_gstring);
  for (guint i = 0; i < count; i++)
    g_ptr_array_add (sent, deliver (f, i));
  return sent;
}

/* Runs annals pull with the password in the environment. */
#define pull(f, ...) pull_full ((f), PASSWORD, __VA_ARGS__, NULL)

static Run
pull_full (Fixture *f, const char *password, const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  g_autoptr (GPtrArray) argv = run_argv_va ("pull", first, ap);
  va_end (ap);
  g_ptr_array_insert (argv, 0, (gpointer) annals_bin ());
  g_auto (GStrv) env = g_get_environ ();
  env = g_environ_setenv (env, "ANNALS_ROOT", f->root, TRUE);
  env = password ? g_environ_setenv (env, "ANNALS_PULL_PASSWORD", password, TRUE)
                 : g_environ_unsetenv (env, "ANNALS_PULL_PASSWORD");
  Run r = { 0 };
  int status;
  g_autoptr (GError) error = NULL;
  g_spawn_sync (NULL, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &r.out, &r.err, &status, &error);
  g_assert_no_error (error);
  r.status = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
  g_test_message ("annals pull %s -> %d: %s%s", first, r.status, r.out, r.err);
  /* The password never shows. */
  g_assert_null (strstr (r.err, PASSWORD));
  g_assert_null (strstr (r.out, PASSWORD));
  return r;
}

static char *
imap_url (Fixture *f, const char *scheme, const char *host, guint16 port, const char *mailbox)
{
  return g_strdup_printf ("%s://test@%s:%u/%s", scheme, host, port, mailbox);
}

static guint64
store_count (Fixture *f)
{
  Run r = run (f->root, "lists");
  assert_status (r, 0);
  g_assert_true (g_str_has_prefix (r.out, "policy\t"));
  guint64 n = g_ascii_strtoull (r.out + strlen ("policy\t"), NULL, 10);
  run_clear (&r);
  return n;
}

/* Every message in sent is stored, byte for byte, once. */
static void
assert_stored (Fixture *f, GPtrArray *sent)
{
  g_assert_cmpuint (store_count (f), ==, sent->len);
  for (guint i = 0; i < sent->len; i++) {
    GString *m = g_ptr_array_index (sent, i);
    const char *id = strstr (m->str, "Message-ID: ") + 12;
    g_autofree char *msgid = g_strndup (id, strcspn (id, "\n"));
    Run r = run (f->root, "cat", "policy", msgid);
    assert_status (r, 0);
    g_assert_cmpmem (r.out, r.out_len, m->str, m->len);
    run_clear (&r);
  }
}

static GPtrArray *
deliver_many (Fixture *f, guint from, guint count, GPtrArray *sent)
{
  for (guint i = from; i < from + count; i++)
    g_ptr_array_add (sent, deliver (f, i));
  return sent;
}

static void
test_imap_fetch (Fixture *f, gconstpointer data)
{
  g_test_summary ("IMAP: every message arrives byte for byte; a second run fetches nothing; a third only what is new");
  g_autoptr (GPtrArray) sent = start_dovecot_with (f, 20);
  g_autofree char *url = imap_url (f, "imap", "127.0.0.1", f->port, "INBOX");
  Run r = pull (f, "policy", url);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "pulled 20"));
  run_clear (&r);
  assert_stored (f, sent);

  r = pull (f, "policy", url);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "nothing new"));
  run_clear (&r);
  g_assert_cmpuint (store_count (f), ==, 20);

  deliver_many (f, 20, 3, sent);
  r = pull (f, "policy", url);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "pulled 3 "));
  g_assert_nonnull (strstr (r.out, "duplicates skipped 0"));
  run_clear (&r);
  assert_stored (f, sent);
  /* The log and the index took them, as with ingest. */
  r = run (f->root, "search", "--list", "policy", "s:topic");
  assert_status (r, 0);
  run_clear (&r);
}

/* The index fails once the messages are stored (a directory where
 * index.lock goes stands in for a full disk): they stay stored, and the
 * run fails as ingest does, saying how to catch the index up, since the
 * next pull finds nothing new and would not touch the index. */
static void
test_imap_index_fails (Fixture *f, gconstpointer data)
{
  g_test_summary ("IMAP: an index failure after storing is pull's error, exit 1, naming 'annals index LIST'");
  g_autoptr (GPtrArray) sent = start_dovecot_with (f, 4);
  g_autofree char *url = imap_url (f, "imap", "127.0.0.1", f->port, "INBOX");
  g_autofree char *lock = g_build_filename (f->root, "policy", "index.lock", NULL);
  g_assert_cmpint (g_mkdir (lock, 0755), ==, 0);
  Run r = pull (f, "policy", url);
  assert_status (r, 1);
  g_assert_nonnull (strstr (r.err, "annals pull: policy: "));
  g_assert_nonnull (strstr (r.err, "stored"));
  g_assert_nonnull (strstr (r.err, "run 'annals index policy'"));
  g_assert_null (strstr (r.err, "annals index:"));
  run_clear (&r);
  assert_stored (f, sent);
  g_assert_cmpint (g_rmdir (lock), ==, 0);
  assert_ok (run (f->root, "index", "policy"));
  r = run (f->root, "search", "--list", "policy", "--count", "s:topic");
  assert_status (r, 0);
  g_assert_cmpstr (r.out, ==, "4\n");
  run_clear (&r);
}

static void
test_imap_uidvalidity (Fixture *f, gconstpointer data)
{
  g_test_summary ("IMAP: a recreated mailbox (new UIDVALIDITY) is fetched again, with a warning, nothing stored twice");
  g_autoptr (GPtrArray) sent = start_dovecot_with (f, 5);
  g_autofree char *url = imap_url (f, "imap", "127.0.0.1", f->port, "INBOX");
  assert_ok (pull (f, "policy", url));
  /* Recreate the mailbox: Dovecot forgets its UIDs and hands out a new
   * UIDVALIDITY (unique, by its dovecot-uidvalidity file, which stays). */
  g_autoptr (GDir) d = g_dir_open (f->maildir, 0, NULL);
  for (const char *n; (n = g_dir_read_name (d)) != NULL;)
    if (g_str_has_prefix (n, "dovecot-uidlist") || g_str_has_prefix (n, "dovecot.index")) {
      g_autofree char *p = g_build_filename (f->maildir, n, NULL);
      g_assert_cmpint (unlink (p), ==, 0);
    }
  deliver_many (f, 5, 2, sent);
  Run r = pull (f, "policy", url);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.err, "UIDVALIDITY"));
  g_assert_nonnull (strstr (r.out, "pulled 7"));
  g_assert_nonnull (strstr (r.out, "duplicates skipped 5"));
  run_clear (&r);
  assert_stored (f, sent);
}

static void
test_imap_errors (Fixture *f, gconstpointer data)
{
  g_test_summary ("IMAP: wrong password (77), unknown mailbox (66), password in the URL (65), nothing stored");
  g_autoptr (GPtrArray) sent = start_dovecot_with (f, 2);
  g_autofree char *url = imap_url (f, "imap", "127.0.0.1", f->port, "INBOX");
  Run r = pull_full (f, "wrong", "policy", url, NULL);
  assert_status (r, 77);
  g_assert_nonnull (strstr (r.err, "refused the login of user 'test'"));
  g_assert_nonnull (strstr (r.err, "127.0.0.1"));
  run_clear (&r);
  g_autofree char *nobox = imap_url (f, "imap", "127.0.0.1", f->port, "no-such-box");
  r = pull (f, "policy", nobox);
  assert_status (r, 66);
  g_assert_nonnull (strstr (r.err, "'no-such-box'"));
  run_clear (&r);
  g_autofree char *with_password = g_strdup_printf ("imap://test:" PASSWORD "@127.0.0.1:%u/INBOX", f->port);
  Run p = run (f->root, "pull", "policy", with_password);
  assert_fails (p, 65, "credentials file");
  r = pull (f, "no-such-list", url);
  assert_status (r, 78);
  g_assert_nonnull (strstr (r.err, "no-such-list"));
  run_clear (&r);
  r = pull_full (f, NULL, "policy", url, NULL);
  assert_status (r, 77);
  g_assert_nonnull (strstr (r.err, "no password"));
  run_clear (&r);
  g_assert_cmpuint (store_count (f), ==, 0);

  /* A credentials file must be 0600. */
  g_autofree char *cred = g_build_filename (f->dir, "cred", NULL);
  write_file (cred, PASSWORD "\n", 0644);
  r = pull_full (f, NULL, "policy", "--credentials", cred, url, NULL);
  assert_status (r, 77);
  g_assert_nonnull (strstr (r.err, "chmod 600"));
  run_clear (&r);
  /* --watch reports a wrong password at once instead of retrying. */
  r = pull_full (f, "wrong", "policy", "--watch", url, NULL);
  assert_status (r, 77);
  run_clear (&r);
  /* The list's pull-credentials in annals.conf, relative to ROOT. */
  g_autofree char *conf = g_build_filename (f->root, "annals.conf", NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (kf, conf, G_KEY_FILE_KEEP_COMMENTS, NULL));
  g_key_file_set_string (kf, "list policy", "pull-credentials", "policy.pass");
  g_assert_true (g_key_file_save_to_file (kf, conf, NULL));
  g_autofree char *pass = g_build_filename (f->root, "policy.pass", NULL);
  write_file (pass, PASSWORD "\n", 0640);
  r = pull_full (f, NULL, "policy", url, NULL);
  assert_status (r, 77);
  g_assert_nonnull (strstr (r.err, "policy.pass"));
  run_clear (&r);
  g_assert_cmpint (chmod (pass, 0600), ==, 0);
  assert_ok (pull_full (f, NULL, "policy", url, NULL));
  assert_stored (f, sent);
}

static void restart_nntpd (Fixture *f);

/* public-inbox: a v2 inbox "policy" (newsgroup inbox.policy) with count
 * messages delivered by public-inbox-mda, served by public-inbox-nntpd
 * on 127.0.0.1:port (NNTP) and tls_port (NNTPS, the test CA's
 * certificate).  Returns the messages as delivered. */
static GPtrArray *
make_inbox (Fixture *f, guint from, guint count)
{
  g_autofree char *pi_config = g_build_filename (f->dir, "pi-config", NULL);
  g_autofree char *inbox = g_build_filename (f->dir, "inbox", NULL);
  test_util_rm_rf (inbox);
  unlink (pi_config);
  const char *env[] = { "PI_CONFIG", pi_config, "HOME", f->dir, "ORIGINAL_RECIPIENT", "policy@example.org", NULL };
  test_run_tool (env, "public-inbox-init", "-V2", "policy", inbox, "http://example.org/policy", "policy@example.org",
                 NULL);
  test_run_tool (env, "git", "config", "-f", pi_config, "publicinbox.policy.newsgroup", "inbox.policy", NULL);
  test_run_tool (env, "git", "config", "-f", pi_config, "publicinboxmda.spamcheck", "none", NULL);
  GPtrArray *sent = g_ptr_array_new_with_free_func (free_gstring);
  for (guint i = from; i < from + count; i++) {
    GString *m = test_util_message (i, 200 + (i * 97) % 3000);
    g_autofree char *path = g_strdup_printf ("%s/msg%u", f->dir, i);
    write_file (path, m->str, 0644);
    test_run_tool (env, "sh", "-c", "exec public-inbox-mda --no-precheck < \"$1\"", "sh", path, NULL);
    g_ptr_array_add (sent, m);
  }
  return sent;
}

static GPtrArray *
start_nntpd (Fixture *f, guint count)
{
  make_certificates (f);
  GPtrArray *sent = make_inbox (f, 0, count);
  f->port = test_server_free_port ();
  f->tls_port = test_server_free_port ();
  restart_nntpd (f);
  return sent;
}

static void
stop_server (Fixture *f)
{
  g_clear_pointer (&f->server, test_server_stop);
}

/* (Re)starts public-inbox-nntpd on the fixture's ports. */
static void
restart_nntpd (Fixture *f)
{
  g_autofree char *pi_config = g_build_filename (f->dir, "pi-config", NULL);
  g_autofree char *plain = g_strdup_printf ("127.0.0.1:%u", f->port);
  g_autofree char *tls = g_strdup_printf ("nntps://127.0.0.1:%u", f->tls_port);
  g_autofree char *cert = g_build_filename (f->dir, "server.pem", NULL);
  g_autofree char *key = g_build_filename (f->dir, "server.key", NULL);
  g_autofree char *log = g_build_filename (f->dir, "nntpd.log", NULL);
  g_autofree char *nntpd = test_server_find_program ("public-inbox-nntpd");
  g_auto (GStrv) server_env = g_get_environ ();
  server_env = g_environ_setenv (server_env, "PI_CONFIG", pi_config, TRUE);
  server_env = g_environ_setenv (server_env, "HOME", f->dir, TRUE);
  char *argv[] = { nntpd, "-W0", "-l", plain, "-l", tls, "--cert", cert, "--key", key, "--stderr", log, NULL };
  f->server = test_server_start (argv, server_env, f->dir, f->port, log, TEST_SERVER_DEFAULT);
  test_server_wait_port (f->tls_port);
}

/* Article n of inbox.policy as the server sends it, read with a few
 * lines of NNTP here: dot-unstuffed, CRLF as LF. */
static GString *
nntp_article (Fixture *f, guint n)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a
      = { .sin_family = AF_INET, .sin_port = htons (f->port), .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  g_assert_cmpint (connect (fd, (struct sockaddr *) &a, sizeof a), ==, 0);
  FILE *in = fdopen (dup (fd), "r");
  char line[8192];
  g_assert_nonnull (fgets (line, sizeof line, in)); /* greeting */
  /* One command at a time: public-inbox-nntpd does not pipeline. */
  const char *group = "GROUP inbox.policy\r\n";
  g_assert_cmpint (write (fd, group, strlen (group)), ==, (gssize) strlen (group));
  g_assert_nonnull (fgets (line, sizeof line, in));
  g_assert_true (g_str_has_prefix (line, "211 "));
  g_autofree char *cmd = g_strdup_printf ("ARTICLE %u\r\n", n);
  g_assert_cmpint (write (fd, cmd, strlen (cmd)), ==, (gssize) strlen (cmd));
  g_assert_nonnull (fgets (line, sizeof line, in));
  g_assert_true (g_str_has_prefix (line, "220 "));
  GString *art = g_string_new (NULL);
  while (fgets (line, sizeof line, in) != NULL && strcmp (line, ".\r\n") != 0) {
    g_assert_true (g_str_has_suffix (line, "\r\n"));
    line[strlen (line) - 2] = '\0';
    g_string_append_printf (art, "%s\n", line[0] == '.' ? line + 1 : line);
  }
  fclose (in);
  close (fd);
  return art;
}

static void
test_nntp_fetch (Fixture *f, gconstpointer data)
{
  g_test_summary ("NNTP: every article arrives as the server sends it; a second run fetches nothing; errors");
  g_autoptr (GPtrArray) sent = start_nntpd (f, 12);
  g_autofree char *url = g_strdup_printf ("nntp://127.0.0.1:%u/inbox.policy", f->port);
  Run r = pull (f, "policy", url);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "pulled 12"));
  run_clear (&r);
  g_assert_cmpuint (store_count (f), ==, 12);
  for (guint i = 0; i < sent->len; i++) {
    GString *m = g_ptr_array_index (sent, i);
    g_autoptr (GString) served = nntp_article (f, i + 1);
    const char *id = strstr (served->str, "Message-ID: ") + 12;
    g_autofree char *msgid = g_strndup (id, strcspn (id, "\n"));
    Run c = run (f->root, "cat", "policy", msgid);
    assert_status (c, 0);
    g_assert_cmpmem (c.out, c.out_len, served->str, served->len);
    /* The body is the one delivered (the server adds headers only). */
    const char *body = strstr (m->str, "\n\n");
    g_assert_true (g_str_has_suffix (c.out, body));
    run_clear (&c);
  }
  r = pull (f, "policy", url);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "nothing new"));
  run_clear (&r);
  g_assert_cmpuint (store_count (f), ==, 12);

  g_autofree char *nogroup = g_strdup_printf ("nntp://127.0.0.1:%u/inbox.nope", f->port);
  r = pull (f, "policy", nogroup);
  assert_status (r, 66);
  g_assert_nonnull (strstr (r.err, "'inbox.nope'"));
  run_clear (&r);
}

static void
test_tls (Fixture *f, gconstpointer data)
{
  g_test_summary ("TLS: IMAPS, STARTTLS and NNTPS need a trusted certificate for the host's name; --ca-file");
  g_autoptr (GPtrArray) sent = start_dovecot_with (f, 3);
  g_autofree char *imaps = imap_url (f, "imaps", "localhost", f->tls_port, "INBOX");
  /* The system's CAs do not know the test CA. */
  Run r = pull (f, "policy", imaps);
  assert_status (r, 69);
  g_assert_nonnull (strstr (r.err, "not trusted"));
  g_assert_nonnull (strstr (r.err, "--ca-file"));
  run_clear (&r);
  r = pull (f, "policy", "--ca-file", f->other_ca, imaps);
  assert_status (r, 69);
  g_assert_nonnull (strstr (r.err, "not trusted"));
  run_clear (&r);
  /* The right CA, the wrong name. */
  g_autofree char *by_ip = imap_url (f, "imaps", "127.0.0.1", f->tls_port, "INBOX");
  r = pull (f, "policy", "--ca-file", f->ca, by_ip);
  assert_status (r, 69);
  g_assert_nonnull (strstr (r.err, "not trusted"));
  run_clear (&r);
  /* STARTTLS checks the same way. */
  g_autofree char *plain = imap_url (f, "imap", "localhost", f->port, "INBOX");
  r = pull (f, "policy", "--starttls", plain);
  assert_status (r, 69);
  run_clear (&r);
  g_assert_cmpuint (store_count (f), ==, 0);

  assert_ok (pull (f, "policy", "--ca-file", f->ca, imaps));
  assert_stored (f, sent);
  deliver_many (f, 3, 2, sent);
  assert_ok (pull (f, "policy", "--ca-file", f->ca, "--starttls", plain));
  assert_stored (f, sent);
}

static void
test_nntps (Fixture *f, gconstpointer data)
{
  g_test_summary ("NNTPS: an untrusted certificate fails (69), --ca-file succeeds");
  g_autoptr (GPtrArray) sent = start_nntpd (f, 3);
  g_autofree char *url = g_strdup_printf ("nntps://localhost:%u/inbox.policy", f->tls_port);
  Run r = pull (f, "policy", url);
  assert_status (r, 69);
  g_assert_nonnull (strstr (r.err, "not trusted"));
  run_clear (&r);
  assert_ok (pull (f, "policy", "--ca-file", f->ca, url));
  g_assert_cmpuint (store_count (f), ==, 3);
}

/* Starts annals pull --watch ... in the background, output to files in
 * the fixture's folder; the child gets SIGKILL if the test dies. */
static void
kill_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GPid
spawn_pull (Fixture *f, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, "sh");
  g_ptr_array_add (argv, "-c");
  g_ptr_array_add (argv, "exec \"$0\" pull \"$@\" > pull.out 2> pull.err");
  g_ptr_array_add (argv, (gpointer) annals_bin ());
  for (const char *const *a = args; *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer) *a);
  g_ptr_array_add (argv, NULL);
  g_auto (GStrv) env = g_get_environ ();
  env = g_environ_setenv (env, "ANNALS_ROOT", f->root, TRUE);
  env = g_environ_setenv (env, "ANNALS_PULL_PASSWORD", PASSWORD, TRUE);
  GPid pid;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_async (f->dir, (char **) argv->pdata, env, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                                kill_with_parent, NULL, &pid, &error));
  g_assert_no_error (error);
  return pid;
}

static char *
read_text (Fixture *f, const char *name)
{
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  char *text = NULL;
  g_file_get_contents (path, &text, NULL, NULL);
  return text ? text : g_strdup ("");
}

/* Waits (bounded) for the store to hold count messages. */
static void
wait_for_count (Fixture *f, guint64 count)
{
  for (int i = 0; i < 1200 && store_count (f) < count; i++)
    g_usleep (100000);
  g_assert_cmpuint (store_count (f), ==, count);
}

/* Stops a background pull with sig; returns its exit status. */
static int
stop_pull (GPid pid, int sig)
{
  kill (pid, sig);
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static void
test_imap_watch (Fixture *f, gconstpointer data)
{
  g_test_summary ("--watch: IDLE picks up a message delivered after the start; SIGTERM stops it with status 0");
  g_autoptr (GPtrArray) sent = start_dovecot_with (f, 4);
  g_autofree char *url = imap_url (f, "imap", "127.0.0.1", f->port, "INBOX");
  /* An interval of an hour: only IDLE can bring the new message in time. */
  const char *args[] = { "policy", url, "--watch", "--interval", "3600", NULL };
  GPid pid = spawn_pull (f, args);
  wait_for_count (f, 4);
  deliver_many (f, 4, 1, sent);
  wait_for_count (f, 5);
  deliver_many (f, 5, 2, sent);
  wait_for_count (f, 7);
  int status = stop_pull (pid, SIGTERM);
  g_autofree char *err = read_text (f, "pull.err");
  g_test_message ("pull --watch: %s", err);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (err, "stopped"));
  assert_stored (f, sent);
  Run r = pull (f, "policy", url);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "nothing new"));
  run_clear (&r);
}

static void
test_imap_watch_poll (Fixture *f, gconstpointer data)
{
  g_test_summary ("--watch on a server without IDLE polls (NOOP) every --interval seconds");
  f->dovecot_extra = "imap_capability = IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN\n";
  g_autoptr (GPtrArray) sent = start_dovecot_with (f, 2);
  g_autofree char *url = imap_url (f, "imap", "127.0.0.1", f->port, "INBOX");
  const char *args[] = { "policy", url, "--watch", "--interval", "1", NULL };
  GPid pid = spawn_pull (f, args);
  wait_for_count (f, 2);
  deliver_many (f, 2, 1, sent);
  wait_for_count (f, 3);
  g_assert_cmpint (stop_pull (pid, SIGTERM), ==, 0);
  assert_stored (f, sent);
}

static void
test_nntp_watch (Fixture *f, gconstpointer data)
{
  g_test_summary ("--watch on NNTP polls every --interval seconds, backs off while the server is away; SIGINT "
                  "stops it with status 0");
  g_autoptr (GPtrArray) sent = start_nntpd (f, 3);
  g_autofree char *url = g_strdup_printf ("nntp://127.0.0.1:%u/inbox.policy", f->port);
  const char *args[] = { "policy", url, "--watch", "--interval", "1", NULL };
  GPid pid = spawn_pull (f, args);
  wait_for_count (f, 3);
  g_autofree char *pi_config = g_build_filename (f->dir, "pi-config", NULL);
  const char *env[] = { "PI_CONFIG", pi_config, "HOME", f->dir, "ORIGINAL_RECIPIENT", "policy@example.org", NULL };
  g_autoptr (GString) m = test_util_message (100, 500);
  g_autofree char *path = g_build_filename (f->dir, "msg100", NULL);
  write_file (path, m->str, 0644);
  test_run_tool (env, "sh", "-c", "exec public-inbox-mda --no-precheck < \"$1\"", "sh", path, NULL);
  wait_for_count (f, 4);

  /* The server goes away: the watch backs off and tries again, and
   * takes up where it was once the server is back. */
  stop_server (f);
  for (int i = 0; i < 600; i++) {
    g_autofree char *err = read_text (f, "pull.err");
    if (strstr (err, "trying again") != NULL)
      break;
    g_usleep (100000);
  }
  g_autofree char *err = read_text (f, "pull.err");
  g_assert_nonnull (strstr (err, "trying again"));
  g_autoptr (GString) m2 = test_util_message (101, 500);
  g_autofree char *path2 = g_build_filename (f->dir, "msg101", NULL);
  write_file (path2, m2->str, 0644);
  test_run_tool (env, "sh", "-c", "exec public-inbox-mda --no-precheck < \"$1\"", "sh", path2, NULL);
  restart_nntpd (f);
  wait_for_count (f, 5);
  g_assert_cmpint (stop_pull (pid, SIGINT), ==, 0);
}

static void
test_kill_resume (Fixture *f, gconstpointer data)
{
  g_test_summary ("SIGKILL at random points, then a run to the end: every message stored once, at most one "
                  "batch fetched again");
  g_autoptr (GPtrArray) sent = start_dovecot_with (f, 800);
  g_autofree char *url = imap_url (f, "imap", "127.0.0.1", f->port, "INBOX");
  const char *args[] = { "policy", url, NULL };
  guint64 before = 0;
  for (int round = 0; round < 4; round++) {
    GPid pid = spawn_pull (f, args);
    guint delay = (guint) g_test_rand_int_range (20, 400);
    g_usleep (delay * 1000);
    int status = stop_pull (pid, SIGKILL);
    guint64 now = store_count (f);
    g_test_message ("round %d: killed after %u ms (status %d), %" G_GUINT64_FORMAT " stored", round, delay, status,
                    now);
    g_assert_cmpuint (now, >=, before);
    before = now;
  }
  Run r = pull (f, "policy", url);
  assert_status (r, 0);
  /* Only the batch between a commit and its saved position comes again. */
  const char *dup = strstr (r.out, "duplicates skipped ");
  if (dup != NULL)
    g_assert_cmpuint (g_ascii_strtoull (dup + strlen ("duplicates skipped "), NULL, 10), <=, 64);
  run_clear (&r);
  assert_stored (f, sent);
  r = pull (f, "policy", url);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.out, "nothing new"));
  run_clear (&r);
}

/* A scripted IMAP server on a thread, for what real servers do not do
 * on demand: truncate a message, or drop the connection in the middle
 * of a fetch.  It serves message 1 whole; message 2 either with fewer
 * bytes than its RFC822.SIZE says (truncate) or not at all, closing the
 * connection after message 1 (drop). */
typedef struct {
  int listen_fd;
  gboolean truncate;
  const char *msg1, *msg2; /* CRLF */
} FakeImap;

static void
fake_send (int fd, const char *text)
{
  gsize len = strlen (text);
  if (write (fd, text, len) != (gssize) len) {
    /* the client went away: the test's assertions tell */
  }
}

static gpointer
fake_imap_serve (gpointer data)
{
  FakeImap *fake = data;
  int fd = accept (fake->listen_fd, NULL, NULL);
  if (fd < 0)
    return NULL;
  FILE *in = fdopen (dup (fd), "r");
  fake_send (fd, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n");
  char line[4096];
  while (fgets (line, sizeof line, in) != NULL) {
    char tag[64] = "";
    sscanf (line, "%63s", tag);
    g_autofree char *upper = g_ascii_strup (line, -1);
    g_autofree char *reply = NULL;
    if (strstr (upper, " LOGOUT")) {
      reply = g_strdup_printf ("* BYE bye\r\n%s OK done\r\n", tag);
      fake_send (fd, reply);
      break;
    } else if (strstr (upper, " EXAMINE")) {
      reply = g_strdup_printf ("* 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 3] n\r\n"
                               "%s OK [READ-ONLY] done\r\n",
                               tag);
    } else if (strstr (upper, "BODY.PEEK")) {
      g_autofree char *m1 = g_strdup_printf ("* 1 FETCH (UID 1 RFC822.SIZE %zu BODY[] {%zu}\r\n%s)\r\n",
                                             strlen (fake->msg1), strlen (fake->msg1), fake->msg1);
      fake_send (fd, m1);
      if (!fake->truncate)
        break; /* the server goes away mid-fetch */
      gsize cut = strlen (fake->msg2) / 2;
      g_autofree char *m2 = g_strdup_printf ("* 2 FETCH (UID 2 RFC822.SIZE %zu BODY[] {%zu}\r\n%.*s)\r\n",
                                             strlen (fake->msg2), cut, (int) cut, fake->msg2);
      fake_send (fd, m2);
      reply = g_strdup_printf ("%s OK done\r\n", tag);
    } else if (strstr (upper, " FETCH")) {
      reply = g_strdup_printf ("* 1 FETCH (UID 1 RFC822.SIZE %zu)\r\n* 2 FETCH (UID 2 RFC822.SIZE %zu)\r\n"
                               "%s OK done\r\n",
                               strlen (fake->msg1), strlen (fake->msg2), tag);
    } else if (strstr (upper, " CAPABILITY")) {
      reply = g_strdup_printf ("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n%s OK done\r\n", tag);
    } else {
      reply = g_strdup_printf ("%s OK done\r\n", tag);
    }
    fake_send (fd, reply);
  }
  fclose (in);
  close (fd);
  return NULL;
}

static void
test_imap_broken_server (Fixture *f, gconstpointer data)
{
  g_test_summary ("a truncated message (75) is not stored, the whole ones before it are; a server gone mid-fetch "
                  "(75) leaves nothing half-stored");
  const char *msg1 = "From: a@example.org\r\nMessage-ID: <one@example.org>\r\nSubject: one\r\n\r\nfirst\r\n";
  const char *msg2 = "From: b@example.org\r\nMessage-ID: <two@example.org>\r\nSubject: two\r\n\r\nsecond\r\n";
  for (int truncate = 1; truncate >= 0; truncate--) {
    FakeImap fake = { .truncate = truncate, .msg1 = msg1, .msg2 = msg2 };
    fake.listen_fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    g_assert_cmpint (bind (fake.listen_fd, (struct sockaddr *) &a, sizeof a), ==, 0);
    socklen_t len = sizeof a;
    g_assert_cmpint (getsockname (fake.listen_fd, (struct sockaddr *) &a, &len), ==, 0);
    g_assert_cmpint (listen (fake.listen_fd, 4), ==, 0);
    GThread *server = g_thread_new ("fake-imap", fake_imap_serve, &fake);
    g_autofree char *url = imap_url (f, "imap", "127.0.0.1", ntohs (a.sin_port), "INBOX");
    g_autofree char *root = g_strdup_printf ("%s/root-%d", f->dir, truncate);
    g_free (f->root);
    f->root = g_steal_pointer (&root);
    assert_ok (run (f->root, "init", "--name", "Pull test"));
    assert_ok (run (f->root, "list-add", "policy"));
    Run r = pull (f, "policy", url);
    g_thread_join (server);
    close (fake.listen_fd);
    assert_status (r, 75);
    if (truncate) {
      g_assert_nonnull (strstr (r.err, "truncated"));
      g_assert_nonnull (strstr (r.err, "UID 2"));
      g_assert_nonnull (strstr (r.err, "'INBOX' on 127.0.0.1"));
      g_assert_cmpuint (store_count (f), ==, 1);
      Run c = run (f->root, "cat", "policy", "<one@example.org>");
      assert_status (c, 0);
      g_assert_cmpstr (c.out, ==, "From: a@example.org\nMessage-ID: <one@example.org>\nSubject: one\n\nfirst\n");
      run_clear (&c);
    } else {
      g_assert_nonnull (strstr (r.err, "lost"));
      g_assert_cmpuint (store_count (f), ==, 0);
    }
    run_clear (&r);
  }
}

static void
test_nntp_renumbered (Fixture *f, gconstpointer data)
{
  g_test_summary ("NNTP: a group whose numbers went backwards (rebuilt) is fetched again with a warning");
  g_autoptr (GPtrArray) sent = start_nntpd (f, 6);
  g_autofree char *url = g_strdup_printf ("nntp://127.0.0.1:%u/inbox.policy", f->port);
  assert_ok (pull (f, "policy", url));
  /* The group is rebuilt from scratch with other mail: 1 and 2 again. */
  stop_server (f);
  g_autoptr (GPtrArray) again = make_inbox (f, 40, 2);
  restart_nntpd (f);
  Run r = pull (f, "policy", url);
  assert_status (r, 0);
  g_assert_nonnull (strstr (r.err, "went backwards"));
  g_assert_nonnull (strstr (r.out, "pulled 2"));
  g_assert_nonnull (strstr (r.out, "archived 2"));
  run_clear (&r);
  g_assert_cmpuint (store_count (f), ==, 8);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/pull/imap/fetch", Fixture, NULL, fixture_setup, test_imap_fetch, fixture_teardown);
  g_test_add ("/pull/imap/uidvalidity", Fixture, NULL, fixture_setup, test_imap_uidvalidity, fixture_teardown);
  g_test_add ("/pull/imap/index-fails", Fixture, NULL, fixture_setup, test_imap_index_fails, fixture_teardown);
  g_test_add ("/pull/imap/errors", Fixture, NULL, fixture_setup, test_imap_errors, fixture_teardown);
  g_test_add ("/pull/nntp/fetch", Fixture, NULL, fixture_setup, test_nntp_fetch, fixture_teardown);
  g_test_add ("/pull/nntp/renumbered", Fixture, NULL, fixture_setup, test_nntp_renumbered, fixture_teardown);
  g_test_add ("/pull/tls/imap", Fixture, NULL, fixture_setup, test_tls, fixture_teardown);
  g_test_add ("/pull/tls/nntp", Fixture, NULL, fixture_setup, test_nntps, fixture_teardown);
  g_test_add ("/pull/watch/imap-idle", Fixture, NULL, fixture_setup, test_imap_watch, fixture_teardown);
  g_test_add ("/pull/watch/imap-poll", Fixture, NULL, fixture_setup, test_imap_watch_poll, fixture_teardown);
  g_test_add ("/pull/watch/nntp-poll", Fixture, NULL, fixture_setup, test_nntp_watch, fixture_teardown);
  g_test_add ("/pull/imap/kill-resume", Fixture, NULL, fixture_setup, test_kill_resume, fixture_teardown);
  g_test_add ("/pull/imap/broken-server", Fixture, NULL, fixture_setup, test_imap_broken_server, fixture_teardown);
  return g_test_run ();
}
