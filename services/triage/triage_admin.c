/* triage_admin.c: reload-plugins, directory import and the status facts.
 *
 * Admin replies are built from heap strings (the runtime frees the reply
 * with protobuf_c_message_free_unpacked). The directory import runs on the
 * loop thread between decision passes, in its own transaction; its reply
 * lists every rejected row with file, row and reason, never a value.
 */
#include "triage_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "directory.h"
#include "hsds_import.h"
#include "record.h"
#include "vigil/log.h"

enum { REPORT_LEN = 8192, FACT_LEN = 1024, ERR_LEN = 512 };

/* ---- reply helpers ------------------------------------------------------------ */

static int s_add_fact(Vigil__V1__AdminReply *reply, const char *key, const char *value)
{
    Vigil__V1__Fact **grown = realloc(reply->facts, (reply->n_facts + 1) * sizeof *grown);
    if (!grown) {
        return -1;
    }
    reply->facts = grown;
    Vigil__V1__Fact *fact = malloc(sizeof *fact);
    if (!fact) {
        return -1;
    }
    vigil__v1__fact__init(fact);
    fact->key = strdup(key);
    fact->value = strdup(value);
    if (!fact->key || !fact->value) {
        free(fact->key);
        free(fact->value);
        free(fact);
        return -1;
    }
    reply->facts[reply->n_facts++] = fact;
    return 0;
}

static int s_fail(Vigil__V1__AdminReply *reply, const char *error)
{
    free(reply->error != (char *)protobuf_c_empty_string ? reply->error : NULL);
    reply->error = strdup(error);
    return -1;
}

/* ---- facts --------------------------------------------------------------------- */

static void s_set_fact(void *ctx, const char *key, const char *value)
{
    service_set_fact(ctx, key, value);
}

void triage_update_facts(triage_t *triage)
{
    policy_host_facts(triage->host, s_set_fact, triage->service);
    char key[FACT_LEN], value[FACT_LEN];
    for (size_t i = 0; i < triage->config->regions.count; i++) {
        const char *name = triage->config->regions.items[i].policy.name;
        const policy_region_t *region = policy_region_settings(triage->host, name);
        if (!region) {
            region = &triage->config->regions.items[i].policy;
        }
        snprintf(key, sizeof key, "fallback.%s", region->name);
        snprintf(value, sizeof value, "assignee=%s escalation=%s",
                 region->fallback_assignee && region->fallback_assignee[0]
                     ? region->fallback_assignee
                     : "(least-loaded contact officer)",
                 region->fallback_escalation && region->fallback_escalation[0]
                     ? region->fallback_escalation
                     : "-");
        service_set_fact(triage->service, key, value);
    }
    for (size_t i = 0; i < policy_region_count(triage->host); i++) {
        policy_region_status_t status;
        if (policy_region_status(triage->host, i, &status) < 0) {
            continue;
        }
        const triage_region_t *region = triage_config_region(triage->config, status.region);
        if (region) {
            size_t index = (size_t)(region - triage->config->regions.items);
            metric_set(triage_metrics_region(triage->metrics, index)->on_fallback,
                       status.on_fallback ? 1 : 0);
        }
    }
    snprintf(value, sizeof value, "%ld",
             directory_count(service_db(triage->service), "dir_services"));
    service_set_fact(triage->service, "directory.services", value);
}

void triage_count_init_failures(triage_t *triage)
{
    for (size_t i = 0; i < policy_region_count(triage->host); i++) {
        policy_region_status_t status;
        if (policy_region_status(triage->host, i, &status) < 0 || !status.on_fallback) {
            continue;
        }
        const triage_region_t *region = triage_config_region(triage->config, status.region);
        if (region) {
            metric_inc(triage_metrics_region(triage->metrics,
                                             (size_t)(region - triage->config->regions.items))
                           ->init_failures);
        }
    }
}

/* ---- reload -------------------------------------------------------------------- */

