/* link_server.c: the receiving end of the reliable link.
 *
 * One ROUTER socket (CURVE server with the allowlist, ROUTER_MANDATORY,
 * ZMTP heartbeats, MAXMSGSIZE at twice max_frame, bounded linger). When it
 * becomes readable the server drains what is waiting, up to batch_max
 * messages, without blocking; checks each frame (size, envelope, message_id,
 * route, payload, unknown fields) and answers bad ones REJECTED without
 * touching the store; runs the rest through the inbox (link_inbox.c) in one
 * BEGIN IMMEDIATE ... COMMIT (group commit); and only after the commit sends
 * the acks, one Ack per peer per batch when coalesce_acks is set. A socket
 * monitor counts failed handshakes (unknown keys, no CURVE, garbage).
 * With inbox_retention_days set, a loop timer prunes old inbox records in
 * small steps between batches (link_prune.c).
 *
 * When a route has a prepare (link_prepare_fn), the checks and the
 * prepares of large batches run on a thread of the server's own, in a
 * pipeline of two batches: while the loop thread stores and answers one,
 * the preparer decodes, checks and prepares the next (s_on_readable). The
 * two threads never share a batch's items or arena, and the pipeline is
 * empty whenever the loop runs anything else.
 *
 * It must never acknowledge a message before its batch committed, never log
 * a payload value, and never stop reading because one peer misbehaves.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_inbox.h"
#include "vigil/fault.h"
#include "vigil/log.h"
#include "vigil/util.h"

#define SERVER_LINGER_MS         500 /* close waits at most this long for acks in flight */
#define SERVER_HEARTBEAT_FACTOR  3   /* heartbeat TTL and timeout, in heartbeat intervals */
#define SERVER_MIN_FRAME         256 /* smallest max_frame accepted */
#define SERVER_WARN_LOG_PER_SEC  20  /* warning lines per second, then a summary */
#define SERVER_ERR_LEN           256
#define SERVER_NS_PER_S          1e9 /* for latencies in seconds */
#define SERVER_NS_PER_SECOND     UINT64_C(1000000000)
#define SERVER_ENVELOPE_OVERHEAD 128 /* ack envelope bytes besides the Ack payload */
/* Frames queued per connection before ZeroMQ stops reading its TCP socket
 * (backpressure, nothing is dropped); bounds memory per peer to this many
 * frames of at most 2 x max_frame. Twice the default peer window. */
#define SERVER_RCVHWM 4096
#define SERVER_MONITOR_EVENTS                                                                      \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
#define SERVER_MONITOR_EVENT_BYTES 6 /* uint16 event + uint32 value */
#define SERVER_PEER_LOCAL          "local"
#define SERVER_REASONS             64 /* rejected_total slots, indexed by ReasonCode */
#define SERVER_PEER_CACHE          64 /* routing ids whose peer name is remembered */
#define SERVER_ROUTING_ID_MAX      32 /* longer routing ids are not cached */
#define SERVER_MS_PER_DAY          INT64_C(86400000)
#define SERVER_NO_TIMER            (-1) /* prune_timer when no timer is registered */
/* Batches smaller than this are prepared on the loop thread: handing them
 * to the preparer would only add two thread wake-ups to their latency. */
#define SERVER_PIPELINE_MIN 32
/* Batches one readable event may run through the pipeline before the loop
 * serves its timers and other sockets again. */
#define SERVER_PIPELINE_ROUNDS 8

/* Peer names by ROUTER routing id: a routing id stands for one connection
 * (ZeroMQ never reuses one on a socket), so its name is looked up once. */
typedef struct {
    uint8_t id[SERVER_ROUTING_ID_MAX];
    size_t len;
    const char *peer; /* borrowed from security (interned), NULL = unused */
} server_peer_t;

/* One received message and, once decided, its answer. */
typedef struct {
    zmq_msg_t routing; /* the ROUTER's identity frame for the reply */
    zmq_msg_t body;    /* the envelope frame (when has_body) */
    bool has_routing;
    bool has_body;    /* false for a malformed multipart */
    bool delimiter;   /* the sender is a REQ socket: reply with an empty frame first */
    bool decided;     /* rejected before the transaction; `outcome` is final */
    bool duplicate;   /* answered from the inbox record */
    bool acked;       /* its ack went into a reply */
    const char *peer; /* allowlisted name, borrowed from security; NULL: none valid */
    Vigil__V1__Envelope *envelope;
    ProtobufCMessage *payload; /* decoded and checked by s_check; NULL: unknown type */
    void *prepared;            /* what the route's prepare returned, for link_prepared() */
    uint8_t message_id[VIGIL_ID_BYTES];
    size_t message_id_len;
    link_result_t outcome;
} server_item_t;

/* Messages received together, and the arenas their envelopes, payloads and
 * prepared work live in: an arena belongs to one thread at a time, and the
 * first batch of a pipeline is prepared by two at once. */
typedef struct {
    server_item_t *items; /* batch_max of them */
    size_t count;
    link_arena_t arena; /* the preparer's, or the loop thread's alone */
    link_arena_t side;  /* the loop thread's, while the preparer has `arena` */
} server_batch_t;

/* The thread that prepares one batch (or part of one) while the loop
 * thread stores another. A job is posted and waited for under `lock`. */
typedef struct {
    link_server_t *server;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;   /* a job posted, done, or stop */
    server_batch_t *batch; /* the job's batch; NULL when there is none */
    size_t from, to;       /* the job's items */
    bool done;
    bool stop;
} server_preparer_t;

