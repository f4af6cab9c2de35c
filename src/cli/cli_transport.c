/* The sequin CLI's HTTP client over libcurl: the options every request shares, and one request
 * over the easy interface with its answer in memory. */
#include "sequin/cli.h"

#include <curl/curl.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 10000L
/* A plain request that takes longer than this is stuck; a long poll gets its wait on top. */
#define REQUEST_TIMEOUT_MS 60000L
/* Responses are API objects; a listing of 10,000 messages of large payloads stays far below. */
#define MAX_RESPONSE_BYTES (512L * 1024 * 1024)

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
    sq_buf *b = userdata;
    if (b->len + n > (size_t)MAX_RESPONSE_BYTES || sq_buf_append(b, p, size * n) != SQ_OK)
        return 0; /* curl then fails with CURLE_WRITE_ERROR */
    return size * n;
}

int sq_cli_curl_prepare(void *easy, const sq_cli_target *t, bool has_body, sq_buf *body,
                        struct curl_slist **headers, char *errbuf)
{
    CURL *c = easy;
    sq_buf auth = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (h == NULL)
        return SQ_ERR;
    /* curl_slist_append copies the string, and keeps the list intact when it fails. */
    if (t->token != NULL && (sq_buf_printf(&auth, "Authorization: Bearer %s", t->token) != SQ_OK ||
                             curl_slist_append(h, auth.data) == NULL))
        goto fail;
    if (has_body && curl_slist_append(h, "Content-Type: application/json") == NULL)
        goto fail;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sequin/" PACKAGE_VERSION);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    sq_buf_free(&auth);
    *headers = h;
    return SQ_OK;
fail:
    sq_buf_free(&auth);
    curl_slist_free_all(h);
    return SQ_ERR;
}

void sq_cli_curl_failure(void *easy, int code, const char *errbuf, const sq_cli_target *t,
                         char *err, size_t errlen)
{
    long os_errno = 0;
    CURLcode cc = (CURLcode)code;
    curl_easy_getinfo((CURL *)easy, CURLINFO_OS_ERRNO, &os_errno);
    /* "Connection refused" says more to a user than curl's sentence around it. */
    const char *why = cc == CURLE_COULDNT_CONNECT && os_errno != 0 ? strerror((int)os_errno)
                      : errbuf[0] != '\0'                          ? errbuf
                                                                   : curl_easy_strerror(cc);
    snprintf(err, errlen, "cannot reach %s: %s", t->server_url, why);
}

int sq_cli_send(const sq_cli_target *t, const sq_cli_request *req, sq_cli_response *resp, char *err,
                size_t errlen)
{
    int rc = SQ_ERR;
    char curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    sq_buf url = {0};
    *resp = (sq_cli_response){0};
    CURL *c = curl_easy_init();
    if (c == NULL || sq_buf_printf(&url, "%s%s", t->server_url, req->path.data) != SQ_OK ||
        sq_cli_curl_prepare(c, t, req->body.len > 0, &resp->body, &headers, curl_err) != SQ_OK) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (req->body.len > 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body.data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    }
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS + req->wait_ms);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        sq_cli_curl_failure(c, cc, curl_err, t, err, errlen);
        goto fail;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    rc = SQ_OK;
fail:
    if (rc != SQ_OK)
        sq_buf_free(&resp->body);
    curl_slist_free_all(headers);
    sq_buf_free(&url);
    curl_easy_cleanup(c);
    return rc;
}
