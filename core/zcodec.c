/* zcodec: see zcodec.h. */
#include "core/zcodec.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

G_DEFINE_QUARK (annals_zcodec_error, annals_zcodec_error)

struct _AnnalsDeflater {
  z_stream stream;
};

AnnalsDeflater *
annals_deflater_new (int level)
{
  AnnalsDeflater *d = g_new0 (AnnalsDeflater, 1);
  /* windowBits 15 and memLevel 9: the largest window zlib has, since
   * mail repeats itself across long distances (quoted text, headers). */
  if (deflateInit2 (&d->stream, CLAMP (level, 1, 9), Z_DEFLATED, 15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    g_error ("zlib: deflateInit2 failed (out of memory)");
  return d;
}

void
annals_deflater_free (AnnalsDeflater *deflater)
{
  if (deflater == NULL)
    return;
  deflateEnd (&deflater->stream);
  g_free (deflater);
}

GBytes *
annals_deflater_compress (AnnalsDeflater *deflater, const guint8 *data, gsize length, GBytes *dict, GError **error)
{
  z_stream *s = &deflater->stream;
  if (deflateReset (s) != Z_OK) {
    g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_FAILED, "zlib: deflateReset failed");
    return NULL;
  }
  if (dict != NULL && g_bytes_get_size (dict) > 0) {
    gsize dlen;
    const guint8 *d = g_bytes_get_data (dict, &dlen);
    if (deflateSetDictionary (s, d, (uInt) dlen) != Z_OK) {
      g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_FAILED, "zlib: deflateSetDictionary failed");
      return NULL;
    }
  }
  gsize bound = deflateBound (s, length) + 64;
  guint8 *out = g_malloc (bound);
  gsize in_done = 0;
  s->next_out = out;
  s->avail_out = (uInt) MIN (bound, G_MAXUINT);
  int rc;
  /* zlib counts in uInt: feed inputs over 4 GiB in pieces. */
  do {
    gsize piece = MIN (length - in_done, (gsize) G_MAXUINT / 2);
    s->next_in = (Bytef *) data + in_done;
    s->avail_in = (uInt) piece;
    in_done += piece;
    rc = deflate (s, in_done == length ? Z_FINISH : Z_NO_FLUSH);
  } while (rc == Z_OK && in_done < length);
  if (rc != Z_STREAM_END) {
    g_free (out);
    g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_FAILED, "zlib: deflate failed (%d)", rc);
    return NULL;
  }
  return g_bytes_new_take (g_realloc (out, s->total_out), s->total_out);
}

GBytes *
annals_zcodec_inflate (const guint8 *data, gsize length, gsize raw_length, GBytes *dict, GError **error)
{
  z_stream s = { 0 };
  if (inflateInit (&s) != Z_OK) {
    g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_FAILED, "zlib: inflateInit failed");
    return NULL;
  }
  guint8 *out = g_malloc (raw_length + 1);
  s.next_in = (Bytef *) data;
  s.avail_in = (uInt) length;
  s.next_out = out;
  s.avail_out = (uInt) raw_length + 1;
  int rc = inflate (&s, Z_FINISH);
  if (rc == Z_NEED_DICT && dict != NULL) {
    gsize dlen;
    const guint8 *d = g_bytes_get_data (dict, &dlen);
    if (inflateSetDictionary (&s, d, (uInt) dlen) == Z_OK)
      rc = inflate (&s, Z_FINISH);
  }
  gsize got = s.total_out;
  inflateEnd (&s);
  if (rc != Z_STREAM_END || got != raw_length) {
    g_free (out);
    g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_CORRUPT,
                 "compressed data is corrupt (zlib %d, %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes)", rc, got,
                 raw_length);
    return NULL;
  }
  return g_bytes_new_take (out, raw_length);
}

#define INFLATE_PIECE (64 * 1024)

struct _AnnalsInflater {
  z_stream z;
  GBytes *dict;
  gsize raw_length;
  gboolean ended;
  AnnalsZcodecSink sink;
  gpointer user_data;
  guint8 out[INFLATE_PIECE];
};

AnnalsInflater *
annals_inflater_new (GBytes *dict, gsize raw_length, AnnalsZcodecSink sink, gpointer user_data, GError **error)
{
  AnnalsInflater *f = g_new0 (AnnalsInflater, 1);
  if (inflateInit (&f->z) != Z_OK) {
    g_free (f);
    g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_FAILED, "zlib: inflateInit failed");
    return NULL;
  }
  f->dict = dict ? g_bytes_ref (dict) : NULL;
  f->raw_length = raw_length;
  f->sink = sink;
  f->user_data = user_data;
  return f;
}

