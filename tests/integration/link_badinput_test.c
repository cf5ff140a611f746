/* link_badinput_test.c: a running receiver fed bad input stays up, refuses
 * each bad message with the right reason, counts it, logs it without the
 * payload, and still accepts and stores all valid traffic of the same run.
 *
 * One real probe receiver (TCP, CURVE, allowlist, max_frame 4096). An
 * allowlisted client sends 100 valid probes with, in between: garbage bytes,
 * an oversized frame, a truncated envelope, an unknown message type and a
 * payload with an unknown field. Then a client without CURVE, a client whose
 * key is not allowlisted and a raw TCP connection that speaks no ZMTP try to
 * send; none of them may get an answer or a stored probe. The counters are
 * read through the admin STATUS command.
 *
 * Usage: link_badinput_test RECEIVER_EXE
 */
#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link_harness.h"
#include "vigil/admin.h"
#include "vigil/util.h"
#include "vigil/v1/envelope.pb-c.h"

#define VALID_PROBES      100
#define MAX_FRAME         4096
#define OVERSIZED_FILLER  6000
#define TRUNCATE_BYTES    10
#define SMALL_FILLER      100
#define UNKNOWN_FIELD_TAG 0x78 /* field 15, varint */
#define REPLY_TIMEOUT_MS  10000
#define SILENCE_MS        1500
#define READY_TIMEOUT_MS  10000
#define ADMIN_TIMEOUT_MS  2000
#define STRANGER_SEQ      1000
#define PLAINTEXT_SEQ     1001
#define BUFFER_BYTES      16384
#define ERR_LEN           512
/* Bytes in every bad payload; the log must never show them. */
#define MARKER "SECRET-MARKER-7f3a"

typedef struct {
    char dir[HARNESS_DIR_MAX];
    char state[HARNESS_STATE_MAX];
    char config[HARNESS_PATH_MAX];
    char log[HARNESS_PATH_MAX];
    char db[HARNESS_PATH_MAX];
    char admin[HARNESS_PATH_MAX];
    char endpoint[HARNESS_PATH_MAX];
    char server_public[HARNESS_PATH_MAX];
    int port;
    pid_t receiver;
} badinput_t;

/* Serializes an envelope of `type` carrying `payload` into `out`; returns
 * its length and the fresh message id in `id`. */
static size_t s_envelope(int type, const uint8_t *payload, size_t payload_len, uint8_t *id,
                         uint8_t *out)
{
    util_random_id(id);
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = id;
    envelope.message_id.len = VIGIL_ID_BYTES;
    envelope.type = (Vigil__V1__MessageType)type;
    envelope.source = "badinput-test";
    envelope.created_at_ms = util_now_ms();
    envelope.payload.data = (uint8_t *)payload;
    envelope.payload.len = payload_len;
    return vigil__v1__envelope__pack(&envelope, out);
}

static size_t s_probe(uint64_t seq, size_t filler_len, uint8_t *out)
{
    static uint8_t filler[BUFFER_BYTES];
    for (size_t i = 0; i < filler_len; i++)
        filler[i] = (uint8_t)MARKER[i % strlen(MARKER)];
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = seq;
    probe.filler.data = filler;
    probe.filler.len = filler_len;
    return vigil__v1__link_probe__pack(&probe, out);
}

static void s_send(zsock_t *socket, const uint8_t *data, size_t len)
{
    zframe_t *frame = zframe_new(data, len);
    zframe_send(&frame, socket, 0);
}

/* Sends probe `seq` as a valid envelope; returns its id in `id`. */
static void s_send_probe(zsock_t *socket, uint64_t seq, uint8_t *id)
{
    uint8_t payload[BUFFER_BYTES], frame[BUFFER_BYTES];
    size_t payload_len = s_probe(seq, 0, payload);
    size_t len = s_envelope(VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, payload, payload_len,
                            id, frame);
    s_send(socket, frame, len);
}

static zsock_t *s_client(badinput_t *t, const char *secret_cert)
{
    zsock_t *socket = zsock_new(ZMQ_DEALER);
    zsock_set_linger(socket, 0);
    zsock_set_rcvtimeo(socket, SILENCE_MS);
    if (secret_cert) {
        zcert_t *cert = zcert_load(secret_cert);
        zcert_t *server = zcert_load(t->server_public);
        if (!cert || !server)
            return NULL;
        zcert_apply(cert, socket);
        zsock_set_curve_serverkey(socket, zcert_public_txt(server));
        zcert_destroy(&cert);
        zcert_destroy(&server);
    }
    if (zsock_connect(socket, "%s", t->endpoint) != 0)
        zsock_destroy(&socket);
    return socket;
}

typedef struct {
    uint8_t id[VIGIL_ID_BYTES];
    bool with_id; /* false: the answer must carry an empty message_id */
    int status;
    int reason;
    bool answered;
} expected_t;

