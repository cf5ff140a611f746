/* lifecycle_kit.c: files, keys, configs, child processes, HTTP, sqlite and
 * a link client for the lifecycle integration tests (see lifecycle_kit.h).
 *
 * Children are started with fork/exec, remembered by pid, and only ever
 * signalled through that list; the ones still running when the test exits
 * are SIGKILLed by an atexit handler, and each child also dies with the
 * test process (PR_SET_PDEATHSIG), so a failed or timed-out test leaves
 * nothing behind.
 */
#include "lifecycle_kit.h"
#include "link_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <sqlite3.h>

#include "vigil/security.h"
#include "vigil/util.h"

#define KIT_DIR_MODE       0700
#define KIT_FILE_MODE      0600
#define KIT_POLL_MS        10
#define KIT_MAX_CHILDREN   64
#define KIT_MAX_ARGS       16
#define KIT_FTW_FDS        16
#define KIT_ERR_LEN        512
#define KIT_HTTP_TIMEOUT_S 3
#define KIT_HTTP_MAX       (256 * 1024)
#define KIT_SQL_BUSY_MS    5000
#define KIT_LINK_SEND_MS   3000
#define KIT_FRAME_MAX      4096
#define KIT_ACK_TIMEOUT_MS 300 /* peers retransmit quickly in tests */
#define KIT_BACKOFF_MAX_MS 1000
#define KIT_EXIT_EXEC_FAIL 127
#define KIT_NS_PER_MS      1000000L
#define KIT_MS_PER_S       1000

typedef struct {
    pid_t pid;
    bool reaped;
    int code; /* exit code, or -1 if a signal ended it */
} kit_child_t;

static kit_child_t s_children[KIT_MAX_CHILDREN];
static size_t s_child_count;
static char s_tempdir[KIT_PATH_MAX];
static bool s_atexit_set;

/* --- children ------------------------------------------------------------- */

static kit_child_t *s_child(pid_t pid)
{
    for (size_t i = 0; i < s_child_count; i++)
        if (s_children[i].pid == pid)
            return &s_children[i];
    return NULL;
}

static void s_reap(kit_child_t *child, int status)
{
    child->reaped = true;
    child->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void s_kill_leftovers(void)
{
    for (size_t i = 0; i < s_child_count; i++) {
        if (s_children[i].reaped)
            continue;
        kill(s_children[i].pid, SIGKILL);
        int status;
        if (waitpid(s_children[i].pid, &status, 0) == s_children[i].pid)
            s_reap(&s_children[i], status);
    }
}

static void s_remember(pid_t pid)
{
    if (!s_atexit_set) {
        atexit(s_kill_leftovers);
        s_atexit_set = true;
    }
    if (s_child_count < KIT_MAX_CHILDREN)
        s_children[s_child_count++] = (kit_child_t){.pid = pid};
}

/* In the child: die with the test, default signal handling, output to
 * `out_path`. Never returns on failure (exits 127). */
static void s_child_setup(const char *out_path, const char *env)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, KIT_FILE_MODE);
    if (fd < 0)
        _exit(KIT_EXIT_EXEC_FAIL);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    if (env && putenv((char *)env) != 0)
        _exit(KIT_EXIT_EXEC_FAIL);
}

static pid_t s_start(const char *out_path, const char *env, char *const argv[])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        s_child_setup(out_path, env);
        execv(argv[0], argv);
        _exit(KIT_EXIT_EXEC_FAIL);
    }
    s_remember(pid);
    return pid;
}

pid_t kit_spawn(const char *exe, const char *config, const char *log_path, const char *env)
{
    char *const argv[] = {(char *)exe, "--config", (char *)config, NULL};
    return s_start(log_path, env, argv);
}

