/* lifecycle_drain_test.c: SIGTERM drains: nothing acknowledged is lost,
 * nothing new is accepted, and the process ends in bounded time.
 *
 * Two real vigil-lifecycle processes over CURVE: the sender S enqueues
 * probes for its peer, the receiver R stores them. The test also speaks the
 * link to S itself (as an allowlisted client) to see what S accepts.
 *
 *   A. Peer up, messages in flight: R is paused (SIGSTOP) so S's window is
 *      full of unacknowledged probes, then S gets SIGTERM. While it drains
 *      S answers /readyz 503 and /healthz 200, and a probe sent to it gets
 *      no ack (one sent before SIGTERM was acked). R resumes; S receives
 *      the acks, exits 0 well within drain.timeout_ms, and then refuses
 *      connections. Every probe is either stored once by R or still in S's
 *      outbox: none lost, none in both. The refused probe, sent again to
 *      the restarted S, is accepted.
 *   B. Peer stalled past the deadline: S exits 0 at drain.timeout_ms and
 *      its unacknowledged rows stay in its outbox.
 *   C. Peer down: S exits 0 within drain.timeout_ms and its outbox is
 *      untouched (sqlite check). SIGINT drains the same way, and a second
 *      stop signal ends the drain at once, still exit 0, outbox untouched.
 *   Then with R up, a restarted S delivers everything: R holds every
 *   sequence exactly once and S's outbox is empty.
 *
 * Usage: lifecycle_drain_test PATH/TO/vigil-lifecycle
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lifecycle_kit.h"
#include "vigil/service.h"
#include "vigil/util.h"

#define DRAIN_COUNT        20000 /* probes per phase; far more than one window */
#define DRAIN_WINDOW       32
#define DRAIN_LONG_MS      8000 /* drain.timeout_ms for phase A */
#define DRAIN_SHORT_MS     2000 /* drain.timeout_ms for phases B and C */
#define DRAIN_SLACK_MS     3000 /* process teardown on 2 noisy cores */
#define DRAIN_STARTUP_MS   20000
#define DRAIN_DELIVERY_MS  60000
#define DRAIN_PAUSE_MS     500  /* R stays stopped at least this long */
#define DRAIN_NO_ACK_MS    1000 /* how long "no ack" is waited for */
#define DRAIN_ACK_MS       5000
#define DRAIN_POLL_MS      20
#define DRAIN_TESTER_SEQ   900000 /* the test's own probes to S */
#define DRAIN_PROBES_SQL   "SELECT count(*) FROM probes"
#define DRAIN_DOUBLE_SQL   "SELECT count(*) FROM probes WHERE handled <> 1"
#define DRAIN_OUTBOX_SQL   "SELECT count(*) FROM link_outbox"
#define DRAIN_HTTP_UNREADY 503

typedef struct {
    const char *exe;
    char dir[KIT_PATH_MAX];
    char sender_state[KIT_PATH_MAX], receiver_state[KIT_PATH_MAX];
    char sender_config[KIT_PATH_MAX], receiver_config[KIT_PATH_MAX];
    char sender_log[KIT_PATH_MAX], receiver_log[KIT_PATH_MAX];
    char sender_db[KIT_PATH_MAX], receiver_db[KIT_PATH_MAX];
    char tester_secret[KIT_PATH_MAX], sender_public[KIT_PATH_MAX];
    int sender_port, receiver_port, sender_metrics, receiver_metrics;
    pid_t sender, receiver;
    int sender_starts, receiver_starts;
} drain_t;

static int s_write_sender(drain_t *t, int send_count, int drain_ms)
{
    kit_config_t config = {.state_dir = t->sender_state,
                           .link_port = t->sender_port,
                           .peer_port = t->receiver_port,
                           .metrics_port = t->sender_metrics,
                           .drain_timeout_ms = drain_ms,
                           .send_count = send_count,
                           .window = DRAIN_WINDOW};
    return kit_write_config(t->sender_config, &config);
}

