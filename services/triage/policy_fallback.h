/* policy_fallback.h: the region's fallback policy.
 *
 * What decides a case when the region's plugin cannot: it is not loaded,
 * it declined, it gave no assignee, it was quarantined after crashes, or
 * triage gave up on a case that crashed it too often. Deliberately simple
 * and in-process, so it cannot fail: the configured fallback assignee;
 * else the least-loaded on-call contact officer; else the least-loaded
 * contact officer; else the first roster entry; else no assignee and the
 * case is flagged for review. It never consults a plugin or the directory
 * (no referrals), and never logs.
 */
#ifndef VIGIL_TRIAGE_POLICY_FALLBACK_H
#define VIGIL_TRIAGE_POLICY_FALLBACK_H

#include <stdint.h>

#include "policy_host.h"

/* Fills `out` (all of it) for a case of `region` whose roster has the
 * open-case loads `loads` (roster order). `reason` becomes part of the
 * rationale. Cannot fail. */
void policy_fallback_decide(const policy_region_t *region, const uint32_t *loads,
                            const char *reason, policy_decision_t *out);

#endif
