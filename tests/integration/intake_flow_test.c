/* intake_flow_test.c: the hotline path through a real vigil-intake.
 *
 * A publisher with an allowlisted CURVE key sends a valid contact: it is
 * ACCEPTED with an opaque case id, reaches the triage stand-in as a
 * pseudonymous CaseView (no name, phone, email, address or narrative in its
 * decoded fields or anywhere in its sqlite files), and sending it again is
 * DUPLICATE with the same case id. Then 19 kinds of bad input are each
 * REJECTED with the right reason code and field, storing nothing. Then the
 * operator path: cases list, an audited case show, encryption at rest (raw
 * sqlite files scanned for every personal value), and a tampered
 * ciphertext that makes case show fail with an integrity error while the
 * service keeps answering. An envelope resent unchanged (same message_id,
 * as after a lost answer) gets the first answer again, DUPLICATE with the
 * original case or the same REJECTED, with the event stored once and no
 * link record kept (intake's ledger dedups). Last, a burst of 600 contacts queued while
 * intake is down, which its link prepares ahead in large batches while
 * intake is told to reload five times: each is answered and stored once,
 * and a case opens to its own values.
 *
 * usage: intake_flow_test VIGIL_INTAKE TRIAGE_STANDIN
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "intake_kit.h"
#include "link_harness.h"
#include "vigil/pii.h"
#include "vigil/util.h"
#include "vigil/v1/case.pb-c.h"
#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/notify.pb-c.h"

#define TIMEOUT_MS   5000
#define DAY_MS       (24LL * 3600 * 1000)
#define MT(name)     VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_##name
#define REASON(name) VIGIL__V1__REASON_CODE__REASON_##name
#define STATUS(name) VIGIL__V1__ACK_STATUS__ACK_STATUS_##name

/* --- bad inputs ------------------------------------------------------- */

typedef struct {
    const char *what;
    const char *publisher;
    int type;
    void (*mutate)(kit_contact_t *s);       /* contact variants */
    const ProtobufCMessage *(*build)(void); /* other messages */
    int raw; /* 1: garbage payload, 2: contact plus an unknown field, 3: plus field number 0 */
    int reason;
    const char *field; /* must appear in the detail, or NULL */
} bad_input_t;

static void s_bad_phone(kit_contact_t *s)
{
    s->victim.phone = "555-0100";
}
static void s_bad_email(kit_contact_t *s)
{
    s->victim.email = "victim(at)example.org";
}
static void s_bad_state(kit_contact_t *s)
{
    s->location.state = "ZZ";
}
static void s_no_state(kit_contact_t *s)
{
    s->location.state = "";
}
static void s_bad_county(kit_contact_t *s)
{
    s->location.county_fips = "06037";
}
static void s_bad_zip(kit_contact_t *s)
{
    s->location.zip = "972";
}
static void s_future(kit_contact_t *s)
{
    s->contact.received_at_ms = util_now_ms() + DAY_MS;
}
static void s_bad_utf8(kit_contact_t *s)
{
    s->victim.given_name = "Ana\xc3";
}
static void s_no_event(kit_contact_t *s)
{
    s->contact.event_id = "";
}
static void s_bad_enum(kit_contact_t *s)
{
    s->contact.channel = 99;
}
static void s_bad_language(kit_contact_t *s)
{
    s->contact.language = "english_US";
}

static char s_big_narrative[9001];
static void s_long_narrative(kit_contact_t *s)
{
    memset(s_big_narrative, 'n', sizeof s_big_narrative - 1);
    s->contact.narrative = s_big_narrative;
}

static Vigil__V1__ServiceNeed s_many[17];
static void s_too_many(kit_contact_t *s)
{
    for (int i = 0; i < 17; i++)
        s_many[i] = VIGIL__V1__SERVICE_NEED__SERVICE_NEED_LEGAL;
    s->contact.requested_services = s_many;
    s->contact.n_requested_services = 17;
}

