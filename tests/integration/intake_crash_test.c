/* intake_crash_test.c: SIGKILL never loses or doubles an event.
 *
 * A pipelined publisher sends 20,000 distinct contacts to a real
 * vigil-intake and resends every unanswered one after a timeout with the
 * same message id and event id, as a real upstream client does. Meanwhile
 * the test SIGKILLs intake at least 10 times at random moments and starts
 * it again. Afterwards: every event was answered ACCEPTED or DUPLICATE, each
 * answer's case id is the one stored for that event, intake's store holds
 * each event exactly once, the triage stand-in received each case exactly
 * once, and both sqlite files pass PRAGMA integrity_check.
 *
 * usage: intake_crash_test VIGIL_INTAKE TRIAGE_STANDIN [EVENTS]
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "intake_kit.h"
#include "vigil/util.h"

#define DEFAULT_EVENTS 20000
#define KILLS          12
#define MIN_KILLS      10
#define WINDOW         512
#define RESEND_MS      1500
#define RESEND_SCAN_MS 200
#define RUN_LIMIT_MS   150000
#define DRAIN_LIMIT_MS 60000
#define KILL_JITTER_MS 40
#define MT_CONTACT     VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT
#define ST(name)       VIGIL__V1__ACK_STATUS__ACK_STATUS_##name

typedef struct {
    uint8_t id[16];
    long long sent_at;
    int status; /* 0 until answered ACCEPTED or DUPLICATE */
    bool in_flight;
    char case_id[64];
} event_t;

static int s_send(zsock_t *socket, event_t *events, int index)
{
    kit_contact_t storage;
    char event_id[32];
    snprintf(event_id, sizeof event_id, "crash-%06d", index);
    Vigil__V1__IntakeContact *c = kit_contact(&storage, event_id, index);
    uint8_t buffer[2048];
    size_t len = vigil__v1__intake_contact__pack(c, buffer);
    events[index].sent_at = kit_now_ms();
    events[index].in_flight = true;
    return kit_send(socket, MT_CONTACT, buffer, len, events[index].id);
}

static int s_compare_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static int s_integrity(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int ok = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL) == SQLITE_OK &&
             sqlite3_step(stmt) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") == 0;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return ok ? 0 : -1;
}

/* Every answered case id must be the one stored for its event. */
static int s_check_case_ids(const char *intake_db, event_t *events, int count)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    KIT_CHECK(sqlite3_open_v2(intake_db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
                  sqlite3_prepare_v2(db, "SELECT event_id, case_id FROM intake_cases", -1, &stmt,
                                     NULL) == SQLITE_OK,
              "open intake db");
    int matched = 0, mismatched = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        int index = atoi((const char *)sqlite3_column_text(stmt, 0) + strlen("crash-"));
        if (index < 0 || index >= count ||
            strcmp(events[index].case_id, (const char *)sqlite3_column_text(stmt, 1)) != 0)
            mismatched++;
        else
            matched++;
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    KIT_CHECK(mismatched == 0 && matched == count, "%d answers carry the stored case id, %d do not",
              matched, mismatched);
    return 0;
}

