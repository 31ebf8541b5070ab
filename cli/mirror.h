/* mirror: the command line of 'annals mirror' (the work is in
 * archiver/mirror.h). */
#pragma once

int annals_cli_mirror (int argc, char **argv);
