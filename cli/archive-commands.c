/* archive-commands: see archive-commands.h. */
#include <glib.h>

#include "cli/archive-commands.h"
#include "cli/cmdline.h"
#include "cli/index-commands.h"
#include "cli/ingest-run.h"
#include "core/config.h"
#include "archiver/ingest.h"
#include "core/message.h"
#include "core/note.h"
#include "core/tlog.h"
#include "core/zcodec.h"
#include "indexer/index.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

int
annals_cli_init (int argc, char **argv)
{
  char *name = NULL, *base_url = NULL;
  const GOptionEntry entries[] = {
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "The site's name, shown on its pages", "NAME" },
    { "base-url", 0, 0, G_OPTION_ARG_STRING, &base_url,
      "The public address of the site: absolute links on the web, and the logs' names (unset by default)", "URL" },
    { NULL },
  };
  if (!annals_cli_parse ("init", "",
                         "Creates an archive root: the folder, its annals.conf, and the site's signing key\n"
                         "(keys/site.key, mode 0600) for the transparency logs' checkpoints.",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  g_autofree G_GNUC_UNUSED char *base_owned = base_url;
  if (base_url != NULL && !annals_config_base_url_valid (base_url))
    return annals_cli_usage ("init", "--base-url takes the site's public address, an http:// or https:// URL");
  g_autoptr (GError) error = NULL;
  g_autofree char *root = annals_cli_find_root (&error);
  if (root == NULL)
    return annals_cli_fail ("init", error);
  g_autoptr (AnnalsConfig) config = annals_config_init (root, name, &error);
  g_free (name);
  if (config == NULL)
    return annals_cli_fail ("init", error);
  if (base_url != NULL) {
    g_key_file_set_string (annals_config_keyfile (config), "site", "base-url", base_url);
    if (!annals_config_save (config, &error))
      return annals_cli_fail ("init", error);
  }
  g_autofree char *verifier = annals_config_ensure_key (config, &error);
  if (verifier == NULL)
    return annals_cli_fail ("init", error);
  /* The key's name is fixed from now on: say what it was named after. */
  if (base_url == NULL) {
    g_autofree char *origin = annals_config_site_origin (config);
    g_printerr ("annals init: note: the signing key and the logs are named '%s' after the default URL; to name "
                "them after the site's address, remove '%s' and run 'annals init --base-url URL'\n",
                origin, root);
  }
  g_print ("created archive root '%s'\nlog verifier key (publish it): %s\n", root, verifier);
  return 0;
}

int
annals_cli_list_add (int argc, char **argv)
{
  char *address = NULL, *description = NULL;
  const GOptionEntry entries[] = {
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, "The list's posting address", "A" },
    { "description", 0, 0, G_OPTION_ARG_STRING, &description, "One line on what the list is for", "D" },
    { NULL },
  };
  if (!annals_cli_parse ("list-add", "NAME", "Adds a list to the archive.", entries, TRUE, &argc, &argv))
    return EX_USAGE;
  if (argc != 2)
    return annals_cli_usage ("list-add", "give exactly one list NAME");
  g_autoptr (AnnalsConfig) config = annals_cli_open_config ("list-add");
  if (config == NULL)
    return 1;
  g_autoptr (GError) error = NULL;
  gboolean ok = annals_config_add_list (config, argv[1], address, description, &error);
  g_free (address);
  g_free (description);
  if (!ok) {
    annals_cli_fail ("list-add", error);
    return g_error_matches (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_INVALID) ? EX_USAGE : 1;
  }
  g_print ("added list '%s'\n", argv[1]);
  return 0;
}

static void
print_summary (const char *list, const AnnalsIngestStats *s, double secs)
{
  g_print ("%s: archived %" G_GUINT64_FORMAT ", duplicates skipped %" G_GUINT64_FORMAT
           ", Message-ID reused with new content %" G_GUINT64_FORMAT ", unparsable but kept %" G_GUINT64_FORMAT,
           list, s->archived, s->duplicates, s->reused_ids, s->unparsable);
  if (s->rejected > 0)
    g_print (", too large and not archived %" G_GUINT64_FORMAT, s->rejected);
  g_print (" (%.1f MB in %.2f s)\n", s->bytes / 1e6, secs);
}

