/* fuzz_config.c: a service's config text through the loader.
 *
 * Every service reads its settings with config_load() (libconfig, then the
 * key tables: types, ranges, unknown keys, custom parsers such as
 * intake.sources and peers). The input is loaded as the embedded layer of
 * intake's tables (the runtime's keys and intake's own). For any input this
 * target checks that:
 * - the load either succeeds, or fails with a message that says where:
 *   "<embedded>:LINE: ..." or "<embedded>: key '...': ...";
 * - what a load stored is released without a leak (LeakSanitizer, under
 *   scripts/fuzz.sh), after a success and after a failure alike.
 * Inputs that @include a file are skipped: they would read this machine's
 * files (an operator's config may include files; that is not input).
 */
#include <string.h>

#include "fuzz.h"
#include "intake_config.h"
#include "service_config.h"
#include "vigil/config.h"
#include "vigil/log.h"

enum {
    FUZZ_CONFIG_MAX = 1 << 16,
    FUZZ_ERR = 512,
};

static const char s_where[] = "<embedded>";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_CONFIG_MAX || memchr(data, '@', size))
        return 0; /* no @include (nor @directive) */
    char *text = malloc(size + 1);
    FUZZ_CHECK(text, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    service_config_t runtime;
    intake_config_t intake;
    memset(&runtime, 0, sizeof runtime);
    memset(&intake, 0, sizeof intake);
    config_section_t sections[] = {
        {.keys = service_config_keys, .base = &runtime},
        {.keys = intake_config_keys, .base = &intake},
        {.keys = NULL},
    };
    char err[FUZZ_ERR] = "";
    if (config_load(text, NULL, sections, err, sizeof err) != 0) {
        size_t n = strlen(s_where);
        FUZZ_CHECK(strncmp(err, s_where, n) == 0 && (err[n] == ':') && strlen(err) > n + 2,
                   "a refused config's message does not say where: \"%s\"", err);
    }
    config_release(sections);
    free(text);
    return 0;
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    static const char *const configs[] = {
        "",
        ("state_dir = \"/var/lib/vigil/intake\";\n"
         "log_level = \"info\";\n"
         "link = { listen = \"tcp://0.0.0.0:7100\"; batch_max = 2048; };\n"
         "metrics = { listen = \"127.0.0.1:9100\"; };\n"
         "peers = ( { name = \"triage\"; endpoint = \"tcp://triage:7200\";\n"
         "            server_key = \"keys/triage.key\"; ack_timeout_ms = 500; } );\n"
         "intake = {\n"
         "  sources = ( { name = \"hotline-east\";\n"
         "                may_send = [ \"INTAKE_CONTACT\", \"SUBSCRIPTION_REQUEST\" ]; },\n"
         "              { name = \"county-jail-042\"; may_send = [ \"CUSTODY_EVENT\" ]; } );\n"
         "  cache_mb = 32;\n"
         "};\n"),
        "link = { batch_max = 0; };\n",
        "link = { batch_max = \"many\"; };\n",
        "linkk = { };\n",
        "intake = { sources = ( { name = \"x\"; may_send = [ \"NOT_A_TYPE\" ]; } ); };\n",
        "peers = ( { name = \"triage\"; } );\n",
        "state_dir = \"unterminated;\n",
        "metrics = { listen = 9100; };\n",
    };
    fuzz_emit_texts(emit, ctx, configs, sizeof configs / sizeof configs[0]);
}
