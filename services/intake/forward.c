/* forward.c: builds the onward messages for a new case and enqueues them
 * (see forward.h).
 *
 * The CaseView and ReportEvent are built field by field from the contact,
 * copying only what their schemas allow; neither schema has a [pii] field
 * (tests/unit/test_intake_forward.c checks that on fully populated
 * messages). Must never put a personal field into a message for triage or
 * reporting. A new case's rows are prepared (built, packed and sealed,
 * without the store, on any thread) and then enqueued in the transaction.
 */
#include "forward.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vigil/link.h"

enum {
    ZIP3_DIGITS = 3,
    MS_PER_SECOND = 1000,
    MONTHS_PER_QUARTER = 3,
    TM_YEAR_BASE = 1900,
    YEAR_DIGITS = 4,
    YEAR_MODULUS = 10000,
    DECIMAL = 10,
};

void forward_quarter(int64_t at_ms, char out[FORWARD_QUARTER_SIZE])
{
    time_t seconds = (time_t)(at_ms / MS_PER_SECOND);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    /* "YYYY-Qn" written by hand (no printf on the hot path); four digits,
     * as the schema shows. */
    int year = (tm.tm_year + TM_YEAR_BASE) % YEAR_MODULUS;
    if (year < 0)
        year += YEAR_MODULUS;
    for (int i = YEAR_DIGITS - 1; i >= 0; i--, year /= DECIMAL)
        out[i] = (char)('0' + year % DECIMAL);
    out[YEAR_DIGITS] = '-';
    out[YEAR_DIGITS + 1] = 'Q';
    out[YEAR_DIGITS + 2] = (char)('1' + tm.tm_mon / MONTHS_PER_QUARTER); /* tm_mon is 0..11 */
    out[YEAR_DIGITS + 3] = '\0';
}

static const char *s_language(const Vigil__V1__IntakeContact *c)
{
    if (c->victim && c->victim->preferred_language && *c->victim->preferred_language)
        return c->victim->preferred_language;
    return c->language ? c->language : "";
}

void forward_case_view(const Vigil__V1__IntakeContact *c, const char *case_id, char zip3[4],
                       Vigil__V1__CaseView *view)
{
    vigil__v1__case_view__init(view);
    view->case_id = (char *)case_id;
    view->channel = c->channel;
    view->language = (char *)s_language(c);
    view->caller_role = c->caller_role;
    zip3[0] = '\0';
    if (c->location) {
        view->state = c->location->state;
        view->county_fips = c->location->county_fips;
        if (c->location->zip && strlen(c->location->zip) >= ZIP3_DIGITS) {
            memcpy(zip3, c->location->zip, ZIP3_DIGITS);
            zip3[ZIP3_DIGITS] = '\0';
        }
    }
    view->zip3 = zip3;
    view->crime_category = c->crime_category;
    view->n_requested_services = c->n_requested_services;
    view->requested_services = c->requested_services;
    view->n_urgency_cues = c->n_urgency_cues;
    view->urgency_cues = c->urgency_cues;
    view->share_with_partners = c->consent && c->consent->share_with_partners;
    view->wants_notifications = c->consent && c->consent->custody_notifications;
    view->has_offender = c->n_offenders > 0;
    view->received_at_ms = c->received_at_ms;
}

static void s_report_event(const intake_t *intake, const Vigil__V1__IntakeContact *c,
                           const char *case_id, char case_key[HASHKEY_HEX_SIZE],
                           char quarter[FORWARD_QUARTER_SIZE], Vigil__V1__ReportEvent *event)
{
    vigil__v1__report_event__init(event);
    hashkey_case_key(intake->hashkey, case_id, case_key);
    forward_quarter(c->received_at_ms, quarter);
    event->kind = VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_CASE_OPENED;
    event->case_key = case_key;
    event->quarter = quarter;
    if (c->location) {
        event->state = c->location->state;
        event->county_fips = c->location->county_fips;
    }
    event->channel = c->channel;
    event->caller_role = c->caller_role;
    event->crime_category = c->crime_category;
    event->n_services = c->n_requested_services;
    event->services = c->requested_services;
    event->case_study_consent = c->consent && c->consent->use_in_case_studies;
}

