/* mirror: a verified copy of another annals site over HTTP; see mirror.h. */
#include "archiver/mirror.h"

#include "core/config.h"
#include "core/fsutil.h"
#include "core/merkle.h"
#include "core/note.h"
#include "core/store.h"
#include "core/tlog.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK (annals_mirror_error, annals_mirror_error)

/* The most a file fetched into memory may have: a full entry bundle of
 * 256 entries of at most about 4 KB each, with room to spare. */
#define MAX_SMALL_FILE ((gsize) 16 * 1024 * 1024)

typedef struct {
  const AnnalsMirrorOptions *o;
  AnnalsMirrorStats *stats;
  CURL *curl;
  char *base; /* the origin's URL, ending in '/' */
  AnnalsNoteKey *key;
  char *site_origin;
} Mirror;

static void
mirror_clear (Mirror *m)
{
  g_clear_pointer (&m->curl, curl_easy_cleanup);
  g_clear_pointer (&m->key, annals_note_key_free);
  g_clear_pointer (&m->site_origin, g_free);
  g_clear_pointer (&m->base, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Mirror, mirror_clear)

static void G_GNUC_PRINTF (3, 4) say (Mirror *m, gboolean warning, const char *format, ...)
{
  if (m->o->report == NULL)
    return;
  va_list ap;
  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  m->o->report (m->o->ctx, warning, msg);
}

/* --- HTTP (libcurl) ------------------------------------------------- */

typedef struct {
  Mirror *m;
  int fd;          /* -1: into mem */
  GByteArray *mem; /* the body, or the start of an error body */
  guint64 from;    /* the byte range asked for starts here (0: none asked) */
  gboolean checked, refused;
  char *content_range;
  guint64 written;
} Transfer;

static void
transfer_clear (Transfer *t)
{
  g_clear_pointer (&t->content_range, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Transfer, transfer_clear)

static size_t
on_header (char *data, size_t size, size_t n, void *ctx)
{
  Transfer *t = ctx;
  gsize len = size * n;
  if (len > 14 && g_ascii_strncasecmp (data, "Content-Range:", 14) == 0) {
    g_free (t->content_range);
    t->content_range = g_strstrip (g_strndup (data + 14, len - 14));
  }
  return len;
}

static size_t
on_body (char *data, size_t size, size_t n, void *ctx)
{
  Transfer *t = ctx;
  gsize len = size * n;
  long status = 0;
  curl_easy_getinfo (t->m->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 && status != 206) {
    /* An error page: keep its start for the message. */
    if (t->mem->len < 512)
      g_byte_array_append (t->mem, (const guint8 *) data, (guint) MIN (len, 512 - t->mem->len));
    return len;
  }
  if (!t->checked) {
    t->checked = TRUE;
    if (t->fd >= 0 && status == 200 && t->from > 0) {
      /* The server sent the whole file: start the temp file over. */
      if (ftruncate (t->fd, 0) != 0)
        return 0;
      t->from = 0;
    } else if (status == 206) {
      char *end;
      const char *cr = t->content_range ? t->content_range : "";
      if (!g_str_has_prefix (cr, "bytes ") || g_ascii_strtoull (cr + 6, &end, 10) != t->from || *end != '-') {
        t->refused = TRUE;
        return 0;
      }
    }
  }
  if (t->fd < 0) {
    if (t->mem->len + len > MAX_SMALL_FILE) {
      t->refused = TRUE;
      return 0;
    }
    g_byte_array_append (t->mem, (const guint8 *) data, (guint) len);
  } else {
    gsize done = 0;
    while (done < len) {
      ssize_t w = pwrite (t->fd, data + done, len - done, (off_t) (t->from + t->written + done));
      if (w <= 0)
        return 0;
      done += (gsize) w;
    }
  }
  t->written += len;
  t->m->stats->bytes += len;
  return len;
}

/* GETs rel (relative to the origin's URL), from byte from on when from
 * > 0.  *status is the HTTP status; an answer other than 200, 206, 404
 * and 416 is an error. */
static gboolean
http_get (Mirror *m, const char *rel, Transfer *t, long *status, GError **error)
{
  g_autofree char *url = g_strconcat (m->base, rel, NULL);
  char range[48];
  curl_easy_setopt (m->curl, CURLOPT_URL, url);
  if (t->from > 0) {
    g_snprintf (range, sizeof range, "%" G_GUINT64_FORMAT "-", t->from);
    curl_easy_setopt (m->curl, CURLOPT_RANGE, range);
  } else {
    curl_easy_setopt (m->curl, CURLOPT_RANGE, NULL);
  }
  curl_easy_setopt (m->curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (m->curl, CURLOPT_HEADERDATA, t);
  curl_easy_setopt (m->curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (m->curl, CURLOPT_WRITEDATA, t);
  CURLcode rc = curl_easy_perform (m->curl);
  *status = 0;
  curl_easy_getinfo (m->curl, CURLINFO_RESPONSE_CODE, status);
  if (t->refused) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_REFUSED,
                 "'%s' answered with another byte range (%s) than asked, or more than %zu bytes", url,
                 t->content_range ? t->content_range : "none", MAX_SMALL_FILE);
    return FALSE;
  }
  if (rc != CURLE_OK) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_NETWORK, "cannot fetch '%s': %s", url,
                 curl_easy_strerror (rc));
    return FALSE;
  }
  if (*status != 200 && *status != 206 && *status != 404 && *status != 416) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_NETWORK,
                 "'%s' answered HTTP %ld: is it an annals site (doc/urls.md)?", url, *status);
    return FALSE;
  }
  return TRUE;
}

