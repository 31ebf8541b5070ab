/* tlog: see tlog.h and doc/log-format.md. */
#include "core/tlog.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

G_DEFINE_QUARK (annals_tlog_error, annals_tlog_error)

#define ENTRY_MAGIC "annals-log-entry/1\n"
#define MAX_ENTRY 65535
#define MAX_FIELD 4000

void
annals_tlog_entry_clear (AnnalsTlogEntry *e)
{
  g_clear_pointer (&e->list, g_free);
  g_clear_pointer (&e->message_id, g_free);
  g_clear_pointer (&e->reason, g_free);
}

/* One line of text: control characters become spaces, length capped. */
static void
append_field (GString *s, const char *key, const char *value)
{
  g_string_append (s, key);
  g_string_append_c (s, ' ');
  gsize start = s->len;
  for (const char *p = value ? value : ""; *p && s->len - start < MAX_FIELD; p++)
    g_string_append_c (s, (guchar) *p < 0x20 || *p == 0x7f ? ' ' : *p);
  g_string_append_c (s, '\n');
}

GBytes *
annals_tlog_entry_encode (const AnnalsTlogEntry *e)
{
  GString *s = g_string_new (ENTRY_MAGIC);
  append_field (s, "list", e->list);
  g_string_append_printf (s, "index %" G_GUINT64_FORMAT "\n", e->index);
  if (e->type == ANNALS_TLOG_ENTRY_MESSAGE) {
    g_string_append (s, "type message\n");
    g_string_append_printf (s, "received %" G_GINT64_FORMAT "\n", e->received);
    g_string_append_printf (s, "size %" G_GUINT64_FORMAT "\n", e->size);
    g_string_append (s, "sha256 ");
    for (int i = 0; i < 32; i++)
      g_string_append_printf (s, "%02x", e->sha256[i]);
    g_string_append_c (s, '\n');
    append_field (s, "message-id", e->message_id);
  } else {
    g_string_append (s, "type redaction\n");
    g_string_append_printf (s, "redacts %" G_GUINT64_FORMAT "\n", e->redacts);
    g_string_append_printf (s, "time %" G_GINT64_FORMAT "\n", e->time);
    append_field (s, "reason", e->reason);
  }
  return g_string_free_to_bytes (s);
}

static gboolean
parse_u64 (const char *s, guint64 *out)
{
  if (*s == '\0' || strspn (s, "0123456789") != strlen (s) || strlen (s) > 19)
    return FALSE;
  *out = g_ascii_strtoull (s, NULL, 10);
  return TRUE;
}

static gboolean
parse_i64 (const char *s, gint64 *out)
{
  guint64 u;
  if (*s == '-') {
    if (!parse_u64 (s + 1, &u) || u > (guint64) G_MAXINT64)
      return FALSE;
    *out = -(gint64) u;
    return TRUE;
  }
  if (!parse_u64 (s, &u) || u > (guint64) G_MAXINT64)
    return FALSE;
  *out = (gint64) u;
  return TRUE;
}

gboolean
annals_tlog_entry_parse (const guint8 *data, gsize length, AnnalsTlogEntry *out, GError **error)
{
  memset (out, 0, sizeof *out);
  if (length > MAX_ENTRY || length <= strlen (ENTRY_MAGIC) || memcmp (data, ENTRY_MAGIC, strlen (ENTRY_MAGIC)) != 0
      || data[length - 1] != '\n' || memchr (data, '\0', length) != NULL
      || !g_utf8_validate_len ((const char *) data, length, NULL)) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "not an annals log entry (version 1)");
    return FALSE;
  }
  g_autofree char *text = g_strndup ((const char *) data + strlen (ENTRY_MAGIC), length - strlen (ENTRY_MAGIC) - 1);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint seen = 0;
  gboolean ok = TRUE;
  for (char **l = lines; *l && ok; l++) {
    char *sp = strchr (*l, ' ');
    if (sp == NULL) {
      ok = FALSE;
      break;
    }
    *sp = '\0';
    const char *k = *l, *v = sp + 1;
    if (strcmp (k, "list") == 0 && out->list == NULL) {
      out->list = g_strdup (v);
      seen |= 1;
    } else if (strcmp (k, "index") == 0) {
      ok = parse_u64 (v, &out->index);
      seen |= 2;
    } else if (strcmp (k, "type") == 0) {
      out->type = strcmp (v, "message") == 0     ? ANNALS_TLOG_ENTRY_MESSAGE
                  : strcmp (v, "redaction") == 0 ? ANNALS_TLOG_ENTRY_REDACTION
                                                 : 0;
      ok = out->type != 0;
      seen |= 4;
    } else if (strcmp (k, "received") == 0) {
      ok = parse_i64 (v, &out->received);
      seen |= 8;
    } else if (strcmp (k, "size") == 0) {
      ok = parse_u64 (v, &out->size);
      seen |= 16;
    } else if (strcmp (k, "sha256") == 0) {
      ok = strlen (v) == 64 && strspn (v, "0123456789abcdef") == 64;
      for (int i = 0; ok && i < 32; i++)
        out->sha256[i] = (guint8) (g_ascii_xdigit_value (v[2 * i]) << 4 | g_ascii_xdigit_value (v[2 * i + 1]));
      seen |= 32;
    } else if (strcmp (k, "message-id") == 0 && out->message_id == NULL) {
      out->message_id = g_strdup (v);
      seen |= 64;
    } else if (strcmp (k, "redacts") == 0) {
      ok = parse_u64 (v, &out->redacts);
      seen |= 128;
    } else if (strcmp (k, "time") == 0) {
      ok = parse_i64 (v, &out->time);
      seen |= 256;
    } else if (strcmp (k, "reason") == 0 && out->reason == NULL) {
      out->reason = g_strdup (v);
      seen |= 512;
    } else {
      ok = FALSE;
    }
  }
  guint need = out->type == ANNALS_TLOG_ENTRY_MESSAGE ? (1 | 2 | 4 | 8 | 16 | 32 | 64) : (1 | 2 | 4 | 128 | 256 | 512);
  if (!ok || (seen & need) != need) {
    annals_tlog_entry_clear (out);
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "malformed annals log entry");
    return FALSE;
  }
  return TRUE;
}

gboolean
annals_tlog_entry_from_store (AnnalsStore *store, const char *list, guint64 number, AnnalsTlogEntry *out,
                              GError **error)
{
  memset (out, 0, sizeof *out);
  AnnalsStoreRecord r;
  if (!annals_store_read_record (store, number, &r, error))
    return FALSE;
  out->list = g_strdup (list);
  out->index = number;
  if (r.type == ANNALS_STORE_RECORD_REDACTION) {
    g_auto (AnnalsStoreRedaction) red = { 0 };
    if (!annals_store_read_redaction (store, number, &red, error)) {
      annals_tlog_entry_clear (out);
      return FALSE;
    }
    out->type = ANNALS_TLOG_ENTRY_REDACTION;
    out->redacts = red.target;
    out->time = red.time;
    out->reason = g_steal_pointer (&red.reason);
    return TRUE;
  }
  g_autoptr (AnnalsStoreMeta) m = annals_store_read_meta (store, number, error);
  if (m == NULL) {
    annals_tlog_entry_clear (out);
    return FALSE;
  }
  out->type = ANNALS_TLOG_ENTRY_MESSAGE;
  out->received = r.receipt;
  out->size = r.raw_size;
  memcpy (out->sha256, r.sha256, 32);
  out->message_id = g_strdup (m->hdr.message_id);
  return TRUE;
}

/* --- Writing ------------------------------------------------------- */