/* Fills `notify` with the contact details the victim consented to.
 * Returns false when there is nothing to send. */
static bool s_notify_contact(const Vigil__V1__IntakeContact *c, const char *case_id,
                             Vigil__V1__NotifyContact *notify)
{
    vigil__v1__notify_contact__init(notify);
    const Vigil__V1__VictimContact *v = c->victim;
    if (!v || !c->consent)
        return false;
    bool phone = c->consent->contact_by_phone && v->phone && *v->phone;
    bool email = c->consent->contact_by_email && v->email && *v->email;
    if (!phone && !email)
        return false;
    notify->case_id = (char *)case_id;
    if (phone) {
        notify->phone = v->phone;
        notify->channel = c->channel == VIGIL__V1__CHANNEL__CHANNEL_TEXT
                              ? VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_SMS
                              : VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_VOICE;
    } else {
        notify->channel = VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_EMAIL;
    }
    if (email)
        notify->email = v->email;
    notify->language = (char *)s_language(c);
    notify->safe_to_leave_voicemail = v->safe_to_leave_voicemail;
    return true;
}

int forward_prepare_contact(const intake_t *intake, const Vigil__V1__IntakeContact *c,
                            const char *case_id, const char *trace_id,
                            ProtobufCAllocator *allocator, forward_prepared_t *out, char *err,
                            size_t errlen)
{
    out->count = 0;
    /* The messages borrow these strings; they are packed before return. */
    char zip3[ZIP3_DIGITS + 1];
    Vigil__V1__CaseView view;
    forward_case_view(c, case_id, zip3, &view);
    char case_key[HASHKEY_HEX_SIZE], quarter[FORWARD_QUARTER_SIZE];
    Vigil__V1__ReportEvent report;
    s_report_event(intake, c, case_id, case_key, quarter, &report);
    Vigil__V1__NotifyContact notify;
    bool notifies = s_notify_contact(c, case_id, &notify);
    if (link_outbox_prepare(NULL, FORWARD_PEER_TRIAGE,
                            VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW, case_id, trace_id,
                            &view.base, allocator, &out->rows[out->count], err, errlen))
        return -1;
    out->count++;
    if (link_outbox_prepare(NULL, FORWARD_PEER_REPORTING,
                            VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_REPORT_EVENT, NULL, trace_id,
                            &report.base, allocator, &out->rows[out->count], err, errlen))
        return -1;
    out->count++;
    if (!notifies)
        return 0;
    if (link_outbox_prepare(intake->vault, FORWARD_PEER_NOTIFICATION,
                            VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_NOTIFY_CONTACT, case_id, trace_id,
                            &notify.base, allocator, &out->rows[out->count], err, errlen))
        return -1;
    out->count++;
    return 0;
}

int forward_enqueue_prepared(intake_t *intake, const forward_prepared_t *prepared, char *err,
                             size_t errlen)
{
    for (size_t i = 0; i < prepared->count; i++)
        if (link_outbox_enqueue_prepared(intake->db, &prepared->rows[i], err, errlen))
            return -1;
    return 0;
}

int forward_to_notification(intake_t *intake, Vigil__V1__MessageType type,
                            const ProtobufCMessage *message, const char *case_id,
                            const char *trace_id, char *err, size_t errlen)
{
    return link_outbox_enqueue(intake->db, intake->vault, FORWARD_PEER_NOTIFICATION, type, case_id,
                               trace_id, message, NULL, err, errlen);
}

int forward_to_triage(intake_t *intake, Vigil__V1__MessageType type,
                      const ProtobufCMessage *message, const char *case_id, const char *trace_id,
                      char *err, size_t errlen)
{
    return link_outbox_enqueue(intake->db, NULL, FORWARD_PEER_TRIAGE, type, case_id, trace_id,
                               message, NULL, err, errlen);
}
