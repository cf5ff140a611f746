/* admin.c: the admin endpoint (server side) and admin_call (client side).
 *
 * The server is a ROUTER socket read from the service's zloop. Each request
 * is [routing frames...][Envelope(ADMIN_REQUEST, AdminRequest)]; the reply
 * goes back with the same routing frames as an Envelope(ADMIN_REPLY,
 * AdminReply) carrying the request's message id. Commands are dispatched
 * through up to four tables; later tables override earlier rows.
 *
 * Anything a peer sends is untrusted: a frame that is not an Envelope, an
 * Envelope of another type, a payload that is not an AdminRequest, an
 * unknown command: each gets ok=false and an error saying which, and the
 * endpoint keeps answering. Frames above max_frame are dropped by libzmq
 * (ZMQ_MAXMSGSIZE) before they reach us. An ipc socket file is made
 * owner-only, since CASE_SHOW returns personal data to whoever can connect.
 *
 * This file must never crash on input, never log a request's target or
 * arguments (they may name a case a person is in), and never answer a
 * request it could not attribute to a peer.
 */
#include "vigil/admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vigil/log.h"
#include "vigil/util.h"
#include "vigil/v1/envelope.pb-c.h"

enum {
    ADMIN_MAX_TABLES = 4,
    ADMIN_DEFAULT_MAX_FRAME = 1 << 20, /* when the caller passes 0 */
    ADMIN_CLIENT_MAX_REPLY = 64 << 20, /* what admin_call accepts back */
    ADMIN_SOCKET_MODE = 0600,          /* the ipc socket file: owner only */
    ADMIN_SEND_HWM = 1000,             /* queued replies per peer before dropping */
    ADMIN_ERROR_LEN = 256,
    ADMIN_NS_PER_MS = 1000000,
};

static const char s_ipc_prefix[] = "ipc://";
static const char s_inproc_prefix[] = "inproc://";

struct admin_server_t {
    zsock_t *socket;
    security_t *security; /* borrowed */
    char *endpoint;       /* as configured */
    char *bound;          /* the resolved endpoint after bind, or NULL */
    char *ipc_path;       /* the socket file to remove, or NULL */
    zloop_t *loop;        /* borrowed, once attached */
    struct {
        const admin_command_t *commands;
        void *ctx;
    } tables[ADMIN_MAX_TABLES];
    size_t table_count;
};

/* "STATUS" for ADMIN_COMMAND_STATUS, or "42" for an unknown number. */
static const char *s_command_name(int command, char *buf, size_t buflen)
{
    const ProtobufCEnumValue *value =
        protobuf_c_enum_descriptor_get_value(&vigil__v1__admin_command__descriptor, command);
    static const char prefix[] = "ADMIN_COMMAND_";
    if (value && strncmp(value->name, prefix, sizeof prefix - 1) == 0)
        return value->name + sizeof prefix - 1;
    snprintf(buf, buflen, "%d", command);
    return buf;
}

admin_server_t *admin_server_new(const char *endpoint, security_t *security, size_t max_frame,
                                 char *err, size_t errlen)
{
    if (!endpoint || !*endpoint) {
        util_fail(err, errlen, "no admin endpoint given");
        return NULL;
    }
    admin_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        util_fail(err, errlen, "out of memory");
        return NULL;
    }
    self->security = security;
    self->endpoint = strdup(endpoint);
    self->socket = zsock_new(ZMQ_ROUTER);
    if (!self->endpoint || !self->socket) {
        util_fail(err, errlen, "cannot create the admin socket");
        goto fail;
    }
    if (strncmp(endpoint, s_ipc_prefix, sizeof s_ipc_prefix - 1) == 0) {
        const char *path = endpoint + sizeof s_ipc_prefix - 1;
        struct sockaddr_un probe;
        if (!*path || strlen(path) >= sizeof probe.sun_path) {
            util_fail(err, errlen,
                      "admin endpoint %s: an ipc path is 1 to %zu bytes; use a shorter state "
                      "directory or set admin.endpoint",
                      endpoint, sizeof probe.sun_path - 1);
            goto fail;
        }
        self->ipc_path = strdup(path);
        if (!self->ipc_path) {
            util_fail(err, errlen, "out of memory");
            goto fail;
        }
    }
    int64_t limit = max_frame ? (int64_t)max_frame : ADMIN_DEFAULT_MAX_FRAME;
    zsock_set_maxmsgsize(self->socket, (int)(limit > INT32_MAX ? INT32_MAX : limit));
    zsock_set_linger(self->socket, 0);
    zsock_set_sndhwm(self->socket, ADMIN_SEND_HWM);
    if (security_apply_server(security, self->socket, endpoint, err, errlen) != 0)
        goto fail;
    return self;
