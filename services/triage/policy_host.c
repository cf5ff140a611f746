/* policy_host.c: triage's side of the policy plugins (policy_host.h).
 *
 * Keeps the region table (config, accepted plugin file, fallback state,
 * roster loads, counters), runs vigil-policy-worker, sends it batches and
 * turns what comes back, or what went wrong, into per-case outcomes. It
 * blames a crash or a hang on the case the progress page names, restarts
 * the worker, quarantines a region that keeps crashing it, and swaps plugin
 * versions on reload only after the worker accepted them. It never runs
 * plugin code itself and never logs case content: only case ids, region
 * names, files and reasons.
 */
#include "policy_host.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy_fallback.h"
#include "policy_trust.h"
#include "policy_wire.h"
#include "vigil/log.h"
#include "vigil/service.h"

extern char **environ;

/* The environment variable that carries the worker's log level. */
#define POLICY_LOG_ENV "VIGIL_POLICY_LOG_LEVEL"
/* The environment variable that tells the worker which process started it,
 * so it can tell "my parent already died" from "my parent is PID 1" (as
 * triage is in a container). */
#define POLICY_PARENT_ENV "VIGIL_POLICY_PARENT_PID"
/* The worker executable's file name. */
#define POLICY_WORKER_NAME "vigil-policy-worker"
#ifndef VIGIL_POLICY_WORKER_BUILD_PATH
#define VIGIL_POLICY_WORKER_BUILD_PATH ""
#endif
/* How long a stopping worker gets to run fini before SIGKILL. */
#define POLICY_SHUTDOWN_GRACE_MS 2000
/* How long to wait for a worker that closed its socket to exit by itself. */
#define POLICY_EXIT_GRACE_MS 200
/* Fresh workers that may fail in a row before triage backs off. */
#define POLICY_SPAWN_FAILURES_MAX 3
/* Back-off after repeated spawn failures: first and longest delay. */
#define POLICY_SPAWN_BACKOFF_MS     1000
#define POLICY_SPAWN_BACKOFF_MAX_MS 60000
/* Crashes in one batch that no case could be blamed for before giving up. */
#define POLICY_UNBLAMED_MAX 2
/* A worker fd number safely above 0..4, used while setting up the child. */
#define POLICY_FD_FLOOR 10
/* Bytes in a MiB, for the worker's memory limit. */
#define POLICY_BYTES_PER_MIB ((rlim_t)1 << 20)
/* Time conversions. */
#define POLICY_NS_PER_MS 1000000ull
#define POLICY_MS_PER_S  1000
/* Most cases in one ROUTE message: keeps the worst-case answer (16
 * referrals of 128-byte ids per case) well under POLICY_WIRE_FRAME_MAX. */
#define POLICY_BATCH_CAP 4096
/* Report line bytes. */
#define POLICY_LINE_MAX 640

typedef enum {
    WAIT_FRAME = 0,     /* a frame arrived */
    WAIT_CRASHED = -1,  /* the worker died or closed its socket */
    WAIT_TIMED_OUT = -2 /* the deadline passed; the worker was killed */
} wait_result_t;

typedef struct {
    policy_region_t config;
    int fd;              /* accepted plugin file (kept open), or -1 */
    struct stat st;      /* its identity */
    char file[PATH_MAX]; /* its path */
    char plugin_name[VIGIL_PLUGIN_NAME_MAX + 1];
    char plugin_version[VIGIL_PLUGIN_VERSION_MAX + 1];
    bool on_fallback;
    char reason[POLICY_DETAIL_MAX];
    uint32_t *loads; /* open-case loads, roster order */
    bool loads_dirty;
    uint64_t crash_window_start_ms; /* monotonic ms when the current crash window began */
    int crash_count;                /* crashes and timeouts in that window */
    uint64_t decisions, fallbacks, crashes, timeouts;
    metric_t *m_ok, *m_fallback, *m_crashed, *m_timed_out, *m_on_fallback;
} region_t;

struct policy_host_t {
    char *plugin_dir;
    char *directory_db;
    char *log_env; /* "VIGIL_POLICY_LOG_LEVEL=..." for the worker's environment */
    char worker_path[PATH_MAX];
    int route_timeout_ms;
    int memory_mb; /* 0: no limit */
    int init_timeout_ms;
    int crash_limit;
    int crash_window_ms;
    size_t batch_max;
    region_t *regions;
    size_t region_count;
    /* the worker */
    pid_t pid;
    int sock;
    int progress_fd;
    policy_progress_t *progress;
    policy_wire_in_t in;
    policy_wire_buf_t out;
    uint64_t seq;
    char last_exit[POLICY_DETAIL_MAX]; /* how the last worker ended */
    uint64_t restarts;
    int spawn_failures;
    uint64_t next_spawn_ms;
    char spawn_error[POLICY_DETAIL_MAX];
    /* metrics */
    metric_t *m_restarts, *m_reload_ok, *m_reload_failed, *m_batch_seconds;
    /* facts scratch */
    char fact[POLICY_DETAIL_MAX + VIGIL_PLUGIN_NAME_MAX + VIGIL_PLUGIN_VERSION_MAX +
              sizeof "FALLBACK: "];
};

/* snprintf that truncates on purpose: messages longer than their buffer
 * are cut, never overflowed. (A wrapper keeps -Wformat-truncation quiet
 * where cutting is the intent.) */
__attribute__((format(printf, 3, 4))) static int s_fmt(char *out, size_t len, const char *format,
                                                       ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(out, len, format, args);
    va_end(args);
    return n;
}

/* Copies `src` into `dst` (`cap` bytes), cut to fit. Cannot fail. */
static void s_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static uint64_t s_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t s_mono_ms(void)
{
    return s_mono_ns() / POLICY_NS_PER_MS;
}

static const char *s_str(const char *text)
{
    return text ? text : "";
}

/* --- regions ----------------------------------------------------------------- */

static region_t *s_region(policy_host_t *host, const char *name)
{
    for (size_t i = 0; name && i < host->region_count; i++) {
        if (strcmp(host->regions[i].config.name, name) == 0) {
            return &host->regions[i];
        }
    }
    return NULL;
}

static void s_set_fallback(policy_host_t *host, region_t *r, const char *reason)
{
    (void)host;
    r->on_fallback = true;
    s_fmt(r->reason, sizeof r->reason, "%s", reason);
    s_fmt(r->plugin_name, sizeof r->plugin_name, "%s", POLICY_FALLBACK_NAME);
    s_fmt(r->plugin_version, sizeof r->plugin_version, "%s", VIGIL_VERSION);
    metric_set(r->m_on_fallback, 1);
    log_warn("region runs on the fallback policy", "region=%s file=%s reason=%s", r->config.name,
             r->file, r->reason);
}

static void s_close_plugin(region_t *r)
{
    if (r->fd >= 0) {
        close(r->fd);
    }
    r->fd = -1;
}

static void s_region_free(region_t *r)
{
    s_close_plugin(r);
    policy_region_clear(&r->config);
    free(r->loads);
}

/* Counts a crash or hang; quarantines the region at crash_limit within the
 * window. */