/* rel's whole body in memory: a new GBytes, or NULL with an error (a 404
 * is an error too: every file asked for this way must exist). */
static GBytes *
fetch_small (Mirror *m, const char *rel, GError **error)
{
  g_autoptr (GByteArray) mem = g_byte_array_new ();
  g_auto (Transfer) t = { m, -1, mem };
  long status;
  if (!http_get (m, rel, &t, &status, error))
    return NULL;
  if (status != 200) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_NETWORK, "'%s%s' answered HTTP %ld", m->base, rel,
                 status);
    return NULL;
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&mem));
}

static gboolean
io_error (GError **error, const char *what, const char *path)
{
  int e = errno;
  g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_IO, "cannot %s '%s': %s", what, path, g_strerror (e));
  return FALSE;
}

static gboolean
fsync_dir (const char *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync (fd) != 0) {
    if (fd >= 0)
      close (fd);
    return io_error (error, "sync folder", dir);
  }
  close (fd);
  return TRUE;
}

/* Writes data to path durably (temp file, fsync, rename): never through
 * path's old inode, which may be a link to the mirror's own file. */
static gboolean
write_durable (const char *path, const void *data, gsize len, int mode, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    return io_error (error, "create", dir);
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 mode, &local)) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_IO, "%s", local->message);
    return FALSE;
  }
  return TRUE;
}

static gboolean
copy_file (const char *from, int to_fd, const char *to, GError **error)
{
  int in = open (from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return io_error (error, "read", from);
  char buf[65536];
  ssize_t n;
  while ((n = read (in, buf, sizeof buf)) > 0)
    if (write (to_fd, buf, (size_t) n) != n) {
      close (in);
      return io_error (error, "write", to);
    }
  close (in);
  return n == 0 ? TRUE : io_error (error, "read", from);
}

/* Fetches rel into dest through dest.part: a part left by a killed run
 * is resumed with a byte range from its size.  prefix (may be NULL): a
 * file whose bytes the origin's file starts with (the mirror's older
 * copy of a file that only grows), copied into a new part, so that only
 * the rest is fetched.  The part is fsynced and renamed over dest. */
static gboolean
fetch_file (Mirror *m, const char *rel, const char *dest, const char *prefix, int mode, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (dest);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    return io_error (error, "create", dir);
  g_autofree char *part = g_strconcat (dest, ".part", NULL);
  gboolean fresh = !g_file_test (part, G_FILE_TEST_EXISTS);
  int fd = open (part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error (error, "create", part);
  if (fresh && prefix != NULL && !copy_file (prefix, fd, part, error)) {
    close (fd);
    return FALSE;
  }
  struct stat st;
  if (fstat (fd, &st) != 0) {
    close (fd);
    return io_error (error, "read", part);
  }
  g_autoptr (GByteArray) mem = g_byte_array_new ();
  g_auto (Transfer) t = { m, fd, mem, (guint64) st.st_size };
  long status;
  gboolean ok = http_get (m, rel, &t, &status, error);
  if (ok && status == 404) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_NETWORK, "'%s%s' answered HTTP 404", m->base, rel);
    ok = FALSE;
  }
  /* 416: the part holds the whole file already. */
  if (ok && (fsync (fd) != 0 || fchmod (fd, (mode_t) mode) != 0))
    ok = io_error (error, "write", part);
  close (fd);
  if (!ok)
    return FALSE;
  if (rename (part, dest) != 0)
    return io_error (error, "rename", part);
  return TRUE;
}

/* --- Staging ---------------------------------------------------------- */

/* Links every file of live into stage that stage lacks (not locks,
 * temp or part files: they are nobody's record). */
static gboolean
link_tree (const char *live, const char *stage, GError **error)
{
  g_autoptr (GDir) d = g_dir_open (live, 0, NULL);
  if (d == NULL)
    return TRUE;
  if (g_mkdir_with_parents (stage, 0755) != 0)
    return io_error (error, "create", stage);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL) {
    if (strcmp (name, "lock") == 0 || g_str_has_suffix (name, ".tmp") || g_str_has_suffix (name, ".part")
        || name[0] == '.')
      continue;
    g_autofree char *from = g_build_filename (live, name, NULL);
    g_autofree char *to = g_build_filename (stage, name, NULL);
    struct stat st;
    if (lstat (from, &st) != 0)
      continue;
    if (S_ISDIR (st.st_mode)) {
      if (!link_tree (from, to, error))
        return FALSE;
    } else if (S_ISREG (st.st_mode) && !g_file_test (to, G_FILE_TEST_EXISTS) && link (from, to) != 0) {
      return io_error (error, "link", to);
    }
  }
  return TRUE;
}

/* Renames every staged file that is not already the live one into live
 * (the path rel under both), a folder's files before its subfolders'
 * (tile/0 before tile/1 does not matter; all come before the
 * checkpoint, which the caller moves last). */
