/* net_vigilctl_test.c: the vigilctl binary against real admin sockets.
 *
 * Usage: net_vigilctl_test PATH_TO_VIGILCTL
 *
 * Two admin endpoints ("intake" and "triage") run on their own zloop
 * threads in a temporary state directory, with handlers that answer as the
 * real services would, and record what they were asked. vigilctl runs as a
 * real child process; the test checks its exit codes, what it printed, and
 * what reached the services. The intake stand-in misbehaves on purpose: it
 * puts a decrypted contact into its CASES_LIST reply, and vigilctl must not
 * print it; only `case show` (audited, with --operator) may.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vigil/admin.h"
#include "vigil/log.h"
#include "vigil/security.h"

extern char **environ;

enum {
    TEST_OUTPUT_MAX = 1 << 16,
    TEST_ARGS_MAX = 16,
};

#define TEST_PHONE   "+15555550142"
#define TEST_GIVEN   "Alexandra"
#define TEST_TIMEOUT "3000"

static struct {
    const char *vigilctl;
    char root[128];
    zactor_t *intake;
    zactor_t *triage;
    /* What the stand-ins were asked (written on their threads, read after
     * the reply arrived, so the socket round trip orders them). */
    char last_operator[128];
    char last_target[128];
    char last_arg[PATH_MAX];
    char out[TEST_OUTPUT_MAX];
    char err[TEST_OUTPUT_MAX];
} s_fx;

/* --- stand-in handlers ------------------------------------------------------ */

static char *s_dup(const char *text)
{
    return strdup(text);
}

static void s_record(const Vigil__V1__AdminRequest *request)
{
    snprintf(s_fx.last_operator, sizeof s_fx.last_operator, "%s", request->operator_id);
    snprintf(s_fx.last_target, sizeof s_fx.last_target, "%s", request->target);
    snprintf(s_fx.last_arg, sizeof s_fx.last_arg, "%s",
             request->n_args > 0 ? request->args[0] : "");
}

static Vigil__V1__Fact *s_fact(const char *key, const char *value)
{
    Vigil__V1__Fact *fact = malloc(sizeof *fact);
    vigil__v1__fact__init(fact);
    fact->key = s_dup(key);
    fact->value = s_dup(value);
    return fact;
}

static Vigil__V1__IntakeContact *s_contact(void)
{
    Vigil__V1__IntakeContact *contact = malloc(sizeof *contact);
    vigil__v1__intake_contact__init(contact);
    contact->event_id = s_dup("hotline-000417");
    contact->channel = VIGIL__V1__CHANNEL__CHANNEL_HOTLINE;
    Vigil__V1__VictimContact *victim = malloc(sizeof *victim);
    vigil__v1__victim_contact__init(victim);
    victim->given_name = s_dup(TEST_GIVEN);
    victim->phone = s_dup(TEST_PHONE);
    contact->victim = victim;
    contact->narrative = s_dup("he followed me home again");
    return contact;
}

static Vigil__V1__CaseSummary *s_summary(const char *case_id)
{
    Vigil__V1__CaseSummary *summary = malloc(sizeof *summary);
    vigil__v1__case_summary__init(summary);
    summary->case_id = s_dup(case_id);
    summary->received_at_ms = 1790000000000;
    summary->source = s_dup("hotline");
    summary->channel = VIGIL__V1__CHANNEL__CHANNEL_HOTLINE;
    summary->crime_category = VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_STALKING;
    summary->state = s_dup("OR");
    summary->event_id = s_dup("hotline-000417");
    return summary;
}

static Vigil__V1__ServiceStatus *s_status(const char *service, bool ready)
{
    Vigil__V1__ServiceStatus *status = malloc(sizeof *status);
    vigil__v1__service_status__init(status);
    status->service = s_dup(service);
    status->version = s_dup("0.1.0");
    status->uptime_s = 7384;
    status->ready = ready;
    status->state = s_dup("running");
    status->facts = malloc(sizeof *status->facts);
    status->facts[0] = s_fact("metrics", "http port 9100");
    status->n_facts = 1;
    return status;
}

