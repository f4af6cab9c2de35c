/* The API's routes (SPEC 4) as data: one row per method and path pattern, pointing at the
 * operations its resource file provides. The router matches in this order. */
#include "sequin/handlers.h"
#include "sequin/router.h"

const sq_route_desc sq_routes[] = {
    {"GET", "/healthz", SQ_ROUTE_HEALTHZ, &sq_api_healthz_route},
    {"GET", "/readyz", SQ_ROUTE_READYZ, &sq_api_readyz_route},
    {"GET", "/metrics", SQ_ROUTE_METRICS, &sq_api_metrics_route},
    {"GET", "/api/streams", SQ_ROUTE_STREAM_LIST, &sq_api_stream_list_route},
    {"POST", "/api/streams", SQ_ROUTE_STREAM_CREATE, &sq_api_stream_create_route},
    {"GET", "/api/streams/:s", SQ_ROUTE_STREAM_GET, &sq_api_stream_get_route},
    {"DELETE", "/api/streams/:s", SQ_ROUTE_STREAM_DELETE, &sq_api_stream_delete_route},
    {"POST", "/api/streams/:s/messages", SQ_ROUTE_MESSAGE_UPSERT, &sq_api_message_upsert_route},
    {"GET", "/api/streams/:s/messages", SQ_ROUTE_MESSAGE_LIST, &sq_api_message_list_route},
    {"GET", "/api/streams/:s/messages/:key", SQ_ROUTE_MESSAGE_GET, &sq_api_message_get_route},
    {"DELETE", "/api/streams/:s/messages/:key", SQ_ROUTE_MESSAGE_DELETE,
     &sq_api_message_delete_route},
    {"GET", "/api/streams/:s/messages/:key/consumer_info", SQ_ROUTE_MESSAGE_CONSUMER_INFO,
     &sq_api_message_info_route},
    {"GET", "/api/streams/:s/consumers", SQ_ROUTE_CONSUMER_LIST, &sq_api_consumer_list_route},
    {"POST", "/api/streams/:s/consumers", SQ_ROUTE_CONSUMER_CREATE, &sq_api_consumer_create_route},
    {"GET", "/api/streams/:s/consumers/:c", SQ_ROUTE_CONSUMER_GET, &sq_api_consumer_get_route},
    /* PATCH and PUT: both change only the settings they name */
    {"PATCH", "/api/streams/:s/consumers/:c", SQ_ROUTE_CONSUMER_EDIT, &sq_api_consumer_edit_route},
    {"PUT", "/api/streams/:s/consumers/:c", SQ_ROUTE_CONSUMER_EDIT, &sq_api_consumer_edit_route},
    {"DELETE", "/api/streams/:s/consumers/:c", SQ_ROUTE_CONSUMER_DELETE,
     &sq_api_consumer_delete_route},
    /* GET with query parameters or POST with a JSON body */
    {"GET", "/api/streams/:s/consumers/:c/receive", SQ_ROUTE_RECEIVE, &sq_api_receive_route},
    {"POST", "/api/streams/:s/consumers/:c/receive", SQ_ROUTE_RECEIVE, &sq_api_receive_route},
    {"POST", "/api/streams/:s/consumers/:c/ack", SQ_ROUTE_ACK, &sq_api_ack_route},
    {"POST", "/api/streams/:s/consumers/:c/nack", SQ_ROUTE_NACK, &sq_api_nack_route},
    {"POST", "/api/streams/:s/consumers/:c/extend", SQ_ROUTE_EXTEND, &sq_api_extend_route},
    {"POST", "/api/streams/:s/consumers/:c/redrive", SQ_ROUTE_REDRIVE, &sq_api_redrive_route},
    {"GET", "/api/streams/:s/consumers/:c/messages", SQ_ROUTE_CONSUMER_MESSAGES,
     &sq_api_consumer_messages_route},
};
const size_t sq_routes_count = SQ_ARRAY_LEN(sq_routes);
