/* test_pii.c: personal data is found and cleared before a message leaves.
 *
 * Builds real IntakeContact messages (by hand and via pack/unpack, as intake
 * receives them), counts their [pii] fields, redacts them, and checks that
 * the packed bytes of the redacted message hold none of the personal values
 * while everything triage needs survives. Also checks which log keys are
 * refused. Run under valgrind to see that redaction frees what it clears.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vigil/pii.h"
#include "vigil/v1/admin.pb-c.h"
#include "vigil/v1/intake.pb-c.h"
#include "vigil/v1/notify.pb-c.h"

/* The personal values a hotline call might carry. */
static const char *const s_personal_values[] = {
    "Alexandra",
    "Quinterro-Vasquez",
    "+15555550142",
    "alex.qv@example.org",
    "1427 Juniper Hollow Rd",
    "he followed me home from the clinic again",
    "Dorian Blackwood",
    NULL,
};

/* A contact built the way protobuf_c_message_unpack() would own it: every
 * part malloc'd, so protobuf_c_message_free_unpacked(msg, NULL) frees it. */
static Vigil__V1__IntakeContact *s_build_contact(void)
{
    Vigil__V1__IntakeContact *contact = malloc(sizeof(*contact));
    vigil__v1__intake_contact__init(contact);
    contact->event_id = strdup("hotline-2026-000417");
    contact->channel = VIGIL__V1__CHANNEL__CHANNEL_HOTLINE;
    contact->language = strdup("en");
    contact->caller_role = VIGIL__V1__CALLER_ROLE__CALLER_ROLE_VICTIM;
    contact->crime_category = VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_STALKING;
    contact->received_at_ms = 1790000000000;
    contact->operator_id = strdup("op-117");

    Vigil__V1__VictimContact *victim = malloc(sizeof(*victim));
    vigil__v1__victim_contact__init(victim);
    victim->given_name = strdup(s_personal_values[0]);
    victim->family_name = strdup(s_personal_values[1]);
    victim->phone = strdup(s_personal_values[2]);
    victim->email = strdup(s_personal_values[3]);
    victim->street_address = strdup(s_personal_values[4]);
    victim->preferred_language = strdup("es-MX");
    victim->safe_to_leave_voicemail = 1;
    contact->victim = victim;

    contact->narrative = strdup(s_personal_values[5]);

    Vigil__V1__Location *location = malloc(sizeof(*location));
    vigil__v1__location__init(location);
    location->state = strdup("OR");
    location->county_fips = strdup("41051");
    location->zip = strdup("97214");
    contact->location = location;

    Vigil__V1__OffenderRef *offender = malloc(sizeof(*offender));
    vigil__v1__offender_ref__init(offender);
    offender->offender_id = strdup("BK-2026-88812");
    offender->agency = strdup("county-jail-042");
    offender->display_name = strdup(s_personal_values[6]);
    contact->n_offenders = 1;
    contact->offenders = malloc(sizeof(*contact->offenders));
    contact->offenders[0] = offender;

    contact->n_requested_services = 2;
    contact->requested_services = malloc(2 * sizeof(*contact->requested_services));
    contact->requested_services[0] = VIGIL__V1__SERVICE_NEED__SERVICE_NEED_SAFETY_PLANNING;
    contact->requested_services[1] = VIGIL__V1__SERVICE_NEED__SERVICE_NEED_LEGAL;

    Vigil__V1__Consent *consent = malloc(sizeof(*consent));
    vigil__v1__consent__init(consent);
    consent->contact_by_phone = 1;
    consent->custody_notifications = 1;
    contact->consent = consent;
    return contact;
}

/* Packs `message`; the caller frees the buffer. */
static uint8_t *s_pack(const ProtobufCMessage *message, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(message);
    uint8_t *bytes = malloc(*len > 0 ? *len : 1);
    assert_int_equal(protobuf_c_message_pack(message, bytes), *len);
    return bytes;
}