struct link_server_t {
    link_server_config_t config;
    char *endpoint;
    sqlite3 *db;
    security_t *security;
    const vault_t *vault;
    link_inbox_t *inbox;
    link_prune_t *prune; /* NULL when records are kept forever */
    int prune_timer;     /* zloop timer id, or SERVER_NO_TIMER */
    zsock_t *socket;
    zsock_t *monitor;
    zloop_t *loop;
    bool reading;
    /* Two batches: one being stored while the next is prepared. */
    server_batch_t pipeline[2];
    bool prepares;               /* some route has a prepare */
    server_preparer_t *preparer; /* started at attach when `prepares`; else NULL */
    server_peer_t peers[SERVER_PEER_CACHE];
    size_t peer_next;         /* round-robin replacement */
    uint64_t peer_generation; /* the allowlist the cached names came from */
    Vigil__V1__AckEntry *entries;
    Vigil__V1__AckEntry **entry_ptrs;
    uint8_t *buffer;
    size_t buffer_size;
    /* totals for the closing log line (metrics may be absent) */
    uint64_t total_received;
    uint64_t total_duplicates;
    uint64_t total_rejected;
    uint64_t total_batches;
    uint64_t total_pruned;
    /* warning log rate limit */
    uint64_t log_window_ns;
    unsigned log_count;
    unsigned log_suppressed;
    /* metrics (NULL when the service has no registry) */
    metric_t *received;
    metric_t *acked;
    metric_t *duplicates;
    metric_t *retries;
    metric_t *dead_lettered;
    metric_t *batches;
    metric_t *batch_messages;
    metric_t *commit_seconds;
    metric_t *commit_failures;
    metric_t *acks_dropped;
    metric_t *inbox_pruned;
    metric_t *prepared_ahead;
    metric_t *handshake_auth;
    metric_t *handshake_protocol;
    metric_t *handshake_other;
    metric_t *rejected[SERVER_REASONS];
};

/* The server's metrics, declared once. Rejections get one series per
 * reason code, registered from the generated enum in s_add_metrics(). */
static const struct {
    size_t offset;
    metric_kind_t kind;
    const char *name;
    const char *help;
    const char *labels;
} s_metrics[] = {
    {offsetof(link_server_t, received), METRIC_COUNTER, "link_received_total",
     "Link messages received, valid or not", NULL},
    {offsetof(link_server_t, acked), METRIC_COUNTER, "link_acked_total",
     "Link ack entries sent after their batch committed", NULL},
    {offsetof(link_server_t, duplicates), METRIC_COUNTER, "link_duplicates_total",
     "Link messages already handled, answered from the inbox record", NULL},
    {offsetof(link_server_t, retries), METRIC_COUNTER, "link_retries_total",
     "Link messages answered RETRY (handler failure below max_attempts, or store error)", NULL},
    {offsetof(link_server_t, dead_lettered), METRIC_COUNTER, "link_dead_lettered_total",
     "Link messages parked after max_attempts handler failures", "direction=\"in\""},
    {offsetof(link_server_t, batches), METRIC_COUNTER, "link_batches_total",
     "Link group commits (one transaction each)", NULL},
    {offsetof(link_server_t, batch_messages), METRIC_GAUGE, "link_batch_messages",
     "Messages in the last link batch", NULL},
    {offsetof(link_server_t, commit_seconds), METRIC_HISTOGRAM, "link_commit_seconds",
     "Time from BEGIN to COMMIT of one link batch", NULL},
    {offsetof(link_server_t, commit_failures), METRIC_COUNTER, "link_commit_failures_total",
     "Link batches rolled back by a store error (their messages were answered RETRY)", NULL},
    {offsetof(link_server_t, acks_dropped), METRIC_COUNTER, "link_acks_dropped_total",
     "Link ack entries not sent: the peer had gone or stopped reading (it retransmits)", NULL},
    {offsetof(link_server_t, inbox_pruned), METRIC_COUNTER, "link_inbox_pruned_total",
     "Link inbox records deleted after link.inbox_retention_days", NULL},
    {offsetof(link_server_t, prepared_ahead), METRIC_COUNTER, "link_prepared_ahead_total",
     "Link messages checked and prepared on the preparer thread, beside the loop thread", NULL},
    {offsetof(link_server_t, handshake_auth), METRIC_COUNTER, "link_handshake_failures_total",
     "Failed link handshakes: key not allowlisted (auth), no or wrong security (protocol), other",
     "reason=\"auth\""},
    {offsetof(link_server_t, handshake_protocol), METRIC_COUNTER, "link_handshake_failures_total",
     "Failed link handshakes: key not allowlisted (auth), no or wrong security (protocol), other",
     "reason=\"protocol\""},
    {offsetof(link_server_t, handshake_other), METRIC_COUNTER, "link_handshake_failures_total",
     "Failed link handshakes: key not allowlisted (auth), no or wrong security (protocol), other",
     "reason=\"other\""},
};

static void s_add_metrics(link_server_t *self, metrics_t *metrics)
{
    if (!metrics)
        return;
    for (size_t i = 0; i < sizeof s_metrics / sizeof s_metrics[0]; i++)
        *(metric_t **)((char *)self + s_metrics[i].offset) = metrics_add(
            metrics, s_metrics[i].kind, s_metrics[i].name, s_metrics[i].help, s_metrics[i].labels);
    const ProtobufCEnumDescriptor *reasons = &vigil__v1__reason_code__descriptor;
    for (unsigned i = 0; i < reasons->n_values; i++) {
        int value = reasons->values[i].value;
        if (value <= 0 || value >= SERVER_REASONS)
            continue;
        char labels[SERVER_ERR_LEN];
        snprintf(labels, sizeof labels, "reason=\"%s\"",
                 link_reason_name((Vigil__V1__ReasonCode)value));
        self->rejected[value] = metrics_add(metrics, METRIC_COUNTER, "link_rejected_total",
                                            "Link messages answered REJECTED, by reason", labels);
    }
}

