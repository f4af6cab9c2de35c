/* Webhooks (docs/sources.md, "Webhook source"): what a POST to one needs to know, a call
 * without waiting for the workers. */
#include "call.h"

/* The stream and settings of one webhook, read from its row. */
static void read_webhook(sq_row *w, void *item)
{
    sq_webhook_row *out = item;
    out->stream = (int)sq_row_int(w);
    out->settings = sq_row_text(w);
}

int sq_store_begin_webhook_get(sq_store *s, const char *name, char *err, size_t errlen)
{
    sq_stmt st = {.id = SQ_STMT_WEBHOOK_GET, .n = 1, .values = &name};
    return sq_store_begin(s, "webhook_get", name, &st, err, errlen);
}

int sq_store_finish_webhook_get(sq_store *s, sq_webhook_row *out, sq_arena *arena, char *err,
                                size_t errlen)
{
    return sq_store_finish_one(s, "webhook_get", read_webhook, out, arena, "webhook", err, errlen);
}
