/* ack_responder.c: a TEST PEER standing in for intake's front door.
 *
 * This is not intake. It exists so that libvigil-client and vigil-publish
 * can be tested over real ZeroMQ sockets, with real CURVE and a real
 * allowlist, and be killed with SIGKILL and restarted, without depending on
 * the intake service. It answers every request with one Ack holding one
 * entry, by a few fixed rules that mimic intake's contract:
 *
 *   - a frame that is not an Envelope, or a payload that is not the message
 *     its type names: REJECTED MALFORMED; a type other than the four
 *     upstream event types: REJECTED UNKNOWN_TYPE;
 *   - an empty event_id: REJECTED MISSING_FIELD;
 *   - an IntakeContact whose victim.phone is set but not E.164:
 *     REJECTED INVALID_PHONE (detail names the field, never the value);
 *   - a message_id answered before (while this process runs): the same
 *     answer again;
 *   - a (source, event_id) already accepted (also by an earlier run, from
 *     the log file): DUPLICATE with the original case id;
 *   - otherwise ACCEPTED with a new case id, after the event id is appended
 *     to the log file and flushed ("ack only after commit", minus fsync).
 *
 * Test knobs: --shuffle answers each batch in reverse order; --drop-every N
 * records every Nth new message but does not answer it (a lost ack);
 * --delay-ms N sleeps before answering each batch.
 *
 * Usage:
 *   ack_responder keygen DIR      write DIR/keys/{intake,dev-publisher,stranger}.key[_secret]
 *                                 and DIR/keys/allow/intake/dev-publisher.key
 *   ack_responder serve --state DIR [--endpoint tcp://127.0.0.1:!] [--port-file F]
 *                 [--log F] [--insecure] [--shuffle] [--drop-every N] [--delay-ms N]
 *
 * It must never be used as a service: it keeps no real store and fsyncs
 * nothing. It never prints payload contents.
 */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>

#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/envelope.pb-c.h"
#include "vigil/v1/intake.pb-c.h"
#include "vigil/v1/notify.pb-c.h"

enum {
    RESPONDER_BATCH_MAX = 512,
    RESPONDER_POLL_MS = 100,
    RESPONDER_PATH_MAX = 4096,
    RESPONDER_LINE_MAX = 1024,
    RESPONDER_CASE_ID_BYTES = 8,
    RESPONDER_PHONE_MIN_DIGITS = 8,
    RESPONDER_PHONE_MAX_DIGITS = 15,
    RESPONDER_SECRET_MODE = 0600,
    RESPONDER_DIR_MODE = 0700,
    RESPONDER_MESSAGE_ID_BYTES = 16,
};

static const char s_zap_domain[] = "vigil";

/* The upstream event types and their payload descriptors. */
static const struct {
    int type;
    const ProtobufCMessageDescriptor *descriptor;
} s_event_types[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT, &vigil__v1__intake_contact__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT, &vigil__v1__custody_event__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST,
     &vigil__v1__subscription_request__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION,
     &vigil__v1__delivery_confirmation__descriptor},
};

/* The certificates `keygen` writes: name, and whether intake admits it. */
static const struct {
    const char *name;
    bool allowed;
} s_certs[] = {
    {"intake", false},
    {"dev-publisher", true},
    {"stranger", false},
};

typedef struct {
    const char *state_dir;
    const char *endpoint;
    const char *port_file;
    const char *log_path;
    bool insecure;
    bool shuffle;
    int drop_every;
    int delay_ms;
} options_t;

/* The answer recorded for one message id. */
typedef struct {
    int status;
    int reason;
    char case_id[RESPONDER_LINE_MAX];
    char event_id[RESPONDER_LINE_MAX];
} answer_t;

/* What was answered, per message id (hex), and accepted, per source+event. */
typedef struct {
    zhashx_t *by_message_id; /* hex id -> answer_t */
    zhashx_t *by_event;      /* "source\tevent_id" -> case_id */
    FILE *log;
    size_t new_messages;
    int drop_every;
} responder_t;

