/* bench_intake.c: intake's front door under load, against RabbitMQ.
 *
 * Not a test: run by tests/bench/bench_intake.sh (see docs/performance.md,
 * section "Intake"). Eight publisher threads, each with its own CURVE
 * connection, send distinct valid contacts to a real vigil-intake on
 * loopback and count an event only when it is ACCEPTED (committed with
 * synchronous=FULL). The same serialized envelopes then go, from eight
 * threads over eight connections, to a durable RabbitMQ queue as
 * persistent messages with publisher confirms (rabbitmq-c), counting a
 * message when its confirm arrives. Reported: accepted events/s (median of
 * runs), ack latency p50/p99 at full load and at a steady 1,000 events/s,
 * and vigil's rate over RabbitMQ's.
 *
 * usage: bench_intake VIGIL_INTAKE STANDIN [--events N] [--runs R]
 *                     [--amqp-port PORT] [--steady-seconds S] [--only vigil|rabbitmq]
 * Each series ends with a machine-readable line
 *     RESULT <name> <rate/s> <p50 ms> <p99 ms> <steady p50 ms> <steady p99 ms>
 * which bench_intake.sh uses to print the ratio when the two series run
 * separately (an idle RabbitMQ node still spins its schedulers, so the
 * script starts it only after the vigil series).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include "intake_kit.h"
#include "vigil/util.h"

#define PUBLISHERS        8
#define WINDOW            256
#define DEFAULT_EVENTS    80000
#define DEFAULT_RUNS      3
#define DEFAULT_STEADY_S  5
#define STEADY_RATE       1000 /* events per second, all publishers together */
#define ANSWER_TIMEOUT_MS 30000
#define SETTLE_MS         2000 /* after sync(), before the paced rounds */
#define EPOCH_DELAY_MS    500  /* paced rounds: connect and handshake before the epoch */
#define AMQP_QUEUE        "vigil-bench"
#define AMQP_FRAME_MAX    131072
#define NS_PER_MS         1000000.0
#define NS_PER_S          1000000000LL
#define US_PER_S          1000000ULL
#define BYTES_PER_KIB     1024.0
#define ID_TIME_BYTES     8 /* message id: clock first, as libvigil-client's */

typedef enum { TARGET_VIGIL, TARGET_RABBIT } target_t;

typedef struct {
    target_t target;
    kit_t *kit;
    int amqp_port;
    int thread;
    int run;
    int count;          /* events this thread sends */
    int rate;           /* events per second for this thread, 0 = as fast as the window allows */
    long long epoch_ns; /* paced rounds: when the first publisher sends (shared) */
    bool staggered;     /* paced rounds: publisher t starts t/PUBLISHERS of a period late */
    uint8_t **frames;   /* serialized envelopes */
    size_t *lengths;
    long long *sent_ns;
    double *latency_ms; /* per answered event */
    size_t id_offset;   /* where the message id starts in every frame */
    int answered;
    int failures;
    long long start_ns, end_ns;
} worker_t;

static long long s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Serialized envelopes of distinct valid contacts; the message id carries
 * the index in its last 4 bytes. Its first 8 bytes are stamped with the
 * clock when the frame is sent (s_stamp_id), as libvigil-client's ids are
 * (services/client/src/client.c, s_new_message_id). */
static void s_build_frames(worker_t *w)
{
    w->frames = calloc((size_t)w->count, sizeof *w->frames);
    w->lengths = calloc((size_t)w->count, sizeof *w->lengths);
    w->sent_ns = calloc((size_t)w->count, sizeof *w->sent_ns);
    w->latency_ms = calloc((size_t)w->count, sizeof *w->latency_ms);
    for (int i = 0; i < w->count; i++) {
        kit_contact_t storage;
        char event_id[64];
        snprintf(event_id, sizeof event_id, "bench-%d-%d-%d-%d", w->target, w->run, w->thread, i);
        Vigil__V1__IntakeContact *c = kit_contact(&storage, event_id, i);
        uint8_t payload[2048];
        size_t len = vigil__v1__intake_contact__pack(c, payload);
        uint8_t id[16];
        util_random_id(id);
        uint32_t be = htonl((uint32_t)i);
        memcpy(id + 12, &be, 4);
        Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
        envelope.message_id.data = id;
        envelope.message_id.len = 16;
        envelope.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT;
        envelope.created_at_ms = util_now_ms();
        envelope.payload.data = payload;
        envelope.payload.len = len;
        envelope.attempt = 1;
        w->lengths[i] = vigil__v1__envelope__get_packed_size(&envelope);
        w->frames[i] = malloc(w->lengths[i]);
        vigil__v1__envelope__pack(&envelope, w->frames[i]);
        const uint8_t *at = memmem(w->frames[i], w->lengths[i], id, sizeof id);
        if (!at) {
            fprintf(stderr, "bench_intake: message id not found in a packed envelope\n");
            exit(EXIT_FAILURE);
        }
        w->id_offset = (size_t)(at - w->frames[i]);
    }
}

