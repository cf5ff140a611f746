/* policy_instance.c: the host API a plugin sees, and the calls into it
 * (policy_instance.h).
 */
#include "policy_instance.h"

#include <libconfig.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vigil/log.h"

/* Bytes of a plugin log message kept. */
#define POLICY_LOG_MESSAGE_MAX 200
/* Milliseconds per second, nanoseconds per millisecond. */
#define POLICY_MS_PER_S  1000
#define POLICY_NS_PER_MS 1000000
/* The time zone used when none is configured. */
#define POLICY_DEFAULT_TZ "UTC"
/* Bytes of a time zone name. */
#define POLICY_TZ_MAX 64
/* Offsets of struct tm's year and month. */
#define POLICY_TM_YEAR_BASE 1900

/* The region context the host API serves from. */
typedef struct {
    config_t config;
    char *region;
    char *file;
    char *timezone;
    char *host_version;
    vigil_officer_t *officers;
    uint32_t officer_count;
} context_t;

struct policy_instance_t {
    vigil_host_api_t api; /* first: plugins get &instance->api */
    context_t *context;
    policy_dircache_t *directory;
    policy_plugin_t plugin;
    void *state;
    bool live;
    const char *case_id; /* the case in route, for log lines */
    int64_t now_ms;      /* the decision clock; 0 = wall clock */
};

static policy_instance_t *s_self(const vigil_host_api_t *api)
{
    return (policy_instance_t *)(void *)((char *)api - offsetof(policy_instance_t, api));
}

/* --- context -------------------------------------------------------------- */

static void s_context_free(context_t **context_p)
{
    context_t *c = *context_p;
    if (!c) {
        return;
    }
    config_destroy(&c->config);
    for (uint32_t i = 0; i < c->officer_count; i++) {
        free((char *)c->officers[i].id);
        for (uint32_t j = 0; j < c->officers[i].language_count; j++) {
            free((char *)c->officers[i].languages[j]);
        }
        free((void *)c->officers[i].languages);
    }
    free(c->officers);
    free(c->region);
    free(c->file);
    free(c->timezone);
    free(c->host_version);
    free(c);
    *context_p = NULL;
}

static char *s_dup(const char *text)
{
    return strdup(text ? text : "");
}

static context_t *s_context_new(const policy_instance_spec_t *spec, char *err, size_t errlen)
{
    context_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", spec->file);
        return NULL;
    }
    config_init(&c->config);
    c->region = s_dup(spec->region);
    c->file = s_dup(spec->file);
    c->host_version = s_dup(spec->host_version);
    c->officers = calloc(spec->roster_count + 1, sizeof *c->officers);
    if (!c->region || !c->file || !c->host_version || !c->officers) {
        snprintf(err, errlen, "%s: out of memory", spec->file);
        goto fail;
    }
    if (config_read_string(&c->config, spec->plugin_config ? spec->plugin_config : "") !=
        CONFIG_TRUE) {
        snprintf(err, errlen, "%s: region '%s': plugin_config line %d: %s", spec->file,
                 spec->region, config_error_line(&c->config), config_error_text(&c->config));
        goto fail;
    }
    const char *tz = spec->timezone;
    if (!tz || !tz[0]) {
        if (config_lookup_string(&c->config, "timezone", &tz) != CONFIG_TRUE) {
            tz = POLICY_DEFAULT_TZ;
        }
    }
    c->timezone = strndup(tz, POLICY_TZ_MAX);
    if (!c->timezone) {
        snprintf(err, errlen, "%s: out of memory", spec->file);
        goto fail;
    }
    for (uint32_t i = 0; i < spec->roster_count; i++) {
        const vigil_officer_t *src = &spec->roster[i];
        vigil_officer_t *dst = &c->officers[c->officer_count++];
        dst->struct_size = (uint32_t)sizeof *dst;
        dst->id = s_dup(src->id);
        dst->role = src->role;
        dst->on_call = src->on_call;
        dst->open_cases = src->open_cases;
        const char **langs = calloc(src->language_count + 1, sizeof(char *));
        dst->languages = langs;
        if (!dst->id || !langs) {
            snprintf(err, errlen, "%s: out of memory", spec->file);
            goto fail;
        }
        for (uint32_t j = 0; j < src->language_count; j++) {
            langs[j] = s_dup(src->languages[j]);
            if (!langs[j]) {
                snprintf(err, errlen, "%s: out of memory", spec->file);
                goto fail;
            }
            dst->language_count++;
        }
    }
    return c;
