/* link_harness.c: process and file helpers for the link's integration tests
 * (see link_harness.h). Children are started with fork/exec and only ever
 * signalled by the pid this file returned.
 */
#include "link_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vigil/security.h"

#define HARNESS_DIR_MODE   0700
#define HARNESS_FILE_MODE  0600
#define HARNESS_POLL_MS    10
#define HARNESS_COPY_CHUNK 4096
#define HARNESS_TAIL_BYTES 8192
#define HARNESS_FTW_FDS    16
#define HARNESS_NS_PER_MS  1000000L
#define HARNESS_MS_PER_S   1000
#define HARNESS_ERR_LEN    512

int harness_tempdir(const char *tag, char *out, size_t size)
{
    if (snprintf(out, size, "/tmp/vigil-%s-XXXXXX", tag) >= (int)size)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

static int s_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int harness_remove_tree(const char *dir)
{
    return nftw(dir, s_remove_entry, HARNESS_FTW_FDS, FTW_DEPTH | FTW_PHYS);
}

int harness_write(const char *path, const char *format, ...)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, HARNESS_FILE_MODE);
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

int harness_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buffer[HARNESS_COPY_CHUNK];
    size_t n;
    int rc = 0;
    while ((n = fread(buffer, 1, sizeof buffer, in)) > 0)
        if (fwrite(buffer, 1, n, out) != n)
            rc = -1;
    fclose(in);
    return fclose(out) == 0 ? rc : -1;
}

int harness_mkdirs(const char *path)
{
    char buffer[HARNESS_PATH_MAX];
    if (snprintf(buffer, sizeof buffer, "%s", path) >= (int)sizeof buffer)
        return -1;
    for (char *p = buffer + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buffer, HARNESS_DIR_MODE) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buffer, HARNESS_DIR_MODE) && errno != EEXIST ? -1 : 0;
}

/* Ports for tests come from below the kernel's ephemeral range, so no
 * outgoing connection (every ZeroMQ connect of every test running beside
 * this one) can take a port between the check here and the service's bind.
 * Tests that run in parallel keep out of each other's way with a lock file
 * per port, held until this process ends. */
#define HARNESS_PORT_LOCKS "/tmp/vigil-test-ports"
#define HARNESS_PORT_FLOOR 20000
#define HARNESS_PORT_TOP   65535

static void s_port_pool(int *lo, int *hi)
{
    int ephemeral_lo = 32768, ephemeral_hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &ephemeral_lo, &ephemeral_hi) != 2)
            ephemeral_lo = 32768, ephemeral_hi = 60999;
        fclose(f);
    }
    if (ephemeral_lo - HARNESS_PORT_FLOOR >= HARNESS_PORT_TOP - ephemeral_hi) {
        *lo = HARNESS_PORT_FLOOR;
        *hi = ephemeral_lo - 1;
    } else {
        *lo = ephemeral_hi + 1;
        *hi = HARNESS_PORT_TOP;
    }
}

/* 1 if nothing on this host holds `port` on 127.0.0.1, TIME_WAIT included
 * (no SO_REUSEADDR), else 0. */
static int s_port_unused(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int unused = bind(fd, (struct sockaddr *)&address, sizeof address) == 0;
    close(fd);
    return unused;
}

/* Takes the lock on `port` for the rest of this process's life. The
 * descriptor is left open on purpose: closing it would give the port up.
 * flock() locks belong to an open file description, so a port this process
 * already holds is refused too. Returns 0, or -1 if someone holds it. */
static int s_port_reserve(int port)
{
    char path[64];
    (void)mkdir(HARNESS_PORT_LOCKS, 01777);
    snprintf(path, sizeof path, "%s/%d", HARNESS_PORT_LOCKS, port);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, HARNESS_FILE_MODE);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -1;
    }
    return 0;
}

int harness_free_port(void)
{
    int lo, hi;
    s_port_pool(&lo, &hi);
    int span = hi - lo + 1;
    if (span <= 0)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)now.tv_nsec;
    int start = (int)(seed % (unsigned)span);
    for (int i = 0; i < span; i++) {
        int port = lo + (start + i) % span;
        if (!s_port_unused(port) || s_port_reserve(port) != 0)
            continue;
        if (s_port_unused(port)) /* taken between the check and the lock */
            return port;
    }
    return -1;
}

