/* The API's routes (SPEC 4) as data: one row per method and path pattern, pointing at the
 * operations its resource file provides. The router matches in this order; the metrics page
 * lists the rows' series in it too. */
#include "sequin/handlers.h"
#include "sequin/router.h"

const sq_route_desc sq_routes[] = {
    {"GET", "/healthz", &sq_api_healthz_route},
    {"GET", "/readyz", &sq_api_readyz_route},
    {"GET", "/metrics", &sq_api_metrics_route},
    {"GET", "/api/streams", &sq_api_stream_list_route},
    {"POST", "/api/streams", &sq_api_stream_create_route},
    {"GET", "/api/streams/:s", &sq_api_stream_get_route},
    {"DELETE", "/api/streams/:s", &sq_api_stream_delete_route},
    {"POST", "/api/streams/:s/messages", &sq_api_message_upsert_route},
    {"GET", "/api/streams/:s/messages", &sq_api_message_list_route},
    {"GET", "/api/streams/:s/messages/:key", &sq_api_message_get_route},
    {"DELETE", "/api/streams/:s/messages/:key", &sq_api_message_delete_route},
    {"GET", "/api/streams/:s/messages/:key/consumer_info", &sq_api_message_info_route},
    {"GET", "/api/streams/:s/consumers", &sq_api_consumer_list_route},
    {"POST", "/api/streams/:s/consumers", &sq_api_consumer_create_route},
    {"GET", "/api/streams/:s/consumers/:c", &sq_api_consumer_get_route},
    /* PATCH and PUT: both change only the settings they name */
    {"PATCH", "/api/streams/:s/consumers/:c", &sq_api_consumer_edit_route},
    {"PUT", "/api/streams/:s/consumers/:c", &sq_api_consumer_edit_route},
    {"DELETE", "/api/streams/:s/consumers/:c", &sq_api_consumer_delete_route},
    /* GET with query parameters or POST with a JSON body */
    {"GET", "/api/streams/:s/consumers/:c/receive", &sq_api_receive_route},
    {"POST", "/api/streams/:s/consumers/:c/receive", &sq_api_receive_route},
    {"POST", "/api/streams/:s/consumers/:c/ack", &sq_api_ack_route},
    {"POST", "/api/streams/:s/consumers/:c/nack", &sq_api_nack_route},
    {"POST", "/api/streams/:s/consumers/:c/extend", &sq_api_extend_route},
    {"POST", "/api/streams/:s/consumers/:c/redrive", &sq_api_redrive_route},
    {"GET", "/api/streams/:s/consumers/:c/messages", &sq_api_consumer_messages_route},
    {"GET", "/api/sources", &sq_api_source_list_route},
    {"POST", "/api/sources", &sq_api_source_create_route},
    {"GET", "/api/sources/:src", &sq_api_source_get_route},
    {"DELETE", "/api/sources/:src", &sq_api_source_delete_route},
    /* a webhook source: :src is the webhook's name; its own auth, not the API's tokens */
    {"POST", "/api/webhook/:src", &sq_api_webhook_route},
};
const size_t sq_routes_count = SQ_ARRAY_LEN(sq_routes);
