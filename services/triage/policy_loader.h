/* policy_loader.h: dlopen a plugin and check its descriptor (ABI v1).
 *
 * Runs in vigil-policy-worker, never in triage itself. The file is loaded
 * with RTLD_NOW | RTLD_LOCAL (every symbol resolved now; nothing it exports
 * is visible to other plugins), its one entry symbol is looked up, and the
 * descriptor is checked before any of its callbacks runs, in this order:
 * entry symbol present and returning non-NULL; magic; ABI major equal to
 * the host's; ABI minor not newer than the host's; struct_size at least the
 * v1.0 size; layout fingerprint equal to the host's; name and version well
 * formed; init, route and fini present. Each refusal names the file and
 * the reason. A loaded object is never unloaded (dlclose), even when it
 * fails a check: its constructors may have run, and a worker restart
 * clears it.
 */
#ifndef VIGIL_TRIAGE_POLICY_LOADER_H
#define VIGIL_TRIAGE_POLICY_LOADER_H

#include <stddef.h>

#include "vigil/plugin.h"

/* A loaded, checked plugin. */
typedef struct {
    void *handle;        /* from dlopen; never closed */
    vigil_plugin_t desc; /* the descriptor, copied and zero-extended to this host's size */
} policy_plugin_t;

/* Loads `path` and checks it; `display` is the file name used in messages
 * (the worker loads /proc/self/fd/N but reports the plugin's path).
 * Returns 0, or -1 with "DISPLAY: why" in `err`. out->handle is set
 * whenever dlopen succeeded, even if a check then failed: the object stays
 * loaded, so the caller must never let `path` name another file (keep the
 * descriptor open). */
int policy_loader_load(const char *path, const char *display, policy_plugin_t *out, char *err,
                       size_t errlen);

/* The descriptor checks alone (magic onwards). Returns 0, or -1 with
 * "DISPLAY: why" in `err`. */
int policy_loader_check(const vigil_plugin_t *desc, const char *display, char *err, size_t errlen);

#endif
