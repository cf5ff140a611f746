/* test_triage_quarter.c: the calendar quarter reporting gets instead of a date.
 *
 * Reporting sees when a case was triaged only as "YYYY-Qn" (UTC). triage
 * caches the last quarter it computed (services/triage/outbound.c), so these
 * tests walk across quarter and year boundaries in both directions and check
 * that every answer is the quarter of the instant asked about, never the
 * cached one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "outbound.h"

/* Unix ms of a few UTC instants. */
#define MS_2026_01_01 1767225600000LL
#define MS_2026_04_01 1775001600000LL
#define MS_2027_01_01 1798761600000LL

static void s_expect(int64_t at_ms, const char *quarter)
{
    char out[OUTBOUND_QUARTER_LEN];
    outbound_quarter(at_ms, out);
    assert_string_equal(out, quarter);
}

static void test_quarter_boundaries_both_ways(void **state)
{
    (void)state;
    s_expect(MS_2026_01_01, "2026-Q1");
    s_expect(MS_2026_04_01 - 1, "2026-Q1");
    s_expect(MS_2026_04_01, "2026-Q2");
    s_expect(MS_2026_04_01 - 1, "2026-Q1"); /* back again: not the cached Q2 */
    s_expect(MS_2027_01_01 - 1, "2026-Q4");
    s_expect(MS_2027_01_01, "2027-Q1");
    s_expect(MS_2026_01_01 - 1, "2025-Q4");
    s_expect(0, "1970-Q1");
}

static void test_every_day_of_a_year(void **state)
{
    (void)state;
    static const char *const quarters[] = {"2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"};
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const int64_t day_ms = 86400000LL;
    int64_t at = MS_2026_01_01 + day_ms / 2;
    for (int month = 0; month < 12; month++) {
        for (int day = 0; day < month_days[month]; day++, at += day_ms) {
            s_expect(at, quarters[month / 3]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quarter_boundaries_both_ways),
        cmocka_unit_test(test_every_day_of_a_year),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
