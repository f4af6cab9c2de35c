/* The sequind master process: prepares the database, binds the sockets, forks and supervises
 * the workers, and turns signals into reloads and stops. */
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
 * The rules the master adds to the config loader's (they are about running, not parsing):
 * a listen address that is not loopback (sq_listen_is_loopback) needs auth.tokens, or
 * auth.allow_anonymous set to true. Used by --check-config, at start and at reload.
 * Returns 0, or -1 with `err` pointing at the address's line and column in cfg->source.
 */
SQ_WUR int sq_master_check_config(const sq_config *cfg, sq_config_error *err);

/*
 * Runs the master until it is stopped and returns sequind's exit status. `cfg` was loaded
 * from `config_path` and passed sq_master_check_config; the master takes ownership of it.
 * `config_path` is re-read on SIGHUP and must stay valid.
 *
 * At start: applies cfg->log, connects to PostgreSQL, migrates the schema, creates the
 * declared streams, reconciles the declared consumers, binds every listen address, forks the
 * workers (cfg->workers, 0 = one per CPU) and sends READY=1 to systemd. A declared consumer
 * the reconcile refuses (a changed filter or deliver_policy) returns SQ_EXIT_CONFIG; any other
 * failure before READY=1 returns SQ_EXIT_FAILURE.
 * Then it waits for signals: SIGHUP reloads, SIGTERM/SIGINT stop gracefully (SQ_EXIT_OK),
 * SIGQUIT kills the workers and returns SQ_EXIT_OK at once. See docs/operations.md.
 */
SQ_WUR int sq_master_run(const char *config_path, sq_config *cfg);

#endif
