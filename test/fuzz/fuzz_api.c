/* libFuzzer target for the API's inputs (src/server/api_input.c): any body or query gets an
 * answer, never a crash, and what is accepted obeys the rules it was checked against (a
 * source's settings are stored in a form that reads back to themselves). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/api_input.h"
#include "sequin/keys.h"
#include "sequin/source.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

/* A refusal must say why, with a 400 or a 422 that names its field. */
static void refused(const sq_api_problem *p)
{
    check(p->summary != NULL && p->summary[0] != '\0');
    check(p->status == 400 || (p->status == 422 && p->field != NULL && p->detail != NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    sq_arena arena = {0};
    sq_api_problem p;
    memset(&p, 0, sizeof p);
    switch (data[0] % 8) {
    case 0: {
        sq_message_in *msgs;
        size_t n;
        if (sq_api_parse_upsert(in, len, 64, &arena, &msgs, &n, &p) == 0) {
            check(n >= 1 && n <= 10000);
            for (size_t i = 0; i < n; i++) {
                check(sq_key_validate(msgs[i].key, msgs[i].key_len, NULL) == 0);
                check(msgs[i].data_len <= 64);
                check(memchr(msgs[i].data, '\0', msgs[i].data_len) == NULL);
            }
        } else {
            refused(&p);
        }
        break;
    }
    case 1: {
        const char *name;
        if (sq_api_parse_stream(in, len, &arena, &name, &p) == 0)
            check(sq_name_is_valid(name, strlen(name)));
        else
            refused(&p);
        break;
    }
    case 2: {
        sq_api_consumer c;
        if (sq_api_parse_consumer_create(in, len, &arena, &c, &p) == 0) {
            check(sq_name_is_valid(c.name, strlen(c.name)));
            check(sq_filter_validate(c.filter, strlen(c.filter), NULL) == 0);
            check(c.settings.ack_wait_ms >= 500 && c.settings.ack_wait_ms <= 3600000);
            check(c.settings.max_ack_pending >= 1 && c.settings.max_ack_pending <= 1000000);
            check(c.settings.max_deliver >= 0 && c.settings.max_deliver <= 1000);
            /* a push consumer's settings are complete and consistent, a pull one's empty */
            const sq_push_settings *ps = &c.settings.push;
            check(ps->http_endpoint != NULL
                      ? ps->max_waiting >= 1 && ps->max_waiting <= c.settings.max_ack_pending &&
                            ps->backoff_base_ms >= 1 && ps->backoff_base_ms <= ps->backoff_max_ms
                      : ps->max_waiting == 0 && ps->backoff_base_ms == 0);
        } else {
            refused(&p);
        }
        break;
    }
    case 3: {
        sq_consumer_settings s;
        if (sq_api_parse_consumer_edit(in, len, &arena, &s, &p) == 0)
            check(s.ack_wait_ms == -1 || (s.ack_wait_ms >= 500 && s.ack_wait_ms <= 3600000));
        else
            refused(&p);
        break;
    }
    case 4: {
        const char **ids;
        size_t n;
        int delay = 0;
        if (sq_api_parse_ack_ids(in, len, true, &delay, &arena, &ids, &n, &p) == 0) {
            for (size_t i = 0; i < n; i++)
                check(sq_api_is_uuid(ids[i], strlen(ids[i])));
            check(delay >= 0 && delay <= 3600000);
        } else {
            refused(&p);
        }
        break;
    }
    case 5: {
        sq_api_receive r;
        int rc = data[0] & 8 ? sq_api_parse_receive_body(in, len, &r, &p)
                             : sq_api_parse_receive_query((sq_http_slice){in, len}, &r, &p);
        if (rc == 0)
            check(r.batch_size >= 1 && r.batch_size <= 1000 && r.wait_for_ms >= 0 &&
                  r.wait_for_ms <= 60000);
        else
            refused(&p);
        break;
    }
    case 7: {
        sq_api_source src;
        if (sq_api_parse_source_create(in, len, &arena, &src, &p) == 0) {
            check(sq_name_is_valid(src.name, strlen(src.name)));
            check(strcmp(src.kind, "postgres") == 0);
            /* The stored settings read back, and write back to the same text. */
            sq_source_def def = {0};
            sq_buf again = {0};
            char err[160];
            check(sq_source_settings_read(src.settings, strlen(src.settings), &def, err,
                                          sizeof err) == 0);
            check(sq_source_settings_write(&def, &again) == 0);
            check(again.len == strlen(src.settings) &&
                  memcmp(again.data, src.settings, again.len) == 0);
            sq_buf_reset(&again);
            check(sq_source_url_redact(def.url, &again) == 0);
            sq_buf_free(&again);
            sq_source_def_free(&def);
        } else {
            refused(&p);
        }
        break;
    }
    default: {
        sq_api_listing l;
        if (sq_api_parse_listing((sq_http_slice){in, len}, data[0] & 8, &arena, &l, &p) == 0) {
            check(l.limit >= 1 && l.limit <= 10000);
            check(l.key_pattern == NULL ||
                  sq_filter_validate(l.key_pattern, strlen(l.key_pattern), NULL) == 0);
        } else {
            refused(&p);
        }
        break;
    }
    }
    sq_arena_free(&arena);
    return 0;
}
