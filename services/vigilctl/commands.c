/* commands.c: what each vigilctl subcommand asks and prints.
 *
 * Each command builds one AdminRequest, sends it with ctl_call() and prints
 * the reply (show.c), or with --json the reply itself. Commands aimed at one
 * service (cases, case show, rotate-key: intake; reload-plugins, directory
 * import: triage) name it here. Only `case show` may print personal data:
 * every other command clears [pii] fields before printing anything.
 */
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "vigil/pbjson.h"
#include "vigil/pii.h"
#include "vigil/security.h"
#include "vigilctl.h"

enum {
    CMD_TIMEOUT_MS = 5000,        /* a quick question: status, list, reload */
    CMD_LONG_TIMEOUT_MS = 120000, /* re-encrypting a store, importing a directory */
    CMD_ERR_LEN = 512,
    CMD_MAX_SERVICES = 64, /* sockets `status` looks at in one state dir */
    CMD_SERVICE_NAME_MAX = 65,
    CMD_DECIMAL = 10,
};

static const char s_admin_suffix[] = ".admin";
static const char s_intake[] = "intake";
static const char s_triage[] = "triage";

/* The service a command is aimed at: the first positional argument, or
 * --service. Prints a usage error and returns NULL if neither is valid. */
static const char *s_target(const ctl_options_t *options, const char *usage)
{
    const char *service = options->argc > 0 ? options->argv[0] : options->service;
    if (!service) {
        fprintf(stderr, "vigilctl: which service? usage: vigilctl %s\n", usage);
        return NULL;
    }
    if (!ctl_valid_service_name(service)) {
        fprintf(stderr, "vigilctl: '%s' is not a service name ([a-z0-9_-], e.g. intake)\n",
                service);
        return NULL;
    }
    return service;
}

static Vigil__V1__AdminRequest s_request(const ctl_options_t *options,
                                         Vigil__V1__AdminCommand command)
{
    Vigil__V1__AdminRequest request = VIGIL__V1__ADMIN_REQUEST__INIT;
    request.command = command;
    request.limit = options->limit;
    if (options->operator_id)
        request.operator_id = (char *)options->operator_id;
    return request;
}

/* Sends, prints the JSON or runs `show`, frees. Returns the exit code. For
 * every command but CASE_SHOW, personal fields are cleared first. */
static int s_run(const ctl_options_t *options, const char *service,
                 Vigil__V1__AdminRequest *request, int timeout_ms,
                 void (*show)(FILE *out, const Vigil__V1__AdminReply *reply, const char *service))
{
    Vigil__V1__AdminReply *reply = NULL;
    int code = ctl_call(options, service, request, timeout_ms, &reply);
    if (!reply)
        return code;
    bool personal = request->command == VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW;
    if (!personal)
        pii_redact(&reply->base);
    if (options->json) {
        if (ctl_print_json(reply, personal) != 0 && code == CTL_EXIT_OK)
            code = CTL_EXIT_SOFTWARE;
    } else if (code == CTL_EXIT_OK && show) {
        show(stdout, reply, service);
    }
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    return code;
}

/* --- keygen ----------------------------------------------------------------- */

