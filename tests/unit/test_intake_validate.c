/* test_intake_validate.c: intake's rule tables, applied to real messages.
 *
 * Starts from a valid hotline contact (and custody event, subscription,
 * confirmation), breaks one field at a time the way upstream systems do,
 * and checks the reason code and the field named in the reply. Also checks
 * that the tables cover every field of every accepted message, so a field
 * added to the schema cannot slip in unchecked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pbpath.h"
#include "validate.h"
#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/intake.pb-c.h"
#include "vigil/v1/notify.pb-c.h"

#define NOW_MS  1790000000000LL
#define HOUR_MS 3600000LL
#define DAY_MS  (24 * HOUR_MS)
#define R(name) VIGIL__V1__REASON_CODE__REASON_##name

/* A valid contact, rebuilt before each case so each test breaks one thing. */
typedef struct {
    Vigil__V1__IntakeContact contact;
    Vigil__V1__VictimContact victim;
    Vigil__V1__Location location;
    Vigil__V1__Consent consent;
    Vigil__V1__OffenderRef offender;
    Vigil__V1__OffenderRef *offenders[16];
    Vigil__V1__ServiceNeed services[32];
    Vigil__V1__UrgencyCue cues[4];
    char narrative[9000];
} fixture_t;

static fixture_t s_fx;

static Vigil__V1__IntakeContact *s_valid_contact(void)
{
    memset(&s_fx, 0, sizeof s_fx);
    vigil__v1__intake_contact__init(&s_fx.contact);
    vigil__v1__victim_contact__init(&s_fx.victim);
    vigil__v1__location__init(&s_fx.location);
    vigil__v1__consent__init(&s_fx.consent);
    vigil__v1__offender_ref__init(&s_fx.offender);
    Vigil__V1__IntakeContact *c = &s_fx.contact;
    c->event_id = "hotline-east-000001";
    c->channel = VIGIL__V1__CHANNEL__CHANNEL_HOTLINE;
    c->language = "es-MX";
    c->caller_role = VIGIL__V1__CALLER_ROLE__CALLER_ROLE_VICTIM;
    s_fx.victim.given_name = "Ana";
    s_fx.victim.family_name = "Testperson";
    s_fx.victim.phone = "+15035550100";
    s_fx.victim.email = "ana@example.org";
    s_fx.victim.street_address = "1 Example Way";
    s_fx.victim.preferred_language = "es";
    c->victim = &s_fx.victim;
    s_fx.location.state = "OR";
    s_fx.location.county_fips = "41051";
    s_fx.location.zip = "97201";
    c->location = &s_fx.location;
    c->crime_category = VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_DOMESTIC_VIOLENCE;
    s_fx.offender.offender_id = "B-1234";
    s_fx.offender.agency = "county-jail-042";
    s_fx.offender.display_name = "Someone";
    for (int i = 0; i < 16; i++)
        s_fx.offenders[i] = &s_fx.offender;
    c->offenders = s_fx.offenders;
    c->n_offenders = 1;
    s_fx.services[0] = VIGIL__V1__SERVICE_NEED__SERVICE_NEED_SHELTER;
    s_fx.services[1] = VIGIL__V1__SERVICE_NEED__SERVICE_NEED_LEGAL;
    c->requested_services = s_fx.services;
    c->n_requested_services = 2;
    s_fx.cues[0] = VIGIL__V1__URGENCY_CUE__URGENCY_CUE_INJURY;
    c->urgency_cues = s_fx.cues;
    c->n_urgency_cues = 1;
    s_fx.consent.contact_by_phone = 1;
    c->consent = &s_fx.consent;
    c->narrative = "Caller reports an incident last night.";
    c->occurred_at_ms = NOW_MS - DAY_MS;
    c->received_at_ms = NOW_MS - 1000;
    c->operator_id = "op-17";
    return c;
}

