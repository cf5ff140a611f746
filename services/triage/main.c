/* main.c: vigil-triage, the service that decides every case.
 *
 * For each pseudonymous case view from intake, triage decides how urgent it
 * is (priority.h), which region owns it (region.h) and where it goes (the
 * region's policy plugin, run by the policy host in a worker process), then
 * persists the decision and tells notification and reporting (outbound.h).
 * Cases not acknowledged in time are escalated (escalate.h). This file only
 * declares the service and wires the parts together at start and stop; it
 * never sees personal data, because none ever reaches triage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "escalate.h"
#include "inbound.h"
#include "outbound.h"
#include "triage.h"
#include "triage_admin.h"
#include "triage_schema.h"
#include "vigil/log.h"
#include "vigil/service.h"

enum { ERR_LEN = 512, PATH_LEN = 4096, REPORT_LEN = 8192, KIB_PER_MIB = 1024 };

/* The same file intake hashes case ids with, so both services give reporting
 * the same case_key for one case. */
#define CASE_KEY_DEFAULT_FILE "keys/intake.hashkey"

/* Defaults compiled in: the ports from docs/operations.md and one region
 * that owns every case until the operator configures real ones. */
static const char s_embedded_config[] =
    "link = { listen = \"tcp://127.0.0.1:7200\"; };\n"
    "metrics = { listen = \"127.0.0.1:9200\"; };\n"
    "peers = (\n"
    "  { name = \"notification\"; endpoint = \"tcp://127.0.0.1:7300\"; },\n"
    "  { name = \"reporting\"; endpoint = \"tcp://127.0.0.1:7400\"; }\n"
    ");\n"
    "triage = {\n"
    "  regions = (\n"
    "    { name = \"default\"; plugin = \"rules\";\n"
    "      plugin_config = { default = { to = \"triage-desk\"; }; };\n"
    "      roster = ( { id = \"triage-desk\"; role = \"contact_officer\";\n"
    "                   languages = [ \"en\", \"es\" ]; on_call = true; } );\n"
    "      fallback = { assignee = \"triage-desk\"; escalation = \"triage-supervisors\"; }; }\n"
    "  );\n"
    "};\n";

triage_t *triage_of(service_t *service)
{
    return service_context(service);
}

static void s_free(triage_t **triage_p)
{
    triage_t *triage = *triage_p;
    if (!triage) {
        return;
    }
    escalate_stop(triage);
    decide_destroy(&triage->decide);
    policy_host_destroy(&triage->host);
    region_index_destroy(&triage->regions);
    triage_metrics_destroy(&triage->metrics);
    case_key_wipe(&triage->case_key);
    free(triage);
    *triage_p = NULL;
}

static int s_load_case_key(triage_t *triage, char *err, size_t errlen)
{
    char path[PATH_LEN];
    const char *configured = triage->config->case_key_file;
    if (configured && configured[0]) {
        snprintf(path, sizeof path, "%s", configured);
    } else {
        snprintf(path, sizeof path, "%s/%s", service_state_dir(triage->service),
                 CASE_KEY_DEFAULT_FILE);
    }
    bool created = false;
    if (case_key_load(&triage->case_key, path, true, &created, err, errlen) < 0) {
        return -1;
    }
    if (created) {
        log_warn("created a new case-key secret: reporting links triage's events to intake's only "
                 "if both services use the same file",
                 "file=%s", path);
    }
    return 0;
}

