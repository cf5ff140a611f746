/* triage_kit.c: directories, keys, configs, processes and the sender for
 * triage's integration tests.
 *
 * The sender is the real link client (the one intake uses) driven by a
 * private zloop in the test process: cases are committed to its outbox and
 * it relays them until triage has acknowledged every one, which is exactly
 * what intake does. Nothing here fakes a part of triage.
 */
#include "triage_kit.h"

#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil/link.h"
#include "vigil/metrics.h"
#include "vigil/security.h"
#include "vigil/store.h"
#include "vigil/util.h"

enum {
    KIT_ERR_LEN = 512,
    KIT_START_MS = 20000,
    KIT_STOP_GRACE_MS = 15000,
    KIT_POLL_MS = 20,
    KIT_ADMIN_PROBE_MS = 500,
    KIT_WINDOW = 2048,
    KIT_ACK_TIMEOUT_MS = 1000,
    KIT_BACKOFF_MAX_MS = 2000,
    KIT_HEARTBEAT_MS = 1000,
    KIT_CONFIG_MAX = 16384,
    KIT_CASE_ID_MAX = 64,
    KIT_STATUS_MS = 5000,
    KIT_FACT_POLL_MS = 100,
};

struct triage_sender_t {
    sqlite3 *db;
    security_t *security;
    metrics_t *metrics;
    link_client_t *client;
    zloop_t *loop;
    long long deadline_ms;
};

static const store_migration_t s_sender_migrations[] = {{1, link_schema_v1}};

int kit_init(triage_kit_t *kit, const char *tag, const char *triage_exe, const char *sink_exe)
{
    memset(kit, 0, sizeof *kit);
    zsys_handler_set(NULL);
    kit->triage_exe = triage_exe;
    kit->sink_exe = sink_exe;
    if (harness_tempdir(tag, kit->dir, sizeof kit->dir) < 0) {
        return -1;
    }
    snprintf(kit->triage_state, sizeof kit->triage_state, "%s/triage", kit->dir);
    snprintf(kit->sink_state, sizeof kit->sink_state, "%s/sink", kit->dir);
    snprintf(kit->sender_state, sizeof kit->sender_state, "%s/intake", kit->dir);
    snprintf(kit->plugin_dir, sizeof kit->plugin_dir, "%s/plugins", kit->dir);
    snprintf(kit->triage_config, sizeof kit->triage_config, "%s/triage.conf", kit->dir);
    snprintf(kit->sink_config, sizeof kit->sink_config, "%s/sink.conf", kit->dir);
    snprintf(kit->triage_log, sizeof kit->triage_log, "%s/triage.log", kit->dir);
    snprintf(kit->sink_log, sizeof kit->sink_log, "%s/sink.log", kit->dir);
    snprintf(kit->triage_db, sizeof kit->triage_db, "%s/triage.db", kit->triage_state);
    snprintf(kit->sink_db, sizeof kit->sink_db, "%s/sink.db", kit->sink_state);
    snprintf(kit->admin_endpoint, sizeof kit->admin_endpoint, "ipc://%s/triage.admin",
             kit->triage_state);
    if (harness_mkdirs(kit->triage_state) || harness_mkdirs(kit->sink_state) ||
        harness_mkdirs(kit->sender_state) || harness_mkdirs(kit->plugin_dir)) {
        return -1;
    }
    chmod(kit->plugin_dir, S_IRWXU);
    /* intake -> triage, triage -> sink (as notification and as reporting) */
    if (harness_link_keys(kit->triage_state, "triage", kit->sender_state, "intake") ||
        harness_link_keys(kit->sink_state, "sink", kit->triage_state, "triage")) {
        return -1;
    }
    kit->triage_port = harness_free_port();
    kit->sink_port = harness_free_port();
    while (kit->sink_port == kit->triage_port) {
        kit->sink_port = harness_free_port();
    }
    if (kit->triage_port < 0 || kit->sink_port < 0) {
        return -1;
    }
    return harness_write(kit->sink_config,
                         "state_dir = \"%s\";\nlog_level = \"info\";\n"
                         "link = { listen = \"tcp://127.0.0.1:%d\"; };\n"
                         "metrics = { listen = \"\"; };\n",
                         kit->sink_state, kit->sink_port);
}

