/* metrics.c: the metric registry and its HTTP endpoint.
 *
 * Metrics are registered once (name, help, fixed labels) and then updated
 * with atomics from the service thread; libmicrohttpd's own thread renders
 * them as Prometheus text exposition 0.0.4 for /metrics and answers /healthz
 * and /readyz from the service's probes. Histograms use one fixed set of
 * latency buckets, 50 microseconds to 10 seconds, so every service's
 * latencies line up on one dashboard.
 *
 * This file must never accept a label key that names personal data, never
 * block the service thread on the HTTP thread (updates take no lock), and
 * never serve anything but these three read-only paths.
 */
#include "vigil/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vigil/log.h"
#include "vigil/pii.h"
#include "vigil/util.h"

#define METRICS_PREFIX       "vigil_"
#define METRICS_SERVICE_KEY  "service"
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_NS_PER_S     1e9

enum {
    METRICS_INITIAL_CAPACITY = 32,
    METRICS_NAME_MAX = 128,
    METRICS_LABELS_MAX = 512,
    METRICS_HOST_MAX = 256,
    METRICS_LISTEN_BACKLOG = 16,
    METRICS_HTTP_CONNECTION_LIMIT = 32,
    METRICS_HTTP_TIMEOUT_S = 10,
    METRICS_PORT_MAX = 65535,
    METRICS_DECIMAL = 10,
};

/* The latency buckets in seconds, with their exposition text. */
static const struct {
    double bound;
    const char *text;
} s_buckets[] = {
    {0.00005, "5e-05"}, {0.0001, "0.0001"}, {0.00025, "0.00025"}, {0.0005, "0.0005"},
    {0.001, "0.001"},   {0.0025, "0.0025"}, {0.005, "0.005"},     {0.01, "0.01"},
    {0.025, "0.025"},   {0.05, "0.05"},     {0.1, "0.1"},         {0.25, "0.25"},
    {0.5, "0.5"},       {1, "1"},           {2.5, "2.5"},         {5, "5"},
    {10, "10"},
};
#define METRICS_BUCKETS (sizeof s_buckets / sizeof s_buckets[0])

/* Per kind: exposition type, required name suffix, forbidden suffix. */
static const struct {
    const char *type;
    const char *required_suffix;
    const char *forbidden_suffix;
} s_kinds[] = {
    [METRIC_COUNTER] = {"counter", "_total", NULL},
    [METRIC_GAUGE] = {"gauge", NULL, "_total"},
    [METRIC_HISTOGRAM] = {"histogram", "_seconds", NULL},
};

/* Name endings reserved for histogram series. */
static const char *const s_reserved_suffixes[] = {"_bucket", "_count", "_sum", NULL};

/* Label keys the registry sets itself or Prometheus reserves. */
static const char *const s_reserved_label_keys[] = {METRICS_SERVICE_KEY, "le", "quantile", NULL};

struct metric_t {
    metric_kind_t kind;
    char *name;                                    /* with the prefix */
    char *help;                                    /* as registered */
    char *labels;                                  /* validated label pairs without braces, or "" */
    _Atomic uint64_t value;                        /* counter: count; gauge: the bits of a double */
    _Atomic uint64_t buckets[METRICS_BUCKETS + 1]; /* histogram: per bucket, last = +Inf */
    _Atomic uint64_t sum_ns;                       /* histogram: sum of observations */
};

struct metrics_t {
    char *service;
    pthread_mutex_t lock; /* guards the array, not the values */
    metric_t **items;
    size_t count;
    size_t capacity;
    struct MHD_Daemon *daemon;
    metrics_probe_fn healthy;
    metrics_probe_fn ready;
    void *probe_ctx;
};

static bool s_ends_with(const char *text, const char *suffix)
{
    size_t text_len = strlen(text);
    size_t suffix_len = strlen(suffix);
    return text_len >= suffix_len && strcmp(text + text_len - suffix_len, suffix) == 0;
}

static bool s_in_list(const char *word, size_t len, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == len && strncmp(*list, word, len) == 0)
            return true;
    return false;
}

