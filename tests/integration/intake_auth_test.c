/* intake_auth_test.c: only allowlisted CURVE keys reach intake's handlers.
 *
 * Against a real vigil-intake, four kinds of caller each send a valid
 * contact: one without CURVE, one that trusts the wrong server key, one
 * whose key is not allowlisted, and one that writes raw bytes on a TCP
 * socket. None may get an answer, and the store (ledger, cases, the link's
 * inbox) must be exactly as before. Then an allowlisted publisher is
 * ACCEPTED, which shows the service was up and listening all along.
 *
 * Then its cert is removed from the allowlist while its connection stays
 * open: within the rescan interval (about a second) the same connection
 * is refused (REJECTED, REASON_NOT_PERMITTED) and stores nothing, and a new
 * connection with that key gets no answer. Put back, the key is admitted
 * again, on the old connection and on a new one.
 *
 * Last, what each source may send (intake.sources) changes with SIGHUP, as
 * an operator onboards or offboards an upstream system: county-jail-042,
 * refused INTAKE_CONTACT, is let send it; hotline-east, taken out of the
 * list, is refused on its open connection and stores nothing; a file with
 * an unknown type is refused whole and the sources stay as they ran.
 *
 * usage: intake_auth_test VIGIL_INTAKE TRIAGE_STANDIN
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "intake_kit.h"
#include "link_harness.h"

#define SILENCE_MS        1500
#define ANSWER_MS         5000
#define RESCAN_WAIT_MS    2500 /* past security.c's rescan interval (1 s) and mtime's second */
#define MT_CONTACT        VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT
#define ZMTP_GREETING_MAX 64
#define CONFIG_TEXT_MAX   8192 /* a ZMTP 3 greeting is 64 bytes; anything else is a reply */

typedef struct {
    long long events, cases, inbox;
} counts_t;

static void s_counts(kit_t *kit, counts_t *c)
{
    char db[KIT_PATH];
    kit_intake_db(kit, db);
    c->events = kit_query_int(db, "SELECT count(*) FROM intake_events");
    c->cases = kit_query_int(db, "SELECT count(*) FROM intake_cases");
    c->inbox = kit_query_int(db, "SELECT count(*) FROM link_inbox");
}

static int s_expect_silence(zsock_t *socket, const char *who, int index)
{
    KIT_CHECK(socket, "%s: socket not created", who);
    kit_contact_t storage;
    char event[32];
    snprintf(event, sizeof event, "auth-%d", index);
    kit_ack_t ack;
    int rc = kit_request(socket, MT_CONTACT, &kit_contact(&storage, event, index)->base, SILENCE_MS,
                         &ack);
    KIT_CHECK(rc == 0, "%s: got an answer (status %d)", who, ack.status);
    return 0;
}

static int s_raw_garbage(kit_t *kit)
{
    int port = atoi(strrchr(kit->intake_endpoint, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    KIT_CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0,
              "raw connect failed");
    char garbage[512];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (char)(i * 7 + 3);
    memcpy(garbage, "POST / HTTP/1.1\r\nHost: intake\r\n\r\n", 34);
    KIT_CHECK(write(fd, garbage, sizeof garbage) > 0, "raw write failed");
    size_t received = 0;
    long long deadline = kit_now_ms() + SILENCE_MS;
    while (kit_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        char buffer[1024];
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n <= 0)
            break; /* intake closed the connection */
        received += (size_t)n;
    }
    close(fd);
    KIT_CHECK(received <= ZMTP_GREETING_MAX, "raw garbage got %zu bytes back", received);
    return 0;
}

/* Replaces the first `from` in intake's config file with `to`, then sends
 * intake SIGHUP and waits until its log holds `logged`. Returns 0 or 1. */
static int s_edit_and_reload(kit_t *kit, const char *from, const char *to, const char *logged)
{
    char text[CONFIG_TEXT_MAX], edited[CONFIG_TEXT_MAX];
    FILE *f = fopen(kit->intake_config, "r");
    KIT_CHECK(f, "cannot read %s", kit->intake_config);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *at = strstr(text, from);
    KIT_CHECK(at, "'%s' is not in intake's config", from);
    snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    KIT_CHECK(harness_write(kit->intake_config, "%s", edited) == 0, "cannot write the config");
    KIT_CHECK(kill(kit->intake_pid, SIGHUP) == 0, "SIGHUP");
    long long deadline = kit_now_ms() + ANSWER_MS;
    while (!harness_file_contains(kit->intake_log, logged) && kit_now_ms() < deadline)
        kit_sleep_ms(50);
    KIT_CHECK(harness_file_contains(kit->intake_log, logged), "intake never logged '%s'", logged);
    return 0;
}

