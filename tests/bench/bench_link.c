/* bench_link.c: throughput and ack latency of the reliable link, next to
 * the two raw limits it is built from, measured in the same run.
 *
 *   link    a real probe receiver service (separate process, TCP loopback,
 *           CURVE, synchronous=FULL, acks after commit) fed by a link client
 *           in this process, whose producer keeps at most 2 x window
 *           messages outstanding, enqueuing them in transactions of
 *           --enqueue-batch. Throughput = messages / time to the last ack.
 *           Latencies: enqueue-to-ack and send-to-ack, p50 and p99.
 *   sqlite  the group-commit floor: the same number of rows (sequence key +
 *           16 random bytes, appended) inserted in transactions of the link's
 *           measured average batch size, WAL, synchronous=FULL.
 *   zmq     the transport floor: a DEALER keeping `window` envelopes of the
 *           same size in flight to a ROUTER in another process that answers
 *           each with a small reply, CURVE on, no link logic.
 *   zmq+sqlite  the "raw limit" read literally: the same DEALER and
 *           window, and a bare ROUTER process that takes whatever is waiting
 *           (up to the link's batch_max), inserts each frame into one table
 *           in one transaction (WAL, synchronous=FULL), commits, then answers
 *           each. No protobuf, dedup, savepoints, outbox or coalesced acks.
 *
 * It prints every run and the medians, and the ratios link / zmq+sqlite
 * (the target's literal reading) and link / min(sqlite, zmq).
 * Not a test: run it by hand (see docs/performance.md, "Reliable link").
 *
 * Usage: bench_link [--messages N] [--runs R] [--window W] [--enqueue-batch B]
 *                   [--receiver PATH] [--keep] [--link-only] [--ack-timeout-ms MS]
 */
#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../integration/link_harness.h"
#include "vigil/admin.h"
#include "vigil/link.h"
#include "vigil/log.h"
#include "vigil/security.h"
#include "vigil/store.h"
#include "vigil/util.h"

#define DEFAULT_MESSAGES       200000
#define DEFAULT_RUNS           3
#define DEFAULT_WINDOW         2048
#define DEFAULT_ENQUEUE_BATCH  256
#define MAX_RUNS               15
#define DEFAULT_ACK_TIMEOUT_MS 2000
#define TOPUP_MS               1    /* producer timer */
#define PACED_MESSAGES         2000 /* light-load run: one message per 1 ms tick, about 1,000/s */
#define NS_PER_S               1e9
#define US_PER_MS              1e3
#define PERCENT                100.0
#define P50                    50
#define P99                    99
#define READY_TIMEOUT_MS       10000
#define ADMIN_TIMEOUT_MS       2000
#define STOP_GRACE_MS          10000
#define REPLY_BYTES            24 /* the raw ROUTER's answer, about an Ack entry */
#define ENVELOPE_SAMPLE_BYTES  4096
#define ERR_LEN                512
#define TARGET_RATE            50000.0
#define TARGET_RATIO           0.5
#define RAW_BATCH_MAX          4096 /* the link's default batch_max (service_config.c) */

#ifndef BENCH_RECEIVER_PATH
#define BENCH_RECEIVER_PATH "vigil-link-probe-receiver"
#endif

typedef struct {
    long messages;
    int runs;
    int window;
    int enqueue_batch;
    const char *receiver_exe;
    bool keep;
    bool link_only;     /* skip the raw runs (for profiling the link alone) */
    int ack_timeout_ms; /* raise it under valgrind, where acks are slow */
} options_t;

typedef struct {
    char dir[HARNESS_DIR_MAX];
    char receiver_state[HARNESS_STATE_MAX];
    char sender_state[HARNESS_STATE_MAX];
    char receiver_conf[HARNESS_PATH_MAX];
    char receiver_log[HARNESS_PATH_MAX];
    char receiver_admin[HARNESS_PATH_MAX];
    char receiver_public[HARNESS_PATH_MAX];
    char sender_secret[HARNESS_PATH_MAX];
    char endpoint[HARNESS_PATH_MAX];
    pid_t receiver;
} setup_t;