static uint64_t s_double_bits(double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static double s_bits_double(uint64_t bits)
{
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

metrics_t *metrics_new(const char *service)
{
    metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->service = strdup(service ? service : "");
    self->items = calloc(METRICS_INITIAL_CAPACITY, sizeof *self->items);
    if (!self->service || !self->items) {
        free(self->service);
        free(self->items);
        free(self);
        return NULL;
    }
    self->capacity = METRICS_INITIAL_CAPACITY;
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

void metrics_destroy(metrics_t **metrics_p)
{
    if (!metrics_p || !*metrics_p)
        return;
    metrics_t *self = *metrics_p;
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    for (size_t i = 0; i < self->count; i++) {
        free(self->items[i]->name);
        free(self->items[i]->help);
        free(self->items[i]->labels);
        free(self->items[i]);
    }
    free(self->items);
    free(self->service);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *metrics_p = NULL;
}

/* snake_case: [a-z_][a-z0-9_]*. Returns NULL or why not. */
static const char *s_check_name(metric_kind_t kind, const char *name)
{
    if (!name || !*name)
        return "empty name";
    if (strlen(name) > METRICS_NAME_MAX)
        return "name too long";
    if (!((*name >= 'a' && *name <= 'z') || *name == '_'))
        return "a name starts with [a-z_]";
    if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
        return "a name is snake_case: [a-z0-9_]";
    if (s_kinds[kind].required_suffix && !s_ends_with(name, s_kinds[kind].required_suffix))
        return kind == METRIC_COUNTER ? "a counter name ends in _total"
                                      : "a histogram name ends in _seconds";
    if (s_kinds[kind].forbidden_suffix && s_ends_with(name, s_kinds[kind].forbidden_suffix))
        return "only counters end in _total";
    for (const char *const *suffix = s_reserved_suffixes; *suffix; suffix++)
        if (s_ends_with(name, *suffix))
            return "_bucket, _count and _sum are reserved for histogram series";
    return NULL;
}

/* Checks `key="value",...` and copies it to `out`. Returns NULL or why not;
 * `bad_key` gets the offending key when there is one. */
static const char *s_check_labels(const char *labels, char *bad_key, size_t bad_key_len)
{
    const char *p = labels;
    char seen[METRICS_LABELS_MAX + 2] = ",";
    if (strlen(labels) >= METRICS_LABELS_MAX)
        return "labels too long";
    while (*p) {
        size_t key_len =
            strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (key_len == 0 || (p[0] >= '0' && p[0] <= '9'))
            return "a label key is [a-zA-Z_][a-zA-Z0-9_]*";
        snprintf(bad_key, bad_key_len, "%.*s", (int)key_len, p);
        if (strncmp(p, "__", 2) == 0)
            return "label keys starting with __ are reserved";
        if (s_in_list(p, key_len, s_reserved_label_keys))
            return "label key is reserved (service, le, quantile)";
        if (pii_is_forbidden_key(bad_key))
            return "label key names personal data";
        char needle[METRICS_LABELS_MAX + 2];
        snprintf(needle, sizeof needle, ",%s,", bad_key);
        if (strstr(seen, needle))
            return "label key repeated";
        strncat(seen, needle + 1, sizeof seen - strlen(seen) - 1);
        p += key_len;
        if (p[0] != '=' || p[1] != '"')
            return "expected key=\"value\"";
        p += 2;
        while (*p && *p != '"') {
            if (*p == '\\') {
                if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                    return "a label value escapes only \\\\, \\\" and \\n";
                p++;
            } else if (*p == '\n') {
                return "a raw newline in a label value";
            }
            p++;
        }
        if (*p != '"')
            return "unterminated label value";
        p++;
        if (*p == ',')
            p++;
        else if (*p)
            return "label pairs are separated by commas";
    }
    bad_key[0] = '\0';
    return NULL;
}

static bool s_grow(metrics_t *self)
{
    if (self->count < self->capacity)
        return true;
    metric_t **grown = realloc(self->items, 2 * self->capacity * sizeof *grown);
    if (!grown)
        return false;
    self->items = grown;
    self->capacity *= 2;
    return true;
}

metric_t *metrics_add(metrics_t *metrics, metric_kind_t kind, const char *name, const char *help,
                      const char *labels)
{
    if (!metrics || (unsigned)kind >= sizeof s_kinds / sizeof s_kinds[0])
        return NULL;
    char full_name[METRICS_NAME_MAX + sizeof METRICS_PREFIX];
    const char *why = NULL;
    char bad_key[METRICS_LABELS_MAX] = "";
    if (!help || !*help)
        why = "every metric needs help text";
    if (!why)
        why = s_check_name(kind, name);
    if (!why && labels)
        why = s_check_labels(labels, bad_key, sizeof bad_key);
    if (why) {
        log_error("metric refused", "metric=%s label_key=%s why=%s", name ? name : "(null)",
                  bad_key, why);
        return NULL;
    }
    if (strncmp(name, METRICS_PREFIX, strlen(METRICS_PREFIX)) == 0)
        snprintf(full_name, sizeof full_name, "%s", name);
    else
        snprintf(full_name, sizeof full_name, "%s%s", METRICS_PREFIX, name);
    if (!labels)
        labels = "";

    metric_t *found = NULL;
    pthread_mutex_lock(&metrics->lock);
    for (size_t i = 0; i < metrics->count && !why; i++) {
        metric_t *m = metrics->items[i];
        if (strcmp(m->name, full_name) != 0)
            continue;
        if (m->kind != kind || strcmp(m->help, help) != 0)
            why = "registered before with another kind or help text";
        else if (strcmp(m->labels, labels) == 0)
            found = m;
    }
    if (!why && !found) {
        metric_t *m = calloc(1, sizeof *m);
        if (m) {
            m->kind = kind;
            m->name = strdup(full_name);
            m->help = strdup(help);
            m->labels = strdup(labels);
        }
        if (!m || !m->name || !m->help || !m->labels || !s_grow(metrics)) {
            if (m) {
                free(m->name);
                free(m->help);
                free(m->labels);
                free(m);
            }
            why = "out of memory";
        } else {
            metrics->items[metrics->count++] = m;
            found = m;
        }
    }
    pthread_mutex_unlock(&metrics->lock);
    if (why) {
        log_error("metric refused", "metric=%s why=%s", full_name, why);
        return NULL;
    }
    return found;
}

void metric_inc(metric_t *metric)
{
    metric_add(metric, 1);
}

void metric_add(metric_t *metric, uint64_t n)
{
    if (!metric)
        return;
    if (metric->kind == METRIC_COUNTER) {
        atomic_fetch_add_explicit(&metric->value, n, memory_order_relaxed);
    } else if (metric->kind == METRIC_GAUGE) {
        uint64_t old = atomic_load_explicit(&metric->value, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&metric->value, &old,
                                                      s_double_bits(s_bits_double(old) + (double)n),
                                                      memory_order_relaxed, memory_order_relaxed))
            ;
    }
}

void metric_set(metric_t *metric, double value)
{
    if (!metric)
        return;
    if (metric->kind == METRIC_GAUGE)
        atomic_store_explicit(&metric->value, s_double_bits(value), memory_order_relaxed);
    else if (metric->kind == METRIC_COUNTER && value >= 0 && isfinite(value))
        atomic_store_explicit(&metric->value, (uint64_t)value, memory_order_relaxed);
}

void metric_observe(metric_t *metric, double seconds)
{
    if (!metric || metric->kind != METRIC_HISTOGRAM || isnan(seconds))
        return;
    if (seconds < 0)
        seconds = 0;
    size_t slot = 0;
    while (slot < METRICS_BUCKETS && seconds > s_buckets[slot].bound)
        slot++;
    atomic_fetch_add_explicit(&metric->buckets[slot], 1, memory_order_relaxed);
    double ns = seconds * METRICS_NS_PER_S;
    uint64_t add = ns >= (double)UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
    atomic_fetch_add_explicit(&metric->sum_ns, add, memory_order_relaxed);
}

static uint64_t s_histogram_count(const metric_t *metric)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= METRICS_BUCKETS; i++)
        total += atomic_load_explicit(&metric->buckets[i], memory_order_relaxed);
    return total;
}

