/* intake_kit.c: temp directories, keys, processes and a raw publisher for
 * intake's integration tests (see intake_kit.h).
 *
 * Everything is real: zcert files written by the runtime's keygen, a vault
 * key file, vigil-intake started with fork/exec, CURVE over TCP on a port
 * found free a moment before. Children are killed by pid only. Files,
 * ports, processes and clocks come from the link harness (link_harness.h).
 */
#include "intake_kit.h"

/* Paths here are short (/tmp/vigil-TAG-XXXXXX/...) against KIT_PATH bytes;
 * GCC cannot see that and warns on every snprintf. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include "link_harness.h"
#include "vigil/admin.h"
#include "vigil/security.h"
#include "vigil/util.h"
#include "vigil/vault.h"

#define KIT_START_TIMEOUT_MS 15000
#define KIT_HEALTH_POLL_MS   300
#define KIT_ADMIN_TIMEOUT_MS 5000
#define KIT_STOP_TIMEOUT_MS  15000
#define KIT_LOG_TAIL_LINES   20

static const char *const s_publishers[] = {"hotline-east", "county-jail-042", "rogue"};
static const char *const s_allowed[] = {"hotline-east", "county-jail-042"};

void kit_sleep_ms(int ms)
{
    harness_sleep_ms(ms);
}

long long kit_now_ms(void)
{
    return harness_now_ms();
}

static int s_keygen(const char *dir, const char *name)
{
    char path[KIT_PATH], err[256];
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    if (security_keygen(path, name, err, sizeof err)) {
        fprintf(stderr, "keygen %s: %s\n", name, err);
        return -1;
    }
    return 0;
}

void kit_cert(const kit_t *kit, const char *name, char out[KIT_PATH])
{
    if (strcmp(name, "intake") == 0)
        snprintf(out, KIT_PATH, "%s/keys/intake.key", kit->intake_state);
    else
        snprintf(out, KIT_PATH, "%s/%s.key", kit->upstream, name);
}

int kit_setup(kit_t *kit, const char *tag, const char *intake_exe, const char *standin_exe,
              const char *intake_extra)
{
    memset(kit, 0, sizeof *kit);
    kit->intake_exe = intake_exe;
    kit->standin_exe = standin_exe;
    if (harness_tempdir(tag, kit->dir, sizeof kit->dir))
        return -1;
    snprintf(kit->intake_state, KIT_PATH, "%s/intake", kit->dir);
    snprintf(kit->triage_state, KIT_PATH, "%s/triage", kit->dir);
    snprintf(kit->upstream, KIT_PATH, "%s/upstream", kit->dir);
    char path[KIT_PATH], from[KIT_PATH];
    const char *dirs[] = {
        "%s/intake",  "%s/intake/keys", "%s/intake/keys/allow", "%s/intake/keys/allow/intake",
        "%s/triage",  "%s/triage/keys", "%s/triage/keys/allow", "%s/triage/keys/allow/triage",
        "%s/upstream"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, dirs[i], kit->dir);
        if (mkdir(path, 0700))
            return -1;
    }
    char keys[KIT_PATH];
    snprintf(keys, sizeof keys, "%s/keys", kit->intake_state);
    if (s_keygen(keys, "intake"))
        return -1;
    snprintf(keys, sizeof keys, "%s/keys", kit->triage_state);
    if (s_keygen(keys, "triage"))
        return -1;
    for (size_t i = 0; i < sizeof s_publishers / sizeof s_publishers[0]; i++)
        if (s_keygen(kit->upstream, s_publishers[i]))
            return -1;
    for (size_t i = 0; i < sizeof s_allowed / sizeof s_allowed[0]; i++) {
        snprintf(from, sizeof from, "%s/%s.key", kit->upstream, s_allowed[i]);
        snprintf(path, sizeof path, "%s/keys/allow/intake/%s.key", kit->intake_state, s_allowed[i]);
        if (harness_copy(from, path))
            return -1;
    }
    /* triage admits intake; intake trusts triage's public cert */
    snprintf(from, sizeof from, "%s/keys/intake.key", kit->intake_state);
    snprintf(path, sizeof path, "%s/keys/allow/triage/intake.key", kit->triage_state);
    if (harness_copy(from, path))
        return -1;
    char err[256];
    snprintf(path, sizeof path, "%s/keys/intake.vault", kit->intake_state);
    if (vault_create_keyfile(path, err, sizeof err)) {
        fprintf(stderr, "vault: %s\n", err);
        return -1;
    }

    int intake_port = harness_free_port(), triage_port = harness_free_port();
    if (intake_port < 0 || triage_port < 0)
        return -1;
    snprintf(kit->intake_endpoint, sizeof kit->intake_endpoint, "tcp://127.0.0.1:%d", intake_port);
    snprintf(kit->intake_admin, KIT_PATH, "ipc://%s/intake.admin", kit->intake_state);
    snprintf(kit->triage_admin, KIT_PATH, "ipc://%s/triage.admin", kit->triage_state);
    snprintf(kit->intake_config, KIT_PATH, "%s/intake.conf", kit->dir);
    snprintf(kit->triage_config, KIT_PATH, "%s/triage.conf", kit->dir);
    snprintf(kit->intake_log, KIT_PATH, "%s/intake.log", kit->dir);
    snprintf(kit->triage_log, KIT_PATH, "%s/triage.log", kit->dir);
    if (harness_write(
            kit->intake_config,
            "state_dir = \"%s\";\n"
            "log_level = \"info\";\n"
            "link = { listen = \"%s\"; };\n"
            "metrics = { listen = \"\"; };\n"
            "peers = ( { name = \"triage\"; endpoint = \"tcp://127.0.0.1:%d\";\n"
            "            server_key = \"%s/keys/triage.key\"; ack_timeout_ms = 500;\n"
            "            backoff_max_ms = 1000; } );\n"
            "intake = {\n"
            "  sources = ( { name = \"hotline-east\";\n"
            "                may_send = [ \"INTAKE_CONTACT\", \"SUBSCRIPTION_REQUEST\",\n"
            "                             \"ASSIGNMENT_RECEIPT\" ]; },\n"
            "              { name = \"county-jail-042\"; may_send = [ \"CUSTODY_EVENT\" ]; } );\n"
            "%s"
            "};\n",
            kit->intake_state, kit->intake_endpoint, triage_port, kit->triage_state,
            intake_extra ? intake_extra : ""))
        return -1;
    if (harness_write(kit->triage_config,
                      "state_dir = \"%s\";\n"
                      "log_level = \"info\";\n"
                      "link = { listen = \"tcp://127.0.0.1:%d\"; };\n"
                      "metrics = { listen = \"\"; };\n"
                      "peers = ();\n",
                      kit->triage_state, triage_port))
        return -1;
    return 0;
}