typedef struct {
    zframe_t *identity;
    zframe_t *body;
} request_t;

/* ---- keygen --------------------------------------------------------------- */

static int s_keygen(const char *dir)
{
    char path[RESPONDER_PATH_MAX];
    snprintf(path, sizeof path, "%s/keys/allow/intake", dir);
    if (zsys_dir_create("%s", path) != 0) {
        fprintf(stderr, "ack_responder: cannot create %s\n", path);
        return 1;
    }
    for (size_t i = 0; i < sizeof s_certs / sizeof s_certs[0]; i++) {
        zcert_t *cert = zcert_new();
        zcert_set_meta(cert, "name", "%s", s_certs[i].name);
        snprintf(path, sizeof path, "%s/keys/%s.key", dir, s_certs[i].name);
        int rc = zcert_save(cert, path);
        char secret[RESPONDER_PATH_MAX + sizeof "_secret"];
        snprintf(secret, sizeof secret, "%s_secret", path);
        rc |= chmod(secret, RESPONDER_SECRET_MODE);
        if (s_certs[i].allowed) {
            snprintf(path, sizeof path, "%s/keys/allow/intake/%s.key", dir, s_certs[i].name);
            rc |= zcert_save_public(cert, path);
        }
        zcert_destroy(&cert);
        if (rc != 0) {
            fprintf(stderr, "ack_responder: cannot write %s\n", path);
            return 1;
        }
    }
    return 0;
}

/* ---- the rules ------------------------------------------------------------ */

static bool s_e164(const char *phone)
{
    size_t digits = strlen(phone) - 1;
    return phone[0] == '+' && strspn(phone + 1, "0123456789") == digits &&
           digits >= RESPONDER_PHONE_MIN_DIGITS && digits <= RESPONDER_PHONE_MAX_DIGITS &&
           phone[1] != '0';
}

static void s_free_answer(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_load_log(responder_t *r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    char line[RESPONDER_LINE_MAX];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *tab2 = strrchr(line, '\t');
        if (tab2 == NULL || tab2 == strchr(line, '\t')) {
            continue;
        }
        *tab2 = '\0';
        zhashx_insert(r->by_event, line, strdup(tab2 + 1));
    }
    fclose(f);
}

static void s_fill(Vigil__V1__AckEntry *entry, int status, int reason, const char *detail)
{
    entry->status = status;
    entry->reason = reason;
    entry->detail = (char *)detail;
}

/* Decides the answer for one request. `entry` strings point into `scratch`
 * (3 buffers of RESPONDER_LINE_MAX) or static text. Returns false if the
 * answer is to be dropped (--drop-every). */
