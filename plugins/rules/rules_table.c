/* rules_table.c: reads and checks the `rules` plugin's table
 * (rules_table.h). Runs once per init or reload; every error names the
 * config key and the value's problem, never guesses.
 */
#include "rules_table.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest config path built here. */
#define RULES_PATH_MAX 256
/* Hours in a day. */
#define RULES_HOURS 24

/* Value names: index = enum value (plugin.h); NULL = not nameable. */
static const char *const s_categories[] = {
    NULL,
    "domestic_violence",
    "sexual_assault",
    "assault",
    "stalking",
    "homicide",
    "robbery",
    "fraud",
    "trafficking",
    "child_abuse",
    "elder_abuse",
    "dui",
    "other",
    NULL,
};
static const char *const s_needs[] = {
    NULL,          "shelter",      "counseling",      "legal",
    "medical",     "compensation", "notification",    "court_accompaniment",
    "interpreter", "financial",    "safety_planning", NULL,
};
static const char *const s_cues[] = {
    NULL,
    "immediate_danger",
    "injury",
    "weapon",
    "children_present",
    "offender_release_soon",
    "court_date_soon",
    "suicidal",
    "info_only",
    NULL,
};
static const char *const s_channels[] = {NULL, "hotline", "web_form", "referral", "text", NULL};
static const char *const s_priorities[] = {NULL, "P1", "P2", "P3", "P4", NULL};
static const char *const s_days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};
static const struct {
    const char *name;
    int32_t role;
} s_roles[] = {
    {"contact_officer", VIGIL_ROLE_CONTACT_OFFICER},
    {"community_relations", VIGIL_ROLE_COMMUNITY_RELATIONS},
    {"supervisor", VIGIL_ROLE_SUPERVISOR},
    {"group", VIGIL_ROLE_GROUP},
    {"other", VIGIL_ROLE_OTHER},
    {"any", VIGIL_ROLE_UNSPECIFIED},
    {NULL, 0},
};

/* The keys each group may hold. */
static const char *const s_top_keys[] = {"office_hours", "taxonomy", "referrals_per_need",
                                         "after_hours",  "overflow", "default",
                                         "rules",        "timezone", NULL};
static const char *const s_rule_keys[] = {
    "name",   "match",    "assign",    "escalation", "refer", "adjust_priority",
    "review", "any_time", "rationale", NULL};
static const char *const s_match_keys[] = {"category", "needs", "cues",   "channel", "priority",
                                           "language", "state", "county", NULL};
static const char *const s_assign_keys[] = {"to",      "pick",       "role", "language",
                                            "on_call", "escalation", NULL};

const char *rules_need_name(int32_t need)
{
    if (need > 0 && need < (int32_t)(sizeof s_needs / sizeof s_needs[0]) && s_needs[need]) {
        return s_needs[need];
    }
    return "?";
}

static int s_fail(char *err, size_t err_len, const char *path, const char *why)
{
    snprintf(err, err_len, "plugin_config.%s: %s", path, why);
    return VIGIL_PLUGIN_ERR_INVALID;
}

