/* config: the archive root and its annals.conf.
 *
 * ROOT/annals.conf is a GKeyFile: [site] holds the site's name and base
 * URL, and each list has a group "[list NAME]" with its address and
 * description.  ROOT/NAME/ holds the list's store/, log/ and index/.
 * Writes replace the file atomically (write, fsync, rename).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_CONFIG_ERROR (annals_config_error_quark ())
GQuark annals_config_error_quark (void);

typedef enum {
  ANNALS_CONFIG_ERROR_NO_ROOT,   /* no root given, or it is not an archive */
  ANNALS_CONFIG_ERROR_EXISTS,    /* init over an archive, or a list added twice */
  ANNALS_CONFIG_ERROR_NO_LIST,   /* the list is not in annals.conf */
  ANNALS_CONFIG_ERROR_BAD_NAME,  /* a list name that is not allowed */
  ANNALS_CONFIG_ERROR_IO,        /* the file system said no */
} AnnalsConfigError;

typedef struct _AnnalsConfig AnnalsConfig;

/* The root from the --root option if given, else $ANNALS_ROOT.
 * Returns a new string, or NULL with an error saying how to give one. */
char *annals_config_find_root (const char *option, GError **error);

/* Creates ROOT (if missing) and ROOT/annals.conf.  Fails if one exists. */
AnnalsConfig *annals_config_init (const char *root, const char *site_name, GError **error);
AnnalsConfig *annals_config_open (const char *root, GError **error);
void annals_config_free (AnnalsConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnnalsConfig, annals_config_free)

/* Owned by the config. */
const char *annals_config_root (AnnalsConfig *config);
GKeyFile *annals_config_keyfile (AnnalsConfig *config);

/* List names: 1 to 64 of [a-z0-9._-], starting with a letter or digit,
 * never "all" or "log" (they are URL words) and never ".." tricks. */
gboolean annals_config_list_name_valid (const char *name);

/* Adds a list and creates its folder.  address and description may be NULL. */
gboolean annals_config_add_list (AnnalsConfig *config,
                                 const char *name,
                                 const char *address,
                                 const char *description,
                                 GError **error);

/* The list names in file order: a new NULL-terminated vector. */
char **annals_config_lists (AnnalsConfig *config);
gboolean annals_config_has_list (AnnalsConfig *config, const char *name);

/* A list's field ("address", "description", ...): a new string or NULL. */
char *annals_config_list_get (AnnalsConfig *config, const char *name, const char *key);

/* ROOT/NAME/<sub> (sub may be NULL): a new string.  Fails with NO_LIST. */
char *annals_config_list_dir (AnnalsConfig *config, const char *name, const char *sub, GError **error);

gboolean annals_config_save (AnnalsConfig *config, GError **error);

/* The site's log origin: [site] origin, else base-url without its scheme
 * and trailing slash.  A list's log origin is "<site origin>/<list>".
 * New strings. */
char *annals_config_site_origin (AnnalsConfig *config);
char *annals_config_log_origin (AnnalsConfig *config, const char *list);

/* ROOT/keys/site.key: the signing key (mode 0600, never served). */
char *annals_config_key_path (AnnalsConfig *config);
/* Creates the site key if there is none (init does).  Returns the
 * verifier string, new. */
char *annals_config_ensure_key (AnnalsConfig *config, GError **error);
/* The signing key (an AnnalsNoteKey, note.h): free with
 * annals_note_key_free(). */
gpointer annals_config_load_key (AnnalsConfig *config, GError **error);

G_END_DECLS
