/* note: see note.h. */
#include "core/note.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK (annals_note_error, annals_note_error)

#define ED25519 0x01
#define EM_DASH "\xe2\x80\x94"
/* Sizes a note may have: checkpoints are small; 16 signatures of any
 * kind fit (signed-note asks verifiers to accept at least 16). */
#define MAX_NOTE_BYTES (128 * 1024)

static gboolean
ensure_sodium (GError **error)
{
  if (sodium_init () < 0) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED, "libsodium failed to initialise");
    return FALSE;
  }
  return TRUE;
}

void
annals_note_key_free (AnnalsNoteKey *key)
{
  if (key == NULL)
    return;
  sodium_memzero (key->secret_key, sizeof key->secret_key);
  g_free (key->name);
  g_free (key);
}

static gboolean
name_valid (const char *name)
{
  if (name == NULL || *name == '\0' || !g_utf8_validate (name, -1, NULL))
    return FALSE;
  for (const char *p = name; *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (c == '+' || g_unichar_isspace (c) || c < 0x20)
      return FALSE;
  }
  return TRUE;
}

static guint32
key_id (const char *name, const guint8 *public_key)
{
  crypto_hash_sha256_state st;
  guint8 digest[32];
  const guint8 sep[2] = { '\n', ED25519 };
  crypto_hash_sha256_init (&st);
  crypto_hash_sha256_update (&st, (const guint8 *) name, strlen (name));
  crypto_hash_sha256_update (&st, sep, 2);
  crypto_hash_sha256_update (&st, public_key, 32);
  crypto_hash_sha256_final (&st, digest);
  return (guint32) digest[0] << 24 | (guint32) digest[1] << 16 | (guint32) digest[2] << 8 | digest[3];
}

AnnalsNoteKey *
annals_note_key_generate (const char *name, GError **error)
{
  if (!ensure_sodium (error))
    return NULL;
  if (!name_valid (name)) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED,
                 "key name '%s' is not allowed: it must be non-empty, without spaces or '+'", name);
    return NULL;
  }
  AnnalsNoteKey *k = g_new0 (AnnalsNoteKey, 1);
  guint8 seed[32];
  randombytes_buf (seed, sizeof seed);
  crypto_sign_seed_keypair (k->public_key, k->secret_key, seed);
  sodium_memzero (seed, sizeof seed);
  k->name = g_strdup (name);
  k->id = key_id (name, k->public_key);
  k->has_secret = TRUE;
  return k;
}

AnnalsNoteKey *
annals_note_key_parse (const char *text, GError **error)
{
  if (!ensure_sodium (error))
    return NULL;
  g_autofree char *s = g_strstrip (g_strdup (text));
  gboolean secret = g_str_has_prefix (s, "PRIVATE+KEY+");
  /* Base64 holds "+" too: only the first two split. */
  g_auto (GStrv) parts = g_strsplit (secret ? s + strlen ("PRIVATE+KEY+") : s, "+", 3);
  if (g_strv_length (parts) != 3 || !name_valid (parts[0]) || strlen (parts[1]) != 8
      || strspn (parts[1], "0123456789abcdef") != 8) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED,
                 "not a key: expected %s<name>+<8 hex digits>+<base64 key>", secret ? "PRIVATE+KEY+" : "");
    return NULL;
  }
  gsize len = 0;
  g_autofree guint8 *raw = g_base64_decode (parts[2], &len);
  if (len != 33 || raw[0] != ED25519) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED,
                 "key '%s' is not an Ed25519 key (type 0x01 and 32 bytes)", parts[0]);
    return NULL;
  }
  g_autoptr (AnnalsNoteKey) k = g_new0 (AnnalsNoteKey, 1);
  k->name = g_strdup (parts[0]);
  if (secret) {
    crypto_sign_seed_keypair (k->public_key, k->secret_key, raw + 1);
    k->has_secret = TRUE;
  } else {
    memcpy (k->public_key, raw + 1, 32);
  }
  sodium_memzero (raw, len);
  k->id = key_id (k->name, k->public_key);
  if (k->id != (guint32) strtoul (parts[1], NULL, 16)) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED,
                 "key '%s': the key id %s does not match the key (expected %08x)", k->name, parts[1], k->id);
    return NULL;
  }
  return g_steal_pointer (&k);
}

char *
annals_note_key_signer_string (const AnnalsNoteKey *key)
{
  guint8 raw[33];
  raw[0] = ED25519;
  memcpy (raw + 1, key->secret_key, 32); /* libsodium's secret key starts with the seed */
  g_autofree char *b64 = g_base64_encode (raw, sizeof raw);
  sodium_memzero (raw, sizeof raw);
  char *s = g_strdup_printf ("PRIVATE+KEY+%s+%08x+%s", key->name, key->id, b64);
  sodium_memzero (b64, strlen (b64));
  return s;
}

char *
annals_note_key_verifier_string (const AnnalsNoteKey *key)
{
  guint8 raw[33];
  raw[0] = ED25519;
  memcpy (raw + 1, key->public_key, 32);
  g_autofree char *b64 = g_base64_encode (raw, sizeof raw);
  return g_strdup_printf ("%s+%08x+%s", key->name, key->id, b64);
}

