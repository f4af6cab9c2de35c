/* The sequin CLI's contexts: named server URLs and tokens under the user's config directory,
 * one file per context, and the choice of where a request goes. */
#include "sequin/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sequin/json.h"
#include "sequin/keys.h"

/*
 * Layout: DIR/contexts/NAME holds "server_url=URL\n" and optionally "token=TOKEN\n"; DIR/default
 * holds the default context's name. DIR and DIR/contexts are 0700 and every file 0600: a
 * token is a password. Context names follow the stream name rule, so a name is never a path.
 */

int sq_cli_config_dir(sq_buf *out)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg != NULL && xdg[0] == '/')
        return sq_buf_printf(out, "%s/sequin", xdg);
    if (home != NULL && home[0] != '\0')
        return sq_buf_printf(out, "%s/.config/sequin", home);
    return SQ_ERR;
}

/* DIR/rel into `out`. */
static int config_path(sq_buf *out, const char *rel)
{
    if (sq_cli_config_dir(out) != SQ_OK)
        return SQ_ERR;
    return rel != NULL ? sq_buf_printf(out, "/%s", rel) : SQ_OK;
}

/* Reads a small file whole; NULL when it does not exist or cannot be read. free() it. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    sq_buf b = {0};
    char chunk[1024];
    size_t n;
    if (f == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (sq_buf_append(&b, chunk, n) != SQ_OK)
            break;
    fclose(f);
    return sq_buf_steal(&b, NULL);
}

/* The value of "name=" in a context file, allocated; NULL when absent. */
static char *field_of(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (len > n && memcmp(line, name, n) == 0 && line[n] == '=')
            return strndup(line + n + 1, len - n - 1);
        line = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

/* Writes `text` to `path` through a temporary file created 0600, then renames it. */
static int write_private(const char *path, const char *text)
{
    sq_buf tmp = {0};
    int rc = SQ_ERR, fd = -1;
    if (sq_buf_printf(&tmp, "%s.tmp", path) != SQ_OK)
        goto fail;
    fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp.data, path) != 0)
        goto fail;
    rc = SQ_OK;
fail:
    if (fd >= 0)
        close(fd);
    if (rc != SQ_OK && tmp.data != NULL)
        unlink(tmp.data);
    sq_buf_free(&tmp);
    return rc;
}

/* Creates DIR and DIR/contexts (0700) when missing. */
static int make_dirs(void)
{
    sq_buf dir = {0};
    int rc = SQ_ERR;
    if (config_path(&dir, NULL) != SQ_OK)
        goto fail;
    /* The parent (~/.config) may be missing too; it is not ours to restrict. */
    char *slash = strrchr(dir.data, '/');
    if (slash != NULL && slash != dir.data) {
        *slash = '\0';
        if (mkdir(dir.data, 0755) != 0 && errno != EEXIST)
            goto fail;
        *slash = '/';
    }
    if ((mkdir(dir.data, 0700) != 0 && errno != EEXIST) || sq_buf_puts(&dir, "/contexts") ||
        (mkdir(dir.data, 0700) != 0 && errno != EEXIST))
        goto fail;
    rc = SQ_OK;
fail:
    sq_buf_free(&dir);
    return rc;
}

/* DIR/contexts/NAME into `out`. */
static int context_path(sq_buf *out, const char *name)
{
    return config_path(out, "contexts/") == SQ_OK ? sq_buf_puts(out, name) : SQ_ERR;
}

static char *default_name(void)
{
    sq_buf p = {0};
    char *name = NULL;
    if (config_path(&p, "default") == SQ_OK)
        name = slurp(p.data);
    sq_buf_free(&p);
    if (name != NULL)
        name[strcspn(name, "\n")] = '\0';
    if (name != NULL && !sq_name_is_valid(name, strlen(name))) {
        free(name);
        name = NULL;
    }
    return name;
}

/* The text of context `name`, or NULL when there is none. */
static char *load_context(const char *name)
{
    sq_buf p = {0};
    char *text = NULL;
    if (sq_name_is_valid(name, strlen(name)) && context_path(&p, name) == SQ_OK)
        text = slurp(p.data);
    sq_buf_free(&p);
    return text;
}

static void trim_slash(char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
}