fail:
    admin_server_destroy(&self);
    return NULL;
}

int admin_server_add(admin_server_t *admin, const admin_command_t *commands, void *ctx)
{
    if (!admin || !commands || admin->table_count >= ADMIN_MAX_TABLES)
        return -1;
    admin->tables[admin->table_count].commands = commands;
    admin->tables[admin->table_count].ctx = ctx;
    admin->table_count++;
    return 0;
}

/* The handler for `command`, searching the latest table first. */
static admin_handler_fn s_lookup(const admin_server_t *self, int command, void **ctx)
{
    for (size_t t = self->table_count; t-- > 0;) {
        for (const admin_command_t *row = self->tables[t].commands; row->command != 0; row++) {
            if ((int)row->command == command && row->handler) {
                *ctx = self->tables[t].ctx;
                return row->handler;
            }
        }
    }
    return NULL;
}

/* Sets ok=false and a copy of the message (never personal data). */
static void s_fail(Vigil__V1__AdminReply *reply, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void s_fail(Vigil__V1__AdminReply *reply, const char *fmt, ...)
{
    char text[ADMIN_ERROR_LEN];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    reply->ok = false;
    if (reply->error && reply->error != protobuf_c_empty_string)
        free(reply->error);
    reply->error = strdup(text);
    if (!reply->error)
        reply->error = (char *)protobuf_c_empty_string;
}

/* Parses the request and runs its handler, filling `reply`. */
static void s_dispatch(admin_server_t *self, zframe_t *body, const char *peer,
                       Vigil__V1__Envelope **envelope_p, Vigil__V1__AdminReply *reply)
{
    char number[ADMIN_ERROR_LEN];
    Vigil__V1__Envelope *envelope =
        vigil__v1__envelope__unpack(NULL, zframe_size(body), zframe_data(body));
    *envelope_p = envelope;
    if (!envelope) {
        s_fail(reply, "malformed request: the frame (%zu bytes) is not a vigil Envelope",
               zframe_size(body));
        log_warn("admin request refused: not an Envelope", "peer=%s bytes=%zu", peer,
                 zframe_size(body));
        return;
    }
    if (envelope->type != VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ADMIN_REQUEST) {
        s_fail(reply,
               "malformed request: envelope type %d; the admin endpoint takes only "
               "MESSAGE_TYPE_ADMIN_REQUEST (%d)",
               (int)envelope->type, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ADMIN_REQUEST);
        log_warn("admin request refused: wrong envelope type", "peer=%s type=%d", peer,
                 (int)envelope->type);
        return;
    }
    Vigil__V1__AdminRequest *request =
        vigil__v1__admin_request__unpack(NULL, envelope->payload.len, envelope->payload.data);
    if (!request) {
        s_fail(reply, "malformed request: the payload (%zu bytes) is not an AdminRequest",
               envelope->payload.len);
        log_warn("admin request refused: bad payload", "peer=%s bytes=%zu", peer,
                 envelope->payload.len);
        return;
    }
    const char *command = s_command_name((int)request->command, number, sizeof number);
    void *ctx = NULL;
    admin_handler_fn handler = NULL;
    if (request->command == VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_UNSPECIFIED)
        s_fail(reply, "no command given (AdminRequest.command is unset)");
    else if (!(handler = s_lookup(self, (int)request->command, &ctx)))
        s_fail(reply, "command %s is not supported by this service", command);
    if (handler) {
        int rc = handler(ctx, request, peer, reply);
        reply->ok = rc == 0;
        if (rc != 0 && (!reply->error || !*reply->error))
            s_fail(reply, "command %s failed; see the service log", command);
    }
    log_info("admin command", "command=%s peer=%s operator=%s ok=%s", command, peer,
             request->operator_id ? request->operator_id : "", reply->ok ? "true" : "false");
    vigil__v1__admin_request__free_unpacked(request, NULL);
}

/* Packs `reply` into an Envelope answering `request_envelope` (may be NULL). */
static zframe_t *s_pack_reply(const Vigil__V1__Envelope *request_envelope,
                              const Vigil__V1__AdminReply *reply)
{
    size_t payload_len = vigil__v1__admin_reply__get_packed_size(reply);
    uint8_t *payload = malloc(payload_len ? payload_len : 1);
    if (!payload)
        return NULL;
    vigil__v1__admin_reply__pack(reply, payload);
    uint8_t id[VIGIL_ID_BYTES];
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    if (request_envelope && request_envelope->message_id.len == VIGIL_ID_BYTES) {
        envelope.message_id = request_envelope->message_id;
    } else {
        util_random_id(id);
        envelope.message_id.data = id;
        envelope.message_id.len = sizeof id;
    }
    envelope.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ADMIN_REPLY;
    envelope.created_at_ms = util_now_ms();
    envelope.payload.data = payload;
    envelope.payload.len = payload_len;
    zframe_t *frame = zframe_new(NULL, vigil__v1__envelope__get_packed_size(&envelope));
    if (frame)
        vigil__v1__envelope__pack(&envelope, zframe_data(frame));
    free(payload);
    return frame;
}

static int s_on_request(zloop_t *loop, zsock_t *socket, void *arg)
{
    (void)loop;
    admin_server_t *self = arg;
    zmsg_t *msg = zmsg_recv(socket);
    if (!msg)
        return 0;
    if (zmsg_size(msg) < 2) {
        zmsg_destroy(&msg); /* a ROUTER always prefixes a routing id */
        return 0;
    }
    zframe_t *body = zmsg_last(msg);
    const char *peer = security_peer_name(self->security, body);
    if (!peer) {
        log_warn("admin request from a key not in the allowlist dropped", "endpoint=%s",
                 self->endpoint);
        zmsg_destroy(&msg);
        return 0;
    }
    Vigil__V1__AdminReply *reply = malloc(sizeof *reply);
    if (!reply) {
        zmsg_destroy(&msg);
        return 0;
    }
    vigil__v1__admin_reply__init(reply);
    Vigil__V1__Envelope *envelope = NULL;
    s_dispatch(self, body, peer, &envelope, reply);
    zframe_t *reply_frame = s_pack_reply(envelope, reply);
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    if (envelope)
        vigil__v1__envelope__free_unpacked(envelope, NULL);
    if (!reply_frame) {
        zmsg_destroy(&msg);
        return 0;
    }
    /* Same routing prefix, new body. */
    zframe_t *old = zmsg_last(msg);
    zmsg_remove(msg, old);
    zframe_destroy(&old);
    zmsg_append(msg, &reply_frame);
    if (zmsg_send(&msg, socket) != 0)
        zmsg_destroy(&msg);
    return 0;
}

int admin_server_attach(admin_server_t *admin, zloop_t *loop, char *err, size_t errlen)
{
    if (!admin || !loop) {
        util_fail(err, errlen, "no admin server or loop");
        return -1;
    }
    if (admin->loop) {
        util_fail(err, errlen, "admin endpoint %s is already attached", admin->endpoint);
        return -1;
    }
    if (zsock_bind(admin->socket, "%s", admin->endpoint) < 0) {
        util_fail(err, errlen, "cannot bind admin endpoint %s: %s", admin->endpoint,
                  zmq_strerror(zmq_errno()));
        return -1;
    }
    char *last = zsock_last_endpoint(admin->socket); /* czmq: the caller frees it */
    admin->bound = last ? last : strdup(admin->endpoint);
    if (admin->ipc_path && chmod(admin->ipc_path, ADMIN_SOCKET_MODE) != 0) {
        util_fail(err, errlen, "admin socket %s: chmod: %s", admin->ipc_path, strerror(errno));
        return -1;
    }
    if (zloop_reader(loop, admin->socket, s_on_request, admin) != 0) {
        util_fail(err, errlen, "cannot add the admin socket to the loop");
        return -1;
    }
    zloop_reader_set_tolerant(loop, admin->socket);
    admin->loop = loop;
    return 0;
}

const char *admin_server_endpoint(const admin_server_t *admin)
{
    if (!admin)
        return NULL;
    return admin->bound ? admin->bound : admin->endpoint;
}

void admin_server_destroy(admin_server_t **admin_p)
{
    if (!admin_p || !*admin_p)
        return;
    admin_server_t *self = *admin_p;
    if (self->loop && self->socket)
        zloop_reader_end(self->loop, self->socket);
    zsock_destroy(&self->socket);
    if (self->ipc_path && self->bound)
        unlink(self->ipc_path);
    free(self->ipc_path);
    free(self->bound);
    free(self->endpoint);
    free(self);
    *admin_p = NULL;
}

/* --- client side --------------------------------------------------------- */

static zframe_t *s_pack_request(const Vigil__V1__AdminRequest *request, uint8_t id[VIGIL_ID_BYTES])
{
    size_t payload_len = vigil__v1__admin_request__get_packed_size(request);
    uint8_t *payload = malloc(payload_len ? payload_len : 1);
    if (!payload)
        return NULL;
    vigil__v1__admin_request__pack(request, payload);
    util_random_id(id);
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = id;
    envelope.message_id.len = VIGIL_ID_BYTES;
    envelope.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ADMIN_REQUEST;
    envelope.source = "vigilctl";
    envelope.created_at_ms = util_now_ms();
    envelope.attempt = 1;
    envelope.payload.data = payload;
    envelope.payload.len = payload_len;
    zframe_t *frame = zframe_new(NULL, vigil__v1__envelope__get_packed_size(&envelope));
    if (frame)
        vigil__v1__envelope__pack(&envelope, zframe_data(frame));
    free(payload);
    return frame;
}

/* Makes `socket` a CURVE client when `endpoint` is not local. */
static int s_client_security(zsock_t *socket, const char *endpoint, const char *client_cert,
                             const char *server_key, char *err, size_t errlen)
{
    if (strncmp(endpoint, s_ipc_prefix, sizeof s_ipc_prefix - 1) == 0 ||
        strncmp(endpoint, s_inproc_prefix, sizeof s_inproc_prefix - 1) == 0)
        return 0;
    if (!client_cert || !*client_cert || !server_key || !*server_key) {
        util_fail(err, errlen,
                  "%s: a TCP admin endpoint needs a client secret cert and the service's "
                  "public key",
                  endpoint);
        return -1;
    }
    security_config_t config = {.insecure = false, .cert_path = client_cert, .allow_dir = NULL};
    security_t *security = security_new(&config, err, errlen);
    if (!security)
        return -1;
    int rc = security_apply_client(security, socket, endpoint, server_key, err, errlen);
    security_destroy(&security);
    return rc;
}

Vigil__V1__AdminReply *admin_call(const char *endpoint, const char *client_cert,
                                  const char *server_key, const Vigil__V1__AdminRequest *request,
                                  int timeout_ms, char *err, size_t errlen)
{
    if (!endpoint || !*endpoint || !request) {
        util_fail(err, errlen, "no endpoint or request");
        return NULL;
    }
    if (strncmp(endpoint, s_ipc_prefix, sizeof s_ipc_prefix - 1) == 0) {
        const char *path = endpoint + sizeof s_ipc_prefix - 1;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
            util_fail(err, errlen, "no admin socket at %s: is the service running?", path);
            return NULL;
        }
    }
    zsock_t *socket = zsock_new(ZMQ_DEALER);
    if (!socket) {
        util_fail(err, errlen, "cannot create a socket");
        return NULL;
    }
    zsock_set_linger(socket, 0);
    zsock_set_maxmsgsize(socket, ADMIN_CLIENT_MAX_REPLY);
    Vigil__V1__AdminReply *reply = NULL;
    uint8_t id[VIGIL_ID_BYTES];
    zframe_t *frame = NULL;
    if (s_client_security(socket, endpoint, client_cert, server_key, err, errlen) != 0)
        goto done;
    if (zsock_connect(socket, "%s", endpoint) != 0) {
        util_fail(err, errlen, "cannot connect to %s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto done;
    }
    frame = s_pack_request(request, id);
    if (!frame || zframe_send(&frame, socket, 0) != 0) {
        util_fail(err, errlen, "cannot send the request to %s", endpoint);
        goto done;
    }
    uint64_t deadline =
        util_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * ADMIN_NS_PER_MS;
    while (!reply) {
        uint64_t now = util_mono_ns();
        int remaining = now >= deadline ? 0 : (int)((deadline - now) / ADMIN_NS_PER_MS);
        zsock_set_rcvtimeo(socket, remaining);
        zmsg_t *msg = remaining > 0 ? zmsg_recv(socket) : NULL;
        if (!msg) {
            util_fail(err, errlen,
                      "no reply from %s within %d ms (is the service running and are the keys "
                      "right?)",
                      endpoint, timeout_ms);
            goto done;
        }
        zframe_t *body = zmsg_last(msg);
        Vigil__V1__Envelope *envelope =
            body ? vigil__v1__envelope__unpack(NULL, zframe_size(body), zframe_data(body)) : NULL;
        if (envelope && envelope->message_id.len == VIGIL_ID_BYTES &&
            memcmp(envelope->message_id.data, id, VIGIL_ID_BYTES) != 0) {
            vigil__v1__envelope__free_unpacked(envelope, NULL); /* a stale reply */
            zmsg_destroy(&msg);
            continue;
        }
        if (!envelope || envelope->type != VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ADMIN_REPLY) {
            util_fail(err, errlen, "%s answered with something that is not an admin reply",
                      endpoint);
        } else {
            reply =
                vigil__v1__admin_reply__unpack(NULL, envelope->payload.len, envelope->payload.data);
            if (!reply)
                util_fail(err, errlen, "%s sent a malformed AdminReply", endpoint);
        }
        if (envelope)
            vigil__v1__envelope__free_unpacked(envelope, NULL);
        zmsg_destroy(&msg);
        if (!reply)
            goto done;
    }
done:
    zframe_destroy(&frame);
    zsock_destroy(&socket);
    return reply;
}
