/* The streams, consumers and sources the config file declares (SPEC sections 5 and 8), applied
 * to the database by the master at start and on each reload. */
#ifndef SEQUIN_DECLARED_H
#define SEQUIN_DECLARED_H

#include <stddef.h>

#include "sequin/common.h"
#include "sequin/config.h"

/* What sq_declared_apply returns when the file itself is refused: a declared consumer would
 * change what cannot change (its filter or deliver_policy), or a declared source names a stream
 * that does not exist. */
#define SQ_DECLARED_REFUSED (-2)

/*
 * Creates the streams `cfg` declares ("default" is always among them; an existing stream is
 * left as it is), then reconciles the declared consumers (sq_store_reconcile) and sources
 * (sq_store_reconcile_sources) in one transaction: every declaration is applied or none. Logs
 * a line per stream created, a line per consumer and per source touched and a summary of each
 * (docs/operations.md, "Declared consumers", "Declared sources"). Opens a store connection of
 * its own on cfg->database.url and closes it before returning.
 *
 * Returns 0; SQ_DECLARED_REFUSED with `refusal` (of `size` bytes) set to
 * "FILE:LINE:COLUMN: why", nothing of the consumers and sources changed but the streams
 * perhaps created (a start then exits with SQ_EXIT_CONFIG, a reload keeps the running
 * configuration); or -1 after logging why (PostgreSQL failing).
 */
SQ_WUR int sq_declared_apply(const sq_config *cfg, char *refusal, size_t size);

#endif
