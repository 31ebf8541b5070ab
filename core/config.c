/* config: see config.h. */
#include "core/config.h"
#include "core/note.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <stdio.h>
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
  /* all, log and about are words of the site's URLs; keys and log are
   * the root's own folders, beside the lists'. */
  static const char *const reserved[] = { "all", "log", "about", "keys" };
  for (guint i = 0; i < G_N_ELEMENTS (reserved); i++)
    if (strcmp (name, reserved[i]) == 0)
      return FALSE;
  return strstr (name, "..") == NULL;
}

AnnalsConfig *
annals_config_init (const char *root, const char *site_name, GError **error)
{
  if (g_mkdir_with_parents (root, 0755) != 0) {
    int e = errno;
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "cannot create archive root '%s': %s", root,
                 g_strerror (e));
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

/* The line (1-based) of annals.conf where GKeyFile stops: the shortest
 * prefix of whole lines that does not load ends there.  GLib's message
 * names the line's text but not its number. */
static guint
parse_error_line (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint lo = 1, hi = g_strv_length (lines);
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    char *saved = lines[mid];
    lines[mid] = NULL;
    g_autofree char *prefix = g_strjoinv ("\n", lines);
    lines[mid] = saved;
    g_autoptr (GKeyFile) kf = g_key_file_new ();
    if (g_key_file_load_from_data (kf, prefix, (gsize) -1, G_KEY_FILE_NONE, NULL))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The line of key in [group], or 0. */
static guint
key_line (const char *text, const char *group, const char *key)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gboolean in_group = FALSE;
  for (guint i = 0; lines[i] != NULL; i++) {
    const char *l = lines[i];
    while (*l == ' ' || *l == '\t')
      l++;
    if (*l == '[') {
      const char *end = strrchr (l, ']');
      in_group = end != NULL && (gsize) (end - l - 1) == strlen (group) && strncmp (l + 1, group, strlen (group)) == 0;
    } else if (in_group && g_str_has_prefix (l, key)) {
      const char *r = l + strlen (key);
      while (*r == ' ' || *r == '\t')
        r++;
      if (*r == '=')
        return i + 1;
    }
  }
  return 0;
}

/* what (a description, a reason) must be one line of UTF-8 text that
 * cannot move a terminal's cursor or split a line of 'annals lists':
 * what is wrong with text, or NULL. */
static const char *
text_problem (const char *text)
{
  const char *bad = NULL;
  if (!g_utf8_validate (text, -1, NULL))
    bad = "is not UTF-8 text";
  else if (strlen (text) > 1000)
    bad = "is longer than 1000 bytes";
  for (const char *p = text; bad == NULL && *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (c == '\n' || c == '\r')
      bad = "must be one line";
    else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f))
      bad = "holds a control character";
  }
  return bad;
}

gboolean
annals_config_base_url_valid (const char *text)
{
  const char *host = g_str_has_prefix (text, "https://")  ? text + 8
                     : g_str_has_prefix (text, "http://") ? text + 7
                                                          : NULL;
  return host != NULL && *host != '\0' && *host != '/' && strpbrk (text, " \t\r\n\"<>") == NULL;
}

/* Whether text is a day YYYY-MM-DD. */
static gboolean
is_date (const char *text)
{
  unsigned y, m, d;
  int end = 0;
  return strlen (text) == 10 && sscanf (text, "%4u-%2u-%2u%n", &y, &m, &d, &end) == 3 && end == 10
         && g_date_valid_dmy ((GDateDay) d, (GDateMonth) m, (GDateYear) y);
}

/* What is wrong with a hand-edited value that annals would otherwise
 * misread (a negative web limit taken as no limit, an address that is
 * none), or NULL.  Keys annals does not read are never wrong. */