/* What the ingest library reports, said by the program: progress on a
 * terminal (at most four times a second), warnings always. */
typedef struct {
  gboolean tty;
  gint64 started; /* monotonic µs */
  gint64 last;
} IngestReport;

static void
ingest_progress (gpointer ctx, const AnnalsIngestStats *s, gboolean done)
{
  IngestReport *r = ctx;
  if (!r->tty)
    return;
  gint64 now = g_get_monotonic_time ();
  if (!done && now - r->last < 250000)
    return;
  r->last = now;
  double secs = MAX ((now - r->started) / 1e6, 1e-3);
  fprintf (stderr,
           "\r\033[Kingest: %" G_GUINT64_FORMAT " archived, %" G_GUINT64_FORMAT " duplicates, %.1f MB (%.1f MB/s)",
           s->archived, s->duplicates, s->bytes / 1e6, s->bytes / 1e6 / secs);
  fflush (stderr);
}

static void
ingest_warning (gpointer ctx, const char *message)
{
  IngestReport *r = ctx;
  /* On its own line, not after the progress. */
  g_printerr ("%sannals ingest: warning: %s\n", r->tty && r->last != 0 ? "\r\033[K" : "", message);
}

/* Clears the progress line before the summary and errors. */
static void
ingest_report_end (IngestReport *r)
{
  if (r->tty && r->last != 0)
    fputs ("\r\033[K", stderr);
  r->last = 0;
}

/* --mda: exactly one message on stdin; sysexits for the MTA. */
static int
ingest_mda (AnnalsConfig *config, const char *list, const char *store_dir, guint lock_timeout_ms)
{
  g_autoptr (GByteArray) msg = g_byte_array_new ();
  guint8 chunk[65536];
  for (;;) {
    ssize_t n = read (STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      g_printerr ("annals ingest: cannot read the message on stdin: %s\n", g_strerror (errno));
      return EX_TEMPFAIL;
    }
    if (n == 0)
      break;
    if (msg->len + (gsize) n > ANNALS_STORE_MAX_MESSAGE) {
      g_printerr ("annals ingest: message on stdin is over the limit of %" G_GSIZE_FORMAT " bytes: not archived\n",
                  ANNALS_STORE_MAX_MESSAGE);
      return EX_DATAERR;
    }
    g_byte_array_append (msg, chunk, (guint) n);
  }
  if (msg->len == 0) {
    g_printerr ("annals ingest: stdin is empty: no message to archive\n");
    return EX_DATAERR;
  }
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsStoreWriter) writer = annals_store_writer_open (store_dir, lock_timeout_ms, &error);
  if (writer == NULL) {
    g_printerr ("annals ingest: %s\n", error->message);
    return EX_TEMPFAIL;
  }
  g_autoptr (AnnalsIngest) in = annals_ingest_new (writer);
  IngestReport report = { FALSE, 0, 0 };
  annals_ingest_set_reporter (in, NULL, ingest_warning, &report);
  g_autoptr (AnnalsTlog) log = NULL;
  g_autoptr (AnnalsNoteKey) key = NULL;
  if (!annals_cli_open_log (config, list, &log, &key, &error)) {
    /* The message still goes in; the log catches up at the next delivery. */
    g_printerr ("annals ingest: warning: the transparency log is not updated: %s\n", error->message);
    g_clear_error (&error);
  } else {
    annals_ingest_set_log (in, log, key, list);
  }
  if (!annals_ingest_delivery (in, msg->data, msg->len, ANNALS_NO_DATE, &error) || !annals_ingest_commit (in, &error)) {
    if (annals_ingest_stats (in)->committed > 0 || annals_ingest_stats (in)->duplicates > 0) {
      g_printerr ("annals ingest: message stored; warning: the transparency log is not updated: %s\n", error->message);
      return EX_OK;
    }
    g_printerr ("annals ingest: message not stored, the MTA should retry: %s\n", error->message);
    return EX_TEMPFAIL;
  }
  return EX_OK;
}