static void s_count_crash(policy_host_t *host, region_t *r, const char *what)
{
    uint64_t now = s_mono_ms();
    if (r->crash_count == 0 || now - r->crash_window_start_ms > (uint64_t)host->crash_window_ms) {
        r->crash_window_start_ms = now;
        r->crash_count = 0;
    }
    r->crash_count++;
    if (r->crash_count >= host->crash_limit && !r->on_fallback) {
        char reason[POLICY_DETAIL_MAX];
        s_fmt(reason, sizeof reason,
              "quarantined after %d crashes or timeouts within %d s (last: %s); fix the plugin "
              "and reload",
              host->crash_limit, host->crash_window_ms / POLICY_MS_PER_S, what);
        s_set_fallback(host, r, reason);
    }
}

/* --- the worker process ------------------------------------------------------------- */

static void s_describe_exit(int status, char *out, size_t len)
{
    if (WIFSIGNALED(status)) {
        s_fmt(out, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (WIFEXITED(status)) {
        s_fmt(out, len, "exited with status %d", WEXITSTATUS(status));
    } else {
        s_fmt(out, len, "ended");
    }
}

/* Makes sure the worker is gone and reaped; records how it ended. */
static void s_reap(policy_host_t *host, bool kill_now)
{
    if (host->pid <= 0) {
        if (host->sock >= 0) {
            close(host->sock);
        }
        host->sock = -1;
        return;
    }
    int status = 0;
    pid_t got = 0;
    if (!kill_now) {
        uint64_t until = s_mono_ms() + POLICY_EXIT_GRACE_MS;
        while ((got = waitpid(host->pid, &status, WNOHANG)) == 0 && s_mono_ms() < until) {
            struct timespec pause = {0, POLICY_NS_PER_MS};
            nanosleep(&pause, NULL);
        }
    }
    /* Signal only a child not yet reaped (a zombie keeps its pid): after a
     * successful or failed (ECHILD) wait the pid may belong to someone else. */
    if (got == 0) {
        kill(host->pid, SIGKILL);
        while ((got = waitpid(host->pid, &status, 0)) < 0 && errno == EINTR) {
        }
    }
    if (got == host->pid) {
        s_describe_exit(status, host->last_exit, sizeof host->last_exit);
    } else {
        s_fmt(host->last_exit, sizeof host->last_exit, "ended (its exit status is unknown)");
    }
    host->pid = -1;
    if (host->sock >= 0) {
        close(host->sock);
    }
    host->sock = -1;
    policy_wire_in_free(&host->in);
    policy_wire_in_init(&host->in);
}

static int s_find_worker(policy_host_t *host, const char *configured, char *err, size_t errlen)
{
    if (configured && configured[0]) {
        s_fmt(host->worker_path, sizeof host->worker_path, "%s", configured);
        if (access(host->worker_path, X_OK) < 0) {
            s_fmt(err, errlen, "%s: policy worker: %s", configured, strerror(errno));
            return -1;
        }
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            s_fmt(host->worker_path, sizeof host->worker_path, "%s/%s", self, POLICY_WORKER_NAME);
            if (access(host->worker_path, X_OK) == 0) {
                return 0;
            }
        }
    }
    if (VIGIL_POLICY_WORKER_BUILD_PATH[0] && access(VIGIL_POLICY_WORKER_BUILD_PATH, X_OK) == 0) {
        s_fmt(host->worker_path, sizeof host->worker_path, "%s", VIGIL_POLICY_WORKER_BUILD_PATH);
        return 0;
    }
    s_fmt(err, errlen, "%s: policy worker not found beside this executable; set the worker path",
          self);
    return -1;
}

static int s_progress_new(policy_host_t *host, char *err, size_t errlen)
{
    long page = sysconf(_SC_PAGESIZE);
    host->progress_fd = memfd_create("vigil-policy-progress", MFD_CLOEXEC);
    if (host->progress_fd < 0 || ftruncate(host->progress_fd, page) < 0) {
        s_fmt(err, errlen, "policy worker: progress page: %s", strerror(errno));
        return -1;
    }
    void *map = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, host->progress_fd, 0);
    if (map == MAP_FAILED) {
        s_fmt(err, errlen, "policy worker: progress page: %s", strerror(errno));
        return -1;
    }
    host->progress = map;
    return 0;
}

/* Waits for one frame from the worker. `deadline_ns` is absolute
 * (monotonic); with `per_case`, the deadline is instead route_timeout after
 * the start of the callback in flight (read from the progress page). */
static wait_result_t s_wait(policy_host_t *host, uint64_t deadline_ns, bool per_case,
                            uint64_t sent_ns)
{
    for (;;) {
        int rc = policy_wire_in_fill(&host->in, host->sock);
        if (rc == 1) {
            return WAIT_FRAME;
        }
        if (rc < 0) {
            s_reap(host, false);
            return WAIT_CRASHED;
        }
        if (per_case) {
            uint64_t started =
                atomic_load_explicit(&host->progress->started_ns, memory_order_relaxed);
            uint64_t base = started > sent_ns ? started : sent_ns;
            deadline_ns = base + (uint64_t)host->route_timeout_ms * POLICY_NS_PER_MS;
        }
        uint64_t now = s_mono_ns();
        if (now >= deadline_ns) {
            s_reap(host, true);
            return WAIT_TIMED_OUT;
        }
        int ms = (int)((deadline_ns - now + POLICY_NS_PER_MS - 1) / POLICY_NS_PER_MS);
        struct pollfd p = {.fd = host->sock, .events = POLLIN};
        if (poll(&p, 1, ms) < 0 && errno != EINTR) {
            s_reap(host, true);
            return WAIT_CRASHED;
        }
    }
}

/* Sends the frame in host->out (with `fd` attached if >= 0) and waits for
 * a reply of `type` within the load deadline. */
static wait_result_t s_call(policy_host_t *host, int fd, uint8_t type, policy_wire_reader_t *reader)
{
    if (policy_wire_send(host->sock, &host->out, fd) < 0) {
        s_reap(host, false);
        return WAIT_CRASHED;
    }
    uint64_t deadline = s_mono_ns() + (uint64_t)host->init_timeout_ms * POLICY_NS_PER_MS;
    wait_result_t w = s_wait(host, deadline, false, 0);
    if (w != WAIT_FRAME) {
        return w;
    }
    uint8_t got = 0;
    policy_wire_in_frame(&host->in, &got, reader);
    if (got != type) {
        s_reap(host, true);
        s_fmt(host->last_exit, sizeof host->last_exit, "answered with an unexpected message");
        return WAIT_CRASHED;
    }
    return WAIT_FRAME;
}

static void s_put_load(policy_host_t *host, size_t slot, const region_t *r,
                       const policy_region_t *config, const uint32_t *loads)
{
    policy_wire_begin(&host->out, POLICY_MSG_LOAD);
    policy_wire_u32(&host->out, (uint32_t)slot);
    policy_wire_str(&host->out, config->name);
    policy_wire_str(&host->out, r->file);
    policy_wire_str(&host->out, config->plugin_config);
    policy_wire_str(&host->out, config->timezone);
    policy_wire_u32(&host->out, (uint32_t)config->roster_count);
    for (size_t i = 0; i < config->roster_count; i++) {
        const policy_officer_t *o = &config->roster[i];
        policy_wire_str(&host->out, o->id);
        policy_wire_u32(&host->out, (uint32_t)o->language_count);
        for (size_t j = 0; j < o->language_count; j++) {
            policy_wire_str(&host->out, o->languages[j]);
        }
        policy_wire_i32(&host->out, (int32_t)o->role);
        policy_wire_u8(&host->out, o->on_call);
        policy_wire_u32(&host->out, loads ? loads[i] : 0);
    }
}

