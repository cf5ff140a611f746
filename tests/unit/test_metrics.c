/* test_metrics.c: what Prometheus scrapes from a vigil service.
 *
 * Registers counters, gauges and a latency histogram the way a service does,
 * renders them, and has the real `promtool check metrics` judge the text
 * (skipped with a message only if promtool is not installed). Then serves
 * them over real HTTP on 127.0.0.1 (a port the kernel picks) and checks
 * /metrics, /healthz and /readyz answer with the right status codes as the
 * service's health and readiness change. Label keys that name personal data
 * are refused at registration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vigil/log.h"
#include "vigil/metrics.h"

#define PROMTOOL "/usr/bin/promtool"

enum {
    TEST_HTTP_MAX = 1 << 16,
    TEST_THREAD_INCREMENTS = 100000,
};

/* --- a tiny HTTP/1.0 client over a real socket --------------------------- */

typedef struct {
    int status;
    char text[TEST_HTTP_MAX]; /* headers and body */
    const char *body;
} http_reply_t;

static void s_http(int port, const char *method, const char *path, http_reply_t *reply)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    char request[256];
    int len = snprintf(request, sizeof request, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method,
                       path);
    assert_int_equal(write(fd, request, (size_t)len), len);
    size_t got = 0;
    ssize_t n;
    while (got < sizeof reply->text - 1 &&
           (n = read(fd, reply->text + got, sizeof reply->text - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    reply->text[got] = '\0';
    assert_int_equal(sscanf(reply->text, "HTTP/1.%*d %d", &reply->status), 1);
    const char *blank = strstr(reply->text, "\r\n\r\n");
    reply->body = blank ? blank + 4 : "";
}

/* --- fixtures ------------------------------------------------------------- */

static atomic_bool s_healthy = true;
static atomic_bool s_ready = false;

static bool s_probe_healthy(void *ctx)
{
    (void)ctx;
    return atomic_load(&s_healthy);
}

static bool s_probe_ready(void *ctx)
{
    (void)ctx;
    return atomic_load(&s_ready);
}

/* The metrics a small service would have, with some traffic recorded. */
static metrics_t *s_sample_registry(void)
{
    metrics_t *metrics = metrics_new("intake");
    assert_non_null(metrics);
    metric_t *accepted = metrics_add(metrics, METRIC_COUNTER, "messages_total",
                                     "Messages received, by outcome", "outcome=\"accepted\"");
    metric_t *rejected = metrics_add(metrics, METRIC_COUNTER, "messages_total",
                                     "Messages received, by outcome", "outcome=\"rejected\"");
    metric_t *queue = metrics_add(metrics, METRIC_GAUGE, "outbox_depth",
                                  "Messages waiting in the outbox", "peer=\"triage\"");
    metric_t *latency = metrics_add(metrics, METRIC_HISTOGRAM, "commit_seconds",
                                    "Time from receive to durable commit", NULL);
    assert_non_null(accepted);
    assert_non_null(rejected);
    assert_non_null(queue);
    assert_non_null(latency);
    metric_add(accepted, 41);
    metric_inc(accepted);
    metric_inc(rejected);
    metric_set(queue, 2.5);
    metric_observe(latency, 0.00003); /* 30 us: the first bucket */
    metric_observe(latency, 0.003);   /* 3 ms */
    metric_observe(latency, 20);      /* beyond the last bound: +Inf only */
    return metrics;
}

/* --- tests ---------------------------------------------------------------- */

static void test_render_holds_each_series_once_with_service_label(void **state)
{
    (void)state;
    metrics_t *metrics = s_sample_registry();
    char *text = metrics_render(metrics);
    assert_non_null(text);

    static const char *const expected[] = {
        "# HELP vigil_messages_total Messages received, by outcome\n"
        "# TYPE vigil_messages_total counter\n"
        "vigil_messages_total{service=\"intake\",outcome=\"accepted\"} 42\n"
        "vigil_messages_total{service=\"intake\",outcome=\"rejected\"} 1\n",
        "# TYPE vigil_outbox_depth gauge\n"
        "vigil_outbox_depth{service=\"intake\",peer=\"triage\"} 2.5\n",
        "# TYPE vigil_commit_seconds histogram\n",
        "vigil_commit_seconds_bucket{service=\"intake\",le=\"5e-05\"} 1\n",
        "vigil_commit_seconds_bucket{service=\"intake\",le=\"0.0025\"} 1\n",
        "vigil_commit_seconds_bucket{service=\"intake\",le=\"0.005\"} 2\n",
        "vigil_commit_seconds_bucket{service=\"intake\",le=\"10\"} 2\n",
        "vigil_commit_seconds_bucket{service=\"intake\",le=\"+Inf\"} 3\n",
        "vigil_commit_seconds_sum{service=\"intake\"} 20.003",
        "vigil_commit_seconds_count{service=\"intake\"} 3\n",
        NULL,
    };
    for (const char *const *line = expected; *line; line++)
        if (!strstr(text, *line))
            fail_msg("missing from /metrics:\n%s\n--- got:\n%s", *line, text);
    /* HELP and TYPE once per name, even with two label sets. */
    const char *first = strstr(text, "# TYPE vigil_messages_total");
    assert_null(strstr(first + 1, "# TYPE vigil_messages_total"));
    free(text);
    metrics_destroy(&metrics);
    assert_null(metrics);
}

static void test_render_passes_promtool(void **state)
{
    (void)state;
    if (access(PROMTOOL, X_OK) != 0) {
        print_message("SKIP: %s not installed (apt-get install prometheus); promtool check "
                      "not run\n",
                      PROMTOOL);
        skip();
    }
    metrics_t *metrics = s_sample_registry();
    assert_non_null(metrics_add(metrics, METRIC_GAUGE, "ready", "1 when ready", NULL));
    char *text = metrics_render(metrics);
    assert_non_null(text);
    char path[] = "/tmp/vigil-test-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char command[256];
    snprintf(command, sizeof command, PROMTOOL " check metrics < %s 2>&1", path);
    FILE *out = popen(command, "r");
    assert_non_null(out);
    char verdict[4096] = "";
    size_t n = fread(verdict, 1, sizeof verdict - 1, out);
    verdict[n] = '\0';
    int status = pclose(out);
    unlink(path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("promtool check metrics failed:\n%s\n--- on:\n%s", verdict, text);
    free(text);
    metrics_destroy(&metrics);
}

static void test_personal_and_invalid_registrations_are_refused(void **state)
{
    (void)state;
    metrics_t *metrics = metrics_new("intake");
    /* Label keys that name personal data. */
    assert_null(metrics_add(metrics, METRIC_COUNTER, "calls_total", "Calls", "phone=\"x\""));
    assert_null(metrics_add(metrics, METRIC_COUNTER, "calls_total", "Calls", "name=\"x\""));
    assert_null(
        metrics_add(metrics, METRIC_COUNTER, "calls_total", "Calls", "region=\"e\",email=\"x\""));
    /* Reserved or malformed labels. */
    assert_null(metrics_add(metrics, METRIC_COUNTER, "calls_total", "Calls", "service=\"x\""));
    assert_null(metrics_add(metrics, METRIC_COUNTER, "calls_total", "Calls", "le=\"1\""));
    assert_null(metrics_add(metrics, METRIC_COUNTER, "calls_total", "Calls", "region=east"));
    assert_null(metrics_add(metrics, METRIC_COUNTER, "calls_total", "Calls", "a=\"1\",a=\"2\""));
    /* Names promtool would flag. */
    assert_null(metrics_add(metrics, METRIC_COUNTER, "calls", "Calls", NULL));
    assert_null(metrics_add(metrics, METRIC_COUNTER, "callsTotal_total", "Calls", NULL));
    assert_null(metrics_add(metrics, METRIC_GAUGE, "depth_total", "Depth", NULL));
    assert_null(metrics_add(metrics, METRIC_HISTOGRAM, "latency", "Latency", NULL));
    assert_null(metrics_add(metrics, METRIC_GAUGE, "depth", "", NULL));
    /* The same name must keep its kind and help. */
    metric_t *calls = metrics_add(metrics, METRIC_COUNTER, "calls_total", "Calls", "region=\"e\"");
    assert_non_null(calls);
    assert_ptr_equal(metrics_add(metrics, METRIC_COUNTER, "calls_total", "Calls", "region=\"e\""),
                     calls);
    assert_null(metrics_add(metrics, METRIC_COUNTER, "calls_total", "Other help", NULL));
    assert_null(metrics_add(metrics, METRIC_GAUGE, "calls_total", "Calls", NULL));

    char *text = metrics_render(metrics);
    assert_null(strstr(text, "phone"));
    assert_null(strstr(text, "email"));
    free(text);
    metrics_destroy(&metrics);
}

static void s_count_visit(void *ctx, const char *name, const char *labels, double value)
{
    (void)labels;
    (void)value;
    int *visits = ctx;
    assert_null(strstr(name, "_seconds")); /* histograms are not visited */
    (*visits)++;
}

static void test_each_visits_counters_and_gauges(void **state)
{
    (void)state;
    metrics_t *metrics = s_sample_registry();
    int visits = 0;
    metrics_each(metrics, s_count_visit, &visits);
    assert_int_equal(visits, 3);
    metrics_destroy(&metrics);
}

static void *s_hammer(void *arg)
{
    for (int i = 0; i < TEST_THREAD_INCREMENTS; i++)
        metric_inc(arg);
    return NULL;
}

static void test_updates_from_two_threads_are_not_lost(void **state)
{
    (void)state;
    metrics_t *metrics = metrics_new("triage");
    metric_t *counter = metrics_add(metrics, METRIC_COUNTER, "decisions_total", "Decisions", NULL);
    pthread_t a, b;
    pthread_create(&a, NULL, s_hammer, counter);
    pthread_create(&b, NULL, s_hammer, counter);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_true(metric_value(counter) == 2.0 * TEST_THREAD_INCREMENTS);
    metrics_destroy(&metrics);
}

static void test_http_serves_metrics_health_and_readiness(void **state)
{
    (void)state;
    metrics_t *metrics = s_sample_registry();
    char err[256] = "";
    atomic_store(&s_healthy, true);
    atomic_store(&s_ready, false);
    int port = metrics_serve(metrics, "127.0.0.1:0", s_probe_healthy, s_probe_ready, NULL, err,
                             sizeof err);
    if (port <= 0)
        fail_msg("metrics_serve: %s", err);

    http_reply_t *reply = malloc(sizeof *reply);
    s_http(port, "GET", "/metrics", reply);
    assert_int_equal(reply->status, 200);
    assert_non_null(strstr(reply->text, "text/plain; version=0.0.4"));
    assert_non_null(
        strstr(reply->body, "vigil_messages_total{service=\"intake\",outcome=\"accepted\"} 42"));

    s_http(port, "GET", "/healthz", reply);
    assert_int_equal(reply->status, 200);
    s_http(port, "GET", "/readyz", reply);
    assert_int_equal(reply->status, 503);

    atomic_store(&s_ready, true);
    s_http(port, "GET", "/readyz", reply);
    assert_int_equal(reply->status, 200);
    atomic_store(&s_healthy, false);
    s_http(port, "GET", "/healthz", reply);
    assert_int_equal(reply->status, 503);

    s_http(port, "GET", "/cases", reply);
    assert_int_equal(reply->status, 404);
    s_http(port, "POST", "/metrics", reply);
    assert_int_equal(reply->status, 405);

    /* A second server on the same port is a clear error. */
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    metrics_t *other = metrics_new("other");
    assert_int_equal(metrics_serve(other, listen, NULL, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, listen));
    assert_int_equal(metrics_serve(other, "no-port-here", NULL, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "HOST:PORT"));
    metrics_destroy(&other);

    free(reply);
    metrics_destroy(&metrics); /* stops the HTTP thread */
}

int main(void)
{
    log_init("test_metrics", LOG_LEVEL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_holds_each_series_once_with_service_label),
        cmocka_unit_test(test_render_passes_promtool),
        cmocka_unit_test(test_personal_and_invalid_registrations_are_refused),
        cmocka_unit_test(test_each_visits_counters_and_gauges),
        cmocka_unit_test(test_updates_from_two_threads_are_not_lost),
        cmocka_unit_test(test_http_serves_metrics_health_and_readiness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
