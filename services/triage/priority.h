/* priority.h: how urgent a case is, from a declared table of rules.
 *
 * The table (priority.c, documented in docs/triage.md) maps what the case
 * view says (urgency cues, crime category, requested services) to a
 * priority. Every matching rule votes; the most urgent vote wins; a case no
 * rule matches is P3 (standard). A policy plugin may then move the priority
 * one step, within the limits priority_adjust() enforces. This module only
 * classifies: it never stores, logs or sends anything.
 */
#ifndef VIGIL_TRIAGE_PRIORITY_H
#define VIGIL_TRIAGE_PRIORITY_H

#include <stdbool.h>
#include <stddef.h>

#include "vigil/v1/case.pb-c.h"

/* What a rule looks at. */
typedef enum {
    PRIORITY_MATCH_CUE = 1,      /* an urgency cue is present */
    PRIORITY_MATCH_CATEGORY = 2, /* the crime category equals the value */
    PRIORITY_MATCH_SERVICE = 3,  /* a requested service is present */
} priority_match_t;

/* One row of the rule table. */
typedef struct {
    const char *name;             /* stable rule name, e.g. "immediate-danger" (docs, rationale) */
    priority_match_t match;       /* what the rule looks at */
    int value;                    /* the cue, category or service enum value */
    Vigil__V1__Priority priority; /* the priority this rule votes for */
} priority_rule_t;

/* The rule table, ended by a row whose name is NULL. */
extern const priority_rule_t priority_rules[];

/* The priority of a case no rule matches. */
#define PRIORITY_DEFAULT VIGIL__V1__PRIORITY__PRIORITY_P3

/* What priority_classify() found. */
typedef struct {
    Vigil__V1__Priority priority;   /* the most urgent vote, or PRIORITY_DEFAULT */
    bool advise_emergency_services; /* the priority is P1 */
    const char *rule;               /* name of the winning rule, or "default" */
} priority_result_t;

/* Classifies `view` with priority_rules. Cannot fail. */
priority_result_t priority_classify(const Vigil__V1__CaseView *view);

/* Applies a plugin's adjustment (clamped to -1..+1 steps and to P1..P4) to
 * `base`. A P1 set by the rules is never lowered: immediate danger is not a
 * plugin's call. Returns the final priority. Cannot fail. */
Vigil__V1__Priority priority_adjust(Vigil__V1__Priority base, int adjustment);

/* "P1".."P4", or "P0" for UNSPECIFIED. Cannot fail. */
const char *priority_label(Vigil__V1__Priority priority);

#endif
