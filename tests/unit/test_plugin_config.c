/* test_plugin_config.c: reading a region's policy settings.
 *
 * policy_region_parse() and policy_regions_parse() (policy_host.h) turn
 * triage's `regions` config into what the policy host runs: the plugin,
 * its plugin_config (rendered back to libconfig text for the worker), the
 * fallback and the roster. A region bound to no plugin is a config error
 * naming the file and line; so are unknown keys, roles and time zones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libconfig.h>
#include <stdio.h>
#include <string.h>

#include "policy_host.h"

/* Parses `text` and returns the setting at `path` (config kept in *cfg). */
static config_setting_t *s_load(config_t *cfg, const char *text, const char *path)
{
    config_init(cfg);
    assert_int_equal(config_read_string(cfg, text), CONFIG_TRUE);
    config_setting_t *s = config_lookup(cfg, path);
    assert_non_null(s);
    return s;
}

static void test_region_parses_roster_and_plugin_config(void **state)
{
    (void)state;
    config_t cfg;
    config_setting_t *g = s_load(
        &cfg,
        "r = { name = \"north\"; plugin = \"rules\"; timezone = \"America/Chicago\";\n"
        "  fallback = { assignee = \"north-duty\"; escalation = \"north-sup\"; };\n"
        "  roster = ( { id = \"co-1\"; languages = [\"en\", \"es\"]; on_call = true; },\n"
        "             { id = \"sup-1\"; role = \"supervisor\"; } );\n"
        "  plugin_config = { hours = { open = 8; close = 18; }; rate = 1.5; big = 5000000000L;\n"
        "                    name = \"a \\\"quoted\\\" text\"; list = ( 1, \"two\" ); } };",
        "r");
    policy_region_t r;
    char err[256] = "";
    assert_int_equal(policy_region_parse(g, &r, err, sizeof err), 0);
    assert_string_equal(r.name, "north");
    assert_string_equal(r.plugin, "rules");
    assert_string_equal(r.fallback_assignee, "north-duty");
    assert_int_equal(r.roster_count, 2);
    assert_int_equal(r.roster[0].role, VIGIL_ROLE_CONTACT_OFFICER); /* the default role */
    assert_true(r.roster[0].on_call);
    assert_int_equal(r.roster[0].language_count, 2);
    assert_int_equal(r.roster[1].role, VIGIL_ROLE_SUPERVISOR);
    /* The rendered plugin_config reads back with the same values. */
    config_t back;
    config_init(&back);
    assert_int_equal(config_read_string(&back, r.plugin_config), CONFIG_TRUE);
    int open = 0;
    double rate = 0;
    long long big = 0;
    const char *name = NULL;
    assert_int_equal(config_lookup_int(&back, "hours.open", &open), CONFIG_TRUE);
    assert_int_equal(open, 8);
    assert_int_equal(config_lookup_float(&back, "rate", &rate), CONFIG_TRUE);
    assert_true(rate == 1.5);
    assert_int_equal(config_lookup_int64(&back, "big", &big), CONFIG_TRUE);
    assert_true(big == 5000000000LL);
    assert_int_equal(config_lookup_string(&back, "name", &name), CONFIG_TRUE);
    assert_string_equal(name, "a \"quoted\" text");
    assert_int_equal(config_setting_length(config_lookup(&back, "list")), 2);
    config_destroy(&back);
    policy_region_clear(&r);
    config_destroy(&cfg);
}

static void s_expect_error(const char *text, const char *fragment)
{
    config_t cfg;
    config_setting_t *list = s_load(&cfg, text, "regions");
    policy_region_list_t regions;
    char err[512] = "";
    assert_int_equal(policy_regions_parse(list, &regions, err, sizeof err), -1);
    if (!strstr(err, fragment) || !strstr(err, ":1")) {
        fail_msg("expected \"%s\" with a line number, got \"%s\"", fragment, err);
    }
    config_destroy(&cfg);
}

static void test_region_without_plugin_is_a_config_error(void **state)
{
    (void)state;
    s_expect_error("regions = ( { name = \"south\"; } );", "region bound to no plugin");
    s_expect_error("regions = ( { name = \"south\"; plugin = \"\"; } );",
                   "region bound to no plugin");
}

static void test_bad_values_are_named(void **state)
{
    (void)state;
    s_expect_error("regions = ( { name = \"s\"; plugin = \"../evil\"; } );", "file stem");
    s_expect_error("regions = ( { name = \"s\"; plugin = \"rules\"; pluginn = 1; } );",
                   "key 'pluginn': unknown key");
    s_expect_error("regions = ( { name = \"s\"; plugin = \"rules\"; timezone = \"Mars/Base\"; } );",
                   "unknown time zone");
    s_expect_error("regions = ( { name = \"s\"; plugin = \"rules\";"
                   " roster = ( { id = \"co 1\"; } ); } );",
                   "roster.[0].id");
    s_expect_error("regions = ( { name = \"s\"; plugin = \"rules\";"
                   " roster = ( { id = \"co-1\"; role = \"boss\"; } ); } );",
                   "roster.[0].role");
    s_expect_error("regions = ( { name = \"s\"; plugin = \"rules\"; },"
                   " { name = \"s\"; plugin = \"rules\"; } );",
                   "duplicate region name");
    s_expect_error("regions = ( { name = \"s\"; plugin = \"rules\"; plugin_config = 3; } );",
                   "plugin_config");
    /* libconfig 1.5 would end the process on an @include of a folder. */
    s_expect_error("regions = ( { name = \"s\"; plugin = \"rules\";"
                   " plugin_config = \"a = 1;\\n  @include \\\"/tmp\\\"\"; } );",
                   "its line 2: @include is not allowed here");
}

/* Only a directive libconfig would follow is refused: the same line in a
 * comment is text (the check before this one refused it too). */
static void test_include_in_a_comment_is_text(void **state)
{
    (void)state;
    config_t cfg;
    config_setting_t *g = s_load(&cfg,
                                 "r = { name = \"s\"; plugin = \"rules\"; plugin_config = "
                                 "\"a = 1;\\n/*\\n@include \\\"/tmp\\\"\\n*/\\nb = 2;\"; };",
                                 "r");
    policy_region_t r;
    char err[256] = "";
    if (policy_region_parse(g, &r, err, sizeof err) != 0)
        fail_msg("refused: %s", err);
    config_t back;
    config_init(&back);
    assert_int_equal(config_read_string(&back, r.plugin_config), CONFIG_TRUE);
    int b = 0;
    assert_int_equal(config_lookup_int(&back, "b", &b), CONFIG_TRUE);
    assert_int_equal(b, 2);
    config_destroy(&back);
    policy_region_clear(&r);
    config_destroy(&cfg);
}

static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(policy_role_parse("contact"), VIGIL_ROLE_CONTACT_OFFICER);
    assert_int_equal(policy_role_parse("community_relations"), VIGIL_ROLE_COMMUNITY_RELATIONS);
    assert_int_equal(policy_role_parse("group"), VIGIL_ROLE_GROUP);
    assert_int_equal(policy_role_parse("chief"), VIGIL_ROLE_UNSPECIFIED);
    assert_true(policy_region_key("plugin_config"));
    assert_false(policy_region_key("counties"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_parses_roster_and_plugin_config),
        cmocka_unit_test(test_region_without_plugin_is_a_config_error),
        cmocka_unit_test(test_bad_values_are_named),
        cmocka_unit_test(test_include_in_a_comment_is_text),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