static const char *
value_problem (const char *group, const char *key, const char *value)
{
  static const char *const limits[] = { "mbox-max-messages", "mbox-max-bytes", "text-max-bytes", "message-max-bytes" };
  if (strcmp (group, "web") == 0) {
    for (guint i = 0; i < G_N_ELEMENTS (limits); i++)
      if (strcmp (key, limits[i]) == 0 && !g_ascii_string_to_unsigned (value, 10, 1, G_MAXINT64, NULL, NULL))
        return "is not a whole number from 1 up (no units)";
    return NULL;
  }
  if (strcmp (group, "site") == 0 && strcmp (key, "base-url") == 0)
    return *value == '\0' || annals_config_base_url_valid (value) ? NULL : "is not an http:// or https:// URL";
  if (!g_str_has_prefix (group, "list ") || !annals_config_list_name_valid (group + 5))
    return NULL;
  if (strcmp (key, "address") == 0)
    return *value == '\0' || annals_config_address_valid (value) ? NULL : "is not an address (local@domain)";
  if (strcmp (key, "description") == 0 || strcmp (key, "closed-reason") == 0)
    return text_problem (value);
  if (strcmp (key, "closed-date") == 0)
    return is_date (value) ? NULL : "is not a day YYYY-MM-DD";
  /* Checked here, not only by index and search: every command and the
   * web refuse them as they refuse the other keys. */
  if (strcmp (key, "index-shards") == 0)
    return g_ascii_string_to_unsigned (value, 10, 1, ANNALS_CONFIG_INDEX_SHARDS_MAX, NULL, NULL)
               ? NULL
               : "is not a whole number from 1 to " G_STRINGIFY (ANNALS_CONFIG_INDEX_SHARDS_MAX);
  if (strcmp (key, "index-remote-timeout") == 0)
    return g_ascii_string_to_unsigned (value, 10, 1, ANNALS_CONFIG_REMOTE_TIMEOUT_MAX, NULL, NULL)
               ? NULL
               : "is not a whole number from 1 to " G_STRINGIFY (ANNALS_CONFIG_REMOTE_TIMEOUT_MAX) " (seconds)";
  return NULL;
}

/* Reads and checks path: CORRUPT with "path:LINE: ..." when it does not
 * parse, a list's boolean is neither true nor false, or a value is one
 * annals would misread (value_problem). */
static GKeyFile *
load (const char *root, const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &text, &len, &local)) {
    if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
      if (!g_file_test (root, G_FILE_TEST_IS_DIR))
        g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_NO_ROOT,
                     "archive root '%s' does not exist: create it with 'annals init'", root);
      else
        g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_NO_ROOT,
                     "'%s' is not an archive (no annals.conf): create one with 'annals init'", root);
    } else {
      g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "cannot read '%s': %s", path, local->message);
    }
    return NULL;
  }
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  if (!g_key_file_load_from_data (kf, text, len, G_KEY_FILE_KEEP_COMMENTS, &local)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_CORRUPT,
                 "%s:%u: %s: fix that line (doc/config.md describes the file)", path, parse_error_line (text),
                 local->message);
    return NULL;
  }
  /* A boolean that is not one would otherwise be read as false: an
   * obfuscated list shown in clear, a closed list taking mail. */
  static const char *const booleans[] = { "obfuscate", "closed" };
  gsize n;
  g_auto (GStrv) groups = g_key_file_get_groups (kf, &n);
  for (gsize i = 0; i < n; i++) {
    if (!g_str_has_prefix (groups[i], "list ") || !annals_config_list_name_valid (groups[i] + 5))
      continue;
    for (guint k = 0; k < G_N_ELEMENTS (booleans); k++) {
      g_autoptr (GError) bad = NULL;
      if (!g_key_file_has_key (kf, groups[i], booleans[k], NULL))
        continue;
      g_key_file_get_boolean (kf, groups[i], booleans[k], &bad);
      if (bad == NULL)
        continue;
      g_autofree char *value = g_key_file_get_value (kf, groups[i], booleans[k], NULL);
      g_autofree char *shown = g_strescape (value ? value : "", NULL);
      const char *list = groups[i] + 5;
      g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_CORRUPT,
                   "%s:%u: list '%s': %s=%s is neither true nor false: write true or false there", path,
                   key_line (text, groups[i], booleans[k]), list, booleans[k], shown);
      return NULL;
    }
  }
  for (gsize i = 0; i < n; i++) {
    g_auto (GStrv) keys = g_key_file_get_keys (kf, groups[i], NULL, NULL);
    for (guint k = 0; keys != NULL && keys[k] != NULL; k++) {
      g_autofree char *value = g_key_file_get_string (kf, groups[i], keys[k], NULL);
      const char *bad = value != NULL ? value_problem (groups[i], keys[k], value) : "is not UTF-8 text";
      if (bad == NULL)
        continue;
      g_autofree char *raw = g_key_file_get_value (kf, groups[i], keys[k], NULL);
      g_autofree char *shown = g_strescape (value ? value : raw, NULL);
      g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_CORRUPT,
                   "%s:%u: [%s] %s=%s %s: fix it there (doc/config.md, annals.conf(5))", path,
                   key_line (text, groups[i], keys[k]), groups[i], keys[k], shown, bad);
      return NULL;
    }
  }
  return g_steal_pointer (&kf);
}

