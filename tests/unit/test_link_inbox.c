/* test_link_inbox.c: the receiver's dedup records.
 *
 * A message is handled once per message_id, whatever happens: a retransmit
 * (later, in the same batch, or after the server restarts on the same store)
 * is answered DUPLICATE with the original case id and has no second effect.
 * A handler's rejection undoes its effects and is recorded (a retransmit is
 * REJECTED again without running the handler), and acks are coalesced per
 * peer only when asked. A route that dedups by its own key gets no record
 * and answers retransmits itself.
 */
#include "link_fixture.h"

static int s_find(const fixture_answer_t *answers, size_t n, const uint8_t *id, int status)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(answers[i].id, id, VIGIL_ID_BYTES) == 0 && answers[i].status == status)
            return (int)i;
    return -1;
}

static void test_a_retransmit_is_answered_duplicate_with_the_original_case(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *dealer = fixture_dealer(&f);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    uint8_t id[VIGIL_ID_BYTES];
    util_random_id(id);

    fixture_send_probe(dealer, id, 41);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED);
    assert_string_equal(answers[0].case_id, "case-41");
    assert_string_equal(handler.last_peer, "local");

    fixture_send_probe(dealer, id, 41);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE);
    assert_string_equal(answers[0].case_id, "case-41");
    assert_memory_equal(answers[0].id, id, VIGIL_ID_BYTES);

    assert_int_equal(handler.calls, 1);
    assert_int_equal(handler.from_link, 1); /* decoded once, by the link */
    assert_int_equal(handler.wrong_payload, 0);
    assert_null(link_payload(NULL));
    assert_int_equal(fixture_effects(&f, 41), 1);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox"), 1);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    assert_null(server);
    fixture_close(&f);
}

static void test_a_duplicate_in_the_same_batch_has_no_second_effect(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *dealer = fixture_dealer(&f);
    uint8_t twice[VIGIL_ID_BYTES], once[VIGIL_ID_BYTES];
    util_random_id(twice);
    util_random_id(once);
    fixture_send_probe(dealer, twice, 1);
    fixture_send_probe(dealer, twice, 1);
    fixture_send_probe(dealer, once, 2);
    zclock_sleep(50); /* let all three arrive before the server wakes */
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    size_t n = fixture_await(&f, dealer, answers, 3);
    assert_int_equal(n, 3);
    assert_true(s_find(answers, n, twice, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED) >= 0);
    assert_true(s_find(answers, n, twice, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE) >= 0);
    assert_true(s_find(answers, n, once, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED) >= 0);
    /* Coalesced: one Ack message carried all three answers. */
    assert_int_equal(answers[0].ack_message, answers[2].ack_message);
    assert_int_equal(fixture_effects(&f, 1), 1);
    assert_int_equal(fixture_effects(&f, 2), 1);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

/* A batch larger than one multi-row record INSERT, with a rejection and
 * duplicates of earlier messages inside it: every message has exactly one
 * effect and one record, and a later retransmit of all of them is answered
 * from those records without running a handler. */
static void test_a_large_batch_records_every_message_once(void **state)
{
    enum { DISTINCT = 50, REPEATS = 3, REJECTED_SEQ = 20, FIRST_SEQ = 100 };
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {.reject_seq = FIRST_SEQ + REJECTED_SEQ};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *dealer = fixture_dealer(&f);
    uint8_t ids[DISTINCT][VIGIL_ID_BYTES];
    for (int i = 0; i < DISTINCT; i++) {
        util_random_id(ids[i]);
        fixture_send_probe(dealer, ids[i], FIRST_SEQ + (uint64_t)i);
    }
    for (int i = 0; i < REPEATS; i++) /* early ones again, in the same batch */
        fixture_send_probe(dealer, ids[i], FIRST_SEQ + (uint64_t)i);
    zclock_sleep(50); /* let them all arrive before the server wakes */
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    size_t n = fixture_await(&f, dealer, answers, DISTINCT + REPEATS);
    assert_int_equal(n, DISTINCT + REPEATS);
    for (int i = 0; i < DISTINCT; i++) {
        int expected = i == REJECTED_SEQ ? VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED
                                         : VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
        assert_true(s_find(answers, n, ids[i], expected) >= 0);
        if (i < REPEATS)
            assert_true(s_find(answers, n, ids[i], VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE) >=
                        0);
        assert_int_equal(fixture_effects(&f, FIRST_SEQ + (uint64_t)i), i == REJECTED_SEQ ? 0 : 1);
    }
    assert_int_equal(handler.calls, DISTINCT);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox"), DISTINCT);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox WHERE status = 3"), 1);

    for (int i = 0; i < DISTINCT; i++)
        fixture_send_probe(dealer, ids[i], FIRST_SEQ + (uint64_t)i);
    zclock_sleep(50);
    n = fixture_await(&f, dealer, answers, DISTINCT);
    assert_int_equal(n, DISTINCT);
    for (int i = 0; i < DISTINCT; i++) {
        int expected = i == REJECTED_SEQ ? VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED
                                         : VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE;
        int at = s_find(answers, n, ids[i], expected);
        assert_true(at >= 0);
        if (i != REJECTED_SEQ) {
            char case_id[32];
            snprintf(case_id, sizeof case_id, "case-%d", FIRST_SEQ + i);
            assert_string_equal(answers[at].case_id, case_id);
        }
    }
    assert_int_equal(handler.calls, DISTINCT);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

