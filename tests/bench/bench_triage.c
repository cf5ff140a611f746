/* bench_triage.c: how fast triage decides, next to baselines measured in
 * the same run.
 *
 *   e2e       a real vigil-triage (its policy worker running the shipped
 *             `rules` plugin with a small rules table and a 12-officer
 *             roster) fed N case views over the real link (CURVE, loopback
 *             TCP) by a link client in this process. Time from the first
 *             send to the moment triage's store holds N committed decisions
 *             (each with its Assignment, ReportEvent and de-identified
 *             TriageDecision in the outbox). Decisions per second.
 *   store     baseline: the same sender and cases, received by a service
 *             that only stores each view (tests/integration/triage_sink.c)
 *             on the same link: what the link and sqlite alone allow.
 *   call      per-call cost of a plugin through the policy host (triage's
 *             side, the worker process, the socketpair), for a trivial
 *             plugin (tests/integration/triage_test_plugin.c: set an
 *             assignee and a rationale) and for `rules`, in batches of 1024;
 *             baseline: the fallback policy decided in-process
 *             (policy_route_fallback, no worker).
 *
 * Prints every run and the medians. Not a test: run by hand, see
 * docs/performance.md, "Triage".
 *
 * Usage: bench_triage TRIAGE SINK RULES_SO TEST_PLUGIN_DIR [--cases N] [--runs R]
 * Environment: BENCH_TRIAGE_LOG (triage's log level, default warn),
 * BENCH_TRIAGE_SETTINGS (more settings inside triage = { ... }, e.g.
 * "decision_wait_ms = 0;").
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "policy_host.h"
#include "triage_kit.h"
#include "vigil/log.h"
#include "vigil/util.h"

enum {
    DEFAULT_CASES = 50000,
    DEFAULT_RUNS = 5,
    MAX_RUNS = 21,
    SEND_MS = 600000,
    CALL_BATCH = 1024,
    CALL_BATCHES = 100,
    ROSTER = 12,
    BENCH_CASE_ID_RANDOM = 20, /* base32 characters after "c_", as intake's */
};

static const char s_rules_config[] =
    "taxonomy = { shelter = \"shelter\"; counseling = \"counseling\"; legal = \"legal\"; };\n"
    "      default = { pick = \"least_loaded\"; escalation = \"bench-sup\"; };\n"
    "      rules = (\n"
    "        { name = \"danger\"; match = { cues = [\"immediate_danger\"]; };\n"
    "          assign = { pick = \"least_loaded\"; on_call = true; };\n"
    "          rationale = \"immediate danger: on-call officer\"; },\n"
    "        { name = \"spanish\"; match = { language = [\"es\"]; };\n"
    "          assign = { pick = \"least_loaded\"; language = \"case\"; };\n"
    "          rationale = \"Spanish-speaking officer\"; }\n"
    "      );\n";

static void s_roster(char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "roster = (");
    for (int i = 0; i < ROSTER; i++) {
        used += (size_t)snprintf(out + used, size - used,
                                 "%s { id = \"bench-co-%02d\"; role = \"contact_officer\";"
                                 " languages = [\"en\"%s]; on_call = %s; }",
                                 i ? "," : "", i, i % 3 == 0 ? ", \"es\"" : "",
                                 i % 4 == 0 ? "true" : "false");
    }
    snprintf(out + used, size - used, " );");
}

static int s_compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_median(double *values, int n)
{
    qsort(values, (size_t)n, sizeof *values, s_compare);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* A case id shaped as intake draws them (services/intake/case_id.c): "c_"
 * and 20 random base32 characters. Random ids matter here: they scatter
 * over any B-tree keyed by the case id, as they do in production. */
static void s_case_id(char *out, size_t size)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint8_t random[BENCH_CASE_ID_RANDOM];
    randombytes_buf(random, sizeof random);
    size_t used = (size_t)snprintf(out, size, "c_");
    for (size_t i = 0; i < sizeof random && used + 1 < size; i++)
        out[used++] = alphabet[random[i] % (sizeof alphabet - 1)];
    out[used] = '\0';
}

/* Case views as intake sends them: a mix of places, languages and cues. */
static Vigil__V1__CaseView **s_views(int n)
{
    static Vigil__V1__UrgencyCue danger[] = {VIGIL__V1__URGENCY_CUE__URGENCY_CUE_IMMEDIATE_DANGER,
                                             0};
    static Vigil__V1__UrgencyCue release[] = {
        VIGIL__V1__URGENCY_CUE__URGENCY_CUE_OFFENDER_RELEASE_SOON, 0};
    static const char *const states[] = {"OR", "WA", "KS", "NY"};
    Vigil__V1__CaseView *views = calloc((size_t)n, sizeof *views);
    Vigil__V1__CaseView **pointers = calloc((size_t)n, sizeof *pointers);
    char(*ids)[32] = calloc((size_t)n, sizeof *ids);
    for (int i = 0; i < n; i++) {
        char id[32];
        s_case_id(id, sizeof id);
        kit_view(&views[i], ids[i], sizeof ids[i], id, states[i % 4], "", "",
                 i % 10 == 0  ? danger
                 : i % 7 == 0 ? release
                              : NULL);
        views[i].language = (char *)(i % 5 == 0 ? "es" : "en");
        pointers[i] = &views[i];
    }
    return pointers;
}

