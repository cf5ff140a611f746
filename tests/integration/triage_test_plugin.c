/* triage_test_plugin.c: a TEST region plugin for triage's integration tests.
 *
 * Built several times from this one file (tests/integration/triage.cmake)
 * with different TEST_PLUGIN_VERSION values, and once with
 * TEST_PLUGIN_BROKEN (its init always fails: the "bad new version" a hot
 * reload must refuse). Behaviour comes from the region's plugin_config:
 *
 *   assignee   = "id";   assign every case to this roster id (default: the
 *                        first roster entry)
 *   escalation = "id";   escalation path for every decision (optional)
 *   crash_on   = "case"; SIGSEGV when routing this case id (optional)
 *   hang_on    = "case"; loop forever when routing this case id (optional)
 *   hog_on     = "case"; when routing this case id, allocate up to 4 GiB,
 *                        16 MiB at a time, and abort() when an allocation
 *                        fails, as a leaking plugin would (optional; the
 *                        worker's memory limit test). The pages are not
 *                        touched: the limit is on address space, and
 *                        touching them made the case slow enough to count
 *                        as a hang on a busy machine
 *   refer      = "term"; refer to the first directory service with this
 *                        taxonomy term for the case's place (optional)
 *   dump_to    = "path"; append everything the plugin can see to this file
 *                        (optional; the no-personal-data test reads it)
 *   garble_on  = "case"; when routing this case id, write a malformed
 *                        answer frame straight into the worker's socket to
 *                        triage (fd 3), as hostile code could, then decide
 *                        normally (optional; the sandbox test)
 *   probe_on   = "case"; when routing this case id, try what the policy
 *                        worker's sandbox refuses (a socket, a process, a
 *                        program, signals to triage and its process group,
 *                        ptrace) and what it allows (a thread, reading a
 *                        file, signalling itself), and append one line
 *                        "probe name=result ..." to dump_to (the sandbox
 *                        test). Every probe is harmless if it is allowed.
 *
 * It must never ship: crashing and hanging on purpose is its job.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vigil/plugin.h>

#ifndef TEST_PLUGIN_VERSION
#define TEST_PLUGIN_VERSION "1.0.0"
#endif

#define TEST_DIRECTORY_MAX 4

typedef struct {
    const char *assignee;
    const char *escalation;
    const char *crash_on;
    const char *hang_on;
    const char *hog_on;
    const char *refer;
    const char *dump_to;
    const char *probe_on;
    const char *garble_on;
} test_state_t;

#ifndef TEST_PLUGIN_BROKEN
static const char *s_string(const vigil_host_api_t *host, const char *key)
{
    const char *value = NULL;
    return host->config_string(host, key, &value) == VIGIL_PLUGIN_OK ? value : NULL;
}
#endif

static int s_init(const vigil_host_api_t *host, void **state, char *err, size_t err_len)
{
#ifdef TEST_PLUGIN_BROKEN
    (void)host;
    (void)state;
    snprintf(err, err_len, "this build is broken on purpose (test plugin %s)", TEST_PLUGIN_VERSION);
    return VIGIL_PLUGIN_ERR_FAILED;
#else
    test_state_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    s->assignee = s_string(host, "assignee");
    s->escalation = s_string(host, "escalation");
    s->crash_on = s_string(host, "crash_on");
    s->hang_on = s_string(host, "hang_on");
    s->hog_on = s_string(host, "hog_on");
    s->refer = s_string(host, "refer");
    s->dump_to = s_string(host, "dump_to");
    s->probe_on = s_string(host, "probe_on");
    s->garble_on = s_string(host, "garble_on");
    *state = s;
    return VIGIL_PLUGIN_OK;
#endif
}

static void s_dump(const test_state_t *s, const vigil_host_api_t *host,
                   const vigil_case_view_t *view)
{
    FILE *out = fopen(s->dump_to, "a");
    if (!out) {
        return;
    }
    fprintf(out,
            "case_id=%s region=%s language=%s state=%s county_fips=%s zip3=%s channel=%d "
            "caller_role=%d crime_category=%d priority=%d received_at_ms=%lld "
            "share_with_partners=%d has_offender=%d wants_notifications=%d advise=%d level=%u",
            view->case_id, view->region, view->language, view->state, view->county_fips, view->zip3,
            view->channel, view->caller_role, view->crime_category, view->priority,
            (long long)view->received_at_ms, view->share_with_partners, view->has_offender,
            view->wants_notifications, view->advise_emergency_services, view->escalation_level);
    for (uint32_t i = 0; i < view->requested_service_count; i++) {
        fprintf(out, " need=%d", view->requested_services[i]);
    }
    for (uint32_t i = 0; i < view->urgency_cue_count; i++) {
        fprintf(out, " cue=%d", view->urgency_cues[i]);
    }
    for (uint32_t i = 0; i < host->roster_count(host); i++) {
        const vigil_officer_t *o = host->roster_get(host, i);
        fprintf(out, " officer=%s/%d/%d/%u", o->id, o->role, o->on_call, o->open_cases);
        for (uint32_t l = 0; l < o->language_count; l++) {
            fprintf(out, ":%s", o->languages[l]);
        }
    }
    fputc('\n', out);
    fclose(out);
}

/* "ok" when a probe returned `rc` >= 0, else the errno's name. */
static const char *s_outcome(long rc, int error)
{
    if (rc >= 0) {
        return "ok";
    }
    switch (error) {
    case EPERM:
        return "EPERM";
    case ENOENT:
        return "ENOENT";
    case ESRCH:
        return "ESRCH";
    case ENOSYS:
        return "ENOSYS";
    default:
        return "other";
    }
}