int kit_install_plugin(triage_kit_t *kit, const char *so_path, const char *stem)
{
    char staged[HARNESS_PATH_MAX], final[HARNESS_PATH_MAX];
    snprintf(staged, sizeof staged, "%s/.%s.so.new", kit->plugin_dir, stem);
    snprintf(final, sizeof final, "%s/%s.so", kit->plugin_dir, stem);
    if (harness_copy(so_path, staged) < 0 || chmod(staged, S_IRUSR | S_IWUSR | S_IXUSR) < 0 ||
        rename(staged, final) < 0) {
        fprintf(stderr, "cannot install %s as %s: %s\n", so_path, final, strerror(errno));
        return -1;
    }
    return 0;
}

int kit_write_triage_config(triage_kit_t *kit, const char *plugin_extra, const char *triage_body)
{
    char peers[2 * HARNESS_PATH_MAX];
    snprintf(peers, sizeof peers,
             "peers = (\n"
             "  { name = \"notification\"; endpoint = \"tcp://127.0.0.1:%d\";"
             " server_key = \"%s/keys/sink.key\"; ack_timeout_ms = 1000; },\n"
             "  { name = \"reporting\"; endpoint = \"tcp://127.0.0.1:%d\";"
             " server_key = \"%s/keys/sink.key\"; ack_timeout_ms = 1000; }\n"
             ");\n",
             kit->sink_port, kit->triage_state, kit->sink_port, kit->triage_state);
    return harness_write(kit->triage_config,
                         "state_dir = \"%s\";\nlog_level = \"%s\";\n"
                         "link = { listen = \"tcp://127.0.0.1:%d\"; };\n"
                         "metrics = { listen = \"\"; };\n"
                         "%s"
                         "triage = {\n  plugin = { dir = \"%s\"; %s };\n%s\n};\n",
                         kit->triage_state, kit->log_level ? kit->log_level : "info",
                         kit->triage_port, kit->no_peers ? "peers = ();\n" : peers, kit->plugin_dir,
                         plugin_extra ? plugin_extra : "", triage_body) < 0
               ? -1
               : 0;
}

static int s_wait_health(const char *endpoint, pid_t pid, const char *log)
{
    long long deadline = harness_now_ms() + KIT_START_MS;
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    request.command = VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_HEALTH;
    request.operator_id = (char *)"test";
    while (harness_now_ms() < deadline) {
        int status;
        if (harness_exited(pid, &status)) {
            fprintf(stderr, "service exited during start (status %d); log:\n", status);
            harness_tail(log, 30);
            return -1;
        }
        char err[KIT_ERR_LEN];
        Vigil__V1__AdminReply *reply =
            admin_call(endpoint, NULL, NULL, &request, KIT_ADMIN_PROBE_MS, err, sizeof err);
        if (reply) {
            bool ok = reply->ok;
            vigil__v1__admin_reply__free_unpacked(reply, NULL);
            if (ok) {
                return 0;
            }
        }
        harness_sleep_ms(KIT_POLL_MS * 5);
    }
    fprintf(stderr, "service did not become healthy; log:\n");
    harness_tail(log, 30);
    return -1;
}

int kit_start_sink(triage_kit_t *kit)
{
    char endpoint[HARNESS_PATH_MAX];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/sink.admin", kit->sink_state);
    kit->sink_pid = harness_spawn(kit->sink_exe, kit->sink_config, kit->sink_log);
    return kit->sink_pid > 0 ? s_wait_health(endpoint, kit->sink_pid, kit->sink_log) : -1;
}

int kit_start_triage(triage_kit_t *kit)
{
    kit->triage_pid = harness_spawn(kit->triage_exe, kit->triage_config, kit->triage_log);
    return kit->triage_pid > 0
               ? s_wait_health(kit->admin_endpoint, kit->triage_pid, kit->triage_log)
               : -1;
}