typedef struct {
    double rate;           /* messages per second */
    double enqueue_p50_ms; /* enqueue-to-ack */
    double enqueue_p99_ms;
    double send_p50_ms; /* send-to-ack */
    double send_p99_ms;
    double batch;           /* receiver's mean messages per commit */
    double sender_cpu_us;   /* CPU time per message, all threads of this process */
    double receiver_cpu_us; /* CPU time per message, all threads of the receiver */
    size_t envelope_bytes;
} bench_result_t;

/* --- the link run ---------------------------------------------------------- */

/* What one link run does: how many messages, how many may be outstanding,
 * how many the producer may add per 1 ms tick (0: no limit), and how many
 * per enqueue transaction. */
typedef struct {
    long messages;
    long outstanding;
    long per_tick;
    int batch;
} link_plan_t;

typedef struct {
    const options_t *options;
    link_plan_t plan;
    sqlite3 *db;
    link_client_t *client;
    long base_seq;
    long enqueued;
    long settled;
    int64_t *enqueue_us;
    int64_t *send_us;
    uint64_t started_ns;
    uint64_t last_ack_ns;
    size_t envelope_bytes;
    bool failed;
} link_run_t;

static void s_on_ack(void *ctx, const uint8_t message_id[VIGIL_ID_BYTES],
                     Vigil__V1__AckStatus status, int64_t enqueue_to_ack_us, int64_t send_to_ack_us)
{
    (void)message_id;
    link_run_t *run = ctx;
    if (status != VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED &&
        status != VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE)
        run->failed = true;
    if (run->settled < run->plan.messages) {
        run->enqueue_us[run->settled] = enqueue_to_ack_us;
        run->send_us[run->settled] = send_to_ack_us;
    }
    run->settled++;
    run->last_ack_ns = util_mono_ns();
}

/* Keeps up to plan.outstanding messages outstanding, adding at most
 * plan.per_tick per tick, in enqueue transactions of plan.batch. */
static int s_topup(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    link_run_t *run = arg;
    const link_plan_t *plan = &run->plan;
    long added = 0;
    char err[ERR_LEN];
    while (run->enqueued < plan->messages && run->enqueued - run->settled < plan->outstanding &&
           (plan->per_tick == 0 || added < plan->per_tick)) {
        if (store_begin(run->db))
            return -1;
        for (int i = 0; i < plan->batch && run->enqueued < plan->messages; i++, added++) {
            Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
            probe.sequence = (uint64_t)(run->base_seq + run->enqueued);
            if (link_outbox_enqueue(run->db, NULL, "receiver",
                                    VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, NULL, NULL,
                                    &probe.base, NULL, err, sizeof err)) {
                fprintf(stderr, "enqueue: %s\n", err);
                store_rollback(run->db);
                return -1;
            }
            run->enqueued++;
        }
        if (store_commit(run->db))
            return -1;
    }
    if (added)
        link_client_kick(run->client);
    if (run->settled >= plan->messages || run->failed)
        return -1;
    return 0;
}

/* CPU seconds used so far by this process (all threads). */
static double s_self_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / NS_PER_S;
}

