/* intake_kit.h: what intake's integration tests share.
 *
 * A kit is one temporary directory with real CURVE keys, a real vault key
 * file, a running vigil-intake and (optionally) a running triage stand-in
 * (intake_triage_standin.c), on free loopback ports. Upstream sources
 * "hotline-east" (may send INTAKE_CONTACT and SUBSCRIPTION_REQUEST) and
 * "county-jail-042" (CUSTODY_EVENT) are allowlisted; "rogue" has keys but is
 * not. The kit publishes through a raw DEALER socket so tests can also send
 * what no well-behaved client would. It kills only processes it started.
 */
#ifndef INTAKE_KIT_H
#define INTAKE_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <czmq.h>

#include "vigil/v1/admin.pb-c.h"
#include "vigil/v1/envelope.pb-c.h"
#include "vigil/v1/intake.pb-c.h"

#define KIT_PATH 512

#define KIT_CHECK(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

typedef struct {
    char dir[KIT_PATH];          /* the temporary root */
    char intake_state[KIT_PATH]; /* <dir>/intake */
    char triage_state[KIT_PATH]; /* <dir>/triage */
    char upstream[KIT_PATH];     /* <dir>/upstream: publishers' keys */
    char intake_config[KIT_PATH];
    char triage_config[KIT_PATH];
    char intake_log[KIT_PATH];
    char triage_log[KIT_PATH];
    char intake_endpoint[64];
    char intake_admin[KIT_PATH];
    char triage_admin[KIT_PATH];
    const char *intake_exe;
    const char *standin_exe;
    pid_t intake_pid;
    pid_t triage_pid;
} kit_t;

/* Creates the directory, keys, vault and configs. `intake_extra` is
 * appended to intake's config (may be NULL). Returns 0 or -1. */
int kit_setup(kit_t *kit, const char *tag, const char *intake_exe, const char *standin_exe,
              const char *intake_extra);

/* Stops whatever runs (SIGKILL) and removes the directory unless the
 * environment sets KEEP_TEST_DIR. Cannot fail. */
void kit_teardown(kit_t *kit);

/* A test's body: returns 0 when every check passed. */
typedef int (*kit_test_fn)(kit_t *kit);

/* The main() of a test run as TEST VIGIL_INTAKE TRIAGE_STANDIN:
 * kit_setup() with `tag` and `intake_extra`, `run`, intake's log tail if
 * it failed, kit_teardown(), then PASS or FAIL. Returns the exit code (2
 * for bad arguments). */
int kit_main(int argc, char **argv, const char *tag, const char *intake_extra, kit_test_fn run);

/* Starts intake / the stand-in and waits until its admin endpoint answers
 * HEALTH. Returns 0, or -1 (the log tail is printed). */
int kit_start_intake(kit_t *kit);
int kit_start_standin(kit_t *kit);

/* SIGKILLs intake (reaped). Cannot fail. */
void kit_kill_intake(kit_t *kit);

/* SIGTERM, wait; returns the exit status or -1. */
int kit_stop_intake(kit_t *kit);

/* Sends an admin request to intake; the caller frees the reply with
 * vigil__v1__admin_reply__free_unpacked. NULL on timeout. */
Vigil__V1__AdminReply *kit_admin(kit_t *kit, Vigil__V1__AdminCommand command,
                                 const char *operator_id, const char *target, uint32_t limit);

/* Public cert path of a publisher ("hotline-east", "county-jail-042",
 * "rogue") or of "intake". */
void kit_cert(const kit_t *kit, const char *name, char out[KIT_PATH]);

/* --- publishing --------------------------------------------------------- */

/* One answer. */
typedef struct {
    uint8_t message_id[16];
    int status;
    int reason;
    char event_id[128];
    char case_id[64];
    char detail[256];
} kit_ack_t;

/* A DEALER socket to intake. `client` is a publisher name (its keys in the
 * kit) or NULL for no CURVE at all; `server_cert` the intake public cert
 * path to trust (NULL: the kit's intake cert). Returns NULL on failure. */
zsock_t *kit_publisher(kit_t *kit, const char *client, const char *server_cert);

/* Sends one envelope of `type` carrying `len` bytes of payload, with
 * message id `message_id` (16 bytes). Returns 0 or -1. */
int kit_send(zsock_t *socket, int type, const void *payload, size_t len,
             const uint8_t message_id[16]);

/* Packs and sends `message` with a fresh random message id (to
 * `message_id` if not NULL). Returns 0 or -1. */
int kit_send_message(zsock_t *socket, int type, const ProtobufCMessage *message,
                     uint8_t message_id[16]);

/* Waits up to `timeout_ms` for one answer. Returns 1 with it in *ack, 0 on
 * timeout, -1 if a frame arrived that is not an Ack envelope. */
int kit_receive(zsock_t *socket, int timeout_ms, kit_ack_t *ack);

/* Sends `message` and waits for its answer. Returns 1, 0 or -1 as above. */
int kit_request(zsock_t *socket, int type, const ProtobufCMessage *message, int timeout_ms,
                kit_ack_t *ack);

/* --- fixtures ----------------------------------------------------------- */

/* Personal values the fixtures use, which must never be found outside
 * intake's sealed columns. `index` makes them distinct per event. */
void kit_victim_name(int index, char out[64]);
void kit_victim_phone(int index, char out[32]);

/* A valid hotline contact for event `event_id`, personal values from
 * `index`. Strings live in `storage` (a kit_contact_t). */
typedef struct {
    Vigil__V1__IntakeContact contact;
    Vigil__V1__VictimContact victim;
    Vigil__V1__Location location;
    Vigil__V1__Consent consent;
    Vigil__V1__OffenderRef offender;
    Vigil__V1__OffenderRef *offenders[1];
    Vigil__V1__ServiceNeed services[2];
    Vigil__V1__UrgencyCue cues[1];
    char event_id[64];
    char given_name[64];
    char phone[32];
    char email[64];
    char narrative[128];
} kit_contact_t;

Vigil__V1__IntakeContact *kit_contact(kit_contact_t *storage, const char *event_id, int index);

/* --- the store on disk --------------------------------------------------- */

/* Runs a single-integer query on a sqlite file (read-only). Returns the
 * value, or -1 on error. */
long long kit_query_int(const char *db_path, const char *sql);

/* Path of intake's / the stand-in's store. */
void kit_intake_db(const kit_t *kit, char out[KIT_PATH]);
void kit_triage_db(const kit_t *kit, char out[KIT_PATH]);

/* True if any of `path`, `path`-wal, `path`-shm contains `needle` bytes. */
bool kit_files_contain(const char *db_path, const char *needle);

/* Sleeps `ms`. */
void kit_sleep_ms(int ms);

/* Monotonic milliseconds. */
long long kit_now_ms(void);

#endif
