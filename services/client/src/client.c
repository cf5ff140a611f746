/* client.c: libvigil-client's public API: publish, poll, resend, reconnect.
 *
 * One DEALER socket talks to intake's front door (a ROUTER). Every request
 * is one frame holding a serialized vigil.v1.Envelope; every answer is an
 * Envelope of type ACK holding a vigil.v1.Ack. Requests stay in a table
 * (request_table.c) until a final answer arrives; vclient_poll() resends
 * those whose timer ran out, with the same message id (intake's dedup makes
 * that harmless), and replaces the socket when the server has been silent
 * for too long although requests are waiting. A PAIR socket reads the
 * DEALER's monitor events so callers can tell "server refused our key"
 * from "server down". Both sockets belong to the caller's thread.
 *
 * It must never log, and never look inside a payload: payloads carry
 * victims' personal data.
 */
#include "vigil/client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include <zmq.h>

#include "client_keys.h"
#include "request_table.h"
#include "vigil/v1/envelope.pb-c.h"

enum {
    CLIENT_DEFAULT_WINDOW = 256,
    CLIENT_DEFAULT_RESEND_MS = 2000,
    CLIENT_DEFAULT_RESEND_MAX_MS = 30000,
    CLIENT_DEFAULT_RECONNECT_MS = 5000,
    CLIENT_DEFAULT_HEARTBEAT_MS = 1000,
    CLIENT_DEFAULT_MAX_REPLY_BYTES = 1 << 20,
    CLIENT_WINDOW_MAX = 1 << 20,         /* more than anyone needs; bounds memory */
    CLIENT_HEARTBEAT_TIMEOUT_FACTOR = 3, /* ZMTP heartbeat timeout = this x interval */
    CLIENT_RECONNECT_IVL_MS = 100,       /* ZeroMQ's own TCP reconnect: first delay */
    CLIENT_RECONNECT_IVL_MAX_MS = 2000,  /* ... and its cap */
    CLIENT_SNDHWM_PER_WINDOW = 4,        /* queued frames allowed per window slot (resends) */
    CLIENT_SEND_RETRY_MS = 10,           /* a frame ZeroMQ would not take is retried after this */
    CLIENT_DRAIN_MAX = 4096,             /* most frames read in one go before checking timers */
    CLIENT_JITTER_DIVISOR = 4,           /* resend jitter: up to delay / this */
    CLIENT_BACKOFF_MAX_SHIFT = 20,       /* doubling stops long before overflow */
    CLIENT_QUEUE_INITIAL = 16,           /* ready answers held before growing */
    CLIENT_MONITOR_ENDPOINT_MAX = 96,
    CLIENT_MONITOR_HEADER_BYTES = 6, /* uint16 event + uint32 value */
    CLIENT_ERR_MAX = 256,
    CLIENT_ID_TIME_BYTES = 8, /* message id: big-endian microseconds, then random bytes */
    CLIENT_BITS_PER_BYTE = 8,
};

#define CLIENT_NS_PER_MS UINT64_C(1000000)
#define CLIENT_NS_PER_S  UINT64_C(1000000000)
#define CLIENT_MS_PER_S  1000
#define CLIENT_NS_PER_US UINT64_C(1000)
#define CLIENT_US_PER_S  UINT64_C(1000000)
#define CLIENT_NEVER     UINT64_MAX

static const char s_default_endpoint[] = "tcp://127.0.0.1:7100";
static const char s_tcp_scheme[] = "tcp://";
static const char s_status_prefix[] = "ACK_STATUS_";
static const char s_reason_prefix[] = "REASON_";
static const char s_unknown[] = "UNKNOWN";

/* The monitor events we read, and what each one means for the counters. */
typedef struct {
    uint16_t event;
    int connected;      /* 1: now connected, 0: now disconnected, -1: unchanged */
    int handshake_fail; /* counts as a failed handshake */
    int auth_fail;      /* counts as "server refused our key" */
} s_monitor_rule_t;

static const s_monitor_rule_t s_monitor_rules[] = {
    {ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 1, 0, 0},        {ZMQ_EVENT_DISCONNECTED, 0, 0, 0},
    {ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 0, 1, 0}, {ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, 0, 1, 0},
    {ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 0, 1, 1},
};

