/* lifecycle_cli_test.c: what an operator sees before a service starts.
 *
 * Runs the real vigil-lifecycle binary and checks its exit codes and output:
 * --version prints the version of vigil and of each library and exits 0;
 * --help exits 0; an unknown option exits 64 (EX_USAGE). --check-config on
 * a good file exits 0 and prints the effective settings (including the
 * ones derived from state_dir); on an unknown key, a wrong type, an
 * out-of-range value, a bad peers entry or a libconfig syntax error it exits
 * 78 (EX_CONFIG) with a message "FILE:LINE: ..." naming the very line that
 * is wrong. Nothing is started and nothing is written to the state dir.
 *
 * Usage: lifecycle_cli_test PATH/TO/vigil-lifecycle
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lifecycle_kit.h"
#include "vigil/service.h"

#define CLI_TIMEOUT_MS 20000

typedef struct {
    const char *what;
    const char *text; /* config text; the bad line is line `line` */
    int line;
    const char *says; /* a word the message must contain */
} bad_config_t;

/* Each bad config breaks exactly one line, and the message must name it. */
static const bad_config_t s_bad_configs[] = {
    {"unknown key", "state_dir = \"%s\";\nlog_level = \"info\";\ncolour = \"blue\";\n", 3,
     "colour"},
    {"wrong type", "state_dir = \"%s\";\nlink = {\n    batch_max = \"many\";\n};\n", 3,
     "batch_max"},
    {"out of range", "state_dir = \"%s\";\n\n\n\nlink = { max_frame = 12; };\n", 5, "max_frame"},
    {"out of range (drain)", "state_dir = \"%s\";\ndrain = { timeout_ms = -5; };\n", 2,
     "timeout_ms"},
    {"bad peers entry (unknown key)",
     "state_dir = \"%s\";\npeers = (\n  { name = \"peer\"; endpoint = \"tcp://127.0.0.1:1\"; },\n"
     "  { name = \"other\"; endpoint = \"tcp://127.0.0.1:2\";\n    colour = 3; }\n);\n",
     5, "colour"},
    {"bad peers entry (missing endpoint)",
     "state_dir = \"%s\";\npeers = (\n  { name = \"peer\"; }\n);\n", 3, "endpoint"},
    {"bad peers entry (window out of range)",
     "state_dir = \"%s\";\npeers = ( { name = \"peer\"; endpoint = \"tcp://127.0.0.1:1\";\n"
     "            window = 0; } );\n",
     3, "window"},
    {"syntax error",
     "state_dir = \"%s\";\nlog_level = \"info\";\nlink = {\n    batch_max = = 4;\n};\n", 4,
     "syntax"},
    {"syntax error (unclosed group)", "state_dir = \"%s\";\nlink = {\n    batch_max = 4;\n", 4,
     "syntax"},
};

static int s_check_basics(const char *exe, const char *dir)
{
    char out[KIT_PATH_MAX];
    kit_join(out, dir, "version.out");
    int code = kit_run(out, CLI_TIMEOUT_MS, exe, "--version", NULL);
    KIT_CHECK(code == SERVICE_EXIT_OK, "--version exited %d, want 0", code);
    char *text = kit_read(out);
    KIT_CHECK(text && strstr(text, "vigil-lifecycle " VIGIL_VERSION), "--version: no version: %s",
              text ? text : "(nothing)");
    bool libraries = strstr(text, "libzmq") && strstr(text, "czmq") && strstr(text, "sqlite") &&
                     strstr(text, "protobuf-c") && strstr(text, "libsodium");
    free(text);
    KIT_CHECK(libraries, "--version does not name every library version");

    kit_join(out, dir, "help.out");
    code = kit_run(out, CLI_TIMEOUT_MS, exe, "--help", NULL);
    KIT_CHECK(code == SERVICE_EXIT_OK, "--help exited %d, want 0", code);
    KIT_CHECK(kit_count_lines(out, "--check-config", NULL) > 0, "--help does not list options");

    kit_join(out, dir, "unknown.out");
    code = kit_run(out, CLI_TIMEOUT_MS, exe, "--no-such-option", NULL);
    KIT_CHECK(code == SERVICE_EXIT_USAGE, "unknown option exited %d, want 64", code);
    KIT_CHECK(kit_count_lines(out, "usage:", NULL) > 0, "unknown option: no usage text");

    kit_join(out, dir, "stray.out");
    code = kit_run(out, CLI_TIMEOUT_MS, exe, "stray-argument", NULL);
    KIT_CHECK(code == SERVICE_EXIT_USAGE, "stray argument exited %d, want 64", code);
    return 0;
}

