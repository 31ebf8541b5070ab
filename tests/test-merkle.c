/* Tests for core/merkle.c and core/note.c: RFC 6962/9162 vectors, every
 * tree size to 1,000 against a plain recursive reference, tile paths and
 * tile boundaries, signed notes and checkpoints. */
#include "core/merkle.h"
#include "core/note.h"

#include <string.h>

/* --- A straightforward reference: RFC 6962 2.1 written as recursion
 * over an array of leaf hashes. */

static guint64
ref_split (guint64 n)
{
  guint64 k = 1;
  while (k * 2 < n)
    k *= 2;
  return k;
}

static void
ref_mth (const guint8 *leaves, guint64 n, guint8 *out)
{
  if (n == 0) {
    annals_merkle_empty_hash (out);
    return;
  }
  if (n == 1) {
    memcpy (out, leaves, 32);
    return;
  }
  guint64 k = ref_split (n);
  guint8 l[32], r[32];
  ref_mth (leaves, k, l);
  ref_mth (leaves + 32 * k, n - k, r);
  annals_merkle_node_hash (l, r, out);
}

static void
ref_path (const guint8 *leaves, guint64 m, guint64 n, GArray *out)
{
  if (n <= 1)
    return;
  guint64 k = ref_split (n);
  guint8 h[32];
  if (m < k) {
    ref_path (leaves, m, k, out);
    ref_mth (leaves + 32 * k, n - k, h);
  } else {
    ref_path (leaves + 32 * k, m - k, n - k, out);
    ref_mth (leaves, k, h);
  }
  g_array_append_vals (out, h, 1);
}

static void
ref_subproof (const guint8 *leaves, guint64 m, guint64 n, gboolean b, GArray *out)
{
  guint8 h[32];
  if (m == n) {
    if (!b) {
      ref_mth (leaves, n, h);
      g_array_append_vals (out, h, 1);
    }
    return;
  }
  guint64 k = ref_split (n);
  if (m <= k) {
    ref_subproof (leaves, m, k, b, out);
    ref_mth (leaves + 32 * k, n - k, h);
  } else {
    ref_subproof (leaves + 32 * k, m - k, n - k, FALSE, out);
    ref_mth (leaves, k, h);
  }
  g_array_append_vals (out, h, 1);
}

/* A source over an in-memory array of leaf hashes: level-L hashes are
 * computed by the reference (what tiles would hold). */
typedef struct {
  const guint8 *leaves;
  guint64 n;
} ArraySource;

static gboolean
array_source (gpointer ctx, guint level, guint64 index, guint8 *out, GError **error)
{
  ArraySource *a = ctx;
  guint64 width = (guint64) 1 << (8 * level);
  g_assert_cmpuint ((index + 1) * width, <=, a->n);
  ref_mth (a->leaves + 32 * index * width, width, out);
  return TRUE;
}

static guint8 *
make_leaves (guint64 n)
{
  guint8 *leaves = g_malloc (32 * MAX (n, 1));
  for (guint64 i = 0; i < n; i++) {
    char data[32];
    g_snprintf (data, sizeof data, "leaf %" G_GUINT64_FORMAT, i);
    annals_merkle_leaf_hash (data, strlen (data), leaves + 32 * i);
  }
  return leaves;
}

static void
from_hex (const char *hex, guint8 *out)
{
  for (int i = 0; i < 32; i++)
    out[i] = (guint8) (g_ascii_xdigit_value (hex[2 * i]) << 4 | g_ascii_xdigit_value (hex[2 * i + 1]));
}

/* The CT reference leaves (RFC 6962 test data) and their roots. */
static const char *const ct_leaves[] = { "",
                                         "\x00",
                                         "\x10",
                                         "\x20\x21",
                                         "\x30\x31",
                                         "\x40\x41\x42\x43",
                                         "\x50\x51\x52\x53\x54\x55\x56\x57",
                                         "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f" };