int harness_link_keys(const char *server_state, const char *server, const char *client_state,
                      const char *client)
{
    char err[HARNESS_ERR_LEN];
    char server_key[HARNESS_PATH_MAX], client_key[HARNESS_PATH_MAX];
    char peer_copy[HARNESS_PATH_MAX], allow_dir[HARNESS_PATH_MAX];
    char allow_copy[2 * HARNESS_PATH_MAX];
    snprintf(server_key, sizeof server_key, "%s/keys/%s.key", server_state, server);
    snprintf(client_key, sizeof client_key, "%s/keys/%s.key", client_state, client);
    snprintf(peer_copy, sizeof peer_copy, "%s/keys/%s.key", client_state, server);
    snprintf(allow_dir, sizeof allow_dir, "%s/keys/allow/%s", server_state, server);
    snprintf(allow_copy, sizeof allow_copy, "%s/%s.key", allow_dir, client);
    struct stat st;
    if (stat(server_key, &st) != 0 && security_keygen(server_key, server, err, sizeof err)) {
        fprintf(stderr, "keygen %s: %s\n", server_key, err);
        return -1;
    }
    if (stat(client_key, &st) != 0 && security_keygen(client_key, client, err, sizeof err)) {
        fprintf(stderr, "keygen %s: %s\n", client_key, err);
        return -1;
    }
    /* The client gets an (empty) allowlist of its own: security_new()
     * wants one even for a service that only sends. */
    char client_allow[HARNESS_PATH_MAX];
    snprintf(client_allow, sizeof client_allow, "%s/keys/allow/%s", client_state, client);
    if (harness_mkdirs(allow_dir) || harness_mkdirs(client_allow) ||
        harness_copy(server_key, peer_copy) || harness_copy(client_key, allow_copy)) {
        fprintf(stderr, "cannot copy keys into %s and %s\n", peer_copy, allow_copy);
        return -1;
    }
    return 0;
}

pid_t harness_spawn(const char *exe, const char *config, const char *log_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, HARNESS_FILE_MODE);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    execl(exe, exe, "--config", config, (char *)NULL);
    fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
    _exit(127);
}

bool harness_exited(pid_t pid, int *status)
{
    int st = 0;
    pid_t rc = waitpid(pid, &st, WNOHANG);
    if (rc == pid) {
        if (status)
            *status = st;
        return true;
    }
    return false;
}

int harness_wait(pid_t pid, int timeout_ms, int *status)
{
    long long deadline = harness_now_ms() + timeout_ms;
    do {
        if (harness_exited(pid, status))
            return 0;
        harness_sleep_ms(HARNESS_POLL_MS);
    } while (harness_now_ms() < deadline);
    return -1;
}

void harness_kill9(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int harness_stop(pid_t pid, int grace_ms)
{
    int status = 0;
    kill(pid, SIGTERM);
    if (harness_wait(pid, grace_ms, &status) == 0)
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    harness_kill9(pid);
    return -1;
}

void harness_sleep_ms(int ms)
{
    struct timespec pause = {.tv_sec = ms / HARNESS_MS_PER_S,
                             .tv_nsec = (long)(ms % HARNESS_MS_PER_S) * HARNESS_NS_PER_MS};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
        ;
}

long long harness_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * HARNESS_MS_PER_S + now.tv_nsec / HARNESS_NS_PER_MS;
}

void harness_tail(const char *path, int lines)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    long start = size > HARNESS_TAIL_BYTES ? size - HARNESS_TAIL_BYTES : 0;
    fseek(file, start, SEEK_SET);
    static char buffer[HARNESS_TAIL_BYTES + 1];
    size_t n = fread(buffer, 1, HARNESS_TAIL_BYTES, file);
    fclose(file);
    buffer[n] = '\0';
    char *p = buffer + n;
    int seen = 0;
    while (p > buffer && seen <= lines)
        if (*--p == '\n')
            seen++;
    fprintf(stderr, "--- tail of %s ---\n%s\n", path, p);
}

bool harness_file_contains(const char *path, const char *needle)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return false;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    bool found = false;
    if (text && fread(text, 1, (size_t)size, file) == (size_t)size) {
        text[size] = '\0';
        found = memmem(text, (size_t)size, needle, strlen(needle)) != NULL;
    }
    free(text);
    fclose(file);
    return found;
}