int ctl_cmd_keygen(const ctl_options_t *options)
{
    if (options->argc != 1) {
        fprintf(stderr, "vigilctl: usage: vigilctl keygen PATH [--name NAME]\n");
        return CTL_EXIT_USAGE;
    }
    const char *path = options->argv[0];
    char stem[PATH_MAX];
    const char *base = strrchr(path, '/');
    snprintf(stem, sizeof stem, "%s", base ? base + 1 : path);
    char *dot = strchr(stem, '.');
    if (dot && dot != stem)
        *dot = '\0';
    const char *name = options->name ? options->name : stem;
    char err[CMD_ERR_LEN] = "";
    if (security_keygen(path, name, err, sizeof err) != 0) {
        fprintf(stderr, "vigilctl: keygen: %s\n", err);
        return CTL_EXIT_FAILED;
    }
    zcert_t *cert = zcert_load(path);
    const char *public_key = cert ? zcert_public_txt(cert) : "";
    if (options->json) {
        json_t *object = json_pack("{s:s, s:s+, s:s, s:s}", "public", path, "secret", path,
                                   "_secret", "name", name, "public_key", public_key);
        if (object) {
            json_dumpf(object, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(object);
        }
    } else {
        printf("wrote %s (public: share it) and %s_secret (private: mode 0600)\n", path, path);
        printf("name        %s\npublic key  %s\n", name, public_key);
    }
    zcert_destroy(&cert);
    return CTL_EXIT_OK;
}

/* --- status and health ------------------------------------------------------- */

static int s_compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Fills `names` with the services that have a socket <state>/NAME.admin,
 * sorted. Returns how many. */
static size_t s_find_services(const char *state_dir, char names[][CMD_SERVICE_NAME_MAX], size_t max)
{
    DIR *dir = opendir(state_dir);
    if (!dir)
        return 0;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) && count < max) {
        size_t len = strlen(entry->d_name);
        size_t suffix = sizeof s_admin_suffix - 1;
        if (len <= suffix || strcmp(entry->d_name + len - suffix, s_admin_suffix) != 0 ||
            len - suffix >= CMD_SERVICE_NAME_MAX)
            continue;
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", state_dir, entry->d_name);
        if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        snprintf(names[count], CMD_SERVICE_NAME_MAX, "%.*s", (int)(len - suffix), entry->d_name);
        if (ctl_valid_service_name(names[count]))
            count++;
    }
    closedir(dir);
    qsort(names, count, CMD_SERVICE_NAME_MAX, s_compare_names);
    return count;
}

int ctl_cmd_status(const ctl_options_t *options)
{
    static char found[CMD_MAX_SERVICES][CMD_SERVICE_NAME_MAX];
    const char *services[CMD_MAX_SERVICES];
    size_t count = 0;
    if (options->argc > 0) {
        for (int i = 0; i < options->argc && count < CMD_MAX_SERVICES; i++)
            services[count++] = options->argv[i];
    } else if (options->service) {
        services[count++] = options->service;
    } else {
        count = s_find_services(options->state_dir, found, CMD_MAX_SERVICES);
        for (size_t i = 0; i < count; i++)
            services[i] = found[i];
        if (count == 0) {
            fprintf(stderr,
                    "vigilctl: no service admin sockets (*.admin) in %s: is any service "
                    "running? (--state-dir DIR or VIGIL_STATE_DIR picks another)\n",
                    options->state_dir);
            return CTL_EXIT_UNAVAILABLE;
        }
    }
    for (size_t i = 0; i < count; i++)
        if (!ctl_valid_service_name(services[i])) {
            fprintf(stderr, "vigilctl: '%s' is not a service name\n", services[i]);
            return CTL_EXIT_USAGE;
        }

    Vigil__V1__AdminReply *replies[CMD_MAX_SERVICES] = {0};
    int worst = CTL_EXIT_OK;
    for (size_t i = 0; i < count; i++) {
        Vigil__V1__AdminRequest request =
            s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS);
        int code = ctl_call(options, services[i], &request, CMD_TIMEOUT_MS, &replies[i]);
        if (replies[i])
            pii_redact(&replies[i]->base);
        if (code != CTL_EXIT_OK && (worst == CTL_EXIT_OK || code == CTL_EXIT_UNAVAILABLE))
            worst = code;
    }
    if (options->json) {
        json_t *all = json_object();
        for (size_t i = 0; all && i < count; i++) {
            json_t *one = NULL;
            if (replies[i]) {
                one = pbjson_from_message(&replies[i]->base, 0);
                if (one)
                    json_object_set_new(one, "ok", json_boolean(replies[i]->ok));
            } else {
                one = json_pack("{s:b, s:s}", "ok", 0, "error", "no answer");
            }
            json_object_set_new(all, services[i], one ? one : json_null());
        }
        json_dumpf(all, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        fputc('\n', stdout);
        json_decref(all);
    } else {
        ctl_show_status_summary(stdout, services, replies, count);
        for (size_t i = 0; i < count; i++)
            if (replies[i] && replies[i]->ok) {
                fputc('\n', stdout);
                ctl_show_status_details(stdout, replies[i]);
            }
    }
    for (size_t i = 0; i < count; i++)
        if (replies[i])
            vigil__v1__admin_reply__free_unpacked(replies[i], NULL);
    return worst;
}

