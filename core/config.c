/* config: see config.h. */
#include "core/config.h"
#include "core/note.h"

#include <fcntl.h>
#include <unistd.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>

G_DEFINE_QUARK (annals_config_error, annals_config_error)

struct _AnnalsConfig {
  char *root;
  char *path;
  GKeyFile *keyfile;
};

char *
annals_config_find_root (const char *option, GError **error)
{
  const char *root = option ? option : g_getenv ("ANNALS_ROOT");
  if (root == NULL || *root == '\0') {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_NO_ROOT,
                 "no archive root: pass --root DIR or set ANNALS_ROOT");
    return NULL;
  }
  return g_strdup (root);
}

static char *
list_group (const char *name)
{
  return g_strdup_printf ("list %s", name);
}

gboolean
annals_config_list_name_valid (const char *name)
{
  gsize len = name ? strlen (name) : 0;
  if (len == 0 || len > 64 || !g_ascii_isalnum (name[0]))
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    char c = name[i];
    if (!(g_ascii_islower (c) || g_ascii_isdigit (c) || c == '.' || c == '_' || c == '-'))
      return FALSE;
  }
  return strstr (name, "..") == NULL && strcmp (name, "all") != 0 && strcmp (name, "log") != 0;
}

AnnalsConfig *
annals_config_init (const char *root, const char *site_name, GError **error)
{
  if (g_mkdir_with_parents (root, 0755) != 0) {
    int e = errno;
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO,
                 "cannot create archive root '%s': %s", root, g_strerror (e));
    return NULL;
  }
  g_autofree char *path = g_build_filename (root, "annals.conf", NULL);
  if (g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_EXISTS,
                 "'%s' already exists: this root is an archive already", path);
    return NULL;
  }
  AnnalsConfig *c = g_new0 (AnnalsConfig, 1);
  c->root = g_strdup (root);
  c->path = g_steal_pointer (&path);
  c->keyfile = g_key_file_new ();
  g_key_file_set_comment (c->keyfile, NULL, NULL, " annals archive configuration (see doc/config.md)", NULL);
  g_key_file_set_integer (c->keyfile, "site", "version", 1);
  g_key_file_set_string (c->keyfile, "site", "name", site_name ? site_name : "annals");
  if (!annals_config_save (c, error)) {
    annals_config_free (c);
    return NULL;
  }
  return c;
}

AnnalsConfig *
annals_config_open (const char *root, GError **error)
{
  g_autofree char *path = g_build_filename (root, "annals.conf", NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_KEEP_COMMENTS, &local)) {
    if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
      if (!g_file_test (root, G_FILE_TEST_IS_DIR))
        g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_NO_ROOT,
                     "archive root '%s' does not exist: create it with 'annals init'", root);
      else
        g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_NO_ROOT,
                     "'%s' is not an archive (no annals.conf): create one with 'annals init'", root);
    } else {
      g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO,
                   "cannot read '%s': %s", path, local->message);
    }
    return NULL;
  }
  AnnalsConfig *c = g_new0 (AnnalsConfig, 1);
  c->root = g_strdup (root);
  c->path = g_steal_pointer (&path);
  c->keyfile = g_steal_pointer (&kf);
  return c;
}

void
annals_config_free (AnnalsConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->root);
  g_free (config->path);
  g_key_file_unref (config->keyfile);
  g_free (config);
}

const char *
annals_config_root (AnnalsConfig *config)
{
  return config->root;
}

GKeyFile *
annals_config_keyfile (AnnalsConfig *config)
{
  return config->keyfile;
}

gboolean
annals_config_save (AnnalsConfig *config, GError **error)
{
  gsize len;
  g_autofree char *data = g_key_file_to_data (config->keyfile, &len, NULL);
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents_full (config->path, data, (gssize) len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, &local)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO,
                 "cannot write '%s': %s", config->path, local->message);
    return FALSE;
  }
  return TRUE;
}

gboolean
annals_config_has_list (AnnalsConfig *config, const char *name)
{
  if (!annals_config_list_name_valid (name))
    return FALSE;
  g_autofree char *group = list_group (name);
  return g_key_file_has_group (config->keyfile, group);
}

gboolean
annals_config_add_list (AnnalsConfig *config,
                        const char *name,
                        const char *address,
                        const char *description,
                        GError **error)
{
  if (!annals_config_list_name_valid (name)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_BAD_NAME,
                 "list name '%s' is not allowed: use 1 to 64 of a-z 0-9 . _ -, "
                 "starting with a letter or digit (not 'all' or 'log')", name);
    return FALSE;
  }
  if (annals_config_has_list (config, name)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_EXISTS,
                 "list '%s' exists already in '%s'", name, config->path);
    return FALSE;
  }
  g_autofree char *dir = g_build_filename (config->root, name, NULL);
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    int e = errno;
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO,
                 "cannot create '%s': %s", dir, g_strerror (e));
    return FALSE;
  }
  g_autofree char *group = list_group (name);
  g_key_file_set_string (config->keyfile, group, "address", address ? address : "");
  g_key_file_set_string (config->keyfile, group, "description", description ? description : "");
  return annals_config_save (config, error);
}