/* Writes the wall clock in microseconds, big-endian, over the first 8
 * bytes of the frame's message id, as libvigil-client does at publish. */
static void s_stamp_id(const worker_t *w, int index)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long now = (unsigned long long)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
    uint8_t *id = w->frames[index] + w->id_offset;
    for (int i = ID_TIME_BYTES - 1; i >= 0; i--, now >>= 8)
        id[i] = (uint8_t)now;
}

static void s_free_frames(worker_t *w)
{
    for (int i = 0; i < w->count; i++)
        free(w->frames[i]);
    free(w->frames);
    free(w->lengths);
    free(w->sent_ns);
    free(w->latency_ms);
}

/* When event `next` may be sent (steady rate), in ns since start. */
static long long s_due_ns(const worker_t *w, int next)
{
    return w->rate ? w->start_ns + (long long)next * NS_PER_S / w->rate : 0;
}

/* A paced round starts every publisher at a shared epoch. Staggered, they
 * take turns: together they send one event every 1/STEADY_RATE s, which is
 * what "a steady 1,000 events/s" means. Not staggered, all eight send at
 * the same instant every 8 ms: bursts of eight (the figure this benchmark
 * reported before 2026-11-30, still printed for comparison). A full-load
 * round just starts. */
static void s_start_clock(worker_t *w)
{
    if (!w->rate) {
        w->start_ns = s_now_ns();
        return;
    }
    long long period_ns = NS_PER_S / w->rate;
    w->start_ns = w->epoch_ns + (w->staggered ? period_ns * w->thread / PUBLISHERS : 0);
}

/* --- vigil ------------------------------------------------------------ */

static void *s_vigil_worker(void *arg)
{
    worker_t *w = arg;
    zsock_t *socket = kit_publisher(w->kit, "hotline-east", NULL);
    zsock_set_sndhwm(socket, WINDOW * 4);
    zsock_set_rcvhwm(socket, WINDOW * 4);
    zpoller_t *poller = zpoller_new(socket, NULL);
    kit_sleep_ms(200); /* let the CURVE handshake finish before the clock starts */
    int next = 0, inflight = 0;
    s_start_clock(w);
    long long deadline = w->start_ns + (long long)ANSWER_TIMEOUT_MS * 1000000LL +
                         (w->rate ? (long long)w->count * NS_PER_S / w->rate : 0);
    while (w->answered + w->failures < w->count && s_now_ns() < deadline) {
        while (next < w->count && inflight < WINDOW && s_now_ns() >= s_due_ns(w, next)) {
            s_stamp_id(w, next);
            zframe_t *frame = zframe_new(w->frames[next], w->lengths[next]);
            w->sent_ns[next] = s_now_ns();
            zframe_send(&frame, socket, 0);
            next++;
            inflight++;
        }
        int wait_ms = 100;
        if (w->rate && next < w->count) {
            long long until = s_due_ns(w, next) - s_now_ns();
            wait_ms = until <= 0 ? 0 : (int)(until / 1000000) + 1;
        }
        if (!zpoller_wait(poller, wait_ms))
            continue;
        kit_ack_t ack;
        while (kit_receive(socket, 0, &ack) == 1) {
            uint32_t be;
            memcpy(&be, ack.message_id + 12, 4);
            uint32_t index = ntohl(be);
            if (index >= (uint32_t)w->count)
                continue;
            inflight--;
            if (ack.status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED) {
                w->latency_ms[w->answered++] = (s_now_ns() - w->sent_ns[index]) / NS_PER_MS;
            } else {
                if (w->failures++ < 3)
                    fprintf(stderr, "vigil: event %u answered %d: %s\n", index, ack.status,
                            ack.detail);
            }
        }
    }
    w->end_ns = s_now_ns();
    zpoller_destroy(&poller);
    zsock_destroy(&socket);
    return NULL;
}

/* --- RabbitMQ ------------------------------------------------------------- */