struct _AnnalsTlog {
  char *dir;
  char *origin;
  AnnalsMerkleFrontier frontier;
  GPtrArray *bundle; /* GBytes: entries of the partial bundle */
  /* the site checkpoint to rewrite after each checkpoint (root NULL: none) */
  char *site_root;
  char *site_origin;
  char **site_lists;
  /* a write failed half-way (disk full): the state in memory may be ahead
   * of the files, so the next sync starts again from the checkpoint */
  gboolean stale;
};

/* A write that failed: NO_SPACE when the disk (or a file size limit) is
 * full, so that callers can say "free space and run again". */
static gboolean
set_write_error (GError **error, int errnum, const char *what, const char *path)
{
  gboolean full = errnum == ENOSPC || errnum == EFBIG || errnum == EDQUOT;
  g_set_error (error, ANNALS_TLOG_ERROR, full ? ANNALS_TLOG_ERROR_NO_SPACE : ANNALS_TLOG_ERROR_IO, "cannot %s '%s': %s",
               what, path, g_strerror (errnum));
  return FALSE;
}

/* Writes dir/rel whole or not at all: temp file, fsync, rename, fsync of
 * the folder.  One writer at a time (the store's or the site's lock), so
 * the temp name is fixed and a crash leaves at most one behind. */
static gboolean
write_file (const char *dir, const char *rel, const void *data, gsize len, GError **error)
{
  g_autofree char *path = g_build_filename (dir, rel, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  if (g_mkdir_with_parents (parent, 0755) != 0)
    return set_write_error (error, errno, "create", parent);
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return set_write_error (error, errno, "create", tmp);
  const guint8 *p = data;
  gsize left = len;
  while (left > 0) {
    ssize_t n = write (fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : ENOSPC;
      close (fd);
      g_unlink (tmp);
      return set_write_error (error, e, "write", tmp);
    }
    p += n;
    left -= (gsize) n;
  }
  if (fsync (fd) != 0 || close (fd) != 0) {
    int e = errno;
    close (fd);
    g_unlink (tmp);
    return set_write_error (error, e, "write", tmp);
  }
  if (rename (tmp, path) != 0) {
    int e = errno;
    g_unlink (tmp);
    return set_write_error (error, e, "rename into place", path);
  }
  int dfd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync (dfd);
    close (dfd);
  }
  return TRUE;
}

/* Removes the partial versions of a tile once the full one exists. */
static void
remove_partials (const char *dir, int level, guint64 tile)
{
  g_autofree char *full = annals_merkle_tile_path (level, tile, 0);
  g_autofree char *pdir = g_strconcat (dir, "/", full, ".p", NULL);
  g_autoptr (GDir) d = g_dir_open (pdir, 0, NULL);
  if (d == NULL)
    return;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL) {
    g_autofree char *p = g_build_filename (pdir, name, NULL);
    g_unlink (p);
  }
  g_rmdir (pdir);
}

static GByteArray *
encode_bundle (GPtrArray *entries)
{
  GByteArray *b = g_byte_array_new ();
  for (guint i = 0; i < entries->len; i++) {
    gsize len;
    const guint8 *d = g_bytes_get_data (entries->pdata[i], &len);
    guint8 prefix[2] = { (guint8) (len >> 8), (guint8) len };
    g_byte_array_append (b, prefix, 2);
    g_byte_array_append (b, d, (guint) len);
  }
  return b;
}

static gboolean
parse_bundle (const guint8 *data, gsize len, guint expect, GPtrArray *out, GError **error)
{
  gsize pos = 0;
  while (pos < len) {
    if (pos + 2 > len)
      break;
    gsize n = (gsize) data[pos] << 8 | data[pos + 1];
    pos += 2;
    if (pos + n > len)
      break;
    g_ptr_array_add (out, g_bytes_new (data + pos, n));
    pos += n;
  }
  if (pos != len || (expect > 0 && out->len != expect)) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED,
                 "entry bundle is malformed (%u entries, %u expected)", out->len, expect);
    return FALSE;
  }
  return TRUE;
}

static gboolean
tile_done (gpointer ctx, guint level, guint64 tile, const guint8 *hashes, GError **error)
{
  AnnalsTlog *log = ctx;
  g_autofree char *rel = annals_merkle_tile_path ((int) level, tile, 0);
  if (!write_file (log->dir, rel, hashes, ANNALS_TILE_WIDTH * ANNALS_HASH_SIZE, error))
    return FALSE;
  remove_partials (log->dir, (int) level, tile);
  if (level == 0) {
    g_autoptr (GByteArray) b = encode_bundle (log->bundle);
    g_autofree char *erel = annals_merkle_tile_path (-1, tile, 0);
    if (!write_file (log->dir, erel, b->data, b->len, error))
      return FALSE;
    remove_partials (log->dir, -1, tile);
    g_ptr_array_set_size (log->bundle, 0);
  }
  return TRUE;
}

static gboolean
read_whole (const char *dir, const char *rel, char **data, gsize *len, GError **error)
{
  g_autofree char *path = g_build_filename (dir, rel, NULL);
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, data, len, &local)) {
    g_set_error (error, ANNALS_TLOG_ERROR,
                 g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? ANNALS_TLOG_ERROR_MALFORMED
                                                                           : ANNALS_TLOG_ERROR_IO,
                 "%s", local->message);
    return FALSE;
  }
  return TRUE;
}

/* Byte length of the first count entries of a bundle (0 if it has fewer). */
static gsize
bundle_prefix (const guint8 *data, gsize len, guint count)
{
  gsize pos = 0;
  for (guint i = 0; i < count; i++) {
    if (pos + 2 > len)
      return 0;
    gsize n = (gsize) data[pos] << 8 | data[pos + 1];
    if (pos + 2 + n > len)
      return 0;
    pos += 2 + n;
  }
  return pos;
}

/* Reads tile (level -1: entry bundle) index as it was at width w: the
 * partial file, or, once that was replaced by the full tile, the full
 * tile's first w hashes (entries), which are the same. */
static gboolean
read_tile_at_width (const char *dir, int level, guint64 index, guint w, char **data, gsize *len, GError **error)
{
  g_autofree char *rel = annals_merkle_tile_path (level, index, w);
  g_autoptr (GError) local = NULL;
  if (read_whole (dir, rel, data, len, &local))
    return TRUE;
  g_autofree char *full = annals_merkle_tile_path (level, index, 0);
  if (w >= ANNALS_TILE_WIDTH || !read_whole (dir, full, data, len, NULL)) {
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  gsize keep = level < 0 ? bundle_prefix ((const guint8 *) *data, *len, w) : (gsize) w * ANNALS_HASH_SIZE;
  if (keep == 0 || keep > *len) {
    g_clear_pointer (data, g_free);
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  *len = keep;
  return TRUE;
}

/* The text part of a note, unverified: the writer reads its own. */
static char *
note_text (const char *note)
{
  const char *end = NULL;
  for (const char *p = strstr (note, "\n\n"); p != NULL; p = strstr (p + 1, "\n\n"))
    end = p + 1;
  return end ? g_strndup (note, (gsize) (end - note)) : NULL;
}

/* Sets the log's state to its last checkpoint on disk (empty when none). */
static gboolean
load_state (AnnalsTlog *log, GError **error)
{
  const char *dir = log->dir;
  annals_merkle_frontier_init (&log->frontier);
  g_ptr_array_set_size (log->bundle, 0);
  g_autofree char *cp = NULL;
  gsize cplen;
  g_autofree char *cppath = g_build_filename (dir, "checkpoint", NULL);
  if (!g_file_get_contents (cppath, &cp, &cplen, NULL))
    return TRUE; /* a new log */
  g_autofree char *text = note_text (cp);
  g_auto (AnnalsCheckpoint) c = { 0 };
  if (text == NULL || !annals_checkpoint_parse (text, &c, error)) {
    if (text == NULL)
      g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "'%s' is not a signed checkpoint", cppath);
    return FALSE;
  }
  guint64 n = c.size;
  for (guint level = 0; level < 8; level++) {
    guint w = (guint) ((n >> (ANNALS_TILE_HEIGHT * level)) & 0xff);
    if (w == 0)
      continue;
    g_autofree char *rel = annals_merkle_tile_path ((int) level, n >> (ANNALS_TILE_HEIGHT * (level + 1)), w);
    g_autofree char *data = NULL;
    gsize len;
    if (!read_tile_at_width (dir, (int) level, n >> (ANNALS_TILE_HEIGHT * (level + 1)), w, &data, &len, error))
      return FALSE;
    if (len != w * ANNALS_HASH_SIZE) {
      g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "tile '%s' has %zu bytes, expected %u", rel,
                   len, w * ANNALS_HASH_SIZE);
      return FALSE;
    }
    memcpy (log->frontier.partial[level], data, len);
    log->frontier.widths[level] = w;
  }
  log->frontier.size = n;
  guint w = (guint) (n & 0xff);
  if (w > 0) {
    g_autofree char *data = NULL;
    gsize len;
    if (!read_tile_at_width (dir, -1, n >> ANNALS_TILE_HEIGHT, w, &data, &len, error)
        || !parse_bundle ((guint8 *) data, len, w, log->bundle, error))
      return FALSE;
  }
  return TRUE;
}