static void s_expect(const ProtobufCMessage *message, Vigil__V1__ReasonCode reason,
                     const char *field, const char *phrase)
{
    const validate_table_t *table = NULL;
    for (const validate_table_t *t = validate_tables; t->descriptor; t++)
        if (t->descriptor == message->descriptor)
            table = t;
    assert_non_null(table);
    validate_error_t error;
    int rc = validate_message(table, message, NOW_MS, &error);
    if (reason == R(NONE)) {
        if (rc != 0)
            fail_msg("valid message rejected: %s", error.detail);
        return;
    }
    assert_int_equal(rc, -1);
    if (error.reason != reason || strcmp(error.field, field) != 0)
        fail_msg("expected reason %d on %s, got %d: %s", reason, field, error.reason, error.detail);
    if (phrase && !strstr(error.detail, phrase))
        fail_msg("detail '%s' lacks '%s'", error.detail, phrase);
    char prefix[160];
    snprintf(prefix, sizeof prefix, "field %s: ", field);
    assert_true(strncmp(error.detail, prefix, strlen(prefix)) == 0);
}

static void test_valid_contact_passes(void **state)
{
    (void)state;
    s_expect(&s_valid_contact()->base, R(NONE), NULL, NULL);
    /* A minimal anonymous contact: no victim details, no location beyond state. */
    Vigil__V1__IntakeContact *c = s_valid_contact();
    c->victim = NULL;
    c->n_offenders = 0;
    s_fx.location.county_fips = "";
    s_fx.location.zip = "";
    c->narrative = "";
    c->occurred_at_ms = 0;
    s_expect(&c->base, R(NONE), NULL, NULL);
}

static void test_bad_contacts(void **state)
{
    (void)state;
    Vigil__V1__IntakeContact *c;

    c = s_valid_contact();
    s_fx.victim.phone = "555-0100";
    s_expect(&c->base, R(INVALID_PHONE), "victim.phone", "not an E.164 number");

    c = s_valid_contact();
    s_fx.victim.email = "ana(at)example.org";
    s_expect(&c->base, R(INVALID_EMAIL), "victim.email", NULL);

    c = s_valid_contact();
    c->language = "spanish_mexico";
    s_expect(&c->base, R(INVALID_LANGUAGE), "language", NULL);

    c = s_valid_contact();
    s_fx.location.state = "ZZ";
    s_expect(&c->base, R(INVALID_STATE), "location.state", NULL);

    c = s_valid_contact();
    s_fx.location.state = "";
    s_expect(&c->base, R(MISSING_FIELD), "location.state", "required");

    c = s_valid_contact();
    c->location = NULL; /* absent sub-message: its required field is missing */
    s_expect(&c->base, R(MISSING_FIELD), "location.state", NULL);

    c = s_valid_contact();
    s_fx.location.county_fips = "06037"; /* a California county in Oregon */
    s_expect(&c->base, R(INVALID_COUNTY), "location.county_fips", NULL);

    c = s_valid_contact();
    s_fx.location.zip = "9720";
    s_expect(&c->base, R(INVALID_ZIP), "location.zip", NULL);

    c = s_valid_contact();
    c->received_at_ms = NOW_MS + DAY_MS;
    s_expect(&c->base, R(FUTURE_DATE), "received_at_ms", "in the future");

    c = s_valid_contact();
    c->occurred_at_ms = NOW_MS + HOUR_MS;
    s_expect(&c->base, R(FUTURE_DATE), "occurred_at_ms", NULL);

    c = s_valid_contact();
    c->received_at_ms = NOW_MS + VALIDATE_CLOCK_SKEW_MS / 2; /* within skew */
    s_expect(&c->base, R(NONE), NULL, NULL);

    c = s_valid_contact();
    c->received_at_ms = -5;
    s_expect(&c->base, R(INVALID_VALUE), "received_at_ms", NULL);

    c = s_valid_contact();
    memset(s_fx.narrative, 'x', 8193);
    c->narrative = s_fx.narrative;
    s_expect(&c->base, R(TOO_LONG), "narrative", "longer than 8192 bytes");

    c = s_valid_contact();
    memset(s_fx.narrative, 'x', 8192); /* exactly at the cap is fine */
    c->narrative = s_fx.narrative;
    s_expect(&c->base, R(NONE), NULL, NULL);

    c = s_valid_contact();
    s_fx.victim.given_name = "An\xc3"; /* truncated two-byte sequence */
    s_expect(&c->base, R(INVALID_UTF8), "victim.given_name", NULL);

    c = s_valid_contact();
    c->event_id = "";
    s_expect(&c->base, R(MISSING_FIELD), "event_id", NULL);

    c = s_valid_contact();
    c->event_id = "has a space";
    s_expect(&c->base, R(INVALID_VALUE), "event_id", NULL);

    c = s_valid_contact();
    c->channel = 99;
    s_expect(&c->base, R(INVALID_ENUM), "channel", "99 is not a known Channel value");

    c = s_valid_contact();
    c->caller_role = 0;
    s_expect(&c->base, R(INVALID_ENUM), "caller_role", "UNSPECIFIED");

    c = s_valid_contact();
    s_fx.services[1] = 77;
    s_expect(&c->base, R(INVALID_ENUM), "requested_services[1]", NULL);

    c = s_valid_contact();
    c->n_requested_services = 17;
    for (int i = 0; i < 17; i++)
        s_fx.services[i] = VIGIL__V1__SERVICE_NEED__SERVICE_NEED_LEGAL;
    s_expect(&c->base, R(TOO_MANY), "requested_services", "more than 16 entries");

    c = s_valid_contact();
    c->n_offenders = 9;
    s_expect(&c->base, R(TOO_MANY), "offenders", NULL);

    c = s_valid_contact();
    static Vigil__V1__OffenderRef second = VIGIL__V1__OFFENDER_REF__INIT;
    second.display_name = "\xff";
    s_fx.offenders[1] = &second;
    c->n_offenders = 2;
    s_expect(&c->base, R(INVALID_UTF8), "offenders[1].display_name", NULL);

    c = s_valid_contact();
    s_fx.victim.preferred_language = "e";
    s_expect(&c->base, R(INVALID_LANGUAGE), "victim.preferred_language", NULL);
}

