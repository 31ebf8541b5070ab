/* fsutil: file-system helpers every program needs.
 *
 * annals_fs_remove_tree() removes a staging folder, an index being
 * replaced or a test's temporary folder: call it with the path, it
 * reports the first entry it could not remove.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_FS_ERROR (annals_fs_error_quark ())
GQuark annals_fs_error_quark (void);

typedef enum {
  ANNALS_FS_ERROR_IO, /* the file system said no */
} AnnalsFsError;

/* Removes path and everything below it, without following symbolic
 * links.  A path that is not there is no error.  Stops at the first
 * entry that cannot be removed and names it in the error. */
gboolean annals_fs_remove_tree (const char *path, GError **error);

G_END_DECLS