static Vigil__V1__CustodyEvent s_custody;
static const ProtobufCMessage *s_custody_event(void)
{
    vigil__v1__custody_event__init(&s_custody);
    s_custody.event_id = "jail42-release-1";
    s_custody.type = VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_RELEASED;
    s_custody.offender_id = "B-1234";
    s_custody.agency = "county-jail-042";
    s_custody.facility_id = "main-jail";
    s_custody.occurred_at_ms = util_now_ms() - 60000;
    return &s_custody.base;
}

static const ProtobufCMessage *s_custody_no_offender(void)
{
    s_custody_event();
    s_custody.event_id = "jail42-bad-1";
    s_custody.offender_id = "";
    return &s_custody.base;
}

static Vigil__V1__SubscriptionRequest s_subscription;
static const ProtobufCMessage *s_subscription_request(void)
{
    vigil__v1__subscription_request__init(&s_subscription);
    s_subscription.event_id = "sub-1";
    s_subscription.offender_id = "B-1234";
    s_subscription.agency = "county-jail-042";
    s_subscription.channel = VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_SMS;
    s_subscription.phone = "+15035559876";
    s_subscription.pin = "4821";
    s_subscription.requested_at_ms = util_now_ms() - 1000;
    return &s_subscription.base;
}

static const ProtobufCMessage *s_subscription_bad_pin(void)
{
    s_subscription_request();
    s_subscription.event_id = "sub-bad-1";
    s_subscription.pin = "48";
    return &s_subscription.base;
}

static const bad_input_t s_bad_inputs[] = {
    {"bad phone", "hotline-east", MT(INTAKE_CONTACT), s_bad_phone, NULL, 0, REASON(INVALID_PHONE),
     "field victim.phone: not an E.164 number"},
    {"bad email", "hotline-east", MT(INTAKE_CONTACT), s_bad_email, NULL, 0, REASON(INVALID_EMAIL),
     "victim.email"},
    {"unknown state", "hotline-east", MT(INTAKE_CONTACT), s_bad_state, NULL, 0,
     REASON(INVALID_STATE), "location.state"},
    {"missing state", "hotline-east", MT(INTAKE_CONTACT), s_no_state, NULL, 0,
     REASON(MISSING_FIELD), "location.state"},
    {"county of another state", "hotline-east", MT(INTAKE_CONTACT), s_bad_county, NULL, 0,
     REASON(INVALID_COUNTY), "location.county_fips"},
    {"bad zip", "hotline-east", MT(INTAKE_CONTACT), s_bad_zip, NULL, 0, REASON(INVALID_ZIP),
     "location.zip"},
    {"future date", "hotline-east", MT(INTAKE_CONTACT), s_future, NULL, 0, REASON(FUTURE_DATE),
     "received_at_ms"},
    {"oversized narrative", "hotline-east", MT(INTAKE_CONTACT), s_long_narrative, NULL, 0,
     REASON(TOO_LONG), "narrative"},
    {"invalid UTF-8", "hotline-east", MT(INTAKE_CONTACT), s_bad_utf8, NULL, 0, REASON(INVALID_UTF8),
     "victim.given_name"},
    {"missing event id", "hotline-east", MT(INTAKE_CONTACT), s_no_event, NULL, 0,
     REASON(MISSING_FIELD), "event_id"},
    {"unknown enum value", "hotline-east", MT(INTAKE_CONTACT), s_bad_enum, NULL, 0,
     REASON(INVALID_ENUM), "channel"},
    {"bad language tag", "hotline-east", MT(INTAKE_CONTACT), s_bad_language, NULL, 0,
     REASON(INVALID_LANGUAGE), "language"},
    {"too many services", "hotline-east", MT(INTAKE_CONTACT), s_too_many, NULL, 0, REASON(TOO_MANY),
     "requested_services"},
    {"custody event from a hotline", "hotline-east", MT(CUSTODY_EVENT), NULL, s_custody_event, 0,
     REASON(NOT_PERMITTED), "hotline-east may not send CUSTODY_EVENT"},
    {"contact from a jail", "county-jail-042", MT(INTAKE_CONTACT), NULL, NULL, 0,
     REASON(NOT_PERMITTED), "county-jail-042 may not send INTAKE_CONTACT"},
    {"custody event without offender", "county-jail-042", MT(CUSTODY_EVENT), NULL,
     s_custody_no_offender, 0, REASON(MISSING_FIELD), "offender_id"},
    {"subscription with a bad PIN", "hotline-east", MT(SUBSCRIPTION_REQUEST), NULL,
     s_subscription_bad_pin, 0, REASON(INVALID_VALUE), "pin"},
    {"garbage payload", "hotline-east", MT(INTAKE_CONTACT), NULL, NULL, 1, REASON(MALFORMED), NULL},
    {"unknown field", "hotline-east", MT(INTAKE_CONTACT), NULL, NULL, 2, REASON(UNKNOWN_FIELD),
     NULL},
    {"field number 0", "hotline-east", MT(INTAKE_CONTACT), NULL, NULL, 3, REASON(UNKNOWN_FIELD),
     "unknown field number 0"},
};

