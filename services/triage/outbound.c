/* outbound.c: building and enqueueing triage's onward messages.
 *
 * Messages are built on the stack from borrowed strings and packed by
 * link_outbox_enqueue(); nothing here allocates or frees protobuf memory.
 * The de-identification rules live here and nowhere else: reporting gets a
 * case key, never a case id; a quarter, never a date; state and county at
 * most; and never the plugin's free-text rationale.
 */
#include "outbound.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vigil/link.h"

enum {
    MS_PER_S = 1000,
    MS_PER_MINUTE = 60000,
    MONTHS_PER_QUARTER = 3,
    TM_YEAR_BASE = 1900,
};

/* The last quarter computed and the span of ms it covers: every decision of
 * a pass falls in the same quarter, and gmtime_r() costs more than the rest
 * of the ReportEvent. Per thread, so any thread may call outbound_quarter(). */
static _Thread_local struct {
    int64_t from_ms, to_ms; /* [from, to); empty at start */
    char text[OUTBOUND_QUARTER_LEN];
} s_quarter;

static int64_t s_utc_ms(int year, int month)
{
    struct tm tm = {.tm_year = year - TM_YEAR_BASE, .tm_mon = month, .tm_mday = 1};
    return (int64_t)timegm(&tm) * MS_PER_S;
}

void outbound_quarter(int64_t at_ms, char out[OUTBOUND_QUARTER_LEN])
{
    if (at_ms < s_quarter.from_ms || at_ms >= s_quarter.to_ms) {
        time_t seconds = (time_t)(at_ms / MS_PER_S);
        struct tm tm;
        gmtime_r(&seconds, &tm);
        int year = tm.tm_year + TM_YEAR_BASE;
        int first_month = tm.tm_mon / MONTHS_PER_QUARTER * MONTHS_PER_QUARTER;
        snprintf(s_quarter.text, sizeof s_quarter.text, "%04d-Q%d", year,
                 first_month / MONTHS_PER_QUARTER + 1);
        s_quarter.from_ms = s_utc_ms(year, first_month);
        s_quarter.to_ms = s_utc_ms(year, first_month + MONTHS_PER_QUARTER); /* timegm normalizes */
        if (at_ms < s_quarter.from_ms || at_ms >= s_quarter.to_ms) {
            s_quarter.to_ms = s_quarter.from_ms; /* negative times round oddly: no cache */
        }
    }
    memcpy(out, s_quarter.text, OUTBOUND_QUARTER_LEN);
}

static uint32_t s_minutes_between(int64_t from_ms, int64_t to_ms)
{
    if (from_ms <= 0 || to_ms <= from_ms) {
        return 0;
    }
    int64_t minutes = (to_ms - from_ms) / MS_PER_MINUTE;
    return minutes > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)minutes;
}

/* A ReportEvent filled from the view; the caller sets kind, dates, etc. */
static void s_report_event(const triage_t *triage, const Vigil__V1__CaseView *view,
                           Vigil__V1__ReportEvent *event, char key[CASE_KEY_HEX_LEN],
                           char quarter[OUTBOUND_QUARTER_LEN], int64_t at_ms)
{
    vigil__v1__report_event__init(event);
    case_key_hash(&triage->case_key, view->case_id, key);
    outbound_quarter(at_ms, quarter);
    event->case_key = key;
    event->quarter = quarter;
    event->state = view->state;
    event->county_fips = view->county_fips;
    event->channel = view->channel;
    event->caller_role = view->caller_role;
    event->crime_category = view->crime_category;
    event->n_services = view->n_requested_services;
    event->services = view->requested_services;
}

static int s_enqueue(sqlite3 *db, const char *peer, Vigil__V1__MessageType type,
                     const char *case_id, const ProtobufCMessage *payload, char *err, size_t errlen)
{
    return link_outbox_enqueue(db, NULL, peer, type, case_id, NULL, payload, NULL, err, errlen);
}

int outbound_decision(triage_t *triage, sqlite3 *db, const Vigil__V1__CaseView *view,
                      const Vigil__V1__TriageDecision *decision, Vigil__V1__ReportEventKind kind,
                      char *err, size_t errlen)
{
    const Vigil__V1__RoutingDecision *routing = decision->routing;
    Vigil__V1__Assignment assignment = VIGIL__V1__ASSIGNMENT__INIT;
    assignment.case_id = decision->case_id;
    assignment.assignee_id = routing ? routing->assignee_id : (char *)"";
    assignment.priority = decision->priority;
    assignment.first_contact_due_ms = decision->first_contact_due_ms;
    assignment.region = decision->region;
    assignment.escalation_level = decision->escalation_level;
    if (s_enqueue(db, OUTBOUND_PEER_NOTIFICATION, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT,
                  decision->case_id, &assignment.base, err, errlen) < 0) {
        return -1;
    }

    char key[CASE_KEY_HEX_LEN];
    char quarter[OUTBOUND_QUARTER_LEN];
    Vigil__V1__ReportEvent event;
    s_report_event(triage, view, &event, key, quarter, decision->decided_at_ms);
    event.kind = kind;
    event.priority = decision->priority;
    event.region = decision->region;
    event.minutes_to_event = s_minutes_between(view->received_at_ms, decision->decided_at_ms);
    /* One event per decision, which counts its referrals and carries the
     * decision itself, de-identified: a separate REFERRAL_MADE event and a
     * separate TriageDecision message, as before, were two outbox rows more
     * per decision (a fifth of a decision's cost between them). */
    event.referrals = routing ? (uint32_t)routing->n_referrals : 0;
    Vigil__V1__TriageDecision deidentified = *decision;
    Vigil__V1__RoutingDecision deidentified_routing;
    if (triage->config->decisions_to_reporting) {
        deidentified.case_id = key;
        deidentified.decided_at_ms = 0;
        deidentified.first_contact_due_ms = 0;
        if (routing) {
            deidentified_routing = *routing;
            deidentified_routing.rationale = (char *)"";
            deidentified.routing = &deidentified_routing;
        }
        event.decision = &deidentified;
    }
    return s_enqueue(db, OUTBOUND_PEER_REPORTING,
                     VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_REPORT_EVENT, key, &event.base, err,
                     errlen);
}

int outbound_first_contact(triage_t *triage, sqlite3 *db, const Vigil__V1__CaseView *view,
                           const char *region, Vigil__V1__Priority priority,
                           int64_t acknowledged_at_ms, char *err, size_t errlen)
{
    char key[CASE_KEY_HEX_LEN];
    char quarter[OUTBOUND_QUARTER_LEN];
    Vigil__V1__ReportEvent event;
    s_report_event(triage, view, &event, key, quarter, acknowledged_at_ms);
    event.kind = VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_FIRST_CONTACT;
    event.priority = priority;
    event.region = (char *)region;
    event.minutes_to_event = s_minutes_between(view->received_at_ms, acknowledged_at_ms);
    return s_enqueue(db, OUTBOUND_PEER_REPORTING,
                     VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_REPORT_EVENT, key, &event.base, err,
                     errlen);
}
