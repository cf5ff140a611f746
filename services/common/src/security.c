/* security.c: CURVE keys, the ZAP allowlist and peer names.
 *
 * One czmq zauth actor per process answers ZAP requests for every CURVE
 * server socket, admitting exactly the public keys found in one allowlist
 * directory (zauth re-reads the directory whenever it changes, so a cert
 * file dropped in is admitted on the next handshake). Server sockets also
 * get ZMQ_ZAP_ENFORCE_DOMAIN: without it libzmq admits any CURVE client
 * when no ZAP handler is reachable.
 *
 * zauth (czmq 4.2.1) puts the client's 40-character Z85 public key in each
 * message's "User-Id" property; it also passes the cert's metadata on as ZAP
 * metadata (so zframe_meta(frame, "name") works), but that string lives only
 * as long as the frame and has no file-name fallback. security_peer_name()
 * therefore maps User-Id to the cert's metadata "name" (or the file name
 * without extension) through a table this file builds from the same
 * directory and rebuilds when the directory changes, so a revoked key stops
 * naming anyone within a second. (Checked against libzmq 4.3.4: without
 * ZMQ_ZAP_ENFORCE_DOMAIN and with no ZAP handler bound, a CURVE server
 * admits every client; with it, none.)
 *
 * This file must never load a secret key that other users can read, never
 * run a TCP server without CURVE unless the config says insecure, and never
 * print a secret key.
 */
#include "vigil/security.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vigil/log.h"
#include "vigil/util.h"

enum {
    SECURITY_KEY_TEXT_LEN = 40,         /* a Z85 CURVE key */
    SECURITY_KEY_BYTES = 32,            /* a binary CURVE key */
    SECURITY_NAME_MAX = 64,             /* longest peer name accepted from a cert */
    SECURITY_RESCAN_INTERVAL_MS = 1000, /* how often a hit re-checks the allowlist dir */
    SECURITY_SECRET_MODE = 0600,        /* mode of a secret file written by keygen */
    SECURITY_KEY_DIR_MODE = 0700,       /* mode of key directories keygen creates */
    SECURITY_TOO_OPEN_BITS = 077,       /* any group/other bit on a secret file refuses it */
    SECURITY_NS_PER_MS = 1000000,
};

static const char s_secret_suffix[] = "_secret";
static const char s_name_meta[] = "name";
static const char s_user_id_property[] = "User-Id";
static const char s_local_peer[] = "local";

/* Endpoint prefixes that never leave the machine: no CURVE there. */
static const char *const s_local_transports[] = {"ipc://", "inproc://", NULL};

/* The process-wide ZAP handler: zauth binds one fixed inproc endpoint, so
 * there can be only one, serving one allowlist directory. */
static struct {
    pthread_mutex_t lock;
    zactor_t *actor;
    char *allow_dir; /* realpath of the directory it serves */
    int users;
} s_zap = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* What the allowlist directory looked like at the last scan. */
typedef struct {
    time_t modified;
    size_t count;
    off_t size;
    bool valid;
} s_dir_stamp_t;

struct security_t {
    bool insecure;
    zcert_t *cert;   /* this service's keypair, or NULL */
    char *allow_dir; /* realpath, or NULL when this object admits nobody */
    bool holds_zap;  /* this object counted itself in s_zap.users */
    pthread_mutex_t lock;
    zhashx_t *peers; /* Z85 public key -> interned name (borrowed from `names`) */
    zhashx_t *names; /* name -> name: every name ever seen, freed at destroy */
    s_dir_stamp_t stamp;
    uint64_t checked_ns; /* monotonic time of the last directory check */
    uint64_t generation; /* counts the rebuilds of `peers` */
};

static bool s_ends_with(const char *text, const char *suffix)
{
    size_t text_len = strlen(text);
    size_t suffix_len = strlen(suffix);
    return text_len >= suffix_len && strcmp(text + text_len - suffix_len, suffix) == 0;
}

/* True if every endpoint in a zsock-style list ("@tcp://a,>ipc://b") is
 * local to the machine. */