static int s_setup(drain_t *t)
{
    KIT_CHECK(kit_tempdir("lifecycle-drain", t->dir) == 0, "no temp dir");
    kit_join(t->sender_state, t->dir, "sender");
    kit_join(t->receiver_state, t->dir, "receiver");
    kit_join(t->sender_config, t->dir, "sender.conf");
    kit_join(t->receiver_config, t->dir, "receiver.conf");
    kit_join(t->sender_log, t->dir, "sender.log");
    kit_join(t->receiver_log, t->dir, "receiver.log");
    kit_join(t->sender_db, t->sender_state, "lifecycle.db");
    kit_join(t->receiver_db, t->receiver_state, "lifecycle.db");
    kit_join(t->tester_secret, t->dir, "tester.key_secret");
    kit_join(t->sender_public, t->sender_state, "keys/lifecycle.key");
    KIT_CHECK(kit_instance_keys(t->sender_state, "sender") == 0 &&
                  kit_instance_keys(t->receiver_state, "receiver") == 0 &&
                  kit_tester_keys(t->dir) == 0 &&
                  kit_admit(t->receiver_state, t->sender_state, false) == 0 &&
                  kit_admit(t->sender_state, t->receiver_state, false) == 0 &&
                  kit_admit(t->sender_state, t->dir, true) == 0,
              "cannot make the keys");
    t->sender_port = kit_free_port();
    t->receiver_port = kit_free_port();
    t->sender_metrics = kit_free_port();
    t->receiver_metrics = kit_free_port();
    kit_config_t receiver = {.state_dir = t->receiver_state,
                             .link_port = t->receiver_port,
                             .peer_port = t->sender_port,
                             .metrics_port = t->receiver_metrics};
    KIT_CHECK(kit_write_config(t->receiver_config, &receiver) == 0, "cannot write configs");
    return 0;
}

static int s_start(const char *exe, const char *config, const char *log, int *starts, pid_t *pid)
{
    *pid = kit_spawn(exe, config, log, NULL);
    KIT_CHECK(*pid > 0, "cannot start %s", config);
    (*starts)++;
    if (kit_wait_log(*pid, log, KIT_STARTED, NULL, *starts, DRAIN_STARTUP_MS)) {
        kit_dump(log);
        KIT_CHECK(false, "%s did not start", config);
    }
    return 0;
}

/* SIGTERM; waits up to `limit_ms` (+ slack) for exit 0; stores the time it
 * took. Returns 0 or 1. */
static int s_term(pid_t pid, const char *log, int limit_ms, int64_t *took_ms)
{
    int64_t sent = kit_now_ms();
    KIT_CHECK(kit_signal(pid, SIGTERM) == 0, "cannot signal");
    int code = -1;
    if (kit_wait(pid, limit_ms + DRAIN_SLACK_MS, &code)) {
        kit_dump(log);
        KIT_CHECK(false, "no exit within %d ms of SIGTERM", limit_ms + DRAIN_SLACK_MS);
    }
    *took_ms = kit_now_ms() - sent;
    if (code != SERVICE_EXIT_OK)
        kit_dump(log);
    KIT_CHECK(code == SERVICE_EXIT_OK, "exit %d after SIGTERM, want 0", code);
    return 0;
}

static long long s_count(const char *db, const char *sql)
{
    long long value = -1;
    if (kit_sql_int(db, sql, &value))
        return -1;
    return value;
}

/* Rows in `db`'s probes table with sequence `seq`. */
static long long s_count_seq(const char *db, long long seq)
{
    char sql[KIT_PATH_MAX];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM probes WHERE seq = %lld", seq);
    return s_count(db, sql);
}

/* Waits until R has stored at least `count` probes. Returns 0 or 1. */
static int s_wait_stored(const drain_t *t, long long count, int timeout_ms)
{
    int64_t deadline = kit_now_ms() + timeout_ms;
    long long stored;
    while ((stored = s_count(t->receiver_db, DRAIN_PROBES_SQL)) < count) {
        KIT_CHECK(kit_now_ms() < deadline, "R stored %lld probes, want %lld", stored, count);
        kit_sleep_ms(DRAIN_POLL_MS);
    }
    return 0;
}

static bool s_connection_refused(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool refused =
        connect(fd, (struct sockaddr *)&address, sizeof address) != 0 && errno == ECONNREFUSED;
    close(fd);
    return refused;
}

/* Sends probe `seq` under `id` to S and waits for its ack. Returns the ack
 * status, or 0 when no ack came within `timeout_ms`. */