static const struct {
    int code;
    const char *text;
} s_errors[] = {
    {VCLIENT_OK, "success"},
    {VCLIENT_EFULL, "window full: poll for answers first"},
    {VCLIENT_EINVAL, "invalid argument"},
    {VCLIENT_ENOMEM, "out of memory"},
    {VCLIENT_EKEYS, "key file problem"},
    {VCLIENT_ESOCKET, "socket error"},
    {VCLIENT_ENOTFOUND, "no unanswered request with that id"},
};

struct vclient_t {
    vclient_config_t config; /* with defaults filled; strings point at the copies below */
    char *endpoint;
    char *source;
    bool curve; /* CURVE is on (TCP endpoint, not insecure) */
    client_keys_t keys;
    void *context;
    void *socket;        /* DEALER */
    void *monitor;       /* PAIR reading the DEALER's events, or NULL */
    unsigned generation; /* sockets opened so far; names the monitor endpoint */
    request_table_t *table;
    vclient_reply_t *queue; /* final answers not yet returned: a ring */
    size_t queue_head, queue_count, queue_capacity;
    uint8_t *scratch; /* packing buffer */
    size_t scratch_capacity;
    uint64_t next_due_ns;      /* earliest request timer, CLIENT_NEVER if none is known */
    uint64_t last_heard_ns;    /* last frame received */
    uint64_t opened_at_ns;     /* current socket opened */
    uint64_t waiting_since_ns; /* the window last went from empty to not empty */
    vclient_stats_t stats;
};

/* ---- small helpers -------------------------------------------------------- */

static uint64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * CLIENT_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static int64_t s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CLIENT_MS_PER_S + ts.tv_nsec / (long)CLIENT_NS_PER_MS;
}

/* A new message id: the wall clock in microseconds (8 bytes, big-endian),
 * then 8 random bytes, the layout of the link's own ids (link_outbox.c).
 * Still unique (64 random bits per microsecond), but roughly increasing, so
 * intake's de-duplication table (keyed by message id) grows at its right
 * edge instead of rewriting a random page for every request. The id only
 * tells what Envelope.created_at_ms already says. Cannot fail. */
static void s_new_message_id(uint8_t id[VCLIENT_ID_BYTES])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * CLIENT_US_PER_S + (uint64_t)ts.tv_nsec / CLIENT_NS_PER_US;
    for (int i = CLIENT_ID_TIME_BYTES - 1; i >= 0; i--) {
        id[i] = (uint8_t)now;
        now >>= CLIENT_BITS_PER_BYTE;
    }
    randombytes_buf(id + CLIENT_ID_TIME_BYTES, VCLIENT_ID_BYTES - CLIENT_ID_TIME_BYTES);
}

static uint64_t s_max3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* Copies at most dstlen-1 bytes and terminates. */
static void s_copy(char *dst, size_t dstlen, const char *src)
{
    snprintf(dst, dstlen, "%s", src != NULL ? src : "");
}

static char *s_strdup(const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);
    if (copy != NULL) {
        memcpy(copy, text, len);
    }
    return copy;
}

/* The resend delay after `attempts` sends: doubling from resend_ms, capped
 * at resend_max_ms, plus up to a quarter of jitter so that many clients
 * restarted together do not resend in lockstep. */
static uint64_t s_backoff_ns(const vclient_t *c, uint32_t attempts)
{
    uint32_t shift = attempts > 0 ? attempts - 1 : 0;
    if (shift > CLIENT_BACKOFF_MAX_SHIFT) {
        shift = CLIENT_BACKOFF_MAX_SHIFT;
    }
    uint64_t delay = (uint64_t)c->config.resend_ms << shift;
    if (delay > (uint64_t)c->config.resend_max_ms) {
        delay = (uint64_t)c->config.resend_max_ms;
    }
    uint64_t jitter = randombytes_uniform((uint32_t)(delay / CLIENT_JITTER_DIVISOR + 1));
    return (delay + jitter) * CLIENT_NS_PER_MS;
}

static void s_note_due(vclient_t *c, uint64_t due_ns)
{
    if (due_ns < c->next_due_ns) {
        c->next_due_ns = due_ns;
    }
}

/* The enum value's name without `prefix`, or "UNKNOWN". */
static const char *s_enum_short_name(const ProtobufCEnumDescriptor *descriptor, int value,
                                     const char *prefix)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(descriptor, value);
    if (v == NULL) {
        return s_unknown;
    }
    size_t n = strlen(prefix);
    return strncmp(v->name, prefix, n) == 0 ? v->name + n : v->name;
}

