/* lifecycle_security_test.c: security is on unless the config turns it off,
 * and turning it off is loud.
 *
 * A service with a TCP link.listen and no key files refuses to start: exit
 * 77 (EX_NOPERM) with a message naming the missing secret key file. A secret
 * key file that group or others may read is refused the same way. With the
 * keys in place it starts with CURVE and logs no security warning. With
 * `security = { insecure = true; }` and no keys it starts, and every start
 * (two here) logs a level=warn line saying security is disabled.
 *
 * Usage: lifecycle_security_test PATH/TO/vigil-lifecycle
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lifecycle_kit.h"
#include "vigil/service.h"

#define SEC_START_TIMEOUT_MS 20000
#define SEC_STOP_TIMEOUT_MS  20000
#define SEC_OPEN_MODE        0644

/* Starts the service, waits for its "started" line, stops it with SIGTERM
 * and expects exit 0. `starts` is how many "started" lines the log should
 * then hold. Returns 0 or 1. */
static int s_start_and_stop(const char *exe, const char *config, const char *log, int starts)
{
    pid_t pid = kit_spawn(exe, config, log, NULL);
    KIT_CHECK(pid > 0, "cannot start %s", exe);
    if (kit_wait_log(pid, log, KIT_STARTED, NULL, starts, SEC_START_TIMEOUT_MS)) {
        kit_dump(log);
        KIT_CHECK(false, "the service did not start (start %d)", starts);
    }
    KIT_CHECK(kit_signal(pid, SIGTERM) == 0, "cannot signal the service");
    int code = -1;
    KIT_CHECK(kit_wait(pid, SEC_STOP_TIMEOUT_MS, &code) == 0, "no exit after SIGTERM");
    KIT_CHECK(code == SERVICE_EXIT_OK, "exit %d after SIGTERM, want 0", code);
    return 0;
}

static int s_check_missing_keys(const char *exe, const char *dir)
{
    char state[KIT_PATH_MAX], config[KIT_PATH_MAX], out[KIT_PATH_MAX], secret[KIT_PATH_MAX];
    kit_join(state, dir, "nokeys");
    kit_join(config, dir, "nokeys.conf");
    kit_join(out, dir, "nokeys.log");
    kit_join(secret, state, "keys/lifecycle.key_secret");
    kit_config_t settings = {
        .state_dir = state, .link_port = kit_free_port(), .peer_port = kit_free_port()};
    KIT_CHECK(kit_write_config(config, &settings) == 0, "cannot write %s", config);
    int code = kit_run(out, SEC_START_TIMEOUT_MS, exe, "--config", config, NULL);
    if (code != SERVICE_EXIT_NOPERM)
        kit_dump(out);
    KIT_CHECK(code == SERVICE_EXIT_NOPERM, "a TCP listener without keys exited %d, want 77", code);
    KIT_CHECK(kit_count_lines(out, "level=error", secret) >= 1,
              "the error does not name the missing key file %s", secret);
    KIT_CHECK(kit_count_lines(out, KIT_STARTED, NULL) == 0, "it said started");

    /* A secret key readable by others is refused too, naming the file. */
    KIT_CHECK(kit_instance_keys(state, "nokeys") == 0, "keygen failed");
    KIT_CHECK(chmod(secret, SEC_OPEN_MODE) == 0, "chmod failed");
    kit_join(out, dir, "openkey.log");
    code = kit_run(out, SEC_START_TIMEOUT_MS, exe, "--config", config, NULL);
    if (code != SERVICE_EXIT_NOPERM)
        kit_dump(out);
    KIT_CHECK(code == SERVICE_EXIT_NOPERM, "a world-readable secret key exited %d, want 77", code);
    KIT_CHECK(kit_count_lines(out, secret, "chmod 600") >= 1,
              "the error does not name %s and the fix", secret);
    return 0;
}

static int s_check_secure_start(const char *exe, const char *dir)
{
    char state[KIT_PATH_MAX], other[KIT_PATH_MAX], config[KIT_PATH_MAX], log[KIT_PATH_MAX];
    kit_join(state, dir, "secure");
    kit_join(other, dir, "other");
    kit_join(config, dir, "secure.conf");
    kit_join(log, dir, "secure.log");
    /* Its own keys, and a peer that admits it and that it admits. */
    KIT_CHECK(kit_instance_keys(state, "secure") == 0 && kit_instance_keys(other, "other") == 0 &&
                  kit_admit(other, state, false) == 0 && kit_admit(state, other, false) == 0,
              "keygen failed");
    kit_config_t settings = {
        .state_dir = state, .link_port = kit_free_port(), .peer_port = kit_free_port()};
    KIT_CHECK(kit_write_config(config, &settings) == 0, "cannot write %s", config);
    if (s_start_and_stop(exe, config, log, 1))
        return 1;
    KIT_CHECK(kit_count_lines(log, "insecure=false", KIT_STARTED) == 1,
              "the started line does not say insecure=false");
    KIT_CHECK(kit_count_lines(log, "SECURITY DISABLED", NULL) == 0 &&
                  kit_count_lines(log, "WITHOUT CURVE", NULL) == 0,
              "a secure start warned that security is disabled");
    return 0;
}

static int s_check_insecure(const char *exe, const char *dir)
{
    char state[KIT_PATH_MAX], config[KIT_PATH_MAX], log[KIT_PATH_MAX];
    kit_join(state, dir, "insecure");
    kit_join(config, dir, "insecure.conf");
    kit_join(log, dir, "insecure.log");
    kit_config_t settings = {.state_dir = state,
                             .link_port = kit_free_port(),
                             .peer_port = kit_free_port(),
                             .insecure = true};
    KIT_CHECK(kit_write_config(config, &settings) == 0, "cannot write %s", config);
    for (int start = 1; start <= 2; start++) {
        if (s_start_and_stop(exe, config, log, start))
            return 1;
        int warnings = kit_count_lines(log, "level=warn", "SECURITY DISABLED");
        if (warnings != start)
            kit_dump(log);
        KIT_CHECK(warnings == start, "after start %d: %d 'SECURITY DISABLED' warn lines, want %d",
                  start, warnings, start);
        KIT_CHECK(kit_count_lines(log, "insecure=true", KIT_STARTED) == start,
                  "the started line does not say insecure=true");
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/TO/vigil-lifecycle\n", argv[0]);
        return 2;
    }
    char dir[KIT_PATH_MAX];
    if (kit_tempdir("lifecycle-sec", dir))
        return 1;
    int failed = s_check_missing_keys(argv[1], dir) || s_check_secure_start(argv[1], dir) ||
                 s_check_insecure(argv[1], dir);
    return kit_finish(failed);
}
