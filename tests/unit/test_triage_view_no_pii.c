/* test_triage_view_no_pii.c: nothing a plugin can see is personal data.
 *
 * Structural checks, by reading the sources a plugin is built from:
 *   - every member of the plugin ABI's case view (vigil_case_view_t in
 *     plugins/include/vigil/plugin.h) is one of the known pseudonymous
 *     fields, and none is a name the personal-data guard refuses;
 *   - the CaseView message triage receives has no [pii] field at all, and
 *     a CaseView that went through pii_redact() loses nothing.
 * If someone adds a contact field to the view, this test fails and names it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vigil/pii.h"
#include "vigil/v1/case.pb-c.h"

#ifndef VIGIL_SOURCE_DIR
#error "VIGIL_SOURCE_DIR must name the source tree"
#endif

/* The view's fields as reviewed: pseudonymous, coarse, or triage's own. */
static const char *const s_allowed[] = {"struct_size",
                                        "escalation_level",
                                        "case_id",
                                        "region",
                                        "language",
                                        "state",
                                        "county_fips",
                                        "zip3",
                                        "requested_services",
                                        "urgency_cues",
                                        "requested_service_count",
                                        "urgency_cue_count",
                                        "channel",
                                        "caller_role",
                                        "crime_category",
                                        "priority",
                                        "received_at_ms",
                                        "share_with_partners",
                                        "has_offender",
                                        "wants_notifications",
                                        "advise_emergency_services",
                                        NULL};

static char *s_read(const char *path)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    rewind(file);
    char *text = calloc(1, (size_t)size + 1);
    assert_int_equal(fread(text, 1, (size_t)size, file), (size_t)size);
    fclose(file);
    return text;
}

static bool s_allowed_name(const char *name)
{
    for (const char *const *a = s_allowed; *a; a++) {
        if (strcmp(*a, name) == 0) {
            return true;
        }
    }
    return false;
}

static void test_plugin_case_view_has_no_contact_fields(void **state)
{
    (void)state;
    char *header = s_read(VIGIL_SOURCE_DIR "/plugins/include/vigil/plugin.h");
    char *end = strstr(header, "} vigil_case_view_t;");
    assert_non_null(end);
    *end = '\0';
    char *start = strrchr(header, '{');
    assert_non_null(start);
    size_t members = 0;
    for (char *line = strtok(start + 1, "\n"); line; line = strtok(NULL, "\n")) {
        char *comment = strstr(line, "/*");
        if (comment) {
            *comment = '\0';
        }
        char *semicolon = strchr(line, ';');
        if (!semicolon) {
            continue;
        }
        *semicolon = '\0';
        char *name = semicolon;
        while (name > line && (name[-1] == '_' || (name[-1] >= 'a' && name[-1] <= 'z') ||
                               (name[-1] >= '0' && name[-1] <= '9'))) {
            name--;
        }
        print_message("view member: %s\n", name);
        assert_false(pii_is_forbidden_key(name));
        if (!s_allowed_name(name)) {
            fail_msg("vigil_case_view_t has a field '%s' nobody reviewed for personal data", name);
        }
        members++;
    }
    assert_int_equal(members, sizeof s_allowed / sizeof s_allowed[0] - 1);
    free(header);
}

static void test_case_view_message_carries_no_personal_data(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &vigil__v1__case_view__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        assert_false(pii_is_field(d, d->fields[i].name));
        assert_false(pii_is_forbidden_key(d->fields[i].name));
    }
    for (const pii_field_t *f = vigil_pii_fields; f->message; f++) {
        assert_string_not_equal(f->message, "vigil.v1.CaseView");
    }
    Vigil__V1__CaseView view = VIGIL__V1__CASE_VIEW__INIT;
    view.case_id = (char *)"c_123";
    view.state = (char *)"OR";
    view.zip3 = (char *)"972";
    assert_int_equal(pii_count(&view.base), 0);
    assert_int_equal(pii_redact(&view.base), 0);
    assert_string_equal(view.zip3, "972");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_case_view_has_no_contact_fields),
        cmocka_unit_test(test_case_view_message_carries_no_personal_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
