/* results.h: vigil-publish's output: one JSON result line per event.
 *
 *     {"line":3,"event_id":"hl-0003","status":"ACCEPTED","case_id":"c-...",
 *      "reason":"NONE","detail":""}
 *
 * status is ACCEPTED, DUPLICATE, REJECTED, DEAD_LETTERED or UNANSWERED;
 * reason is a vigil.v1.ReasonCode name without its REASON_ prefix. Lines
 * come in the order answers arrive, not input order; "line" says which
 * input line each one is about. The counters decide the exit code.
 */
#ifndef PUBLISH_RESULTS_H
#define PUBLISH_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    uint64_t accepted;
    uint64_t duplicate;
    uint64_t rejected; /* by intake, or locally before sending (bad JSON) */
    uint64_t dead_lettered;
    uint64_t unanswered;
} results_t;

/* Writes one result line to `out` and counts it. `status` is one of the
 * names above. Returns 0, or -1 if the line could not be written. */
int results_write(results_t *results, FILE *out, size_t line, const char *event_id,
                  const char *status, const char *case_id, const char *reason, const char *detail);

/* Lines written so far. Cannot fail. */
uint64_t results_total(const results_t *results);

/* True if every event was ACCEPTED or DUPLICATE. Cannot fail. */
bool results_all_ok(const results_t *results);

#endif
