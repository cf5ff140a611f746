/* link_crash_test.c: exactly-once effect across SIGKILLs, end to end.
 *
 * Two real services over TCP loopback with CURVE and allowlists: the probe
 * sender enqueues 10,000 probes (idempotently, by sequence number) and
 * relays them; the probe receiver stores each one. While that runs, the
 * receiver is SIGKILLed and restarted at random moments at least 5 times and
 * the sender at least twice, and each receiver life drops a few of its acks
 * after the commit (fault injection, as if lost in transit), so retransmits
 * of committed messages are certain. Afterwards the receiver's store must hold
 * exactly the probes 0..9999, each with handled == 1 (no loss, no double
 * effect), the sender's outbox must be empty, and both sqlite files must pass
 * PRAGMA integrity_check.
 *
 * Usage: link_crash_test RECEIVER_EXE SENDER_EXE
 * Env:   VIGIL_TEST_SEED=N replays a run's kill schedule (printed at start);
 *        VIGIL_TEST_KEEP=1 keeps the temporary directory.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "link_harness.h"
#include "vigil/admin.h"

#define PROBES            10000
#define RECEIVER_KILLS    6
#define SENDER_KILLS      2
#define KILL_GAP_MIN_MS   150 /* random pause before each kill */
#define KILL_GAP_SPAN_MS  350
#define RESTART_GAP_MS    120 /* random pause before each restart, at most */
#define FINISH_TIMEOUT_MS 60000
#define STOP_GRACE_MS     5000
#define ENQUEUE_BATCH     20 /* probes per sender transaction */
#define ENQUEUE_EVERY_MS  10 /* so enqueuing takes about 5 s: kills land mid-stream */
/* Ack messages each receiver life loses after committing (vigil/fault.h). */
#define ACK_FAULTS "link_ack:2,link_ack:5,link_ack:9,link_ack:20,link_ack:40,link_ack:80"

typedef struct {
    char dir[HARNESS_DIR_MAX];
    char receiver_exe[HARNESS_PATH_MAX];
    char sender_exe[HARNESS_PATH_MAX];
    char receiver_conf[HARNESS_PATH_MAX];
    char sender_conf[HARNESS_PATH_MAX];
    char receiver_log[HARNESS_PATH_MAX];
    char sender_log[HARNESS_PATH_MAX];
    char receiver_db[HARNESS_PATH_MAX];
    char sender_db[HARNESS_PATH_MAX];
    char receiver_admin[HARNESS_PATH_MAX];
    pid_t receiver;
    pid_t sender;
    double duplicates; /* answered from the inbox, summed over receiver lives */
} crash_test_t;

#define ADMIN_TIMEOUT_MS 500

/* Adds the running receiver's duplicate count to the total (best effort:
 * a receiver still starting up has none to report). */
static void s_count_duplicates(crash_test_t *t)
{
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    request.command = VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS;
    char err[HARNESS_PATH_MAX];
    Vigil__V1__AdminReply *reply =
        admin_call(t->receiver_admin, NULL, NULL, &request, ADMIN_TIMEOUT_MS, err, sizeof err);
    for (size_t i = 0; reply && i < reply->n_metrics; i++)
        if (strcmp(reply->metrics[i]->name, "vigil_link_duplicates_total") == 0)
            t->duplicates += reply->metrics[i]->value;
    if (reply)
        vigil__v1__admin_reply__free_unpacked(reply, NULL);
}