static gboolean
inflater_corrupt (AnnalsInflater *f, int rc, GError **error)
{
  g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_CORRUPT,
               "compressed data is corrupt (zlib %d, %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes)", rc,
               (gsize) f->z.total_out, f->raw_length);
  return FALSE;
}

gboolean
annals_inflater_push (AnnalsInflater *f, const guint8 *data, gsize length, GError **error)
{
  f->z.next_in = (Bytef *) data;
  f->z.avail_in = (uInt) length;
  while (!f->ended && (f->z.avail_in > 0 || f->z.avail_out == 0)) {
    f->z.next_out = f->out;
    f->z.avail_out = INFLATE_PIECE;
    int rc = inflate (&f->z, Z_NO_FLUSH);
    if (rc == Z_NEED_DICT && f->dict != NULL) {
      gsize dlen;
      const guint8 *d = g_bytes_get_data (f->dict, &dlen);
      if (inflateSetDictionary (&f->z, d, (uInt) dlen) != Z_OK)
        return inflater_corrupt (f, rc, error);
      rc = inflate (&f->z, Z_NO_FLUSH);
    }
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      return inflater_corrupt (f, rc, error);
    gsize got = INFLATE_PIECE - f->z.avail_out;
    /* Never more than the record says: a longer stream is corrupt. */
    if (f->z.total_out > f->raw_length)
      return inflater_corrupt (f, rc, error);
    if (got > 0 && !f->sink (f->out, got, f->user_data)) {
      g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_FAILED, "the inflated bytes could not be written");
      return FALSE;
    }
    f->ended = rc == Z_STREAM_END;
    if (rc == Z_BUF_ERROR)
      break; /* needs more input */
  }
  return TRUE;
}

gboolean
annals_inflater_finish (AnnalsInflater *f, GError **error)
{
  if (!f->ended || f->z.total_out != f->raw_length)
    return inflater_corrupt (f, f->ended ? Z_STREAM_END : Z_BUF_ERROR, error);
  return TRUE;
}

void
annals_inflater_free (AnnalsInflater *f)
{
  if (f == NULL)
    return;
  inflateEnd (&f->z);
  if (f->dict)
    g_bytes_unref (f->dict);
  g_free (f);
}

guint32
annals_zcodec_crc32 (guint32 crc, const void *data, gsize length)
{
  const Bytef *p = data;
  while (length > 0) {
    uInt piece = (uInt) MIN (length, (gsize) G_MAXUINT / 2);
    crc = (guint32) crc32 (crc, p, piece);
    p += piece;
    length -= piece;
  }
  return crc;
}

gboolean
annals_zcodec_is_gzip (const guint8 *data, gsize length)
{
  return length >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

struct _AnnalsGzipReader {
  z_stream stream;
  int fd;
  char *name;
  guint8 *in; /* compressed input; stream.next_in points into it */
  gsize in_size;
  gboolean input_eof;
  gboolean member_end; /* the last member ended; more input means another */
  gboolean done;
  guint64 offset;  /* compressed bytes consumed, for messages */
  GError *pending; /* a failure met after some output: told next call */
};

AnnalsGzipReader *
annals_gzip_reader_new (int fd, const guint8 *head, gsize head_length, const char *name)
{
  AnnalsGzipReader *r = g_new0 (AnnalsGzipReader, 1);
  r->fd = fd;
  r->name = g_strdup (name);
  r->in_size = MAX ((gsize) 256 * 1024, head_length);
  r->in = g_malloc (r->in_size);
  if (head_length > 0)
    memcpy (r->in, head, head_length);
  r->stream.next_in = r->in;
  r->stream.avail_in = (uInt) head_length;
  /* 15 + 16: a gzip wrapper only (the caller checked the magic). */
  if (inflateInit2 (&r->stream, 15 + 16) != Z_OK)
    g_error ("zlib: inflateInit2 failed (out of memory)");
  return r;
}

void
annals_gzip_reader_free (AnnalsGzipReader *reader)
{
  if (reader == NULL)
    return;
  inflateEnd (&reader->stream);
  g_clear_error (&reader->pending);
  g_free (reader->in);
  g_free (reader->name);
  g_free (reader);
}

/* Refills the input buffer; FALSE on a read error. */
static gboolean
gzip_reader_fill (AnnalsGzipReader *r, GError **error)
{
  ssize_t n;
  do
    n = read (r->fd, r->in, r->in_size);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "cannot read '%s': %s", r->name, g_strerror (e));
    return FALSE;
  }
  r->stream.next_in = r->in;
  r->stream.avail_in = (uInt) n;
  if (n == 0)
    r->input_eof = TRUE;
  return TRUE;
}