/* What a LOAD came to. */
typedef struct {
    wait_result_t wait;
    uint8_t status;
    char name[VIGIL_PLUGIN_NAME_MAX + 1];
    char version[VIGIL_PLUGIN_VERSION_MAX + 1];
    char error[POLICY_DETAIL_MAX];
} load_result_t;

static load_result_t s_load(policy_host_t *host, size_t slot, const region_t *r,
                            const policy_region_t *config, const uint32_t *loads, int fd)
{
    load_result_t out = {.status = POLICY_LOAD_FAILED};
    s_put_load(host, slot, r, config, loads);
    policy_wire_reader_t reader;
    out.wait = s_call(host, fd, POLICY_MSG_LOADED, &reader);
    if (out.wait == WAIT_CRASHED) {
        s_fmt(out.error, sizeof out.error, "%s: the policy worker %s while loading it", r->file,
              host->last_exit);
        return out;
    }
    if (out.wait == WAIT_TIMED_OUT) {
        s_fmt(out.error, sizeof out.error,
              "%s: loading it (init, self_test) took longer than %d ms; the worker was killed",
              r->file, host->init_timeout_ms);
        return out;
    }
    policy_wire_get_u32(&reader);
    out.status = policy_wire_get_u8(&reader);
    s_fmt(out.name, sizeof out.name, "%s", policy_wire_get_str(&reader));
    s_fmt(out.version, sizeof out.version, "%s", policy_wire_get_str(&reader));
    s_fmt(out.error, sizeof out.error, "%s", policy_wire_get_str(&reader));
    if (reader.failed) {
        out.status = POLICY_LOAD_FAILED;
        s_fmt(out.error, sizeof out.error, "%s: malformed answer from the policy worker", r->file);
    }
    policy_wire_in_consume(&host->in);
    return out;
}

/* Caps the new worker's address space before it loads any plugin (that
 * waits for HELLO): a plugin that leaks or allocates without bound gets
 * NULL from malloc and, as a rule, crashes, which costs one case an
 * attempt instead of costing the machine its memory. A sanitizer build's
 * worker maps terabytes of shadow memory, so there the cap is left off. */
static void s_limit_memory(const policy_host_t *host)
{
    if (host->memory_mb <= 0) {
        return;
    }
#if defined(__SANITIZE_ADDRESS__)
    static bool s_told;
    if (!s_told) {
        log_warn("policy worker memory limit not applied in a sanitizer build", "limit_mb=%d",
                 host->memory_mb);
        s_told = true;
    }
#else
    rlim_t bytes = (rlim_t)host->memory_mb * POLICY_BYTES_PER_MIB;
    struct rlimit limit = {.rlim_cur = bytes, .rlim_max = bytes};
    if (prlimit(host->pid, RLIMIT_AS, &limit, NULL) != 0) {
        log_warn("could not limit the policy worker's memory", "pid=%d error=%s", (int)host->pid,
                 strerror(errno));
    }
#endif
}

/* Starts a worker and says HELLO. Returns 0 or -1 (reason in spawn_error). */
static int s_spawn(policy_host_t *host)
{
    int sv[2] = {-1, -1};
    int child_sock = -1;
    int child_progress = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        s_fmt(host->spawn_error, sizeof host->spawn_error, "socketpair: %s", strerror(errno));
        return -1;
    }
    /* Above 0..4 so the dup2s below never meet their own target. */
    child_sock = fcntl(sv[1], F_DUPFD_CLOEXEC, POLICY_FD_FLOOR);
    child_progress = fcntl(host->progress_fd, F_DUPFD_CLOEXEC, POLICY_FD_FLOOR);
    close(sv[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child_sock, POLICY_WIRE_WORKER_FD);
    posix_spawn_file_actions_adddup2(&actions, child_progress, POLICY_WIRE_PROGRESS_FD);
    char *argv[] = {host->worker_path, NULL};
    /* The worker's environment: ours, with its log level. */
    size_t n_env = 0;
    while (environ[n_env]) {
        n_env++;
    }
    char **envp = calloc(n_env + 3, sizeof *envp);
    char parent_env[sizeof POLICY_PARENT_ENV + 24];
    snprintf(parent_env, sizeof parent_env, "%s=%ld", POLICY_PARENT_ENV, (long)getpid());
    size_t k = 0;
    for (size_t i = 0; envp && i < n_env; i++) {
        if (strncmp(environ[i], POLICY_LOG_ENV "=", sizeof POLICY_LOG_ENV) != 0 &&
            strncmp(environ[i], POLICY_PARENT_ENV "=", sizeof POLICY_PARENT_ENV) != 0) {
            envp[k++] = environ[i];
        }
    }
    if (envp) {
        envp[k++] = host->log_env;
        envp[k++] = parent_env;
    }
    memset(host->progress, 0, sizeof *host->progress);
    pid_t pid = -1;
    int rc = child_sock < 0 || child_progress < 0 || !envp
                 ? (errno ? errno : ENOMEM)
                 : posix_spawn(&pid, host->worker_path, &actions, NULL, argv, envp);
    free(envp);
    posix_spawn_file_actions_destroy(&actions);
    if (child_sock >= 0) {
        close(child_sock);
    }
    if (child_progress >= 0) {
        close(child_progress);
    }
    if (rc != 0) {
        close(sv[0]);
        s_fmt(host->spawn_error, sizeof host->spawn_error, "%s: cannot start: %s",
              host->worker_path, strerror(rc));
        return -1;
    }
    host->pid = pid;
    host->sock = sv[0];
    fcntl(host->sock, F_SETFL, fcntl(host->sock, F_GETFL) | O_NONBLOCK);
    s_limit_memory(host);
    policy_wire_begin(&host->out, POLICY_MSG_HELLO);
    policy_wire_str(&host->out, VIGIL_VERSION);
    policy_wire_str(&host->out, host->directory_db);
    policy_wire_u32(&host->out, (uint32_t)host->region_count);
    policy_wire_reader_t reader;
    wait_result_t w = s_call(host, -1, POLICY_MSG_READY, &reader);
    if (w != WAIT_FRAME) {
        s_fmt(host->spawn_error, sizeof host->spawn_error, "%s: %s before it was ready",
              host->worker_path, w == WAIT_TIMED_OUT ? "did not answer" : host->last_exit);
        s_reap(host, true);
        return -1;
    }
    const char *warning = policy_wire_get_str(&reader);
    if (warning[0]) {
        log_warn("policy worker: plugins get no resource directory", "reason=%s", warning);
    }
    policy_wire_in_consume(&host->in);
    log_info("policy worker started", "pid=%d", (int)pid);
    return 0;
}

/* Starts a worker and loads every region that has an accepted or
 * candidate plugin. A region whose load fails or kills the worker goes to
 * the fallback policy. Returns 0, or -1 if no worker could be started. */
