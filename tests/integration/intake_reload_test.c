/* intake_reload_test.c: reloads in the middle of heavy traffic lose
 * nothing and break nothing.
 *
 * A reload swaps intake's sources table and re-reads the vault's keys on
 * the loop thread, while large batches are checked and prepared on the
 * link's preparer thread, which reads both. The link promises that the
 * preparer is idle whenever the loop runs anything else (link.h); this
 * test leans on that promise. A real intake gets 12,000 contacts in windows
 * of 300 (large enough for the preparer) from two publishers, while a
 * child process sends it SIGHUP every 5 ms. Every contact must be
 * answered ACCEPTED and stored once, intake must have reloaded many times
 * and still answer HEALTH. Run in the sanitizer pass too, where a read of
 * a table a reload freed is a report.
 *
 * usage: intake_reload_test VIGIL_INTAKE TRIAGE_STANDIN
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "intake_kit.h"
#include "link_harness.h"

enum {
    CONTACTS = 12000,
    WINDOW = 300,
    ANSWER_MS = 30000,
    HUP_EVERY_US = 5000,
    RELOADS_MIN = 10,
    MT_CONTACT = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT,
};

/* The child: SIGHUP to `pid` every HUP_EVERY_US until killed. */
static void s_hup_forever(pid_t pid)
{
    for (;;) {
        kill(pid, SIGHUP);
        usleep(HUP_EVERY_US);
    }
}

/* Sends contacts [from, from + count) on `socket` without waiting, then
 * takes their answers. Returns how many were ACCEPTED. */
static int s_window(zsock_t *socket, int from, int count)
{
    for (int i = from; i < from + count; i++) {
        kit_contact_t storage;
        char event[32];
        snprintf(event, sizeof event, "reload-%05d", i);
        if (kit_send_message(socket, MT_CONTACT, &kit_contact(&storage, event, i)->base, NULL))
            return -1;
    }
    int accepted = 0;
    for (int i = 0; i < count; i++) {
        kit_ack_t ack;
        if (kit_receive(socket, ANSWER_MS, &ack) != 1)
            break;
        accepted += ack.status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
    }
    return accepted;
}

static int s_run(kit_t *kit)
{
    KIT_CHECK(kit_start_standin(kit) == 0, "the triage stand-in did not start");
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not start");
    zsock_t *east = kit_publisher(kit, "hotline-east", NULL);
    zsock_t *east2 = kit_publisher(kit, "hotline-east", NULL);
    KIT_CHECK(east && east2, "publishers");
    pid_t hup = fork();
    KIT_CHECK(hup >= 0, "fork");
    if (hup == 0)
        s_hup_forever(kit->intake_pid);
    int accepted = 0;
    for (int from = 0; from < CONTACTS; from += 2 * WINDOW) {
        accepted += s_window(east, from, WINDOW);
        accepted += s_window(east2, from + WINDOW, WINDOW);
    }
    kill(hup, SIGKILL);
    waitpid(hup, NULL, 0);
    zsock_destroy(&east);
    zsock_destroy(&east2);
    KIT_CHECK(accepted == CONTACTS, "%d of %d contacts accepted under SIGHUPs", accepted, CONTACTS);
    char db[KIT_PATH];
    kit_intake_db(kit, db);
    KIT_CHECK(kit_query_int(db, "SELECT count(*) FROM intake_cases") == CONTACTS,
              "%lld cases stored for %d contacts",
              kit_query_int(db, "SELECT count(*) FROM intake_cases"), CONTACTS);
    Vigil__V1__AdminReply *status =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, NULL, NULL, 0);
    KIT_CHECK(status && status->ok, "intake answers STATUS after the storm");
    double reloads = -1, ahead = -1;
    for (size_t i = 0; i < status->n_metrics; i++) {
        if (strcmp(status->metrics[i]->name, "vigil_reloads_total") == 0)
            reloads = status->metrics[i]->value;
        if (strcmp(status->metrics[i]->name, "vigil_link_prepared_ahead_total") == 0)
            ahead = status->metrics[i]->value;
    }
    vigil__v1__admin_reply__free_unpacked(status, NULL);
    KIT_CHECK(reloads >= RELOADS_MIN, "only %g reloads happened during the traffic", reloads);
    KIT_CHECK(ahead > 0, "no contact was prepared on the preparer thread (%g)", ahead);
    KIT_CHECK(kit_stop_intake(kit) == 0, "intake stops cleanly");
    printf("%d contacts accepted and stored once across %g reloads; %g prepared ahead\n", CONTACTS,
           reloads, ahead);
    return 0;
}

int main(int argc, char **argv)
{
    return kit_main(argc, argv, "intake-reload", NULL, s_run);
}