int kit_run(const char *out_path, int timeout_ms, const char *exe, ...)
{
    char *argv[KIT_MAX_ARGS + 2] = {(char *)exe};
    size_t argc = 1;
    va_list args;
    va_start(args, exe);
    const char *arg;
    while ((arg = va_arg(args, const char *)) != NULL && argc <= KIT_MAX_ARGS)
        argv[argc++] = (char *)arg;
    va_end(args);
    argv[argc] = NULL;
    pid_t pid = s_start(out_path, NULL, argv);
    if (pid < 0)
        return -1;
    int code;
    if (kit_wait(pid, timeout_ms, &code)) {
        kit_kill9(pid);
        return -1;
    }
    return code;
}

int kit_wait(pid_t pid, int timeout_ms, int *code)
{
    kit_child_t *child = s_child(pid);
    if (!child)
        return -1;
    int64_t deadline = kit_now_ms() + timeout_ms;
    while (!child->reaped) {
        int status;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) {
            s_reap(child, status);
            break;
        }
        if (got < 0 && errno != EINTR)
            return -1;
        if (kit_now_ms() >= deadline)
            return -1;
        kit_sleep_ms(KIT_POLL_MS);
    }
    *code = child->code;
    return 0;
}

int kit_signal(pid_t pid, int signal)
{
    kit_child_t *child = s_child(pid);
    if (!child || child->reaped)
        return -1;
    return kill(pid, signal);
}

bool kit_running(pid_t pid)
{
    kit_child_t *child = s_child(pid);
    if (!child || child->reaped)
        return false;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
        s_reap(child, status);
        return false;
    }
    return true;
}

void kit_kill9(pid_t pid)
{
    kit_child_t *child = s_child(pid);
    if (!child || child->reaped)
        return;
    kill(pid, SIGKILL);
    int status;
    if (waitpid(pid, &status, 0) == pid)
        s_reap(child, status);
}

int64_t kit_now_ms(void)
{
    return harness_now_ms();
}

void kit_sleep_ms(int ms)
{
    harness_sleep_ms(ms);
}

/* --- files ---------------------------------------------------------------- */

int kit_tempdir(const char *tag, char *out)
{
    if (harness_tempdir(tag, out, KIT_PATH_MAX))
        return -1;
    snprintf(s_tempdir, sizeof s_tempdir, "%s", out);
    return 0;
}

char *kit_join(char *out, const char *dir, const char *name)
{
    snprintf(out, KIT_PATH_MAX, "%s/%s", dir, name);
    return out;
}

static int s_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int kit_finish(int failed)
{
    s_kill_leftovers();
    if (s_tempdir[0]) {
        if (failed || getenv("VIGIL_TEST_KEEP"))
            fprintf(stderr, "test files kept in %s\n", s_tempdir);
        else
            nftw(s_tempdir, s_remove_entry, KIT_FTW_FDS, FTW_DEPTH | FTW_PHYS);
    }
    if (!failed)
        printf("PASS\n");
    return failed;
}

int kit_write(const char *path, const char *format, ...)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, KIT_FILE_MODE);
    if (fd < 0)
        return -1;
    FILE *file = fdopen(fd, "w");
    if (!file) {
        close(fd);
        return -1;
    }
    va_list args;
    va_start(args, format);
    int rc = vfprintf(file, format, args) < 0 ? -1 : 0;
    va_end(args);
    return fclose(file) == 0 ? rc : -1;
}

char *kit_read(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *memory = open_memstream(&text, &size);
    if (!memory) {
        fclose(file);
        return NULL;
    }
    char chunk[KIT_FRAME_MAX];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, file)) > 0)
        fwrite(chunk, 1, got, memory);
    fclose(file);
    fclose(memory);
    return text;
}

int kit_count_lines(const char *path, const char *needle, const char *also)
{
    char *text = kit_read(path);
    if (!text)
        return 0;
    int count = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strstr(line, needle) && (!also || strstr(line, also)))
            count++;
    free(text);
    return count;
}

int kit_wait_lines(const char *path, const char *needle, const char *also, int count,
                   int timeout_ms)
{
    int64_t deadline = kit_now_ms() + timeout_ms;
    while (kit_count_lines(path, needle, also) < count) {
        if (kit_now_ms() >= deadline)
            return -1;
        kit_sleep_ms(KIT_POLL_MS);
    }
    return 0;
}

