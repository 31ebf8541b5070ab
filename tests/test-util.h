/* Helpers shared by the tests: temporary folders and generated mail. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int
test_util_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  chmod (path, 0755);
  return remove (path);
}

/* Removes a tree made by test_util_tmpdir(). */
static inline void
test_util_rm_rf (const char *dir)
{
  if (dir != NULL)
    nftw (dir, test_util_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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