/* Sends one contact as event `event`; returns the answer's status, or -1
 * for none. `detail` (may be NULL) gets the answer's detail. */
static int s_contact_status(zsock_t *socket, const char *event, int index, char *detail,
                            size_t size)
{
    kit_contact_t storage;
    kit_ack_t ack;
    if (kit_request(socket, MT_CONTACT, &kit_contact(&storage, event, index)->base, ANSWER_MS,
                    &ack) != 1)
        return -1;
    if (detail)
        snprintf(detail, size, "%s", ack.detail);
    return ack.status;
}

/* intake.sources reloaded by SIGHUP: see the file comment. */
static int s_sources(kit_t *kit, zsock_t *hotline)
{
    char detail[256];
    counts_t before, after;
    zsock_t *county = kit_publisher(kit, "county-jail-042", NULL);
    KIT_CHECK(county, "county-jail-042 has no socket");
    s_counts(kit, &before);
    int status = s_contact_status(county, "src-1", 20, detail, sizeof detail);
    int failed = 0;
    if (status != VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED ||
        !strstr(detail, "may not send INTAKE_CONTACT")) {
        fprintf(stderr, "FAIL: county-jail-042's contact: status %d (%s)\n", status, detail);
        failed = 1;
    }
    failed = failed || s_edit_and_reload(kit, "may_send = [ \"CUSTODY_EVENT\" ]",
                                         "may_send = [ \"CUSTODY_EVENT\", \"INTAKE_CONTACT\" ]",
                                         "upstream source may send other types now");
    if (!failed && s_contact_status(county, "src-2", 21, NULL, 0) !=
                       VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED) {
        fprintf(stderr, "FAIL: county-jail-042's contact was not accepted after the reload\n");
        failed = 1;
    }
    s_counts(kit, &after);
    if (!failed && after.cases != before.cases + 1) {
        fprintf(stderr, "FAIL: %lld cases before, %lld after; expected one more\n", before.cases,
                after.cases);
        failed = 1;
    }
    /* hotline-east offboarded: renamed in the list, so it has no entry */
    failed = failed || s_edit_and_reload(kit, "name = \"hotline-east\"", "name = \"hotline-west\"",
                                         "upstream source removed");
    s_counts(kit, &before);
    if (!failed) {
        status = s_contact_status(hotline, "src-3", 22, detail, sizeof detail);
        s_counts(kit, &after);
        if (status != VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED ||
            !strstr(detail, "source hotline-east may not send") || after.events != before.events ||
            after.cases != before.cases) {
            fprintf(stderr, "FAIL: offboarded hotline-east: status %d (%s), cases %lld -> %lld\n",
                    status, detail, before.cases, after.cases);
            failed = 1;
        }
    }
    /* a file intake cannot load: nothing of it applies */
    failed = failed || s_edit_and_reload(kit, "\"INTAKE_CONTACT\" ]", "\"NO_SUCH_TYPE\" ]",
                                         "reload refused: config invalid");
    if (!failed && s_contact_status(county, "src-4", 23, NULL, 0) !=
                       VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED) {
        fprintf(stderr, "FAIL: county-jail-042 lost INTAKE_CONTACT to a refused reload\n");
        failed = 1;
    }
    zsock_destroy(&county);
    if (!failed)
        printf("intake.sources followed SIGHUP: a source let send contacts, one offboarded, a bad "
               "file refused\n");
    return failed;
}

/* Removes hotline-east's cert while `hotline`, its open connection, stays
 * up; then puts it back. */
