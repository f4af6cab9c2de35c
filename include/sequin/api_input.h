/* What the API's requests carry, parsed and checked against SPEC 3-4 before the store sees
 * it: JSON bodies and query parameters in, store arguments or a 400/422 with its reason out. */
#ifndef SEQUIN_API_INPUT_H
#define SEQUIN_API_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/http.h"
#include "sequin/store.h"

/*
 * Why a request was refused: 400 for malformed JSON, a wrong shape, a bad key, filter, ack id
 * or query parameter; 422 for valid JSON failing a field rule, naming the field. `summary`
 * and `detail` point into `text` or to static strings; valid as long as the problem.
 */
typedef struct sq_api_problem {
    int status;
    const char *summary;
    const char *field;  /* 422 only: "ack_wait_ms", "messages[3].data" */
    const char *detail; /* 422 only: the rule, "must be between 500 and 3600000" */
    char text[192];
    char field_text[48];
    char detail_text[64];
} sq_api_problem;

/* An upsert body {"messages":[{"key","data"},...]}: 1..10,000 messages, valid keys, data at
 * most `max_message_bytes` bytes of UTF-8 without NUL. Keys and data are copied into
 * `arena`; `*msgs` is an array of `*n` there. */
SQ_WUR int sq_api_parse_upsert(const char *body, size_t len, size_t max_message_bytes,
                               sq_arena *arena, sq_message_in **msgs, size_t *n, sq_api_problem *p);

/* A stream's name ({"name"}): ^[a-zA-Z0-9_]{1,64}$. */
SQ_WUR int sq_api_parse_stream(const char *body, size_t len, sq_arena *arena, const char **name,
                               sq_api_problem *p);

/* A consumer to create: {"name", "filter_key_pattern", "ack_wait_ms", "max_ack_pending",
 * "max_deliver" (null: none), "deliver_policy" ("all"|"new"), "kind" ("pull"|"push"), and for
 * a push consumer "http_endpoint": {"url", "headers", "signing_secret"}, "max_waiting",
 * "backoff_base_ms", "backoff_max_ms"}; unset settings take their defaults (SPEC 3,
 * sequin/push_rules.h). The endpoint goes to settings.push.http_endpoint as the store keeps
 * it, in `arena`. */
typedef struct sq_api_consumer {
    const char *name;
    const char *filter;
    sq_consumer_settings settings;
    bool deliver_new;
} sq_api_consumer;
SQ_WUR int sq_api_parse_consumer_create(const char *body, size_t len, sq_arena *arena,
                                        sq_api_consumer *out, sq_api_problem *p);

/* A source to create: {"name", "stream" (a name or id), "postgres": {"url", "slot",
 * "publication", "tables"}, "key_format", "backfill"}, its settings checked as
 * sq_source_settings_read checks them (a 400 whose summary names the setting) and written in
 * their canonical form into `settings`, strings in `arena`; or a webhook source, {"name",
 * "stream", "webhook": {...}}, its settings checked by sq_webhook_settings_read. */
typedef struct sq_api_source {
    const char *name;
    const char *stream;
    const char *kind; /* "postgres" or "webhook" */
    const char *settings;
} sq_api_source;
SQ_WUR int sq_api_parse_source_create(const char *body, size_t len, sq_arena *arena,
                                      sq_api_source *out, sq_api_problem *p);

/* A consumer edit (PATCH or PUT): the numeric settings, the ones absent -1 (unchanged),
 * max_deliver null 0 (no limit); and a push consumer's, absent 0, with "http_endpoint" the
 * members to change (in `arena`; null removes the headers or the secret). Naming an immutable
 * field (name, filter_key_pattern, deliver_policy, kind) is a 422. */
SQ_WUR int sq_api_parse_consumer_edit(const char *body, size_t len, sq_arena *arena,
                                      sq_consumer_settings *changes, sq_api_problem *p);

/* {"ack_ids":[uuid,...]} (1..10,000 ids) for ack, extend, and nack (which may add
 * "delay_ms", 0..3,600,000, into `*delay_ms` when it is not NULL). For redrive
 * (`allow_none`), `{}` is allowed and gives `*n` 0: every dead message. The ids are
 * NUL-terminated copies in `arena`. */
SQ_WUR int sq_api_parse_ack_ids(const char *body, size_t len, bool allow_none, int *delay_ms,
                                sq_arena *arena, const char ***ids, size_t *n, sq_api_problem *p);

/* Receive's parameters from the query (GET) or a JSON body (POST): batch_size 1..1000
 * (default 1), wait_for 0..60000 ms (default 0). */
typedef struct sq_api_receive {
    int batch_size;
    int wait_for_ms;
} sq_api_receive;
SQ_WUR int sq_api_parse_receive_query(sq_http_slice query, sq_api_receive *out, sq_api_problem *p);
SQ_WUR int sq_api_parse_receive_body(const char *body, size_t len, sq_api_receive *out,
                                     sq_api_problem *p);

/* A listing's query: limit 1..10,000 (default 100), sort seq_asc|seq_desc (messages;
 * default seq_asc), state available|delivered|dead (a consumer's messages), key_pattern (a
 * valid filter). Strings are decoded into `arena`; absent ones are NULL. */
typedef struct sq_api_listing {
    int limit;
    bool newest_first;
    const char *state;
    const char *key_pattern;
} sq_api_listing;
SQ_WUR int sq_api_parse_listing(sq_http_slice query, bool consumer_messages, sq_arena *arena,
                                sq_api_listing *out, sq_api_problem *p);

/* True for a UUID in its canonical text form (8-4-4-4-12 hex digits, any case). */
bool sq_api_is_uuid(const char *s, size_t len);

#endif
