/* policy_host.h: triage's side of the region policy plugins.
 *
 * Triage asks "where does this case go?" through this API; the answer comes
 * from the region's plugin (plugins/include/vigil/plugin.h), run in a
 * separate process, vigil-policy-worker, that triage talks to over a
 * socketpair. A plugin that crashes kills only that worker; a plugin that
 * hangs is killed at its deadline. Either way this module reports which
 * case was in flight, restarts the worker and carries on with the rest of
 * the batch, so triage can count the attempt durably and, after N attempts,
 * route the case with the fallback policy and flag it for review.
 * docs/plugins.md says why a process and not a thread.
 *
 * What lives where:
 *   - triage (this module, in the triage process): the trusted plugin
 *     directory checks, the open file of every accepted plugin version,
 *     region configs, the roster mirror and its open-case loads, the
 *     fallback policy, metrics and status;
 *   - the worker: dlopen (RTLD_NOW | RTLD_LOCAL) of the files triage
 *     opened, the ABI checks, init/self_test/route/reload/fini, and the
 *     host API the plugins call; resource-directory queries go to the
 *     directory tables (directory.h) through a read-only connection to
 *     triage's store, cached until the data changes.
 *
 * It never sees personal data: its input is a pseudonymous CaseView. It
 * never writes the database; recording attempts and decisions is triage's
 * job, before and after policy_route_batch().
 *
 * Threading: a policy_host_t belongs to one thread (triage's loop thread).
 * Every call blocks that thread until the worker answers or its deadline
 * passes.
 *
 * BUILD (for services/triage/CMakeLists.txt): do not compile policy_*.c
 * yourself. `add_subdirectory(tools)` defines the static library
 * `vigil_policy` (these sources, with plugins/include on its public include
 * path) and the executables vigil-policy-worker, vigil-policy-test and
 * vigil-policy-replay; link triage with `vigil_policy` and add a dependency
 * on `vigil-policy-worker` so it is built beside triage.
 *
 * REPLAY CONTRACT (for triage's schema): vigil-policy-replay opens the
 * triage database read-only and reads
 *     SELECT case_id, region, view, decision FROM policy_replay
 * where `policy_replay` is a table or view with one row per recorded
 * decision: case_id TEXT, region TEXT, view BLOB (a packed
 * vigil.v1.CaseView), decision BLOB (the packed vigil.v1.TriageDecision as
 * recorded). Nothing else of triage's schema is assumed.
 */
#ifndef VIGIL_TRIAGE_POLICY_HOST_H
#define VIGIL_TRIAGE_POLICY_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libconfig.h>

#include "vigil/metrics.h"
#include "vigil/plugin.h"
#include "vigil/v1/case.pb-c.h"

/* plugin_name of decisions the fallback policy made. */
#define POLICY_FALLBACK_NAME "fallback"
/* Bytes of policy_request_t.detail and status reasons, with the NUL. */
#define POLICY_DETAIL_MAX 256

/* ------------------------------------------------------------------------
 * Region configuration
 *
 * One group per region in triage's config, parsed by policy_region_parse():
 *
 *   regions = (
 *     { name = "north";                # region name (required)
 *       plugin = "rules";              # <plugin_dir>/rules.so (required)
 *       timezone = "America/Chicago";  # for office hours; default "UTC"
 *       fallback = { assignee = "north-duty"; escalation = "north-supervisors"; };
 *       roster = ( { id = "co-17"; role = "contact_officer";
 *                    languages = ["en", "es"]; on_call = false; }, ... );
 *       plugin_config = { ... };       # the plugin's own settings (any shape)
 *     } );
 *
 * roles: "contact_officer", "community_relations", "supervisor", "group",
 * "other". docs/plugins.md documents every key.
 * ------------------------------------------------------------------------ */

/* One roster entry (not personal data: an id, languages, a role). */
typedef struct {
    char *id;              /* roster id, [A-Za-z0-9._:@/-], 1..64 bytes */
    char **languages;      /* BCP-47 tags */
    size_t language_count; /* entries in languages */
    vigil_role_t role;     /* what the entry does */
    bool on_call;          /* reachable after hours */
} policy_officer_t;

/* One region's policy settings. Every string is owned (malloc'd). */
typedef struct {
    char *name;                /* region name */
    char *plugin;              /* plugin file stem: "rules" -> <plugin_dir>/rules.so */
    char *timezone;            /* IANA time zone name; NULL = see below */
    char *fallback_assignee;   /* fallback policy's assignee; "" = pick from the roster */
    char *fallback_escalation; /* fallback policy's escalation path; may be "" */
    char *plugin_config;       /* the plugin_config group as libconfig text ("" if absent) */
    policy_officer_t *roster;  /* the contact roster */
    size_t roster_count;       /* entries in roster */
} policy_region_t;

