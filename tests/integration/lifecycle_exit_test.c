/* lifecycle_exit_test.c: a service that cannot run says why, with the exit
 * code an operator's tooling can act on, and destroys nothing.
 *
 * Store (exit 73, EX_CANTCREAT): a real store, filled by a first run, is
 * damaged three ways: garbage over the whole file, garbage over every page
 * but the first (the header still says "SQLite format 3"), and a schema
 * version newer than the code. Each start exits 73 with an error naming the
 * store file, never says "started", and leaves the file byte for byte as it
 * was (no repair, no re-creation). The intact copy put back starts again
 * with its rows.
 *
 * Ports (exit 69, EX_UNAVAILABLE): a second instance whose link.listen or
 * metrics.listen port the first one holds exits 69 naming the endpoint, and
 * one on the first one's state directory (other ports) exits 69 saying
 * another instance runs there; the first one keeps serving (/healthz 200)
 * and stops cleanly.
 *
 * State directory (exit 73): a state_dir that is a regular file is refused
 * as "Not a directory", not mistaken for another instance's lock.
 *
 * Usage: lifecycle_exit_test PATH/TO/vigil-lifecycle
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lifecycle_kit.h"
#include "vigil/service.h"

#define EXIT_TIMEOUT_MS   20000
#define EXIT_SEND_COUNT   3000 /* enough outbox rows for a store of many pages */
#define EXIT_PAGE_BYTES   4096 /* sqlite's default page size */
#define EXIT_MIN_PAGES    8
#define EXIT_NEWER_SCHEMA "PRAGMA user_version = 99"
#define EXIT_DRAIN_MS     500 /* the peer is down: do not wait for it on SIGTERM */

typedef struct {
    char *bytes;
    size_t size;
} file_copy_t;

static int s_load(const char *path, file_copy_t *copy)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return -1;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    rewind(file);
    copy->bytes = size > 0 ? malloc((size_t)size) : NULL;
    copy->size =
        copy->bytes && fread(copy->bytes, 1, (size_t)size, file) == (size_t)size ? (size_t)size : 0;
    fclose(file);
    return copy->size ? 0 : -1;
}

static int s_store(const char *path, const char *bytes, size_t size)
{
    FILE *file = fopen(path, "wb");
    if (!file)
        return -1;
    int rc = fwrite(bytes, 1, size, file) == size ? 0 : -1;
    return fclose(file) == 0 ? rc : -1;
}

/* True if the file at `path` holds exactly `bytes`. */
static bool s_same(const char *path, const char *bytes, size_t size)
{
    file_copy_t now = {0};
    bool same = s_load(path, &now) == 0 && now.size == size && memcmp(now.bytes, bytes, size) == 0;
    free(now.bytes);
    return same;
}