static int s_start_worker(policy_host_t *host)
{
    if (host->spawn_failures >= POLICY_SPAWN_FAILURES_MAX && s_mono_ms() < host->next_spawn_ms) {
        return -1;
    }
    /* Each pass either loads everything or blames one region, so
     * region_count + 1 passes always suffice. */
    for (size_t pass = 0; pass <= host->region_count; pass++) {
        if (s_spawn(host) < 0) {
            host->spawn_failures++;
            uint64_t backoff = POLICY_SPAWN_BACKOFF_MS;
            for (int i = 1; i < host->spawn_failures && backoff < POLICY_SPAWN_BACKOFF_MAX_MS;
                 i++) {
                backoff *= 2;
            }
            host->next_spawn_ms = s_mono_ms() + backoff;
            log_error("policy worker cannot start; regions use the fallback policy", "reason=%s",
                      host->spawn_error);
            return -1;
        }
        bool restart = false;
        for (size_t i = 0; i < host->region_count && !restart; i++) {
            region_t *r = &host->regions[i];
            if (r->fd < 0 || r->on_fallback) {
                continue;
            }
            load_result_t l = s_load(host, i, r, &r->config, r->loads, r->fd);
            if (l.wait == WAIT_FRAME && l.status == POLICY_LOAD_NEW) {
                s_fmt(r->plugin_name, sizeof r->plugin_name, "%s", l.name);
                s_fmt(r->plugin_version, sizeof r->plugin_version, "%s", l.version);
                r->loads_dirty = false;
                continue;
            }
            s_close_plugin(r);
            s_set_fallback(host, r, l.error);
            restart = l.wait != WAIT_FRAME;
        }
        if (!restart) {
            host->spawn_failures = 0;
            return 0;
        }
    }
    return host->pid > 0 ? 0 : -1;
}

static void s_worker_died(policy_host_t *host)
{
    host->restarts++;
    metric_inc(host->m_restarts);
}

static int s_ensure_worker(policy_host_t *host)
{
    if (host->pid > 0) {
        return 0;
    }
    return s_start_worker(host);
}

/* --- routing ------------------------------------------------------------------- */

static void s_add_load(region_t *r, const char *assignee, bool worker_knows)
{
    for (size_t i = 0; i < r->config.roster_count; i++) {
        if (strcmp(r->config.roster[i].id, assignee) == 0) {
            r->loads[i]++;
            if (!worker_knows) {
                r->loads_dirty = true;
            }
            return;
        }
    }
}

static void s_fallback(policy_host_t *host, region_t *r, policy_request_t *req, const char *reason,
                       bool review)
{
    (void)host;
    policy_fallback_decide(r ? &r->config : NULL, r ? r->loads : NULL, reason, &req->decision);
    req->decision.needs_human_review = req->decision.needs_human_review || review;
    req->outcome = POLICY_OUTCOME_FALLBACK;
    s_fmt(req->detail, sizeof req->detail, "%s", reason);
    if (r) {
        r->fallbacks++;
        metric_inc(r->m_fallback);
        if (req->decision.assignee_id[0]) {
            s_add_load(r, req->decision.assignee_id, false);
        }
    }
}

void policy_route_fallback(policy_host_t *host, policy_request_t *request, const char *reason,
                           bool needs_review)
{
    s_fallback(host, s_region(host, request->region), request, reason, needs_review);
}

static void s_put_case(policy_host_t *host, uint32_t slot, const policy_request_t *req)
{
    const Vigil__V1__CaseView *v = req->view;
    policy_wire_buf_t *o = &host->out;
    policy_wire_u32(o, slot);
    policy_wire_str(o, s_str(v->case_id));
    policy_wire_str(o, s_str(v->language));
    policy_wire_str(o, s_str(v->state));
    policy_wire_str(o, s_str(v->county_fips));
    policy_wire_str(o, s_str(v->zip3));
    policy_wire_i32(o, (int32_t)v->channel);
    policy_wire_i32(o, (int32_t)v->caller_role);
    policy_wire_i32(o, (int32_t)v->crime_category);
    policy_wire_i32(o, (int32_t)req->priority);
    policy_wire_u32(o, req->escalation_level);
    policy_wire_i64(o, v->received_at_ms);
    uint8_t flags = (v->share_with_partners ? POLICY_CASE_SHARE : 0) |
                    (v->has_offender ? POLICY_CASE_HAS_OFFENDER : 0) |
                    (v->wants_notifications ? POLICY_CASE_NOTIFICATIONS : 0) |
                    (req->advise_emergency_services ? POLICY_CASE_EMERGENCY : 0);
    policy_wire_u8(o, flags);
    policy_wire_u32(o, (uint32_t)v->n_requested_services);
    for (size_t i = 0; i < v->n_requested_services; i++) {
        policy_wire_i32(o, (int32_t)v->requested_services[i]);
    }
    policy_wire_u32(o, (uint32_t)v->n_urgency_cues);
    for (size_t i = 0; i < v->n_urgency_cues; i++) {
        policy_wire_i32(o, (int32_t)v->urgency_cues[i]);
    }
    policy_wire_i64(o, req->now_ms);
}

static int s_send_loads(policy_host_t *host)
{
    for (size_t i = 0; i < host->region_count; i++) {
        region_t *r = &host->regions[i];
        if (!r->loads_dirty) {
            continue;
        }
        policy_wire_begin(&host->out, POLICY_MSG_LOADS);
        policy_wire_u32(&host->out, (uint32_t)i);
        policy_wire_u32(&host->out, (uint32_t)r->config.roster_count);
        for (size_t j = 0; j < r->config.roster_count; j++) {
            policy_wire_u32(&host->out, r->loads[j]);
        }
        if (policy_wire_send(host->sock, &host->out, -1) < 0) {
            return -1;
        }
        r->loads_dirty = false;
    }
    return 0;
}

/* Applies one ROUTED result to `req`. Returns -1 if the reader failed. */
static int s_apply(policy_host_t *host, region_t *r, policy_request_t *req,
                   policy_wire_reader_t *rd)
{
    uint8_t status = policy_wire_get_u8(rd);
    int32_t rc = policy_wire_get_i32(rd);
    policy_decision_t *d = &req->decision;
    /* Every field is set below: the decision is large (referral buffers),
     * and clearing it whole for every case would cost more than routing. */
    s_copy(d->assignee_id, sizeof d->assignee_id, policy_wire_get_str(rd));
    s_copy(d->escalation_path, sizeof d->escalation_path, policy_wire_get_str(rd));
    s_copy(d->rationale, sizeof d->rationale, policy_wire_get_str(rd));
    d->plugin_name[0] = '\0';
    d->plugin_version[0] = '\0';
    d->priority_adjustment = policy_wire_get_i32(rd);
    d->needs_human_review = policy_wire_get_u8(rd) != 0;
    d->used_fallback = false;
    d->referral_count = 0;
    uint32_t refs = policy_wire_get_u32(rd);
    for (uint32_t i = 0; i < refs && !rd->failed; i++) {
        const char *service = policy_wire_get_str(rd);
        const char *org = policy_wire_get_str(rd);
        const char *term = policy_wire_get_str(rd);
        if (d->referral_count < VIGIL_PLUGIN_REFERRALS_MAX) {
            policy_referral_t *ref = &d->referrals[d->referral_count++];
            s_copy(ref->service_id, sizeof ref->service_id, service);
            s_copy(ref->organization_id, sizeof ref->organization_id, org);
            s_copy(ref->taxonomy_term, sizeof ref->taxonomy_term, term);
        }
    }
    if (rd->failed) {
        return -1;
    }
    char reason[POLICY_DETAIL_MAX];
    switch (status) {
    case POLICY_ROUTE_DECIDED:
        s_copy(d->plugin_name, sizeof d->plugin_name, r->plugin_name);
        s_copy(d->plugin_version, sizeof d->plugin_version, r->plugin_version);
        req->outcome = POLICY_OUTCOME_OK;
        req->detail[0] = '\0';
        r->decisions++;
        metric_inc(r->m_ok);
        s_add_load(r, d->assignee_id, true);
        return 0;
    case POLICY_ROUTE_DECLINED:
        s_fmt(reason, sizeof reason, "plugin %s %s declined the case (code %d)", r->plugin_name,
              r->plugin_version, (int)rc);
        break;
    case POLICY_ROUTE_NO_ASSIGNEE:
        s_fmt(reason, sizeof reason, "plugin %s %s set no assignee", r->plugin_name,
              r->plugin_version);
        break;
    default:
        s_fmt(reason, sizeof reason, "no plugin loaded for the region");
        break;
    }
    s_fallback(host, r, req, reason, false);
    return 0;
}