/* A region config from triage_config.h maps one to one: name, plugin,
 * plugin_config, fallback_assignee, fallback_escalation, roster (role via
 * policy_role_parse()); timezone NULL = plugin_config's top-level
 * `timezone` key, else "UTC". plugin = "" is refused: a region must name
 * its plugin (a config error, exit 78).
 *
 * plugin_config is libconfig text: the settings of the region's
 * plugin_config group, which the plugin reads with the host API's typed
 * getters. policy_config_text() makes it from the setting. */

/* Renders `setting` as libconfig text into *out (malloc'd, the caller
 * frees): a group gives its members ("a = 1;\nb = { c = \"x\"; };\n"), a
 * string is taken as libconfig text as it is, NULL gives "". Returns 0, or
 * -1 with a message naming the file and line (another type, or a string
 * that is not valid libconfig). */
int policy_config_text(const config_setting_t *setting, char **out, char *err, size_t errlen);

/* Maps "contact_officer" (or "contact"), "community_relations",
 * "supervisor", "group" and "other" to a vigil_role_t. Returns
 * VIGIL_ROLE_UNSPECIFIED for anything else. Cannot fail. */
vigil_role_t policy_role_parse(const char *text);

/* A list of regions: the value policy_regions_parse() stores. */
typedef struct {
    policy_region_t *regions;
    size_t count;
} policy_region_list_t;

/* Parses one region group (the keys above) into *out, which the caller
 * frees with policy_region_clear(). Keys this module does not know are left
 * to the caller (see policy_region_key()). Returns 0, or -1 with
 * "FILE:LINE: region 'x': key 'y': why" in `err`: a missing name or plugin
 * ("region bound to no plugin"), a plugin value that is not a bare file
 * stem, a bad roster entry, an unknown role or time zone. */
int policy_region_parse(const config_setting_t *group, policy_region_t *out, char *err,
                        size_t errlen);

/* Frees what a region holds and zeroes it. Safe to call twice. Cannot fail. */
void policy_region_clear(policy_region_t *region);

/* True if `key` is one policy_region_parse() reads. Cannot fail. */
bool policy_region_key(const char *key);

/* A config_parse_fn (vigil/config.h) for a CONFIG_CUSTOM key holding the
 * list of region groups; `field` points at a policy_region_list_t. Refuses
 * unknown keys inside a region, duplicate names and an empty list. Returns
 * 0, or -1 with a message naming the file and line. */
int policy_regions_parse(const config_setting_t *setting, void *field, char *err, size_t errlen);

/* The matching config_free_fn: frees a policy_region_list_t's contents.
 * Cannot fail. */
void policy_regions_free(void *field);

/* Deep-copies a region list into *out (for keeping a config across reloads).
 * Returns 0, or -1 on allocation failure (out is then empty). */
int policy_region_list_copy(const policy_region_list_t *in, policy_region_list_t *out);

/* ------------------------------------------------------------------------
 * The host
 * ------------------------------------------------------------------------ */

typedef struct policy_host_t policy_host_t;

/* Defaults used when a policy_host_config_t field is 0 / NULL. */
#define POLICY_ROUTE_TIMEOUT_MS_DEFAULT 1000  /* per case */
#define POLICY_INIT_TIMEOUT_MS_DEFAULT  10000 /* load + init + self_test, per region */
#define POLICY_CRASH_LIMIT_DEFAULT      3     /* crashes/timeouts per region per window */
#define POLICY_CRASH_WINDOW_MS_DEFAULT  600000
#define POLICY_BATCH_MAX_DEFAULT        1024 /* cases per worker message */

typedef struct {
    const char *plugin_dir;   /* the only directory plugins load from (required) */
    const char *worker_path;  /* vigil-policy-worker; NULL = beside this executable, then
                                 the build tree's copy */
    const char *directory_db; /* sqlite file holding the directory tables (directory.h),
                                 i.e. triage's store; the worker opens it read-only.
                                 NULL or "" = no directory (queries find nothing) */
    int route_timeout_ms;     /* a route call past this is killed; 0 = default */
    int init_timeout_ms;      /* loading a region past this is killed; 0 = default */
    int crash_limit;          /* this many crashes/timeouts of a region within one window of
                                 crash_window_ms (from the first) quarantine it on the fallback
                                 policy until the next reload; 0 = default */
    int crash_window_ms;      /* 0 = default */
    int memory_mb;            /* the worker's address-space limit (RLIMIT_AS), MiB: a plugin
                                 that allocates past it fails its allocation and, as a rule,
                                 crashes; 0 = no limit. Not applied in sanitizer builds
                                 (their shadow memory needs terabytes of address space) */
    size_t batch_max;         /* cases per worker message; 0 = default; at most 4096 */
    metrics_t *metrics;       /* registers vigil_policy_* metrics; may be NULL */
    const char *log_level;    /* the worker's log level ("debug" .. "error"); NULL = "info" */
} policy_host_config_t;

