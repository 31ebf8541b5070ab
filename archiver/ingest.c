/* ingest: see ingest.h. */
#include "archiver/ingest.h"
#include "core/message.h"
#include "core/zcodec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct _AnnalsIngest {
  AnnalsStoreWriter *writer;
  AnnalsIngestStats stats;
  guint pending; /* archived since the last commit */
  guint64 pending_bytes;
  AnnalsIngestProgress progress;
  AnnalsIngestWarning warning;
  gpointer report_ctx;
  AnnalsTlog *log;
  const AnnalsNoteKey *key;
  const char *list;
  const char *source;   /* for messages: the file being read */
  guint64 source_index; /* message number within the source, from 1 */
  AnnalsIngestCommitted on_commit;
  gpointer on_commit_ctx;
};

void
annals_ingest_set_on_commit (AnnalsIngest *ingest, AnnalsIngestCommitted fn, gpointer ctx)
{
  ingest->on_commit = fn;
  ingest->on_commit_ctx = ctx;
}

void
annals_ingest_set_reporter (AnnalsIngest *ingest, AnnalsIngestProgress progress, AnnalsIngestWarning warning,
                            gpointer ctx)
{
  ingest->progress = progress;
  ingest->warning = warning;
  ingest->report_ctx = ctx;
}

AnnalsIngest *
annals_ingest_new (AnnalsStoreWriter *writer)
{
  AnnalsIngest *in = g_new0 (AnnalsIngest, 1);
  in->writer = writer;
  return in;
}

void
annals_ingest_free (AnnalsIngest *ingest)
{
  g_free (ingest);
}

const AnnalsIngestStats *
annals_ingest_stats (AnnalsIngest *ingest)
{
  return &ingest->stats;
}

static void
show_progress (AnnalsIngest *in, gboolean done)
{
  if (in->progress != NULL)
    in->progress (in->report_ctx, &in->stats, done);
}

static G_GNUC_PRINTF (2, 3) void warn_skipped (AnnalsIngest *in, const char *format, ...)
{
  if (in->warning == NULL)
    return;
  va_list ap;
  va_start (ap, format);
  g_autofree char *message = g_strdup_vprintf (format, ap);
  va_end (ap);
  in->warning (in->report_ctx, message);
}

void
annals_ingest_set_log (AnnalsIngest *ingest, AnnalsTlog *log, const AnnalsNoteKey *key, const char *list)
{
  ingest->log = log;
  ingest->key = key;
  ingest->list = list;
}

gboolean
annals_ingest_commit (AnnalsIngest *in, GError **error)
{
  if (!annals_store_writer_commit (in->writer, error))
    return FALSE;
  in->stats.committed = in->stats.archived;
  in->pending = 0;
  in->pending_bytes = 0;
  if (in->on_commit != NULL)
    in->on_commit (in->on_commit_ctx, annals_store_writer_count (in->writer));
  /* The messages are safe; the log follows them (a failure here is made
   * good by the next commit, which appends whatever the log lacks). */
  if (in->log != NULL
      && !annals_tlog_sync (in->log, annals_store_writer_reader (in->writer), in->list, in->key, error)) {
    g_prefix_error (error, "messages stored, but the transparency log of '%s' is not updated: ", in->list);
    return FALSE;
  }
  return TRUE;
}

gboolean
annals_ingest_message (AnnalsIngest *in, const guint8 *raw, gsize length, gint64 receipt, const char *envelope,
                       GError **error)
{
  in->stats.bytes += length;
  if (receipt == ANNALS_NO_DATE)
    receipt = g_get_real_time () / G_USEC_PER_SEC;
  AnnalsStoreAddResult result;
  g_autoptr (GError) local = NULL;
  if (!annals_store_writer_add (in->writer, raw, length, receipt, envelope, &result, &local)) {
    if (g_error_matches (local, ANNALS_STORE_ERROR, ANNALS_STORE_ERROR_TOO_LARGE)) {
      warn_skipped (in, "%s: message %" G_GUINT64_FORMAT " not archived: %s", in->source ? in->source : "input",
                    in->source_index, local->message);
      in->stats.rejected++;
      return TRUE;
    }
    if (in->source != NULL)
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: message %" G_GUINT64_FORMAT ": ", in->source,
                                  in->source_index);
    else
      g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  if (result.status == ANNALS_STORE_DUPLICATE) {
    in->stats.duplicates++;
  } else {
    in->stats.archived++;
    if (result.flags & ANNALS_STORE_FLAG_REUSED_ID)
      in->stats.reused_ids++;
    if (result.flags & ANNALS_STORE_FLAG_UNPARSABLE)
      in->stats.unparsable++;
    in->pending++;
    in->pending_bytes += length;
  }
  if (in->pending >= ANNALS_INGEST_BATCH || in->pending_bytes >= 32 * 1024 * 1024)
    if (!annals_ingest_commit (in, error))
      return FALSE;
  show_progress (in, FALSE);
  return TRUE;
}