/* Whether two lists of codes are the same, in the same order. */
static bool s_same_codes(char *const *a, size_t a_count, char *const *b, size_t b_count)
{
    if (a_count != b_count) {
        return false;
    }
    for (size_t i = 0; i < a_count; i++) {
        if (strcmp(a[i], b[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* What a reload cannot apply: the regions' names, order and places, and
 * the default region (cases, metrics and escalations refer to regions by
 * their place in the list). Writes the first difference into `why` and
 * returns false, or returns true when only policy settings may differ. */
static bool s_same_regions(const triage_config_t *running, const triage_config_t *fresh, char *why,
                           size_t why_len)
{
    if (running->regions.count != fresh->regions.count) {
        snprintf(why, why_len, "triage.regions: %zu regions instead of %zu", fresh->regions.count,
                 running->regions.count);
        return false;
    }
    for (size_t i = 0; i < running->regions.count; i++) {
        const triage_region_t *a = &running->regions.items[i], *b = &fresh->regions.items[i];
        const char *what = NULL;
        if (strcmp(a->policy.name, b->policy.name) != 0) {
            what = "name";
        } else if (!s_same_codes(a->states, a->state_count, b->states, b->state_count)) {
            what = "states";
        } else if (!s_same_codes(a->counties, a->county_count, b->counties, b->county_count)) {
            what = "counties";
        } else if (!s_same_codes(a->zip3s, a->zip3_count, b->zip3s, b->zip3_count)) {
            what = "zip3s";
        }
        if (what) {
            snprintf(why, why_len, "triage.regions.[%zu] (%s): %s changed", i, a->policy.name,
                     what);
            return false;
        }
    }
    if (strcmp(running->default_region, fresh->default_region) != 0) {
        snprintf(why, why_len, "triage.default_region changed");
        return false;
    }
    return true;
}

int triage_reload_plugins(triage_t *triage, const triage_config_t *fresh, char *report,
                          size_t report_len, char *err, size_t errlen)
{
    char why[ERR_LEN] = "";
    policy_region_list_t list = {0};
    bool refused = false; /* fresh settings that cannot be applied */
    if (fresh && !s_same_regions(triage->config, fresh, why, sizeof why)) {
        log_error("reload: regions added, removed, renamed or moved take a restart; the region "
                  "settings stay as they run and only the plugin files are reloaded",
                  "change=%s", why);
        snprintf(err, errlen, "%s: regions added, removed, renamed or moved take a restart", why);
        refused = true;
    }
    if (fresh && !refused) { /* the policy part of each region; policy_reload copies it */
        list.regions = calloc(fresh->regions.count + 1, sizeof *list.regions);
        if (!list.regions) {
            snprintf(err, errlen, "out of memory; the region settings stay as they run");
            log_error("reload refused", "error=%s", err);
            refused = true;
        }
        for (size_t i = 0; list.regions && i < fresh->regions.count; i++) {
            list.regions[list.count++] = fresh->regions.items[i].policy;
        }
    }
    char refusal[ERR_LEN] = "";
    int rc = policy_reload(triage->host, list.regions ? &list : NULL, report, report_len, refusal,
                           sizeof refusal);
    if (list.regions && triage->decide) {
        /* officers new to a roster may hold open cases from before */
        record_refresh_all_loads(decide_record(triage->decide));
    }
    free(list.regions);
    if (refused) {
        rc = -1; /* err says why */
    } else if (rc < 0) {
        snprintf(err, errlen, "%s", refusal);
    }
    if (rc < 0) {
        metric_inc(triage->metrics->reloads_refused);
    }
    triage_count_init_failures(triage);
    triage_update_facts(triage);
    /* one line per region: keep the log line free of anything but plugin facts */
    for (char *line = report, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        log_info("plugin reload", "result=%s", line);
        if (next) {
            next[-1] = '\n';
        }
    }
    return rc;
}

static int s_admin_reload_plugins(void *ctx, const Vigil__V1__AdminRequest *request,
                                  const char *peer, Vigil__V1__AdminReply *reply)
{
    (void)request;
    (void)peer;
    triage_t *triage = triage_of(ctx);
    char report[REPORT_LEN] = "";
    char err[ERR_LEN];
    int rc = triage_reload_plugins(triage, NULL, report, sizeof report, err, sizeof err);
    size_t index = 0;
    for (char *line = strtok(report, "\n"); line; line = strtok(NULL, "\n")) {
        char key[FACT_LEN];
        snprintf(key, sizeof key, "reload.%zu", index++);
        s_add_fact(reply, key, line);
    }
    if (rc < 0) {
        return s_fail(reply, "some regions kept their running plugin version or stay on "
                             "fallback; see the reload facts");
    }
    return 0;
}

/* ---- directory import ---------------------------------------------------------- */

static int s_admin_directory_import(void *ctx, const Vigil__V1__AdminRequest *request,
                                    const char *peer, Vigil__V1__AdminReply *reply)
{
    triage_t *triage = triage_of(ctx);
    if (request->n_args < 1 || !request->args[0] || !request->args[0][0]) {
        return s_fail(reply, "directory import: args[0] must be the path of an HSDS JSON export "
                             "or a datapackage directory");
    }
    const char *path = request->args[0];
    hsds_report_t report = {0};
    char err[ERR_LEN] = "";
    int rc = hsds_import(service_db(triage->service), path, &report, err, sizeof err);
    if (rc < 0) {
        hsds_report_release(&report);
        log_warn("directory import failed; nothing changed", "operator=%s peer=%s error=%s",
                 request->operator_id ? request->operator_id : "", peer, err);
        return s_fail(reply, err);
    }
    char key[FACT_LEN], value[FACT_LEN];
    for (size_t t = 0; t < report.table_count; t++) {
        const hsds_counts_t *c = &report.tables[t];
        snprintf(key, sizeof key, "imported.%s", hsds_table_name(t));
        snprintf(value, sizeof value, "inserted=%zu updated=%zu unchanged=%zu rejected=%zu",
                 c->inserted, c->updated, c->unchanged, c->rejected);
        s_add_fact(reply, key, value);
    }
    snprintf(value, sizeof value, "inserted=%zu updated=%zu unchanged=%zu rejected=%zu",
             report.total.inserted, report.total.updated, report.total.unchanged,
             report.total.rejected);
    s_add_fact(reply, "imported.total", value);
    for (size_t i = 0; i < report.rejection_count; i++) {
        const hsds_rejection_t *r = &report.rejections[i];
        snprintf(key, sizeof key, "rejected.%zu", i + 1);
        snprintf(value, sizeof value, "%s %s: %s", r->file, r->row, r->reason);
        s_add_fact(reply, key, value);
    }
    if (report.total.rejected > report.rejection_count) {
        snprintf(value, sizeof value, "%zu more rejected rows not listed",
                 report.total.rejected - report.rejection_count);
        s_add_fact(reply, "rejected.more", value);
    }
    for (size_t i = 0; i < report.note_count; i++) {
        snprintf(key, sizeof key, "note.%zu", i + 1);
        s_add_fact(reply, key, report.notes[i]);
    }
    reply->affected = (uint32_t)(report.total.inserted + report.total.updated);
    metric_inc(triage->metrics->directory_imports);
    metric_add(triage->metrics->directory_rejected_rows, report.total.rejected);
    log_info("directory imported",
             "operator=%s inserted=%zu updated=%zu unchanged=%zu rejected=%zu",
             request->operator_id ? request->operator_id : "", report.total.inserted,
             report.total.updated, report.total.unchanged, report.total.rejected);
    hsds_report_release(&report);
    triage_update_facts(triage);
    return 0;
}

const admin_command_t triage_admin_commands[] = {
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD_PLUGINS, s_admin_reload_plugins},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DIRECTORY_IMPORT, s_admin_directory_import},
    {0, NULL},
};