/* CPU seconds used so far by process `pid` (all threads), from /proc. */
static double s_child_cpu(pid_t pid)
{
    char path[HARNESS_PATH_MAX], text[HARNESS_PATH_MAX * 2];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen(path, "r");
    if (!file)
        return 0;
    size_t n = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[n] = '\0';
    const char *p = strrchr(text, ')'); /* the command name may hold spaces */
    unsigned long utime = 0, stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int s_compare(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double s_percentile_ms(int64_t *values, long count, int percentile)
{
    if (count <= 0)
        return 0;
    long index = (long)((double)count * percentile / PERCENT);
    if (index >= count)
        index = count - 1;
    return (double)values[index] / US_PER_MS;
}

static Vigil__V1__AdminReply *s_status(const setup_t *s)
{
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    request.command = VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS;
    char err[ERR_LEN];
    return admin_call(s->receiver_admin, NULL, NULL, &request, ADMIN_TIMEOUT_MS, err, sizeof err);
}

static double s_metric(const Vigil__V1__AdminReply *reply, const char *name)
{
    for (size_t i = 0; reply && i < reply->n_metrics; i++)
        if (strcmp(reply->metrics[i]->name, name) == 0)
            return reply->metrics[i]->value;
    return 0;
}

static int s_link_run(const options_t *o, const link_plan_t *plan, const setup_t *s,
                      security_t *security, long base_seq, bench_result_t *result)
{
    char err[ERR_LEN], path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/sender.db", s->sender_state);
    static const store_migration_t migrations[] = {{.version = 1, .sql = link_schema_v1}};
    link_run_t run = {.options = o, .plan = *plan, .base_seq = base_seq};
    run.db = store_open(path, migrations, 1, err, sizeof err);
    run.enqueue_us = calloc((size_t)plan->messages, sizeof *run.enqueue_us);
    run.send_us = calloc((size_t)plan->messages, sizeof *run.send_us);
    zloop_t *loop = zloop_new();
    if (!run.db || !run.enqueue_us || !run.send_us || !loop) {
        fprintf(stderr, "link run: %s\n", err);
        return -1;
    }
    Vigil__V1__AdminReply *before = s_status(s);
    link_client_config_t config = {
        .peer = "receiver",
        .endpoint = s->endpoint,
        .server_key = s->receiver_public,
        .source = "bench",
        .window = o->window,
        .ack_timeout_ms = o->ack_timeout_ms,
        .backoff_max_ms = 2 * o->ack_timeout_ms,
        .heartbeat_ms = 2000,
    };
    run.client = link_client_new(&config, run.db, security, NULL, NULL, err, sizeof err);
    if (!run.client || link_client_attach(run.client, loop, err, sizeof err)) {
        fprintf(stderr, "link client: %s\n", err);
        return -1;
    }
    link_client_set_observer(run.client, s_on_ack, &run);
    double sender_cpu = s_self_cpu(), receiver_cpu = s_child_cpu(s->receiver);
    run.started_ns = util_mono_ns();
    zloop_timer(loop, TOPUP_MS, 0, s_topup, &run);
    zloop_start(loop);
    uint64_t elapsed = run.last_ack_ns - run.started_ns;
    sender_cpu = s_self_cpu() - sender_cpu;
    receiver_cpu = s_child_cpu(s->receiver) - receiver_cpu;
    Vigil__V1__AdminReply *after = s_status(s);
    double received = s_metric(after, "vigil_link_received_total") -
                      s_metric(before, "vigil_link_received_total");
    double batches =
        s_metric(after, "vigil_link_batches_total") - s_metric(before, "vigil_link_batches_total");
    if (before)
        vigil__v1__admin_reply__free_unpacked(before, NULL);
    if (after)
        vigil__v1__admin_reply__free_unpacked(after, NULL);
    size_t backlog = link_client_backlog(run.client);
    link_client_destroy(&run.client);
    zloop_destroy(&loop);
    store_close(&run.db);
    long n = plan->messages;
    if (run.failed || run.settled < n || backlog != 0) {
        fprintf(stderr, "link run: %ld of %ld settled, backlog %zu, failed %d\n", run.settled, n,
                backlog, run.failed);
        return -1;
    }
    qsort(run.enqueue_us, (size_t)n, sizeof *run.enqueue_us, s_compare);
    qsort(run.send_us, (size_t)n, sizeof *run.send_us, s_compare);
    result->rate = (double)n / ((double)elapsed / NS_PER_S);
    result->enqueue_p50_ms = s_percentile_ms(run.enqueue_us, n, P50);
    result->enqueue_p99_ms = s_percentile_ms(run.enqueue_us, n, P99);
    result->send_p50_ms = s_percentile_ms(run.send_us, n, P50);
    result->send_p99_ms = s_percentile_ms(run.send_us, n, P99);
    result->batch = batches > 0 ? received / batches : 0;
    result->sender_cpu_us = sender_cpu * NS_PER_S / US_PER_MS / (double)n;
    result->receiver_cpu_us = receiver_cpu * NS_PER_S / US_PER_MS / (double)n;
    free(run.enqueue_us);
    free(run.send_us);
    return 0;
}

/* --- raw limit (a): sqlite group commit ---------------------------------------- */

static double s_sqlite_run(const options_t *o, const setup_t *s, int index, int batch,
                           double *cpu_us)
{
    char err[ERR_LEN], path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/raw-%d.db", s->dir, index);
    static const store_migration_t migrations[] = {
        {.version = 1, .sql = "CREATE TABLE rows (seq INTEGER PRIMARY KEY, key BLOB NOT NULL);"},
    };
    sqlite3 *db = store_open(path, migrations, 1, err, sizeof err);
    sqlite3_stmt *insert = NULL;
    if (!db ||
        sqlite3_prepare_v2(db, "INSERT INTO rows (seq, key) VALUES (?1, ?2)", -1, &insert, NULL)) {
        fprintf(stderr, "sqlite run: %s\n", err);
        return -1;
    }
    if (batch < 1)
        batch = 1;
    double cpu = s_self_cpu();
    uint64_t started = util_mono_ns();
    for (long done = 0; done < o->messages;) {
        store_begin(db);
        for (int i = 0; i < batch && done < o->messages; i++, done++) {
            uint8_t key[VIGIL_ID_BYTES];
            util_random_id(key);
            sqlite3_bind_int64(insert, 1, done);
            sqlite3_bind_blob(insert, 2, key, sizeof key, SQLITE_TRANSIENT);
            sqlite3_step(insert);
            sqlite3_reset(insert);
        }
        if (store_commit(db))
            return -1;
    }
    double seconds = (double)(util_mono_ns() - started) / NS_PER_S;
    *cpu_us = (s_self_cpu() - cpu) * NS_PER_S / US_PER_MS / (double)o->messages;
    sqlite3_finalize(insert);
    store_close(&db);
    return (double)o->messages / seconds;
}

/* --- raw limits (b) and (c): ZeroMQ DEALER/ROUTER with CURVE, with and without sqlite --- */

/* The child's CURVE ROUTER socket on `endpoint`. Exits on failure. */
static void *s_raw_router_socket(const setup_t *s, const char *endpoint)
{
    char path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/keys/receiver.key_secret", s->receiver_state);
    zcert_t *cert = zcert_load(path);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    if (!cert || !router)
        _exit(1);
    zcert_apply(cert, router);
    zsock_set_curve_server(router, 1);
    zsock_set_rcvhwm(router, 0);
    zsock_set_sndhwm(router, 0);
    if (zsock_bind(router, "%s", endpoint) < 0)
        _exit(1);
    return zsock_resolve(router);
}

/* Raw (b), the child: a CURVE ROUTER that answers every message. Never
 * returns. */
static void s_raw_router(const setup_t *s, const char *endpoint, const char *db_path)
{
    (void)db_path;
    void *raw = s_raw_router_socket(s, endpoint);
    uint8_t reply[REPLY_BYTES] = {0};
    while (!zsys_interrupted) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&id, raw, 0) < 0 || zmq_msg_recv(&body, raw, 0) < 0)
            break;
        zmq_msg_send(&id, raw, ZMQ_SNDMORE);
        zmq_send(raw, reply, sizeof reply, 0);
        zmq_msg_close(&body);
    }
    _exit(0);
}

