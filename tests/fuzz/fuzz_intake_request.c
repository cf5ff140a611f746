/* fuzz_intake_request.c: an upstream request's payload through intake's
 * checks and, when it passes them, through the making of its case.
 *
 * The first input byte picks one of the five upstream message types; the
 * rest is the payload, as the link hands it to intake after decoding the
 * envelope. For any input this target checks that:
 * - validation either passes or names a reason code intake may answer
 *   with and a detail of the form "field <path>: <why>", whose path is made
 *   of field names and indices only;
 * - for a contact that passes: the row and onward messages can be built,
 *   and neither the case row's plaintext `details` column nor the
 *   pseudonymous CaseView (triage) and ReportEvent (reporting) change in
 *   any byte when every [pii] string in the contact is replaced by another
 *   value. So no personal value can reach them, whatever the input.
 *
 * Uses a real vault key file, hash key and sqlite store in a temporary
 * directory made at start and removed at exit.
 */
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "cases.h"
#include "forward.h"
#include "fuzz.h"
#include "intake.h"
#include "link_internal.h"
#include "schema.h"
#include "validate.h"
#include "vigil/pii.h"
#include "vigil/store.h"
#include "vigil/util.h"
#include "vigil/vault.h"
#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/notify.pb-c.h"

enum {
    FUZZ_SWAPS_MAX = 512, /* [pii] strings replaced in one contact */
    FUZZ_PATH = 600,      /* a fuzz_tempdir() path and a file name */
    FUZZ_ERR = 256,
};

static const Vigil__V1__MessageType s_types[] = {
    VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT,
    VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT,
    VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST,
    VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION,
    VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT,
};
#define FUZZ_TYPES (sizeof s_types / sizeof s_types[0])

static struct {
    sqlite3 *db;
    vault_t *vault;
    intake_config_t config;
    intake_t *intake;
    char case_id[CASE_ID_SIZE];
} s_fx;

static void s_close(void)
{
    intake_destroy(&s_fx.intake);
    store_close(&s_fx.db);
    vault_destroy(&s_fx.vault);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char db[2 * FUZZ_PATH], vault[2 * FUZZ_PATH], hashkey[2 * FUZZ_PATH], err[FUZZ_ERR];
    const char *dir = fuzz_tempdir("intake");
    atexit(s_close); /* runs before the folder is removed */
    snprintf(db, sizeof db, "%s/intake.db", dir);
    snprintf(vault, sizeof vault, "%s/intake.vault", dir);
    snprintf(hashkey, sizeof hashkey, "%s/intake.hashkey", dir);
    s_fx.db = store_open(db, intake_migrations, INTAKE_MIGRATION_COUNT, err, sizeof err);
    FUZZ_CHECK(s_fx.db, "store: %s", err);
    FUZZ_CHECK(vault_create_keyfile(vault, err, sizeof err) == 0, "vault: %s", err);
    s_fx.vault = vault_open(vault, err, sizeof err);
    FUZZ_CHECK(s_fx.vault, "vault: %s", err);
    s_fx.config.cache_mb = 8;
    s_fx.intake = intake_new_detached(s_fx.db, s_fx.vault, &s_fx.config, hashkey, err, sizeof err);
    FUZZ_CHECK(s_fx.intake, "intake: %s", err);
    FUZZ_CHECK(intake_new_case(s_fx.intake, util_now_ms(), s_fx.case_id) > 0, "no case id");
    return 0;
}

/* --- replacing every [pii] string ------------------------------------------ */

typedef struct {
    char **slot;
    char *value;
} swap_t;

typedef struct {
    swap_t items[FUZZ_SWAPS_MAX];
    size_t count;
} swaps_t;

static const char s_other[] = "another value altogether";

static void s_swap(swaps_t *swaps, char **slot)
{
    FUZZ_CHECK(swaps->count < FUZZ_SWAPS_MAX, "more [pii] strings than the test can swap");
    swaps->items[swaps->count++] = (swap_t){slot, *slot};
    *slot = (char *)s_other;
}