static bool s_is_tcp(const char *endpoint)
{
    return strncmp(endpoint, "tcp://", strlen("tcp://")) == 0;
}

link_server_t *link_server_new(const link_server_config_t *config, sqlite3 *db,
                               security_t *security, const vault_t *vault, metrics_t *metrics,
                               const link_route_t *routes, void *ctx, char *err, size_t errlen)
{
    if (!config || !config->endpoint || !*config->endpoint || !db || !routes) {
        snprintf(err, errlen, "link server: endpoint, store and routes are required");
        return NULL;
    }
    if (config->batch_max < 1 || config->max_attempts < 1 || config->heartbeat_ms < 0 ||
        config->inbox_retention_days < 0 || config->max_frame < SERVER_MIN_FRAME ||
        config->max_frame > (size_t)INT_MAX / 2) {
        snprintf(err, errlen,
                 "link server: need batch_max >= 1, max_attempts >= 1, heartbeat_ms >= 0, "
                 "inbox_retention_days >= 0 and %d <= max_frame <= %d",
                 SERVER_MIN_FRAME, INT_MAX / 2);
        return NULL;
    }
    if (!security && s_is_tcp(config->endpoint)) {
        snprintf(err, errlen, "link server: %s is TCP and no security is configured",
                 config->endpoint);
        return NULL;
    }
    link_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "link server: out of memory");
        return NULL;
    }
    self->config = *config;
    self->endpoint = strdup(config->endpoint);
    self->config.endpoint = self->endpoint;
    self->db = db;
    self->security = security;
    self->vault = vault;
    self->prune_timer = SERVER_NO_TIMER;
    size_t batch = (size_t)config->batch_max;
    for (size_t b = 0; b < 2; b++) {
        self->pipeline[b].items = calloc(batch, sizeof *self->pipeline[b].items);
        link_arena_init(&self->pipeline[b].arena);
        link_arena_init(&self->pipeline[b].side);
    }
    self->entries = calloc(batch, sizeof *self->entries);
    self->entry_ptrs = calloc(batch, sizeof *self->entry_ptrs);
    if (!self->endpoint || !self->pipeline[0].items || !self->pipeline[1].items || !self->entries ||
        !self->entry_ptrs) {
        snprintf(err, errlen, "link server: out of memory for a batch of %zu", batch);
        link_server_destroy(&self);
        return NULL;
    }
    for (const link_route_t *route = routes; route->type; route++)
        self->prepares |= route->prepare != NULL;
    self->inbox = link_inbox_new(db, vault, routes, ctx, config->max_attempts, err, errlen);
    if (!self->inbox) {
        link_server_destroy(&self);
        return NULL;
    }
    if (config->inbox_retention_days > 0) {
        self->prune = link_prune_new(db, err, errlen);
        if (!self->prune) {
            link_server_destroy(&self);
            return NULL;
        }
    }
    s_add_metrics(self, metrics);
    return self;
}

/* --- checks before the transaction -------------------------------------- */

static void s_decide(server_item_t *item, Vigil__V1__AckStatus status, Vigil__V1__ReasonCode reason,
                     const char *detail)
{
    item->decided = true;
    item->outcome.status = status;
    item->outcome.reason = reason;
    snprintf(item->outcome.detail, sizeof item->outcome.detail, "%s", detail ? detail : "");
}

static void s_reject(server_item_t *item, Vigil__V1__ReasonCode reason, const char *detail)
{
    s_decide(item, VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED, reason, detail);
}

static void s_keep_id(server_item_t *item, const uint8_t *id, size_t len)
{
    if (len == VIGIL_ID_BYTES) {
        memcpy(item->message_id, id, len);
        item->message_id_len = len;
    }
}

/* Runs the route's prepare on a checked item (link_prepare_fn). */
static void s_prepare(link_server_t *self, link_arena_t *arena, server_item_t *item,
                      const link_route_t *route)
{
    if (route->prepare)
        item->prepared = route->prepare(link_inbox_ctx(self->inbox), item->envelope, item->payload,
                                        item->peer, &arena->allocator);
}

/* Keeps the message id of a frame that is not decoded, if a scan of its
 * top-level fields finds one. Cannot fail. */
static void s_keep_peeked_id(server_item_t *item, const uint8_t *data, size_t size)
{
    const uint8_t *id = NULL;
    size_t id_len = 0;
    if (link_peek_bytes_field(data, size, LINK_FIELD_MESSAGE_ID, &id, &id_len) == 0)
        s_keep_id(item, id, id_len);
}

/* Decodes and checks one frame; rejects it (item->decided) or leaves it for
 * the transaction. Only sizes, type numbers and field numbers reach the
 * detail text, never a value. */
