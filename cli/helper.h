/* helper: commands whose code is a program of its own, as git runs
 * git-remote-https.  'annals mirror' is the annals-mirror program, the
 * only one that links libcurl: the twenty libraries curl loads would
 * otherwise double the start-up of every annals command.
 *
 * The program is found beside the running annals (the build tree: both
 * in build/cli/), then in the libexecdir/annals of the prefix the running
 * annals sits in (a relocated install, meson install --destdir), then in
 * the libexecdir/annals compiled in. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs 'annals CMD ARGS' as the program annals-CMD with argv "CMD ARGS"
 * (argv[0] is CMD), the global --root before CMD as --root=DIR, and the
 * environment unchanged; returns only on failure, after saying why. */
int annals_cli_run_helper (int argc, char **argv);

G_END_DECLS
