/* merkle: see merkle.h. */
#include "core/merkle.h"

#include <sodium.h>
#include <string.h>

G_DEFINE_QUARK (annals_merkle_error, annals_merkle_error)

void
annals_merkle_leaf_hash (const void *entry, gsize length, guint8 *out)
{
  crypto_hash_sha256_state st;
  const guint8 zero = 0x00;
  crypto_hash_sha256_init (&st);
  crypto_hash_sha256_update (&st, &zero, 1);
  crypto_hash_sha256_update (&st, entry, length);
  crypto_hash_sha256_final (&st, out);
}

void
annals_merkle_node_hash (const guint8 *left, const guint8 *right, guint8 *out)
{
  guint8 buf[1 + 2 * ANNALS_HASH_SIZE];
  buf[0] = 0x01;
  memcpy (buf + 1, left, ANNALS_HASH_SIZE);
  memcpy (buf + 1 + ANNALS_HASH_SIZE, right, ANNALS_HASH_SIZE);
  crypto_hash_sha256 (out, buf, sizeof buf);
}

void
annals_merkle_empty_hash (guint8 *out)
{
  crypto_hash_sha256 (out, NULL, 0);
}

static guint64
largest_power_below (guint64 n)
{
  /* The largest power of two strictly less than n (n >= 2). */
  guint64 k = 1;
  while (k << 1 < n)
    k <<= 1;
  return k;
}

/* Hash of a power-of-two run of hashes, by pairwise reduction. */
static void
hash_perfect (const guint8 *hashes, gsize count, guint8 *out)
{
  guint8 buf[ANNALS_TILE_WIDTH * ANNALS_HASH_SIZE];
  g_assert (count >= 1 && count <= ANNALS_TILE_WIDTH && (count & (count - 1)) == 0);
  memcpy (buf, hashes, count * ANNALS_HASH_SIZE);
  while (count > 1) {
    for (gsize i = 0; i < count / 2; i++)
      annals_merkle_node_hash (buf + 2 * i * ANNALS_HASH_SIZE, buf + (2 * i + 1) * ANNALS_HASH_SIZE,
                               buf + i * ANNALS_HASH_SIZE);
    count /= 2;
  }
  memcpy (out, buf, ANNALS_HASH_SIZE);
}

/* Folds perfect-subtree hashes, left to right, into one tree hash. */
static void
fold_pieces (guint8 (*pieces)[ANNALS_HASH_SIZE], guint n, guint8 *out)
{
  if (n == 0) {
    annals_merkle_empty_hash (out);
    return;
  }
  guint8 r[ANNALS_HASH_SIZE];
  memcpy (r, pieces[n - 1], ANNALS_HASH_SIZE);
  for (guint i = n - 1; i-- > 0;)
    annals_merkle_node_hash (pieces[i], r, r);
  memcpy (out, r, ANNALS_HASH_SIZE);
}

/* MTH of the perfect subtree of 2^j leaves starting at start (aligned). */
static gboolean
subtree_hash (AnnalsMerkleSource source, gpointer ctx, guint64 start, guint j, guint8 *out, GError **error)
{
  guint level = j / ANNALS_TILE_HEIGHT;
  gsize count = (gsize) 1 << (j % ANNALS_TILE_HEIGHT);
  guint64 first = start >> (ANNALS_TILE_HEIGHT * level);
  if (count == 1)
    return source (ctx, level, first, out, error);
  guint8 buf[ANNALS_TILE_WIDTH / 2 * ANNALS_HASH_SIZE];
  for (gsize i = 0; i < count; i++)
    if (!source (ctx, level, first + i, buf + i * ANNALS_HASH_SIZE, error))
      return FALSE;
  hash_perfect (buf, count, out);
  return TRUE;
}

static guint
log2_exact (guint64 n)
{
  guint j = 0;
  while (((guint64) 1 << j) < n)
    j++;
  return j;
}

/* MTH(D[a:b]) where a is a multiple of a power of two >= b - a (or 0):
 * the shape every range in an RFC 9162 proof has. */
static gboolean
range_hash (AnnalsMerkleSource source, gpointer ctx, guint64 a, guint64 b, guint8 *out, GError **error)
{
  guint8 pieces[64][ANNALS_HASH_SIZE];
  guint n = 0;
  guint64 at = a;
  for (int bit = 63; bit >= 0; bit--) {
    guint64 group = (guint64) 1 << bit;
    if ((b - a) & group) {
      if (!subtree_hash (source, ctx, at, (guint) bit, pieces[n++], error))
        return FALSE;
      at += group;
    }
  }
  fold_pieces (pieces, n, out);
  return TRUE;
}