AnnalsTlog *
annals_tlog_open (const char *dir, const char *origin, GError **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    int e = errno;
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_IO, "cannot create '%s': %s", dir, g_strerror (e));
    return NULL;
  }
  g_autoptr (AnnalsTlog) log = g_new0 (AnnalsTlog, 1);
  log->dir = g_strdup (dir);
  log->origin = g_strdup (origin);
  log->bundle = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  if (!load_state (log, error))
    return NULL;
  return g_steal_pointer (&log);
}

void
annals_tlog_free (AnnalsTlog *log)
{
  if (log == NULL)
    return;
  g_free (log->dir);
  g_free (log->origin);
  g_free (log->site_root);
  g_free (log->site_origin);
  g_strfreev (log->site_lists);
  if (log->bundle)
    g_ptr_array_unref (log->bundle);
  g_free (log);
}

void
annals_tlog_set_site (AnnalsTlog *log, const char *root, const char *site_origin, const char *const *lists)
{
  g_free (log->site_root);
  g_free (log->site_origin);
  g_strfreev (log->site_lists);
  log->site_root = g_strdup (root);
  log->site_origin = g_strdup (site_origin);
  log->site_lists = g_strdupv ((char **) lists);
}

guint64
annals_tlog_size (AnnalsTlog *log)
{
  return log->frontier.size;
}

gboolean
annals_tlog_append (AnnalsTlog *log, GBytes *entry, GError **error)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (entry, &len);
  if (len > MAX_ENTRY) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "log entry of %zu bytes is too long", len);
    return FALSE;
  }
  AnnalsHash leaf;
  annals_merkle_leaf_hash (d, len, leaf);
  g_ptr_array_add (log->bundle, g_bytes_ref (entry));
  return annals_merkle_frontier_append (&log->frontier, leaf, tile_done, log, error);
}

gboolean
annals_tlog_publish (AnnalsTlog *log, const AnnalsNoteKey *key, GError **error)
{
  guint64 n = log->frontier.size;
  for (guint level = 0; level < 8; level++) {
    guint w = log->frontier.widths[level];
    if (w == 0)
      continue;
    g_autofree char *rel = annals_merkle_tile_path ((int) level, n >> (ANNALS_TILE_HEIGHT * (level + 1)), w);
    if (!write_file (log->dir, rel, log->frontier.partial[level], w * ANNALS_HASH_SIZE, error))
      return FALSE;
  }
  if (log->bundle->len > 0) {
    g_autoptr (GByteArray) b = encode_bundle (log->bundle);
    g_autofree char *rel = annals_merkle_tile_path (-1, n >> ANNALS_TILE_HEIGHT, log->bundle->len);
    if (!write_file (log->dir, rel, b->data, b->len, error))
      return FALSE;
  }
  AnnalsHash root;
  annals_merkle_frontier_root (&log->frontier, root);
  g_autofree char *text = annals_checkpoint_format (log->origin, n, root);
  g_autofree char *note = annals_note_sign (key, text);
  if (!write_file (log->dir, "checkpoint", note, strlen (note), error))
    return FALSE;
  return log->site_root == NULL
         || annals_tlog_site_publish (log->site_root, log->site_origin, (const char *const *) log->site_lists, key,
                                      error);
}

static gboolean sync_entries (AnnalsTlog *log, AnnalsStore *store, const char *list, const AnnalsNoteKey *key,
                              GError **error);

gboolean
annals_tlog_sync (AnnalsTlog *log, AnnalsStore *store, const char *list, const AnnalsNoteKey *key, GError **error)
{
  if (log->stale) {
    if (!load_state (log, error))
      return FALSE;
    log->stale = FALSE;
  }
  if (!sync_entries (log, store, list, key, error)) {
    log->stale = TRUE;
    return FALSE;
  }
  return TRUE;
}

static gboolean
sync_entries (AnnalsTlog *log, AnnalsStore *store, const char *list, const AnnalsNoteKey *key, GError **error)
{
  guint64 count = annals_store_count (store);
  guint64 start = annals_tlog_size (log);
  if (count < start) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MISMATCH,
                 "the log of '%s' has %" G_GUINT64_FORMAT " entries but its store only %" G_GUINT64_FORMAT
                 ": the store lost messages; run 'annals verify'",
                 list, start, count);
    return FALSE;
  }
  for (guint64 i = start; i < count; i++) {
    g_auto (AnnalsTlogEntry) e = { 0 };
    if (!annals_tlog_entry_from_store (store, list, i, &e, error))
      return FALSE;
    g_autoptr (GBytes) b = annals_tlog_entry_encode (&e);
    if (!annals_tlog_append (log, b, error))
      return FALSE;
  }
  g_autofree char *cp = g_build_filename (log->dir, "checkpoint", NULL);
  if (count == start && g_file_test (cp, G_FILE_TEST_EXISTS)) {
    /* A root from before site checkpoints gets one with its next write. */
    if (log->site_root == NULL)
      return TRUE;
    g_autofree char *site = g_build_filename (log->site_root, ANNALS_TLOG_SITE_CHECKPOINT, NULL);
    if (g_file_test (site, G_FILE_TEST_EXISTS))
      return TRUE;
    return annals_tlog_site_publish (log->site_root, log->site_origin, (const char *const *) log->site_lists, key,
                                     error);
  }
  return annals_tlog_publish (log, key, error);
}

/* --- The site checkpoint ------------------------------------------- */

#define SITE_MAGIC "annals-site-checkpoint/2"

void
annals_tlog_site_clear (AnnalsTlogSite *site)
{
  g_clear_pointer (&site->origin, g_free);
  if (site->lists != NULL) {
    for (guint i = 0; i < site->lists->len; i++)
      annals_checkpoint_clear (&g_array_index (site->lists, AnnalsCheckpoint, i));
    g_clear_pointer (&site->lists, g_array_unref);
  }
}

