/* test_security.c: only allowlisted CURVE clients reach a vigil server.
 *
 * Real ZeroMQ sockets on 127.0.0.1 (a port the kernel picks), real key files
 * written by security_keygen() in a temporary directory. An allowlisted
 * client gets its message through and is named after its cert; a plain
 * client, a client holding the wrong server key and a client whose key is
 * not in the allowlist get nothing through: the server socket stays silent.
 * A cert dropped into the allowlist later is admitted and named; a removed
 * one is refused after a reload. Secret files open to others are refused,
 * and insecure mode warns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil/log.h"
#include "vigil/security.h"

enum {
    TEST_REPLY_WAIT_MS = 5000, /* generous: a real handshake on a loaded machine */
    TEST_SILENCE_MS = 750,     /* how long a refused client must stay unheard */
    TEST_LOG_MAX = 8192,
};

static struct {
    char root[128];
    char server_cert[PATH_MAX];   /* server.key (public) + server.key_secret */
    char allow_dir[PATH_MAX];     /* allow/ */
    char hotline_cert[PATH_MAX];  /* clients/hotline.key, copied into allow/ */
    char stranger_cert[PATH_MAX]; /* clients/stranger.key, never allowlisted */
    security_t *server;           /* the server's security, with the ZAP handler */
    zsock_t *router;              /* CURVE server socket */
    int port;
} s_fx;

static void s_path(char *out, const char *relative)
{
    snprintf(out, PATH_MAX, "%s/%s", s_fx.root, relative);
}

static void s_copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void s_keygen(const char *relative, const char *name, char *out_path)
{
    char err[256] = "";
    s_path(out_path, relative);
    int rc = security_keygen(out_path, name, err, sizeof err);
    if (rc != 0)
        fail_msg("keygen %s: %s", out_path, err);
}

/* A DEALER that speaks CURVE as `client_secret` to a server whose public
 * key is `server_key` (a cert path or Z85), or plain when both are NULL. */
static zsock_t *s_client(const char *client_secret, const char *server_key)
{
    zsock_t *socket = zsock_new(ZMQ_DEALER);
    assert_non_null(socket);
    zsock_set_linger(socket, 0);
    if (client_secret) {
        char err[256] = "";
        security_config_t config = {.cert_path = client_secret};
        security_t *security = security_new(&config, err, sizeof err);
        if (!security)
            fail_msg("client security: %s", err);
        char endpoint[64];
        snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", s_fx.port);
        if (security_apply_client(security, socket, endpoint, server_key, err, sizeof err))
            fail_msg("apply client: %s", err);
        security_destroy(&security);
        assert_null(security);
    }
    assert_int_equal(zsock_connect(socket, "tcp://127.0.0.1:%d", s_fx.port), 0);
    return socket;
}

/* Receives one message on the server within `wait_ms`, or NULL. */
static zmsg_t *s_server_recv(int wait_ms)
{
    zsock_set_rcvtimeo(s_fx.router, wait_ms);
    return zmsg_recv(s_fx.router);
}

static int s_group_setup(void **state)
{
    (void)state;
    snprintf(s_fx.root, sizeof s_fx.root, "/tmp/vigil-test-security-XXXXXX");
    assert_non_null(mkdtemp(s_fx.root));
    s_keygen("keys/server.key", "intake", s_fx.server_cert);
    s_keygen("clients/hotline.key", "hotline", s_fx.hotline_cert);
    s_keygen("clients/stranger.key", "stranger", s_fx.stranger_cert);
    s_path(s_fx.allow_dir, "allow");
    assert_int_equal(mkdir(s_fx.allow_dir, 0700), 0);
    char allowed[PATH_MAX];
    s_path(allowed, "allow/hotline.key");
    s_copy_file(s_fx.hotline_cert, allowed);

    char secret[PATH_MAX + 8];
    snprintf(secret, sizeof secret, "%s_secret", s_fx.server_cert);
    char err[256] = "";
    security_config_t config = {.cert_path = secret, .allow_dir = s_fx.allow_dir};
    s_fx.server = security_new(&config, err, sizeof err);
    if (!s_fx.server)
        fail_msg("server security: %s", err);
    assert_false(security_insecure(s_fx.server));

    s_fx.router = zsock_new(ZMQ_ROUTER);
    zsock_set_linger(s_fx.router, 0);
    assert_int_equal(
        security_apply_server(s_fx.server, s_fx.router, "tcp://127.0.0.1:*", err, sizeof err), 0);
    s_fx.port = zsock_bind(s_fx.router, "tcp://127.0.0.1:*");
    assert_true(s_fx.port > 0);
    return 0;
}