static const gsize ct_lengths[] = { 0, 1, 1, 2, 2, 4, 8, 16 };
static const char *const ct_roots[] = {
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static guint8 *
ct_leaf_hashes (void)
{
  guint8 *leaves = g_malloc (32 * 8);
  for (int i = 0; i < 8; i++)
    annals_merkle_leaf_hash (ct_leaves[i], ct_lengths[i], leaves + 32 * i);
  return leaves;
}

static void
test_ct_roots (void)
{
  g_autofree guint8 *leaves = ct_leaf_hashes ();
  for (guint64 n = 0; n <= 8; n++) {
    g_test_message ("size %" G_GUINT64_FORMAT, n);
    ArraySource a = { leaves, n };
    guint8 root[32], want[32];
    from_hex (ct_roots[n], want);
    g_assert_true (annals_merkle_root (array_source, &a, n, root, NULL));
    g_assert_cmpmem (root, 32, want, 32);
    AnnalsMerkleFrontier f;
    annals_merkle_frontier_init (&f);
    for (guint64 i = 0; i < n; i++)
      annals_merkle_frontier_append (&f, leaves + 32 * i, NULL, NULL, NULL);
    annals_merkle_frontier_root (&f, root);
    g_assert_cmpmem (root, 32, want, 32);
  }
}

/* RFC 9162 2.1.5's worked examples on the 7-leaf tree (a..g are the
 * leaves d0..d6): the inclusion proof of d3 is [c, g, l] and the
 * consistency proof from 4 to 7 is [l]; from 3 to 7 [c, d, g, l]; from 6
 * to 7 [i, j, k], with the CT vectors' values. */
static void
test_rfc9162_examples (void)
{
  g_autofree guint8 *leaves = ct_leaf_hashes ();
  ArraySource a = { leaves, 7 };
  guint8 c[32], d[32], g[32], l[32], root7[32];
  memcpy (c, leaves + 32 * 2, 32);
  memcpy (d, leaves + 32 * 3, 32);
  ref_mth (leaves, 2, g);
  ref_mth (leaves + 32 * 4, 3, l);
  from_hex (ct_roots[7], root7);

  g_autoptr (GArray) incl = annals_merkle_inclusion_proof (array_source, &a, 3, 7, NULL);
  g_assert_cmpuint (incl->len, ==, 3);
  g_assert_cmpmem (incl->data, 32, c, 32);
  g_assert_cmpmem (incl->data + 32, 32, g, 32);
  g_assert_cmpmem (incl->data + 64, 32, l, 32);
  g_assert_true (annals_merkle_verify_inclusion (leaves + 32 * 3, 3, 7, (guint8 *) incl->data, 3, root7));

  g_autoptr (GArray) c47 = annals_merkle_consistency_proof (array_source, &a, 4, 7, NULL);
  g_assert_cmpuint (c47->len, ==, 1);
  g_assert_cmpmem (c47->data, 32, l, 32);
  guint8 root4[32];
  from_hex (ct_roots[4], root4);
  g_assert_true (annals_merkle_verify_consistency (4, 7, root4, root7, (guint8 *) c47->data, 1));

  g_autoptr (GArray) c37 = annals_merkle_consistency_proof (array_source, &a, 3, 7, NULL);
  g_assert_cmpuint (c37->len, ==, 4);
  g_assert_cmpmem (c37->data, 32, c, 32);
  g_assert_cmpmem (c37->data + 32, 32, d, 32);
  g_assert_cmpmem (c37->data + 64, 32, g, 32);
  g_assert_cmpmem (c37->data + 96, 32, l, 32);

  /* CT vectors: consistency 6 -> 7. */
  static const char *const p67[] = { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                                     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                                     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" };
  g_autoptr (GArray) c67 = annals_merkle_consistency_proof (array_source, &a, 6, 7, NULL);
  g_assert_cmpuint (c67->len, ==, 3);
  for (int i = 0; i < 3; i++) {
    guint8 want[32];
    from_hex (p67[i], want);
    g_assert_cmpmem (c67->data + 32 * i, 32, want, 32);
  }
  /* CT vectors: inclusion of leaf 0 in the 8-leaf tree. */
  static const char *const p08[] = { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                                     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                                     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" };
  ArraySource a8 = { leaves, 8 };
  g_autoptr (GArray) i08 = annals_merkle_inclusion_proof (array_source, &a8, 0, 8, NULL);
  for (int i = 0; i < 3; i++) {
    guint8 want[32];
    from_hex (p08[i], want);
    g_assert_cmpmem (i08->data + 32 * i, 32, want, 32);
  }
}

/* Every size 1..1000: roots, every inclusion proof (sampled), and
 * consistency proofs, equal to the reference and verifying; tampered
 * proofs fail. */
static void
test_all_sizes (void)
{
  const guint64 max = 1000;
  g_autofree guint8 *leaves = make_leaves (max);
  AnnalsMerkleFrontier f;
  annals_merkle_frontier_init (&f);
  g_autofree guint8 *roots = g_malloc (32 * (max + 1));
  annals_merkle_empty_hash (roots);
  for (guint64 n = 1; n <= max; n++) {
    annals_merkle_frontier_append (&f, leaves + 32 * (n - 1), NULL, NULL, NULL);
    guint8 ref[32], got[32];
    ref_mth (leaves, n, ref);
    annals_merkle_frontier_root (&f, got);
    g_assert_cmpmem (got, 32, ref, 32);
    ArraySource a = { leaves, n };
    g_assert_true (annals_merkle_root (array_source, &a, n, got, NULL));
    g_assert_cmpmem (got, 32, ref, 32);
    memcpy (roots + 32 * n, ref, 32);
  }
  for (guint64 n = 1; n <= max; n += (n < 70 ? 1 : 37)) {
    ArraySource a = { leaves, n };
    for (guint64 m = 0; m < n; m += (n < 70 ? 1 : 13)) {
      g_autoptr (GArray) ref = g_array_new (FALSE, FALSE, 32);
      ref_path (leaves, m, n, ref);
      g_autoptr (GArray) got = annals_merkle_inclusion_proof (array_source, &a, m, n, NULL);
      g_assert_cmpuint (got->len, ==, ref->len);
      g_assert_cmpmem (got->data, 32 * got->len, ref->data, 32 * ref->len);
      g_assert_true (
          annals_merkle_verify_inclusion (leaves + 32 * m, m, n, (guint8 *) got->data, got->len, roots + 32 * n));
      /* Another index, or a flipped bit, fails. */
      if (n > 1)
        g_assert_false (annals_merkle_verify_inclusion (leaves + 32 * m, (m + 1) % n, n, (guint8 *) got->data, got->len,
                                                        roots + 32 * n));
      if (got->len > 0) {
        got->data[5] ^= 1;
        g_assert_false (
            annals_merkle_verify_inclusion (leaves + 32 * m, m, n, (guint8 *) got->data, got->len, roots + 32 * n));
      }
      /* Consistency from m (when m > 0) to n. */
      if (m == 0)
        continue;
      g_autoptr (GArray) cref = g_array_new (FALSE, FALSE, 32);
      ref_subproof (leaves, m, n, TRUE, cref);
      g_autoptr (GArray) cgot = annals_merkle_consistency_proof (array_source, &a, m, n, NULL);
      g_assert_cmpuint (cgot->len, ==, cref->len);
      g_assert_cmpmem (cgot->data, 32 * cgot->len, cref->data, 32 * cref->len);
      g_assert_true (
          annals_merkle_verify_consistency (m, n, roots + 32 * m, roots + 32 * n, (guint8 *) cgot->data, cgot->len));
      /* The wrong old root fails. */
      g_assert_false (annals_merkle_verify_consistency (m, n, roots + 32 * (m - 1), roots + 32 * n,
                                                        (guint8 *) cgot->data, cgot->len));
    }
  }
}

typedef struct {
  GHashTable *tiles; /* "L/N" -> GBytes of 256 hashes */
} TileSink;

static gboolean
keep_tile (gpointer ctx, guint level, guint64 tile, const guint8 *hashes, GError **error)
{
  TileSink *s = ctx;
  g_hash_table_insert (s->tiles, g_strdup_printf ("%u/%" G_GUINT64_FORMAT, level, tile),
                       g_bytes_new (hashes, 256 * 32));
  return TRUE;
}

/* Tiles at sizes that cross tile boundaries: 255, 256, 257, 65,537. */
static void
test_tile_boundaries (void)
{
  const guint64 sizes[] = { 255, 256, 257, 65536 + 1 };
  g_autofree guint8 *leaves = make_leaves (65537);
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    guint64 n = sizes[s];
    g_test_message ("size %" G_GUINT64_FORMAT, n);
    TileSink sink = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref) };
    AnnalsMerkleFrontier *f = g_new (AnnalsMerkleFrontier, 1);
    annals_merkle_frontier_init (f);
    for (guint64 i = 0; i < n; i++)
      g_assert_true (annals_merkle_frontier_append (f, leaves + 32 * i, keep_tile, &sink, NULL));
    /* Full level-0 tiles: n / 256; level 1: n / 65536. */
    g_assert_cmpuint (g_hash_table_size (sink.tiles), ==, n / 256 + n / 65536);
    g_assert_cmpuint (f->widths[0], ==, n % 256);
    g_assert_cmpuint (f->widths[1], ==, (n / 256) % 256);
    g_assert_cmpuint (f->widths[2], ==, (n / 65536) % 256);
    if (n >= 256) {
      GBytes *t0 = g_hash_table_lookup (sink.tiles, "0/0");
      g_assert_cmpmem (g_bytes_get_data (t0, NULL), 256 * 32, leaves, 256 * 32);
    }
    if (n > 65536) {
      /* Level-1 tile 0 holds the hashes of level-0 tiles 0..255. */
      GBytes *t1 = g_hash_table_lookup (sink.tiles, "1/0");
      guint8 h[32];
      ref_mth (leaves + 32 * 256 * 7, 256, h);
      g_assert_cmpmem ((const guint8 *) g_bytes_get_data (t1, NULL) + 32 * 7, 32, h, 32);
      g_assert_cmpuint (f->widths[2], ==, 1);
    }
    guint8 ref[32], got[32];
    ref_mth (leaves, n, ref);
    annals_merkle_frontier_root (f, got);
    g_assert_cmpmem (got, 32, ref, 32);
    g_free (f);
    g_hash_table_unref (sink.tiles);
  }
}

