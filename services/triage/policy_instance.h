/* policy_instance.h: one plugin instance serving one region, in the worker.
 *
 * An instance is a loaded plugin (policy_loader.h), the state its init
 * returned, and the region context the host API serves it from: the parsed
 * plugin_config, the roster with its open-case loads, the time zone, the
 * resource directory and the decision clock. This file implements the
 * vigil_host_api_t table (plugin.h) over that context and wraps every
 * callback. It runs only in vigil-policy-worker, one call at a time, and
 * never sees personal data; plugin log lines are tagged with the plugin,
 * region and case id and stripped of control characters.
 */
#ifndef VIGIL_TRIAGE_POLICY_INSTANCE_H
#define VIGIL_TRIAGE_POLICY_INSTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "policy_builder.h"
#include "policy_dircache.h"
#include "policy_loader.h"
#include "vigil/plugin.h"

/* What an instance is made from. Everything is borrowed for the call and
 * copied. */
typedef struct {
    const char *host_version;  /* vigil's version */
    const char *region;        /* region name */
    const char *file;          /* plugin path, for messages */
    const char *plugin_config; /* libconfig text ("" for none) */
    const char *timezone;      /* IANA name; NULL or "" = plugin_config's `timezone`, else UTC */
    const vigil_officer_t *roster; /* struct_size ignored */
    uint32_t roster_count;
} policy_instance_spec_t;

typedef struct policy_instance_t policy_instance_t;

/* Creates an instance context (the plugin is not called yet). `directory`
 * is borrowed and must outlive it. Returns NULL with "FILE: region 'R':
 * why" in `err` (plugin_config that does not parse, allocation). */
policy_instance_t *policy_instance_new(const policy_instance_spec_t *spec,
                                       policy_dircache_t *directory, char *err, size_t errlen);

/* Calls the plugin's init, then its self_test if it has one. On success
 * the instance is live. Returns 0, or -1 with "FILE: init failed: why" or
 * "FILE: self_test failed: why" in `err` (after a failed self_test, fini
 * has been called). */
int policy_instance_start(policy_instance_t *instance, const policy_plugin_t *plugin, char *err,
                          size_t errlen);

/* The same plugin code with a new context: calls the plugin's reload with
 * the new config (the old config stays in force if it fails). Returns 0,
 * -1 with a reason in `err`, or 1 if the plugin has no reload callback
 * (nothing changed: make a new instance instead). */
int policy_instance_reconfigure(policy_instance_t *instance, const policy_instance_spec_t *spec,
                                char *err, size_t errlen);

/* Runs route for one case. `now_ms` is the decision clock (0 = wall
 * clock). Returns the plugin's return code. */
int policy_instance_route(policy_instance_t *instance, const vigil_case_view_t *view,
                          int64_t now_ms, policy_builder_t *builder);

/* Adds one open case to roster entry `officer_id` (after a decision).
 * Cannot fail (an unknown id is ignored). */
void policy_instance_add_load(policy_instance_t *instance, const char *officer_id);

/* Sets the open-case loads, in roster order (`count` may be short).
 * Cannot fail. */
void policy_instance_set_loads(policy_instance_t *instance, const uint32_t *loads, uint32_t count);

/* The running plugin's descriptor, or NULL before start. Cannot fail. */
const vigil_plugin_t *policy_instance_plugin(const policy_instance_t *instance);

/* The region the instance serves (borrowed). Cannot fail. */
const char *policy_instance_region(const policy_instance_t *instance);

/* The dlopen handle of the running plugin, or NULL. Cannot fail. */
void *policy_instance_handle(const policy_instance_t *instance);

/* Calls fini if the instance is live, frees; sets *instance_p to NULL.
 * Cannot fail. */
void policy_instance_destroy(policy_instance_t **instance_p);

#endif