static bool s_is_local_endpoint(const char *endpoints)
{
    const char *cursor = endpoints;
    while (cursor && *cursor) {
        while (*cursor == '@' || *cursor == '>' || *cursor == ' ')
            cursor++;
        bool local = false;
        for (const char *const *prefix = s_local_transports; *prefix; prefix++)
            if (strncmp(cursor, *prefix, strlen(*prefix)) == 0)
                local = true;
        if (!local)
            return false;
        cursor = strchr(cursor, ',');
        if (cursor)
            cursor++;
    }
    return true;
}

static bool s_valid_peer_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > SECURITY_NAME_MAX)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

/* "dir/hotline.key" -> "hotline". Writes into `out`. */
static void s_file_stem(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, outlen, "%s", base);
    char *dot = strchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

static bool s_stamp_equal(const s_dir_stamp_t *a, const s_dir_stamp_t *b)
{
    return a->valid && b->valid && a->modified == b->modified && a->count == b->count &&
           a->size == b->size;
}

static s_dir_stamp_t s_dir_stamp(const char *dir_path)
{
    s_dir_stamp_t stamp = {0};
    zdir_t *dir = zdir_new(dir_path, NULL);
    if (!dir)
        return stamp;
    stamp.modified = zdir_modified(dir);
    stamp.count = zdir_count(dir);
    stamp.size = zdir_cursize(dir);
    stamp.valid = true;
    struct stat st;
    /* A removed file changes the directory's own mtime, not its files'. */
    if (stat(dir_path, &st) == 0 && st.st_mtime > stamp.modified)
        stamp.modified = st.st_mtime;
    zdir_destroy(&dir);
    return stamp;
}

static const char *s_intern(security_t *self, const char *name)
{
    const char *known = zhashx_lookup(self->names, name);
    if (known)
        return known;
    if (zhashx_insert(self->names, name, (void *)name) != 0)
        return NULL;
    return zhashx_lookup(self->names, name);
}

/* Rebuilds the key -> name table from the allowlist directory, the way
 * zauth reads it (every regular file, recursively). Call with self->lock
 * held. */
static void s_scan_allowlist(security_t *self)
{
    zhashx_purge(self->peers);
    self->generation++;
    self->stamp = s_dir_stamp(self->allow_dir);
    zdir_t *dir = zdir_new(self->allow_dir, NULL);
    if (!dir)
        return;
    zfile_t **files = zdir_flatten(dir);
    for (size_t i = 0; files && files[i]; i++) {
        const char *path = zfile_filename(files[i], NULL);
        if (!zfile_is_regular(files[i]))
            continue;
        zcert_t *cert = zcert_load(path);
        if (!cert) {
            log_warn("allowlist file is not a zcert certificate; ignored", "file=%s", path);
            continue;
        }
        char stem[PATH_MAX];
        const char *name = zcert_meta(cert, s_name_meta);
        if (!name || !*name) {
            s_file_stem(path, stem, sizeof stem);
            name = stem;
        }
        if (!s_valid_peer_name(name)) {
            log_warn("allowlist cert names its holder with characters outside [A-Za-z0-9._-] "
                     "or too long; its messages will be refused",
                     "file=%s", path);
        } else if (zhashx_lookup(self->peers, zcert_public_txt(cert))) {
            log_warn("allowlist holds the same public key twice; the first name wins", "file=%s",
                     path);
        } else {
            const char *interned = s_intern(self, name);
            if (interned)
                zhashx_insert(self->peers, zcert_public_txt(cert), (void *)interned);
        }
        zcert_destroy(&cert);
    }
    zdir_flatten_free(&files);
    zdir_destroy(&dir);
    self->checked_ns = util_mono_ns();
}

/* Re-scans if the directory changed; with `force_check`, checks now rather
 * than at most once per interval. Call with self->lock held. */
