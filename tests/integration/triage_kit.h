/* triage_kit.h: what triage's integration tests share.
 *
 * A kit is one temporary directory holding a real vigil-triage, a real
 * sink standing in for notification and reporting (triage_sink.c), their
 * CURVE keys and allowlists, a trusted plugin directory, and an in-process
 * sender that plays intake: it puts CaseViews in its own sqlite outbox and
 * a real link client relays them to triage over CURVE until acknowledged.
 * Tests then read triage's and the sink's sqlite files (read-only, while
 * the services run) and talk to triage's admin endpoint. Ports are picked
 * at run time; only processes the kit started are ever signalled.
 */
#ifndef VIGIL_TRIAGE_KIT_H
#define VIGIL_TRIAGE_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "link_harness.h"
#include "vigil/admin.h"
#include "vigil/v1/case.pb-c.h"

typedef struct triage_sender_t triage_sender_t;

typedef struct {
    char dir[HARNESS_DIR_MAX];
    char triage_state[HARNESS_STATE_MAX];
    char sink_state[HARNESS_STATE_MAX];
    char sender_state[HARNESS_STATE_MAX];
    char plugin_dir[HARNESS_STATE_MAX];
    char triage_config[HARNESS_PATH_MAX];
    char sink_config[HARNESS_PATH_MAX];
    char triage_log[HARNESS_PATH_MAX];
    char sink_log[HARNESS_PATH_MAX];
    char triage_db[HARNESS_PATH_MAX];
    char sink_db[HARNESS_PATH_MAX];
    char admin_endpoint[HARNESS_PATH_MAX];
    int triage_port;
    int sink_port;
    pid_t triage_pid;
    pid_t sink_pid;
    const char *triage_exe;
    const char *sink_exe;
    triage_sender_t *sender;
    bool no_peers;         /* kit_write_triage_config: configure no onward peers */
    const char *log_level; /* kit_write_triage_config: triage's log level ("info") */
} triage_kit_t;

/* Makes the directory tree, keys and allowlists, and picks ports. Returns
 * 0 or -1 with a message on stderr. */
int kit_init(triage_kit_t *kit, const char *tag, const char *triage_exe, const char *sink_exe);

/* Installs the plugin file `so_path` as <plugin_dir>/<stem>.so the way an
 * operator must (copy beside, then rename: a new inode). Returns 0 or -1. */
int kit_install_plugin(triage_kit_t *kit, const char *so_path, const char *stem);

/* Writes triage's config: the kit's state, ports, peers and plugin dir,
 * `plugin_extra` (more settings inside `triage.plugin = { ... }`, may be
 * NULL) and `triage_body` (libconfig text inside `triage = { ... }`, e.g.
 * the regions). Returns 0 or -1. */
int kit_write_triage_config(triage_kit_t *kit, const char *plugin_extra, const char *triage_body);

/* Starts the sink / triage and waits until the admin endpoint answers
 * HEALTH. Returns 0 or -1 (the log tail is printed). */
int kit_start_sink(triage_kit_t *kit);
int kit_start_triage(triage_kit_t *kit);

/* SIGTERM then SIGKILL after a grace period. Returns the exit code or -1. */
int kit_stop_triage(triage_kit_t *kit);

/* The start of every test of one region on the test plugin: kit_init()
 * with argv[1] (triage) and argv[2] (sink), triage_testplug_v1.so from
 * argv[3] installed as "testplug", the config (as
 * kit_write_triage_config()), then the sink and triage started. Returns 0,
 * or -1 with the step that failed on stderr. */
int kit_start_testplug(triage_kit_t *kit, const char *tag, char **argv, const char *plugin_extra,
                       const char *triage_body);

/* Sends `count` case views to triage through the sender's outbox and link
 * client and waits up to `timeout_ms` until triage acknowledged all of them.
 * Returns 0, or -1 on timeout. */
int kit_send_cases(triage_kit_t *kit, Vigil__V1__CaseView *const *views, size_t count,
                   int timeout_ms);

/* Sends `count` plain case views (no cues, no county or ZIP) named
 * "<prefix>-<i>", i from 0, for state `state`, as kit_send_cases().
 * Returns 0, or -1 on timeout. */
int kit_send_plain_cases(triage_kit_t *kit, const char *prefix, int count, const char *state,
                         int timeout_ms);

/* Queues case views without waiting (kit_send_wait relays them). Returns 0
 * or -1. */
int kit_queue_cases(triage_kit_t *kit, Vigil__V1__CaseView *const *views, size_t count);

/* Relays queued messages for at most `ms` or until none is left. Returns
 * the number still waiting for an ack. */
size_t kit_send_wait(triage_kit_t *kit, int ms);

/* Sends one AssignmentReceipt for (case_id, assignee_id). Returns 0 or -1. */
int kit_send_receipt(triage_kit_t *kit, const char *case_id, const char *assignee_id,
                     int timeout_ms);

/* Runs a one-integer query on a database (read-only). Returns the value or
 * -1 on error. */
long long kit_query_int(const char *db_path, const char *sql);

/* Waits until `sql` on `db_path` returns at least `want`; returns the last
 * value seen. */
long long kit_wait_int(const char *db_path, const char *sql, long long want, int timeout_ms);

/* Sends an admin command to triage (args may be NULL). The caller frees
 * the reply with vigil__v1__admin_reply__free_unpacked(reply, NULL).
 * Returns NULL with a message on stderr. */
Vigil__V1__AdminReply *kit_admin(triage_kit_t *kit, Vigil__V1__AdminCommand command,
                                 const char *arg, int timeout_ms);

/* Asks triage's status until fact `key` contains `want`. Returns 0, or -1
 * after `timeout_ms`. */
int kit_wait_fact(triage_kit_t *kit, const char *key, const char *want, int timeout_ms);

/* The value of fact `key` in a reply, or NULL. */
const char *kit_fact(const Vigil__V1__AdminReply *reply, const char *key);

/* The value of metric `name` (without the vigil_ prefix or with it) whose
 * labels contain `labels` (may be NULL), from a STATUS reply; -1 if absent. */
double kit_metric(const Vigil__V1__AdminReply *reply, const char *name, const char *labels);

/* Fills `view` (with `case_id` copied into `id_storage`) as intake would
 * send it. `cues` ends with 0. Cannot fail. */
void kit_view(Vigil__V1__CaseView *view, char *id_storage, size_t id_size, const char *case_id,
              const char *state, const char *county, const char *zip3, Vigil__V1__UrgencyCue *cues);

/* Stops everything the kit started, frees the sender and, unless the test
 * failed or VIGIL_KEEP_TEST_DIR is set, removes the directory. */
void kit_finish(triage_kit_t *kit, bool failed);

/* A test's body: runs with argv = VIGIL_TRIAGE SINK TEST_PLUGIN_DIR ...;
 * returns 0 when every check passed. */
typedef int (*kit_test_fn)(triage_kit_t *kit, char **argv);

/* The main() of such a test: checks the arguments, runs `run`, cleans up
 * with kit_finish() and prints "NAME: ok" on success. Returns the exit
 * code (2 for bad arguments). */
int kit_main(int argc, char **argv, const char *name, kit_test_fn run);

#endif
