/* hashkey.h: keyed hashes for intake: report case keys and PIN hashes.
 *
 * One 32-byte secret (a hex line in a file, mode 0600, from the config;
 * never stored in a database) yields two subkeys with libsodium's KDF: one
 * turns a case id into the case_key reporting sees (so reporting can link
 * the events of one case but never learn its id), one hashes PINs so intake
 * keeps no PIN in a form anyone without the key could test guesses against.
 * Every service that computes case keys must load the same file.
 */
#ifndef INTAKE_HASHKEY_H
#define INTAKE_HASHKEY_H

#include <stddef.h>
#include <stdint.h>

#define HASHKEY_BYTES    32
#define HASHKEY_HEX_SIZE (2 * HASHKEY_BYTES + 1)

typedef struct hashkey_t hashkey_t;

/* Loads the key at `path`; if the file does not exist and `create` is set,
 * writes a fresh random key there first (mode 0600). Refuses a file readable
 * by group or others. Returns NULL with a message naming the file in `err`. */
hashkey_t *hashkey_open(const char *path, int create, char *err, size_t errlen);

/* Wipes and frees; sets *key_p to NULL. Cannot fail. */
void hashkey_destroy(hashkey_t **key_p);

/* Writes the hex case key of `case_id` (64 digits and a NUL) to `out`.
 * Thread-safe (it only reads `key`), so rows may be prepared off the loop
 * thread. Cannot fail. */
void hashkey_case_key(const hashkey_t *key, const char *case_id, char out[HASHKEY_HEX_SIZE]);

/* Writes the hex keyed hash of `pin` bound to `anchor` (e.g. source and
 * event id, so equal PINs hash differently) to `out`. Cannot fail. */
void hashkey_pin(const hashkey_t *key, const char *anchor, const char *pin,
                 char out[HASHKEY_HEX_SIZE]);

#endif