static void s_refresh_allowlist(security_t *self, bool force_check)
{
    uint64_t now = util_mono_ns();
    if (!force_check &&
        now - self->checked_ns < (uint64_t)SECURITY_RESCAN_INTERVAL_MS * SECURITY_NS_PER_MS)
        return;
    self->checked_ns = now;
    s_dir_stamp_t stamp = s_dir_stamp(self->allow_dir);
    if (!s_stamp_equal(&stamp, &self->stamp))
        s_scan_allowlist(self);
}

/* Starts (or joins) the process-wide zauth actor for `allow_dir`. */
static int s_zap_acquire(const char *allow_dir, char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&s_zap.lock);
    if (s_zap.actor) {
        if (strcmp(s_zap.allow_dir, allow_dir) != 0) {
            util_fail(err, errlen,
                      "allowlist %s: this process already admits clients from %s; one process "
                      "serves one allowlist",
                      allow_dir, s_zap.allow_dir);
            rc = -1;
        } else {
            s_zap.users++;
        }
        pthread_mutex_unlock(&s_zap.lock);
        return rc;
    }
    s_zap.allow_dir = strdup(allow_dir);
    s_zap.actor = s_zap.allow_dir ? zactor_new(zauth, NULL) : NULL;
    if (!s_zap.actor) {
        util_fail(err, errlen, "cannot start the ZAP handler (zauth) for %s", allow_dir);
        free(s_zap.allow_dir);
        s_zap.allow_dir = NULL;
        rc = -1;
    } else {
        zstr_sendx(s_zap.actor, "CURVE", allow_dir, NULL);
        zsock_wait(s_zap.actor);
        s_zap.users = 1;
    }
    pthread_mutex_unlock(&s_zap.lock);
    return rc;
}

static void s_zap_release(void)
{
    pthread_mutex_lock(&s_zap.lock);
    if (s_zap.users > 0 && --s_zap.users == 0) {
        zactor_destroy(&s_zap.actor);
        free(s_zap.allow_dir);
        s_zap.allow_dir = NULL;
    }
    pthread_mutex_unlock(&s_zap.lock);
}

/* The file that holds the secret key for `cert_path`: the path itself if
 * it ends in "_secret", else path + "_secret". Caller frees. */
static char *s_secret_file(const char *cert_path)
{
    if (s_ends_with(cert_path, s_secret_suffix))
        return strdup(cert_path);
    size_t len = strlen(cert_path) + sizeof s_secret_suffix;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s%s", cert_path, s_secret_suffix);
    return path;
}

