/* vault.c: encrypts personal data at rest with a keyring from a key file.
 *
 * Intake and notification keep victims' contact details only as sealed
 * blobs: XChaCha20-Poly1305 (IETF AEAD, libsodium) under the current key,
 * with a random 24-byte nonce, behind a version byte and the key id:
 *
 *     [version 1][key id, 2 bytes big-endian][nonce 24][ciphertext][tag 16]
 *
 * The key id lets old blobs open after a rotation (add a key, mark it
 * current, keep the old line). The header is not fed to the AEAD as
 * associated data, but it cannot be altered unnoticed: another version byte
 * is refused, and another key id selects another key, which fails
 * authentication. The keyring lives in libsodium's guarded memory, read-only
 * once loaded, wiped on destroy.
 *
 * Nonces come from a per-thread ChaCha20 keystream (a user-space DRBG)
 * seeded with 32 bytes from randombytes_buf(), instead of one getrandom()
 * system call per seal. Each refill takes the next stream key from the
 * keystream's first block and wipes it ("fast key erasure"), so the output
 * is computationally indistinguishable from random and 192-bit random nonces
 * stay safe to use with one key. A fork makes the child reseed (a
 * pthread_atfork handler moves a generation counter), so parent and child
 * can never draw the same nonces. This file must never write a key or a
 * plaintext to a log, an error message or a file other than a new key file,
 * and never load a key file others can read.
 */
#include "vigil/vault.h"
#include "vigil/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

enum {
    VAULT_FORMAT_VERSION = 1,
    VAULT_KEY_BYTES = crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
    VAULT_NONCE_BYTES = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
    VAULT_TAG_BYTES = crypto_aead_xchacha20poly1305_ietf_ABYTES,
    VAULT_HEADER_BYTES = 1 + 2, /* version, key id */
    VAULT_KEY_HEX = 2 * VAULT_KEY_BYTES,
    VAULT_KEY_ID_MIN = 1,
    VAULT_KEY_ID_MAX = 65535,
    VAULT_KEYFILE_MAX = 64 * 1024, /* a key file is a few lines; refuse anything big */
    VAULT_FIRST_KEY_ID = 1,
    VAULT_SECRET_MODE = 0600,
    VAULT_OTHERS_MASK = 0077, /* any group or other permission bit */
    VAULT_BYTE_BITS = 8,
    VAULT_BYTE_MASK = 0xff,
    VAULT_NONCES_PER_REFILL = 32, /* nonces drawn from one keystream refill */
    VAULT_STREAM_KEY_BYTES = crypto_stream_chacha20_KEYBYTES,
    VAULT_STREAM_REFILL_BYTES =
        VAULT_STREAM_KEY_BYTES + VAULT_NONCES_PER_REFILL * VAULT_NONCE_BYTES,
};

_Static_assert(VAULT_OVERHEAD == VAULT_HEADER_BYTES + VAULT_NONCE_BYTES + VAULT_TAG_BYTES,
               "VAULT_OVERHEAD in vault.h must match the sealed layout");

static const char s_current_word[] = "current";
static const char s_keyfile_banner[] =
    "# vigil vault key file. One key per line: <key id 1..65535> <64 hex digits> [current].\n"
    "# Keep it secret (mode 0600) and back it up: losing it loses every record it protects.\n"
    "# To rotate, add a line with a new id, move \"current\" to it, and keep the old line.\n";

typedef struct {
    uint16_t id;
    int line; /* where it was defined, for duplicate messages */
    uint8_t key[VAULT_KEY_BYTES];
} vault_key_t;

/* The keys themselves, in one read-only sodium_malloc block. */
typedef struct {
    size_t count;
    size_t current; /* index into keys */
    vault_key_t keys[];
} vault_ring_t;

/* A vault is a handle on a ring, so vault_reload() can swap the ring while
 * links and services keep the same vault_t pointer. */
struct vault_t {
    vault_ring_t *ring;
};

/* The calling thread's nonce generator (see the top of the file). */
typedef struct {
    unsigned generation; /* s_fork_generation when seeded; 0 = never seeded */
    size_t next;         /* next unused byte of `pool` */
    uint8_t key[VAULT_STREAM_KEY_BYTES];
    uint8_t pool[VAULT_STREAM_REFILL_BYTES];
} nonce_stream_t;

static _Thread_local nonce_stream_t s_nonces;
static atomic_uint s_fork_generation = 1; /* moved on in a forked child */
static pthread_once_t s_atfork_once = PTHREAD_ONCE_INIT;

static void s_after_fork_in_child(void)
{
    atomic_fetch_add(&s_fork_generation, 1);
}

static void s_watch_forks(void)
{
    pthread_atfork(NULL, NULL, s_after_fork_in_child);
}