/* Points every [pii] string field of `message` and its sub-messages
 * (including the inside of [pii] sub-messages) at s_other, remembering
 * what was there. */
static void s_swap_personal(ProtobufCMessage *message, swaps_t *swaps)
{
    const ProtobufCMessageDescriptor *d = message->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)message + f->offset;
        bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        size_t count = repeated ? *(size_t *)((char *)message + f->quantifier_offset) : 1;
        void *items = repeated ? *(void **)base : (void *)base;
        if (f->type == PROTOBUF_C_TYPE_STRING && pii_is_field(d, f->name)) {
            for (size_t k = 0; k < count; k++)
                s_swap(swaps, &((char **)items)[k]);
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            for (size_t k = 0; k < count; k++) {
                ProtobufCMessage *sub = ((ProtobufCMessage **)items)[k];
                if (sub)
                    s_swap_personal(sub, swaps);
            }
        }
    }
}

static void s_restore(swaps_t *swaps)
{
    while (swaps->count > 0) {
        swap_t *s = &swaps->items[--swaps->count];
        *s->slot = s->value;
    }
}

/* --- building a case -------------------------------------------------------- */

/* What a pseudonymous reader can see of one built contact. */
typedef struct {
    uint8_t *details;
    size_t details_len;
    size_t rows;
    uint8_t *payload[2]; /* the CaseView's and the ReportEvent's payload bytes */
    size_t payload_len[2];
    int type[2];
    char case_id[2][CASE_ID_SIZE];
} built_t;

static void s_built_free(built_t *b)
{
    free(b->details);
    for (int i = 0; i < 2; i++)
        free(b->payload[i]);
}

static uint8_t *s_copy(const void *data, size_t len)
{
    uint8_t *out = malloc(len + 1);
    FUZZ_CHECK(out, "out of memory");
    if (len)
        memcpy(out, data, len);
    return out;
}

static void s_build(Vigil__V1__IntakeContact *contact, built_t *out)
{
    memset(out, 0, sizeof *out);
    link_arena_t arena;
    link_arena_init(&arena);
    cases_prepared_t row;
    forward_prepared_t forward;
    char err[FUZZ_ERR];
    FUZZ_CHECK(cases_prepare(s_fx.vault, contact, s_fx.case_id, &arena.allocator, &row, err,
                             sizeof err) == 0,
               "cases_prepare refused a valid contact: %s", err);
    FUZZ_CHECK(forward_prepare_contact(s_fx.intake, contact, s_fx.case_id, "trace-1",
                                       &arena.allocator, &forward, err, sizeof err) == 0,
               "forward_prepare_contact refused a valid contact: %s", err);
    FUZZ_CHECK(forward.count >= 2, "a case makes %zu onward rows, not at least 2", forward.count);
    out->details = s_copy(row.details, row.details_len);
    out->details_len = row.details_len;
    out->rows = forward.count;
    for (int i = 0; i < 2; i++) {
        const link_outbox_prepared_t *r = &forward.rows[i];
        FUZZ_CHECK(r->stored == r->wire, "the %s row is sealed", i ? "reporting" : "triage");
        Vigil__V1__Envelope *e = vigil__v1__envelope__unpack(NULL, r->wire_len, r->wire);
        FUZZ_CHECK(e, "onward row %d is not an Envelope", i);
        out->payload[i] = s_copy(e->payload.data, e->payload.len);
        out->payload_len[i] = e->payload.len;
        out->type[i] = (int)e->type;
        snprintf(out->case_id[i], CASE_ID_SIZE, "%s", e->case_id ? e->case_id : "");
        vigil__v1__envelope__free_unpacked(e, NULL);
    }
    for (size_t i = 0; i < forward.count; i++)
        sodium_memzero((void *)forward.rows[i].wire, forward.rows[i].wire_len);
    link_arena_release(&arena);
}