int kit_start_testplug(triage_kit_t *kit, const char *tag, char **argv, const char *plugin_extra,
                       const char *triage_body)
{
    char plugin[HARNESS_PATH_MAX];
    snprintf(plugin, sizeof plugin, "%s/triage_testplug_v1.so", argv[3]);
    const char *failed = kit_init(kit, tag, argv[1], argv[2]) < 0          ? "kit setup"
                         : kit_install_plugin(kit, plugin, "testplug") < 0 ? "install plugin"
                         : kit_write_triage_config(kit, plugin_extra, triage_body) < 0 ? "config"
                         : kit_start_sink(kit) < 0   ? "sink start"
                         : kit_start_triage(kit) < 0 ? "triage start"
                                                     : NULL;
    if (failed) {
        fprintf(stderr, "%s: %s failed\n", tag, failed);
        return -1;
    }
    return 0;
}

int kit_stop_triage(triage_kit_t *kit)
{
    if (kit->triage_pid <= 0) {
        return -1;
    }
    int code = harness_stop(kit->triage_pid, KIT_STOP_GRACE_MS);
    kit->triage_pid = 0;
    return code;
}

/* ---- the sender -------------------------------------------------------------- */

static triage_sender_t *s_sender(triage_kit_t *kit)
{
    if (kit->sender) {
        return kit->sender;
    }
    char err[KIT_ERR_LEN], path[HARNESS_PATH_MAX], cert[HARNESS_PATH_MAX];
    char allow[HARNESS_PATH_MAX], server_key[HARNESS_PATH_MAX], endpoint[64];
    triage_sender_t *s = calloc(1, sizeof *s);
    if (!s) {
        return NULL;
    }
    snprintf(path, sizeof path, "%s/intake.db", kit->sender_state);
    snprintf(cert, sizeof cert, "%s/keys/intake.key_secret", kit->sender_state);
    snprintf(allow, sizeof allow, "%s/keys/allow/intake", kit->sender_state);
    snprintf(server_key, sizeof server_key, "%s/keys/triage.key", kit->sender_state);
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", kit->triage_port);
    security_config_t security = {.insecure = false, .cert_path = cert, .allow_dir = allow};
    link_client_config_t config = {
        .peer = "triage",
        .endpoint = endpoint,
        .server_key = server_key,
        .source = "intake",
        .window = KIT_WINDOW,
        .ack_timeout_ms = KIT_ACK_TIMEOUT_MS,
        .backoff_max_ms = KIT_BACKOFF_MAX_MS,
        .heartbeat_ms = KIT_HEARTBEAT_MS,
    };
    s->db = store_open(path, s_sender_migrations, 1, err, sizeof err);
    s->security = s->db ? security_new(&security, err, sizeof err) : NULL;
    s->metrics = metrics_new("kit");
    s->loop = zloop_new();
    s->client = s->security ? link_client_new(&config, s->db, s->security, NULL, s->metrics, err,
                                              sizeof err)
                            : NULL;
    if (!s->client || !s->loop || link_client_attach(s->client, s->loop, err, sizeof err) < 0) {
        fprintf(stderr, "sender: %s\n", err);
        free(s); /* a test that cannot send fails anyway */
        return NULL;
    }
    kit->sender = s;
    return s;
}

int kit_queue_cases(triage_kit_t *kit, Vigil__V1__CaseView *const *views, size_t count)
{
    triage_sender_t *s = s_sender(kit);
    char err[KIT_ERR_LEN];
    if (!s || store_begin(s->db) < 0) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (link_outbox_enqueue(s->db, NULL, "triage",
                                VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW, views[i]->case_id,
                                NULL, &views[i]->base, NULL, err, sizeof err) < 0) {
            fprintf(stderr, "sender enqueue: %s\n", err);
            store_rollback(s->db);
            return -1;
        }
    }
    if (store_commit(s->db) < 0) {
        return -1;
    }
    link_client_kick(s->client);
    return 0;
}

static int s_on_poll(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    triage_sender_t *s = arg;
    if (link_client_backlog(s->client) == 0 || harness_now_ms() >= s->deadline_ms) {
        return -1;
    }
    return 0;
}

