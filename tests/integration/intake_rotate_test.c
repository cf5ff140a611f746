/* intake_rotate_test.c: `vigilctl rotate-key` survives SIGKILL and leaves
 * nothing under the old key.
 *
 * A real vigil-intake stores 3,000 cases under vault key 1 (plus the sealed
 * notification messages they queue). The operator adds key 2 marked
 * current, restarts intake and asks it to rotate; intake is SIGKILLed
 * while the re-encryption is part-way through, started again, and resumes
 * by itself while still answering publishers. At the end no case row, no
 * sealed column and no sealed outbox envelope is under key 1, and after key
 * 1 is deleted from the key file every sampled case still opens with the
 * personal data it was published with.
 *
 * usage: intake_rotate_test VIGIL_INTAKE TRIAGE_STANDIN
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "intake_kit.h"
#include "vigil/util.h"

#define CASES        3000
#define WINDOW       256
#define ANSWER_MS    10000
#define POLL_MS      3
#define FINISH_MS    60000
#define SAMPLES      25
#define MT_CONTACT   VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT
#define CMD(name)    VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_##name
#define KEY_OLD_ROWS "SELECT count(*) FROM intake_cases WHERE key_id != 2"

static char s_case_ids[CASES][64];

static int s_publish_all(kit_t *kit)
{
    zsock_t *socket = kit_publisher(kit, "hotline-east", NULL);
    KIT_CHECK(socket, "publisher socket");
    int sent = 0, answered = 0;
    while (answered < CASES) {
        while (sent < CASES && sent - answered < WINDOW) {
            kit_contact_t storage;
            char event[32];
            snprintf(event, sizeof event, "rot-%05d", sent);
            uint8_t id[16];
            KIT_CHECK(kit_send_message(socket, MT_CONTACT,
                                       &kit_contact(&storage, event, sent)->base, id) == 0,
                      "send");
            sent++;
        }
        kit_ack_t ack;
        KIT_CHECK(kit_receive(socket, ANSWER_MS, &ack) == 1, "no answer");
        KIT_CHECK(ack.status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED, "status %d (%s)",
                  ack.status, ack.detail);
        int index = atoi(ack.event_id + strlen("rot-"));
        snprintf(s_case_ids[index], sizeof s_case_ids[index], "%s", ack.case_id);
        answered++;
    }
    zsock_destroy(&socket);
    return 0;
}

/* Rewrites the vault key file: key 1 kept (or dropped), key 2 current. */
static int s_write_keys(kit_t *kit, bool keep_key_one, const char *key_two_hex)
{
    char path[KIT_PATH + 32], line[256];
    snprintf(path, sizeof path, "%s/keys/intake.vault", kit->intake_state);
    char key_one[128] = "";
    FILE *in = fopen(path, "r");
    KIT_CHECK(in, "read key file");
    while (fgets(line, sizeof line, in))
        if (strncmp(line, "1 ", 2) == 0)
            sscanf(line, "1 %127s", key_one);
    fclose(in);
    KIT_CHECK(!keep_key_one || strlen(key_one) == 64, "key 1 not found in the key file");
    FILE *out = fopen(path, "w");
    KIT_CHECK(out, "write key file");
    fprintf(out, "# rotated by intake_rotate_test\n");
    if (keep_key_one)
        fprintf(out, "1 %s\n", key_one);
    fprintf(out, "2 %s current\n", key_two_hex);
    fclose(out);
    return 0;
}

static const char *s_fact(const Vigil__V1__AdminReply *reply, const char *key)
{
    for (size_t i = 0; i < reply->n_facts; i++)
        if (strcmp(reply->facts[i]->key, key) == 0)
            return reply->facts[i]->value;
    return "";
}

static int s_check_case(kit_t *kit, int index)
{
    Vigil__V1__AdminReply *reply =
        kit_admin(kit, CMD(CASE_SHOW), "op-rotation-check", s_case_ids[index], 0);
    char name[64], phone[32];
    kit_victim_name(index, name);
    kit_victim_phone(index, phone);
    KIT_CHECK(reply && reply->ok && reply->case_contact && reply->case_contact->victim &&
                  strcmp(reply->case_contact->victim->given_name, name) == 0 &&
                  strcmp(reply->case_contact->victim->phone, phone) == 0,
              "case %d (%s) unreadable after rotation: %s", index, s_case_ids[index],
              reply ? reply->error : "no reply");
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    return 0;
}