/* How many of the personal values appear anywhere in `bytes`. */
static int s_values_found(const uint8_t *bytes, size_t len)
{
    int found = 0;
    for (const char *const *value = s_personal_values; *value != NULL; value++) {
        if (memmem(bytes, len, *value, strlen(*value)) != NULL) {
            found++;
        }
    }
    return found;
}

/* Checks that what triage needs is still there after redaction. */
static void s_assert_pseudonymous_fields_kept(const Vigil__V1__IntakeContact *contact)
{
    assert_string_equal(contact->event_id, "hotline-2026-000417");
    assert_int_equal(contact->channel, VIGIL__V1__CHANNEL__CHANNEL_HOTLINE);
    assert_int_equal(contact->crime_category, VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_STALKING);
    assert_int_equal(contact->received_at_ms, 1790000000000);
    assert_string_equal(contact->operator_id, "op-117");
    assert_non_null(contact->location);
    assert_string_equal(contact->location->state, "OR");
    assert_string_equal(contact->location->county_fips, "41051");
    assert_int_equal(contact->n_offenders, 1);
    assert_string_equal(contact->offenders[0]->offender_id, "BK-2026-88812");
    assert_string_equal(contact->offenders[0]->agency, "county-jail-042");
    assert_int_equal(contact->n_requested_services, 2);
    assert_int_equal(contact->requested_services[0],
                     VIGIL__V1__SERVICE_NEED__SERVICE_NEED_SAFETY_PLANNING);
    assert_non_null(contact->consent);
    assert_true(contact->consent->custody_notifications);
}

/* Personal fields counted: victim (whole) + its 5 personal strings +
 * narrative + offender display_name. */
enum { CONTACT_PII_FIELDS = 1 + 5 + 1 + 1, CONTACT_PII_TOP_LEVEL = 3 };

static void test_count_finds_every_personal_field(void **state)
{
    (void)state;
    Vigil__V1__IntakeContact *contact = s_build_contact();
    assert_int_equal(pii_count(&contact->base), CONTACT_PII_FIELDS);

    free(contact->victim->email);
    contact->victim->email = (char *)protobuf_c_empty_string;
    assert_int_equal(pii_count(&contact->base), CONTACT_PII_FIELDS - 1);
    protobuf_c_message_free_unpacked(&contact->base, NULL);
}

static void test_redact_clears_personal_and_keeps_the_rest(void **state)
{
    (void)state;
    Vigil__V1__IntakeContact *contact = s_build_contact();
    size_t len = 0;
    uint8_t *before = s_pack(&contact->base, &len);
    /* The check below can fail: the plain message does carry every value. */
    assert_int_equal(s_values_found(before, len), 7);
    free(before);

    assert_int_equal(pii_redact(&contact->base), CONTACT_PII_TOP_LEVEL);
    assert_int_equal(pii_count(&contact->base), 0);
    assert_null(contact->victim);
    assert_string_equal(contact->narrative, "");
    assert_string_equal(contact->offenders[0]->display_name, "");
    s_assert_pseudonymous_fields_kept(contact);

    uint8_t *after = s_pack(&contact->base, &len);
    assert_int_equal(s_values_found(after, len), 0);

    /* What the receiver unpacks is the same pseudonymous message. */
    Vigil__V1__IntakeContact *received = vigil__v1__intake_contact__unpack(NULL, len, after);
    assert_non_null(received);
    assert_null(received->victim);
    assert_int_equal(pii_count(&received->base), 0);
    s_assert_pseudonymous_fields_kept(received);
    vigil__v1__intake_contact__free_unpacked(received, NULL);
    free(after);

    /* A second pass finds nothing left to clear. */
    assert_int_equal(pii_redact(&contact->base), 0);
    protobuf_c_message_free_unpacked(&contact->base, NULL);
}

