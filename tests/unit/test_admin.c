/* test_admin.c: the admin endpoint answers vigilctl, and survives garbage.
 *
 * An admin server runs on its own zloop thread (as in a service) with two
 * dispatch tables, on a real ipc socket in a temporary state directory and
 * on a real CURVE tcp socket on 127.0.0.1. admin_call() is the client, as in
 * vigilctl. Replies carry what the handlers produced; handler failures,
 * unknown commands, garbage frames, wrong envelope types and oversized
 * frames get ok=false or are dropped, and the next request is still
 * answered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil/admin.h"
#include "vigil/log.h"
#include "vigil/security.h"
#include "vigil/util.h"
#include "vigil/v1/envelope.pb-c.h"

enum {
    TEST_TIMEOUT_MS = 5000,
    TEST_SILENCE_MS = 500,
    TEST_MAX_FRAME = 4096,
    TEST_ENDPOINT_MAX = 256,
};

typedef struct {
    const char *endpoint; /* what to bind */
    security_t *security; /* borrowed, may be NULL */
    char bound[TEST_ENDPOINT_MAX];
    char err[256];
} server_args_t;

static struct {
    char root[128];
    char ipc[TEST_ENDPOINT_MAX];
    zactor_t *ipc_server;
    server_args_t ipc_args;
    char client_secret[PATH_MAX];   /* allowlisted vigilctl key */
    char stranger_secret[PATH_MAX]; /* not allowlisted */
    char server_public[PATH_MAX];
    security_t *security;
    zactor_t *tcp_server;
    server_args_t tcp_args;
} s_fx;

/* --- handlers --------------------------------------------------------------- */

static char *s_dup(const char *text)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    return copy;
}

static Vigil__V1__ServiceStatus *s_status(const char *state)
{
    Vigil__V1__ServiceStatus *status = malloc(sizeof *status);
    vigil__v1__service_status__init(status);
    status->service = s_dup("test");
    status->version = s_dup("0.1.0");
    status->state = s_dup(state);
    status->ready = true;
    return status;
}

static int s_on_status(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                       Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)request;
    reply->status = s_status("running");
    reply->status->facts = calloc(1, sizeof *reply->status->facts);
    Vigil__V1__Fact *fact = malloc(sizeof *fact);
    vigil__v1__fact__init(fact);
    fact->key = s_dup("peer");
    fact->value = s_dup(peer);
    reply->status->facts[0] = fact;
    reply->status->n_facts = 1;
    return 0;
}

static int s_on_health_base(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                            Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)request;
    (void)peer;
    reply->status = s_status("base table");
    return 0;
}

static int s_on_health_override(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                                Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)request;
    (void)peer;
    reply->status = s_status("override table");
    return 0;
}

static int s_on_cases_list(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                           Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)peer;
    size_t count = request->limit ? request->limit : 1;
    reply->cases = calloc(count, sizeof *reply->cases);
    for (size_t i = 0; i < count; i++) {
        Vigil__V1__CaseSummary *summary = malloc(sizeof *summary);
        vigil__v1__case_summary__init(summary);
        char id[32];
        snprintf(id, sizeof id, "c_%zu", i);
        summary->case_id = s_dup(id);
        reply->cases[reply->n_cases++] = summary;
    }
    return 0;
}

static int s_on_reload_fails(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                             Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)request;
    (void)peer;
    reply->error = s_dup("reload refused: intake.conf:3: key 'x': unknown");
    return -1;
}

static int s_on_replay_fails_silently(void *ctx, const Vigil__V1__AdminRequest *request,
                                      const char *peer, Vigil__V1__AdminReply *reply)
{
    (void)ctx;
    (void)request;
    (void)peer;
    (void)reply;
    return -1;
}

static const admin_command_t s_base_table[] = {
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, s_on_status},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_HEALTH, s_on_health_base},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD, s_on_reload_fails},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DEADLETTERS_REPLAY, s_on_replay_fails_silently},
    {0, NULL},
};

static const admin_command_t s_service_table[] = {
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_HEALTH, s_on_health_override},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASES_LIST, s_on_cases_list},
    {0, NULL},
};

/* --- the server thread ------------------------------------------------------ */

