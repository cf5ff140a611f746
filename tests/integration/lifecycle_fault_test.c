/* lifecycle_fault_test.c: a commit that fails is never acknowledged, and
 * the retransmission stores everything exactly once.
 *
 * Faults are injected for real (VIGIL_FAULT, see vigil/fault.h): sqlite
 * refuses the Nth COMMIT of the receiving process and rolls it back, as
 * after a failed fsync. Each scenario checks that the fault fired (the
 * "fault injected" log line), then what a user cares about:
 *
 *   1. One probe, first commit fails: the answer is RETRY (not ACCEPTED),
 *      nothing is stored, the receiver keeps running; the same message sent
 *      again is ACCEPTED and stored once; a third time it is DUPLICATE.
 *   2. Every commit fails (a full disk): every probe is answered RETRY,
 *      nothing is stored, the receiver stays up and healthy.
 *   3. Two real services: the receiver's 3rd and 5th group commits fail
 *      while the sender streams probes, and the sender's own outbox cleanup
 *      commit fails once too. The sender's retransmits get every probe
 *      stored exactly once, and its outbox empties.
 *
 * Usage: lifecycle_fault_test PATH/TO/vigil-lifecycle
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle_kit.h"
#include "vigil/service.h"
#include "vigil/util.h"

#define FAULT_TIMEOUT_MS   20000
#define FAULT_DELIVERY_MS  60000
#define FAULT_ACK_MS       5000
#define FAULT_POLL_MS      20
#define FAULT_STREAM_COUNT 5000
#define FAULT_STREAM_BATCH 500 /* the sender's enqueue commits: 10 of them */
#define FAULT_PROBES_SQL   "SELECT count(*) FROM probes"
#define FAULT_DOUBLE_SQL   "SELECT count(*) FROM probes WHERE handled <> 1"
#define FAULT_OUTBOX_SQL   "SELECT count(*) FROM link_outbox"
#define FAULT_RUN_PROBES   3

/* What the receiver and the test share in one scenario. */
typedef struct {
    const char *exe;
    const char *dir;
    char name[64];
    char state[KIT_PATH_MAX], config[KIT_PATH_MAX], log[KIT_PATH_MAX], db[KIT_PATH_MAX];
    char tester_secret[KIT_PATH_MAX], server_public[KIT_PATH_MAX];
    char env[KIT_PATH_MAX];
    kit_config_t settings;
    pid_t pid;
} receiver_t;

static int s_receiver_start(receiver_t *r, const char *exe, const char *dir, const char *name,
                            const char *fault, int peer_port, const char *peer_state)
{
    r->exe = exe;
    r->dir = dir;
    snprintf(r->name, sizeof r->name, "%s", name);
    char file[KIT_PATH_MAX];
    kit_join(r->state, dir, name);
    snprintf(file, sizeof file, "%s.conf", name);
    kit_join(r->config, dir, file);
    snprintf(file, sizeof file, "%s.log", name);
    kit_join(r->log, dir, file);
    kit_join(r->db, r->state, "lifecycle.db");
    kit_join(r->tester_secret, dir, "tester.key_secret");
    kit_join(r->server_public, r->state, "keys/lifecycle.key");
    snprintf(r->env, sizeof r->env, "VIGIL_FAULT=%s", fault);
    if (!peer_state) {
        /* No real peer: keys for a stand-in it never reaches. */
        char stand_in[KIT_PATH_MAX];
        snprintf(file, sizeof file, "%s-peer", name);
        kit_join(stand_in, dir, file);
        KIT_CHECK(kit_instance_keys(stand_in, "stand-in") == 0 &&
                      kit_admit(stand_in, r->state, false) == 0,
                  "cannot make keys");
    }
    r->settings = (kit_config_t){.state_dir = r->state,
                                 .link_port = kit_free_port(),
                                 .peer_port = peer_port ? peer_port : kit_free_port(),
                                 .metrics_port = kit_free_port()};
    KIT_CHECK(kit_write_config(r->config, &r->settings) == 0, "cannot write %s", r->config);
    r->pid = kit_spawn(exe, r->config, r->log, r->env);
    KIT_CHECK(r->pid > 0, "cannot start %s", name);
    if (kit_wait_log(r->pid, r->log, KIT_STARTED, NULL, 1, FAULT_TIMEOUT_MS)) {
        kit_dump(r->log);
        KIT_CHECK(false, "%s did not start", name);
    }
    return 0;
}

static int s_instance_keys(const char *dir, const char *name, bool admit_tester)
{
    char state[KIT_PATH_MAX];
    kit_join(state, dir, name);
    KIT_CHECK(kit_instance_keys(state, name) == 0, "cannot make keys for %s", name);
    if (admit_tester)
        KIT_CHECK(kit_admit(state, dir, true) == 0, "cannot admit the tester to %s", name);
    return 0;
}

