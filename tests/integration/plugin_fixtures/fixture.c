/* fixture.c: TEST plugins for the loader, the policy host and hot reload.
 *
 * One source, many builds (tests/integration/plugins.cmake): FIXTURE_KIND
 * picks what is wrong with it on purpose, FIXTURE_VERSION its version.
 *
 *   GOOD            a well-formed plugin (below: what route does)
 *   BAD_MAGIC       magic number is not VIGIL_PLUGIN_MAGIC
 *   BAD_MAJOR       ABI major 2
 *   NEWER_MINOR     ABI minor newer than the host's
 *   SMALL_STRUCT    struct_size smaller than the v1.0 descriptor
 *   BAD_FINGERPRINT a layout fingerprint from another build
 *   NO_ENTRY        exports no vigil_plugin_descriptor
 *   HOST_SYMBOL     calls a host function directly (linked without
 *                   --no-undefined): dlopen(RTLD_NOW) must refuse it
 *   INIT_FAILS      init returns an error with a reason
 *   SELF_TEST_FAILS self_test returns an error with a reason
 *   INIT_CRASH      init dereferences NULL
 *
 * Route of the well-formed builds, by case id prefix: "crash" SIGSEGV,
 * "abort" abort(), "hang" loops forever, "decline" returns an error,
 * "noassignee" returns OK without an assignee; anything else goes to
 * plugin_config.assignee (default: the first roster entry) with a referral
 * to plugin_config.refer (a service id) when set. It must never ship.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#define GOOD            0
#define BAD_MAGIC       1
#define BAD_MAJOR       2
#define NEWER_MINOR     3
#define SMALL_STRUCT    4
#define BAD_FINGERPRINT 5
#define NO_ENTRY        6
#define HOST_SYMBOL     7
#define INIT_FAILS      8
#define SELF_TEST_FAILS 9
#define INIT_CRASH      10

#ifndef FIXTURE_KIND
#define FIXTURE_KIND GOOD
#endif
#ifndef FIXTURE_VERSION
#define FIXTURE_VERSION "1.0.0"
#endif

#if FIXTURE_KIND == HOST_SYMBOL
/* A host function: present in the worker binary, never exported to plugins. */
extern int log_level_parse(const char *text, int *level);
#endif

static bool s_prefix(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Dies of SIGSEGV for real, also in sanitizer builds (where a null
 * dereference would become a sanitizer report and an abort instead). */
static void s_segfault(void)
{
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
}

static int s_init(const vigil_host_api_t *host, void **state, char *err, size_t err_len)
{
    (void)host;
    *state = NULL;
#if FIXTURE_KIND == INIT_FAILS
    snprintf(err, err_len, "fixture init fails on purpose (version %s)", FIXTURE_VERSION);
    return VIGIL_PLUGIN_ERR_FAILED;
#elif FIXTURE_KIND == INIT_CRASH
    (void)err, (void)err_len;
    s_segfault();
    return VIGIL_PLUGIN_ERR_FAILED;
#else
    (void)err, (void)err_len;
    return VIGIL_PLUGIN_OK;
#endif
}

static int s_route(void *state, const vigil_host_api_t *host, const vigil_case_view_t *view,
                   vigil_decision_builder_t *decision)
{
    (void)state;
#if FIXTURE_KIND == HOST_SYMBOL
    int level = 0;
    log_level_parse("info", &level);
#endif
    if (s_prefix(view->case_id, "crash")) {
        s_segfault();
    }
    if (s_prefix(view->case_id, "abort")) {
        abort();
    }
    if (s_prefix(view->case_id, "hang")) {
        for (volatile unsigned long spin = 0;; spin++) {
        }
    }
    if (s_prefix(view->case_id, "decline")) {
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    if (s_prefix(view->case_id, "noassignee")) {
        return VIGIL_PLUGIN_OK;
    }
    const char *assignee = NULL;
    if (host->config_string(host, "assignee", &assignee) != VIGIL_PLUGIN_OK) {
        const vigil_officer_t *first = host->roster_get(host, 0);
        assignee = first ? first->id : "nobody";
    }
    decision->set_assignee(decision, assignee);
    const char *refer = NULL;
    if (host->config_string(host, "refer", &refer) == VIGIL_PLUGIN_OK) {
        decision->add_referral(decision, refer, "fixture-org", "fixture-term");
    }
    decision->set_rationale(decision, "fixture " FIXTURE_VERSION);
    return VIGIL_PLUGIN_OK;
}

static void s_fini(void *state)
{
    (void)state;
}

static int s_self_test(void *state, const vigil_host_api_t *host, char *err, size_t err_len)
{
    (void)state, (void)host;
#if FIXTURE_KIND == SELF_TEST_FAILS
    snprintf(err, err_len, "fixture self_test fails on purpose");
    return VIGIL_PLUGIN_ERR_FAILED;
#else
    (void)err, (void)err_len;
    return VIGIL_PLUGIN_OK;
#endif
}

static const vigil_plugin_t s_descriptor = {
#if FIXTURE_KIND == BAD_MAGIC
    .magic = 0xdeadbeefu,
#else
    .magic = VIGIL_PLUGIN_MAGIC,
#endif
#if FIXTURE_KIND == BAD_MAJOR
    .abi_major = VIGIL_PLUGIN_ABI_MAJOR + 1,
#else
    .abi_major = VIGIL_PLUGIN_ABI_MAJOR,
#endif
#if FIXTURE_KIND == NEWER_MINOR
    .abi_minor = VIGIL_PLUGIN_ABI_MINOR + 1,
#else
    .abi_minor = VIGIL_PLUGIN_ABI_MINOR,
#endif
#if FIXTURE_KIND == SMALL_STRUCT
    .struct_size = 16,
#else
    .struct_size = sizeof(vigil_plugin_t),
#endif
#if FIXTURE_KIND == BAD_FINGERPRINT
    .fingerprint = VIGIL_PLUGIN_FINGERPRINT ^ 1u,
#else
    .fingerprint = VIGIL_PLUGIN_FINGERPRINT,
#endif
    .name = "fixture",
    .version = FIXTURE_VERSION,
    .description = "test fixture; never ships",
    .init = s_init,
    .route = s_route,
    .fini = s_fini,
    .self_test = s_self_test,
};

#if FIXTURE_KIND == NO_ENTRY
VIGIL_PLUGIN_EXPORT const vigil_plugin_t *not_the_descriptor(void);
const vigil_plugin_t *not_the_descriptor(void)
#else
VIGIL_PLUGIN_EXPORT const vigil_plugin_t *vigil_plugin_descriptor(void);
const vigil_plugin_t *vigil_plugin_descriptor(void)
#endif
{
    return &s_descriptor;
}