static int s_setup(crash_test_t *t)
{
    char receiver_state[HARNESS_STATE_MAX], sender_state[HARNESS_STATE_MAX];
    HARNESS_CHECK(harness_tempdir("link-crash", t->dir, sizeof t->dir) == 0, "mkdtemp");
    snprintf(receiver_state, sizeof receiver_state, "%s/recv", t->dir);
    snprintf(sender_state, sizeof sender_state, "%s/send", t->dir);
    snprintf(t->receiver_conf, sizeof t->receiver_conf, "%s/receiver.conf", t->dir);
    snprintf(t->sender_conf, sizeof t->sender_conf, "%s/sender.conf", t->dir);
    snprintf(t->receiver_log, sizeof t->receiver_log, "%s/receiver.log", t->dir);
    snprintf(t->sender_log, sizeof t->sender_log, "%s/sender.log", t->dir);
    snprintf(t->receiver_db, sizeof t->receiver_db, "%s/receiver.db", receiver_state);
    snprintf(t->sender_db, sizeof t->sender_db, "%s/sender.db", sender_state);
    snprintf(t->receiver_admin, sizeof t->receiver_admin, "ipc://%s/receiver.admin",
             receiver_state);
    HARNESS_CHECK(harness_link_keys(receiver_state, "receiver", sender_state, "sender") == 0,
                  "keys");
    int port = harness_free_port();
    HARNESS_CHECK(port > 0, "no free port");
    HARNESS_CHECK(
        harness_write(t->receiver_conf,
                      "state_dir = \"%s\";\n"
                      "link = { listen = \"tcp://127.0.0.1:%d\"; heartbeat_ms = 500; };\n",
                      receiver_state, port) == 0,
        "write %s", t->receiver_conf);
    HARNESS_CHECK(harness_write(t->sender_conf,
                                "state_dir = \"%s\";\n"
                                "link = { heartbeat_ms = 500; };\n"
                                "peers = ( { name = \"receiver\"; endpoint = "
                                "\"tcp://127.0.0.1:%d\"; window = 512; ack_timeout_ms = 300; "
                                "backoff_max_ms = 1000; } );\n"
                                "probe_sender = { peer = \"receiver\"; count = %d; batch = %d; "
                                "interval_ms = %d; };\n",
                                sender_state, port, PROBES, ENQUEUE_BATCH, ENQUEUE_EVERY_MS) == 0,
                  "write %s", t->sender_conf);
    return 0;
}

/* Runs the kill schedule: a shuffled list of receiver and sender kills,
 * each after a random pause, each followed by a restart. */
static int s_chaos(crash_test_t *t)
{
    char plan[RECEIVER_KILLS + SENDER_KILLS];
    size_t steps = sizeof plan;
    for (size_t i = 0; i < steps; i++)
        plan[i] = i < RECEIVER_KILLS ? 'R' : 'S';
    for (size_t i = steps - 1; i > 0; i--) {
        size_t j = (size_t)(lrand48() % (long)(i + 1));
        char swap = plan[i];
        plan[i] = plan[j];
        plan[j] = swap;
    }
    int receiver_kills = 0, sender_kills = 0;
    for (size_t i = 0; i < steps; i++) {
        harness_sleep_ms(KILL_GAP_MIN_MS + (int)(lrand48() % KILL_GAP_SPAN_MS));
        int status = 0;
        HARNESS_CHECK(!harness_exited(t->sender, &status),
                      "the sender finished (status %d) before the kill schedule did (%d of %zu "
                      "kills): slow it down",
                      status, receiver_kills + sender_kills, steps);
        HARNESS_CHECK(!harness_exited(t->receiver, &status),
                      "the receiver died on its own (status %d)", status);
        bool receiver = plan[i] == 'R';
        if (receiver)
            s_count_duplicates(t);
        pid_t victim = receiver ? t->receiver : t->sender;
        harness_kill9(victim);
        printf("kill -9 %s (pid %d)\n", receiver ? "receiver" : "sender", (int)victim);
        fflush(stdout);
        harness_sleep_ms((int)(lrand48() % RESTART_GAP_MS));
        if (receiver) {
            t->receiver = harness_spawn(t->receiver_exe, t->receiver_conf, t->receiver_log);
            receiver_kills++;
        } else {
            t->sender = harness_spawn(t->sender_exe, t->sender_conf, t->sender_log);
            sender_kills++;
        }
        HARNESS_CHECK(t->receiver > 0 && t->sender > 0, "restart failed");
    }
    HARNESS_CHECK(receiver_kills >= 5 && sender_kills >= 2, "kills: receiver %d, sender %d",
                  receiver_kills, sender_kills);
    return 0;
}

static int s_integrity(const char *path)
{
    sqlite3 *db = NULL;
    HARNESS_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open %s",
                  path);
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL);
    int ok = stmt && sqlite3_step(stmt) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") == 0;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    HARNESS_CHECK(ok, "PRAGMA integrity_check failed on %s", path);
    return 0;
}

static long long s_query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    long long value = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
        value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