/* ---- the ring of ready answers -------------------------------------------- */

static vclient_reply_t *s_queue_push(vclient_t *c)
{
    if (c->queue_count == c->queue_capacity) {
        size_t capacity = c->queue_capacity ? c->queue_capacity * 2 : CLIENT_QUEUE_INITIAL;
        vclient_reply_t *bigger = malloc(capacity * sizeof *bigger);
        if (bigger == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < c->queue_count; i++) {
            bigger[i] = c->queue[(c->queue_head + i) % c->queue_capacity];
        }
        free(c->queue);
        c->queue = bigger;
        c->queue_capacity = capacity;
        c->queue_head = 0;
    }
    vclient_reply_t *slot = &c->queue[(c->queue_head + c->queue_count) % c->queue_capacity];
    c->queue_count++;
    memset(slot, 0, sizeof *slot);
    return slot;
}

static bool s_queue_pop(vclient_t *c, vclient_reply_t *out)
{
    if (c->queue_count == 0) {
        return false;
    }
    *out = c->queue[c->queue_head];
    c->queue_head = (c->queue_head + 1) % c->queue_capacity;
    c->queue_count--;
    return true;
}

/* Drops a queued answer for `id` (after vclient_forget). */
static void s_queue_drop(vclient_t *c, const uint8_t id[VCLIENT_ID_BYTES])
{
    size_t kept = 0;
    for (size_t i = 0; i < c->queue_count; i++) {
        vclient_reply_t *r = &c->queue[(c->queue_head + i) % c->queue_capacity];
        if (memcmp(r->message_id, id, VCLIENT_ID_BYTES) != 0) {
            c->queue[(c->queue_head + kept) % c->queue_capacity] = *r;
            kept++;
        }
    }
    c->queue_count = kept;
}

/* ---- sockets -------------------------------------------------------------- */

static void s_close_sockets(vclient_t *c)
{
    if (c->monitor != NULL) {
        zmq_socket_monitor(c->socket, NULL, 0);
        zmq_close(c->monitor);
        c->monitor = NULL;
    }
    if (c->socket != NULL) {
        zmq_close(c->socket);
        c->socket = NULL;
    }
    c->stats.connected = false;
}

static int s_setsockopt_int(void *socket, int option, int value)
{
    return zmq_setsockopt(socket, option, &value, sizeof value);
}

/* Opens the DEALER (and its monitor) and connects. Returns 0, or -1 with a
 * message. */
