/* log-commands: the transparency log's subcommands (key, proof, verify,
 * verify-proof, redact).  See log-commands.h. */
#include <glib.h>

#include "cli/cmdline.h"
#include "cli/index-commands.h"
#include "cli/log-commands.h"
#include "core/config.h"
#include "core/note.h"
#include "core/store.h"
#include "core/tlog.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

/* A verifier key: the string itself, or a file that holds it. */
static AnnalsNoteKey *
load_verifier (const char *arg, GError **error)
{
  g_autofree char *text = NULL;
  if (g_file_test (arg, G_FILE_TEST_IS_REGULAR)) {
    if (!g_file_get_contents (arg, &text, NULL, error))
      return NULL;
  } else {
    text = g_strdup (arg);
  }
  AnnalsNoteKey *k = annals_note_key_parse (text, error);
  if (k != NULL && k->has_secret) {
    /* Verifying needs only the public half; never echo the secret. */
    memset (k->secret_key, 0, sizeof k->secret_key);
    k->has_secret = FALSE;
  }
  return k;
}

int
annals_cli_key (int argc, char **argv)
{
  gboolean generate = FALSE;
  const GOptionEntry entries[] = {
    { "generate", 0, 0, G_OPTION_ARG_NONE, &generate,
      "Create the site's signing key if it has none (a new archive only: restore a lost key from backup)", NULL },
    { NULL },
  };
  if (!annals_cli_parse ("key", "", "Prints the verifier key of the site's transparency logs, to publish.", entries,
                         TRUE, &argc, &argv))
    return EX_USAGE;
  g_autoptr (AnnalsConfig) config = annals_cli_open_config ("key");
  if (config == NULL)
    return 1;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = annals_config_key_path (config);
  if (!generate && !g_file_test (path, G_FILE_TEST_EXISTS)) {
    /* The public half is all a mirror or an auditor needs; a new key
     * would orphan every published checkpoint and proof. */
    g_autofree char *public = annals_config_load_verifier (config, &error);
    if (public == NULL) {
      g_printerr ("annals key: no signing key at '%s', and %s: " ANNALS_CONFIG_KEY_RESTORE "\n", path, error->message);
      return 1;
    }
    g_printerr ("annals key: warning: no signing key at '%s' (printed its public half, from keys/site.vkey): nothing "
                "can be signed until you " ANNALS_CONFIG_KEY_RESTORE "\n",
                path);
    g_print ("%s\n", public);
    return 0;
  }
  g_autofree char *verifier = annals_config_ensure_key (config, &error);
  if (verifier == NULL)
    return annals_cli_fail ("key", error);
  g_print ("%s\n", verifier);
  return 0;
}

/* Opens list's log with the site's own key, for proofs. */
static AnnalsTlogReader *
open_own_log (const char *cmd, AnnalsConfig *config, const char *list, AnnalsNoteKey **key_out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsNoteKey) key = annals_config_load_key (config, &error);
  if (key == NULL) {
    annals_cli_fail (cmd, error);
    return NULL;
  }
  g_autofree char *dir = annals_config_list_dir (config, list, "log", &error);
  AnnalsTlogReader *r = dir ? annals_tlog_reader_open (dir, key, &error) : NULL;
  if (r == NULL) {
    g_printerr ("annals %s: %s (a list's log starts with its first ingest)\n", cmd, error->message);
    return NULL;
  }
  if (key_out)
    *key_out = g_steal_pointer (&key);
  return r;
}

