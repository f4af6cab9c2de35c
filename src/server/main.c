/* sequind's entry point: the command line, --check-config, --hash-token, --version, then the
 * master process. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sequin/config.h"
#include "sequin/log.h"
#include "sequin/master.h"
#include "sequin/sha256.h"
#include "sequin/startup.h"

#ifndef SQ_SYSCONFDIR
#define SQ_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SQ_SYSCONFDIR "/sequin.yaml"

/* Longer than any token a person would make; a longer line is more likely a wrong file. */
#define TOKEN_MAX 4096

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sequind [-c FILE] [--check-config] [--hash-token] [--version] [--foreground]\n"
            "  -c, --config FILE  the configuration file (default: %s)\n"
            "  --check-config     validate the file and exit: 0 if it is valid, %d and\n"
            "                     FILE:LINE:COLUMN: message if not\n"
            "  --hash-token       read an API token (one line) on standard input and print its\n"
            "                     SHA-256, for auth.tokens[].sha256\n"
            "  --version          print the version and exit\n"
            "  --foreground       accepted for clarity: sequind never daemonizes (systemd\n"
            "                     runs it as Type=notify)\n"
            "  -h, --help         print this help and exit\n",
            DEFAULT_CONFIG, SQ_EXIT_CONFIG);
}

/* --hash-token: the SHA-256 of one line of standard input, in hex. */
static int hash_token(void)
{
    unsigned char digest[SQ_SHA256_LEN];
    char hex[2 * SQ_SHA256_LEN + 1];
    char *line = NULL;
    size_t cap = 0, len;
    ssize_t n;
    int status = SQ_EXIT_FAILURE;

    if (isatty(STDIN_FILENO))
        fputs("token: ", stderr);
    n = getline(&line, &cap, stdin);
    len = n > 0 ? (size_t)n : 0;
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0) {
        fputs("sequind: --hash-token: the token is empty (give it on standard input, one "
              "line)\n",
              stderr);
        goto fail;
    }
    if (len > TOKEN_MAX) {
        fprintf(stderr, "sequind: --hash-token: the token is longer than %d bytes\n", TOKEN_MAX);
        goto fail;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x21 || c > 0x7e) {
            fputs("sequind: --hash-token: a token may hold only visible ASCII characters, no "
                  "spaces: clients send it as \"Authorization: Bearer TOKEN\"\n",
                  stderr);
            goto fail;
        }
    }
    sq_sha256(line, len, digest);
    sq_sha256_hex(digest, hex);
    printf("%s\n", hex);
    status = fflush(stdout) == 0 ? SQ_EXIT_OK : SQ_EXIT_FAILURE;
fail:
    if (line != NULL)
        explicit_bzero(line, cap);
    free(line);
    return status;
}

int main(int argc, char **argv)
{
    enum {
        OPT_CHECK = 256,
        OPT_HASH,
        OPT_VERSION,
        OPT_FOREGROUND
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"hash-token", no_argument, NULL, OPT_HASH},
        {"version", no_argument, NULL, OPT_VERSION},
        {"foreground", no_argument, NULL, OPT_FOREGROUND},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = DEFAULT_CONFIG;
    bool check = false, hash = false, version = false;
    sq_config *cfg = NULL;
    sq_config_error err;
    char msg[sizeof err.file + sizeof err.message + 32];
    int c;

    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case OPT_CHECK:
            check = true;
            break;
        case OPT_HASH:
            hash = true;
            break;
        case OPT_VERSION:
            version = true;
            break;
        case OPT_FOREGROUND:
            break;
        case 'h':
            usage(stdout);
            return SQ_EXIT_OK;
        default:
            usage(stderr);
            return SQ_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sequind: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return SQ_EXIT_USAGE;
    }
    if (version) {
        printf("sequind %s\n", PACKAGE_VERSION);
        return fflush(stdout) == 0 ? SQ_EXIT_OK : SQ_EXIT_FAILURE;
    }
    if (hash)
        return hash_token();

    sq_log_set_process("master");
    if (sq_config_load_file(path, &cfg, &err) != 0 || sq_startup_check_config(cfg, &err) != 0) {
        sq_config_error_format(&err, msg, sizeof msg);
        /* --check-config prints the bare error line; a server start logs it. */
        if (check)
            fprintf(stderr, "%s\n", msg);
        else
            sq_error("%s", msg);
        sq_config_free(cfg);
        return SQ_EXIT_CONFIG;
    }
    if (check) {
        printf("%s: the configuration is valid\n", path);
        sq_config_free(cfg);
        return SQ_EXIT_OK;
    }
    return sq_master_run(path, cfg);
}
