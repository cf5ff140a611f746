/* lifecycle_kit.h: what the lifecycle integration tests share.
 *
 * The tests run the tiny service vigil-lifecycle (svc_lifecycle.c) as real
 * child processes in a temporary directory, with real CURVE keys, real
 * sqlite files and real signals, and look at what a user would see: exit
 * codes, log lines, /healthz and /readyz, /metrics, rows in the stores, and
 * acks on the wire. This kit makes the directory, keys and config files,
 * starts and signals children by pid (and SIGKILLs any still running when
 * the test exits, even on failure), speaks HTTP and the link protocol as a
 * client, and reads the stores. It never touches a process it did not start.
 */
#ifndef VIGIL_LIFECYCLE_KIT_H
#define VIGIL_LIFECYCLE_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "vigil/v1/envelope.pb-c.h"

#define KIT_PATH_MAX 512
#define KIT_STARTED  "msg=\"started\"" /* the log line of a completed start */

/* Fails the test: prints "FAIL file:line: message" and returns 1 from the
 * calling function. */
#define KIT_CHECK(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* --- files and directories ------------------------------------------------ */

/* Creates /tmp/vigil-<tag>-XXXXXX into `out` (KIT_PATH_MAX bytes) and
 * remembers it: kit_finish() removes it when the test passed. Returns 0 or
 * -1. */
int kit_tempdir(const char *tag, char *out);

/* Writes "<dir>/<name>" into `out` (KIT_PATH_MAX bytes) and returns `out`.
 * Cannot fail (a longer path is cut, and then fails to open). */
char *kit_join(char *out, const char *dir, const char *name);

/* Kills leftover children; removes the temporary directory if `failed` is
 * 0 and VIGIL_TEST_KEEP is unset, else prints where it is. Returns `failed` (use as main's return).
 */
int kit_finish(int failed);