static int s_group_teardown(void **state)
{
    (void)state;
    zsock_destroy(&s_fx.router);
    security_destroy(&s_fx.server);
    char command[PATH_MAX + 16];
    snprintf(command, sizeof command, "rm -rf '%s'", s_fx.root);
    return system(command) == 0 ? 0 : -1;
}

static void test_server_socket_is_curve_with_enforced_zap_domain(void **state)
{
    (void)state;
    int value = 0;
    size_t len = sizeof value;
    assert_int_equal(
        zmq_getsockopt(zsock_resolve(s_fx.router), ZMQ_ZAP_ENFORCE_DOMAIN, &value, &len), 0);
    assert_int_equal(value, 1);
    assert_int_equal(zsock_curve_server(s_fx.router), 1);
    char *domain = zsock_zap_domain(s_fx.router);
    assert_string_equal(domain, SECURITY_ZAP_DOMAIN);
    zstr_free(&domain);
}

static void test_allowlisted_client_is_answered_and_named(void **state)
{
    (void)state;
    char secret[PATH_MAX + 8];
    snprintf(secret, sizeof secret, "%s_secret", s_fx.hotline_cert);
    zsock_t *client = s_client(secret, s_fx.server_cert);
    assert_int_equal(zstr_send(client, "case c_1 please"), 0);

    zmsg_t *msg = s_server_recv(TEST_REPLY_WAIT_MS);
    assert_non_null(msg);
    assert_int_equal(zmsg_size(msg), 2);
    zframe_t *body = zmsg_last(msg);
    assert_true(zframe_streq(body, "case c_1 please"));
    assert_string_equal(security_peer_name(s_fx.server, body), "hotline");

    /* Reply on the same routing id; the client must get it. */
    zframe_t *old = zmsg_last(msg);
    zmsg_remove(msg, old);
    zframe_destroy(&old);
    zmsg_addstr(msg, "accepted");
    assert_int_equal(zmsg_send(&msg, s_fx.router), 0);
    zsock_set_rcvtimeo(client, TEST_REPLY_WAIT_MS);
    char *answer = zstr_recv(client);
    assert_non_null(answer);
    assert_string_equal(answer, "accepted");
    zstr_free(&answer);
    zsock_destroy(&client);
}

static void test_refused_clients_never_reach_the_server(void **state)
{
    (void)state;
    zcert_t *impostor = zcert_new();
    char stranger_secret[PATH_MAX + 8];
    snprintf(stranger_secret, sizeof stranger_secret, "%s_secret", s_fx.stranger_cert);
    char hotline_secret[PATH_MAX + 8];
    snprintf(hotline_secret, sizeof hotline_secret, "%s_secret", s_fx.hotline_cert);

    struct {
        const char *what;
        zsock_t *socket;
    } refused[] = {
        {"plain client without CURVE", s_client(NULL, NULL)},
        {"allowlisted key but wrong server key",
         s_client(hotline_secret, zcert_public_txt(impostor))},
        {"valid CURVE key not in the allowlist", s_client(stranger_secret, s_fx.server_cert)},
    };
    size_t count = sizeof refused / sizeof refused[0];
    for (size_t i = 0; i < count; i++)
        assert_int_equal(zstr_send(refused[i].socket, "let me in"), 0);

    zmsg_t *leaked = s_server_recv(TEST_SILENCE_MS);
    if (leaked) {
        zmsg_destroy(&leaked);
        fail_msg("a refused client reached the server socket");
    }
    for (size_t i = 0; i < count; i++) {
        zsock_set_rcvtimeo(refused[i].socket, 0);
        char *answer = zstr_recv(refused[i].socket);
        if (answer)
            fail_msg("%s got an answer", refused[i].what);
    }

    /* The server still works, and nothing of the refused clients is queued
     * ahead of a good client's message. */
    zsock_t *good = s_client(hotline_secret, s_fx.server_cert);
    assert_int_equal(zstr_send(good, "marker"), 0);
    zmsg_t *msg = s_server_recv(TEST_REPLY_WAIT_MS);
    assert_non_null(msg);
    assert_true(zframe_streq(zmsg_last(msg), "marker"));
    zmsg_destroy(&msg);
    assert_null(s_server_recv(0));

    zsock_destroy(&good);
    for (size_t i = 0; i < count; i++)
        zsock_destroy(&refused[i].socket);
    zcert_destroy(&impostor);
}

