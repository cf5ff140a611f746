/* service.c: the skeleton every vigil service runs in (see vigil/service.h).
 *
 * It turns a declarative service_def_t into a running process: arguments,
 * layered config, logging, the store and its migrations, keys, the vault, the
 * link server and peer relays, the admin endpoint, /metrics, one zloop on one
 * thread, and the signals (SIGTERM/SIGINT drain, SIGHUP reload). It owns the
 * order in which things open and close; services never open sockets of
 * their own outside their start hook.
 *
 * It must never acknowledge anything itself, and never exit with messages
 * acknowledged but not committed: everything it closes has committed first.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "service_config.h"
#include "vigil/checkpointer.h"
#include "vigil/service.h"
#include "vigil/util.h"

#define SERVICE_ERR_LEN         512
#define SERVICE_TICK_MS         1000 /* heartbeat and uptime gauge period */
#define SERVICE_STALL_MS        5000 /* /healthz fails when the loop is silent this long */
#define SERVICE_DRAIN_POLL_MS   20   /* how often a drain checks the in-flight count */
#define SERVICE_STATE_DIR_MODE  0700
#define SERVICE_MAX_FACTS       64
#define SERVICE_CONFIG_SECTIONS 3

typedef struct {
    char *key;
    char *value;
} service_fact_t;

struct service_t {
    const service_def_t *def;
    service_config_t config;
    void *own_config;
    config_section_t sections[SERVICE_CONFIG_SECTIONS];
    const char *config_path;
    const char *state_dir_override;
    sqlite3 *db;
    checkpointer_t *checkpointer; /* the store's WAL checkpoints, on a thread of their own */
    vault_t *vault;
    security_t *security;
    metrics_t *metrics;
    zloop_t *loop;
    link_server_t *server;
    link_client_t **clients;
    size_t client_count;
    admin_server_t *admin;
    int signal_fd;
    int lock_fd;
    void *context;
    service_fact_t facts[SERVICE_MAX_FACTS];
    size_t fact_count;
    atomic_bool ready;
    atomic_llong heartbeat_ms;
    bool draining;
    bool drain_incomplete; /* the deadline passed with messages in flight */
    uint64_t drain_deadline_ns;
    int64_t started_ms;
    metric_t *uptime;
    metric_t *ready_gauge;
    metric_t *reloads;
};

/* --- small helpers --------------------------------------------------- */