/* Sends one ROUTE of `n` requests (indexes into `requests`) and applies
 * the outcome. On a crash or hang, returns the index (into `idx`) of the
 * case in flight via *blamed (or -1 if none could be blamed) and leaves
 * the others untouched. Returns WAIT_FRAME when all were answered. */
static wait_result_t s_route_chunk(policy_host_t *host, policy_request_t *requests,
                                   const size_t *idx, const uint32_t *slots, size_t n, long *blamed)
{
    *blamed = -1;
    if (s_send_loads(host) < 0) {
        s_reap(host, false);
        return WAIT_CRASHED;
    }
    uint64_t seq = ++host->seq;
    policy_wire_begin(&host->out, POLICY_MSG_ROUTE);
    policy_wire_u64(&host->out, seq);
    policy_wire_u32(&host->out, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        s_put_case(host, slots[i], &requests[idx[i]]);
    }
    uint64_t sent = s_mono_ns();
    wait_result_t w = WAIT_CRASHED;
    if (policy_wire_send(host->sock, &host->out, -1) < 0) {
        s_reap(host, false);
    } else {
        w = s_wait(host, 0, true, sent);
    }
    if (w != WAIT_FRAME) {
        policy_progress_t *p = host->progress;
        uint32_t phase = atomic_load_explicit(&p->phase, memory_order_acquire);
        if (phase == POLICY_PHASE_ROUTING && atomic_load(&p->seq) == seq &&
            atomic_load(&p->index) < n) {
            *blamed = (long)atomic_load(&p->index);
        }
        return w;
    }
    uint8_t type = 0;
    policy_wire_reader_t rd;
    policy_wire_in_frame(&host->in, &type, &rd);
    bool bad = type != POLICY_MSG_ROUTED || policy_wire_get_u64(&rd) != seq ||
               policy_wire_get_u32(&rd) != n;
    for (size_t i = 0; i < n && !bad; i++) {
        region_t *r = &host->regions[slots[i]];
        bad = s_apply(host, r, &requests[idx[i]], &rd) < 0;
    }
    policy_wire_in_consume(&host->in);
    if (bad) {
        s_reap(host, true);
        s_fmt(host->last_exit, sizeof host->last_exit, "sent a malformed answer");
        return WAIT_CRASHED;
    }
    return WAIT_FRAME;
}

int policy_route_batch(policy_host_t *host, policy_request_t *requests, size_t count)
{
    if (!host || (!requests && count)) {
        return -1;
    }
    uint64_t started = s_mono_ns();
    bool *finished = calloc(count + 1, sizeof *finished);
    size_t *idx = calloc(host->batch_max + 1, sizeof *idx);
    uint32_t *slots = calloc(host->batch_max + 1, sizeof *slots);
    if (!finished || !idx || !slots) {
        free(finished);
        free(idx);
        free(slots);
        for (size_t i = 0; i < count; i++) {
            policy_route_fallback(host, &requests[i], "out of memory in triage", true);
        }
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        policy_request_t *req = &requests[i];
        req->detail[0] = '\0';
        region_t *r = s_region(host, req->region);
        if (!req->view) {
            s_fallback(host, r, req, "no case view", true);
        } else if (!r) {
            s_fallback(host, NULL, req, "the case's region is not configured", true);
        } else if (r->on_fallback) {
            s_fallback(host, r, req, r->reason, false);
        } else {
            continue;
        }
        finished[i] = true;
    }
    char unavailable[POLICY_DETAIL_MAX] = "";
    int unblamed = 0;
    /* After a failure no case could be blamed for (the worker died between
     * cases, was killed from outside, or answered nonsense, as a plugin
     * writing into its socket would make it), the rest goes one case per
     * message. A failure then has one case to blame, and only that case
     * pays for it; a worker that merely died before gets its retry. */
    size_t chunk_max = host->batch_max;
    bool isolating = false;
    size_t first = 0; /* requests before `first` are all finished */
    for (;;) {
        while (first < count && finished[first]) {
            first++;
        }
        size_t n = 0;
        for (size_t i = first; i < count && n < chunk_max; i++) {
            if (finished[i]) {
                continue;
            }
            region_t *r = s_region(host, requests[i].region);
            if (r->on_fallback) { /* quarantined during this call */
                s_fallback(host, r, &requests[i], r->reason, false);
                finished[i] = true;
                continue;
            }
            idx[n] = i;
            slots[n] = (uint32_t)(r - host->regions);
            n++;
        }
        if (n == 0) {
            break;
        }
        if (s_ensure_worker(host) < 0) {
            s_fmt(unavailable, sizeof unavailable, "policy worker unavailable: %s",
                  host->spawn_error);
            break;
        }
        long blamed = -1;
        wait_result_t w = s_route_chunk(host, requests, idx, slots, n, &blamed);
        if (w == WAIT_FRAME) {
            for (size_t k = 0; k < n; k++) {
                finished[idx[k]] = true;
            }
            continue;
        }
        s_worker_died(host);
        if (blamed < 0 && n == 1 && isolating) {
            blamed = 0; /* alone in its message, and after a retry: it is the one */
        }
        if (blamed < 0) {
            log_warn("policy worker failed with no case in hand; retrying the batch one case "
                     "at a time",
                     "how=%s cases=%zu", host->last_exit, n);
            if (++unblamed >= POLICY_UNBLAMED_MAX) {
                s_fmt(unavailable, sizeof unavailable, "policy worker keeps failing: %s",
                      host->last_exit);
                break;
            }
            chunk_max = 1;
            isolating = true;
            continue;
        }
        policy_request_t *victim = &requests[idx[blamed]];
        region_t *r = &host->regions[slots[blamed]];
        finished[idx[blamed]] = true;
        memset(&victim->decision, 0, sizeof victim->decision);
        if (w == WAIT_TIMED_OUT) {
            victim->outcome = POLICY_OUTCOME_TIMED_OUT;
            s_fmt(victim->detail, sizeof victim->detail,
                  "plugin %s %s took longer than %d ms on this case; the worker was killed",
                  r->plugin_name, r->plugin_version, host->route_timeout_ms);
            r->timeouts++;
            metric_inc(r->m_timed_out);
        } else {
            victim->outcome = POLICY_OUTCOME_CRASHED;
            s_fmt(victim->detail, sizeof victim->detail,
                  "plugin %s %s crashed on this case: the worker %s", r->plugin_name,
                  r->plugin_version, host->last_exit);
            r->crashes++;
            metric_inc(r->m_crashed);
        }
        log_error("policy plugin failed on a case", "case=%s region=%s plugin=%s outcome=%s",
                  s_str(victim->view->case_id), r->config.name, r->plugin_name,
                  w == WAIT_TIMED_OUT ? "timed_out" : "crashed");
        s_count_crash(host, r, victim->detail);
    }
    for (size_t i = first; i < count; i++) {
        if (!finished[i]) {
            s_fallback(host, s_region(host, requests[i].region), &requests[i], unavailable, false);
        }
    }
    free(finished);
    free(idx);
    free(slots);
    metric_observe(host->m_batch_seconds, (double)(s_mono_ns() - started) / 1e9);
    return 0;
}