int
annals_cli_proof (int argc, char **argv)
{
  gint64 old_size = -1;
  const GOptionEntry entries[] = {
    { "consistency", 0, 0, G_OPTION_ARG_INT64, &old_size,
      "Print a consistency proof from the log at OLD_SIZE entries to now", "OLD_SIZE" },
    { NULL },
  };
  if (!annals_cli_parse ("proof", "NAME [ID]",
                         "Prints a C2SP .tlog-proof for message ID (number or Message-ID) of list NAME:\n"
                         "its log entry, inclusion hashes and the signed checkpoint, checkable offline\n"
                         "with 'annals verify-proof'.  With --consistency, a proof that the log at\n"
                         "OLD_SIZE entries is a prefix of the log now.",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  if (argc != (old_size >= 0 ? 2 : 3))
    return annals_cli_usage ("proof",
                             old_size >= 0 ? "give the list NAME only" : "give the list NAME and a message ID");
  g_autoptr (AnnalsConfig) config = annals_cli_open_config ("proof");
  if (config == NULL)
    return 1;
  g_autoptr (AnnalsTlogReader) r = open_own_log ("proof", config, argv[1], NULL);
  if (r == NULL)
    return 1;
  const AnnalsCheckpoint *cp = annals_tlog_reader_checkpoint (r);
  g_autoptr (GError) error = NULL;
  gpointer ctx;
  AnnalsMerkleSource source = annals_tlog_reader_source (r, &ctx);
  if (old_size >= 0) {
    g_autoptr (GArray) proof = annals_merkle_consistency_proof (source, ctx, (guint64) old_size, cp->size, &error);
    if (proof == NULL)
      return annals_cli_fail ("proof", error);
    g_autofree char *text = annals_tlog_consistency_format ((guint64) old_size, proof, annals_tlog_reader_note (r));
    fputs (text, stdout);
    return 0;
  }
  guint64 number;
  g_autofree char *dir = annals_config_list_dir (config, argv[1], "store", &error);
  g_autoptr (AnnalsStore) store = dir ? annals_store_open (dir, &error) : NULL;
  if (store == NULL || !annals_store_resolve_id (store, argv[2], &number, NULL, &error))
    return annals_cli_fail ("proof", error);
  if (number >= cp->size) {
    g_printerr ("annals proof: message %" G_GUINT64_FORMAT " is not in the log's last checkpoint (%" G_GUINT64_FORMAT
                " entries); the next ingest adds it\n",
                number, cp->size);
    return 1;
  }
  g_autoptr (GBytes) entry = annals_tlog_reader_entry (r, number, &error);
  g_autoptr (GArray) proof = entry ? annals_merkle_inclusion_proof (source, ctx, number, cp->size, &error) : NULL;
  if (proof == NULL)
    return annals_cli_fail ("proof", error);
  g_autofree char *text = annals_tlog_proof_format (entry, number, proof, annals_tlog_reader_note (r));
  fputs (text, stdout);
  return 0;
}

/* A site key signs its lists' logs: "<key name>/<list>". */
static gboolean
origin_of_key (const char *origin, const AnnalsNoteKey *key)
{
  gsize n = strlen (key->name);
  return strncmp (origin, key->name, n) == 0 && (origin[n] == '\0' || origin[n] == '/');
}

static gboolean
sha256_file (const char *path, guint8 out[32], guint64 *size, GError **error)
{
  g_autoptr (GMappedFile) map = g_mapped_file_new (path, FALSE, error);
  if (map == NULL)
    return FALSE;
  annals_store_sha256 ((const guint8 *) g_mapped_file_get_contents (map), g_mapped_file_get_length (map), out, NULL);
  *size = g_mapped_file_get_length (map);
  return TRUE;
}

int
annals_cli_verify_proof (int argc, char **argv)
{
  char *key_arg = NULL, *message = NULL, *since = NULL, *origin = NULL;
  const GOptionEntry entries[] = {
    { "key", 0, 0, G_OPTION_ARG_STRING, &key_arg, "The log's verifier key (the string, or a file holding it)", "VKEY" },
    { "origin", 0, 0, G_OPTION_ARG_STRING, &origin, "The log the proof must come from, e.g. example.org/policy",
      "ORIGIN" },
    { "message", 0, 0, G_OPTION_ARG_FILENAME, &message,
      "Also check that this file is the logged message, byte for byte", "RAW_FILE" },
    { "since", 0, 0, G_OPTION_ARG_FILENAME, &since, "For a consistency proof: the old checkpoint it proves consistent",
      "OLD_CHECKPOINT" },
    { NULL },
  };
  if (!annals_cli_parse ("verify-proof", "FILE",
                         "Checks a .tlog-proof offline: the checkpoint's signature, and that the logged\n"
                         "entry is in the tree the checkpoint signs.  With --message, also that the file\n"
                         "is the logged message.  Also checks 'annals proof --consistency' output\n"
                         "against the old checkpoint given with --since.",
                         entries, FALSE, &argc, &argv))
    return EX_USAGE;
  g_autofree G_GNUC_UNUSED char *k_owned = key_arg, *m_owned = message, *s_owned = since, *o_owned = origin;
  if (argc != 2 || key_arg == NULL)
    return annals_cli_usage ("verify-proof", "give a proof FILE and --key VKEY");
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsNoteKey) key = load_verifier (key_arg, &error);
  if (key == NULL)
    return annals_cli_fail ("verify-proof", error);
  g_autofree char *text = NULL;
  gsize len;
  if (!g_file_get_contents (argv[1], &text, &len, &error))
    return annals_cli_fail ("verify-proof", error);

  if (g_str_has_prefix (text, "annals/consistency-proof@v1\n")) {
    guint64 old_size;
    g_autoptr (GArray) hashes = NULL;
    g_autofree char *note = NULL;
    if (!annals_tlog_consistency_parse (text, len, &old_size, &hashes, &note, &error))
      return annals_cli_fail ("verify-proof", error);
    if (since == NULL)
      return annals_cli_usage ("verify-proof", "a consistency proof needs the old checkpoint: --since FILE");
    g_autofree char *old_text = NULL;
    gsize old_len;
    if (!g_file_get_contents (since, &old_text, &old_len, &error))
      return annals_cli_fail ("verify-proof", error);
    g_autofree char *nt = annals_note_open (note, strlen (note), key, &error);
    g_autofree char *ot = nt ? annals_note_open (old_text, old_len, key, &error) : NULL;
    g_auto (AnnalsCheckpoint) now = { 0 };
    g_auto (AnnalsCheckpoint) old = { 0 };
    if (ot == NULL || !annals_checkpoint_parse (nt, &now, &error) || !annals_checkpoint_parse (ot, &old, &error))
      return annals_cli_fail ("verify-proof", error);
    gboolean ok = strcmp (now.origin, old.origin) == 0 && old.size == old_size
                  && annals_merkle_verify_consistency (old.size, now.size, old.root, now.root,
                                                       (const guint8 *) hashes->data, hashes->len);
    if (ok)
      g_print ("consistent: %s at %" G_GUINT64_FORMAT " entries is a prefix of the log at %" G_GUINT64_FORMAT "\n",
               now.origin, old.size, now.size);
    else
      g_printerr ("annals verify-proof: NOT consistent: the old checkpoint (%" G_GUINT64_FORMAT
                  " entries) is not a prefix of the new one (%" G_GUINT64_FORMAT ")\n",
                  old.size, now.size);
    return ok ? 0 : 1;
  }

  g_auto (AnnalsTlogProof) p = { 0 };
  if (!annals_tlog_proof_parse (text, len, &p, &error))
    return annals_cli_fail ("verify-proof", error);
  g_auto (AnnalsCheckpoint) cp = { 0 };
  g_auto (AnnalsTlogEntry) e = { 0 };
  g_autofree char *cptext = annals_note_open (p.checkpoint, strlen (p.checkpoint), key, &error);
  if (cptext == NULL || !annals_checkpoint_parse (cptext, &cp, &error)) {
    annals_cli_fail ("verify-proof", error);
    return 1;
  }
  if (!origin_of_key (cp.origin, key)) {
    g_printerr ("annals verify-proof: the checkpoint is of log '%s', which key '%s' does not speak for\n", cp.origin,
                key->name);
    return 1;
  }
  if (origin != NULL && strcmp (origin, cp.origin) != 0) {
    g_printerr ("annals verify-proof: the proof is for log '%s', not '%s'\n", cp.origin, origin);
    return 1;
  }
  if (p.entry == NULL) {
    g_printerr ("annals verify-proof: the proof carries no log entry (no 'extra' line)\n");
    return 1;
  }
  gsize elen;
  const guint8 *ed = g_bytes_get_data (p.entry, &elen);
  AnnalsHash leaf;
  annals_merkle_leaf_hash (ed, elen, leaf);
  if (!annals_merkle_verify_inclusion (leaf, p.index, cp.size, (const guint8 *) p.hashes->data, p.hashes->len,
                                       cp.root)) {
    g_printerr ("annals verify-proof: NOT included: entry %" G_GUINT64_FORMAT
                " does not hash to the root of %s at %" G_GUINT64_FORMAT " entries\n",
                p.index, cp.origin, cp.size);
    return 1;
  }
  if (!annals_tlog_entry_parse (ed, elen, &e, &error) || e.index != p.index) {
    if (error)
      annals_cli_fail ("verify-proof", error);
    else
      g_printerr ("annals verify-proof: the entry names index %" G_GUINT64_FORMAT ", the proof %" G_GUINT64_FORMAT "\n",
                  e.index, p.index);
    return 1;
  }
  if (message != NULL) {
    guint8 sha[32];
    guint64 size;
    if (!sha256_file (message, sha, &size, &error)) {
      annals_cli_fail ("verify-proof", error);
      return 1;
    }
    if (e.type != ANNALS_TLOG_ENTRY_MESSAGE || size != e.size || memcmp (sha, e.sha256, 32) != 0) {
      g_printerr ("annals verify-proof: '%s' is NOT the logged message: it differs from what entry %" G_GUINT64_FORMAT
                  " recorded (%" G_GUINT64_FORMAT " bytes)\n",
                  message, e.index, e.size);
      return 1;
    }
  }
  if (e.type == ANNALS_TLOG_ENTRY_MESSAGE)
    g_print (
        "verified: message <%s> is entry %" G_GUINT64_FORMAT " of %s (checkpoint of %" G_GUINT64_FORMAT " entries)%s\n",
        e.message_id, e.index, cp.origin, cp.size, message ? "; the file given is that message, byte for byte" : "");
  else
    g_print ("verified: entry %" G_GUINT64_FORMAT " of %s records the redaction of message %" G_GUINT64_FORMAT ": %s\n",
             e.index, cp.origin, e.redacts, e.reason);
  return 0;
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

typedef struct {
  gboolean tty;
  const char *list;
  gint64 last;
} VerifyReport;

static void
verify_report (gpointer ctx, gboolean failure, const char *message, const AnnalsTlogVerifyStats *stats)
{
  VerifyReport *v = ctx;
  if (message == NULL) {
    if (!v->tty)
      return;
    gint64 now = g_get_monotonic_time ();
    if (now - v->last < 250000)
      return;
    v->last = now;
    fprintf (stderr, "\r\033[Kverify %s: %" G_GUINT64_FORMAT " entries, %.1f MB", v->list, stats->entries,
             stats->bytes / 1e6);
    return;
  }
  if (v->tty)
    fputs ("\r\033[K", stderr);
  if (failure)
    g_print ("FAIL %s: %s\n", v->list, message);
  else
    g_print ("note %s: %s\n", v->list, message);
}

/* The entry for list in site (NULL: none, or no site). */
static const AnnalsCheckpoint *
site_entry (const AnnalsTlogSite *site, const char *list)
{
  for (guint i = 0; site->lists != NULL && i < site->lists->len; i++) {
    const AnnalsCheckpoint *c = &g_array_index (site->lists, AnnalsCheckpoint, i);
    if (g_strcmp0 (annals_tlog_site_list_name (site, c), list) == 0)
      return c;
  }
  return NULL;
}

/* Reads and checks a site checkpoint: signed by key, for key's site, every
 * entry a list of it. */
static gboolean
load_site (const char *text, gsize length, const AnnalsNoteKey *key, AnnalsTlogSite *out, GError **error)
{
  g_autofree char *body = annals_note_open (text, length, key, error);
  if (body == NULL || !annals_tlog_site_parse (body, out, error))
    return FALSE;
  if (!origin_of_key (out->origin, key) || !g_str_has_suffix (out->origin, "/log")) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MISMATCH,
                 "its origin '%s' is not '%s/log', the site checkpoint of key '%s'", out->origin, key->name, key->name);
    annals_tlog_site_clear (out);
    return FALSE;
  }
  for (guint i = 0; i < out->lists->len; i++) {
    const AnnalsCheckpoint *c = &g_array_index (out->lists, AnnalsCheckpoint, i);
    const char *name = annals_tlog_site_list_name (out, c);
    if (name == NULL || !annals_config_list_name_valid (name)) {
      g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MISMATCH,
                   "it names log '%s', which is not one of '%s''s lists", c->origin, out->origin);
      annals_tlog_site_clear (out);
      return FALSE;
    }
  }
  return TRUE;
}

