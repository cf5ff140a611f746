/* hashkey.c: the intake hash key file and the keyed hashes made with it.
 *
 * The file holds 64 hex digits (and an optional newline). Subkeys come from
 * crypto_kdf_derive_from_key with context "vigilhsh": id 1 for case keys,
 * id 2 for PINs; changing either id breaks every stored hash, so they are
 * fixed. Must never log or return the key, a PIN or a case id it hashed.
 */
#include "hashkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#define HASHKEY_CONTEXT     "vigilhsh" /* crypto_kdf_CONTEXTBYTES == 8 */
#define HASHKEY_FILE_MODE   0600
#define HASHKEY_OPEN_MASK   077 /* no bits for group or others */
#define HASHKEY_ID_CASE_KEY 1
#define HASHKEY_ID_PIN      2
#define HASHKEY_FILE_MAX    256

struct hashkey_t {
    uint8_t case_key[HASHKEY_BYTES];
    uint8_t pin[HASHKEY_BYTES];
};

static int s_create(const char *path, char *err, size_t errlen)
{
    uint8_t master[HASHKEY_BYTES];
    char hex[HASHKEY_HEX_SIZE + 1];
    randombytes_buf(master, sizeof master);
    sodium_bin2hex(hex, HASHKEY_HEX_SIZE, master, sizeof master);
    sodium_memzero(master, sizeof master);
    strcat(hex, "\n");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, HASHKEY_FILE_MODE);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create the hash key file: %s", path, strerror(errno));
        sodium_memzero(hex, sizeof hex);
        return -1;
    }
    size_t len = strlen(hex);
    int ok = write(fd, hex, len) == (ssize_t)len && fsync(fd) == 0;
    sodium_memzero(hex, sizeof hex);
    close(fd);
    if (!ok) {
        snprintf(err, errlen, "%s: cannot write the hash key file", path);
        unlink(path);
        return -1;
    }
    return 0;
}

hashkey_t *hashkey_open(const char *path, int create, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT || !create) {
            snprintf(err, errlen, "%s: cannot read the hash key file: %s", path, strerror(errno));
            return NULL;
        }
        if (s_create(path, err, errlen))
            return NULL;
        if (stat(path, &st) != 0) {
            snprintf(err, errlen, "%s: vanished after creation", path);
            return NULL;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: the hash key file is not a regular file", path);
        return NULL;
    }
    if (st.st_mode & HASHKEY_OPEN_MASK) {
        snprintf(err, errlen, "%s: readable by group or others; chmod 600 it", path);
        return NULL;
    }
    char text[HASHKEY_FILE_MAX];
    FILE *file = fopen(path, "re");
    if (!file) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[len] = '\0';
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    uint8_t master[HASHKEY_BYTES];
    size_t bin_len = 0;
    if (len != 2 * HASHKEY_BYTES ||
        sodium_hex2bin(master, sizeof master, text, len, NULL, &bin_len, NULL) != 0 ||
        bin_len != HASHKEY_BYTES) {
        sodium_memzero(text, sizeof text);
        snprintf(err, errlen, "%s: expected 64 hex digits", path);
        return NULL;
    }
    sodium_memzero(text, sizeof text);
    hashkey_t *key = sodium_malloc(sizeof *key);
    if (!key) {
        sodium_memzero(master, sizeof master);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    crypto_kdf_derive_from_key(key->case_key, sizeof key->case_key, HASHKEY_ID_CASE_KEY,
                               HASHKEY_CONTEXT, master);
    crypto_kdf_derive_from_key(key->pin, sizeof key->pin, HASHKEY_ID_PIN, HASHKEY_CONTEXT, master);
    sodium_memzero(master, sizeof master);
    return key;
}

void hashkey_destroy(hashkey_t **key_p)
{
    if (!key_p || !*key_p)
        return;
    sodium_free(*key_p); /* sodium_free wipes */
    *key_p = NULL;
}

static void s_hash_hex(const uint8_t key[HASHKEY_BYTES], const void *a, size_t a_len, const void *b,
                       size_t b_len, char out[HASHKEY_HEX_SIZE])
{
    uint8_t digest[HASHKEY_BYTES];
    crypto_generichash_state state;
    crypto_generichash_init(&state, key, HASHKEY_BYTES, sizeof digest);
    crypto_generichash_update(&state, a, a_len);
    if (b) {
        const uint8_t separator = 0;
        crypto_generichash_update(&state, &separator, 1);
        crypto_generichash_update(&state, b, b_len);
    }
    crypto_generichash_final(&state, digest, sizeof digest);
    sodium_bin2hex(out, HASHKEY_HEX_SIZE, digest, sizeof digest);
}

/* Thread-safe, as is hashkey_pin(): the derived keys are only read after
 * hashkey_open(), and the hash state lives on the caller's stack. */
void hashkey_case_key(const hashkey_t *key, const char *case_id, char out[HASHKEY_HEX_SIZE])
{
    s_hash_hex(key->case_key, case_id, strlen(case_id), NULL, 0, out);
}

void hashkey_pin(const hashkey_t *key, const char *anchor, const char *pin,
                 char out[HASHKEY_HEX_SIZE])
{
    s_hash_hex(key->pin, anchor, strlen(anchor), pin, strlen(pin), out);
}
