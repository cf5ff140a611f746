/* policy_config.c: the policy part of a region's config (policy_host.h).
 *
 * Parses a region group (name, plugin, timezone, fallback, roster,
 * plugin_config) into a policy_region_t, renders a plugin_config group as
 * libconfig text for the worker, and copies and frees region lists. Every
 * error names the file, line, region and key. It reads configuration only:
 * it never opens a plugin, and nothing it handles is personal data.
 */
#include "policy_host.h"
#include "vigil/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where IANA time zone files live (tzdata). */
#define POLICY_ZONEINFO_DIR "/usr/share/zoneinfo/"
/* Longest time zone name accepted, e.g. "America/Argentina/ComodRivadavia". */
#define POLICY_TIMEZONE_MAX 64
/* Longest plugin file stem accepted. */
#define POLICY_PLUGIN_STEM_MAX 64
/* Digits printf needs so a double reads back exactly. */
#define POLICY_DOUBLE_DIGITS 17

/* The keys a region group may hold for this module. */
static const char *const s_region_keys[] = {
    "name", "plugin", "timezone", "fallback", "roster", "plugin_config", NULL,
};
static const char *const s_officer_keys[] = {"id", "role", "languages", "on_call", NULL};
static const char *const s_fallback_keys[] = {"assignee", "escalation", NULL};

/* Role names, in the config and in docs/plugins.md. */
static const struct {
    const char *name;
    vigil_role_t role;
} s_roles[] = {
    {"contact_officer", VIGIL_ROLE_CONTACT_OFFICER},
    {"contact", VIGIL_ROLE_CONTACT_OFFICER},
    {"community_relations", VIGIL_ROLE_COMMUNITY_RELATIONS},
    {"supervisor", VIGIL_ROLE_SUPERVISOR},
    {"group", VIGIL_ROLE_GROUP},
    {"other", VIGIL_ROLE_OTHER},
    {NULL, VIGIL_ROLE_UNSPECIFIED},
};

vigil_role_t policy_role_parse(const char *text)
{
    for (size_t i = 0; text && s_roles[i].name; i++) {
        if (strcmp(s_roles[i].name, text) == 0) {
            return s_roles[i].role;
        }
    }
    return VIGIL_ROLE_UNSPECIFIED;
}

bool policy_region_key(const char *key)
{
    for (size_t i = 0; key && s_region_keys[i]; i++) {
        if (strcmp(s_region_keys[i], key) == 0) {
            return true;
        }
    }
    return false;
}

static bool s_in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i]; i++) {
        if (strcmp(list[i], key) == 0) {
            return true;
        }
    }
    return false;
}

static int s_line(const config_setting_t *setting)
{
    return setting ? (int)config_setting_source_line(setting) : 0;
}

/* Writes "FILE:LINE: region 'R': key 'K': WHY" and returns -1. */
static int s_fail(char *err, size_t errlen, const config_setting_t *at, const char *region,
                  const char *key, const char *why)
{
    if (err && errlen) {
        snprintf(err, errlen, "%s:%d: region '%s': key '%s': %s", config_setting_file(at),
                 s_line(at), region && region[0] ? region : "?", key, why);
    }
    return -1;
}

/* An id as plugin.h defines it: 1..64 bytes of [A-Za-z0-9._:@/-]. */
static bool s_valid_id(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > VIGIL_PLUGIN_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && !strchr("._:@/-", c)) {
            return false;
        }
    }
    return true;
}

/* A plugin file stem: [A-Za-z0-9_.-], not starting with '.', no '/'. */
static bool s_valid_stem(const char *stem)
{
    size_t len = strlen(stem);
    if (len == 0 || len > POLICY_PLUGIN_STEM_MAX || stem[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)stem[i];
        if (!isalnum(c) && c != '_' && c != '-' && c != '.') {
            return false;
        }
    }
    return true;
}

/* "UTC", or a name with a file under the zoneinfo directory. */
static bool s_valid_timezone(const char *tz)
{
    if (strcmp(tz, "UTC") == 0) {
        return true;
    }
    size_t len = strlen(tz);
    if (len == 0 || len > POLICY_TIMEZONE_MAX || tz[0] == '/' || strstr(tz, "..")) {
        return false;
    }
    char path[sizeof POLICY_ZONEINFO_DIR + POLICY_TIMEZONE_MAX];
    snprintf(path, sizeof path, "%s%s", POLICY_ZONEINFO_DIR, tz);
    return access(path, R_OK) == 0;
}