static void test_detail_never_shows_the_value(void **state)
{
    (void)state;
    Vigil__V1__IntakeContact *c = s_valid_contact();
    s_fx.victim.phone = "503-555-0199";
    validate_error_t error;
    assert_int_equal(
        validate_message(validate_table_for(VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT),
                         &c->base, NOW_MS, &error),
        -1);
    assert_null(strstr(error.detail, "555"));
}

static void test_custody_events(void **state)
{
    (void)state;
    Vigil__V1__CustodyEvent e = VIGIL__V1__CUSTODY_EVENT__INIT;
    e.event_id = "jail42-77";
    e.type = VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_RELEASED;
    e.offender_id = "B-1234";
    e.facility_id = "main-jail";
    e.occurred_at_ms = NOW_MS - HOUR_MS;
    s_expect(&e.base, R(NONE), NULL, NULL);

    Vigil__V1__CustodyEvent bad = e;
    bad.offender_id = "";
    s_expect(&bad.base, R(MISSING_FIELD), "offender_id", NULL);
    bad = e;
    bad.facility_id = "";
    s_expect(&bad.base, R(MISSING_FIELD), "facility_id", NULL);
    bad = e;
    bad.type = 42;
    s_expect(&bad.base, R(INVALID_ENUM), "type", NULL);
    bad = e;
    bad.type = VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_TRANSFERRED;
    s_expect(&bad.base, R(MISSING_FIELD), "to_facility_id", NULL);
    bad.to_facility_id = "state-prison-3";
    s_expect(&bad.base, R(NONE), NULL, NULL);
    bad = e;
    bad.type = VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_COURT_SCHEDULED;
    s_expect(&bad.base, R(MISSING_FIELD), "court_at_ms", NULL);
    bad.court_at_ms = NOW_MS + 30 * DAY_MS; /* court dates may be ahead */
    s_expect(&bad.base, R(NONE), NULL, NULL);
    bad = e;
    bad.occurred_at_ms = NOW_MS + DAY_MS;
    s_expect(&bad.base, R(FUTURE_DATE), "occurred_at_ms", NULL);
}

