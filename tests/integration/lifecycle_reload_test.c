/* lifecycle_reload_test.c: SIGHUP applies a changed config, refuses a broken
 * one, and never interrupts service.
 *
 * A real vigil-lifecycle runs at log_level info. Its config file is changed
 * to debug and it gets SIGHUP: debug lines appear (from the reload hook and
 * for each probe it then stores) and vigil_reloads_total on /metrics goes
 * from 0 to 1. Then the file is broken (a libconfig syntax error, a wrong
 * type, an @include of a folder, an @include of a FIFO: libconfig 1.5
 * alone would end the process on the folder and block forever on the
 * FIFO) and it gets SIGHUP again: each time it logs an error naming
 * the file and the line, keeps the old settings (still debug,
 * reloads_total still 1) and keeps serving: /healthz 200, and probes sent
 * over the link are acked and stored. Put back to info, a last SIGHUP stops
 * the debug lines. SIGTERM then exits 0.
 *
 * Usage: lifecycle_reload_test PATH/TO/vigil-lifecycle
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lifecycle_kit.h"
#include "vigil/service.h"
#include "vigil/util.h"

#define RELOAD_TIMEOUT_MS 20000
#define RELOAD_ACK_MS     5000
#define RELOAD_SETTLE_MS  300 /* a line that must NOT appear gets this long */
#define RELOADS_METRIC    "vigil_reloads_total"

typedef struct {
    const char *exe;
    char dir[KIT_PATH_MAX], state[KIT_PATH_MAX], peer_state[KIT_PATH_MAX];
    char config[KIT_PATH_MAX], log[KIT_PATH_MAX], db[KIT_PATH_MAX];
    char tester_secret[KIT_PATH_MAX], server_public[KIT_PATH_MAX];
    kit_config_t settings;
    pid_t pid;
    uint64_t next_seq;
} reload_t;

static int s_reloads(const reload_t *t, double *value)
{
    return kit_metric(t->settings.metrics_port, RELOADS_METRIC, value);
}

/* Sends the next probe; expects ACCEPTED and the row stored. Returns 0 or 1. */
static int s_probe(reload_t *t, uint64_t *seq_out)
{
    char endpoint[KIT_PATH_MAX];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", t->settings.link_port);
    kit_link_t *link = kit_link_new(endpoint, t->tester_secret, t->server_public);
    KIT_CHECK(link, "cannot connect to %s", endpoint);
    uint8_t id[VIGIL_ID_BYTES];
    util_random_id(id);
    uint64_t seq = t->next_seq++;
    Vigil__V1__AckStatus status = 0;
    int rc = kit_link_send_probe(link, id, seq) ||
             kit_link_wait_ack(link, id, RELOAD_ACK_MS, &status, NULL);
    kit_link_destroy(&link);
    KIT_CHECK(rc == 0 && status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
              "probe %llu: ack %d, want ACCEPTED", (unsigned long long)seq, (int)status);
    char sql[KIT_PATH_MAX];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM probes WHERE seq = %llu AND handled = 1",
             (unsigned long long)seq);
    long long stored = 0;
    KIT_CHECK(kit_sql_int(t->db, sql, &stored) == 0 && stored == 1, "probe %llu not stored once",
              (unsigned long long)seq);
    *seq_out = seq;
    return 0;
}

/* Counts "probe stored" debug lines for `seq`. */
static int s_debug_lines_for(const reload_t *t, uint64_t seq)
{
    char needle[64];
    snprintf(needle, sizeof needle, "seq=%llu ", (unsigned long long)seq);
    return kit_count_lines(t->log, "level=debug", needle);
}

static int s_setup(reload_t *t)
{
    KIT_CHECK(kit_tempdir("lifecycle-reload", t->dir) == 0, "no temp dir");
    kit_join(t->state, t->dir, "svc");
    kit_join(t->peer_state, t->dir, "peer");
    kit_join(t->config, t->dir, "svc.conf");
    kit_join(t->log, t->dir, "svc.log");
    kit_join(t->db, t->state, "lifecycle.db");
    kit_join(t->tester_secret, t->dir, "tester.key_secret");
    kit_join(t->server_public, t->state, "keys/lifecycle.key");
    KIT_CHECK(kit_instance_keys(t->state, "svc") == 0 &&
                  kit_instance_keys(t->peer_state, "peer") == 0 &&
                  kit_admit(t->peer_state, t->state, false) == 0 && kit_tester_keys(t->dir) == 0 &&
                  kit_admit(t->state, t->dir, true) == 0,
              "cannot make the keys");
    t->settings = (kit_config_t){.state_dir = t->state,
                                 .link_port = kit_free_port(),
                                 .peer_port = kit_free_port(),
                                 .metrics_port = kit_free_port(),
                                 .log_level = "info"};
    KIT_CHECK(kit_write_config(t->config, &t->settings) == 0, "cannot write %s", t->config);
    char folder[KIT_PATH_MAX], fifo[KIT_PATH_MAX];
    kit_join(folder, t->dir, "conf.d");
    kit_join(fifo, t->dir, "pipe");
    KIT_CHECK(mkdir(folder, 0700) == 0 && mkfifo(fifo, 0600) == 0,
              "cannot make the folder and FIFO to include");
    t->pid = kit_spawn(t->exe, t->config, t->log, NULL);
    KIT_CHECK(t->pid > 0, "cannot start");
    if (kit_wait_log(t->pid, t->log, KIT_STARTED, NULL, 1, RELOAD_TIMEOUT_MS)) {
        kit_dump(t->log);
        KIT_CHECK(false, "the service did not start");
    }
    return 0;
}