static int s_on_status(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                       Vigil__V1__AdminReply *reply)
{
    (void)request;
    (void)peer;
    reply->status = s_status(ctx, true);
    reply->metrics = malloc(sizeof *reply->metrics);
    Vigil__V1__Metric *metric = malloc(sizeof *metric);
    vigil__v1__metric__init(metric);
    metric->name = s_dup("vigil_messages_total");
    metric->labels = s_dup("outcome=\"accepted\"");
    metric->value = 42;
    reply->metrics[0] = metric;
    reply->n_metrics = 1;
    return 0;
}

static int s_on_health_not_ready(void *ctx, const Vigil__V1__AdminRequest *request,
                                 const char *peer, Vigil__V1__AdminReply *reply)
{
    (void)request;
    (void)peer;
    reply->status = s_status(ctx, false);
    return 0;
}

static int s_on_cases_list(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                           Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)peer;
    s_record(request);
    reply->cases = malloc(2 * sizeof *reply->cases);
    reply->cases[0] = s_summary("c_9f3a");
    reply->cases[1] = s_summary("c_77b1");
    reply->n_cases = 2;
    reply->case_contact = s_contact(); /* a bug vigilctl must not pass on */
    return 0;
}

static int s_on_case_show(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                          Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)peer;
    s_record(request);
    reply->case_summary = s_summary(request->target);
    reply->case_contact = s_contact();
    return 0;
}

static int s_on_deadletters_list(void *ctx, const Vigil__V1__AdminRequest *request,
                                 const char *peer, Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)peer;
    s_record(request);
    Vigil__V1__DeadLetter *letter = malloc(sizeof *letter);
    vigil__v1__dead_letter__init(letter);
    letter->id = 7;
    letter->type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW;
    letter->source = s_dup("intake");
    letter->reason = s_dup("plugin east: init failed");
    letter->attempts = 5;
    letter->first_failed_at_ms = 1790000000000;
    letter->last_failed_at_ms = 1790000060000;
    reply->dead_letters = malloc(sizeof *reply->dead_letters);
    reply->dead_letters[0] = letter;
    reply->n_dead_letters = 1;
    return 0;
}

static int s_on_replay(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                       Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)peer;
    s_record(request);
    reply->affected = 1;
    return 0;
}

static int s_on_reload_refused(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                               Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)request;
    (void)peer;
    reply->error = s_dup("reload refused: triage.conf:12: key 'regions': expected a list");
    return -1;
}

static int s_on_directory_import(void *ctx, const Vigil__V1__AdminRequest *request,
                                 const char *peer, Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)peer;
    s_record(request);
    reply->affected = 12;
    return 0;
}

static const admin_command_t s_intake_table[] = {
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, s_on_status},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_HEALTH, s_on_health_not_ready},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASES_LIST, s_on_cases_list},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW, s_on_case_show},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DEADLETTERS_LIST, s_on_deadletters_list},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DEADLETTERS_REPLAY, s_on_replay},
    {0, NULL},
};

static const admin_command_t s_triage_table[] = {
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, s_on_status},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD, s_on_reload_refused},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DIRECTORY_IMPORT, s_on_directory_import},
    {0, NULL},
};

/* --- stand-in services ------------------------------------------------------ */

typedef struct {
    const char *name;
    const admin_command_t *table;
} stand_in_t;

static int s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void)loop;
    (void)arg;
    char *command = zstr_recv(pipe);
    zstr_free(&command);
    return -1;
}

