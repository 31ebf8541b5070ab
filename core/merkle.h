/* merkle: RFC 6962 / RFC 9162 Merkle tree hashes and proofs over tiles.
 *
 * Leaf hash SHA-256(0x00 || entry), node hash SHA-256(0x01 || left ||
 * right), the left subtree the largest power of two below the size.
 * Hashes come from an AnnalsMerkleSource: the hashes of one tile level
 * (C2SP tlog-tiles: a level-L hash covers 256^L leaves), so every proof
 * reads O(log n) hashes, whether the source is tile files on disk or a
 * writer's partial tiles in memory.  Proof shapes are RFC 9162 2.1.3 and
 * 2.1.4; nothing here recurses on input a sender controls (depth <= 64).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_HASH_SIZE 32
#define ANNALS_TILE_WIDTH 256
#define ANNALS_TILE_HEIGHT 8

typedef guint8 AnnalsHash[ANNALS_HASH_SIZE];

#define ANNALS_MERKLE_ERROR (annals_merkle_error_quark ())
GQuark annals_merkle_error_quark (void);
typedef enum {
  ANNALS_MERKLE_ERROR_RANGE, /* an index or size outside the tree */
} AnnalsMerkleError;

/* Fills out with hash number index of tile level level (the Merkle tree
 * hash of leaves [index * 256^level, (index + 1) * 256^level)). */
typedef gboolean (*AnnalsMerkleSource) (gpointer ctx, guint level, guint64 index, guint8 *out, GError **error);

void annals_merkle_leaf_hash (const void *entry, gsize length, guint8 *out);
void annals_merkle_node_hash (const guint8 *left, const guint8 *right, guint8 *out);
/* MTH of an empty tree: SHA-256 of nothing. */
void annals_merkle_empty_hash (guint8 *out);

/* The root of the tree of the first size leaves. */
gboolean annals_merkle_root (AnnalsMerkleSource source, gpointer ctx, guint64 size, guint8 *out, GError **error);

/* Inclusion proof of leaf index in the tree of size leaves: a new array
 * of AnnalsHash, leaf's sibling first. */
GArray *annals_merkle_inclusion_proof (AnnalsMerkleSource source, gpointer ctx, guint64 index, guint64 size,
                                       GError **error);

/* Consistency proof from old_size to size (RFC 9162 2.1.4.1). */
GArray *annals_merkle_consistency_proof (AnnalsMerkleSource source, gpointer ctx, guint64 old_size, guint64 size,
                                         GError **error);

gboolean annals_merkle_verify_inclusion (const guint8 *leaf_hash, guint64 index, guint64 size, const guint8 *proof,
                                         gsize proof_count, const guint8 *root);

gboolean annals_merkle_verify_consistency (guint64 old_size, guint64 size, const guint8 *old_root, const guint8 *root,
                                           const guint8 *proof, gsize proof_count);

/* Appending, for writers and streaming verifiers: the partial tile of
 * every level, whose hashes are all that the next root needs. */
typedef struct {
  guint64 size;                                            /* leaves so far */
  guint8 partial[8][ANNALS_TILE_WIDTH * ANNALS_HASH_SIZE]; /* per level: hashes of the partial tile */
  guint widths[8];                                         /* hashes in each partial tile */
} AnnalsMerkleFrontier;

/* Called with each tile that becomes full (level, tile number, 256 hashes). */
typedef gboolean (*AnnalsMerkleTileDone) (gpointer ctx, guint level, guint64 tile, const guint8 *hashes,
                                          GError **error);

void annals_merkle_frontier_init (AnnalsMerkleFrontier *f);
gboolean annals_merkle_frontier_append (AnnalsMerkleFrontier *f, const guint8 *leaf_hash, AnnalsMerkleTileDone done,
                                        gpointer ctx, GError **error);
/* The root of the f->size leaves appended so far. */
void annals_merkle_frontier_root (const AnnalsMerkleFrontier *f, guint8 *out);

/* Tile paths (C2SP tlog-tiles): "tile/L/x001/x234/067[.p/W]", and for
 * level -1 "tile/entries/...".  width 0 or 256 means a full tile. */
char *annals_merkle_tile_path (int level, guint64 index, guint width);

G_END_DECLS