static void *s_thread(void *arg)
{
    return arg;
}

static void s_probe(const test_state_t *s)
{
    FILE *out = fopen(s->dump_to, "a");
    if (!out) {
        return;
    }
    fputs("probe", out);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    fprintf(out, " socket_inet=%s", s_outcome(fd, errno));
    if (fd >= 0) {
        close(fd);
    }
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    fprintf(out, " socket_unix=%s", s_outcome(fd, errno));
    if (fd >= 0) {
        close(fd);
    }
    fflush(out); /* the child below must not write the buffer out again */
    pid_t child = fork();
    if (child == 0) {
        _exit(0);
    }
    fprintf(out, " fork=%s", s_outcome(child, errno));
    if (child > 0) {
        waitpid(child, NULL, 0);
    }
    char *const argv[] = {"vigil-probe", NULL};
    long rc = execve("/nonexistent/vigil-probe", argv, argv + 1); /* allowed: ENOENT */
    fprintf(out, " exec=%s", s_outcome(rc, errno));
    rc = kill(getppid(), 0); /* signal 0 only asks whether we may */
    fprintf(out, " kill_parent=%s", s_outcome(rc, errno));
    rc = kill(0, 0);
    fprintf(out, " kill_group=%s", s_outcome(rc, errno));
    errno = 0;                                      /* PEEKDATA's -1 may be data: errno tells */
    ptrace(PTRACE_PEEKDATA, getppid(), NULL, NULL); /* not tracing it: ESRCH if allowed */
    fprintf(out, " ptrace=%s", s_outcome(errno ? -1 : 0, errno));
    rc = kill(getpid(), 0);
    fprintf(out, " kill_self=%s", s_outcome(rc, errno));
    pthread_t thread;
    int error = pthread_create(&thread, NULL, s_thread, NULL);
    if (error == 0) {
        pthread_join(thread, NULL);
    }
    fprintf(out, " thread=%s", s_outcome(error ? -1 : 0, error));
    fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    fprintf(out, " read=%s\n", s_outcome(fd, errno));
    if (fd >= 0) {
        close(fd);
    }
    fclose(out);
}