static void
test_tile_paths (void)
{
  struct {
    int level;
    guint64 index;
    guint width;
    const char *path;
  } cases[] = {
    { 0, 0, 0, "tile/0/000" },
    { 0, 5, 17, "tile/0/005.p/17" },
    { 1, 1234067, 0, "tile/1/x001/x234/067" },
    { 2, 1000, 256, "tile/2/x001/000" },
    { -1, 999, 3, "tile/entries/999.p/3" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *p = annals_merkle_tile_path (cases[i].level, cases[i].index, cases[i].width);
    g_assert_cmpstr (p, ==, cases[i].path);
  }
}

/* The signed-note example's key (from Go's note package tests) verifies. */
static void
test_note_sign_open (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AnnalsNoteKey) k = annals_note_key_generate ("example.org/log", &error);
  g_assert_no_error (error);
  g_autofree char *text
      = annals_checkpoint_format ("example.org/log", 42, (const guint8 *) "0123456789abcdef0123456789abcdef");
  g_autofree char *note = annals_note_sign (k, text);
  g_autofree char *vs = annals_note_key_verifier_string (k);
  g_autoptr (AnnalsNoteKey) v = annals_note_key_parse (vs, &error);
  g_assert_no_error (error);
  g_assert_false (v->has_secret);
  g_autofree char *opened = annals_note_open (note, strlen (note), v, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (opened, ==, text);
  g_auto (AnnalsCheckpoint) c = { 0 };
  g_assert_true (annals_checkpoint_parse (opened, &c, &error));
  g_assert_cmpstr (c.origin, ==, "example.org/log");
  g_assert_cmpuint (c.size, ==, 42);
  /* The signer string round-trips. */
  g_autofree char *ss = annals_note_key_signer_string (k);
  g_autoptr (AnnalsNoteKey) k2 = annals_note_key_parse (ss, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (k2->public_key, 32, k->public_key, 32);
  /* A changed size fails the signature. */
  g_autofree char *bad = g_strdup (note);
  bad[strlen ("example.org/log\n")] = '5';
  g_assert_null (annals_note_open (bad, strlen (bad), v, &error));
  g_assert_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);
  /* Another key's signature only: unsigned for this key. */
  g_autoptr (AnnalsNoteKey) other = annals_note_key_generate ("example.org/log", NULL);
  g_autofree char *note2 = annals_note_sign (other, text);
  g_assert_null (annals_note_open (note2, strlen (note2), v, &error));
  g_assert_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_UNSIGNED);
  g_clear_error (&error);
  /* Malformed keys and notes. */
  const char *bad_keys[] = { "", "name+zz+AQ==", "name+00000000+AQ==", "a b+12345678+AQ==", "PRIVATE+KEY+x" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_keys); i++) {
    g_assert_null (annals_note_key_parse (bad_keys[i], &error));
    g_assert_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED);
    g_clear_error (&error);
  }
  const char *bad_notes[] = { "", "x\n", "x\n\n", "x\n\nnot a signature\n", "x\n\n\xe2\x80\x94 name\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_notes); i++) {
    g_assert_null (annals_note_open (bad_notes[i], strlen (bad_notes[i]), v, &error));
    g_assert_nonnull (error);
    g_clear_error (&error);
  }
  const char *bad_cps[] = { "o\n1\n", "o\n01\nAAAA\n", "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
                            "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_cps); i++) {
    g_auto (AnnalsCheckpoint) bad_cp = { 0 };
    g_assert_false (annals_checkpoint_parse (bad_cps[i], &bad_cp, &error));
    g_clear_error (&error);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("Merkle trees, proofs, tiles and signed notes, against RFC and CT vectors and a reference");
  g_test_add_func ("/merkle/vectors/ct-roots", test_ct_roots);
  g_test_add_func ("/merkle/vectors/rfc9162-examples", test_rfc9162_examples);
  g_test_add_func ("/merkle/reference/sizes-1-to-1000", test_all_sizes);
  g_test_add_func ("/merkle/tiles/boundaries", test_tile_boundaries);
  g_test_add_func ("/merkle/tiles/paths", test_tile_paths);
  g_test_add_func ("/note/sign-and-open", test_note_sign_open);
  return g_test_run ();
}
