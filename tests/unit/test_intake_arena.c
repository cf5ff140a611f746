/* test_intake_arena.c: the bump allocator intake unpacks requests into.
 *
 * Unpacks real IntakeContacts through the arena: a small one from the
 * caller's buffer alone, a large one that spills into malloc'd blocks, and
 * the arena reused after release. Checks what a user of the unpacked
 * message sees (every field intact, allocations aligned) and that release
 * wipes the buffer, which held personal data. Run under ASan/valgrind it
 * also shows that nothing leaks and nothing foreign is freed.
 */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arena.h"
#include "vigil/v1/intake.pb-c.h"

enum {
    SMALL_BUFFER = 4096,
    LONG_NARRATIVE = 40000, /* larger than the buffer and than one spilled block */
};

/* Packs a contact with a victim, two offenders and a narrative of `len`
 * bytes of 'n'. Returns the malloc'd buffer and its length in *out_len. */
static uint8_t *s_packed_contact(size_t narrative_len, size_t *out_len)
{
    Vigil__V1__IntakeContact c = VIGIL__V1__INTAKE_CONTACT__INIT;
    Vigil__V1__VictimContact v = VIGIL__V1__VICTIM_CONTACT__INIT;
    Vigil__V1__OffenderRef o[2] = {VIGIL__V1__OFFENDER_REF__INIT, VIGIL__V1__OFFENDER_REF__INIT};
    Vigil__V1__OffenderRef *op[2] = {&o[0], &o[1]};
    char *narrative = malloc(narrative_len + 1);
    memset(narrative, 'n', narrative_len);
    narrative[narrative_len] = '\0';
    c.event_id = "evt-arena";
    v.given_name = "Ottoline";
    v.phone = "+15035550142";
    c.victim = &v;
    o[0].offender_id = "K-1";
    o[1].offender_id = "K-2";
    o[1].display_name = "Second Offendername";
    c.offenders = op;
    c.n_offenders = 2;
    c.narrative = narrative;
    *out_len = vigil__v1__intake_contact__get_packed_size(&c);
    uint8_t *out = malloc(*out_len);
    vigil__v1__intake_contact__pack(&c, out);
    free(narrative);
    return out;
}

static void s_check_contact(const Vigil__V1__IntakeContact *c, size_t narrative_len)
{
    assert_non_null(c);
    assert_string_equal(c->event_id, "evt-arena");
    assert_string_equal(c->victim->given_name, "Ottoline");
    assert_string_equal(c->victim->phone, "+15035550142");
    assert_int_equal(c->n_offenders, 2);
    assert_string_equal(c->offenders[1]->display_name, "Second Offendername");
    assert_string_equal(c->offenders[1]->offender_id, "K-2");
    assert_int_equal(strlen(c->narrative), narrative_len);
    assert_int_equal(((uintptr_t)c->victim) % alignof(max_align_t), 0);
    assert_int_equal(((uintptr_t)c->offenders) % alignof(max_align_t), 0);
}

static void test_small_request_stays_in_the_buffer(void **state)
{
    (void)state;
    alignas(max_align_t) unsigned char buffer[SMALL_BUFFER];
    arena_t arena;
    arena_init(&arena, buffer, sizeof buffer);
    size_t len;
    uint8_t *packed = s_packed_contact(40, &len);
    Vigil__V1__IntakeContact *c = vigil__v1__intake_contact__unpack(&arena.allocator, len, packed);
    s_check_contact(c, 40);
    assert_null(arena.blocks); /* nothing spilled */
    assert_true((unsigned char *)c >= buffer && (unsigned char *)c < buffer + sizeof buffer);
    arena_release(&arena);
    /* released: the personal values are gone from the buffer */
    assert_null(memmem(buffer, sizeof buffer, "Ottoline", strlen("Ottoline")));
    assert_null(memmem(buffer, sizeof buffer, "+15035550142", strlen("+15035550142")));
    free(packed);
}

static void test_large_request_spills_and_arena_is_reusable(void **state)
{
    (void)state;
    alignas(max_align_t) unsigned char buffer[SMALL_BUFFER];
    arena_t arena;
    arena_init(&arena, buffer, sizeof buffer);
    size_t len;
    uint8_t *packed = s_packed_contact(LONG_NARRATIVE, &len);
    for (int round = 0; round < 2; round++) {
        Vigil__V1__IntakeContact *c =
            vigil__v1__intake_contact__unpack(&arena.allocator, len, packed);
        s_check_contact(c, LONG_NARRATIVE);
        assert_non_null(arena.blocks); /* the narrative did not fit the buffer */
        arena_release(&arena);
        assert_null(arena.blocks);
        assert_int_equal(arena.used, 0);
    }
    free(packed);
}

static void test_unaligned_buffer_is_aligned(void **state)
{
    (void)state;
    alignas(max_align_t) unsigned char buffer[SMALL_BUFFER + 1];
    arena_t arena;
    arena_init(&arena, buffer + 1, SMALL_BUFFER); /* deliberately off by one */
    void *a = arena.allocator.alloc(arena.allocator.allocator_data, 3);
    void *b = arena.allocator.alloc(arena.allocator.allocator_data, 5);
    assert_int_equal(((uintptr_t)a) % alignof(max_align_t), 0);
    assert_int_equal(((uintptr_t)b) % alignof(max_align_t), 0);
    assert_true(b != a);
    arena_release(&arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_request_stays_in_the_buffer),
        cmocka_unit_test(test_large_request_spills_and_arena_is_reusable),
        cmocka_unit_test(test_unaligned_buffer_is_aligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