static gboolean
commit_tree (const char *stage, const char *live, GError **error)
{
  struct stat st;
  if (lstat (stage, &st) != 0)
    return TRUE;
  if (S_ISREG (st.st_mode)) {
    struct stat lst;
    if (lstat (live, &lst) == 0 && lst.st_ino == st.st_ino && lst.st_dev == st.st_dev)
      return TRUE;
    g_autofree char *dir = g_path_get_dirname (live);
    if (g_mkdir_with_parents (dir, 0755) != 0)
      return io_error (error, "create", dir);
    if (rename (stage, live) != 0)
      return io_error (error, "rename", stage);
    return TRUE;
  }
  if (!S_ISDIR (st.st_mode))
    return TRUE;
  g_autoptr (GDir) d = g_dir_open (stage, 0, NULL);
  if (d == NULL)
    return TRUE;
  g_autoptr (GPtrArray) subdirs = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL) {
    if (g_str_has_suffix (name, ".part") || g_str_has_suffix (name, ".tmp"))
      continue;
    g_autofree char *s = g_build_filename (stage, name, NULL);
    if (g_file_test (s, G_FILE_TEST_IS_DIR)) {
      g_ptr_array_add (subdirs, g_strdup (name));
      continue;
    }
    g_autofree char *l = g_build_filename (live, name, NULL);
    if (!commit_tree (s, l, error))
      return FALSE;
  }
  for (guint i = 0; i < subdirs->len; i++) {
    g_autofree char *s = g_build_filename (stage, subdirs->pdata[i], NULL);
    g_autofree char *l = g_build_filename (live, subdirs->pdata[i], NULL);
    if (!commit_tree (s, l, error))
      return FALSE;
  }
  return !g_file_test (live, G_FILE_TEST_IS_DIR) || fsync_dir (live, error);
}

/* --- One list ---------------------------------------------------------- */

typedef struct {
  GString *failures;
  guint count;
  const char *stage; /* replaced by the origin's URL in messages */
  const char *url;
} VerifyReport;

