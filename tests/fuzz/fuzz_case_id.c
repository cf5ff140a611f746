/* fuzz_case_id.c: case ids are read back only in the one form they are
 * written.
 *
 * A case id is the case's row enciphered under the store's key
 * (services/intake/case_id.c); a lookup deciphers whatever text an
 * operator or an upstream system sends. The first 16 input bytes are the
 * key, the rest is the text (or, with 8 bytes or less after the key, a
 * row). For any input this target checks that:
 * - text that deciphers to a row is that row's one id: writing the row
 *   again gives the very same text, so no other spelling finds the case;
 * - deciphering only gives rows in 1 .. CASE_ID_ROW_MAX, and only for
 *   well-formed text;
 * - every row in range round-trips, and its id is well formed.
 */
#include <string.h>

#include "case_id.h"
#include "fuzz.h"

enum { FUZZ_TEXT_MAX = 64, FUZZ_ROW_BYTES = 8 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < CASE_ID_KEY_BYTES)
        return 0;
    case_id_key_t key;
    memcpy(key.bytes, data, CASE_ID_KEY_BYTES);
    data += CASE_ID_KEY_BYTES;
    size -= CASE_ID_KEY_BYTES;
    char text[FUZZ_TEXT_MAX + 1], again[CASE_ID_SIZE];
    if (size <= FUZZ_ROW_BYTES) {
        uint64_t bits = 0;
        for (size_t i = 0; i < size; i++)
            bits = bits << 8 | data[i];
        int64_t row = (int64_t)(bits % (uint64_t)CASE_ID_ROW_MAX) + 1;
        FUZZ_CHECK(case_id_from_row(&key, row, text) == 0, "row %lld refused", (long long)row);
        FUZZ_CHECK(case_id_is_well_formed(text), "the id of row %lld is not well formed: %s",
                   (long long)row, text);
        FUZZ_CHECK(case_id_to_row(&key, text) == row, "row %lld does not come back from %s",
                   (long long)row, text);
        return 0;
    }
    size_t len = size < FUZZ_TEXT_MAX ? size : FUZZ_TEXT_MAX;
    memcpy(text, data, len);
    text[len] = '\0';
    int64_t row = case_id_to_row(&key, text);
    if (row == 0)
        return 0;
    FUZZ_CHECK(row >= 1 && row <= CASE_ID_ROW_MAX, "\"%s\" deciphers to row %lld, out of range",
               text, (long long)row);
    FUZZ_CHECK(case_id_is_well_formed(text), "\"%s\" is not well formed but deciphers", text);
    FUZZ_CHECK(case_id_from_row(&key, row, again) == 0 && strcmp(again, text) == 0,
               "\"%s\" deciphers to row %lld, whose id is %s", text, (long long)row, again);
    return 0;
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    /* key bytes 0..15, as the known answers in tests/unit/test_intake_case_id.c */
    uint8_t input[CASE_ID_KEY_BYTES + CASE_ID_SIZE];
    for (int i = 0; i < CASE_ID_KEY_BYTES; i++)
        input[i] = (uint8_t)i;
    static const char *const texts[] = {"c_a2njlc74t3h7wmpudzbm", "c_wef6dxn2glnin6cpufvn",
                                        "c_nu5kqalclj7ofp24oytv", "c_aaaaaaaaaaaaaaaaaaaa",
                                        "C_A2NJLC74T3H7WMPUDZBM"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        memcpy(input + CASE_ID_KEY_BYTES, texts[i], CASE_ID_LEN);
        emit(ctx, input, CASE_ID_KEY_BYTES + CASE_ID_LEN);
    }
    input[CASE_ID_KEY_BYTES] = 1; /* row 2 */
    emit(ctx, input, CASE_ID_KEY_BYTES + 1);
}
