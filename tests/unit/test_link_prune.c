/* test_link_prune.c: retention pruning of the receiver's dedup records.
 *
 * With link.inbox_retention_days set, the server's loop timer deletes inbox
 * records handled longer ago than that, a bounded number per step, while
 * recent records stay and keep answering retransmissions DUPLICATE. A
 * retention of 0 (and a zero-initialised config) keeps every record. A step
 * never runs inside a transaction someone else has open. Old records are
 * written straight into the real sqlite file with an old handled_at_ms;
 * nobody waits 30 days.
 */
#include "link_fixture.h"
#include "vigil/metrics.h"

#define PRUNE_RETENTION_DAYS 30
#define PRUNE_MS_PER_DAY     INT64_C(86400000)
#define PRUNE_WAIT_TICKS     12 /* ticks a test waits at most for a full pass */
#define PRUNE_IDLE_TICKS     2  /* ticks that must pass without any pruning */

static const char s_pruned_metric[] = "vigil_link_inbox_pruned_total";

/* Writes an ACCEPTED record for `id`, handled `age_days` ago, with the case
 * id "case-<seq>". */
static void s_record(fixture_t *f, const uint8_t *id, int age_days, uint64_t seq)
{
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "INSERT INTO link_inbox (message_id, status, case_id, "
                                        "peer, handled_at_ms) VALUES (?1, ?2, ?3, 'fixture', ?4)",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    char case_id[FIXTURE_PATH];
    snprintf(case_id, sizeof case_id, "case-%llu", (unsigned long long)seq);
    sqlite3_bind_blob(stmt, 1, id, VIGIL_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED);
    sqlite3_bind_text(stmt, 3, case_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, util_now_ms() - age_days * PRUNE_MS_PER_DAY);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
}

/* Writes `count` records with random ids, all handled `age_days` ago. */
static void s_records(fixture_t *f, int count, int age_days)
{
    assert_int_equal(store_begin(f->db), 0);
    for (int i = 0; i < count; i++) {
        uint8_t id[VIGIL_ID_BYTES];
        util_random_id(id);
        s_record(f, id, age_days, (uint64_t)i);
    }
    assert_int_equal(store_commit(f->db), 0);
}

/* Records handled before the retention cutoff. */
static long long s_expired(fixture_t *f)
{
    char sql[FIXTURE_PATH];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM link_inbox WHERE handled_at_ms < %lld",
             (long long)(util_now_ms() - PRUNE_RETENTION_DAYS * PRUNE_MS_PER_DAY));
    return fixture_count(f, sql);
}

static bool s_has_record(fixture_t *f, const uint8_t *id)
{
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db, "SELECT 1 FROM link_inbox WHERE message_id = ?1", -1,
                                        &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, id, VIGIL_ID_BYTES, SQLITE_STATIC);
    bool found = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_finalize(stmt);
    return found;
}

/* The value of vigil_link_inbox_pruned_total. */
static long long s_pruned(metrics_t *metrics)
{
    return fixture_metric(metrics, s_pruned_metric);
}

/* A server with `retention_days` and a metrics registry, attached to the
 * fixture's loop: its pruning timer starts now. */
static link_server_t *s_server(fixture_t *f, int retention_days, fixture_handler_t *handler,
                               metrics_t *metrics)
{
    link_server_config_t config = fixture_server_config(f, 3);
    config.inbox_retention_days = retention_days;
    return fixture_server_metered(f, &config, handler, metrics);
}

/* Runs the loop tick by tick until no expired record is left (bounded). */
static void s_await_pruned(fixture_t *f)
{
    for (int tick = 0; tick < PRUNE_WAIT_TICKS && s_expired(f) > 0; tick++)
        fixture_spin(f, LINK_PRUNE_INTERVAL_MS);
}