static void s_check(link_server_t *self, link_arena_t *arena, server_item_t *item)
{
    char detail[sizeof item->outcome.detail];
    if (!item->has_body) {
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_MALFORMED,
                 "expected one envelope frame (after an optional empty delimiter)");
        return;
    }
    const uint8_t *data = zmq_msg_data(&item->body);
    size_t size = zmq_msg_size(&item->body);
    if (!item->peer) {
        /* A key whose cert was removed from the allowlist after its
         * connection was made, or whose cert names no valid holder. The
         * answer carries the message id, so the sender can tell which
         * request was refused. */
        s_keep_peeked_id(item, data, size);
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_NOT_PERMITTED,
                 "the sender's key is no longer in the allowlist, or its cert names no valid "
                 "holder");
        return;
    }
    if (size > self->config.max_frame) {
        s_keep_peeked_id(item, data, size);
        snprintf(detail, sizeof detail, "frame of %zu bytes exceeds max_frame %zu", size,
                 self->config.max_frame);
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_TOO_LARGE, detail);
        return;
    }
    item->envelope = link_envelope_unpack(arena, size, data);
    if (!item->envelope) {
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_MALFORMED,
                 "frame is not a vigil.v1.Envelope");
        return;
    }
    const Vigil__V1__Envelope *envelope = item->envelope;
    s_keep_id(item, envelope->message_id.data, envelope->message_id.len);
    if (envelope->message_id.len == 0) {
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_MISSING_FIELD,
                 "envelope.message_id is empty");
        return;
    }
    if (envelope->message_id.len != VIGIL_ID_BYTES) {
        snprintf(detail, sizeof detail, "envelope.message_id has %zu bytes, expected %d",
                 envelope->message_id.len, VIGIL_ID_BYTES);
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE, detail);
        return;
    }
    const link_route_t *route = link_inbox_route(self->inbox, envelope->type);
    if (!route) {
        snprintf(detail, sizeof detail, "envelope.type %d is not accepted here",
                 (int)envelope->type);
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_UNKNOWN_TYPE, detail);
        return;
    }
    uint32_t unknown = 0;
    if (self->config.reject_unknown_fields && link_unknown_field(&envelope->base, &unknown)) {
        snprintf(detail, sizeof detail, "envelope field number %u is unknown", unknown);
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_UNKNOWN_FIELD, detail);
        return;
    }
    const ProtobufCMessageDescriptor *descriptor = link_payload_descriptor(envelope->type);
    if (!descriptor) {
        /* routed but unknown to the link: the handler decodes it */
        s_prepare(self, arena, item, route);
        return;
    }
    ProtobufCMessage *payload = protobuf_c_message_unpack(
        descriptor, &arena->allocator, envelope->payload.len, envelope->payload.data);
    if (!payload) {
        snprintf(detail, sizeof detail, "payload is not a valid %s", descriptor->name);
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_MALFORMED, detail);
        return;
    }
    if (self->config.reject_unknown_fields && link_unknown_field(payload, &unknown)) {
        snprintf(detail, sizeof detail, "payload %s has unknown field number %u", descriptor->name,
                 unknown);
        s_reject(item, VIGIL__V1__REASON_CODE__REASON_UNKNOWN_FIELD, detail);
        return;
    }
    item->payload = payload; /* the handler gets it through link_payload() */
    s_prepare(self, arena, item, route);
}

/* Checks and prepares items [from, to) of `batch` into `arena` (one of
 * the batch's): on the loop thread, or on the preparer's while the loop
 * thread stores another batch. Touches only those items, that arena and
 * what link_prepare_fn may touch. Cannot fail. */
static void s_prepare_range(link_server_t *self, server_batch_t *batch, link_arena_t *arena,
                            size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        s_check(self, arena, &batch->items[i]);
}

/* --- the preparer thread ---------------------------------------------------- */

static void *s_preparer_run(void *arg)
{
    server_preparer_t *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && (!p->batch || p->done))
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stop)
            break;
        server_batch_t *batch = p->batch;
        size_t from = p->from, to = p->to;
        pthread_mutex_unlock(&p->lock);
        s_prepare_range(p->server, batch, &batch->arena, from, to);
        pthread_mutex_lock(&p->lock);
        p->done = true;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Hands items [from, to) of `batch` to the preparer, which must be idle. */
static void s_preparer_post(server_preparer_t *p, server_batch_t *batch, size_t from, size_t to)
{
    metric_add(p->server->prepared_ahead, to - from);
    pthread_mutex_lock(&p->lock);
    p->batch = batch;
    p->from = from;
    p->to = to;
    p->done = false;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Waits until the preparer has finished its job (if any); it is idle after. */
static void s_preparer_wait(server_preparer_t *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->batch && !p->done)
        pthread_cond_wait(&p->cond, &p->lock);
    p->batch = NULL;
    pthread_mutex_unlock(&p->lock);
}

/* Starts the preparer thread. Returns NULL with a message. */
static server_preparer_t *s_preparer_new(link_server_t *server, char *err, size_t errlen)
{
    server_preparer_t *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "link server: out of memory for the preparer");
        return NULL;
    }
    p->server = server;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    int rc = pthread_create(&p->thread, NULL, s_preparer_run, p);
    if (rc != 0) {
        snprintf(err, errlen, "link server: cannot start the preparer thread: %s", strerror(rc));
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
}

/* Stops and joins the preparer (idle: no batch outlives a readable event).
 * Cannot fail. */
static void s_preparer_destroy(server_preparer_t **p_p)
{
    server_preparer_t *p = *p_p;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
    *p_p = NULL;
}

/* --- receiving ------------------------------------------------------------ */

static void s_item_clear(server_item_t *item)
{
    if (item->has_routing)
        zmq_msg_close(&item->routing);
    if (item->has_body)
        zmq_msg_close(&item->body);
    memset(item, 0, sizeof *item); /* the envelope lives in the batch arena */
}

/* Forgets every cached name when the allowlist changed since they were
 * looked up: a connection whose key was removed must stop being named (and
 * so be refused, s_check) within about a second, not when it reconnects.
 * Once per batch: a lock and a clock read. Cannot fail. */
static void s_peer_revalidate(link_server_t *self)
{
    uint64_t generation = security_allowlist_generation(self->security);
    if (generation == self->peer_generation)
        return;
    memset(self->peers, 0, sizeof self->peers);
    self->peer_next = 0;
    self->peer_generation = generation;
}

/* The cached peer name of a routing id, or NULL. */
static const char *s_peer_cached(link_server_t *self, const zmq_msg_t *routing)
{
    size_t len = zmq_msg_size(routing);
    const void *id = zmq_msg_data((zmq_msg_t *)routing);
    for (size_t i = 0; i < SERVER_PEER_CACHE; i++)
        if (self->peers[i].peer && self->peers[i].len == len &&
            memcmp(self->peers[i].id, id, len) == 0)
            return self->peers[i].peer;
    return NULL;
}