AnnalsConfig *
annals_config_open (const char *root, GError **error)
{
  g_autofree char *path = g_build_filename (root, "annals.conf", NULL);
  g_autoptr (GKeyFile) kf = load (root, path, error);
  if (kf == NULL)
    return NULL;
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

/* ANNALS_CONFIG_TEST_KILL=STAGE: the tests' hook to die by SIGKILL in
 * the middle of a write (half-written, renamed), where a kill at a
 * random moment would rarely land. */
static void
test_kill_point (const char *stage)
{
  const char *at = g_getenv ("ANNALS_CONFIG_TEST_KILL");
  if (at != NULL && strcmp (at, stage) == 0)
    raise (SIGKILL);
}

static gboolean
io_error (GError **error, const char *what, const char *path)
{
  int e = errno;
  g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "cannot %s '%s': %s", what, path, g_strerror (e));
  return FALSE;
}

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0) {
    ssize_t n = write (fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    data += n;
    len -= (gsize) n;
  }
  return TRUE;
}

/* path replaced by data, all or nothing, and durably: a temporary file
 * beside it (the same file system, so rename is atomic), fsync, rename,
 * fsync of the folder so the rename itself survives a power cut. */
static gboolean
write_atomically (const char *path, const char *data, gsize len, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".XXXXXX", NULL);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error (error, "create", tmp);
  /* mkstemp's mode is 0600 whatever it is asked; annals.cgi reads the file. */
  gboolean ok = fchmod (fd, 0644) == 0 && write_all (fd, data, len / 2);
  test_kill_point ("half-written");
  ok = ok && write_all (fd, data + len / 2, len - len / 2) && fsync (fd) == 0;
  int e = errno;
  close (fd);
  if (!ok) {
    g_unlink (tmp);
    errno = e;
    return io_error (error, "write", tmp);
  }
  if (g_rename (tmp, path) != 0) {
    e = errno;
    g_unlink (tmp);
    errno = e;
    return io_error (error, "replace", path);
  }
  test_kill_point ("renamed");
  g_autofree char *dir = g_path_get_dirname (path);
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync (dfd) != 0) {
    io_error (error, "sync", dir);
    if (dfd >= 0)
      close (dfd);
    return FALSE;
  }
  close (dfd);
  return TRUE;
}

/* text without its blank lines that come before a key: GKeyFile keeps a
 * group's trailing blank line as part of the group and adds new keys
 * after it, which would leave a blank line inside the group. */
static char *
without_blank_before_keys (const char *text)
{
  GString *out = g_string_new (NULL);
  const char *p = text;
  while (*p != '\0') {
    const char *end = strchr (p, '\n');
    end = end ? end + 1 : p + strlen (p);
    if (*p == '\n') {
      const char *next = p;
      while (*next == '\n')
        next++;
      if (*next != '\0' && *next != '[' && *next != '#') {
        p = next;
        continue;
      }
    }
    g_string_append_len (out, p, end - p);
    p = end;
  }
  return g_string_free (out, FALSE);
}