size_t kit_send_wait(triage_kit_t *kit, int ms)
{
    triage_sender_t *s = s_sender(kit);
    if (!s) {
        return (size_t)-1;
    }
    if (link_client_backlog(s->client) == 0) {
        return 0;
    }
    s->deadline_ms = harness_now_ms() + ms;
    int timer = zloop_timer(s->loop, KIT_POLL_MS, 0, s_on_poll, s);
    zloop_start(s->loop);
    zloop_timer_end(s->loop, timer);
    return link_client_backlog(s->client);
}

int kit_send_cases(triage_kit_t *kit, Vigil__V1__CaseView *const *views, size_t count,
                   int timeout_ms)
{
    if (kit_queue_cases(kit, views, count) < 0) {
        return -1;
    }
    size_t left = kit_send_wait(kit, timeout_ms);
    if (left != 0) {
        fprintf(stderr, "sender: %zu messages still unacknowledged after %d ms\n", left,
                timeout_ms);
        return -1;
    }
    return 0;
}

int kit_send_plain_cases(triage_kit_t *kit, const char *prefix, int count, const char *state,
                         int timeout_ms)
{
    Vigil__V1__CaseView *views = calloc((size_t)count + 1, sizeof *views);
    Vigil__V1__CaseView **pointers = calloc((size_t)count + 1, sizeof *pointers);
    char(*ids)[KIT_CASE_ID_MAX] = calloc((size_t)count + 1, sizeof *ids);
    int rc = -1;
    if (views && pointers && ids) {
        for (int i = 0; i < count; i++) {
            char id[KIT_CASE_ID_MAX];
            snprintf(id, sizeof id, "%s-%d", prefix, i);
            kit_view(&views[i], ids[i], sizeof ids[i], id, state, "", "", NULL);
            pointers[i] = &views[i];
        }
        rc = kit_send_cases(kit, pointers, (size_t)count, timeout_ms);
    }
    free(ids);
    free(pointers);
    free(views);
    return rc;
}

int kit_send_receipt(triage_kit_t *kit, const char *case_id, const char *assignee_id,
                     int timeout_ms)
{
    triage_sender_t *s = s_sender(kit);
    char err[KIT_ERR_LEN];
    Vigil__V1__AssignmentReceipt receipt = VIGIL__V1__ASSIGNMENT_RECEIPT__INIT;
    receipt.case_id = (char *)case_id;
    receipt.assignee_id = (char *)assignee_id;
    receipt.acknowledged_at_ms = util_now_ms();
    if (!s || store_begin(s->db) < 0) {
        return -1;
    }
    if (link_outbox_enqueue(s->db, NULL, "triage",
                            VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT, case_id, NULL,
                            &receipt.base, NULL, err, sizeof err) < 0 ||
        store_commit(s->db) < 0) {
        store_rollback(s->db);
        return -1;
    }
    link_client_kick(s->client);
    return kit_send_wait(kit, timeout_ms) == 0 ? 0 : -1;
}

/* ---- reading results ---------------------------------------------------------- */

long long kit_query_int(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    long long value = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, KIT_START_MS);
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW) {
            value = sqlite3_column_int64(stmt, 0);
        } else {
            fprintf(stderr, "query %s: %s\n", sql, sqlite3_errmsg(db));
        }
        sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return value;
}

long long kit_wait_int(const char *db_path, const char *sql, long long want, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    long long value = -1;
    do {
        value = kit_query_int(db_path, sql);
        if (value >= want) {
            break;
        }
        harness_sleep_ms(KIT_POLL_MS * 5);
    } while (harness_now_ms() < deadline);
    return value;
}

Vigil__V1__AdminReply *kit_admin(triage_kit_t *kit, Vigil__V1__AdminCommand command,
                                 const char *arg, int timeout_ms)
{
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    char *args[1] = {(char *)arg};
    request.command = command;
    request.operator_id = (char *)"test-operator";
    if (arg) {
        request.n_args = 1;
        request.args = args;
    }
    char err[KIT_ERR_LEN];
    Vigil__V1__AdminReply *reply =
        admin_call(kit->admin_endpoint, NULL, NULL, &request, timeout_ms, err, sizeof err);
    if (!reply) {
        fprintf(stderr, "admin: %s\n", err);
    }
    return reply;
}