static void s_peer_remember(link_server_t *self, const zmq_msg_t *routing, const char *peer)
{
    size_t len = zmq_msg_size(routing);
    if (!peer || len > SERVER_ROUTING_ID_MAX)
        return;
    server_peer_t *slot = &self->peers[self->peer_next];
    self->peer_next = (self->peer_next + 1) % SERVER_PEER_CACHE;
    memcpy(slot->id, zmq_msg_data((zmq_msg_t *)routing), len);
    slot->len = len;
    slot->peer = peer;
}

/* Receives one frame into `part` without blocking. When `peer` is not NULL,
 * the frame is read through czmq so the sender's allowlisted name can be
 * looked up from its metadata, and the name goes to *peer; the return value
 * then says whether more frames follow (1) or not (0), since the copy loses
 * that flag. Returns -1 when nothing was read. */
static int s_receive_part(link_server_t *self, zmq_msg_t *part, const char **peer)
{
    if (!peer) {
        zmq_msg_init(part);
        if (zmq_msg_recv(part, zsock_resolve(self->socket), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(part);
            return -1;
        }
        return 0;
    }
    zframe_t *frame = zframe_recv(self->socket);
    if (!frame)
        return -1;
    *peer = security_peer_name(self->security, frame);
    int more = zframe_more(frame);
    zmq_msg_init_size(part, zframe_size(frame));
    memcpy(zmq_msg_data(part), zframe_data(frame), zframe_size(frame));
    zframe_destroy(&frame);
    return more ? 1 : 0;
}

/* Reads one whole message into `item` without blocking. Returns 1 when one
 * was read, 0 when nothing is waiting. */
static int s_receive(link_server_t *self, server_item_t *item)
{
    void *socket = zsock_resolve(self->socket);
    zmq_msg_init(&item->routing);
    if (zmq_msg_recv(&item->routing, socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&item->routing);
        return 0;
    }
    item->has_routing = true;
    const char *peer = self->security ? s_peer_cached(self, &item->routing) : SERVER_PEER_LOCAL;
    bool lookup = peer == NULL;
    zmq_msg_t parts[2];
    size_t count = 0;
    bool more = zmq_msg_more(&item->routing);
    while (more) {
        zmq_msg_t part;
        int rc = s_receive_part(self, &part, lookup ? &peer : NULL);
        if (rc < 0)
            break;
        more = lookup ? rc == 1 : zmq_msg_more(&part);
        if (lookup) {
            lookup = false;
            s_peer_remember(self, &item->routing, peer);
        }
        if (count < 2) {
            zmq_msg_init(&parts[count]);
            zmq_msg_move(&parts[count], &part);
        }
        zmq_msg_close(&part);
        count++;
    }
    size_t kept = count < 2 ? count : 2;
    if (count == 1 && zmq_msg_size(&parts[0]) > 0) {
        zmq_msg_init(&item->body);
        zmq_msg_move(&item->body, &parts[0]);
        item->has_body = true;
    } else if (count == 2 && zmq_msg_size(&parts[0]) == 0 && zmq_msg_size(&parts[1]) > 0) {
        item->delimiter = true;
        zmq_msg_init(&item->body);
        zmq_msg_move(&item->body, &parts[1]);
        item->has_body = true;
    } else {
        item->delimiter = count >= 1 && zmq_msg_size(&parts[0]) == 0;
    }
    for (size_t i = 0; i < kept; i++)
        zmq_msg_close(&parts[i]);
    item->peer = peer;
    return 1;
}

/* --- logging ------------------------------------------------------------- */

static const char *s_peer_label(const server_item_t *item)
{
    return item->peer ? item->peer : "unknown";
}

/* True while this second's budget of warning lines lasts; when a new
 * second starts, first reports how many lines the last one suppressed. One
 * misbehaving client must not flood the log. */
static bool s_log_allowed(link_server_t *self)
{
    uint64_t now = util_mono_ns();
    if (now - self->log_window_ns >= SERVER_NS_PER_SECOND) {
        if (self->log_suppressed)
            log_warn("link warnings not logged (rate limit)", "suppressed=%u",
                     self->log_suppressed);
        self->log_window_ns = now;
        self->log_count = 0;
        self->log_suppressed = 0;
    }
    if (++self->log_count > SERVER_WARN_LOG_PER_SEC) {
        self->log_suppressed++;
        return false;
    }
    return true;
}

/* Logs a rejection: peer, message id, reason and the field-naming detail.
 * Never a payload value. */
static void s_log_rejection(link_server_t *self, const server_item_t *item)
{
    if (!s_log_allowed(self))
        return;
    char id[2 * VIGIL_ID_BYTES + 1];
    util_hex(item->message_id, item->message_id_len, id);
    log_warn("link message rejected", "reason=%s peer=%s message_id=%s bytes=%zu detail=%s",
             link_reason_name(item->outcome.reason), s_peer_label(item),
             item->message_id_len ? id : "-",
             item->has_body ? zmq_msg_size(&item->body) : (size_t)0, item->outcome.detail);
}

/* --- the transaction ------------------------------------------------------ */

/* Runs items [from, to) in one transaction. Returns 0, or -1 after rolling
 * back (their outcomes are then meaningless). */
static int s_transaction(link_server_t *self, server_batch_t *batch, size_t from, size_t to)
{
    if (link_inbox_begin(self->inbox))
        return -1;
    for (size_t i = from; i < to; i++) {
        server_item_t *item = &batch->items[i];
        if (item->decided)
            continue;
        link_inbox_kind_t kind;
        const uint8_t *raw = zmq_msg_data(&item->body);
        if (link_inbox_handle(self->inbox, item->envelope, item->payload, item->prepared, raw,
                              zmq_msg_size(&item->body), item->peer, &item->outcome, &kind)) {
            if (s_log_allowed(self))
                log_error("link batch failed in the store; rolling back", "error=%s type=%d",
                          sqlite3_errmsg(self->db), (int)item->envelope->type);
            link_inbox_rollback(self->inbox);
            return -1;
        }
        item->duplicate = kind == LINK_INBOX_DUPLICATE;
    }
    if (link_inbox_commit(self->inbox)) {
        if (s_log_allowed(self))
            log_error("link batch commit failed; rolling back", "error=%s",
                      sqlite3_errmsg(self->db));
        link_inbox_rollback(self->inbox);
        return -1;
    }
    return 0;
}

/* Group commit of every undecided item. When the batch fails, each item is
 * tried alone so one bad message cannot hold the others back; an item that
 * fails alone is answered RETRY. */
static void s_commit_batch(link_server_t *self, server_batch_t *batch)
{
    size_t pending = 0;
    for (size_t i = 0; i < batch->count; i++)
        pending += !batch->items[i].decided;
    if (pending == 0)
        return;
    uint64_t started = util_mono_ns();
    if (s_transaction(self, batch, 0, batch->count) == 0) {
        metric_observe(self->commit_seconds, (double)(util_mono_ns() - started) / SERVER_NS_PER_S);
    } else {
        metric_inc(self->commit_failures);
        for (size_t i = 0; i < batch->count; i++) {
            server_item_t *item = &batch->items[i];
            if (item->decided)
                continue;
            if (pending == 1 || s_transaction(self, batch, i, i + 1)) {
                memset(&item->outcome, 0, sizeof item->outcome);
                item->duplicate = false;
                s_decide(item, VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY,
                         VIGIL__V1__REASON_CODE__REASON_INTERNAL, "store error; retry later");
            }
        }
    }
    metric_inc(self->batches);
    metric_set(self->batch_messages, (double)pending);
    self->total_batches++;
}

/* --- acks ------------------------------------------------------------------ */

static void s_fill_entry(Vigil__V1__AckEntry *entry, server_item_t *item)
{
    vigil__v1__ack_entry__init(entry);
    entry->message_id.data = item->message_id;
    entry->message_id.len = item->message_id_len;
    entry->status = item->outcome.status;
    entry->reason = item->outcome.reason;
    entry->case_id = item->outcome.case_id;
    entry->event_id = item->outcome.event_id;
    entry->detail = item->outcome.detail;
}

static int s_reserve(link_server_t *self, size_t size)
{
    if (size <= self->buffer_size)
        return 0;
    uint8_t *grown = realloc(self->buffer, size);
    if (!grown)
        return -1;
    self->buffer = grown;
    self->buffer_size = size;
    return 0;
}

/* Sends one Ack carrying `count` entries to the peer of `item`. */
static void s_send_ack(link_server_t *self, const server_item_t *item, size_t count)
{
    /* protobuf-c's bytes, written directly (link_codec.c). */
    size_t ack_len = link_ack_packed_size(self->entry_ptrs, count);
    if (s_reserve(self, 2 * ack_len + SERVER_ENVELOPE_OVERHEAD)) {
        log_error("link ack dropped: out of memory", "bytes=%zu", ack_len);
        metric_add(self->acks_dropped, count);
        return;
    }
    uint8_t *payload = self->buffer + ack_len + SERVER_ENVELOPE_OVERHEAD;
    link_ack_pack(self->entry_ptrs, count, payload);
    uint8_t ack_id[VIGIL_ID_BYTES];
    link_random_bytes(ack_id, sizeof ack_id);
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = ack_id;
    envelope.message_id.len = sizeof ack_id;
    envelope.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK;
    envelope.created_at_ms = util_now_ms();
    envelope.payload.data = payload;
    envelope.payload.len = ack_len;
    size_t len = link_envelope_pack(&envelope, self->buffer);

    if (fault_should_fail(LINK_FAULT_SITE_ACK)) {
        metric_add(self->acks_dropped, count); /* lost in transit, on purpose */
        return;
    }
    void *socket = zsock_resolve(self->socket);
    int flags = ZMQ_DONTWAIT | ZMQ_SNDMORE;
    zmq_msg_t *routing = (zmq_msg_t *)&item->routing;
    int rc = zmq_send(socket, zmq_msg_data(routing), zmq_msg_size(routing), flags);
    if (rc >= 0 && item->delimiter)
        rc = zmq_send(socket, "", 0, flags);
    if (rc >= 0)
        rc = zmq_send(socket, self->buffer, len, ZMQ_DONTWAIT);
    if (rc < 0) {
        /* EHOSTUNREACH: the peer disconnected; EAGAIN: it stopped reading.
         * Either way it retransmits and gets the recorded answer. */
        log_debug("link ack not sent; the peer will retransmit", "peer=%s errno=%d entries=%zu",
                  s_peer_label(item), errno, count);
        metric_add(self->acks_dropped, count);
        return;
    }
    metric_add(self->acked, count);
}

static bool s_same_peer(const server_item_t *a, const server_item_t *b)
{
    zmq_msg_t *x = (zmq_msg_t *)&a->routing, *y = (zmq_msg_t *)&b->routing;
    return a->delimiter == b->delimiter && zmq_msg_size(x) == zmq_msg_size(y) &&
           memcmp(zmq_msg_data(x), zmq_msg_data(y), zmq_msg_size(x)) == 0;
}

static void s_count_outcome(link_server_t *self, server_item_t *item)
{
    switch (item->outcome.status) {
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED:
        self->total_rejected++;
        if ((unsigned)item->outcome.reason < SERVER_REASONS)
            metric_inc(self->rejected[item->outcome.reason]);
        s_log_rejection(self, item);
        break;
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY:
        metric_inc(self->retries);
        break;
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED:
        if (!item->duplicate) {
            metric_inc(self->dead_lettered);
            char id[2 * VIGIL_ID_BYTES + 1];
            util_hex(item->message_id, item->message_id_len, id);
            log_warn("link message dead-lettered after repeated handler failures",
                     "peer=%s message_id=%s reason=%s", s_peer_label(item), id,
                     link_reason_name(item->outcome.reason));
        }
        break;
    default:
        break;
    }
    if (item->duplicate) {
        metric_inc(self->duplicates);
        self->total_duplicates++;
    }
}

/* Answers every item: one Ack per peer when coalescing, else one per item. */
static void s_send_acks(link_server_t *self, server_batch_t *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        server_item_t *first = &batch->items[i];
        if (first->acked)
            continue;
        size_t count = 0;
        for (size_t j = i; j < batch->count; j++) {
            server_item_t *item = &batch->items[j];
            if (item->acked ||
                (j != i && (!self->config.coalesce_acks || !s_same_peer(first, item))))
                continue;
            s_fill_entry(&self->entries[count], item);
            self->entry_ptrs[count] = &self->entries[count];
            count++;
            item->acked = true;
            s_count_outcome(self, item);
            if (!self->config.coalesce_acks)
                break;
        }
        s_send_ack(self, first, count);
    }
}

