/* zdict: see zdict.h. */
#include "core/zdict.h"

#include <string.h>

typedef struct {
  const char *line; /* points into a sample */
  gsize length;
  guint count; /* how many messages have this line */
  guint last;  /* the last message that counted it */
} LineCount;

static guint
line_hash (gconstpointer key)
{
  const LineCount *l = key;
  guint h = 5381;
  for (gsize i = 0; i < l->length; i++)
    h = h * 33 + (guchar) l->line[i];
  return h;
}

static gboolean
line_equal (gconstpointer a, gconstpointer b)
{
  const LineCount *x = a, *y = b;
  return x->length == y->length && memcmp (x->line, y->line, x->length) == 0;
}

static int
by_count (gconstpointer a, gconstpointer b)
{
  const LineCount *x = *(LineCount *const *) a, *y = *(LineCount *const *) b;
  if (x->count != y->count)
    return x->count < y->count ? 1 : -1; /* most frequent first */
  if (x->length != y->length)
    return x->length < y->length ? 1 : -1;
  return memcmp (x->line, y->line, x->length);
}

GBytes *
annals_zdict_train (GPtrArray *samples)
{
  /* Lines from the first 16 KiB of each message: the header block and
   * the start of the body, where the repeated text is. */
  const gsize look = 16384;
  g_autoptr (GHashTable) seen = g_hash_table_new_full (line_hash, line_equal, g_free, NULL);
  for (guint m = 0; m < samples->len; m++) {
    gsize len;
    const char *data = g_bytes_get_data (samples->pdata[m], &len);
    len = MIN (len, look);
    gsize pos = 0;
    while (pos < len) {
      const char *nl = memchr (data + pos, '\n', len - pos);
      gsize end = nl ? (gsize) (nl - data) : len;
      LineCount key = { data + pos, end - pos, 0, 0 };
      if (key.length > 8 && key.length < 1024) {
        LineCount *l = g_hash_table_lookup (seen, &key);
        if (l == NULL) {
          l = g_new (LineCount, 1);
          *l = key;
          l->count = 1;
          l->last = m;
          g_hash_table_add (seen, l);
        } else if (l->last != m) {
          l->count++;
          l->last = m;
        }
      }
      pos = end + 1;
    }
  }
  g_autoptr (GPtrArray) common = g_ptr_array_new ();
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, seen);
  while (g_hash_table_iter_next (&it, &key, NULL))
    if (((LineCount *) key)->count >= ANNALS_ZDICT_MIN_MESSAGES)
      g_ptr_array_add (common, key);
  g_ptr_array_sort (common, by_count);

  /* zlib finds nearer matches cheaper: the most frequent lines go last. */
  gsize total = 0;
  guint take = 0;
  while (take < common->len) {
    const LineCount *l = common->pdata[take];
    if (total + l->length + 1 > ANNALS_ZDICT_MAX_BYTES)
      break;
    total += l->length + 1;
    take++;
  }
  guint8 *out = g_malloc (total + 1);
  gsize pos = 0;
  for (guint i = take; i-- > 0;) {
    const LineCount *l = common->pdata[i];
    memcpy (out + pos, l->line, l->length);
    pos += l->length;
    out[pos++] = '\n';
  }
  return g_bytes_new_take (out, pos);
}