static int s_mkdir_p(const char *path, mode_t mode)
{
    char buffer[4096];
    if (snprintf(buffer, sizeof buffer, "%s", path) >= (int)sizeof buffer)
        return -1;
    for (char *p = buffer + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buffer, mode) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buffer, mode) && errno != EEXIST)
        return -1;
    /* An existing path must be a folder we can use, not a file. */
    struct stat info;
    if (stat(buffer, &info) != 0)
        return -1;
    if (!S_ISDIR(info.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static void s_print_version(const char *name)
{
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    printf("vigil-%s %s (libzmq %d.%d.%d, czmq %d.%d.%d, sqlite %s, protobuf-c %s, "
           "libsodium %s)\n",
           name, VIGIL_VERSION, major, minor, patch, CZMQ_VERSION_MAJOR, CZMQ_VERSION_MINOR,
           CZMQ_VERSION_PATCH, sqlite3_libversion(), protobuf_c_version(), sodium_version_string());
}

static void s_usage(const char *name, FILE *out)
{
    fprintf(out,
            "usage: vigil-%s [--config FILE] [--state-dir DIR] [--check-config] [--version]\n"
            "  --config FILE     libconfig file; without it the embedded defaults apply\n"
            "  --state-dir DIR   overrides state_dir from the config\n"
            "  --check-config    load and validate the config, print the effective settings\n"
            "  --version         print versions and exit\n"
            "Exit codes: 0 ok, 64 usage, 69 endpoint unavailable, 70 internal, 73 store,\n"
            "77 keys or permissions, 78 config.\n",
            name);
}

/* --- config ----------------------------------------------------------- */

static int s_load_config(service_t *self, service_config_t *config, void *own, char *err,
                         size_t errlen)
{
    config_section_t sections[SERVICE_CONFIG_SECTIONS] = {
        {.keys = service_config_keys, .base = config},
        {.keys = self->def->config_keys, .base = own},
        {.keys = NULL},
    };
    if (!self->def->config_keys)
        sections[1].keys = NULL;
    memcpy(self->sections, sections, sizeof sections);
    if (config_load(self->def->embedded_config, self->config_path, self->sections, err, errlen))
        return -1;
    if (self->state_dir_override) {
        free(config->state_dir);
        config->state_dir = strdup(self->state_dir_override);
    }
    log_level_t level;
    if (log_level_parse(config->log_level, &level)) {
        snprintf(err, errlen, "%s: key 'log_level': expected debug, info, warn or error",
                 self->config_path ? self->config_path : "<defaults>");
        return -1;
    }
    if (service_config_derive(config, self->def->name, self->def->needs_vault)) {
        snprintf(err, errlen, "out of memory deriving paths");
        return -1;
    }
    return 0;
}

/* --- probes and timers ------------------------------------------------ */

static bool s_probe_healthy(void *ctx)
{
    service_t *self = ctx;
    return util_now_ms() - atomic_load(&self->heartbeat_ms) < SERVICE_STALL_MS;
}

static bool s_probe_ready(void *ctx)
{
    service_t *self = ctx;
    return atomic_load(&self->ready);
}

static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    service_t *self = arg;
    int64_t now = util_now_ms();
    atomic_store(&self->heartbeat_ms, now);
    metric_set(self->uptime, (double)(now - self->started_ms) / 1000.0);
    metric_set(self->ready_gauge, atomic_load(&self->ready) ? 1 : 0);
    return 0;
}

/* --- drain and reload ------------------------------------------------- */

static size_t s_inflight(service_t *self)
{
    size_t total = 0;
    for (size_t i = 0; i < self->client_count; i++)
        total += link_client_inflight(self->clients[i]);
    return total;
}

static int s_on_drain_poll(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    service_t *self = arg;
    size_t inflight = s_inflight(self);
    if (inflight == 0) {
        log_info("drained", "inflight=%d", 0);
        return -1;
    }
    if (util_mono_ns() >= self->drain_deadline_ns) {
        self->drain_incomplete = true;
        log_warn("drain deadline passed; unacknowledged messages stay queued for the next start",
                 "inflight=%zu", inflight);
        return -1;
    }
    return 0;
}

static void s_begin_drain(service_t *self)
{
    if (self->draining)
        return;
    self->draining = true;
    atomic_store(&self->ready, false);
    if (self->server)
        link_server_pause(self->server);
    /* Only what is already in flight is finished; the rest stays queued. */
    for (size_t i = 0; i < self->client_count; i++)
        link_client_pause(self->clients[i]);
    self->drain_deadline_ns =
        util_mono_ns() + (uint64_t)self->config.drain_timeout_ms * UINT64_C(1000000);
    log_info("draining: no new messages accepted", "inflight=%zu timeout_ms=%lld", s_inflight(self),
             (long long)self->config.drain_timeout_ms);
    zloop_timer(self->loop, SERVICE_DRAIN_POLL_MS, 0, s_on_drain_poll, self);
}

/* Re-reads the config file and applies what can change while running:
 * the log level, the vault's keys, the allowlists, then whatever the
 * service's own reload hook takes from its fresh settings. The fresh
 * config lives only for this call; an invalid one (a load error or the
 * service's cross-key check) changes nothing. Returns 0, or -1 with the
 * reason (as logged) in `why`. */
static int s_reload(service_t *self, char *why, size_t whylen)
{
    char err[SERVICE_ERR_LEN] = "";
    service_config_t fresh = {0};
    void *own = calloc(1, self->def->config_size ? self->def->config_size : 1);
    config_section_t saved[SERVICE_CONFIG_SECTIONS];
    memcpy(saved, self->sections, sizeof saved);
    int rc = -1;
    if (own)
        rc = s_load_config(self, &fresh, own, err, sizeof err);
    else
        snprintf(err, sizeof err, "out of memory");
    if (rc == 0 && self->def->check && self->def->check(own, err, sizeof err) < 0) {
        rc = -1; /* a check names the key, not the file */
        char keyed[SERVICE_ERR_LEN];
        snprintf(keyed, sizeof keyed, "%s: %s",
                 self->config_path ? self->config_path : "<embedded>", err);
        memcpy(err, keyed, sizeof err);
    }
    if (rc) {
        log_error("reload refused: config invalid; old settings stay", "error=%s", err);
        snprintf(why, whylen, "config invalid; old settings stay: %s", err);
        goto done;
    }
    log_level_t level;
    if (fresh.log_level && log_level_parse(fresh.log_level, &level) == 0) {
        char *new_level = strdup(fresh.log_level);
        if (new_level) {
            log_set_level(level);
            free(self->config.log_level);
            self->config.log_level = new_level;
        }
    }
    if (self->vault && vault_reload(self->vault, self->config.vault_key_file, err, sizeof err)) {
        log_error("reload: vault key file refused; the old keys stay", "error=%s", err);
        snprintf(why, whylen, "vault key file refused; the old keys stay: %s", err);
        rc = -1;
        goto done;
    }
    if (security_reload(self->security, err, sizeof err)) {
        log_error("reload: allowlist could not be re-read; the old one stays", "error=%s", err);
        snprintf(why, whylen, "allowlist could not be re-read; the old one stays: %s", err);
        rc = -1;
        goto done;
    }
    err[0] = '\0';
    if (self->def->reload && self->def->reload(self, own, err, sizeof err)) {
        log_error("reload: service refused the new settings", "error=%s", err);
        snprintf(why, whylen, "%s", err[0] ? err : "the service refused the new settings");
        rc = -1;
        goto done;
    }
    metric_inc(self->reloads);
    log_info("reloaded", "log_level=%s", self->config.log_level);
done:
    if (own) { /* s_load_config ran: the sections are the fresh ones */
        config_release(self->sections);
        memcpy(self->sections, saved, sizeof saved);
        free(own);
    }
    return rc;
}

static int s_on_signal(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    (void)item;
    service_t *self = arg;
    struct signalfd_siginfo info;
    while (read(self->signal_fd, &info, sizeof info) == (ssize_t)sizeof info) {
        if (info.ssi_signo == SIGHUP) {
            char why[SERVICE_ERR_LEN];
            s_reload(self, why, sizeof why); /* logged */
        } else if (self->draining) {
            log_warn("second stop signal: stopping now; queued messages stay in the outbox", NULL);
            return -1;
        } else {
            s_begin_drain(self);
        }
    }
    return 0;
}

/* --- admin commands every service answers ------------------------------ */

static char *s_strdup(const char *text)
{
    return strdup(text ? text : "");
}

static void s_collect_metric(void *ctx, const char *name, const char *labels, double value)
{
    Vigil__V1__AdminReply *reply = ctx;
    Vigil__V1__Metric **grown =
        realloc(reply->metrics, (reply->n_metrics + 1) * sizeof *reply->metrics);
    Vigil__V1__Metric *metric = malloc(sizeof *metric);
    if (!grown || !metric) {
        free(metric);
        if (grown)
            reply->metrics = grown;
        return;
    }
    vigil__v1__metric__init(metric);
    metric->name = s_strdup(name);
    metric->labels = s_strdup(labels);
    metric->value = value;
    reply->metrics = grown;
    reply->metrics[reply->n_metrics++] = metric;
}

static Vigil__V1__ServiceStatus *s_status(service_t *self)
{
    Vigil__V1__ServiceStatus *status = malloc(sizeof *status);
    if (!status)
        return NULL;
    vigil__v1__service_status__init(status);
    status->service = s_strdup(self->def->name);
    status->version = s_strdup(VIGIL_VERSION);
    status->uptime_s = (util_now_ms() - self->started_ms) / 1000;
    status->ready = atomic_load(&self->ready);
    status->state = s_strdup(self->draining ? "draining" : "running");
    status->insecure = self->config.insecure;
    status->facts = calloc(self->fact_count ? self->fact_count : 1, sizeof *status->facts);
    for (size_t i = 0; status->facts && i < self->fact_count; i++) {
        Vigil__V1__Fact *fact = malloc(sizeof *fact);
        if (!fact)
            break;
        vigil__v1__fact__init(fact);
        fact->key = s_strdup(self->facts[i].key);
        fact->value = s_strdup(self->facts[i].value);
        status->facts[status->n_facts++] = fact;
    }
    return status;
}

static int s_admin_status(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                          Vigil__V1__AdminReply *reply)
{
    (void)request;
    (void)peer;
    service_t *self = ctx;
    reply->status = s_status(self);
    metrics_each(self->metrics, s_collect_metric, reply);
    return 0;
}

static int s_admin_health(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                          Vigil__V1__AdminReply *reply)
{
    (void)request;
    (void)peer;
    service_t *self = ctx;
    reply->status = s_status(self);
    return 0;
}

static int s_admin_deadletters_list(void *ctx, const Vigil__V1__AdminRequest *request,
                                    const char *peer, Vigil__V1__AdminReply *reply)
{
    (void)peer;
    service_t *self = ctx;
    char err[SERVICE_ERR_LEN];
    if (link_deadletters_list(self->db, request->limit, reply, err, sizeof err)) {
        reply->error = s_strdup(err);
        return -1;
    }
    return 0;
}

static int s_admin_deadletters_replay(void *ctx, const Vigil__V1__AdminRequest *request,
                                      const char *peer, Vigil__V1__AdminReply *reply)
{
    service_t *self = ctx;
    char err[SERVICE_ERR_LEN];
    int64_t id = 0;
    if (request->target && *request->target) {
        char *end = NULL;
        id = strtoll(request->target, &end, 10);
        if (!end || *end || id <= 0) {
            reply->error = s_strdup("target must be a dead-letter id (a positive integer)");
            return -1;
        }
    }
    uint32_t replayed = 0;
    /* Without a link server only outbound dead letters exist: requeue them. */
    int rc = self->server ? link_server_replay(self->server, id, &replayed, err, sizeof err)
                          : link_deadletters_requeue(self->db, id, &replayed, err, sizeof err);
    if (rc) {
        reply->error = s_strdup(err);
        return -1;
    }
    reply->affected = replayed;
    log_info("dead letters replayed", "operator=%s replayed=%u", peer, replayed);
    return 0;
}

static int s_admin_reload(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                          Vigil__V1__AdminReply *reply)
{
    (void)request;
    (void)peer;
    char why[SERVICE_ERR_LEN] = "";
    if (s_reload(ctx, why, sizeof why)) {
        char text[SERVICE_ERR_LEN + 32];
        snprintf(text, sizeof text, "reload refused: %s", why);
        reply->error = s_strdup(text);
        return -1;
    }
    return 0;
}

static const admin_command_t s_common_commands[] = {
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, s_admin_status},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_HEALTH, s_admin_health},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DEADLETTERS_LIST, s_admin_deadletters_list},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DEADLETTERS_REPLAY, s_admin_deadletters_replay},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD, s_admin_reload},
    {0, NULL},
};