static int s_send_bad(kit_t *kit, zsock_t *hotline, zsock_t *jail, const bad_input_t *bad,
                      int index, kit_ack_t *ack)
{
    zsock_t *socket = strcmp(bad->publisher, "hotline-east") == 0 ? hotline : jail;
    (void)kit;
    if (bad->build)
        return kit_request(socket, bad->type, bad->build(), TIMEOUT_MS, ack);
    kit_contact_t storage;
    char event[64];
    snprintf(event, sizeof event, "bad-%d", index);
    Vigil__V1__IntakeContact *c = kit_contact(&storage, event, 1000 + index);
    if (bad->mutate)
        bad->mutate(&storage);
    if (!bad->raw)
        return kit_request(socket, bad->type, &c->base, TIMEOUT_MS, ack);
    uint8_t buffer[16384], id[16];
    size_t len;
    if (bad->raw == 1) {
        memcpy(buffer, "\xff\xff\xff\xff garbage", 13);
        len = 13;
    } else {
        len = vigil__v1__intake_contact__pack(c, buffer);
        if (bad->raw == 2)
            memcpy(buffer + len, "\x98\x06\x01", 3); /* field 99, varint 1 */
        else
            memcpy(buffer + len, "\x80\x00\x01", 3); /* field 0 (invalid), varint 1 */
        len += 3;
    }
    util_random_id(id);
    if (kit_send(socket, bad->type, buffer, len, id))
        return -1;
    return kit_receive(socket, TIMEOUT_MS, ack);
}

/* --- pseudonymity checks ------------------------------------------------ */

/* Fails if any string field of `message` (recursively) contains `needle`. */
static int s_strings_free_of(const ProtobufCMessage *message, const char *needle)
{
    const ProtobufCMessageDescriptor *d = message->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)message + f->offset;
        if (f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED) {
            const char *s = *(const char *const *)base;
            KIT_CHECK(!s || !strstr(s, needle), "field %s carries personal data", f->name);
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED) {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)base;
            if (sub && s_strings_free_of(sub, needle))
                return 1;
        }
    }
    return 0;
}