int policy_set_load(policy_host_t *host, const char *region, const char *officer_id,
                    uint32_t open_cases)
{
    region_t *r = s_region(host, region);
    if (!r || !officer_id) {
        return -1;
    }
    for (size_t i = 0; i < r->config.roster_count; i++) {
        if (strcmp(r->config.roster[i].id, officer_id) == 0) {
            if (r->loads[i] != open_cases) {
                r->loads[i] = open_cases;
                r->loads_dirty = true;
            }
            return 0;
        }
    }
    return -1;
}

/* --- construction ---------------------------------------------------------------- */

static void s_register_metrics(policy_host_t *host, metrics_t *metrics)
{
    if (!metrics) {
        return;
    }
    host->m_restarts = metrics_add(metrics, METRIC_COUNTER, "policy_worker_restarts_total",
                                   "Times the policy worker died and was restarted", NULL);
    host->m_reload_ok = metrics_add(metrics, METRIC_COUNTER, "policy_reloads_total",
                                    "Plugin hot reloads, by result", "result=\"ok\"");
    host->m_reload_failed = metrics_add(metrics, METRIC_COUNTER, "policy_reloads_total",
                                        "Plugin hot reloads, by result", "result=\"failed\"");
    host->m_batch_seconds = metrics_add(metrics, METRIC_HISTOGRAM, "policy_batch_seconds",
                                        "Time to route one batch through the plugins", NULL);
    static const char help[] = "Routing outcomes by region: ok (plugin), fallback, crashed, "
                               "timed_out";
    for (size_t i = 0; i < host->region_count; i++) {
        region_t *r = &host->regions[i];
        char labels[160];
        const char *name = r->config.name;
        s_fmt(labels, sizeof labels, "region=\"%s\",outcome=\"ok\"", name);
        r->m_ok = metrics_add(metrics, METRIC_COUNTER, "policy_decisions_total", help, labels);
        s_fmt(labels, sizeof labels, "region=\"%s\",outcome=\"fallback\"", name);
        r->m_fallback =
            metrics_add(metrics, METRIC_COUNTER, "policy_decisions_total", help, labels);
        s_fmt(labels, sizeof labels, "region=\"%s\",outcome=\"crashed\"", name);
        r->m_crashed = metrics_add(metrics, METRIC_COUNTER, "policy_decisions_total", help, labels);
        s_fmt(labels, sizeof labels, "region=\"%s\",outcome=\"timed_out\"", name);
        r->m_timed_out =
            metrics_add(metrics, METRIC_COUNTER, "policy_decisions_total", help, labels);
        s_fmt(labels, sizeof labels, "region=\"%s\"", name);
        r->m_on_fallback =
            metrics_add(metrics, METRIC_GAUGE, "policy_region_on_fallback",
                        "1 while the region's cases go to its fallback policy", labels);
    }
}

static int s_int_or(int value, int fallback)
{
    return value > 0 ? value : fallback;
}

policy_host_t *policy_host_new(const policy_host_config_t *config,
                               const policy_region_list_t *regions, char *err, size_t errlen)
{
    if (!config || !regions || regions->count == 0) {
        s_fmt(err, errlen, "policy: no regions configured");
        return NULL;
    }
    if (policy_trust_check_dir(config->plugin_dir, err, errlen) < 0) {
        return NULL;
    }
    for (size_t i = 0; i < regions->count; i++) {
        const policy_region_t *r = &regions->regions[i];
        if (!r->name || !r->name[0]) {
            s_fmt(err, errlen, "policy: region %zu has no name", i + 1);
            return NULL;
        }
        if (!r->plugin || !r->plugin[0]) {
            s_fmt(err, errlen,
                  "policy: region '%s' is bound to no plugin (set its plugin, e.g. \"rules\")",
                  r->name);
            return NULL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(regions->regions[j].name, r->name) == 0) {
                s_fmt(err, errlen, "policy: region '%s' is configured twice", r->name);
                return NULL;
            }
        }
    }
    policy_host_t *host = calloc(1, sizeof *host);
    if (!host) {
        s_fmt(err, errlen, "policy: out of memory");
        return NULL;
    }
    host->pid = -1;
    host->sock = -1;
    host->progress_fd = -1;
    policy_wire_in_init(&host->in);
    host->plugin_dir = strdup(config->plugin_dir);
    host->directory_db = strdup(s_str(config->directory_db));
    if (asprintf(&host->log_env, "%s=%s", POLICY_LOG_ENV,
                 config->log_level && config->log_level[0] ? config->log_level : "info") < 0) {
        host->log_env = NULL;
    }
    host->route_timeout_ms = s_int_or(config->route_timeout_ms, POLICY_ROUTE_TIMEOUT_MS_DEFAULT);
    host->memory_mb = config->memory_mb > 0 ? config->memory_mb : 0;
    host->init_timeout_ms = s_int_or(config->init_timeout_ms, POLICY_INIT_TIMEOUT_MS_DEFAULT);
    host->crash_limit = s_int_or(config->crash_limit, POLICY_CRASH_LIMIT_DEFAULT);
    host->crash_window_ms = s_int_or(config->crash_window_ms, POLICY_CRASH_WINDOW_MS_DEFAULT);
    host->batch_max = config->batch_max ? config->batch_max : POLICY_BATCH_MAX_DEFAULT;
    if (host->batch_max > POLICY_BATCH_CAP) {
        host->batch_max = POLICY_BATCH_CAP; /* larger batches are sent in pieces */
    }
    host->regions = calloc(regions->count, sizeof *host->regions);
    if (!host->plugin_dir || !host->directory_db || !host->log_env || !host->regions) {
        s_fmt(err, errlen, "policy: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < regions->count; i++) {
        region_t *r = &host->regions[i];
        r->fd = -1;
        policy_region_list_t one = {.regions = (policy_region_t *)&regions->regions[i], .count = 1};
        policy_region_list_t copy;
        if (policy_region_list_copy(&one, &copy) < 0) {
            s_fmt(err, errlen, "policy: out of memory");
            goto fail;
        }
        r->config = copy.regions[0];
        free(copy.regions);
        host->region_count++;
        r->loads = calloc(r->config.roster_count + 1, sizeof *r->loads);
        if (!r->loads) {
            s_fmt(err, errlen, "policy: out of memory");
            goto fail;
        }
    }
    if (s_find_worker(host, config->worker_path, err, errlen) < 0 ||
        s_progress_new(host, err, errlen) < 0) {
        goto fail;
    }
    s_register_metrics(host, config->metrics);
    for (size_t i = 0; i < host->region_count; i++) {
        region_t *r = &host->regions[i];
        char why[POLICY_DETAIL_MAX];
        r->fd = policy_trust_open(host->plugin_dir, r->config.plugin, r->file, sizeof r->file,
                                  &r->st, why, sizeof why);
        if (r->fd < 0) {
            s_set_fallback(host, r, why);
        }
    }
    if (s_start_worker(host) < 0) {
        s_fmt(err, errlen, "policy: %s", host->spawn_error);
        goto fail;
    }
    for (size_t i = 0; i < host->region_count; i++) {
        region_t *r = &host->regions[i];
        if (!r->on_fallback) {
            log_info("region plugin loaded", "region=%s plugin=%s version=%s file=%s",
                     r->config.name, r->plugin_name, r->plugin_version, r->file);
        }
    }
    return host;
fail:
    policy_host_destroy(&host);
    return NULL;
}

