/* triage_config.c: the triage key table and the regions list parser.
 *
 * The scalar keys are plain config_key_t rows. `triage.regions` is a custom
 * setting: a list of groups, each checked member by member here, with every
 * error naming the file, line and key. Unknown members are refused, as the
 * runtime refuses unknown keys. This file reads configuration only; it never
 * logs a value it parses.
 */
#include "triage_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIAGE_KEY_REGIONS "triage.regions"

#ifndef TRIAGE_DEFAULT_PLUGIN_DIR
#define TRIAGE_DEFAULT_PLUGIN_DIR "/usr/local/lib/vigil/plugins"
#endif

enum {
    STATE_CODE_LEN = 2,
    COUNTY_FIPS_LEN = 5,
    ZIP3_LEN = 3,
    REGION_NAME_MAX = 64,
};

/* ---- small helpers ------------------------------------------------------ */

static void s_where(const config_setting_t *setting, const char *key, const char *why, char *err,
                    size_t errlen)
{
    int line = setting ? (int)config_setting_source_line(setting) : 0;
    snprintf(err, errlen, "%s:%d: key '%s': %s", config_setting_file(setting), line, key, why);
}

static char *s_strdup(const char *text)
{
    char *copy = strdup(text ? text : "");
    if (!copy) {
        abort(); /* out of memory while reading config: nothing sensible to do */
    }
    return copy;
}

static void s_strings_free(char ***items_p, size_t *count_p)
{
    for (size_t i = 0; i < *count_p; i++) {
        free((*items_p)[i]);
    }
    free(*items_p);
    *items_p = NULL;
    *count_p = 0;
}

/* Reads member `name` of `group` as an array/list of strings. Absent: empty. */
static int s_strings(const config_setting_t *group, const char *name, const char *key,
                     char ***items_p, size_t *count_p, char *err, size_t errlen)
{
    config_setting_t *list = config_setting_get_member(group, name);
    *items_p = NULL;
    *count_p = 0;
    if (!list) {
        return 0;
    }
    if (!config_setting_is_aggregate(list) || config_setting_is_group(list)) {
        s_where(list, key, "expected an array of strings", err, errlen);
        return -1;
    }
    int n = config_setting_length(list);
    *items_p = calloc((size_t)n + 1, sizeof(char *));
    if (!*items_p) {
        abort();
    }
    for (int i = 0; i < n; i++) {
        const char *text = config_setting_get_string_elem(list, i);
        if (!text) {
            s_where(list, key, "every element must be a string", err, errlen);
            return -1;
        }
        (*items_p)[i] = s_strdup(text);
        (*count_p)++;
    }
    return 0;
}

/* ---- regions ---------------------------------------------------------------- */

static const char *const s_place_keys[] = {"states", "counties", "zip3", NULL};

static void s_region_free(triage_region_t *region)
{
    policy_region_clear(&region->policy);
    s_strings_free(&region->states, &region->state_count);
    s_strings_free(&region->counties, &region->county_count);
    s_strings_free(&region->zip3s, &region->zip3_count);
    memset(region, 0, sizeof *region);
}

void triage_regions_free(triage_regions_t *regions)
{
    for (size_t i = 0; i < regions->count; i++) {
        s_region_free(&regions->items[i]);
    }
    free(regions->items);
    regions->items = NULL;
    regions->count = 0;
}

static int s_parse_region(const config_setting_t *group, const char *prefix,
                          triage_region_t *region, char *err, size_t errlen)
{
    char key[160];
    if (!config_setting_is_group(group)) {
        s_where(group, prefix, "expected a group { name = ...; }", err, errlen);
        return -1;
    }
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        config_setting_t *member = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(member);
        bool known = name && policy_region_key(name);
        for (const char *const *k = s_place_keys; !known && name && *k; k++) {
            known = strcmp(*k, name) == 0;
        }
        if (!known) {
            snprintf(key, sizeof key, "%s.%s", prefix, name ? name : "?");
            s_where(member, key, "unknown key", err, errlen);
            return -1;
        }
    }
    if (policy_region_parse(group, &region->policy, err, errlen) < 0) {
        return -1;
    }
    struct {
        const char *member;
        char ***items;
        size_t *count;
    } lists[] = {
        {"states", &region->states, &region->state_count},
        {"counties", &region->counties, &region->county_count},
        {"zip3", &region->zip3s, &region->zip3_count},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", prefix, lists[i].member);
        if (s_strings(group, lists[i].member, key, lists[i].items, lists[i].count, err, errlen) <
            0) {
            return -1;
        }
    }
    return 0;
}

