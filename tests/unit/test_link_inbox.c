/* test_link_inbox.c: the receiver's dedup records.
 *
 * A message is handled once per message_id, whatever happens: a retransmit
 * (later, in the same batch, or after the server restarts on the same store)
 * is answered DUPLICATE with the original case id and has no second effect.
 * A handler's rejection undoes its effects and is recorded (a retransmit is
 * REJECTED again without running the handler), and acks are coalesced per
 * peer only when asked.
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
        cmocka_unit_test(test_dedup_survives_a_restart),
        cmocka_unit_test(test_dedup_is_exact_for_ids_out_of_order),
        cmocka_unit_test(test_a_rejection_undoes_its_effects_and_is_recorded),
        cmocka_unit_test(test_acks_are_one_per_request_without_coalescing),
        cmocka_unit_test(test_a_req_client_gets_its_delimiter_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
