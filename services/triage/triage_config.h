/* triage_config.h: vigil-triage's own settings (the `triage = {...}` group).
 *
 * Declared once as a config_key_t table (triage_config_keys) that the
 * service runtime reads with the common keys. The regions list is a custom
 * setting parsed here: each region names the places it owns (states, county
 * FIPS codes, ZIP3 prefixes) plus the policy settings the plugin host
 * parses (policy_host.h): its plugin and that plugin's config, its fallback
 * (a fixed assignee and escalation target used whenever the plugin cannot
 * decide) and its roster of officers. Nothing here is personal data: roster
 * ids are staff ids, not names.
 */
#ifndef VIGIL_TRIAGE_CONFIG_H
#define VIGIL_TRIAGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy_host.h"
#include "vigil/config.h"

/* One region: the policy settings (name, plugin, plugin_config,
 * timezone, fallback, roster; parsed by policy_region_parse()) plus the
 * places it owns. */
typedef struct {
    policy_region_t policy; /* policy.name is the region name */
    char **states;          /* USPS codes, e.g. "OR" */
    size_t state_count;
    char **counties; /* 5-digit county FIPS codes */
    size_t county_count;
    char **zip3s; /* 3-digit ZIP prefixes */
    size_t zip3_count;
} triage_region_t;

/* The configured regions (the `triage.regions` list). */
typedef struct {
    triage_region_t *items;
    size_t count;
} triage_regions_t;

/* Number of priorities with an SLA: P1..P4 (index 1..4; 0 unused). */
#define TRIAGE_PRIORITY_SLOTS 5

typedef struct {
    triage_regions_t regions;             /* triage.regions */
    char *default_region;                 /* triage.default_region: owner of unmatched cases */
    int64_t sla_s[TRIAGE_PRIORITY_SLOTS]; /* triage.sla.p1_s .. p4_s: first-contact deadlines */
    int64_t max_plugin_failures;  /* triage.max_plugin_failures: crashes/hangs before fallback */
    int64_t escalation_scan_ms;   /* triage.escalation_scan_ms: how often due cases are scanned */
    int64_t max_escalation_level; /* triage.max_escalation_level: stop escalating after this */
    int64_t decide_batch;         /* triage.decide_batch: cases decided per transaction */
    int64_t decision_wait_ms;     /* triage.decision_wait_ms: wait for a link batch to share */
    int64_t store_cache_mb;       /* triage.store_cache_mb: sqlite page cache of the store */
    char *case_key_file;          /* triage.case_key_file: secret for ReportEvent.case_key */
    bool decisions_to_reporting;  /* triage.decisions_to_reporting: also send TriageDecision */
    char *plugin_dir;             /* triage.plugin.dir: the only directory plugins load from */
    char *worker_path;            /* triage.plugin.worker: vigil-policy-worker, "" = default */
    int64_t route_timeout_ms;     /* triage.plugin.route_timeout_ms */
    int64_t init_timeout_ms;      /* triage.plugin.init_timeout_ms */
    int64_t crash_limit;          /* triage.plugin.crash_limit: region quarantine threshold */
    int64_t crash_window_ms;      /* triage.plugin.crash_window_ms */
    int64_t plugin_memory_mb;     /* triage.plugin.memory_mb: the worker's RLIMIT_AS, 0 = none */
} triage_config_t;

/* The key table for service_def_t.config_keys (offsets into
 * triage_config_t); ended by a NULL key. */
extern const config_key_t triage_config_keys[];

/* Checks what the key table cannot: the default region exists, region names
 * are unique and label-safe, every place belongs to one region at most, and
 * codes are well formed. Returns 0, or -1 with a message naming the region
 * and value in `err`. */
int triage_config_check(const triage_config_t *config, char *err, size_t errlen);

/* The region called `name`, or NULL. Cannot fail. */
const triage_region_t *triage_config_region(const triage_config_t *config, const char *name);

/* Builds the policy host's view of the regions: `out->regions` is a new
 * array of shallow copies (the strings stay owned by `config`); free only
 * the array. Returns 0, or -1 on allocation failure. */
int triage_config_policy_regions(const triage_config_t *config, policy_region_list_t *out);

/* Frees a regions list and zeroes it. Safe on a zeroed list. Cannot fail. */
void triage_regions_free(triage_regions_t *regions);

#endif
