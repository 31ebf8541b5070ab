/* zdict: preset dictionaries for the store's zlib streams.
 *
 * Small mails compress poorly alone because zlib starts each stream with
 * an empty window.  A dictionary of the lines a list repeats in message
 * after message (Received hops, List-* headers, the list footer) primes
 * it.  Only lines seen in at least ANNALS_ZDICT_MIN_MESSAGES different
 * messages of the sample are taken, so a dictionary never holds text
 * that is one message's own: redacting a message removes its bytes
 * without having to rewrite dictionaries.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ANNALS_ZDICT_MAX_BYTES 32768
#define ANNALS_ZDICT_MIN_MESSAGES 4

/* samples: GBytes of raw messages, oldest first.  Returns a new GBytes
 * (possibly empty) owned by the caller. */
GBytes *annals_zdict_train (GPtrArray *samples);

G_END_DECLS