/* Reads an optional string member; *out gets a copy ("" if absent). */
static int s_get_string(const config_setting_t *group, const char *member, const char *region,
                        const char *key, char **out, char *err, size_t errlen)
{
    config_setting_t *s = config_setting_get_member(group, member);
    const char *value = "";
    if (s) {
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
            return s_fail(err, errlen, s, region, key, "must be a string");
        }
        value = config_setting_get_string(s);
    }
    *out = strdup(value ? value : "");
    if (!*out) {
        return s_fail(err, errlen, group, region, key, "out of memory");
    }
    return 0;
}

static int s_check_keys(const config_setting_t *group, const char *const *allowed,
                        const char *region, const char *prefix, char *err, size_t errlen)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        config_setting_t *member = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(member);
        if (name && !s_in_list(allowed, name)) {
            char key[128];
            snprintf(key, sizeof key, "%s%s", prefix, name);
            return s_fail(err, errlen, member, region, key, "unknown key");
        }
    }
    return 0;
}

static void s_officer_clear(policy_officer_t *officer)
{
    free(officer->id);
    for (size_t i = 0; i < officer->language_count; i++) {
        free(officer->languages[i]);
    }
    free(officer->languages);
    memset(officer, 0, sizeof *officer);
}

static int s_parse_officer(const config_setting_t *group, size_t index, const char *region,
                           policy_officer_t *out, char *err, size_t errlen)
{
    char key[64];
    snprintf(key, sizeof key, "roster.[%zu]", index);
    if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
        return s_fail(err, errlen, group, region, key, "must be a group { id = ...; }");
    }
    snprintf(key, sizeof key, "roster.[%zu].", index);
    if (s_check_keys(group, s_officer_keys, region, key, err, errlen) < 0) {
        return -1;
    }
    snprintf(key, sizeof key, "roster.[%zu].id", index);
    if (s_get_string(group, "id", region, key, &out->id, err, errlen) < 0) {
        return -1;
    }
    if (!s_valid_id(out->id)) {
        return s_fail(err, errlen, group, region, key,
                      "must be 1..64 characters of A-Z a-z 0-9 . _ : @ / -");
    }
    char *role = NULL;
    snprintf(key, sizeof key, "roster.[%zu].role", index);
    if (s_get_string(group, "role", region, key, &role, err, errlen) < 0) {
        return -1;
    }
    out->role = role[0] ? policy_role_parse(role) : VIGIL_ROLE_CONTACT_OFFICER;
    free(role);
    if (out->role == VIGIL_ROLE_UNSPECIFIED) {
        return s_fail(err, errlen, group, region, key,
                      "must be contact_officer, community_relations, supervisor, group or other");
    }
    config_setting_t *on_call = config_setting_get_member(group, "on_call");
    if (on_call) {
        if (config_setting_type(on_call) != CONFIG_TYPE_BOOL) {
            snprintf(key, sizeof key, "roster.[%zu].on_call", index);
            return s_fail(err, errlen, on_call, region, key, "must be true or false");
        }
        out->on_call = config_setting_get_bool(on_call);
    }
    config_setting_t *langs = config_setting_get_member(group, "languages");
    if (langs) {
        snprintf(key, sizeof key, "roster.[%zu].languages", index);
        if (!config_setting_is_aggregate(langs) ||
            config_setting_type(langs) == CONFIG_TYPE_GROUP) {
            return s_fail(err, errlen, langs, region, key, "must be an array [\"en\", ...]");
        }
        int n = config_setting_length(langs);
        out->languages = calloc((size_t)n + 1, sizeof(char *));
        if (!out->languages) {
            return s_fail(err, errlen, langs, region, key, "out of memory");
        }
        for (int i = 0; i < n; i++) {
            config_setting_t *lang = config_setting_get_elem(langs, (unsigned)i);
            if (config_setting_type(lang) != CONFIG_TYPE_STRING ||
                !s_valid_id(config_setting_get_string(lang))) {
                return s_fail(err, errlen, lang, region, key, "every entry must be a BCP-47 tag");
            }
            out->languages[out->language_count] = strdup(config_setting_get_string(lang));
            if (!out->languages[out->language_count]) {
                return s_fail(err, errlen, lang, region, key, "out of memory");
            }
            out->language_count++;
        }
    }
    return 0;
}

