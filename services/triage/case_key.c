/* case_key.c: loading the case-key secret and hashing case ids.
 *
 * The key file is created with O_EXCL and mode 0600 so two services racing
 * to create it cannot both win, and it is refused if group or others can
 * read it. The secret never leaves this struct except as hashes.
 */
#include "case_key.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CASE_KEY_FILE_HEX (2 * CASE_KEY_SECRET_BYTES)
#define CASE_KEY_CONTEXT  "vigilhsh"               /* crypto_kdf_CONTEXTBYTES; shared with intake */
#define CASE_KEY_SUBKEY   1                        /* the case-key subkey id; shared with intake */
#define CASE_KEY_FILE_MAX (CASE_KEY_FILE_HEX + 16) /* hex digits plus line end and slack */

static int s_create(const char *path, char *err, size_t errlen)
{
    uint8_t secret[CASE_KEY_SECRET_BYTES];
    char hex[CASE_KEY_FILE_HEX + 2];
    randombytes_buf(secret, sizeof secret);
    sodium_bin2hex(hex, sizeof hex, secret, sizeof secret);
    sodium_memzero(secret, sizeof secret);
    size_t len = strlen(hex);
    hex[len++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
    if (fd < 0) {
        sodium_memzero(hex, sizeof hex);
        if (errno == EEXIST) {
            return 0; /* someone else created it first: load theirs */
        }
        snprintf(err, errlen, "%s: cannot create the case-key file: %s", path, strerror(errno));
        return -1;
    }
    ssize_t wrote = write(fd, hex, len);
    int sync_rc = fsync(fd);
    close(fd);
    sodium_memzero(hex, sizeof hex);
    if (wrote != (ssize_t)len || sync_rc < 0) {
        snprintf(err, errlen, "%s: cannot write the case-key file", path);
        unlink(path);
        return -1;
    }
    return 0;
}

int case_key_load(case_key_t *key, const char *path, bool create, bool *created, char *err,
                  size_t errlen)
{
    struct stat st;
    if (created) {
        *created = false;
    }
    if (stat(path, &st) < 0) {
        if (errno != ENOENT || !create) {
            snprintf(err, errlen, "%s: cannot read the case-key file: %s", path, strerror(errno));
            return -1;
        }
        if (s_create(path, err, errlen) < 0) {
            return -1;
        }
        if (created) {
            *created = true;
        }
        if (stat(path, &st) < 0) {
            snprintf(err, errlen, "%s: cannot read the case-key file: %s", path, strerror(errno));
            return -1;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: the case-key file is not a regular file", path);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen, "%s: the case-key file is readable by group or others (chmod 600)",
                 path);
        return -1;
    }
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(err, errlen, "%s: cannot read the case-key file: %s", path, strerror(errno));
        return -1;
    }
    char text[CASE_KEY_FILE_MAX + 1];
    size_t len = fread(text, 1, CASE_KEY_FILE_MAX, file);
    fclose(file);
    text[len] = '\0';
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) {
        text[--len] = '\0';
    }
    size_t bin_len = 0;
    int rc = 0;
    uint8_t master[CASE_KEY_SECRET_BYTES];
    if (len != CASE_KEY_FILE_HEX ||
        sodium_hex2bin(master, sizeof master, text, len, NULL, &bin_len, NULL) != 0 ||
        bin_len != sizeof master) {
        snprintf(err, errlen, "%s: expected %d hex digits", path, CASE_KEY_FILE_HEX);
        rc = -1;
    } else {
        crypto_kdf_derive_from_key(key->subkey, sizeof key->subkey, CASE_KEY_SUBKEY,
                                   CASE_KEY_CONTEXT, master);
    }
    sodium_memzero(master, sizeof master);
    sodium_memzero(text, sizeof text);
    return rc;
}

void case_key_hash(const case_key_t *key, const char *case_id, char out[CASE_KEY_HEX_LEN])
{
    uint8_t hash[CASE_KEY_HASH_BYTES];
    crypto_generichash(hash, sizeof hash, (const uint8_t *)case_id, strlen(case_id), key->subkey,
                       sizeof key->subkey);
    sodium_bin2hex(out, CASE_KEY_HEX_LEN, hash, sizeof hash);
}

void case_key_wipe(case_key_t *key)
{
    sodium_memzero(key->subkey, sizeof key->subkey);
}