static void s_stand_in(zsock_t *pipe, void *arg)
{
    const stand_in_t *self = arg;
    char endpoint[256];
    char err[256] = "";
    snprintf(endpoint, sizeof endpoint, "ipc://%s/%s.admin", s_fx.root, self->name);
    zloop_t *loop = zloop_new();
    admin_server_t *admin = admin_server_new(endpoint, NULL, 0, err, sizeof err);
    if (!admin || admin_server_add(admin, self->table, (void *)self->name) ||
        admin_server_attach(admin, loop, err, sizeof err)) {
        fprintf(stderr, "stand-in %s: %s\n", self->name, err);
        admin_server_destroy(&admin);
        zloop_destroy(&loop);
        zsock_signal(pipe, 1);
        return;
    }
    zsock_signal(pipe, 0);
    zloop_reader(loop, pipe, s_on_pipe, NULL);
    zloop_start(loop);
    admin_server_destroy(&admin);
    zloop_destroy(&loop);
}

/* --- running vigilctl ------------------------------------------------------- */

static void s_slurp(const char *path, char *out, size_t outlen)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    size_t n = fread(out, 1, outlen - 1, file);
    out[n] = '\0';
    fclose(file);
}

/* Runs vigilctl with --state-dir ROOT --timeout and the given words;
 * returns its exit code, with its stdout and stderr in s_fx.out / s_fx.err. */