static int s_verify(crash_test_t *t)
{
    HARNESS_CHECK(s_integrity(t->receiver_db) == 0, "receiver integrity");
    HARNESS_CHECK(s_integrity(t->sender_db) == 0, "sender integrity");
    sqlite3 *receiver = NULL, *sender = NULL;
    HARNESS_CHECK(sqlite3_open_v2(t->receiver_db, &receiver, SQLITE_OPEN_READONLY, NULL) ==
                      SQLITE_OK,
                  "open receiver db");
    HARNESS_CHECK(sqlite3_open_v2(t->sender_db, &sender, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
                  "open sender db");
    long long stored = s_query(receiver, "SELECT count(*) FROM probes");
    long long lowest = s_query(receiver, "SELECT min(seq) FROM probes");
    long long highest = s_query(receiver, "SELECT max(seq) FROM probes");
    long long once = s_query(receiver, "SELECT count(*) FROM probes WHERE handled = 1");
    long long most = s_query(receiver, "SELECT max(handled) FROM probes");
    long long parked_in = s_query(receiver, "SELECT count(*) FROM link_deadletters");
    long long inbox = s_query(receiver, "SELECT count(*) FROM link_inbox");
    long long enqueued = s_query(sender, "SELECT count(*) FROM sent");
    long long outbox = s_query(sender, "SELECT count(*) FROM link_outbox");
    long long parked_out = s_query(sender, "SELECT count(*) FROM link_deadletters");
    sqlite3_close(receiver);
    sqlite3_close(sender);
    printf("receiver: %lld probes (seq %lld..%lld), %lld handled once, max handled %lld, "
           "%lld inbox rows\n",
           stored, lowest, highest, once, most, inbox);
    printf("sender: %lld enqueued, %lld left in the outbox\n", enqueued, outbox);
    HARNESS_CHECK(enqueued == PROBES, "sender enqueued %lld probes, expected %d", enqueued, PROBES);
    HARNESS_CHECK(stored == PROBES, "receiver stored %lld probes, expected %d", stored, PROBES);
    HARNESS_CHECK(lowest == 0 && highest == PROBES - 1, "seq range %lld..%lld", lowest, highest);
    HARNESS_CHECK(once == PROBES && most == 1, "double effects: %lld handled once, max %lld", once,
                  most);
    HARNESS_CHECK(inbox == PROBES, "inbox holds %lld message ids, expected %d", inbox, PROBES);
    HARNESS_CHECK(outbox == 0, "%lld rows left in the sender's outbox", outbox);
    HARNESS_CHECK(parked_in == 0 && parked_out == 0, "dead letters: %lld in, %lld out", parked_in,
                  parked_out);
    return 0;
}

static int s_run(crash_test_t *t)
{
    if (s_setup(t))
        return 1;
    t->receiver = harness_spawn(t->receiver_exe, t->receiver_conf, t->receiver_log);
    t->sender = harness_spawn(t->sender_exe, t->sender_conf, t->sender_log);
    HARNESS_CHECK(t->receiver > 0 && t->sender > 0, "spawn");
    if (s_chaos(t))
        return 1;
    int status = 0;
    HARNESS_CHECK(harness_wait(t->sender, FINISH_TIMEOUT_MS, &status) == 0,
                  "the sender did not finish within %d ms", FINISH_TIMEOUT_MS);
    t->sender = 0;
    HARNESS_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the sender exited with %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    s_count_duplicates(t);
    printf("retransmissions answered DUPLICATE (summed over receiver lives): %.0f\n",
           t->duplicates);
    HARNESS_CHECK(t->duplicates > 0,
                  "no retransmission of a committed message reached a receiver: the dedup "
                  "path was not exercised (is VIGIL_FAULT_INJECTION off?)");
    int code = harness_stop(t->receiver, STOP_GRACE_MS);
    t->receiver = 0;
    HARNESS_CHECK(code == 0, "the receiver did not stop cleanly on SIGTERM (%d)", code);
    return s_verify(t);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s RECEIVER_EXE SENDER_EXE\n", argv[0]);
        return 2;
    }
    crash_test_t t = {0};
    snprintf(t.receiver_exe, sizeof t.receiver_exe, "%s", argv[1]);
    snprintf(t.sender_exe, sizeof t.sender_exe, "%s", argv[2]);
    const char *seed_text = getenv("VIGIL_TEST_SEED");
    long seed = seed_text ? atol(seed_text) : (long)time(NULL) ^ (long)getpid();
    srand48(seed);
    setenv("VIGIL_FAULT", ACK_FAULTS, 1); /* inherited by both services */
    printf("link_crash_test: seed %ld (VIGIL_TEST_SEED=%ld replays the kill schedule)\n", seed,
           seed);
    long long started = harness_now_ms();
    int failed = s_run(&t);
    if (t.sender > 0)
        harness_kill9(t.sender);
    if (t.receiver > 0)
        harness_kill9(t.receiver);
    printf("link_crash_test: %s in %lld ms\n", failed ? "FAILED" : "passed",
           harness_now_ms() - started);
    if (failed) {
        harness_tail(t.receiver_log, 30);
        harness_tail(t.sender_log, 30);
        fprintf(stderr, "state kept in %s\n", t.dir);
    } else if (!getenv("VIGIL_TEST_KEEP")) {
        harness_remove_tree(t.dir);
    }
    return failed ? 1 : 0;
}