static void
verify_report_clear (VerifyReport *vr)
{
  if (vr->failures != NULL)
    g_string_free (g_steal_pointer (&vr->failures), TRUE);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (VerifyReport, verify_report_clear)

static void
on_verify (gpointer ctx, gboolean failure, const char *message, const AnnalsTlogVerifyStats *stats)
{
  VerifyReport *r = ctx;
  if (!failure || message == NULL)
    return;
  if (r->count++ < 5) {
    g_autoptr (GString) s = g_string_new (message);
    g_string_replace (s, r->stage, r->url, 0);
    /* Tiles are named relative to the log: say where they came from. */
    g_autofree char *tiles = g_strconcat ("tile ", r->url, "log/tile/", NULL);
    g_string_replace (s, "tile tile/", tiles, 1);
    g_string_append_printf (r->failures, "\n  %s", s->str);
  }
}

static guint64
file_size (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 ? (guint64) st.st_size : 0;
}

/* Entry n's pack number from an offsets file (doc/store-format.md), or
 * G_MAXUINT32 when there is no such entry. */
static guint32
offsets_pack (const guint8 *data, gsize len, guint64 n)
{
  gsize at = 16 + (gsize) n * 48;
  if (len < 16 || at + 48 > len)
    return G_MAXUINT32;
  return (guint32) data[at] | (guint32) data[at + 1] << 8 | (guint32) data[at + 2] << 16 | (guint32) data[at + 3] << 24;
}

static gboolean
mirror_list (Mirror *m, const char *list, const AnnalsCheckpoint *site_entry, GError **error)
{
  const AnnalsMirrorOptions *o = m->o;
  g_autofree char *live = g_build_filename (o->root, list, NULL);
  g_autofree char *stage = g_build_filename (o->root, ".mirror", list, NULL);
  g_autofree char *live_log = g_build_filename (live, "log", NULL);
  g_autofree char *stage_log = g_build_filename (stage, "log", NULL);
  g_autofree char *live_store = g_build_filename (live, "store", NULL);
  g_autofree char *stage_store = g_build_filename (stage, "store", NULL);
  g_autofree char *list_url = g_strconcat (m->base, list, "/", NULL);

  /* The new checkpoint, signed by the key. */
  g_autofree char *cp_rel = g_strconcat (list, "/log/checkpoint", NULL);
  g_autoptr (GBytes) cp_bytes = fetch_small (m, cp_rel, error);
  if (cp_bytes == NULL)
    return FALSE;
  gsize cp_len;
  const char *cp_note = g_bytes_get_data (cp_bytes, &cp_len);
  g_autofree char *cp_text = annals_note_open (cp_note, cp_len, m->key, error);
  g_auto (AnnalsCheckpoint) cp = { 0 };
  if (cp_text == NULL || !annals_checkpoint_parse (cp_text, &cp, error)) {
    g_prefix_error (error, "%s: refused '%s%s': ", list, m->base, cp_rel);
    if (*error)
      (*error)->domain = ANNALS_MIRROR_ERROR, (*error)->code = ANNALS_MIRROR_ERROR_REFUSED;
    return FALSE;
  }
  g_autofree char *want_origin = g_strconcat (m->site_origin, "/", list, NULL);
  gboolean origin_ok = strcmp (cp.origin, want_origin) == 0;
  guint64 size = cp.size;
  if (!origin_ok) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_REFUSED, "%s: refused '%s%s': its origin is not '%s'",
                 list, m->base, cp_rel, want_origin);
    return FALSE;
  }
  g_autofree char *live_cp = g_build_filename (live_log, "checkpoint", NULL);
  g_autofree char *old_note = NULL;
  gsize old_len = 0;
  guint64 old_size = 0;
  if (g_file_get_contents (live_cp, &old_note, &old_len, NULL)) {
    g_autofree char *t = annals_note_open (old_note, old_len, m->key, NULL);
    g_auto (AnnalsCheckpoint) oc = { 0 };
    if (t != NULL && annals_checkpoint_parse (t, &oc, NULL))
      old_size = oc.size;
    if (old_len == cp_len && memcmp (old_note, cp_note, cp_len) == 0) {
      say (m, FALSE, "%s: up to date (%" G_GUINT64_FORMAT " entries)", list, size);
      annals_fs_remove_tree (stage, NULL);
      m->stats->lists++;
      return TRUE;
    }
  }
  if (size < old_size) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_REFUSED,
                 "%s: refused '%s%s': rolled back to %" G_GUINT64_FORMAT " entries, the mirror has %" G_GUINT64_FORMAT
                 "; the mirror keeps its last verified state",
                 list, m->base, cp_rel, size, old_size);
    return FALSE;
  }

  /* Stage: what the mirror has, linked, and the new checkpoint. */
  if (!link_tree (live_store, stage_store, error) || !link_tree (live_log, stage_log, error))
    return FALSE;
  g_autofree char *stage_cp = g_build_filename (stage_log, "checkpoint", NULL);
  if (!write_durable (stage_cp, cp_note, cp_len, 0644, error))
    return FALSE;

  /* Tiles and entry bundles: the full ones the mirror lacks and the
   * partial ones of the new size. */
  for (int level = -1; level < 8; level++) {
    guint64 count = level < 0 ? size : size >> (ANNALS_TILE_HEIGHT * (guint) level);
    if (count == 0)
      break;
    guint64 full = count / ANNALS_TILE_WIDTH;
    guint w = (guint) (count % ANNALS_TILE_WIDTH);
    for (guint64 t = 0; t <= full; t++) {
      if (t == full && w == 0)
        break;
      g_autofree char *rel = annals_merkle_tile_path (level, t, t < full ? 0 : w);
      g_autofree char *path = g_build_filename (stage_log, rel, NULL);
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      g_autofree char *url_rel = g_strconcat (list, "/log/", rel, NULL);
      g_autoptr (GBytes) b = fetch_small (m, url_rel, error);
      if (b == NULL)
        return FALSE;
      gsize len;
      const void *d = g_bytes_get_data (b, &len);
      if (!write_durable (path, d, len, 0644, error))
        return FALSE;
    }
  }

  /* The new entries, read before they are verified only to know what to
   * fetch: which messages were redacted (their packs were rewritten). */
  g_autoptr (GArray) redacted = g_array_new (FALSE, FALSE, sizeof (guint64));
  {
    g_autoptr (AnnalsTlogReader) r = annals_tlog_reader_open (stage_log, m->key, error);
    if (r == NULL) {
      g_prefix_error (error, "%s: ", list);
      return FALSE;
    }
    /* Consistency first, from the tiles alone: when they give the
     * signed root but no proof from the mirror's checkpoint, the origin
     * rewrote its history, and nothing more is fetched.  (Tiles that do
     * not give the root are named by the verification below.) */
    if (old_size > 0) {
      gpointer sctx;
      AnnalsMerkleSource src = annals_tlog_reader_source (r, &sctx);
      AnnalsHash root;
      g_auto (AnnalsCheckpoint) oc = { 0 };
      g_autofree char *ot = annals_note_open (old_note, old_len, m->key, NULL);
      g_autoptr (GArray) proof = NULL;
      if (ot != NULL && annals_checkpoint_parse (ot, &oc, NULL) && annals_merkle_root (src, sctx, size, root, NULL)
          && memcmp (root, annals_tlog_reader_checkpoint (r)->root, 32) == 0) {
        proof = annals_merkle_consistency_proof (src, sctx, old_size, size, NULL);
        if (proof == NULL
            || !annals_merkle_verify_consistency (old_size, size, oc.root, root, (const guint8 *) proof->data,
                                                  proof->len)) {
          g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_REFUSED,
                       "%s: refused '%s%s': the log at %" G_GUINT64_FORMAT " entries does not extend the mirror's "
                       "checkpoint (%" G_GUINT64_FORMAT " entries): the old checkpoint is not a prefix of this log: "
                       "history was rewritten; the mirror keeps its last verified state",
                       list, m->base, cp_rel, size, old_size);
          annals_fs_remove_tree (stage, NULL);
          return FALSE;
        }
      }
    }
    for (guint64 i = old_size; i < size; i++) {
      g_autoptr (GBytes) eb = annals_tlog_reader_entry (r, i, error);
      g_auto (AnnalsTlogEntry) e = { 0 };
      gsize len;
      const guint8 *d = eb ? g_bytes_get_data (eb, &len) : NULL;
      if (eb == NULL || !annals_tlog_entry_parse (d, len, &e, error)) {
        g_prefix_error (error, "%s: refused entry %" G_GUINT64_FORMAT " from '%slog/': ", list, i, list_url);
        (*error)->domain = ANNALS_MIRROR_ERROR;
        (*error)->code = ANNALS_MIRROR_ERROR_REFUSED;
        annals_fs_remove_tree (stage, NULL);
        return FALSE;
      }
      if (e.type == ANNALS_TLOG_ENTRY_REDACTION) {
        g_array_append_val (redacted, e.redacts);
        say (m, FALSE, "%s: message %" G_GUINT64_FORMAT " was redacted on the origin: %s", list, e.redacts,
             e.reason ? e.reason : "");
      }
    }
  }

  /* The store: offsets and meta only grow, except that a redaction
   * rewrites a message's entries in place: then they come whole. */
  g_autofree char *live_offsets = g_build_filename (live_store, "offsets", NULL);
  guint64 old_count = file_size (live_offsets) >= 16 ? (file_size (live_offsets) - 16) / 48 : 0;
  const char *files[] = { "FORMAT", "offsets", "meta" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *path = g_build_filename (stage_store, files[i], NULL);
    g_autofree char *rel = g_strconcat (list, "/store/", files[i], NULL);
    gboolean have = g_file_test (path, G_FILE_TEST_EXISTS);
    if (i == 0 && have)
      continue;
    if (have && redacted->len > 0) {
      g_autofree char *part = g_strconcat (path, ".part", NULL);
      unlink (part);
      unlink (path);
      have = FALSE;
    }
    if (!fetch_file (m, rel, path, have ? path : NULL, 0644, error)) {
      g_prefix_error (error, "%s: ", list);
      return FALSE;
    }
  }
  g_autofree char *stage_offsets = g_build_filename (stage_store, "offsets", NULL);
  g_autofree char *offsets = NULL;
  gsize offsets_len = 0;
  if (!g_file_get_contents (stage_offsets, &offsets, &offsets_len, NULL) || offsets_len < 16) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_REFUSED, "%s: refused '%sstore/offsets': too short",
                 list, list_url);
    annals_fs_remove_tree (stage, NULL);
    return FALSE;
  }
  guint64 count = (offsets_len - 16) / 48;
  guint32 last_pack = count > 0 ? offsets_pack ((guint8 *) offsets, offsets_len, count - 1) : 0;
  if (count > 0 && last_pack > 1000000) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_REFUSED,
                 "%s: refused '%sstore/offsets': entry %" G_GUINT64_FORMAT " names pack %u", list, list_url, count - 1,
                 last_pack);
    annals_fs_remove_tree (stage, NULL);
    return FALSE;
  }
  g_autoptr (GHashTable) rewritten = g_hash_table_new (g_direct_hash, g_direct_equal);
  for (guint i = 0; i < redacted->len; i++) {
    guint32 p = offsets_pack ((guint8 *) offsets, offsets_len, g_array_index (redacted, guint64, i));
    if (p != G_MAXUINT32)
      g_hash_table_add (rewritten, GUINT_TO_POINTER (p));
  }
  /* Packs whose bytes all came from the origin this run (not a local
   * prefix): the old entries in them are verified again. */
  g_autoptr (GHashTable) refetched = g_hash_table_new (g_direct_hash, g_direct_equal);
  for (guint32 p = 0; count > 0 && p <= last_pack; p++) {
    char name[32];
    g_snprintf (name, sizeof name, "%08u.pack", p);
    g_autofree char *path = g_build_filename (stage_store, "packs", name, NULL);
    g_autofree char *rel = g_strconcat (list, "/store/packs/", name, NULL);
    struct stat st;
    gboolean have = stat (path, &st) == 0;
    if (have && g_hash_table_contains (rewritten, GUINT_TO_POINTER (p))) {
      /* A redaction rewrote it: the whole new file, and never the old
       * bytes again. */
      g_autofree char *part = g_strconcat (path, ".part", NULL);
      unlink (part);
      unlink (path);
      have = FALSE;
    } else if (have && (st.st_mode & 0222) == 0) {
      continue; /* sealed: fetched once */
    }
    if (!have)
      g_hash_table_add (refetched, GUINT_TO_POINTER (p));
    /* Every pack before the last is sealed on the origin. */
    if (!fetch_file (m, rel, path, have ? path : NULL, p < last_pack ? 0444 : 0644, error)) {
      g_prefix_error (error, "%s: ", list);
      return FALSE;
    }
  }
  /* The dictionaries the new records name (immutable: fetched once). */
  {
    g_autoptr (AnnalsStore) store = annals_store_open (stage_store, NULL);
    guint64 n = store ? annals_store_count (store) : 0;
    for (guint64 i = MIN (old_count, n); i < n; i++) {
      AnnalsStoreRecord r;
      if (!annals_store_read_record (store, i, &r, NULL) || r.dict == 0)
        continue; /* verification names a bad record */
      char name[32];
      g_snprintf (name, sizeof name, "%08u.zdict", r.dict);
      g_autofree char *path = g_build_filename (stage_store, "dict", name, NULL);
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      g_autofree char *rel = g_strconcat (list, "/store/dict/", name, NULL);
      if (!fetch_file (m, rel, path, NULL, 0444, error)) {
        g_prefix_error (error, "%s: ", list);
        return FALSE;
      }
    }
  }

  /* Verify the staged list before anything is moved: as a whole on the
   * first run; then only what is new since the mirror's checkpoint (its
   * old entries were verified by the run that placed it), and the old
   * entries the origin rewrote: those whose offsets entry changed (the
   * file came whole after a redaction) or whose pack came whole. */
  g_autoptr (GArray) recheck = g_array_new (FALSE, FALSE, sizeof (guint64));
  if (old_size > 0) {
    g_autofree char *old_offsets = NULL;
    gsize old_offsets_len = 0;
    if (redacted->len > 0 && !g_file_get_contents (live_offsets, &old_offsets, &old_offsets_len, NULL))
      old_offsets_len = 0;
    for (guint64 i = 0; i < MIN (old_size, count); i++) {
      gsize at = 16 + (gsize) i * 48;
      gboolean moved
          = redacted->len > 0 && (at + 48 > old_offsets_len || memcmp (old_offsets + at, offsets + at, 48) != 0);
      if (moved
          || g_hash_table_contains (refetched, GUINT_TO_POINTER (offsets_pack ((guint8 *) offsets, offsets_len, i))))
        g_array_append_val (recheck, i);
    }
  }
  AnnalsTlogPrefix prefix = { "the site checkpoint" };
  if (site_entry != NULL) {
    prefix.size = site_entry->size;
    memcpy (prefix.root, site_entry->root, 32);
  }
  g_autofree char *stage_slash = g_strconcat (stage, "/", NULL);
  g_auto (VerifyReport) vr = { g_string_new (NULL), 0, stage_slash, list_url };
  AnnalsTlogVerifyStats vs;
  g_autoptr (GError) verr = NULL;
  gboolean ok = old_size > 0 ? annals_tlog_verify_since (stage, list, m->key, old_note, old_len, live_store,
                                                         (const guint64 *) (gpointer) recheck->data, recheck->len,
                                                         &prefix, site_entry ? 1 : 0, on_verify, &vr, &vs, &verr)
                             : annals_tlog_verify (stage, list, m->key, old_note, old_len, &prefix, site_entry ? 1 : 0,
                                                   on_verify, &vr, &vs, &verr);
  if (!ok || vs.failures > 0) {
    if (verr != NULL) {
      g_autoptr (GString) s = g_string_new (verr->message);
      g_string_replace (s, stage_slash, list_url, 0);
      g_string_append_printf (vr.failures, "\n  %s", s->str);
    }
    if (vr.count > 5)
      g_string_append_printf (vr.failures, "\n  (%u more)", vr.count - 5);
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_REFUSED,
                 "%s: refused what %s serves, it does not verify:%s\nthe mirror keeps its last verified state "
                 "(%" G_GUINT64_FORMAT " entries)",
                 list, list_url, vr.failures->str, old_size);
    annals_fs_remove_tree (stage, NULL);
    return FALSE;
  }

  /* Move it in: the store, the tiles, the checkpoint last. */
  g_autofree char *stage_tiles = g_build_filename (stage_log, "tile", NULL);
  g_autofree char *live_tiles = g_build_filename (live_log, "tile", NULL);
  if (!commit_tree (stage_store, live_store, error) || !commit_tree (stage_tiles, live_tiles, error)
      || !commit_tree (stage_cp, live_cp, error) || !fsync_dir (live_log, error))
    return FALSE;
  annals_fs_remove_tree (stage, NULL);
  m->stats->lists++;
  m->stats->lists_updated++;
  m->stats->entries += size - old_size;
  m->stats->redactions += redacted->len;
  say (m, FALSE,
       "%s: verified %" G_GUINT64_FORMAT " new entries (%" G_GUINT64_FORMAT " verified before, %" G_GUINT64_FORMAT
       " of them again); %" G_GUINT64_FORMAT " in all",
       list, size - old_size, old_size, vs.rechecked, size);
  return TRUE;
}