/* Writes the next VAULT_NONCE_BYTES of this thread's nonce stream to
 * `nonce`, seeding or reseeding the stream from randombytes_buf() first when
 * the thread has none yet or the process forked since. Cannot fail. */
static void s_next_nonce(uint8_t *nonce)
{
    static const uint8_t zero_iv[crypto_stream_chacha20_NONCEBYTES] = {0};
    nonce_stream_t *stream = &s_nonces;
    unsigned generation = atomic_load(&s_fork_generation);
    if (stream->generation != generation) {
        randombytes_buf(stream->key, sizeof stream->key);
        stream->generation = generation;
        stream->next = sizeof stream->pool; /* empty: refill below */
    }
    if (stream->next + VAULT_NONCE_BYTES > sizeof stream->pool) {
        /* Every refill runs under a fresh key, so a fixed IV never repeats
         * a (key, IV) pair; the first bytes become the next key. */
        crypto_stream_chacha20(stream->pool, sizeof stream->pool, zero_iv, stream->key);
        memcpy(stream->key, stream->pool, VAULT_STREAM_KEY_BYTES);
        sodium_memzero(stream->pool, VAULT_STREAM_KEY_BYTES);
        stream->next = VAULT_STREAM_KEY_BYTES;
    }
    memcpy(nonce, stream->pool + stream->next, VAULT_NONCE_BYTES);
    stream->next += VAULT_NONCE_BYTES;
}

static int s_sodium_ready(char *err, size_t errlen)
{
    pthread_once(&s_atfork_once, s_watch_forks);
    if (sodium_init() < 0) {
        return util_fail(err, errlen, "vault: libsodium failed to initialise");
    }
    return 0;
}

static const vault_key_t *s_find(const vault_ring_t *vault, unsigned id)
{
    for (size_t i = 0; i < vault->count; i++) {
        if (vault->keys[i].id == id) {
            return &vault->keys[i];
        }
    }
    return NULL;
}

/* Reads the whole file into guarded memory after checking its mode. On
 * success *text is a NUL-terminated sodium_malloc buffer the caller frees. */
static int s_read_keyfile(const char *path, char **text, char *err, size_t errlen)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; the check
     * below then refuses it. It changes nothing for a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return util_fail(err, errlen, "vault key file '%s': cannot open: %s", path,
                         strerror(errno));
    }
    struct stat info;
    int rc = -1;
    char *buffer = NULL;
    if (fstat(fd, &info) < 0) {
        util_fail(err, errlen, "vault key file '%s': cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(info.st_mode)) {
        util_fail(err, errlen, "vault key file '%s': not a regular file", path);
        goto done;
    }
    if (info.st_mode & VAULT_OTHERS_MASK) {
        util_fail(err, errlen,
                  "vault key file '%s' has mode %04o: group and others must have no access "
                  "(run: chmod 600 '%s')",
                  path, (unsigned)(info.st_mode & 07777), path);
        goto done;
    }
    if (info.st_size > VAULT_KEYFILE_MAX) {
        util_fail(err, errlen, "vault key file '%s': %lld bytes is too big for a key file", path,
                  (long long)info.st_size);
        goto done;
    }
    size_t size = (size_t)info.st_size;
    buffer = sodium_malloc(size + 1);
    if (buffer == NULL) {
        util_fail(err, errlen, "vault key file '%s': out of memory", path);
        goto done;
    }
    size_t done_bytes = 0;
    while (done_bytes < size) {
        ssize_t got = read(fd, buffer + done_bytes, size - done_bytes);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            util_fail(err, errlen, "vault key file '%s': read failed: %s", path,
                      got < 0 ? strerror(errno) : "file shrank while reading");
            goto done;
        }
        done_bytes += (size_t)got;
    }
    buffer[size] = '\0';
    *text = buffer;
    buffer = NULL;
    rc = 0;
done:
    if (buffer != NULL) {
        sodium_free(buffer);
    }
    close(fd);
    return rc;
}

/* Parses one non-comment line into `key`. Never quotes the key material
 * back in an error. Returns 0, or -1 with a message. */
