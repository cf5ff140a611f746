/* metrics.h: counters, gauges and latency histograms, served as Prometheus
 * text on /metrics, with /healthz and /readyz, by libmicrohttpd.
 *
 * Metrics are registered at start-up (before metrics_serve) and updated
 * lock-free from the service thread; the HTTP thread only reads them. Label
 * values are fixed at registration and must never carry personal data:
 * metrics_add() refuses a label key that pii_is_forbidden_key() names.
 * The output passes `promtool check metrics`.
 */
#ifndef VIGIL_METRICS_H
#define VIGIL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    METRIC_COUNTER,   /* only goes up; name ends in _total */
    METRIC_GAUGE,     /* goes up and down */
    METRIC_HISTOGRAM, /* latency in seconds; name ends in _seconds */
} metric_kind_t;

typedef struct metrics_t metrics_t;
typedef struct metric_t metric_t;

/* A probe for /healthz or /readyz: returns true when healthy/ready. Called on
 * the HTTP thread, so it may only read atomics. */
typedef bool (*metrics_probe_fn)(void *ctx);

/* Creates an empty registry; every metric gets the prefix "vigil_" and the
 * constant label service="NAME". Returns NULL on allocation failure. */
metrics_t *metrics_new(const char *service);

/* Stops the HTTP server if running and frees; sets *metrics_p to NULL.
 * Cannot fail. */
void metrics_destroy(metrics_t **metrics_p);

/* Registers a metric. `labels` is a fixed label set without braces, e.g.
 * "reason=\"malformed\"", or NULL. The same name may be registered with
 * different labels; kind and help must then agree. Returns the handle, owned
 * by the registry, or NULL if the name or labels are invalid or personal. */
metric_t *metrics_add(metrics_t *metrics, metric_kind_t kind, const char *name, const char *help,
                      const char *labels);

/* Updates. All cannot fail, and accept NULL (for optional metrics). */
void metric_inc(metric_t *metric);
void metric_add(metric_t *metric, uint64_t n);
void metric_set(metric_t *metric, double value);
void metric_observe(metric_t *metric, double seconds);

/* Reads a counter or gauge value (histograms: the count). Cannot fail. */
double metric_value(const metric_t *metric);

/* Renders the Prometheus text exposition into a malloc'd string the caller
 * frees. Returns NULL on allocation failure. */
char *metrics_render(metrics_t *metrics);

/* Calls `fn` once per registered counter and gauge (name, labels, value),
 * for the admin STATUS reply. Cannot fail. */
void metrics_each(metrics_t *metrics,
                  void (*fn)(void *ctx, const char *name, const char *labels, double value),
                  void *ctx);

/* Starts HTTP on `listen` ("127.0.0.1:9101"; port 0 picks one) serving
 * /metrics, /healthz and /readyz. Returns the bound port, or -1 with a
 * message in `err`. */
int metrics_serve(metrics_t *metrics, const char *listen, metrics_probe_fn healthy,
                  metrics_probe_fn ready, void *ctx, char *err, size_t errlen);

#endif
