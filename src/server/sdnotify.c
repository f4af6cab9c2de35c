/* The systemd notification protocol over an AF_UNIX datagram socket (sequin/sdnotify.h). */
#include "sequin/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAX 4096

int sq_sdnotify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen;
    socklen_t salen;
    ssize_t n;
    int fd, saved;

    if (path == NULL || path[0] == '\0')
        return 0;
    if (path[0] != '/' && path[0] != '@') {
        errno = EAFNOSUPPORT;
        return -1;
    }
    plen = strlen(path);
    if (plen > sizeof sa.sun_path || (path[0] == '/' && plen == sizeof sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, plen);
    /* An abstract address starts with a NUL and has exactly plen bytes: no terminator. */
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/'));

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    do
        n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
    while (n < 0 && errno == EINTR);
    saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 0;
}

int sq_sdnotifyf(const char *fmt, ...)
{
    char state[STATE_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(state, sizeof state, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof state) {
        errno = EMSGSIZE;
        return -1;
    }
    return sq_sdnotify(state);
}

int sq_sdnotify_reloading(const char *status)
{
    struct timespec ts;
    unsigned long long usec;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    usec = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
    if (status != NULL)
        return sq_sdnotifyf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s", usec, status);
    return sq_sdnotifyf("RELOADING=1\nMONOTONIC_USEC=%llu", usec);
}