static int s_parse_line(char *line, int line_number, const char *path, vault_key_t *key,
                        bool *is_current, char *err, size_t errlen)
{
    static const char separators[] = " \t\r";
    char *save = NULL;
    char *id_text = strtok_r(line, separators, &save);
    char *hex = strtok_r(NULL, separators, &save);
    char *flag = strtok_r(NULL, separators, &save);
    char *extra = strtok_r(NULL, separators, &save);
    const char *expected = "expected '<key id 1..65535> <64 hex digits> [current]'";
    if (id_text == NULL || hex == NULL) {
        return util_fail(err, errlen, "vault key file '%s' line %d: %s", path, line_number,
                         expected);
    }
    char *end = NULL;
    errno = 0;
    long id = strtol(id_text, &end, 10);
    if (*end != '\0' || errno != 0 || id < VAULT_KEY_ID_MIN || id > VAULT_KEY_ID_MAX ||
        id_text[0] == '+' || id_text[0] == '-') {
        return util_fail(err, errlen, "vault key file '%s' line %d: the key id must be 1..65535",
                         path, line_number);
    }
    size_t decoded = 0;
    if (strlen(hex) != VAULT_KEY_HEX ||
        sodium_hex2bin(key->key, sizeof(key->key), hex, VAULT_KEY_HEX, NULL, &decoded, NULL) != 0 ||
        decoded != VAULT_KEY_BYTES) {
        return util_fail(err, errlen,
                         "vault key file '%s' line %d: the key must be exactly %d hex digits", path,
                         line_number, VAULT_KEY_HEX);
    }
    if (sodium_is_zero(key->key, sizeof(key->key))) {
        return util_fail(err, errlen, "vault key file '%s' line %d: the key is all zeros", path,
                         line_number);
    }
    if ((flag != NULL && strcmp(flag, s_current_word) != 0) || extra != NULL) {
        return util_fail(err, errlen, "vault key file '%s' line %d: %s", path, line_number,
                         expected);
    }
    key->id = (uint16_t)id;
    key->line = line_number;
    *is_current = flag != NULL;
    return 0;
}

/* Parses the whole text into `vault`, which has room for `capacity` keys. */
static int s_parse_keyfile(char *text, const char *path, vault_ring_t *vault, size_t capacity,
                           char *err, size_t errlen)
{
    int line_number = 0;
    int current_line = 0;
    char *save = NULL;
    vault->count = 0;
    for (char *line = text; line != NULL; line = save) {
        line_number++;
        char *newline = strchr(line, '\n');
        save = newline != NULL ? newline + 1 : NULL;
        if (newline != NULL) {
            *newline = '\0';
        }
        const char *first = line + strspn(line, " \t\r");
        if (*first == '\0' || *first == '#') {
            continue;
        }
        if (vault->count == capacity) {
            return util_fail(err, errlen, "vault key file '%s' line %d: too many keys", path,
                             line_number);
        }
        vault_key_t *key = &vault->keys[vault->count];
        bool is_current = false;
        if (s_parse_line(line, line_number, path, key, &is_current, err, errlen) < 0) {
            return -1;
        }
        const vault_key_t *twin = s_find(vault, key->id);
        if (twin != NULL) {
            return util_fail(err, errlen,
                             "vault key file '%s' line %d: key id %u is already defined on line %d",
                             path, line_number, key->id, twin->line);
        }
        if (is_current) {
            if (current_line != 0) {
                return util_fail(err, errlen,
                                 "vault key file '%s' line %d: a second key is marked current "
                                 "(the first is on line %d)",
                                 path, line_number, current_line);
            }
            current_line = line_number;
            vault->current = vault->count;
        }
        vault->count++;
    }
    if (vault->count == 0) {
        return util_fail(err, errlen, "vault key file '%s': holds no keys", path);
    }
    if (current_line == 0) {
        return util_fail(err, errlen, "vault key file '%s': no key is marked current", path);
    }
    return 0;
}

static vault_ring_t *s_ring_open(const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    vault_ring_t *vault = NULL;
    if (s_sodium_ready(err, errlen) < 0 || s_read_keyfile(path, &text, err, errlen) < 0) {
        return NULL;
    }
    /* At most one key per line. */
    size_t capacity = 1;
    for (const char *p = text; *p != '\0'; p++) {
        capacity += *p == '\n';
    }
    vault = sodium_malloc(sizeof(*vault) + capacity * sizeof(vault->keys[0]));
    if (vault == NULL) {
        util_fail(err, errlen, "vault key file '%s': out of memory", path);
        goto fail;
    }
    if (s_parse_keyfile(text, path, vault, capacity, err, errlen) < 0) {
        goto fail;
    }
    sodium_free(text);
    sodium_mprotect_readonly(vault);
    return vault;
fail:
    sodium_free(text);
    sodium_free(vault);
    return NULL;
}

/* Writes all of `len` bytes. Returns 0 or -1 (errno set). */
static int s_write_all(int fd, const char *bytes, size_t len)
{
    while (len > 0) {
        ssize_t wrote = write(fd, bytes, len);
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            return -1;
        }
        bytes += wrote;
        len -= (size_t)wrote;
    }
    return 0;
}