/* Writes a formatted file (mode 0600), replacing it. Returns 0 or -1. */
int kit_write(const char *path, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* The whole file as a NUL-terminated malloc'd string (caller frees), or NULL. */
char *kit_read(const char *path);

/* Lines of the file at `path` that contain `needle` and, if not NULL,
 * `also`. Returns the count (0 if the file is missing). */
int kit_count_lines(const char *path, const char *needle, const char *also);

/* Waits up to `timeout_ms` until kit_count_lines(path, needle, also) is at
 * least `count`. Returns 0, or -1 on timeout. */
int kit_wait_lines(const char *path, const char *needle, const char *also, int count,
                   int timeout_ms);

/* The integer value of logfmt key `key` ("inflight") on the last line
 * containing `needle`. Returns 0, or -1 if there is no such line or key. */
int kit_log_value(const char *path, const char *needle, const char *key, long long *value);

/* Like kit_wait_lines(), but gives up at once when our child `pid` exits.
 * Returns 0, or -1 on timeout or exit. */
int kit_wait_log(pid_t pid, const char *path, const char *needle, const char *also, int count,
                 int timeout_ms);

/* Prints the file to stderr (for failure diagnosis). Cannot fail. */
void kit_dump(const char *path);

/* --- ports, keys and configs -------------------------------------------- */

/* A TCP port on 127.0.0.1 for a service under test: harness_free_port(). */
int kit_free_port(void);

/* Makes the keys of an instance whose state directory is `state`:
 * <state>/keys/lifecycle.key(_secret), metadata name = `name`, and an empty
 * allowlist directory <state>/keys/allow/lifecycle. Returns 0 or -1. */
int kit_instance_keys(const char *state, const char *name);

/* Lets the instance at `client_state` (or the tester keypair at
 * `<client_state>/tester.key` when `tester` is true) reach the instance at
 * `server_state`: the client's public cert goes into the server's
 * allowlist, and (for an instance) the server's public cert becomes the
 * client's <state>/keys/peer.key. Returns 0 or -1. */
int kit_admit(const char *server_state, const char *client_state, bool tester);

/* Makes the test's own client keypair <dir>/tester.key(_secret). Returns 0
 * or -1. */
int kit_tester_keys(const char *dir);

typedef struct {
    const char *state_dir; /* required */
    int link_port;         /* 0: no link.listen */
    int peer_port;         /* the peer "peer" endpoint's port (required) */
    int metrics_port;      /* 0: no HTTP */
    bool insecure;         /* security = { insecure = true; } */
    const char *log_level; /* NULL: not written (default info) */
    int drain_timeout_ms;  /* 0: not written (default) */
    int send_count;        /* lifecycle.send_count */
    int window;            /* peer window; 0: not written */
    int ack_timeout_ms;    /* peer ack_timeout_ms; 0: 300 */
    const char *extra;     /* appended verbatim, or NULL */
} kit_config_t;

/* Writes a vigil-lifecycle config file. Returns 0 or -1. */
int kit_write_config(const char *path, const kit_config_t *config);

/* --- processes ------------------------------------------------------------ */

/* Runs `exe` with the NULL-terminated arguments after it, stdout and stderr
 * both to `out_path`, and waits up to `timeout_ms`. Returns its exit code,
 * or -1 if it died by a signal or timed out (then it is killed). */
int kit_run(const char *out_path, int timeout_ms, const char *exe, ...) __attribute__((sentinel));

/* Starts `exe --config config` with stdout and stderr appended to
 * `log_path`; `env` ("NAME=value") is added to its environment if not NULL.
 * The child dies with the test. Returns its pid or -1. */
pid_t kit_spawn(const char *exe, const char *config, const char *log_path, const char *env);

/* Waits up to `timeout_ms` for `pid` to exit. Returns 0 with its exit code
 * in *code (-1 if a signal killed it), or -1 on timeout (still running). */
int kit_wait(pid_t pid, int timeout_ms, int *code);

/* Sends `signal` to our child `pid`. Returns 0 or -1. */
int kit_signal(pid_t pid, int signal);

/* True while our child `pid` has not exited (does not reap). */
bool kit_running(pid_t pid);

/* SIGKILLs and reaps `pid`. Cannot fail. */
void kit_kill9(pid_t pid);

/* Milliseconds on a monotonic clock. Cannot fail. */
int64_t kit_now_ms(void);

/* Sleeps `ms` milliseconds. Cannot fail. */
void kit_sleep_ms(int ms);

/* --- HTTP, stores, the link ---------------------------------------------- */

/* GET http://127.0.0.1:<port><path>. Stores up to size-1 body bytes in
 * `body` (may be NULL). Returns the HTTP status, or -1 if no answer. */
int kit_http_get(int port, const char *path, char *body, size_t size);

/* Waits up to `timeout_ms` until GET <path> answers `status`. Returns 0 or -1. */
int kit_wait_http(int port, const char *path, int status, int timeout_ms);

/* The value of the first /metrics sample whose name is `name` (labels
 * ignored). Returns 0, or -1 if absent or no answer. */
int kit_metric(int port, const char *name, double *value);

/* Runs a one-integer query on the sqlite file at `db_path` (another process
 * may be writing it). Returns 0 with the value, or -1. */
int kit_sql_int(const char *db_path, const char *sql, long long *value);

/* Runs SQL that returns no rows on the sqlite file at `db_path`. Returns 0
 * or -1. */
int kit_sql_exec(const char *db_path, const char *sql);

/* A link client like a peer's: a DEALER on `endpoint`; with CURVE when
 * `client_secret` (a zcert secret file) and `server_public` (the server's
 * public zcert file) are given. */
typedef struct kit_link_t kit_link_t;

/* Connects. Returns NULL on failure. */
kit_link_t *kit_link_new(const char *endpoint, const char *client_secret,
                         const char *server_public);

/* Closes; sets *link_p to NULL. Cannot fail. */
void kit_link_destroy(kit_link_t **link_p);

/* Sends a LinkProbe with `seq` under message id `id` (16 bytes). Returns 0
 * or -1. */
int kit_link_send_probe(kit_link_t *link, const uint8_t id[16], uint64_t seq);

/* Waits up to `timeout_ms` for an Ack entry answering `id`, ignoring
 * others. Returns 0 with its status (and reason if not NULL), or -1 if
 * none came. */
int kit_link_wait_ack(kit_link_t *link, const uint8_t id[16], int timeout_ms,
                      Vigil__V1__AckStatus *status, Vigil__V1__ReasonCode *reason);

#endif