static bool s_decide(responder_t *r, const char *source, zframe_t *body, Vigil__V1__AckEntry *entry,
                     char scratch[3][RESPONDER_LINE_MAX])
{
    Vigil__V1__Envelope *env =
        vigil__v1__envelope__unpack(NULL, zframe_size(body), zframe_data(body));
    if (env == NULL) {
        s_fill(entry, VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED,
               VIGIL__V1__REASON_CODE__REASON_MALFORMED, "frame is not a vigil.v1.Envelope");
        return true;
    }
    memcpy(scratch[0], env->message_id.data,
           env->message_id.len < RESPONDER_MESSAGE_ID_BYTES ? env->message_id.len
                                                            : RESPONDER_MESSAGE_ID_BYTES);
    entry->message_id.data = (uint8_t *)scratch[0];
    entry->message_id.len = env->message_id.len < RESPONDER_MESSAGE_ID_BYTES
                                ? env->message_id.len
                                : RESPONDER_MESSAGE_ID_BYTES;
    char hex[2 * RESPONDER_MESSAGE_ID_BYTES + 1];
    for (size_t i = 0; i < entry->message_id.len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", entry->message_id.data[i]);
    }
    hex[2 * entry->message_id.len] = '\0';

    /* Seen this message id: the recorded answer again. */
    const answer_t *recorded = zhashx_lookup(r->by_message_id, hex);
    if (recorded != NULL) {
        snprintf(scratch[1], RESPONDER_LINE_MAX, "%s", recorded->case_id);
        snprintf(scratch[2], RESPONDER_LINE_MAX, "%s", recorded->event_id);
        entry->case_id = scratch[1];
        entry->event_id = scratch[2];
        s_fill(entry, recorded->status, recorded->reason, "");
        vigil__v1__envelope__free_unpacked(env, NULL);
        return true;
    }

    const ProtobufCMessageDescriptor *descriptor = NULL;
    for (size_t i = 0; i < sizeof s_event_types / sizeof s_event_types[0]; i++) {
        if (s_event_types[i].type == (int)env->type) {
            descriptor = s_event_types[i].descriptor;
        }
    }
    ProtobufCMessage *payload =
        descriptor
            ? protobuf_c_message_unpack(descriptor, NULL, env->payload.len, env->payload.data)
            : NULL;
    const char *event_id = "";
    if (payload != NULL) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(descriptor, "event_id");
        event_id = *(char **)((char *)payload + f->offset);
        snprintf(scratch[2], RESPONDER_LINE_MAX, "%s", event_id);
        entry->event_id = scratch[2];
    }
    bool answer = true;
    if (descriptor == NULL) {
        s_fill(entry, VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED,
               VIGIL__V1__REASON_CODE__REASON_UNKNOWN_TYPE, "type not accepted here");
    } else if (payload == NULL) {
        s_fill(entry, VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED,
               VIGIL__V1__REASON_CODE__REASON_MALFORMED, "payload does not match its type");
    } else if (event_id[0] == '\0') {
        s_fill(entry, VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED,
               VIGIL__V1__REASON_CODE__REASON_MISSING_FIELD, "field event_id: required");
    } else if (descriptor == &vigil__v1__intake_contact__descriptor &&
               ((Vigil__V1__IntakeContact *)payload)->victim != NULL &&
               ((Vigil__V1__IntakeContact *)payload)->victim->phone[0] != '\0' &&
               !s_e164(((Vigil__V1__IntakeContact *)payload)->victim->phone)) {
        s_fill(entry, VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED,
               VIGIL__V1__REASON_CODE__REASON_INVALID_PHONE,
               "field victim.phone: not an E.164 number");
    } else {
        char key[RESPONDER_LINE_MAX];
        snprintf(key, sizeof key, "%s\t%s", source, event_id);
        const char *original = zhashx_lookup(r->by_event, key);
        if (original != NULL) {
            snprintf(scratch[1], RESPONDER_LINE_MAX, "%s", original);
            s_fill(entry, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE,
                   VIGIL__V1__REASON_CODE__REASON_NONE, "");
        } else {
            uint8_t raw[RESPONDER_CASE_ID_BYTES];
            randombytes_buf(raw, sizeof raw);
            char *out = scratch[1];
            out += sprintf(out, "case-");
            for (size_t i = 0; i < sizeof raw; i++) {
                out += sprintf(out, "%02x", raw[i]);
            }
            fprintf(r->log, "%s\t%s\n", key, scratch[1]);
            fflush(r->log); /* "commit" before the ack */
            zhashx_insert(r->by_event, key, strdup(scratch[1]));
            s_fill(entry, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
                   VIGIL__V1__REASON_CODE__REASON_NONE, "");
            r->new_messages++;
            answer = !(r->drop_every > 0 && r->new_messages % (size_t)r->drop_every == 0);
        }
        entry->case_id = scratch[1];
    }
    answer_t *record = calloc(1, sizeof *record);
    record->status = (int)entry->status;
    record->reason = (int)entry->reason;
    snprintf(record->case_id, sizeof record->case_id, "%s", entry->case_id ? entry->case_id : "");
    snprintf(record->event_id, sizeof record->event_id, "%s",
             entry->event_id ? entry->event_id : "");
    zhashx_insert(r->by_message_id, hex, record);
    if (payload != NULL) {
        protobuf_c_message_free_unpacked(payload, NULL);
    }
    vigil__v1__envelope__free_unpacked(env, NULL);
    return answer;
}

