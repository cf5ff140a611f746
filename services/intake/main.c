/* main.c: vigil-intake, the front door for upstream systems.
 *
 * Declares the service: its embedded defaults (front door on 7100, one
 * reply per request, peers triage, notification and reporting), its config
 * keys, store migrations, inbound routes and admin commands, and the
 * start/stop hooks that build the intake context. service_main() does the
 * rest. Intake holds personal data, so it refuses to start without a vault.
 */
#include <stdio.h>

#include "admin_cases.h"
#include "handlers.h"
#include "intake.h"
#include "intake_config.h"
#include "rotate.h"
#include "schema.h"
#include "vigil/log.h"
#include "vigil/service.h"

enum {
    INTAKE_ERR_LEN = 512,
    FACT_VALUE_MAX = 32,
};

/* Defaults compiled in; a config file overrides any of them. */
static const char s_embedded_config[] =
    "link = { listen = \"tcp://127.0.0.1:7100\"; coalesce_acks = false;\n"
    "         reject_unknown_fields = true; };\n"
    "metrics = { listen = \"127.0.0.1:9100\"; };\n"
    "peers = ( { name = \"triage\"; endpoint = \"tcp://127.0.0.1:7200\"; },\n"
    "          { name = \"notification\"; endpoint = \"tcp://127.0.0.1:7300\"; },\n"
    "          { name = \"reporting\"; endpoint = \"tcp://127.0.0.1:7400\"; } );\n";

/* The "sources" status fact, and a warning when no source may send. */
static void s_publish_sources(service_t *service, const intake_sources_t *sources)
{
    char count[FACT_VALUE_MAX];
    snprintf(count, sizeof count, "%zu", sources->count);
    service_set_fact(service, "sources", count);
    if (sources->count == 0)
        log_warn("no upstream sources configured (intake.sources): every request will be "
                 "REJECTED NOT_PERMITTED",
                 NULL);
}

/* Logs each source of `a` that `b` lacks or lets send other types. Source
 * names are the upstream systems' certificate names, never personal data. */
static void s_log_source_changes(const intake_sources_t *a, const intake_sources_t *b,
                                 const char *gone, const char *changed)
{
    for (size_t i = 0; i < a->count; i++) {
        const intake_source_t *other = intake_sources_find(b, a->items[i].name);
        if (!other)
            log_info(gone, "source=%s", a->items[i].name);
        else if (changed && other->may_send != a->items[i].may_send)
            log_info(changed, "source=%s", a->items[i].name);
    }
}

/* SIGHUP and vigilctl reload: intake.sources from the file just re-read
 * applies to the next request, as the allowlists do. The other intake.*
 * keys take a restart. */
static int s_reload(service_t *service, const void *fresh, char *err, size_t errlen)
{
    intake_t *intake = service_context(service);
    const intake_config_t *config = fresh;
    if (!intake)
        return 0;
    intake_sources_t sources;
    if (intake_sources_copy(&config->sources, &sources)) {
        snprintf(err, errlen, "out of memory; intake.sources stays as it runs");
        return -1;
    }
    s_log_source_changes(&intake->sources, &sources, "upstream source removed",
                         "upstream source may send other types now");
    s_log_source_changes(&sources, &intake->sources, "upstream source added", NULL);
    intake_sources_clear(&intake->sources);
    intake->sources = sources;
    s_publish_sources(service, &intake->sources);
    return 0;
}

static int s_start(service_t *service)
{
    char err[INTAKE_ERR_LEN] = "";
    intake_t *intake = intake_new(service, err, sizeof err);
    if (!intake) {
        log_error("intake cannot start", "error=%s", err);
        return SERVICE_EXIT_NOPERM;
    }
    service_set_context(service, intake);
    s_publish_sources(service, &intake->sources);
    if (rotate_resume(intake, err, sizeof err)) {
        log_error("intake cannot resume key rotation", "error=%s", err);
        return SERVICE_EXIT_STORE;
    }
    return 0;
}

static void s_stop(service_t *service)
{
    intake_t *intake = service_context(service);
    if (!intake)
        return;
    rotate_stop(intake);
    intake_destroy(&intake);
    service_set_context(service, NULL);
}

static const service_def_t s_intake_service = {
    .name = "intake",
    .embedded_config = s_embedded_config,
    .needs_vault = true,
    .config_keys = intake_config_keys,
    .config_size = sizeof(intake_config_t),
    .migrations = intake_migrations,
    .migration_count = INTAKE_MIGRATION_COUNT,
    .routes = intake_routes,
    .admin_commands = intake_admin_commands,
    .start = s_start,
    .reload = s_reload,
    .stop = s_stop,
};

int main(int argc, char **argv)
{
    return service_main(&s_intake_service, argc, argv);
}
