/* The synchronous form of every call with a begin and a finish (store.h): its begin, waiting
 * in poll(2) until the call is over, then its finish; one implementation of each call,
 * whichever way it is made. For the master's startup and for tests: the event loop only
 * begins and finishes. */
#include "call.h"

int sq_store_stream_num(sq_store *s, const char *name, int *num, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_num(s, name, err, errlen))
               ? sq_store_finish_stream_num(s, num, err, errlen)
               : SQ_ERR;
}

int sq_store_stream_create(sq_store *s, const char *name, sq_stream *out, sq_arena *arena,
                           char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_create(s, name, err, errlen))
               ? sq_store_finish_stream_create(s, out, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_stream_get(sq_store *s, const char *name_or_id, sq_stream *out, sq_arena *arena,
                        char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_get(s, name_or_id, err, errlen))
               ? sq_store_finish_stream_get(s, out, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_stream_list(sq_store *s, sq_stream **out, size_t *count, sq_arena *arena, char *err,
                         size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_list(s, err, errlen))
               ? sq_store_finish_stream_list(s, out, count, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_stream_delete(sq_store *s, const char *name_or_id, char id[37], char *err,
                           size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_delete(s, name_or_id, err, errlen))
               ? sq_store_finish_stream_delete(s, id, err, errlen)
               : SQ_ERR;
}

int sq_store_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                    long long *published, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_upsert(s, stream, msgs, n, err, errlen))
               ? sq_store_finish_upsert(s, published, err, errlen)
               : SQ_ERR;
}

int sq_store_listen(sq_store *s, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_listen(s, err, errlen)) ? sq_store_finish(s, err, errlen)
                                                                   : SQ_ERR;
}

int sq_store_notify(sq_store *s, int stream, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_notify(s, stream, err, errlen))
               ? sq_store_finish(s, err, errlen)
               : SQ_ERR;
}