static int s_open_sockets(vclient_t *c, char *err, size_t errlen)
{
    c->socket = zmq_socket(c->context, ZMQ_DEALER);
    if (c->socket == NULL) {
        snprintf(err, errlen, "cannot create a socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    int64_t max_reply = (int64_t)c->config.max_reply_bytes;
    int hwm = c->config.window * CLIENT_SNDHWM_PER_WINDOW;
    int rc = 0;
    rc |= s_setsockopt_int(c->socket, ZMQ_LINGER, 0);
    rc |= s_setsockopt_int(c->socket, ZMQ_SNDHWM, hwm);
    rc |= zmq_setsockopt(c->socket, ZMQ_MAXMSGSIZE, &max_reply, sizeof max_reply);
    rc |= s_setsockopt_int(c->socket, ZMQ_RECONNECT_IVL, CLIENT_RECONNECT_IVL_MS);
    rc |= s_setsockopt_int(c->socket, ZMQ_RECONNECT_IVL_MAX, CLIENT_RECONNECT_IVL_MAX_MS);
    if (c->config.heartbeat_ms > 0) {
        rc |= s_setsockopt_int(c->socket, ZMQ_HEARTBEAT_IVL, c->config.heartbeat_ms);
        rc |= s_setsockopt_int(c->socket, ZMQ_HEARTBEAT_TIMEOUT,
                               c->config.heartbeat_ms * CLIENT_HEARTBEAT_TIMEOUT_FACTOR);
    }
    if (c->curve) {
        rc |=
            zmq_setsockopt(c->socket, ZMQ_CURVE_SERVERKEY, c->keys.server_key, CLIENT_KEY_Z85_LEN);
        rc |=
            zmq_setsockopt(c->socket, ZMQ_CURVE_PUBLICKEY, c->keys.public_key, CLIENT_KEY_Z85_LEN);
        rc |=
            zmq_setsockopt(c->socket, ZMQ_CURVE_SECRETKEY, c->keys.secret_key, CLIENT_KEY_Z85_LEN);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot set socket options: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }

    char monitor_endpoint[CLIENT_MONITOR_ENDPOINT_MAX];
    snprintf(monitor_endpoint, sizeof monitor_endpoint, "inproc://vclient-monitor-%p-%u", (void *)c,
             c->generation++);
    int events = 0;
    for (size_t i = 0; i < sizeof s_monitor_rules / sizeof s_monitor_rules[0]; i++) {
        events |= s_monitor_rules[i].event;
    }
    if (zmq_socket_monitor(c->socket, monitor_endpoint, events) == 0) {
        c->monitor = zmq_socket(c->context, ZMQ_PAIR);
        if (c->monitor != NULL && zmq_connect(c->monitor, monitor_endpoint) != 0) {
            zmq_close(c->monitor);
            c->monitor = NULL;
        }
    }
    /* Without a monitor the client still works; it only cannot tell why a
     * handshake failed. */

    if (zmq_connect(c->socket, c->endpoint) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    c->opened_at_ns = s_now_ns();
    return 0;
fail:
    s_close_sockets(c);
    return -1;
}

/* Reads the monitor's pending events into the counters. */
static void s_read_monitor(vclient_t *c)
{
    while (c->monitor != NULL) {
        zmq_msg_t header;
        zmq_msg_init(&header);
        if (zmq_msg_recv(&header, c->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&header);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&header) >= CLIENT_MONITOR_HEADER_BYTES) {
            memcpy(&event, zmq_msg_data(&header), sizeof event);
        }
        /* Skip the rest of the event (the endpoint frame). */
        while (zmq_msg_more(&header)) {
            zmq_msg_close(&header);
            zmq_msg_init(&header);
            if (zmq_msg_recv(&header, c->monitor, ZMQ_DONTWAIT) < 0) {
                break;
            }
        }
        zmq_msg_close(&header);
        for (size_t i = 0; i < sizeof s_monitor_rules / sizeof s_monitor_rules[0]; i++) {
            const s_monitor_rule_t *rule = &s_monitor_rules[i];
            if (rule->event != event) {
                continue;
            }
            if (rule->connected >= 0) {
                c->stats.connected = rule->connected == 1;
            }
            c->stats.handshake_failures += (uint64_t)rule->handshake_fail;
            c->stats.auth_failures += (uint64_t)rule->auth_fail;
        }
    }
}

/* ---- sending -------------------------------------------------------------- */

static int s_reserve_scratch(vclient_t *c, size_t size)
{
    if (size <= c->scratch_capacity) {
        return 0;
    }
    uint8_t *bigger = realloc(c->scratch, size);
    if (bigger == NULL) {
        return -1;
    }
    c->scratch = bigger;
    c->scratch_capacity = size;
    return 0;
}

/* Sends (or resends) `r` now and arms its timer. A frame ZeroMQ will not
 * take right now is tried again shortly; nothing is lost. Cannot fail. */
static void s_send(vclient_t *c, request_t *r, uint64_t now)
{
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = r->id;
    envelope.message_id.len = VCLIENT_ID_BYTES;
    envelope.type = (Vigil__V1__MessageType)r->type;
    envelope.source = c->source;
    envelope.created_at_ms = r->created_at_ms;
    envelope.payload.data = r->payload;
    envelope.payload.len = r->payload_len;
    envelope.attempt = r->attempts + 1;
    size_t size = vigil__v1__envelope__get_packed_size(&envelope);
    if (c->socket == NULL || s_reserve_scratch(c, size) < 0) {
        r->due_ns = now + CLIENT_SEND_RETRY_MS * CLIENT_NS_PER_MS;
        s_note_due(c, r->due_ns);
        return;
    }
    vigil__v1__envelope__pack(&envelope, c->scratch);
    if (zmq_send(c->socket, c->scratch, size, ZMQ_DONTWAIT) < 0) {
        r->due_ns = now + CLIENT_SEND_RETRY_MS * CLIENT_NS_PER_MS;
        s_note_due(c, r->due_ns);
        return;
    }
    r->attempts++;
    c->stats.sends++;
    if (r->attempts > 1) {
        c->stats.resends++;
    }
    if (r->first_sent_ns == 0) {
        r->first_sent_ns = now;
    }
    r->due_ns = now + s_backoff_ns(c, r->attempts);
    s_note_due(c, r->due_ns);
}

/* Resends every request whose timer ran out and recomputes the earliest
 * timer. */
static void s_resend_due(vclient_t *c, uint64_t now)
{
    if (now < c->next_due_ns) {
        return;
    }
    c->next_due_ns = CLIENT_NEVER;
    size_t capacity = request_table_capacity(c->table);
    for (size_t i = 0; i < capacity; i++) {
        request_t *r = request_table_slot(c->table, i);
        if (r == NULL) {
            continue;
        }
        if (r->due_ns <= now) {
            s_send(c, r, now);
        } else {
            s_note_due(c, r->due_ns);
        }
    }
}

static int s_reconnect(vclient_t *c)
{
    char err[CLIENT_ERR_MAX];
    s_close_sockets(c);
    c->stats.reconnects++;
    if (s_open_sockets(c, err, sizeof err) < 0) {
        return VCLIENT_ESOCKET;
    }
    uint64_t now = s_now_ns();
    c->next_due_ns = CLIENT_NEVER;
    size_t capacity = request_table_capacity(c->table);
    for (size_t i = 0; i < capacity; i++) {
        request_t *r = request_table_slot(c->table, i);
        if (r != NULL) {
            s_send(c, r, now);
        }
    }
    return VCLIENT_OK;
}

/* When the server has said nothing for reconnect_ms while requests wait:
 * the moment that happens, or CLIENT_NEVER. */
static uint64_t s_reconnect_at(const vclient_t *c)
{
    if (request_table_count(c->table) == 0) {
        return CLIENT_NEVER;
    }
    uint64_t quiet_since = s_max3(c->last_heard_ns, c->opened_at_ns, c->waiting_since_ns);
    return quiet_since + (uint64_t)c->config.reconnect_ms * CLIENT_NS_PER_MS;
}

/* ---- receiving ------------------------------------------------------------ */

static void s_handle_entry(vclient_t *c, const Vigil__V1__AckEntry *entry, uint64_t now)
{
    if (entry->message_id.len != VCLIENT_ID_BYTES) {
        c->stats.malformed_answers++;
        return;
    }
    request_t *r = request_table_find(c->table, entry->message_id.data);
    if (r == NULL) {
        c->stats.stray_answers++;
        return;
    }
    switch (entry->status) {
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY:
        c->stats.retry_answers++;
        r->due_ns = now + s_backoff_ns(c, r->attempts);
        s_note_due(c, r->due_ns);
        return;
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED:
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE:
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED:
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED:
        break;
    default:
        c->stats.malformed_answers++;
        return;
    }
    vclient_reply_t *reply = s_queue_push(c);
    if (reply == NULL) {
        /* Out of memory: keep the request; the resend will be answered
         * DUPLICATE later. */
        return;
    }
    memcpy(reply->message_id, r->id, VCLIENT_ID_BYTES);
    reply->user = r->user;
    reply->status = (int)entry->status;
    reply->reason = (int)entry->reason;
    s_copy(reply->event_id, sizeof reply->event_id, entry->event_id);
    s_copy(reply->case_id, sizeof reply->case_id, entry->case_id);
    s_copy(reply->detail, sizeof reply->detail, entry->detail);
    reply->attempts = r->attempts;
    reply->elapsed_ms =
        r->first_sent_ns ? (int64_t)((now - r->first_sent_ns) / CLIENT_NS_PER_MS) : 0;
    request_table_remove(c->table, r);
    c->stats.answered++;
}

static void s_handle_frame(vclient_t *c, const uint8_t *data, size_t size, uint64_t now)
{
    Vigil__V1__Envelope *envelope = vigil__v1__envelope__unpack(NULL, size, data);
    if (envelope == NULL || envelope->type != VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK) {
        c->stats.malformed_answers++;
        if (envelope != NULL) {
            vigil__v1__envelope__free_unpacked(envelope, NULL);
        }
        return;
    }
    Vigil__V1__Ack *ack =
        vigil__v1__ack__unpack(NULL, envelope->payload.len, envelope->payload.data);
    if (ack == NULL) {
        c->stats.malformed_answers++;
    } else {
        for (size_t i = 0; i < ack->n_entries; i++) {
            s_handle_entry(c, ack->entries[i], now);
        }
        vigil__v1__ack__free_unpacked(ack, NULL);
    }
    vigil__v1__envelope__free_unpacked(envelope, NULL);
}

/* Reads what is waiting on the DEALER. A message may carry routing frames
 * (an empty delimiter); the Envelope is its last frame. Returns 0, or -1 if
 * the socket failed. */
static int s_drain(vclient_t *c, uint64_t now)
{
    for (int n = 0; n < CLIENT_DRAIN_MAX && c->socket != NULL; n++) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, c->socket, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&part);
            return (e == EAGAIN || e == EINTR) ? 0 : -1;
        }
        while (zmq_msg_more(&part)) {
            zmq_msg_close(&part);
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, c->socket, ZMQ_DONTWAIT) < 0) {
                break;
            }
        }
        c->last_heard_ns = now;
        s_handle_frame(c, zmq_msg_data(&part), zmq_msg_size(&part), now);
        zmq_msg_close(&part);
    }
    return 0;
}