static int s_stop(pid_t pid, const char *log)
{
    int code = -1;
    KIT_CHECK(kit_signal(pid, SIGTERM) == 0 && kit_wait(pid, FAULT_TIMEOUT_MS, &code) == 0,
              "no exit after SIGTERM");
    if (code != SERVICE_EXIT_OK)
        kit_dump(log);
    KIT_CHECK(code == SERVICE_EXIT_OK, "exit %d after SIGTERM, want 0", code);
    return 0;
}

static long long s_count(const char *db, const char *sql)
{
    long long value = -1;
    return kit_sql_int(db, sql, &value) ? -1 : value;
}

/* Sends probe `seq` under `id` and returns the ack status (0: none). */
static int s_send(const receiver_t *r, const uint8_t id[VIGIL_ID_BYTES], uint64_t seq,
                  Vigil__V1__ReasonCode *reason)
{
    char endpoint[KIT_PATH_MAX];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", r->settings.link_port);
    kit_link_t *link = kit_link_new(endpoint, r->tester_secret, r->server_public);
    if (!link)
        return 0;
    Vigil__V1__AckStatus status = 0;
    if (kit_link_send_probe(link, id, seq) ||
        kit_link_wait_ack(link, id, FAULT_ACK_MS, &status, reason))
        status = 0;
    kit_link_destroy(&link);
    return (int)status;
}

static int s_stored(const receiver_t *r, uint64_t seq)
{
    char sql[KIT_PATH_MAX];
    snprintf(sql, sizeof sql, "SELECT coalesce(sum(handled), 0) FROM probes WHERE seq = %llu",
             (unsigned long long)seq);
    return (int)s_count(r->db, sql);
}

/* 1. The first commit fails; the retransmission is stored once. */
static int s_check_one_failed_commit(const char *exe, const char *dir)
{
    receiver_t r;
    if (s_instance_keys(dir, "single", true) ||
        s_receiver_start(&r, exe, dir, "single", "commit:1", 0, NULL))
        return 1;
    uint8_t id[VIGIL_ID_BYTES];
    util_random_id(id);
    Vigil__V1__ReasonCode reason = 0;
    int status = s_send(&r, id, 1, &reason);
    KIT_CHECK(kit_count_lines(r.log, "fault injected", "call=1") == 1,
              "the injected commit failure did not fire");
    KIT_CHECK(status == VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY,
              "a probe whose commit failed was answered %d, want RETRY (%d)", status,
              VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY);
    KIT_CHECK(reason == VIGIL__V1__REASON_CODE__REASON_INTERNAL, "RETRY with reason %d",
              (int)reason);
    KIT_CHECK(s_stored(&r, 1) == 0, "a probe whose commit failed is in the store");
    KIT_CHECK(kit_running(r.pid), "the receiver died after a failed commit");

    status = s_send(&r, id, 1, NULL);
    KIT_CHECK(status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
              "the retransmission was answered %d, want ACCEPTED", status);
    KIT_CHECK(s_stored(&r, 1) == 1, "the retransmission is not stored exactly once");
    status = s_send(&r, id, 1, NULL);
    KIT_CHECK(status == VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE,
              "a third send was answered %d, want DUPLICATE", status);
    KIT_CHECK(s_stored(&r, 1) == 1, "the duplicate had a second effect");
    return s_stop(r.pid, r.log);
}

/* 2. Every commit fails: nothing is acknowledged as accepted. */
static int s_check_every_commit_fails(const char *exe, const char *dir)
{
    receiver_t r;
    if (s_instance_keys(dir, "diskfull", true) ||
        s_receiver_start(&r, exe, dir, "diskfull", "commit:1+", 0, NULL))
        return 1;
    for (uint64_t seq = 1; seq <= FAULT_RUN_PROBES; seq++) {
        uint8_t id[VIGIL_ID_BYTES];
        util_random_id(id);
        int status = s_send(&r, id, seq, NULL);
        KIT_CHECK(status == VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY,
                  "probe %llu: answered %d while no commit can succeed, want RETRY",
                  (unsigned long long)seq, status);
    }
    KIT_CHECK(kit_count_lines(r.log, "fault injected", NULL) >= FAULT_RUN_PROBES,
              "the injected commit failures did not fire");
    KIT_CHECK(s_count(r.db, FAULT_PROBES_SQL) == 0, "probes were stored although commits failed");
    KIT_CHECK(kit_running(r.pid), "the receiver died");
    KIT_CHECK(kit_http_get(r.settings.metrics_port, "/healthz", NULL, 0) == 200,
              "the receiver's /healthz is not 200");
    return s_stop(r.pid, r.log);
}