static void test_expired_records_go_in_bounded_steps_and_recent_ones_stay(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    const int expired = 2 * LINK_PRUNE_STEP_ROWS + 100;
    s_records(&f, expired, PRUNE_RETENTION_DAYS + 1);
    uint8_t recent[VIGIL_ID_BYTES];
    util_random_id(recent);
    s_record(&f, recent, PRUNE_RETENTION_DAYS - 1, 7);
    metrics_t *metrics = metrics_new("test");
    assert_non_null(metrics);
    fixture_handler_t handler = {0};
    link_server_t *server = s_server(&f, PRUNE_RETENTION_DAYS, &handler, metrics);

    /* One tick: one step, at most LINK_PRUNE_STEP_ROWS records looked at. */
    fixture_spin(&f, LINK_PRUNE_INTERVAL_MS + LINK_PRUNE_INTERVAL_MS / 2);
    long long gone = expired - s_expired(&f);
    assert_true(gone >= 1);
    assert_true(gone <= LINK_PRUNE_STEP_ROWS);
    assert_int_equal(s_pruned(metrics), gone);

    s_await_pruned(&f);
    assert_int_equal(s_expired(&f), 0);
    assert_int_equal(s_pruned(metrics), expired);
    assert_true(s_has_record(&f, recent));
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox"), 1);

    /* The recent record still answers its retransmission. */
    zsock_t *dealer = fixture_dealer(&f);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    fixture_send_probe(dealer, recent, 7);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE);
    assert_string_equal(answers[0].case_id, "case-7");
    assert_int_equal(handler.calls, 0);
    assert_int_equal(fixture_effects(&f, 7), 0);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    metrics_destroy(&metrics);
    fixture_close(&f);
}

/* Pruning the largest recorded id lowers the dedup watermark: ids at or
 * below the new largest one are still looked up, new ones are accepted, and
 * the pruned one is new again (the retention rule). */
static void test_pruning_the_newest_record_keeps_dedup_exact(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    uint8_t high[VIGIL_ID_BYTES], middle[VIGIL_ID_BYTES], between[VIGIL_ID_BYTES];
    memset(high, 0xEE, sizeof high);
    memset(middle, 0x77, sizeof middle);
    memset(between, 0x99, sizeof between);
    s_record(&f, high, PRUNE_RETENTION_DAYS + 1, 1);
    s_record(&f, middle, 0, 2);
    fixture_handler_t handler = {0};
    link_server_t *server = s_server(&f, PRUNE_RETENTION_DAYS, &handler, NULL);
    s_await_pruned(&f);
    assert_false(s_has_record(&f, high));

    zsock_t *dealer = fixture_dealer(&f);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    fixture_send_probe(dealer, middle, 2);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE);
    fixture_send_probe(dealer, between, 3);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED);
    fixture_send_probe(dealer, between, 3);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE);
    fixture_send_probe(dealer, high, 1);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED);
    assert_int_equal(handler.calls, 2);
    assert_int_equal(fixture_effects(&f, 2), 0);
    assert_int_equal(fixture_effects(&f, 3), 1);
    assert_int_equal(fixture_effects(&f, 1), 1);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

static void test_retention_zero_keeps_every_record(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    const int old = 10;
    s_records(&f, old, PRUNE_RETENTION_DAYS * 100);
    uint8_t ancient[VIGIL_ID_BYTES];
    util_random_id(ancient);
    s_record(&f, ancient, PRUNE_RETENTION_DAYS * 100, 5);
    metrics_t *metrics = metrics_new("test");
    assert_non_null(metrics);
    fixture_handler_t handler = {0};
    link_server_t *server = s_server(&f, 0, &handler, metrics);
    fixture_spin(&f, PRUNE_IDLE_TICKS * LINK_PRUNE_INTERVAL_MS + LINK_PRUNE_INTERVAL_MS / 2);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox"), old + 1);
    assert_int_equal(s_pruned(metrics), 0);

    zsock_t *dealer = fixture_dealer(&f);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    fixture_send_probe(dealer, ancient, 5);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE);
    assert_string_equal(answers[0].case_id, "case-5");
    assert_int_equal(handler.calls, 0);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    metrics_destroy(&metrics);
    fixture_close(&f);
}