static void test_subscriptions_and_confirmations(void **state)
{
    (void)state;
    Vigil__V1__SubscriptionRequest s = VIGIL__V1__SUBSCRIPTION_REQUEST__INIT;
    s.event_id = "sub-1";
    s.offender_id = "B-1234";
    s.channel = VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_SMS;
    s.phone = "+15035550100";
    s.pin = "4821";
    s.requested_at_ms = NOW_MS - 1;
    s_expect(&s.base, R(NONE), NULL, NULL);
    Vigil__V1__SubscriptionRequest bad = s;
    bad.phone = "";
    s_expect(&bad.base, R(MISSING_FIELD), "phone", NULL);
    bad = s;
    bad.channel = VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_EMAIL;
    s_expect(&bad.base, R(MISSING_FIELD), "email", NULL);
    bad = s;
    bad.pin = "12";
    s_expect(&bad.base, R(INVALID_VALUE), "pin", "not 4 to 8 digits");
    bad = s;
    bad.case_id = "case-17";
    s_expect(&bad.base, R(INVALID_VALUE), "case_id", NULL);

    Vigil__V1__DeliveryConfirmation d = VIGIL__V1__DELIVERY_CONFIRMATION__INIT;
    d.event_id = "ivr-9";
    d.subscription_id = "s_1";
    d.custody_event_id = "jail42-77";
    d.pin = "4821";
    d.confirmed_at_ms = NOW_MS;
    s_expect(&d.base, R(NONE), NULL, NULL);
    d.pin = "48 21";
    s_expect(&d.base, R(INVALID_VALUE), "pin", NULL);
}

/* Every string, enum, int64 and repeated field of every accepted message
 * (and its sub-messages) must be named by at least one rule. */
static void s_require_rules(const validate_table_t *table,
                            const ProtobufCMessageDescriptor *descriptor, const char *prefix)
{
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &descriptor->fields[i];
        char path[128];
        bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        snprintf(path, sizeof path, "%s%s%s%s", prefix, *prefix ? "." : "", f->name,
                 repeated && f->type == PROTOBUF_C_TYPE_MESSAGE ? "[]" : "");
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (repeated) {
                char count_path[128];
                snprintf(count_path, sizeof count_path, "%s%s%s", prefix, *prefix ? "." : "",
                         f->name);
                bool found = false;
                for (size_t r = 0; r < table->count; r++)
                    found |= strcmp(table->rules[r].path, count_path) == 0 &&
                             table->rules[r].check == CHECK_COUNT;
                if (!found)
                    fail_msg("%s: repeated %s has no CHECK_COUNT rule", table->descriptor->name,
                             count_path);
            }
            s_require_rules(table, f->descriptor, path);
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_BOOL)
            continue;
        bool found = false, counted = !repeated;
        char element[140];
        snprintf(element, sizeof element, "%s[]", path);
        for (size_t r = 0; r < table->count; r++) {
            const validate_rule_t *rule = &table->rules[r];
            found |= strcmp(rule->path, repeated ? element : path) == 0;
            counted |= strcmp(rule->path, path) == 0 && rule->check == CHECK_COUNT;
        }
        if (!found || !counted)
            fail_msg("%s: field %s has no rule", table->descriptor->name, path);
    }
}

static void test_tables_cover_every_field(void **state)
{
    (void)state;
    int tables = 0;
    for (const validate_table_t *t = validate_tables; t->descriptor; t++, tables++) {
        s_require_rules(t, t->descriptor, "");
        for (size_t r = 0; r < t->count; r++)
            if (!pbpath_field(t->descriptor, t->rules[r].path))
                fail_msg("%s: rule path %s names no field", t->descriptor->name, t->rules[r].path);
    }
    assert_int_equal(tables, 5);
    assert_null(validate_table_for(VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_contact_passes),
        cmocka_unit_test(test_bad_contacts),
        cmocka_unit_test(test_detail_never_shows_the_value),
        cmocka_unit_test(test_custody_events),
        cmocka_unit_test(test_subscriptions_and_confirmations),
        cmocka_unit_test(test_tables_cover_every_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
