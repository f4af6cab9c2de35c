/* The API's objects as JSON (SPEC 4), written from the store's structs. */
#ifndef SEQUIN_RENDER_H
#define SEQUIN_RENDER_H

#include "sequin/buf.h"
#include "sequin/json.h"
#include "sequin/store.h"

/*
 * Each writes one object as the next value of `w`. The writer's failure is sticky, so a
 * caller may write a whole response and check sq_json_writer_finish once; each also returns
 * 0 or -1 for callers that stop early.
 */
SQ_WUR int sq_render_stream(sq_json_writer *w, const sq_stream *st);
/* {"<name>":true}: ack's {"success":true}, a message delete's {"deleted":true}. */
SQ_WUR int sq_render_flag(sq_json_writer *w, const char *name);
/* A stream's or consumer's delete: {"id":"...","deleted":true}. */
SQ_WUR int sq_render_deleted(sq_json_writer *w, const char *id);
SQ_WUR int sq_render_message(sq_json_writer *w, const sq_message *m);
SQ_WUR int sq_render_consumer(sq_json_writer *w, const sq_consumer *c);
/* {"ack_id","state","deliver_count","last_delivered_at","not_visible_until"} */
SQ_WUR int sq_render_pair_info(sq_json_writer *w, const sq_pair_info *i);
/* A receive's item: {"ack_id", "message"}. */
SQ_WUR int sq_render_delivery(sq_json_writer *w, const sq_delivery *d);
/* A consumer's message: {"message", "info"}. */
SQ_WUR int sq_render_consumer_message(sq_json_writer *w, const sq_consumer_message *cm);
/* One consumer's view of a message: {"consumer_id","consumer_name", ...info}. */
SQ_WUR int sq_render_consumer_pair(sq_json_writer *w, const sq_consumer_pair *p);
/* A source (docs/api.md): its settings with the URL's password hidden, its last report and its
 * backfills. Settings that do not read (not written by the API or the config file) show as
 * null, never as they are. */
SQ_WUR int sq_render_source(sq_json_writer *w, const sq_source *src);

/*
 * An error body: {"summary": summary} and, when `field` is not NULL (422),
 * "validation_errors": {field: [problem]}. Appends to `out`.
 */
SQ_WUR int sq_render_error(sq_buf *out, const char *summary, const char *field,
                           const char *problem);

#endif