/* --- rendering libconfig text -------------------------------------------- */

static void s_render_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        default:
            if (*p < 0x20) {
                fprintf(out, "\\x%02x", *p);
            } else {
                fputc(*p, out);
            }
        }
    }
    fputc('"', out);
}

static void s_render_value(FILE *out, const config_setting_t *setting);

static void s_render_members(FILE *out, const config_setting_t *group)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *member = config_setting_get_elem(group, (unsigned)i);
        fprintf(out, "%s = ", config_setting_name(member));
        s_render_value(out, member);
        fputs(";\n", out);
    }
}

static void s_render_value(FILE *out, const config_setting_t *setting)
{
    int n = 0;
    switch (config_setting_type(setting)) {
    case CONFIG_TYPE_INT:
        fprintf(out, "%d", config_setting_get_int(setting));
        break;
    case CONFIG_TYPE_INT64:
        fprintf(out, "%lldL", config_setting_get_int64(setting));
        break;
    case CONFIG_TYPE_FLOAT: {
        char number[64];
        snprintf(number, sizeof number, "%.*g", POLICY_DOUBLE_DIGITS,
                 config_setting_get_float(setting));
        fputs(number, out);
        if (!strpbrk(number, ".eEn")) {
            fputs(".0", out); /* libconfig reads "1" as an int */
        }
        break;
    }
    case CONFIG_TYPE_BOOL:
        fputs(config_setting_get_bool(setting) ? "true" : "false", out);
        break;
    case CONFIG_TYPE_STRING:
        s_render_string(out, config_setting_get_string(setting));
        break;
    case CONFIG_TYPE_GROUP:
        fputs("{\n", out);
        s_render_members(out, setting);
        fputs("}", out);
        break;
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
        n = config_setting_length(setting);
        fputc(config_setting_type(setting) == CONFIG_TYPE_ARRAY ? '[' : '(', out);
        for (int i = 0; i < n; i++) {
            if (i) {
                fputs(", ", out);
            }
            s_render_value(out, config_setting_get_elem(setting, (unsigned)i));
        }
        fputc(config_setting_type(setting) == CONFIG_TYPE_ARRAY ? ']' : ')', out);
        break;
    default:
        fputs("0", out);
    }
}

