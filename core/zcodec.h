/* zcodec: the one wrapper around zlib.
 *
 * Every raw zlib call in annals lives in zcodec.c (git's git-zlib.c rule):
 * store records are zlib streams, optionally primed with a preset
 * dictionary (deflateSetDictionary), and gzip input is streamed here.
 * An AnnalsDeflater keeps one z_stream and resets it per message, which
 * avoids zlib's allocation of its window for every small mail.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_ZCODEC_ERROR (annals_zcodec_error_quark ())
GQuark annals_zcodec_error_quark (void);

typedef enum {
  ANNALS_ZCODEC_ERROR_CORRUPT, /* the stream does not inflate to the size recorded */
  ANNALS_ZCODEC_ERROR_FAILED,  /* zlib refused (memory, parameters) */
} AnnalsZcodecError;

typedef struct _AnnalsDeflater AnnalsDeflater;

/* level: zlib level 1..9. */
AnnalsDeflater *annals_deflater_new (int level);
void annals_deflater_free (AnnalsDeflater *deflater);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsDeflater, annals_deflater_free)

/* Compresses data into a zlib stream primed with dict (may be NULL or
 * empty).  Returns a new GBytes owned by the caller. */
GBytes *annals_deflater_compress (AnnalsDeflater *deflater, const guint8 *data, gsize length, GBytes *dict,
                                  GError **error);

/* Inflates a zlib stream that must yield exactly raw_length bytes.
 * Returns a new GBytes owned by the caller. */
GBytes *annals_zcodec_inflate (const guint8 *data, gsize length, gsize raw_length, GBytes *dict, GError **error);

guint32 annals_zcodec_crc32 (guint32 crc, const void *data, gsize length);

typedef gboolean (*AnnalsZcodecSink) (const guint8 *data, gsize length, gpointer user_data);

/* annals_zcodec_inflate() in pieces, for a stream read piece by piece:
 * each push inflates its input into sink (at most 64 KiB a call), and
 * finish checks the stream ended at exactly raw_length bytes.  A sink
 * that returns FALSE stops it (ANNALS_ZCODEC_ERROR_FAILED). */
typedef struct _AnnalsInflater AnnalsInflater;
AnnalsInflater *annals_inflater_new (GBytes *dict, gsize raw_length, AnnalsZcodecSink sink, gpointer user_data,
                                     GError **error);
gboolean annals_inflater_push (AnnalsInflater *inflater, const guint8 *data, gsize length, GError **error);
gboolean annals_inflater_finish (AnnalsInflater *inflater, GError **error);
void annals_inflater_free (AnnalsInflater *inflater);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsInflater, annals_inflater_free)

/* True when data starts with gzip's magic bytes (1f 8b). */
gboolean annals_zcodec_is_gzip (const guint8 *data, gsize length);

/* A streaming gzip reader over a file descriptor, for input of any size
 * in bounded memory.  Concatenated gzip members read as one stream.  A
 * stream that ends before its trailer, or does not inflate, fails with
 * ANNALS_ZCODEC_ERROR_CORRUPT and a message that names the input. */
typedef struct _AnnalsGzipReader AnnalsGzipReader;

/* fd: borrowed, read from its current offset.  head: bytes already read
 * from fd (may be NULL), inflated first.  name: for error messages. */
AnnalsGzipReader *annals_gzip_reader_new (int fd, const guint8 *head, gsize head_length, const char *name);
void annals_gzip_reader_free (AnnalsGzipReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsGzipReader, annals_gzip_reader_free)

/* Inflates up to length bytes into buf.  Returns how many (0 only at the
 * end of the stream), or -1 with error set. */
gssize annals_gzip_reader_read (AnnalsGzipReader *reader, guint8 *buf, gsize length, GError **error);

/* A gzip writer for streamed downloads (mbox.gz): call write as data is
 * produced; each call hands compressed bytes to sink. */
typedef struct _AnnalsGzipWriter AnnalsGzipWriter;
AnnalsGzipWriter *annals_gzip_writer_new (AnnalsZcodecSink sink, gpointer user_data);
gboolean annals_gzip_writer_write (AnnalsGzipWriter *writer, const void *data, gsize length);
/* Finishes the stream (writes the trailer) and frees the writer. */
gboolean annals_gzip_writer_finish (AnnalsGzipWriter *writer);

G_END_DECLS