gboolean
annals_merkle_root (AnnalsMerkleSource source, gpointer ctx, guint64 size, guint8 *out, GError **error)
{
  return range_hash (source, ctx, 0, size, out, error);
}

static GArray *
new_hash_array (void)
{
  return g_array_new (FALSE, FALSE, ANNALS_HASH_SIZE);
}

static void
reverse_hashes (GArray *a)
{
  for (guint i = 0, j = a->len; i + 1 < j--; i++) {
    AnnalsHash t;
    memcpy (t, a->data + i * ANNALS_HASH_SIZE, ANNALS_HASH_SIZE);
    memcpy (a->data + i * ANNALS_HASH_SIZE, a->data + j * ANNALS_HASH_SIZE, ANNALS_HASH_SIZE);
    memcpy (a->data + j * ANNALS_HASH_SIZE, t, ANNALS_HASH_SIZE);
  }
}

GArray *
annals_merkle_inclusion_proof (AnnalsMerkleSource source, gpointer ctx, guint64 index, guint64 size, GError **error)
{
  if (index >= size) {
    g_set_error (error, ANNALS_MERKLE_ERROR, ANNALS_MERKLE_ERROR_RANGE,
                 "leaf %" G_GUINT64_FORMAT " is not in a tree of %" G_GUINT64_FORMAT, index, size);
    return NULL;
  }
  g_autoptr (GArray) proof = new_hash_array ();
  guint64 lo = 0, hi = size;
  while (hi - lo > 1) {
    guint64 k = largest_power_below (hi - lo);
    AnnalsHash h;
    gboolean ok;
    if (index - lo < k) {
      ok = range_hash (source, ctx, lo + k, hi, h, error);
      hi = lo + k;
    } else {
      ok = subtree_hash (source, ctx, lo, log2_exact (k), h, error);
      lo += k;
    }
    if (!ok)
      return NULL;
    g_array_append_val (proof, h);
  }
  reverse_hashes (proof);
  return g_steal_pointer (&proof);
}

GArray *
annals_merkle_consistency_proof (AnnalsMerkleSource source, gpointer ctx, guint64 old_size, guint64 size,
                                 GError **error)
{
  if (old_size > size) {
    g_set_error (error, ANNALS_MERKLE_ERROR, ANNALS_MERKLE_ERROR_RANGE,
                 "old size %" G_GUINT64_FORMAT " is larger than the tree (%" G_GUINT64_FORMAT ")", old_size, size);
    return NULL;
  }
  g_autoptr (GArray) siblings = new_hash_array ();
  g_autoptr (GArray) proof = new_hash_array ();
  if (old_size == 0 || old_size == size)
    return g_steal_pointer (&proof);
  guint64 lo = 0, hi = size, m = old_size;
  gboolean whole = TRUE; /* the old tree is still a whole subtree here */
  for (;;) {
    if (m == hi - lo) {
      if (!whole) {
        AnnalsHash h;
        if (!range_hash (source, ctx, lo, hi, h, error))
          return NULL;
        g_array_append_val (proof, h);
      }
      break;
    }
    guint64 k = largest_power_below (hi - lo);
    AnnalsHash h;
    gboolean ok;
    if (m <= k) {
      ok = range_hash (source, ctx, lo + k, hi, h, error);
      hi = lo + k;
    } else {
      ok = subtree_hash (source, ctx, lo, log2_exact (k), h, error);
      m -= k;
      lo += k;
      whole = FALSE;
    }
    if (!ok)
      return NULL;
    g_array_append_val (siblings, h);
  }
  reverse_hashes (siblings);
  g_array_append_vals (proof, siblings->data, siblings->len);
  return g_steal_pointer (&proof);
}

