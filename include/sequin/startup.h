/* What the master does before it forks a child: the rules a configuration must pass to run,
 * the schema migrated, the listening sockets bound. */
#ifndef SEQUIN_STARTUP_H
#define SEQUIN_STARTUP_H

#include <stddef.h>

#include "sequin/common.h"
#include "sequin/config.h"
#include "sequin/listen.h"

/*
 * The rules the master adds to the config loader's (they are about running, not parsing):
 * a listen address that is not loopback (sq_listen_is_loopback) needs auth.tokens, or
 * auth.allow_anonymous set to true. Used by --check-config, at start and at reload.
 * Returns 0, or -1 with `err` pointing at the address's line and column in cfg->source.
 */
SQ_WUR int sq_startup_check_config(const sq_config *cfg, sq_config_error *err);

/*
 * Brings the schema of cfg->database.url to this build's version (sq_store_migrate: safe when
 * several nodes start at once) and logs how many migrations and function files it applied.
 * Returns 0, or -1 after logging why.
 */
SQ_WUR int sq_startup_migrate(const sq_config *cfg);

/*
 * Binds every address of cfg->listen into `set` (release it with sq_listen_close), sets
 * `*fds` to a new array of their descriptors in the same order (the caller frees it) and
 * `names` (of `size` bytes) to their names separated by spaces, for the log. Returns 0, or -1
 * after logging why, with `set` empty and `*fds` NULL.
 */
SQ_WUR int sq_startup_bind(const sq_config *cfg, sq_listen_set *set, int **fds, char *names,
                           size_t size);

#endif