/* 3. A real sender streams probes through failed commits on both sides. */
static int s_check_stream(const char *exe, const char *dir)
{
    char sender_state[KIT_PATH_MAX], sender_config[KIT_PATH_MAX], sender_log[KIT_PATH_MAX],
        sender_db[KIT_PATH_MAX], receiver_state[KIT_PATH_MAX];
    kit_join(sender_state, dir, "sender");
    kit_join(sender_config, dir, "sender.conf");
    kit_join(sender_log, dir, "sender.log");
    kit_join(sender_db, sender_state, "lifecycle.db");
    kit_join(receiver_state, dir, "receiver");
    int sender_port = kit_free_port();
    if (s_instance_keys(dir, "sender", false) || s_instance_keys(dir, "receiver", false))
        return 1;
    KIT_CHECK(kit_admit(receiver_state, sender_state, false) == 0 &&
                  kit_admit(sender_state, receiver_state, false) == 0,
              "cannot admit");
    receiver_t r;
    if (s_receiver_start(&r, exe, dir, "receiver", "commit:3,commit:5", sender_port, sender_state))
        return 1;
    /* The sender's first 10 commits enqueue (FAULT_STREAM_BATCH each); the
     * 12th is its 2nd outbox cleanup after an ack. */
    char extra[KIT_PATH_MAX];
    snprintf(extra, sizeof extra, "# enqueue batches: lifecycle.send_batch defaults to %d\n",
             FAULT_STREAM_BATCH);
    kit_config_t settings = {.state_dir = sender_state,
                             .link_port = sender_port,
                             .peer_port = r.settings.link_port,
                             .send_count = FAULT_STREAM_COUNT,
                             .extra = extra};
    KIT_CHECK(kit_write_config(sender_config, &settings) == 0, "cannot write %s", sender_config);
    pid_t sender = kit_spawn(exe, sender_config, sender_log, "VIGIL_FAULT=commit:12");
    KIT_CHECK(sender > 0, "cannot start the sender");
    int64_t deadline = kit_now_ms() + FAULT_DELIVERY_MS;
    while (s_count(r.db, FAULT_PROBES_SQL) < FAULT_STREAM_COUNT ||
           s_count(sender_db, FAULT_OUTBOX_SQL) != 0) {
        if (kit_now_ms() >= deadline || !kit_running(r.pid) || !kit_running(sender)) {
            kit_dump(sender_log);
            kit_dump(r.log);
            KIT_CHECK(false, "not delivered: receiver holds %lld of %d, sender queues %lld",
                      s_count(r.db, FAULT_PROBES_SQL), FAULT_STREAM_COUNT,
                      s_count(sender_db, FAULT_OUTBOX_SQL));
        }
        kit_sleep_ms(FAULT_POLL_MS);
    }
    KIT_CHECK(kit_count_lines(r.log, "fault injected", "call=3") == 1 &&
                  kit_count_lines(r.log, "fault injected", "call=5") == 1,
              "the receiver's injected commit failures did not fire");
    KIT_CHECK(kit_count_lines(sender_log, "fault injected", "call=12") == 1,
              "the sender's injected commit failure did not fire");
    KIT_CHECK(s_count(r.db, FAULT_DOUBLE_SQL) == 0, "a probe was stored twice");
    char sql[KIT_PATH_MAX];
    snprintf(sql, sizeof sql, "SELECT count(DISTINCT seq) FROM probes WHERE seq BETWEEN 0 AND %d",
             FAULT_STREAM_COUNT - 1);
    KIT_CHECK(s_count(r.db, sql) == FAULT_STREAM_COUNT, "the stored probes are not exactly 0 .. %d",
              FAULT_STREAM_COUNT - 1);
    printf("stream: %d probes stored exactly once through %d failed receiver commits and 1 "
           "failed sender cleanup\n",
           FAULT_STREAM_COUNT, kit_count_lines(r.log, "fault injected", NULL));
    return s_stop(sender, sender_log) || s_stop(r.pid, r.log);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/TO/vigil-lifecycle\n", argv[0]);
        return 2;
    }
    char dir[KIT_PATH_MAX];
    if (kit_tempdir("lifecycle-fault", dir) || kit_tester_keys(dir))
        return kit_finish(1);
    int failed = s_check_one_failed_commit(argv[1], dir) ||
                 s_check_every_commit_fails(argv[1], dir) || s_check_stream(argv[1], dir);
    return kit_finish(failed);
}
