/* test_client_library.c: libvigil-client against a real CURVE peer.
 *
 * Every test starts tests/ack_responder (a TEST PEER standing in for
 * intake's front door: a real ROUTER with CURVE and an allowlist on
 * 127.0.0.1, on a port chosen at run time) as a separate process, and uses
 * the library the way an upstream system would. What is checked is what an
 * upstream cares about: every event gets exactly one answer, matched to the
 * right request even when answers come back out of order; no more than
 * `window` requests are ever in flight; a lost answer is recovered by a
 * resend with the same message id; a peer killed with SIGKILL and started
 * again still answers everything; a key outside the allowlist is refused;
 * key-file mistakes are reported with the file's name.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vigil/client.h"
#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/intake.pb-c.h"

enum {
    PATH_LEN = 512,
    DIR_LEN = 64, /* holds the mkdtemp name; keeps every path below PATH_LEN */
    ERR_LEN = 512,
    PORT_WAIT_MS = 10000,
    STEP_MS = 20,
    TEST_DEADLINE_MS = 60000,
    MAX_EVENTS = 1000,
    MAX_ARGS = 16,
    START_ATTEMPTS = 20,
    RESTART_PAUSE_MS = 100,
};

/* One test's world: a temp state dir with keys, a responder process. */
typedef struct {
    char dir[DIR_LEN];
    char port_file[PATH_LEN];
    char endpoint[PATH_LEN];
    pid_t responder;
} world_t;