/* --- open and close ---------------------------------------------------- */

static int s_open_links(service_t *self, char *err, size_t errlen)
{
    const service_config_t *c = &self->config;
    if (self->def->routes && c->link_listen && *c->link_listen) {
        link_server_config_t server_config = {
            .endpoint = c->link_listen,
            .batch_max = (int)c->link_batch_max,
            .max_frame = (size_t)c->link_max_frame,
            .max_attempts = (int)c->link_max_attempts,
            .heartbeat_ms = (int)c->link_heartbeat_ms,
            .coalesce_acks = c->link_coalesce_acks,
            .reject_unknown_fields = c->link_reject_unknown_fields,
            .inbox_retention_days = (int)c->link_inbox_retention_days,
        };
        self->server = link_server_new(&server_config, self->db, self->security, self->vault,
                                       self->metrics, self->def->routes, self, err, errlen);
        if (!self->server || link_server_attach(self->server, self->loop, err, errlen))
            return -1;
    }
    self->clients = calloc(c->peers.count ? c->peers.count : 1, sizeof *self->clients);
    if (!self->clients)
        return -1;
    for (size_t i = 0; i < c->peers.count; i++) {
        const service_peer_config_t *peer = &c->peers.items[i];
        link_client_config_t client_config = {
            .peer = peer->name,
            .endpoint = peer->endpoint,
            .server_key = peer->server_key,
            .source = self->def->name,
            .window = (int)peer->window,
            .ack_timeout_ms = (int)peer->ack_timeout_ms,
            .backoff_max_ms = (int)peer->backoff_max_ms,
            .heartbeat_ms = (int)c->link_heartbeat_ms,
        };
        link_client_t *client = link_client_new(&client_config, self->db, self->security,
                                                self->vault, self->metrics, err, errlen);
        if (!client)
            return -1;
        self->clients[self->client_count++] = client;
        if (link_client_attach(client, self->loop, err, errlen))
            return -1;
    }
    return 0;
}