int kit_wait_fact(triage_kit_t *kit, const char *key, const char *want, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < deadline) {
        Vigil__V1__AdminReply *status =
            kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, NULL, KIT_STATUS_MS);
        const char *fact = status ? kit_fact(status, key) : NULL;
        bool found = fact && strstr(fact, want) != NULL;
        if (status) {
            vigil__v1__admin_reply__free_unpacked(status, NULL);
        }
        if (found) {
            return 0;
        }
        harness_sleep_ms(KIT_FACT_POLL_MS);
    }
    return -1;
}

const char *kit_fact(const Vigil__V1__AdminReply *reply, const char *key)
{
    const Vigil__V1__ServiceStatus *status = reply->status;
    for (size_t i = 0; i < reply->n_facts; i++) {
        if (strcmp(reply->facts[i]->key, key) == 0) {
            return reply->facts[i]->value;
        }
    }
    for (size_t i = 0; status && i < status->n_facts; i++) {
        if (strcmp(status->facts[i]->key, key) == 0) {
            return status->facts[i]->value;
        }
    }
    return NULL;
}

double kit_metric(const Vigil__V1__AdminReply *reply, const char *name, const char *labels)
{
    for (size_t i = 0; i < reply->n_metrics; i++) {
        const Vigil__V1__Metric *m = reply->metrics[i];
        const char *metric_name = m->name;
        if (strncmp(metric_name, "vigil_", 6) == 0 && strncmp(name, "vigil_", 6) != 0) {
            metric_name += 6;
        }
        if (strcmp(metric_name, name) == 0 && (!labels || strstr(m->labels, labels))) {
            return m->value;
        }
    }
    return -1;
}

void kit_view(Vigil__V1__CaseView *view, char *id_storage, size_t id_size, const char *case_id,
              const char *state, const char *county, const char *zip3, Vigil__V1__UrgencyCue *cues)
{
    vigil__v1__case_view__init(view);
    snprintf(id_storage, id_size, "%s", case_id);
    view->case_id = id_storage;
    view->channel = VIGIL__V1__CHANNEL__CHANNEL_HOTLINE;
    view->language = (char *)"en";
    view->caller_role = VIGIL__V1__CALLER_ROLE__CALLER_ROLE_VICTIM;
    view->state = (char *)state;
    view->county_fips = (char *)county;
    view->zip3 = (char *)zip3;
    view->crime_category = VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_ASSAULT;
    view->received_at_ms = util_now_ms();
    size_t n = 0;
    while (cues && cues[n]) {
        n++;
    }
    view->urgency_cues = cues;
    view->n_urgency_cues = n;
}

void kit_finish(triage_kit_t *kit, bool failed)
{
    if (kit->sender) {
        triage_sender_t *s = kit->sender;
        link_client_destroy(&s->client);
        zloop_destroy(&s->loop);
        security_destroy(&s->security);
        metrics_destroy(&s->metrics);
        store_close(&s->db);
        free(s);
        kit->sender = NULL;
    }
    if (kit->triage_pid > 0) {
        harness_stop(kit->triage_pid, KIT_STOP_GRACE_MS);
    }
    if (kit->sink_pid > 0) {
        harness_stop(kit->sink_pid, KIT_STOP_GRACE_MS);
    }
    if (failed) {
        fprintf(stderr, "triage log (%s):\n", kit->triage_log);
        harness_tail(kit->triage_log, 40);
    }
    if (failed || getenv("VIGIL_KEEP_TEST_DIR")) {
        fprintf(stderr, "test directory kept: %s\n", kit->dir);
    } else {
        harness_remove_tree(kit->dir);
    }
}

int kit_main(int argc, char **argv, const char *name, kit_test_fn run)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s VIGIL_TRIAGE SINK TEST_PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    triage_kit_t kit;
    int failed = run(&kit, argv);
    kit_finish(&kit, failed != 0);
    if (!failed) {
        printf("%s: ok\n", name);
    }
    return failed;
}