static int s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void)loop;
    (void)arg;
    char *command = zstr_recv(pipe);
    zstr_free(&command);
    return -1; /* $TERM: stop the loop */
}

static void s_server_actor(zsock_t *pipe, void *arg)
{
    server_args_t *args = arg;
    zloop_t *loop = zloop_new();
    admin_server_t *admin = admin_server_new(args->endpoint, args->security, TEST_MAX_FRAME,
                                             args->err, sizeof args->err);
    if (!admin || admin_server_add(admin, s_base_table, NULL) ||
        admin_server_add(admin, s_service_table, NULL) ||
        admin_server_attach(admin, loop, args->err, sizeof args->err)) {
        admin_server_destroy(&admin);
        zloop_destroy(&loop);
        zsock_signal(pipe, 1);
        return;
    }
    snprintf(args->bound, sizeof args->bound, "%s", admin_server_endpoint(admin));
    zsock_signal(pipe, 0);
    zloop_reader(loop, pipe, s_on_pipe, NULL);
    zloop_start(loop);
    admin_server_destroy(&admin);
    zloop_destroy(&loop);
}

static zactor_t *s_start_server(server_args_t *args)
{
    zactor_t *actor = zactor_new(s_server_actor, args);
    assert_non_null(actor);
    if (args->bound[0] == '\0')
        fail_msg("admin server did not start: %s", args->err);
    return actor;
}

/* --- fixtures --------------------------------------------------------------- */

static void s_keygen(const char *relative, const char *name, char *secret_out)
{
    char path[PATH_MAX / 2];
    char err[256] = "";
    snprintf(path, sizeof path, "%s/%s", s_fx.root, relative);
    if (security_keygen(path, name, err, sizeof err) != 0)
        fail_msg("keygen: %s", err);
    if (secret_out)
        snprintf(secret_out, PATH_MAX, "%s_secret", path);
}

static int s_group_setup(void **state)
{
    (void)state;
    snprintf(s_fx.root, sizeof s_fx.root, "/tmp/vigil-test-admin-XXXXXX");
    assert_non_null(mkdtemp(s_fx.root));
    snprintf(s_fx.ipc, sizeof s_fx.ipc, "ipc://%s/test.admin", s_fx.root);
    s_fx.ipc_args.endpoint = s_fx.ipc;
    s_fx.ipc_server = s_start_server(&s_fx.ipc_args);

    /* TCP: the server admits the vigilctl key only. */
    char server_secret[PATH_MAX];
    s_keygen("keys/test.key", "test", server_secret);
    snprintf(s_fx.server_public, sizeof s_fx.server_public, "%s/keys/test.key", s_fx.root);
    s_keygen("allow/vigilctl.key", "vigilctl", NULL);
    s_keygen("other/stranger.key", "stranger", s_fx.stranger_secret);
    /* The allowlist keeps only the public half. */
    snprintf(s_fx.client_secret, sizeof s_fx.client_secret, "%s/vigilctl.key_secret", s_fx.root);
    char allowed_secret[PATH_MAX];
    snprintf(allowed_secret, sizeof allowed_secret, "%s/allow/vigilctl.key_secret", s_fx.root);
    assert_int_equal(rename(allowed_secret, s_fx.client_secret), 0);

    char allow_dir[PATH_MAX];
    snprintf(allow_dir, sizeof allow_dir, "%s/allow", s_fx.root);
    char err[256] = "";
    security_config_t config = {.cert_path = server_secret, .allow_dir = allow_dir};
    s_fx.security = security_new(&config, err, sizeof err);
    if (!s_fx.security)
        fail_msg("security: %s", err);
    s_fx.tcp_args.endpoint = "tcp://127.0.0.1:*";
    s_fx.tcp_args.security = s_fx.security;
    s_fx.tcp_server = s_start_server(&s_fx.tcp_args);
    return 0;
}

static int s_group_teardown(void **state)
{
    (void)state;
    zactor_destroy(&s_fx.ipc_server);
    zactor_destroy(&s_fx.tcp_server);
    security_destroy(&s_fx.security);
    char command[PATH_MAX];
    snprintf(command, sizeof command, "rm -rf '%s'", s_fx.root);
    return system(command) == 0 ? 0 : -1;
}