gboolean
annals_config_save (AnnalsConfig *config, GError **error)
{
  g_autofree char *data = g_key_file_to_data (config->keyfile, NULL, NULL);
  g_autofree char *text = without_blank_before_keys (data);
  return write_atomically (config->path, text, strlen (text), error);
}

/* Sets key in group, or removes it when value is empty: the file holds
 * only keys with values. */
static void
set_or_remove (GKeyFile *kf, const char *group, const char *key, const char *value)
{
  if (*value != '\0')
    g_key_file_set_string (kf, group, key, value);
  else
    g_key_file_remove_key (kf, group, key, NULL);
}

/* The temporary files of writers that were killed: only a lock holder
 * writes one, so under the lock every one is stale. */
static void
remove_stale_temps (AnnalsConfig *config)
{
  g_autoptr (GDir) dir = g_dir_open (config->root, 0, NULL);
  if (dir == NULL)
    return;
  for (const char *e; (e = g_dir_read_name (dir)) != NULL;)
    if (g_str_has_prefix (e, "annals.conf.") && strlen (e) == strlen ("annals.conf.XXXXXX")
        && strcmp (e, "annals.conf.lock") != 0) {
      g_autofree char *p = g_build_filename (config->root, e, NULL);
      g_unlink (p);
    }
}

/* Runs edit on the file as it is now and saves the result, holding
 * ROOT/annals.conf.lock throughout: another admin's change, made since
 * this config was opened, is read first and kept. */
gboolean
annals_config_edit (AnnalsConfig *config, AnnalsConfigEdit edit, gconstpointer data, GError **error)
{
  g_autofree char *lock = g_strconcat (config->path, ".lock", NULL);
  int fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error (error, "create the lock", lock);
  int r;
  while ((r = flock (fd, LOCK_EX)) != 0 && errno == EINTR)
    ;
  if (r != 0) {
    io_error (error, "lock", lock);
    close (fd);
    return FALSE;
  }
  GKeyFile *now = load (config->root, config->path, error);
  gboolean ok = now != NULL;
  if (ok) {
    g_key_file_unref (config->keyfile);
    config->keyfile = now;
    remove_stale_temps (config);
    ok = edit (config, data, error) && annals_config_save (config, error);
  }
  close (fd); /* releases the lock */
  return ok;
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
annals_config_address_valid (const char *text)
{
  const char *at = text ? strchr (text, '@') : NULL;
  if (at == NULL || at == text || at[1] == '\0' || strchr (at + 1, '@') != NULL || strlen (text) > 254)
    return FALSE;
  for (const char *p = text; *p; p++)
    if (*p <= ' ' || *p >= 0x7f || strchr ("<>()[],;:\\\"", *p) != NULL)
      return FALSE;
  const char *domain = at + 1;
  return domain[0] != '.' && !g_str_has_suffix (domain, ".") && strstr (domain, "..") == NULL;
}

static gboolean
check_text (const char *what, const char *list, const char *text, GError **error)
{
  const char *bad = text_problem (text);
  if (bad != NULL) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_INVALID,
                 "the %s of list '%s' %s: give one line of text", what, list, bad);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_address (const char *list, const char *address, GError **error)
{
  if (*address == '\0' || annals_config_address_valid (address))
    return TRUE;
  g_autofree char *shown = g_strescape (address, NULL);
  g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_INVALID,
               "'%s' is not an address: give the posting address of list '%s' as local@domain, "
               "e.g. %s@example.org (or \"\" for none)",
               shown, list, list);
  return FALSE;
}

typedef struct {
  const char *name, *address, *description;
} NewList;