static int s_vigilctl(const char *first, ...)
{
    char *argv[TEST_ARGS_MAX];
    int argc = 0;
    argv[argc++] = (char *)s_fx.vigilctl;
    argv[argc++] = "--state-dir";
    argv[argc++] = s_fx.root;
    argv[argc++] = "--timeout";
    argv[argc++] = TEST_TIMEOUT;
    va_list args;
    va_start(args, first);
    for (const char *word = first; word && argc < TEST_ARGS_MAX - 1;
         word = va_arg(args, const char *))
        argv[argc++] = (char *)word;
    va_end(args);
    argv[argc] = NULL;

    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%s/stdout", s_fx.root);
    snprintf(err_path, sizeof err_path, "%s/stderr", s_fx.root);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, s_fx.vigilctl, &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    s_slurp(out_path, s_fx.out, sizeof s_fx.out);
    s_slurp(err_path, s_fx.err, sizeof s_fx.err);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void s_expect_out(const char *text)
{
    if (!strstr(s_fx.out, text))
        fail_msg("expected '%s' on stdout; got:\n%s\nstderr:\n%s", text, s_fx.out, s_fx.err);
}

static void s_expect_err(const char *text)
{
    if (!strstr(s_fx.err, text))
        fail_msg("expected '%s' on stderr; got:\n%s", text, s_fx.err);
}

static void s_expect_no_personal_data(void)
{
    static const char *const personal[] = {TEST_PHONE, TEST_GIVEN, "followed me", NULL};
    for (const char *const *value = personal; *value; value++)
        if (strstr(s_fx.out, *value) || strstr(s_fx.err, *value))
            fail_msg("vigilctl printed personal data '%s':\n%s", *value, s_fx.out);
}

/* --- fixtures --------------------------------------------------------------- */

static stand_in_t s_intake = {"intake", s_intake_table};
static stand_in_t s_triage = {"triage", s_triage_table};

static int s_group_setup(void **state)
{
    (void)state;
    snprintf(s_fx.root, sizeof s_fx.root, "/tmp/vigil-test-vigilctl-XXXXXX");
    assert_non_null(mkdtemp(s_fx.root));
    s_fx.intake = zactor_new(s_stand_in, &s_intake);
    s_fx.triage = zactor_new(s_stand_in, &s_triage);
    assert_non_null(s_fx.intake);
    assert_non_null(s_fx.triage);
    return 0;
}

static int s_group_teardown(void **state)
{
    (void)state;
    zactor_destroy(&s_fx.intake);
    zactor_destroy(&s_fx.triage);
    char command[PATH_MAX];
    snprintf(command, sizeof command, "rm -rf '%s'", s_fx.root);
    return system(command) == 0 ? 0 : -1;
}

/* --- tests ------------------------------------------------------------------ */

static void test_keygen_files_load_and_are_accepted_by_security(void **state)
{
    (void)state;
    char path[PATH_MAX / 2];
    snprintf(path, sizeof path, "%s/keys/alpha.key", s_fx.root);
    assert_int_equal(s_vigilctl("keygen", path, "--name", "hotline-alpha", NULL), 0);
    s_expect_out("hotline-alpha");

    char secret[PATH_MAX];
    snprintf(secret, sizeof secret, "%s_secret", path);
    zcert_t *public_half = zcert_load(path);
    zcert_t *both = zcert_load(secret);
    assert_non_null(public_half);
    assert_non_null(both);
    assert_string_equal(zcert_public_txt(public_half), zcert_public_txt(both));
    assert_string_equal(zcert_meta(public_half, "name"), "hotline-alpha");
    s_expect_out(zcert_public_txt(public_half));           /* the public key is shown */
    assert_null(strstr(s_fx.out, zcert_secret_txt(both))); /* the secret never */
    struct stat st;
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    char err[256] = "";
    security_config_t config = {.cert_path = secret};
    security_t *security = security_new(&config, err, sizeof err);
    if (!security)
        fail_msg("security_new refused vigilctl's key: %s", err);
    security_destroy(&security);

    /* Never overwrite an identity. */
    assert_int_equal(s_vigilctl("keygen", path, NULL), 1);
    s_expect_err("already exists");
    zcert_t *again = zcert_load(path);
    assert_string_equal(zcert_public_txt(again), zcert_public_txt(public_half));
    zcert_destroy(&again);
    zcert_destroy(&public_half);
    zcert_destroy(&both);

    /* Default name: the file stem. */
    snprintf(path, sizeof path, "%s/keys/bravo.key", s_fx.root);
    assert_int_equal(s_vigilctl("keygen", path, NULL), 0);
    zcert_t *bravo = zcert_load(path);
    assert_string_equal(zcert_meta(bravo, "name"), "bravo");
    zcert_destroy(&bravo);
}

static void test_status_finds_every_service_and_prints_a_table(void **state)
{
    (void)state;
    assert_int_equal(s_vigilctl("status", NULL), 0);
    s_expect_out("SERVICE");
    s_expect_out("intake");
    s_expect_out("triage");
    s_expect_out("2h03m");
    s_expect_out("vigil_messages_total{outcome=\"accepted\"}");
    s_expect_out("http port 9100");

    assert_int_equal(s_vigilctl("status", "--json", "triage", NULL), 0);
    json_error_t error;
    json_t *root = json_loads(s_fx.out, 0, &error);
    if (!root)
        fail_msg("status --json is not JSON (%s):\n%s", error.text, s_fx.out);
    json_t *triage = json_object_get(root, "triage");
    assert_true(json_is_true(json_object_get(triage, "ok")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(triage, "status"), "service")), "triage");
    json_decref(root);
}

static void test_health_not_ready_and_missing_service(void **state)
{
    (void)state;
    assert_int_equal(s_vigilctl("health", "intake", NULL), 1);
    s_expect_out("NOT ready");
    assert_int_equal(s_vigilctl("health", "notification", NULL), 69);
    s_expect_err("is the service running");
    assert_int_equal(s_vigilctl("status", "intake", "notification", NULL), 69);
    s_expect_out("no answer");
}

static void test_cases_list_never_prints_personal_data(void **state)
{
    (void)state;
    assert_int_equal(s_vigilctl("cases", "list", "--limit", "2", NULL), 0);
    s_expect_out("c_9f3a");
    s_expect_out("STALKING");
    s_expect_no_personal_data();
    assert_int_equal(s_vigilctl("--json", "cases", "list", NULL), 0);
    s_expect_out("c_77b1");
    s_expect_no_personal_data();
}