static int s_open(service_t *self, int *exit_code)
{
    char err[SERVICE_ERR_LEN] = "";
    const service_config_t *c = &self->config;

    if (s_mkdir_p(c->state_dir, SERVICE_STATE_DIR_MODE)) {
        log_error("cannot create the state directory", "path=%s error=%s", c->state_dir,
                  strerror(errno));
        *exit_code = SERVICE_EXIT_STORE;
        return -1;
    }
    /* One instance per state directory and service: a second one would
     * silently take over the admin socket and share the store. */
    char lock_path[4096];
    snprintf(lock_path, sizeof lock_path, "%s/%s.lock", c->state_dir, self->def->name);
    self->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        log_error("cannot open the state directory's lock file", "lock=%s error=%s", lock_path,
                  strerror(errno));
        *exit_code = SERVICE_EXIT_STORE;
        return -1;
    }
    if (flock(self->lock_fd, LOCK_EX | LOCK_NB)) {
        bool taken = errno == EWOULDBLOCK;
        if (taken) {
            log_error("another instance of this service runs on this state directory", "lock=%s",
                      lock_path);
        } else {
            log_error("cannot lock the state directory", "lock=%s error=%s", lock_path,
                      strerror(errno));
        }
        *exit_code = taken ? SERVICE_EXIT_UNAVAILABLE : SERVICE_EXIT_STORE;
        return -1;
    }
    self->db = store_open(c->store_path, self->def->migrations, self->def->migration_count, err,
                          sizeof err);
    if (!self->db) {
        log_error("cannot open the store", "path=%s error=%s", c->store_path, err);
        *exit_code = SERVICE_EXIT_STORE;
        return -1;
    }
    /* 0: wake at sqlite's own automatic-checkpoint threshold */
    self->checkpointer = checkpointer_new(self->db, 0, err, sizeof err);
    if (!self->checkpointer && *err) {
        log_error("cannot start the store's checkpoint thread", "path=%s error=%s", c->store_path,
                  err);
        *exit_code = SERVICE_EXIT_STORE;
        return -1;
    }
    if (c->vault_key_file && *c->vault_key_file) {
        self->vault = vault_open(c->vault_key_file, err, sizeof err);
        if (!self->vault) {
            log_error("cannot open the vault key file", "error=%s", err);
            *exit_code = SERVICE_EXIT_NOPERM;
            return -1;
        }
    }
    security_config_t security_config = {
        .insecure = c->insecure,
        .cert_path = c->cert,
        .allow_dir = c->allow_dir,
    };
    self->security = security_new(&security_config, err, sizeof err);
    if (!self->security) {
        log_error("cannot load keys", "error=%s", err);
        *exit_code = SERVICE_EXIT_NOPERM;
        return -1;
    }
    self->metrics = metrics_new(self->def->name);
    self->loop = zloop_new();
    if (!self->metrics || !self->loop) {
        *exit_code = SERVICE_EXIT_SOFTWARE;
        return -1;
    }
    self->uptime = metrics_add(self->metrics, METRIC_GAUGE, "uptime_seconds",
                               "Seconds since the service started", NULL);
    self->ready_gauge = metrics_add(self->metrics, METRIC_GAUGE, "ready",
                                    "1 when the service accepts traffic, 0 while starting or "
                                    "draining",
                                    NULL);
    self->reloads =
        metrics_add(self->metrics, METRIC_COUNTER, "reloads_total",
                    "Successful configuration reloads (SIGHUP or vigilctl reload)", NULL);
    if (s_open_links(self, err, sizeof err)) {
        log_error("cannot start the link", "error=%s", err);
        *exit_code = SERVICE_EXIT_UNAVAILABLE;
        return -1;
    }
    self->admin = admin_server_new(c->admin_endpoint, self->security, (size_t)c->link_max_frame,
                                   err, sizeof err);
    if (!self->admin || admin_server_add(self->admin, s_common_commands, self) ||
        (self->def->admin_commands &&
         admin_server_add(self->admin, self->def->admin_commands, self)) ||
        admin_server_attach(self->admin, self->loop, err, sizeof err)) {
        log_error("cannot start the admin endpoint", "endpoint=%s error=%s", c->admin_endpoint,
                  err);
        *exit_code = SERVICE_EXIT_UNAVAILABLE;
        return -1;
    }
    return 0;
}