gboolean
annals_tlog_site_parse (const char *text, AnnalsTlogSite *out, GError **error)
{
  memset (out, 0, sizeof *out);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = g_strv_length (lines);
  if (n < 3 || lines[0][0] == '\0' || strcmp (lines[1], SITE_MAGIC) != 0 || lines[n - 1][0] != '\0') {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED,
                 "not a site checkpoint (origin, then '" SITE_MAGIC "')");
    return FALSE;
  }
  out->origin = g_strdup (lines[0]);
  out->lists = g_array_new (FALSE, TRUE, sizeof (AnnalsCheckpoint));
  for (guint i = 2; i + 1 < n; i++) {
    g_auto (GStrv) f = g_strsplit (lines[i], " ", -1);
    AnnalsCheckpoint c = { 0 };
    gsize rlen = 0;
    g_autofree guint8 *root = g_strv_length (f) == 3 && strlen (f[2]) == 44 ? g_base64_decode (f[2], &rlen) : NULL;
    if (rlen != 32 || f[0][0] == '\0' || !parse_u64 (f[1], &c.size)) {
      g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED,
                   "site checkpoint line %u is not '<list origin> <size> <base64 root>'", i + 1);
      annals_tlog_site_clear (out);
      return FALSE;
    }
    c.origin = g_strdup (f[0]);
    memcpy (c.root, root, 32);
    g_array_append_val (out->lists, c);
  }
  return TRUE;
}

const char *
annals_tlog_site_list_name (const AnnalsTlogSite *site, const AnnalsCheckpoint *entry)
{
  if (!g_str_has_suffix (site->origin, "/log"))
    return NULL;
  gsize prefix = strlen (site->origin) - 3; /* "<site origin>/" */
  if (strncmp (entry->origin, site->origin, prefix) != 0)
    return NULL;
  const char *name = entry->origin + prefix;
  return *name != '\0' && strchr (name, '/') == NULL ? name : NULL;
}

gboolean
annals_tlog_site_publish (const char *root, const char *site_origin, const char *const *lists, const AnnalsNoteKey *key,
                          GError **error)
{
  g_autofree char *dir = g_build_filename (root, "log", NULL);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    return set_write_error (error, errno, "create", dir);
  /* Lists are written under their own locks: this one makes each rewrite
   * read every list's newest checkpoint, so none goes back. */
  g_autofree char *lock = g_build_filename (dir, "lock", NULL);
  int fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return set_write_error (error, errno, "create", lock);
  while (flock (fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      int e = errno;
      close (fd);
      return set_write_error (error, e, "lock", lock);
    }
  }
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "%s/log\n" SITE_MAGIC "\n", site_origin);
  gboolean ok = TRUE;
  for (const char *const *l = lists; ok && l != NULL && *l; l++) {
    g_autofree char *path = g_build_filename (root, *l, "log", "checkpoint", NULL);
    g_autofree char *note = NULL;
    if (!g_file_get_contents (path, &note, NULL, NULL))
      continue; /* no log yet */
    g_autofree char *text = note_text (note);
    g_auto (AnnalsCheckpoint) c = { 0 };
    if (text == NULL || !annals_checkpoint_parse (text, &c, NULL)) {
      g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED,
                   "'%s' is not a signed checkpoint; run 'annals verify' on the root", path);
      ok = FALSE;
      break;
    }
    g_autofree char *b = g_base64_encode (c.root, 32);
    g_string_append_printf (s, "%s %" G_GUINT64_FORMAT " %s\n", c.origin, c.size, b);
  }
  g_autofree char *text = g_string_free (s, FALSE);
  if (ok) {
    g_autofree char *note = annals_note_sign (key, text);
    ok = write_file (root, ANNALS_TLOG_SITE_CHECKPOINT, note, strlen (note), error);
  }
  close (fd); /* and the lock with it */
  return ok;
}

/* --- Reading ------------------------------------------------------- */

struct _AnnalsTlogReader {
  char *dir;
  char *note;
  AnnalsCheckpoint checkpoint;
  /* one cached tile per level, and the entry bundle */
  GBytes *tiles[8];
  guint64 tile_index[8];
  GPtrArray *bundle;
  guint64 bundle_index;
};

AnnalsTlogReader *
annals_tlog_reader_open (const char *dir, const AnnalsNoteKey *key, GError **error)
{
  g_autoptr (AnnalsTlogReader) r = g_new0 (AnnalsTlogReader, 1);
  r->dir = g_strdup (dir);
  gsize len;
  if (!read_whole (dir, "checkpoint", &r->note, &len, error))
    return NULL;
  /* No key: the caller serves the files and does not vouch for them. */
  g_autofree char *text = key ? annals_note_open (r->note, len, key, error) : note_text (r->note);
  if (text == NULL) {
    if (key == NULL)
      g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "the checkpoint is not a signed note");
    return NULL;
  }
  if (!annals_checkpoint_parse (text, &r->checkpoint, error))
    return NULL;
  return g_steal_pointer (&r);
}

void
annals_tlog_reader_free (AnnalsTlogReader *r)
{
  if (r == NULL)
    return;
  for (guint i = 0; i < 8; i++)
    if (r->tiles[i])
      g_bytes_unref (r->tiles[i]);
  if (r->bundle)
    g_ptr_array_unref (r->bundle);
  annals_checkpoint_clear (&r->checkpoint);
  g_free (r->note);
  g_free (r->dir);
  g_free (r);
}

const AnnalsCheckpoint *
annals_tlog_reader_checkpoint (AnnalsTlogReader *r)
{
  return &r->checkpoint;
}

const char *
annals_tlog_reader_note (AnnalsTlogReader *r)
{
  return r->note;
}

/* Width a tile has at the checkpoint's size (0: not there). */
static guint
tile_width (guint64 size, int level, guint64 tile)
{
  guint shift = ANNALS_TILE_HEIGHT * (guint) (level < 0 ? 0 : level);
  guint64 hashes = size >> shift;
  if (hashes >= (tile + 1) * ANNALS_TILE_WIDTH)
    return ANNALS_TILE_WIDTH;
  if (hashes > tile * ANNALS_TILE_WIDTH)
    return (guint) (hashes - tile * ANNALS_TILE_WIDTH);
  return 0;
}

GBytes *
annals_tlog_reader_tile (AnnalsTlogReader *r, int level, guint64 tile, GError **error)
{
  guint w = tile_width (r->checkpoint.size, level, tile);
  if (w == 0) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED,
                 "tile %d/%" G_GUINT64_FORMAT " is beyond the checkpoint", level, tile);
    return NULL;
  }
  g_autofree char *rel = annals_merkle_tile_path (level, tile, w);
  char *data = NULL;
  gsize len;
  if (!read_tile_at_width (r->dir, level, tile, w, &data, &len, error))
    return NULL;
  if (level >= 0 && len != w * ANNALS_HASH_SIZE) {
    g_free (data);
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "tile '%s' has %zu bytes, expected %u", rel,
                 len, w * ANNALS_HASH_SIZE);
    return NULL;
  }
  return g_bytes_new_take (data, len);
}

static gboolean
reader_hash (gpointer ctx, guint level, guint64 index, guint8 *out, GError **error)
{
  AnnalsTlogReader *r = ctx;
  guint64 tile = index / ANNALS_TILE_WIDTH;
  if (level >= 8)
    return FALSE;
  if (r->tiles[level] == NULL || r->tile_index[level] != tile) {
    g_clear_pointer (&r->tiles[level], g_bytes_unref);
    r->tiles[level] = annals_tlog_reader_tile (r, (int) level, tile, error);
    if (r->tiles[level] == NULL)
      return FALSE;
    r->tile_index[level] = tile;
  }
  gsize len;
  const guint8 *d = g_bytes_get_data (r->tiles[level], &len);
  gsize at = (index % ANNALS_TILE_WIDTH) * ANNALS_HASH_SIZE;
  if (at + ANNALS_HASH_SIZE > len) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "tile %u/%" G_GUINT64_FORMAT " is short", level,
                 tile);
    return FALSE;
  }
  memcpy (out, d + at, ANNALS_HASH_SIZE);
  return TRUE;
}

AnnalsMerkleSource
annals_tlog_reader_source (AnnalsTlogReader *r, gpointer *ctx)
{
  *ctx = r;
  return reader_hash;
}