static amqp_connection_state_t s_amqp_connect(int port, char *err, size_t errlen)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket || amqp_socket_open(socket, "127.0.0.1", port) != AMQP_STATUS_OK) {
        snprintf(err, errlen, "cannot connect to RabbitMQ on 127.0.0.1:%d", port);
        amqp_destroy_connection(conn);
        return NULL;
    }
    amqp_rpc_reply_t r =
        amqp_login(conn, "/", 0, AMQP_FRAME_MAX, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(err, errlen, "RabbitMQ login failed");
        amqp_destroy_connection(conn);
        return NULL;
    }
    amqp_channel_open(conn, 1);
    amqp_confirm_select(conn, 1);
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(AMQP_QUEUE), 0, 1, 0, 0, amqp_empty_table);
    r = amqp_get_rpc_reply(conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(err, errlen, "RabbitMQ channel setup failed");
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

static void s_amqp_acked(worker_t *w, uint64_t tag, bool multiple, uint64_t *confirmed,
                         int *inflight)
{
    uint64_t first = multiple ? *confirmed + 1 : tag;
    long long now = s_now_ns();
    for (uint64_t t = first; t <= tag; t++) {
        w->latency_ms[w->answered++] = (now - w->sent_ns[t - 1]) / NS_PER_MS;
        (*inflight)--;
    }
    if (tag > *confirmed)
        *confirmed = tag;
}

static void *s_rabbit_worker(void *arg)
{
    worker_t *w = arg;
    char err[128];
    amqp_connection_state_t conn = s_amqp_connect(w->amqp_port, err, sizeof err);
    if (!conn) {
        fprintf(stderr, "%s\n", err);
        w->failures = w->count;
        return NULL;
    }
    amqp_basic_properties_t props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2};
    int next = 0, inflight = 0;
    uint64_t confirmed = 0;
    s_start_clock(w);
    long long deadline = w->start_ns + (long long)ANSWER_TIMEOUT_MS * 1000000LL +
                         (w->rate ? (long long)w->count * NS_PER_S / w->rate : 0);
    while (w->answered + w->failures < w->count && s_now_ns() < deadline) {
        while (next < w->count && inflight < WINDOW && s_now_ns() >= s_due_ns(w, next)) {
            amqp_bytes_t body = {.len = w->lengths[next], .bytes = w->frames[next]};
            w->sent_ns[next] = s_now_ns();
            if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(AMQP_QUEUE), 0, 0,
                                   &props, body) != AMQP_STATUS_OK) {
                w->failures = w->count;
                break;
            }
            next++;
            inflight++;
        }
        long long wait_us = 100000;
        if (w->rate && next < w->count) {
            long long until = s_due_ns(w, next) - s_now_ns();
            wait_us = until <= 0 ? 0 : until / 1000 + 1;
        }
        struct timeval tv = {.tv_sec = (time_t)(wait_us / 1000000),
                             .tv_usec = (suseconds_t)(wait_us % 1000000)};
        amqp_frame_t frame;
        int rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
        while (rc == AMQP_STATUS_OK) {
            if (frame.frame_type == AMQP_FRAME_METHOD &&
                frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
                amqp_basic_ack_t *ack = frame.payload.method.decoded;
                s_amqp_acked(w, ack->delivery_tag, ack->multiple, &confirmed, &inflight);
            } else if (frame.frame_type == AMQP_FRAME_METHOD &&
                       frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
                w->failures++;
                inflight--;
            }
            struct timeval zero = {0, 0};
            rc = amqp_simple_wait_frame_noblock(conn, &frame, &zero);
        }
        amqp_maybe_release_buffers(conn);
    }
    w->end_ns = s_now_ns();
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return NULL;
}

/* --- runs ------------------------------------------------------------------ */

typedef struct {
    double rate; /* answered per second */
    double p50, p99;
    int answered, failures;
    double cpu_us;        /* intake's CPU (user + system) per answered event; 0 for RabbitMQ */
    double written_bytes; /* intake's bytes written per answered event; 0 for RabbitMQ */
    double bench_cpu_us;  /* this process's (the publishers') CPU per answered event; full load */
    double machine_us;    /* busy CPU time of the whole machine per answered event; full load */
} result_t;

/* Bytes process `pid` has written through write()/pwrite() so far
 * (/proc/<pid>/io "wchar": WAL frames and checkpoint copies), or -1. */
static long long s_written_bytes(pid_t pid)
{
    char path[64], key[32];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    FILE *file = fopen(path, "r");
    if (!file)
        return -1;
    long long value = -1, found = -1;
    while (fscanf(file, "%31[^:]: %lld\n", key, &value) == 2)
        if (strcmp(key, "wchar") == 0)
            found = value;
    fclose(file);
    return found;
}

/* User + system CPU time of process `pid` in microseconds, from
 * /proc/<pid>/stat (fields 14 and 15, in clock ticks); -1 if unreadable. */
