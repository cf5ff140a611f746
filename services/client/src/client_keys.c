/* client_keys.c: reads CURVE keys from zcert files for libvigil-client.
 *
 * A zcert file is ZPL text (ZeroMQ RFC 4): top-level sections such as
 * "metadata" and "curve", with indented `name = "value"` lines below them.
 * We need only curve/public-key and curve/secret-key, so a small reader
 * here replaces czmq's zconfig (which may write to stderr). Secret files
 * must not be readable by group or others. No key text ever goes into an
 * error message.
 */
#include "client_keys.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

enum {
    KEYS_FILE_MAX = 65536, /* a zcert file is a few hundred bytes; refuse anything huge */
    KEYS_PATH_MAX = 4096,
    KEYS_LINE_MAX = 1024,
    KEYS_RAW_LEN = 32, /* bytes in a CURVE key */
    KEYS_GROUP_OTHER_BITS = 077,
};

static const char s_secret_suffix[] = "_secret";
static const char s_curve_section[] = "curve";

static bool s_ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

/* True if `text` is a 40-character Z85 encoding of a 32-byte key. */
static bool s_z85_key(const char *text)
{
    uint8_t raw[KEYS_RAW_LEN];
    if (strlen(text) != CLIENT_KEY_Z85_LEN) {
        return false;
    }
    bool ok = zmq_z85_decode(raw, text) != NULL;
    sodium_memzero(raw, sizeof raw);
    return ok;
}

/* Reads the whole file into a new NUL-terminated buffer. Returns NULL with
 * a message. */
static char *s_read_file(const char *path, const char *what, char *err, size_t errlen)
{
    /* fopen() would wait forever on a FIFO; a folder fails only at fread() */
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s: not a regular file", what, path);
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *text = malloc(KEYS_FILE_MAX + 1);
    if (text == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s %s: out of memory", what, path);
        return NULL;
    }
    size_t n = fread(text, 1, KEYS_FILE_MAX + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || n > KEYS_FILE_MAX) {
        free(text);
        snprintf(err, errlen, "%s %s: %s", what, path,
                 failed ? "read error" : "too large to be a zcert file");
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/* Finds `name` in the "curve" section of ZPL `text` and copies its value
 * (quoted or bare) into `out`. Returns true if found and it fits. */
static bool s_zpl_curve_value(const char *text, const char *name, char *out, size_t outlen)
{
    bool in_curve = false;
    const char *line = text;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[KEYS_LINE_MAX];
        if (len < sizeof buf) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            char *p = buf;
            bool indented = *p == ' ' || *p == '\t';
            while (*p == ' ' || *p == '\t') {
                p++;
            }
            if (*p != '\0' && *p != '#') {
                if (!indented) {
                    size_t word = strcspn(p, " \t#=\r");
                    in_curve =
                        word == strlen(s_curve_section) && strncmp(p, s_curve_section, word) == 0;
                } else if (in_curve && strncmp(p, name, strlen(name)) == 0) {
                    p += strlen(name);
                    while (*p == ' ' || *p == '\t') {
                        p++;
                    }
                    if (*p == '=') {
                        p++;
                        while (*p == ' ' || *p == '\t') {
                            p++;
                        }
                        size_t vlen;
                        if (*p == '"' || *p == '\'') {
                            char quote = *p++;
                            char *close = strchr(p, quote);
                            vlen = close ? (size_t)(close - p) : 0;
                        } else {
                            vlen = strcspn(p, " \t#\r");
                        }
                        bool fits = vlen > 0 && vlen < outlen;
                        if (fits) {
                            memcpy(out, p, vlen);
                            out[vlen] = '\0';
                        }
                        sodium_memzero(buf, sizeof buf);
                        return fits;
                    }
                }
            }
            sodium_memzero(buf, sizeof buf);
        }
        line = end ? end + 1 : line + len;
    }
    return false;
}

static int s_load_secret(const char *client_cert, client_keys_t *keys, char *err, size_t errlen)
{
    char path[KEYS_PATH_MAX];
    /* "x.key" names the pair; its secret half is "x.key_secret". */
    if (s_ends_with(client_cert, s_secret_suffix) ||
        snprintf(path, sizeof path, "%s%s", client_cert, s_secret_suffix) >= (int)sizeof path ||
        access(path, F_OK) != 0) {
        snprintf(path, sizeof path, "%s", client_cert);
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "client secret key file %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "client secret key file %s: not a regular file", path);
        return -1;
    }
    if (st.st_mode & KEYS_GROUP_OTHER_BITS) {
        snprintf(err, errlen,
                 "client secret key file %s: readable by group or others (run chmod 600)", path);
        return -1;
    }
    char *text = s_read_file(path, "client secret key file", err, errlen);
    if (text == NULL) {
        return -1;
    }
    bool have_public =
        s_zpl_curve_value(text, "public-key", keys->public_key, sizeof keys->public_key);
    bool have_secret =
        s_zpl_curve_value(text, "secret-key", keys->secret_key, sizeof keys->secret_key);
    sodium_memzero(text, strlen(text));
    free(text);
    if (!have_secret) {
        snprintf(err, errlen,
                 "client secret key file %s: no curve secret-key (is it the public half?)", path);
        return -1;
    }
    if (!have_public || !s_z85_key(keys->public_key) || !s_z85_key(keys->secret_key)) {
        snprintf(err, errlen, "client secret key file %s: malformed curve keys", path);
        return -1;
    }
    return 0;
}

static int s_load_server(const char *server_key, client_keys_t *keys, char *err, size_t errlen)
{
    if (access(server_key, F_OK) != 0 && s_z85_key(server_key)) {
        memcpy(keys->server_key, server_key, CLIENT_KEY_Z85_LEN + 1);
        return 0;
    }
    char *text = s_read_file(server_key, "server public key file", err, errlen);
    if (text == NULL) {
        return -1;
    }
    bool found = s_zpl_curve_value(text, "public-key", keys->server_key, sizeof keys->server_key);
    free(text);
    if (!found || !s_z85_key(keys->server_key)) {
        snprintf(err, errlen, "server public key file %s: no valid curve public-key", server_key);
        return -1;
    }
    return 0;
}

int client_keys_load(const char *client_cert, const char *server_key, client_keys_t *keys,
                     char *err, size_t errlen)
{
    memset(keys, 0, sizeof *keys);
    if (client_cert == NULL || client_cert[0] == '\0') {
        snprintf(err, errlen, "no client secret key file given (client_cert)");
        return -1;
    }
    if (server_key == NULL || server_key[0] == '\0') {
        snprintf(err, errlen, "no server public key given (server_key)");
        return -1;
    }
    if (s_load_secret(client_cert, keys, err, errlen) < 0 ||
        s_load_server(server_key, keys, err, errlen) < 0) {
        client_keys_wipe(keys);
        return -1;
    }
    return 0;
}

void client_keys_wipe(client_keys_t *keys)
{
    sodium_memzero(keys, sizeof *keys);
}
