/* policy_loader.c: dlopen and the ABI v1 descriptor checks
 * (policy_loader.h). It calls no plugin callback: only the entry function.
 */
#include "policy_loader.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Longest description accepted. */
#define POLICY_DESCRIPTION_MAX 200

static bool s_valid_name(const char *name)
{
    size_t len = name ? strnlen(name, VIGIL_PLUGIN_NAME_MAX + 1) : 0;
    if (len == 0 || len > VIGIL_PLUGIN_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!(islower(c) || isdigit(c) || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

static bool s_valid_version(const char *version)
{
    size_t len = version ? strnlen(version, VIGIL_PLUGIN_VERSION_MAX + 1) : 0;
    if (len == 0 || len > VIGIL_PLUGIN_VERSION_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isgraph((unsigned char)version[i])) {
            return false;
        }
    }
    return true;
}

int policy_loader_check(const vigil_plugin_t *desc, const char *display, char *err, size_t errlen)
{
    if (!desc) {
        snprintf(err, errlen, "%s: %s() returned NULL", display, VIGIL_PLUGIN_ENTRY_NAME);
        return -1;
    }
    if (desc->magic != VIGIL_PLUGIN_MAGIC) {
        snprintf(err, errlen,
                 "%s: bad magic number 0x%08x (expected 0x%08x): not a vigil plugin descriptor",
                 display, (unsigned)desc->magic, (unsigned)VIGIL_PLUGIN_MAGIC);
        return -1;
    }
    if (desc->abi_major != VIGIL_PLUGIN_ABI_MAJOR) {
        snprintf(err, errlen,
                 "%s: ABI major version %u, but this vigil speaks %u: rebuild the plugin "
                 "against this vigil's SDK",
                 display, (unsigned)desc->abi_major, (unsigned)VIGIL_PLUGIN_ABI_MAJOR);
        return -1;
    }
    if (desc->abi_minor > VIGIL_PLUGIN_ABI_MINOR) {
        snprintf(err, errlen,
                 "%s: built for ABI %u.%u, newer than this vigil's %u.%u: upgrade vigil or build "
                 "against its SDK",
                 display, (unsigned)desc->abi_major, (unsigned)desc->abi_minor,
                 (unsigned)VIGIL_PLUGIN_ABI_MAJOR, (unsigned)VIGIL_PLUGIN_ABI_MINOR);
        return -1;
    }
    if (desc->struct_size < VIGIL_PLUGIN_V1_0_SIZE) {
        snprintf(err, errlen,
                 "%s: descriptor struct_size %u is smaller than the ABI 1.0 descriptor (%zu "
                 "bytes): not built with VIGIL_PLUGIN() from <vigil/plugin.h>",
                 display, (unsigned)desc->struct_size, (size_t)VIGIL_PLUGIN_V1_0_SIZE);
        return -1;
    }
    if (desc->fingerprint != (uint64_t)VIGIL_PLUGIN_FINGERPRINT) {
        snprintf(err, errlen,
                 "%s: layout fingerprint %016llx differs from this vigil's %016llx: the plugin "
                 "was built with another data model, struct packing or an edited plugin.h",
                 display, (unsigned long long)desc->fingerprint,
                 (unsigned long long)VIGIL_PLUGIN_FINGERPRINT);
        return -1;
    }
    if (!s_valid_name(desc->name)) {
        snprintf(err, errlen, "%s: plugin name must be 1..%d characters of a-z 0-9 _ -", display,
                 VIGIL_PLUGIN_NAME_MAX);
        return -1;
    }
    if (!s_valid_version(desc->version)) {
        snprintf(err, errlen, "%s: plugin version must be 1..%d printable characters, no spaces",
                 display, VIGIL_PLUGIN_VERSION_MAX);
        return -1;
    }
    if (desc->description &&
        strnlen(desc->description, POLICY_DESCRIPTION_MAX + 1) > POLICY_DESCRIPTION_MAX) {
        snprintf(err, errlen, "%s: description longer than %d bytes", display,
                 POLICY_DESCRIPTION_MAX);
        return -1;
    }
    if (!desc->init || !desc->route || !desc->fini) {
        snprintf(err, errlen, "%s: plugin '%s' lacks a required callback (%s%s%s)", display,
                 desc->name, desc->init ? "" : "init ", desc->route ? "" : "route ",
                 desc->fini ? "" : "fini");
        return -1;
    }
    return 0;
}

int policy_loader_load(const char *path, const char *display, policy_plugin_t *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        /* dlerror names /proc/self/fd/N; the file name comes first. */
        snprintf(err, errlen, "%s: cannot load: %s", display, why ? why : "dlopen failed");
        return -1;
    }
    /* From here on the object stays loaded whatever the checks say: tell
     * the caller, who must keep the file open so the name it was loaded
     * under is never reused for another file (dlopen matches by name). */
    out->handle = handle;
    dlerror();
    void *symbol = dlsym(handle, VIGIL_PLUGIN_ENTRY_NAME);
    if (!symbol) {
        snprintf(err, errlen,
                 "%s: no exported %s symbol: not a vigil plugin, or built without VIGIL_PLUGIN() "
                 "or with the symbol hidden",
                 display, VIGIL_PLUGIN_ENTRY_NAME);
        return -1;
    }
    vigil_plugin_entry_fn entry;
    memcpy(&entry, &symbol, sizeof entry); /* object pointer to function pointer (POSIX) */
    const vigil_plugin_t *desc = entry();
    if (policy_loader_check(desc, display, err, errlen) < 0) {
        return -1;
    }
    size_t size = desc->struct_size < sizeof out->desc ? desc->struct_size : sizeof out->desc;
    memcpy(&out->desc, desc, size);
    return 0;
}
