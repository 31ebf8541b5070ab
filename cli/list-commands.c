/* list-commands: see list-commands.h. */
#include <glib.h>

#include "cli/cmdline.h"
#include "cli/list-commands.h"
#include "core/config.h"
#include "core/store.h"

#include <string.h>
#include <sysexits.h>

static void
json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const char *p = s; *p; p++) {
    guchar c = (guchar) *p;
    if (c == '"' || c == '\\')
      g_string_append_printf (out, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      g_string_append_printf (out, "\\u%04x", c);
    else
      g_string_append_c (out, (char) c);
  }
  g_string_append_c (out, '"');
}

/* A string field, or null when it is absent or empty. */
static void
json_field (GString *out, const char *key, const char *value)
{
  g_string_append_printf (out, ", \"%s\": ", key);
  if (value != NULL && *value != '\0')
    json_string (out, value);
  else
    g_string_append (out, "null");
}

/* A field for the text output: a tab or newline in a hand-edited value
 * must not split the line. */
static char *
text_field (const char *value)
{
  if (value == NULL || *value == '\0')
    return g_strdup ("-");
  char *s = g_strdup (value);
  for (char *p = s; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  return s;
}

int
annals_cli_lists (int argc, char **argv)
{
  char *format = NULL;
  const GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "text (default) or json", "FORMAT" },
    { NULL },
  };
  if (!annals_cli_parse ("lists", "",
                         "Shows the archive's lists, one a line, tab-separated: name, message count\n"
                         "(redaction notices are not messages), open or closed, obfuscate=on|off,\n"
                         "address (- if none), description.  --format json gives an array of objects\n"
                         "with the same fields and redactions, and for a closed list when and why it\n"
                         "was closed.",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  g_autofree char *fmt = format;
  gboolean json = fmt != NULL && strcmp (fmt, "json") == 0;
  if (fmt != NULL && !json && strcmp (fmt, "text") != 0)
    return annals_cli_usage ("lists", "--format takes text or json");
  if (argc != 1)
    return annals_cli_usage ("lists", "takes no arguments");
  g_autoptr (AnnalsConfig) config = annals_cli_open_config ("lists");
  if (config == NULL)
    return 1;
  g_auto (GStrv) lists = annals_config_lists (config);
  g_autoptr (GString) out = g_string_new (json ? "[\n" : NULL);
  for (char **l = lists; *l; l++) {
    g_autofree char *dir = annals_config_list_dir (config, *l, "store", NULL);
    g_autoptr (AnnalsStore) store = dir ? annals_store_open (dir, NULL) : NULL;
    /* Redaction notices are log entries, not messages. */
    guint64 count = 0, notices = 0;
    g_autoptr (GError) error = NULL;
    if (store != NULL && !annals_store_count_kinds (store, &count, &notices, &error)) {
      annals_cli_fail ("lists", error);
      return 1;
    }
    g_autofree char *address = annals_config_list_get (config, *l, "address");
    g_autofree char *desc = annals_config_list_get (config, *l, "description");
    gboolean obfuscate = annals_config_list_get_boolean (config, *l, "obfuscate");
    gboolean closed = annals_config_list_get_boolean (config, *l, "closed");
    if (!json) {
      g_autofree char *a = text_field (address);
      g_autofree char *d = text_field (desc);
      g_string_append_printf (out, "%s\t%" G_GUINT64_FORMAT "\t%s\tobfuscate=%s\t%s\t%s\n", *l, count,
                              closed ? "closed" : "open", obfuscate ? "on" : "off", a, d);
      continue;
    }
    g_string_append (out, "  {\"name\": ");
    json_string (out, *l);
    g_string_append_printf (out, ", \"messages\": %" G_GUINT64_FORMAT ", \"redactions\": %" G_GUINT64_FORMAT, count,
                            notices);
    json_field (out, "address", address);
    json_field (out, "description", desc);
    g_string_append_printf (out, ", \"obfuscate\": %s, \"closed\": %s", obfuscate ? "true" : "false",
                            closed ? "true" : "false");
    if (closed) {
      g_autofree char *since = annals_config_list_get (config, *l, "closed-date");
      g_autofree char *reason = annals_config_list_get (config, *l, "closed-reason");
      json_field (out, "closed-date", since);
      json_field (out, "closed-reason", reason);
    }
    g_string_append_printf (out, "}%s\n", l[1] != NULL ? "," : "");
  }
  if (json)
    g_string_append (out, "]\n");
  g_print ("%s", out->str);
  return 0;
}

/* Applies change to list name and says so; a refused value is a usage
 * error (64), anything else 1. */
static int
change (const char *cmd, const char *name, const AnnalsConfigListChange *ch, const char *done)
{
  g_autoptr (AnnalsConfig) config = annals_cli_open_config (cmd);
  if (config == NULL)
    return 1;
  g_autoptr (GError) error = NULL;
  if (!annals_config_change_list (config, name, ch, &error)) {
    annals_cli_fail (cmd, error);
    return g_error_matches (error, ANNALS_CONFIG_ERROR, ANNALS_CONFIG_ERROR_INVALID) ? EX_USAGE : 1;
  }
  g_print ("%s list '%s'\n", done, name);
  return 0;
}

int
annals_cli_list_set (int argc, char **argv)
{
  char *address = NULL, *description = NULL, *obfuscate = NULL;
  const GOptionEntry entries[] = {
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, "The list's posting address (\"\" for none)", "A" },
    { "description", 0, 0, G_OPTION_ARG_STRING, &description, "One line on what the list is for", "D" },
    { "obfuscate", 0, 0, G_OPTION_ARG_STRING, &obfuscate,
      "on: show the dots of addresses' domains as bullets on the list's pages and feeds; off: as they are", "on|off" },
    { NULL },
  };
  if (!annals_cli_parse ("list-set", "NAME",
                         "Changes a list's address, description or address obfuscation in annals.conf\n"
                         "(atomically, under a lock: admins at the same moment both get their change in).\n"
                         "Fields not given stay as they are.  To close a list, see 'annals list-close'.",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  g_autofree char *a = address, *d = description, *o = obfuscate;
  if (argc != 2)
    return annals_cli_usage ("list-set", "give exactly one list NAME");
  AnnalsConfigListChange ch = ANNALS_CONFIG_LIST_CHANGE_INIT;
  ch.address = a;
  ch.description = d;
  if (o != NULL) {
    if (strcmp (o, "on") == 0)
      ch.obfuscate = 1;
    else if (strcmp (o, "off") == 0)
      ch.obfuscate = 0;
    else
      return annals_cli_usage ("list-set", "--obfuscate takes on or off");
  }
  if (a == NULL && d == NULL && o == NULL)
    return annals_cli_usage ("list-set", "nothing to change: give --address, --description or --obfuscate");
  return change ("list-set", argv[1], &ch, "changed");
}

int
annals_cli_list_close (int argc, char **argv)
{
  char *reason = NULL;
  const GOptionEntry entries[] = {
    { "reason", 0, 0, G_OPTION_ARG_STRING, &reason, "One line on why, shown on the list's page", "TEXT" },
    { NULL },
  };
  if (!annals_cli_parse ("list-close", "NAME",
                         "Closes a list: it takes no more mail (ingest, --mda and pull exit 69,\n"
                         "EX_UNAVAILABLE, which an MTA does not retry), while its pages, feeds, search,\n"
                         "store, log and proofs stay served.  The list's page says it is closed, since\n"
                         "when and why.  'annals list-open NAME' reopens it.",
                         entries, TRUE, &argc, &argv))
    return EX_USAGE;
  g_autofree char *r = reason;
  if (argc != 2)
    return annals_cli_usage ("list-close", "give exactly one list NAME");
  AnnalsConfigListChange ch = ANNALS_CONFIG_LIST_CHANGE_INIT;
  ch.closed = 1;
  ch.closed_reason = r;
  return change ("list-close", argv[1], &ch, "closed");
}

int
annals_cli_list_open (int argc, char **argv)
{
  if (!annals_cli_parse ("list-open", "NAME", "Reopens a closed list: it takes mail again.", NULL, TRUE, &argc, &argv))
    return EX_USAGE;
  if (argc != 2)
    return annals_cli_usage ("list-open", "give exactly one list NAME");
  AnnalsConfigListChange ch = ANNALS_CONFIG_LIST_CHANGE_INIT;
  ch.closed = 0;
  return change ("list-open", argv[1], &ch, "reopened");
}