static zcert_t *s_load_secret_cert(const char *cert_path, char *err, size_t errlen)
{
    char *secret_path = s_secret_file(cert_path);
    if (!secret_path) {
        util_fail(err, errlen, "out of memory");
        return NULL;
    }
    zcert_t *cert = NULL;
    struct stat st;
    if (stat(secret_path, &st) != 0) {
        util_fail(err, errlen, "secret key file %s: %s (create it with `vigilctl keygen`)",
                  secret_path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        util_fail(err, errlen, "secret key file %s: not a regular file", secret_path);
    } else if (st.st_mode & SECURITY_TOO_OPEN_BITS) {
        util_fail(err, errlen,
                  "secret key file %s: mode %04o lets group or others read it; run `chmod 600 %s`",
                  secret_path, (unsigned)(st.st_mode & 07777), secret_path);
    } else if (access(secret_path, R_OK) != 0) {
        util_fail(err, errlen, "secret key file %s: %s", secret_path, strerror(errno));
    } else {
        cert = zcert_load(secret_path);
        if (!cert) {
            util_fail(err, errlen, "secret key file %s: not a zcert certificate", secret_path);
        } else {
            static const byte zero[SECURITY_KEY_BYTES] = {0};
            if (memcmp(zcert_secret_key(cert), zero, sizeof zero) == 0) {
                util_fail(err, errlen, "secret key file %s: holds no secret key (a public cert?)",
                          secret_path);
                zcert_destroy(&cert);
            }
        }
    }
    free(secret_path);
    return cert;
}

security_t *security_new(const security_config_t *config, char *err, size_t errlen)
{
    if (!config) {
        util_fail(err, errlen, "no security configuration");
        return NULL;
    }
    security_t *self = calloc(1, sizeof *self);
    if (!self) {
        util_fail(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->insecure = config->insecure;
    if (self->insecure) {
        log_warn("SECURITY DISABLED: security.insecure = true. TCP endpoints run WITHOUT CURVE "
                 "encryption or client allowlist; anyone who can reach a port can send and read "
                 "messages. Never run like this with real victim data.",
                 "insecure=%s", "true");
        return self;
    }
    if (!config->cert_path || !*config->cert_path) {
        util_fail(err, errlen, "security.cert is not set: a secret zcert file is required");
        goto fail;
    }
    self->cert = s_load_secret_cert(config->cert_path, err, errlen);
    if (!self->cert)
        goto fail;
    if (config->allow_dir && *config->allow_dir) {
        char resolved[PATH_MAX];
        struct stat st;
        if (!realpath(config->allow_dir, resolved) || stat(resolved, &st) != 0) {
            util_fail(err, errlen, "allowlist directory %s: %s", config->allow_dir,
                      strerror(errno));
            goto fail;
        }
        if (!S_ISDIR(st.st_mode)) {
            util_fail(err, errlen, "allowlist directory %s: not a directory", config->allow_dir);
            goto fail;
        }
        self->allow_dir = strdup(resolved);
        self->peers = zhashx_new();
        self->names = zhashx_new();
        if (!self->allow_dir || !self->peers || !self->names) {
            util_fail(err, errlen, "out of memory");
            goto fail;
        }
        zhashx_set_duplicator(self->names, (zhashx_duplicator_fn *)strdup);
        zhashx_set_destructor(self->names, (zhashx_destructor_fn *)zstr_free);
        if (s_zap_acquire(self->allow_dir, err, errlen) != 0)
            goto fail;
        self->holds_zap = true;
        pthread_mutex_lock(&self->lock);
        s_scan_allowlist(self);
        size_t admitted = zhashx_size(self->peers);
        pthread_mutex_unlock(&self->lock);
        if (admitted == 0)
            log_warn("the client allowlist is empty: CURVE endpoints will admit nobody",
                     "allow_dir=%s", self->allow_dir);
        else
            log_info("CURVE allowlist loaded", "allow_dir=%s clients=%zu", self->allow_dir,
                     admitted);
    }
    return self;
fail:
    security_destroy(&self);
    return NULL;
}

void security_destroy(security_t **security_p)
{
    if (!security_p || !*security_p)
        return;
    security_t *self = *security_p;
    if (self->holds_zap)
        s_zap_release();
    zhashx_destroy(&self->peers);
    zhashx_destroy(&self->names);
    zcert_destroy(&self->cert);
    free(self->allow_dir);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *security_p = NULL;
}

bool security_insecure(const security_t *security)
{
    return security && security->insecure;
}

/* Reads back an int socket option; -1 if it cannot be read. */
static int s_get_int_option(zsock_t *socket, int option)
{
    int value = -1;
    size_t len = sizeof value;
    if (zmq_getsockopt(zsock_resolve(socket), option, &value, &len) != 0)
        return -1;
    return value;
}

int security_apply_server(security_t *security, zsock_t *socket, const char *endpoint, char *err,
                          size_t errlen)
{
    if (!socket || !endpoint) {
        util_fail(err, errlen, "no socket or endpoint");
        return -1;
    }
    if (s_is_local_endpoint(endpoint))
        return 0;
    if (!security) {
        util_fail(err, errlen, "%s: a TCP endpoint needs CURVE keys and none are loaded", endpoint);
        return -1;
    }
    if (security->insecure) {
        log_warn("endpoint runs WITHOUT CURVE (security.insecure = true)", "endpoint=%s", endpoint);
        return 0;
    }
    if (!security->cert || !security->allow_dir) {
        util_fail(err, errlen,
                  "%s: a CURVE server needs this service's secret cert and an allowlist "
                  "directory (security.allow_dir)",
                  endpoint);
        return -1;
    }
    int enforce = 1;
    zcert_apply(security->cert, socket);
    zsock_set_curve_server(socket, 1);
    zsock_set_zap_domain(socket, SECURITY_ZAP_DOMAIN);
    if (zmq_setsockopt(zsock_resolve(socket), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce, sizeof enforce) !=
            0 ||
        s_get_int_option(socket, ZMQ_ZAP_ENFORCE_DOMAIN) != 1) {
        util_fail(err, errlen,
                  "%s: this libzmq does not accept ZMQ_ZAP_ENFORCE_DOMAIN; refusing to run a "
                  "CURVE server that would admit clients when the ZAP handler is missing",
                  endpoint);
        return -1;
    }
    if (s_get_int_option(socket, ZMQ_CURVE_SERVER) != 1) {
        util_fail(err, errlen, "%s: CURVE server mode did not take effect", endpoint);
        return -1;
    }
    return 0;
}

/* Resolves `server_key` (a public cert file or a Z85 key) into `out`. */
static int s_server_key_text(const char *server_key, char out[SECURITY_KEY_TEXT_LEN + 1], char *err,
                             size_t errlen)
{
    if (!server_key || !*server_key) {
        util_fail(err, errlen, "no server key given (a public cert file or a Z85 key)");
        return -1;
    }
    struct stat st;
    if (stat(server_key, &st) == 0) {
        /* zcert_load() would wait forever opening a FIFO */
        if (!S_ISREG(st.st_mode)) {
            util_fail(err, errlen, "server key file %s: not a regular file", server_key);
            return -1;
        }
        zcert_t *cert = zcert_load(server_key);
        if (!cert) {
            util_fail(err, errlen, "server key file %s: not a zcert certificate", server_key);
            return -1;
        }
        snprintf(out, SECURITY_KEY_TEXT_LEN + 1, "%s", zcert_public_txt(cert));
        zcert_destroy(&cert);
        return 0;
    }
    uint8_t decoded[SECURITY_KEY_BYTES];
    if (strlen(server_key) == SECURITY_KEY_TEXT_LEN && zmq_z85_decode(decoded, server_key)) {
        snprintf(out, SECURITY_KEY_TEXT_LEN + 1, "%s", server_key);
        return 0;
    }
    util_fail(err, errlen, "server key %s: no such file, and not a 40-character Z85 key",
              server_key);
    return -1;
}

int security_apply_client(security_t *security, zsock_t *socket, const char *endpoint,
                          const char *server_key, char *err, size_t errlen)
{
    if (!socket || !endpoint) {
        util_fail(err, errlen, "no socket or endpoint");
        return -1;
    }
    if (s_is_local_endpoint(endpoint))
        return 0;
    if (!security) {
        util_fail(err, errlen, "%s: a TCP endpoint needs CURVE keys and none are loaded", endpoint);
        return -1;
    }
    if (security->insecure)
        return 0;
    if (!security->cert) {
        util_fail(err, errlen, "%s: a CURVE client needs this service's secret cert", endpoint);
        return -1;
    }
    char key[SECURITY_KEY_TEXT_LEN + 1];
    if (s_server_key_text(server_key, key, err, errlen) != 0)
        return -1;
    zcert_apply(security->cert, socket);
    zsock_set_curve_serverkey(socket, key);
    return 0;
}

const char *security_peer_name(security_t *security, zframe_t *frame)
{
    if (!frame)
        return NULL;
    const char *user_id = zframe_meta(frame, s_user_id_property);
    if (!user_id || !*user_id)
        return s_local_peer;
    if (!security || !security->peers)
        return NULL;
    pthread_mutex_lock(&security->lock);
    s_refresh_allowlist(security, false);
    const char *name = zhashx_lookup(security->peers, user_id);
    if (!name) {
        /* A key zauth admitted but we do not know: the directory changed
         * within the last interval. */
        s_refresh_allowlist(security, true);
        name = zhashx_lookup(security->peers, user_id);
    }
    pthread_mutex_unlock(&security->lock);
    return name;
}

uint64_t security_allowlist_generation(security_t *security)
{
    if (!security || !security->peers)
        return 0;
    pthread_mutex_lock(&security->lock);
    s_refresh_allowlist(security, false);
    uint64_t generation = security->generation;
    pthread_mutex_unlock(&security->lock);
    return generation;
}

int security_reload(security_t *security, char *err, size_t errlen)
{
    if (!security) {
        util_fail(err, errlen, "no security object");
        return -1;
    }
    if (security->insecure || !security->allow_dir)
        return 0;
    struct stat st;
    if (stat(security->allow_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        util_fail(err, errlen, "allowlist directory %s: %s", security->allow_dir,
                  strerror(errno ? errno : ENOTDIR));
        return -1;
    }
    pthread_mutex_lock(&s_zap.lock);
    if (s_zap.actor) {
        /* A new CURVE command makes zauth build a fresh certstore. */
        zstr_sendx(s_zap.actor, "CURVE", s_zap.allow_dir, NULL);
        zsock_wait(s_zap.actor);
    }
    pthread_mutex_unlock(&s_zap.lock);
    pthread_mutex_lock(&security->lock);
    s_scan_allowlist(security);
    size_t admitted = zhashx_size(security->peers);
    pthread_mutex_unlock(&security->lock);
    log_info("CURVE allowlist reloaded", "allow_dir=%s clients=%zu", security->allow_dir, admitted);
    return 0;
}

/* Creates the secret file empty with mode 0600 (and forces that mode if
 * it existed), so the secret is never on disk under a wider mode. */
static int s_prepare_secret_file(const char *path, char *err, size_t errlen)
{
    int fd =
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, SECURITY_SECRET_MODE);
    if (fd < 0) {
        util_fail(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = fchmod(fd, SECURITY_SECRET_MODE);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        util_fail(err, errlen, "%s: chmod: %s", path, strerror(saved));
        return -1;
    }
    return 0;
}

/* mkdir -p for the directory that holds `path`, mode 0700 for new parts. */
static int s_make_parent_dirs(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        util_fail(err, errlen, "%s: path too long", path);
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, SECURITY_KEY_DIR_MODE) != 0 && errno != EEXIST) {
            util_fail(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(dir, SECURITY_KEY_DIR_MODE) != 0 && errno != EEXIST) {
        util_fail(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int security_keygen(const char *path, const char *name, char *err, size_t errlen)
{
    if (!path || !*path) {
        util_fail(err, errlen, "no key path given");
        return -1;
    }
    if (s_ends_with(path, s_secret_suffix)) {
        util_fail(err, errlen,
                  "%s: give the public path; the secret half is written to PATH%s beside it", path,
                  s_secret_suffix);
        return -1;
    }
    if (name && *name && !s_valid_peer_name(name)) {
        util_fail(err, errlen, "name '%s': use 1 to %d characters from [A-Za-z0-9._-]", name,
                  SECURITY_NAME_MAX);
        return -1;
    }
    char *secret_path = s_secret_file(path);
    if (!secret_path) {
        util_fail(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    zcert_t *cert = NULL;
    struct stat st;
    if (stat(path, &st) == 0 || stat(secret_path, &st) == 0) {
        util_fail(err, errlen,
                  "%s or %s already exists; refusing to overwrite a key (move it away first)", path,
                  secret_path);
        goto done;
    }
    if (s_make_parent_dirs(path, err, errlen) != 0)
        goto done;
    cert = zcert_new();
    if (!cert) {
        util_fail(err, errlen, "cannot generate a CURVE keypair");
        goto done;
    }
    if (name && *name)
        zcert_set_meta(cert, s_name_meta, "%s", name);
    if (s_prepare_secret_file(secret_path, err, errlen) != 0)
        goto done;
    if (zcert_save_secret(cert, secret_path) != 0) {
        util_fail(err, errlen, "%s: cannot write the secret cert", secret_path);
        unlink(secret_path);
        goto done;
    }
    if (zcert_save_public(cert, path) != 0) {
        util_fail(err, errlen, "%s: cannot write the public cert", path);
        unlink(secret_path);
        goto done;
    }
    rc = 0;
done:
    zcert_destroy(&cert);
    free(secret_path);
    return rc;
}