enum {
    GARBLE_FD = 3,       /* the worker's socket to triage (policy_wire.h) */
    GARBLE_ROUTED = 103, /* the type of a routing answer */
    GARBLE_PAYLOAD = 8,  /* where triage expects the batch's sequence number */
    GARBLE_HEADER = 5,   /* length (4) and type (1) */
};

/* A well-framed routing answer whose content is nonsense. */
static void s_garble(void)
{
    uint8_t frame[GARBLE_HEADER + GARBLE_PAYLOAD];
    uint32_t length = GARBLE_PAYLOAD;
    memcpy(frame, &length, sizeof length);
    frame[4] = GARBLE_ROUTED;
    memset(frame + GARBLE_HEADER, 0xff, GARBLE_PAYLOAD);
    ssize_t n = write(GARBLE_FD, frame, sizeof frame);
    (void)n;
}

enum { HOG_CHUNK = 16 << 20, HOG_CHUNKS = 256 /* 4 GiB */ };

/* Takes memory until there is no more, then gives it all back. */
static void s_hog(void)
{
    static char *chunks[HOG_CHUNKS];
    for (int i = 0; i < HOG_CHUNKS; i++) {
        chunks[i] = malloc(HOG_CHUNK);
        if (!chunks[i]) {
            abort(); /* what most code does when malloc fails */
        }
    }
    for (int i = 0; i < HOG_CHUNKS; i++) {
        free(chunks[i]);
        chunks[i] = NULL;
    }
}

static int s_route(void *state, const vigil_host_api_t *host, const vigil_case_view_t *view,
                   vigil_decision_builder_t *decision)
{
    const test_state_t *s = state;
    if (s->crash_on && strcmp(s->crash_on, view->case_id) == 0) {
        signal(SIGSEGV, SIG_DFL); /* a real SIGSEGV, also under sanitizers */
        raise(SIGSEGV);
    }
    if (s->hang_on && strcmp(s->hang_on, view->case_id) == 0) {
        for (volatile int spin = 0;; spin++) {
        }
    }
    if (s->hog_on && strcmp(s->hog_on, view->case_id) == 0) {
        s_hog();
    }
    if (s->garble_on && strcmp(s->garble_on, view->case_id) == 0) {
        s_garble();
    }
    if (s->probe_on && s->dump_to && strcmp(s->probe_on, view->case_id) == 0) {
        s_probe(s);
    }
    if (s->dump_to) {
        s_dump(s, host, view);
    }
    const char *assignee = s->assignee;
    if (!assignee && host->roster_count(host) > 0) {
        assignee = host->roster_get(host, 0)->id;
    }
    if (!assignee || decision->set_assignee(decision, assignee) != VIGIL_PLUGIN_OK) {
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    if (s->escalation) {
        decision->set_escalation_path(decision, s->escalation);
    }
    if (s->refer && view->share_with_partners) {
        vigil_directory_query_t query = {
            .struct_size = sizeof query,
            .taxonomy_term = s->refer,
            .region = view->region,
            .state = view->state,
            .county_fips = view->county_fips,
            .zip3 = view->zip3,
            .language = view->language,
        };
        const vigil_directory_entry_t *found[TEST_DIRECTORY_MAX];
        int n = host->directory_find(host, &query, found, TEST_DIRECTORY_MAX);
        if (n > 0) {
            decision->add_referral(decision, found[0]->service_id, found[0]->organization_id,
                                   found[0]->taxonomy_term);
        }
    }
    decision->set_rationale(decision, "test plugin " TEST_PLUGIN_VERSION);
    return VIGIL_PLUGIN_OK;
}

static void s_fini(void *state)
{
    free(state);
}

VIGIL_PLUGIN(.name = "testplug", .version = TEST_PLUGIN_VERSION,
             .description = "triage integration-test plugin (never ship)", .init = s_init,
             .route = s_route, .fini = s_fini);