fail:
    s_context_free(&c);
    return NULL;
}

/* --- the host API ----------------------------------------------------------- */

static void s_log(const vigil_host_api_t *api, int32_t level, const char *message)
{
    policy_instance_t *self = s_self(api);
    char clean[POLICY_LOG_MESSAGE_MAX + 1];
    size_t n = 0;
    for (const char *p = message ? message : ""; *p && n < POLICY_LOG_MESSAGE_MAX; p++) {
        unsigned char c = (unsigned char)*p;
        clean[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    clean[n] = '\0';
    log_level_t lvl = level <= VIGIL_LOG_DEBUG  ? LOG_LEVEL_DEBUG
                      : level == VIGIL_LOG_INFO ? LOG_LEVEL_INFO
                      : level == VIGIL_LOG_WARN ? LOG_LEVEL_WARN
                                                : LOG_LEVEL_ERROR;
    const char *plugin = self->plugin.desc.name ? self->plugin.desc.name : "?";
    log_emit(lvl, __FILE__, __LINE__, "plugin says", "plugin=%s region=%s case=%s note=%s", plugin,
             self->context->region, self->case_id ? self->case_id : "-", clean);
}

static config_setting_t *s_lookup(const vigil_host_api_t *api, const char *path)
{
    config_t *config = &s_self(api)->context->config;
    config_setting_t *root = config_root_setting(config);
    if (!path || !path[0]) {
        return root;
    }
    return config_setting_lookup(root, path);
}

static int s_config_int(const vigil_host_api_t *api, const char *path, int64_t *out)
{
    config_setting_t *s = s_lookup(api, path);
    if (!s || !out) {
        return VIGIL_PLUGIN_ERR_NOT_FOUND;
    }
    int type = config_setting_type(s);
    if (type == CONFIG_TYPE_INT) {
        *out = config_setting_get_int(s);
    } else if (type == CONFIG_TYPE_INT64) {
        *out = config_setting_get_int64(s);
    } else {
        return VIGIL_PLUGIN_ERR_TYPE;
    }
    return VIGIL_PLUGIN_OK;
}

static int s_config_double(const vigil_host_api_t *api, const char *path, double *out)
{
    config_setting_t *s = s_lookup(api, path);
    if (!s || !out) {
        return VIGIL_PLUGIN_ERR_NOT_FOUND;
    }
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_FLOAT:
        *out = config_setting_get_float(s);
        return VIGIL_PLUGIN_OK;
    case CONFIG_TYPE_INT:
        *out = config_setting_get_int(s);
        return VIGIL_PLUGIN_OK;
    case CONFIG_TYPE_INT64:
        *out = (double)config_setting_get_int64(s);
        return VIGIL_PLUGIN_OK;
    default:
        return VIGIL_PLUGIN_ERR_TYPE;
    }
}

static int s_config_bool(const vigil_host_api_t *api, const char *path, bool *out)
{
    config_setting_t *s = s_lookup(api, path);
    if (!s || !out) {
        return VIGIL_PLUGIN_ERR_NOT_FOUND;
    }
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        return VIGIL_PLUGIN_ERR_TYPE;
    }
    *out = config_setting_get_bool(s);
    return VIGIL_PLUGIN_OK;
}

static int s_config_string(const vigil_host_api_t *api, const char *path, const char **out)
{
    config_setting_t *s = s_lookup(api, path);
    if (!s || !out) {
        return VIGIL_PLUGIN_ERR_NOT_FOUND;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        return VIGIL_PLUGIN_ERR_TYPE;
    }
    *out = config_setting_get_string(s);
    return VIGIL_PLUGIN_OK;
}