static long long s_cpu_us(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen(path, "r");
    if (!file)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, file);
    fclose(file);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long long utime = 0, stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (long long)((utime + stime) * US_PER_S / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* Busy CPU time of the whole machine (all CPUs, everything but idle and
 * iowait) in microseconds, from the first line of /proc/stat; -1 if
 * unreadable. */
static long long s_machine_busy_us(void)
{
    FILE *file = fopen("/proc/stat", "r");
    if (!file)
        return -1;
    unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
    int fields = fscanf(file, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system,
                        &idle, &iowait, &irq, &softirq, &steal);
    fclose(file);
    if (fields != 8)
        return -1;
    unsigned long long busy = user + nice + system + irq + softirq + steal;
    return (long long)(busy * US_PER_S / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* (after - before) / n, or 0 when either reading failed. */
static double s_per_event(long long before, long long after, size_t n)
{
    return n && before >= 0 && after >= before ? (double)(after - before) / (double)n : 0;
}

static int s_compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static result_t s_run(target_t target, kit_t *kit, int amqp_port, int run, int events, int rate,
                      bool staggered)
{
    worker_t workers[PUBLISHERS];
    pthread_t threads[PUBLISHERS];
    for (int t = 0; t < PUBLISHERS; t++) {
        workers[t] = (worker_t){.target = target,
                                .kit = kit,
                                .amqp_port = amqp_port,
                                .thread = t,
                                .run = run,
                                .count = events / PUBLISHERS,
                                .rate = rate / PUBLISHERS,
                                .staggered = staggered};
        s_build_frames(&workers[t]);
    }
    long long epoch_ns = s_now_ns() + EPOCH_DELAY_MS * (long long)NS_PER_MS;
    for (int t = 0; t < PUBLISHERS; t++)
        workers[t].epoch_ns = epoch_ns;
    long long cpu_before = kit ? s_cpu_us(kit->intake_pid) : -1;
    long long written_before = kit ? s_written_bytes(kit->intake_pid) : -1;
    long long bench_before = s_cpu_us(getpid()), machine_before = s_machine_busy_us();
    for (int t = 0; t < PUBLISHERS; t++)
        pthread_create(&threads[t], NULL, target == TARGET_VIGIL ? s_vigil_worker : s_rabbit_worker,
                       &workers[t]);
    for (int t = 0; t < PUBLISHERS; t++)
        pthread_join(threads[t], NULL);
    result_t result = {0};
    long long cpu_after = kit ? s_cpu_us(kit->intake_pid) : -1;
    long long written_after = kit ? s_written_bytes(kit->intake_pid) : -1;
    long long bench_after = s_cpu_us(getpid()), machine_after = s_machine_busy_us();
    long long first = 0, last = 0;
    size_t total = 0;
    for (int t = 0; t < PUBLISHERS; t++) {
        total += (size_t)workers[t].answered;
        result.failures += workers[t].failures;
        if (!first || workers[t].start_ns < first)
            first = workers[t].start_ns;
        if (workers[t].end_ns > last)
            last = workers[t].end_ns;
    }
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t n = 0;
    for (int t = 0; t < PUBLISHERS; t++) {
        memcpy(all + n, workers[t].latency_ms, (size_t)workers[t].answered * sizeof *all);
        n += (size_t)workers[t].answered;
        s_free_frames(&workers[t]);
    }
    qsort(all, n, sizeof *all, s_compare_double);
    result.answered = (int)n;
    result.rate = last > first ? n / ((last - first) / (double)NS_PER_S) : 0;
    result.p50 = n ? all[n / 2] : 0;
    result.p99 = n ? all[n * 99 / 100] : 0;
    result.cpu_us = s_per_event(cpu_before, cpu_after, n);
    result.written_bytes = s_per_event(written_before, written_after, n);
    if (rate == 0) { /* paced publishers wait between sends: not a cost per event */
        result.bench_cpu_us = s_per_event(bench_before, bench_after, n);
        result.machine_us = s_per_event(machine_before, machine_after, n);
    }
    free(all);
    return result;
}

static int s_compare_result(const void *a, const void *b)
{
    return s_compare_double(&((const result_t *)a)->rate, &((const result_t *)b)->rate);
}

static void s_print(const char *what, const result_t *r)
{
    printf("  %-34s %9.0f /s   p50 %7.2f ms   p99 %7.2f ms   (%d answered, %d failed)", what,
           r->rate, r->p50, r->p99, r->answered, r->failures);
    if (r->cpu_us > 0)
        printf("   intake CPU %.1f us/event, wrote %.1f KiB/event", r->cpu_us,
               r->written_bytes / BYTES_PER_KIB);
    if (r->machine_us > 0)
        printf("   publishers CPU %.1f us/event, machine busy %.1f us/event", r->bench_cpu_us,
               r->machine_us);
    printf("\n");
}

/* Runs `runs` full-load rounds and one steady round; prints them; returns
 * the median full-load result. */
static result_t s_series(const char *name, target_t target, kit_t *kit, int amqp_port, int runs,
                         int events, int steady_seconds, result_t *steady)
{
    result_t results[16];
    char label[64];
    for (int r = 0; r < runs; r++) {
        results[r] = s_run(target, kit, amqp_port, r, events, 0, false);
        snprintf(label, sizeof label, "%s full load, run %d", name, r + 1);
        s_print(label, &results[r]);
    }
    qsort(results, (size_t)runs, sizeof results[0], s_compare_result);
    /* Steady state, not the tail of the full-load rounds: their gigabyte or
     * so of dirty pages is still being written back, and every fsync of
     * the paced round would queue behind it. Both targets settle alike. */
    sync();
    kit_sleep_ms(SETTLE_MS);
    *steady = s_run(target, kit, amqp_port, runs, STEADY_RATE * steady_seconds, STEADY_RATE, true);
    snprintf(label, sizeof label, "%s steady %d/s", name, STEADY_RATE);
    s_print(label, steady);
    result_t bursts =
        s_run(target, kit, amqp_port, runs + 1, STEADY_RATE * steady_seconds, STEADY_RATE, false);
    snprintf(label, sizeof label, "%s %d/s, bursts of %d", name, STEADY_RATE, PUBLISHERS);
    s_print(label, &bursts);
    return results[runs / 2];
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: %s VIGIL_INTAKE STANDIN [--events N] [--runs R] "
                "[--amqp-port PORT] [--steady-seconds S]\n",
                argv[0]);
        return 2;
    }
    int events = DEFAULT_EVENTS, runs = DEFAULT_RUNS, amqp_port = 0, steady = DEFAULT_STEADY_S;
    const char *only = "";
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--events") == 0)
            events = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--amqp-port") == 0)
            amqp_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--steady-seconds") == 0)
            steady = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--only") == 0)
            only = argv[i + 1];
    }
    if (runs < 1 || runs > 15)
        runs = DEFAULT_RUNS;
    result_t vigil = {0}, vigil_steady = {0}, rabbit = {0}, rabbit_steady = {0};
    if (strcmp(only, "rabbitmq") != 0) {
        kit_t kit;
        if (kit_setup(&kit, "intake-bench", argv[1], argv[2], NULL)) {
            fprintf(stderr, "kit setup failed\n");
            kit_teardown(&kit);
            return 1;
        }
        /* quiet logs: the bench measures the service, not its log lines */
        char command[KIT_PATH * 2];
        snprintf(command, sizeof command,
                 "sed -i 's/log_level = \"info\"/log_level = \"warn\"/' '%s'", kit.intake_config);
        if (system(command) != 0 || kit_start_intake(&kit)) {
            kit_teardown(&kit);
            return 1;
        }
        printf("intake front door: %d publishers, window %d each, %d events per run, %d runs, "
               "durable acks (synchronous=FULL)\n",
               PUBLISHERS, WINDOW, events, runs);
        vigil =
            s_series("vigil-intake", TARGET_VIGIL, &kit, 0, runs, events, steady, &vigil_steady);
        kit_teardown(&kit);
        printf("RESULT vigil %.0f %.2f %.2f %.2f %.2f\n", vigil.rate, vigil.p50, vigil.p99,
               vigil_steady.p50, vigil_steady.p99);
    }
    if (strcmp(only, "vigil") != 0) {
        if (!amqp_port) {
            printf("RabbitMQ: skipped (no --amqp-port)\n");
            return 0;
        }
        printf("RabbitMQ: %d publishers, window %d each, persistent messages, publisher "
               "confirms, durable queue\n",
               PUBLISHERS, WINDOW);
        rabbit = s_series("rabbitmq", TARGET_RABBIT, NULL, amqp_port, runs, events, steady,
                          &rabbit_steady);
        printf("RESULT rabbitmq %.0f %.2f %.2f %.2f %.2f\n", rabbit.rate, rabbit.p50, rabbit.p99,
               rabbit_steady.p50, rabbit_steady.p99);
    }
    if (vigil.rate > 0 && rabbit.rate > 0)
        printf("vigil / rabbitmq (median full-load rate): %.2fx\n", vigil.rate / rabbit.rate);
    return 0;
}
