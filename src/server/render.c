/* The API's objects as JSON: the one place that knows their field names. */
#include "sequin/render.h"

#include <string.h>

#include "sequin/source.h"
#include "sequin/webhook.h"

/* Writes "key": "value", or null for a NULL value. */
static int str_field(sq_json_writer *w, const char *key, const char *value)
{
    int rc = sq_json_write_key(w, key);
    rc |= value != NULL ? sq_json_write_string(w, value) : sq_json_write_null(w);
    return rc;
}

static int int_field(sq_json_writer *w, const char *key, long long value)
{
    int rc = sq_json_write_key(w, key);
    return rc | sq_json_write_int64(w, value);
}

/* Closes an object whose members `rc` accumulated the writes of: 0, or -1 if any failed. */
static int end_object(sq_json_writer *w, int rc)
{
    rc |= sq_json_write_end_object(w);
    return rc != 0 ? SQ_ERR : SQ_OK;
}

/* The members a stream, a message and a consumer end with, then the object's end. */
static int end_with_times(sq_json_writer *w, int rc, const char *inserted_at,
                          const char *updated_at)
{
    rc |= str_field(w, "inserted_at", inserted_at);
    rc |= str_field(w, "updated_at", updated_at);
    return end_object(w, rc);
}

int sq_render_flag(sq_json_writer *w, const char *name)
{
    int rc = sq_json_write_begin_object(w);
    rc |= sq_json_write_key(w, name);
    rc |= sq_json_write_bool(w, true);
    return end_object(w, rc);
}

int sq_render_deleted(sq_json_writer *w, const char *id)
{
    int rc = sq_json_write_begin_object(w);
    rc |= str_field(w, "id", id);
    rc |= sq_json_write_key(w, "deleted");
    rc |= sq_json_write_bool(w, true);
    return end_object(w, rc);
}

int sq_render_stream(sq_json_writer *w, const sq_stream *st)
{
    int rc = sq_json_write_begin_object(w);
    rc |= str_field(w, "id", st->id);
    rc |= str_field(w, "name", st->name);
    rc |= sq_json_write_key(w, "stats");
    rc |= sq_json_write_begin_object(w);
    rc |= int_field(w, "message_count", st->message_count);
    rc |= int_field(w, "consumer_count", st->consumer_count);
    rc |= int_field(w, "storage_size", st->storage_size);
    rc |= sq_json_write_end_object(w);
    return end_with_times(w, rc, st->inserted_at, st->updated_at);
}

int sq_render_message(sq_json_writer *w, const sq_message *m)
{
    int rc = sq_json_write_begin_object(w);
    rc |= str_field(w, "key", m->key);
    rc |= str_field(w, "stream_id", m->stream_id);
    rc |= sq_json_write_key(w, "data");
    rc |= sq_json_write_stringn(w, m->data, m->data_len);
    rc |= str_field(w, "data_hash", m->data_hash);
    rc |= int_field(w, "seq", m->seq);
    return end_with_times(w, rc, m->inserted_at, m->updated_at);
}

/* What stands for a secret the API never shows: a header's value, the signing secret. */
static const char HIDDEN[] = "***";

/*
 * A push consumer's endpoint and delivery settings. Header values and the signing secret are
 * write-only: an Authorization header is a credential, and any header may be one, so every
 * value shows as "***" (the names show what is set); the secret shows as "***" when there is
 * one, null when there is none.
 */
static int push_fields(sq_json_writer *w, const sq_consumer *c)
{
    const sq_push_endpoint *e = &c->endpoint;
    int rc = sq_json_write_key(w, "http_endpoint");
    rc |= sq_json_write_begin_object(w);
    rc |= str_field(w, "url", e->url);
    rc |= sq_json_write_key(w, "headers");
    rc |= sq_json_write_begin_object(w);
    for (size_t i = 0; i < e->n_headers; i++) {
        const char *colon = strchr(e->headers[i], ':');
        size_t n = colon != NULL ? (size_t)(colon - e->headers[i]) : strlen(e->headers[i]);
        rc |= sq_json_write_keyn(w, e->headers[i], n);
        rc |= sq_json_write_string(w, HIDDEN);
    }
    rc |= sq_json_write_end_object(w);
    rc |= str_field(w, "signing_secret", e->signing_secret != NULL ? HIDDEN : NULL);
    rc |= sq_json_write_end_object(w);
    rc |= int_field(w, "max_waiting", c->settings.push.max_waiting);
    rc |= int_field(w, "backoff_base_ms", c->settings.push.backoff_base_ms);
    rc |= int_field(w, "backoff_max_ms", c->settings.push.backoff_max_ms);
    return rc;
}