gboolean
annals_merkle_verify_inclusion (const guint8 *leaf_hash, guint64 index, guint64 size, const guint8 *proof,
                                gsize proof_count, const guint8 *root)
{
  if (index >= size)
    return FALSE;
  guint64 fn = index, sn = size - 1;
  guint8 r[ANNALS_HASH_SIZE];
  memcpy (r, leaf_hash, ANNALS_HASH_SIZE);
  for (gsize i = 0; i < proof_count; i++) {
    const guint8 *p = proof + i * ANNALS_HASH_SIZE;
    if (sn == 0)
      return FALSE;
    if ((fn & 1) || fn == sn) {
      annals_merkle_node_hash (p, r, r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      annals_merkle_node_hash (r, p, r);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && sodium_memcmp (r, root, ANNALS_HASH_SIZE) == 0;
}

gboolean
annals_merkle_verify_consistency (guint64 old_size, guint64 size, const guint8 *old_root, const guint8 *root,
                                  const guint8 *proof, gsize proof_count)
{
  if (old_size > size)
    return FALSE;
  if (old_size == size)
    return proof_count == 0 && memcmp (old_root, root, ANNALS_HASH_SIZE) == 0;
  if (old_size == 0)
    return proof_count == 0;
  if (proof_count == 0 || proof_count > 128)
    return FALSE;
  /* RFC 9162 2.1.4.2: a power-of-two old tree is its own first node. */
  g_autofree guint8 *path = g_malloc ((proof_count + 1) * ANNALS_HASH_SIZE);
  gsize n = 0;
  if ((old_size & (old_size - 1)) == 0)
    memcpy (path + ANNALS_HASH_SIZE * n++, old_root, ANNALS_HASH_SIZE);
  memcpy (path + ANNALS_HASH_SIZE * n, proof, proof_count * ANNALS_HASH_SIZE);
  n += proof_count;
  guint64 fn = old_size - 1, sn = size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  guint8 fr[ANNALS_HASH_SIZE], sr[ANNALS_HASH_SIZE];
  memcpy (fr, path, ANNALS_HASH_SIZE);
  memcpy (sr, path, ANNALS_HASH_SIZE);
  for (gsize i = 1; i < n; i++) {
    const guint8 *c = path + i * ANNALS_HASH_SIZE;
    if (sn == 0)
      return FALSE;
    if ((fn & 1) || fn == sn) {
      annals_merkle_node_hash (c, fr, fr);
      annals_merkle_node_hash (c, sr, sr);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      annals_merkle_node_hash (sr, c, sr);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && memcmp (fr, old_root, ANNALS_HASH_SIZE) == 0 && memcmp (sr, root, ANNALS_HASH_SIZE) == 0;
}

void
annals_merkle_frontier_init (AnnalsMerkleFrontier *f)
{
  memset (f, 0, sizeof *f);
}

gboolean
annals_merkle_frontier_append (AnnalsMerkleFrontier *f, const guint8 *leaf_hash, AnnalsMerkleTileDone done,
                               gpointer ctx, GError **error)
{
  guint8 h[ANNALS_HASH_SIZE];
  memcpy (h, leaf_hash, ANNALS_HASH_SIZE);
  f->size++;
  for (guint level = 0; level < G_N_ELEMENTS (f->widths); level++) {
    memcpy (f->partial[level] + f->widths[level] * ANNALS_HASH_SIZE, h, ANNALS_HASH_SIZE);
    if (++f->widths[level] < ANNALS_TILE_WIDTH)
      return TRUE;
    /* The tile is full: hand it out, and its hash goes a level up. */
    guint64 tile = (f->size >> (ANNALS_TILE_HEIGHT * (level + 1))) - 1;
    if (done != NULL && !done (ctx, level, tile, f->partial[level], error))
      return FALSE;
    hash_perfect (f->partial[level], ANNALS_TILE_WIDTH, h);
    f->widths[level] = 0;
  }
  return TRUE;
}

void
annals_merkle_frontier_root (const AnnalsMerkleFrontier *f, guint8 *out)
{
  guint8 pieces[72][ANNALS_HASH_SIZE];
  guint n = 0;
  for (guint level = G_N_ELEMENTS (f->widths); level-- > 0;) {
    gsize at = 0;
    for (int bit = 7; bit >= 0; bit--) {
      gsize group = (gsize) 1 << bit;
      if (f->widths[level] & group) {
        hash_perfect (f->partial[level] + at * ANNALS_HASH_SIZE, group, pieces[n++]);
        at += group;
      }
    }
  }
  fold_pieces (pieces, n, out);
}

char *
annals_merkle_tile_path (int level, guint64 index, guint width)
{
  GString *s = g_string_new ("tile/");
  if (level < 0)
    g_string_append (s, "entries");
  else
    g_string_append_printf (s, "%d", level);
  /* Index in 3-digit groups, all but the last prefixed with x. */
  char groups[8][4];
  int n = 0;
  do {
    g_snprintf (groups[n++], sizeof groups[0], "%03u", (guint) (index % 1000));
    index /= 1000;
  } while (index > 0);
  for (int i = n - 1; i >= 0; i--)
    g_string_append_printf (s, "/%s%s", i > 0 ? "x" : "", groups[i]);
  if (width > 0 && width < ANNALS_TILE_WIDTH)
    g_string_append_printf (s, ".p/%u", width);
  return g_string_free (s, FALSE);
}
