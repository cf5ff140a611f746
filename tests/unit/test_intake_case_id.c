/* test_intake_case_id.c: case ids are opaque, well-formed and do not count.
 *
 * A case id is shown to staff and carried to triage; it must not reveal how
 * many cases exist. These tests draw many ids and check their shape, that
 * none repeats, and that consecutive ids share no structure a reader could
 * use to order them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "case_id.h"

enum { DRAWS = 20000 };

static int s_compare(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_shape_and_uniqueness(void **state)
{
    (void)state;
    char(*ids)[CASE_ID_SIZE] = calloc(DRAWS, CASE_ID_SIZE);
    assert_non_null(ids);
    for (int i = 0; i < DRAWS; i++) {
        case_id_new(ids[i]);
        assert_int_equal(strlen(ids[i]), CASE_ID_LEN);
        assert_true(case_id_is_well_formed(ids[i]));
    }
    qsort(ids, DRAWS, CASE_ID_SIZE, s_compare);
    for (int i = 1; i < DRAWS; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static void test_not_sequential(void **state)
{
    (void)state;
    /* Consecutive ids should agree in about 1/32 of positions, as random
     * strings do; a counter would agree in nearly all. */
    char previous[CASE_ID_SIZE], next[CASE_ID_SIZE];
    case_id_new(previous);
    long same = 0, total = 0;
    for (int i = 0; i < DRAWS; i++) {
        case_id_new(next);
        for (int k = 2; k < CASE_ID_LEN; k++)
            same += previous[k] == next[k];
        total += CASE_ID_RANDOM_LEN;
        memcpy(previous, next, sizeof next);
    }
    assert_true(same * 10 < total); /* expected ~3%, far below 10% */
}

static void test_rejects_other_shapes(void **state)
{
    (void)state;
    assert_false(case_id_is_well_formed(""));
    assert_false(case_id_is_well_formed("c_"));
    assert_false(case_id_is_well_formed("c_aaaaaaaaaaaaaaaaaaa"));   /* 19 */
    assert_false(case_id_is_well_formed("c_aaaaaaaaaaaaaaaaaaaaa")); /* 21 */
    assert_false(case_id_is_well_formed("x_aaaaaaaaaaaaaaaaaaaa"));
    assert_false(case_id_is_well_formed("c_aaaaaaaaaaaaaaaaaaa1")); /* 1 is not base32 */
    assert_false(case_id_is_well_formed("c_AAAAAAAAAAAAAAAAAAAA"));
    assert_true(case_id_is_well_formed("c_abcdefghijklmnop2345"));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_and_uniqueness),
        cmocka_unit_test(test_not_sequential),
        cmocka_unit_test(test_rejects_other_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