static int s_parse_regions(const config_setting_t *setting, void *field, char *err, size_t errlen)
{
    triage_regions_t *regions = field;
    triage_regions_free(regions);
    if (!setting) {
        return 0; /* the embedded config supplies the default list */
    }
    if (!config_setting_is_list(setting)) {
        s_where(setting, TRIAGE_KEY_REGIONS, "expected a list ( { name = ...; }, ... )", err,
                errlen);
        return -1;
    }
    int n = config_setting_length(setting);
    regions->items = calloc((size_t)n + 1, sizeof *regions->items);
    if (!regions->items) {
        abort();
    }
    for (int i = 0; i < n; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, TRIAGE_KEY_REGIONS "[%d]", i);
        regions->count++;
        if (s_parse_region(config_setting_get_elem(setting, (unsigned)i), prefix,
                           &regions->items[i], err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

static void s_free_regions(void *field)
{
    triage_regions_free(field);
}

/* ---- the key table -------------------------------------------------------- */

#define OFF(member) offsetof(triage_config_t, member)

const config_key_t triage_config_keys[] = {
    {.key = TRIAGE_KEY_REGIONS,
     .type = CONFIG_CUSTOM,
     .default_value = "",
     .offset = OFF(regions),
     .min = 1,
     .max = 0,
     .doc =
         "regions: name, states, counties, zip3, plugin, plugin_config, timezone, fallback, roster",
     .parse = s_parse_regions,
     .free = s_free_regions},
    {"triage.default_region", CONFIG_STRING, "default", OFF(default_region), 1, 0,
     "region that owns cases no region matches", NULL, NULL},
    {"triage.sla.p1_s", CONFIG_INT, "900", OFF(sla_s[1]), 1, 604800,
     "first-contact deadline for P1 cases, seconds", NULL, NULL},
    {"triage.sla.p2_s", CONFIG_INT, "14400", OFF(sla_s[2]), 1, 2592000,
     "first-contact deadline for P2 cases, seconds", NULL, NULL},
    {"triage.sla.p3_s", CONFIG_INT, "86400", OFF(sla_s[3]), 1, 2592000,
     "first-contact deadline for P3 cases, seconds", NULL, NULL},
    {"triage.sla.p4_s", CONFIG_INT, "259200", OFF(sla_s[4]), 1, 2592000,
     "first-contact deadline for P4 cases, seconds", NULL, NULL},
    {"triage.max_plugin_failures", CONFIG_INT, "3", OFF(max_plugin_failures), 1, 100,
     "plugin crashes or hangs on one case before its region's fallback decides it", NULL, NULL},
    {"triage.escalation_scan_ms", CONFIG_INT, "1000", OFF(escalation_scan_ms), 10, 3600000,
     "how often cases past their first-contact deadline are looked for, ms", NULL, NULL},
    {"triage.max_escalation_level", CONFIG_INT, "3", OFF(max_escalation_level), 1, 100,
     "escalations before a case stops escalating and is flagged for human review", NULL, NULL},
    {"triage.decide_batch", CONFIG_INT, "1024", OFF(decide_batch), 1, 65536,
     "cases decided per transaction", NULL, NULL},
    {"triage.decision_wait_ms", CONFIG_INT, "0", OFF(decision_wait_ms), 0, 10000,
     "longest a pass's decisions wait to be committed with the next link batch (one fsync for "
     "both) before committing on their own; 0 = always at once, on their own (for disks with "
     "slow fsync, try 1 to 5)",
     NULL, NULL},
    {"triage.store_cache_mb", CONFIG_INT, "64", OFF(store_cache_mb), 2, 4096,
     "sqlite page cache for the store, MiB (the link inbox is keyed by random message ids)", NULL,
     NULL},
    {"triage.case_key_file", CONFIG_STRING, "", OFF(case_key_file), 1, 0,
     "the case-key secret shared with intake (intake.hash_key_file: 64 hex digits, mode 0600); "
     "\"\" = <state>/keys/intake.hashkey (the file intake uses), created if missing",
     NULL, NULL},
    {"triage.decisions_to_reporting", CONFIG_BOOL, "true", OFF(decisions_to_reporting), 1, 0,
     "the decision's ReportEvent to reporting also carries the de-identified TriageDecision (the "
     "ReportEvent is always sent)",
     NULL, NULL},
    {"triage.plugin.dir", CONFIG_STRING, TRIAGE_DEFAULT_PLUGIN_DIR, OFF(plugin_dir), 1, 0,
     "the only directory region plugins load from (must not be writable by others)", NULL, NULL},
    {"triage.plugin.worker", CONFIG_STRING, "", OFF(worker_path), 1, 0,
     "vigil-policy-worker executable; \"\" = beside vigil-triage", NULL, NULL},
    {"triage.plugin.route_timeout_ms", CONFIG_INT, "1000", OFF(route_timeout_ms), 1, 600000,
     "a plugin route call longer than this is killed and counts as a hang", NULL, NULL},
    {"triage.plugin.init_timeout_ms", CONFIG_INT, "10000", OFF(init_timeout_ms), 1, 600000,
     "loading, init and self_test of one region's plugin, ms", NULL, NULL},
    {"triage.plugin.crash_limit", CONFIG_INT, "3", OFF(crash_limit), 1, 1000000,
     "crashes or hangs of one region's plugin within crash_window_ms that put the region on "
     "its fallback until the next reload",
     NULL, NULL},
    {"triage.plugin.crash_window_ms", CONFIG_INT, "600000", OFF(crash_window_ms), 1, 86400000,
     "window for triage.plugin.crash_limit, ms", NULL, NULL},
    {"triage.plugin.memory_mb", CONFIG_INT, "1024", OFF(plugin_memory_mb), 0, 1048576,
     "address space the policy worker may use, MiB; a plugin that allocates past it fails and "
     "counts as a crash; 0 = no limit",
     NULL, NULL},
    {0},
};

/* ---- cross-checks --------------------------------------------------------- */

static bool s_all(const char *text, size_t len, int (*is)(int))
{
    if (strlen(text) != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is((unsigned char)text[i])) {
            return false;
        }
    }
    return true;
}

static bool s_label_safe(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > REGION_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.') {
            return false;
        }
    }
    return true;
}