/* --- helpers ---------------------------------------------------------------- */

static Vigil__V1__AdminReply *s_call(Vigil__V1__AdminCommand command, uint32_t limit)
{
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    request.command = command;
    request.limit = limit;
    request.operator_id = "op-7";
    char err[256] = "";
    Vigil__V1__AdminReply *reply =
        admin_call(s_fx.ipc, NULL, NULL, &request, TEST_TIMEOUT_MS, err, sizeof err);
    if (!reply)
        fail_msg("admin_call: %s", err);
    return reply;
}

/* Sends raw bytes on a DEALER and returns the unpacked reply, or NULL if
 * none came within `wait_ms`. */
static Vigil__V1__AdminReply *s_raw(const void *bytes, size_t len, int wait_ms)
{
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    zsock_set_linger(dealer, 0);
    assert_int_equal(zsock_connect(dealer, "%s", s_fx.ipc), 0);
    zframe_t *frame = zframe_new(bytes, len);
    assert_int_equal(zframe_send(&frame, dealer, 0), 0);
    zsock_set_rcvtimeo(dealer, wait_ms);
    zframe_t *answer = zframe_recv(dealer);
    zsock_destroy(&dealer);
    if (!answer)
        return NULL;
    Vigil__V1__Envelope *envelope =
        vigil__v1__envelope__unpack(NULL, zframe_size(answer), zframe_data(answer));
    zframe_destroy(&answer);
    assert_non_null(envelope);
    assert_int_equal(envelope->type, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ADMIN_REPLY);
    Vigil__V1__AdminReply *reply =
        vigil__v1__admin_reply__unpack(NULL, envelope->payload.len, envelope->payload.data);
    vigil__v1__envelope__free_unpacked(envelope, NULL);
    assert_non_null(reply);
    return reply;
}

static void s_expect_status_still_answered(void)
{
    Vigil__V1__AdminReply *reply = s_call(VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, 0);
    assert_true(reply->ok);
    assert_string_equal(reply->status->service, "test");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
}

/* --- tests ------------------------------------------------------------------ */