static void test_redact_an_unpacked_message(void **state)
{
    (void)state;
    Vigil__V1__IntakeContact *built = s_build_contact();
    size_t len = 0;
    uint8_t *wire = s_pack(&built->base, &len);
    protobuf_c_message_free_unpacked(&built->base, NULL);

    Vigil__V1__IntakeContact *contact = vigil__v1__intake_contact__unpack(NULL, len, wire);
    free(wire);
    assert_non_null(contact);
    assert_int_equal(pii_count(&contact->base), CONTACT_PII_FIELDS);
    assert_int_equal(pii_redact(&contact->base), CONTACT_PII_TOP_LEVEL);
    s_assert_pseudonymous_fields_kept(contact);
    uint8_t *after = s_pack(&contact->base, &len);
    assert_int_equal(s_values_found(after, len), 0);
    free(after);
    vigil__v1__intake_contact__free_unpacked(contact, NULL);
}

static void test_redact_reaches_nested_and_other_messages(void **state)
{
    (void)state;
    /* An admin reply carrying a decrypted contact: cleared whole. */
    Vigil__V1__AdminReply *reply = malloc(sizeof(*reply));
    vigil__v1__admin_reply__init(reply);
    reply->case_contact = s_build_contact();
    assert_int_equal(pii_count(&reply->base), 1 + CONTACT_PII_FIELDS);
    assert_int_equal(pii_redact(&reply->base), 1);
    assert_null(reply->case_contact);
    assert_int_equal(pii_count(&reply->base), 0);
    protobuf_c_message_free_unpacked(&reply->base, NULL);

    /* A subscription keeps its offender and loses phone and PIN. */
    Vigil__V1__SubscriptionRequest *request = malloc(sizeof(*request));
    vigil__v1__subscription_request__init(request);
    request->offender_id = strdup("BK-2026-88812");
    request->phone = strdup("+15555550142");
    request->pin = strdup("4821");
    assert_int_equal(pii_count(&request->base), 2);
    assert_int_equal(pii_redact(&request->base), 2);
    assert_string_equal(request->offender_id, "BK-2026-88812");
    assert_string_equal(request->phone, "");
    assert_string_equal(request->pin, "");
    protobuf_c_message_free_unpacked(&request->base, NULL);
}

static void test_is_field_follows_the_proto_markers(void **state)
{
    (void)state;
    assert_true(pii_is_field(&vigil__v1__victim_contact__descriptor, "phone"));
    assert_true(pii_is_field(&vigil__v1__intake_contact__descriptor, "narrative"));
    assert_true(pii_is_field(&vigil__v1__intake_contact__descriptor, "victim"));
    assert_true(pii_is_field(&vigil__v1__offender_ref__descriptor, "display_name"));
    assert_false(pii_is_field(&vigil__v1__victim_contact__descriptor, "preferred_language"));
    assert_false(pii_is_field(&vigil__v1__offender_ref__descriptor, "offender_id"));
    assert_false(pii_is_field(&vigil__v1__intake_contact__descriptor, "event_id"));
    assert_false(pii_is_field(NULL, "phone"));
}

static void test_forbidden_keys(void **state)
{
    (void)state;
    static const char *const forbidden[] = {
        "phone",        "email",        "given_name",   "family_name",  "name",  "address",
        "narrative",    "pin",          "contact",      "Phone",        "EMAIL", "street_address",
        "display_name", "victim_phone", "caller.email", "home-address", NULL,
    };
    static const char *const allowed[] = {
        "case", "count", "event_id", "peer", "plugin_name", "source", "channel", NULL,
    };
    for (const char *const *key = forbidden; *key != NULL; key++) {
        if (!pii_is_forbidden_key(*key)) {
            fail_msg("key '%s' should be forbidden", *key);
        }
    }
    for (const char *const *key = allowed; *key != NULL; key++) {
        if (pii_is_forbidden_key(*key)) {
            fail_msg("key '%s' should be allowed", *key);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_finds_every_personal_field),
        cmocka_unit_test(test_redact_clears_personal_and_keeps_the_rest),
        cmocka_unit_test(test_redact_an_unpacked_message),
        cmocka_unit_test(test_redact_reaches_nested_and_other_messages),
        cmocka_unit_test(test_is_field_follows_the_proto_markers),
        cmocka_unit_test(test_forbidden_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