/* Raw (c), the child: the link's receiver with the link taken out. It waits
 * for a message, takes whatever else is waiting (up to RAW_BATCH_MAX, the
 * link's default batch_max), inserts each frame as it came off the wire into
 * one table in one transaction (WAL, synchronous=FULL, store_open()'s
 * settings), commits, then answers each message. No protobuf, no dedup, no
 * savepoints, no outbox, no coalesced acks. Never returns. */
static void s_raw_router_store(const setup_t *s, const char *endpoint, const char *db_path)
{
    char err[ERR_LEN];
    static const store_migration_t migrations[] = {
        {.version = 1,
         .sql = "CREATE TABLE frames (seq INTEGER PRIMARY KEY, frame BLOB NOT NULL);"},
    };
    sqlite3 *db = store_open(db_path, migrations, 1, err, sizeof err);
    sqlite3_stmt *insert = NULL, *begin = NULL, *commit = NULL;
    if (!db ||
        sqlite3_prepare_v2(db, "INSERT INTO frames (seq, frame) VALUES (?1, ?2)", -1, &insert,
                           NULL) ||
        sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) ||
        sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL)) {
        fprintf(stderr, "raw store: %s\n", db ? sqlite3_errmsg(db) : err);
        _exit(1);
    }
    void *raw = s_raw_router_socket(s, endpoint);
    zmq_msg_t *ids = calloc(RAW_BATCH_MAX, sizeof *ids);
    zmq_msg_t *bodies = calloc(RAW_BATCH_MAX, sizeof *bodies);
    uint8_t reply[REPLY_BYTES] = {0};
    int64_t seq = 0;
    if (!ids || !bodies)
        _exit(1);
    while (!zsys_interrupted) {
        int count = 0;
        for (int flags = 0; count < RAW_BATCH_MAX; count++, flags = ZMQ_DONTWAIT) {
            zmq_msg_init(&ids[count]);
            zmq_msg_init(&bodies[count]);
            if (zmq_msg_recv(&ids[count], raw, flags) < 0 ||
                zmq_msg_recv(&bodies[count], raw, 0) < 0) {
                zmq_msg_close(&ids[count]);
                zmq_msg_close(&bodies[count]);
                break;
            }
        }
        if (count == 0)
            break;
        sqlite3_step(begin);
        sqlite3_reset(begin);
        for (int i = 0; i < count; i++) {
            sqlite3_bind_int64(insert, 1, seq++);
            sqlite3_bind_blob(insert, 2, zmq_msg_data(&bodies[i]), (int)zmq_msg_size(&bodies[i]),
                              SQLITE_STATIC);
            if (sqlite3_step(insert) != SQLITE_DONE)
                _exit(1);
            sqlite3_reset(insert);
        }
        if (sqlite3_step(commit) != SQLITE_DONE)
            _exit(1);
        sqlite3_reset(commit);
        for (int i = 0; i < count; i++) { /* only after the commit */
            zmq_msg_send(&ids[i], raw, ZMQ_SNDMORE);
            zmq_send(raw, reply, sizeof reply, 0);
            zmq_msg_close(&bodies[i]);
        }
    }
    _exit(0);
}