/* Reads acks until every expectation is answered or the timeout passes.
 * Returns the number of unmatched answers seen. */
static int s_collect(zsock_t *socket, expected_t *expected, size_t count, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    int stray = 0;
    size_t answered = 0;
    while (answered < count && harness_now_ms() < deadline) {
        zframe_t *frame = zframe_recv(socket);
        if (!frame)
            continue;
        Vigil__V1__Envelope *envelope =
            vigil__v1__envelope__unpack(NULL, zframe_size(frame), zframe_data(frame));
        Vigil__V1__Ack *ack =
            envelope ? vigil__v1__ack__unpack(NULL, envelope->payload.len, envelope->payload.data)
                     : NULL;
        for (size_t i = 0; ack && i < ack->n_entries; i++) {
            Vigil__V1__AckEntry *entry = ack->entries[i];
            bool matched = false;
            for (size_t k = 0; k < count && !matched; k++) {
                expected_t *e = &expected[k];
                if (e->answered)
                    continue;
                bool same = e->with_id
                                ? entry->message_id.len == VIGIL_ID_BYTES &&
                                      memcmp(entry->message_id.data, e->id, VIGIL_ID_BYTES) == 0
                                : entry->message_id.len == 0 && (int)entry->reason == e->reason;
                if (!same)
                    continue;
                matched = true;
                e->answered = true;
                answered++;
                if ((int)entry->status != e->status || (int)entry->reason != e->reason) {
                    fprintf(stderr, "answer %d/%d (detail '%s'), expected %d/%d\n",
                            (int)entry->status, (int)entry->reason, entry->detail, e->status,
                            e->reason);
                    stray++;
                }
            }
            if (!matched)
                stray++;
        }
        if (ack)
            vigil__v1__ack__free_unpacked(ack, NULL);
        if (envelope)
            vigil__v1__envelope__free_unpacked(envelope, NULL);
        zframe_destroy(&frame);
    }
    return stray + (int)(count - answered);
}

static Vigil__V1__AdminReply *s_admin(badinput_t *t, Vigil__V1__AdminCommand command)
{
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    request.command = command;
    char err[ERR_LEN];
    return admin_call(t->admin, NULL, NULL, &request, ADMIN_TIMEOUT_MS, err, sizeof err);
}

static double s_metric(const Vigil__V1__AdminReply *reply, const char *name, const char *labels)
{
    for (size_t i = 0; i < reply->n_metrics; i++)
        if (strcmp(reply->metrics[i]->name, name) == 0 &&
            (!labels || strstr(reply->metrics[i]->labels, labels)))
            return reply->metrics[i]->value;
    return -1;
}

static int s_setup(badinput_t *t)
{
    HARNESS_CHECK(harness_tempdir("link-bad", t->dir, sizeof t->dir) == 0, "mkdtemp");
    snprintf(t->state, sizeof t->state, "%s/recv", t->dir);
    snprintf(t->config, sizeof t->config, "%s/receiver.conf", t->dir);
    snprintf(t->log, sizeof t->log, "%s/receiver.log", t->dir);
    snprintf(t->db, sizeof t->db, "%s/receiver.db", t->state);
    snprintf(t->admin, sizeof t->admin, "ipc://%s/receiver.admin", t->state);
    snprintf(t->server_public, sizeof t->server_public, "%s/keys/receiver.key", t->state);
    char client_state[HARNESS_STATE_MAX], stranger[HARNESS_PATH_MAX], err[ERR_LEN];
    snprintf(client_state, sizeof client_state, "%s/client", t->dir);
    snprintf(stranger, sizeof stranger, "%s/stranger/keys/stranger.key", t->dir);
    HARNESS_CHECK(harness_link_keys(t->state, "receiver", client_state, "sender") == 0, "keys");
    HARNESS_CHECK(security_keygen(stranger, "stranger", err, sizeof err) == 0, "%s", err);
    t->port = harness_free_port();
    HARNESS_CHECK(t->port > 0, "no free port");
    snprintf(t->endpoint, sizeof t->endpoint, "tcp://127.0.0.1:%d", t->port);
    HARNESS_CHECK(
        harness_write(t->config,
                      "state_dir = \"%s\";\n"
                      "link = { listen = \"%s\"; max_frame = %d; heartbeat_ms = 500; };\n",
                      t->state, t->endpoint, MAX_FRAME) == 0,
        "config");
    t->receiver = harness_spawn(getenv("LINK_RECEIVER_EXE"), t->config, t->log);
    HARNESS_CHECK(t->receiver > 0, "spawn");
    long long deadline = harness_now_ms() + READY_TIMEOUT_MS;
    Vigil__V1__AdminReply *reply = NULL;
    while (!reply && harness_now_ms() < deadline) {
        harness_sleep_ms(50);
        reply = s_admin(t, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_HEALTH);
    }
    HARNESS_CHECK(reply, "the receiver never answered HEALTH");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    return 0;
}