int kit_log_value(const char *path, const char *needle, const char *key, long long *value)
{
    char *text = kit_read(path);
    if (!text)
        return -1;
    char pattern[KIT_PATH_MAX];
    snprintf(pattern, sizeof pattern, " %s=", key);
    int rc = -1;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *at = strstr(line, needle) ? strstr(line, pattern) : NULL;
        if (at) {
            *value = strtoll(at + strlen(pattern), NULL, 10);
            rc = 0;
        }
    }
    free(text);
    return rc;
}

int kit_wait_log(pid_t pid, const char *path, const char *needle, const char *also, int count,
                 int timeout_ms)
{
    int64_t deadline = kit_now_ms() + timeout_ms;
    while (kit_count_lines(path, needle, also) < count) {
        if (kit_now_ms() >= deadline || !kit_running(pid))
            return kit_count_lines(path, needle, also) >= count ? 0 : -1;
        kit_sleep_ms(KIT_POLL_MS);
    }
    return 0;
}

void kit_dump(const char *path)
{
    char *text = kit_read(path);
    fprintf(stderr, "----- %s -----\n%s----- end -----\n", path, text ? text : "(missing)\n");
    free(text);
}

static int s_mkdirs(const char *path)
{
    char buffer[KIT_PATH_MAX];
    if (snprintf(buffer, sizeof buffer, "%s", path) >= (int)sizeof buffer)
        return -1;
    for (char *p = buffer + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buffer, KIT_DIR_MODE) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buffer, KIT_DIR_MODE) && errno != EEXIST ? -1 : 0;
}

static int s_copy(const char *from, const char *to)
{
    char *text = kit_read(from);
    if (!text)
        return -1;
    int rc = kit_write(to, "%s", text);
    free(text);
    return rc;
}

/* --- ports, keys, configs ------------------------------------------------- */

int kit_free_port(void)
{
    return harness_free_port();
}

int kit_instance_keys(const char *state, const char *name)
{
    char path[KIT_PATH_MAX], err[KIT_ERR_LEN];
    snprintf(path, sizeof path, "%s/keys/allow/lifecycle", state);
    if (s_mkdirs(path))
        return -1;
    snprintf(path, sizeof path, "%s/keys/lifecycle.key", state);
    if (security_keygen(path, name, err, sizeof err)) {
        fprintf(stderr, "keygen %s: %s\n", path, err);
        return -1;
    }
    return 0;
}

int kit_tester_keys(const char *dir)
{
    char path[KIT_PATH_MAX], err[KIT_ERR_LEN];
    snprintf(path, sizeof path, "%s/tester.key", dir);
    if (security_keygen(path, "tester", err, sizeof err)) {
        fprintf(stderr, "keygen %s: %s\n", path, err);
        return -1;
    }
    return 0;
}

int kit_admit(const char *server_state, const char *client_state, bool tester)
{
    char from[KIT_PATH_MAX], to[KIT_PATH_MAX], copy[KIT_PATH_MAX];
    snprintf(copy, sizeof copy, "%s", client_state);
    const char *client_name = tester ? "tester" : basename(copy);
    if (tester)
        snprintf(from, sizeof from, "%s/tester.key", client_state);
    else
        snprintf(from, sizeof from, "%s/keys/lifecycle.key", client_state);
    snprintf(to, sizeof to, "%s/keys/allow/lifecycle/%s.key", server_state, client_name);
    if (s_copy(from, to))
        return -1;
    if (tester)
        return 0;
    snprintf(from, sizeof from, "%s/keys/lifecycle.key", server_state);
    snprintf(to, sizeof to, "%s/keys/peer.key", client_state);
    return s_copy(from, to);
}