static int s_tester_send(const drain_t *t, const uint8_t id[VIGIL_ID_BYTES], uint64_t seq,
                         int timeout_ms)
{
    char endpoint[KIT_PATH_MAX];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", t->sender_port);
    kit_link_t *link = kit_link_new(endpoint, t->tester_secret, t->sender_public);
    if (!link)
        return -1;
    Vigil__V1__AckStatus status = 0;
    if (kit_link_send_probe(link, id, seq) ||
        kit_link_wait_ack(link, id, timeout_ms, &status, NULL))
        status = 0;
    kit_link_destroy(&link);
    return (int)status;
}

/* A: peer up, messages in flight when SIGTERM arrives. */
static int s_phase_peer_up(drain_t *t, const uint8_t refused_id[VIGIL_ID_BYTES])
{
    KIT_CHECK(s_write_sender(t, DRAIN_COUNT, DRAIN_LONG_MS) == 0, "cannot write config");
    if (s_start(t->exe, t->receiver_config, t->receiver_log, &t->receiver_starts, &t->receiver) ||
        s_start(t->exe, t->sender_config, t->sender_log, &t->sender_starts, &t->sender))
        return 1;
    KIT_CHECK(kit_http_get(t->sender_metrics, "/readyz", NULL, 0) == 200, "S /readyz not 200");
    KIT_CHECK(kit_http_get(t->sender_metrics, "/healthz", NULL, 0) == 200, "S /healthz not 200");

    /* While running, S accepts a probe and acks it. */
    uint8_t accepted_id[VIGIL_ID_BYTES];
    util_random_id(accepted_id);
    int status = s_tester_send(t, accepted_id, DRAIN_TESTER_SEQ, DRAIN_ACK_MS);
    KIT_CHECK(status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
              "a running S answered %d, want ACCEPTED", status);

    /* Delivery works; now R stops answering, so S's window fills. */
    if (s_wait_stored(t, 1, DRAIN_DELIVERY_MS))
        return 1;
    KIT_CHECK(kit_signal(t->receiver, SIGSTOP) == 0, "cannot stop R");
    kit_sleep_ms(DRAIN_PAUSE_MS);
    int64_t sent_at = kit_now_ms();
    KIT_CHECK(kit_signal(t->sender, SIGTERM) == 0, "cannot signal S");
    KIT_CHECK(kit_wait_log(t->sender, t->sender_log, "msg=\"draining", NULL, 1, DRAIN_ACK_MS) == 0,
              "S did not log that it is draining");
    long long inflight = -1;
    KIT_CHECK(
        kit_log_value(t->sender_log, "msg=\"draining", "inflight", &inflight) == 0 && inflight > 0,
        "nothing was in flight at SIGTERM (inflight=%lld): the test proves nothing", inflight);

    /* Draining: not ready, still healthy, and new probes get no ack. */
    KIT_CHECK(kit_wait_http(t->sender_metrics, "/readyz", DRAIN_HTTP_UNREADY, DRAIN_ACK_MS) == 0,
              "S /readyz did not turn 503 while draining");
    KIT_CHECK(kit_http_get(t->sender_metrics, "/healthz", NULL, 0) == 200,
              "S /healthz not 200 while draining");
    status = s_tester_send(t, refused_id, DRAIN_TESTER_SEQ + 1, DRAIN_NO_ACK_MS);
    KIT_CHECK(status == 0, "a draining S answered a new probe (status %d)", status);
    KIT_CHECK(kit_running(t->sender), "S exited while its peer was stopped");

    /* R resumes: the in-flight probes are acked and S finishes. */
    KIT_CHECK(kit_signal(t->receiver, SIGCONT) == 0, "cannot resume R");
    int code = -1;
    KIT_CHECK(kit_wait(t->sender, DRAIN_LONG_MS + DRAIN_SLACK_MS, &code) == 0, "S did not exit");
    int64_t took = kit_now_ms() - sent_at;
    if (code != SERVICE_EXIT_OK)
        kit_dump(t->sender_log);
    KIT_CHECK(code == SERVICE_EXIT_OK, "S exited %d after its drain, want 0", code);
    KIT_CHECK(took < DRAIN_LONG_MS, "S took %lld ms to drain; drain.timeout_ms is %d",
              (long long)took, DRAIN_LONG_MS);
    KIT_CHECK(kit_count_lines(t->sender_log, "msg=\"drained\"", NULL) == 1,
              "S did not finish its in-flight messages (no 'drained' line)");
    KIT_CHECK(s_connection_refused(t->sender_port), "S's link port still accepts connections");

    /* Nothing lost, nothing twice: stored by R xor still queued at S. */
    long long stored = s_count(t->receiver_db, DRAIN_PROBES_SQL);
    long long queued = s_count(t->sender_db, DRAIN_OUTBOX_SQL);
    KIT_CHECK(s_count(t->receiver_db, DRAIN_DOUBLE_SQL) == 0, "R stored a probe twice");
    KIT_CHECK(stored + queued == DRAIN_COUNT,
              "R stored %lld and S still queues %lld: %lld probes %s", stored, queued,
              llabs(DRAIN_COUNT - stored - queued),
              stored + queued < DRAIN_COUNT ? "lost" : "twice");
    KIT_CHECK(queued > 0, "S delivered everything: the drain did not stop at the window");
    /* S kept the probe it acked, and not the one it refused. */
    KIT_CHECK(s_count_seq(t->sender_db, DRAIN_TESTER_SEQ) == 1, "S lost the probe it acknowledged");
    KIT_CHECK(s_count_seq(t->sender_db, DRAIN_TESTER_SEQ + 1) == 0,
              "S stored the probe it did not acknowledge");
    printf("A: S drained %lld in flight in %lld ms; R stored %lld, S keeps %lld queued\n", inflight,
           (long long)took, stored, queued);
    return 0;
}