static int s_start_http(service_t *self, int *exit_code)
{
    char err[SERVICE_ERR_LEN] = "";
    const char *listen = self->config.metrics_listen;
    if (!listen || !*listen)
        return 0;
    int port =
        metrics_serve(self->metrics, listen, s_probe_healthy, s_probe_ready, self, err, sizeof err);
    if (port < 0) {
        log_error("cannot serve /metrics", "listen=%s error=%s", listen, err);
        *exit_code = SERVICE_EXIT_UNAVAILABLE;
        return -1;
    }
    char where[64];
    snprintf(where, sizeof where, "http port %d", port);
    service_set_fact(self, "metrics", where);
    return 0;
}

static int s_start_signals(service_t *self, int *exit_code)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    self->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (self->signal_fd < 0) {
        log_error("cannot create a signalfd", "errno=%d", errno);
        *exit_code = SERVICE_EXIT_SOFTWARE;
        return -1;
    }
    zmq_pollitem_t item = {.socket = NULL, .fd = self->signal_fd, .events = ZMQ_POLLIN};
    zloop_poller(self->loop, &item, s_on_signal, self);
    zloop_timer(self->loop, SERVICE_TICK_MS, 0, s_on_tick, self);
    return 0;
}

static void s_close(service_t *self)
{
    atomic_store(&self->ready, false);
    admin_server_destroy(&self->admin);
    link_server_destroy(&self->server);
    for (size_t i = 0; i < self->client_count; i++)
        link_client_destroy(&self->clients[i]);
    free(self->clients);
    self->clients = NULL;
    zloop_destroy(&self->loop);
    metrics_destroy(&self->metrics);
    security_destroy(&self->security);
    vault_destroy(&self->vault);
    checkpointer_destroy(&self->checkpointer); /* before the store it checkpoints */
    store_close(&self->db);
    if (self->signal_fd >= 0)
        close(self->signal_fd);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    for (size_t i = 0; i < self->fact_count; i++) {
        free(self->facts[i].key);
        free(self->facts[i].value);
    }
    config_release(self->sections);
    free(self->own_config);
}

