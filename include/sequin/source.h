/* Sources (SPEC 8): what a source is (its settings, checked and read from JSON), and the process
 * that runs the sources of this node, one thread each. */
#ifndef SEQUIN_SOURCE_H
#define SEQUIN_SOURCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "sequin/buf.h"
#include "sequin/change.h"
#include "sequin/common.h"
#include "sequin/config.h"
#include "sequin/pgoutput.h"
#include "sequin/source_rules.h"

/*
 * The session settings of both connections to a source database (the replication one, whose
 * walsender writes the values of changes, and the plain one, which reads backfill pages): the
 * text of a value is then the same whichever way it comes, and does not follow the database's
 * or the role's defaults (a timestamp in ISO form and UTC, an interval in PostgreSQL's form,
 * floats exact on every version).
 */
#define SQ_SOURCE_SESSION_OPTIONS                                                                  \
    "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=3"

/*
 * A postgres source as the store holds it: the row of sequin.sources with its settings read.
 * Strings live in `arena`; release with sq_source_def_free.
 */
typedef struct sq_source_def {
    char id[37];
    int num;    /* the source's number: its advisory lock */
    int stream; /* the number of the stream it writes into */
    const char *name;
    const char *settings; /* the settings' JSON text, as stored: a change restarts the source */
    const char *url;
    const char *slot;
    const char *publication;
    const char **tables; /* "schema.table" each */
    size_t ntables;
    sq_key_format key_format;
    bool backfill;
    sq_arena arena;
} sq_source_def;

/*
 * Reads a source's settings JSON ({"url","slot","publication","tables","key_format","backfill"})
 * into `def` (its strings in def->arena). Every setting is checked by the rules the config file's
 * `sources:` is checked by (sequin/source_rules.h): slot a lower-case replication slot name,
 * publication and table names `[a-zA-Z0-9_]+` (a table as schema.table, schema public when left
 * out). 0, or -1 with a sentence in `err` naming the setting.
 */
SQ_WUR int sq_source_settings_read(const char *json, size_t len, sq_source_def *def, char *err,
                                   size_t errlen);

/* Writes settings as sq_source_settings_read reads them (one canonical form, so that equal
 * settings are equal text). */
SQ_WUR int sq_source_settings_write(const sq_source_def *def, sq_buf *out);

void sq_source_def_free(sq_source_def *def);

/*
 * Appends `url` (a libpq URI or key=value connection string) to `out` with its password
 * replaced by ****, where libpq would find one: the URI's user info (user:secret@), a
 * `password` parameter of its query, a `password` keyword of the key=value form (whatever
 * follows a malformed one). What the API and the logs show of a source's URL. 0, or -1 out of
 * memory.
 */
SQ_WUR int sq_source_url_redact(const char *url, sq_buf *out);

/*
 * Runs one source until `*stop` turns true: takes its lock in the store (or waits for the node
 * that holds it to let go), checks and prepares the source database (publication, slot,
 * tables), streams the slot into the stream, and starts over with a backoff after any error,
 * reporting its state to the store as it goes. `store_url` is the stream's database.
 */
void sq_source_run(const sq_source_def *def, const char *store_url, const atomic_bool *stop);

/*
 * The sources process (a child kind of the master): runs every source of the store in a thread
 * of its own, starting, restarting and stopping them as the store's list changes (polled every
 * second), until SIGTERM. Returns the process's exit status.
 */
int sq_source_process_run(const sq_config *cfg);

#endif
