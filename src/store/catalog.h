/* Every statement the store runs, named by an enum: the catalog that each connection prepares
 * once, and that calls name their statements from. Internal to src/store/. */
#ifndef SEQUIN_STORE_CATALOG_H
#define SEQUIN_STORE_CATALOG_H

typedef enum sq_stmt_id {
    /* streams */
    SQ_STMT_STREAM_NUM,
    SQ_STMT_STREAM_CREATE,
    SQ_STMT_STREAM_GET,
    SQ_STMT_STREAM_LIST,
    SQ_STMT_STREAM_DELETE,
    /* messages */
    SQ_STMT_UPSERT,
    SQ_STMT_NOTIFY,
    SQ_STMT_LISTEN,
    SQ_STMT_MESSAGE_LIST_ASC,
    SQ_STMT_MESSAGE_LIST_DESC,
    SQ_STMT_MESSAGE_RANGE_ASC,
    SQ_STMT_MESSAGE_RANGE_DESC,
    SQ_STMT_MESSAGE_GET,
    SQ_STMT_MESSAGE_INFO,
    SQ_STMT_MESSAGE_DELETE,
    /* consumers */
    SQ_STMT_CONSUMER_CREATE,
    SQ_STMT_CONSUMER_GET,
    SQ_STMT_RESOLVE,
    SQ_STMT_CONSUMER_LIST,
    SQ_STMT_CONSUMER_LIST_ALL,
    SQ_STMT_CONSUMER_EDIT,
    SQ_STMT_CONSUMER_DELETE,
    SQ_STMT_RECONCILE,
    SQ_STMT_RECONCILE_SOURCES,
    SQ_STMT_RECEIVE,
    SQ_STMT_CONSUMER_MESSAGES,
    SQ_STMT_ACK,
    SQ_STMT_NACK,
    SQ_STMT_EXTEND,
    SQ_STMT_REDRIVE,
    SQ_STMT_NEXT_VISIBLE,
    SQ_STMT_PUSH_CONSUMERS,
    /* sources */
    SQ_STMT_SOURCE_LIST,
    SQ_STMT_SOURCE_LOCK,
    SQ_STMT_SOURCE_APPLIED,
    SQ_STMT_SOURCE_APPLY,
    SQ_STMT_SOURCE_REPORT,
    SQ_STMT_BACKFILL_LIST,
    SQ_STMT_BACKFILL_ADD,
    SQ_STMT_BACKFILL_PROGRESS,
    SQ_STMT_TXN_BEGIN,
    SQ_STMT_TXN_COMMIT,
    SQ_STMT_TXN_ROLLBACK,
    /* sources, as the API shows them */
    SQ_STMT_SOURCE_OBJECTS,
    SQ_STMT_SOURCE_GET,
    SQ_STMT_SOURCE_CREATE,
    SQ_STMT_SOURCE_DELETE,
    /* webhooks */
    SQ_STMT_WEBHOOK_GET,
    SQ_STMT_COUNT
} sq_stmt_id;

/* A statement: the name it is prepared under, its SQL and its parameters' type OIDs (0: let
 * PostgreSQL infer it; such a parameter is always sent as text). */
typedef struct sq_statement {
    const char *name;
    const char *sql;
    int nparams;
    unsigned types[12];
} sq_statement;

/* The statement `id` (< SQ_STMT_COUNT); static storage. */
const sq_statement *sq_catalog(sq_stmt_id id);

#endif
