/* intake_config.c: the `intake` config group, declared once as a table.
 *
 * The sources list is a CONFIG_CUSTOM key: s_parse_sources() checks every
 * entry (a unique name, known message types) and reports errors with the
 * file and line. Nothing here grants a permission the config does not list.
 */
#include "intake_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(member) offsetof(intake_config_t, member)

enum {
    ROTATE_BATCH_DEFAULT_MAX = 100000,
    ROTATE_PAUSE_MAX_MS = 60000,
    CASES_LIST_CAP = 10000,
    CACHE_MB_MAX = 4096,
};

static int s_parse_sources(const config_setting_t *setting, void *field, char *err, size_t errlen);
static void s_free_sources(void *field);

const config_key_t intake_config_keys[] = {
    {.key = "intake.sources",
     .type = CONFIG_CUSTOM,
     .default_value = "()",
     .offset = OFF(sources),
     .min = 1,
     .max = 0,
     .doc =
         "upstream sources: ( { name = \"cert name\"; may_send = [ \"INTAKE_CONTACT\", ... ]; } )",
     .parse = s_parse_sources,
     .free = s_free_sources},
    {.key = "intake.hash_key_file",
     .type = CONFIG_STRING,
     .default_value = "",
     .offset = OFF(hash_key_file),
     .min = 1,
     .max = 0,
     .doc = "32-byte hex key for keyed hashes (report case keys, PINs); "
            "empty means <state_dir>/keys/intake.hashkey, created if absent"},
    {.key = "intake.rotate_batch",
     .type = CONFIG_INT,
     .default_value = "256",
     .offset = OFF(rotate_batch),
     .min = 1,
     .max = ROTATE_BATCH_DEFAULT_MAX,
     .doc = "rows re-encrypted per transaction by rotate-key"},
    {.key = "intake.rotate_pause_ms",
     .type = CONFIG_INT,
     .default_value = "1",
     .offset = OFF(rotate_pause_ms),
     .min = 0,
     .max = ROTATE_PAUSE_MAX_MS,
     .doc = "pause between rotate-key batches, left to live traffic"},
    {.key = "intake.cases_list_default",
     .type = CONFIG_INT,
     .default_value = "50",
     .offset = OFF(cases_list_default),
     .min = 1,
     .max = CASES_LIST_CAP,
     .doc = "cases returned by `vigilctl cases list` without --limit"},
    {.key = "intake.cases_list_max",
     .type = CONFIG_INT,
     .default_value = "1000",
     .offset = OFF(cases_list_max),
     .min = 1,
     .max = CASES_LIST_CAP,
     .doc = "most cases one `vigilctl cases list` may return"},
    {.key = "intake.cache_mb",
     .type = CONFIG_INT,
     .default_value = "64",
     .offset = OFF(cache_mb),
     .min = 2,
     .max = CACHE_MB_MAX,
     .doc = "sqlite page cache for intake's store, in MiB (a batch must fit, or pages "
            "spill to the WAL mid-transaction)"},
    {.key = NULL},
};

/* The message types an upstream source can be permitted to send. */
typedef struct {
    Vigil__V1__MessageType type;
    const char *name;
} upstream_type_t;

static const upstream_type_t s_upstream_types[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT, "INTAKE_CONTACT"},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT, "CUSTODY_EVENT"},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST, "SUBSCRIPTION_REQUEST"},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION, "DELIVERY_CONFIRMATION"},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT, "ASSIGNMENT_RECEIPT"},
};

#define UPSTREAM_TYPE_COUNT (sizeof s_upstream_types / sizeof s_upstream_types[0])
#define TYPE_PREFIX         "MESSAGE_TYPE_"

uint32_t intake_type_bit(Vigil__V1__MessageType type)
{
    for (size_t i = 0; i < UPSTREAM_TYPE_COUNT; i++)
        if (s_upstream_types[i].type == type)
            return UINT32_C(1) << i;
    return 0;
}

const char *intake_type_name(Vigil__V1__MessageType type)
{
    for (size_t i = 0; i < UPSTREAM_TYPE_COUNT; i++)
        if (s_upstream_types[i].type == type)
            return s_upstream_types[i].name;
    return "?";
}

static uint32_t s_bit_for_name(const char *name)
{
    if (strncmp(name, TYPE_PREFIX, strlen(TYPE_PREFIX)) == 0)
        name += strlen(TYPE_PREFIX);
    for (size_t i = 0; i < UPSTREAM_TYPE_COUNT; i++)
        if (strcmp(s_upstream_types[i].name, name) == 0)
            return UINT32_C(1) << i;
    return 0;
}

