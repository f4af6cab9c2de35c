/* Binds the listen addresses of the configuration: resolution, socket options, listen(2). */
#include "sequin/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sequin/log.h"

/* Connections the kernel may queue per socket before a worker accepts them; Linux caps it at
 * net.core.somaxconn. A burst of clients reconnecting after a restart should not be refused. */
#define LISTEN_BACKLOG 4096

static bool sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

bool sq_listen_is_loopback(const sq_config_listen *entry)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

    if (strcasecmp(entry->host, "localhost") == 0)
        return true;
    if (entry->ipv6)
        return inet_pton(AF_INET6, entry->host, &in6.sin6_addr) == 1 &&
               sockaddr_is_loopback((const struct sockaddr *)&in6);
    return inet_pton(AF_INET, entry->host, &in.sin_addr) == 1 &&
           sockaddr_is_loopback((const struct sockaddr *)&in);
}

/* "127.0.0.1:7376" or "[::1]:7376" for a bound address. */
static void format_address(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, size, "?");
        return;
    }
    snprintf(buf, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* A listening socket on `ai`. 0 with *fd set, or -1 with errno and *what (the failing step). */
static int bind_one(const struct addrinfo *ai, int *fd, const char **what)
{
    int one = 1, saved;
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);

    *what = "socket";
    if (s < 0)
        return -1;
    /* Restarting while old connections sit in TIME_WAIT must not fail with EADDRINUSE. */
    *what = "setsockopt(SO_REUSEADDR)";
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        goto fail;
    /* "[::]:P" then means IPv6 only, as written, and "0.0.0.0:P" can be listed beside it. */
    *what = "setsockopt(IPV6_V6ONLY)";
    if (ai->ai_family == AF_INET6 &&
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
        goto fail;
    *what = "bind";
    if (bind(s, ai->ai_addr, ai->ai_addrlen) != 0)
        goto fail;
    *what = "listen";
    if (listen(s, LISTEN_BACKLOG) != 0)
        goto fail;
    *fd = s;
    return 0;
fail:
    saved = errno;
    close(s);
    errno = saved;
    return -1;
}

static const sq_listener *find_bound(const sq_listen_set *set, const struct addrinfo *ai)
{
    for (size_t i = 0; i < set->count; i++) {
        const sq_listener *l = &set->items[i];
        if (l->address_len == ai->ai_addrlen &&
            memcmp(&l->address, ai->ai_addr, l->address_len) == 0)
            return l;
    }
    return NULL;
}

/* Binds every address `entry` resolves to, appending to `set` (room for `cap` items is
 * grown as needed). 0, or -1 with `err` filled. */
static int open_entry(const sq_config_listen *entry, sq_listen_set *set, size_t *cap, char *err,
                      size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8], name[64];
    const char *what = NULL;
    bool literal = entry->ipv6;
    size_t bound = 0;
    int rc = -1, gai, failed_errno = 0;

    if (!entry->ipv6) {
        struct in_addr a4;
        literal = inet_pton(AF_INET, entry->host, &a4) == 1;
    }
    hints.ai_family = entry->ipv6 ? AF_INET6 : literal ? AF_INET : AF_UNSPEC;
    if (literal)
        hints.ai_flags |= AI_NUMERICHOST;
    snprintf(port, sizeof port, "%d", entry->port);
    gai = getaddrinfo(entry->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve listen address %s (line %d, column %d): %s",
                 entry->address, entry->line, entry->column,
                 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return -1;
    }
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        const sq_listener *dup = find_bound(set, ai);
        int fd;

        format_address(ai->ai_addr, ai->ai_addrlen, name, sizeof name);
        if (dup != NULL) {
            if (dup->entry != entry)
                sq_warn("listen address %s (line %d) is already bound for %s (line %d)",
                        entry->address, entry->line, dup->entry->address, dup->entry->line);
            bound++;
            continue;
        }
        if (strcasecmp(entry->host, "localhost") == 0 && !sockaddr_is_loopback(ai->ai_addr)) {
            snprintf(err, errlen,
                     "listen address %s (line %d, column %d) resolves to %s, which is not a "
                     "loopback address: fix /etc/hosts or write the address itself",
                     entry->address, entry->line, entry->column, name);
            goto fail;
        }
        if (bind_one(ai, &fd, &what) != 0) {
            failed_errno = errno;
            /* A name such as localhost may resolve to ::1 on a host without IPv6. */
            if (!literal && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)) {
                sq_warn("listen address %s: not listening on %s: %s", entry->address, name,
                        strerror(errno));
                continue;
            }
            snprintf(err, errlen, "cannot listen on %s (line %d, column %d): %s: %s",
                     entry->address, entry->line, entry->column, what, strerror(errno));
            goto fail;
        }
        if (set->count == *cap) {
            size_t n = *cap ? *cap * 2 : 4;
            sq_listener *items = realloc(set->items, n * sizeof *items);
            if (items == NULL) {
                close(fd);
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            set->items = items;
            *cap = n;
        }
        sq_listener *l = &set->items[set->count++];
        memset(l, 0, sizeof *l);
        l->fd = fd;
        l->entry = entry;
        memcpy(&l->address, ai->ai_addr, ai->ai_addrlen);
        l->address_len = ai->ai_addrlen;
        snprintf(l->name, sizeof l->name, "%s", name);
        bound++;
    }
    if (bound == 0) {
        snprintf(err, errlen, "cannot listen on %s (line %d, column %d): %s: %s", entry->address,
                 entry->line, entry->column, what != NULL ? what : "getaddrinfo",
                 failed_errno != 0 ? strerror(failed_errno) : "no address");
        goto fail;
    }
    rc = 0;
fail:
    freeaddrinfo(res);
    return rc;
}

int sq_listen_open(const sq_config_listen_list *list, sq_listen_set *out, char *err, size_t errlen)
{
    sq_listen_set set = {0};
    size_t cap = 0;

    out->items = NULL;
    out->count = 0;
    for (size_t i = 0; i < list->count; i++) {
        if (open_entry(&list->items[i], &set, &cap, err, errlen) != 0) {
            sq_listen_close(&set);
            return -1;
        }
    }
    *out = set;
    return 0;
}

void sq_listen_close(sq_listen_set *set)
{
    for (size_t i = 0; i < set->count; i++)
        close(set->items[i].fd);
    free(set->items);
    set->items = NULL;
    set->count = 0;
}