/* --- main ---------------------------------------------------------------- */

static int s_parse_args(service_t *self, int argc, char **argv, bool *check_only)
{
    enum { OPT_CONFIG = 'c', OPT_STATE = 's', OPT_CHECK = 'k', OPT_VERSION = 'V', OPT_HELP = 'h' };
    static const struct option options[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:kVh", options, NULL)) != -1) {
        switch (opt) {
        case OPT_CONFIG:
            self->config_path = optarg;
            break;
        case OPT_STATE:
            self->state_dir_override = optarg;
            break;
        case OPT_CHECK:
            *check_only = true;
            break;
        case OPT_VERSION:
            s_print_version(self->def->name);
            return SERVICE_EXIT_OK;
        case OPT_HELP:
            s_usage(self->def->name, stdout);
            return SERVICE_EXIT_OK;
        default:
            s_usage(self->def->name, stderr);
            return SERVICE_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-%s: unexpected argument '%s'\n", self->def->name, argv[optind]);
        s_usage(self->def->name, stderr);
        return SERVICE_EXIT_USAGE;
    }
    return -1;
}

int service_main(const service_def_t *def, int argc, char **argv)
{
    /* Signals are blocked before any thread exists (zmq, zauth, HTTP), so
     * every thread inherits the mask and only the signalfd sees them. */
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);
    signal(SIGPIPE, SIG_IGN);
    zsys_handler_set(NULL);
    if (sodium_init() < 0) {
        fprintf(stderr, "vigil-%s: libsodium failed to initialise\n", def->name);
        return SERVICE_EXIT_SOFTWARE;
    }

    service_t *self = calloc(1, sizeof *self);
    if (!self)
        return SERVICE_EXIT_SOFTWARE;
    self->def = def;
    self->signal_fd = -1;
    self->lock_fd = -1;
    self->started_ms = util_now_ms();
    atomic_store(&self->heartbeat_ms, self->started_ms);
    bool check_only = false;
    int exit_code = s_parse_args(self, argc, argv, &check_only);
    if (exit_code >= 0) {
        free(self);
        return exit_code;
    }
    exit_code = SERVICE_EXIT_OK;

    char err[SERVICE_ERR_LEN] = "";
    self->own_config = calloc(1, def->config_size ? def->config_size : 1);
    bool loaded = self->own_config &&
                  s_load_config(self, &self->config, self->own_config, err, sizeof err) == 0;
    if (!loaded || (def->check && def->check(self->own_config, err, sizeof err) < 0)) {
        /* Load errors name their file and line; a check names the key. */
        fprintf(stderr, "vigil-%s: config error: %s%s%s\n", def->name,
                loaded ? (self->config_path ? self->config_path : "<embedded>") : "",
                loaded ? ": " : "", err);
        config_release(self->sections);
        free(self->own_config);
        free(self);
        return SERVICE_EXIT_CONFIG;
    }
    if (check_only) {
        printf("# vigil-%s: configuration OK (%s)\n", def->name,
               self->config_path ? self->config_path : "embedded defaults");
        config_dump(self->def->embedded_config, self->config_path, self->sections, stdout);
        config_release(self->sections);
        free(self->own_config);
        free(self);
        return SERVICE_EXIT_OK;
    }

    log_level_t level = LOG_LEVEL_INFO;
    log_level_parse(self->config.log_level, &level);
    log_init(def->name, level);

    if (s_open(self, &exit_code) == 0 && s_start_signals(self, &exit_code) == 0 &&
        s_start_http(self, &exit_code) == 0) {
        int rc = def->start ? def->start(self) : 0;
        if (rc != 0) {
            exit_code = rc;
            if (def->stop)
                def->stop(self); /* releases whatever start had set up */
        } else {
            atomic_store(&self->ready, true);
            log_info("started", "version=%s link=%s admin=%s metrics=%s peers=%zu insecure=%s",
                     VIGIL_VERSION, self->server ? self->config.link_listen : "-",
                     self->config.admin_endpoint,
                     *self->config.metrics_listen ? self->config.metrics_listen : "-",
                     self->client_count, self->config.insecure ? "true" : "false");
            zloop_start(self->loop);
            log_info("stopped", "drain=%s",
                     !self->draining          ? "none"
                     : self->drain_incomplete ? "deadline passed"
                                              : "complete");
            if (def->stop)
                def->stop(self);
        }
    }
    s_close(self);
    free(self);
    return exit_code;
}

