/* test_util.c: ids are random and well-formed, clocks move the right way.
 *
 * Message ids become idempotency keys and case ids: two equal ones would
 * merge two victims' records. These tests check the hex form, that ids do
 * not repeat, that util_random_below stays in range and reaches every value,
 * that the clocks agree with the system's, and that util_copy cuts to fit,
 * always terminates and treats NULL as empty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "vigil/util.h"

static void test_hex_is_lowercase_and_terminated(void **state)
{
    (void)state;
    static const uint8_t bytes[] = {0x00, 0x9f, 0xa0, 0xff, 0x12};
    char out[2 * sizeof(bytes) + 2];
    memset(out, 'Z', sizeof(out));
    util_hex(bytes, sizeof(bytes), out);
    assert_string_equal(out, "009fa0ff12");
    util_hex(bytes, 0, out);
    assert_string_equal(out, "");
}

static int s_compare_ids(const void *a, const void *b)
{
    return memcmp(a, b, VIGIL_ID_BYTES);
}

static void test_random_ids_do_not_repeat(void **state)
{
    (void)state;
    enum { IDS = 10000 };
    uint8_t(*ids)[VIGIL_ID_BYTES] = malloc(IDS * sizeof(*ids));
    for (int i = 0; i < IDS; i++) {
        util_random_id(ids[i]);
    }
    qsort(ids, IDS, sizeof(*ids), s_compare_ids);
    for (int i = 1; i < IDS; i++) {
        assert_memory_not_equal(ids[i - 1], ids[i], VIGIL_ID_BYTES);
    }
    free(ids);
}

static void test_random_below_stays_in_range(void **state)
{
    (void)state;
    enum { BOUND = 7, DRAWS = 7000 };
    int seen[BOUND] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint32_t value = util_random_below(BOUND);
        assert_true(value < BOUND);
        seen[value]++;
    }
    for (int i = 0; i < BOUND; i++) {
        assert_true(seen[i] > 0); /* P(miss) is about 7 * (6/7)^7000: never */
    }
    assert_int_equal(util_random_below(1), 0);
    assert_int_equal(util_random_below(0), 0);
}

static void test_copy_cuts_and_terminates(void **state)
{
    (void)state;
    char out[6];
    memset(out, 'x', sizeof out);
    assert_int_equal(util_copy(out, sizeof out, "case"), 4);
    assert_string_equal(out, "case");
    assert_int_equal(util_copy(out, sizeof out, "c_abcdefgh"), 5);
    assert_string_equal(out, "c_abc");
    assert_int_equal(util_copy(out, sizeof out, NULL), 0);
    assert_string_equal(out, "");
    assert_int_equal(util_copy(out, 1, "anything"), 0);
    assert_string_equal(out, "");
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t wall = util_now_ms();
    int64_t system_ms = (int64_t)time(NULL) * 1000;
    assert_true(wall >= system_ms - 1000 && wall <= system_ms + 2000);
    uint64_t before = util_mono_ns();
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    uint64_t after = util_mono_ns();
    assert_true(after - before >= 2000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_is_lowercase_and_terminated),
        cmocka_unit_test(test_random_ids_do_not_repeat),
        cmocka_unit_test(test_random_below_stays_in_range),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_copy_cuts_and_terminates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