static void test_cert_added_later_is_admitted_and_removed_cert_refused(void **state)
{
    (void)state;
    char late_cert[PATH_MAX];
    s_keygen("clients/late.key", NULL, late_cert); /* no name: the file stem names it */
    char late_secret[PATH_MAX + 8];
    snprintf(late_secret, sizeof late_secret, "%s_secret", late_cert);

    zsock_t *refused = s_client(late_secret, s_fx.server_cert);
    assert_int_equal(zstr_send(refused, "before"), 0);
    assert_null(s_server_recv(TEST_SILENCE_MS));
    zsock_destroy(&refused);

    uint64_t before = security_allowlist_generation(s_fx.server);
    assert_int_equal(security_allowlist_generation(s_fx.server), before); /* nothing changed */
    char allowed[PATH_MAX];
    s_path(allowed, "allow/latecomer.key");
    s_copy_file(late_cert, allowed);

    zsock_t *client = s_client(late_secret, s_fx.server_cert);
    assert_int_equal(zstr_send(client, "after"), 0);
    zmsg_t *msg = s_server_recv(TEST_REPLY_WAIT_MS);
    assert_non_null(msg);
    assert_true(zframe_streq(zmsg_last(msg), "after"));
    assert_string_equal(security_peer_name(s_fx.server, zmsg_last(msg)), "latecomer");
    zsock_destroy(&client);
    /* The name came from a rebuilt table: whoever cached names must see. */
    uint64_t admitted = security_allowlist_generation(s_fx.server);
    assert_true(admitted != before);

    /* Revoked: remove the file and reload; a frame from that key names
     * nobody, and a new connection is refused. */
    assert_int_equal(unlink(allowed), 0);
    char err[256] = "";
    assert_int_equal(security_reload(s_fx.server, err, sizeof err), 0);
    assert_null(security_peer_name(s_fx.server, zmsg_last(msg)));
    assert_true(security_allowlist_generation(s_fx.server) != admitted);
    zmsg_destroy(&msg);
    client = s_client(late_secret, s_fx.server_cert);
    assert_int_equal(zstr_send(client, "revoked"), 0);
    assert_null(s_server_recv(TEST_SILENCE_MS));
    zsock_destroy(&client);
}

static void test_ipc_peer_is_local(void **state)
{
    (void)state;
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/local.sock", s_fx.root);
    char err[256] = "";
    zsock_t *server = zsock_new(ZMQ_ROUTER);
    zsock_set_linger(server, 0);
    assert_int_equal(security_apply_server(s_fx.server, server, endpoint, err, sizeof err), 0);
    assert_int_equal(zsock_curve_server(server), 0); /* ipc stays plain */
    assert_int_equal(zsock_bind(server, "%s", endpoint), 0);
    zsock_t *client = zsock_new(ZMQ_DEALER);
    zsock_set_linger(client, 0);
    assert_int_equal(zsock_connect(client, "%s", endpoint), 0);
    assert_int_equal(zstr_send(client, "hi"), 0);
    zsock_set_rcvtimeo(server, TEST_REPLY_WAIT_MS);
    zmsg_t *msg = zmsg_recv(server);
    assert_non_null(msg);
    assert_string_equal(security_peer_name(s_fx.server, zmsg_last(msg)), "local");
    zmsg_destroy(&msg);
    zsock_destroy(&client);
    zsock_destroy(&server);
}

static void test_secret_key_open_to_others_is_refused(void **state)
{
    (void)state;
    char cert[PATH_MAX];
    s_keygen("keys/loose.key", "loose", cert);
    char secret[PATH_MAX + 8];
    snprintf(secret, sizeof secret, "%s_secret", cert);
    assert_int_equal(chmod(secret, 0640), 0);
    char err[512] = "";
    security_config_t config = {.cert_path = secret};
    assert_null(security_new(&config, err, sizeof err));
    assert_non_null(strstr(err, secret));
    assert_non_null(strstr(err, "chmod 600"));

    assert_int_equal(chmod(secret, 0600), 0);
    security_t *security = security_new(&config, err, sizeof err);
    assert_non_null(security);
    security_destroy(&security);
}

static void test_missing_key_and_tcp_without_keys_are_errors(void **state)
{
    (void)state;
    char missing[PATH_MAX];
    s_path(missing, "keys/nobody.key_secret");
    char err[512] = "";
    security_config_t config = {.cert_path = missing};
    assert_null(security_new(&config, err, sizeof err));
    assert_non_null(strstr(err, missing));
    assert_non_null(strstr(err, "vigilctl keygen"));

    zsock_t *socket = zsock_new(ZMQ_ROUTER);
    assert_int_equal(security_apply_server(NULL, socket, "tcp://127.0.0.1:*", err, sizeof err), -1);
    assert_non_null(strstr(err, "tcp://127.0.0.1:*"));
    zsock_destroy(&socket);
}

