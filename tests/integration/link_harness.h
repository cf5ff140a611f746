/* link_harness.h: process and file helpers for the link's integration tests.
 *
 * The tests run real vigil services (link_probe_receiver, link_probe_sender)
 * as child processes with real keys in a temporary directory, kill them with
 * SIGKILL, and inspect their sqlite files afterwards. These helpers create
 * that directory, the CURVE keys and allowlists, pick a free loopback port,
 * and start, kill and reap children by pid. They never touch a process the
 * test did not start.
 */
#ifndef VIGIL_LINK_HARNESS_H
#define VIGIL_LINK_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HARNESS_DIR_MAX   128 /* a temporary directory */
#define HARNESS_STATE_MAX 192 /* a directory inside it */
#define HARNESS_PATH_MAX  512 /* a file anywhere below */

/* Fails the test: prints "FAIL: <message>" and returns 1 from the caller's
 * caller via the `failed` flag convention of each test. */
#define HARNESS_CHECK(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* Creates /tmp/vigil-<tag>-XXXXXX into `out`. Returns 0 or -1. */
int harness_tempdir(const char *tag, char *out, size_t size);

/* Removes a directory tree. Returns 0 or -1. */
int harness_remove_tree(const char *dir);

/* Writes a formatted file (mode 0600). Returns 0 or -1. */
int harness_write(const char *path, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Copies a file. Returns 0 or -1. */
int harness_copy(const char *from, const char *to);

/* mkdir -p (mode 0700). Returns 0 or -1. */
int harness_mkdirs(const char *path);

/* A TCP port on 127.0.0.1 for a service under test to bind. It lies below
 * the kernel's ephemeral range, so no outgoing connection takes it, and it
 * stays reserved to this process (a lock file under /tmp/vigil-test-ports)
 * until the process ends, so tests running in parallel never get the same
 * one. Returns the port or -1. */
int harness_free_port(void);

/* Creates keys for a receiver service `server` under `server_state` and a
 * client service `client` under `client_state`: each gets
 * <state>/keys/<name>.key(_secret); the client gets the server's public
 * cert as <client_state>/keys/<server>.key (its peer server_key) and the
 * server admits the client via <server_state>/keys/allow/<server>/. Returns
 * 0 or -1 with a message on stderr. */
int harness_link_keys(const char *server_state, const char *server, const char *client_state,
                      const char *client);

/* Starts `exe --config config` with stdout and stderr appended to
 * `log_path`. Returns the child's pid or -1. */
pid_t harness_spawn(const char *exe, const char *config, const char *log_path);

/* Waits up to `timeout_ms` for `pid` to exit. Returns 0 and its wait status
 * in *status, or -1 on timeout (the child still runs). */
int harness_wait(pid_t pid, int timeout_ms, int *status);

/* True if `pid` (our child) has exited; reaps it and stores its status. */
bool harness_exited(pid_t pid, int *status);

/* SIGKILLs `pid` and reaps it. Cannot fail. */
void harness_kill9(pid_t pid);

/* SIGTERM, then SIGKILL after `grace_ms`. Returns the exit code or -1 if it
 * had to be killed. */
int harness_stop(pid_t pid, int grace_ms);

/* Sleeps `ms` milliseconds. */
void harness_sleep_ms(int ms);

/* Milliseconds on a monotonic clock. */
long long harness_now_ms(void);

/* Prints the last `lines` lines of a file to stderr (for failures). */
void harness_tail(const char *path, int lines);

/* True if the file contains `needle`. */
bool harness_file_contains(const char *path, const char *needle);

#endif