gboolean
annals_ingest_delivery (AnnalsIngest *in, const guint8 *raw, gsize length, gint64 receipt, GError **error)
{
  g_autofree char *envelope = NULL;
  const guint8 *nl = length > 5 && memcmp (raw, "From ", 5) == 0 ? memchr (raw, '\n', length) : NULL;
  if (nl != NULL) {
    gsize line = (gsize) (nl - raw);
    gsize env_length = line > 0 && raw[line - 1] == '\r' ? line - 1 : line;
    if (annals_mbox_envelope_parse (raw, env_length, NULL)
        && annals_message_header_shaped (nl + 1, length - line - 1)) {
      envelope = g_strndup ((const char *) raw, env_length);
      raw = nl + 1;
      length -= line + 1;
    }
  }
  return annals_ingest_message (in, raw, length, receipt, envelope, error);
}

static const char *const months[]
    = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

gint64
annals_ingest_envelope_time (const char *envelope)
{
  /* "From sender Www Mmm dd hh:mm:ss yyyy", some writers put a zone
   * before the year: find the month and read from there. */
  if (envelope == NULL)
    return ANNALS_NO_DATE;
  gint64 when;
  if (annals_mbox_envelope_parse ((const guint8 *) envelope, strlen (envelope), &when))
    return when;
  g_auto (GStrv) tok = g_strsplit_set (envelope, " \t", -1);
  guint n = g_strv_length (tok);
  for (guint i = 2; i + 2 < n; i++) {
    int month = -1;
    for (int m = 0; m < 12; m++)
      if (g_ascii_strcasecmp (tok[i], months[m]) == 0)
        month = m + 1;
    if (month < 0)
      continue;
    guint j = i + 1;
    while (j < n && tok[j][0] == '\0')
      j++; /* "Apr  9": two spaces */
    if (j + 2 > n)
      return ANNALS_NO_DATE;
    int day = atoi (tok[j]);
    int h, mi, s = 0;
    if (sscanf (tok[j + 1], "%d:%d:%d", &h, &mi, &s) < 2)
      return ANNALS_NO_DATE;
    for (guint k = j + 2; k < n; k++) {
      if (strlen (tok[k]) == 4 && g_ascii_isdigit (tok[k][0]) && g_ascii_isdigit (tok[k][3]))
        return annals_message_date_to_unix (atoi (tok[k]), month, day, h, mi, s, 0);
    }
    return ANNALS_NO_DATE;
  }
  return ANNALS_NO_DATE;
}

/* Is this the pseudo message UW-IMAP (c-client, Pine) writes first in
 * an mbox to keep the folder's UIDs: an X-IMAP or X-IMAPbase field and
 * the subject "DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA"? */
static gboolean
imap_folder_data (const guint8 *raw, gsize length)
{
  gsize hlen = annals_message_header_length (raw, length);
  gboolean x_imap = FALSE, subject = FALSE;
  for (gsize line = 0; line < hlen;) {
    const guint8 *nl = memchr (raw + line, '\n', hlen - line);
    gsize end = nl ? (gsize) (nl - raw) : hlen;
    g_autofree char *text = g_strndup ((const char *) raw + line, end - line);
    if (g_ascii_strncasecmp (text, "X-IMAP:", 7) == 0 || g_ascii_strncasecmp (text, "X-IMAPbase:", 11) == 0)
      x_imap = TRUE;
    else if (g_ascii_strncasecmp (text, "Subject:", 8) == 0 && strstr (text, "FOLDER INTERNAL DATA") != NULL)
      subject = TRUE;
    line = end + 1;
  }
  return x_imap && subject;
}

