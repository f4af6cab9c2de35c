/* Telling systemd about the server's state (sd_notify(3)'s protocol, without libsystemd): one
 * datagram of newline-separated assignments to the socket named by $NOTIFY_SOCKET. */
#ifndef SEQUIN_SDNOTIFY_H
#define SEQUIN_SDNOTIFY_H

#include "sequin/common.h"

/*
 * Sends `state` ("READY=1", "STATUS=serving", several joined by '\n") to $NOTIFY_SOCKET: a
 * filesystem path, or a socket in the abstract namespace when it starts with '@'. Returns 0
 * when the datagram was sent, and also when NOTIFY_SOCKET is unset or empty (not started by
 * systemd: there is nobody to tell). Returns -1 with errno set when the variable names
 * something else (EAFNOSUPPORT: e.g. a vsock address) or the send fails.
 */
SQ_WUR int sq_sdnotify(const char *state);

/* The same with printf-style formatting; a state longer than 4 KiB is refused (EMSGSIZE). */
SQ_WUR SQ_PRINTF(1, 2) int sq_sdnotifyf(const char *fmt, ...);

/*
 * "RELOADING=1" with "MONOTONIC_USEC=" (CLOCK_MONOTONIC now, in microseconds), which systemd
 * 253 and later require for Type=notify-reload and older ones ignore; `status` (may be NULL)
 * is sent along as STATUS=. Send READY=1 when the reload is over, whether it succeeded or not.
 */
SQ_WUR int sq_sdnotify_reloading(const char *status);

#endif
