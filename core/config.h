/* config: the archive root and its annals.conf.
 *
 * ROOT/annals.conf is a GKeyFile: [site] holds the site's name and base
 * URL, and each list has a group "[list NAME]" with its address,
 * description, obfuscation and closed state.  ROOT/NAME/ holds the list's
 * store/, log/ and index/.
 *
 * Changes (add a list, change or close one) take ROOT/annals.conf.lock,
 * re-read annals.conf under it, so that two admins at the same moment
 * both get their change in, and replace the file atomically: a temporary
 * file in ROOT, fsync, rename, fsync of ROOT.  Readers take no lock: they
 * see the old file or the new one, never a mix.
 *
 * Opening checks the file: a syntax error is reported with its line, and
 * a boolean key of a list (obfuscate, closed) that is not true or false
 * is an error naming the list and the key, never taken as false.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_CONFIG_ERROR (annals_config_error_quark ())
GQuark annals_config_error_quark (void);

/* The ranges of [list NAME] index-shards and index-remote-timeout (in
 * seconds), which the loader refuses values outside of (doc/config.md). */
#define ANNALS_CONFIG_INDEX_SHARDS_MAX 64
#define ANNALS_CONFIG_REMOTE_TIMEOUT_MAX 3600

typedef enum {
  ANNALS_CONFIG_ERROR_NO_ROOT,   /* no root given, or it is not an archive */
  ANNALS_CONFIG_ERROR_EXISTS,    /* init over an archive, or a list added twice */
  ANNALS_CONFIG_ERROR_NO_LIST,   /* the list is not in annals.conf */
  ANNALS_CONFIG_ERROR_BAD_NAME,  /* a list name that is not allowed */
  ANNALS_CONFIG_ERROR_IO,        /* the file system said no */
  ANNALS_CONFIG_ERROR_CORRUPT,   /* annals.conf cannot be read as it is (the message has the line) */
  ANNALS_CONFIG_ERROR_INVALID,   /* a value given for a change is not allowed */
  ANNALS_CONFIG_ERROR_CLOSED,    /* the list is closed: it takes no more mail */
  ANNALS_CONFIG_ERROR_UNCHANGED, /* closing a closed list, opening an open one */
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

/* Owned by the config; the key file is replaced by a change
 * (annals_config_add_list, annals_config_change_list): get it again after
 * one. */
const char *annals_config_root (AnnalsConfig *config);
GKeyFile *annals_config_keyfile (AnnalsConfig *config);

/* List names: 1 to 64 of [a-z0-9._-], starting with a letter or digit,
 * never "all", "log", "about" or "keys" (URL words, the root's folders), no "..". */
gboolean annals_config_list_name_valid (const char *name);

/* Whether text may be a list's address: one local@domain, printable
 * ASCII without spaces or the characters <>()[],;:\" around it. */
gboolean annals_config_address_valid (const char *text);
/* Whether text is an http:// or https:// URL with a host, as
 * [site] base-url must be. */
gboolean annals_config_base_url_valid (const char *text);

/* Adds a list and creates its folder, under the lock.  address and
 * description may be NULL; they are checked as annals_config_change_list
 * does (INVALID). */
gboolean annals_config_add_list (AnnalsConfig *config, const char *name, const char *address, const char *description,
                                 GError **error);

/* The list names in file order: a new NULL-terminated vector. */
char **annals_config_lists (AnnalsConfig *config);
gboolean annals_config_has_list (AnnalsConfig *config, const char *name);

/* What annals_config_change_list changes; NULL or -1 leaves a field. */
typedef struct {
  const char *address;       /* "" clears it; else must look like an address */
  const char *description;   /* one line, UTF-8, no control characters */
  int obfuscate;             /* 0 or 1 */
  int closed;                /* 1 closes (UNCHANGED if closed already), 0 reopens (UNCHANGED if open) */
  const char *closed_reason; /* with closed = 1: one line, as description */
  int index_shards;          /* 1 to 64 sets index-shards (1 removes the key); 0 leaves it */
} AnnalsConfigListChange;
#define ANNALS_CONFIG_LIST_CHANGE_INIT                                                                                 \
  {                                                                                                                    \
    NULL, NULL, -1, -1, NULL, 0                                                                                        \
  }

/* Changes list name's fields, under the lock (see the top): NO_LIST,
 * INVALID (a value not allowed, the file untouched), UNCHANGED, IO. */
gboolean annals_config_change_list (AnnalsConfig *config, const char *name, const AnnalsConfigListChange *change,
                                    GError **error);

/* A list's field ("address", "description", ...): a new string or NULL. */
char *annals_config_list_get (AnnalsConfig *config, const char *name, const char *key);
/* A list's boolean field ("obfuscate", "closed"): FALSE when absent
 * (opening checked that a present one is true or false). */
gboolean annals_config_list_get_boolean (AnnalsConfig *config, const char *name, const char *key);

/* Whether list name takes mail: FALSE with CLOSED (the message names the
 * list, since when, why, and how to reopen it) once it is closed.  Every
 * way mail comes in (ingest, --mda, pull) asks this first. */
gboolean annals_config_list_check_open (AnnalsConfig *config, const char *name, GError **error);

/* ROOT/NAME/<sub> (sub may be NULL): a new string.  Fails with NO_LIST. */
char *annals_config_list_dir (AnnalsConfig *config, const char *name, const char *sub, GError **error);

/* Writes the key file as it is in memory, atomically but without the
 * lock: for a root nobody else edits yet (init).  Changes to an archive in
 * use go through annals_config_add_list and annals_config_change_list. */
gboolean annals_config_save (AnnalsConfig *config, GError **error);

/* Runs edit on annals.conf as it is on disk now (re-read into config) and
 * saves the result atomically, holding ROOT/annals.conf.lock throughout, so
 * that a change another process made since config was opened is kept.
 * Keyfiles fetched from config before the call are stale after it. */
typedef gboolean (*AnnalsConfigEdit) (AnnalsConfig *config, gconstpointer data, GError **error);
gboolean annals_config_edit (AnnalsConfig *config, AnnalsConfigEdit edit, gconstpointer data, GError **error);

/* The site's log origin: [site] origin, else base-url without its scheme
 * and trailing slash.  A list's log origin is "<site origin>/<list>".
 * New strings. */
char *annals_config_site_origin (AnnalsConfig *config);
char *annals_config_log_origin (AnnalsConfig *config, const char *list);

/* ROOT/keys/site.key: the signing key (mode 0600, never served). */
char *annals_config_key_path (AnnalsConfig *config);
/* What to do about a lost site key, for messages that report one. */
#define ANNALS_CONFIG_KEY_RESTORE                                                                                      \
  "restore keys/site.key from your backup (a new key would make every published checkpoint and proof "                 \
  "unverifiable; 'annals key --generate' is only for a new archive)"
/* Creates the site key if there is none (init does): EXISTS when the
 * archive has signed logs already (a checkpoint, or the public half of
 * a key), whose key must be restored rather than replaced.  Returns the
 * verifier string, new. */
char *annals_config_ensure_key (AnnalsConfig *config, GError **error);
/* The signing key (an AnnalsNoteKey, note.h): free with
 * annals_note_key_free(). */
gpointer annals_config_load_key (AnnalsConfig *config, GError **error);
/* The verifier string kept in ROOT/keys/site.vkey, which stays readable
 * while a lost site.key is being restored; never a signer's secret.
 * New string; IO when it is missing or holds no verifier. */
char *annals_config_load_verifier (AnnalsConfig *config, GError **error);

G_END_DECLS