int kit_write_config(const char *path, const kit_config_t *c)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return -1;
    fprintf(out, "# vigil-lifecycle test config\nstate_dir = \"%s\";\n", c->state_dir);
    if (c->log_level)
        fprintf(out, "log_level = \"%s\";\n", c->log_level);
    if (c->link_port)
        fprintf(out, "link = { listen = \"tcp://127.0.0.1:%d\"; };\n", c->link_port);
    if (c->insecure)
        fprintf(out, "security = { insecure = true; };\n");
    if (c->metrics_port)
        fprintf(out, "metrics = { listen = \"127.0.0.1:%d\"; };\n", c->metrics_port);
    if (c->drain_timeout_ms)
        fprintf(out, "drain = { timeout_ms = %d; };\n", c->drain_timeout_ms);
    fprintf(out,
            "peers = ( { name = \"peer\"; endpoint = \"tcp://127.0.0.1:%d\";\n"
            "            ack_timeout_ms = %d; backoff_max_ms = %d;",
            c->peer_port, c->ack_timeout_ms ? c->ack_timeout_ms : KIT_ACK_TIMEOUT_MS,
            KIT_BACKOFF_MAX_MS);
    if (c->window)
        fprintf(out, " window = %d;", c->window);
    fprintf(out, " } );\n");
    fprintf(out, "lifecycle = { peer = \"peer\"; send_count = %d; };\n", c->send_count);
    if (c->extra)
        fprintf(out, "%s\n", c->extra);
    fclose(out);
    int rc = text ? kit_write(path, "%s", text) : -1;
    free(text);
    return rc;
}

/* --- HTTP ----------------------------------------------------------------- */

int kit_http_get(int port, const char *path, char *body, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval timeout = {.tv_sec = KIT_HTTP_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return -1;
    }
    char request[KIT_PATH_MAX];
    int length = snprintf(request, sizeof request,
                          "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (send(fd, request, (size_t)length, MSG_NOSIGNAL) != length) {
        close(fd);
        return -1;
    }
    char *reply = malloc(KIT_HTTP_MAX);
    size_t used = 0;
    ssize_t got;
    while (reply && used < KIT_HTTP_MAX - 1 &&
           (got = recv(fd, reply + used, KIT_HTTP_MAX - 1 - used, 0)) > 0)
        used += (size_t)got;
    close(fd);
    if (!reply)
        return -1;
    reply[used] = '\0';
    int status = -1;
    if (sscanf(reply, "HTTP/%*d.%*d %d", &status) != 1)
        status = -1;
    if (body && size) {
        static const char blank_line[] = "\r\n\r\n"; /* ends the headers */
        const char *start = strstr(reply, blank_line);
        snprintf(body, size, "%s", start ? start + strlen(blank_line) : "");
    }
    free(reply);
    return status;
}

int kit_wait_http(int port, const char *path, int status, int timeout_ms)
{
    int64_t deadline = kit_now_ms() + timeout_ms;
    while (kit_http_get(port, path, NULL, 0) != status) {
        if (kit_now_ms() >= deadline)
            return -1;
        kit_sleep_ms(KIT_POLL_MS);
    }
    return 0;
}

int kit_metric(int port, const char *name, double *value)
{
    char *body = malloc(KIT_HTTP_MAX);
    if (!body)
        return -1;
    int rc = -1;
    if (kit_http_get(port, "/metrics", body, KIT_HTTP_MAX) == 200) {
        size_t length = strlen(name);
        char *save = NULL;
        for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (strncmp(line, name, length) != 0 || (line[length] != '{' && line[length] != ' '))
                continue;
            const char *rest = line + length;
            if (*rest == '{')
                rest = strchr(rest, '}');
            if (!rest)
                break;
            *value = strtod(rest + 1, NULL);
            rc = 0;
            break;
        }
    }
    free(body);
    return rc;
}

/* --- sqlite --------------------------------------------------------------- */

int kit_sql_int(const char *db_path, const char *sql, long long *value)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, KIT_SQL_BUSY_MS);
        if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW) {
            *value = sqlite3_column_int64(stmt, 0);
            rc = 0;
        } else {
            fprintf(stderr, "sql on %s failed: %s: %s\n", db_path, sql, sqlite3_errmsg(db));
        }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rc;
}