/* Writes a link_attempts row for `id`, last counted `age_days` ago. */
static void s_attempt(fixture_t *f, const uint8_t *id, int age_days)
{
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "INSERT INTO link_attempts (message_id, attempts, "
                                        "first_failed_at_ms, last_failed_at_ms, reason) "
                                        "VALUES (?1, 1, ?2, ?2, 'handler failed')",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, id, VIGIL_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, util_now_ms() - age_days * PRUNE_MS_PER_DAY);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
}

/* The failure count of a message its sender gave up on goes after the same
 * retention as the inbox records; a recent one stays. */
static void test_old_attempt_counts_are_pruned_and_recent_ones_stay(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    uint8_t abandoned[VIGIL_ID_BYTES], retrying[VIGIL_ID_BYTES];
    util_random_id(abandoned);
    util_random_id(retrying);
    s_attempt(&f, abandoned, PRUNE_RETENTION_DAYS + 1);
    s_attempt(&f, retrying, 1);
    s_records(&f, 10, PRUNE_RETENTION_DAYS - 1); /* an inbox to pass over first */
    fixture_handler_t handler = {0};
    link_server_t *server = s_server(&f, PRUNE_RETENTION_DAYS, &handler, NULL);
    for (int tick = 0;
         tick < PRUNE_WAIT_TICKS && fixture_count(&f, "SELECT count(*) FROM link_attempts") > 1;
         tick++)
        fixture_spin(&f, LINK_PRUNE_INTERVAL_MS);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_attempts"), 1);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(f.db, "SELECT 1 FROM link_attempts WHERE message_id = ?1",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, retrying, VIGIL_ID_BYTES, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    sqlite3_finalize(stmt);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox"), 10);
    link_server_destroy(&server);
    fixture_close(&f);
}

/* A transaction open on the store (as a batch or a service's own work would
 * have) is never joined or ended by a pruning step; pruning resumes once it
 * is over. */
static void test_pruning_never_runs_inside_an_open_transaction(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    const int old = 10;
    s_records(&f, old, PRUNE_RETENTION_DAYS + 1);
    metrics_t *metrics = metrics_new("test");
    assert_non_null(metrics);
    fixture_handler_t handler = {0};
    link_server_t *server = s_server(&f, PRUNE_RETENTION_DAYS, &handler, metrics);

    assert_int_equal(sqlite3_exec(f.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    fixture_spin(&f, PRUNE_IDLE_TICKS * LINK_PRUNE_INTERVAL_MS + LINK_PRUNE_INTERVAL_MS / 2);
    assert_int_equal(sqlite3_get_autocommit(f.db), 0); /* still our transaction */
    assert_int_equal(s_expired(&f), old);
    assert_int_equal(s_pruned(metrics), 0);
    assert_int_equal(sqlite3_exec(f.db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);

    s_await_pruned(&f);
    assert_int_equal(s_expired(&f), 0);
    assert_int_equal(s_pruned(metrics), old);
    link_server_destroy(&server);
    metrics_destroy(&metrics);
    fixture_close(&f);
}

static void test_a_negative_retention_is_refused(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    config.inbox_retention_days = -1;
    char err[FIXTURE_ERR] = "";
    link_server_t *server =
        link_server_new(&config, f.db, NULL, NULL, NULL, fixture_routes, &handler, err, sizeof err);
    assert_null(server);
    assert_non_null(strstr(err, "inbox_retention_days"));
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expired_records_go_in_bounded_steps_and_recent_ones_stay),
        cmocka_unit_test(test_pruning_the_newest_record_keeps_dedup_exact),
        cmocka_unit_test(test_retention_zero_keeps_every_record),
        cmocka_unit_test(test_old_attempt_counts_are_pruned_and_recent_ones_stay),
        cmocka_unit_test(test_pruning_never_runs_inside_an_open_transaction),
        cmocka_unit_test(test_a_negative_retention_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