int
annals_cli_verify (int argc, char **argv)
{
  char *key_arg = NULL, *since = NULL;
  gboolean no_site = FALSE;
  const GOptionEntry entries[] = {
    { "key", 0, 0, G_OPTION_ARG_STRING, &key_arg, "The logs' verifier key (the string, or a file holding it)", "VKEY" },
    { "since", 0, 0, G_OPTION_ARG_FILENAME, &since,
      "A list or site checkpoint seen before: check that the logs now extend it (no rollback, no rewrite)",
      "OLD_CHECKPOINT_FILE" },
    { "no-site-checkpoint", 0, 0, G_OPTION_ARG_NONE, &no_site,
      "PATH is a root written before site checkpoints (log format 1): check its lists without one", NULL },
    { NULL },
  };
  if (!annals_cli_parse ("verify", "PATH",
                         "Checks a mirror offline: PATH is a copy of an archive root or of one list's folder.\n"
                         "Every stored message must hash to its log entry, the entries to the tiles, the tiles\n"
                         "to the signed checkpoint; redactions are listed with their reasons.  A root's site\n"
                         "checkpoint (log/site-checkpoint) must name every list, none missing or rolled back.\n"
                         "Names every failure and exits 1 if there is any.",
                         entries, FALSE, &argc, &argv))
    return EX_USAGE;
  g_autofree G_GNUC_UNUSED char *k_owned = key_arg, *s_owned = since;
  if (argc != 2 || key_arg == NULL)
    return annals_cli_usage ("verify", "give a PATH and --key VKEY");
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsNoteKey) key = load_verifier (key_arg, &error);
  if (key == NULL)
    return annals_cli_fail ("verify", error);
  g_autofree char *old = NULL;
  gsize old_len = 0;
  g_auto (AnnalsCheckpoint) old_cp = { 0 };
  g_auto (AnnalsTlogSite) old_site = { 0 };
  if (since != NULL) {
    if (!g_file_get_contents (since, &old, &old_len, &error))
      return annals_cli_fail ("verify", error);
    g_autofree char *t = annals_note_open (old, old_len, key, &error);
    if (t != NULL && annals_tlog_site_parse (t, &old_site, NULL)) {
      annals_tlog_site_clear (&old_site);
      if (!load_site (old, old_len, key, &old_site, &error)) {
        g_printerr ("annals verify: old site checkpoint '%s': %s\n", since, error->message);
        return 1;
      }
    } else if (t == NULL || !annals_checkpoint_parse (t, &old_cp, &error)) {
      g_printerr ("annals verify: old checkpoint '%s': %s\n", since, error->message);
      return 1;
    }
  }
  /* One list's folder, or a root with list folders. */
  g_autoptr (GPtrArray) lists = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *own = g_build_filename (argv[1], "log", "checkpoint", NULL);
  gboolean is_root = !g_file_test (own, G_FILE_TEST_EXISTS);
  if (!is_root) {
    g_ptr_array_add (lists, g_strdup (argv[1]));
  } else {
    g_autoptr (GDir) d = g_dir_open (argv[1], 0, &error);
    if (d == NULL)
      return annals_cli_fail ("verify", error);
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL) {
      g_autofree char *cp = g_build_filename (argv[1], name, "log", "checkpoint", NULL);
      if (g_file_test (cp, G_FILE_TEST_EXISTS))
        g_ptr_array_add (lists, g_build_filename (argv[1], name, NULL));
    }
    g_ptr_array_sort (lists, compare_paths);
  }
  guint64 failures = 0;
  /* The site checkpoint says which lists a root has. */
  g_auto (AnnalsTlogSite) site = { 0 };
  g_autofree char *site_path = g_build_filename (argv[1], ANNALS_TLOG_SITE_CHECKPOINT, NULL);
  if (is_root && lists->len == 0 && !g_file_test (site_path, G_FILE_TEST_EXISTS)) {
    g_printerr ("annals verify: no list with a log (LIST/log/checkpoint) in '%s'\n", argv[1]);
    return 1;
  }
  if (is_root) {
    const char *path = site_path;
    g_autofree char *text = NULL;
    gsize len;
    g_autoptr (GError) serr = NULL;
    if (!g_file_get_contents (path, &text, &len, NULL)) {
      if (!no_site) {
        g_print ("FAIL: no site checkpoint '%s', so nothing proves which lists the root has: a root written "
                 "before log format 2 gets one with its next ingest; pass --no-site-checkpoint to check its "
                 "lists without one\n",
                 path);
        failures++;
      }
    } else if (!load_site (text, len, key, &site, &serr)) {
      g_print ("FAIL: site checkpoint '%s': %s\n", path, serr->message);
      failures++;
    } else {
      /* Not an "ok LIST:" line: scripts read those as lists. */
      g_print ("note: the signed site checkpoint names %u %s (%s)\n", site.lists->len,
               annals_cli_plural (site.lists->len, "list", "lists"), site.origin);
    }
  }
  gboolean since_used = since == NULL || old_site.lists != NULL;
  g_autoptr (GHashTable) present = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < lists->len; i++) {
    g_autofree char *list = g_path_get_basename (lists->pdata[i]);
    g_hash_table_add (present, g_strdup (list));
    VerifyReport rep = { isatty (STDERR_FILENO), list, 0 };
    AnnalsTlogVerifyStats stats;
    g_autofree char *suffix = g_strconcat ("/", list, NULL);
    gboolean use_old = old_cp.origin != NULL && g_str_has_suffix (old_cp.origin, suffix);
    since_used |= use_old;
    /* The sizes and roots this log must extend. */
    AnnalsTlogPrefix prefixes[2];
    guint n_prefixes = 0;
    const AnnalsCheckpoint *named = site.lists ? site_entry (&site, list) : NULL;
    const AnnalsCheckpoint *named_old = old_site.lists ? site_entry (&old_site, list) : NULL;
    if (named != NULL) {
      prefixes[n_prefixes] = (AnnalsTlogPrefix){ "the site checkpoint", named->size, { 0 } };
      memcpy (prefixes[n_prefixes++].root, named->root, 32);
    } else if (site.lists != NULL) {
      g_print ("note %s: not named in the site checkpoint (a list added after it was signed?)\n", list);
    }
    if (named_old != NULL) {
      prefixes[n_prefixes] = (AnnalsTlogPrefix){ "the old site checkpoint", named_old->size, { 0 } };
      memcpy (prefixes[n_prefixes++].root, named_old->root, 32);
    }
    g_autoptr (GError) verr = NULL;
    gint64 t0 = g_get_monotonic_time ();
    gboolean ran = annals_tlog_verify (lists->pdata[i], list, key, use_old ? old : NULL, use_old ? old_len : 0,
                                       prefixes, n_prefixes, verify_report, &rep, &stats, &verr);
    if (rep.tty)
      fputs ("\r\033[K", stderr);
    if (!ran) {
      g_print ("FAIL %s: %s\n", list, verr->message);
      failures++;
      continue;
    }
    double secs = (g_get_monotonic_time () - t0) / 1e6;
    failures += stats.failures;
    g_print ("%s %s: %" G_GUINT64_FORMAT " %s (%" G_GUINT64_FORMAT " %s, %" G_GUINT64_FORMAT
             " %s), %.1f MB in %.2f s (%.0f MB/s)%s, %" G_GUINT64_FORMAT " %s\n",
             stats.failures ? "FAIL" : "ok", list, stats.entries, annals_cli_plural (stats.entries, "entry", "entries"),
             stats.messages, annals_cli_plural (stats.messages, "message", "messages"), stats.redactions,
             annals_cli_plural (stats.redactions, "redaction", "redactions"), stats.bytes / 1e6, secs,
             stats.bytes / 1e6 / MAX (secs, 1e-6),
             use_old     ? ", extends the old checkpoint"
             : named_old ? ", extends the old site checkpoint"
                         : "",
             stats.failures, annals_cli_plural (stats.failures, "failure", "failures"));
    if (stats.unlogged > 0)
      g_print ("note %s: %" G_GUINT64_FORMAT " stored entries are newer than the checkpoint (sound records, not yet "
               "proven by the log; the next write logs them)\n",
               list, stats.unlogged);
  }
  /* Lists the site vouched for that the mirror lacks. */
  for (guint s = 0; s < 2; s++) {
    const AnnalsTlogSite *which = s == 0 ? &site : &old_site;
    for (guint i = 0; which->lists != NULL && i < which->lists->len; i++) {
      const AnnalsCheckpoint *c = &g_array_index (which->lists, AnnalsCheckpoint, i);
      const char *name = annals_tlog_site_list_name (which, c);
      if (g_hash_table_contains (present, name))
        continue;
      g_print ("FAIL %s: named in the %ssite checkpoint (%" G_GUINT64_FORMAT " entries) but missing from '%s' "
               "(no %s/log/checkpoint)\n",
               name, s == 0 ? "" : "old ", c->size, argv[1], name);
      failures++;
      g_hash_table_add (present, g_strdup (name)); /* once is enough */
    }
  }
  if (!since_used) {
    g_print ("FAIL: the old checkpoint is for '%s', which is not in '%s'\n", old_cp.origin, argv[1]);
    failures++;
  }
  return failures > 0 ? 1 : 0;
}