char **
annals_config_lists (AnnalsConfig *config)
{
  gsize n;
  g_auto (GStrv) groups = g_key_file_get_groups (config->keyfile, &n);
  GPtrArray *out = g_ptr_array_new ();
  for (gsize i = 0; i < n; i++)
    if (g_str_has_prefix (groups[i], "list ") && annals_config_list_name_valid (groups[i] + 5))
      g_ptr_array_add (out, g_strdup (groups[i] + 5));
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

char *
annals_config_list_get (AnnalsConfig *config, const char *name, const char *key)
{
  g_autofree char *group = list_group (name);
  return g_key_file_get_string (config->keyfile, group, key, NULL);
}

char *
annals_config_list_dir (AnnalsConfig *config, const char *name, const char *sub, GError **error)
{
  if (!annals_config_has_list (config, name)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_NO_LIST,
                 "no list '%s' in archive '%s': add it with 'annals list-add %s'",
                 name, config->root, annals_config_list_name_valid (name) ? name : "NAME");
    return NULL;
  }
  return g_build_filename (config->root, name, sub, NULL);
}

char *
annals_config_site_origin (AnnalsConfig *config)
{
  g_autofree char *origin = g_key_file_get_string (config->keyfile, "site", "origin", NULL);
  if (origin != NULL && *origin != '\0')
    return g_steal_pointer (&origin);
  g_autofree char *url = g_key_file_get_string (config->keyfile, "site", "base-url", NULL);
  const char *u = url ? url : "http://127.0.0.1:8080/";
  const char *scheme = strstr (u, "://");
  GString *s = g_string_new (scheme ? scheme + 3 : u);
  while (s->len > 0 && s->str[s->len - 1] == '/')
    g_string_truncate (s, s->len - 1);
  /* A key name may hold no spaces and no '+'. */
  for (gsize i = 0; i < s->len; i++)
    if (s->str[i] == ' ' || s->str[i] == '+')
      s->str[i] = '-';
  if (s->len == 0)
    g_string_append (s, "annals");
  return g_string_free (s, FALSE);
}

char *
annals_config_log_origin (AnnalsConfig *config, const char *list)
{
  g_autofree char *site = annals_config_site_origin (config);
  return g_strdup_printf ("%s/%s", site, list);
}

char *
annals_config_key_path (AnnalsConfig *config)
{
  return g_build_filename (config->root, "keys", "site.key", NULL);
}

char *
annals_config_ensure_key (AnnalsConfig *config, GError **error)
{
  g_autofree char *path = annals_config_key_path (config);
  if (g_file_test (path, G_FILE_TEST_EXISTS)) {
    AnnalsNoteKey *k = annals_config_load_key (config, error);
    if (k == NULL)
      return NULL;
    char *v = annals_note_key_verifier_string (k);
    annals_note_key_free (k);
    return v;
  }
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0700) != 0) {
    int e = errno;
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "cannot create '%s': %s", dir, g_strerror (e));
    return NULL;
  }
  g_autofree char *name = annals_config_site_origin (config);
  /* The key speaks for this origin only: pin it, so that a base-url set
   * later cannot rename the logs away from their key. */
  g_autofree char *pinned = g_key_file_get_string (config->keyfile, "site", "origin", NULL);
  if (pinned == NULL || *pinned == '\0') {
    g_key_file_set_string (config->keyfile, "site", "origin", name);
    if (!annals_config_save (config, error))
      return NULL;
  }
  g_autoptr (AnnalsNoteKey) k = annals_note_key_generate (name, error);
  if (k == NULL)
    return NULL;
  g_autofree char *secret = annals_note_key_signer_string (k);
  /* Created 0600 from the start: the key is never readable by others. */
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "cannot create '%s': %s", path, g_strerror (e));
    return NULL;
  }
  g_autofree char *line = g_strconcat (secret, "\n", NULL);
  gboolean ok = write (fd, line, strlen (line)) == (ssize_t) strlen (line) && fsync (fd) == 0;
  int e = errno;
  close (fd);
  sodium_memzero (line, strlen (line));
  if (!ok) {
    g_unlink (path);
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "cannot write '%s': %s", path, g_strerror (e));
    return NULL;
  }
  char *verifier = annals_note_key_verifier_string (k);
  g_autofree char *vpath = g_build_filename (dir, "site.vkey", NULL);
  g_autofree char *vline = g_strconcat (verifier, "\n", NULL);
  g_file_set_contents (vpath, vline, -1, NULL);
  return verifier;
}

gpointer
annals_config_load_key (AnnalsConfig *config, GError **error)
{
  g_autofree char *path = annals_config_key_path (config);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &text, NULL, &local)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO,
                 "cannot read the signing key: %s; restore keys/site.key from your backup (a new key "
                 "would make every published checkpoint and proof unverifiable; 'annals key --generate' "
                 "is only for a new archive)",
                 local->message);
    return NULL;
  }
  AnnalsNoteKey *k = annals_note_key_parse (text, &local);
  sodium_memzero (text, strlen (text));
  if (k == NULL || !k->has_secret) {
    annals_note_key_free (k);
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "'%s' is not a signing key%s%s", path,
                 local ? ": " : "", local ? local->message : "");
    return NULL;
  }
  return k;
}