int sq_cli_resolve_target(const char *name, sq_cli_target *t, char *err, size_t errlen)
{
    *t = (sq_cli_target){0};
    char *chosen = name != NULL ? NULL : default_name();
    const char *use = name != NULL ? name : chosen;
    char *text = use != NULL ? load_context(use) : NULL;
    int rc = SQ_ERR;
    if (use != NULL && text == NULL) {
        snprintf(err, errlen, "no context named \"%s\" (see: sequin context ls)", use);
        goto fail;
    }
    if (text != NULL) {
        t->server_url = field_of(text, "server_url");
        t->token = field_of(text, "token");
    } else {
        const char *url = getenv("SEQUIN_URL"), *token = getenv("SEQUIN_TOKEN");
        t->server_url = strdup(url != NULL && url[0] != '\0' ? url : SQ_CLI_DEFAULT_URL);
        t->token = token != NULL && token[0] != '\0' ? strdup(token) : NULL;
    }
    if (t->server_url == NULL) {
        snprintf(err, errlen, "context \"%s\" has no server_url", use);
        goto fail;
    }
    trim_slash(t->server_url);
    rc = SQ_OK;
fail:
    if (rc != SQ_OK)
        sq_cli_target_free(t);
    free(text);
    free(chosen);
    return rc;
}

void sq_cli_target_free(sq_cli_target *t)
{
    free(t->server_url);
    free(t->token);
    *t = (sq_cli_target){0};
}

static int set_default(const char *name)
{
    sq_buf p = {0}, text = {0};
    int rc = SQ_ERR;
    if (config_path(&p, "default") == SQ_OK && sq_buf_printf(&text, "%s\n", name) == SQ_OK)
        rc = write_private(p.data, text.data);
    sq_buf_free(&p);
    sq_buf_free(&text);
    return rc;
}

static int context_add(const sq_cli_invocation *inv, FILE *out, FILE *err)
{
    const char *name = inv->args[0], *url = inv->opt[SQ_OPT_SERVER_URL];
    const char *token = inv->opt[SQ_OPT_TOKEN];
    sq_buf p = {0}, text = {0};
    int status = SQ_CLI_EXIT_SERVER;
    if (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        strchr(url, '\n') != NULL || (token != NULL && strchr(token, '\n') != NULL)) {
        fprintf(err, "sequin: context add needs --server-url http://HOST:PORT (or https://), "
                     "and a token on one line\n");
        sq_cli_usage(err, inv);
        return SQ_CLI_EXIT_USAGE;
    }
    if (make_dirs() != SQ_OK || context_path(&p, name) != SQ_OK ||
        sq_buf_printf(&text, "server_url=%s\n", url) != SQ_OK ||
        (token != NULL && sq_buf_printf(&text, "token=%s\n", token) != SQ_OK) ||
        write_private(p.data, text.data) != SQ_OK) {
        fprintf(err, "sequin: cannot save context \"%s\": %s\n", name, strerror(errno));
        goto done;
    }
    if (inv->opt[SQ_OPT_SET_DEFAULT] != NULL && set_default(name) != SQ_OK) {
        fprintf(err, "sequin: cannot make \"%s\" the default: %s\n", name, strerror(errno));
        goto done;
    }
    fprintf(out, "Saved context %s%s.\n", name,
            inv->opt[SQ_OPT_SET_DEFAULT] != NULL ? " (the default)" : "");
    status = SQ_CLI_EXIT_OK;
done:
    sq_buf_free(&p);
    sq_buf_free(&text);
    return status;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int context_ls(const sq_cli_invocation *inv, FILE *out, FILE *err)
{
    sq_buf dir = {0};
    sq_arena a = {0};
    char *def = default_name();
    const char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = NULL;
    if (config_path(&dir, "contexts") == SQ_OK)
        d = opendir(dir.data);
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        if (!sq_name_is_valid(e->d_name, strlen(e->d_name)))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            const char **grown = sq_arena_calloc(&a, cap, sizeof *grown);
            if (grown == NULL)
                break;
            if (n > 0)
                memcpy(grown, names, n * sizeof *names);
            names = grown;
        }
        names[n++] = sq_arena_strdup(&a, e->d_name);
    }
    if (d != NULL)
        closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, name_cmp);
    const char **cells = sq_arena_calloc(&a, (n + 1) * 4, sizeof *cells);
    if (cells == NULL && n > 0) {
        fprintf(err, "sequin: out of memory\n");
        n = 0;
    }
    if (inv->opt[SQ_OPT_JSON] != NULL)
        fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        char *text = load_context(names[i]);
        char *url = text != NULL ? field_of(text, "server_url") : NULL;
        char *token = text != NULL ? field_of(text, "token") : NULL;
        bool is_def = def != NULL && strcmp(def, names[i]) == 0;
        if (inv->opt[SQ_OPT_JSON] != NULL) {
            sq_buf j = {0};
            sq_json_writer w;
            sq_json_writer_init(&w, &j);
            if (sq_json_write_begin_object(&w) || sq_json_write_key(&w, "name") ||
                sq_json_write_string(&w, names[i]) || sq_json_write_key(&w, "server_url") ||
                sq_json_write_string(&w, url != NULL ? url : "") ||
                sq_json_write_key(&w, "has_token") || sq_json_write_bool(&w, token != NULL) ||
                sq_json_write_key(&w, "default") || sq_json_write_bool(&w, is_def) ||
                sq_json_write_end_object(&w) || sq_json_writer_finish(&w))
                fprintf(err, "sequin: out of memory\n");
            else
                fprintf(out, "%s%s", i > 0 ? "," : "", j.data);
            sq_buf_free(&j);
        } else {
            cells[(i + 1) * 4 + 0] = is_def ? "*" : "";
            cells[(i + 1) * 4 + 1] = names[i];
            cells[(i + 1) * 4 + 2] = sq_arena_strdup(&a, url != NULL ? url : "");
            cells[(i + 1) * 4 + 3] = token != NULL ? "yes" : "no";
        }
        free(text);
        free(url);
        free(token);
    }
    if (inv->opt[SQ_OPT_JSON] != NULL) {
        fputs("]\n", out);
    } else if (n == 0) {
        fputs("No contexts. Add one with: sequin context add NAME --server-url URL\n", out);
    } else {
        cells[0] = "DEFAULT";
        cells[1] = "NAME";
        cells[2] = "SERVER_URL";
        cells[3] = "TOKEN";
        sq_cli_print_table(out, cells, n + 1, 4);
    }
    free(def);
    sq_arena_free(&a);
    sq_buf_free(&dir);
    return SQ_CLI_EXIT_OK;
}