/* ---- public API ----------------------------------------------------------- */

static void s_defaults(vclient_config_t *config)
{
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    config->endpoint = s_default_endpoint;
    config->source = "";
    config->window = CLIENT_DEFAULT_WINDOW;
    config->resend_ms = CLIENT_DEFAULT_RESEND_MS;
    config->resend_max_ms = CLIENT_DEFAULT_RESEND_MAX_MS;
    config->reconnect_ms = CLIENT_DEFAULT_RECONNECT_MS;
    config->heartbeat_ms = CLIENT_DEFAULT_HEARTBEAT_MS;
    config->max_reply_bytes = CLIENT_DEFAULT_MAX_REPLY_BYTES;
}

VCLIENT_API void vclient_config_init_sized(vclient_config_t *config, size_t struct_size)
{
    vclient_config_t defaults;
    s_defaults(&defaults);
    size_t n = struct_size < sizeof defaults ? struct_size : sizeof defaults;
    memcpy(config, &defaults, n);
    if (struct_size >= sizeof config->struct_size) {
        config->struct_size = struct_size;
    }
}

/* Checks the settings; returns 0 or -1 with a message naming the one at
 * fault. */
static int s_check_config(const vclient_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->endpoint == NULL || cfg->endpoint[0] == '\0') {
        snprintf(err, errlen, "endpoint is empty");
        return -1;
    }
    if (cfg->window < 1 || cfg->window > CLIENT_WINDOW_MAX) {
        snprintf(err, errlen, "window must be between 1 and %d", CLIENT_WINDOW_MAX);
        return -1;
    }
    if (cfg->resend_ms < 1 || cfg->resend_max_ms < cfg->resend_ms || cfg->reconnect_ms < 1 ||
        cfg->heartbeat_ms < 0) {
        snprintf(err, errlen,
                 "timers must be positive, with resend_max_ms >= resend_ms and heartbeat_ms >= 0");
        return -1;
    }
    return 0;
}