GBytes *
annals_tlog_reader_entry (AnnalsTlogReader *r, guint64 index, GError **error)
{
  if (index >= r->checkpoint.size) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED,
                 "entry %" G_GUINT64_FORMAT " is beyond the checkpoint (%" G_GUINT64_FORMAT ")", index,
                 r->checkpoint.size);
    return NULL;
  }
  guint64 tile = index / ANNALS_TILE_WIDTH;
  if (r->bundle == NULL || r->bundle_index != tile) {
    g_clear_pointer (&r->bundle, g_ptr_array_unref);
    g_autoptr (GBytes) b = annals_tlog_reader_tile (r, -1, tile, error);
    if (b == NULL)
      return NULL;
    GPtrArray *entries = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
    gsize len;
    const guint8 *d = g_bytes_get_data (b, &len);
    if (!parse_bundle (d, len, tile_width (r->checkpoint.size, -1, tile), entries, error)) {
      g_ptr_array_unref (entries);
      return NULL;
    }
    r->bundle = entries;
    r->bundle_index = tile;
  }
  return g_bytes_ref (r->bundle->pdata[index % ANNALS_TILE_WIDTH]);
}

/* --- Proof files ---------------------------------------------------- */

#define PROOF_HEADER "c2sp.org/tlog-proof@v1"
#define CONSISTENCY_HEADER "annals/consistency-proof@v1"

static void
append_hashes (GString *s, GArray *hashes)
{
  for (guint i = 0; i < hashes->len; i++) {
    g_autofree char *b = g_base64_encode ((const guchar *) hashes->data + i * ANNALS_HASH_SIZE, ANNALS_HASH_SIZE);
    g_string_append_printf (s, "%s\n", b);
  }
}

char *
annals_tlog_proof_format (GBytes *entry, guint64 index, GArray *proof, const char *checkpoint_note)
{
  GString *s = g_string_new (PROOF_HEADER "\n");
  if (entry != NULL) {
    gsize len;
    const guint8 *d = g_bytes_get_data (entry, &len);
    g_autofree char *b = g_base64_encode (d, len);
    g_string_append_printf (s, "extra %s\n", b);
  }
  g_string_append_printf (s, "index %" G_GUINT64_FORMAT "\n", index);
  append_hashes (s, proof);
  g_string_append_c (s, '\n');
  g_string_append (s, checkpoint_note);
  return g_string_free (s, FALSE);
}

void
annals_tlog_proof_clear (AnnalsTlogProof *p)
{
  g_clear_pointer (&p->entry, g_bytes_unref);
  g_clear_pointer (&p->hashes, g_array_unref);
  g_clear_pointer (&p->checkpoint, g_free);
}

/* Reads base64 hash lines from lines[*i] up to an empty line. */
static gboolean
parse_hash_lines (char **lines, guint *i, GArray *out, GError **error)
{
  for (; lines[*i] && lines[*i][0] != '\0'; (*i)++) {
    gsize len = 0;
    g_autofree guint8 *h = strlen (lines[*i]) == 44 ? g_base64_decode (lines[*i], &len) : NULL;
    if (len != ANNALS_HASH_SIZE || out->len >= 64) {
      g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "proof line %u is not a base64 SHA-256 hash",
                   *i + 1);
      return FALSE;
    }
    g_array_append_vals (out, h, 1);
  }
  if (lines[*i] == NULL) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "proof has no checkpoint after its hashes");
    return FALSE;
  }
  (*i)++;
  return TRUE;
}

/* Everything after line i, rejoined: the checkpoint note. */
static char *
rest_of (const char *text, gsize length, char **lines, guint i)
{
  gsize off = 0;
  for (guint k = 0; k < i; k++)
    off += strlen (lines[k]) + 1;
  return off <= length ? g_strndup (text + off, length - off) : g_strdup ("");
}

gboolean
annals_tlog_proof_parse (const char *text, gsize length, AnnalsTlogProof *out, GError **error)
{
  memset (out, 0, sizeof *out);
  if (length > 1 << 20 || memchr (text, '\0', length) != NULL) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "not a tlog-proof (binary or too large)");
    return FALSE;
  }
  g_autofree char *copy = g_strndup (text, length);
  g_auto (GStrv) lines = g_strsplit (copy, "\n", -1);
  guint i = 0;
  if (lines[0] == NULL || strcmp (lines[0], PROOF_HEADER) != 0) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "not a tlog-proof: the first line must be '%s'",
                 PROOF_HEADER);
    return FALSE;
  }
  i = 1;
  if (lines[i] && g_str_has_prefix (lines[i], "extra ")) {
    gsize len = 0;
    guint8 *d = g_base64_decode (lines[i] + 6, &len);
    out->entry = g_bytes_new_take (d, len);
    i++;
  }
  if (lines[i] == NULL || !g_str_has_prefix (lines[i], "index ") || !parse_u64 (lines[i] + 6, &out->index)
      || (lines[i][6] == '0' && lines[i][7] != '\0')) {
    annals_tlog_proof_clear (out);
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "tlog-proof has no valid 'index' line");
    return FALSE;
  }
  i++;
  out->hashes = g_array_new (FALSE, FALSE, ANNALS_HASH_SIZE);
  if (!parse_hash_lines (lines, &i, out->hashes, error)) {
    annals_tlog_proof_clear (out);
    return FALSE;
  }
  out->checkpoint = rest_of (copy, length, lines, i);
  return TRUE;
}

char *
annals_tlog_consistency_format (guint64 old_size, GArray *proof, const char *checkpoint_note)
{
  GString *s = g_string_new (CONSISTENCY_HEADER "\n");
  g_string_append_printf (s, "old %" G_GUINT64_FORMAT "\n", old_size);
  append_hashes (s, proof);
  g_string_append_c (s, '\n');
  g_string_append (s, checkpoint_note);
  return g_string_free (s, FALSE);
}

gboolean
annals_tlog_consistency_parse (const char *text, gsize length, guint64 *old_size, GArray **hashes,
                               char **checkpoint_note, GError **error)
{
  if (length > 1 << 20 || memchr (text, '\0', length) != NULL) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED, "not a consistency proof");
    return FALSE;
  }
  g_autofree char *copy = g_strndup (text, length);
  g_auto (GStrv) lines = g_strsplit (copy, "\n", -1);
  if (lines[0] == NULL || strcmp (lines[0], CONSISTENCY_HEADER) != 0 || lines[1] == NULL
      || !g_str_has_prefix (lines[1], "old ") || !parse_u64 (lines[1] + 4, old_size)) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MALFORMED,
                 "not a consistency proof: expected '%s' and 'old N'", CONSISTENCY_HEADER);
    return FALSE;
  }
  guint i = 2;
  g_autoptr (GArray) h = g_array_new (FALSE, FALSE, ANNALS_HASH_SIZE);
  if (!parse_hash_lines (lines, &i, h, error))
    return FALSE;
  *checkpoint_note = rest_of (copy, length, lines, i);
  *hashes = g_steal_pointer (&h);
  return TRUE;
}

/* --- Verifying a mirror ---------------------------------------------- */

typedef struct {
  AnnalsTlogReader *reader;
  AnnalsTlogReport report;
  gpointer ctx;
  AnnalsTlogVerifyStats *stats;
  gboolean store_short; /* said that the store ends before the log */
} VerifyCtx;

static void G_GNUC_PRINTF (2, 3) fail (VerifyCtx *v, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  v->stats->failures++;
  v->report (v->ctx, TRUE, msg, v->stats);
}