/* A peer's server key that names a folder or a FIFO is refused at once;
 * zcert_load() alone would fail vaguely on the folder and wait forever on
 * the FIFO. */
static void test_server_key_must_be_a_regular_file(void **state)
{
    (void)state;
    char secret[PATH_MAX + 8], folder[PATH_MAX], fifo[PATH_MAX];
    snprintf(secret, sizeof secret, "%s_secret", s_fx.hotline_cert);
    s_path(folder, "keys");
    s_path(fifo, "peer.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char err[512] = "";
    security_config_t config = {.cert_path = secret};
    security_t *security = security_new(&config, err, sizeof err);
    assert_non_null(security);
    const char *const paths[] = {folder, fifo};
    for (size_t i = 0; i < 2; i++) {
        zsock_t *socket = zsock_new(ZMQ_DEALER);
        err[0] = '\0';
        assert_int_equal(
            security_apply_client(security, socket, "tcp://127.0.0.1:1", paths[i], err, sizeof err),
            -1);
        assert_non_null(strstr(err, paths[i]));
        assert_non_null(strstr(err, "not a regular file"));
        zsock_destroy(&socket);
    }
    security_destroy(&security);
    unlink(fifo);
}

static void test_insecure_mode_warns_on_start(void **state)
{
    (void)state;
    char log_path[PATH_MAX];
    s_path(log_path, "insecure.log");
    int fd = open(log_path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    assert_true(fd >= 0);
    log_set_fd(fd);
    char err[256] = "";
    security_config_t config = {.insecure = true};
    security_t *security = security_new(&config, err, sizeof err);
    log_set_fd(-1);
    assert_non_null(security);
    assert_true(security_insecure(security));

    /* TCP sockets stay plain in insecure mode. */
    zsock_t *socket = zsock_new(ZMQ_ROUTER);
    assert_int_equal(security_apply_server(security, socket, "tcp://127.0.0.1:*", err, sizeof err),
                     0);
    assert_int_equal(zsock_curve_server(socket), 0);
    zsock_destroy(&socket);
    security_destroy(&security);

    char text[TEST_LOG_MAX] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    assert_true(n > 0);
    assert_non_null(strstr(text, "level=warn"));
    assert_non_null(strstr(text, "SECURITY DISABLED"));
}

static void test_keygen_writes_a_loadable_private_pair(void **state)
{
    (void)state;
    char cert[PATH_MAX];
    s_keygen("keys/new/triage.key", "triage", cert);
    char secret[PATH_MAX + 8];
    snprintf(secret, sizeof secret, "%s_secret", cert);
    struct stat st;
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    zcert_t *public_half = zcert_load(cert);
    zcert_t *both = zcert_load(secret);
    assert_non_null(public_half);
    assert_non_null(both);
    assert_string_equal(zcert_public_txt(public_half), zcert_public_txt(both));
    assert_string_equal(zcert_meta(both, "name"), "triage");
    assert_string_not_equal(zcert_secret_txt(both), "0000000000000000000000000000000000000000");
    zcert_destroy(&public_half);
    zcert_destroy(&both);

    /* A second keygen must not overwrite the identity. */
    char err[512] = "";
    assert_int_equal(security_keygen(cert, "triage", err, sizeof err), -1);
    assert_non_null(strstr(err, "already exists"));
}

int main(void)
{
    log_init("test_security", LOG_LEVEL_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_socket_is_curve_with_enforced_zap_domain),
        cmocka_unit_test(test_allowlisted_client_is_answered_and_named),
        cmocka_unit_test(test_refused_clients_never_reach_the_server),
        cmocka_unit_test(test_cert_added_later_is_admitted_and_removed_cert_refused),
        cmocka_unit_test(test_ipc_peer_is_local),
        cmocka_unit_test(test_secret_key_open_to_others_is_refused),
        cmocka_unit_test(test_missing_key_and_tcp_without_keys_are_errors),
        cmocka_unit_test(test_server_key_must_be_a_regular_file),
        cmocka_unit_test(test_insecure_mode_warns_on_start),
        cmocka_unit_test(test_keygen_writes_a_loadable_private_pair),
    };
    int failed = cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
    zsys_shutdown();
    return failed;
}