/* The allowlisted client: valid probes around every kind of bad frame. */
static int s_bad_frames(badinput_t *t)
{
    char secret[HARNESS_PATH_MAX];
    snprintf(secret, sizeof secret, "%s/client/keys/sender.key_secret", t->dir);
    zsock_t *client = s_client(t, secret);
    HARNESS_CHECK(client, "client socket");
    enum { BAD = 5 };
    expected_t expected[VALID_PROBES + BAD];
    memset(expected, 0, sizeof expected);
    size_t n = 0;
    for (uint64_t seq = 0; seq < VALID_PROBES / 2; seq++, n++) {
        s_send_probe(client, seq, expected[n].id);
        expected[n].with_id = true;
        expected[n].status = VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
    }
    uint8_t payload[BUFFER_BYTES], frame[BUFFER_BYTES];

    /* 1. garbage bytes: not an envelope at all */
    const char garbage[] = "\xff\xff\xff\xff not protobuf " MARKER;
    s_send(client, (const uint8_t *)garbage, sizeof garbage - 1);
    expected[n++] = (expected_t){.with_id = false,
                                 .status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED,
                                 .reason = VIGIL__V1__REASON_CODE__REASON_MALFORMED};
    /* 2. an oversized frame: answered TOO_LARGE with its message id */
    size_t payload_len = s_probe(STRANGER_SEQ + 1, OVERSIZED_FILLER, payload);
    size_t len = s_envelope(VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, payload, payload_len,
                            expected[n].id, frame);
    s_send(client, frame, len);
    expected[n].with_id = true;
    expected[n].status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED;
    expected[n++].reason = VIGIL__V1__REASON_CODE__REASON_TOO_LARGE;
    /* 3. a truncated envelope: the payload field runs past the end */
    payload_len = s_probe(STRANGER_SEQ + 2, SMALL_FILLER, payload);
    uint8_t unused[VIGIL_ID_BYTES];
    len = s_envelope(VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, payload, payload_len, unused,
                     frame);
    s_send(client, frame, len - TRUNCATE_BYTES);
    expected[n++] = (expected_t){.with_id = false,
                                 .status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED,
                                 .reason = VIGIL__V1__REASON_CODE__REASON_MALFORMED};
    /* 4. a type this endpoint has no route for */
    payload_len = s_probe(STRANGER_SEQ + 3, SMALL_FILLER, payload);
    len = s_envelope(VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW, payload, payload_len,
                     expected[n].id, frame);
    s_send(client, frame, len);
    expected[n].with_id = true;
    expected[n].status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED;
    expected[n++].reason = VIGIL__V1__REASON_CODE__REASON_UNKNOWN_TYPE;
    /* 5. a payload with a field this schema does not know (field 15) */
    payload_len = s_probe(STRANGER_SEQ + 4, SMALL_FILLER, payload);
    payload[payload_len++] = UNKNOWN_FIELD_TAG;
    payload[payload_len++] = 1;
    len = s_envelope(VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, payload, payload_len,
                     expected[n].id, frame);
    s_send(client, frame, len);
    expected[n].with_id = true;
    expected[n].status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED;
    expected[n++].reason = VIGIL__V1__REASON_CODE__REASON_UNKNOWN_FIELD;

    for (uint64_t seq = VALID_PROBES / 2; seq < VALID_PROBES; seq++, n++) {
        s_send_probe(client, seq, expected[n].id);
        expected[n].with_id = true;
        expected[n].status = VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
    }
    int wrong = s_collect(client, expected, n, REPLY_TIMEOUT_MS);
    zsock_destroy(&client);
    HARNESS_CHECK(wrong == 0, "%d answers missing or wrong", wrong);
    return 0;
}

/* Clients that must never get an answer: no CURVE, a key not allowlisted,
 * and a raw TCP peer that speaks no ZMTP. */
