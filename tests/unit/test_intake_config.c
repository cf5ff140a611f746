/* test_intake_config.c: the `intake` config group, parsed from libconfig
 * text the way an operator writes it, and the permissions it grants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "intake_config.h"

#define MT(name) VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_##name

static int s_load(const char *text, intake_config_t *config, char *err, size_t errlen)
{
    memset(config, 0, sizeof *config);
    config_section_t sections[] = {{.keys = intake_config_keys, .base = config}, {.keys = NULL}};
    return config_load(text, NULL, sections, err, errlen);
}

static void s_release(intake_config_t *config)
{
    config_section_t sections[] = {{.keys = intake_config_keys, .base = config}, {.keys = NULL}};
    config_release(sections);
}

static void test_sources_and_permissions(void **state)
{
    (void)state;
    intake_config_t config;
    char err[256] = "";
    int rc = s_load("intake = { sources = (\n"
                    "  { name = \"hotline-east\"; may_send = [ \"INTAKE_CONTACT\", "
                    "\"MESSAGE_TYPE_SUBSCRIPTION_REQUEST\" ]; },\n"
                    "  { name = \"county-jail-042\"; may_send = [ \"CUSTODY_EVENT\" ]; } ); };\n",
                    &config, err, sizeof err);
    if (rc)
        fail_msg("load: %s", err);
    assert_int_equal(config.sources.count, 2);
    assert_true(intake_sources_permit(&config.sources, "hotline-east", MT(INTAKE_CONTACT)));
    assert_true(intake_sources_permit(&config.sources, "hotline-east", MT(SUBSCRIPTION_REQUEST)));
    assert_false(intake_sources_permit(&config.sources, "hotline-east", MT(CUSTODY_EVENT)));
    assert_true(intake_sources_permit(&config.sources, "county-jail-042", MT(CUSTODY_EVENT)));
    assert_false(intake_sources_permit(&config.sources, "county-jail-042", MT(INTAKE_CONTACT)));
    assert_false(intake_sources_permit(&config.sources, "rogue", MT(INTAKE_CONTACT)));
    assert_false(intake_sources_permit(&config.sources, "hotline-east", MT(CASE_VIEW)));
    assert_int_equal(config.rotate_batch, 256);
    assert_int_equal(config.cases_list_default, 50);

    /* the copy intake runs with (replaced on reload) outlives the config */
    intake_sources_t running;
    assert_int_equal(intake_sources_copy(&config.sources, &running), 0);
    s_release(&config);
    assert_int_equal(running.count, 2);
    assert_true(intake_sources_permit(&running, "hotline-east", MT(SUBSCRIPTION_REQUEST)));
    assert_true(intake_sources_permit(&running, "county-jail-042", MT(CUSTODY_EVENT)));
    assert_false(intake_sources_permit(&running, "county-jail-042", MT(INTAKE_CONTACT)));
    assert_false(intake_sources_permit(&running, "rogue", MT(INTAKE_CONTACT)));
    assert_non_null(intake_sources_find(&running, "county-jail-042"));
    intake_sources_clear(&running);
    assert_int_equal(running.count, 0);
    assert_null(running.items);
    assert_false(intake_sources_permit(&running, "hotline-east", MT(INTAKE_CONTACT)));
}

static void test_no_sources_permits_nothing(void **state)
{
    (void)state;
    intake_config_t config;
    char err[256];
    assert_int_equal(s_load(NULL, &config, err, sizeof err), 0);
    assert_int_equal(config.sources.count, 0);
    assert_false(intake_sources_permit(&config.sources, "hotline-east", MT(INTAKE_CONTACT)));
    s_release(&config);
}

static void test_bad_configs_name_the_problem(void **state)
{
    (void)state;
    const struct {
        const char *text;
        const char *phrase;
    } bad[] = {
        {"intake = { sources = ( { name = \"a\"; may_send = [ \"CASE_VIEW\" ]; } ); };",
         "may_send names a type upstream sources cannot send"},
        {"intake = { sources = ( { name = \"a\"; may_send = [ \"INTAKE_CONTACT\" ]; },\n"
         "{ name = \"a\"; may_send = [ \"CUSTODY_EVENT\" ]; } ); };",
         "duplicate source name a"},
        {"intake = { sources = ( { may_send = [ \"INTAKE_CONTACT\" ]; } ); };",
         "a source needs a non-empty name"},
        {"intake = { sources = ( { name = \"a\"; } ); };", "a source needs may_send"},
        {"intake = { sources = ( { name = \"a\"; may_send = []; colour = 1; } ); };",
         "unknown key in a source: colour"},
        {"intake = { sources = { name = \"a\"; }; };", "must be a list"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        intake_config_t config;
        char err[512] = "";
        assert_int_equal(s_load(bad[i].text, &config, err, sizeof err), -1);
        if (!strstr(err, bad[i].phrase) || !strstr(err, "intake.sources"))
            fail_msg("case %zu: error '%s' lacks '%s'", i, err, bad[i].phrase);
        s_release(&config);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources_and_permissions),
        cmocka_unit_test(test_no_sources_permits_nothing),
        cmocka_unit_test(test_bad_configs_name_the_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
