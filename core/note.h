/* note: C2SP signed notes with Ed25519 (libsodium), and checkpoints.
 *
 * Keys are written as Go's golang.org/x/mod/sumdb/note does, so other
 * tlog tools read them:
 *   signer:   PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>
 *   verifier: <name>+<hex key id>+<base64(0x01 || public key)>
 * with key id = SHA-256(name || 0x0A || 0x01 || public key)[:4].
 * A note is text (ending in a newline), a blank line, and signature
 * lines "— <name> <base64(key id || signature)>".
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_NOTE_ERROR (annals_note_error_quark ())
GQuark annals_note_error_quark (void);

typedef enum {
  ANNALS_NOTE_ERROR_MALFORMED,     /* not a note, key or checkpoint */
  ANNALS_NOTE_ERROR_BAD_SIGNATURE, /* signed by the key, but the signature fails */
  ANNALS_NOTE_ERROR_UNSIGNED,      /* no signature by the given key */
} AnnalsNoteError;

typedef struct {
  char *name;
  guint32 id;
  guint8 public_key[32];
  guint8 secret_key[64]; /* all zero in a verifier */
  gboolean has_secret;
} AnnalsNoteKey;

void annals_note_key_free (AnnalsNoteKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsNoteKey, annals_note_key_free)

/* A new random signing key.  name: no spaces, no '+'. */
AnnalsNoteKey *annals_note_key_generate (const char *name, GError **error);
/* Parses a signer or a verifier string (surrounding white space ignored). */
AnnalsNoteKey *annals_note_key_parse (const char *text, GError **error);
char *annals_note_key_signer_string (const AnnalsNoteKey *key);
char *annals_note_key_verifier_string (const AnnalsNoteKey *key);

/* Signs text (which must end in a newline): returns the whole note. */
char *annals_note_sign (const AnnalsNoteKey *key, const char *text);

/* Checks a note against key: returns its text (a new string) when a
 * signature by key verifies.  Signatures by other keys are ignored. */
char *annals_note_open (const char *note, gsize length, const AnnalsNoteKey *key, GError **error);

typedef struct {
  char *origin;
  guint64 size;
  guint8 root[32];
} AnnalsCheckpoint;

void annals_checkpoint_clear (AnnalsCheckpoint *checkpoint);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AnnalsCheckpoint, annals_checkpoint_clear)
/* The note text of a checkpoint: origin, size, base64 root, newline each. */
char *annals_checkpoint_format (const char *origin, guint64 size, const guint8 *root);
/* Parses checkpoint note text (as annals_note_open returns it). */
gboolean annals_checkpoint_parse (const char *text, AnnalsCheckpoint *out, GError **error);

G_END_DECLS