static int s_config_count(const vigil_host_api_t *api, const char *path)
{
    config_setting_t *s = s_lookup(api, path);
    if (!s) {
        return VIGIL_PLUGIN_ERR_NOT_FOUND;
    }
    if (!config_setting_is_aggregate(s)) {
        return VIGIL_PLUGIN_ERR_TYPE;
    }
    return config_setting_length(s);
}

static int s_config_member_name(const vigil_host_api_t *api, const char *path, uint32_t index,
                                const char **out)
{
    config_setting_t *s = s_lookup(api, path);
    if (!s || !out) {
        return VIGIL_PLUGIN_ERR_NOT_FOUND;
    }
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        return VIGIL_PLUGIN_ERR_TYPE;
    }
    config_setting_t *member = config_setting_get_elem(s, index);
    if (!member) {
        return VIGIL_PLUGIN_ERR_NOT_FOUND;
    }
    *out = config_setting_name(member);
    return VIGIL_PLUGIN_OK;
}

static uint32_t s_roster_count(const vigil_host_api_t *api)
{
    return s_self(api)->context->officer_count;
}

static const vigil_officer_t *s_roster_get(const vigil_host_api_t *api, uint32_t index)
{
    context_t *c = s_self(api)->context;
    return index < c->officer_count ? &c->officers[index] : NULL;
}

static int s_directory_find(const vigil_host_api_t *api, const vigil_directory_query_t *query,
                            const vigil_directory_entry_t **out, uint32_t max)
{
    return policy_dircache_find(s_self(api)->directory, query, out, max);
}

static int64_t s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * POLICY_MS_PER_S + ts.tv_nsec / POLICY_NS_PER_MS;
}

static int64_t s_now_ms(const vigil_host_api_t *api)
{
    policy_instance_t *self = s_self(api);
    return self->now_ms ? self->now_ms : s_wall_ms();
}

static int s_local_time(const vigil_host_api_t *api, int64_t unix_ms, vigil_local_time_t *out)
{
    if (!out || out->struct_size < offsetof(vigil_local_time_t, utc_offset_s) + sizeof(int32_t)) {
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    /* The worker is single-threaded: switching TZ is safe. Remember the
     * last zone so the common case does not re-read tzdata. */
    static char current[POLICY_TZ_MAX + 1];
    const char *tz = s_self(api)->context->timezone;
    if (strcmp(current, tz) != 0) {
        setenv("TZ", tz, 1);
        tzset();
        snprintf(current, sizeof current, "%s", tz);
    }
    time_t seconds = (time_t)(unix_ms / POLICY_MS_PER_S);
    struct tm tm;
    if (!localtime_r(&seconds, &tm)) {
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    out->year = tm.tm_year + POLICY_TM_YEAR_BASE;
    out->month = tm.tm_mon + 1;
    out->day = tm.tm_mday;
    out->hour = tm.tm_hour;
    out->minute = tm.tm_min;
    out->weekday = tm.tm_wday;
    out->utc_offset_s = (int32_t)tm.tm_gmtoff;
    return VIGIL_PLUGIN_OK;
}

static void s_fill_api(policy_instance_t *self)
{
    vigil_host_api_t *api = &self->api;
    memset(api, 0, sizeof *api);
    api->struct_size = (uint32_t)sizeof *api;
    api->abi_major = VIGIL_PLUGIN_ABI_MAJOR;
    api->abi_minor = VIGIL_PLUGIN_ABI_MINOR;
    api->host_version = self->context->host_version;
    api->region = self->context->region;
    api->log = s_log;
    api->config_int = s_config_int;
    api->config_double = s_config_double;
    api->config_bool = s_config_bool;
    api->config_string = s_config_string;
    api->config_count = s_config_count;
    api->config_member_name = s_config_member_name;
    api->roster_count = s_roster_count;
    api->roster_get = s_roster_get;
    api->directory_find = s_directory_find;
    api->now_ms = s_now_ms;
    api->local_time = s_local_time;
}

/* --- lifecycle -------------------------------------------------------------- */

policy_instance_t *policy_instance_new(const policy_instance_spec_t *spec,
                                       policy_dircache_t *directory, char *err, size_t errlen)
{
    policy_instance_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "%s: out of memory", spec->file);
        return NULL;
    }
    self->context = s_context_new(spec, err, errlen);
    if (!self->context) {
        free(self);
        return NULL;
    }
    self->directory = directory;
    s_fill_api(self);
    return self;
}

