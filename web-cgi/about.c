/* about: what the archive promises, its verifier key and log origins,
 * and the commands that check it; see web.h. */
#include "web-cgi/web.h"

#include <string.h>

/* The public half of the site's key (ROOT/keys/site.vkey, written by
 * annals init); the signing key next to it is never read here. */
static char *
verifier_key (Ctx *c)
{
  g_autofree char *key = annals_config_key_path (c->config);
  g_autofree char *dir = g_path_get_dirname (key);
  g_autofree char *path = g_build_filename (dir, "site.vkey", NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  return g_strdup (g_strstrip (text));
}

/* A log's origin as its checkpoint names it (the first line): what a
 * verifier checks, whatever annals.conf says now. */
static char *
log_origin (Ctx *c, const char *list)
{
  g_autofree char *dir = annals_config_list_dir (c->config, list, "log", NULL);
  g_autofree char *path = dir ? g_build_filename (dir, "checkpoint", NULL) : NULL;
  g_autofree char *text = NULL;
  if (path == NULL || !g_file_get_contents (path, &text, NULL, NULL))
    return annals_config_log_origin (c->config, list);
  return g_strndup (text, strcspn (text, "\n"));
}

static void
code_block (GString *s, const char *text)
{
  g_string_append (s, "<pre><code>");
  annals_web_esc (s, text);
  g_string_append (s, "</code></pre>");
}

/* /about/ (list NULL) and /LIST/about/. */
void
annals_web_page_about (Ctx *c, const char *list)
{
  g_autofree char *site = g_key_file_get_string (annals_config_keyfile (c->config), "site", "name", NULL);
  g_autofree char *vkey = verifier_key (c);
  g_autofree char *title
      = list ? g_strdup_printf ("About %s", list) : g_strdup_printf ("About %s", site ? site : "annals");
  g_autoptr (GString) s = g_string_new (NULL);
  annals_web_page_start (c, s, title);
  g_string_append (s, "<h1>");
  annals_web_esc (s, title);
  g_string_append (s, "</h1><h2>What this archive promises</h2><ul>"
                      "<li>Every message is kept exactly as it was received, byte for byte; its raw form is one "
                      "click away.</li>"
                      "<li>Nothing is changed or removed in silence. Each list has a public transparency log: a "
                      "Merkle tree over the hashes of its messages, signed after every delivery. Anyone can check "
                      "that a message is in it, and that today's log still holds everything yesterday's did.</li>"
                      "<li>When a message has to be removed (a court order, a privacy request), its page says when "
                      "and why, the removal is itself an entry in the log, and its hash stays there.</li></ul>");
  g_string_append (s, "<h2>Verifier key</h2>");
  if (vkey != NULL) {
    g_string_append (s, "<p>Every log is signed with this key; keep a copy from a source you trust:</p>"
                        "<pre><code id=\"vkey\">");
    annals_web_esc (s, vkey);
    g_string_append (s, "</code></pre>");
  } else {
    g_string_append (s, "<p>This site has not published its key here: ask its operators for the output of "
                        "<code>annals key</code>.</p>");
  }
  g_string_append (s, "<h2>Logs</h2><ul>");
  g_auto (GStrv) lists = annals_config_lists (c->config);
  for (char **l = lists; *l; l++) {
    if (list != NULL && strcmp (*l, list) != 0)
      continue;
    g_autofree char *origin = log_origin (c, *l);
    g_string_append_printf (s, "<li><a href=\"%s/%s/\">%s</a>: origin <code>", c->h->prefix, *l, *l);
    annals_web_esc (s, origin ? origin : "");
    g_string_append_printf (s,
                            "</code>, <a href=\"%s/%s/log/checkpoint\">checkpoint</a>, tiles under "
                            "<code>%s/%s/log/tile/</code>",
                            c->h->prefix, *l, c->h->prefix, *l);
    if (list == NULL)
      g_string_append_printf (s, " (<a href=\"%s/%s/about/\">about %s</a>)", c->h->prefix, *l, *l);
    g_string_append (s, "</li>");
  }
  g_string_append (s, "</ul><h2>Check a message</h2><p>Every message page links its raw bytes and its proof. "
                      "With the <code>annals</code> program (it needs no access to this site):</p>");
  const char *key = vkey ? vkey : "VERIFIER-KEY";
  g_autofree char *qkey = g_shell_quote (key);
  g_autofree char *where = g_strdup_printf ("%s%s/MESSAGE-ID/", c->h->base, list ? list : "LIST");
  g_autofree char *cmd1 = g_strdup_printf ("curl -o message.tlog-proof %sproof\ncurl -o message.eml %sraw\n"
                                           "annals verify-proof message.tlog-proof --key %s --message message.eml",
                                           where, where, qkey);
  code_block (s, cmd1);
  g_string_append (s, "<p>It checks that the message is in the log and that the log is signed with the key above; "
                      "it exits 0 when it is.</p><h2>Check a mirror</h2><p>A copy of the archive's root folder "
                      "(its <code>annals.conf</code> and each list's <code>store/</code> and <code>log/</code>, "
                      "never <code>keys/</code>) is checked offline, every message against the log and the log "
                      "against its signature; <code>--since</code> takes a checkpoint you kept earlier and checks "
                      "that nothing in it was lost:</p>");
  g_autofree char *cmd2
      = g_strdup_printf ("annals verify /path/to/mirror --key %s --since yesterdays-checkpoint", qkey);
  code_block (s, cmd2);
  annals_web_page_end (c, s);
}