static gboolean
add_list (AnnalsConfig *config, gconstpointer data, GError **error)
{
  const NewList *l = data;
  if (annals_config_has_list (config, l->name)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_EXISTS, "list '%s' exists already in '%s'", l->name,
                 config->path);
    return FALSE;
  }
  g_autofree char *dir = g_build_filename (config->root, l->name, NULL);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    return io_error (error, "create", dir);
  g_autofree char *group = list_group (l->name);
  /* The group is the list, even when it has no key yet. */
  g_key_file_set_string (config->keyfile, group, "address", "");
  set_or_remove (config->keyfile, group, "address", l->address ? l->address : "");
  set_or_remove (config->keyfile, group, "description", l->description ? l->description : "");
  return TRUE;
}

gboolean
annals_config_add_list (AnnalsConfig *config, const char *name, const char *address, const char *description,
                        GError **error)
{
  if (!annals_config_list_name_valid (name)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_BAD_NAME,
                 "list name '%s' is not allowed: use 1 to 64 of a-z 0-9 . _ -, "
                 "starting with a letter or digit (not 'all', 'log', 'about' or 'keys')",
                 name);
    return FALSE;
  }
  if ((address != NULL && !check_address (name, address, error))
      || (description != NULL && !check_text ("description", name, description, error)))
    return FALSE;
  NewList l = { name, address, description };
  return annals_config_edit (config, add_list, &l, error);
}

typedef struct {
  const char *name;
  const AnnalsConfigListChange *change;
} ListChange;

static gboolean
change_list (AnnalsConfig *config, gconstpointer data, GError **error)
{
  const ListChange *lc = data;
  const AnnalsConfigListChange *ch = lc->change;
  g_autofree char *dir = annals_config_list_dir (config, lc->name, NULL, error);
  if (dir == NULL)
    return FALSE;
  g_autofree char *group = list_group (lc->name);
  GKeyFile *kf = config->keyfile;
  gboolean closed = annals_config_list_get_boolean (config, lc->name, "closed");
  if (ch->closed == 1 && closed) {
    g_autofree char *since = g_key_file_get_string (kf, group, "closed-date", NULL);
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_UNCHANGED,
                 "list '%s' is closed already%s%s%s: nothing to do", lc->name, since ? " (since " : "",
                 since ? since : "", since ? ")" : "");
    return FALSE;
  }
  if (ch->closed == 0 && !closed) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_UNCHANGED, "list '%s' is not closed", lc->name);
    return FALSE;
  }
  if (ch->address != NULL)
    set_or_remove (kf, group, "address", ch->address);
  if (ch->description != NULL)
    set_or_remove (kf, group, "description", ch->description);
  if (ch->obfuscate >= 0)
    g_key_file_set_boolean (kf, group, "obfuscate", ch->obfuscate != 0);
  if (ch->closed == 1) {
    g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
    g_autofree char *date = g_date_time_format (now, "%Y-%m-%d");
    g_key_file_set_boolean (kf, group, "closed", TRUE);
    g_key_file_set_string (kf, group, "closed-date", date);
    if (ch->closed_reason != NULL && *ch->closed_reason != '\0')
      g_key_file_set_string (kf, group, "closed-reason", ch->closed_reason);
  } else if (ch->closed == 0) {
    g_key_file_remove_key (kf, group, "closed", NULL);
    g_key_file_remove_key (kf, group, "closed-date", NULL);
    g_key_file_remove_key (kf, group, "closed-reason", NULL);
  }
  if (ch->index_shards > 1)
    g_key_file_set_integer (kf, group, "index-shards", ch->index_shards);
  else if (ch->index_shards == 1)
    g_key_file_remove_key (kf, group, "index-shards", NULL);
  return TRUE;
}

gboolean
annals_config_change_list (AnnalsConfig *config, const char *name, const AnnalsConfigListChange *change, GError **error)
{
  /* Checked before the lock: a bad value leaves the file untouched. */
  if ((change->address != NULL && !check_address (name, change->address, error))
      || (change->description != NULL && !check_text ("description", name, change->description, error))
      || (change->closed_reason != NULL && !check_text ("reason for closing", name, change->closed_reason, error)))
    return FALSE;
  if (change->index_shards < 0 || change->index_shards > 64) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_INVALID,
                 "list '%s': %d index shards: give a number from 1 to 64", name, change->index_shards);
    return FALSE;
  }
  ListChange lc = { name, change };
  return annals_config_edit (config, change_list, &lc, error);
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