static void test_case_show_needs_an_operator_and_shows_the_contact(void **state)
{
    (void)state;
    s_fx.last_target[0] = '\0';
    assert_int_equal(s_vigilctl("case", "show", "c_9f3a", NULL), 64);
    s_expect_err("--operator");
    assert_string_equal(s_fx.last_target, ""); /* never asked */

    assert_int_equal(s_vigilctl("case", "show", "c_9f3a", "--operator", "op-117", NULL), 0);
    assert_string_equal(s_fx.last_target, "c_9f3a");
    assert_string_equal(s_fx.last_operator, "op-117");
    s_expect_out("AUDITED");
    s_expect_out(TEST_PHONE);
    s_expect_out("given_name: " TEST_GIVEN);
}

static void test_dead_letters_list_and_replay(void **state)
{
    (void)state;
    assert_int_equal(s_vigilctl("deadletters", "list", "intake", NULL), 0);
    s_expect_out("CASE_VIEW");
    s_expect_out("plugin east: init failed");
    s_expect_out("2026-09-21"); /* 1790000000000 ms, UTC */

    assert_int_equal(s_vigilctl("deadletters", "replay", "intake", NULL), 64);
    assert_int_equal(s_vigilctl("deadletters", "replay", "intake", "seven", NULL), 64);
    assert_int_equal(s_vigilctl("deadletters", "replay", "intake", "7", NULL), 0);
    assert_string_equal(s_fx.last_target, "7");
    s_expect_out("1 dead letter replayed");
    assert_int_equal(s_vigilctl("deadletters", "replay", "intake", "--all", NULL), 0);
    assert_string_equal(s_fx.last_target, "");
}

static void test_refusals_and_unsupported_commands_exit_non_zero(void **state)
{
    (void)state;
    assert_int_equal(s_vigilctl("reload", "triage", NULL), 1);
    s_expect_err("triage: reload refused: triage.conf:12");
    assert_int_equal(s_vigilctl("rotate-key", NULL), 1);
    s_expect_err("ROTATE_KEY is not supported");
    assert_int_equal(s_vigilctl("--json", "reload", "triage", NULL), 1);
    s_expect_out("\"ok\": false");
}

static void test_directory_import_sends_an_absolute_path(void **state)
{
    (void)state;
    char relative[PATH_MAX];
    snprintf(relative, sizeof relative, "%s/hsds", s_fx.root);
    assert_int_equal(mkdir(relative, 0700), 0);
    char *cwd = getcwd(NULL, 0);
    assert_int_equal(chdir(s_fx.root), 0);
    /* --state-dir is absolute, so the relative path is the only thing the
     * changed directory affects. */
    int code = s_vigilctl("directory", "import", "hsds", NULL);
    assert_int_equal(chdir(cwd), 0);
    free(cwd);
    assert_int_equal(code, 0);
    char real[PATH_MAX];
    assert_non_null(realpath(relative, real));
    assert_string_equal(s_fx.last_arg, real);
    s_expect_out("12 directory entries imported");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_VIGILCTL\n", argv[0]);
        return 64;
    }
    static char vigilctl[PATH_MAX];
    if (!realpath(argv[1], vigilctl)) {
        fprintf(stderr, "%s: no such file\n", argv[1]);
        return 64;
    }
    s_fx.vigilctl = vigilctl; /* absolute: one test changes directory */
    log_init("net_vigilctl_test", LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_files_load_and_are_accepted_by_security),
        cmocka_unit_test(test_status_finds_every_service_and_prints_a_table),
        cmocka_unit_test(test_health_not_ready_and_missing_service),
        cmocka_unit_test(test_cases_list_never_prints_personal_data),
        cmocka_unit_test(test_case_show_needs_an_operator_and_shows_the_contact),
        cmocka_unit_test(test_dead_letters_list_and_replay),
        cmocka_unit_test(test_refusals_and_unsupported_commands_exit_non_zero),
        cmocka_unit_test(test_directory_import_sends_an_absolute_path),
    };
    int failed = cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
    zsys_shutdown();
    return failed;
}