VCLIENT_API vclient_t *vclient_new(const vclient_config_t *config, char *err, size_t errlen)
{
    char scratch_err[CLIENT_ERR_MAX];
    if (err == NULL || errlen == 0) {
        err = scratch_err;
        errlen = sizeof scratch_err;
    }
    if (config == NULL || config->struct_size < sizeof config->struct_size) {
        snprintf(err, errlen, "config not initialised with vclient_config_init()");
        return NULL;
    }
    vclient_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s_defaults(&c->config);
    size_t n = config->struct_size < sizeof c->config ? config->struct_size : sizeof c->config;
    memcpy(&c->config, config, n);
    if (s_check_config(&c->config, err, errlen) < 0) {
        goto fail;
    }
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise (no random numbers)");
        goto fail;
    }
    c->endpoint = s_strdup(c->config.endpoint);
    c->source = s_strdup(c->config.source ? c->config.source : "");
    c->table = request_table_new((size_t)c->config.window);
    c->context = zmq_ctx_new();
    if (c->endpoint == NULL || c->source == NULL || c->table == NULL || c->context == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    const char *client_cert = c->config.client_cert;
    const char *server_key = c->config.server_key;
    c->config.endpoint = c->endpoint;
    c->config.source = c->source;
    c->config.client_cert = NULL; /* borrowed from the caller: not kept */
    c->config.server_key = NULL;
    c->curve =
        !c->config.insecure && strncmp(c->endpoint, s_tcp_scheme, sizeof s_tcp_scheme - 1) == 0;
    if (c->curve && client_keys_load(client_cert, server_key, &c->keys, err, errlen) < 0) {
        goto fail;
    }
    if (s_open_sockets(c, err, errlen) < 0) {
        goto fail;
    }
    c->next_due_ns = CLIENT_NEVER;
    return c;
fail:
    vclient_destroy(&c);
    return NULL;
}

