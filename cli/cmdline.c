/* cmdline: see cmdline.h. */
#include "cli/cmdline.h"
#include "core/message.h"
#include "indexer/index.h"

#include <sysexits.h>

static char *root_option;
/* Kept apart from root_option: GOption overwrites that without freeing. */
static char *global_root;

void
annals_cli_set_global_root (const char *dir)
{
  g_free (global_root);
  global_root = g_strdup (dir);
}

const char *
annals_cli_global_root (void)
{
  return global_root;
}

static const char *
root_given (void)
{
  return root_option != NULL ? root_option : global_root;
}

gboolean
annals_cli_parse (const char *cmd, const char *params, const char *summary, const GOptionEntry *entries,
                  gboolean with_root, int *argc, char ***argv)
{
  const GOptionEntry root_entry[] = {
    { "root", 'r', 0, G_OPTION_ARG_FILENAME, &root_option, "Archive root (default: $ANNALS_ROOT)", "DIR" },
    { NULL },
  };
  /* main sets the program name to "annals CMD", so the usage line reads
   * "annals CMD [OPTION…] PARAMS" and names the command once. */
  g_autoptr (GOptionContext) ctx = g_option_context_new (params != NULL && *params != '\0' ? params : NULL);
  g_option_context_set_summary (ctx, summary);
  if (with_root)
    g_option_context_add_main_entries (ctx, root_entry, NULL);
  if (entries != NULL)
    g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, argc, argv, &error)) {
    g_printerr ("annals %s: %s (see 'annals %s --help')\n", cmd, error->message, cmd);
    return FALSE;
  }
  return TRUE;
}

int
annals_cli_fail (const char *cmd, const GError *error)
{
  g_printerr ("annals %s: %s\n", cmd, error->message);
  return 1;
}

int
annals_cli_usage (const char *cmd, const char *what)
{
  g_printerr ("annals %s: %s (see 'annals %s --help')\n", cmd, what, cmd);
  return EX_USAGE;
}

AnnalsConfig *
annals_cli_open_config (const char *cmd)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *root = annals_config_find_root (root_given (), &error);
  AnnalsConfig *config = root ? annals_config_open (root, &error) : NULL;
  if (config == NULL)
    annals_cli_fail (cmd, error);
  return config;
}

char *
annals_cli_find_root (GError **error)
{
  return annals_config_find_root (root_given (), error);
}

const char *
annals_cli_plural (guint64 n, const char *one, const char *many)
{
  return n == 1 ? one : many;
}

char *
annals_cli_date_note (gint64 date, gint64 receipt)
{
  char iso[ANNALS_MESSAGE_ISO_DATE_SIZE];
  if (date == ANNALS_NO_DATE || annals_index_sort_date (date, receipt) == date || !annals_message_iso_date (date, iso))
    return g_strdup ("");
  return g_strdup_printf (" (received; its Date: says %.10s)", iso);
}
