/* test_intake_case_id.c: case ids are opaque, well-formed, do not count,
 * and decipher to their row.
 *
 * A case id is shown to staff and carried to triage; it must not reveal how
 * many cases exist or in which order they came. These tests encipher many
 * consecutive rows and check the ids' shape, that none repeats, that
 * consecutive ids share no structure and sort in no relation to their
 * rows, that each deciphers to its row under its key and to nothing under
 * another, and that strings that are not ids decipher to nothing. A known
 * answer pins the construction: a change to it would orphan every stored
 * id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "case_id.h"

enum { ROWS = 20000 };

typedef struct {
    char id[CASE_ID_SIZE];
    int64_t row;
} entry_t;

static int s_compare(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->id, ((const entry_t *)b)->id);
}

static void test_shape_uniqueness_and_round_trip(void **state)
{
    (void)state;
    case_id_key_t key;
    case_id_key_new(&key);
    entry_t *ids = calloc(ROWS, sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < ROWS; i++) {
        ids[i].row = i + 1;
        assert_int_equal(case_id_from_row(&key, ids[i].row, ids[i].id), 0);
        assert_int_equal(strlen(ids[i].id), CASE_ID_LEN);
        assert_true(case_id_is_well_formed(ids[i].id));
        assert_int_equal(case_id_to_row(&key, ids[i].id), ids[i].row);
    }
    qsort(ids, ROWS, sizeof *ids, s_compare);
    /* Sorted by id, the rows are in no order: about half of the neighbours
     * ascend, as for a shuffle; ids that kept the rows' order would give
     * all of them. */
    long ascending = 0;
    for (int i = 1; i < ROWS; i++) {
        assert_string_not_equal(ids[i - 1].id, ids[i].id);
        ascending += ids[i].row > ids[i - 1].row;
    }
    assert_in_range(ascending, ROWS * 45 / 100, ROWS * 55 / 100);
    free(ids);

    static const int64_t edges[] = {CASE_ID_ROW_MAX, CASE_ID_ROW_MAX - 1, INT64_C(1) << 32};
    char id[CASE_ID_SIZE];
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        assert_int_equal(case_id_from_row(&key, edges[i], id), 0);
        assert_int_equal(case_id_to_row(&key, id), edges[i]);
    }
}

static void test_not_sequential(void **state)
{
    (void)state;
    /* Consecutive ids should agree in about 1/32 of positions, as random
     * strings do; a counter would agree in nearly all. */
    case_id_key_t key;
    case_id_key_new(&key);
    char previous[CASE_ID_SIZE], next[CASE_ID_SIZE];
    assert_int_equal(case_id_from_row(&key, 1, previous), 0);
    long same = 0, total = 0;
    for (int row = 2; row <= ROWS; row++) {
        assert_int_equal(case_id_from_row(&key, row, next), 0);
        for (int k = 2; k < CASE_ID_LEN; k++)
            same += previous[k] == next[k];
        total += CASE_ID_RANDOM_LEN;
        memcpy(previous, next, sizeof next);
    }
    assert_true(same * 10 < total); /* expected ~3%, far below 10% */
}

static void test_other_keys_and_strings_decipher_to_nothing(void **state)
{
    (void)state;
    case_id_key_t mine, theirs;
    case_id_key_new(&mine);
    case_id_key_new(&theirs);
    char id[CASE_ID_SIZE], other[CASE_ID_SIZE];
    for (int row = 1; row <= 1000; row++) {
        assert_int_equal(case_id_from_row(&mine, row, id), 0);
        assert_int_equal(case_id_from_row(&theirs, row, other), 0);
        assert_string_not_equal(id, other);
        assert_int_equal(case_id_to_row(&theirs, id), 0);
    }
    /* A randomly drawn id (as before schema step 3) is well formed but no
     * row's: 52 bits must decipher to zero. */
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    for (int i = 0; i < 1000; i++) {
        uint8_t random[CASE_ID_RANDOM_LEN];
        randombytes_buf(random, sizeof random);
        memcpy(id, CASE_ID_PREFIX, 2);
        for (int k = 0; k < CASE_ID_RANDOM_LEN; k++)
            id[2 + k] = alphabet[random[k] & 0x1f];
        id[CASE_ID_LEN] = '\0';
        assert_true(case_id_is_well_formed(id));
        assert_int_equal(case_id_to_row(&mine, id), 0);
    }
    assert_int_equal(case_id_to_row(&mine, "c_abc"), 0);
    assert_int_equal(case_id_to_row(&mine, NULL), 0);
    assert_int_equal(case_id_from_row(&mine, 0, id), -1);
    assert_int_equal(case_id_from_row(&mine, -1, id), -1);
    assert_int_equal(case_id_from_row(&mine, CASE_ID_ROW_MAX + 1, id), -1);
}

/* Stored ids must decipher forever: these answers, from the first version
 * of the construction, must never change. */
static void test_known_answers(void **state)
{
    (void)state;
    case_id_key_t key;
    for (size_t i = 0; i < sizeof key.bytes; i++)
        key.bytes[i] = (uint8_t)i;
    static const struct {
        int64_t row;
        const char *id;
    } answers[] = {
        {1, "c_a2njlc74t3h7wmpudzbm"},
        {2, "c_wef6dxn2glnin6cpufvn"},
        {CASE_ID_ROW_MAX, "c_nu5kqalclj7ofp24oytv"},
    };
    char id[CASE_ID_SIZE];
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        assert_int_equal(case_id_from_row(&key, answers[i].row, id), 0);
        assert_string_equal(id, answers[i].id);
        assert_int_equal(case_id_to_row(&key, answers[i].id), answers[i].row);
    }
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
        cmocka_unit_test(test_shape_uniqueness_and_round_trip),
        cmocka_unit_test(test_not_sequential),
        cmocka_unit_test(test_other_keys_and_strings_decipher_to_nothing),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_rejects_other_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