static gboolean
compare_tile (VerifyCtx *v, int level, guint64 tile, const guint8 *hashes, guint width)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) file = annals_tlog_reader_tile (v->reader, level, tile, &error);
  g_autofree char *rel = annals_merkle_tile_path (level, tile, width);
  if (file == NULL) {
    fail (v, "tile %s: %s", rel, error->message);
    return TRUE;
  }
  gsize len;
  const guint8 *d = g_bytes_get_data (file, &len);
  if (len != width * ANNALS_HASH_SIZE || memcmp (d, hashes, len) != 0)
    fail (v, "tile %s does not match the entries (edited or damaged)", rel);
  return TRUE;
}

static gboolean
verify_tile_done (gpointer ctx, guint level, guint64 tile, const guint8 *hashes, GError **error)
{
  return compare_tile (ctx, (int) level, tile, hashes, ANNALS_TILE_WIDTH);
}

static void
check_message (VerifyCtx *v, AnnalsStore *store, const AnnalsTlogEntry *e, GHashTable *tombstones)
{
  AnnalsStoreRecord r;
  g_autoptr (GError) error = NULL;
  if (!annals_store_read_record (store, e->index, &r, &error)) {
    fail (v, "message %" G_GUINT64_FORMAT " <%s>: not in the store as logged: %s", e->index, e->message_id,
          error->message);
    return;
  }
  if (r.type == ANNALS_STORE_RECORD_REDACTED) {
    if (memcmp (r.sha256, e->sha256, 32) != 0 || r.raw_size != e->size)
      fail (v, "message %" G_GUINT64_FORMAT " <%s>: its tombstone does not match the log", e->index, e->message_id);
    g_hash_table_add (tombstones, GSIZE_TO_POINTER (e->index));
    return;
  }
  if (r.type != ANNALS_STORE_RECORD_MESSAGE) {
    fail (v, "entry %" G_GUINT64_FORMAT ": the log has message <%s>, the store a redaction notice", e->index,
          e->message_id);
    return;
  }
  g_autoptr (GBytes) raw = annals_store_read (store, e->index, NULL, &error);
  if (raw == NULL) {
    fail (v, "message %" G_GUINT64_FORMAT " <%s>: %s", e->index, e->message_id, error->message);
    return;
  }
  gsize len;
  const guint8 *d = g_bytes_get_data (raw, &len);
  guint8 sha[32];
  annals_store_sha256 (d, len, sha, NULL);
  v->stats->bytes += len;
  v->stats->messages++;
  if (len != e->size || memcmp (sha, e->sha256, 32) != 0)
    fail (v, "message %" G_GUINT64_FORMAT " <%s>: its bytes differ from what the log recorded (altered)", e->index,
          e->message_id);
}

static void
check_redaction (VerifyCtx *v, AnnalsStore *store, const AnnalsTlogEntry *e, GHashTable *redacted)
{
  v->stats->redactions++;
  g_hash_table_add (redacted, GSIZE_TO_POINTER (e->redacts));
  g_autoptr (GDateTime) when = g_date_time_new_from_unix_utc (e->time);
  g_autofree char *date = when ? g_date_time_format (when, "%Y-%m-%d %H:%M UTC") : g_strdup ("?");
  g_autofree char *msg
      = g_strdup_printf ("entry %" G_GUINT64_FORMAT ": message %" G_GUINT64_FORMAT " was redacted on %s: %s", e->index,
                         e->redacts, date, e->reason);
  v->report (v->ctx, FALSE, msg, v->stats);
  g_auto (AnnalsStoreRedaction) red = { 0 };
  g_autoptr (GError) error = NULL;
  if (!annals_store_read_redaction (store, e->index, &red, &error)) {
    fail (v, "entry %" G_GUINT64_FORMAT ": the log has a redaction, the store does not: %s", e->index, error->message);
    return;
  }
  if (red.target != e->redacts || red.time != e->time)
    fail (v, "entry %" G_GUINT64_FORMAT ": the store's redaction notice differs from the log's", e->index);
}

/* Store entries past the checkpoint are not proven by the log yet, but
 * must at least be sound records, in order: else anything appended to
 * offsets would pass as "not logged yet".  Stops at the first bad one. */
static guint64
check_unlogged (VerifyCtx *v, AnnalsStore *store, const char *store_dir, guint64 from, guint64 to)
{
  AnnalsStoreRecord prev = { 0 };
  gboolean have_prev = from > 0 && annals_store_read_record (store, from - 1, &prev, NULL);
  for (guint64 i = from; i < to; i++) {
    AnnalsStoreRecord r;
    g_autoptr (GError) error = NULL;
    gboolean good = annals_store_read_record (store, i, &r, &error);
    if (good && have_prev && (r.pack < prev.pack || (r.pack == prev.pack && r.offset <= prev.offset))) {
      g_set_error (&error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MISMATCH,
                   "its record (pack %u byte %" G_GUINT64_FORMAT ") is not after entry %" G_GUINT64_FORMAT "'s", r.pack,
                   r.offset, i - 1);
      good = FALSE;
    }
    if (good && r.type == ANNALS_STORE_RECORD_MESSAGE) {
      g_autoptr (GBytes) raw = annals_store_read (store, i, NULL, &error);
      guint8 sha[32];
      if (raw == NULL) {
        good = FALSE;
      } else {
        gsize len;
        const guint8 *d = g_bytes_get_data (raw, &len);
        annals_store_sha256 (d, len, sha, NULL);
        if (len != r.raw_size || memcmp (sha, r.sha256, 32) != 0) {
          g_set_error (&error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MISMATCH,
                       "its bytes do not match the SHA-256 in its record");
          good = FALSE;
        }
      }
    } else if (good && r.type == ANNALS_STORE_RECORD_REDACTION) {
      g_auto (AnnalsStoreRedaction) red = { 0 };
      good = annals_store_read_redaction (store, i, &red, &error);
    }
    if (!good) {
      g_autofree char *offsets = g_build_filename (store_dir, "offsets", NULL);
      fail (v,
            "%s: entry %" G_GUINT64_FORMAT " (past the checkpoint) is not a sound store record: %s (%" G_GUINT64_FORMAT
            " entries from it on not checked)",
            offsets, i, error->message, to - i);
      return i - from;
    }
    prev = r;
    have_prev = TRUE;
  }
  return to - from;
}

/* list_dir's log, for verifying list into v: its reader (new, and
 * v->reader), or NULL with an error.  A checkpoint of another list's
 * origin is a failure, not an error. */
static AnnalsTlogReader *
verify_open (VerifyCtx *v, const char *list_dir, const char *list, const AnnalsNoteKey *key, GError **error)
{
  g_autofree char *log_dir = g_build_filename (list_dir, "log", NULL);
  g_autoptr (AnnalsTlogReader) reader = annals_tlog_reader_open (log_dir, key, error);
  if (reader == NULL) {
    g_prefix_error (error, "checkpoint of '%s': ", list);
    return NULL;
  }
  const AnnalsCheckpoint *cp = annals_tlog_reader_checkpoint (reader);
  g_autofree char *suffix = g_strconcat ("/", list, NULL);
  if (!g_str_has_suffix (cp->origin, suffix) && strcmp (cp->origin, list) != 0)
    fail (v, "checkpoint origin '%s' is not list '%s''s", cp->origin, list);
  v->reader = reader;
  return g_steal_pointer (&reader);
}

