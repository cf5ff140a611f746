/* main.c: vigilctl, the operator's command line for a vigil mesh.
 *
 * Parses global options (anywhere on the line), finds the subcommand in one
 * table and runs it. Talks to services only through their admin endpoints
 * (see call.c); writes files only for `keygen`. Exit codes are listed in
 * the help text and in vigilctl.h.
 */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/log.h"
#include "vigil/service.h"
#include "vigilctl.h"

enum {
    MAIN_DECIMAL = 10,
    MAIN_TIMEOUT_MAX_MS = 3600000, /* an hour */
};

/* One subcommand: one or two words, then its positional arguments. */
typedef struct {
    const char *word;
    const char *subword; /* NULL for one-word commands */
    int (*run)(const ctl_options_t *options);
    const char *usage;
    const char *help;
} main_command_t;

static const main_command_t s_commands[] = {
    {"keygen", NULL, ctl_cmd_keygen, "keygen PATH [--name NAME]",
     "write a CURVE keypair: PATH (public) and PATH_secret (mode 0600)"},
    {"status", NULL, ctl_cmd_status, "status [SERVICE...]",
     "state, facts and counters (default: every *.admin socket in the state dir)"},
    {"health", NULL, ctl_cmd_health, "health SERVICE",
     "liveness and readiness; exits 1 if the service is not ready"},
    {"deadletters", "list", ctl_cmd_deadletters_list, "deadletters list SERVICE [--limit N]",
     "messages parked after their handler failed too often"},
    {"deadletters", "replay", ctl_cmd_deadletters_replay, "deadletters replay SERVICE (ID | --all)",
     "run the handler again for parked messages"},
    {"reload", NULL, ctl_cmd_reload, "reload SERVICE",
     "reload what can be reloaded (as SIGHUP; triage: region rosters and settings too)"},
    {"cases", "list", ctl_cmd_cases_list, "cases list [--limit N]",
     "intake: newest cases, without personal data"},
    {"case", "show", ctl_cmd_case_show, "case show CASE_ID --operator ID",
     "intake: one case with its decrypted contact; the read is audited"},
    {"rotate-key", NULL, ctl_cmd_rotate_key, "rotate-key",
     "intake: re-encrypt stored personal data under the current vault key"},
    {"reload-plugins", NULL, ctl_cmd_reload_plugins, "reload-plugins",
     "triage: load and swap the region policy plugins (files only)"},
    {"directory", "import", ctl_cmd_directory_import, "directory import PATH",
     "triage: import an HSDS service directory"},
};
#define MAIN_COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

enum {
    OPT_STATE_DIR = 256,
    OPT_ENDPOINT,
    OPT_JSON,
    OPT_TIMEOUT,
    OPT_LIMIT,
    OPT_ALL,
    OPT_OPERATOR,
    OPT_NAME,
    OPT_CERT,
    OPT_SERVER_KEY,
    OPT_SERVICE,
    OPT_VERSION,
    OPT_HELP = 'h',
};

static const struct option s_options[] = {
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"all", no_argument, NULL, OPT_ALL},
    {"operator", required_argument, NULL, OPT_OPERATOR},
    {"name", required_argument, NULL, OPT_NAME},
    {"cert", required_argument, NULL, OPT_CERT},
    {"server-key", required_argument, NULL, OPT_SERVER_KEY},
    {"service", required_argument, NULL, OPT_SERVICE},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void s_usage(FILE *out)
{
    fputs("usage: vigilctl [OPTIONS] COMMAND [ARGS]\n\ncommands:\n", out);
    for (size_t i = 0; i < MAIN_COMMAND_COUNT; i++)
        fprintf(out, "  %-42s %s\n", s_commands[i].usage, s_commands[i].help);
    fprintf(out,
            "\noptions (anywhere on the line):\n"
            "  --state-dir DIR    where services keep their sockets and keys (default: "
            "$" CTL_STATE_DIR_ENV " or " CTL_DEFAULT_STATE_DIR ")\n"
            "  --endpoint E       talk to this admin endpoint instead of "
            "ipc://DIR/SERVICE.admin\n"
            "  --cert FILE        for a tcp:// endpoint: this client's secret cert (default: "
            "DIR/keys/" CTL_CLIENT_KEY_NAME ".key_secret)\n"
            "  --server-key KEY   for a tcp:// endpoint: the service's public cert or Z85 key "
            "(default: DIR/keys/SERVICE.key)\n"
            "  --service NAME     the service, for commands that take SERVICE\n"
            "  --json             machine-readable output (the admin reply as JSON)\n"
            "  --timeout MS       how long to wait for an answer\n"
            "  --limit N          at most N rows\n"
            "  --all              deadletters replay: every parked message\n"
            "  --operator ID      who is asking (required by case show; audited)\n"
            "  --name NAME        keygen: the name in the cert (default: PATH without "
            "extension)\n"
            "\nexit codes: %d ok; %d the service said no (or health: not ready); %d usage; "
            "%d no answer; %d local failure\n",
            CTL_EXIT_OK, CTL_EXIT_FAILED, CTL_EXIT_USAGE, CTL_EXIT_UNAVAILABLE, CTL_EXIT_SOFTWARE);
}

