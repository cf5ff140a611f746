/* case_id.h: opaque, non-sequential case ids, derived from the case's row.
 *
 * A case id is "c_" and 20 characters of lower-case base32 (RFC 4648
 * alphabet): 100 bits. From schema step 3 on, those bits are the case's
 * row id in intake_cases, enciphered under the store's case-id key with a
 * keyed pseudo-random permutation of 100-bit blocks: a balanced Feistel
 * network (Luby-Rackoff) of CASE_ID_ROUNDS rounds whose round function is
 * SipHash-2-4 (libsodium's crypto_shorthash) over the round number and the
 * 50-bit half. The row id takes the low 48 bits of the block and the other
 * 52 must decipher to zero, so a string that is not one of this store's
 * ids is told apart without touching the store (but for a chance of 2^-52).
 *
 * Why ten rounds: with independent pseudo-random round functions, four
 * rounds already give a strong pseudo-random permutation for up to about
 * 2^25 ids seen (Luby-Rackoff, halves of 50 bits), and six or more push
 * that towards 2^50 (Patarin); ten leave a margin for a few nanoseconds.
 *
 * To anyone without the key the ids are indistinguishable from random ones:
 * they say nothing about how many cases exist or in which order they were
 * opened, and can be shown to staff and carried to triage. The key lives in
 * the store itself (intake_meta), because whoever holds the store can count
 * its rows anyway; it never rotates, since ids are forever. Because the id
 * deciphers to its row, intake needs no index of case ids: a new case is an
 * append, not a write to a random page (docs/performance.md, Intake, "Sixth
 * round"). Ids drawn at random before step 3 stay valid (cases.c).
 */
#ifndef INTAKE_CASE_ID_H
#define INTAKE_CASE_ID_H

#include <stdbool.h>
#include <stdint.h>

#define CASE_ID_PREFIX     "c_"
#define CASE_ID_RANDOM_LEN 20
#define CASE_ID_LEN        (2 + CASE_ID_RANDOM_LEN)
#define CASE_ID_SIZE       (CASE_ID_LEN + 1)
#define CASE_ID_KEY_BYTES  16 /* crypto_shorthash_KEYBYTES */
#define CASE_ID_KEY_HEX    (2 * CASE_ID_KEY_BYTES + 1)
#define CASE_ID_ROUNDS     10
#define CASE_ID_ROW_MAX    ((INT64_C(1) << 48) - 1)

typedef struct {
    uint8_t bytes[CASE_ID_KEY_BYTES];
} case_id_key_t;

/* Fills `key` with a fresh random key. Cannot fail. */
void case_id_key_new(case_id_key_t *key);

/* Writes the id of row `row` (1 .. CASE_ID_ROW_MAX) under `key`, and a NUL,
 * into `out`. Returns 0, or -1 (out untouched) for a row out of range. */
int case_id_from_row(const case_id_key_t *key, int64_t row, char out[CASE_ID_SIZE]);

/* The row whose id under `key` is `text`, or 0 when `text` is not such an
 * id (malformed, drawn at random before schema step 3, or from another
 * store's key). Cannot fail. */
int64_t case_id_to_row(const case_id_key_t *key, const char *text);

/* True if `text` has the shape of a case id. Cannot fail. */
bool case_id_is_well_formed(const char *text);

#endif
