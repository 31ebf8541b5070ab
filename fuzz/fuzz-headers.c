/* Fuzz target: header parsing with libetpan never crashes, and every
 * string it yields is valid UTF-8. */
#include "core/message.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char hash[] = "0000000000000000000000000000000000000000000000000000000000000000";
  g_autoptr (AnnalsMessageInfo) info = annals_message_info_parse (data, size, hash);
  const char *strings[]
      = { info->hdr.message_id, info->hdr.in_reply_to, info->hdr.references, info->hdr.from,   info->hdr.from_addr,
          info->hdr.to,         info->hdr.cc,          info->hdr.subject,    info->hdr.list_id };
  g_assert_nonnull (info->hdr.message_id);
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    if (strings[i] != NULL)
      g_assert_true (g_utf8_validate (strings[i], -1, NULL));
  return 0;
}
