/* vault.h: encryption at rest for personal data, with libsodium.
 *
 * A vault holds a keyring loaded from a key file named in the config (never
 * from a database): one or more 32-byte keys, each with a key id, and one of
 * them current. vault_seal() encrypts with XChaCha20-Poly1305 (IETF AEAD)
 * under the current key; the sealed blob starts with a version byte and the
 * key id, so a rotated key can still open old data. `aad` binds a ciphertext
 * to its place (e.g. case id + column) so it cannot be moved elsewhere.
 *
 * Key file format (text, one key per line, mode 0600):
 *     <key id 1..65535> <64 hex digits> [current]
 * Lines starting with # are comments. Exactly one line says "current".
 */
#ifndef VIGIL_VAULT_H
#define VIGIL_VAULT_H

#include <stddef.h>
#include <stdint.h>

typedef struct vault_t vault_t;

/* Bytes vault_seal() adds to a plaintext. */
#define VAULT_OVERHEAD (1 + 2 + 24 + 16)

/* Loads the keyring at `path`. Refuses a file with any group or other
 * permission bit (it says "chmod 600"), a non-regular file, duplicate ids,
 * an all-zero key, zero or several "current" lines. Returns NULL with a
 * message naming the file (and line) in `err`; key material is never
 * quoted in it. The keys live in guarded, read-only memory. */
vault_t *vault_open(const char *path, char *err, size_t errlen);

/* Re-reads the key file at `path` into `vault` in place (pointers held by
 * others stay valid), so a key added to the file (marked current) is used
 * from now on. Refuses a file that drops a key id the vault already knows.
 * Call only from the thread that uses the vault. Returns 0, or -1 with a
 * message in `err`; the old keys stay on failure. */
int vault_reload(vault_t *vault, const char *path, char *err, size_t errlen);

/* Creates a key file with one fresh current key (id 1), mode 0600, and
 * fsyncs it and its directory. Never overwrites: returns 0, or -1 with a
 * message in `err` (e.g. the file exists). */
int vault_create_keyfile(const char *path, char *err, size_t errlen);

/* Wipes the keys and frees; sets *vault_p to NULL. Cannot fail. */
void vault_destroy(vault_t **vault_p);

/* The current key id. Cannot fail. */
uint16_t vault_current_key_id(const vault_t *vault);

/* Encrypts `len` bytes of `plain` into `out`, which must hold
 * len + VAULT_OVERHEAD bytes and must not overlap `plain`. `aad` (may be
 * NULL when aad_len is 0) must be given again to open. Returns the sealed
 * length, len + VAULT_OVERHEAD. Cannot fail. */
size_t vault_seal(const vault_t *vault, const uint8_t *plain, size_t len, const uint8_t *aad,
                  size_t aad_len, uint8_t *out);

/* Decrypts a sealed blob into `out` (at least len - VAULT_OVERHEAD bytes).
 * Returns the plaintext length, or -1 if the blob is truncated, names an
 * unknown key id, or fails authentication (tampered or wrong aad). */
long vault_open_blob(const vault_t *vault, const uint8_t *sealed, size_t len, const uint8_t *aad,
                     size_t aad_len, uint8_t *out);

/* The key id a sealed blob was made with, or -1 if it is shorter than
 * VAULT_OVERHEAD or has an unknown version byte. */
int vault_blob_key_id(const uint8_t *sealed, size_t len);

#endif