void policy_host_destroy(policy_host_t **host_p)
{
    policy_host_t *host = *host_p;
    if (!host) {
        return;
    }
    if (host->pid > 0) {
        policy_wire_begin(&host->out, POLICY_MSG_SHUTDOWN);
        pid_t got = 0;
        if (policy_wire_send(host->sock, &host->out, -1) == 0) {
            uint64_t until = s_mono_ms() + POLICY_SHUTDOWN_GRACE_MS;
            int status;
            while ((got = waitpid(host->pid, &status, WNOHANG)) == 0 && s_mono_ms() < until) {
                struct timespec pause = {0, POLICY_NS_PER_MS};
                nanosleep(&pause, NULL);
            }
        }
        if (got != 0) {
            host->pid = -1; /* reaped (or not our child any more): never signal it again */
        }
        s_reap(host, true);
    }
    for (size_t i = 0; i < host->region_count; i++) {
        s_region_free(&host->regions[i]);
    }
    free(host->regions);
    if (host->progress) {
        munmap(host->progress, (size_t)sysconf(_SC_PAGESIZE));
    }
    if (host->progress_fd >= 0) {
        close(host->progress_fd);
    }
    policy_wire_in_free(&host->in);
    policy_wire_buf_free(&host->out);
    free(host->plugin_dir);
    free(host->directory_db);
    free(host->log_env);
    free(host);
    *host_p = NULL;
}

/* --- reload ----------------------------------------------------------------------- */

static bool s_same_text(const char *a, const char *b)
{
    return strcmp(s_str(a), s_str(b)) == 0;
}

static bool s_same_roster(const policy_region_t *a, const policy_region_t *b)
{
    if (a->roster_count != b->roster_count) {
        return false;
    }
    for (size_t i = 0; i < a->roster_count; i++) {
        const policy_officer_t *x = &a->roster[i], *y = &b->roster[i];
        if (strcmp(x->id, y->id) != 0 || x->role != y->role || x->on_call != y->on_call ||
            x->language_count != y->language_count) {
            return false;
        }
        for (size_t j = 0; j < x->language_count; j++) {
            if (strcmp(x->languages[j], y->languages[j]) != 0) {
                return false;
            }
        }
    }
    return true;
}

static bool s_same_config(const policy_region_t *a, const policy_region_t *b)
{
    return s_same_text(a->plugin, b->plugin) && s_same_text(a->plugin_config, b->plugin_config) &&
           s_same_text(a->timezone, b->timezone) &&
           s_same_text(a->fallback_assignee, b->fallback_assignee) &&
           s_same_text(a->fallback_escalation, b->fallback_escalation) && s_same_roster(a, b);
}

/* Loads for `fresh`'s roster, carried over by officer id from `r`. */
static uint32_t *s_carry_loads(const region_t *r, const policy_region_t *fresh)
{
    uint32_t *loads = calloc(fresh->roster_count + 1, sizeof *loads);
    for (size_t i = 0; loads && i < fresh->roster_count; i++) {
        for (size_t j = 0; j < r->config.roster_count; j++) {
            if (strcmp(fresh->roster[i].id, r->config.roster[j].id) == 0) {
                loads[i] = r->loads[j];
                break;
            }
        }
    }
    return loads;
}

static void s_report(char *report, size_t len, size_t *used, const char *line)
{
    if (!report || *used >= len) {
        return;
    }
    int n = s_fmt(report + *used, len - *used, "%s\n", line);
    if (n > 0) {
        *used += (size_t)n < len - *used ? (size_t)n : len - *used - 1;
    }
}

/* Reloads one region with `fresh` (moved into the region on success).
 * Returns 0 when the region runs what was asked. */
/* A region on its fallback runs no plugin that could refuse new settings,
 * and its fallback routes by them (roster, fallback assignee): it takes
 * them even when its plugin still does not load. Takes `fresh`'s contents
 * (zeroes it). On out of memory the old settings stay. */
static void s_fallback_adopts(region_t *r, policy_region_t *fresh)
{
    uint32_t *loads = s_carry_loads(r, fresh);
    if (!loads) {
        return;
    }
    policy_region_clear(&r->config);
    r->config = *fresh;
    memset(fresh, 0, sizeof *fresh);
    free(r->loads);
    r->loads = loads;
}

static int s_reload_region(policy_host_t *host, size_t slot, policy_region_t *fresh, char *line,
                           size_t line_len)
{
    region_t *r = &host->regions[slot];
    char why[POLICY_DETAIL_MAX];
    char path[PATH_MAX];
    struct stat st;
    char old[VIGIL_PLUGIN_NAME_MAX + VIGIL_PLUGIN_VERSION_MAX + 2];
    s_fmt(old, sizeof old, "%s %s", r->plugin_name, r->plugin_version);
    int fd =
        policy_trust_open(host->plugin_dir, fresh->plugin, path, sizeof path, &st, why, sizeof why);
    if (fd < 0) {
        s_fmt(line, line_len, "%s: %s %s: %s", r->config.name,
              r->on_fallback ? "still on fallback" : "kept", r->on_fallback ? "" : old, why);
        if (r->on_fallback) {
            s_fallback_adopts(r, fresh);
        }
        return -1;
    }
    bool same_file = r->fd >= 0 && st.st_dev == r->st.st_dev && st.st_ino == r->st.st_ino;
    if (same_file && !r->on_fallback && s_same_config(&r->config, fresh)) {
        close(fd);
        s_fmt(line, line_len, "%s: %s unchanged", r->config.name, old);
        return 0;
    }
    if (s_ensure_worker(host) < 0) {
        close(fd);
        s_fmt(line, line_len, "%s: %s: policy worker unavailable: %s", r->config.name,
              r->on_fallback ? "still on fallback" : old, host->spawn_error);
        if (r->on_fallback) {
            s_fallback_adopts(r, fresh);
        }
        return -1;
    }
    uint32_t *loads = s_carry_loads(r, fresh);
    if (!loads) {
        close(fd);
        s_fmt(line, line_len, "%s: out of memory", r->config.name);
        return -1;
    }
    char shown[PATH_MAX];
    s_fmt(shown, sizeof shown, "%s", r->file);
    s_fmt(r->file, sizeof r->file, "%s", path); /* messages name the new file */
    load_result_t l = s_load(host, slot, r, fresh, loads, fd);
    if (l.wait == WAIT_FRAME && l.status == POLICY_LOAD_NEW) {
        s_close_plugin(r);
        r->fd = fd;
        r->st = st;
        policy_region_clear(&r->config);
        r->config = *fresh;
        memset(fresh, 0, sizeof *fresh);
        free(r->loads);
        r->loads = loads;
        r->loads_dirty = false;
        bool was_fallback = r->on_fallback;
        r->on_fallback = false;
        r->reason[0] = '\0';
        r->crash_count = 0;
        metric_set(r->m_on_fallback, 0);
        s_fmt(r->plugin_name, sizeof r->plugin_name, "%s", l.name);
        s_fmt(r->plugin_version, sizeof r->plugin_version, "%s", l.version);
        s_fmt(line, line_len, "%s: %s -> %s %s%s", r->config.name, was_fallback ? "fallback" : old,
              l.name, l.version, same_file && !was_fallback ? " (new settings)" : "");
        return 0;
    }
    close(fd);
    free(loads);
    s_fmt(r->file, sizeof r->file, "%s", shown);
    if (l.wait != WAIT_FRAME) {
        s_worker_died(host);
        /* The old versions come back with the next worker. */
        s_start_worker(host);
    }
    s_fmt(line, line_len, "%s: %s%s: %s", r->config.name,
          r->on_fallback ? "still on fallback" : "kept ", r->on_fallback ? "" : old, l.error);
    log_warn("plugin reload refused; the region keeps what it ran", "region=%s reason=%s",
             r->config.name, l.error);
    if (r->on_fallback) {
        s_fallback_adopts(r, fresh);
    }
    return -1;
}