typedef struct {
  AnnalsTlog *log;
  AnnalsStoreWriter *writer;
  const char *list;
  AnnalsNoteKey *key;
} RedactLog;

static gboolean
log_notice (gpointer ctx, GError **error)
{
  RedactLog *r = ctx;
  return annals_tlog_sync (r->log, annals_store_writer_reader (r->writer), r->list, r->key, error);
}

int
annals_cli_redact (int argc, char **argv)
{
  char *reason = NULL;
  const GOptionEntry entries[] = {
    { "reason", 0, 0, G_OPTION_ARG_STRING, &reason, "Why (public: it goes into the log)", "TEXT" },
    { NULL },
  };
  if (!annals_cli_parse ("redact", "NAME ID",
                         "Removes message ID (number or Message-ID) of list NAME from the store, visibly:\n"
                         "a redaction entry with the reason goes into the log first, then the message's\n"
                         "bytes are removed from its pack (rewritten), and the list's index is compacted into\n"
                         "a fresh copy without them.  Proofs issued before still verify.  Run again after a\n"
                         "crash, it finishes what is left.",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  g_autofree G_GNUC_UNUSED char *r_owned = reason;
  if (argc != 3 || reason == NULL || *reason == '\0')
    return annals_cli_usage ("redact", "give the list NAME, a message ID and --reason TEXT");
  g_autoptr (AnnalsConfig) config = annals_cli_open_config ("redact");
  if (config == NULL)
    return 1;
  g_autoptr (GError) error = NULL;
  g_autofree char *store_dir = annals_config_list_dir (config, argv[1], "store", &error);
  g_autofree char *log_dir = annals_config_list_dir (config, argv[1], "log", NULL);
  if (store_dir == NULL)
    return annals_cli_fail ("redact", error);
  g_autoptr (AnnalsNoteKey) key = annals_config_load_key (config, &error);
  if (key == NULL)
    return annals_cli_fail ("redact", error);
  g_autoptr (AnnalsStoreWriter) w = annals_store_writer_open (store_dir, 30000, &error);
  if (w == NULL)
    return annals_cli_fail ("redact", error);
  g_autofree char *origin = annals_config_log_origin (config, argv[1]);
  g_autoptr (AnnalsTlog) log = annals_tlog_open (log_dir, origin, &error);
  if (log == NULL)
    return annals_cli_fail ("redact", error);
  g_autofree char *site_origin = annals_config_site_origin (config);
  g_auto (GStrv) all_lists = annals_config_lists (config);
  annals_tlog_set_site (log, annals_config_root (config), site_origin, (const char *const *) all_lists);
  AnnalsStore *store = annals_store_writer_reader (w);
  guint64 target;
  guint copies;
  if (!annals_store_resolve_id (store, argv[2], &target, &copies, &error))
    return annals_cli_fail ("redact", error);
  if (copies > 1) {
    g_printerr ("annals redact: %u messages have Message-ID %s; name the one to redact by number ('annals ls %s')\n",
                copies, argv[2], argv[1]);
    return 1;
  }
  /* Log whatever the store has first, so the notice follows it. */
  if (!annals_tlog_sync (log, store, argv[1], key, &error))
    return annals_cli_fail ("redact", error);
  AnnalsStoreRecord rec;
  if (!annals_store_read_record (store, target, &rec, &error))
    return annals_cli_fail ("redact", error);
  if (rec.type == ANNALS_STORE_RECORD_REDACTED) {
    /* A rerun after a kill: the store is done, the index may not be. */
    g_print ("message %" G_GUINT64_FORMAT " of '%s' is redacted already; checking that the index holds none of it\n",
             target, argv[1]);
  } else {
    RedactLog ctx = { log, w, argv[1], key };
    guint64 notice;
    if (!annals_store_writer_redact (w, target, reason, g_get_real_time () / G_USEC_PER_SEC, log_notice, &ctx, &notice,
                                     &error))
      return annals_cli_fail ("redact", error);
    g_print ("redacted message %" G_GUINT64_FORMAT " of '%s' (log entry %" G_GUINT64_FORMAT "): %s\n", target, argv[1],
             notice, reason);
  }
  g_clear_pointer (&w, annals_store_writer_free);
  /* Out of the index too, if there is one. */
  g_autofree char *index_dir = annals_config_list_dir (config, argv[1], "index", NULL);
  if (index_dir && g_file_test (index_dir, G_FILE_TEST_IS_DIR) && !annals_cli_index_update (config, argv[1], TRUE))
    return 1;
  return 0;
}