double metric_value(const metric_t *metric)
{
    if (!metric)
        return 0;
    switch (metric->kind) {
    case METRIC_COUNTER:
        return (double)atomic_load_explicit(&metric->value, memory_order_relaxed);
    case METRIC_GAUGE:
        return s_bits_double(atomic_load_explicit(&metric->value, memory_order_relaxed));
    case METRIC_HISTOGRAM:
        return (double)s_histogram_count(metric);
    }
    return 0;
}

/* Writes a float the way the exposition format spells it. */
static void s_print_double(FILE *out, double value)
{
    if (isnan(value))
        fputs("NaN", out);
    else if (isinf(value))
        fputs(value > 0 ? "+Inf" : "-Inf", out);
    else
        fprintf(out, "%.17g", value);
}

/* HELP text escapes backslash and newline. */
static void s_print_help(FILE *out, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

/* A label value escapes backslash, quote and newline. */
static void s_print_label_value(FILE *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '"')
            fputs("\\\"", out);
        else if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

/* `{service="x",labels[,le="b"]}`. */
static void s_print_labels(FILE *out, const metrics_t *self, const metric_t *metric, const char *le)
{
    fputs("{" METRICS_SERVICE_KEY "=\"", out);
    s_print_label_value(out, self->service);
    fputc('"', out);
    if (*metric->labels)
        fprintf(out, ",%s", metric->labels);
    if (le)
        fprintf(out, ",le=\"%s\"", le);
    fputc('}', out);
}

static void s_render_series(FILE *out, const metrics_t *self, const metric_t *metric)
{
    if (metric->kind == METRIC_COUNTER) {
        fputs(metric->name, out);
        s_print_labels(out, self, metric, NULL);
        fprintf(out, " %llu\n",
                (unsigned long long)atomic_load_explicit(&metric->value, memory_order_relaxed));
        return;
    }
    if (metric->kind == METRIC_GAUGE) {
        fputs(metric->name, out);
        s_print_labels(out, self, metric, NULL);
        fputc(' ', out);
        s_print_double(out, metric_value(metric));
        fputc('\n', out);
        return;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= METRICS_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&metric->buckets[i], memory_order_relaxed);
        fprintf(out, "%s_bucket", metric->name);
        s_print_labels(out, self, metric, i < METRICS_BUCKETS ? s_buckets[i].text : "+Inf");
        fprintf(out, " %llu\n", (unsigned long long)cumulative);
    }
    double sum =
        (double)atomic_load_explicit(&metric->sum_ns, memory_order_relaxed) / METRICS_NS_PER_S;
    fprintf(out, "%s_sum", metric->name);
    s_print_labels(out, self, metric, NULL);
    fputc(' ', out);
    s_print_double(out, sum);
    fprintf(out, "\n%s_count", metric->name);
    s_print_labels(out, self, metric, NULL);
    fprintf(out, " %llu\n", (unsigned long long)cumulative);
}

