/* test_link_deadletter.c: poison messages and their replay.
 *
 * A handler that keeps asking for a retry has its failures counted durably;
 * after max_attempts the message is parked (sealed when there is a vault),
 * recorded as DEAD_LETTERED, and the sender is told so. An operator can list
 * parked messages and replay them once the cause is fixed: the effect then
 * happens exactly once and the message counts as handled.
 */
#include "link_fixture.h"

#define SECRET_FILLER "victim-phone-marker-0f9d"

static void s_send_and_expect(fixture_t *f, zsock_t *dealer, const uint8_t *id, uint64_t seq,
                              int status)
{
    fixture_send_probe(dealer, id, seq);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    assert_int_equal(fixture_await(f, dealer, answers, 1), 1);
    assert_memory_equal(answers[0].id, id, VIGIL_ID_BYTES);
    assert_int_equal(answers[0].status, status);
    if (status == VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY ||
        status == VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED)
        assert_int_equal(answers[0].reason, VIGIL__V1__REASON_CODE__REASON_INTERNAL);
}

static Vigil__V1__AdminReply *s_list(fixture_t *f)
{
    Vigil__V1__AdminReply *reply = calloc(1, sizeof *reply);
    vigil__v1__admin_reply__init(reply);
    char err[FIXTURE_ERR];
    assert_int_equal(link_deadletters_list(f->db, 0, reply, err, sizeof err), 0);
    return reply;
}

static void test_parked_after_max_attempts(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_handler_t handler = {.retry = true};
    link_server_config_t config = fixture_server_config(&f, 3);
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *dealer = fixture_dealer(&f);
    uint8_t id[VIGIL_ID_BYTES];
    util_random_id(id);

    s_send_and_expect(&f, dealer, id, 5, VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY);
    assert_int_equal(fixture_count(&f, "SELECT attempts FROM link_attempts"), 1);
    /* The count is durable: a restart does not reset it. */
    link_server_destroy(&server);
    zsock_destroy(&dealer); /* a fresh connection: the old one died with the server */
    server = fixture_server(&f, &config, &handler);
    dealer = fixture_dealer(&f);
    s_send_and_expect(&f, dealer, id, 5, VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY);
    assert_int_equal(fixture_count(&f, "SELECT attempts FROM link_attempts"), 2);
    s_send_and_expect(&f, dealer, id, 5, VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_attempts"), 0);
    assert_int_equal(handler.calls, 3);
    assert_int_equal(fixture_effects(&f, 5), 0); /* every failed try was rolled back */

    Vigil__V1__AdminReply *reply = s_list(&f);
    assert_int_equal(reply->n_dead_letters, 1);
    Vigil__V1__DeadLetter *letter = reply->dead_letters[0];
    assert_int_equal(letter->attempts, 3);
    assert_int_equal(letter->type, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE);
    assert_string_equal(letter->source, "local");
    assert_memory_equal(letter->message_id.data, id, VIGIL_ID_BYTES);
    assert_non_null(strstr(letter->reason, "internal: downstream busy"));
    assert_true(letter->first_failed_at_ms <= letter->last_failed_at_ms);
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    /* Recorded as dead-lettered: a retransmit is answered so, unhandled. */
    s_send_and_expect(&f, dealer, id, 5, VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED);
    assert_int_equal(handler.calls, 3);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

static void test_replay_after_the_fix_has_one_effect(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, true);
    fixture_handler_t handler = {.retry = true};
    link_server_config_t config = fixture_server_config(&f, 1);
    link_server_t *server = fixture_server(&f, &config, &handler);
    zsock_t *dealer = fixture_dealer(&f);
    uint8_t id[VIGIL_ID_BYTES], frame[FIXTURE_BUFFER];
    util_random_id(id);
    size_t len = fixture_probe_envelope(id, 12, SECRET_FILLER, frame);
    assert_int_equal(zsock_send(dealer, "b", frame, len), 0);
    fixture_answer_t answers[FIXTURE_MAX_ACK];
    assert_int_equal(fixture_await(&f, dealer, answers, 1), 1);
    assert_int_equal(answers[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED);

    /* Parked sealed: the payload bytes are not readable in the file. */
    assert_int_equal(fixture_count(&f, "SELECT sealed FROM link_deadletters"), 1);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_deadletters WHERE "
                                       "instr(envelope, CAST('" SECRET_FILLER "' AS BLOB)) > 0"),
                     0);

    /* Still failing: the replay keeps it, one more attempt. */
    char err[FIXTURE_ERR];
    uint32_t replayed = 99;
    assert_int_equal(link_server_replay(server, 0, &replayed, err, sizeof err), 0);
    assert_int_equal(replayed, 0);
    assert_int_equal(fixture_count(&f, "SELECT attempts FROM link_deadletters"), 2);

    /* Fixed: the replay runs it once and records it as handled. The
     * handler decodes it itself: link_payload() has nothing for a replay. */
    handler.retry = false;
    long long row = fixture_count(&f, "SELECT id FROM link_deadletters");
    int from_link = handler.from_link;
    assert_int_equal(link_server_replay(server, row, &replayed, err, sizeof err), 0);
    assert_int_equal(replayed, 1);
    assert_int_equal(handler.from_link, from_link);
    assert_int_equal(handler.wrong_payload, 0);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_deadletters"), 0);
    assert_int_equal(fixture_effects(&f, 12), 1);
    assert_int_equal(fixture_count(&f, "SELECT status FROM link_inbox"),
                     VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED);

    /* The sender's retransmit is now a duplicate. */
    s_send_and_expect(&f, dealer, id, 12, VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE);
    assert_int_equal(fixture_effects(&f, 12), 1);

    assert_int_equal(link_server_replay(server, row, &replayed, err, sizeof err), -1);
    assert_non_null(strstr(err, "no dead letter"));
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parked_after_max_attempts),
        cmocka_unit_test(test_replay_after_the_fix_has_one_effect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