/* Entry i (its bytes eb) against the store: the checks of both verifications. */
static void
check_entry (VerifyCtx *v, AnnalsStore *store, guint64 stored, const char *list, guint64 i, GBytes *eb,
             GHashTable *tombstones, GHashTable *redacted)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (eb, &len);
  g_auto (AnnalsTlogEntry) e = { 0 };
  g_autoptr (GError) perr = NULL;
  if (!annals_tlog_entry_parse (d, len, &e, &perr)) {
    fail (v, "entry %" G_GUINT64_FORMAT ": %s", i, perr->message);
    return;
  }
  if (e.index != i || g_strcmp0 (e.list, list) != 0)
    fail (v, "entry %" G_GUINT64_FORMAT " says it is entry %" G_GUINT64_FORMAT " of '%s'", i, e.index, e.list);
  else if (i >= stored) {
    /* A store cut short loses every entry from there on: one failure,
     * with the repair, rather than one per entry. */
    if (!v->store_short)
      fail (v,
            "entry %" G_GUINT64_FORMAT " and every later one: the store ends at entry %" G_GUINT64_FORMAT
            " (its offsets file cut short, or its newest records deleted); when its packs still hold them, "
            "any writer re-indexes them (doc/store-format.md, \"Rebuilding offsets and meta\")",
            i, stored);
    v->store_short = TRUE;
    /* The log does redact it: the message is not gone unannounced. */
    if (e.type == ANNALS_TLOG_ENTRY_REDACTION)
      g_hash_table_add (redacted, GSIZE_TO_POINTER (e.redacts));
  } else if (e.type == ANNALS_TLOG_ENTRY_MESSAGE)
    check_message (v, store, &e, tombstones);
  else
    check_redaction (v, store, &e, redacted);
}

/* Reads entry i and appends its leaf hash to f: the entry's bytes
 * (new), or NULL with an error. */
static GBytes *
verify_append (VerifyCtx *v, AnnalsMerkleFrontier *f, guint64 i, GError **error)
{
  g_autoptr (GBytes) eb = annals_tlog_reader_entry (v->reader, i, error);
  if (eb == NULL) {
    g_prefix_error (error, "entry %" G_GUINT64_FORMAT ": ", i);
    return NULL;
  }
  gsize len;
  const guint8 *d = g_bytes_get_data (eb, &len);
  AnnalsHash leaf;
  annals_merkle_leaf_hash (d, len, leaf);
  if (!annals_merkle_frontier_append (f, leaf, verify_tile_done, v, error))
    return NULL;
  v->stats->entries++;
  return g_steal_pointer (&eb);
}

/* The frontier after the last entry against the checkpoint: its partial
 * tiles against the tile files, its root against the checkpoint's. */
static void
check_frontier (VerifyCtx *v, const AnnalsCheckpoint *cp, const AnnalsMerkleFrontier *f)
{
  for (guint level = 0; level < 8; level++)
    if (f->widths[level] > 0)
      compare_tile (v, (int) level, cp->size >> (ANNALS_TILE_HEIGHT * (level + 1)), f->partial[level],
                    f->widths[level]);
  AnnalsHash root;
  annals_merkle_frontier_root (f, root);
  if (memcmp (root, cp->root, 32) != 0)
    fail (v, "the checkpoint's root hash does not match the entries");
}

/* The last checks of both verifications: redactions logged for messages
 * the store still holds, stored entries newer than the checkpoint; then
 * the last report. */
static void
verify_end (VerifyCtx *v, AnnalsStore *store, const char *store_dir, guint64 stored, guint64 size,
            GHashTable *tombstones, GHashTable *redacted)
{
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, redacted);
  while (g_hash_table_iter_next (&it, &k, NULL)) {
    guint64 n = GPOINTER_TO_SIZE (k);
    if (!g_hash_table_contains (tombstones, k) && n < size)
      fail (v, "message %" G_GUINT64_FORMAT " is logged as redacted but the store still holds it", n);
  }
  if (stored > size)
    v->stats->unlogged = check_unlogged (v, store, store_dir, size, stored);
  v->report (v->ctx, FALSE, NULL, v->stats);
}

gboolean
annals_tlog_verify (const char *list_dir, const char *list, const AnnalsNoteKey *key, const char *old_note,
                    gsize old_length, const AnnalsTlogPrefix *prefixes, guint n_prefixes, AnnalsTlogReport report,
                    gpointer ctx, AnnalsTlogVerifyStats *stats, GError **error)
{
  memset (stats, 0, sizeof *stats);
  VerifyCtx v = { NULL, report, ctx, stats };
  g_autoptr (AnnalsTlogReader) reader = verify_open (&v, list_dir, list, key, error);
  if (reader == NULL)
    return FALSE;
  const AnnalsCheckpoint *cp = annals_tlog_reader_checkpoint (reader);
  g_autofree char *store_dir = g_build_filename (list_dir, "store", NULL);

  g_auto (AnnalsCheckpoint) old = { 0 };
  gboolean have_old = old_note != NULL;
  if (have_old) {
    g_autofree char *text = annals_note_open (old_note, old_length, key, error);
    if (text == NULL || !annals_checkpoint_parse (text, &old, error)) {
      g_prefix_error (error, "old checkpoint: ");
      return FALSE;
    }
    if (strcmp (old.origin, cp->origin) != 0) {
      g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MISMATCH, "old checkpoint is for '%s', not '%s'",
                   old.origin, cp->origin);
      return FALSE;
    }
    if (old.size > cp->size) {
      g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MISMATCH,
                   "rolled back: the old checkpoint has %" G_GUINT64_FORMAT
                   " entries, the current one only %" G_GUINT64_FORMAT,
                   old.size, cp->size);
      return FALSE;
    }
  }
  g_autoptr (AnnalsStore) store = annals_store_open (store_dir, error);
  if (store == NULL)
    return FALSE;
  guint64 stored = annals_store_count (store);
  g_autoptr (GHashTable) tombstones = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr (GHashTable) redacted = g_hash_table_new (g_direct_hash, g_direct_equal);
  AnnalsMerkleFrontier *f = g_new (AnnalsMerkleFrontier, 1);
  annals_merkle_frontier_init (f);
  if (have_old && old.size == 0) {
    AnnalsHash empty;
    annals_merkle_empty_hash (empty);
    if (memcmp (empty, old.root, 32) != 0)
      fail (&v, "the old checkpoint's root is not that of an empty log");
  }
  for (guint p = 0; p < n_prefixes; p++) {
    AnnalsHash empty;
    annals_merkle_empty_hash (empty);
    if (prefixes[p].size > cp->size)
      fail (&v, "rolled back: %s has %" G_GUINT64_FORMAT " entries, this log only %" G_GUINT64_FORMAT, prefixes[p].what,
            prefixes[p].size, cp->size);
    else if (prefixes[p].size == 0 && memcmp (empty, prefixes[p].root, 32) != 0)
      fail (&v, "%s names an empty log with a root that is not an empty log's", prefixes[p].what);
  }
  gboolean ok = TRUE;
  for (guint64 i = 0; i < cp->size; i++) {
    g_autoptr (GBytes) eb = verify_append (&v, f, i, error);
    if (eb == NULL) {
      ok = FALSE;
      break;
    }
    check_entry (&v, store, stored, list, i, eb, tombstones, redacted);
    if (have_old && i + 1 == old.size) {
      AnnalsHash r;
      annals_merkle_frontier_root (f, r);
      if (memcmp (r, old.root, 32) != 0)
        fail (&v,
              "the old checkpoint (%" G_GUINT64_FORMAT " entries) is not a prefix of this log: history was rewritten",
              old.size);
    }
    for (guint p = 0; p < n_prefixes; p++) {
      if (i + 1 != prefixes[p].size)
        continue;
      AnnalsHash r;
      annals_merkle_frontier_root (f, r);
      if (memcmp (r, prefixes[p].root, 32) != 0)
        fail (&v, "%s (%" G_GUINT64_FORMAT " entries) is not a prefix of this log: history was rewritten",
              prefixes[p].what, prefixes[p].size);
    }
    if ((i & 255) == 255)
      report (ctx, FALSE, NULL, stats);
  }
  if (ok) {
    check_frontier (&v, cp, f);
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init (&it, tombstones);
    while (g_hash_table_iter_next (&it, &k, NULL))
      if (!g_hash_table_contains (redacted, k))
        fail (&v, "message %" G_GUINT64_FORMAT " was removed from the store without a redaction entry",
              (guint64) GPOINTER_TO_SIZE (k));
    verify_end (&v, store, store_dir, stored, cp->size, tombstones, redacted);
  }
  g_free (f);
  return ok;
}