static int s_refused_clients(badinput_t *t)
{
    char stranger[HARNESS_PATH_MAX];
    snprintf(stranger, sizeof stranger, "%s/stranger/keys/stranger.key_secret", t->dir);
    zsock_t *unknown_key = s_client(t, stranger);
    zsock_t *plaintext = s_client(t, NULL);
    HARNESS_CHECK(unknown_key && plaintext, "client sockets");
    uint8_t id[VIGIL_ID_BYTES];
    s_send_probe(unknown_key, STRANGER_SEQ, id);
    s_send_probe(plaintext, PLAINTEXT_SEQ, id);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    HARNESS_CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof address) == 0,
                  "raw tcp connect");
    static const char junk[] = "GET / HTTP/1.0\r\n\r\n" MARKER "\r\n";
    HARNESS_CHECK(write(fd, junk, sizeof junk - 1) > 0, "raw write");

    zframe_t *reply_unknown = zframe_recv(unknown_key); /* waits SILENCE_MS */
    zframe_t *reply_plain = zframe_recv(plaintext);
    bool answered = reply_unknown || reply_plain;
    zframe_destroy(&reply_unknown);
    zframe_destroy(&reply_plain);
    zsock_destroy(&unknown_key);
    zsock_destroy(&plaintext);
    close(fd);
    HARNESS_CHECK(!answered, "a refused client got an answer");
    return 0;
}

static long long s_query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    long long value = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
        value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

static int s_verify(badinput_t *t)
{
    int status = 0;
    HARNESS_CHECK(!harness_exited(t->receiver, &status), "the receiver died (status %d)", status);
    Vigil__V1__AdminReply *reply = s_admin(t, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS);
    HARNESS_CHECK(reply && reply->ok, "STATUS failed after the bad input");
    struct {
        const char *name, *labels;
        double at_least, at_most;
    } counters[] = {
        {"vigil_link_rejected_total", "reason=\"malformed\"", 2, 2},
        {"vigil_link_rejected_total", "reason=\"too_large\"", 1, 1},
        {"vigil_link_rejected_total", "reason=\"unknown_type\"", 1, 1},
        {"vigil_link_rejected_total", "reason=\"unknown_field\"", 1, 1},
        {"vigil_link_handshake_failures_total", "reason=\"auth\"", 1, 1e9},
        {"vigil_link_acked_total", NULL, VALID_PROBES + 5, VALID_PROBES + 5},
        {"vigil_link_duplicates_total", NULL, 0, 0},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        double value = s_metric(reply, counters[i].name, counters[i].labels);
        printf("%s{%s} = %g\n", counters[i].name, counters[i].labels ? counters[i].labels : "",
               value);
        if (value < counters[i].at_least || value > counters[i].at_most) {
            fprintf(stderr, "  expected %g..%g\n", counters[i].at_least, counters[i].at_most);
            bad++;
        }
    }
    /* The client without CURVE fails as "protocol" (mechanism mismatch) or,
     * when it hangs up first, "other": count both. */
    double refused = s_metric(reply, "vigil_link_handshake_failures_total", "reason=\"auth\"") +
                     s_metric(reply, "vigil_link_handshake_failures_total", "reason=\"protocol\"") +
                     s_metric(reply, "vigil_link_handshake_failures_total", "reason=\"other\"");
    printf("vigil_link_handshake_failures_total (all reasons) = %g\n", refused);
    if (refused < 2)
        bad++;
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    HARNESS_CHECK(bad == 0, "%d counters wrong", bad);

    int code = harness_stop(t->receiver, 5000);
    t->receiver = 0;
    HARNESS_CHECK(code == 0, "the receiver did not stop cleanly (%d)", code);

    sqlite3 *db = NULL;
    HARNESS_CHECK(sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open db");
    long long stored = s_query(db, "SELECT count(*) FROM probes");
    long long in_range = s_query(db, "SELECT count(*) FROM probes WHERE seq < 100 AND handled = 1");
    sqlite3_close(db);
    printf("stored probes: %lld (%lld valid, handled once)\n", stored, in_range);
    HARNESS_CHECK(stored == VALID_PROBES && in_range == VALID_PROBES,
                  "expected exactly the %d valid probes stored", VALID_PROBES);

    static const char *const logged[] = {
        "reason=malformed",
        "reason=too_large",
        "reason=unknown_type",
        "reason=unknown_field",
        "link handshake failed",
        "reason=auth",
        NULL,
    };
    for (const char *const *line = logged; *line; line++)
        HARNESS_CHECK(harness_file_contains(t->log, *line), "the log lacks '%s'", *line);
    HARNESS_CHECK(!harness_file_contains(t->log, MARKER), "the log shows payload bytes");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s RECEIVER_EXE\n", argv[0]);
        return 2;
    }
    setenv("LINK_RECEIVER_EXE", argv[1], 1);
    badinput_t t = {0};
    int failed = s_setup(&t) || s_bad_frames(&t) || s_refused_clients(&t) || s_verify(&t);
    if (t.receiver > 0)
        harness_kill9(t.receiver);
    printf("link_badinput_test: %s\n", failed ? "FAILED" : "passed");
    if (failed) {
        harness_tail(t.log, 40);
        fprintf(stderr, "state kept in %s\n", t.dir);
    } else if (!getenv("VIGIL_TEST_KEEP")) {
        harness_remove_tree(t.dir);
    }
    return failed ? 1 : 0;
}