static bool s_same(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static void s_check_contact(Vigil__V1__IntakeContact *contact)
{
    built_t real, other;
    s_build(contact, &real);
    swaps_t swaps = {.count = 0};
    s_swap_personal(&contact->base, &swaps);
    s_build(contact, &other);
    s_restore(&swaps);
    FUZZ_CHECK(s_same(real.details, real.details_len, other.details, other.details_len),
               "the plaintext details column depends on a personal field");
    static const char *const names[] = {"CaseView for triage", "ReportEvent for reporting"};
    for (int i = 0; i < 2; i++) {
        FUZZ_CHECK(real.type[i] == other.type[i] && strcmp(real.case_id[i], other.case_id[i]) == 0,
                   "the %s envelope depends on a personal field", names[i]);
        FUZZ_CHECK(
            s_same(real.payload[i], real.payload_len[i], other.payload[i], other.payload_len[i]),
            "the %s depends on a personal field", names[i]);
    }
    s_built_free(&real);
    s_built_free(&other);
}

/* --- the target ------------------------------------------------------------- */

/* The reason codes a failed rule may give (envelope.proto): a field's
 * value, never the frame, the sender or intake itself. */
static bool s_validation_reason(Vigil__V1__ReasonCode reason)
{
    return (reason >= VIGIL__V1__REASON_CODE__REASON_MISSING_FIELD &&
            reason <= VIGIL__V1__REASON_CODE__REASON_TOO_MANY) ||
           reason == VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE;
}

static bool s_path_chars_only(const char *path)
{
    if (!*path)
        return false;
    for (const char *p = path; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
              *p == '[' || *p == ']'))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    Vigil__V1__MessageType type = s_types[data[0] % FUZZ_TYPES];
    const validate_table_t *table = validate_table_for(type);
    FUZZ_CHECK(table, "no rules for upstream type %d", (int)type);
    ProtobufCMessage *message =
        protobuf_c_message_unpack(table->descriptor, NULL, size - 1, data + 1);
    if (!message)
        return 0;
    validate_error_t error;
    memset(&error, 0, sizeof error);
    if (validate_message(table, message, util_now_ms(), &error) != 0) {
        FUZZ_CHECK(s_validation_reason(error.reason),
                   "refused with reason %d, not a validation reason", (int)error.reason);
        FUZZ_CHECK(s_path_chars_only(error.field), "the field path holds more than names: %s",
                   error.field);
        char prefix[sizeof error.field + 16];
        snprintf(prefix, sizeof prefix, "field %s: ", error.field);
        FUZZ_CHECK(strncmp(error.detail, prefix, strlen(prefix)) == 0 &&
                       strlen(error.detail) > strlen(prefix),
                   "detail %s does not start with \"%s\" and say why", error.detail, prefix);
    } else if (type == VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT) {
        s_check_contact((Vigil__V1__IntakeContact *)message);
    }
    protobuf_c_message_free_unpacked(message, NULL);
    return 0;
}

/* --- seeds ------------------------------------------------------------------ */