static int s_check_debug_reload(reload_t *t)
{
    double reloads = -1;
    KIT_CHECK(s_reloads(t, &reloads) == 0 && reloads == 0, "reloads_total %g before any reload",
              reloads);
    uint64_t seq;
    if (s_probe(t, &seq))
        return 1;
    kit_sleep_ms(RELOAD_SETTLE_MS);
    KIT_CHECK(kit_count_lines(t->log, "level=debug", NULL) == 0, "debug lines at log_level info");

    t->settings.log_level = "debug";
    KIT_CHECK(kit_write_config(t->config, &t->settings) == 0, "cannot rewrite the config");
    KIT_CHECK(kit_signal(t->pid, SIGHUP) == 0, "cannot send SIGHUP");
    if (kit_wait_log(t->pid, t->log, "msg=\"reloaded\"", "log_level=debug", 1, RELOAD_TIMEOUT_MS)) {
        kit_dump(t->log);
        KIT_CHECK(false, "no 'reloaded log_level=debug' line after SIGHUP");
    }
    KIT_CHECK(kit_count_lines(t->log, "level=debug", "reload hook ran") == 1,
              "the reload hook's debug line did not appear");
    KIT_CHECK(s_reloads(t, &reloads) == 0 && reloads == 1, "reloads_total %g after one reload",
              reloads);
    if (s_probe(t, &seq))
        return 1;
    KIT_CHECK(kit_wait_lines(t->log, "probe stored", NULL, 1, RELOAD_TIMEOUT_MS) == 0 &&
                  s_debug_lines_for(t, seq) == 1,
              "no debug line for probe %llu after the reload to debug", (unsigned long long)seq);
    return 0;
}

/* Breaks the config file at `line` and sends SIGHUP; the old settings stay. */
static int s_check_broken_reload(reload_t *t, const char *what, const char *text, int line,
                                 int refusals)
{
    KIT_CHECK(kit_write(t->config, text, t->state) == 0, "cannot break the config");
    KIT_CHECK(kit_signal(t->pid, SIGHUP) == 0, "cannot send SIGHUP");
    char where[KIT_PATH_MAX + 16];
    snprintf(where, sizeof where, "%s:%d:", t->config, line);
    if (kit_wait_log(t->pid, t->log, "level=error", "reload refused", refusals,
                     RELOAD_TIMEOUT_MS)) {
        kit_dump(t->log);
        KIT_CHECK(false, "%s: no 'reload refused' error after SIGHUP", what);
    }
    KIT_CHECK(kit_count_lines(t->log, "reload refused", where) == 1,
              "%s: the refusal does not name '%s'", what, where);
    double reloads = -1;
    KIT_CHECK(s_reloads(t, &reloads) == 0 && reloads == 1, "%s: reloads_total %g, want 1", what,
              reloads);
    KIT_CHECK(kit_running(t->pid), "%s: the service died", what);
    KIT_CHECK(kit_http_get(t->settings.metrics_port, "/healthz", NULL, 0) == 200,
              "%s: /healthz not 200", what);
    KIT_CHECK(kit_http_get(t->settings.metrics_port, "/readyz", NULL, 0) == 200,
              "%s: /readyz not 200", what);
    uint64_t seq;
    if (s_probe(t, &seq))
        return 1;
    KIT_CHECK(kit_wait_lines(t->log, "probe stored", NULL, 1, RELOAD_TIMEOUT_MS) == 0 &&
                  s_debug_lines_for(t, seq) == 1,
              "%s: the old log_level (debug) was not kept", what);
    return 0;
}

static int s_check_back_to_info(reload_t *t)
{
    t->settings.log_level = "info";
    KIT_CHECK(kit_write_config(t->config, &t->settings) == 0, "cannot rewrite the config");
    KIT_CHECK(kit_signal(t->pid, SIGHUP) == 0, "cannot send SIGHUP");
    KIT_CHECK(kit_wait_log(t->pid, t->log, "msg=\"reloaded\"", "log_level=info", 1,
                           RELOAD_TIMEOUT_MS) == 0,
              "no 'reloaded log_level=info' line");
    double reloads = -1;
    KIT_CHECK(s_reloads(t, &reloads) == 0 && reloads == 2, "reloads_total %g, want 2", reloads);
    uint64_t seq;
    if (s_probe(t, &seq))
        return 1;
    kit_sleep_ms(RELOAD_SETTLE_MS);
    KIT_CHECK(s_debug_lines_for(t, seq) == 0, "debug lines after the reload back to info");
    int code = -1;
    KIT_CHECK(kit_signal(t->pid, SIGTERM) == 0 && kit_wait(t->pid, RELOAD_TIMEOUT_MS, &code) == 0,
              "no exit after SIGTERM");
    KIT_CHECK(code == SERVICE_EXIT_OK, "exit %d after SIGTERM, want 0", code);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/TO/vigil-lifecycle\n", argv[0]);
        return 2;
    }
    reload_t t = {.exe = argv[1]};
    int failed = s_setup(&t) || s_check_debug_reload(&t) ||
                 s_check_broken_reload(&t, "syntax error",
                                       "state_dir = \"%s\";\nlog_level = \"info\";\n"
                                       "link = { listen = ; };\n",
                                       3, 1) ||
                 s_check_broken_reload(&t, "wrong type",
                                       "state_dir = \"%s\";\n\n\nlog_level = 5;\n", 4, 2) ||
                 s_check_broken_reload(&t, "@include of a folder",
                                       "state_dir = \"%s\";\n\n\n\n@include \"conf.d\"\n", 5, 3) ||
                 s_check_broken_reload(&t, "@include of a FIFO",
                                       "state_dir = \"%s\";\n\n\n\n\n@include \"pipe\"\n", 6, 4) ||
                 s_check_back_to_info(&t);
    if (failed)
        kit_dump(t.log);
    return kit_finish(failed);
}