typedef struct {
    const char *what;
    size_t len;
    int (*is)(int);
} code_shape_t;

static int s_check_codes(const triage_config_t *config, size_t list, const code_shape_t *shape,
                         char *err, size_t errlen)
{
    for (size_t r = 0; r < config->regions.count; r++) {
        const triage_region_t *region = &config->regions.items[r];
        char **items[] = {region->states, region->counties, region->zip3s};
        size_t counts[] = {region->state_count, region->county_count, region->zip3_count};
        for (size_t i = 0; i < counts[list]; i++) {
            const char *code = items[list][i];
            if (!s_all(code, shape->len, shape->is)) {
                snprintf(err, errlen, "triage.regions: region '%s': %s '%s' is not %zu %s",
                         region->policy.name, shape->what, code, shape->len,
                         shape->is == isdigit ? "digits" : "capital letters");
                return -1;
            }
            /* one place, one region: the same code twice is a tie with no winner */
            for (size_t r2 = 0; r2 <= r; r2++) {
                const triage_region_t *other = &config->regions.items[r2];
                char **other_items[] = {other->states, other->counties, other->zip3s};
                size_t other_counts[] = {other->state_count, other->county_count,
                                         other->zip3_count};
                size_t limit = r2 == r ? i : other_counts[list];
                for (size_t j = 0; j < limit; j++) {
                    if (strcmp(other_items[list][j], code) == 0) {
                        snprintf(err, errlen,
                                 "triage.regions: %s '%s' is listed by region '%s' and region "
                                 "'%s'; a place may belong to one region only",
                                 shape->what, code, other->policy.name, region->policy.name);
                        return -1;
                    }
                }
            }
        }
    }
    return 0;
}

static int s_is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}

int triage_config_check(const triage_config_t *config, char *err, size_t errlen)
{
    static const code_shape_t shapes[] = {
        {"state", STATE_CODE_LEN, s_is_upper},
        {"county", COUNTY_FIPS_LEN, isdigit},
        {"zip3", ZIP3_LEN, isdigit},
    };
    if (config->regions.count == 0) {
        snprintf(err, errlen, "triage.regions: at least one region is required");
        return -1;
    }
    for (size_t r = 0; r < config->regions.count; r++) {
        const triage_region_t *region = &config->regions.items[r];
        if (!s_label_safe(region->policy.name)) {
            snprintf(err, errlen,
                     "triage.regions[%zu].name: '%s' must be 1 to %d letters, digits, '-', '_' "
                     "or '.'",
                     r, region->policy.name, REGION_NAME_MAX);
            return -1;
        }
        for (size_t j = 0; j < r; j++) {
            if (strcmp(config->regions.items[j].policy.name, region->policy.name) == 0) {
                snprintf(err, errlen, "triage.regions[%zu].name: region '%s' is declared twice", r,
                         region->policy.name);
                return -1;
            }
        }
    }
    for (size_t list = 0; list < sizeof shapes / sizeof shapes[0]; list++) {
        if (s_check_codes(config, list, &shapes[list], err, errlen) < 0) {
            return -1;
        }
    }
    if (!config->default_region || !triage_config_region(config, config->default_region)) {
        snprintf(err, errlen, "triage.default_region: '%s' is not a configured region",
                 config->default_region ? config->default_region : "");
        return -1;
    }
    return 0;
}

int triage_config_policy_regions(const triage_config_t *config, policy_region_list_t *out)
{
    out->count = 0;
    out->regions = calloc(config->regions.count + 1, sizeof *out->regions);
    if (!out->regions) {
        return -1;
    }
    for (size_t i = 0; i < config->regions.count; i++) {
        out->regions[out->count++] = config->regions.items[i].policy;
    }
    return 0;
}

const triage_region_t *triage_config_region(const triage_config_t *config, const char *name)
{
    for (size_t i = 0; i < config->regions.count; i++) {
        if (strcmp(config->regions.items[i].policy.name, name) == 0) {
            return &config->regions.items[i];
        }
    }
    return NULL;
}