static int s_check_good_config(const char *exe, const char *dir)
{
    char config[KIT_PATH_MAX], state[KIT_PATH_MAX], out[KIT_PATH_MAX];
    kit_join(config, dir, "good.conf");
    kit_join(state, dir, "state");
    kit_join(out, dir, "good.out");
    /* Never bound (only checked), but free ports all the same. */
    int link_port = kit_free_port();
    kit_config_t settings = {.state_dir = state,
                             .link_port = link_port,
                             .peer_port = kit_free_port(),
                             .log_level = "warn",
                             .drain_timeout_ms = 1234,
                             .send_count = 7};
    KIT_CHECK(kit_write_config(config, &settings) == 0, "cannot write %s", config);
    int code = kit_run(out, CLI_TIMEOUT_MS, exe, "--check-config", "--config", config, NULL);
    if (code != SERVICE_EXIT_OK)
        kit_dump(out);
    KIT_CHECK(code == SERVICE_EXIT_OK, "--check-config on a good file exited %d, want 0", code);
    /* The effective settings: what the file says, the defaults it left out,
     * and the paths derived from state_dir. */
    char listen[KIT_PATH_MAX];
    snprintf(listen, sizeof listen, "link.listen = \"tcp://127.0.0.1:%d\"", link_port);
    const char *const expected[] = {
        "configuration OK",
        "log_level = \"warn\"",
        listen,
        "drain.timeout_ms = 1234",
        "link.batch_max = 4096",
        "security.insecure = false",
        "lifecycle.send_count = 7",
        "/state/lifecycle.db\"",
        "/state/keys/lifecycle.key_secret\"",
        NULL,
    };
    for (const char *const *line = expected; *line; line++) {
        if (kit_count_lines(out, *line, NULL) == 0)
            kit_dump(out);
        KIT_CHECK(kit_count_lines(out, *line, NULL) == 1, "--check-config does not print '%s'",
                  *line);
    }
    struct stat st;
    KIT_CHECK(stat(state, &st) != 0, "--check-config created the state directory %s", state);
    return 0;
}

static int s_check_bad_configs(const char *exe, const char *dir)
{
    for (size_t i = 0; i < sizeof s_bad_configs / sizeof s_bad_configs[0]; i++) {
        const bad_config_t *bad = &s_bad_configs[i];
        char config[KIT_PATH_MAX], out[KIT_PATH_MAX], where[KIT_PATH_MAX + 16];
        char name[KIT_PATH_MAX];
        snprintf(name, sizeof name, "bad-%zu.conf", i);
        kit_join(config, dir, name);
        snprintf(name, sizeof name, "bad-%zu.out", i);
        kit_join(out, dir, name);
        KIT_CHECK(kit_write(config, bad->text, dir) == 0, "cannot write %s", config);
        int code = kit_run(out, CLI_TIMEOUT_MS, exe, "--check-config", "--config", config, NULL);
        if (code != SERVICE_EXIT_CONFIG)
            kit_dump(out);
        KIT_CHECK(code == SERVICE_EXIT_CONFIG, "%s: --check-config exited %d, want 78", bad->what,
                  code);
        snprintf(where, sizeof where, "%s:%d:", config, bad->line);
        if (kit_count_lines(out, where, bad->says) != 1)
            kit_dump(out);
        KIT_CHECK(kit_count_lines(out, where, bad->says) == 1,
                  "%s: the message does not say '%s' with '%s'", bad->what, where, bad->says);
        KIT_CHECK(kit_count_lines(out, "configuration OK", NULL) == 0,
                  "%s: --check-config printed OK", bad->what);
        /* The same file refuses a real start too, with the same code. */
        code = kit_run(out, CLI_TIMEOUT_MS, exe, "--config", config, NULL);
        KIT_CHECK(code == SERVICE_EXIT_CONFIG, "%s: a start exited %d, want 78", bad->what, code);
    }
    char out[KIT_PATH_MAX], missing[KIT_PATH_MAX];
    kit_join(out, dir, "missing.out");
    kit_join(missing, dir, "no-such.conf");
    int code = kit_run(out, CLI_TIMEOUT_MS, exe, "--check-config", "--config", missing, NULL);
    KIT_CHECK(code == SERVICE_EXIT_CONFIG, "a missing config file exited %d, want 78", code);
    KIT_CHECK(kit_count_lines(out, missing, NULL) == 1, "the message does not name %s", missing);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/TO/vigil-lifecycle\n", argv[0]);
        return 2;
    }
    char dir[KIT_PATH_MAX];
    if (kit_tempdir("lifecycle-cli", dir))
        return 1;
    int failed = s_check_basics(argv[1], dir) || s_check_good_config(argv[1], dir) ||
                 s_check_bad_configs(argv[1], dir);
    return kit_finish(failed);
}