/* --- the loop --------------------------------------------------------------- */

/* Reads what is waiting, up to batch_max messages, into `batch` without
 * blocking. Returns how many. */
static size_t s_receive_batch(link_server_t *self, server_batch_t *batch)
{
    batch->count = 0;
    if (self->security)
        s_peer_revalidate(self);
    while (batch->count < (size_t)self->config.batch_max &&
           s_receive(self, &batch->items[batch->count]))
        batch->count++;
    if (batch->count > 0) {
        metric_add(self->received, batch->count);
        self->total_received += batch->count;
    }
    return batch->count;
}

/* Stores a prepared batch (group commit), answers it, and empties it. */
static void s_finish(link_server_t *self, server_batch_t *batch)
{
    s_commit_batch(self, batch);
    s_send_acks(self, batch);
    for (size_t i = 0; i < batch->count; i++)
        s_item_clear(&batch->items[i]);
    batch->count = 0;
    link_arena_reset(&batch->arena);
    link_arena_reset(&batch->side);
}

/* Without a preparer, or for a small batch: one batch, all on this thread.
 * With one, a pipeline: while this thread stores and answers a batch, the
 * preparer checks and prepares the messages that arrived meanwhile (the
 * first batch it splits with this thread). It ends with every batch
 * answered, so the preparer is idle whenever the loop runs anything else
 * (a reload, say, may change what prepares read). */