/* --- The site ---------------------------------------------------------- */

static AnnalsNoteKey *
verifier (const char *text, GError **error)
{
  AnnalsNoteKey *k = annals_note_key_parse (text, error);
  if (k != NULL && k->has_secret) {
    /* Verifying needs only the public half. */
    memset (k->secret_key, 0, sizeof k->secret_key);
    k->has_secret = FALSE;
  }
  return k;
}

/* Pins the origin's site origin, URL and key (data: three strings). */
static gboolean
pin_mirror (AnnalsConfig *config, gconstpointer data, GError **error)
{
  const char *const *pin = data;
  GKeyFile *kf = annals_config_keyfile (config);
  g_key_file_set_string (kf, "site", "origin", pin[0]);
  g_key_file_set_string (kf, "mirror", "url", pin[1]);
  g_key_file_set_string (kf, "mirror", "key", pin[2]);
  return TRUE;
}

static gboolean
run (Mirror *m, GError **error)
{
  const AnnalsMirrorOptions *o = m->o;
  g_autofree char *conf_path = g_build_filename (o->root, "annals.conf", NULL);
  g_autoptr (AnnalsConfig) config = NULL;
  if (g_file_test (conf_path, G_FILE_TEST_EXISTS)) {
    config = annals_config_open (o->root, error);
    if (config == NULL)
      return FALSE;
  }
  GKeyFile *kf = config ? annals_config_keyfile (config) : NULL;
  g_autofree char *pinned = kf ? g_key_file_get_string (kf, "mirror", "key", NULL) : NULL;
  if (config != NULL && pinned == NULL) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_IO,
                 "'%s' is an archive, not a mirror ([mirror] key is not set): give an empty folder", conf_path);
    return FALSE;
  }

  /* The key: as given, else the pinned one, else the origin's (once,
   * with a warning: it is only as good as the connection it came by). */
  g_autofree char *key_text = NULL;
  if (o->key != NULL) {
    key_text = g_strstrip (g_strdup (o->key));
    if (pinned != NULL && strcmp (pinned, key_text) != 0) {
      g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_KEY,
                   "the key given is not the one this mirror pinned (%s, in '%s'): a site's key does not change; if "
                   "it really did, mirror into a new folder",
                   pinned, conf_path);
      return FALSE;
    }
  } else if (pinned != NULL) {
    key_text = g_strdup (pinned);
  } else {
    g_autoptr (GBytes) b = fetch_small (m, "about/vkey", error);
    if (b == NULL) {
      g_prefix_error (error, "no --key given and the origin's key is not available: ");
      return FALSE;
    }
    key_text = g_strstrip (g_strndup (g_bytes_get_data (b, NULL), g_bytes_get_size (b)));
    say (m, TRUE,
         "no --key given: trusting the key the origin serves, %s; check it against a copy from a source you trust "
         "(it is pinned in '%s' from now on)",
         key_text, conf_path);
  }
  m->key = verifier (key_text, error);
  if (m->key == NULL) {
    g_prefix_error (error, "the verifier key: ");
    if (*error)
      (*error)->domain = ANNALS_MIRROR_ERROR, (*error)->code = ANNALS_MIRROR_ERROR_KEY;
    return FALSE;
  }

  /* Which lists: those the signed site checkpoint names (fetched before
   * the lists, so that it never names more than the copy will hold). */
  g_autoptr (GBytes) site_bytes = NULL;
  g_auto (AnnalsTlogSite) site = { 0 };
  g_autoptr (GPtrArray) lists = g_ptr_array_new_with_free_func (g_free);
  if (o->list == NULL) {
    site_bytes = fetch_small (m, ANNALS_TLOG_SITE_CHECKPOINT, error);
    if (site_bytes == NULL)
      return FALSE;
    gsize len;
    const char *note = g_bytes_get_data (site_bytes, &len);
    g_autofree char *text = annals_note_open (note, len, m->key, error);
    if (text == NULL || !annals_tlog_site_parse (text, &site, error)) {
      g_prefix_error (error, "refused '%s%s': ", m->base, ANNALS_TLOG_SITE_CHECKPOINT);
      (*error)->domain = ANNALS_MIRROR_ERROR;
      (*error)->code = ANNALS_MIRROR_ERROR_REFUSED;
      return FALSE;
    }
    m->site_origin = g_strndup (site.origin, strlen (site.origin) - (g_str_has_suffix (site.origin, "/log") ? 4 : 0));
    for (guint i = 0; i < site.lists->len; i++) {
      const char *name = annals_tlog_site_list_name (&site, &g_array_index (site.lists, AnnalsCheckpoint, i));
      if (name == NULL || !annals_config_list_name_valid (name)) {
        g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_REFUSED,
                     "refused '%s%s': it names a log '%s' that is not one of this site's lists", m->base,
                     ANNALS_TLOG_SITE_CHECKPOINT, g_array_index (site.lists, AnnalsCheckpoint, i).origin);
        return FALSE;
      }
      g_ptr_array_add (lists, g_strdup (name));
    }
    /* A list the mirror holds must not vanish from the site. */
    g_autofree char *old_path = g_build_filename (o->root, ANNALS_TLOG_SITE_CHECKPOINT, NULL);
    g_autofree char *old = NULL;
    gsize old_len;
    g_auto (AnnalsTlogSite) old_site = { 0 };
    g_autofree char *old_text
        = g_file_get_contents (old_path, &old, &old_len, NULL) ? annals_note_open (old, old_len, m->key, NULL) : NULL;
    if (old_text != NULL && annals_tlog_site_parse (old_text, &old_site, NULL)) {
      for (guint i = 0; i < old_site.lists->len; i++) {
        const char *name = annals_tlog_site_list_name (&old_site, &g_array_index (old_site.lists, AnnalsCheckpoint, i));
        gboolean found = FALSE;
        for (guint j = 0; name && j < lists->len && !found; j++)
          found = strcmp (lists->pdata[j], name) == 0;
        if (name != NULL && !found) {
          g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_REFUSED,
                       "refused '%s%s': it no longer names list '%s', which the mirror holds", m->base,
                       ANNALS_TLOG_SITE_CHECKPOINT, name);
          return FALSE;
        }
      }
    }
  } else {
    if (!annals_config_list_name_valid (o->list)) {
      g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_IO, "'%s' is not a list name", o->list);
      return FALSE;
    }
    g_ptr_array_add (lists, g_strdup (o->list));
    /* The site's origin, from the list's own checkpoint (verified again
     * with the list). */
    g_autofree char *rel = g_strconcat (o->list, "/log/checkpoint", NULL);
    g_autoptr (GBytes) b = fetch_small (m, rel, error);
    if (b == NULL)
      return FALSE;
    g_autofree char *text = annals_note_open (g_bytes_get_data (b, NULL), g_bytes_get_size (b), m->key, error);
    g_auto (AnnalsCheckpoint) c = { 0 };
    if (text == NULL || !annals_checkpoint_parse (text, &c, error)) {
      g_prefix_error (error, "%s: refused '%s%s': ", o->list, m->base, rel);
      return FALSE;
    }
    g_autofree char *suffix = g_strconcat ("/", o->list, NULL);
    m->site_origin = g_str_has_suffix (c.origin, suffix) ? g_strndup (c.origin, strlen (c.origin) - strlen (suffix))
                                                         : g_strdup (c.origin);
  }

  /* The mirror's annals.conf: the origin's site origin and lists, so
   * that it can index and serve its copy. */
  if (config == NULL) {
    g_autofree char *name = g_strdup_printf ("mirror of %s", m->base);
    config = annals_config_init (o->root, name, error);
    if (config == NULL)
      return FALSE;
  }
  for (guint i = 0; i < lists->len; i++)
    if (!annals_config_has_list (config, lists->pdata[i])
        && !annals_config_add_list (config, lists->pdata[i], NULL, NULL, error))
      return FALSE;
  const char *pin[] = { m->site_origin, m->base, key_text };
  if (!annals_config_edit (config, pin_mirror, pin, error))
    return FALSE;
  g_autofree char *vkey_path = g_build_filename (o->root, "keys", "site.vkey", NULL);
  g_autofree char *vkey_line = g_strconcat (key_text, "\n", NULL);
  if (!write_durable (vkey_path, vkey_line, strlen (vkey_line), 0644, error))
    return FALSE;

  /* One writer at a time. */
  g_autofree char *stage_root = g_build_filename (o->root, ".mirror", NULL);
  g_autofree char *lock_path = g_build_filename (stage_root, "lock", NULL);
  if (g_mkdir_with_parents (stage_root, 0755) != 0)
    return io_error (error, "create", stage_root);
  int lock = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || flock (lock, LOCK_EX | LOCK_NB) != 0) {
    if (lock >= 0)
      close (lock);
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_IO,
                 "another 'annals mirror' is writing '%s' (it holds '%s'): wait for it", o->root, lock_path);
    return FALSE;
  }
  gboolean ok = TRUE;
  for (guint i = 0; i < lists->len && ok; i++) {
    const AnnalsCheckpoint *entry = NULL;
    for (guint j = 0; site.lists && j < site.lists->len; j++)
      if (g_strcmp0 (annals_tlog_site_list_name (&site, &g_array_index (site.lists, AnnalsCheckpoint, j)),
                     lists->pdata[i])
          == 0)
        entry = &g_array_index (site.lists, AnnalsCheckpoint, j);
    ok = mirror_list (m, lists->pdata[i], entry, error);
  }
  /* The site checkpoint last, once every list it names is in place. */
  if (ok && site_bytes != NULL) {
    g_autofree char *path = g_build_filename (o->root, ANNALS_TLOG_SITE_CHECKPOINT, NULL);
    gsize len;
    const void *d = g_bytes_get_data (site_bytes, &len);
    ok = write_durable (path, d, len, 0644, error);
  }
  close (lock);
  return ok;
}