/* Adds `line` to the report and, when it is the first refusal, keeps it
 * in `refusal` too. */
static void s_report_refusal(char *report, size_t len, size_t *used, const char *line,
                             char *refusal, size_t refusal_len)
{
    s_report(report, len, used, line);
    if (refusal && refusal_len && !refusal[0]) {
        s_fmt(refusal, refusal_len, "%s", line);
    }
}

int policy_reload(policy_host_t *host, const policy_region_list_t *regions, char *report,
                  size_t report_len, char *refusal, size_t refusal_len)
{
    size_t used = 0;
    if (report && report_len) {
        report[0] = '\0';
    }
    if (refusal && refusal_len) {
        refusal[0] = '\0';
    }
    policy_region_list_t fresh = {0};
    if (regions) {
        bool same_set = regions->count == host->region_count;
        for (size_t i = 0; same_set && i < regions->count; i++) {
            same_set = s_region(host, regions->regions[i].name) != NULL;
        }
        if (!same_set) {
            s_report_refusal(report, report_len, &used,
                             "the set of regions changed: restart triage to add or remove a region",
                             refusal, refusal_len);
            metric_inc(host->m_reload_failed);
            return -1;
        }
        for (size_t i = 0; i < regions->count; i++) {
            if (!regions->regions[i].plugin || !regions->regions[i].plugin[0]) {
                char line[POLICY_LINE_MAX];
                s_fmt(line, sizeof line, "%s: bound to no plugin; nothing reloaded",
                      regions->regions[i].name);
                s_report_refusal(report, report_len, &used, line, refusal, refusal_len);
                metric_inc(host->m_reload_failed);
                return -1;
            }
        }
    }
    int result = 0;
    for (size_t i = 0; i < host->region_count; i++) {
        region_t *r = &host->regions[i];
        const policy_region_t *want = &r->config;
        if (regions) {
            for (size_t j = 0; j < regions->count; j++) {
                if (strcmp(regions->regions[j].name, r->config.name) == 0) {
                    want = &regions->regions[j];
                }
            }
        }
        policy_region_list_t one = {.regions = (policy_region_t *)want, .count = 1};
        if (policy_region_list_copy(&one, &fresh) < 0) {
            s_report_refusal(report, report_len, &used, "out of memory", refusal, refusal_len);
            result = -1;
            continue;
        }
        char line[POLICY_LINE_MAX];
        if (s_reload_region(host, i, &fresh.regions[0], line, sizeof line) < 0) {
            result = -1;
            s_report_refusal(report, report_len, &used, line, refusal, refusal_len);
        } else {
            s_report(report, report_len, &used, line); /* the caller logs the report */
        }
        policy_regions_free(&fresh);
    }
    metric_inc(result == 0 ? host->m_reload_ok : host->m_reload_failed);
    return result;
}

/* --- status ------------------------------------------------------------------------- */

size_t policy_region_count(const policy_host_t *host)
{
    return host->region_count;
}

int policy_region_status(const policy_host_t *host, size_t index, policy_region_status_t *out)
{
    if (index >= host->region_count) {
        return -1;
    }
    const region_t *r = &host->regions[index];
    *out = (policy_region_status_t){
        .region = r->config.name,
        .file = r->file,
        .plugin_name = r->on_fallback ? POLICY_FALLBACK_NAME : r->plugin_name,
        .plugin_version = r->on_fallback ? VIGIL_VERSION : r->plugin_version,
        .on_fallback = r->on_fallback,
        .reason = r->reason,
        .decisions = r->decisions,
        .fallbacks = r->fallbacks,
        .crashes = r->crashes,
        .timeouts = r->timeouts,
    };
    return 0;
}

const policy_region_t *policy_region_settings(const policy_host_t *host, const char *name)
{
    const region_t *r = s_region((policy_host_t *)host, name);
    return r ? &r->config : NULL;
}

void policy_host_facts(const policy_host_t *host,
                       void (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
    policy_host_t *h = (policy_host_t *)host;
    char key[VIGIL_PLUGIN_ID_MAX + 16];
    for (size_t i = 0; i < host->region_count; i++) {
        const region_t *r = &host->regions[i];
        s_fmt(key, sizeof key, "plugin.%s", r->config.name);
        if (r->on_fallback) {
            s_fmt(h->fact, sizeof h->fact, "FALLBACK: %s", r->reason);
        } else {
            s_fmt(h->fact, sizeof h->fact, "%s %s", r->plugin_name, r->plugin_version);
        }
        fn(ctx, key, h->fact);
    }
    s_fmt(h->fact, sizeof h->fact, "%llu", (unsigned long long)host->restarts);
    fn(ctx, "plugin.worker_restarts", h->fact);
}

int policy_worker_pid(const policy_host_t *host)
{
    return host->pid > 0 ? (int)host->pid : -1;
}

void policy_decision_to_proto(const policy_decision_t *decision, Vigil__V1__RoutingDecision *out,
                              Vigil__V1__Referral *refs, Vigil__V1__Referral **ref_ptrs)
{
    vigil__v1__routing_decision__init(out);
    out->assignee_id = (char *)decision->assignee_id;
    out->escalation_path = (char *)decision->escalation_path;
    out->rationale = (char *)decision->rationale;
    out->priority_adjustment = decision->priority_adjustment;
    out->used_fallback = decision->used_fallback;
    out->needs_human_review = decision->needs_human_review;
    for (uint32_t i = 0; i < decision->referral_count && i < VIGIL_PLUGIN_REFERRALS_MAX; i++) {
        vigil__v1__referral__init(&refs[i]);
        refs[i].service_id = (char *)decision->referrals[i].service_id;
        refs[i].organization_id = (char *)decision->referrals[i].organization_id;
        refs[i].taxonomy_term = (char *)decision->referrals[i].taxonomy_term;
        ref_ptrs[i] = &refs[i];
    }
    out->n_referrals = decision->referral_count;
    out->referrals = decision->referral_count ? ref_ptrs : NULL;
}