static int s_wait_healthy(const char *endpoint, pid_t pid, const char *log)
{
    long long deadline = kit_now_ms() + KIT_START_TIMEOUT_MS;
    while (kit_now_ms() < deadline) {
        int status;
        if (harness_exited(pid, &status)) {
            fprintf(stderr, "process exited during start (status %d); log:\n", status);
            harness_tail(log, KIT_LOG_TAIL_LINES);
            return -1;
        }
        Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
        request.command = VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_HEALTH;
        char err[256];
        Vigil__V1__AdminReply *reply =
            admin_call(endpoint, NULL, NULL, &request, KIT_HEALTH_POLL_MS, err, sizeof err);
        if (reply) {
            bool ok = reply->ok;
            vigil__v1__admin_reply__free_unpacked(reply, NULL);
            if (ok)
                return 0;
        }
        kit_sleep_ms(50);
    }
    fprintf(stderr, "process did not become healthy; log:\n");
    harness_tail(log, KIT_LOG_TAIL_LINES);
    return -1;
}

int kit_start_intake(kit_t *kit)
{
    kit->intake_pid = harness_spawn(kit->intake_exe, kit->intake_config, kit->intake_log);
    if (kit->intake_pid < 0)
        return -1;
    return s_wait_healthy(kit->intake_admin, kit->intake_pid, kit->intake_log);
}

int kit_start_standin(kit_t *kit)
{
    kit->triage_pid = harness_spawn(kit->standin_exe, kit->triage_config, kit->triage_log);
    if (kit->triage_pid < 0)
        return -1;
    return s_wait_healthy(kit->triage_admin, kit->triage_pid, kit->triage_log);
}

static void s_kill(pid_t *pid)
{
    if (*pid > 0)
        harness_kill9(*pid);
    *pid = 0;
}

void kit_kill_intake(kit_t *kit)
{
    s_kill(&kit->intake_pid);
}

int kit_stop_intake(kit_t *kit)
{
    if (kit->intake_pid <= 0)
        return -1;
    int code = harness_stop(kit->intake_pid, KIT_STOP_TIMEOUT_MS);
    kit->intake_pid = 0;
    return code;
}

int kit_main(int argc, char **argv, const char *tag, const char *intake_extra, kit_test_fn run)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s VIGIL_INTAKE TRIAGE_STANDIN\n", argv[0]);
        return 2;
    }
    kit_t kit;
    int rc = 1;
    if (kit_setup(&kit, tag, argv[1], argv[2], intake_extra))
        fprintf(stderr, "FAIL: kit setup\n");
    else if ((rc = run(&kit)) != 0)
        harness_tail(kit.intake_log, KIT_LOG_TAIL_LINES);
    kit_teardown(&kit);
    printf("%s\n", rc ? "FAIL" : "PASS");
    return rc;
}