static void s_answer(responder_t *r, zsock_t *router, request_t *req, const char *source)
{
    char scratch[3][RESPONDER_LINE_MAX];
    Vigil__V1__AckEntry entry = VIGIL__V1__ACK_ENTRY__INIT;
    if (!s_decide(r, source, req->body, &entry, scratch)) {
        return;
    }
    Vigil__V1__AckEntry *entries[] = {&entry};
    Vigil__V1__Ack ack = VIGIL__V1__ACK__INIT;
    ack.n_entries = 1;
    ack.entries = entries;
    uint8_t ack_buf[RESPONDER_LINE_MAX * 4];
    size_t ack_len = vigil__v1__ack__pack(&ack, ack_buf);
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    uint8_t id[RESPONDER_MESSAGE_ID_BYTES];
    randombytes_buf(id, sizeof id);
    env.message_id.data = id;
    env.message_id.len = sizeof id;
    env.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK;
    env.source = "ack_responder";
    env.created_at_ms = zclock_time();
    env.payload.data = ack_buf;
    env.payload.len = ack_len;
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, &req->identity);
    size_t len = vigil__v1__envelope__get_packed_size(&env);
    zframe_t *frame = zframe_new(NULL, len);
    vigil__v1__envelope__pack(&env, zframe_data(frame));
    zmsg_append(msg, &frame);
    zmsg_send(&msg, router); /* a vanished peer: dropped, as ROUTER does */
    zmsg_destroy(&msg);
}

/* ---- serve ---------------------------------------------------------------- */