/* Splits what buf holds; returns how much was used. */
static gboolean
split_buffer (AnnalsIngest *in, AnnalsMboxSplitter *splitter, const guint8 *buf, gsize length, gboolean eof,
              gsize *used, GError **error)
{
  *used = 0;
  for (;;) {
    AnnalsMboxSpan span;
    AnnalsMboxStatus st = annals_mbox_splitter_next (splitter, buf + *used, length - *used, eof, &span);
    switch (st) {
    case ANNALS_MBOX_NEED_MORE:
      return TRUE;
    case ANNALS_MBOX_END:
      *used += span.consumed;
      return TRUE;
    case ANNALS_MBOX_NOT_MBOX: {
      gsize at = *used;
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   at == 0 ? "'%s' is not an mbox: it does not start with a 'From ' line "
                             "(for a single message use --mda)"
                           : "'%s' is not an mbox after message %" G_GUINT64_FORMAT,
                   in->source, in->source_index);
      return FALSE;
    }
    case ANNALS_MBOX_MESSAGE:
      break;
    }
    in->source_index++;
    if (span.body_length > ANNALS_STORE_MAX_MESSAGE) {
      in->stats.bytes += span.body_length;
      warn_skipped (in, "%s: message %" G_GUINT64_FORMAT " not archived: %" G_GSIZE_FORMAT " bytes is over the limit",
                    in->source, in->source_index, span.body_length);
      in->stats.rejected++;
      *used += span.consumed;
      continue;
    }
    if (in->source_index == 1 && imap_folder_data (span.body, span.body_length)) {
      warn_skipped (in, "%s: message 1 skipped: it is the folder's internal data (UW-IMAP), not mail", in->source);
      *used += span.consumed;
      continue;
    }
    g_autofree char *envelope = g_strndup ((const char *) span.envelope, span.envelope_length);
    g_autoptr (GBytes) unquoted = annals_mbox_unescape (splitter->variant, span.body, span.body_length);
    const guint8 *raw = span.body;
    gsize rlen = span.body_length;
    if (unquoted != NULL)
      raw = g_bytes_get_data (unquoted, &rlen);
    if (!annals_ingest_message (in, raw, rlen, annals_ingest_envelope_time (envelope), envelope, error))
      return FALSE;
    *used += span.consumed;
  }
}

/* Length of a UTF-8 byte order mark at the start of buf (an editor's,
 * not the first message's), or 0. */
static gsize
byte_order_mark (const guint8 *buf, gsize length)
{
  return length >= 3 && memcmp (buf, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

static gboolean
ingest_mbox_buffer (AnnalsIngest *in, const guint8 *buf, gsize length, AnnalsMboxVariant variant, GError **error)
{
  gsize bom = byte_order_mark (buf, length);
  buf += bom;
  length -= bom;
  AnnalsMboxSplitter splitter;
  annals_mbox_splitter_init (&splitter, variant == ANNALS_MBOX_AUTO ? annals_mbox_detect (buf, length) : variant);
  gsize used;
  return split_buffer (in, &splitter, buf, length, TRUE, &used, error);
}

/* Reads up to length bytes of input: from fd, or inflated from gz. */
static gssize
read_input (AnnalsIngest *in, int fd, AnnalsGzipReader *gz, guint8 *buf, gsize length, GError **error)
{
  if (gz != NULL)
    return annals_gzip_reader_read (gz, buf, length, error);
  ssize_t n;
  do
    n = read (fd, buf, length);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "cannot read '%s': %s", in->source, g_strerror (e));
    return -1;
  }
  return n;
}

/* Reads fd as a stream in bounded memory (a chunk plus the message being
 * split); a gzip stream, known by its magic bytes, is inflated on the
 * way.  When it turns out damaged, the message it cuts off is dropped:
 * the splitter only hands out a message once the next one starts. */