void kit_teardown(kit_t *kit)
{
    s_kill(&kit->intake_pid);
    s_kill(&kit->triage_pid);
    if (getenv("KEEP_TEST_DIR")) {
        fprintf(stderr, "kept %s\n", kit->dir);
        return;
    }
    if (kit->dir[0] && harness_remove_tree(kit->dir))
        fprintf(stderr, "could not remove %s\n", kit->dir);
}

Vigil__V1__AdminReply *kit_admin(kit_t *kit, Vigil__V1__AdminCommand command,
                                 const char *operator_id, const char *target, uint32_t limit)
{
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    request.command = command;
    request.operator_id = (char *)(operator_id ? operator_id : "");
    request.target = (char *)(target ? target : "");
    request.limit = limit;
    char err[256];
    Vigil__V1__AdminReply *reply =
        admin_call(kit->intake_admin, NULL, NULL, &request, KIT_ADMIN_TIMEOUT_MS, err, sizeof err);
    if (!reply)
        fprintf(stderr, "admin call failed: %s\n", err);
    return reply;
}

/* --- publishing ------------------------------------------------------- */

zsock_t *kit_publisher(kit_t *kit, const char *client, const char *server_cert)
{
    zsock_t *socket = zsock_new(ZMQ_DEALER);
    if (!socket)
        return NULL;
    zsock_set_linger(socket, 0);
    if (client) {
        char path[KIT_PATH], server[KIT_PATH];
        kit_cert(kit, client, path);
        zcert_t *cert = zcert_load(path);
        if (!server_cert) {
            kit_cert(kit, "intake", server);
            server_cert = server;
        }
        zcert_t *server_public = zcert_load(server_cert);
        if (!cert || !server_public) {
            zcert_destroy(&cert);
            zcert_destroy(&server_public);
            zsock_destroy(&socket);
            return NULL;
        }
        zcert_apply(cert, socket);
        zsock_set_curve_serverkey(socket, zcert_public_txt(server_public));
        zcert_destroy(&cert);
        zcert_destroy(&server_public);
    }
    if (zsock_connect(socket, "%s", kit->intake_endpoint)) {
        zsock_destroy(&socket);
        return NULL;
    }
    return socket;
}

int kit_send(zsock_t *socket, int type, const void *payload, size_t len,
             const uint8_t message_id[16])
{
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = (uint8_t *)message_id;
    envelope.message_id.len = 16;
    envelope.type = type;
    envelope.created_at_ms = util_now_ms();
    envelope.payload.data = (uint8_t *)payload;
    envelope.payload.len = len;
    envelope.attempt = 1;
    size_t size = vigil__v1__envelope__get_packed_size(&envelope);
    zframe_t *frame = zframe_new(NULL, size);
    vigil__v1__envelope__pack(&envelope, zframe_data(frame));
    return zframe_send(&frame, socket, 0);
}

int kit_send_message(zsock_t *socket, int type, const ProtobufCMessage *message,
                     uint8_t message_id[16])
{
    uint8_t id[16];
    util_random_id(id);
    if (message_id)
        memcpy(message_id, id, sizeof id);
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t *buffer = malloc(size ? size : 1);
    if (!buffer)
        return -1;
    size_t len = protobuf_c_message_pack(message, buffer);
    int rc = kit_send(socket, type, buffer, len, id);
    free(buffer);
    return rc;
}

int kit_receive(zsock_t *socket, int timeout_ms, kit_ack_t *ack)
{
    zpoller_t *poller = zpoller_new(socket, NULL);
    void *ready = zpoller_wait(poller, timeout_ms);
    zpoller_destroy(&poller);
    if (!ready)
        return 0;
    zmsg_t *msg = zmsg_recv(socket);
    if (!msg)
        return 0;
    zframe_t *frame = zmsg_last(msg);
    Vigil__V1__Envelope *envelope =
        frame ? vigil__v1__envelope__unpack(NULL, zframe_size(frame), zframe_data(frame)) : NULL;
    zmsg_destroy(&msg);
    if (!envelope || envelope->type != VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK) {
        if (envelope)
            vigil__v1__envelope__free_unpacked(envelope, NULL);
        return -1;
    }
    Vigil__V1__Ack *acks =
        vigil__v1__ack__unpack(NULL, envelope->payload.len, envelope->payload.data);
    vigil__v1__envelope__free_unpacked(envelope, NULL);
    if (!acks || acks->n_entries != 1) {
        if (acks)
            vigil__v1__ack__free_unpacked(acks, NULL);
        return -1;
    }
    const Vigil__V1__AckEntry *entry = acks->entries[0];
    memset(ack, 0, sizeof *ack);
    if (entry->message_id.len == 16)
        memcpy(ack->message_id, entry->message_id.data, 16);
    ack->status = entry->status;
    ack->reason = entry->reason;
    snprintf(ack->event_id, sizeof ack->event_id, "%s", entry->event_id);
    snprintf(ack->case_id, sizeof ack->case_id, "%s", entry->case_id);
    snprintf(ack->detail, sizeof ack->detail, "%s", entry->detail);
    vigil__v1__ack__free_unpacked(acks, NULL);
    return 1;
}