static int s_check_triage_view(kit_t *kit, const char *case_id, const char *const *secrets,
                               size_t secret_count)
{
    char db_path[KIT_PATH];
    kit_triage_db(kit, db_path);
    long long deadline = kit_now_ms() + 15000;
    while (kit_query_int(db_path, "SELECT count(*) FROM standin_views") < 1 &&
           kit_now_ms() < deadline)
        kit_sleep_ms(50);
    sqlite3 *db = NULL;
    KIT_CHECK(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
              "open stand-in db");
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2(db, "SELECT case_id, view FROM standin_views", -1, &stmt, NULL);
    int views = 0, failed = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        views++;
        Vigil__V1__CaseView *view = vigil__v1__case_view__unpack(
            NULL, (size_t)sqlite3_column_bytes(stmt, 1), sqlite3_column_blob(stmt, 1));
        if (!view) {
            failed = 1;
            break;
        }
        if (strcmp(view->case_id, case_id) != 0 || strcmp(view->zip3, "972") != 0 ||
            strcmp(view->state, "OR") != 0 || strcmp(view->county_fips, "41051") != 0 ||
            strcmp(view->language, "es-MX") != 0 || !view->has_offender ||
            !view->wants_notifications || view->n_requested_services != 2 ||
            pii_count(&view->base) != 0) {
            fprintf(stderr, "FAIL: CaseView content differs from the contact's coarse facts\n");
            failed = 1;
        }
        for (size_t i = 0; i < secret_count && !failed; i++)
            failed = s_strings_free_of(&view->base, secrets[i]);
        vigil__v1__case_view__free_unpacked(view, NULL);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    KIT_CHECK(!failed, "CaseView check failed");
    KIT_CHECK(views == 1, "stand-in holds %d views, expected 1", views);
    for (size_t i = 0; i < secret_count; i++)
        KIT_CHECK(!kit_files_contain(db_path, secrets[i]),
                  "the triage stand-in's sqlite files contain personal value #%zu", i);
    return 0;
}

/* --- tampering -------------------------------------------------------- */

static int s_flip_phone_byte(const char *db_path, const char *case_id)
{
    sqlite3 *db = NULL;
    KIT_CHECK(sqlite3_open(db_path, &db) == SQLITE_OK, "open intake db");
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2(db, "SELECT victim_phone FROM intake_cases WHERE case_id = ?1", -1, &stmt,
                       NULL);
    sqlite3_bind_text(stmt, 1, case_id, -1, SQLITE_STATIC);
    KIT_CHECK(sqlite3_step(stmt) == SQLITE_ROW, "case row not found");
    int len = sqlite3_column_bytes(stmt, 0);
    unsigned char blob[256];
    KIT_CHECK(len > 45 && len < (int)sizeof blob, "sealed phone has length %d", len);
    memcpy(blob, sqlite3_column_blob(stmt, 0), (size_t)len);
    sqlite3_finalize(stmt);
    blob[len - 20] ^= 0x01; /* inside the ciphertext */
    sqlite3_prepare_v2(db, "UPDATE intake_cases SET victim_phone = ?1 WHERE case_id = ?2", -1,
                       &stmt, NULL);
    sqlite3_bind_blob(stmt, 1, blob, len, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, case_id, -1, SQLITE_STATIC);
    KIT_CHECK(sqlite3_step(stmt) == SQLITE_DONE, "update failed");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return 0;
}

/* --- the test ------------------------------------------------------------ */

/* 9. A burst queued while intake is down arrives as large batches, which
 * the link prepares on its preparer thread (validation, sealing, packing)
 * while it stores the batch before: every contact is answered once (every
 * BURST_BAD_EVERY-th has a bad phone and is REJECTED, storing nothing),
 * each accepted one is stored once under its own case id, and a case from
 * the middle of the burst opens to its own personal values. */
#define BURST_SIZE          600
#define BURST_BAD_EVERY     50
#define BURST_FIRST         1000 /* personal-value index of the burst's first contact */
#define BURST_RELOADS       5    /* SIGHUPs while the burst is handled */
#define BURST_RELOAD_GAP_MS 10