/* Checks the plugin directory, starts the
 * worker and loads every region's plugin in it. A region whose plugin
 * cannot be loaded (missing or unsafe file, ABI check, init or self_test
 * failure, crash or hang in init) runs on the fallback policy: it is logged
 * as a warning naming the file and the reason, counted in
 * vigil_policy_region_on_fallback, and reported by policy_host_facts().
 * Copies `regions`. Returns NULL with a message in `err` only for errors
 * that must stop triage (exit 78): no or an unsafe plugin directory, an
 * empty region list, a region bound to no plugin, a worker that cannot be
 * started. */
policy_host_t *policy_host_new(const policy_host_config_t *config,
                               const policy_region_list_t *regions, char *err, size_t errlen);

/* Stops the worker (fini for every instance, then SIGKILL after a grace
 * period), closes the plugin files and frees; sets *host_p to NULL.
 * Cannot fail. */
void policy_host_destroy(policy_host_t **host_p);

/* ------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------ */

typedef enum {
    POLICY_OUTCOME_OK = 0,        /* the region's plugin decided */
    POLICY_OUTCOME_FALLBACK = 1,  /* the fallback policy decided: the region is on fallback, the
                                     plugin declined (route returned an error) or its decision was
                                     unusable (no assignee); `detail` says which */
    POLICY_OUTCOME_CRASHED = 2,   /* the worker died while this case was in route; no decision */
    POLICY_OUTCOME_TIMED_OUT = 3, /* route passed its deadline and the worker was killed; no
                                     decision */
} policy_outcome_t;

/* One referral of a decision. */
typedef struct {
    char service_id[VIGIL_PLUGIN_REF_MAX + 1];
    char organization_id[VIGIL_PLUGIN_REF_MAX + 1];
    char taxonomy_term[VIGIL_PLUGIN_REF_MAX + 1];
} policy_referral_t;

/* A routing decision (vigil.v1.RoutingDecision plus who made it). */
typedef struct {
    char assignee_id[VIGIL_PLUGIN_ID_MAX + 1];
    char escalation_path[VIGIL_PLUGIN_ID_MAX + 1];
    char rationale[VIGIL_PLUGIN_RATIONALE_MAX + 1];
    char plugin_name[VIGIL_PLUGIN_NAME_MAX + 1];       /* "fallback" when used_fallback */
    char plugin_version[VIGIL_PLUGIN_VERSION_MAX + 1]; /* the fallback's is VIGIL_VERSION */
    int32_t priority_adjustment; /* -1, 0 or +1, already checked against the limits */
    bool used_fallback;          /* the fallback policy decided */
    bool needs_human_review;     /* the plugin or the fallback flagged the case */
    uint32_t referral_count;     /* entries in referrals */
    policy_referral_t referrals[VIGIL_PLUGIN_REFERRALS_MAX];
} policy_decision_t;

/* One case to route. The caller fills the inputs; policy_route_batch()
 * fills outcome, decision and detail. */
typedef struct {
    /* in */
    const Vigil__V1__CaseView *view; /* borrowed for the call */
    const char *region;              /* owning region, one of the configured names */
    Vigil__V1__Priority priority;    /* triage's priority before the plugin */
    bool advise_emergency_services;  /* triage advises calling emergency services */
    uint32_t escalation_level;       /* 0 for the first decision */
    int64_t now_ms;                  /* the decision clock; 0 = wall clock */
    /* out */
    policy_outcome_t outcome;
    policy_decision_t decision;     /* valid for OK and FALLBACK */
    char detail[POLICY_DETAIL_MAX]; /* why FALLBACK/CRASHED/TIMED_OUT; "" for OK */
} policy_request_t;

/* Routes `count` cases, in order, through their regions' plugins, and sets
 * every request's outcome. When the worker crashes or hangs, only the case
 * in flight gets CRASHED or TIMED_OUT; the worker is restarted and the rest
 * of the batch goes on (cases whose answers died with the worker are run
 * again, which is why plugins must not keep side effects). A region that
 * crashes or times out crash_limit times within crash_window_ms is
 * quarantined on the fallback policy until the next policy_reload().
 * If the worker cannot be restarted, cases get FALLBACK. For every OK or
 * FALLBACK decision the assignee's open-case load in the roster mirror goes
 * up by one. Returns 0, or -1 only for a programmer error (NULL arguments);
 * an unknown region is a FALLBACK with needs_human_review. */