int kit_request(zsock_t *socket, int type, const ProtobufCMessage *message, int timeout_ms,
                kit_ack_t *ack)
{
    uint8_t id[16];
    if (kit_send_message(socket, type, message, id))
        return -1;
    long long deadline = kit_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - kit_now_ms();
        if (left <= 0)
            return 0;
        int rc = kit_receive(socket, (int)left, ack);
        if (rc != 1 || memcmp(ack->message_id, id, 16) == 0)
            return rc;
    }
}

/* --- fixtures --------------------------------------------------------- */

void kit_victim_name(int index, char out[64])
{
    snprintf(out, 64, "Zephyrine%06d", index);
}

void kit_victim_phone(int index, char out[32])
{
    snprintf(out, 32, "+1503%07d", 5550000 + index % 10000 + (index / 10000) * 10000);
}

Vigil__V1__IntakeContact *kit_contact(kit_contact_t *s, const char *event_id, int index)
{
    memset(s, 0, sizeof *s);
    vigil__v1__intake_contact__init(&s->contact);
    vigil__v1__victim_contact__init(&s->victim);
    vigil__v1__location__init(&s->location);
    vigil__v1__consent__init(&s->consent);
    vigil__v1__offender_ref__init(&s->offender);
    snprintf(s->event_id, sizeof s->event_id, "%s", event_id);
    kit_victim_name(index, s->given_name);
    kit_victim_phone(index, s->phone);
    snprintf(s->email, sizeof s->email, "victim%d@example.org", index);
    snprintf(s->narrative, sizeof s->narrative, "Narrative%06d: caller describes the incident.",
             index);
    Vigil__V1__IntakeContact *c = &s->contact;
    c->event_id = s->event_id;
    c->channel = VIGIL__V1__CHANNEL__CHANNEL_HOTLINE;
    c->language = "en";
    c->caller_role = VIGIL__V1__CALLER_ROLE__CALLER_ROLE_VICTIM;
    s->victim.given_name = s->given_name;
    s->victim.family_name = "Quillfeather";
    s->victim.phone = s->phone;
    s->victim.email = s->email;
    s->victim.street_address = "742 Evergreen Terrace";
    s->victim.preferred_language = "es-MX";
    c->victim = &s->victim;
    s->location.state = "OR";
    s->location.county_fips = "41051";
    s->location.zip = "97201";
    c->location = &s->location;
    c->crime_category = VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_DOMESTIC_VIOLENCE;
    s->offender.offender_id = "B-1234";
    s->offender.agency = "county-jail-042";
    s->offender.display_name = "Mordecai Blackthorn";
    s->offenders[0] = &s->offender;
    c->offenders = s->offenders;
    c->n_offenders = 1;
    s->services[0] = VIGIL__V1__SERVICE_NEED__SERVICE_NEED_SHELTER;
    s->services[1] = VIGIL__V1__SERVICE_NEED__SERVICE_NEED_LEGAL;
    c->requested_services = s->services;
    c->n_requested_services = 2;
    s->cues[0] = VIGIL__V1__URGENCY_CUE__URGENCY_CUE_INJURY;
    c->urgency_cues = s->cues;
    c->n_urgency_cues = 1;
    s->consent.contact_by_phone = 1;
    s->consent.custody_notifications = 1;
    c->consent = &s->consent;
    c->narrative = s->narrative;
    c->received_at_ms = util_now_ms() - 1000;
    c->operator_id = "op-17";
    return c;
}

/* --- the store on disk -------------------------------------------------- */

long long kit_query_int(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *stmt = NULL;
    long long value = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        value = sqlite3_column_int64(stmt, 0);
    else
        fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

void kit_intake_db(const kit_t *kit, char out[KIT_PATH])
{
    snprintf(out, KIT_PATH, "%s/intake.db", kit->intake_state);
}

void kit_triage_db(const kit_t *kit, char out[KIT_PATH])
{
    snprintf(out, KIT_PATH, "%s/triage.db", kit->triage_state);
}

bool kit_files_contain(const char *db_path, const char *needle)
{
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[KIT_PATH + 16];
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        if (harness_file_contains(path, needle))
            return true;
    }
    return false;
}