int kit_sql_exec(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, KIT_SQL_BUSY_MS);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
        if (rc)
            fprintf(stderr, "sql on %s failed: %s: %s\n", db_path, sql, sqlite3_errmsg(db));
    }
    sqlite3_close(db);
    return rc;
}

/* --- the link ------------------------------------------------------------- */

struct kit_link_t {
    zsock_t *socket;
};

kit_link_t *kit_link_new(const char *endpoint, const char *client_secret, const char *server_public)
{
    kit_link_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->socket = zsock_new(ZMQ_DEALER);
    if (!self->socket) {
        free(self);
        return NULL;
    }
    zsock_set_linger(self->socket, 0);
    zsock_set_sndtimeo(self->socket, KIT_LINK_SEND_MS);
    if (client_secret && server_public) {
        zcert_t *mine = zcert_load(client_secret);
        zcert_t *theirs = zcert_load(server_public);
        if (!mine || !theirs) {
            zcert_destroy(&mine);
            zcert_destroy(&theirs);
            kit_link_destroy(&self);
            return NULL;
        }
        zcert_apply(mine, self->socket);
        zsock_set_curve_serverkey(self->socket, zcert_public_txt(theirs));
        zcert_destroy(&mine);
        zcert_destroy(&theirs);
    }
    if (zsock_connect(self->socket, "%s", endpoint) != 0)
        kit_link_destroy(&self);
    return self;
}

void kit_link_destroy(kit_link_t **link_p)
{
    kit_link_t *self = *link_p;
    if (!self)
        return;
    zsock_destroy(&self->socket);
    free(self);
    *link_p = NULL;
}

int kit_link_send_probe(kit_link_t *self, const uint8_t id[16], uint64_t seq)
{
    uint8_t payload[KIT_FRAME_MAX], frame[KIT_FRAME_MAX];
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = seq;
    size_t payload_len = vigil__v1__link_probe__pack(&probe, payload);
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = (uint8_t *)id;
    envelope.message_id.len = VIGIL_ID_BYTES;
    envelope.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE;
    envelope.source = "tester";
    envelope.created_at_ms = util_now_ms();
    envelope.payload.data = payload;
    envelope.payload.len = payload_len;
    envelope.attempt = 1;
    size_t length = vigil__v1__envelope__pack(&envelope, frame);
    return zmq_send(zsock_resolve(self->socket), frame, length, 0) == (int)length ? 0 : -1;
}

int kit_link_wait_ack(kit_link_t *self, const uint8_t id[16], int timeout_ms,
                      Vigil__V1__AckStatus *status, Vigil__V1__ReasonCode *reason)
{
    int64_t deadline = kit_now_ms() + timeout_ms;
    void *socket = zsock_resolve(self->socket);
    for (;;) {
        int64_t left = deadline - kit_now_ms();
        if (left <= 0)
            return -1;
        zmq_pollitem_t item = {.socket = socket, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, (long)left) <= 0)
            continue;
        uint8_t frame[KIT_FRAME_MAX * 4];
        int length = zmq_recv(socket, frame, sizeof frame, ZMQ_DONTWAIT);
        if (length < 0 || length > (int)sizeof frame)
            continue;
        Vigil__V1__Envelope *envelope = vigil__v1__envelope__unpack(NULL, (size_t)length, frame);
        if (!envelope)
            continue;
        Vigil__V1__Ack *ack =
            envelope->type == VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK
                ? vigil__v1__ack__unpack(NULL, envelope->payload.len, envelope->payload.data)
                : NULL;
        bool found = false;
        for (size_t i = 0; ack && i < ack->n_entries; i++) {
            const Vigil__V1__AckEntry *entry = ack->entries[i];
            if (entry->message_id.len == VIGIL_ID_BYTES &&
                memcmp(entry->message_id.data, id, VIGIL_ID_BYTES) == 0) {
                *status = entry->status;
                if (reason)
                    *reason = entry->reason;
                found = true;
                break;
            }
        }
        if (ack)
            vigil__v1__ack__free_unpacked(ack, NULL);
        vigil__v1__envelope__free_unpacked(envelope, NULL);
        if (found)
            return 0;
    }
}