const intake_source_t *intake_sources_find(const intake_sources_t *sources, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sources->count; i++)
        if (strcmp(sources->items[i].name, name) == 0)
            return &sources->items[i];
    return NULL;
}

bool intake_sources_permit(const intake_sources_t *sources, const char *name,
                           Vigil__V1__MessageType type)
{
    const intake_source_t *source = intake_sources_find(sources, name);
    uint32_t bit = intake_type_bit(type);
    return source && bit && (source->may_send & bit);
}

int intake_sources_copy(const intake_sources_t *in, intake_sources_t *out)
{
    out->count = 0;
    out->items = calloc(in->count + 1, sizeof *out->items);
    if (!out->items)
        return -1;
    for (size_t i = 0; i < in->count; i++) {
        out->items[i].name = strdup(in->items[i].name);
        if (!out->items[i].name) {
            intake_sources_clear(out);
            return -1;
        }
        out->items[i].may_send = in->items[i].may_send;
        out->count++;
    }
    return 0;
}

void intake_sources_clear(intake_sources_t *sources)
{
    for (size_t i = 0; i < sources->count; i++)
        free(sources->items[i].name);
    free(sources->items);
    sources->items = NULL;
    sources->count = 0;
}

static int s_error(const config_setting_t *setting, char *err, size_t errlen, const char *why,
                   const char *detail)
{
    snprintf(err, errlen, "%s:%d: key 'intake.sources': %s%s", config_setting_file(setting),
             setting ? config_setting_source_line(setting) : 0, why, detail ? detail : "");
    return -1;
}

static int s_parse_entry(const config_setting_t *entry, intake_source_t *source, char *err,
                         size_t errlen)
{
    if (!config_setting_is_group(entry))
        return s_error(entry, err, errlen, "each source must be a group { name; may_send; }", NULL);
    for (int k = 0; k < config_setting_length(entry); k++) {
        const char *key = config_setting_name(config_setting_get_elem(entry, (unsigned)k));
        if (strcmp(key, "name") != 0 && strcmp(key, "may_send") != 0)
            return s_error(entry, err, errlen, "unknown key in a source: ", key);
    }
    const char *name = NULL;
    if (!config_setting_lookup_string(entry, "name", &name) || !*name)
        return s_error(entry, err, errlen, "a source needs a non-empty name", NULL);
    source->name = strdup(name);
    const config_setting_t *types = config_setting_get_member(entry, "may_send");
    if (!types)
        return s_error(entry, err, errlen, "a source needs may_send", NULL);
    if (!config_setting_is_array(types) && !config_setting_is_list(types))
        return s_error(types, err, errlen, "may_send must be an array of message type names", NULL);
    for (int t = 0; t < config_setting_length(types); t++) {
        const char *type = config_setting_get_string_elem(types, t);
        uint32_t bit = type ? s_bit_for_name(type) : 0;
        if (!bit)
            return s_error(types, err, errlen,
                           "may_send names a type upstream sources cannot send; expected "
                           "INTAKE_CONTACT, CUSTODY_EVENT, SUBSCRIPTION_REQUEST or "
                           "DELIVERY_CONFIRMATION, got ",
                           type ? type : "a non-string");
        source->may_send |= bit;
    }
    return 0;
}

static int s_parse_sources(const config_setting_t *setting, void *field, char *err, size_t errlen)
{
    intake_sources_t *sources = field;
    s_free_sources(sources);
    if (!setting)
        return 0;
    if (!config_setting_is_list(setting))
        return s_error(setting, err, errlen, "must be a list ( {...}, {...} )", NULL);
    int count = config_setting_length(setting);
    sources->items = calloc(count ? (size_t)count : 1, sizeof *sources->items);
    if (!sources->items)
        return s_error(setting, err, errlen, "out of memory", NULL);
    for (int i = 0; i < count; i++) {
        const config_setting_t *entry = config_setting_get_elem(setting, (unsigned)i);
        intake_source_t *source = &sources->items[sources->count++];
        if (s_parse_entry(entry, source, err, errlen))
            return -1;
        for (size_t j = 0; j + 1 < sources->count; j++)
            if (strcmp(sources->items[j].name, source->name) == 0)
                return s_error(entry, err, errlen, "duplicate source name ", source->name);
    }
    return 0;
}

static void s_free_sources(void *field)
{
    intake_sources_clear(field);
}