char *metrics_render(metrics_t *metrics)
{
    if (!metrics)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    pthread_mutex_lock(&metrics->lock);
    for (size_t i = 0; i < metrics->count; i++) {
        const metric_t *family = metrics->items[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(metrics->items[j]->name, family->name) == 0;
        if (seen)
            continue;
        fprintf(out, "# HELP %s ", family->name);
        s_print_help(out, family->help);
        fprintf(out, "\n# TYPE %s %s\n", family->name, s_kinds[family->kind].type);
        for (size_t j = i; j < metrics->count; j++)
            if (strcmp(metrics->items[j]->name, family->name) == 0)
                s_render_series(out, metrics, metrics->items[j]);
    }
    pthread_mutex_unlock(&metrics->lock);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

void metrics_each(metrics_t *metrics,
                  void (*fn)(void *ctx, const char *name, const char *labels, double value),
                  void *ctx)
{
    if (!metrics || !fn)
        return;
    pthread_mutex_lock(&metrics->lock);
    for (size_t i = 0; i < metrics->count; i++) {
        const metric_t *m = metrics->items[i];
        if (m->kind != METRIC_HISTOGRAM)
            fn(ctx, m->name, m->labels, metric_value(m));
    }
    pthread_mutex_unlock(&metrics->lock);
}

/* --- HTTP ---------------------------------------------------------------- */

/* Queues `body`; with `owned`, libmicrohttpd frees it. */
static enum MHD_Result s_respond(struct MHD_Connection *connection, unsigned int status,
                                 const char *content_type, const char *body, bool owned)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(
        strlen(body), (void *)body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!response) {
        if (owned)
            free((void *)body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static bool s_probe(metrics_probe_fn probe, void *ctx)
{
    return probe ? probe(ctx) : true;
}

static enum MHD_Result s_on_http(void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **request_state)
{
    (void)version;
    (void)upload_data;
    metrics_t *self = cls;
    static int first_call_marker;
    if (*request_state == NULL) {
        /* First call: headers only. Answer on the second. */
        *request_state = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a body we ignore */
        return MHD_YES;
    }
    static const char text_plain[] = "text/plain; charset=utf-8";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return s_respond(connection, MHD_HTTP_METHOD_NOT_ALLOWED, text_plain,
                         "method not allowed\n", false);
    if (strcmp(url, "/metrics") == 0) {
        char *body = metrics_render(self);
        if (!body)
            return s_respond(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, text_plain,
                             "out of memory\n", false);
        return s_respond(connection, MHD_HTTP_OK, METRICS_CONTENT_TYPE, body, true);
    }
    if (strcmp(url, "/healthz") == 0)
        return s_probe(self->healthy, self->probe_ctx)
                   ? s_respond(connection, MHD_HTTP_OK, text_plain, "ok\n", false)
                   : s_respond(connection, MHD_HTTP_SERVICE_UNAVAILABLE, text_plain, "unhealthy\n",
                               false);
    if (strcmp(url, "/readyz") == 0)
        return s_probe(self->ready, self->probe_ctx)
                   ? s_respond(connection, MHD_HTTP_OK, text_plain, "ready\n", false)
                   : s_respond(connection, MHD_HTTP_SERVICE_UNAVAILABLE, text_plain, "not ready\n",
                               false);
    return s_respond(connection, MHD_HTTP_NOT_FOUND, text_plain,
                     "not found: try /metrics, /healthz or /readyz\n", false);
}

/* Splits "host:port" or "[v6]:port". */
static int s_split_listen(const char *listen, char *host, size_t hostlen, long *port, char *err,
                          size_t errlen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) {
        util_fail(err, errlen, "metrics.listen '%s': expected HOST:PORT, e.g. 127.0.0.1:9100",
                  listen);
        return -1;
    }
    const char *start = listen;
    size_t len = (size_t)(colon - listen);
    if (*start == '[' && colon[-1] == ']') {
        start++;
        len -= 2;
    }
    if (len == 0 || len >= hostlen) {
        util_fail(err, errlen, "metrics.listen '%s': bad host", listen);
        return -1;
    }
    memcpy(host, start, len);
    host[len] = '\0';
    char *end = NULL;
    errno = 0;
    *port = strtol(colon + 1, &end, METRICS_DECIMAL);
    if (errno || !end || *end || end == colon + 1 || *port < 0 || *port > METRICS_PORT_MAX) {
        util_fail(err, errlen, "metrics.listen '%s': port must be 0 to %d", listen,
                  METRICS_PORT_MAX);
        return -1;
    }
    return 0;
}

/* Opens a listening TCP socket; returns the fd and the bound port. */
static int s_listen_socket(const char *spec, int *bound_port, char *err, size_t errlen)
{
    char host[METRICS_HOST_MAX];
    long port = 0;
    if (s_split_listen(spec, host, sizeof host, &port, err, errlen) != 0)
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    char port_text[METRICS_DECIMAL];
    snprintf(port_text, sizeof port_text, "%ld", port);
    int rc = getaddrinfo(host, port_text, &hints, &found);
    if (rc != 0) {
        util_fail(err, errlen, "metrics.listen '%s': %s", spec, gai_strerror(rc));
        return -1;
    }
    int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, found->ai_addr, found->ai_addrlen) != 0 ||
        listen(fd, METRICS_LISTEN_BACKLOG) != 0) {
        util_fail(err, errlen, "metrics.listen '%s': %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(found);
        return -1;
    }
    freeaddrinfo(found);
    struct sockaddr_storage addr;
    socklen_t addrlen = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) != 0) {
        util_fail(err, errlen, "metrics.listen '%s': getsockname: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    *bound_port = addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&addr)->sin_port);
    return fd;
}

int metrics_serve(metrics_t *metrics, const char *listen, metrics_probe_fn healthy,
                  metrics_probe_fn ready, void *ctx, char *err, size_t errlen)
{
    if (!metrics || !listen) {
        util_fail(err, errlen, "no registry or listen address");
        return -1;
    }
    if (metrics->daemon) {
        util_fail(err, errlen, "metrics are already served");
        return -1;
    }
    int port = 0;
    int fd = s_listen_socket(listen, &port, err, errlen);
    if (fd < 0)
        return -1;
    metrics->healthy = healthy;
    metrics->ready = ready;
    metrics->probe_ctx = ctx;
    metrics->daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, s_on_http,
                         metrics, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned int)METRICS_HTTP_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned int)METRICS_HTTP_TIMEOUT_S, MHD_OPTION_END);
    if (!metrics->daemon) {
        util_fail(err, errlen, "metrics.listen '%s': libmicrohttpd could not start", listen);
        close(fd);
        return -1;
    }
    return port;
}