/* CPU seconds (user + system) used so far by `pid` and its live children
 * (the policy worker), from /proc. Returns -1 if unreadable. */
static double s_cpu_seconds(pid_t pid)
{
    char path[64], children[512] = "";
    double total = 0;
    long ticks = sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *file = fopen(path, "r");
    if (file) {
        if (!fgets(children, sizeof children, file)) {
            children[0] = '\0';
        }
        fclose(file);
    }
    char list[600];
    snprintf(list, sizeof list, "%d %s", (int)pid, children);
    for (char *item = strtok(list, " \n"); item; item = strtok(NULL, " \n")) {
        snprintf(path, sizeof path, "/proc/%s/stat", item);
        file = fopen(path, "r");
        if (!file) {
            return -1;
        }
        char stat[1024];
        size_t len = fread(stat, 1, sizeof stat - 1, file);
        fclose(file);
        stat[len] = '\0';
        char *after = strrchr(stat, ')'); /* the command name may hold spaces */
        unsigned long utime = 0, stime = 0;
        if (!after || sscanf(after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                             &utime, &stime) != 2) {
            return -1;
        }
        total += (double)(utime + stime) / (double)ticks;
    }
    return total;
}

/* Bytes `pid` has passed to write(2) and friends so far (/proc/PID/io
 * `wchar`: WAL frames, checkpoint copies, logs). Returns -1 if unreadable. */
static double s_written_bytes(pid_t pid)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    FILE *file = fopen(path, "r");
    if (!file) {
        return -1;
    }
    double bytes = -1;
    unsigned long long value = 0;
    while (fgets(line, sizeof line, file)) {
        if (sscanf(line, "wchar: %llu", &value) == 1) {
            bytes = (double)value;
            break;
        }
    }
    fclose(file);
    return bytes;
}

/* One e2e run: a fresh triage, N cases, seconds until N decisions; the CPU
 * seconds triage and its worker used go to *cpu, the bytes triage wrote to
 * *written. */
static double s_e2e(const char *triage, const char *sink, const char *rules_so,
                    Vigil__V1__CaseView **views, int n, bool baseline, double *cpu, double *written)
{
    triage_kit_t kit;
    double seconds = -1;
    char roster[4096], body[8192];
    if (kit_init(&kit, "bench-triage", triage, sink) < 0 ||
        kit_install_plugin(&kit, rules_so, "rules") < 0) {
        goto done;
    }
    s_roster(roster, sizeof roster);
    /* more triage settings for an A/B of one binary, e.g.
     * BENCH_TRIAGE_SETTINGS="decision_wait_ms = 0;" */
    const char *extra = getenv("BENCH_TRIAGE_SETTINGS");
    snprintf(
        body, sizeof body,
        "%s\n"
        "%s\n"
        "default_region = \"bench\";\n"
        "regions = ( { name = \"bench\"; plugin = \"rules\"; states = [\"OR\", \"WA\", \"KS\"];\n"
        "    plugin_config = { %s };\n"
        "    fallback = { assignee = \"bench-desk\"; escalation = \"bench-sup\"; };\n"
        "    %s } );\n",
        extra && strstr(extra, "decide_batch") ? "" : "decide_batch = 4096;", extra ? extra : "",
        s_rules_config, roster);
    kit.no_peers = true; /* measure up to the committed outbox, not the relay */
    kit.log_level = getenv("BENCH_TRIAGE_LOG") ? getenv("BENCH_TRIAGE_LOG") : "warn";
    if (kit_write_triage_config(&kit, NULL, body) < 0) {
        goto done;
    }
    const char *count_sql = "SELECT count(*) FROM decisions";
    const char *db = kit.triage_db;
    if (baseline) {
        /* the sink takes triage's place: same port, keys and allowlist */
        harness_write(
            kit.triage_config,
            "state_dir = \"%s\";\nlog_level = \"warn\";\n"
            "link = { listen = \"tcp://127.0.0.1:%d\"; };\nmetrics = { listen = \"\"; };\n"
            "security = { cert = \"%s/keys/triage.key_secret\";"
            " allow_dir = \"%s/keys/allow/triage\"; };\n"
            "admin = { endpoint = \"%s\"; };\n",
            kit.triage_state, kit.triage_port, kit.triage_state, kit.triage_state,
            kit.admin_endpoint);
        kit.triage_exe = sink;
        count_sql = "SELECT count(*) FROM sink_messages";
        snprintf(kit.triage_db, sizeof kit.triage_db, "%s/sink.db", kit.triage_state);
    }
    if (kit_start_triage(&kit) < 0 || kit_queue_cases(&kit, views, (size_t)n) < 0) {
        goto done;
    }
    double cpu_before = s_cpu_seconds(kit.triage_pid);
    double written_before = s_written_bytes(kit.triage_pid);
    uint64_t started = util_mono_ns();
    if (kit_send_wait(&kit, SEND_MS) != 0 || kit_wait_int(db, count_sql, n, SEND_MS) < n) {
        fprintf(stderr, "run did not finish\n");
        goto done;
    }
    seconds = (double)(util_mono_ns() - started) / 1e9;
    *cpu = s_cpu_seconds(kit.triage_pid) - cpu_before;
    *written = s_written_bytes(kit.triage_pid) - written_before;
    if (!baseline) {
        long long outbox = kit_query_int(db, "SELECT count(*) FROM link_outbox");
        printf("    (outbox rows at the end: %lld, %.1f per decision)\n", outbox,
               (double)outbox / n);
    }
done:
    kit_finish(&kit, seconds < 0);
    return seconds;
}