/* B: the peer stalls past drain.timeout_ms. */
static int s_phase_peer_stalled(drain_t *t)
{
    KIT_CHECK(s_write_sender(t, 2 * DRAIN_COUNT, DRAIN_SHORT_MS) == 0, "cannot write config");
    if (s_start(t->exe, t->sender_config, t->sender_log, &t->sender_starts, &t->sender) ||
        s_wait_stored(t, DRAIN_COUNT + 1, DRAIN_DELIVERY_MS))
        return 1;
    KIT_CHECK(kit_signal(t->receiver, SIGSTOP) == 0, "cannot stop R");
    kit_sleep_ms(DRAIN_PAUSE_MS);
    int64_t took = 0;
    int failed = s_term(t->sender, t->sender_log, DRAIN_SHORT_MS, &took);
    KIT_CHECK(kit_signal(t->receiver, SIGCONT) == 0, "cannot resume R");
    if (failed)
        return 1;
    KIT_CHECK(took >= DRAIN_SHORT_MS - DRAIN_POLL_MS,
              "S exited after %lld ms, before drain.timeout_ms (%d) with its peer stalled",
              (long long)took, DRAIN_SHORT_MS);
    KIT_CHECK(kit_count_lines(t->sender_log, "drain deadline passed", NULL) == 1,
              "S did not say its drain deadline passed");
    KIT_CHECK(s_count(t->sender_db, DRAIN_OUTBOX_SQL) > 0, "S's unacknowledged rows are gone");
    printf("B: S gave up after %lld ms (drain.timeout_ms %d)\n", (long long)took, DRAIN_SHORT_MS);
    return 0;
}