static int s_burst(kit_t *kit, zsock_t *hotline, const char *intake_db)
{
    long long cases_before = kit_query_int(intake_db, "SELECT count(*) FROM intake_cases");
    KIT_CHECK(kit_stop_intake(kit) == 0, "intake did not stop before the burst");
    kit_contact_t storage;
    for (int i = 0; i < BURST_SIZE; i++) {
        char event_id[64];
        snprintf(event_id, sizeof event_id, "hotline-east-burst-%04d", i);
        Vigil__V1__IntakeContact *contact = kit_contact(&storage, event_id, BURST_FIRST + i);
        if (i % BURST_BAD_EVERY == BURST_BAD_EVERY - 1)
            s_bad_phone(&storage);
        KIT_CHECK(kit_send_message(hotline, MT(INTAKE_CONTACT), &contact->base, NULL) == 0,
                  "burst: send %d failed", i);
    }
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not restart for the burst");
    /* Reloads (the vault and the config re-read) while the burst is being
     * prepared: the link runs its preparer only inside a readable event,
     * and a reload only between events, so none may crash or lose an
     * answer (the sanitizer build would see a freed key ring). */
    for (int i = 0; i < BURST_RELOADS; i++) {
        KIT_CHECK(kill(kit->intake_pid, SIGHUP) == 0, "burst: cannot signal intake");
        kit_sleep_ms(BURST_RELOAD_GAP_MS);
    }
    int accepted = 0, rejected = 0;
    char middle_case[64] = "";
    const char *middle_event = "hotline-east-burst-0300";
    for (int i = 0; i < BURST_SIZE; i++) {
        kit_ack_t ack;
        KIT_CHECK(kit_receive(hotline, TIMEOUT_MS, &ack) == 1, "burst: %d answers of %d", i,
                  BURST_SIZE);
        int index = atoi(ack.event_id + strlen("hotline-east-burst-"));
        bool bad = index % BURST_BAD_EVERY == BURST_BAD_EVERY - 1;
        if (bad) {
            KIT_CHECK(ack.status == STATUS(REJECTED) && ack.reason == REASON(INVALID_PHONE) &&
                          strstr(ack.detail, "victim.phone"),
                      "burst: %s answered %d (%s), expected REJECTED", ack.event_id, ack.status,
                      ack.detail);
            rejected++;
        } else {
            KIT_CHECK(ack.status == STATUS(ACCEPTED), "burst: %s answered %d (%s)", ack.event_id,
                      ack.status, ack.detail);
            accepted++;
        }
        if (strcmp(ack.event_id, middle_event) == 0)
            snprintf(middle_case, sizeof middle_case, "%s", ack.case_id);
    }
    int expected_bad = BURST_SIZE / BURST_BAD_EVERY;
    KIT_CHECK(accepted == BURST_SIZE - expected_bad && rejected == expected_bad,
              "burst: %d accepted and %d rejected", accepted, rejected);
    KIT_CHECK(kit_query_int(intake_db, "SELECT count(*) FROM intake_cases") ==
                  cases_before + accepted,
              "burst: the store does not hold each accepted contact once");
    KIT_CHECK(kit_query_int(intake_db, "SELECT count(DISTINCT case_id) FROM intake_cases") ==
                  cases_before + accepted,
              "burst: two contacts share a case id");
    KIT_CHECK(*middle_case, "burst: no answer for %s", middle_event);
    Vigil__V1__AdminReply *reply =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW, "op-ana", middle_case, 0);
    char name[64], phone[32];
    kit_victim_name(BURST_FIRST + 300, name);
    kit_victim_phone(BURST_FIRST + 300, phone);
    KIT_CHECK(reply && reply->ok && reply->case_contact && reply->case_contact->victim &&
                  strcmp(reply->case_contact->event_id, middle_event) == 0 &&
                  strcmp(reply->case_contact->victim->given_name, name) == 0 &&
                  strcmp(reply->case_contact->victim->phone, phone) == 0,
              "burst: case %s does not open to its own contact: %s", middle_case,
              reply ? reply->error : "no reply");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    KIT_CHECK(harness_file_contains(kit->intake_log, "msg=\"reloaded\""),
              "burst: intake did not log a reload");
    printf("burst of %d with %d reloads: %d accepted, %d rejected, each stored once\n", BURST_SIZE,
           BURST_RELOADS, accepted, rejected);
    return 0;
}