static void test_dedup_survives_a_restart(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *dealer = fixture_dealer(&f);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    uint8_t id[VIGIL_ID_BYTES];
    util_random_id(id);
    fixture_send_probe(dealer, id, 9);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    zsock_destroy(&dealer);
    link_server_destroy(&server);

    /* A new server on the same file: the record is durable. */
    server = fixture_server(&f, &config, &handler);
    dealer = fixture_dealer(&f);
    fixture_send_probe(dealer, id, 9);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE);
    assert_string_equal(answers[0].case_id, "case-9");
    assert_int_equal(handler.calls, 1);
    assert_int_equal(fixture_effects(&f, 9), 1);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

static void test_a_rejection_undoes_its_effects_and_is_recorded(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {.reject_seq = 666};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *dealer = fixture_dealer(&f);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    uint8_t id[VIGIL_ID_BYTES];
    util_random_id(id);
    for (int round = 0; round < 2; round++) {
        fixture_send_probe(dealer, id, 666);
        assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
        assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED);
        assert_int_equal(answers[0].reason, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE);
        assert_string_equal(answers[0].detail, "probe.sequence: refused");
    }
    assert_int_equal(handler.calls, 1); /* the retransmit was answered from the record */
    assert_int_equal(fixture_effects(&f, 666), 0);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox WHERE status = 3"), 1);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

/* A handler that dedups by its own key, as intake's ledger does: the
 * probe's sequence is claimed once; a repeat is answered DUPLICATE with
 * the original case. Sequence 666 is refused before anything is written. */
static int s_self_dedup_handler(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope,
                                const char *peer, link_result_t *result)
{
    (void)peer;
    fixture_handler_t *self = ctx;
    self->calls++;
    const Vigil__V1__LinkProbe *probe = (const Vigil__V1__LinkProbe *)link_payload(envelope);
    if (!probe)
        return LINK_REJECT;
    if (probe->sequence == 666) {
        result->reason = VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE;
        snprintf(result->detail, sizeof result->detail, "probe.sequence: refused");
        return LINK_REJECT;
    }
    sqlite3_stmt *claim = NULL;
    sqlite3_prepare_v2(db, "INSERT INTO effects (seq, count) VALUES (?1, 1) ON CONFLICT DO NOTHING",
                       -1, &claim, NULL);
    sqlite3_bind_int64(claim, 1, (sqlite3_int64)probe->sequence);
    int rc = sqlite3_step(claim);
    sqlite3_finalize(claim);
    if (rc != SQLITE_DONE)
        return LINK_RETRY;
    if (sqlite3_changes(db) == 0)
        result->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE;
    snprintf(result->case_id, sizeof result->case_id, "case-%llu",
             (unsigned long long)probe->sequence);
    return LINK_OK;
}