gboolean
annals_config_list_get_boolean (AnnalsConfig *config, const char *name, const char *key)
{
  g_autofree char *group = list_group (name);
  return g_key_file_get_boolean (config->keyfile, group, key, NULL);
}

gboolean
annals_config_list_check_open (AnnalsConfig *config, const char *name, GError **error)
{
  if (!annals_config_list_get_boolean (config, name, "closed"))
    return TRUE;
  g_autofree char *since = annals_config_list_get (config, name, "closed-date");
  g_autofree char *reason = annals_config_list_get (config, name, "closed-reason");
  g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_CLOSED,
               "list '%s' is closed (since %s%s%s): it takes no more mail, its archive stays served; "
               "reopen it with 'annals list-open %s'",
               name, since ? since : "?", reason ? ": " : "", reason ? reason : "", name);
  return FALSE;
}

char *
annals_config_list_dir (AnnalsConfig *config, const char *name, const char *sub, GError **error)
{
  if (!annals_config_has_list (config, name)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_NO_LIST,
                 "no list '%s' in archive '%s': add it with 'annals list-add %s'", name, config->root,
                 annals_config_list_name_valid (name) ? name : "NAME");
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

static gboolean
pin_origin (AnnalsConfig *config, gconstpointer data, GError **error)
{
  (void) error;
  g_autofree char *pinned = g_key_file_get_string (config->keyfile, "site", "origin", NULL);
  if (pinned == NULL || *pinned == '\0')
    g_key_file_set_string (config->keyfile, "site", "origin", data);
  return TRUE;
}

/* A file that shows a key signed this archive's logs before (the key's
 * public half, the site checkpoint, a list's checkpoint), or NULL. */
static char *
signed_before (AnnalsConfig *config)
{
  g_autofree char *vkey = g_build_filename (config->root, "keys", "site.vkey", NULL);
  g_autofree char *site = g_build_filename (config->root, "log", "site-checkpoint", NULL);
  if (g_file_test (vkey, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&vkey);
  if (g_file_test (site, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&site);
  g_auto (GStrv) lists = annals_config_lists (config);
  for (guint i = 0; lists[i] != NULL; i++) {
    char *cp = g_build_filename (config->root, lists[i], "log", "checkpoint", NULL);
    if (g_file_test (cp, G_FILE_TEST_EXISTS))
      return cp;
    g_free (cp);
  }
  return NULL;
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
  /* Logs signed by a lost key stay verifiable only under that key. */
  g_autofree char *evidence = signed_before (config);
  if (evidence != NULL) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_EXISTS,
                 "no signing key at '%s', but '%s' shows that one signed this archive's logs: %s", path, evidence,
                 ANNALS_CONFIG_KEY_RESTORE);
    return NULL;
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
  if ((pinned == NULL || *pinned == '\0') && !annals_config_edit (config, pin_origin, name, error))
    return NULL;
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

char *
annals_config_load_verifier (AnnalsConfig *config, GError **error)
{
  g_autofree char *path = g_build_filename (config->root, "keys", "site.vkey", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &text, NULL, &local)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "cannot read the public key: %s", local->message);
    return NULL;
  }
  g_autoptr (AnnalsNoteKey) k = annals_note_key_parse (text, &local);
  sodium_memzero (text, strlen (text));
  /* A secret here must not reach a mirror or an auditor. */
  if (k == NULL || k->has_secret) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "'%s' is not a verifier key%s%s", path,
                 local ? ": " : "", local ? local->message : "");
    return NULL;
  }
  return annals_note_key_verifier_string (k);
}

gpointer
annals_config_load_key (AnnalsConfig *config, GError **error)
{
  g_autofree char *path = annals_config_key_path (config);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &text, NULL, &local)) {
    g_set_error (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_IO, "cannot read the signing key: %s; %s",
                 local->message, ANNALS_CONFIG_KEY_RESTORE);
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
