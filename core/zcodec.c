/* zcodec: see zcodec.h. */
#include "zcodec.h"

#include <errno.h>
#include <string.h>
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
annals_deflater_compress (AnnalsDeflater *deflater,
                          const guint8 *data,
                          gsize length,
                          GBytes *dict,
                          GError **error)
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
annals_zcodec_inflate (const guint8 *data,
                       gsize length,
                       gsize raw_length,
                       GBytes *dict,
                       GError **error)
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
                 "compressed data is corrupt (zlib %d, %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes)",
                 rc, got, raw_length);
    return NULL;
  }
  return g_bytes_new_take (out, raw_length);
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

GBytes *
annals_zcodec_read_gzip_file (const char *path, gsize max_bytes, GError **error)
{
  gzFile f = gzopen (path, "rb");
  if (f == NULL) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
                 "cannot open '%s': %s", path, g_strerror (e));
    return NULL;
  }
  gzbuffer (f, 128 * 1024);
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint8 chunk[65536];
  for (;;) {
    int n = gzread (f, chunk, sizeof chunk);
    if (n < 0) {
      int errnum;
      const char *msg = gzerror (f, &errnum);
      g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_CORRUPT,
                   "cannot read '%s': %s", path, errnum == Z_ERRNO ? g_strerror (errno) : msg);
      gzclose (f);
      return NULL;
    }
    if (n == 0)
      break;
    if (buf->len + (gsize) n > max_bytes) {
      g_set_error (error, ANNALS_ZCODEC_ERROR, ANNALS_ZCODEC_ERROR_FAILED,
                   "'%s' is larger than %" G_GSIZE_FORMAT " bytes after decompression", path, max_bytes);
      gzclose (f);
      return NULL;
    }
    g_byte_array_append (buf, chunk, (guint) n);
  }
  gzclose (f);
  return g_byte_array_free_to_bytes (g_steal_pointer (&buf));
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