static int
compare_u64 (gconstpointer a, gconstpointer b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;
  return x < y ? -1 : x > y;
}

gboolean
annals_tlog_verify_since (const char *list_dir, const char *list, const AnnalsNoteKey *key, const char *old_note,
                          gsize old_length, const char *verified_store, const guint64 *recheck, gsize n_recheck,
                          const AnnalsTlogPrefix *prefixes, guint n_prefixes, AnnalsTlogReport report, gpointer ctx,
                          AnnalsTlogVerifyStats *stats, GError **error)
{
  memset (stats, 0, sizeof *stats);
  VerifyCtx v = { NULL, report, ctx, stats };
  g_autoptr (AnnalsTlogReader) reader = verify_open (&v, list_dir, list, key, error);
  if (reader == NULL)
    return FALSE;
  const AnnalsCheckpoint *cp = annals_tlog_reader_checkpoint (reader);
  g_autofree char *store_dir = g_build_filename (list_dir, "store", NULL);
  g_auto (AnnalsCheckpoint) old = { 0 };
  g_autofree char *old_text = annals_note_open (old_note, old_length, key, error);
  if (old_text == NULL || !annals_checkpoint_parse (old_text, &old, error)) {
    g_prefix_error (error, "old checkpoint: ");
    return FALSE;
  }
  guint64 old_size = old.size;
  if (strcmp (old.origin, cp->origin) != 0) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MISMATCH, "old checkpoint is not for '%s'", cp->origin);
    return FALSE;
  }
  if (old_size > cp->size) {
    g_set_error (error, ANNALS_TLOG_ERROR, ANNALS_TLOG_ERROR_MISMATCH,
                 "rolled back: the old checkpoint has %" G_GUINT64_FORMAT
                 " entries, the current one only %" G_GUINT64_FORMAT,
                 old_size, cp->size);
    return FALSE;
  }
  g_autoptr (AnnalsStore) store = annals_store_open (store_dir, error);
  if (store == NULL)
    return FALSE;
  g_autoptr (AnnalsStore) verified = annals_store_open (verified_store, error);
  if (verified == NULL)
    return FALSE;
  guint64 stored = annals_store_count (store);
  if (stored < old_size)
    fail (&v,
          "the store has %" G_GUINT64_FORMAT " entries, fewer than the %" G_GUINT64_FORMAT " verified before (deleted)",
          stored, old_size);
  gpointer sctx;
  AnnalsMerkleSource src = annals_tlog_reader_source (reader, &sctx);

  /* The old tree's frontier: the old partial tile's leaves from their
   * entries (a full tile of the new size may hold them now), the higher
   * levels from the tiles; it must give the old root, which makes each of
   * those hashes the one verified before. */
  g_autofree AnnalsMerkleFrontier *f = g_new (AnnalsMerkleFrontier, 1);
  annals_merkle_frontier_init (f);
  for (guint level = 0; level < 8; level++) {
    guint64 count = old_size >> (ANNALS_TILE_HEIGHT * level);
    guint w = (guint) (count % ANNALS_TILE_WIDTH);
    for (guint j = 0; j < w; j++) {
      guint64 at = count - w + j;
      guint8 *h = f->partial[level] + j * ANNALS_HASH_SIZE;
      if (level == 0) {
        g_autoptr (GBytes) eb = annals_tlog_reader_entry (reader, at, error);
        if (eb == NULL) {
          g_prefix_error (error, "entry %" G_GUINT64_FORMAT ": ", at);
          return FALSE;
        }
        gsize len;
        const guint8 *d = g_bytes_get_data (eb, &len);
        annals_merkle_leaf_hash (d, len, h);
      } else if (!src (sctx, level, at, h, error)) {
        g_prefix_error (error, "level %u hash %" G_GUINT64_FORMAT ": ", level, at);
        return FALSE;
      }
    }
    f->widths[level] = w;
  }
  f->size = old_size;
  AnnalsHash r;
  annals_merkle_frontier_root (f, r);
  if (memcmp (r, old.root, 32) != 0)
    fail (&v, "the old checkpoint (%" G_GUINT64_FORMAT " entries) is not a prefix of this log: history was rewritten",
          old_size);

  /* The new entries, each against the store, their tiles as they fill. */
  g_autoptr (GHashTable) tombstones = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr (GHashTable) redacted = g_hash_table_new (g_direct_hash, g_direct_equal);
  for (guint64 i = old_size; i < cp->size; i++) {
    g_autoptr (GBytes) eb = verify_append (&v, f, i, error);
    if (eb == NULL)
      return FALSE;
    check_entry (&v, store, stored, list, i, eb, tombstones, redacted);
    if ((i & 255) == 255)
      report (ctx, FALSE, NULL, stats);
  }
  check_frontier (&v, cp, f);
  /* The tiles are the checkpoint's now: other roots come from them. */
  for (guint p = 0; p < n_prefixes; p++) {
    g_autoptr (GError) perr = NULL;
    if (prefixes[p].size > cp->size)
      fail (&v, "rolled back: %s has %" G_GUINT64_FORMAT " entries, this log only %" G_GUINT64_FORMAT, prefixes[p].what,
            prefixes[p].size, cp->size);
    else if (prefixes[p].size == 0)
      annals_merkle_empty_hash (r);
    else if (!annals_merkle_root (src, sctx, prefixes[p].size, r, &perr))
      fail (&v, "%s: %s", prefixes[p].what, perr->message);
    if (prefixes[p].size <= cp->size && perr == NULL && memcmp (r, prefixes[p].root, 32) != 0)
      fail (&v, "%s (%" G_GUINT64_FORMAT " entries) is not a prefix of this log: history was rewritten",
            prefixes[p].what, prefixes[p].size);
  }

  /* Old entries again: those the caller names and those redacted now. */
  g_autoptr (GArray) again = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_array_append_vals (again, recheck, (guint) n_recheck);
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, redacted);
  while (g_hash_table_iter_next (&it, &k, NULL)) {
    guint64 n = GPOINTER_TO_SIZE (k);
    if (n < old_size)
      g_array_append_val (again, n);
  }
  g_array_sort (again, compare_u64);
  g_autoptr (GHashTable) old_redactions = g_hash_table_new (g_direct_hash, g_direct_equal);
  for (guint j = 0; j < again->len; j++) {
    guint64 n = g_array_index (again, guint64, j);
    if (n >= old_size || (j > 0 && n == g_array_index (again, guint64, j - 1)))
      continue;
    g_autoptr (GBytes) eb = annals_tlog_reader_entry (reader, n, error);
    if (eb == NULL) {
      g_prefix_error (error, "entry %" G_GUINT64_FORMAT ": ", n);
      return FALSE;
    }
    stats->rechecked++;
    check_entry (&v, store, stored, list, n, eb, tombstones, old_redactions);
  }
  /* A tombstone needs a redaction: a new one, or the one it had when
   * it was verified. */
  g_hash_table_iter_init (&it, tombstones);
  while (g_hash_table_iter_next (&it, &k, NULL)) {
    guint64 n = GPOINTER_TO_SIZE (k);
    AnnalsStoreRecord was;
    if (!g_hash_table_contains (redacted, k)
        && !(n < old_size && annals_store_read_record (verified, n, &was, NULL)
             && was.type == ANNALS_STORE_RECORD_REDACTED))
      fail (&v, "message %" G_GUINT64_FORMAT " was removed from the store without a redaction entry", n);
  }
  verify_end (&v, store, store_dir, stored, cp->size, tombstones, redacted);
  return TRUE;
}