int policy_instance_start(policy_instance_t *self, const policy_plugin_t *plugin, char *err,
                          size_t errlen)
{
    self->plugin = *plugin;
    char why[VIGIL_PLUGIN_ERROR_MAX] = "";
    void *state = NULL;
    int rc = self->plugin.desc.init(&self->api, &state, why, sizeof why);
    why[sizeof why - 1] = '\0';
    if (rc != VIGIL_PLUGIN_OK) {
        snprintf(err, errlen, "%s: init failed for region '%s' (code %d): %s", self->context->file,
                 self->context->region, rc, why[0] ? why : "no reason given");
        return -1;
    }
    self->state = state;
    self->live = true;
    if (self->plugin.desc.self_test) {
        why[0] = '\0';
        rc = self->plugin.desc.self_test(self->state, &self->api, why, sizeof why);
        why[sizeof why - 1] = '\0';
        if (rc != VIGIL_PLUGIN_OK) {
            snprintf(err, errlen, "%s: self_test failed for region '%s' (code %d): %s",
                     self->context->file, self->context->region, rc,
                     why[0] ? why : "no reason given");
            self->plugin.desc.fini(self->state);
            self->live = false;
            self->state = NULL;
            return -1;
        }
    }
    return 0;
}

int policy_instance_reconfigure(policy_instance_t *self, const policy_instance_spec_t *spec,
                                char *err, size_t errlen)
{
    if (!self->live || !self->plugin.desc.reload) {
        return 1;
    }
    context_t *fresh = s_context_new(spec, err, errlen);
    if (!fresh) {
        return -1;
    }
    context_t *old = self->context;
    self->context = fresh;
    s_fill_api(self);
    char why[VIGIL_PLUGIN_ERROR_MAX] = "";
    int rc = self->plugin.desc.reload(self->state, &self->api, why, sizeof why);
    why[sizeof why - 1] = '\0';
    if (rc != VIGIL_PLUGIN_OK) {
        snprintf(err, errlen, "%s: reload failed for region '%s' (code %d): %s", spec->file,
                 spec->region, rc, why[0] ? why : "no reason given");
        self->context = old;
        s_fill_api(self);
        s_context_free(&fresh);
        return -1;
    }
    s_context_free(&old);
    return 0;
}

int policy_instance_route(policy_instance_t *self, const vigil_case_view_t *view, int64_t now_ms,
                          policy_builder_t *builder)
{
    self->case_id = view->case_id;
    self->now_ms = now_ms;
    int rc = self->plugin.desc.route(self->state, &self->api, view, &builder->api);
    self->case_id = NULL;
    self->now_ms = 0;
    return rc;
}

void policy_instance_add_load(policy_instance_t *self, const char *officer_id)
{
    context_t *c = self->context;
    for (uint32_t i = 0; i < c->officer_count; i++) {
        if (strcmp(c->officers[i].id, officer_id) == 0) {
            c->officers[i].open_cases++;
            return;
        }
    }
}

void policy_instance_set_loads(policy_instance_t *self, const uint32_t *loads, uint32_t count)
{
    context_t *c = self->context;
    for (uint32_t i = 0; i < count && i < c->officer_count; i++) {
        c->officers[i].open_cases = loads[i];
    }
}

const vigil_plugin_t *policy_instance_plugin(const policy_instance_t *self)
{
    return self->live ? &self->plugin.desc : NULL;
}

const char *policy_instance_region(const policy_instance_t *self)
{
    return self->context->region;
}

void *policy_instance_handle(const policy_instance_t *self)
{
    return self->live ? self->plugin.handle : NULL;
}

void policy_instance_destroy(policy_instance_t **instance_p)
{
    policy_instance_t *self = *instance_p;
    if (!self) {
        return;
    }
    if (self->live) {
        self->plugin.desc.fini(self->state);
    }
    s_context_free(&self->context);
    free(self);
    *instance_p = NULL;
}