VCLIENT_API void vclient_destroy(vclient_t **client_p)
{
    if (client_p == NULL || *client_p == NULL) {
        return;
    }
    vclient_t *c = *client_p;
    s_close_sockets(c);
    if (c->context != NULL) {
        zmq_ctx_term(c->context);
    }
    request_table_destroy(&c->table);
    client_keys_wipe(&c->keys);
    free(c->queue);
    free(c->scratch);
    free(c->endpoint);
    free(c->source);
    free(c);
    *client_p = NULL;
}

/* Takes ownership of `payload` (malloc'd) in every case. */
static int s_publish_owned(vclient_t *c, int type, uint8_t *payload, size_t len, void *user,
                           uint8_t message_id[VCLIENT_ID_BYTES])
{
    if (type == VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED ||
        protobuf_c_enum_descriptor_get_value(&vigil__v1__message_type__descriptor, type) == NULL) {
        free(payload);
        return VCLIENT_EINVAL;
    }
    if (request_table_count(c->table) >= (size_t)c->config.window) {
        free(payload);
        return VCLIENT_EFULL;
    }
    uint64_t now = s_now_ns();
    if (request_table_count(c->table) == 0) {
        c->waiting_since_ns = now;
    }
    uint8_t id[VCLIENT_ID_BYTES];
    request_t *r = NULL;
    while (r == NULL) { /* a repeated 64-bit random tail will not happen; but never alias one */
        s_new_message_id(id);
        r = request_table_add(c->table, id);
    }
    r->type = type;
    r->payload = payload;
    r->payload_len = len;
    r->created_at_ms = s_wall_ms();
    r->user = user;
    c->stats.published++;
    s_send(c, r, now);
    if (message_id != NULL) {
        memcpy(message_id, id, VCLIENT_ID_BYTES);
    }
    return VCLIENT_OK;
}

VCLIENT_API int vclient_publish(vclient_t *client, int type, const void *payload, size_t len,
                                void *user, uint8_t message_id[VCLIENT_ID_BYTES])
{
    if (client == NULL || (payload == NULL && len > 0)) {
        return VCLIENT_EINVAL;
    }
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL) {
        return VCLIENT_ENOMEM;
    }
    if (len > 0) {
        memcpy(copy, payload, len);
    }
    return s_publish_owned(client, type, copy, len, user, message_id);
}

VCLIENT_API int vclient_publish_message(vclient_t *client, int type,
                                        const ProtobufCMessage *message, void *user,
                                        uint8_t message_id[VCLIENT_ID_BYTES])
{
    if (client == NULL || message == NULL) {
        return VCLIENT_EINVAL;
    }
    size_t len = protobuf_c_message_get_packed_size(message);
    uint8_t *payload = malloc(len > 0 ? len : 1);
    if (payload == NULL) {
        return VCLIENT_ENOMEM;
    }
    protobuf_c_message_pack(message, payload);
    return s_publish_owned(client, type, payload, len, user, message_id);
}

