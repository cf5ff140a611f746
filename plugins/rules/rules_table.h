/* rules_table.h: the `rules` plugin's declarative table, compiled.
 *
 * A region that has no C developer describes its routing in its
 * plugin_config group (docs/plugins.md, "The rules plugin"): office hours,
 * the taxonomy term for each need, an ordered list of rules (match on
 * category, needs, cues, language, state, county, channel or priority;
 * assign, escalate, refer, adjust priority), after-hours and overflow
 * fallbacks and a default. rules_table_load() reads that group through the
 * host API's typed getters and checks it, naming the offending key; the
 * decision code (rules.c) then only walks arrays and bitmasks. Nothing
 * here allocates during route, logs, or sees personal data.
 */
#ifndef VIGIL_RULES_TABLE_H
#define VIGIL_RULES_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vigil/plugin.h>

/* Bounds of the table. */
#define RULES_MAX          256 /* rules per region */
#define RULES_VALUES_MAX   32  /* values in one match list */
#define RULES_TEXT_MAX     128 /* ids, names, terms, tags */
#define RULES_NEEDS_MAX    16  /* need values (vigil_service_need_t range) */
#define RULES_DAYS_IN_WEEK 7

/* How an assignee is chosen. */
typedef enum {
    RULES_ASSIGN_NONE = 0,     /* not set: use the default */
    RULES_ASSIGN_FIXED,        /* `to`: a fixed roster or group id */
    RULES_ASSIGN_LEAST_LOADED, /* the least-loaded roster entry passing the filters */
} rules_assign_kind_t;

/* Which language an officer must speak. */
typedef enum {
    RULES_LANGUAGE_ANY = 0, /* no constraint */
    RULES_LANGUAGE_CASE,    /* the case's language (primary subtag) */
    RULES_LANGUAGE_PREFER,  /* the case's language if anyone speaks it, else anyone */
} rules_language_t;

typedef struct {
    rules_assign_kind_t kind;
    char to[RULES_TEXT_MAX];   /* FIXED */
    int32_t role;              /* LEAST_LOADED: vigil_role_t, 0 = contact officer */
    rules_language_t language; /* LEAST_LOADED */
    bool on_call_only;         /* LEAST_LOADED: only on-call entries */
} rules_assign_t;

/* A list of strings to match against. count 0 = match anything. */
typedef struct {
    uint32_t count;
    char values[RULES_VALUES_MAX][RULES_TEXT_MAX];
} rules_strings_t;

typedef struct {
    char name[RULES_TEXT_MAX];
    /* match: every present clause must hold */
    uint32_t categories;       /* bit per vigil_crime_category_t; 0 = any */
    uint32_t needs;            /* bit per vigil_service_need_t; the case has one of them */
    uint32_t cues;             /* bit per vigil_urgency_cue_t; the case has one of them */
    uint32_t channels;         /* bit per vigil_channel_t */
    uint32_t priorities;       /* bit per vigil_priority_t (1..4) */
    rules_strings_t languages; /* primary subtags */
    rules_strings_t states;
    rules_strings_t counties;
    /* decision */
    rules_assign_t assign;
    char escalation[RULES_TEXT_MAX]; /* "" = the default's */
    bool refer_needs;                /* refer for every requested need (default true) */
    uint32_t refer;                  /* extra needs to refer for, bit per need */
    int32_t adjust_priority;         /* -1, 0, +1 */
    bool review;                     /* flag for a person */
    bool any_time;                   /* ignore office hours for this rule */
    char rationale[RULES_TEXT_MAX];
} rules_rule_t;

typedef struct {
    /* office hours in the region's time zone; enabled when has_hours */
    bool has_hours;
    int32_t open_hour;             /* 0..23 */
    int32_t close_hour;            /* 1..24, > open_hour */
    bool days[RULES_DAYS_IN_WEEK]; /* 0 = Sunday */
    /* need -> taxonomy term for referrals ("" = no referral for it) */
    char taxonomy[RULES_NEEDS_MAX][RULES_TEXT_MAX];
    uint32_t referrals_per_need; /* default 1 */
    /* rules, first match wins */
    rules_rule_t *rules;
    uint32_t rule_count;
    /* after hours: who gets cases outside office hours */
    rules_assign_t after_hours;
    /* overflow: when the pick already has max_open_cases, send to `to` */
    uint32_t overflow_max_open; /* 0 = no overflow rule */
    char overflow_to[RULES_TEXT_MAX];
    /* default: when no rule matches or a rule's pick finds nobody */
    rules_assign_t fallback;
    char default_escalation[RULES_TEXT_MAX];
} rules_table_t;

/* Reads and checks the table from the host's config. Returns
 * VIGIL_PLUGIN_OK, or an error code after writing "key: why" into `err`.
 * The caller owns *table and frees it with rules_table_free(). */
int rules_table_load(const vigil_host_api_t *host, rules_table_t *table, char *err, size_t err_len);

/* Frees what rules_table_load() allocated. Cannot fail. */
void rules_table_free(rules_table_t *table);

/* Names used in the table, for messages and the docs. Cannot fail. */
const char *rules_need_name(int32_t need);

#endif
