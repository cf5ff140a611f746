/* case_id.c: random case ids in base32.
 *
 * 13 random bytes from libsodium give 104 bits; the first 100 become 20
 * base32 characters. Must never use a counter, a clock or anything else a
 * reader could order or count.
 */
#include "case_id.h"

#include <stdint.h>
#include <string.h>
#include <sodium.h>

enum {
    CASE_ID_RANDOM_BYTES = 13, /* >= 20 * 5 bits */
    BASE32_BITS = 5,
    BASE32_MASK = 0x1f,
};

static const char s_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

void case_id_new(char out[CASE_ID_SIZE])
{
    uint8_t random[CASE_ID_RANDOM_BYTES];
    randombytes_buf(random, sizeof random);
    memcpy(out, CASE_ID_PREFIX, 2);
    uint32_t buffer = 0;
    int bits = 0;
    size_t next = 0;
    for (int i = 0; i < CASE_ID_RANDOM_LEN; i++) {
        if (bits < BASE32_BITS) {
            buffer = (buffer << 8) | random[next++];
            bits += 8;
        }
        out[2 + i] = s_alphabet[(buffer >> (bits - BASE32_BITS)) & BASE32_MASK];
        bits -= BASE32_BITS;
    }
    out[CASE_ID_LEN] = '\0';
    sodium_memzero(random, sizeof random);
}

bool case_id_is_well_formed(const char *text)
{
    if (!text || strlen(text) != CASE_ID_LEN || strncmp(text, CASE_ID_PREFIX, 2) != 0)
        return false;
    for (int i = 2; i < CASE_ID_LEN; i++)
        if (!strchr(s_alphabet, text[i]) || text[i] == '\0')
            return false;
    return true;
}