gssize
annals_gzip_reader_read (AnnalsGzipReader *r, guint8 *buf, gsize length, GError **error)
{
  if (r->pending != NULL) {
    g_propagate_error (error, g_steal_pointer (&r->pending));
    return -1;
  }
  if (r->done || length == 0)
    return 0;
  length = MIN (length, (gsize) G_MAXUINT / 2);
  r->stream.next_out = buf;
  r->stream.avail_out = (uInt) length;
  GError *failed = NULL;
  while (r->stream.avail_out == length) {
    if (r->stream.avail_in == 0 && !r->input_eof && !gzip_reader_fill (r, &failed))
      break;
    if (r->member_end) {
      /* After a whole member: the end, or the next member. */
      if (r->stream.avail_in == 0) {
        r->done = TRUE;
        break;
      }
      if (inflateReset (&r->stream) != Z_OK) {
        g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_FAILED, "zlib: inflateReset failed");
        return -1;
      }
      r->member_end = FALSE;
    }
    uInt in_before = r->stream.avail_in, out_before = r->stream.avail_out;
    int rc = inflate (&r->stream, Z_NO_FLUSH);
    r->offset += in_before - r->stream.avail_in;
    if (rc == Z_STREAM_END) {
      r->member_end = TRUE;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      g_set_error (&failed, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_CORRUPT,
                   "'%s' is corrupt: the gzip stream does not inflate near compressed byte %" G_GUINT64_FORMAT " (%s)",
                   r->name, r->offset, r->stream.msg ? r->stream.msg : "zlib error");
      break;
    } else if (r->input_eof && r->stream.avail_in == 0 && r->stream.avail_out == out_before) {
      /* zlib may still hold output with no input left (a long match):
       * only when it makes no progress at all is the stream cut short. */
      g_set_error (&failed, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_CORRUPT,
                   "'%s' is truncated: the gzip stream ends early (after %" G_GUINT64_FORMAT " compressed bytes)",
                   r->name, r->offset);
      break;
    }
  }
  gsize produced = length - r->stream.avail_out;
  if (failed != NULL) {
    r->done = TRUE;
    /* What inflated before the damage is handed out first. */
    if (produced > 0) {
      r->pending = failed;
      return (gssize) produced;
    }
    g_propagate_error (error, failed);
    return -1;
  }
  return (gssize) produced;
}

struct _AnnalsGzipWriter {
  z_stream stream;
  AnnalsZcodecSink sink;
  gpointer user_data;
  gboolean failed;
};

AnnalsGzipWriter *
annals_gzip_writer_new (AnnalsZcodecSink sink, gpointer user_data)
{
  AnnalsGzipWriter *w = g_new0 (AnnalsGzipWriter, 1);
  /* 15 + 16: a gzip wrapper instead of zlib's. */
  if (deflateInit2 (&w->stream, 6, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    g_error ("zlib: deflateInit2 failed (out of memory)");
  w->sink = sink;
  w->user_data = user_data;
  return w;
}

static gboolean
gzip_writer_pump (AnnalsGzipWriter *w, int flush)
{
  guint8 out[65536];
  int rc;
  do {
    w->stream.next_out = out;
    w->stream.avail_out = sizeof out;
    rc = deflate (&w->stream, flush);
    gsize have = sizeof out - w->stream.avail_out;
    if (have > 0 && !w->failed && !w->sink (out, have, w->user_data))
      w->failed = TRUE;
  } while (w->stream.avail_out == 0 || (flush == Z_FINISH && rc == Z_OK));
  return !w->failed;
}

gboolean
annals_gzip_writer_write (AnnalsGzipWriter *writer, const void *data, gsize length)
{
  const guint8 *p = data;
  while (length > 0) {
    gsize piece = MIN (length, (gsize) 1 << 30);
    writer->stream.next_in = (Bytef *) p;
    writer->stream.avail_in = (uInt) piece;
    if (!gzip_writer_pump (writer, Z_NO_FLUSH))
      return FALSE;
    p += piece;
    length -= piece;
  }
  return !writer->failed;
}

gboolean
annals_gzip_writer_finish (AnnalsGzipWriter *writer)
{
  writer->stream.next_in = NULL;
  writer->stream.avail_in = 0;
  gboolean ok = gzip_writer_pump (writer, Z_FINISH);
  deflateEnd (&writer->stream);
  g_free (writer);
  return ok;
}