typedef void (*raw_router_fn)(const setup_t *s, const char *endpoint, const char *db_path);

/* A DEALER keeping `window` frames of `envelope_bytes` in flight to the
 * ROUTER `router` runs in a child process; counts the answers. Returns
 * messages per second and the CPU per message of both processes. */
static double s_zmq_run(const options_t *o, const setup_t *s, raw_router_fn router, int index,
                        size_t envelope_bytes, double *cpu_us)
{
    int port = harness_free_port();
    char endpoint[HARNESS_PATH_MAX], db_path[HARNESS_PATH_MAX];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    snprintf(db_path, sizeof db_path, "%s/raw-combined-%d.db", s->dir, index);
    pid_t child = fork();
    if (child == 0)
        router(s, endpoint, db_path);
    zcert_t *cert = zcert_load(s->sender_secret);
    zcert_t *server = zcert_load(s->receiver_public);
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    zcert_apply(cert, dealer);
    zsock_set_curve_serverkey(dealer, zcert_public_txt(server));
    zsock_set_sndhwm(dealer, 0);
    zsock_set_rcvhwm(dealer, 0);
    zsock_connect(dealer, "%s", endpoint);
    void *raw = zsock_resolve(dealer);
    uint8_t *message = calloc(1, envelope_bytes);
    /* Wait for the connection with one round trip before the clock starts. */
    zmq_send(raw, message, envelope_bytes, 0);
    char reply[REPLY_BYTES];
    zmq_recv(raw, reply, sizeof reply, 0);
    long sent = 0, answered = 0;
    double cpu = s_self_cpu() + s_child_cpu(child);
    uint64_t started = util_mono_ns();
    while (answered < o->messages) {
        while (sent < o->messages && sent - answered < o->window) {
            zmq_send(raw, message, envelope_bytes, 0);
            sent++;
        }
        if (zmq_recv(raw, reply, sizeof reply, 0) >= 0)
            answered++;
        while (zmq_recv(raw, reply, sizeof reply, ZMQ_DONTWAIT) >= 0)
            answered++;
    }
    double seconds = (double)(util_mono_ns() - started) / NS_PER_S;
    *cpu_us =
        (s_self_cpu() + s_child_cpu(child) - cpu) * NS_PER_S / US_PER_MS / (double)o->messages;
    free(message);
    zsock_destroy(&dealer);
    zcert_destroy(&cert);
    zcert_destroy(&server);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return (double)o->messages / seconds;
}

