/* The API's objects as JSON: the one place that knows their field names. */
#include "sequin/render.h"

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
