/* Fuzz target: the parsers of what auditors feed annals: signed notes
 * and checkpoints, site checkpoints, .tlog-proof and consistency proofs,
 * log entries and keys.  None may crash, and what parses must be what was given. */
#include "core/note.h"
#include "core/tlog.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static AnnalsNoteKey *key;
  /* A throwaway key made for the seeds (fuzz/seeds/tlog/ is signed by it),
   * so the fuzzer reaches the signature check with valid notes. */
  if (key == NULL)
    key = annals_note_key_parse ("PRIVATE+KEY+fuzz.example+3b1a8902+AV1nUwe09cNUCzOd3xt/wPFBtZV0IfEb5+mRU/6NLzW4",
                                 NULL);
  g_assert_nonnull (key);
  g_autofree char *text = g_strndup ((const char *) data, size);
  gsize len = strlen (text);
  g_autofree char *opened = key ? annals_note_open (text, len, key, NULL) : NULL;
  if (opened != NULL)
    g_assert_true (g_str_has_suffix (opened, "\n"));
  g_auto (AnnalsCheckpoint) c = { 0 };
  if (annals_checkpoint_parse (text, &c, NULL))
    g_assert_nonnull (c.origin);
  /* Site checkpoints are parsed once their signature verifies. */
  g_auto (AnnalsTlogSite) site = { 0 };
  if (annals_tlog_site_parse (opened ? opened : text, &site, NULL)) {
    g_assert_nonnull (site.origin);
    for (guint i = 0; i < site.lists->len; i++)
      (void) annals_tlog_site_list_name (&site, &g_array_index (site.lists, AnnalsCheckpoint, i));
  }
  g_auto (AnnalsTlogProof) p = { 0 };
  if (annals_tlog_proof_parse ((const char *) data, size, &p, NULL)) {
    g_assert_nonnull (p.hashes);
    g_assert_cmpuint (p.hashes->len, <=, 64);
  }
  guint64 old;
  GArray *hashes = NULL;
  char *note = NULL;
  if (annals_tlog_consistency_parse ((const char *) data, size, &old, &hashes, &note, NULL)) {
    g_array_unref (hashes);
    g_free (note);
  }
  g_auto (AnnalsTlogEntry) e = { 0 };
  if (annals_tlog_entry_parse (data, size, &e, NULL)) {
    /* What annals writes for a parsed entry parses back to the same
     * entry: encoding it again gives the same bytes. */
    g_autoptr (GBytes) again = annals_tlog_entry_encode (&e);
    gsize alen;
    const guint8 *a = g_bytes_get_data (again, &alen);
    g_auto (AnnalsTlogEntry) e2 = { 0 };
    g_assert_true (annals_tlog_entry_parse (a, alen, &e2, NULL));
    g_assert_cmpuint (e2.index, ==, e.index);
    g_autoptr (GBytes) third = annals_tlog_entry_encode (&e2);
    g_assert_true (g_bytes_equal (again, third));
  }
  AnnalsNoteKey *k = annals_note_key_parse (text, NULL);
  annals_note_key_free (k);
  return 0;
}