/* --- setup and report ---------------------------------------------------------------- */

static int s_setup(const options_t *o, setup_t *s)
{
    HARNESS_CHECK(harness_tempdir("bench-link", s->dir, sizeof s->dir) == 0, "mkdtemp");
    snprintf(s->receiver_state, sizeof s->receiver_state, "%s/recv", s->dir);
    snprintf(s->sender_state, sizeof s->sender_state, "%s/send", s->dir);
    snprintf(s->receiver_conf, sizeof s->receiver_conf, "%s/receiver.conf", s->dir);
    snprintf(s->receiver_log, sizeof s->receiver_log, "%s/receiver.log", s->dir);
    snprintf(s->receiver_admin, sizeof s->receiver_admin, "ipc://%s/receiver.admin",
             s->receiver_state);
    snprintf(s->receiver_public, sizeof s->receiver_public, "%s/keys/receiver.key",
             s->receiver_state);
    snprintf(s->sender_secret, sizeof s->sender_secret, "%s/keys/sender.key_secret",
             s->sender_state);
    HARNESS_CHECK(harness_link_keys(s->receiver_state, "receiver", s->sender_state, "sender") == 0,
                  "keys");
    int port = harness_free_port();
    snprintf(s->endpoint, sizeof s->endpoint, "tcp://127.0.0.1:%d", port);
    HARNESS_CHECK(harness_write(s->receiver_conf,
                                "state_dir = \"%s\";\nlog_level = \"warn\";\n"
                                "link = { listen = \"%s\"; };\n",
                                s->receiver_state, s->endpoint) == 0,
                  "config");
    s->receiver = harness_spawn(o->receiver_exe, s->receiver_conf, s->receiver_log);
    HARNESS_CHECK(s->receiver > 0, "spawn %s", o->receiver_exe);
    Vigil__V1__AdminReply *reply = NULL;
    for (long long deadline = harness_now_ms() + READY_TIMEOUT_MS;
         !reply && harness_now_ms() < deadline;)
        reply = s_status(s);
    HARNESS_CHECK(reply, "the receiver did not start (see %s)", s->receiver_log);
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    return 0;
}

static int s_compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, s_compare_double);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

/* The size of the envelope the link sends for one probe (for the zmq run). */
static size_t s_envelope_bytes(void)
{
    uint8_t payload[ENVELOPE_SAMPLE_BYTES], out[ENVELOPE_SAMPLE_BYTES], id[VIGIL_ID_BYTES];
    util_random_id(id);
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = (uint64_t)DEFAULT_MESSAGES * MAX_RUNS;
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = id;
    envelope.message_id.len = sizeof id;
    envelope.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE;
    envelope.source = "bench";
    envelope.created_at_ms = util_now_ms();
    envelope.attempt = 1;
    envelope.payload.data = payload;
    envelope.payload.len = vigil__v1__link_probe__pack(&probe, payload);
    return vigil__v1__envelope__pack(&envelope, out);
}

/* One table row: the columns of main()'s table, in order. */
static void s_print_row(const char *label, int run, const double *v)
{
    char name[16];
    if (run > 0)
        snprintf(name, sizeof name, "%d", run);
    else
        snprintf(name, sizeof name, "%s", label);
    printf(
        "%-4s %10.0f | %8.2f %8.2f %8.2f %8.2f | %5.0f | %6.2f %6.2f | %8.2f %8.2f | %10.0f %10.0f "
        "%10.0f | %6.2f %6.2f\n",
        name, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12],
        v[13], v[14]);
    fflush(stdout);
}

