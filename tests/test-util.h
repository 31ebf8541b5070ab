/* Helpers shared by the tests: temporary folders and generated mail. */
#pragma once

#include "core/fsutil.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <sys/stat.h>

/* Removes a tree made by test_util_tmpdir(). */
static inline void
test_util_rm_rf (const char *dir)
{
  g_autoptr (GError) error = NULL;
  if (dir != NULL && !annals_fs_remove_tree (dir, &error))
    g_test_message ("%s", error->message);
}

/* A new temporary folder; the caller removes it with test_util_rm_rf. */
static inline char *
test_util_tmpdir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("annals-test-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

/* A new temporary folder, and in *path the name entry in it (not made):
 * the usual fixture's tmp and root.  test_util_tmpdir_clear removes it. */
static inline char *
test_util_tmpdir_with (const char *entry, char **path)
{
  char *dir = test_util_tmpdir ();
  *path = g_build_filename (dir, entry, NULL);
  return dir;
}

/* Removes the tree *dir and frees *dir and *path (may be NULL), setting
 * them to NULL. */
static inline void
test_util_tmpdir_clear (char **dir, char **path)
{
  test_util_rm_rf (*dir);
  g_clear_pointer (dir, g_free);
  if (path != NULL)
    g_clear_pointer (path, g_free);
}

/* A plausible list message numbered i, with a body of about body_bytes. */
static inline GString *
test_util_message (guint i, gsize body_bytes)
{
  GString *m = g_string_new (NULL);
  g_string_append_printf (m,
                          "Received: from mail.example.org by lists.example.org; Mon, 19 Apr 2021 15:28:51 +0000\n"
                          "From: Member %u <member%u@example.org>\n"
                          "To: policy@lists.example.org\n"
                          "Subject: [policy] topic %u\n"
                          "Date: Mon, 19 Apr 2021 15:%02u:%02u +0000\n"
                          "Message-ID: <msg%u@example.org>\n"
                          "List-Id: Policy <policy.lists.example.org>\n"
                          "\n",
                          i, i % 17, i / 3, (i / 60) % 60, i % 60, i);
  guint32 seed = i * 2654435761u;
  while (m->len < body_bytes) {
    seed = seed * 1103515245u + 12345u;
    g_string_append_printf (m, "line %u of message %u says %08x\n", (guint) m->len, i, seed);
  }
  g_string_append (m, "_______________________________________________\npolicy mailing list\n");
  return m;
}

/* Damages a Xapian glass table (index_dir/table.glass) so that the
 * database still opens but reading it fails: every leaf block is garbled
 * (all but its revision), the branch blocks and the root are left whole.
 * The table must be big enough to have branches (asserted), or its root
 * would be a leaf and opening would fail instead.  Glass blocks are 8 KiB
 * by default; byte 4 of a block is its level (0 for a leaf). */
static inline void
test_util_garble_glass (const char *index_dir, const char *table)
{
  g_autofree char *name = g_strconcat (table, ".glass", NULL);
  g_autofree char *path = g_build_filename (index_dir, name, NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  gboolean branches = FALSE;
  for (gsize b = 0; b + 8192 <= len; b += 8192) {
    guint8 level = (guint8) data[b + 4];
    if (level >= 1 && level < 254)
      branches = TRUE;
    if (level != 0)
      continue;
    for (gsize i = b + 4; i < b + 8192; i++)
      data[i] ^= 0x5a;
  }
  g_assert_true (branches);
  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
}