static void test_status_round_trip_over_ipc(void **state)
{
    (void)state;
    Vigil__V1__AdminReply *reply = s_call(VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, 0);
    assert_true(reply->ok);
    assert_string_equal(reply->error, "");
    assert_non_null(reply->status);
    assert_string_equal(reply->status->service, "test");
    assert_string_equal(reply->status->state, "running");
    assert_int_equal(reply->status->n_facts, 1);
    assert_string_equal(reply->status->facts[0]->value, "local"); /* ipc peer */
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    /* Only the owner may connect: CASE_SHOW answers with personal data. */
    struct stat st;
    assert_int_equal(stat(s_fx.ipc + strlen("ipc://"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_service_table_adds_and_overrides_commands(void **state)
{
    (void)state;
    Vigil__V1__AdminReply *reply = s_call(VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASES_LIST, 3);
    assert_true(reply->ok);
    assert_int_equal(reply->n_cases, 3);
    assert_string_equal(reply->cases[2]->case_id, "c_2");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    reply = s_call(VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_HEALTH, 0);
    assert_true(reply->ok);
    assert_string_equal(reply->status->state, "override table");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
}

static void test_failures_come_back_as_ok_false_with_a_reason(void **state)
{
    (void)state;
    Vigil__V1__AdminReply *reply = s_call(VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD, 0);
    assert_false(reply->ok);
    assert_string_equal(reply->error, "reload refused: intake.conf:3: key 'x': unknown");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    reply = s_call(VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DEADLETTERS_REPLAY, 0);
    assert_false(reply->ok);
    assert_non_null(strstr(reply->error, "DEADLETTERS_REPLAY failed"));
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    reply = s_call(VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_ROTATE_KEY, 0);
    assert_false(reply->ok);
    assert_non_null(strstr(reply->error, "ROTATE_KEY is not supported"));
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    reply = s_call(VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_UNSPECIFIED, 0);
    assert_false(reply->ok);
    assert_non_null(strstr(reply->error, "no command"));
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    reply = s_call((Vigil__V1__AdminCommand)999, 0);
    assert_false(reply->ok);
    assert_non_null(strstr(reply->error, "999"));
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
}

static void test_garbage_frame_gets_an_error_and_the_server_lives_on(void **state)
{
    (void)state;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x07, 'n', 'o', 'p', 'e'};
    Vigil__V1__AdminReply *reply = s_raw(garbage, sizeof garbage, TEST_TIMEOUT_MS);
    assert_non_null(reply);
    assert_false(reply->ok);
    assert_non_null(strstr(reply->error, "malformed request"));
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    /* An empty frame decodes as an empty Envelope: wrong type. */
    reply = s_raw("", 0, TEST_TIMEOUT_MS);
    assert_non_null(reply);
    assert_false(reply->ok);
    assert_non_null(strstr(reply->error, "envelope type"));
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    /* A valid Envelope whose payload is not an AdminRequest. */
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ADMIN_REQUEST;
    envelope.payload.data = (uint8_t *)garbage;
    envelope.payload.len = sizeof garbage;
    uint8_t packed[64];
    size_t len = vigil__v1__envelope__pack(&envelope, packed);
    reply = s_raw(packed, len, TEST_TIMEOUT_MS);
    assert_non_null(reply);
    assert_false(reply->ok);
    assert_non_null(strstr(reply->error, "not an AdminRequest"));
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    s_expect_status_still_answered();
}

static void test_oversized_frame_is_dropped_and_the_server_lives_on(void **state)
{
    (void)state;
    size_t len = 2 * TEST_MAX_FRAME;
    uint8_t *big = calloc(1, len);
    assert_null(s_raw(big, len, TEST_SILENCE_MS));
    free(big);
    s_expect_status_still_answered();
}

static void test_no_server_is_a_clear_error(void **state)
{
    (void)state;
    char endpoint[TEST_ENDPOINT_MAX];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/nobody.admin", s_fx.root);
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    request.command = VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS;
    char err[512] = "";
    assert_null(admin_call(endpoint, NULL, NULL, &request, TEST_SILENCE_MS, err, sizeof err));
    assert_non_null(strstr(err, "nobody.admin"));
    assert_non_null(strstr(err, "is the service running"));
}

static void test_tcp_admin_needs_an_allowlisted_curve_key(void **state)
{
    (void)state;
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    request.command = VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS;
    char err[512] = "";
    const char *endpoint = s_fx.tcp_args.bound;
    assert_non_null(strstr(endpoint, "tcp://127.0.0.1:"));
    assert_null(strstr(endpoint, "*"));

    Vigil__V1__AdminReply *reply = admin_call(endpoint, s_fx.client_secret, s_fx.server_public,
                                              &request, TEST_TIMEOUT_MS, err, sizeof err);
    if (!reply)
        fail_msg("allowlisted admin_call: %s", err);
    assert_true(reply->ok);
    assert_string_equal(reply->status->facts[0]->value, "vigilctl"); /* the cert's name */
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    assert_null(admin_call(endpoint, s_fx.stranger_secret, s_fx.server_public, &request,
                           TEST_SILENCE_MS, err, sizeof err));
    assert_non_null(strstr(err, "no reply"));

    assert_null(admin_call(endpoint, NULL, NULL, &request, TEST_SILENCE_MS, err, sizeof err));
    assert_non_null(strstr(err, "needs a client secret cert"));
}

int main(void)
{
    log_init("test_admin", LOG_LEVEL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_round_trip_over_ipc),
        cmocka_unit_test(test_service_table_adds_and_overrides_commands),
        cmocka_unit_test(test_failures_come_back_as_ok_false_with_a_reason),
        cmocka_unit_test(test_garbage_frame_gets_an_error_and_the_server_lives_on),
        cmocka_unit_test(test_oversized_frame_is_dropped_and_the_server_lives_on),
        cmocka_unit_test(test_no_server_is_a_clear_error),
        cmocka_unit_test(test_tcp_admin_needs_an_allowlisted_curve_key),
    };
    int failed = cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
    zsys_shutdown();
    return failed;
}
