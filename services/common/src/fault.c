/* fault.c: the fault-injection plan and its per-site call counters (see
 * vigil/fault.h).
 *
 * The plan comes from VIGIL_FAULT, parsed on the first call, or from
 * fault_configure() in unit tests. It is a short list of (site, first call,
 * last call) rules; every call at a site bumps that site's counter and fails
 * if a rule covers the new count. This file exists only so tests can make
 * commits fail on purpose; it must never fail anything the plan does not
 * name, and it compiles to nothing without VIGIL_FAULT_INJECTION.
 */
#include "vigil/fault.h"

#ifdef VIGIL_FAULT_INJECTION

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/log.h"

#define FAULT_MAX_RULES 16 /* rules in one plan */
#define FAULT_MAX_SITES 16 /* distinct sites counted */
#define FAULT_SITE_LEN  32 /* longest site name, with its NUL */
#define FAULT_SPEC_LEN  512
#define FAULT_FOREVER   UINT64_MAX /* last call of an "N+" rule */

typedef struct {
    char site[FAULT_SITE_LEN];
    uint64_t first; /* 1-based call number */
    uint64_t last;  /* inclusive; FAULT_FOREVER for "N+" */
} fault_rule_t;

typedef struct {
    char site[FAULT_SITE_LEN];
    uint64_t calls;
} fault_counter_t;

static struct {
    pthread_mutex_t lock;
    bool loaded;
    fault_rule_t rules[FAULT_MAX_RULES];
    size_t rule_count;
    fault_counter_t counters[FAULT_MAX_SITES];
    size_t counter_count;
} s_fault = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Parses one "site:N" or "site:N+" rule. Returns 0 or -1. */
static int s_parse_rule(char *text, fault_rule_t *rule)
{
    char *colon = strchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= FAULT_SITE_LEN)
        return -1;
    *colon = '\0';
    snprintf(rule->site, sizeof rule->site, "%s", text);
    char *end = NULL;
    errno = 0;
    unsigned long long first = strtoull(colon + 1, &end, 10);
    if (errno || end == colon + 1 || first == 0 || colon[1] == '-')
        return -1;
    rule->first = first;
    rule->last = first;
    if (*end == '+') {
        rule->last = FAULT_FOREVER;
        end++;
    }
    return *end == '\0' ? 0 : -1;
}

/* Replaces the plan; called with the lock held. Returns 0 or -1. */
static int s_load(const char *spec)
{
    s_fault.rule_count = 0;
    s_fault.counter_count = 0;
    s_fault.loaded = true;
    if (!spec || !*spec)
        return 0;
    char copy[FAULT_SPEC_LEN];
    if (snprintf(copy, sizeof copy, "%s", spec) >= (int)sizeof copy)
        return -1;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (s_fault.rule_count == FAULT_MAX_RULES ||
            s_parse_rule(item, &s_fault.rules[s_fault.rule_count])) {
            s_fault.rule_count = 0;
            return -1;
        }
        s_fault.rule_count++;
    }
    return 0;
}

/* The counter for `site`, created on first use; NULL when the table is full. */
static fault_counter_t *s_counter(const char *site)
{
    for (size_t i = 0; i < s_fault.counter_count; i++)
        if (strcmp(s_fault.counters[i].site, site) == 0)
            return &s_fault.counters[i];
    if (s_fault.counter_count == FAULT_MAX_SITES)
        return NULL;
    fault_counter_t *counter = &s_fault.counters[s_fault.counter_count++];
    snprintf(counter->site, sizeof counter->site, "%s", site);
    counter->calls = 0;
    return counter;
}

bool fault_should_fail(const char *site)
{
    pthread_mutex_lock(&s_fault.lock);
    if (!s_fault.loaded) {
        const char *spec = getenv(FAULT_ENV);
        if (s_load(spec))
            log_error("VIGIL_FAULT is malformed (expected site:N[+],...); no fault injected",
                      "spec=%s", spec);
    }
    if (s_fault.rule_count == 0) {
        pthread_mutex_unlock(&s_fault.lock);
        return false;
    }
    fault_counter_t *counter = s_counter(site);
    bool fail = false;
    uint64_t call = 0;
    if (counter) {
        call = ++counter->calls;
        for (size_t i = 0; !fail && i < s_fault.rule_count; i++) {
            const fault_rule_t *rule = &s_fault.rules[i];
            fail = strcmp(rule->site, site) == 0 && call >= rule->first && call <= rule->last;
        }
    }
    pthread_mutex_unlock(&s_fault.lock);
    if (fail)
        log_warn("fault injected", "site=%s call=%llu", site, (unsigned long long)call);
    return fail;
}

/* sqlite commit hook: non-zero turns the COMMIT into a rollback. */
static int s_on_commit(void *arg)
{
    (void)arg;
    return fault_should_fail(FAULT_SITE_COMMIT) ? 1 : 0;
}

void fault_watch_commits(sqlite3 *db)
{
    if (db)
        sqlite3_commit_hook(db, s_on_commit, NULL);
}

int fault_configure(const char *spec)
{
    pthread_mutex_lock(&s_fault.lock);
    int rc = s_load(spec);
    pthread_mutex_unlock(&s_fault.lock);
    return rc;
}

#endif