/* Per-call cost through the policy host, ns per case. */
static double s_call(const char *plugin_dir, const char *plugin, const char *plugin_config,
                     Vigil__V1__CaseView **views, bool fallback_only)
{
    char err[512];
    policy_region_t region = {0};
    policy_officer_t officer = {0};
    char *languages[] = {(char *)"en"};
    officer.id = (char *)"co-1";
    officer.languages = languages;
    officer.language_count = 1;
    officer.role = VIGIL_ROLE_CONTACT_OFFICER;
    region.name = (char *)"bench";
    region.plugin = (char *)plugin;
    region.timezone = (char *)"UTC";
    region.fallback_assignee = (char *)"bench-desk";
    region.fallback_escalation = (char *)"bench-sup";
    region.plugin_config = (char *)plugin_config;
    region.roster = &officer;
    region.roster_count = 1;
    policy_region_list_t regions = {&region, 1};
    policy_host_config_t config = {.plugin_dir = plugin_dir, .batch_max = CALL_BATCH};
    policy_host_t *host = policy_host_new(&config, &regions, err, sizeof err);
    if (!host) {
        fprintf(stderr, "policy host: %s\n", err);
        return -1;
    }
    static policy_request_t requests[CALL_BATCH];
    for (int i = 0; i < CALL_BATCH; i++) {
        memset(&requests[i], 0, sizeof requests[i]);
        requests[i].view = views[i];
        requests[i].region = "bench";
        requests[i].priority = VIGIL__V1__PRIORITY__PRIORITY_P3;
        requests[i].now_ms = util_now_ms();
    }
    policy_route_batch(host, requests, CALL_BATCH); /* warm up: worker started, code paged in */
    uint64_t started = util_mono_ns();
    for (int b = 0; b < CALL_BATCHES; b++) {
        if (fallback_only) {
            for (int i = 0; i < CALL_BATCH; i++) {
                policy_route_fallback(host, &requests[i], "bench", false);
            }
        } else {
            policy_route_batch(host, requests, CALL_BATCH);
        }
    }
    double ns = (double)(util_mono_ns() - started) / (CALL_BATCHES * CALL_BATCH);
    for (int i = 0; i < CALL_BATCH; i++) {
        if (!fallback_only && requests[i].outcome != POLICY_OUTCOME_OK) {
            fprintf(stderr, "call: outcome %d (%s)\n", requests[i].outcome, requests[i].detail);
            ns = -1;
            break;
        }
    }
    policy_host_destroy(&host);
    return ns;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s TRIAGE SINK RULES_SO TEST_PLUGIN_DIR [--cases N] [--runs R]\n",
                argv[0]);
        return 2;
    }
    int cases = DEFAULT_CASES, runs = DEFAULT_RUNS;
    for (int i = 5; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--cases") == 0) {
            cases = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--runs") == 0) {
            runs = atoi(argv[i + 1]);
        }
    }
    if (cases < CALL_BATCH || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "--cases must be >= %d and --runs 1..%d\n", CALL_BATCH, MAX_RUNS);
        return 2;
    }
    log_init("bench_triage", LOG_LEVEL_WARN);
    signal(SIGPIPE, SIG_IGN);
    Vigil__V1__CaseView **views = s_views(cases);

    /* per-call cost: a private plugin dir with the trivial plugin and rules */
    char dir[HARNESS_DIR_MAX], path[HARNESS_PATH_MAX];
    if (harness_tempdir("bench-calls", dir, sizeof dir) < 0) {
        return 1;
    }
    chmod(dir, S_IRWXU);
    snprintf(path, sizeof path, "%s/triage_testplug_v1.so", argv[4]);
    char trivial[HARNESS_PATH_MAX], rules[HARNESS_PATH_MAX];
    snprintf(trivial, sizeof trivial, "%s/testplug.so", dir);
    snprintf(rules, sizeof rules, "%s/rules.so", dir);
    if (harness_copy(path, trivial) < 0 || harness_copy(argv[3], rules) < 0) {
        return 1;
    }
    chmod(trivial, S_IRWXU);
    chmod(rules, S_IRWXU);
    double trivial_ns[MAX_RUNS], rules_ns[MAX_RUNS], fallback_ns[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        trivial_ns[r] = s_call(dir, "testplug", "assignee = \"co-1\";", views, false);
        rules_ns[r] = s_call(dir, "rules", s_rules_config, views, false);
        fallback_ns[r] = s_call(dir, "testplug", "", views, true);
        printf("call run %d: trivial plugin %.0f ns/case, rules %.0f ns/case, in-process "
               "fallback %.0f ns/case\n",
               r + 1, trivial_ns[r], rules_ns[r], fallback_ns[r]);
        fflush(stdout);
    }
    harness_remove_tree(dir);

    double e2e[MAX_RUNS], store[MAX_RUNS], e2e_cpu[MAX_RUNS], store_cpu[MAX_RUNS];
    double e2e_bytes[MAX_RUNS], store_bytes[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        double s_cpu = -1, b_cpu = -1, s_bytes = -1, b_bytes = -1;
        double s = s_e2e(argv[1], argv[2], argv[3], views, cases, false, &s_cpu, &s_bytes);
        double b = s_e2e(argv[1], argv[2], argv[3], views, cases, true, &b_cpu, &b_bytes);
        if (s <= 0 || b <= 0) {
            fprintf(stderr, "run %d failed\n", r + 1);
            return 1;
        }
        e2e[r] = cases / s;
        store[r] = cases / b;
        e2e_cpu[r] = s_cpu * 1e6 / cases;
        store_cpu[r] = b_cpu * 1e6 / cases;
        e2e_bytes[r] = s_bytes / cases;
        store_bytes[r] = b_bytes / cases;
        printf("e2e run %d: %d cases, triage %.0f decisions/s (%.2f s, %.1f us CPU, %.0f bytes "
               "written per case), store-only baseline %.0f views/s (%.2f s, %.1f us CPU, %.0f "
               "bytes written per case)\n",
               r + 1, cases, e2e[r], s, e2e_cpu[r], e2e_bytes[r], store[r], b, store_cpu[r],
               store_bytes[r]);
        fflush(stdout);
    }
    double m_e2e = s_median(e2e, runs), m_store = s_median(store, runs);
    double m_trivial = s_median(trivial_ns, runs), m_rules = s_median(rules_ns, runs);
    double m_fallback = s_median(fallback_ns, runs);
    double m_e2e_cpu = s_median(e2e_cpu, runs), m_store_cpu = s_median(store_cpu, runs);
    double m_e2e_bytes = s_median(e2e_bytes, runs), m_store_bytes = s_median(store_bytes, runs);
    printf("\nmedians over %d runs (%d cases each):\n", runs, cases);
    printf("  triage end to end (rules plugin): %.0f decisions/s\n", m_e2e);
    printf("  store-only baseline (same link):  %.0f views/s\n", m_store);
    printf("  ratio triage / baseline:          %.2f\n", m_e2e / m_store);
    printf("  CPU per decision (triage+worker): %.1f us = %.0f decisions/s per busy core\n",
           m_e2e_cpu, 1e6 / m_e2e_cpu);
    printf("  CPU per stored view (baseline):   %.1f us = %.0f views/s per busy core\n",
           m_store_cpu, 1e6 / m_store_cpu);
    printf("  bytes written per decision:       %.0f (triage's write calls: WAL, checkpoints)\n",
           m_e2e_bytes);
    printf("  bytes written per stored view:    %.0f (baseline)\n", m_store_bytes);
    printf("  per call, trivial plugin:         %.0f ns (worker round trip included)\n", m_trivial);
    printf("  per call, rules plugin:           %.0f ns\n", m_rules);
    printf("  per call, in-process fallback:    %.0f ns (baseline)\n", m_fallback);
    printf("  ratio trivial plugin / fallback:  %.1f\n", m_trivial / m_fallback);
    return 0;
}