static void s_remove_sidecars(const char *db)
{
    char path[KIT_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s-wal", db);
    unlink(path);
    snprintf(path, sizeof path, "%s-shm", db);
    unlink(path);
}

/* Starts, waits for "started", SIGTERMs, expects 0. Returns 0 or 1. */
static int s_run_once(const char *exe, const char *config, const char *log, int starts)
{
    pid_t pid = kit_spawn(exe, config, log, NULL);
    KIT_CHECK(pid > 0, "cannot start");
    if (kit_wait_log(pid, log, KIT_STARTED, NULL, starts, EXIT_TIMEOUT_MS)) {
        kit_dump(log);
        KIT_CHECK(false, "the service did not start");
    }
    int code = -1;
    KIT_CHECK(kit_signal(pid, SIGTERM) == 0 && kit_wait(pid, EXIT_TIMEOUT_MS, &code) == 0,
              "no exit after SIGTERM");
    KIT_CHECK(code == SERVICE_EXIT_OK, "exit %d after SIGTERM, want 0", code);
    return 0;
}

/* Writes `damaged` over the store, starts, and expects 73 naming the file,
 * with the file unchanged afterwards. Returns 0 or 1. */
static int s_expect_store_refused(const char *exe, const char *dir, const char *config,
                                  const char *db, const file_copy_t *damaged, const char *what)
{
    char log[KIT_PATH_MAX], name[KIT_PATH_MAX];
    snprintf(name, sizeof name, "store-%s.log", what);
    kit_join(log, dir, name);
    s_remove_sidecars(db);
    KIT_CHECK(s_store(db, damaged->bytes, damaged->size) == 0, "cannot damage %s", db);
    int code = kit_run(log, EXIT_TIMEOUT_MS, exe, "--config", config, NULL);
    if (code != SERVICE_EXIT_STORE)
        kit_dump(log);
    KIT_CHECK(code == SERVICE_EXIT_STORE, "%s: exit %d, want 73", what, code);
    KIT_CHECK(kit_count_lines(log, "level=error", db) >= 1, "%s: no error line naming %s", what,
              db);
    KIT_CHECK(kit_count_lines(log, KIT_STARTED, NULL) == 0, "%s: it said started", what);
    KIT_CHECK(s_same(db, damaged->bytes, damaged->size), "%s: the refused store file was modified",
              what);
    return 0;
}

static int s_check_store(const char *exe, const char *dir)
{
    char state[KIT_PATH_MAX], config[KIT_PATH_MAX], log[KIT_PATH_MAX], db[KIT_PATH_MAX];
    kit_join(state, dir, "store");
    kit_join(config, dir, "store.conf");
    kit_join(log, dir, "store.log");
    kit_join(db, state, "lifecycle.db");
    kit_config_t settings = {.state_dir = state,
                             .link_port = kit_free_port(),
                             .peer_port = kit_free_port(), /* nobody there: rows stay queued */
                             .insecure = true,
                             .drain_timeout_ms = EXIT_DRAIN_MS,
                             .send_count = EXIT_SEND_COUNT};
    KIT_CHECK(kit_write_config(config, &settings) == 0, "cannot write %s", config);
    if (s_run_once(exe, config, log, 1))
        return 1;
    long long rows = 0;
    KIT_CHECK(kit_sql_int(db, "SELECT count(*) FROM link_outbox", &rows) == 0 &&
                  rows == EXIT_SEND_COUNT,
              "the first run left %lld outbox rows, want %d", rows, EXIT_SEND_COUNT);
    s_remove_sidecars(db);
    file_copy_t intact = {0};
    KIT_CHECK(s_load(db, &intact) == 0 && intact.size >= EXIT_MIN_PAGES * EXIT_PAGE_BYTES,
              "the store is too small to damage usefully (%zu bytes)", intact.size);

    file_copy_t damaged = {.bytes = malloc(intact.size), .size = intact.size};
    KIT_CHECK(damaged.bytes, "out of memory");
    int failed = 0;
    /* 1. Garbage over the whole file. */
    randombytes_buf(damaged.bytes, damaged.size);
    failed = failed || s_expect_store_refused(exe, dir, config, db, &damaged, "garbage");
    /* 2. The first page intact, garbage over the rest. */
    memcpy(damaged.bytes, intact.bytes, EXIT_PAGE_BYTES);
    failed = failed || s_expect_store_refused(exe, dir, config, db, &damaged, "pages");
    /* 3. A schema version newer than the code. */
    if (!failed) {
        KIT_CHECK(s_store(db, intact.bytes, intact.size) == 0, "cannot restore %s", db);
        KIT_CHECK(kit_sql_exec(db, EXIT_NEWER_SCHEMA) == 0, "cannot set the schema version");
        s_remove_sidecars(db);
        file_copy_t newer = {0};
        KIT_CHECK(s_load(db, &newer) == 0, "cannot read %s", db);
        failed = s_expect_store_refused(exe, dir, config, db, &newer, "newer");
        free(newer.bytes);
        char newer_log[KIT_PATH_MAX];
        kit_join(newer_log, dir, "store-newer.log");
        if (!failed && kit_count_lines(newer_log, "level=error", "schema version 99") == 0) {
            kit_dump(newer_log);
            fprintf(stderr, "FAIL: the newer-schema error does not say which version it found\n");
            failed = 1;
        }
    }
    free(damaged.bytes);
    if (failed) {
        free(intact.bytes);
        return 1;
    }
    /* The intact store starts again and still holds its rows. */
    s_remove_sidecars(db);
    KIT_CHECK(s_store(db, intact.bytes, intact.size) == 0, "cannot restore %s", db);
    free(intact.bytes);
    if (s_run_once(exe, config, log, 2))
        return 1;
    KIT_CHECK(kit_sql_int(db, "SELECT count(*) FROM link_outbox", &rows) == 0 &&
                  rows == EXIT_SEND_COUNT,
              "the restored store holds %lld outbox rows, want %d", rows, EXIT_SEND_COUNT);
    return 0;
}

/* Writes `settings` to <dir>/<name>.conf, runs the service with it once
 * (its log in <dir>/<name>.log, whose path goes to `log`), and expects it
 * to exit `want` without saying it started. Returns 0 or 1. */
static int s_expect_refusal(const char *exe, const char *dir, const char *name,
                            const kit_config_t *settings, int want, char log[KIT_PATH_MAX])
{
    char config[KIT_PATH_MAX], file[KIT_PATH_MAX];
    snprintf(file, sizeof file, "%s.conf", name);
    kit_join(config, dir, file);
    snprintf(file, sizeof file, "%s.log", name);
    kit_join(log, dir, file);
    KIT_CHECK(kit_write_config(config, settings) == 0, "cannot write %s", config);
    int code = kit_run(log, EXIT_TIMEOUT_MS, exe, "--config", config, NULL);
    if (code != want)
        kit_dump(log);
    KIT_CHECK(code == want, "%s: exit %d, want %d", name, code, want);
    KIT_CHECK(kit_count_lines(log, KIT_STARTED, NULL) == 0, "%s: it said started", name);
    return 0;
}

static int s_check_ports(const char *exe, const char *dir)
{
    char state[KIT_PATH_MAX], config[KIT_PATH_MAX], log[KIT_PATH_MAX];
    kit_join(state, dir, "holder");
    kit_join(config, dir, "holder.conf");
    kit_join(log, dir, "holder.log");
    int link_port = kit_free_port(), metrics_port = kit_free_port();
    kit_config_t holder = {.state_dir = state,
                           .link_port = link_port,
                           .metrics_port = metrics_port,
                           .peer_port = kit_free_port(),
                           .insecure = true};
    KIT_CHECK(kit_write_config(config, &holder) == 0, "cannot write %s", config);
    pid_t pid = kit_spawn(exe, config, log, NULL);
    KIT_CHECK(pid > 0, "cannot start the port holder");
    if (kit_wait_log(pid, log, KIT_STARTED, NULL, 1, EXIT_TIMEOUT_MS)) {
        kit_dump(log);
        KIT_CHECK(false, "the port holder did not start");
    }
    KIT_CHECK(kit_http_get(metrics_port, "/healthz", NULL, 0) == 200, "holder /healthz not 200");

    /* A second instance on the same link port, then on the same metrics port. */
    static const char *const cases[] = {"link", "metrics"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char second_state[KIT_PATH_MAX], second_log[KIT_PATH_MAX], name[KIT_PATH_MAX],
            endpoint[KIT_PATH_MAX];
        snprintf(name, sizeof name, "second-%s", cases[i]);
        kit_join(second_state, dir, name);
        bool link = i == 0;
        kit_config_t second = {.state_dir = second_state,
                               .link_port = link ? link_port : kit_free_port(),
                               .metrics_port = link ? kit_free_port() : metrics_port,
                               .peer_port = kit_free_port(),
                               .insecure = true};
        if (s_expect_refusal(exe, dir, name, &second, SERVICE_EXIT_UNAVAILABLE, second_log))
            return 1;
        if (link)
            snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", link_port);
        else
            snprintf(endpoint, sizeof endpoint, "127.0.0.1:%d", metrics_port);
        if (kit_count_lines(second_log, "level=error", endpoint) == 0)
            kit_dump(second_log);
        KIT_CHECK(kit_count_lines(second_log, "level=error", endpoint) >= 1,
                  "%s port taken: no error line naming %s", cases[i], endpoint);
    }
    /* A second instance on the holder's state directory, on free ports. */
    char second_log[KIT_PATH_MAX];
    kit_config_t second = {.state_dir = state,
                           .link_port = kit_free_port(),
                           .metrics_port = kit_free_port(),
                           .peer_port = kit_free_port(),
                           .insecure = true};
    if (s_expect_refusal(exe, dir, "second-state", &second, SERVICE_EXIT_UNAVAILABLE, second_log))
        return 1;
    KIT_CHECK(kit_count_lines(second_log, "level=error", "another instance") == 1,
              "state directory taken: no 'another instance' error");

    KIT_CHECK(kit_running(pid), "the port holder died");
    KIT_CHECK(kit_http_get(metrics_port, "/healthz", NULL, 0) == 200,
              "the port holder's /healthz is not 200 any more");
    int code = -1;
    KIT_CHECK(kit_signal(pid, SIGTERM) == 0 && kit_wait(pid, EXIT_TIMEOUT_MS, &code) == 0,
              "the port holder did not stop");
    KIT_CHECK(code == SERVICE_EXIT_OK, "the port holder exited %d, want 0", code);
    return 0;
}

/* A state_dir that exists as a regular file: 73, said as such. */
static int s_check_state_file(const char *exe, const char *dir)
{
    char state[KIT_PATH_MAX], log[KIT_PATH_MAX];
    kit_join(state, dir, "state-is-a-file");
    KIT_CHECK(s_store(state, "not a folder\n", 13) == 0, "cannot write %s", state);
    kit_config_t settings = {.state_dir = state,
                             .link_port = kit_free_port(),
                             .metrics_port = kit_free_port(),
                             .peer_port = kit_free_port(),
                             .insecure = true};
    if (s_expect_refusal(exe, dir, "state-file", &settings, SERVICE_EXIT_STORE, log))
        return 1;
    KIT_CHECK(kit_count_lines(log, "cannot create the state directory", "Not a directory") == 1,
              "state_dir is a file: no 'Not a directory' error naming it");
    KIT_CHECK(kit_count_lines(log, "another instance", NULL) == 0,
              "state_dir is a file: reported as another instance");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/TO/vigil-lifecycle\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    char dir[KIT_PATH_MAX];
    if (kit_tempdir("lifecycle-exit", dir))
        return 1;
    int failed = s_check_store(argv[1], dir) || s_check_ports(argv[1], dir) ||
                 s_check_state_file(argv[1], dir);
    return kit_finish(failed);
}