static int s_revoke(kit_t *kit, zsock_t *hotline)
{
    char allowed[2 * KIT_PATH], cert[KIT_PATH];
    snprintf(allowed, sizeof allowed, "%s/keys/allow/intake/hotline-east.key", kit->intake_state);
    kit_cert(kit, "hotline-east", cert);
    KIT_CHECK(unlink(allowed) == 0, "cannot remove %s", allowed);
    kit_sleep_ms(RESCAN_WAIT_MS);
    counts_t before, after;
    s_counts(kit, &before);
    kit_contact_t storage;
    kit_ack_t ack;
    int rc = kit_request(hotline, MT_CONTACT, &kit_contact(&storage, "auth-revoked", 10)->base,
                         ANSWER_MS, &ack);
    KIT_CHECK(rc == 1, "the revoked key's open connection got no answer (%d)", rc);
    KIT_CHECK(ack.status == VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED &&
                  ack.reason == VIGIL__V1__REASON_CODE__REASON_NOT_PERMITTED &&
                  strstr(ack.detail, "allowlist"),
              "the revoked key's open connection was answered status %d reason %d (%s), not "
              "REJECTED NOT_PERMITTED",
              ack.status, ack.reason, ack.detail);
    s_counts(kit, &after);
    KIT_CHECK(after.events == before.events && after.cases == before.cases,
              "the revoked key's request was stored (events %lld -> %lld, cases %lld -> %lld)",
              before.events, after.events, before.cases, after.cases);
    zsock_t *fresh = kit_publisher(kit, "hotline-east", NULL);
    int failed = s_expect_silence(fresh, "revoked key, new connection", 11);
    zsock_destroy(&fresh);
    if (failed)
        return 1;

    KIT_CHECK(harness_copy(cert, allowed) == 0, "cannot put %s back", allowed);
    kit_sleep_ms(RESCAN_WAIT_MS);
    KIT_CHECK(kit_request(hotline, MT_CONTACT, &kit_contact(&storage, "auth-back", 12)->base,
                          ANSWER_MS, &ack) == 1 &&
                  ack.status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
              "the re-admitted key's open connection was not accepted (status %d: %s)", ack.status,
              ack.detail);
    fresh = kit_publisher(kit, "hotline-east", NULL);
    rc = kit_request(fresh, MT_CONTACT, &kit_contact(&storage, "auth-back-new", 13)->base,
                     ANSWER_MS, &ack);
    zsock_destroy(&fresh);
    KIT_CHECK(rc == 1 && ack.status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
              "the re-admitted key's new connection was not accepted (%d, status %d)", rc,
              ack.status);
    s_counts(kit, &after);
    KIT_CHECK(after.cases == 3, "expected 3 cases after re-admission, found %lld", after.cases);
    printf("a revoked key's open connection was refused and stored nothing; re-admitted, it was "
           "accepted again\n");
    return 0;
}

static int s_run(kit_t *kit)
{
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not start");
    counts_t before, after;
    s_counts(kit, &before);
    KIT_CHECK(before.events == 0 && before.cases == 0, "store not empty at start");

    zsock_t *plain = kit_publisher(kit, NULL, NULL);
    int failed = s_expect_silence(plain, "no CURVE", 1);
    zsock_destroy(&plain);
    if (failed)
        return 1;

    char wrong_server[KIT_PATH];
    kit_cert(kit, "rogue", wrong_server); /* a real key, but not intake's */
    zsock_t *mistrusting = kit_publisher(kit, "hotline-east", wrong_server);
    failed = s_expect_silence(mistrusting, "wrong server key", 2);
    zsock_destroy(&mistrusting);
    if (failed)
        return 1;

    zsock_t *rogue = kit_publisher(kit, "rogue", NULL);
    failed = s_expect_silence(rogue, "key not allowlisted", 3);
    zsock_destroy(&rogue);
    if (failed || s_raw_garbage(kit))
        return 1;

    s_counts(kit, &after);
    KIT_CHECK(after.events == before.events && after.cases == before.cases &&
                  after.inbox == before.inbox,
              "an unauthenticated request reached a handler (events %lld cases %lld inbox %lld)",
              after.events, after.cases, after.inbox);

    zsock_t *hotline = kit_publisher(kit, "hotline-east", NULL);
    kit_contact_t storage;
    kit_ack_t ack;
    KIT_CHECK(kit_request(hotline, MT_CONTACT, &kit_contact(&storage, "auth-ok", 9)->base,
                          ANSWER_MS, &ack) == 1 &&
                  ack.status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
              "the allowlisted publisher was not accepted");
    s_counts(kit, &after);
    KIT_CHECK(after.cases == 1, "expected exactly the one allowlisted case, found %lld",
              after.cases);
    printf("4 unauthenticated callers got no answer and changed nothing\n");
    failed = s_revoke(kit, hotline) || s_sources(kit, hotline);
    zsock_destroy(&hotline);
    return failed;
}

int main(int argc, char **argv)
{
    return kit_main(argc, argv, "intake-auth", NULL, s_run);
}
