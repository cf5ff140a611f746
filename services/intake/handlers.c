/* handlers.c: the link handler behind every upstream message type.
 *
 * One generic handler and a table (s_kinds) saying, per type, how to store
 * it and what to forward. The reply's detail names a field or a type and
 * never carries a value; the event id is echoed only when it is a
 * well-formed token. Must never commit, and never log personal data.
 */
#include "handlers.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "case_id.h"
#include "cases.h"
#include "formats.h"
#include "forward.h"
#include "intake.h"
#include "ledger.h"
#include "upstream_store.h"
#include "validate.h"
#include "vigil/log.h"
#include "vigil/util.h"

enum {
    HANDLER_ERR_LEN = 256,
    HANDLER_ARENA_BYTES = 8192, /* larger requests spill into malloc'd blocks */
};

/* Stores a validated message and enqueues what follows from it. `case_id`
 * is the case it created (contacts) or concerns; returns 0, or -1 with a
 * message (a transient failure: the request is answered RETRY). */
typedef int (*store_fn)(intake_t *intake, const char *source, ProtobufCMessage *message,
                        const char *case_id, const char *trace_id, int64_t now_ms, char *err,
                        size_t errlen);

typedef struct {
    Vigil__V1__MessageType type;
    const ProtobufCMessageDescriptor *descriptor;
    bool creates_case; /* a new case id is drawn for each accepted message */
    bool needs_case;   /* its case_id must name a case intake accepted */
    store_fn store;
} message_kind_t;

static int s_store_contact(intake_t *intake, const char *source, ProtobufCMessage *message,
                           const char *case_id, const char *trace_id, int64_t now_ms, char *err,
                           size_t errlen)
{
    Vigil__V1__IntakeContact *c = (Vigil__V1__IntakeContact *)message;
    if (cases_store(intake, source, c, case_id, now_ms, err, errlen))
        return -1;
    return forward_contact(intake, c, case_id, trace_id, err, errlen);
}

static int s_store_custody(intake_t *intake, const char *source, ProtobufCMessage *message,
                           const char *case_id, const char *trace_id, int64_t now_ms, char *err,
                           size_t errlen)
{
    if (upstream_store_custody(intake, source, (Vigil__V1__CustodyEvent *)message, now_ms, err,
                               errlen))
        return -1;
    return forward_to_notification(intake, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT,
                                   message, case_id, trace_id, err, errlen);
}

static int s_store_subscription(intake_t *intake, const char *source, ProtobufCMessage *message,
                                const char *case_id, const char *trace_id, int64_t now_ms,
                                char *err, size_t errlen)
{
    if (upstream_store_subscription(intake, source, (Vigil__V1__SubscriptionRequest *)message,
                                    now_ms, err, errlen))
        return -1;
    return forward_to_notification(intake,
                                   VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST,
                                   message, case_id, trace_id, err, errlen);
}

static int s_store_confirmation(intake_t *intake, const char *source, ProtobufCMessage *message,
                                const char *case_id, const char *trace_id, int64_t now_ms,
                                char *err, size_t errlen)
{
    if (upstream_store_confirmation(intake, source, (Vigil__V1__DeliveryConfirmation *)message,
                                    now_ms, err, errlen))
        return -1;
    return forward_to_notification(intake,
                                   VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION,
                                   message, case_id, trace_id, err, errlen);
}

/* An assignee took the case: nothing to keep beyond the ledger row (a
 * staff id and a time, no personal data); triage applies it, and refuses
 * a receipt from someone the case was never assigned to (that refusal
 * reaches intake's dead letters, docs/upstream.md). */
static int s_store_receipt(intake_t *intake, const char *source, ProtobufCMessage *message,
                           const char *case_id, const char *trace_id, int64_t now_ms, char *err,
                           size_t errlen)
{
    (void)source;
    (void)now_ms;
    return forward_to_triage(intake, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT,
                             message, case_id, trace_id, err, errlen);
}

static const message_kind_t s_kinds[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT, &vigil__v1__intake_contact__descriptor,
     true, false, s_store_contact},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT, &vigil__v1__custody_event__descriptor,
     false, false, s_store_custody},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST,
     &vigil__v1__subscription_request__descriptor, false, false, s_store_subscription},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION,
     &vigil__v1__delivery_confirmation__descriptor, false, false, s_store_confirmation},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT,
     &vigil__v1__assignment_receipt__descriptor, false, true, s_store_receipt},
};

static const message_kind_t *s_kind(Vigil__V1__MessageType type)
{
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds[0]; i++)
        if (s_kinds[i].type == type)
            return &s_kinds[i];
    return NULL;
}

/* The message's top-level string field `name`, or "". */
static const char *s_string_field(const ProtobufCMessage *message, const char *name)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(message->descriptor, name);
    if (!field || field->type != PROTOBUF_C_TYPE_STRING)
        return "";
    const char *value = *(const char *const *)((const char *)message + field->offset);
    return value ? value : "";
}

/* Copies `text` into `out` (`size` > 0 bytes), cut short to fit like
 * snprintf(out, size, "%s", text) but without printf (this runs for every
 * answered message). Cannot fail. */
static void s_copy(char *out, size_t size, const char *text)
{
    size_t len = strnlen(text, size - 1);
    memcpy(out, text, len);
    out[len] = '\0';
}

static int s_reject(intake_t *intake, link_result_t *result, Vigil__V1__ReasonCode reason,
                    const char *detail)
{
    result->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED;
    result->reason = reason;
    snprintf(result->detail, sizeof result->detail, "%s", detail);
    if (reason > 0 && reason <= VIGIL__V1__REASON_CODE__REASON_INTERNAL)
        metric_inc(intake->metrics.rejected[reason]);
    return LINK_REJECT;
}

