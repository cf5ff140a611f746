/* case_id.c: case ids as a keyed permutation of row ids (see case_id.h).
 *
 * The 100-bit block is two 50-bit halves, `left` (base32 characters 0-9)
 * and `right` (10-19). Each round maps (left, right) to (right, left ^
 * F(round, right)), where F is SipHash-2-4 under the key of the round
 * number and the half, cut to 50 bits: the round number in the input keeps
 * the ten round functions independent. Deciphering runs the rounds
 * backwards. Must never leak the key or a row id into a log line.
 */
#include "case_id.h"

#include <string.h>
#include <sodium.h>

#define HALF_BITS   50
#define HALF_MASK   ((UINT64_C(1) << HALF_BITS) - 1)
#define ROUND_SHIFT 56 /* the round number's place in F's 8-byte input */
#define BASE32_BITS 5
#define BASE32_MASK 0x1f
#define HALF_CHARS  (HALF_BITS / BASE32_BITS)
#define BYTE_BITS   8

_Static_assert(CASE_ID_KEY_BYTES == crypto_shorthash_KEYBYTES, "case-id key is a SipHash key");
_Static_assert(2 * HALF_CHARS == CASE_ID_RANDOM_LEN, "two halves fill the id");

static const char s_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* The round function: 50 bits of SipHash-2-4(key, round || half). */
static uint64_t s_round(const case_id_key_t *key, unsigned round, uint64_t half)
{
    uint64_t word = half | (uint64_t)round << ROUND_SHIFT;
    unsigned char in[sizeof word], out[crypto_shorthash_BYTES];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(word >> (BYTE_BITS * i));
    crypto_shorthash(out, in, sizeof in, key->bytes);
    uint64_t value = 0;
    for (size_t i = 0; i < sizeof value; i++)
        value |= (uint64_t)out[i] << (BYTE_BITS * i);
    return value & HALF_MASK;
}

void case_id_key_new(case_id_key_t *key)
{
    randombytes_buf(key->bytes, sizeof key->bytes);
}

int case_id_from_row(const case_id_key_t *key, int64_t row, char out[CASE_ID_SIZE])
{
    if (row < 1 || row > CASE_ID_ROW_MAX)
        return -1;
    uint64_t left = 0, right = (uint64_t)row;
    for (unsigned round = 0; round < CASE_ID_ROUNDS; round++) {
        uint64_t next = left ^ s_round(key, round, right);
        left = right;
        right = next;
    }
    memcpy(out, CASE_ID_PREFIX, 2);
    for (int i = 0; i < HALF_CHARS; i++) {
        int shift = BASE32_BITS * (HALF_CHARS - 1 - i);
        out[2 + i] = s_alphabet[(left >> shift) & BASE32_MASK];
        out[2 + HALF_CHARS + i] = s_alphabet[(right >> shift) & BASE32_MASK];
    }
    out[CASE_ID_LEN] = '\0';
    return 0;
}

/* The 5-bit value of base32 character `c`, or -1. */
static int s_digit(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + ('z' - 'a' + 1);
    return -1;
}

int64_t case_id_to_row(const case_id_key_t *key, const char *text)
{
    if (!case_id_is_well_formed(text))
        return 0;
    uint64_t left = 0, right = 0;
    for (int i = 0; i < HALF_CHARS; i++) {
        left = left << BASE32_BITS | (uint64_t)s_digit(text[2 + i]);
        right = right << BASE32_BITS | (uint64_t)s_digit(text[2 + HALF_CHARS + i]);
    }
    for (unsigned round = CASE_ID_ROUNDS; round-- > 0;) {
        uint64_t previous = right ^ s_round(key, round, left);
        right = left;
        left = previous;
    }
    if (left != 0 || right < 1 || right > (uint64_t)CASE_ID_ROW_MAX)
        return 0;
    return (int64_t)right;
}

bool case_id_is_well_formed(const char *text)
{
    if (!text || strlen(text) != CASE_ID_LEN || strncmp(text, CASE_ID_PREFIX, 2) != 0)
        return false;
    for (int i = 2; i < CASE_ID_LEN; i++)
        if (s_digit(text[i]) < 0)
            return false;
    return true;
}