int policy_config_text(const config_setting_t *setting, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!setting) {
        *out = strdup("");
        return *out ? 0 : -1;
    }
    if (config_setting_type(setting) == CONFIG_TYPE_STRING) {
        const char *text = config_setting_get_string(setting);
        /* libconfig 1.5 ends the whole process when such a directive names a
         * directory in text read from a string ("input in flex scanner
         * failed"), and a region's plugin_config has no folder to include
         * from anyway. */
        int include = config_include_line(text);
        if (include) {
            if (err && errlen) {
                snprintf(err, errlen,
                         "%s:%d: plugin_config text, its line %d: @include is not allowed here "
                         "(write the settings themselves, or use a plugin_config group)",
                         config_setting_file(setting), s_line(setting), include);
            }
            return -1;
        }
        config_t check;
        config_init(&check);
        int ok = config_read_string(&check, text) == CONFIG_TRUE;
        if (!ok && err && errlen) {
            snprintf(err, errlen, "%s:%d: plugin_config text, its line %d: %s",
                     config_setting_file(setting), s_line(setting), config_error_line(&check),
                     config_error_text(&check));
        }
        config_destroy(&check);
        if (!ok) {
            return -1;
        }
        *out = strdup(text);
        return *out ? 0 : -1;
    }
    if (config_setting_type(setting) != CONFIG_TYPE_GROUP) {
        if (err && errlen) {
            snprintf(err, errlen, "%s:%d: plugin_config must be a group { ... } or a string",
                     config_setting_file(setting), s_line(setting));
        }
        return -1;
    }
    size_t size = 0;
    FILE *mem = open_memstream(out, &size);
    if (!mem) {
        return -1;
    }
    s_render_members(mem, setting);
    if (fclose(mem) != 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* --- regions -------------------------------------------------------------- */

void policy_region_clear(policy_region_t *region)
{
    if (!region) {
        return;
    }
    free(region->name);
    free(region->plugin);
    free(region->timezone);
    free(region->fallback_assignee);
    free(region->fallback_escalation);
    free(region->plugin_config);
    for (size_t i = 0; i < region->roster_count; i++) {
        s_officer_clear(&region->roster[i]);
    }
    free(region->roster);
    memset(region, 0, sizeof *region);
}

int policy_region_parse(const config_setting_t *group, policy_region_t *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!group || config_setting_type(group) != CONFIG_TYPE_GROUP) {
        return s_fail(err, errlen, group, "?", "regions", "every region must be a group { ... }");
    }
    if (s_get_string(group, "name", "?", "name", &out->name, err, errlen) < 0) {
        goto fail;
    }
    if (!s_valid_id(out->name)) {
        s_fail(err, errlen, group, out->name, "name",
               "required: 1..64 characters A-Z a-z 0-9 . _ -");
        goto fail;
    }
    const char *region = out->name;
    if (s_get_string(group, "plugin", region, "plugin", &out->plugin, err, errlen) < 0) {
        goto fail;
    }
    if (out->plugin[0] == '\0') {
        s_fail(err, errlen, group, region, "plugin",
               "region bound to no plugin: set plugin = \"rules\" (or another plugin file stem)");
        goto fail;
    }
    if (!s_valid_stem(out->plugin)) {
        s_fail(err, errlen, config_setting_get_member(group, "plugin"), region, "plugin",
               "must be a file stem in the plugin directory (A-Z a-z 0-9 _ - ., no '/'), "
               "e.g. \"rules\" for rules.so");
        goto fail;
    }
    config_setting_t *tz = config_setting_get_member(group, "timezone");
    if (tz) {
        if (s_get_string(group, "timezone", region, "timezone", &out->timezone, err, errlen) < 0) {
            goto fail;
        }
        if (!s_valid_timezone(out->timezone)) {
            s_fail(err, errlen, tz, region, "timezone",
                   "unknown time zone (an IANA name such as \"America/Chicago\", or \"UTC\")");
            goto fail;
        }
    }
    config_setting_t *fallback = config_setting_get_member(group, "fallback");
    if (fallback && config_setting_type(fallback) != CONFIG_TYPE_GROUP) {
        s_fail(err, errlen, fallback, region, "fallback",
               "must be a group { assignee = ...; escalation = ...; }");
        goto fail;
    }
    if (fallback && s_check_keys(fallback, s_fallback_keys, region, "fallback.", err, errlen) < 0) {
        goto fail;
    }
    if (!fallback) {
        out->fallback_assignee = strdup("");
        out->fallback_escalation = strdup("");
        if (!out->fallback_assignee || !out->fallback_escalation) {
            s_fail(err, errlen, group, region, "fallback", "out of memory");
            goto fail;
        }
    } else if (s_get_string(fallback, "assignee", region, "fallback.assignee",
                            &out->fallback_assignee, err, errlen) < 0 ||
               s_get_string(fallback, "escalation", region, "fallback.escalation",
                            &out->fallback_escalation, err, errlen) < 0) {
        goto fail;
    }
    if ((out->fallback_assignee[0] && !s_valid_id(out->fallback_assignee)) ||
        (out->fallback_escalation[0] && !s_valid_id(out->fallback_escalation))) {
        s_fail(err, errlen, fallback, region, "fallback",
               "assignee and escalation must be roster or group ids (A-Z a-z 0-9 . _ : @ / -)");
        goto fail;
    }
    config_setting_t *roster = config_setting_get_member(group, "roster");
    if (roster) {
        if (config_setting_type(roster) != CONFIG_TYPE_LIST) {
            s_fail(err, errlen, roster, region, "roster", "must be a list ( { id = ...; }, ... )");
            goto fail;
        }
        int n = config_setting_length(roster);
        out->roster = calloc((size_t)n + 1, sizeof *out->roster);
        if (!out->roster) {
            s_fail(err, errlen, roster, region, "roster", "out of memory");
            goto fail;
        }
        for (int i = 0; i < n; i++) {
            if (s_parse_officer(config_setting_get_elem(roster, (unsigned)i), (size_t)i, region,
                                &out->roster[out->roster_count++], err, errlen) < 0) {
                goto fail;
            }
            for (size_t j = 0; j + 1 < out->roster_count; j++) {
                if (strcmp(out->roster[j].id, out->roster[out->roster_count - 1].id) == 0) {
                    s_fail(err, errlen, config_setting_get_elem(roster, (unsigned)i), region,
                           "roster", "duplicate roster id");
                    goto fail;
                }
            }
        }
    }
    char perr[512];
    if (policy_config_text(config_setting_get_member(group, "plugin_config"), &out->plugin_config,
                           perr, sizeof perr) < 0) {
        s_fail(err, errlen, config_setting_get_member(group, "plugin_config"), region,
               "plugin_config", perr);
        goto fail;
    }
    return 0;
fail:
    policy_region_clear(out);
    return -1;
}

