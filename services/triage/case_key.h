/* case_key.h: the keyed hash that stands in for a case id in reporting.
 *
 * Reporting must be able to link the events of one case without being able
 * to name the case: ReportEvent.case_key is the keyed BLAKE2b-256 (libsodium
 * crypto_generichash) of the case id, in hex. The key is the subkey with id
 * 1 and context "vigilhsh" (crypto_kdf_derive_from_key) of a 32-byte master
 * secret kept in a key file (64 hex digits, mode 0600), never in a
 * database: exactly what intake computes for its CASE_OPENED events
 * (services/intake/hashkey.c), so with the same file reporting links
 * intake's and triage's events of one case. This module never logs the
 * secret or the case ids it hashes.
 */
#ifndef VIGIL_TRIAGE_CASE_KEY_H
#define VIGIL_TRIAGE_CASE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CASE_KEY_SECRET_BYTES 32
#define CASE_KEY_HASH_BYTES   32
#define CASE_KEY_HEX_LEN      (2 * CASE_KEY_HASH_BYTES + 1) /* with the NUL */

typedef struct {
    uint8_t subkey[CASE_KEY_SECRET_BYTES]; /* derived from the file's master secret */
} case_key_t;

/* Loads the master secret from `path` and derives the case-key subkey;
 * with `create` and no such file, writes a fresh random secret (mode 0600)
 * first and sets *created. Refuses a file readable by group or others.
 * Returns 0, or -1 with a message naming the file in `err`. */
int case_key_load(case_key_t *key, const char *path, bool create, bool *created, char *err,
                  size_t errlen);

/* Writes the hex keyed hash of `case_id` into `out`. Cannot fail. */
void case_key_hash(const case_key_t *key, const char *case_id, char out[CASE_KEY_HEX_LEN]);

/* Wipes the secret. Cannot fail. */
void case_key_wipe(case_key_t *key);

#endif
