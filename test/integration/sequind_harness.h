/* What the tests of the real sequind share: starting it on a config file against the test
 * database, its log and sd_notify socket, free ports, and tearing it down. */
#ifndef SEQUIN_TEST_SEQUIND_HARNESS_H
#define SEQUIN_TEST_SEQUIND_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Every wait in these tests is bounded by one of these. */
#define START_MS 20000 /* READY=1 after a start (migrations included) */
#define EVENT_MS 10000 /* a respawn, a reload, a stop */
#define MAX_PIDS 16
#define MAX_SERVERS 16 /* servers of one test program at once */

struct server {
    pid_t pid;
    int port;
    int notify_fd;
    bool abstract_notify;
    int nofile; /* RLIMIT_NOFILE for sequind, or 0 to inherit the test's */
    char dir[64];
    char config[128];
    char log[128];
    char notify[128];
};

int64_t now_ms(void);
int64_t now_us(void); /* CLOCK_MONOTONIC, like now_ms */
void sleep_ms(int ms);
const char *db_url(void);
const char *builddir(void);
const char *sequind(void);
void write_file(const char *path, const char *text);
char *read_file(const char *path);
bool wait_exit(pid_t pid, int ms, int *status);
int free_port(void);
void write_config(struct server *s, const char *extra);
bool log_has(const struct server *s, const char *needle);
void wait_log(const struct server *s, const char *needle);
/* log_has and wait_log for what printf makes of `fmt` and the rest (a place in the config file,
 * for instance, which the log names by the file's path). */
bool log_hasf(const struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wait_logf(const struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool wait_notify(const struct server *s, const char *line, int ms);
/* Sends the master SIGHUP and waits for the reload to begin (RELOADING=1) and end (READY=1). */
void reload(const struct server *s);
size_t children_of(pid_t parent, pid_t *out, size_t max);
/* The HTTP workers among them (the master names each child "sequind-<kind>"). */
size_t workers_of(pid_t parent, pid_t *out, size_t max);
/* Forks sequind on the server's config (from the thread that lives as long as the test: the
 * kernel kills the server when the thread that forked it ends, see prctl(2) PR_SET_PDEATHSIG). */
void spawn_server(struct server *s);
/* A server's files, port and notify socket, not started yet. Every server is remembered until
 * teardown_server: one the test does not stop is stopped by the teardown of the test, or at the
 * latest when the program exits; a program that dies without exiting (abort, crash, kill) takes
 * its servers with it. */
struct server *new_server(bool abstract_notify);
struct server *started(bool abstract_notify, const char *extra);
/* Starts sequind on the harness's lines and `extra` and waits for it to refuse the file: it
 * must exit 78 (the configuration refused) before READY=1. */
void start_refused(struct server *s, const char *extra);
/* The cmocka teardown of every test that starts a server: kills the server in *state and every
 * other server the program started and has not torn down, removes their files; -1 when a
 * server's log holds a sanitizer report. */
int teardown_server(void **state);

#endif