static int s_index_of(const char *const *names, size_t count, const char *value)
{
    for (size_t i = 0; i < count; i++) {
        if (names[i] && strcasecmp(names[i], value) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Refuses members of the group at `path` not listed in `allowed`. */
static int s_check_keys(const vigil_host_api_t *host, const char *path, const char *const *allowed,
                        char *err, size_t err_len)
{
    int n = host->config_count(host, path);
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        if (host->config_member_name(host, path, (uint32_t)i, &name) != VIGIL_PLUGIN_OK) {
            continue;
        }
        bool known = false;
        for (size_t k = 0; allowed[k] && !known; k++) {
            known = strcmp(allowed[k], name) == 0;
        }
        if (!known) {
            char where[RULES_PATH_MAX];
            snprintf(where, sizeof where, "%s%s%s", path, path[0] ? "." : "", name);
            return s_fail(err, err_len, where, "unknown key");
        }
    }
    return VIGIL_PLUGIN_OK;
}

/* Copies a string setting into `out` (RULES_TEXT_MAX). Absent: leaves out
 * alone and returns ERR_NOT_FOUND. */
static int s_text(const vigil_host_api_t *host, const char *path, char *out, char *err,
                  size_t err_len)
{
    const char *value = NULL;
    int rc = host->config_string(host, path, &value);
    if (rc == VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    if (rc != VIGIL_PLUGIN_OK) {
        return s_fail(err, err_len, path, "must be a string");
    }
    if (strlen(value) >= RULES_TEXT_MAX) {
        return s_fail(err, err_len, path, "longer than 127 characters");
    }
    strcpy(out, value);
    return VIGIL_PLUGIN_OK;
}

/* Calls `fn` for each string of the setting at `path`, which may be one
 * string or a list/array of strings. Absent: nothing. */
typedef int (*s_each_fn)(void *ctx, const char *path, const char *value, char *err, size_t err_len);

static int s_each_string(const vigil_host_api_t *host, const char *path, s_each_fn fn, void *ctx,
                         char *err, size_t err_len)
{
    const char *value = NULL;
    int rc = host->config_string(host, path, &value);
    if (rc == VIGIL_PLUGIN_OK) {
        return fn(ctx, path, value, err, err_len);
    }
    if (rc == VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return VIGIL_PLUGIN_OK;
    }
    int n = host->config_count(host, path);
    if (n < 0) {
        return s_fail(err, err_len, path, "must be a string or a list of strings");
    }
    for (int i = 0; i < n; i++) {
        char item[RULES_PATH_MAX];
        int len = snprintf(item, sizeof item, "%s.[%d]", path, i);
        if (len < 0 || (size_t)len >= sizeof item) {
            return s_fail(err, err_len, path, "config path too long");
        }
        if (host->config_string(host, item, &value) != VIGIL_PLUGIN_OK) {
            return s_fail(err, err_len, item, "must be a string");
        }
        rc = fn(ctx, item, value, err, err_len);
        if (rc != VIGIL_PLUGIN_OK) {
            return rc;
        }
    }
    return VIGIL_PLUGIN_OK;
}

typedef struct {
    const char *const *names;
    size_t count;
    uint32_t *bits;
    const char *kind;
} s_bits_ctx_t;

static int s_add_bit(void *ctx, const char *path, const char *value, char *err, size_t err_len)
{
    s_bits_ctx_t *c = ctx;
    int i = s_index_of(c->names, c->count, value);
    if (i < 0) {
        char why[RULES_PATH_MAX * 2];
        int used = snprintf(why, sizeof why, "unknown %s '%.64s' (one of", c->kind, value);
        for (size_t k = 0; k < c->count && used > 0 && (size_t)used < sizeof why; k++) {
            if (c->names[k]) {
                used += snprintf(why + used, sizeof why - (size_t)used, " %s", c->names[k]);
            }
        }
        if (used > 0 && (size_t)used < sizeof why - 1) {
            strcat(why, ")");
        }
        return s_fail(err, err_len, path, why);
    }
    *c->bits |= 1u << i;
    return VIGIL_PLUGIN_OK;
}

static int s_bits(const vigil_host_api_t *host, const char *path, const char *const *names,
                  size_t count, const char *kind, uint32_t *bits, char *err, size_t err_len)
{
    s_bits_ctx_t ctx = {.names = names, .count = count, .bits = bits, .kind = kind};
    return s_each_string(host, path, s_add_bit, &ctx, err, err_len);
}

static int s_add_string(void *ctx, const char *path, const char *value, char *err, size_t err_len)
{
    rules_strings_t *list = ctx;
    if (list->count >= RULES_VALUES_MAX) {
        return s_fail(err, err_len, path, "too many values (at most 32)");
    }
    if (!value[0] || strlen(value) >= RULES_TEXT_MAX) {
        return s_fail(err, err_len, path, "must be 1..127 characters");
    }
    char *out = list->values[list->count++];
    strcpy(out, value);
    return VIGIL_PLUGIN_OK;
}

/* Language values are kept as lower-case primary subtags ("es-MX" -> "es"). */
static void s_primary_subtags(rules_strings_t *list)
{
    for (uint32_t i = 0; i < list->count; i++) {
        char *v = list->values[i];
        for (size_t k = 0; v[k]; k++) {
            if (v[k] == '-' || v[k] == '_') {
                v[k] = '\0';
                break;
            }
            v[k] = (char)tolower((unsigned char)v[k]);
        }
    }
}

#define S_COUNT(array) (sizeof(array) / sizeof((array)[0]))

static int s_assign(const vigil_host_api_t *host, const char *path, rules_assign_t *out, char *err,
                    size_t err_len)
{
    char p[RULES_PATH_MAX];
    if (host->config_count(host, path) == VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return VIGIL_PLUGIN_OK;
    }
    if (host->config_count(host, path) < 0) {
        return s_fail(err, err_len, path, "must be a group { to = \"id\"; } or { pick = ...; }");
    }
    int rc = s_check_keys(host, path, s_assign_keys, err, err_len);
    if (rc != VIGIL_PLUGIN_OK) {
        return rc;
    }
    snprintf(p, sizeof p, "%s.to", path);
    rc = s_text(host, p, out->to, err, err_len);
    if (rc == VIGIL_PLUGIN_OK) {
        out->kind = RULES_ASSIGN_FIXED;
        return VIGIL_PLUGIN_OK;
    }
    if (rc != VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    char pick[RULES_TEXT_MAX] = "least_loaded";
    snprintf(p, sizeof p, "%s.pick", path);
    rc = s_text(host, p, pick, err, err_len);
    if (rc != VIGIL_PLUGIN_OK && rc != VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    if (strcmp(pick, "least_loaded") != 0) {
        return s_fail(err, err_len, p, "must be \"least_loaded\" (or use `to` for a fixed id)");
    }
    out->kind = RULES_ASSIGN_LEAST_LOADED;
    out->role = VIGIL_ROLE_CONTACT_OFFICER;
    char role[RULES_TEXT_MAX] = "";
    snprintf(p, sizeof p, "%s.role", path);
    rc = s_text(host, p, role, err, err_len);
    if (rc == VIGIL_PLUGIN_OK) {
        size_t i = 0;
        while (s_roles[i].name && strcmp(s_roles[i].name, role) != 0) {
            i++;
        }
        if (!s_roles[i].name) {
            return s_fail(err, err_len, p,
                          "must be contact_officer, community_relations, supervisor, group, "
                          "other or any");
        }
        out->role = s_roles[i].role;
    } else if (rc != VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    char language[RULES_TEXT_MAX] = "any";
    snprintf(p, sizeof p, "%s.language", path);
    rc = s_text(host, p, language, err, err_len);
    if (rc != VIGIL_PLUGIN_OK && rc != VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    if (strcmp(language, "any") == 0) {
        out->language = RULES_LANGUAGE_ANY;
    } else if (strcmp(language, "case") == 0) {
        out->language = RULES_LANGUAGE_CASE;
    } else if (strcmp(language, "prefer") == 0) {
        out->language = RULES_LANGUAGE_PREFER;
    } else {
        return s_fail(err, err_len, p, "must be \"any\", \"case\" or \"prefer\"");
    }
    snprintf(p, sizeof p, "%s.on_call", path);
    rc = host->config_bool(host, p, &out->on_call_only);
    if (rc == VIGIL_PLUGIN_ERR_TYPE) {
        return s_fail(err, err_len, p, "must be true or false");
    }
    return VIGIL_PLUGIN_OK;
}

static int s_int(const vigil_host_api_t *host, const char *path, int64_t min, int64_t max,
                 int64_t *out, char *err, size_t err_len)
{
    int rc = host->config_int(host, path, out);
    if (rc == VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    if (rc != VIGIL_PLUGIN_OK || *out < min || *out > max) {
        char why[96];
        snprintf(why, sizeof why, "must be an integer from %lld to %lld", (long long)min,
                 (long long)max);
        return s_fail(err, err_len, path, why);
    }
    return VIGIL_PLUGIN_OK;
}

static int s_bool(const vigil_host_api_t *host, const char *path, bool *out, char *err,
                  size_t err_len)
{
    int rc = host->config_bool(host, path, out);
    if (rc == VIGIL_PLUGIN_ERR_TYPE) {
        return s_fail(err, err_len, path, "must be true or false");
    }
    return VIGIL_PLUGIN_OK;
}

/* The office_hours group: open, close (hours) and days. */
static int s_office_hours(const vigil_host_api_t *host, rules_table_t *t, char *err, size_t err_len)
{
    if (host->config_count(host, "office_hours") == VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return VIGIL_PLUGIN_OK;
    }
    static const char *const keys[] = {"open", "close", "days", NULL};
    int rc = s_check_keys(host, "office_hours", keys, err, err_len);
    int64_t open = 0, close = 0;
    if (rc == VIGIL_PLUGIN_OK) {
        rc = s_int(host, "office_hours.open", 0, RULES_HOURS - 1, &open, err, err_len);
    }
    if (rc == VIGIL_PLUGIN_OK) {
        rc = s_int(host, "office_hours.close", 1, RULES_HOURS, &close, err, err_len);
    }
    if (rc == VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return s_fail(err, err_len, "office_hours", "needs open and close (hours, 0..24)");
    }
    if (rc != VIGIL_PLUGIN_OK) {
        return rc;
    }
    if (close <= open) {
        return s_fail(err, err_len, "office_hours.close", "must be later than open");
    }
    t->has_hours = true;
    t->open_hour = (int32_t)open;
    t->close_hour = (int32_t)close;
    uint32_t days = 0;
    rc = s_bits(host, "office_hours.days", s_days, S_COUNT(s_days) - 1, "day", &days, err, err_len);
    if (rc != VIGIL_PLUGIN_OK) {
        return rc;
    }
    if (days == 0) {
        days = 0x3e; /* Monday to Friday */
    }
    for (int d = 0; d < RULES_DAYS_IN_WEEK; d++) {
        t->days[d] = (days >> d) & 1u;
    }
    return VIGIL_PLUGIN_OK;
}

static int s_taxonomy(const vigil_host_api_t *host, rules_table_t *t, char *err, size_t err_len)
{
    int n = host->config_count(host, "taxonomy");
    if (n == VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return VIGIL_PLUGIN_OK;
    }
    for (int i = 0; i < n; i++) {
        const char *need = NULL;
        if (host->config_member_name(host, "taxonomy", (uint32_t)i, &need) != VIGIL_PLUGIN_OK) {
            return s_fail(err, err_len, "taxonomy", "must be a group { shelter = \"term\"; }");
        }
        char path[RULES_PATH_MAX];
        snprintf(path, sizeof path, "taxonomy.%s", need);
        int index = s_index_of(s_needs, S_COUNT(s_needs) - 1, need);
        if (index < 0) {
            return s_fail(err, err_len, path, "unknown need (shelter, counseling, legal, ...)");
        }
        int rc = s_text(host, path, t->taxonomy[index], err, err_len);
        if (rc != VIGIL_PLUGIN_OK) {
            return rc;
        }
    }
    return VIGIL_PLUGIN_OK;
}

static int s_refer(const vigil_host_api_t *host, const char *path, rules_rule_t *r, char *err,
                   size_t err_len)
{
    const char *value = NULL;
    r->refer_needs = true;
    if (host->config_string(host, path, &value) == VIGIL_PLUGIN_OK) {
        if (strcmp(value, "needs") == 0) {
            return VIGIL_PLUGIN_OK;
        }
        if (strcmp(value, "none") == 0) {
            r->refer_needs = false;
            return VIGIL_PLUGIN_OK;
        }
    }
    if (host->config_count(host, path) == VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return VIGIL_PLUGIN_OK;
    }
    r->refer_needs = false;
    return s_bits(host, path, s_needs, S_COUNT(s_needs) - 1, "need (or \"needs\" / \"none\")",
                  &r->refer, err, err_len);
}

static int s_rule(const vigil_host_api_t *host, uint32_t index, rules_rule_t *r, char *err,
                  size_t err_len)
{
    char base[32], p[RULES_PATH_MAX]; /* "rules.[255]" fits base */
    snprintf(base, sizeof base, "rules.[%u]", index);
    int rc = s_check_keys(host, base, s_rule_keys, err, err_len);
    if (rc != VIGIL_PLUGIN_OK) {
        return rc;
    }
    snprintf(r->name, sizeof r->name, "rule %u", index + 1);
    snprintf(p, sizeof p, "%s.name", base);
    if ((rc = s_text(host, p, r->name, err, err_len)) < 0 && rc != VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    snprintf(p, sizeof p, "%s.match", base);
    if (host->config_count(host, p) >= 0) {
        rc = s_check_keys(host, p, s_match_keys, err, err_len);
        if (rc != VIGIL_PLUGIN_OK) {
            return rc;
        }
    }
    struct {
        const char *key;
        const char *const *names;
        size_t count;
        const char *kind;
        uint32_t *bits;
    } clauses[] = {
        {"category", s_categories, S_COUNT(s_categories) - 1, "category", &r->categories},
        {"needs", s_needs, S_COUNT(s_needs) - 1, "need", &r->needs},
        {"cues", s_cues, S_COUNT(s_cues) - 1, "cue", &r->cues},
        {"channel", s_channels, S_COUNT(s_channels) - 1, "channel", &r->channels},
        {"priority", s_priorities, S_COUNT(s_priorities) - 1, "priority", &r->priorities},
    };
    for (size_t i = 0; i < S_COUNT(clauses); i++) {
        snprintf(p, sizeof p, "%s.match.%s", base, clauses[i].key);
        rc = s_bits(host, p, clauses[i].names, clauses[i].count, clauses[i].kind, clauses[i].bits,
                    err, err_len);
        if (rc != VIGIL_PLUGIN_OK) {
            return rc;
        }
    }
    struct {
        const char *key;
        rules_strings_t *list;
    } lists[] = {
        {"language", &r->languages},
        {"state", &r->states},
        {"county", &r->counties},
    };
    for (size_t i = 0; i < S_COUNT(lists); i++) {
        snprintf(p, sizeof p, "%s.match.%s", base, lists[i].key);
        rc = s_each_string(host, p, s_add_string, lists[i].list, err, err_len);
        if (rc != VIGIL_PLUGIN_OK) {
            return rc;
        }
    }
    s_primary_subtags(&r->languages);
    snprintf(p, sizeof p, "%s.assign", base);
    if ((rc = s_assign(host, p, &r->assign, err, err_len)) != VIGIL_PLUGIN_OK) {
        return rc;
    }
    snprintf(p, sizeof p, "%s.escalation", base);
    if ((rc = s_text(host, p, r->escalation, err, err_len)) < 0 &&
        rc != VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    snprintf(p, sizeof p, "%s.refer", base);
    if ((rc = s_refer(host, p, r, err, err_len)) != VIGIL_PLUGIN_OK) {
        return rc;
    }
    int64_t adjust = 0;
    snprintf(p, sizeof p, "%s.adjust_priority", base);
    rc = s_int(host, p, -1, 1, &adjust, err, err_len);
    if (rc < 0 && rc != VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    r->adjust_priority = (int32_t)adjust;
    snprintf(p, sizeof p, "%s.review", base);
    if ((rc = s_bool(host, p, &r->review, err, err_len)) != VIGIL_PLUGIN_OK) {
        return rc;
    }
    snprintf(p, sizeof p, "%s.any_time", base);
    if ((rc = s_bool(host, p, &r->any_time, err, err_len)) != VIGIL_PLUGIN_OK) {
        return rc;
    }
    snprintf(p, sizeof p, "%s.rationale", base);
    if ((rc = s_text(host, p, r->rationale, err, err_len)) < 0 &&
        rc != VIGIL_PLUGIN_ERR_NOT_FOUND) {
        return rc;
    }
    return VIGIL_PLUGIN_OK;
}

int rules_table_load(const vigil_host_api_t *host, rules_table_t *t, char *err, size_t err_len)
{
    memset(t, 0, sizeof *t);
    t->referrals_per_need = 1;
    int rc = s_check_keys(host, "", s_top_keys, err, err_len);
    if (rc == VIGIL_PLUGIN_OK) {
        rc = s_office_hours(host, t, err, err_len);
    }
    if (rc == VIGIL_PLUGIN_OK) {
        rc = s_taxonomy(host, t, err, err_len);
    }
    int64_t per_need = 1;
    if (rc == VIGIL_PLUGIN_OK) {
        rc = s_int(host, "referrals_per_need", 0, VIGIL_PLUGIN_REFERRALS_MAX, &per_need, err,
                   err_len);
        rc = rc == VIGIL_PLUGIN_ERR_NOT_FOUND ? VIGIL_PLUGIN_OK : rc;
        t->referrals_per_need = (uint32_t)per_need;
    }
    /* after hours: by default the least-loaded on-call officer, preferring
     * the case's language. */
    t->after_hours = (rules_assign_t){.kind = RULES_ASSIGN_LEAST_LOADED,
                                      .role = VIGIL_ROLE_UNSPECIFIED,
                                      .language = RULES_LANGUAGE_PREFER,
                                      .on_call_only = true};
    if (rc == VIGIL_PLUGIN_OK) {
        rc = s_assign(host, "after_hours", &t->after_hours, err, err_len);
    }
    if (rc == VIGIL_PLUGIN_OK && host->config_count(host, "overflow") >= 0) {
        static const char *const keys[] = {"max_open_cases", "to", NULL};
        int64_t max_open = 0;
        rc = s_check_keys(host, "overflow", keys, err, err_len);
        if (rc == VIGIL_PLUGIN_OK) {
            rc = s_int(host, "overflow.max_open_cases", 1, INT32_MAX, &max_open, err, err_len);
        }
        if (rc == VIGIL_PLUGIN_OK) {
            rc = s_text(host, "overflow.to", t->overflow_to, err, err_len);
        }
        if (rc == VIGIL_PLUGIN_ERR_NOT_FOUND) {
            rc = s_fail(err, err_len, "overflow", "needs max_open_cases and to");
        }
        t->overflow_max_open = (uint32_t)max_open;
    }
    /* default: the least-loaded contact officer, preferring the language */
    t->fallback = (rules_assign_t){.kind = RULES_ASSIGN_LEAST_LOADED,
                                   .role = VIGIL_ROLE_CONTACT_OFFICER,
                                   .language = RULES_LANGUAGE_PREFER};
    if (rc == VIGIL_PLUGIN_OK) {
        rc = s_assign(host, "default", &t->fallback, err, err_len);
    }
    if (rc == VIGIL_PLUGIN_OK) {
        rc = s_text(host, "default.escalation", t->default_escalation, err, err_len);
        rc = rc == VIGIL_PLUGIN_ERR_NOT_FOUND ? VIGIL_PLUGIN_OK : rc;
    }
    int n = rc == VIGIL_PLUGIN_OK ? host->config_count(host, "rules") : 0;
    if (rc == VIGIL_PLUGIN_OK && n == VIGIL_PLUGIN_ERR_TYPE) {
        rc = s_fail(err, err_len, "rules", "must be a list ( { ... }, ... )");
    }
    if (rc == VIGIL_PLUGIN_OK && n > RULES_MAX) {
        rc = s_fail(err, err_len, "rules", "more than 256 rules");
    }
    if (rc == VIGIL_PLUGIN_OK && n > 0) {
        t->rules = calloc((size_t)n, sizeof *t->rules);
        if (!t->rules) {
            snprintf(err, err_len, "out of memory");
            return VIGIL_PLUGIN_ERR_FAILED;
        }
        for (int i = 0; i < n && rc == VIGIL_PLUGIN_OK; i++) {
            rc = s_rule(host, (uint32_t)i, &t->rules[i], err, err_len);
            t->rule_count++;
        }
    }
    if (rc != VIGIL_PLUGIN_OK) {
        rules_table_free(t);
    }
    return rc;
}

void rules_table_free(rules_table_t *table)
{
    free(table->rules);
    table->rules = NULL;
    table->rule_count = 0;
}
