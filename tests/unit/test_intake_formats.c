/* test_intake_formats.c: the syntax checks intake applies to upstream
 * strings (formats.c) and the state/county table (us_geo.c).
 *
 * Each test lists inputs an upstream system might really send and what
 * intake must say about them. No personal data of real people: all phone
 * numbers are in reserved fictional ranges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "formats.h"
#include "us_geo.h"

static void test_e164(void **state)
{
    (void)state;
    assert_true(formats_is_e164("+15555550100"));
    assert_true(formats_is_e164("+442079460000"));
    assert_true(formats_is_e164("+12345678"));        /* 8 digits */
    assert_true(formats_is_e164("+123456789012345")); /* 15 digits */
    assert_false(formats_is_e164("5555550100"));      /* no plus */
    assert_false(formats_is_e164("+1 555 555 0100")); /* spaces */
    assert_false(formats_is_e164("+1234567"));        /* 7 digits */
    assert_false(formats_is_e164("+1234567890123456"));
    assert_false(formats_is_e164("+05555550100")); /* country code cannot start with 0 */
    assert_false(formats_is_e164("+1555555010a"));
    assert_false(formats_is_e164(""));
}

static void test_email(void **state)
{
    (void)state;
    assert_true(formats_is_email("a@example.org"));
    assert_true(formats_is_email("first.last+tag@mail.example.co"));
    assert_true(formats_is_email("o'brien@sub-domain.example.com"));
    assert_false(formats_is_email("no-at-sign.example.org"));
    assert_false(formats_is_email("two@@example.org"));
    assert_false(formats_is_email("a@b@example.org"));
    assert_false(formats_is_email(".dot@example.org"));
    assert_false(formats_is_email("dot.@example.org"));
    assert_false(formats_is_email("do..t@example.org"));
    assert_false(formats_is_email("a@localhost"));    /* one label */
    assert_false(formats_is_email("a@-bad.example")); /* label starts with hyphen */
    assert_false(formats_is_email("a@example.c0m"));  /* numeric top-level label */
    assert_false(formats_is_email("a b@example.org"));
    assert_false(formats_is_email("@example.org"));
    assert_false(formats_is_email("a@"));
    char long_local[80];
    memset(long_local, 'a', 65);
    strcpy(long_local + 65, "@example.org");
    assert_false(formats_is_email(long_local));
}

static void test_bcp47(void **state)
{
    (void)state;
    const char *good[] = {"en",         "es-MX",  "zh-Hant-TW",       "sr-Latn-RS",
                          "de-CH-1901", "es-419", "en-US-x-twain",    "x-private",
                          "zh-yue-HK",  "ase",    "en-a-bbb-x-a-ccc", "EN-us"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(formats_is_bcp47(good[i]));
    const char *bad[] = {"",       "e",       "en-US-US", "en_US",    "en-", "-en",
                         "en--US", "en-US-x", "en-a",     "en-a-x-b", "123", "en-toolongsubtag",
                         "en US"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (formats_is_bcp47(bad[i]))
            fail_msg("accepted bad tag '%s'", bad[i]);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    const char *good[] = {"plain", "Jos\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
                          "\xf0\x9f\x98\x80" /* emoji */};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(formats_utf8_valid(good[i], strlen(good[i])));
    const char *bad[] = {
        "\xc3",             /* truncated */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xff",             /* never valid */
        "ok\x80",           /* stray continuation */
        "\xe6\x97",         /* truncated at the end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(formats_utf8_valid(bad[i], strlen(bad[i])));
}

static void test_zip_pin_token(void **state)
{
    (void)state;
    assert_true(formats_is_zip("97201"));
    assert_true(formats_is_zip("97201-1234"));
    assert_false(formats_is_zip("9720"));
    assert_false(formats_is_zip("97201-12"));
    assert_false(formats_is_zip("9720a"));
    assert_false(formats_is_zip("972011234"));
    assert_true(formats_is_pin("1234"));
    assert_true(formats_is_pin("12345678"));
    assert_false(formats_is_pin("123"));
    assert_false(formats_is_pin("123456789"));
    assert_false(formats_is_pin("12a4"));
    assert_true(formats_is_token("evt-2026-0001:a/b"));
    assert_false(formats_is_token("has space"));
    assert_false(formats_is_token(""));
    assert_false(formats_is_token("caf\xc3\xa9"));
}

static void test_states_and_counties(void **state)
{
    (void)state;
    assert_string_equal(us_geo_state_fips("OR"), "41");
    assert_string_equal(us_geo_state_fips("PR"), "72");
    assert_string_equal(us_geo_state_fips("DC"), "11");
    assert_null(us_geo_state_fips("XX"));
    assert_null(us_geo_state_fips("or"));                /* codes are upper case */
    assert_null(us_geo_state_fips("AE"));                /* military, no FIPS */
    assert_true(us_geo_county_in_state("41051", "OR"));  /* Multnomah */
    assert_true(us_geo_county_in_state("06037", "CA"));  /* Los Angeles */
    assert_false(us_geo_county_in_state("06037", "OR")); /* wrong state */
    assert_false(us_geo_county_in_state("41000", "OR")); /* no county 000 */
    assert_false(us_geo_county_in_state("4105", "OR"));
    assert_false(us_geo_county_in_state("4105a", "OR"));
    assert_false(us_geo_county_in_state("41051", "XX"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e164),          cmocka_unit_test(test_email),
        cmocka_unit_test(test_bcp47),         cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_zip_pin_token), cmocka_unit_test(test_states_and_counties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