gboolean
annals_mirror_run (const AnnalsMirrorOptions *options, AnnalsMirrorStats *stats, GError **error)
{
  memset (stats, 0, sizeof *stats);
  if (!g_str_has_prefix (options->url, "http://") && !g_str_has_prefix (options->url, "https://")) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_NETWORK,
                 "'%s' is not an http:// or https:// URL: give the site's base URL", options->url);
    return FALSE;
  }
  static gsize curl_ready;
  if (g_once_init_enter (&curl_ready))
    g_once_init_leave (&curl_ready, curl_global_init (CURL_GLOBAL_DEFAULT) == CURLE_OK ? 1 : 2);
  g_auto (Mirror) m = { options, stats };
  m.base = g_str_has_suffix (options->url, "/") ? g_strdup (options->url) : g_strconcat (options->url, "/", NULL);
  m.curl = curl_easy_init ();
  if (m.curl == NULL) {
    g_set_error (error, ANNALS_MIRROR_ERROR, ANNALS_MIRROR_ERROR_NETWORK, "cannot start libcurl");
    return FALSE;
  }
  curl_easy_setopt (m.curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (m.curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt (m.curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (m.curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (m.curl, CURLOPT_CONNECTTIMEOUT, 30L);
  /* A stalled transfer fails (and is resumed by the next run) instead of
   * hanging: less than 1 byte/s for a minute. */
  curl_easy_setopt (m.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (m.curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt (m.curl, CURLOPT_USERAGENT, "annals-mirror");
  curl_easy_setopt (m.curl, CURLOPT_NOSIGNAL, 1L);
  return run (&m, error);
}