static int s_retry(intake_t *intake, link_result_t *result, const char *what, const char *err)
{
    metric_inc(intake->metrics.retried);
    log_warn("transient failure; the sender retries", "what=%s error=%s", what, err);
    result->reason = VIGIL__V1__REASON_CODE__REASON_INTERNAL;
    snprintf(result->detail, sizeof result->detail, "%s failed; retry later", what);
    return LINK_RETRY;
}

static int s_handle(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope, const char *peer,
                    link_result_t *result)
{
    (void)db; /* the same handle as intake->db */
    intake_t *intake = intake_from(ctx);
    const message_kind_t *kind = s_kind(envelope->type);
    char detail[HANDLER_ERR_LEN];
    if (!kind)
        return s_reject(intake, result, VIGIL__V1__REASON_CODE__REASON_UNKNOWN_TYPE,
                        "message type not accepted by intake");

    /* The link has decoded the request already (into its batch arena,
     * wiped when the batch ends). Otherwise (a dead-letter replay) it is
     * unpacked into an arena on the stack, not into a malloc per string,
     * and dropped whole (and wiped) at the end. */
    alignas(max_align_t) unsigned char arena_buffer[HANDLER_ARENA_BYTES];
    arena_t arena;
    arena_init(&arena, arena_buffer, sizeof arena_buffer);
    ProtobufCMessage *message = link_payload(envelope);
    if (message && message->descriptor != kind->descriptor)
        message = NULL; /* cannot happen: the link decodes by the same type */
    if (!message)
        message = protobuf_c_message_unpack(kind->descriptor, &arena.allocator,
                                            envelope->payload.len, envelope->payload.data);
    if (!message) {
        arena_release(&arena);
        snprintf(detail, sizeof detail, "payload is not a valid %s", kind->descriptor->short_name);
        return s_reject(intake, result, VIGIL__V1__REASON_CODE__REASON_MALFORMED, detail);
    }
    int rc = LINK_OK;
    const char *event_id = s_string_field(message, "event_id");
    if (formats_is_token(event_id) && strlen(event_id) < sizeof result->event_id)
        s_copy(result->event_id, sizeof result->event_id, event_id);

    const char *source = peer ? peer : "";
    if (!intake_config_permits(intake->config, source, kind->type)) {
        snprintf(detail, sizeof detail, "source %s may not send %s", *source ? source : "?",
                 intake_type_name(kind->type));
        rc = s_reject(intake, result, VIGIL__V1__REASON_CODE__REASON_NOT_PERMITTED, detail);
        goto done;
    }
    int64_t now_ms = util_now_ms();
    validate_error_t invalid;
    if (validate_message(validate_table_for(kind->type), message, now_ms, &invalid)) {
        rc = s_reject(intake, result, invalid.reason, invalid.detail);
        goto done;
    }

    char case_id[CASE_ID_SIZE] = "";
    const char *concerns = s_string_field(message, "case_id");
    if (kind->creates_case)
        case_id_new(case_id);
    else
        s_copy(case_id, sizeof case_id, concerns);
    char err[HANDLER_ERR_LEN];
    if (kind->needs_case) {
        int known = cases_exists(intake, case_id, err, sizeof err);
        if (known < 0) {
            rc = s_retry(intake, result, "case lookup", err);
            goto done;
        }
        if (!known) {
            rc = s_reject(intake, result, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE,
                          "field case_id: no such case");
            goto done;
        }
    }
    char original[LEDGER_CASE_ID_SIZE];
    int original_type = 0;
    int claim = ledger_claim(intake, source, event_id, kind->type, case_id, now_ms, original,
                             &original_type, err, sizeof err);
    if (claim < 0) {
        rc = s_retry(intake, result, "ledger", err);
        goto done;
    }
    if (claim == LEDGER_DUPLICATE) {
        result->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE;
        snprintf(result->case_id, sizeof result->case_id, "%s", original);
        metric_inc(intake->metrics.duplicates);
        goto done;
    }
    if (claim == LEDGER_OTHER_TYPE) {
        snprintf(detail, sizeof detail, "field event_id: already used by this source for %s",
                 intake_type_name(original_type));
        rc = s_reject(intake, result, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE, detail);
        goto done;
    }
    if (kind->store(intake, source, message, case_id, envelope->trace_id, now_ms, err,
                    sizeof err)) {
        rc = s_retry(intake, result, "store", err);
        goto done;
    }
    result->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
    s_copy(result->case_id, sizeof result->case_id, case_id);
    metric_inc(intake->metrics.accepted);
    /* No log line per accepted message: even below the level, log_emit()
     * checks its keys, which cost ~2.5 % of intake's CPU. The ack carries
     * the case id, and intake_accepted_total counts them. */
done:
    arena_release(&arena); /* frees `message` */
    return rc;
}

/* Without savepoints (LINK_ROUTE_NO_SAVEPOINT): every rejection above comes
 * before the first write (the ledger claim changes nothing on a conflict).
 * Only a failing store after the claim (RETRY) leaves rows changed; the
 * link then rolls the batch back and runs each message alone, so nothing
 * half-stored is kept. Without them intake writes about a third fewer
 * bytes per event (bench_intake: 4.5 instead of 7.0 KiB at full load). */
const link_route_t intake_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT, s_handle, LINK_ROUTE_NO_SAVEPOINT, NULL},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT, s_handle, LINK_ROUTE_NO_SAVEPOINT, NULL},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST, s_handle, LINK_ROUTE_NO_SAVEPOINT,
     NULL},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION, s_handle, LINK_ROUTE_NO_SAVEPOINT,
     NULL},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT, s_handle, LINK_ROUTE_NO_SAVEPOINT,
     NULL},
    {0, NULL, 0, NULL},
};