/* Sends `message` twice as the same envelope (one message_id, as a
 * publisher resends after a lost answer) and fills `first` and `second`
 * with the answers. Returns 1 when both came, else 0 or -1. */
static int s_send_twice(zsock_t *socket, int type, const ProtobufCMessage *message,
                        kit_ack_t *first, kit_ack_t *second)
{
    uint8_t buffer[16384], id[16];
    if (protobuf_c_message_get_packed_size(message) > sizeof buffer)
        return -1;
    size_t len = protobuf_c_message_pack(message, buffer);
    util_random_id(id);
    kit_ack_t *acks[2] = {first, second};
    for (int i = 0; i < 2; i++) {
        if (kit_send(socket, type, buffer, len, id))
            return -1;
        int rc;
        do {
            rc = kit_receive(socket, TIMEOUT_MS, acks[i]);
        } while (rc == 1 && memcmp(acks[i]->message_id, id, 16) != 0);
        if (rc != 1)
            return rc;
    }
    return 1;
}

/* A resent envelope (same message_id) gets the answer the first one got,
 * with no second effect: intake's ledger, not a link record, dedups it. */
static int s_check_resend(zsock_t *hotline, const char *intake_db)
{
    kit_contact_t storage;
    Vigil__V1__IntakeContact *contact = kit_contact(&storage, "hotline-east-resend", 4);
    kit_ack_t first, second;
    KIT_CHECK(s_send_twice(hotline, MT(INTAKE_CONTACT), &contact->base, &first, &second) == 1,
              "resend: no answer");
    KIT_CHECK(first.status == STATUS(ACCEPTED), "resend: first answer %d (%s)", first.status,
              first.detail);
    KIT_CHECK(second.status == STATUS(DUPLICATE) && strcmp(second.case_id, first.case_id) == 0,
              "resend: second answer %d with case %s, expected DUPLICATE with %s", second.status,
              second.case_id, first.case_id);
    KIT_CHECK(kit_query_int(intake_db, "SELECT count(*) FROM intake_events WHERE event_id = "
                                       "'hotline-east-resend'") == 1 &&
                  kit_query_int(intake_db, "SELECT count(*) FROM link_inbox") == 0,
              "resend: the event is not stored exactly once, or the link kept records");

    Vigil__V1__IntakeContact *bad = kit_contact(&storage, "hotline-east-resend-bad", 5);
    bad->victim->phone = "555-0100";
    KIT_CHECK(s_send_twice(hotline, MT(INTAKE_CONTACT), &bad->base, &first, &second) == 1,
              "resend of a rejected event: no answer");
    for (int i = 0; i < 2; i++) {
        const kit_ack_t *ack = i ? &second : &first;
        KIT_CHECK(ack->status == STATUS(REJECTED) && ack->reason == REASON(INVALID_PHONE) &&
                      strstr(ack->detail, "victim.phone") != NULL,
                  "resend of a rejected event: answer %d: status %d reason %d (%s)", i + 1,
                  ack->status, ack->reason, ack->detail);
    }
    return 0;
}