int policy_regions_parse(const config_setting_t *setting, void *field, char *err, size_t errlen)
{
    policy_region_list_t *list = field;
    memset(list, 0, sizeof *list);
    if (!setting) {
        if (err && errlen) {
            snprintf(err, errlen, "<config>: regions: at least one region is required");
        }
        return -1;
    }
    if (config_setting_type(setting) != CONFIG_TYPE_LIST || config_setting_length(setting) == 0) {
        if (err && errlen) {
            snprintf(err, errlen, "%s:%d: regions: must be a non-empty list ( { name = ...; } )",
                     config_setting_file(setting), s_line(setting));
        }
        return -1;
    }
    int n = config_setting_length(setting);
    list->regions = calloc((size_t)n, sizeof *list->regions);
    if (!list->regions) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        config_setting_t *group = config_setting_get_elem(setting, (unsigned)i);
        if (policy_region_parse(group, &list->regions[list->count], err, errlen) < 0) {
            goto fail;
        }
        list->count++;
        const char *name = list->regions[list->count - 1].name;
        if (s_check_keys(group, s_region_keys, name, "", err, errlen) < 0) {
            goto fail;
        }
        for (size_t j = 0; j + 1 < list->count; j++) {
            if (strcmp(list->regions[j].name, name) == 0) {
                s_fail(err, errlen, group, name, "name", "duplicate region name");
                goto fail;
            }
        }
    }
    return 0;
fail:
    policy_regions_free(list);
    return -1;
}

void policy_regions_free(void *field)
{
    policy_region_list_t *list = field;
    if (!list) {
        return;
    }
    for (size_t i = 0; i < list->count; i++) {
        policy_region_clear(&list->regions[i]);
    }
    free(list->regions);
    list->regions = NULL;
    list->count = 0;
}

static char *s_dup(const char *text)
{
    return text ? strdup(text) : NULL;
}

static int s_region_copy(const policy_region_t *in, policy_region_t *out)
{
    memset(out, 0, sizeof *out);
    out->name = s_dup(in->name);
    out->plugin = s_dup(in->plugin);
    out->timezone = s_dup(in->timezone);
    out->fallback_assignee = s_dup(in->fallback_assignee ? in->fallback_assignee : "");
    out->fallback_escalation = s_dup(in->fallback_escalation ? in->fallback_escalation : "");
    out->plugin_config = s_dup(in->plugin_config ? in->plugin_config : "");
    if (!out->name || !out->plugin || (in->timezone && !out->timezone) || !out->fallback_assignee ||
        !out->fallback_escalation || !out->plugin_config) {
        goto fail;
    }
    out->roster = calloc(in->roster_count + 1, sizeof *out->roster);
    if (!out->roster) {
        goto fail;
    }
    for (size_t i = 0; i < in->roster_count; i++) {
        const policy_officer_t *src = &in->roster[i];
        policy_officer_t *dst = &out->roster[out->roster_count++];
        dst->id = s_dup(src->id);
        dst->role = src->role;
        dst->on_call = src->on_call;
        dst->languages = calloc(src->language_count + 1, sizeof(char *));
        if (!dst->id || !dst->languages) {
            goto fail;
        }
        for (size_t j = 0; j < src->language_count; j++) {
            dst->languages[j] = s_dup(src->languages[j]);
            if (!dst->languages[j]) {
                goto fail;
            }
            dst->language_count++;
        }
    }
    return 0;
fail:
    policy_region_clear(out);
    return -1;
}

int policy_region_list_copy(const policy_region_list_t *in, policy_region_list_t *out)
{
    memset(out, 0, sizeof *out);
    out->regions = calloc(in->count + 1, sizeof *out->regions);
    if (!out->regions) {
        return -1;
    }
    for (size_t i = 0; i < in->count; i++) {
        if (s_region_copy(&in->regions[i], &out->regions[i]) < 0) {
            policy_regions_free(out);
            return -1;
        }
        out->count++;
    }
    return 0;
}