int sq_render_consumer(sq_json_writer *w, const sq_consumer *c)
{
    int rc = sq_json_write_begin_object(w);
    rc |= str_field(w, "id", c->id);
    rc |= str_field(w, "name", c->name);
    rc |= str_field(w, "stream_id", c->stream_id);
    rc |= str_field(w, "filter_key_pattern", c->filter);
    rc |= int_field(w, "ack_wait_ms", c->settings.ack_wait_ms);
    rc |= int_field(w, "max_ack_pending", c->settings.max_ack_pending);
    rc |= sq_json_write_key(w, "max_deliver");
    rc |= c->settings.max_deliver > 0 ? sq_json_write_int64(w, c->settings.max_deliver)
                                      : sq_json_write_null(w);
    rc |= str_field(w, "deliver_policy", c->deliver_new ? "new" : "all");
    rc |= str_field(w, "managed_by", c->managed_by_config ? "config" : "api");
    rc |= str_field(w, "kind", c->push ? "push" : "pull");
    if (c->push)
        rc |= push_fields(w, c);
    rc |= sq_json_write_key(w, "stats");
    rc |= sq_json_write_begin_object(w);
    rc |= int_field(w, "available", c->available);
    rc |= int_field(w, "delivered", c->delivered);
    rc |= int_field(w, "dead", c->dead);
    rc |= sq_json_write_end_object(w);
    return end_with_times(w, rc, c->inserted_at, c->updated_at);
}

/* The info members, inside an object the caller opened. */
static int info_fields(sq_json_writer *w, const sq_pair_info *i)
{
    int rc = str_field(w, "ack_id", i->ack_id);
    rc |= str_field(w, "state", i->state);
    rc |= int_field(w, "deliver_count", i->deliver_count);
    rc |= str_field(w, "last_delivered_at", i->last_delivered_at);
    rc |= str_field(w, "not_visible_until", i->not_visible_until);
    return rc;
}

int sq_render_pair_info(sq_json_writer *w, const sq_pair_info *i)
{
    int rc = sq_json_write_begin_object(w);
    rc |= info_fields(w, i);
    return end_object(w, rc);
}

int sq_render_delivery(sq_json_writer *w, const sq_delivery *d)
{
    int rc = sq_json_write_begin_object(w);
    rc |= str_field(w, "ack_id", d->ack_id);
    rc |= sq_json_write_key(w, "message");
    rc |= sq_render_message(w, &d->message);
    return end_object(w, rc);
}

int sq_render_consumer_message(sq_json_writer *w, const sq_consumer_message *cm)
{
    int rc = sq_json_write_begin_object(w);
    rc |= sq_json_write_key(w, "message");
    rc |= sq_render_message(w, &cm->message);
    rc |= sq_json_write_key(w, "info");
    rc |= sq_render_pair_info(w, &cm->info);
    return end_object(w, rc);
}

int sq_render_consumer_pair(sq_json_writer *w, const sq_consumer_pair *p)
{
    int rc = sq_json_write_begin_object(w);
    rc |= str_field(w, "consumer_id", p->consumer_id);
    rc |= str_field(w, "consumer_name", p->consumer_name);
    rc |= info_fields(w, &p->info);
    return end_object(w, rc);
}

/* "postgres", "key_format" and "backfill" from the settings as stored; the URL without its
 * password. */
static int source_settings(sq_json_writer *w, const char *settings)
{
    sq_source_def def = {0};
    sq_buf url = {0};
    char why[160];
    int rc = 0;
    if (settings == NULL ||
        sq_source_settings_read(settings, strlen(settings), &def, why, sizeof why) != SQ_OK) {
        rc |= sq_json_write_key(w, "postgres") | sq_json_write_null(w);
        rc |= sq_json_write_key(w, "key_format") | sq_json_write_null(w);
        rc |= sq_json_write_key(w, "backfill") | sq_json_write_null(w);
        goto done;
    }
    if (sq_source_url_redact(def.url, &url) != SQ_OK || sq_buf_putc(&url, '\0') != SQ_OK) {
        rc = SQ_ERR;
        goto done;
    }
    rc |= sq_json_write_key(w, "postgres");
    rc |= sq_json_write_begin_object(w);
    rc |= str_field(w, "url", url.data);
    rc |= str_field(w, "slot", def.slot);
    rc |= str_field(w, "publication", def.publication);
    rc |= sq_json_write_key(w, "tables");
    rc |= sq_json_write_begin_array(w);
    for (size_t i = 0; i < def.ntables; i++)
        rc |= sq_json_write_string(w, def.tables[i]);
    rc |= sq_json_write_end_array(w);
    rc |= sq_json_write_end_object(w);
    rc |= str_field(w, "key_format", def.key_format == SQ_KEY_BASIC ? "basic" : "with_operation");
    rc |= sq_json_write_key(w, "backfill");
    rc |= sq_json_write_bool(w, def.backfill);
done:
    sq_buf_free(&url);
    sq_source_def_free(&def);
    return rc;
}