static int s_write_port_file(const char *path, const char *endpoint)
{
    char tmp[RESPONDER_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const char *colon = strrchr(endpoint, ':');
    FILE *f = fopen(tmp, "w");
    if (f == NULL || colon == NULL) {
        return -1;
    }
    fprintf(f, "%s\n", colon + 1);
    fclose(f);
    return rename(tmp, path);
}

static int s_serve(const options_t *o)
{
    char path[RESPONDER_PATH_MAX];
    zactor_t *auth = NULL;
    zcert_t *cert = NULL;
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_router_mandatory(router, 0);
    zsock_set_linger(router, 0);
    if (!o->insecure) {
        snprintf(path, sizeof path, "%s/keys/intake.key_secret", o->state_dir);
        cert = zcert_load(path);
        if (cert == NULL) {
            fprintf(stderr, "ack_responder: cannot load %s\n", path);
            return 1;
        }
        auth = zactor_new(zauth, NULL);
        snprintf(path, sizeof path, "%s/keys/allow/intake", o->state_dir);
        zstr_sendx(auth, "CURVE", path, NULL);
        zsock_wait(auth);
        zcert_apply(cert, router);
        zsock_set_curve_server(router, 1);
        zsock_set_zap_domain(router, s_zap_domain);
    }
    if (zsock_bind(router, "%s", o->endpoint) < 0) {
        fprintf(stderr, "ack_responder: cannot bind %s: %s\n", o->endpoint, zmq_strerror(errno));
        zsock_destroy(&router);
        zactor_destroy(&auth);
        zcert_destroy(&cert);
        return 1;
    }
    const char *bound = zsock_endpoint(router);
    if (o->port_file && s_write_port_file(o->port_file, bound) != 0) {
        fprintf(stderr, "ack_responder: cannot write %s\n", o->port_file);
        return 1;
    }

    responder_t r = {
        .by_message_id = zhashx_new(), .by_event = zhashx_new(), .drop_every = o->drop_every};
    zhashx_set_destructor(r.by_message_id, s_free_answer);
    zhashx_set_destructor(r.by_event, (zhashx_destructor_fn *)zstr_free);
    s_load_log(&r, o->log_path);
    r.log = fopen(o->log_path, "a");
    if (r.log == NULL) {
        fprintf(stderr, "ack_responder: cannot open %s\n", o->log_path);
        return 1;
    }
    zsock_set_rcvtimeo(router, 0);
    zpoller_t *poller = zpoller_new(router, NULL);
    request_t batch[RESPONDER_BATCH_MAX];
    char sources[RESPONDER_BATCH_MAX][RESPONDER_LINE_MAX];
    while (!zsys_interrupted) {
        if (zpoller_wait(poller, RESPONDER_POLL_MS) == NULL) {
            continue;
        }
        size_t n = 0;
        while (n < RESPONDER_BATCH_MAX) {
            zmsg_t *msg = zmsg_recv(router);
            if (msg == NULL) {
                break;
            }
            if (zmsg_size(msg) < 2) {
                zmsg_destroy(&msg);
                continue;
            }
            batch[n].identity = zmsg_pop(msg);
            /* The CURVE key the peer proved (zauth puts it in User-Id). */
            const char *user = zframe_meta(zmsg_last(msg), "User-Id");
            snprintf(sources[n], RESPONDER_LINE_MAX, "%s",
                     o->insecure ? "insecure" : (user ? user : "unknown"));
            batch[n].body = zframe_dup(zmsg_last(msg));
            zmsg_destroy(&msg);
            n++;
        }
        if (o->delay_ms > 0) {
            zclock_sleep(o->delay_ms);
        }
        for (size_t k = 0; k < n; k++) {
            size_t i = o->shuffle ? n - 1 - k : k;
            s_answer(&r, router, &batch[i], sources[i]);
            zframe_destroy(&batch[i].identity);
            zframe_destroy(&batch[i].body);
        }
    }
    zpoller_destroy(&poller);
    fclose(r.log);
    zhashx_destroy(&r.by_message_id);
    zhashx_destroy(&r.by_event);
    zsock_destroy(&router);
    zactor_destroy(&auth);
    zcert_destroy(&cert);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "keygen") == 0) {
        return s_keygen(argv[2]);
    }
    if (argc < 2 || strcmp(argv[1], "serve") != 0) {
        fprintf(stderr, "usage: ack_responder keygen DIR | serve --state DIR [options]\n");
        return 64;
    }
    options_t o = {.endpoint = "tcp://127.0.0.1:!"}; /* czmq: a random free port */
    static const struct option longopts[] = {
        {"state", required_argument, NULL, 's'},
        {"endpoint", required_argument, NULL, 'e'},
        {"port-file", required_argument, NULL, 'p'},
        {"log", required_argument, NULL, 'l'},
        {"insecure", no_argument, NULL, 'i'},
        {"shuffle", no_argument, NULL, 'S'},
        {"drop-every", required_argument, NULL, 'd'},
        {"delay-ms", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o.state_dir = optarg;
            break;
        case 'e':
            o.endpoint = optarg;
            break;
        case 'p':
            o.port_file = optarg;
            break;
        case 'l':
            o.log_path = optarg;
            break;
        case 'i':
            o.insecure = true;
            break;
        case 'S':
            o.shuffle = true;
            break;
        case 'd':
            o.drop_every = atoi(optarg);
            break;
        case 'D':
            o.delay_ms = atoi(optarg);
            break;
        default:
            return 64;
        }
    }
    if (o.state_dir == NULL) {
        fprintf(stderr, "ack_responder: --state DIR is required\n");
        return 64;
    }
    char log_path[RESPONDER_PATH_MAX];
    if (o.log_path == NULL) {
        snprintf(log_path, sizeof log_path, "%s/responder.log", o.state_dir);
        o.log_path = log_path;
    }
    return s_serve(&o);
}