int
annals_cli_ingest (int argc, char **argv)
{
  gboolean mbox = FALSE, maildir = FALSE, mda = FALSE, quiet = FALSE, no_index = FALSE;
  char *variant_name = NULL;
  int lock_timeout = -1;
  const GOptionEntry entries[] = {
    { "mbox", 0, 0, G_OPTION_ARG_NONE, &mbox, "Input is mbox (the default)", NULL },
    { "maildir", 0, 0, G_OPTION_ARG_NONE, &maildir, "Each PATH is a maildir (cur/ and new/, nested folders too)",
      NULL },
    { "mda", 0, 0, G_OPTION_ARG_NONE, &mda,
      "Stdin is one message from the MTA; exit 0 once it is stored, 75 to have the MTA retry, 69 if the list is closed",
      NULL },
    { "format", 0, 0, G_OPTION_ARG_STRING, &variant_name,
      "mbox variant: auto (default), mboxrd, mboxo, mboxcl2, pipermail", "VARIANT" },
    { "lock-timeout", 0, 0, G_OPTION_ARG_INT, &lock_timeout,
      "Seconds to wait for another writer (default 30; 300 with --mda)", "SECONDS" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress and no summary", NULL },
    { "no-index", 0, 0, G_OPTION_ARG_NONE, &no_index, "Do not update the search index afterwards", NULL },
    { NULL },
  };
  if (!annals_cli_parse ("ingest", "NAME [PATH...]",
                         "Archives mail into list NAME: mbox files (plain or gzip), maildirs, or one message\n"
                         "on stdin from the MTA.  Without PATH, reads an mbox (plain or gzip) from stdin.\n"
                         "Identical re-deliveries are skipped; the same Message-ID with new content is kept\n"
                         "and flagged.",
                         entries, TRUE, &argc, &argv))
    return mda ? EX_TEMPFAIL : EX_USAGE;
  g_autofree G_GNUC_UNUSED char *variant_owned = variant_name;
  if ((int) mbox + (int) maildir + (int) mda > 1)
    return annals_cli_usage ("ingest", "choose one of --mbox, --maildir and --mda");
  if (argc < 2)
    return annals_cli_usage ("ingest", "give the list NAME");
  AnnalsMboxVariant variant = ANNALS_MBOX_AUTO;
  if (variant_name != NULL && !annals_mbox_variant_from_name (variant_name, &variant))
    return annals_cli_usage ("ingest", "--format takes auto, mboxrd, mboxo, mboxcl2 or pipermail");
  if (mda && argc > 2)
    return annals_cli_usage ("ingest", "--mda reads one message from stdin and takes no PATH");
  if (maildir && argc < 3)
    return annals_cli_usage ("ingest", "--maildir needs a PATH");

  g_autoptr (AnnalsConfig) config = annals_cli_open_config ("ingest");
  if (config == NULL)
    return mda ? EX_TEMPFAIL : 1;
  g_autoptr (GError) error = NULL;
  g_autofree char *store_dir = annals_config_list_dir (config, argv[1], "store", &error);
  if (store_dir == NULL) {
    annals_cli_fail ("ingest", error);
    return mda ? EX_TEMPFAIL : 1;
  }
  /* Permanent, not 75: a retry would find the list closed again. */
  if (!annals_config_list_check_open (config, argv[1], &error)) {
    annals_cli_fail ("ingest", error);
    return EX_UNAVAILABLE;
  }
  guint timeout_ms = (guint) (lock_timeout >= 0 ? lock_timeout : (mda ? 300 : 30)) * 1000;
  if (mda) {
    int status = ingest_mda (config, argv[1], store_dir, timeout_ms);
    /* The message is safe: an index failure is only a warning here. */
    if (status == EX_OK && !no_index)
      annals_cli_index_update (config, argv[1], TRUE);
    return status;
  }

  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (AnnalsIngestRun) run
      = annals_cli_ingest_run_open (config, "ingest", argv[1], timeout_ms, no_index, &error);
  if (run == NULL)
    return annals_cli_fail ("ingest", error);
  if (annals_store_writer_recovered (run->writer) > 0 && !quiet)
    g_printerr ("annals ingest: %s: recovered %" G_GUINT64_FORMAT " whole messages after an interrupted run\n", argv[1],
                annals_store_writer_recovered (run->writer));
  AnnalsIngest *in = run->ingest;
  IngestReport report = { !quiet && isatty (STDERR_FILENO), g_get_monotonic_time (), 0 };
  annals_ingest_set_reporter (in, ingest_progress, ingest_warning, &report);
  gboolean ok = TRUE;
  if (argc == 2) {
    ok = annals_ingest_mbox (in, "-", STDIN_FILENO, variant, &error);
  } else {
    for (int i = 2; i < argc && ok; i++)
      ok = maildir ? annals_ingest_maildir (in, argv[i], &error)
                   : annals_ingest_mbox (in, argv[i], strcmp (argv[i], "-") == 0 ? STDIN_FILENO : -1, variant, &error);
  }
  /* Whatever was archived before a failure is kept and acknowledged. */
  g_autoptr (GError) commit_error = NULL;
  gboolean committed = annals_ingest_commit (in, &commit_error);
  const AnnalsIngestStats *stats = annals_ingest_stats (in);
  ingest_report_end (&report);
  if (!quiet)
    print_summary (argv[1], stats, (g_get_monotonic_time () - t0) / 1e6);
  /* Whatever happened, the index takes what was committed. */
  gboolean indexed = annals_cli_ingest_run_finish_index (run, quiet);
  /* A full disk, whether the store or the log hit it, is temporary. */
  GError *failed = !ok ? error : !committed ? commit_error : NULL;
  if (failed != NULL) {
    annals_cli_fail ("ingest", failed);
    gboolean full = g_error_matches (failed, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_NO_SPACE)
                    || g_error_matches (failed, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_NO_SPACE);
    if (full)
      g_printerr ("annals ingest: the %" G_GUINT64_FORMAT " messages archived before are safe; free space and run "
                  "the same command again (archived messages are skipped)\n",
                  stats->committed);
    if (g_error_matches (failed, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_CORRUPT))
      return EX_DATAERR; /* a damaged .gz: what came before it is kept */
    return full ? EX_TEMPFAIL : 1;
  }
  gboolean rejected = stats->rejected > 0; /* the stats go with the run */
  if (!annals_cli_ingest_run_close (run, quiet) || !indexed)
    return 1;
  return rejected ? 1 : 0;
}

/* Opens list NAME's store for reading. */
static AnnalsStore *
open_store (const char *cmd, const char *list)
{
  g_autoptr (AnnalsConfig) config = annals_cli_open_config (cmd);
  if (config == NULL)
    return NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = annals_config_list_dir (config, list, "store", &error);
  AnnalsStore *store = dir ? annals_store_open (dir, &error) : NULL;
  if (store == NULL)
    annals_cli_fail (cmd, error);
  return store;
}

/* ID: a message number, or a Message-ID with or without <>. */
static gboolean
resolve_id (AnnalsStore *store, const char *id, guint64 *number, GError **error)
{
  guint copies;
  if (!annals_store_resolve_id (store, id, number, &copies, error))
    return FALSE;
  if (copies > 1)
    g_printerr ("annals: %u messages have Message-ID %s; showing the first (number %" G_GUINT64_FORMAT
                "; name the others by number)\n",
                copies, id, *number);
  return TRUE;
}

static gboolean
write_stdout (const void *data, gsize len)
{
  return fwrite (data, 1, len, stdout) == len;
}

/* text made safe for a terminal: control characters (C0, DEL, C1) and
 * bytes that are not UTF-8 are written as escapes, so mail or a reason
 * cannot move the cursor, retitle the window or split an ls line. */
static char *
escape_controls (const char *text)
{
  GString *out = g_string_new (NULL);
  const char *p = text;
  while (*p != '\0') {
    gunichar c = g_utf8_get_char_validated (p, -1);
    if (c == (gunichar) -1 || c == (gunichar) -2) {
      g_string_append_printf (out, "\\x%02x", (guchar) *p);
      p++;
      continue;
    }
    const char *next = g_utf8_next_char (p);
    if (c == '\n')
      g_string_append (out, "\\n");
    else if (c == '\t')
      g_string_append (out, "\\t");
    else if (c == '\r')
      g_string_append (out, "\\r");
    else if (c < 0x20 || c == 0x7f)
      g_string_append_printf (out, "\\x%02x", c);
    else if (c >= 0x80 && c <= 0x9f)
      g_string_append_printf (out, "\\u%04x", c);
    else
      g_string_append_len (out, p, next - p);
    p = next;
  }
  return g_string_free (out, FALSE);
}

int
annals_cli_cat (int argc, char **argv)
{
  if (!annals_cli_parse ("cat", "NAME ID", "Writes one message's exact bytes; ID is its number or its Message-ID.",
                         NULL, TRUE, &argc, &argv))
    return EX_USAGE;
  if (argc != 3)
    return annals_cli_usage ("cat", "give the list NAME and a message ID");
  g_autoptr (AnnalsStore) store = open_store ("cat", argv[1]);
  if (store == NULL)
    return 1;
  g_autoptr (GError) error = NULL;
  guint64 number;
  if (!resolve_id (store, argv[2], &number, &error))
    return annals_cli_fail ("cat", error);
  g_autoptr (GBytes) raw = annals_store_read (store, number, NULL, &error);
  if (raw == NULL) {
    guint64 notice;
    g_auto (AnnalsStoreRedaction) red = { 0 };
    if (g_error_matches (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_REDACTED)
        && annals_store_find_redaction (store, number, &notice, NULL)
        && annals_store_read_redaction (store, notice, &red, NULL)) {
      g_autoptr (GDateTime) when = g_date_time_new_from_unix_utc (red.time);
      g_autofree char *date = g_date_time_format (when, "%Y-%m-%d %H:%M UTC");
      g_autofree char *reason = escape_controls (red.reason);
      g_printerr ("annals cat: message %" G_GUINT64_FORMAT " was redacted on %s (entry %" G_GUINT64_FORMAT "): %s\n",
                  number, date, notice, reason);
      return 1;
    }
    return annals_cli_fail ("cat", error);
  }
  gsize len;
  const void *data = g_bytes_get_data (raw, &len);
  if (!write_stdout (data, len) || fflush (stdout) != 0) {
    g_printerr ("annals cat: cannot write to stdout: %s\n", g_strerror (errno));
    return 1;
  }
  return 0;
}

static gboolean
parse_range (const char *cmd, gint64 from, gint64 to, guint64 count, guint64 *first, guint64 *end)
{
  if (from < 0 || (to < -1)) {
    annals_cli_usage (cmd, "--from and --to take message numbers (0 or more)");
    return FALSE;
  }
  *first = (guint64) from;
  *end = to == -1 ? count : MIN ((guint64) to + 1, count);
  return TRUE;
}

int
annals_cli_export (int argc, char **argv)
{
  gint64 from = 0, to = -1;
  const GOptionEntry entries[] = {
    { "from", 0, 0, G_OPTION_ARG_INT64, &from, "First message number (default 0)", "N" },
    { "to", 0, 0, G_OPTION_ARG_INT64, &to, "Last message number, included (default: the newest)", "N" },
    { NULL },
  };
  if (!annals_cli_parse ("export", "NAME", "Writes the list's messages as mboxrd to stdout, in archive order.", entries,
                         TRUE, &argc, &argv))
    return EX_USAGE;
  if (argc != 2)
    return annals_cli_usage ("export", "give the list NAME");
  g_autoptr (AnnalsStore) store = open_store ("export", argv[1]);
  if (store == NULL)
    return 1;
  guint64 first, end;
  if (!parse_range ("export", from, to, annals_store_count (store), &first, &end))
    return EX_USAGE;
  g_autoptr (GString) out = g_string_sized_new (1 << 20);
  for (guint64 n = first; n < end; n++) {
    g_autoptr (GError) error = NULL;
    if (!annals_mbox_append_stored (out, store, n, NULL, &error)) {
      if (g_error_matches (error, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_REDACTED))
        continue; /* redacted messages and redaction notices are not mail */
      return annals_cli_fail ("export", error);
    }
    if (out->len >= (1 << 20)) {
      if (!write_stdout (out->str, out->len)) {
        g_printerr ("annals export: cannot write to stdout: %s\n", g_strerror (errno));
        return 1;
      }
      g_string_truncate (out, 0);
    }
  }
  if (!write_stdout (out->str, out->len) || fflush (stdout) != 0) {
    g_printerr ("annals export: cannot write to stdout: %s\n", g_strerror (errno));
    return 1;
  }
  return 0;
}

int
annals_cli_ls (int argc, char **argv)
{
  gint64 from = 0, to = -1;
  const GOptionEntry entries[] = {
    { "from", 0, 0, G_OPTION_ARG_INT64, &from, "First message number (default 0)", "N" },
    { "to", 0, 0, G_OPTION_ARG_INT64, &to, "Last message number, included (default: the newest)", "N" },
    { NULL },
  };
  if (!annals_cli_parse ("ls", "NAME",
                         "Lists the list's messages: number, date (UTC), sender, subject, and flags\n"
                         "(reused-id: Message-ID seen before with other content; unparsable; no-id).\n"
                         "Where Date: is more than a day after the receipt, the date is the receipt's\n"
                         "and the subject is followed by \"(received; its Date: says YYYY-MM-DD)\".\n"
                         "A redaction notice shows the message it redacted and the reason.  Control\n"
                         "characters are shown escaped (\\x1b, \\u009b, \\n).",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  if (argc != 2)
    return annals_cli_usage ("ls", "give the list NAME");
  g_autoptr (AnnalsStore) store = open_store ("ls", argv[1]);
  if (store == NULL)
    return 1;
  guint64 first, end;
  if (!parse_range ("ls", from, to, annals_store_count (store), &first, &end))
    return EX_USAGE;
  for (guint64 n = first; n < end; n++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (store, n, &error);
    if (m == NULL)
      return annals_cli_fail ("ls", error);
    /* The date the web and search order it by, and the sender's claim
     * when that is not its Date:. */
    char date[32] = "-";
    if (m->hdr.date != ANNALS_NO_DATE) {
      time_t t = (time_t) annals_index_sort_date (m->hdr.date, m->receipt);
      struct tm tm;
      if (gmtime_r (&t, &tm) != NULL)
        strftime (date, sizeof date, "%Y-%m-%d %H:%M", &tm);
    }
    GString *flags = g_string_new (NULL);
    if (m->flags & ANNALS_STORE_FLAG_REUSED_ID)
      g_string_append (flags, " [reused-id]");
    if (m->flags & ANNALS_STORE_FLAG_UNPARSABLE)
      g_string_append (flags, " [unparsable]");
    if (m->flags & ANNALS_STORE_FLAG_DERIVED_ID)
      g_string_append (flags, " [no-id]");
    if (m->flags & ANNALS_STORE_FLAG_REDACTED)
      g_string_append (flags, " [redacted]");
    /* A redaction notice shows what it redacted and why. */
    g_autofree char *subject = NULL;
    g_auto (AnnalsStoreRedaction) red = { 0 };
    if (g_str_has_prefix (m->hdr.message_id, "redaction.") && g_str_has_suffix (m->hdr.message_id, "@annals.invalid")
        && annals_store_read_redaction (store, n, &red, NULL)) {
      subject = g_strdup_printf ("[redaction of %" G_GUINT64_FORMAT "] %s", red.target, red.reason);
    }
    g_autofree char *sender = escape_controls (m->hdr.from ? m->hdr.from : "-");
    g_autofree char *safe_subject = escape_controls (subject          ? subject
                                                     : m->hdr.subject ? m->hdr.subject
                                                                      : "(no subject)");
    g_autofree char *note = annals_cli_date_note (m->hdr.date, m->receipt);
    g_print ("%" G_GUINT64_FORMAT "\t%s\t%s\t%s%s%s\n", n, date, sender, safe_subject, note, flags->str);
    g_string_free (flags, TRUE);
  }
  return 0;
}