static int context_select(const sq_cli_invocation *inv, FILE *out, FILE *err)
{
    const char *name = inv->args[0];
    char *text = load_context(name);
    int status = SQ_CLI_EXIT_SERVER;
    if (text == NULL)
        fprintf(err, "sequin: no context named \"%s\"\n", name);
    else if (make_dirs() != SQ_OK || set_default(name) != SQ_OK)
        fprintf(err, "sequin: cannot make \"%s\" the default: %s\n", name, strerror(errno));
    else {
        fprintf(out, "Context %s is now the default.\n", name);
        status = SQ_CLI_EXIT_OK;
    }
    free(text);
    return status;
}

static int context_rm(const sq_cli_invocation *inv, FILE *out, FILE *err)
{
    const char *name = inv->args[0];
    sq_buf p = {0};
    char *def = default_name();
    int status = SQ_CLI_EXIT_SERVER;
    if (!sq_name_is_valid(name, strlen(name)) || context_path(&p, name) != SQ_OK ||
        unlink(p.data) != 0) {
        fprintf(err, "sequin: no context named \"%s\"\n", name);
        goto done;
    }
    if (def != NULL && strcmp(def, name) == 0) {
        sq_buf_reset(&p);
        if (config_path(&p, "default") == SQ_OK)
            (void)unlink(p.data);
    }
    fprintf(out, "Deleted context %s.\n", name);
    status = SQ_CLI_EXIT_OK;
done:
    free(def);
    sq_buf_free(&p);
    return status;
}

int sq_cli_context_run(const sq_cli_invocation *inv, FILE *out, FILE *err)
{
    if (inv->nargs > 0 && !sq_name_is_valid(inv->args[0], strlen(inv->args[0]))) {
        fprintf(err,
                "sequin: invalid context name \"%s\": 1 to 64 ASCII letters, digits or "
                "underscores\n",
                inv->args[0]);
        return SQ_CLI_EXIT_USAGE;
    }
    if (sq_cli_is(inv, "context", "add"))
        return context_add(inv, out, err);
    if (sq_cli_is(inv, "context", "ls"))
        return context_ls(inv, out, err);
    if (sq_cli_is(inv, "context", "select"))
        return context_select(inv, out, err);
    return context_rm(inv, out, err);
}