/* A webhook's "webhook" object: its settings, each secret as "****" when it has one (null when
 * not), never the secret itself. */
static int webhook_settings(sq_json_writer *w, const char *settings)
{
    sq_webhook_def def = {0};
    char why[160];
    int rc = sq_json_write_key(w, "webhook");
    if (settings == NULL ||
        sq_webhook_settings_read(settings, strlen(settings), &def, why, sizeof why) != SQ_OK)
        return rc | sq_json_write_null(w);
    rc |= sq_json_write_begin_object(w);
    rc |= str_field(w, "key_field", def.key_field);
    rc |= str_field(w, "key_header", def.key_header);
    rc |= str_field(w, "secret", def.secret ? "****" : NULL);
    rc |= str_field(w, "secret_header", def.secret_header);
    rc |= str_field(w, "hmac_secret", def.hmac_secret ? "****" : NULL);
    rc |= str_field(w, "hmac_header", def.hmac_header);
    rc |= sq_json_write_end_object(w);
    sq_webhook_def_free(&def);
    return rc;
}

/* "key": value, or null for a negative value (unknown). */
static int count_field(sq_json_writer *w, const char *key, long long value)
{
    int rc = sq_json_write_key(w, key);
    return rc | (value >= 0 ? sq_json_write_int64(w, value) : sq_json_write_null(w));
}

/* What the node running the source last reported: every member null before its first report. */
static int source_status(sq_json_writer *w, const sq_source *src)
{
    int rc = sq_json_write_key(w, "status");
    rc |= sq_json_write_begin_object(w);
    rc |= str_field(w, "state", src->state);
    rc |= str_field(w, "error", src->error);
    rc |= str_field(w, "node", src->node);
    rc |= str_field(w, "last_commit_lsn", src->last_commit_lsn);
    rc |= str_field(w, "last_commit_at", src->last_commit_at);
    rc |= str_field(w, "received_lsn", src->received_lsn);
    rc |= count_field(w, "lag_bytes", src->has_status ? src->lag_bytes : -1);
    rc |= sq_json_write_key(w, "lag_seconds");
    rc |= src->has_status ? sq_json_write_double(w, src->lag_seconds) : sq_json_write_null(w);
    rc |= count_field(w, "rows_streamed", src->has_status ? src->rows_streamed : -1);
    rc |= str_field(w, "reported_at", src->reported_at);
    rc |= sq_json_write_end_object(w);
    return rc;
}

int sq_render_source(sq_json_writer *w, const sq_source *src)
{
    int rc = sq_json_write_begin_object(w);
    rc |= str_field(w, "id", src->id);
    rc |= str_field(w, "name", src->name);
    rc |= str_field(w, "kind", src->kind);
    rc |= str_field(w, "stream", src->stream);
    if (src->kind != NULL && strcmp(src->kind, "webhook") == 0)
        rc |= webhook_settings(w, src->settings);
    else
        rc |= source_settings(w, src->settings);
    rc |= str_field(w, "managed_by", src->managed_by_config ? "config" : "api");
    rc |= source_status(w, src);
    rc |= sq_json_write_key(w, "backfill_progress");
    rc |= sq_json_write_begin_array(w);
    for (size_t i = 0; i < src->n_backfills; i++) {
        const sq_backfill_row *b = &src->backfills[i];
        rc |= sq_json_write_begin_object(w);
        rc |= str_field(w, "table", b->table);
        rc |= int_field(w, "rows", b->rows_done);
        rc |= sq_json_write_key(w, "done");
        rc |= sq_json_write_bool(w, b->done);
        rc |= sq_json_write_end_object(w);
    }
    rc |= sq_json_write_end_array(w);
    return end_with_times(w, rc, src->inserted_at, src->updated_at);
}

int sq_render_error(sq_buf *out, const char *summary, const char *field, const char *problem)
{
    sq_json_writer w;
    sq_json_writer_init(&w, out);
    int rc = sq_json_write_begin_object(&w);
    rc |= str_field(&w, "summary", summary);
    if (field != NULL) {
        rc |= sq_json_write_key(&w, "validation_errors");
        rc |= sq_json_write_begin_object(&w);
        rc |= sq_json_write_key(&w, field);
        rc |= sq_json_write_begin_array(&w);
        rc |= sq_json_write_string(&w, problem);
        rc |= sq_json_write_end_array(&w);
        rc |= sq_json_write_end_object(&w);
    }
    rc |= sq_json_write_end_object(&w);
    return rc != 0 || sq_json_writer_finish(&w) != SQ_OK ? SQ_ERR : SQ_OK;
}