static const link_route_t s_routes_own_dedup[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, s_self_dedup_handler,
     LINK_ROUTE_NO_SAVEPOINT | LINK_ROUTE_OWN_DEDUP, NULL},
    {0, NULL, 0, NULL},
};

/* LINK_ROUTE_OWN_DEDUP: the link writes no record; a retransmit runs the
 * handler again, whose own key gives the sender the same answers as a
 * record would (DUPLICATE with the original case; the same REJECTED). */
static void test_a_route_with_its_own_dedup_is_answered_by_its_handler(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server = fixture_server_routed(&f, &config, &handler, NULL, s_routes_own_dedup);
    zsock_t *dealer = fixture_dealer(&f);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    uint8_t accepted[VIGIL_ID_BYTES], refused[VIGIL_ID_BYTES];
    util_random_id(accepted);
    util_random_id(refused);

    static const int want[2] = {VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
                                VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE};
    for (int round = 0; round < 2; round++) {
        fixture_send_probe(dealer, accepted, 7);
        assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
        assert_int_equal(answers[0].status, want[round]);
        assert_string_equal(answers[0].case_id, "case-7");
        assert_memory_equal(answers[0].id, accepted, VIGIL_ID_BYTES);

        fixture_send_probe(dealer, refused, 666);
        assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
        assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED);
        assert_int_equal(answers[0].reason, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE);
        assert_string_equal(answers[0].detail, "probe.sequence: refused");
    }
    assert_int_equal(handler.calls, 4); /* every retransmit ran the handler */
    assert_int_equal(fixture_effects(&f, 7), 1);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox"), 0);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

/* A route without savepoints: a batch of messages each keeps its one
 * effect and record, as with savepoints. */
static void test_a_route_without_savepoint_keeps_every_effect(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server =
        fixture_server_routed(&f, &config, &handler, NULL, fixture_routes_no_savepoint);
    zsock_t *dealer = fixture_dealer(&f);
    uint8_t ids[3][VIGIL_ID_BYTES];
    for (int i = 0; i < 3; i++) {
        util_random_id(ids[i]);
        fixture_send_probe(dealer, ids[i], (uint64_t)(10 + i));
    }
    zclock_sleep(50);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    size_t n = fixture_await(&f, dealer, answers, 3);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(s_find(answers, n, ids[i], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED) >= 0);
        assert_int_equal(fixture_effects(&f, (uint64_t)(10 + i)), 1);
    }
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox"), 3);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

/* A handler declared without savepoint that writes and then rejects (it
 * breaks its promise): its write is not kept. The batch rolls back, each
 * message runs again alone, the others are ACCEPTED with one effect each,
 * and the faulty one is answered RETRY with no effect. */
