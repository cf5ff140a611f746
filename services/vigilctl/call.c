/* call.c: how vigilctl reaches a service's admin endpoint.
 *
 * By default a service named S answers on ipc://<state>/S.admin; --endpoint
 * overrides that. A tcp:// endpoint runs CURVE: vigilctl presents
 * <state>/keys/vigilctl.key_secret (or --cert) and expects the service's
 * public cert at <state>/keys/S.key (or --server-key). Every failure is
 * printed to stderr as "vigilctl: S: what went wrong" and mapped to an exit
 * code; the error text comes from the service, which never puts personal
 * data in it.
 */
#include <stdio.h>
#include <string.h>

#include "vigil/admin.h"
#include "vigilctl.h"

enum {
    CALL_ERR_LEN = 512,
    CALL_PATH_MAX = 4096,
    CALL_SERVICE_NAME_MAX = 64,
    CALL_CONTROL_LIMIT = 0x20, /* bytes below this are control characters */
    CALL_DELETE = 0x7f,
};

static const char s_tcp_prefix[] = "tcp://";

/* Prints text from a reply with control characters shown as '?'. */
static void s_put_clean(FILE *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        fputc(*p < CALL_CONTROL_LIMIT || *p == CALL_DELETE ? '?' : *p, out);
}

bool ctl_valid_service_name(const char *service)
{
    size_t len = service ? strlen(service) : 0;
    if (len == 0 || len > CALL_SERVICE_NAME_MAX)
        return false;
    return strspn(service, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

void ctl_endpoint(const ctl_options_t *options, const char *service, char *out, size_t outlen)
{
    if (options->endpoint && *options->endpoint)
        snprintf(out, outlen, "%s", options->endpoint);
    else
        snprintf(out, outlen, "ipc://%s/%s.admin", options->state_dir, service);
}

int ctl_call(const ctl_options_t *options, const char *service,
             const Vigil__V1__AdminRequest *request, int default_timeout_ms,
             Vigil__V1__AdminReply **reply_p)
{
    *reply_p = NULL;
    char endpoint[CALL_PATH_MAX];
    ctl_endpoint(options, service, endpoint, sizeof endpoint);
    char cert[CALL_PATH_MAX] = "";
    char server_key[CALL_PATH_MAX] = "";
    if (strncmp(endpoint, s_tcp_prefix, sizeof s_tcp_prefix - 1) == 0) {
        if (options->cert)
            snprintf(cert, sizeof cert, "%s", options->cert);
        else
            snprintf(cert, sizeof cert, "%s/keys/%s.key_secret", options->state_dir,
                     CTL_CLIENT_KEY_NAME);
        if (options->server_key)
            snprintf(server_key, sizeof server_key, "%s", options->server_key);
        else
            snprintf(server_key, sizeof server_key, "%s/keys/%s.key", options->state_dir, service);
    }
    int timeout_ms = options->timeout_ms > 0 ? options->timeout_ms : default_timeout_ms;
    char err[CALL_ERR_LEN] = "";
    Vigil__V1__AdminReply *reply =
        admin_call(endpoint, *cert ? cert : NULL, *server_key ? server_key : NULL, request,
                   timeout_ms, err, sizeof err);
    if (!reply) {
        fprintf(stderr, "vigilctl: %s: %s\n", service, err);
        return CTL_EXIT_UNAVAILABLE;
    }
    *reply_p = reply;
    if (!reply->ok) {
        fprintf(stderr, "vigilctl: %s: ", service);
        s_put_clean(stderr, reply->error && *reply->error ? reply->error
                                                          : "the command failed (no reason given)");
        fputc('\n', stderr);
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}