VCLIENT_API int vclient_poll(vclient_t *c, vclient_reply_t *reply, int timeout_ms)
{
    if (c == NULL || reply == NULL) {
        return VCLIENT_EINVAL;
    }
    uint64_t start = s_now_ns();
    uint64_t deadline =
        timeout_ms < 0 ? CLIENT_NEVER : start + (uint64_t)timeout_ms * CLIENT_NS_PER_MS;
    for (;;) {
        if (s_queue_pop(c, reply)) {
            return 1;
        }
        uint64_t now = s_now_ns();
        if ((c->socket == NULL || now >= s_reconnect_at(c)) && s_reconnect(c) < 0) {
            return VCLIENT_ESOCKET;
        }
        s_resend_due(c, now);
        if (s_drain(c, now) < 0) {
            return VCLIENT_ESOCKET;
        }
        s_read_monitor(c);
        if (c->queue_count > 0) {
            continue;
        }
        now = s_now_ns();
        if (now >= deadline) {
            return 0;
        }
        uint64_t wake = deadline;
        uint64_t timers[] = {c->next_due_ns, s_reconnect_at(c)};
        for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
            if (timers[i] < wake) {
                wake = timers[i];
            }
        }
        long wait_ms = -1;
        if (wake != CLIENT_NEVER) {
            uint64_t wait_ns = wake > now ? wake - now : 0;
            uint64_t ms = (wait_ns + CLIENT_NS_PER_MS - 1) / CLIENT_NS_PER_MS;
            wait_ms = ms > INT_MAX ? INT_MAX : (long)ms;
        }
        zmq_pollitem_t items[] = {
            {c->socket, 0, ZMQ_POLLIN, 0},
            {c->monitor, 0, ZMQ_POLLIN, 0},
        };
        int count = c->monitor != NULL ? 2 : 1;
        if (zmq_poll(items, count, wait_ms) < 0) {
            return zmq_errno() == EINTR ? 0 : VCLIENT_ESOCKET;
        }
    }
}

VCLIENT_API int vclient_forget(vclient_t *client, const uint8_t message_id[VCLIENT_ID_BYTES],
                               void **user)
{
    if (client == NULL || message_id == NULL) {
        return VCLIENT_EINVAL;
    }
    request_t *r = request_table_find(client->table, message_id);
    if (r == NULL) {
        return VCLIENT_ENOTFOUND;
    }
    if (user != NULL) {
        *user = r->user;
    }
    request_table_remove(client->table, r);
    s_queue_drop(client, message_id);
    return VCLIENT_OK;
}

VCLIENT_API int vclient_reconnect(vclient_t *client)
{
    if (client == NULL) {
        return VCLIENT_EINVAL;
    }
    return s_reconnect(client);
}

VCLIENT_API size_t vclient_inflight(const vclient_t *client)
{
    return client != NULL ? request_table_count(client->table) : 0;
}

VCLIENT_API int vclient_window(const vclient_t *client)
{
    return client != NULL ? client->config.window : 0;
}

VCLIENT_API void vclient_stats(const vclient_t *client, vclient_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    if (client != NULL) {
        *stats = client->stats;
        stats->inflight = request_table_count(client->table);
    }
}

VCLIENT_API const char *vclient_status_name(int status)
{
    return s_enum_short_name(&vigil__v1__ack_status__descriptor, status, s_status_prefix);
}

VCLIENT_API const char *vclient_reason_name(int reason)
{
    return s_enum_short_name(&vigil__v1__reason_code__descriptor, reason, s_reason_prefix);
}

VCLIENT_API const char *vclient_strerror(int code)
{
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors[0]; i++) {
        if (s_errors[i].code == code) {
            return s_errors[i].text;
        }
    }
    return s_unknown;
}

VCLIENT_API void vclient_id_hex(const uint8_t message_id[VCLIENT_ID_BYTES], char out[33])
{
    sodium_bin2hex(out, 2 * VCLIENT_ID_BYTES + 1, message_id, VCLIENT_ID_BYTES);
}

/* The public constants are wire numbers; keep them in step with the schema. */
_Static_assert((int)VCLIENT_TYPE_INTAKE_CONTACT ==
                   (int)VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT,
               "type number");
_Static_assert((int)VCLIENT_TYPE_CUSTODY_EVENT ==
                   (int)VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT,
               "type number");
_Static_assert((int)VCLIENT_TYPE_SUBSCRIPTION_REQUEST ==
                   (int)VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST,
               "type number");
_Static_assert((int)VCLIENT_TYPE_DELIVERY_CONFIRMATION ==
                   (int)VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION,
               "type number");
_Static_assert((int)VCLIENT_TYPE_ASSIGNMENT_RECEIPT ==
                   (int)VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT,
               "type number");
_Static_assert((int)VCLIENT_STATUS_ACCEPTED == (int)VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
               "status");
_Static_assert((int)VCLIENT_STATUS_DUPLICATE == (int)VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE,
               "status");
_Static_assert((int)VCLIENT_STATUS_REJECTED == (int)VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED,
               "status");
_Static_assert((int)VCLIENT_STATUS_DEAD_LETTERED ==
                   (int)VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED,
               "status");
_Static_assert(VCLIENT_ID_BYTES == 16, "message ids are 16 bytes on the wire");