static gboolean
ingest_mbox_stream (AnnalsIngest *in, int fd, AnnalsMboxVariant variant, GError **error)
{
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autoptr (AnnalsGzipReader) gz = NULL;
  AnnalsMboxSplitter splitter;
  gboolean started = FALSE;
  gsize start = 0; /* buf[0, start) is used */
  const gsize chunk = 1 << 20;

  /* The first bytes tell gzip from plain mbox. */
  guint8 magic[2];
  gsize have = 0;
  while (have < sizeof magic) {
    gssize n = read_input (in, fd, NULL, magic + have, sizeof magic - have, error);
    if (n < 0)
      return FALSE;
    if (n == 0)
      break;
    have += (gsize) n;
  }
  if (annals_zcodec_is_gzip (magic, have))
    gz = annals_gzip_reader_new (fd, magic, have, in->source);
  else
    g_byte_array_append (buf, magic, (guint) have);

  for (;;) {
    if (start > 0 && start >= buf->len / 2) {
      g_byte_array_remove_range (buf, 0, (guint) start);
      start = 0;
    }
    gsize old = buf->len;
    g_byte_array_set_size (buf, (guint) (old + chunk));
    g_autoptr (GError) read_error = NULL;
    gssize n = read_input (in, fd, gz, buf->data + old, chunk, &read_error);
    g_byte_array_set_size (buf, (guint) (old + (gsize) MAX (n, 0)));
    if (n < 0) {
      if (g_error_matches (read_error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_CORRUPT)) {
        /* The whole messages before the damage are archived: split what
         * came as if more followed, so the cut-off last one stays out. */
        if (!started) {
          start = byte_order_mark (buf->data, buf->len);
          annals_mbox_splitter_init (&splitter, variant == ANNALS_MBOX_AUTO
                                                    ? annals_mbox_detect (buf->data + start, buf->len - start)
                                                    : variant);
          started = TRUE;
        }
        gsize used;
        if (!split_buffer (in, &splitter, buf->data + start, buf->len - start, FALSE, &used, error))
          return FALSE;
      }
      if (g_error_matches (read_error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_CORRUPT))
        g_set_error (error, read_error->domain, read_error->code,
                     "%s; the %" G_GUINT64_FORMAT " whole messages before the damage are archived, the one it cuts "
                     "off is not: ingest a whole copy (what is archived already is skipped)",
                     read_error->message, in->source_index);
      else
        g_propagate_error (error, g_steal_pointer (&read_error));
      return FALSE;
    }
    gboolean eof = n == 0;
    if (!started) {
      if (!eof && buf->len < 64 * 1024)
        continue; /* enough to guess the variant from */
      start = byte_order_mark (buf->data, buf->len);
      annals_mbox_splitter_init (
          &splitter, variant == ANNALS_MBOX_AUTO ? annals_mbox_detect (buf->data + start, buf->len - start) : variant);
      started = TRUE;
    }
    gsize used;
    if (!split_buffer (in, &splitter, buf->data + start, buf->len - start, eof, &used, error))
      return FALSE;
    start += used;
    if (eof)
      return TRUE;
    if (buf->len - start > ANNALS_STORE_MAX_MESSAGE + chunk) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "'%s': message %" G_GUINT64_FORMAT " is larger than %" G_GSIZE_FORMAT " bytes", in->source,
                   in->source_index + 1, ANNALS_STORE_MAX_MESSAGE);
      return FALSE;
    }
  }
}

gboolean
annals_ingest_mbox (AnnalsIngest *in, const char *path, int fd, AnnalsMboxVariant variant, GError **error)
{
  /* Apple Mail exports a mailbox as a folder Name.mbox/ holding the
   * file mbox. */
  g_autofree char *inner = strcmp (path, "-") != 0 ? g_build_filename (path, "mbox", NULL) : NULL;
  if (inner != NULL && g_file_test (path, G_FILE_TEST_IS_DIR) && g_file_test (inner, G_FILE_TEST_IS_REGULAR))
    path = inner;
  in->source = strcmp (path, "-") == 0 ? "stdin" : path;
  in->source_index = 0;
  guint64 before = in->source_index;
  gboolean ok;
  if (strcmp (path, "-") == 0) {
    ok = ingest_mbox_stream (in, fd, variant, error);
  } else {
    int f = open (path, O_RDONLY | O_CLOEXEC);
    if (f < 0) {
      int e = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "cannot open '%s': %s", path, g_strerror (e));
      return FALSE;
    }
    struct stat st;
    guint8 magic[2];
    if (fstat (f, &st) != 0 || !S_ISREG (st.st_mode)) {
      /* A pipe or device: read it as a stream. */
      if (S_ISDIR (st.st_mode)) {
        close (f);
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_ISDIR,
                     "'%s' is a directory: for a maildir use --maildir (a folder of mbox files: "
                     "give the files)",
                     path);
        return FALSE;
      }
      ok = ingest_mbox_stream (in, f, variant, error);
    } else if (st.st_size == 0) {
      ok = TRUE;
    } else if (pread (f, magic, sizeof magic, 0) == (ssize_t) sizeof magic
               && annals_zcodec_is_gzip (magic, sizeof magic)) {
      /* gzip by its content, whatever the name; inflated as a stream. */
      ok = ingest_mbox_stream (in, f, variant, error);
    } else {
      void *map = mmap (NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, f, 0);
      if (map == MAP_FAILED) {
        ok = ingest_mbox_stream (in, f, variant, error);
      } else {
        madvise (map, (size_t) st.st_size, MADV_SEQUENTIAL);
        ok = ingest_mbox_buffer (in, map, (gsize) st.st_size, variant, error);
        munmap (map, (size_t) st.st_size);
      }
    }
    close (f);
  }
  if (ok && in->source_index == before) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "'%s' holds no messages (it is empty)", in->source);
    ok = FALSE;
  }
  show_progress (in, TRUE);
  in->source = NULL;
  return ok;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Collects message files of cur/ and new/ below root, depth-first with
 * an explicit stack (no recursion on a tree someone else made). */