static int s_run(kit_t *kit)
{
    KIT_CHECK(kit_start_standin(kit) == 0, "stand-in did not start");
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not start");
    zsock_t *hotline = kit_publisher(kit, "hotline-east", NULL);
    zsock_t *jail = kit_publisher(kit, "county-jail-042", NULL);
    KIT_CHECK(hotline && jail, "publisher sockets");
    char intake_db[KIT_PATH];
    kit_intake_db(kit, intake_db);

    /* 1. a valid contact is ACCEPTED with an opaque case id */
    kit_contact_t storage;
    Vigil__V1__IntakeContact *contact = kit_contact(&storage, "hotline-east-0001", 1);
    kit_ack_t ack;
    KIT_CHECK(kit_request(hotline, MT(INTAKE_CONTACT), &contact->base, TIMEOUT_MS, &ack) == 1,
              "no answer to a valid contact");
    KIT_CHECK(ack.status == STATUS(ACCEPTED), "valid contact: status %d (%s)", ack.status,
              ack.detail);
    KIT_CHECK(strncmp(ack.case_id, "c_", 2) == 0 && strlen(ack.case_id) == 22,
              "case id '%s' is not opaque c_ + 20", ack.case_id);
    KIT_CHECK(strcmp(ack.event_id, "hotline-east-0001") == 0, "event id not echoed");
    char case_id[64];
    snprintf(case_id, sizeof case_id, "%s", ack.case_id);

    /* 2. the same event again is DUPLICATE with the original case id */
    kit_ack_t again;
    KIT_CHECK(kit_request(hotline, MT(INTAKE_CONTACT), &contact->base, TIMEOUT_MS, &again) == 1,
              "no answer to a resend");
    KIT_CHECK(again.status == STATUS(DUPLICATE), "resend: status %d", again.status);
    KIT_CHECK(strcmp(again.case_id, case_id) == 0, "DUPLICATE carries %s, expected %s",
              again.case_id, case_id);

    /* 3. triage gets a pseudonymous view */
    char name[64], phone[32];
    kit_victim_name(1, name);
    kit_victim_phone(1, phone);
    const char *secrets[] = {name,
                             phone,
                             "Quillfeather",
                             "victim1@example.org",
                             "Evergreen Terrace",
                             "Narrative000001",
                             "Blackthorn"};
    size_t secret_count = sizeof secrets / sizeof secrets[0];
    if (s_check_triage_view(kit, case_id, secrets, secret_count))
        return 1;

    /* 4. bad inputs: each REJECTED with its reason and field; nothing stored */
    long long cases_before = kit_query_int(intake_db, "SELECT count(*) FROM intake_cases");
    long long events_before = kit_query_int(intake_db, "SELECT count(*) FROM intake_events");
    size_t bad_count = sizeof s_bad_inputs / sizeof s_bad_inputs[0];
    for (size_t i = 0; i < bad_count; i++) {
        const bad_input_t *bad = &s_bad_inputs[i];
        KIT_CHECK(s_send_bad(kit, hotline, jail, bad, (int)i, &ack) == 1, "%s: no answer",
                  bad->what);
        KIT_CHECK(ack.status == STATUS(REJECTED) && ack.reason == bad->reason,
                  "%s: status %d reason %d (%s), expected REJECTED reason %d", bad->what,
                  ack.status, ack.reason, ack.detail, bad->reason);
        KIT_CHECK(!bad->field || strstr(ack.detail, bad->field), "%s: detail '%s' lacks '%s'",
                  bad->what, ack.detail, bad->field);
        for (size_t s = 0; s < secret_count; s++)
            KIT_CHECK(!strstr(ack.detail, secrets[s]), "%s: detail shows a value", bad->what);
    }
    printf("%zu bad inputs rejected with the right reason\n", bad_count);
    KIT_CHECK(kit_query_int(intake_db, "SELECT count(*) FROM intake_cases") == cases_before &&
                  kit_query_int(intake_db, "SELECT count(*) FROM intake_events") == events_before,
              "a rejected input changed the store");

    /* 5. permitted non-contact events */
    KIT_CHECK(kit_request(jail, MT(CUSTODY_EVENT), s_custody_event(), TIMEOUT_MS, &ack) == 1 &&
                  ack.status == STATUS(ACCEPTED),
              "custody event from the jail: status %d (%s)", ack.status, ack.detail);
    KIT_CHECK(kit_request(hotline, MT(SUBSCRIPTION_REQUEST), s_subscription_request(), TIMEOUT_MS,
                          &ack) == 1 &&
                  ack.status == STATUS(ACCEPTED),
              "subscription: status %d (%s)", ack.status, ack.detail);
    KIT_CHECK(!kit_files_contain(intake_db, "+15035559876") &&
                  !kit_files_contain(intake_db, "4821"),
              "subscription phone or PIN stored in clear");

    /* 6. operator path: list, audited show */
    Vigil__V1__AdminReply *reply =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASES_LIST, NULL, NULL, 0);
    KIT_CHECK(reply && reply->ok && reply->n_cases == 1 &&
                  strcmp(reply->cases[0]->case_id, case_id) == 0 &&
                  strcmp(reply->cases[0]->source, "hotline-east") == 0,
              "cases list does not show the case");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    reply = kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW, "", case_id, 0);
    KIT_CHECK(reply && !reply->ok && strstr(reply->error, "operator"),
              "case show without an operator id was not refused");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    reply = kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW, "op-ana", case_id, 0);
    KIT_CHECK(reply && reply->ok && reply->case_contact && reply->case_contact->victim,
              "case show failed: %s", reply ? reply->error : "no reply");
    KIT_CHECK(strcmp(reply->case_contact->victim->given_name, name) == 0 &&
                  strcmp(reply->case_contact->victim->phone, phone) == 0 &&
                  strcmp(reply->case_contact->narrative, storage.narrative) == 0 &&
                  reply->case_contact->n_offenders == 1 &&
                  strcmp(reply->case_contact->offenders[0]->display_name, "Mordecai Blackthorn") ==
                      0,
              "case show returned different personal data");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    char audit_sql[256];
    snprintf(audit_sql, sizeof audit_sql,
             "SELECT count(*) FROM intake_audit WHERE case_id = '%s' AND operator_id = 'op-ana' "
             "AND outcome = 'shown'",
             case_id);
    KIT_CHECK(kit_query_int(intake_db, audit_sql) == 1, "case show was not audited");

    /* 7. encryption at rest: raw files hold no personal value (WAL live) */
    for (size_t s = 0; s < secret_count; s++)
        KIT_CHECK(!kit_files_contain(intake_db, secrets[s]),
                  "intake's sqlite files contain personal value #%zu in clear", s);

    /* 8. a flipped byte: case show fails cleanly, the service stays up */
    KIT_CHECK(kit_stop_intake(kit) == 0, "intake did not stop cleanly");
    for (size_t s = 0; s < secret_count; s++)
        KIT_CHECK(!kit_files_contain(intake_db, secrets[s]),
                  "intake's sqlite files contain personal value #%zu after checkpoint", s);
    if (s_flip_phone_byte(intake_db, case_id))
        return 1;
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not restart");
    reply = kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW, "op-ana", case_id, 0);
    char expected[160];
    snprintf(expected, sizeof expected,
             "case %s: stored field victim.phone failed integrity check (key id 1)", case_id);
    KIT_CHECK(reply && !reply->ok && strcmp(reply->error, expected) == 0, "tampered case: got '%s'",
              reply ? reply->error : "no reply");
    KIT_CHECK(!reply->case_contact, "tampered case still returned a contact");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    snprintf(audit_sql, sizeof audit_sql,
             "SELECT count(*) FROM intake_audit WHERE case_id = '%s' AND outcome = "
             "'integrity_failure'",
             case_id);
    KIT_CHECK(kit_query_int(intake_db, audit_sql) == 1, "failed read was not audited");
    contact = kit_contact(&storage, "hotline-east-0002", 2);
    KIT_CHECK(kit_request(hotline, MT(INTAKE_CONTACT), &contact->base, TIMEOUT_MS, &ack) == 1 &&
                  ack.status == STATUS(ACCEPTED),
              "intake stopped accepting after the integrity failure");
    reply =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW, "op-ana", ack.case_id, 0);
    KIT_CHECK(reply && reply->ok, "an untampered case is no longer readable");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    /* 9. the same envelope resent (same message_id): the same answers */
    if (s_check_resend(hotline, intake_db))
        return 1;

    if (s_burst(kit, hotline, intake_db))
        return 1;

    zsock_destroy(&hotline);
    zsock_destroy(&jail);
    return 0;
}

int main(int argc, char **argv)
{
    return kit_main(argc, argv, "intake-flow", NULL, s_run);
}