static int s_run(kit_t *kit, int count)
{
    KIT_CHECK(kit_start_standin(kit) == 0, "stand-in did not start");
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not start");
    zsock_t *socket = kit_publisher(kit, "hotline-east", NULL);
    KIT_CHECK(socket, "publisher socket");
    zsock_set_sndhwm(socket, WINDOW * 4);
    zsock_set_rcvhwm(socket, WINDOW * 4);

    event_t *events = calloc((size_t)count, sizeof *events);
    KIT_CHECK(events, "out of memory");
    for (int i = 0; i < count; i++) {
        util_random_id(events[i].id);
        uint32_t be = htonl((uint32_t)i);
        memcpy(events[i].id + 12, &be, 4); /* the index, to find the event from its ack */
    }
    int thresholds[KILLS];
    for (int k = 0; k < KILLS; k++)
        thresholds[k] = count / 40 + (int)util_random_below((uint32_t)(count * 9 / 10));
    qsort(thresholds, KILLS, sizeof thresholds[0], s_compare_int);

    int next = 0, answered = 0, inflight = 0, kills = 0, resends = 0, duplicates = 0;
    long long start = kit_now_ms(), last_scan = start;
    while (answered < count && kit_now_ms() - start < RUN_LIMIT_MS) {
        while (inflight < WINDOW && next < count) {
            KIT_CHECK(s_send(socket, events, next) == 0, "send failed");
            next++;
            inflight++;
        }
        long long now = kit_now_ms();
        if (now - last_scan >= RESEND_SCAN_MS) {
            last_scan = now;
            for (int i = 0; i < next; i++)
                if (events[i].in_flight && now - events[i].sent_at >= RESEND_MS) {
                    s_send(socket, events, i);
                    resends++;
                }
        }
        kit_ack_t ack;
        int rc;
        while ((rc = kit_receive(socket, 20, &ack)) == 1) {
            uint32_t be;
            memcpy(&be, ack.message_id + 12, 4);
            uint32_t index = ntohl(be);
            KIT_CHECK(index < (uint32_t)count && memcmp(ack.message_id, events[index].id, 16) == 0,
                      "an answer for a message never sent");
            KIT_CHECK(ack.status != ST(REJECTED) && ack.status != ST(DEAD_LETTERED),
                      "event %u answered %d (%s)", index, ack.status, ack.detail);
            if (ack.status == ST(RETRY) || !events[index].in_flight)
                continue;
            events[index].in_flight = false;
            events[index].status = ack.status;
            duplicates += ack.status == ST(DUPLICATE);
            snprintf(events[index].case_id, sizeof events[index].case_id, "%s", ack.case_id);
            answered++;
            inflight--;
        }
        KIT_CHECK(rc >= 0, "a frame that is not an Ack");
        if (kills < KILLS && answered >= thresholds[kills]) {
            kit_sleep_ms((int)util_random_below(KILL_JITTER_MS));
            kit_kill_intake(kit);
            kills++;
            KIT_CHECK(kit_start_intake(kit) == 0, "intake did not restart after kill %d", kills);
        }
    }
    long long elapsed = kit_now_ms() - start;
    printf("%d events answered in %lld ms, %d SIGKILLs, %d resends, %d DUPLICATE answers\n",
           answered, elapsed, kills, resends, duplicates);
    KIT_CHECK(answered == count, "only %d of %d events answered", answered, count);
    KIT_CHECK(kills >= MIN_KILLS, "only %d kills", kills);

    char intake_db[KIT_PATH], triage_db[KIT_PATH], sql[256];
    kit_intake_db(kit, intake_db);
    kit_triage_db(kit, triage_db);
    KIT_CHECK(kit_query_int(intake_db, "SELECT count(*) FROM intake_cases") == count &&
                  kit_query_int(intake_db, "SELECT count(DISTINCT event_id) FROM intake_cases") ==
                      count &&
                  kit_query_int(intake_db, "SELECT count(*) FROM intake_events") == count,
              "intake's store does not hold each event exactly once");
    if (s_check_case_ids(intake_db, events, count))
        return 1;
    long long deadline = kit_now_ms() + DRAIN_LIMIT_MS;
    while (kit_query_int(triage_db, "SELECT count(*) FROM standin_views") < count &&
           kit_now_ms() < deadline)
        kit_sleep_ms(100);
    long long views = kit_query_int(triage_db, "SELECT count(*) FROM standin_views");
    long long distinct =
        kit_query_int(triage_db, "SELECT count(DISTINCT case_id) FROM standin_views");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM standin_views WHERE case_id IN "
             "(SELECT case_id FROM intake.intake_cases)");
    KIT_CHECK(views == count && distinct == count, "stand-in holds %lld views, %lld distinct",
              views, distinct);
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char attach[KIT_PATH + 64];
    snprintf(attach, sizeof attach, "ATTACH DATABASE 'file:%s?mode=ro' AS intake", intake_db);
    KIT_CHECK(sqlite3_open_v2(triage_db, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) ==
                      SQLITE_OK &&
                  sqlite3_exec(db, attach, NULL, NULL, NULL) == SQLITE_OK &&
                  sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
                  sqlite3_step(stmt) == SQLITE_ROW,
              "cross-check query failed: %s", sqlite3_errmsg(db));
    long long matching = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    KIT_CHECK(matching == count, "only %lld stand-in views match intake's cases", matching);
    kit_kill_intake(kit);
    KIT_CHECK(s_integrity(intake_db) == 0 && s_integrity(triage_db) == 0, "integrity_check failed");
    free(events);
    zsock_destroy(&socket);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s VIGIL_INTAKE TRIAGE_STANDIN [EVENTS]\n", argv[0]);
        return 2;
    }
    int count = argc > 3 ? atoi(argv[3]) : DEFAULT_EVENTS;
    kit_t kit;
    /* Quieter logs: 12 restarts of info lines add up. */
    if (kit_setup(&kit, "intake-crash", argv[1], argv[2], NULL)) {
        fprintf(stderr, "FAIL: kit setup\n");
        kit_teardown(&kit);
        return 1;
    }
    int rc = s_run(&kit, count);
    kit_teardown(&kit);
    printf("%s\n", rc ? "FAIL" : "PASS");
    return rc;
}