/* Parses a non-negative decimal up to `max`. Returns 0 or -1. */
static int s_parse_number(const char *text, long max, long *value)
{
    char *end = NULL;
    errno = 0;
    long parsed = strtol(text, &end, MAIN_DECIMAL);
    if (errno || !end || *end || end == text || parsed < 0 || parsed > max)
        return -1;
    *value = parsed;
    return 0;
}

static int s_parse_options(int argc, char **argv, ctl_options_t *options)
{
    const char *env_state = getenv(CTL_STATE_DIR_ENV);
    options->state_dir = env_state && *env_state ? env_state : CTL_DEFAULT_STATE_DIR;
    opterr = 0;
    int opt;
    long number = 0;
    while ((opt = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        switch (opt) {
        case OPT_STATE_DIR:
            options->state_dir = optarg;
            break;
        case OPT_ENDPOINT:
            options->endpoint = optarg;
            break;
        case OPT_JSON:
            options->json = true;
            break;
        case OPT_TIMEOUT:
            if (s_parse_number(optarg, MAIN_TIMEOUT_MAX_MS, &number) != 0 || number == 0) {
                fprintf(stderr, "vigilctl: --timeout '%s': give milliseconds, 1 to %d\n", optarg,
                        MAIN_TIMEOUT_MAX_MS);
                return -1;
            }
            options->timeout_ms = (int)number;
            break;
        case OPT_LIMIT:
            if (s_parse_number(optarg, UINT32_MAX > LONG_MAX ? LONG_MAX : (long)UINT32_MAX,
                               &number) != 0) {
                fprintf(stderr, "vigilctl: --limit '%s': give a row count\n", optarg);
                return -1;
            }
            options->limit = (uint32_t)number;
            break;
        case OPT_ALL:
            options->all = true;
            break;
        case OPT_OPERATOR:
            options->operator_id = optarg;
            break;
        case OPT_NAME:
            options->name = optarg;
            break;
        case OPT_CERT:
            options->cert = optarg;
            break;
        case OPT_SERVER_KEY:
            options->server_key = optarg;
            break;
        case OPT_SERVICE:
            options->service = optarg;
            break;
        case OPT_VERSION:
            printf("vigilctl %s\n", VIGIL_VERSION);
            exit(CTL_EXIT_OK);
        case OPT_HELP:
            s_usage(stdout);
            exit(CTL_EXIT_OK);
        default:
            fprintf(stderr,
                    "vigilctl: option '%s' is unknown or lacks its value (see vigilctl "
                    "--help)\n",
                    argv[optind - 1]);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* czmq must not install its own SIGINT handler in a short-lived tool. */
    zsys_handler_set(NULL);
    log_init("vigilctl", LOG_LEVEL_WARN);
    ctl_options_t options = {0};
    if (s_parse_options(argc, argv, &options) != 0)
        return CTL_EXIT_USAGE;
    int rest = argc - optind;
    char **words = argv + optind;
    if (rest == 0) {
        s_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < MAIN_COMMAND_COUNT; i++) {
        const main_command_t *command = &s_commands[i];
        if (strcmp(words[0], command->word) != 0)
            continue;
        int used = 1;
        if (command->subword) {
            if (rest < 2 || strcmp(words[1], command->subword) != 0)
                continue;
            used = 2;
        }
        options.argc = rest - used;
        options.argv = words + used;
        int code = command->run(&options);
        zsys_shutdown();
        return code;
    }
    fprintf(stderr, "vigilctl: unknown command '%s%s%s' (see vigilctl --help)\n", words[0],
            rest > 1 ? " " : "", rest > 1 ? words[1] : "");
    return CTL_EXIT_USAGE;
}
