/* What the tests of the postgres source share: the table public.orders in a source database (the
 * store's own, or one of another cluster), the source declared over it, a writer that keeps
 * changing it, a consumer that fails the test when a row's version goes back, and the checker
 * of "the stream equals the table" (docs/sources.md, "Guarantees"). Every wait is bounded. */
#ifndef SEQUIN_TEST_SOURCE_FIXTURE_H
#define SEQUIN_TEST_SOURCE_FIXTURE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#define SFX_SLOT "sequin_test_slot"
#define SFX_PUB "sequin_test_pub"
/* The consumer sfx_consumer creates: every message of the table. */
#define SFX_CONSUMER "orders"

/* A connection to the database at `url`; fails the test when refused. */
PGconn *sfx_connect(const char *url);

/* A fresh empty table public.orders (id int primary key, status text, total numeric: the row's
 * version, paid boolean, meta jsonb) in the database at `url`, without the slot and the
 * publication of an earlier test. */
void sfx_fresh(const char *url);

/* `n` rows into the table: ids 1..n, version (total) 1. */
void sfx_fill(const char *url, int n);

/* Drops the source's slot in the database at `url` when it is there: before the database can
 * be dropped, and before a test that wants its own. The servers must be stopped first (an
 * active slot cannot be dropped). */
void sfx_drop_slot(const char *url);

/* Empties the store for the next test: no source, no consumer, no message. */
void sfx_clear_store(void);

/* Declares source mydb over the table of the database at `url`, as the config file and the API
 * will: a row of sequin.sources that the sources process picks up within a second. */
void sfx_add_source(const char *url, const char *key_format, bool backfill);

/* Creates consumer SFX_CONSUMER of the default stream on the server at `port`. */
void sfx_consumer(int port);

/* The pid of the walsender that streams the slot in the database at `url`: 0 when none does,
 * -1 when the database cannot be reached (it may be restarting). */
int sfx_active_pid(const char *url);

/* Waits until a walsender other than `not_pid` (0: any) streams the slot; its pid. Fails the
 * test after `ms`, showing the source's report. */
int sfx_wait_streaming(const char *url, int not_pid, int ms);

/* The checker: how many rows of the table the stream does not hold as they are, plus how many
 * messages of the stream hold a row the table does not (deleted rows' messages say so); -1
 * when either database cannot be reached. The table may be in another cluster than the store. */
long long sfx_mismatches(const char *url);

/* A thread that changes the table in small transactions until stopped: updates raise a row's
 * version `total`, so a consumer can tell an older version from a newer one; inserts take fresh
 * ids and deletes remove rows for good, so a version never starts over. It rides out a lost
 * connection (a restarted PostgreSQL): it connects again and goes on. */
struct sfx_writer {
    const char *url;
    int rows; /* ids 1..rows exist at the start; fresh ones go up to 2 * rows */
    int fresh;
    unsigned seed;
    atomic_bool stop;
    pthread_t thread;
    long changes, inserts, failures; /* read once the thread is joined */
};

/* Starts `w` (zeroed before its first start) on the table of the database at `url` whose ids
 * are 1..`rows`. A writer may be started again after sfx_writer_stop: it goes on where it
 * stopped (fresh ids never repeat). `w` must outlive the test function (static): a failed
 * assertion leaves the function while the writer runs, and only the teardown stops it. */
void sfx_writer_start(struct sfx_writer *w, const char *url, int rows);
/* Stops `w` and waits for its thread; nothing when it does not run. */
void sfx_writer_stop(struct sfx_writer *w);
/* Stops every writer still running: for the teardown of a test that starts one. */
void sfx_stop_writers(void);

/* What the consumer saw of each row: by id, the last version (total), -1 nothing yet, -2
 * deleted. */
struct sfx_seen {
    long *version;
    size_t n; /* ids 0..n-1 */
    long received;
};

void sfx_seen_init(struct sfx_seen *seen, size_t n);
void sfx_seen_free(struct sfx_seen *seen);

/* Receives and acks what consumer SFX_CONSUMER of the server at `port` has, batches of up to
 * 200, waiting up to `wait_ms` for the first. Fails the test when a row's version goes back: an
 * older version after a newer one, or the row after its deletion. A server that does not
 * answer (killed, or its database restarting) ends it early: what was not acked comes again.
 * How many messages came. */
int sfx_drain(int port, struct sfx_seen *seen, int wait_ms);

/* Drains until the checker finds the stream equal to the table of the database at `url`, then
 * until the consumer has nothing left; fails the test after `ms`, showing what differs. How
 * long the stream took to equal the table (ms). */
int64_t sfx_wait_equal(int port, struct sfx_seen *seen, const char *url, int ms);

/* The consumer's last view of each row is the table's: every row at its version, and every id
 * the table does not hold seen deleted or never seen. */
void sfx_check_seen(const struct sfx_seen *seen, const char *url);

#endif