static int s_on_readable(zloop_t *loop, zsock_t *socket, void *arg)
{
    (void)loop;
    (void)socket;
    link_server_t *self = arg;
    server_batch_t *current = &self->pipeline[0], *next = &self->pipeline[1];
    if (s_receive_batch(self, current) == 0)
        return 0;
    server_preparer_t *preparer = self->preparer;
    if (!preparer || current->count < SERVER_PIPELINE_MIN) {
        s_prepare_range(self, current, &current->arena, 0, current->count);
        s_finish(self, current);
        return 0;
    }
    size_t half = current->count / 2;
    s_preparer_post(preparer, current, 0, half);
    s_prepare_range(self, current, &current->side, half, current->count);
    s_preparer_wait(preparer);
    for (int round = 1;; round++) {
        bool more = round < SERVER_PIPELINE_ROUNDS && s_receive_batch(self, next) > 0;
        if (more)
            s_preparer_post(preparer, next, 0, next->count);
        s_finish(self, current);
        if (!more)
            break;
        s_preparer_wait(preparer);
        server_batch_t *swap = current;
        current = next;
        next = swap;
    }
    return 0;
}

/* One bounded pruning step; between batches, so never inside one. A store
 * error is logged and the next tick tries again. */
static int s_on_prune(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    link_server_t *self = arg;
    int64_t cutoff = util_now_ms() - self->config.inbox_retention_days * SERVER_MS_PER_DAY;
    int64_t deleted = 0;
    if (link_prune_step(self->prune, cutoff, LINK_PRUNE_STEP_ROWS, &deleted)) {
        if (s_log_allowed(self))
            log_warn("link inbox pruning step failed; retrying at the next tick", "error=%s",
                     sqlite3_errmsg(self->db));
        return 0;
    }
    metric_add(self->inbox_pruned, (uint64_t)deleted);
    self->total_pruned += (uint64_t)deleted;
    return 0;
}

static int s_on_monitor(zloop_t *loop, zsock_t *monitor, void *arg)
{
    (void)loop;
    link_server_t *self = arg;
    zmsg_t *event = zmsg_recv(monitor);
    if (!event)
        return 0;
    zframe_t *head = zmsg_first(event);
    if (head && zframe_size(head) >= SERVER_MONITOR_EVENT_BYTES) {
        uint16_t kind;
        uint32_t value;
        memcpy(&kind, zframe_data(head), sizeof kind);
        memcpy(&value, zframe_data(head) + sizeof kind, sizeof value);
        const char *reason = "other";
        metric_t *counter = self->handshake_other;
        if (kind == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            reason = "auth";
            counter = self->handshake_auth;
        } else if (kind == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            reason = "protocol";
            counter = self->handshake_protocol;
        }
        metric_inc(counter);
        if (s_log_allowed(self))
            log_warn("link handshake failed; the client never reached a handler",
                     "reason=%s code=0x%x endpoint=%s", reason, value, self->endpoint);
    }
    zmsg_destroy(&event);
    return 0;
}