static void s_emit(fuzz_emit_fn emit, void *ctx, int type_index, const ProtobufCMessage *message)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t *buffer = malloc(size + 2);
    if (!buffer)
        return;
    buffer[0] = (uint8_t)type_index;
    protobuf_c_message_pack(message, buffer + 1);
    emit(ctx, buffer, size + 1);
    free(buffer);
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    int64_t now = util_now_ms();
    Vigil__V1__VictimContact victim = VIGIL__V1__VICTIM_CONTACT__INIT;
    victim.given_name = "Dana";
    victim.family_name = "Example";
    victim.phone = "+15035550101";
    victim.email = "dana.example@example.org";
    victim.street_address = "100 Sample Street, Apt 1";
    victim.preferred_language = "es";
    victim.safe_to_leave_voicemail = true;
    Vigil__V1__Location location = VIGIL__V1__LOCATION__INIT;
    location.state = "OR";
    location.county_fips = "41051";
    location.zip = "97201-1234";
    Vigil__V1__OffenderRef offender = VIGIL__V1__OFFENDER_REF__INIT;
    Vigil__V1__OffenderRef *offenders[] = {&offender};
    offender.offender_id = "MCJ-0000101";
    offender.agency = "county-jail-042";
    offender.display_name = "Pat Placeholder";
    Vigil__V1__Consent consent = VIGIL__V1__CONSENT__INIT;
    consent.contact_by_phone = true;
    consent.contact_by_email = true;
    consent.custody_notifications = true;
    consent.use_in_case_studies = true;
    Vigil__V1__ServiceNeed services[] = {VIGIL__V1__SERVICE_NEED__SERVICE_NEED_SHELTER,
                                         VIGIL__V1__SERVICE_NEED__SERVICE_NEED_LEGAL};
    Vigil__V1__IntakeContact c = VIGIL__V1__INTAKE_CONTACT__INIT;
    c.event_id = "hotline-2026-000101";
    c.channel = VIGIL__V1__CHANNEL__CHANNEL_HOTLINE;
    c.language = "en";
    c.caller_role = VIGIL__V1__CALLER_ROLE__CALLER_ROLE_VICTIM;
    c.victim = &victim;
    c.location = &location;
    c.crime_category = VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_DOMESTIC_VIOLENCE;
    c.n_offenders = 1;
    c.offenders = offenders;
    c.n_requested_services = 2;
    c.requested_services = services;
    c.consent = &consent;
    c.narrative = "Caller says the offender may be released next week.";
    c.received_at_ms = now - 60000;
    c.operator_id = "op-17";
    s_emit(emit, ctx, 0, &c.base);
    victim.phone = "555-0101"; /* not E.164 */
    s_emit(emit, ctx, 0, &c.base);

    Vigil__V1__CustodyEvent custody = VIGIL__V1__CUSTODY_EVENT__INIT;
    custody.event_id = "jms-042-2026-000001";
    custody.type = VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_TRANSFERRED;
    custody.offender_id = "MCJ-0000101";
    custody.agency = "county-jail-042";
    custody.facility_id = "fac-042-main";
    custody.to_facility_id = "fac-042-annex";
    custody.occurred_at_ms = now - 1000;
    s_emit(emit, ctx, 1, &custody.base);

    Vigil__V1__SubscriptionRequest subscription = VIGIL__V1__SUBSCRIPTION_REQUEST__INIT;
    subscription.event_id = "sub-7";
    subscription.offender_id = "MCJ-0000101";
    subscription.agency = "county-jail-042";
    subscription.channel = VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_SMS;
    subscription.phone = "+15035550101";
    subscription.pin = "4821";
    subscription.language = "en";
    subscription.requested_at_ms = now - 1000;
    s_emit(emit, ctx, 2, &subscription.base);

    Vigil__V1__DeliveryConfirmation confirmation = VIGIL__V1__DELIVERY_CONFIRMATION__INIT;
    confirmation.event_id = "ivr-9";
    confirmation.subscription_id = "sub-1";
    confirmation.custody_event_id = "jms-042-2026-000001";
    confirmation.pin = "4821";
    confirmation.confirmed_at_ms = now - 1000;
    s_emit(emit, ctx, 3, &confirmation.base);

    Vigil__V1__AssignmentReceipt receipt = VIGIL__V1__ASSIGNMENT_RECEIPT__INIT;
    receipt.event_id = "rcpt-1";
    receipt.case_id = s_fx.case_id;
    receipt.assignee_id = "officer-12";
    receipt.acknowledged_at_ms = now - 1000;
    s_emit(emit, ctx, 4, &receipt.base);
}