char *
annals_note_sign (const AnnalsNoteKey *key, const char *text)
{
  g_assert (key->has_secret);
  gsize len = strlen (text);
  g_assert (len > 0 && text[len - 1] == '\n');
  guint8 sig[4 + 64];
  sig[0] = key->id >> 24;
  sig[1] = key->id >> 16;
  sig[2] = key->id >> 8;
  sig[3] = key->id;
  crypto_sign_detached (sig + 4, NULL, (const guint8 *) text, len, key->secret_key);
  g_autofree char *b64 = g_base64_encode (sig, sizeof sig);
  return g_strdup_printf ("%s\n" EM_DASH " %s %s\n", text, key->name, b64);
}

char *
annals_note_open (const char *note, gsize length, const AnnalsNoteKey *key, GError **error)
{
  if (length > MAX_NOTE_BYTES || !g_utf8_validate_len (note, length, NULL)) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED,
                 "not a signed note (not UTF-8 text, or too large)");
    return NULL;
  }
  for (gsize i = 0; i < length; i++)
    if ((guchar) note[i] < 0x20 && note[i] != '\n') {
      g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED, "not a signed note (control character)");
      return NULL;
    }
  if (length < 2 || note[length - 1] != '\n') {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED,
                 "not a signed note (does not end with a newline)");
    return NULL;
  }
  /* The text ends at the last blank line. */
  gssize split = -1;
  for (gsize i = 1; i + 1 < length; i++)
    if (note[i] == '\n' && note[i + 1] == '\n')
      split = (gssize) i + 1; /* text is note[0, split) */
  if (split < 0) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED,
                 "not a signed note (no blank line before the signatures)");
    return NULL;
  }
  g_autofree char *sigs = g_strndup (note + split + 1, length - (gsize) split - 1);
  g_auto (GStrv) lines = g_strsplit (sigs, "\n", -1);
  guint n = g_strv_length (lines);
  if (n < 2 || n > 65) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED, "not a signed note (%s signatures)",
                 n < 2 ? "no" : "too many");
    return NULL;
  }
  gboolean verified = FALSE;
  for (guint i = 0; i + 1 < n; i++) {
    const char *l = lines[i];
    if (!g_str_has_prefix (l, EM_DASH " ")) {
      g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED, "not a signed note (bad signature line %u)",
                   i + 1);
      return NULL;
    }
    const char *name = l + strlen (EM_DASH " ");
    const char *space = strchr (name, ' ');
    if (space == NULL || space == name) {
      g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED, "not a signed note (bad signature line %u)",
                   i + 1);
      return NULL;
    }
    gsize sig_len = 0;
    g_autofree guint8 *sig = g_base64_decode (space + 1, &sig_len);
    if (sig_len < 4) {
      g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED, "not a signed note (short signature)");
      return NULL;
    }
    guint32 id = (guint32) sig[0] << 24 | (guint32) sig[1] << 16 | (guint32) sig[2] << 8 | sig[3];
    if ((gsize) (space - name) != strlen (key->name) || strncmp (name, key->name, strlen (key->name)) != 0
        || id != key->id)
      continue; /* another key's: ignored */
    if (sig_len != 68
        || crypto_sign_verify_detached (sig + 4, (const guint8 *) note, (gsize) split, key->public_key) != 0) {
      g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_BAD_SIGNATURE,
                   "the signature by '%s' does not verify: the note was altered or signed by another key", key->name);
      return NULL;
    }
    verified = TRUE;
  }
  if (!verified) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_UNSIGNED,
                 "the note carries no signature by key '%s' (%08x)", key->name, key->id);
    return NULL;
  }
  return g_strndup (note, (gsize) split);
}

void
annals_checkpoint_clear (AnnalsCheckpoint *checkpoint)
{
  g_clear_pointer (&checkpoint->origin, g_free);
}

char *
annals_checkpoint_format (const char *origin, guint64 size, const guint8 *root)
{
  g_autofree char *b64 = g_base64_encode (root, 32);
  return g_strdup_printf ("%s\n%" G_GUINT64_FORMAT "\n%s\n", origin, size, b64);
}

gboolean
annals_checkpoint_parse (const char *text, AnnalsCheckpoint *out, GError **error)
{
  memset (out, 0, sizeof *out);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = g_strv_length (lines);
  /* origin, size, root, extension lines..., and "" after the last newline */
  if (n < 4 || lines[0][0] == '\0' || lines[n - 1][0] != '\0') {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED, "not a checkpoint (fewer than three lines)");
    return FALSE;
  }
  const char *size = lines[1];
  if (*size == '\0' || strspn (size, "0123456789") != strlen (size) || (size[0] == '0' && size[1] != '\0')
      || strlen (size) > 19) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED, "not a checkpoint (tree size '%s')", size);
    return FALSE;
  }
  gsize rlen = 0;
  g_autofree guint8 *root = g_base64_decode (lines[2], &rlen);
  if (rlen != 32 || strlen (lines[2]) != 44) {
    g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED,
                 "not a checkpoint (root hash is not 32 bytes of base64)");
    return FALSE;
  }
  for (guint i = 3; i + 1 < n; i++)
    if (lines[i][0] == '\0') {
      g_set_error (error, ANNALS_NOTE_ERROR, ANNALS_NOTE_ERROR_MALFORMED, "not a checkpoint (empty extension line)");
      return FALSE;
    }
  out->origin = g_strdup (lines[0]);
  out->size = g_ascii_strtoull (size, NULL, 10);
  memcpy (out->root, root, 32);
  return TRUE;
}
