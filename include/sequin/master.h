/* The sequind master process: prepares the database, binds the sockets, forks and supervises
 * its children (children.h), and turns signals into reloads and stops. */
#ifndef SEQUIN_MASTER_H
#define SEQUIN_MASTER_H

#include "sequin/common.h"
#include "sequin/config.h"

/* sequind's exit statuses. Restart=on-failure in the systemd unit restarts after 1 but not
 * after SQ_EXIT_CONFIG (RestartPreventExitStatus=78): a broken file stays broken. */
#define SQ_EXIT_OK 0
#define SQ_EXIT_FAILURE 1 /* PostgreSQL, a socket, fork, or every worker exited fatally */
#define SQ_EXIT_USAGE 2   /* unknown option */
#define SQ_EXIT_CONFIG 78 /* EX_CONFIG of sysexits.h: the configuration is refused */

/*
 * Runs the master until it is stopped and returns sequind's exit status. `cfg` was loaded
 * from `config_path` and passed sq_startup_check_config; the master takes ownership of it.
 * `config_path` is re-read on SIGHUP and must stay valid.
 *
 * At start: applies cfg->log, connects to PostgreSQL, migrates the schema (startup.h),
 * creates the declared streams and reconciles the declared consumers (declared.h), binds every
 * listen address, forks the children of every row of sq_child_kinds (the workers:
 * cfg->workers, 0 = one per CPU) and sends READY=1 to systemd. A declared consumer the
 * reconcile refuses (a changed filter or deliver_policy) returns SQ_EXIT_CONFIG; any other
 * failure before READY=1 returns SQ_EXIT_FAILURE.
 * Then it supervises the children (respawns them by their kind's policy) and waits for
 * signals: SIGHUP reloads (a new generation of children), SIGTERM/SIGINT stop gracefully
 * (SQ_EXIT_OK), SIGQUIT kills the children and returns SQ_EXIT_OK at once. When every child of
 * a kind whose fatal status stops the master (the workers) has exited with it, the master
 * stops and returns SQ_EXIT_FAILURE. See docs/operations.md.
 */
SQ_WUR int sq_master_run(const char *config_path, sq_config *cfg);

#endif