static int s_start_host(triage_t *triage, char *err, size_t errlen)
{
    const triage_config_t *config = triage->config;
    policy_region_list_t regions = {0};
    if (triage_config_policy_regions(config, &regions) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *db_path = sqlite3_db_filename(service_db(triage->service), "main");
    policy_host_config_t host_config = {
        .plugin_dir = config->plugin_dir,
        .worker_path = config->worker_path && config->worker_path[0] ? config->worker_path : NULL,
        .directory_db = db_path,
        .route_timeout_ms = (int)config->route_timeout_ms,
        .init_timeout_ms = (int)config->init_timeout_ms,
        .crash_limit = (int)config->crash_limit,
        .crash_window_ms = (int)config->crash_window_ms,
        .memory_mb = (int)config->plugin_memory_mb,
        .batch_max = (size_t)config->decide_batch,
        .metrics = service_metrics(triage->service),
    };
    triage->host = policy_host_new(&host_config, &regions, err, errlen);
    free(regions.regions);
    return triage->host ? 0 : -1;
}

static int s_start(service_t *service)
{
    char err[ERR_LEN] = "";
    int code = SERVICE_EXIT_SOFTWARE;
    triage_t *triage = calloc(1, sizeof *triage);
    if (!triage) {
        return SERVICE_EXIT_SOFTWARE;
    }
    triage->service = service;
    triage->config = service_config(service);
    triage->escalation_timer = -1;
    service_set_context(service, triage);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%lld",
             (long long)triage->config->store_cache_mb * KIB_PER_MIB);
    if (store_exec(service_db(service), pragma, err, sizeof err) < 0) {
        log_warn("could not enlarge the store's page cache", "error=%s", err);
    }
    /* Savepoint journals in memory: a link batch runs each handler under a
     * savepoint, and decisions that share its commit (decision_wait_ms)
     * touch thousands of pages there; past 64 KiB sqlite would spill the
     * journal to a temp file and write it for nothing. Durability is
     * unchanged: the journal only serves rollbacks inside a transaction. */
    if (store_exec(service_db(service), "PRAGMA temp_store = MEMORY", err, sizeof err) < 0) {
        log_warn("could not keep savepoint journals in memory", "error=%s", err);
    }
    triage->regions = region_index_new(triage->config);
    triage->metrics = triage_metrics_new(service_metrics(service), triage->config);
    if (!triage->regions || !triage->metrics) {
        log_error("out of memory at start", NULL);
        goto fail;
    }
    if (s_load_case_key(triage, err, sizeof err) < 0) {
        log_error("case-key file refused", "error=%s", err);
        code = SERVICE_EXIT_NOPERM;
        goto fail;
    }
    if (s_start_host(triage, err, sizeof err) < 0) {
        log_error("policy host could not start", "error=%s", err);
        code = SERVICE_EXIT_CONFIG;
        goto fail;
    }
    triage->decide = decide_new(triage, err, sizeof err);
    if (!triage->decide || decide_recover(triage->decide, err, sizeof err) < 0) {
        log_error("decision stage could not start", "error=%s", err);
        code = SERVICE_EXIT_STORE;
        goto fail;
    }
    record_refresh_all_loads(decide_record(triage->decide));
    if (escalate_start(triage) < 0) {
        log_error("escalation timer could not start", NULL);
        goto fail;
    }
    static const char *const peers[] = {OUTBOUND_PEER_NOTIFICATION, OUTBOUND_PEER_REPORTING};
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++) {
        if (!service_peer(service, peers[i])) {
            log_warn("no peer configured: its messages wait in the outbox until one is", "peer=%s",
                     peers[i]);
        }
    }
    triage_count_init_failures(triage);
    triage_update_facts(triage);
    decide_schedule(triage->decide); /* cases left pending by the last run */
    for (size_t i = 0; i < triage->config->regions.count; i++) {
        const policy_region_t *region = &triage->config->regions.items[i].policy;
        log_info("region configured", "region=%s plugin=%s", region->name, region->plugin);
    }
    return 0;
fail:
    service_set_context(service, NULL);
    s_free(&triage);
    return code;
}

/* SIGHUP and vigilctl reload: the plugins, and the regions' policy
 * settings from the file just re-read (triage_reload_plugins()). */
static int s_reload(service_t *service, const void *fresh, char *err, size_t errlen)
{
    triage_t *triage = triage_of(service);
    char report[REPORT_LEN] = "";
    return triage ? triage_reload_plugins(triage, fresh, report, sizeof report, err, errlen) : 0;
}

static void s_stop(service_t *service)
{
    triage_t *triage = triage_of(service);
    if (!triage) {
        return;
    }
    decide_flush(triage->decide); /* decisions made and staged: keep them */
    decide_close_attempts(triage->decide);
    service_set_context(service, NULL);
    s_free(&triage);
}

/* Region and roster rules the key tables cannot express; run by the
 * runtime for --check-config and before start. */
static int s_check(const void *config, char *err, size_t errlen)
{
    return triage_config_check(config, err, errlen);
}

static const service_def_t s_triage = {
    .name = "triage",
    .embedded_config = s_embedded_config,
    .needs_vault = false,
    .config_keys = triage_config_keys,
    .config_size = sizeof(triage_config_t),
    .migrations = triage_migrations,
    .migration_count = TRIAGE_MIGRATION_COUNT,
    .routes = inbound_routes,
    .admin_commands = triage_admin_commands,
    .check = s_check,
    .start = s_start,
    .reload = s_reload,
    .stop = s_stop,
};

int main(int argc, char **argv)
{
    /* Every sqlite connection of this process is used by one thread only
     * (the loop thread; the plugins run in another process), so sqlite's
     * per-call mutexes buy nothing; they cost about a tenth of a decision. */
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    return service_main(&s_triage, argc, argv);
}