/* --- accessors -------------------------------------------------------- */

sqlite3 *service_db(service_t *service)
{
    return service->db;
}

zloop_t *service_loop(service_t *service)
{
    return service->loop;
}

metrics_t *service_metrics(service_t *service)
{
    return service->metrics;
}

security_t *service_security(service_t *service)
{
    return service->security;
}

const vault_t *service_vault(service_t *service)
{
    return service->vault;
}

const void *service_config(service_t *service)
{
    return service->own_config;
}

const char *service_state_dir(service_t *service)
{
    return service->config.state_dir;
}

const char *service_name(service_t *service)
{
    return service->def->name;
}

void *service_context(service_t *service)
{
    return service->context;
}

void service_set_context(service_t *service, void *context)
{
    service->context = context;
}

link_client_t *service_peer(service_t *service, const char *peer)
{
    for (size_t i = 0; i < service->client_count; i++)
        if (strcmp(link_client_peer(service->clients[i]), peer) == 0)
            return service->clients[i];
    return NULL;
}

void service_kick_peers(service_t *service)
{
    for (size_t i = 0; i < service->client_count; i++)
        link_client_kick(service->clients[i]);
}

void service_set_fact(service_t *service, const char *key, const char *value)
{
    for (size_t i = 0; i < service->fact_count; i++) {
        if (strcmp(service->facts[i].key, key) == 0) {
            char *copy = strdup(value);
            if (copy) {
                free(service->facts[i].value);
                service->facts[i].value = copy;
            }
            return;
        }
    }
    if (service->fact_count == SERVICE_MAX_FACTS)
        return;
    service_fact_t *fact = &service->facts[service->fact_count];
    fact->key = strdup(key);
    fact->value = strdup(value);
    if (fact->key && fact->value)
        service->fact_count++;
    else {
        free(fact->key);
        free(fact->value);
    }
}

void service_set_ready(service_t *service, bool ready)
{
    atomic_store(&service->ready, ready);
}

void service_request_stop(service_t *service)
{
    s_begin_drain(service);
}
