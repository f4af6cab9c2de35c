/* The listening sockets of sequind: the config's listen addresses resolved, bound and
 * listening, one non-blocking socket per address, shared by every worker. */
#ifndef SEQUIN_LISTEN_H
#define SEQUIN_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sequin/common.h"
#include "sequin/config.h"

/* One bound address. A hostname gives one listener per address it resolves to. */
typedef struct sq_listener {
    int fd;                          /* listening, non-blocking, close-on-exec */
    char name[64];                   /* as bound, for logs: "127.0.0.1:7376", "[::1]:7376" */
    const sq_config_listen *entry;   /* the config entry it comes from */
    struct sockaddr_storage address; /* as bound */
    socklen_t address_len;
} sq_listener;

/* Every listener of a configuration. A zero-initialised set is a valid empty one. */
typedef struct sq_listen_set {
    sq_listener *items;
    size_t count;
} sq_listen_set;

/*
 * True if `entry` names a loopback host as written: an IPv4 address in 127.0.0.0/8, the IPv6
 * address ::1 (or ::ffff:127.x.y.z), or the name "localhost". Any other hostname counts as
 * not loopback: whether an address may be served without authentication is not left to DNS.
 */
bool sq_listen_is_loopback(const sq_config_listen *entry);

/*
 * Resolves, binds and listens on every address of `list` (SO_REUSEADDR; IPv6 sockets are
 * IPV6_V6ONLY, so "[::]:P" and "0.0.0.0:P" are two separate sockets). A hostname is resolved
 * with getaddrinfo and every distinct address it gives is bound; one of them failing with
 * EADDRNOTAVAIL or EAFNOSUPPORT (::1 on a host without IPv6) is logged and skipped as long as
 * another address of the same entry was bound. "localhost" must resolve to loopback addresses
 * only, or the entry is refused (see sq_listen_is_loopback).
 *
 * Returns 0 with `out` filled (release it with sq_listen_close), or -1 with a sentence naming
 * the address and its line and column in `err` and `out` left empty.
 * `out` keeps pointers into `list`: the list must outlive the set.
 */
SQ_WUR int sq_listen_open(const sq_config_listen_list *list, sq_listen_set *out, char *err,
                          size_t errlen);

/* Closes every socket and releases the set, leaving it empty. An empty set is a no-op. */
void sq_listen_close(sq_listen_set *set);

#endif