/* C: the peer is down. */
static int s_phase_peer_down(drain_t *t)
{
    int64_t took = 0;
    if (s_term(t->receiver, t->receiver_log, DRAIN_SHORT_MS, &took))
        return 1;
    long long before = s_count(t->sender_db, DRAIN_OUTBOX_SQL);
    if (s_start(t->exe, t->sender_config, t->sender_log, &t->sender_starts, &t->sender))
        return 1;
    kit_sleep_ms(DRAIN_PAUSE_MS);
    if (s_term(t->sender, t->sender_log, DRAIN_SHORT_MS, &took))
        return 1;
    KIT_CHECK(took <= DRAIN_SHORT_MS + DRAIN_SLACK_MS, "S took %lld ms with its peer down",
              (long long)took);
    long long after = s_count(t->sender_db, DRAIN_OUTBOX_SQL);
    KIT_CHECK(before > 0 && after == before,
              "S's outbox held %lld rows before and %lld after a run with the peer down", before,
              after);
    printf("C: S stopped in %lld ms with %lld rows still queued\n", (long long)took, after);

    /* SIGINT drains like SIGTERM; a second stop signal cuts the drain short. */
    if (s_start(t->exe, t->sender_config, t->sender_log, &t->sender_starts, &t->sender))
        return 1;
    int64_t sent_at = kit_now_ms();
    KIT_CHECK(kit_signal(t->sender, SIGINT) == 0, "cannot send SIGINT");
    KIT_CHECK(kit_wait_log(t->sender, t->sender_log, "msg=\"draining", NULL, t->sender_starts,
                           DRAIN_ACK_MS) == 0,
              "SIGINT did not start a drain");
    KIT_CHECK(kit_signal(t->sender, SIGTERM) == 0, "cannot send the second signal");
    int code = -1;
    KIT_CHECK(kit_wait(t->sender, DRAIN_SHORT_MS + DRAIN_SLACK_MS, &code) == 0 &&
                  code == SERVICE_EXIT_OK,
              "after SIGINT then SIGTERM: exit %d, want 0", code);
    took = kit_now_ms() - sent_at;
    KIT_CHECK(kit_count_lines(t->sender_log, "second stop signal", NULL) == 1,
              "S did not say the second signal stopped it");
    KIT_CHECK(took < DRAIN_SHORT_MS, "the second signal did not cut the drain short (%lld ms)",
              (long long)took);
    KIT_CHECK(s_count(t->sender_db, DRAIN_OUTBOX_SQL) == after,
              "the outbox changed across an interrupted drain");
    return 0;
}

/* Everything queued is delivered once R is back. */
static int s_phase_redeliver(drain_t *t, const uint8_t refused_id[VIGIL_ID_BYTES])
{
    if (s_start(t->exe, t->receiver_config, t->receiver_log, &t->receiver_starts, &t->receiver) ||
        s_start(t->exe, t->sender_config, t->sender_log, &t->sender_starts, &t->sender) ||
        s_wait_stored(t, 2 * DRAIN_COUNT, DRAIN_DELIVERY_MS))
        return 1;
    int64_t deadline = kit_now_ms() + DRAIN_DELIVERY_MS;
    while (s_count(t->sender_db, DRAIN_OUTBOX_SQL) != 0) {
        KIT_CHECK(kit_now_ms() < deadline, "S's outbox did not empty");
        kit_sleep_ms(DRAIN_POLL_MS);
    }
    /* The probe S refused while draining is accepted now. */
    int status = s_tester_send(t, refused_id, DRAIN_TESTER_SEQ + 1, DRAIN_ACK_MS);
    KIT_CHECK(status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
              "the restarted S answered %d to the refused probe, want ACCEPTED", status);
    int64_t took = 0;
    if (s_term(t->sender, t->sender_log, DRAIN_LONG_MS, &took) ||
        s_term(t->receiver, t->receiver_log, DRAIN_LONG_MS, &took))
        return 1;
    KIT_CHECK(s_count(t->receiver_db, DRAIN_PROBES_SQL) == 2 * DRAIN_COUNT,
              "R stored %lld probes, want %d", s_count(t->receiver_db, DRAIN_PROBES_SQL),
              2 * DRAIN_COUNT);
    char sql[KIT_PATH_MAX];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM probes WHERE seq < 0 OR seq >= %d",
             2 * DRAIN_COUNT);
    KIT_CHECK(s_count(t->receiver_db, sql) == 0, "R stored a sequence number nobody sent");
    KIT_CHECK(s_count(t->receiver_db, DRAIN_DOUBLE_SQL) == 0, "R stored a probe twice");
    KIT_CHECK(s_count_seq(t->sender_db, DRAIN_TESTER_SEQ + 1) == 1,
              "S did not store the re-sent probe");
    KIT_CHECK(s_count(t->sender_db, DRAIN_OUTBOX_SQL) == 0, "S's outbox is not empty");
    printf("after restart: R holds all %d probes exactly once\n", 2 * DRAIN_COUNT);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/TO/vigil-lifecycle\n", argv[0]);
        return 2;
    }
    drain_t t = {.exe = argv[1]};
    uint8_t refused_id[VIGIL_ID_BYTES];
    util_random_id(refused_id);
    int failed = s_setup(&t) || s_phase_peer_up(&t, refused_id) || s_phase_peer_stalled(&t) ||
                 s_phase_peer_down(&t) || s_phase_redeliver(&t, refused_id);
    if (failed) {
        kit_dump(t.sender_log);
        kit_dump(t.receiver_log);
    }
    return kit_finish(failed);
}
