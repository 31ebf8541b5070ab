/* fsutil: see fsutil.h. */
#include "core/fsutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK (annals_fs_error, annals_fs_error)

/* nftw's callback takes no context: the entry that failed is kept here,
 * one per thread. */
static _Thread_local char failed_path[4096];
static _Thread_local int failed_errno;

static int
remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  if (remove (path) == 0)
    return 0;
  failed_errno = errno;
  g_strlcpy (failed_path, path, sizeof failed_path);
  return 1;
}

gboolean
annals_fs_remove_tree (const char *path, GError **error)
{
  failed_path[0] = '\0';
  failed_errno = 0;
  int rc = nftw (path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (rc == 0 || (rc == -1 && errno == ENOENT && failed_path[0] == '\0'))
    return TRUE;
  int e = failed_path[0] ? failed_errno : errno;
  g_set_error (error, ANNALS_FS_ERROR, ANNALS_FS_ERROR_IO, "cannot remove '%s': %s; remove it by hand",
               failed_path[0] ? failed_path : path, g_strerror (e));
  return FALSE;
}