int ctl_cmd_health(const ctl_options_t *options)
{
    const char *service = s_target(options, "health SERVICE");
    if (!service)
        return CTL_EXIT_USAGE;
    Vigil__V1__AdminRequest request =
        s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_HEALTH);
    Vigil__V1__AdminReply *reply = NULL;
    int code = ctl_call(options, service, &request, CMD_TIMEOUT_MS, &reply);
    if (!reply)
        return code;
    pii_redact(&reply->base);
    bool ready = reply->status && reply->status->ready;
    if (options->json) {
        ctl_print_json(reply, false);
    } else if (code == CTL_EXIT_OK) {
        char uptime[CMD_ERR_LEN] = "-";
        if (reply->status)
            ctl_format_duration(reply->status->uptime_s, uptime, sizeof uptime);
        printf("%s: %s, %s, up %s%s\n", service,
               reply->status && *reply->status->state ? reply->status->state : "answering",
               ready ? "ready" : "NOT ready", uptime,
               reply->status && reply->status->insecure ? ", INSECURE" : "");
    }
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    if (code == CTL_EXIT_OK && !ready)
        return CTL_EXIT_FAILED;
    return code;
}

/* --- dead letters and reload ----------------------------------------------- */

static void s_show_dead_letters(FILE *out, const Vigil__V1__AdminReply *reply, const char *service)
{
    (void)service;
    ctl_show_dead_letters(out, reply);
}

int ctl_cmd_deadletters_list(const ctl_options_t *options)
{
    const char *service = s_target(options, "deadletters list SERVICE [--limit N]");
    if (!service)
        return CTL_EXIT_USAGE;
    if (options->argc > 1) {
        fprintf(stderr, "vigilctl: usage: vigilctl deadletters list SERVICE [--limit N]\n");
        return CTL_EXIT_USAGE;
    }
    Vigil__V1__AdminRequest request =
        s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DEADLETTERS_LIST);
    return s_run(options, service, &request, CMD_TIMEOUT_MS, s_show_dead_letters);
}

static void s_show_affected(FILE *out, const Vigil__V1__AdminReply *reply, const char *what)
{
    fprintf(out, "%u %s\n", reply->affected, what);
    if (reply->n_facts > 0)
        ctl_show_facts(out, reply->facts, reply->n_facts, 0);
}

static void s_show_replayed(FILE *out, const Vigil__V1__AdminReply *reply, const char *service)
{
    (void)service;
    s_show_affected(out, reply,
                    reply->affected == 1 ? "dead letter replayed" : "dead letters replayed");
}

int ctl_cmd_deadletters_replay(const ctl_options_t *options)
{
    static const char usage[] = "deadletters replay SERVICE (ID | --all)";
    const char *service = s_target(options, usage);
    if (!service)
        return CTL_EXIT_USAGE;
    const char *id = options->argc == 2 ? options->argv[1] : NULL;
    if (options->argc > 2 || (id == NULL) == !options->all) {
        fprintf(stderr, "vigilctl: give one dead-letter ID or --all: vigilctl %s\n", usage);
        return CTL_EXIT_USAGE;
    }
    if (id) {
        char *end = NULL;
        errno = 0;
        long long value = strtoll(id, &end, CMD_DECIMAL);
        if (errno || !end || *end || value <= 0) {
            fprintf(stderr,
                    "vigilctl: dead-letter ID '%s' is not a positive number (see "
                    "`vigilctl deadletters list %s`)\n",
                    id, service);
            return CTL_EXIT_USAGE;
        }
    }
    Vigil__V1__AdminRequest request =
        s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DEADLETTERS_REPLAY);
    request.target = id ? (char *)id : "";
    return s_run(options, service, &request, CMD_LONG_TIMEOUT_MS, s_show_replayed);
}

static void s_show_reloaded(FILE *out, const Vigil__V1__AdminReply *reply, const char *service)
{
    fprintf(out, "%s: reloaded\n", service);
    if (reply->n_facts > 0)
        ctl_show_facts(out, reply->facts, reply->n_facts, 0);
}

