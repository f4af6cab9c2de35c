/* Between the CLI's command table (cli_request.c) and what builds each command's request and
 * checks its flag values (cli_build.c). Internal to src/cli/. */
#ifndef SEQUIN_CLI_BUILD_H
#define SEQUIN_CLI_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/cli.h"

/* A flag: how its value is read and shown. */
typedef struct opt_spec {
    const char *name;    /* without the dashes */
    bool takes_value;    /* false: a switch */
    long lo, hi;         /* an integer in lo..hi when lo <= hi */
    const char *choices; /* a value among these, space-separated, when not NULL */
    const char *metavar; /* for the usage */
} opt_spec;

/* Every flag, indexed by sq_cli_opt (cli_request.c). */
extern const opt_spec sq_cli_opts[SQ_OPT_COUNT];

/* A command: its words, arguments, flags, and the request it makes. */
typedef int (*build_fn)(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                        size_t errlen);

struct sq_cli_command {
    const char *group;      /* the first word */
    const char *name;       /* the words after it, space-separated; "": a command of one word */
    const char *args_usage; /* positional arguments, for the usage */
    int min_args, max_args; /* max_args -1: any number */
    uint64_t flags;         /* accepted beyond the global ones */
    build_fn build;         /* NULL: a local command (contexts, observe) */
    const char *method;     /* the request's */
    sq_cli_output output;   /* how its answer is shown */
    const char *summary;
};

/* Each builds the request of one command from its invocation: 0, or -1 with a usage error. */
int sq_cli_build_consumer_ack(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                              size_t errlen);
int sq_cli_build_consumer_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                              size_t errlen);
int sq_cli_build_consumer_edit(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                               size_t errlen);
int sq_cli_build_consumer_info(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                               size_t errlen);
int sq_cli_build_consumer_ls(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen);
int sq_cli_build_consumer_peek(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                               size_t errlen);
int sq_cli_build_consumer_receive(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                                  size_t errlen);
int sq_cli_build_consumer_rm(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen);
int sq_cli_build_item(const sq_cli_invocation *inv, sq_cli_request *req, char *err, size_t errlen);
int sq_cli_build_message_get(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen);
int sq_cli_build_message_ls(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                            size_t errlen);
int sq_cli_build_message_rm(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                            size_t errlen);
int sq_cli_build_message_upsert(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                                size_t errlen);
int sq_cli_build_source_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                            size_t errlen);
int sq_cli_build_stream_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                            size_t errlen);
int sq_cli_build_webhook_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen);

/* Each checks one flag's value: 0, or -1 with why in `err`. */
int sq_cli_check_filter(const char *value, char *err, size_t errlen);
int sq_cli_check_url(const char *value, char *err, size_t errlen);
int sq_cli_check_slot(const char *value, char *err, size_t errlen);
int sq_cli_check_publication(const char *value, char *err, size_t errlen);
int sq_cli_check_table(const char *value, char *err, size_t errlen);
int sq_cli_check_push_url(const char *value, char *err, size_t errlen);
int sq_cli_check_header(const char *value, char *err, size_t errlen);
int sq_cli_check_secret(const char *value, char *err, size_t errlen);

#endif