static int s_run(kit_t *kit)
{
    char db[KIT_PATH];
    kit_intake_db(kit, db);
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not start");
    if (s_publish_all(kit))
        return 1;
    KIT_CHECK(kit_query_int(db, "SELECT count(*) FROM intake_cases WHERE key_id = 1") == CASES,
              "cases not stored under key 1");
    long long sealed_outbox =
        kit_query_int(db, "SELECT count(*) FROM link_outbox WHERE sealed = 1");
    KIT_CHECK(sealed_outbox > 0, "no sealed outbox rows to rotate");

    /* the operator adds key 2 as current and restarts intake */
    KIT_CHECK(kit_stop_intake(kit) == 0, "intake did not stop");
    uint8_t key[32];
    char hex[65];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    if (s_write_keys(kit, true, hex))
        return 1;
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not start with key 2");

    Vigil__V1__AdminReply *reply = kit_admin(kit, CMD(ROTATE_KEY), "op-admin", NULL, 0);
    KIT_CHECK(reply && reply->ok && strcmp(s_fact(reply, "rotation"), "started") == 0 &&
                  reply->affected >= CASES,
              "rotate-key did not start: %s", reply ? reply->error : "no reply");
    printf("rotation started: %u rows under an old key\n", reply->affected);
    vigil__v1__admin_reply__free_unpacked(reply, NULL);

    /* SIGKILL part-way */
    long long deadline = kit_now_ms() + FINISH_MS, old = CASES;
    while (kit_now_ms() < deadline) {
        old = kit_query_int(db, KEY_OLD_ROWS);
        if (old <= CASES * 3 / 4)
            break;
        kit_sleep_ms(POLL_MS);
    }
    kit_kill_intake(kit);
    old = kit_query_int(db, KEY_OLD_ROWS);
    printf("SIGKILL with %lld of %d cases still under key 1\n", old, CASES);
    KIT_CHECK(old > 0 && old < CASES, "the kill did not land mid-rotation (%lld left)", old);

    /* restart: it resumes by itself and keeps answering */
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not restart");
    zsock_t *socket = kit_publisher(kit, "hotline-east", NULL);
    kit_contact_t storage;
    kit_ack_t ack;
    KIT_CHECK(kit_request(socket, MT_CONTACT,
                          &kit_contact(&storage, "during-rotation", 90001)->base, ANSWER_MS,
                          &ack) == 1 &&
                  ack.status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
              "intake did not answer during rotation");
    zsock_destroy(&socket);
    bool finished = false;
    while (!finished && kit_now_ms() < deadline) {
        reply = kit_admin(kit, CMD(ROTATE_KEY), "op-admin", NULL, 0);
        KIT_CHECK(reply && reply->ok, "rotate-key status failed");
        finished = reply->affected == 0 && strcmp(s_fact(reply, "rotation"), "nothing to do") == 0;
        vigil__v1__admin_reply__free_unpacked(reply, NULL);
        if (!finished)
            kit_sleep_ms(50);
    }
    KIT_CHECK(finished, "rotation did not finish");
    KIT_CHECK(kit_query_int(db, KEY_OLD_ROWS) == 0, "case rows left under key 1");
    KIT_CHECK(kit_query_int(db, "SELECT count(*) FROM intake_cases WHERE "
                                "hex(substr(victim_phone, 2, 2)) != '0002' OR "
                                "hex(substr(narrative, 2, 2)) != '0002'") == 0,
              "sealed columns left under key 1");
    KIT_CHECK(kit_query_int(db, "SELECT count(*) FROM link_outbox WHERE sealed = 1 AND "
                                "hex(substr(envelope, 2, 2)) != '0002'") == 0,
              "sealed outbox envelopes left under key 1");
    KIT_CHECK(kit_query_int(db, "SELECT count(*) FROM intake_meta WHERE key <> 'case_id_key'") == 0,
              "rotation marker left behind");

    /* key 1 is gone: every sampled case still opens */
    KIT_CHECK(kit_stop_intake(kit) == 0, "intake did not stop");
    if (s_write_keys(kit, false, hex))
        return 1;
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not start without key 1");
    int samples[SAMPLES] = {0, CASES - 1};
    for (int i = 2; i < SAMPLES; i++)
        samples[i] = (int)util_random_below(CASES);
    for (int i = 0; i < SAMPLES; i++)
        if (s_check_case(kit, samples[i]))
            return 1;
    printf("all %d sampled cases readable with key 1 deleted\n", SAMPLES);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s VIGIL_INTAKE TRIAGE_STANDIN\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    kit_t kit;
    /* small batches with a pause, so the kill lands part-way */
    if (kit_setup(&kit, "intake-rotate", argv[1], argv[2],
                  "  rotate_batch = 40;\n  rotate_pause_ms = 5;\n")) {
        fprintf(stderr, "FAIL: kit setup\n");
        kit_teardown(&kit);
        return 1;
    }
    int rc = s_run(&kit);
    kit_teardown(&kit);
    printf("%s\n", rc ? "FAIL" : "PASS");
    return rc;
}