int policy_route_batch(policy_host_t *host, policy_request_t *requests, size_t count);

/* Routes one request with the region's fallback policy, without the
 * plugin: the configured fallback assignee, else the least-loaded on-call
 * contact officer, else the least-loaded contact officer, else the first
 * roster entry. Sets outcome FALLBACK, used_fallback, `detail` = `reason`,
 * and needs_human_review when `needs_review`. Use it for a case that
 * crashed the plugin too often. Cannot fail. */
void policy_route_fallback(policy_host_t *host, policy_request_t *request, const char *reason,
                           bool needs_review);

/* Sets an officer's open-case load (triage's count of open cases assigned
 * to them); sent to the worker before the next batch. Returns 0, or -1 if
 * the region or officer is unknown. */
int policy_set_load(policy_host_t *host, const char *region, const char *officer_id,
                    uint32_t open_cases);

/* ------------------------------------------------------------------------
 * Hot reload and status
 * ------------------------------------------------------------------------ */

/* Hot reload (SIGHUP, vigilctl reload-plugins). `regions` is the new region
 * config, or NULL to keep the current one; the set of region names must not
 * change. For each region whose plugin file (a new inode: deploy with
 * install(1) or rename(2), never by writing into the old file) or settings
 * changed, or that is on fallback: opens and checks the new file beside the
 * old one, loads it, runs the ABI checks, init and self_test, and swaps it
 * in between two batches; the old instance's fini runs after the swap and
 * its code stays mapped. A region whose new version fails keeps the old one
 * running, with its old settings, or stays on fallback, and the reason is
 * logged and reported; a region on fallback takes the new settings anyway
 * (its fallback routes by them).
 * Clears crash quarantines. Writes one line per region into `report`, for
 * the caller to log ("north: rules 1.3.0 -> 1.4.0", "east: rules 1.3.0 ->
 * rules 1.3.0 (new settings)", "south: kept rules 1.2.0: init: ...").
 * Returns 0 if every region runs what was asked, -1 if any kept its old
 * version or stayed on fallback, or the region set changed; then the first
 * such line is also in `refusal` (may be NULL; "" when 0 is returned). */
int policy_reload(policy_host_t *host, const policy_region_list_t *regions, char *report,
                  size_t report_len, char *refusal, size_t refusal_len);

/* One region's state, for vigilctl status and tests. Strings are borrowed
 * until the next policy_* call on the host. */
typedef struct {
    const char *region;         /* region name */
    const char *file;           /* the plugin file path */
    const char *plugin_name;    /* the running plugin, or "fallback" */
    const char *plugin_version; /* its version */
    bool on_fallback;           /* every case goes to the fallback policy */
    const char *reason;         /* why on fallback ("" if not) */
    uint64_t decisions;         /* OK outcomes */
    uint64_t fallbacks;         /* FALLBACK outcomes */
    uint64_t crashes;           /* CRASHED outcomes */
    uint64_t timeouts;          /* TIMED_OUT outcomes */
} policy_region_status_t;

/* Number of configured regions. Cannot fail. */
size_t policy_region_count(const policy_host_t *host);

/* Fills `out` for the index-th region. Returns 0, or -1 past the end. */
int policy_region_status(const policy_host_t *host, size_t index, policy_region_status_t *out);

/* The settings region `name` runs under now: those it started with, or
 * those of its last accepted reload (a reload whose new settings a plugin
 * refused leaves the old ones). Borrowed: valid until the next reload.
 * Returns NULL for an unknown region. */
const policy_region_t *policy_region_settings(const policy_host_t *host, const char *name);

/* Calls `fn` once per region with key "plugin.<region>" and a value like
 * "rules 1.2.0" or "FALLBACK: init failed: ..." (e.g. service_set_fact),
 * and once with "plugin.worker_restarts". Cannot fail. */
void policy_host_facts(const policy_host_t *host,
                       void (*fn)(void *ctx, const char *key, const char *value), void *ctx);

/* The worker's process id, or -1 if none is running (for tests that kill
 * it). Cannot fail. */
int policy_worker_pid(const policy_host_t *host);

/* Fills a RoutingDecision whose strings point into `decision` and whose
 * referrals live in `refs` (pointed to by `ref_ptrs`); both arrays need
 * VIGIL_PLUGIN_REFERRALS_MAX entries. Nothing is allocated: `out` is valid
 * while `decision`, `refs` and `ref_ptrs` live; pack it, never free it with
 * protobuf_c_message_free_unpacked(). Cannot fail. */
void policy_decision_to_proto(const policy_decision_t *decision, Vigil__V1__RoutingDecision *out,
                              Vigil__V1__Referral *refs, Vigil__V1__Referral **ref_ptrs);

#endif