static int s_parse(int argc, char **argv, options_t *o)
{
    static const struct option options[] = {
        {"messages", required_argument, NULL, 'n'},
        {"runs", required_argument, NULL, 'r'},
        {"window", required_argument, NULL, 'w'},
        {"enqueue-batch", required_argument, NULL, 'b'},
        {"receiver", required_argument, NULL, 'x'},
        {"keep", no_argument, NULL, 'k'},
        {"link-only", no_argument, NULL, 'l'},
        {"ack-timeout-ms", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "n:r:w:b:x:klt:", options, NULL)) != -1) {
        switch (opt) {
        case 'n':
            o->messages = atol(optarg);
            break;
        case 'r':
            o->runs = atoi(optarg);
            break;
        case 'w':
            o->window = atoi(optarg);
            break;
        case 'b':
            o->enqueue_batch = atoi(optarg);
            break;
        case 'x':
            o->receiver_exe = optarg;
            break;
        case 'k':
            o->keep = true;
            break;
        case 'l':
            o->link_only = true;
            break;
        case 't':
            o->ack_timeout_ms = atoi(optarg);
            break;
        default:
            return -1;
        }
    }
    if (o->messages < 1 || o->runs < 1 || o->runs > MAX_RUNS || o->window < 1 ||
        o->enqueue_batch < 1 || o->ack_timeout_ms < 1)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    options_t o = {
        .messages = DEFAULT_MESSAGES,
        .runs = DEFAULT_RUNS,
        .window = DEFAULT_WINDOW,
        .enqueue_batch = DEFAULT_ENQUEUE_BATCH,
        .receiver_exe = BENCH_RECEIVER_PATH,
        .ack_timeout_ms = DEFAULT_ACK_TIMEOUT_MS,
    };
    if (s_parse(argc, argv, &o)) {
        fprintf(stderr,
                "usage: %s [--messages N] [--runs R (1..%d)] [--window W] "
                "[--enqueue-batch B] [--receiver PATH] [--keep] [--link-only] "
                "[--ack-timeout-ms MS]\n",
                argv[0], MAX_RUNS);
        return 2;
    }
    log_init("bench", LOG_LEVEL_WARN);
    setup_t s = {0};
    if (s_setup(&o, &s))
        return 1;
    char err[ERR_LEN], allow[HARNESS_PATH_MAX];
    snprintf(allow, sizeof allow, "%s/keys/allow/sender", s.sender_state);
    security_config_t security_config = {.cert_path = s.sender_secret, .allow_dir = allow};
    security_t *security = security_new(&security_config, err, sizeof err);
    if (!security) {
        fprintf(stderr, "security: %s\n", err);
        return 1;
    }
    size_t envelope_bytes = s_envelope_bytes();
    printf("bench_link: %ld messages per run, %d runs, window %d, enqueue batch %d, envelope "
           "%zu bytes, %ld cores online\n",
           o.messages, o.runs, o.window, o.enqueue_batch, envelope_bytes,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-4s %10s | %8s %8s %8s %8s | %5s | %6s %6s | %8s %8s | %10s %10s %10s | %6s %6s\n", "",
           "", "full", "load", "ms", "", "", "cpu", "us/msg", "~1k/s", "ms", "raw", "limits",
           "msg/s", "link /", "link /");
    printf("%-4s %10s | %8s %8s %8s %8s | %5s | %6s %6s | %8s %8s | %10s %10s %10s | %6s %6s\n",
           "run", "link msg/s", "enq p50", "enq p99", "snd p50", "snd p99", "batch", "sender",
           "recvr", "enq p50", "enq p99", "sqlite", "zmq", "zmq+sqlite", "comb.", "min");
    enum {
        RATE,
        E50,
        E99,
        S50,
        S99,
        BATCH,
        CPU_S,
        CPU_R,
        L50,
        L99,
        SQLITE,
        ZMQ,
        COMBINED,
        RATIO_COMBINED,
        RATIO,
        CPU_SQLITE,
        CPU_ZMQ,
        CPU_COMBINED,
        COLUMNS
    };
    double table[COLUMNS][MAX_RUNS];
    int rc = 0;
    for (int i = 0; i < o.runs && rc == 0; i++) {
        bench_result_t r = {0}, light = {0};
        link_plan_t full = {.messages = o.messages,
                            .outstanding = 2L * o.window,
                            .per_tick = 0,
                            .batch = o.enqueue_batch};
        link_plan_t paced = {
            .messages = PACED_MESSAGES, .outstanding = PACED_MESSAGES, .per_tick = 1, .batch = 1};
        long base = (long)i * (o.messages + PACED_MESSAGES);
        if (s_link_run(&o, &full, &s, security, base, &r) ||
            s_link_run(&o, &paced, &s, security, base + o.messages, &light)) {
            rc = 1;
            break;
        }
        double row[COLUMNS] = {
            [RATE] = r.rate,
            [E50] = r.enqueue_p50_ms,
            [E99] = r.enqueue_p99_ms,
            [S50] = r.send_p50_ms,
            [S99] = r.send_p99_ms,
            [BATCH] = r.batch,
            [CPU_S] = r.sender_cpu_us,
            [CPU_R] = r.receiver_cpu_us,
            [L50] = light.enqueue_p50_ms,
            [L99] = light.enqueue_p99_ms,
        };
        double sqlite_cpu = 0, zmq_cpu = 0, combined_cpu = 0;
        if (!o.link_only) {
            row[SQLITE] = s_sqlite_run(&o, &s, i, (int)(r.batch + 0.5), &sqlite_cpu);
            row[ZMQ] = s_zmq_run(&o, &s, s_raw_router, i, envelope_bytes, &zmq_cpu);
            row[COMBINED] = s_zmq_run(&o, &s, s_raw_router_store, i, envelope_bytes, &combined_cpu);
        }
        double floor = row[SQLITE] < row[ZMQ] ? row[SQLITE] : row[ZMQ];
        row[RATIO] = floor > 0 ? row[RATE] / floor : 0;
        row[RATIO_COMBINED] = row[COMBINED] > 0 ? row[RATE] / row[COMBINED] : 0;
        row[CPU_SQLITE] = sqlite_cpu;
        row[CPU_ZMQ] = zmq_cpu;
        row[CPU_COMBINED] = combined_cpu;
        for (int c = 0; c < COLUMNS; c++)
            table[c][i] = row[c];
        s_print_row("", i + 1, row);
        printf("     cpu us/msg, both processes: link %.2f, raw sqlite %.2f, raw zmq %.2f, raw "
               "zmq+sqlite %.2f\n",
               row[CPU_S] + row[CPU_R], sqlite_cpu, zmq_cpu, combined_cpu);
    }
    if (rc == 0) {
        double median[COLUMNS];
        for (int c = 0; c < COLUMNS; c++)
            median[c] = s_median(table[c], o.runs);
        s_print_row("med", 0, median);
        printf("ratios (medians of the per-run ratios): link / raw zmq+sqlite = %.2f; "
               "link / min(raw sqlite, raw zmq) = %.2f\n",
               median[RATIO_COMBINED], median[RATIO]);
        double link_cpu = median[CPU_S] + median[CPU_R];
        printf("cpu us/msg (medians), both processes: link %.2f (sender %.2f + receiver %.2f), "
               "raw sqlite %.2f, raw zmq %.2f, raw zmq+sqlite %.2f; raw zmq+sqlite / link = "
               "%.2f\n",
               link_cpu, median[CPU_S], median[CPU_R], median[CPU_SQLITE], median[CPU_ZMQ],
               median[CPU_COMBINED], link_cpu > 0 ? median[CPU_COMBINED] / link_cpu : 0);
        printf("targets: link >= %.0f msg/s: %s; link >= %.0f%% of the raw limit, read literally "
               "(one process doing the sqlite group-commit loop plus the bare ZeroMQ round "
               "trip): %s; stricter reading, min of the separate limits: %s\n",
               TARGET_RATE, median[RATE] >= TARGET_RATE ? "met" : "NOT met", TARGET_RATIO * PERCENT,
               o.link_only                              ? "not measured (--link-only)"
               : median[RATIO_COMBINED] >= TARGET_RATIO ? "met"
                                                        : "NOT met",
               o.link_only                     ? "not measured"
               : median[RATIO] >= TARGET_RATIO ? "met"
                                               : "NOT met");
    }
    security_destroy(&security);
    int code = harness_stop(s.receiver, STOP_GRACE_MS);
    if (code != 0)
        fprintf(stderr, "the receiver did not stop cleanly (%d); see %s\n", code, s.receiver_log);
    if (!o.keep && rc == 0)
        harness_remove_tree(s.dir);
    else
        printf("state kept in %s\n", s.dir);
    return rc;
}
