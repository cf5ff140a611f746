/* test_request_table.c: libvigil-client's table of unanswered requests.
 *
 * The table is what lets an answer find its request; if it ever lost a
 * request or matched the wrong one, an event would be reported with another
 * event's case id. This test drives it with a long random mix of adds,
 * lookups and removals (including ids built to collide in the index) and
 * checks it against a plain list after every step. Built with the table's
 * source directly, since the library exports only the vclient_* API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "request_table.h"

enum {
    CAPACITY = 64,
    STEPS = 200000,
    COLLIDING_PREFIXES = 4, /* ids share their first 8 bytes (the hash) in a few groups */
};

typedef struct {
    uint8_t id[VCLIENT_ID_BYTES];
    int tag;
} shadow_t;

static uint64_t s_rng;

static uint64_t s_next(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static void s_random_id(uint8_t id[VCLIENT_ID_BYTES])
{
    uint64_t a = s_next(), b = s_next();
    if (a % 3 == 0) {
        a = a % COLLIDING_PREFIXES; /* same home slot as others */
    }
    memcpy(id, &a, sizeof a);
    memcpy(id + sizeof a, &b, sizeof b);
}

static void test_random_operations_match_a_plain_list(void **state)
{
    (void)state;
    s_rng = (uint64_t)time(NULL) | 1;
    print_message("seed %llu\n", (unsigned long long)s_rng);
    request_table_t *table = request_table_new(CAPACITY);
    assert_non_null(table);
    shadow_t shadow[CAPACITY];
    size_t count = 0;
    int next_tag = 1;
    for (int step = 0; step < STEPS; step++) {
        uint64_t op = s_next() % 3;
        if (op == 0 && count < CAPACITY) {
            uint8_t id[VCLIENT_ID_BYTES];
            s_random_id(id);
            request_t *r = request_table_add(table, id);
            assert_non_null(r);
            r->attempts = (uint32_t)next_tag;
            r->payload = malloc(1);
            memcpy(shadow[count].id, id, sizeof id);
            shadow[count].tag = next_tag++;
            count++;
            /* The same id again is refused. */
            assert_null(request_table_add(table, id));
        } else if (op == 1 && count > 0) {
            size_t victim = s_next() % count;
            request_t *r = request_table_find(table, shadow[victim].id);
            assert_non_null(r);
            assert_int_equal(r->attempts, shadow[victim].tag);
            request_table_remove(table, r);
            assert_null(request_table_find(table, shadow[victim].id));
            shadow[victim] = shadow[--count];
        } else {
            uint8_t id[VCLIENT_ID_BYTES];
            s_random_id(id);
            assert_null(request_table_find(table, id)); /* never seen */
        }
        assert_int_equal(request_table_count(table), count);
        if (step % 1000 == 0) {
            for (size_t i = 0; i < count; i++) {
                request_t *r = request_table_find(table, shadow[i].id);
                assert_non_null(r);
                assert_int_equal(r->attempts, shadow[i].tag);
            }
        }
    }
    /* A full table refuses more. */
    while (count < CAPACITY) {
        uint8_t id[VCLIENT_ID_BYTES];
        s_random_id(id);
        assert_non_null(request_table_add(table, id));
        count++;
    }
    uint8_t extra[VCLIENT_ID_BYTES];
    s_random_id(extra);
    assert_null(request_table_add(table, extra));
    request_table_destroy(&table);
    assert_null(table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_operations_match_a_plain_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