int ctl_cmd_reload(const ctl_options_t *options)
{
    const char *service = s_target(options, "reload SERVICE");
    if (!service)
        return CTL_EXIT_USAGE;
    Vigil__V1__AdminRequest request =
        s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD);
    return s_run(options, service, &request, CMD_TIMEOUT_MS, s_show_reloaded);
}

/* --- intake ----------------------------------------------------------------- */

static void s_show_cases(FILE *out, const Vigil__V1__AdminReply *reply, const char *service)
{
    (void)service;
    ctl_show_cases(out, reply);
}

int ctl_cmd_cases_list(const ctl_options_t *options)
{
    if (options->argc != 0) {
        fprintf(stderr, "vigilctl: usage: vigilctl cases list [--limit N]\n");
        return CTL_EXIT_USAGE;
    }
    Vigil__V1__AdminRequest request =
        s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASES_LIST);
    return s_run(options, s_intake, &request, CMD_TIMEOUT_MS, s_show_cases);
}

static const char *s_case_operator; /* for the audited banner */

static void s_show_case(FILE *out, const Vigil__V1__AdminReply *reply, const char *service)
{
    (void)service;
    ctl_show_case(out, reply, s_case_operator);
}

int ctl_cmd_case_show(const ctl_options_t *options)
{
    if (options->argc != 1 || !options->operator_id || !*options->operator_id) {
        fprintf(stderr, "vigilctl: usage: vigilctl case show CASE_ID --operator ID\n"
                        "  (--operator is required: intake records who read the case)\n");
        return CTL_EXIT_USAGE;
    }
    Vigil__V1__AdminRequest request =
        s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW);
    request.target = options->argv[0];
    s_case_operator = options->operator_id;
    return s_run(options, s_intake, &request, CMD_TIMEOUT_MS, s_show_case);
}

static void s_show_rotated(FILE *out, const Vigil__V1__AdminReply *reply, const char *service)
{
    (void)service;
    s_show_affected(out, reply, "rows re-encrypted under the current key");
}

int ctl_cmd_rotate_key(const ctl_options_t *options)
{
    if (options->argc != 0) {
        fprintf(stderr, "vigilctl: usage: vigilctl rotate-key\n");
        return CTL_EXIT_USAGE;
    }
    Vigil__V1__AdminRequest request =
        s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_ROTATE_KEY);
    return s_run(options, s_intake, &request, CMD_LONG_TIMEOUT_MS, s_show_rotated);
}

/* --- triage ----------------------------------------------------------------- */

static void s_show_plugins(FILE *out, const Vigil__V1__AdminReply *reply, const char *service)
{
    fprintf(out, "%s: plugins reloaded\n", service);
    if (reply->n_facts > 0)
        ctl_show_facts(out, reply->facts, reply->n_facts, 0);
}

int ctl_cmd_reload_plugins(const ctl_options_t *options)
{
    if (options->argc != 0) {
        fprintf(stderr, "vigilctl: usage: vigilctl reload-plugins\n");
        return CTL_EXIT_USAGE;
    }
    Vigil__V1__AdminRequest request =
        s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD_PLUGINS);
    return s_run(options, s_triage, &request, CMD_TIMEOUT_MS, s_show_plugins);
}

static void s_show_imported(FILE *out, const Vigil__V1__AdminReply *reply, const char *service)
{
    (void)service;
    s_show_affected(out, reply, "directory entries imported");
}

int ctl_cmd_directory_import(const ctl_options_t *options)
{
    if (options->argc != 1) {
        fprintf(stderr, "vigilctl: usage: vigilctl directory import PATH\n");
        return CTL_EXIT_USAGE;
    }
    /* The service resolves paths from its own working directory: send an
     * absolute one. */
    char absolute[PATH_MAX];
    if (!realpath(options->argv[0], absolute)) {
        fprintf(stderr, "vigilctl: directory import: %s: %s\n", options->argv[0], strerror(errno));
        return CTL_EXIT_USAGE;
    }
    char *args[] = {absolute};
    Vigil__V1__AdminRequest request =
        s_request(options, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DIRECTORY_IMPORT);
    request.n_args = 1;
    request.args = args;
    return s_run(options, s_triage, &request, CMD_LONG_TIMEOUT_MS, s_show_imported);
}