static void test_a_route_without_savepoint_that_fails_after_writing_keeps_nothing(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {.reject_seq = 666};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server =
        fixture_server_routed(&f, &config, &handler, NULL, fixture_routes_no_savepoint);
    zsock_t *dealer = fixture_dealer(&f);
    uint64_t seqs[3] = {1, 666, 3};
    uint8_t ids[3][VIGIL_ID_BYTES];
    for (int i = 0; i < 3; i++) {
        util_random_id(ids[i]);
        fixture_send_probe(dealer, ids[i], seqs[i]);
    }
    zclock_sleep(50);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    size_t n = fixture_await(&f, dealer, answers, 3);
    assert_int_equal(n, 3);
    assert_true(s_find(answers, n, ids[0], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED) >= 0);
    assert_true(s_find(answers, n, ids[1], VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY) >= 0);
    assert_true(s_find(answers, n, ids[2], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED) >= 0);
    assert_int_equal(fixture_effects(&f, 1), 1);
    assert_int_equal(fixture_effects(&f, 3), 1);
    assert_int_equal(fixture_effects(&f, 666), 0);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_inbox"), 2);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

static void test_acks_are_one_per_request_without_coalescing(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    config.coalesce_acks = false;
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *dealer = fixture_dealer(&f);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        uint8_t id[VIGIL_ID_BYTES];
        util_random_id(id);
        fixture_send_probe(dealer, id, seq);
    }
    zclock_sleep(50);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    assert_int_equal(fixture_await(&f, dealer, answers, 3), 3);
    assert_int_equal(answers[0].ack_message, 0);
    assert_int_equal(answers[1].ack_message, 1);
    assert_int_equal(answers[2].ack_message, 2);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

static void test_a_req_client_gets_its_delimiter_back(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *req = zsock_new(ZMQ_REQ);
    zsock_set_rcvtimeo(req, 0);
    zsock_set_linger(req, 0);
    assert_int_equal(zsock_connect(req, "%s", f.endpoint), 0);
    uint8_t id[VIGIL_ID_BYTES], frame[FIXTURE_BUFFER];
    util_random_id(id);
    size_t len = fixture_probe_envelope(id, 5, NULL, frame);
    assert_int_equal(zsock_send(req, "b", frame, len), 0);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    assert_int_equal(fixture_await(&f, req, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED);
    zsock_destroy(&req);
    link_server_destroy(&server);
    fixture_close(&f);
}

/* The inbox skips the dedup lookup for ids above the largest one recorded;
 * ids below it, equal to it, or arriving out of order after a restart must
 * still be deduplicated exactly. */
static void test_dedup_is_exact_for_ids_out_of_order(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *dealer = fixture_dealer(&f);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    uint8_t high[VIGIL_ID_BYTES], low[VIGIL_ID_BYTES], middle[VIGIL_ID_BYTES];
    memset(high, 0xEE, sizeof high);
    memset(low, 0x11, sizeof low);
    memset(middle, 0x77, sizeof middle);

    fixture_send_probe(dealer, high, 1);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED);
    fixture_send_probe(dealer, low, 2); /* older than the newest record, but new */
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED);
    fixture_send_probe(dealer, low, 2);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE);
    zsock_destroy(&dealer);
    link_server_destroy(&server);

    server = fixture_server(&f, &config, &handler);
    dealer = fixture_dealer(&f);
    fixture_send_probe(dealer, high, 1); /* equal to the newest record */
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE);
    fixture_send_probe(dealer, middle, 3);
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED);
    assert_int_equal(handler.calls, 3);
    assert_int_equal(fixture_effects(&f, 1), 1);
    assert_int_equal(fixture_effects(&f, 2), 1);
    assert_int_equal(fixture_effects(&f, 3), 1);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_retransmit_is_answered_duplicate_with_the_original_case),
        cmocka_unit_test(test_a_duplicate_in_the_same_batch_has_no_second_effect),
        cmocka_unit_test(test_a_large_batch_records_every_message_once),
        cmocka_unit_test(test_dedup_survives_a_restart),
        cmocka_unit_test(test_dedup_is_exact_for_ids_out_of_order),
        cmocka_unit_test(test_a_rejection_undoes_its_effects_and_is_recorded),
        cmocka_unit_test(test_a_route_with_its_own_dedup_is_answered_by_its_handler),
        cmocka_unit_test(test_a_route_without_savepoint_keeps_every_effect),
        cmocka_unit_test(test_a_route_without_savepoint_that_fails_after_writing_keeps_nothing),
        cmocka_unit_test(test_acks_are_one_per_request_without_coalescing),
        cmocka_unit_test(test_a_req_client_gets_its_delimiter_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