/* What the test remembers about each event it published. */
typedef struct {
    uint8_t id[VCLIENT_ID_BYTES];
    char event_id[64];
    int answers;
    vclient_reply_t reply;
} record_t;

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t s_spawn(char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int s_run(char *const argv[])
{
    int status;
    pid_t pid = s_spawn(argv);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void s_stop_responder(world_t *w, int signo);

/* Starts the responder with extra flags; on `port` if not 0. Waits until
 * it has bound and written its port. */
static void s_start_responder(world_t *w, int port, const char *flag1, const char *flag2)
{
    char endpoint[PATH_LEN];
    if (port > 0) {
        snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    } else {
        snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:!"); /* random free port */
    }
    unlink(w->port_file);
    char *argv[MAX_ARGS] = {ACK_RESPONDER, "serve",  "--state",     w->dir,
                            "--endpoint",  endpoint, "--port-file", w->port_file};
    int argc = 8;
    if (flag1 != NULL) {
        argv[argc++] = (char *)flag1;
    }
    if (flag2 != NULL) {
        argv[argc++] = (char *)flag2;
    }
    argv[argc] = NULL;
    /* Restarting on a given port may find the old socket still closing:
     * try again for a while. */
    FILE *f = NULL;
    for (int attempt = 0; attempt < START_ATTEMPTS && f == NULL; attempt++) {
        w->responder = s_spawn(argv);
        int64_t deadline = s_now_ms() + PORT_WAIT_MS;
        bool exited = false;
        while ((f = fopen(w->port_file, "r")) == NULL && s_now_ms() < deadline && !exited) {
            exited = waitpid(w->responder, NULL, WNOHANG) == w->responder;
            s_sleep_ms(STEP_MS);
        }
        if (f == NULL) {
            if (exited) {
                w->responder = 0; /* reaped: its pid is no longer ours to signal */
            }
            s_stop_responder(w, SIGKILL);
            s_sleep_ms(RESTART_PAUSE_MS);
        }
    }
    assert_non_null(f);
    int bound = 0;
    assert_int_equal(fscanf(f, "%d", &bound), 1);
    fclose(f);
    snprintf(w->endpoint, sizeof w->endpoint, "tcp://127.0.0.1:%d", bound);
}

static void s_stop_responder(world_t *w, int signo)
{
    if (w->responder > 0) {
        kill(w->responder, signo);
        waitpid(w->responder, NULL, 0);
        w->responder = 0;
    }
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int s_setup(void **state)
{
    world_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return -1;
    }
    snprintf(w->dir, sizeof w->dir, "/tmp/vigil-client-test-XXXXXX");
    if (mkdtemp(w->dir) == NULL) {
        return -1;
    }
    snprintf(w->port_file, sizeof w->port_file, "%s/port", w->dir);
    char *argv[] = {ACK_RESPONDER, "keygen", w->dir, NULL};
    if (s_run(argv) != 0) {
        return -1;
    }
    *state = w;
    return 0;
}

static int s_teardown(void **state)
{
    world_t *w = *state;
    s_stop_responder(w, SIGKILL);
    nftw(w->dir, s_remove, 8, FTW_DEPTH | FTW_PHYS);
    free(w);
    return 0;
}

static vclient_t *s_client(const world_t *w, const char *key_name, int window, int resend_ms,
                           int reconnect_ms)
{
    char cert[PATH_LEN], server[PATH_LEN], err[ERR_LEN];
    snprintf(cert, sizeof cert, "%s/keys/%s.key_secret", w->dir, key_name);
    snprintf(server, sizeof server, "%s/keys/intake.key", w->dir);
    vclient_config_t cfg;
    vclient_config_init(&cfg);
    cfg.endpoint = w->endpoint;
    cfg.client_cert = cert;
    cfg.server_key = server;
    cfg.window = window;
    cfg.resend_ms = resend_ms;
    cfg.reconnect_ms = reconnect_ms;
    vclient_t *c = vclient_new(&cfg, err, sizeof err);
    if (c == NULL) {
        print_error("vclient_new: %s\n", err);
    }
    assert_non_null(c);
    return c;
}

static int s_publish_custody(vclient_t *c, record_t *r, const char *event_id)
{
    Vigil__V1__CustodyEvent e = VIGIL__V1__CUSTODY_EVENT__INIT;
    snprintf(r->event_id, sizeof r->event_id, "%s", event_id);
    e.event_id = r->event_id;
    e.type = VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_BOOKED;
    e.offender_id = "MCJ-0000101";
    e.facility_id = "fac-042-main";
    return vclient_publish_message(c, VCLIENT_TYPE_CUSTODY_EVENT, &e.base, r, r->id);
}

/* Polls until every record has an answer or the deadline passes. Checks
 * each answer belongs to the request it names. Returns how many came. */
static int s_collect(vclient_t *c, record_t *records, int n)
{
    int answered = 0;
    int64_t deadline = s_now_ms() + TEST_DEADLINE_MS;
    while (answered < n && s_now_ms() < deadline) {
        vclient_reply_t reply;
        int rc = vclient_poll(c, &reply, 100);
        assert_true(rc >= 0);
        if (rc == 1) {
            record_t *r = reply.user;
            assert_true(r >= records && r < records + n);
            assert_memory_equal(reply.message_id, r->id, VCLIENT_ID_BYTES);
            assert_string_equal(reply.event_id, r->event_id);
            r->answers++;
            r->reply = reply;
            answered++;
        }
    }
    return answered;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_answers_match_requests_and_the_window_holds(void **state)
{
    world_t *w = *state;
    enum { N = 400, WINDOW = 32 };
    s_start_responder(w, 0, "--shuffle", NULL);
    vclient_t *c = s_client(w, "dev-publisher", WINDOW, 2000, 5000);
    static record_t records[N];
    memset(records, 0, sizeof records);
    int published = 0, answered = 0, full_seen = 0, out_of_order = 0, last_index = -1;
    int64_t deadline = s_now_ms() + TEST_DEADLINE_MS;
    while (answered < N && s_now_ms() < deadline) {
        while (published < N) {
            char event_id[64];
            snprintf(event_id, sizeof event_id, "jms-test-%04d", published);
            int rc = s_publish_custody(c, &records[published], event_id);
            if (rc == VCLIENT_EFULL) {
                full_seen++;
                assert_int_equal(vclient_inflight(c), WINDOW);
                break;
            }
            assert_int_equal(rc, VCLIENT_OK);
            published++;
            assert_true(vclient_inflight(c) <= WINDOW);
        }
        vclient_reply_t reply;
        int rc = vclient_poll(c, &reply, 100);
        assert_true(rc >= 0);
        if (rc == 1) {
            record_t *r = reply.user;
            int index = (int)(r - records);
            assert_memory_equal(reply.message_id, r->id, VCLIENT_ID_BYTES);
            assert_string_equal(reply.event_id, r->event_id);
            assert_int_equal(reply.status, VCLIENT_STATUS_ACCEPTED);
            assert_true(strncmp(reply.case_id, "case-", 5) == 0);
            out_of_order += index < last_index;
            last_index = index;
            r->answers++;
            answered++;
        }
    }
    assert_int_equal(answered, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(records[i].answers, 1);
    }
    assert_true(full_seen > 0);    /* the window really filled up */
    assert_true(out_of_order > 0); /* answers came out of order and still matched */
    assert_int_equal(vclient_inflight(c), 0);
    vclient_stats_t st;
    vclient_stats(c, &st);
    assert_int_equal(st.answered, N);
    assert_int_equal(st.stray_answers, 0);
    vclient_destroy(&c);
    assert_null(c);
}

static void test_lost_answers_are_resent_with_the_same_id(void **state)
{
    world_t *w = *state;
    enum { N = 30 };
    s_start_responder(w, 0, "--drop-every", "3");
    vclient_t *c = s_client(w, "dev-publisher", 64, 200, 5000);
    record_t records[N];
    memset(records, 0, sizeof records);
    for (int i = 0; i < N; i++) {
        char event_id[64];
        snprintf(event_id, sizeof event_id, "jms-lost-%02d", i);
        assert_int_equal(s_publish_custody(c, &records[i], event_id), VCLIENT_OK);
    }
    assert_int_equal(s_collect(c, records, N), N);
    int resent = 0;
    for (int i = 0; i < N; i++) {
        /* The responder committed every event on first sight; a resend with
         * the same message id gets the recorded answer: ACCEPTED again. */
        assert_int_equal(records[i].answers, 1);
        assert_int_equal(records[i].reply.status, VCLIENT_STATUS_ACCEPTED);
        resent += records[i].reply.attempts >= 2;
    }
    assert_int_equal(resent, N / 3);
    vclient_stats_t st;
    vclient_stats(c, &st);
    assert_true(st.resends >= (uint64_t)(N / 3));
    vclient_destroy(&c);
}

static void test_rejections_carry_reason_and_field(void **state)
{
    world_t *w = *state;
    s_start_responder(w, 0, NULL, NULL);
    vclient_t *c = s_client(w, "dev-publisher", 8, 2000, 5000);
    record_t records[2];
    memset(records, 0, sizeof records);

    Vigil__V1__VictimContact victim = VIGIL__V1__VICTIM_CONTACT__INIT;
    victim.phone = "503-555-0123"; /* not E.164 */
    Vigil__V1__IntakeContact contact = VIGIL__V1__INTAKE_CONTACT__INIT;
    snprintf(records[0].event_id, sizeof records[0].event_id, "hotline-bad-phone");
    contact.event_id = records[0].event_id;
    contact.victim = &victim;
    assert_int_equal(vclient_publish_message(c, VCLIENT_TYPE_INTAKE_CONTACT, &contact.base,
                                             &records[0], records[0].id),
                     VCLIENT_OK);
    assert_int_equal(s_publish_custody(c, &records[1], ""), VCLIENT_OK);

    assert_int_equal(s_collect(c, records, 2), 2);
    assert_int_equal(records[0].reply.status, VCLIENT_STATUS_REJECTED);
    assert_string_equal(vclient_reason_name(records[0].reply.reason), "INVALID_PHONE");
    assert_non_null(strstr(records[0].reply.detail, "victim.phone"));
    assert_null(strstr(records[0].reply.detail, "555"));
    assert_string_equal(vclient_status_name(records[1].reply.status), "REJECTED");
    assert_string_equal(vclient_reason_name(records[1].reply.reason), "MISSING_FIELD");

    /* A type that is not a vigil message type never leaves the client. */
    assert_int_equal(vclient_publish(c, 9999, "x", 1, NULL, NULL), VCLIENT_EINVAL);
    vclient_destroy(&c);
}

static void test_killed_peer_restarted_still_answers_everything(void **state)
{
    world_t *w = *state;
    enum { N = 40 };
    /* A slow peer: it reads a batch, then dies before answering it. */
    s_start_responder(w, 0, "--delay-ms", "1500");
    int port = atoi(strrchr(w->endpoint, ':') + 1);
    vclient_t *c = s_client(w, "dev-publisher", 64, 500, 1000);
    record_t records[N];
    memset(records, 0, sizeof records);
    for (int i = 0; i < N; i++) {
        char event_id[64];
        snprintf(event_id, sizeof event_id, "jms-kill-%02d", i);
        assert_int_equal(s_publish_custody(c, &records[i], event_id), VCLIENT_OK);
    }
    vclient_reply_t reply;
    assert_int_equal(vclient_poll(c, &reply, 300), 0);
    s_stop_responder(w, SIGKILL);
    assert_int_equal(vclient_poll(c, &reply, 300), 0);
    s_start_responder(w, port, NULL, NULL);

    assert_int_equal(s_collect(c, records, N), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(records[i].answers, 1);
        assert_true(records[i].reply.status == VCLIENT_STATUS_ACCEPTED ||
                    records[i].reply.status == VCLIENT_STATUS_DUPLICATE);
        assert_true(records[i].reply.attempts >= 2);
    }
    vclient_stats_t st;
    vclient_stats(c, &st);
    assert_true(st.resends >= N);
    vclient_destroy(&c);
}

static void test_key_outside_the_allowlist_is_refused(void **state)
{
    world_t *w = *state;
    s_start_responder(w, 0, NULL, NULL);
    vclient_t *c = s_client(w, "stranger", 8, 2000, 5000);
    record_t r = {0};
    assert_int_equal(s_publish_custody(c, &r, "jms-stranger-1"), VCLIENT_OK);
    vclient_stats_t st = {0};
    vclient_reply_t reply;
    int64_t deadline = s_now_ms() + PORT_WAIT_MS;
    while (st.auth_failures == 0 && s_now_ms() < deadline) {
        assert_int_equal(vclient_poll(c, &reply, 100), 0); /* never an answer */
        vclient_stats(c, &st);
    }
    assert_true(st.auth_failures > 0);
    assert_false(st.connected);
    assert_int_equal(vclient_inflight(c), 1);
    void *user = NULL;
    assert_int_equal(vclient_forget(c, r.id, &user), VCLIENT_OK);
    assert_ptr_equal(user, &r);
    assert_int_equal(vclient_inflight(c), 0);
    assert_int_equal(vclient_forget(c, r.id, NULL), VCLIENT_ENOTFOUND);
    vclient_destroy(&c);
}

static void test_key_file_mistakes_name_the_file(void **state)
{
    world_t *w = *state;
    char err[ERR_LEN], path[PATH_LEN], server[PATH_LEN];
    snprintf(server, sizeof server, "%s/keys/intake.key", w->dir);
    vclient_config_t cfg;
    vclient_config_init(&cfg);
    cfg.endpoint = "tcp://127.0.0.1:1";
    cfg.server_key = server;

    snprintf(path, sizeof path, "%s/keys/missing.key_secret", w->dir);
    cfg.client_cert = path;
    assert_null(vclient_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, path));

    /* A secret key others can read is refused. */
    snprintf(path, sizeof path, "%s/keys/dev-publisher.key_secret", w->dir);
    chmod(path, 0644);
    assert_null(vclient_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "readable by group or others"));
    chmod(path, 0600);

    /* The public half given where the secret belongs. */
    char public_only[PATH_LEN];
    snprintf(public_only, sizeof public_only, "%s/public-only", w->dir);
    char *cp[] = {"/bin/cp", server, public_only, NULL};
    assert_int_equal(s_run(cp), 0);
    chmod(public_only, 0600);
    cfg.client_cert = public_only;
    assert_null(vclient_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "no curve secret-key"));

    /* A server key file that is a FIFO or a folder: refused at once, not
     * waited on forever (the FIFO) or misread (the folder). */
    cfg.client_cert = path;
    char fifo[PATH_LEN], folder[PATH_LEN];
    snprintf(fifo, sizeof fifo, "%s/intake.fifo", w->dir);
    snprintf(folder, sizeof folder, "%s/keys", w->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *const not_files[] = {fifo, folder};
    for (size_t i = 0; i < 2; i++) {
        cfg.server_key = not_files[i];
        assert_null(vclient_new(&cfg, err, sizeof err));
        assert_non_null(strstr(err, not_files[i]));
        assert_non_null(strstr(err, "not a regular file"));
    }

    /* A Z85 server key works as well as a file; garbage does not. */
    cfg.server_key = "not-a-key";
    assert_null(vclient_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "not-a-key"));
    cfg.server_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    vclient_t *c = vclient_new(&cfg, err, sizeof err);
    assert_non_null(c);
    vclient_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answers_match_requests_and_the_window_holds, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_lost_answers_are_resent_with_the_same_id, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_rejections_carry_reason_and_field, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_killed_peer_restarted_still_answers_everything,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_key_outside_the_allowlist_is_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_key_file_mistakes_name_the_file, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