/* Makes the new directory entry durable: a key lost to a crash loses data. */
static void s_sync_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int vault_create_keyfile(const char *path, char *err, size_t errlen)
{
    if (s_sodium_ready(err, errlen) < 0) {
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, VAULT_SECRET_MODE);
    if (fd < 0) {
        return util_fail(err, errlen, "vault key file '%s': cannot create: %s%s", path,
                         strerror(errno),
                         errno == EEXIST ? " (refusing to overwrite an existing key)" : "");
    }
    uint8_t key[VAULT_KEY_BYTES];
    char line[VAULT_KEY_HEX + 32];
    char hex[VAULT_KEY_HEX + 1];
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
    int line_len =
        snprintf(line, sizeof(line), "%d %s %s\n", VAULT_FIRST_KEY_ID, hex, s_current_word);
    int rc = 0;
    if (fchmod(fd, VAULT_SECRET_MODE) < 0 ||
        s_write_all(fd, s_keyfile_banner, sizeof(s_keyfile_banner) - 1) < 0 ||
        s_write_all(fd, line, (size_t)line_len) < 0 || fsync(fd) < 0) {
        rc = util_fail(err, errlen, "vault key file '%s': cannot write: %s", path, strerror(errno));
    }
    sodium_memzero(key, sizeof(key));
    sodium_memzero(hex, sizeof(hex));
    sodium_memzero(line, sizeof(line));
    close(fd);
    if (rc < 0) {
        unlink(path);
        return -1;
    }
    s_sync_parent(path);
    return 0;
}

vault_t *vault_open(const char *path, char *err, size_t errlen)
{
    vault_t *vault = calloc(1, sizeof *vault);
    if (vault == NULL) {
        util_fail(err, errlen, "vault key file '%s': out of memory", path);
        return NULL;
    }
    vault->ring = s_ring_open(path, err, errlen);
    if (vault->ring == NULL) {
        free(vault);
        return NULL;
    }
    return vault;
}

int vault_reload(vault_t *vault, const char *path, char *err, size_t errlen)
{
    vault_ring_t *fresh = s_ring_open(path, err, errlen);
    if (fresh == NULL) {
        return -1;
    }
    /* Every key the old ring could open must still be there, or data
     * sealed under a dropped key would become unreadable silently. */
    for (size_t i = 0; i < vault->ring->count; i++) {
        if (s_find(fresh, vault->ring->keys[i].id) == NULL) {
            util_fail(err, errlen,
                      "vault key file '%s': key id %u was dropped; keep old keys "
                      "until every blob is re-encrypted (vigilctl rotate-key)",
                      path, (unsigned)vault->ring->keys[i].id);
            sodium_free(fresh);
            return -1;
        }
    }
    sodium_free(vault->ring); /* wipes before unmapping */
    vault->ring = fresh;
    return 0;
}

void vault_destroy(vault_t **vault_p)
{
    if (vault_p == NULL || *vault_p == NULL) {
        return;
    }
    sodium_free((*vault_p)->ring); /* wipes before unmapping */
    free(*vault_p);
    *vault_p = NULL;
}

uint16_t vault_current_key_id(const vault_t *vault)
{
    return vault->ring->keys[vault->ring->current].id;
}

size_t vault_seal(const vault_t *vault, const uint8_t *plain, size_t len, const uint8_t *aad,
                  size_t aad_len, uint8_t *out)
{
    const vault_key_t *key = &vault->ring->keys[vault->ring->current];
    uint8_t *nonce = out + VAULT_HEADER_BYTES;
    unsigned long long sealed_len = 0;
    out[0] = VAULT_FORMAT_VERSION;
    out[1] = (uint8_t)(key->id >> VAULT_BYTE_BITS);
    out[2] = (uint8_t)(key->id & VAULT_BYTE_MASK);
    s_next_nonce(nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + VAULT_NONCE_BYTES, &sealed_len, plain, len,
                                               aad, aad_len, NULL, nonce, key->key);
    return VAULT_HEADER_BYTES + VAULT_NONCE_BYTES + (size_t)sealed_len;
}

int vault_blob_key_id(const uint8_t *sealed, size_t len)
{
    if (sealed == NULL || len < VAULT_OVERHEAD || sealed[0] != VAULT_FORMAT_VERSION) {
        return -1;
    }
    return (sealed[1] << VAULT_BYTE_BITS) | sealed[2];
}

long vault_open_blob(const vault_t *vault, const uint8_t *sealed, size_t len, const uint8_t *aad,
                     size_t aad_len, uint8_t *out)
{
    int id = vault_blob_key_id(sealed, len);
    const vault_key_t *key = id < 0 ? NULL : s_find(vault->ring, (unsigned)id);
    if (key == NULL) {
        return -1;
    }
    const uint8_t *nonce = sealed + VAULT_HEADER_BYTES;
    unsigned long long plain_len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plain_len, NULL, nonce + VAULT_NONCE_BYTES,
                                                   len - VAULT_HEADER_BYTES - VAULT_NONCE_BYTES,
                                                   aad, aad_len, nonce, key->key) != 0) {
        return -1;
    }
    return (long)plain_len;
}