/* Sets the socket options the link relies on. */
static void s_configure(link_server_t *self)
{
    zsock_t *s = self->socket;
    zsock_set_router_mandatory(s, 1);
    zsock_set_rcvtimeo(s, 0);
    zsock_set_linger(s, SERVER_LINGER_MS);
    zsock_set_maxmsgsize(s, (int)(2 * self->config.max_frame));
    zsock_set_rcvhwm(s, SERVER_RCVHWM);
    if (self->config.heartbeat_ms > 0) {
        zsock_set_heartbeat_ivl(s, self->config.heartbeat_ms);
        zsock_set_heartbeat_ttl(s, self->config.heartbeat_ms * SERVER_HEARTBEAT_FACTOR);
        zsock_set_heartbeat_timeout(s, self->config.heartbeat_ms * SERVER_HEARTBEAT_FACTOR);
    }
}

int link_server_attach(link_server_t *self, zloop_t *loop, char *err, size_t errlen)
{
    if (self->socket) {
        snprintf(err, errlen, "link server: already attached");
        return -1;
    }
    self->socket = zsock_new(ZMQ_ROUTER);
    if (!self->socket) {
        snprintf(err, errlen, "link server: cannot create a ROUTER socket");
        return -1;
    }
    s_configure(self);
    if (self->security &&
        security_apply_server(self->security, self->socket, self->endpoint, err, errlen))
        return -1;
    char monitor_endpoint[SERVER_ERR_LEN];
    snprintf(monitor_endpoint, sizeof monitor_endpoint, "inproc://vigil-link-server-monitor-%p",
             (void *)self);
    if (zmq_socket_monitor(zsock_resolve(self->socket), monitor_endpoint, SERVER_MONITOR_EVENTS) ==
        0) {
        self->monitor = zsock_new_pair(NULL);
        if (self->monitor && zsock_connect(self->monitor, "%s", monitor_endpoint) != 0)
            zsock_destroy(&self->monitor);
    }
    if (!self->monitor)
        log_warn("link server: no socket monitor; handshake failures will not be counted",
                 "endpoint=%s", self->endpoint);
    if (zsock_bind(self->socket, "%s", self->endpoint) < 0) {
        snprintf(err, errlen, "link server: cannot bind %s: %s", self->endpoint,
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    self->loop = loop;
    if (self->monitor)
        zloop_reader(loop, self->monitor, s_on_monitor, self);
    if (self->prepares && !self->preparer) {
        self->preparer = s_preparer_new(self, err, errlen);
        if (!self->preparer)
            return -1;
    }
    if (zloop_reader(loop, self->socket, s_on_readable, self)) {
        snprintf(err, errlen, "link server: cannot register with the loop");
        return -1;
    }
    self->reading = true;
    if (self->prune) {
        self->prune_timer = zloop_timer(loop, LINK_PRUNE_INTERVAL_MS, 0, s_on_prune, self);
        if (self->prune_timer < 0) {
            self->prune_timer = SERVER_NO_TIMER;
            snprintf(err, errlen, "link server: cannot register the inbox pruning timer");
            return -1;
        }
    }
    log_info("link server listening",
             "endpoint=%s batch_max=%d max_frame=%zu coalesce_acks=%s inbox_retention_days=%d",
             zsock_endpoint(self->socket) ? zsock_endpoint(self->socket) : self->endpoint,
             self->config.batch_max, self->config.max_frame,
             self->config.coalesce_acks ? "true" : "false", self->config.inbox_retention_days);
    return 0;
}

const char *link_server_endpoint(link_server_t *self)
{
    const char *bound = self->socket ? zsock_endpoint(self->socket) : NULL;
    return bound ? bound : self->endpoint;
}

void link_server_pause(link_server_t *self)
{
    if (!self || !self->reading)
        return;
    zloop_reader_end(self->loop, self->socket);
    self->reading = false;
}

void link_server_destroy(link_server_t **server_p)
{
    link_server_t *self = *server_p;
    if (!self)
        return;
    link_server_pause(self);
    if (self->loop && self->prune_timer != SERVER_NO_TIMER)
        zloop_timer_end(self->loop, self->prune_timer);
    if (self->socket)
        log_info("link server closed",
                 "received=%llu duplicates=%llu rejected=%llu batches=%llu pruned=%llu",
                 (unsigned long long)self->total_received,
                 (unsigned long long)self->total_duplicates,
                 (unsigned long long)self->total_rejected, (unsigned long long)self->total_batches,
                 (unsigned long long)self->total_pruned);
    if (self->monitor) {
        if (self->loop)
            zloop_reader_end(self->loop, self->monitor);
        zmq_socket_monitor(zsock_resolve(self->socket), NULL, 0);
        zsock_destroy(&self->monitor);
    }
    zsock_destroy(&self->socket);
    s_preparer_destroy(&self->preparer);
    for (size_t b = 0; b < 2; b++) {
        server_batch_t *batch = &self->pipeline[b];
        for (size_t i = 0; batch->items && i < (size_t)self->config.batch_max; i++)
            s_item_clear(&batch->items[i]);
        link_arena_release(&batch->arena);
        link_arena_release(&batch->side);
        free(batch->items);
    }
    link_inbox_destroy(&self->inbox);
    link_prune_destroy(&self->prune);
    link_stmt_release(self->db);
    free(self->entries);
    free(self->entry_ptrs);
    free(self->buffer);
    free(self->endpoint);
    free(self);
    *server_p = NULL;
}

int link_server_replay(link_server_t *self, int64_t id, uint32_t *replayed, char *err,
                       size_t errlen)
{
    return link_inbox_replay(self->inbox, id, replayed, err, errlen);
}