static gboolean
collect_maildir (const char *root, GPtrArray *files, GError **error)
{
  g_autoptr (GPtrArray) stack = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (stack, g_strdup (root));
  guint folders = 0;
  gboolean any_maildir = FALSE;
  while (stack->len > 0) {
    g_autofree char *dir = g_ptr_array_steal_index (stack, stack->len - 1);
    if (++folders > 100000) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "'%s': more than 100,000 folders", root);
      return FALSE;
    }
    g_autoptr (GError) local = NULL;
    GDir *d = g_dir_open (dir, 0, &local);
    if (d == NULL) {
      g_set_error (error, G_FILE_ERROR, local->code, "cannot read maildir '%s': %s", dir, local->message);
      return FALSE;
    }
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL)
      g_ptr_array_add (names, g_strdup (name));
    g_dir_close (d);
    g_ptr_array_sort (names, compare_names);
    g_autofree char *base = g_path_get_basename (dir);
    gboolean mail_dir = strcmp (dir, root) != 0 && (strcmp (base, "cur") == 0 || strcmp (base, "new") == 0);
    for (guint i = names->len; i-- > 0;) {
      const char *n = names->pdata[i];
      if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
        continue;
      g_autofree char *path = g_build_filename (dir, n, NULL);
      struct stat st;
      if (lstat (path, &st) != 0)
        continue;
      if (mail_dir && S_ISREG (st.st_mode) && n[0] != '.') {
        g_ptr_array_add (files, g_steal_pointer (&path));
        any_maildir = TRUE;
      } else if (S_ISDIR (st.st_mode) && strcmp (n, "tmp") != 0 && !mail_dir) {
        g_ptr_array_add (stack, g_steal_pointer (&path));
      }
    }
  }
  if (!any_maildir) {
    g_autofree char *cur = g_build_filename (root, "cur", NULL);
    if (!g_file_test (cur, G_FILE_TEST_IS_DIR)) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "'%s' is not a maildir (no cur/ folder found in it)", root);
      return FALSE;
    }
  }
  return TRUE;
}

typedef struct {
  char *path;
  gint64 mtime;
} MaildirFile;

static int
compare_maildir_files (gconstpointer a, gconstpointer b)
{
  const MaildirFile *x = a, *y = b;
  if (x->mtime != y->mtime)
    return x->mtime < y->mtime ? -1 : 1;
  return strcmp (x->path, y->path);
}

gboolean
annals_ingest_maildir (AnnalsIngest *in, const char *path, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                 g_file_test (path, G_FILE_TEST_EXISTS) ? "'%s' is not a folder, so not a maildir"
                                                        : "maildir '%s' does not exist",
                 path);
    return FALSE;
  }
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  if (!collect_maildir (path, paths, error))
    return FALSE;
  /* Arrival order: modification time (delivery), then name. */
  g_autoptr (GArray) files = g_array_sized_new (FALSE, FALSE, sizeof (MaildirFile), paths->len);
  for (guint i = 0; i < paths->len; i++) {
    struct stat st;
    MaildirFile f = { paths->pdata[i], 0 };
    if (stat (f.path, &st) == 0)
      f.mtime = (gint64) st.st_mtime;
    g_array_append_val (files, f);
  }
  g_array_sort (files, compare_maildir_files);
  for (guint i = 0; i < files->len; i++) {
    MaildirFile *f = &g_array_index (files, MaildirFile, i);
    in->source = f->path;
    in->source_index = 1;
    g_autoptr (GMappedFile) map = NULL;
    g_autoptr (GError) local = NULL;
    map = g_mapped_file_new (f->path, FALSE, &local);
    if (map == NULL) {
      g_set_error (error, G_FILE_ERROR, local->code, "cannot read '%s': %s", f->path, local->message);
      in->source = NULL;
      return FALSE;
    }
    const guint8 *raw = (const guint8 *) g_mapped_file_get_contents (map);
    gsize len = g_mapped_file_get_length (map);
    if (len == 0) {
      /* A delivery cut off, or not mail: nothing to keep. */
      warn_skipped (in, "%s: empty file, not archived", f->path);
      continue;
    }
    if (!annals_ingest_delivery (in, raw, len, f->mtime, error)) {
      in->source = NULL;
      return FALSE;
    }
  }
  in->source = NULL;
  show_progress (in, TRUE);
  return TRUE;
}
