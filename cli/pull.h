/* pull: the "annals pull" command, fetching a list's mail from IMAP or
 * NNTP (the work is archiver/pull.h's; this is the command line). */
#pragma once

int annals_cli_pull (int argc, char **argv);
