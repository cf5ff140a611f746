/* results.c: writes vigil-publish's JSON result lines and counts outcomes.
 *
 * jansson builds each line so that ids and intake's detail text are always
 * escaped correctly. The fields are fixed; nothing from the event payload
 * other than its event_id is ever written here.
 */
#include "results.h"

#include <stddef.h>
#include <string.h>
#include <jansson.h>

static const char s_not_utf8[] = "(not valid UTF-8)";

/* Which counter each status name feeds. */
static const struct {
    const char *status;
    size_t counter; /* offset into results_t */
} s_counters[] = {
    {"ACCEPTED", offsetof(results_t, accepted)},
    {"DUPLICATE", offsetof(results_t, duplicate)},
    {"REJECTED", offsetof(results_t, rejected)},
    {"DEAD_LETTERED", offsetof(results_t, dead_lettered)},
    {"UNANSWERED", offsetof(results_t, unanswered)},
};

/* A JSON string for `text`; text that is not UTF-8 (from a misbehaving
 * server) is replaced rather than dropping the whole line. */
static json_t *s_text(const char *text)
{
    json_t *value = json_string(text != NULL ? text : "");
    return value != NULL ? value : json_string(s_not_utf8);
}

int results_write(results_t *results, FILE *out, size_t line, const char *event_id,
                  const char *status, const char *case_id, const char *reason, const char *detail)
{
    for (size_t i = 0; i < sizeof s_counters / sizeof s_counters[0]; i++) {
        if (strcmp(s_counters[i].status, status) == 0) {
            (*(uint64_t *)((char *)results + s_counters[i].counter))++;
        }
    }
    json_t *object = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "line", (json_int_t)line,
                               "event_id", s_text(event_id), "status", s_text(status), "case_id",
                               s_text(case_id), "reason", s_text(reason), "detail", s_text(detail));
    if (object == NULL) {
        return -1;
    }
    int rc = json_dumpf(object, out, JSON_COMPACT);
    json_decref(object);
    if (rc < 0 || fputc('\n', out) == EOF) {
        return -1;
    }
    return 0;
}

uint64_t results_total(const results_t *results)
{
    return results->accepted + results->duplicate + results->rejected + results->dead_lettered +
           results->unanswered;
}

bool results_all_ok(const results_t *results)
{
    return results->rejected == 0 && results->dead_lettered == 0 && results->unanswered == 0;
}