int sq_store_message_list(sq_store *s, int stream, const sq_message_query *q, sq_message **out,
                          size_t *count, sq_arena *arena, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_message_list(s, stream, q, err, errlen))
               ? sq_store_finish_message_list(s, out, count, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_message_get(sq_store *s, int stream, const char *key, sq_message *out, sq_arena *arena,
                         char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_message_get(s, stream, key, err, errlen))
               ? sq_store_finish_message_get(s, out, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_message_info(sq_store *s, int stream, const char *key, sq_message *msg,
                          sq_consumer_pair **out, size_t *count, sq_arena *arena, char *err,
                          size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_message_info(s, stream, key, err, errlen))
               ? sq_store_finish_message_info(s, msg, out, count, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_message_delete(sq_store *s, int stream, const char *key, int *deleted, char *err,
                            size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_message_delete(s, stream, key, err, errlen))
               ? sq_store_finish_message_delete(s, deleted, err, errlen)
               : SQ_ERR;
}

int sq_store_consumer_create(sq_store *s, int stream, const char *name, const char *filter,
                             const sq_consumer_settings *settings, bool deliver_new,
                             sq_consumer *out, sq_arena *arena, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_consumer_create(s, stream, name, filter, settings,
                                                           deliver_new, err, errlen))
               ? sq_store_finish_consumer_create(s, out, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_consumer_get(sq_store *s, int stream, const char *name_or_id, sq_consumer *out,
                          sq_arena *arena, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_consumer_get(s, stream, name_or_id, err, errlen))
               ? sq_store_finish_consumer_get(s, out, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_resolve(sq_store *s, const char *stream, const char *consumer, int *stream_num,
                     char consumer_id[37], char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_resolve(s, stream, consumer, err, errlen))
               ? sq_store_finish_resolve(s, stream_num, consumer_id, err, errlen)
               : SQ_ERR;
}

int sq_store_consumer_list(sq_store *s, int stream, sq_consumer **out, size_t *count,
                           sq_arena *arena, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_consumer_list(s, stream, err, errlen))
               ? sq_store_finish_consumer_list(s, out, count, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_push_consumers(sq_store *s, sq_consumer **out, size_t *count, sq_arena *arena,
                            char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_push_consumers(s, err, errlen))
               ? sq_store_finish_push_consumers(s, out, count, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_consumer_edit(sq_store *s, int stream, const char *name_or_id,
                           const sq_consumer_settings *changes, bool as_config, sq_consumer *out,
                           sq_arena *arena, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_consumer_edit(s, stream, name_or_id, changes, as_config,
                                                         err, errlen))
               ? sq_store_finish_consumer_edit(s, out, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_consumer_delete(sq_store *s, int stream, const char *name_or_id, bool as_config,
                             char id[37], char *err, size_t errlen)
{
    return sq_store_wait(
               s, sq_store_begin_consumer_delete(s, stream, name_or_id, as_config, err, errlen))
               ? sq_store_finish_consumer_delete(s, id, err, errlen)
               : SQ_ERR;
}

int sq_store_reconcile(sq_store *s, const sq_declared_consumer *declared, size_t n,
                       sq_reconcile_change **out, size_t *count, long *refused, sq_arena *arena,
                       char *err, size_t errlen)
{
    *refused = -1;
    return sq_store_wait(s, sq_store_begin_reconcile(s, declared, n, err, errlen))
               ? sq_store_finish_reconcile(s, out, count, refused, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_receive(sq_store *s, const char *consumer, int max, sq_delivery *out, int *count,
                     sq_arena *arena, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_receive(s, consumer, max, err, errlen))
               ? sq_store_finish_receive(s, out, count, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_next_visible(sq_store *s, const char *consumer, long long *ms, char *err,
                          size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_next_visible(s, consumer, err, errlen))
               ? sq_store_finish_next_visible(s, ms, err, errlen)
               : SQ_ERR;
}

int sq_store_consumer_messages(sq_store *s, const char *consumer, const char *state,
                               const char *filter, int limit, sq_consumer_message **out,
                               size_t *count, sq_arena *arena, char *err, size_t errlen)
{
    return sq_store_wait(
               s, sq_store_begin_consumer_messages(s, consumer, state, filter, limit, err, errlen))
               ? sq_store_finish_consumer_messages(s, out, count, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_ack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n, char *err,
                 size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_ack(s, consumer, ack_ids, n, err, errlen))
               ? sq_store_finish(s, err, errlen)
               : SQ_ERR;
}

int sq_store_nack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                  int delay_ms, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_nack(s, consumer, ack_ids, n, delay_ms, err, errlen))
               ? sq_store_finish(s, err, errlen)
               : SQ_ERR;
}

int sq_store_extend(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                    char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_extend(s, consumer, ack_ids, n, err, errlen))
               ? sq_store_finish(s, err, errlen)
               : SQ_ERR;
}

int sq_store_redrive(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                     long long *redriven, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_redrive(s, consumer, ack_ids, n, err, errlen))
               ? sq_store_finish_redrive(s, redriven, err, errlen)
               : SQ_ERR;
}

int sq_store_source_objects(sq_store *s, sq_source **out, size_t *count, sq_arena *arena, char *err,
                            size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_source_objects(s, err, errlen))
               ? sq_store_finish_source_objects(s, out, count, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_source_get(sq_store *s, const char *name_or_id, sq_source *out, sq_arena *arena,
                        char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_source_get(s, name_or_id, err, errlen))
               ? sq_store_finish_source_get(s, out, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_source_create(sq_store *s, const char *name, const char *kind, const char *stream,
                           const char *settings, sq_source *out, sq_arena *arena, char *err,
                           size_t errlen)
{
    return sq_store_wait(s,
                         sq_store_begin_source_create(s, name, kind, stream, settings, err, errlen))
               ? sq_store_finish_source_create(s, out, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_source_delete(sq_store *s, const char *name_or_id, char id[37], char *err,
                           size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_source_delete(s, name_or_id, err, errlen))
               ? sq_store_finish_source_delete(s, id, err, errlen)
               : SQ_ERR;
}
