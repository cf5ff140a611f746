/* handlers.c: the link handler behind every upstream message type.
 *
 * One generic handler and a table (s_kinds) saying, per type, how to store
 * it and what to forward. The work is in two parts: s_prepare_message()
 * needs no store (permission, validation, the case id, and for a contact
 * its sealed fields and packed onward messages), so the link runs it ahead
 * of the batch transaction, on its preparer thread for large batches
 * (link_prepare_fn); s_handle() then does what needs the store (the case
 * check, the ledger claim, the inserts). The preparer runs only while the
 * link handles a readable event, never during a reload, so the vault and
 * the sources table it reads (both replaced by a reload) do not change
 * under it. The reply's detail names a
 * field or a type and never carries a value; the event id is echoed only
 * when it is a well-formed token. Must never commit, and never log
 * personal data.
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
    store_fn store;    /* NULL for a contact: s_prepare_message() builds its row */
} message_kind_t;

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
     true, false, NULL},
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

/* What a message needs before the store is touched: its kind and decoded
 * form, the permission and validation verdict, the case id, and for a
 * contact the sealed case row and the packed onward messages. Built by
 * s_prepare_message(), ahead on the link's preparer thread (s_prepare) or
 * in the handler; either way its memory is given back, wiped, with the
 * request. */
typedef struct {
    const message_kind_t *kind;
    ProtobufCMessage *message;
    int64_t now_ms;
    bool refused; /* answered REJECTED with `reason` and `detail` */
    Vigil__V1__ReasonCode reason;
    char detail[HANDLER_ERR_LEN];
    bool failed; /* answered RETRY: `detail` says what failed */
    char case_id[CASE_ID_SIZE];
    int64_t case_row;   /* the row of a new case (intake_new_case), else 0 */
    bool contact_ready; /* a contact whose row and onward messages are built */
    cases_prepared_t row;
    forward_prepared_t forward;
} prepared_t;

static void s_refuse(prepared_t *p, Vigil__V1__ReasonCode reason, const char *detail)
{
    p->refused = true;
    p->reason = reason;
    s_copy(p->detail, sizeof p->detail, detail);
}

/* Fills `p` for `envelope` from `peer`; `payload` is the link's decoded
 * copy or NULL. Needs no store, and changes nothing but `p`, memory from
 * `allocator`, (for the while of cases_prepare) the payload and, for a
 * new case, intake's atomic row counter: safe on the link's preparer
 * thread (link_prepare_fn). Cannot fail: what goes wrong is recorded in
 * `p` for the handler to answer. */
static void s_prepare_message(intake_t *intake, const Vigil__V1__Envelope *envelope,
                              ProtobufCMessage *payload, const char *peer,
                              ProtobufCAllocator *allocator, prepared_t *p)
{
    memset(p, 0, sizeof *p);
    char detail[HANDLER_ERR_LEN];
    p->kind = s_kind(envelope->type);
    if (!p->kind) {
        s_refuse(p, VIGIL__V1__REASON_CODE__REASON_UNKNOWN_TYPE,
                 "message type not accepted by intake");
        return;
    }
    /* The link has decoded the request already (into its batch arena,
     * wiped when the batch ends). Otherwise (a dead-letter replay) it is
     * unpacked into `allocator`, not into a malloc per string. */
    p->message = payload && payload->descriptor == p->kind->descriptor ? payload : NULL;
    if (!p->message)
        p->message = protobuf_c_message_unpack(p->kind->descriptor, allocator,
                                               envelope->payload.len, envelope->payload.data);
    if (!p->message) {
        snprintf(detail, sizeof detail, "payload is not a valid %s",
                 p->kind->descriptor->short_name);
        s_refuse(p, VIGIL__V1__REASON_CODE__REASON_MALFORMED, detail);
        return;
    }
    const char *source = peer ? peer : "";
    if (!intake_sources_permit(&intake->sources, source, p->kind->type)) {
        snprintf(detail, sizeof detail, "source %s may not send %s", *source ? source : "?",
                 intake_type_name(p->kind->type));
        s_refuse(p, VIGIL__V1__REASON_CODE__REASON_NOT_PERMITTED, detail);
        return;
    }
    p->now_ms = util_now_ms();
    validate_error_t invalid;
    if (validate_message(validate_table_for(p->kind->type), p->message, p->now_ms, &invalid)) {
        s_refuse(p, invalid.reason, invalid.detail);
        return;
    }
    if (p->kind->creates_case) {
        p->case_row = intake_new_case(intake, p->now_ms, p->case_id);
        if (!p->case_row) {
            p->failed = true;
            s_copy(p->detail, sizeof p->detail, "case ids exhausted");
            return;
        }
    } else
        s_copy(p->case_id, sizeof p->case_id, s_string_field(p->message, "case_id"));
    if (p->kind->type != VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT)
        return;
    Vigil__V1__IntakeContact *c = (Vigil__V1__IntakeContact *)p->message;
    char err[HANDLER_ERR_LEN];
    if (cases_prepare(intake->vault, c, p->case_id, allocator, &p->row, err, sizeof err) ||
        forward_prepare_contact(intake, c, p->case_id, envelope->trace_id, allocator, &p->forward,
                                err, sizeof err)) {
        p->failed = true;
        s_copy(p->detail, sizeof p->detail, err);
        return;
    }
    p->contact_ready = true;
}

/* The link's prepare for every intake route: s_prepare_message() ahead of
 * the batch transaction, on the link's preparer thread for large batches.
 * NULL (out of memory) leaves the work to the handler. */
static void *s_prepare(void *ctx, const Vigil__V1__Envelope *envelope, ProtobufCMessage *payload,
                       const char *peer, ProtobufCAllocator *allocator)
{
    prepared_t *p = allocator->alloc(allocator->allocator_data, sizeof *p);
    if (p)
        s_prepare_message(intake_from(ctx), envelope, payload, peer, allocator, p);
    return p;
}

/* Stores what `p` prepared: the contact's row and onward messages as built
 * ahead (a contact reaches here only when they were), any other kind
 * through its store function. */
static int s_store(intake_t *intake, const char *source, const prepared_t *p, const char *trace_id,
                   char *err, size_t errlen)
{
    if (!p->contact_ready) {
        if (!p->kind->store) {
            snprintf(err, errlen, "%s was not prepared", intake_type_name(p->kind->type));
            return -1;
        }
        return p->kind->store(intake, source, p->message, p->case_id, trace_id, p->now_ms, err,
                              errlen);
    }
    const Vigil__V1__IntakeContact *c = (const Vigil__V1__IntakeContact *)p->message;
    if (cases_store_prepared(intake, source, c, p->case_row, p->case_id, p->now_ms, &p->row, err,
                             errlen))
        return -1;
    return forward_enqueue_prepared(intake, &p->forward, err, errlen);
}

static int s_handle(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope, const char *peer,
                    link_result_t *result)
{
    (void)db; /* the same handle as intake->db */
    intake_t *intake = intake_from(ctx);
    /* Prepared ahead by the link (s_prepare), or here: a small batch's are
     * prepared on this thread too, so only a dead-letter replay (never
     * prepared) or a prepare out of memory gets here with none. Then it
     * is built in an arena on the stack, dropped whole (and wiped) at the
     * end. */
    alignas(max_align_t) unsigned char arena_buffer[HANDLER_ARENA_BYTES];
    arena_t arena;
    arena_init(&arena, arena_buffer, sizeof arena_buffer);
    prepared_t local;
    const prepared_t *p = link_prepared(envelope);
    if (!p) {
        s_prepare_message(intake, envelope, link_payload(envelope), peer, &arena.allocator, &local);
        p = &local;
    }
    int rc = LINK_OK;
    const char *event_id = p->message ? s_string_field(p->message, "event_id") : "";
    if (formats_is_token(event_id) && strlen(event_id) < sizeof result->event_id)
        s_copy(result->event_id, sizeof result->event_id, event_id);
    if (p->refused) {
        rc = s_reject(intake, result, p->reason, p->detail);
        goto done;
    }
    if (p->failed) {
        rc = s_retry(intake, result, "store", p->detail);
        goto done;
    }
    const message_kind_t *kind = p->kind;
    const char *source = peer ? peer : "";
    char err[HANDLER_ERR_LEN], detail[HANDLER_ERR_LEN];
    if (kind->needs_case) {
        int known = cases_exists(intake, p->case_id, err, sizeof err);
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
    int claim = ledger_claim(intake, source, event_id, kind->type, p->case_id, p->now_ms, original,
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
    if (s_store(intake, source, p, envelope->trace_id, err, sizeof err)) {
        rc = s_retry(intake, result, "store", err);
        goto done;
    }
    result->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
    s_copy(result->case_id, sizeof result->case_id, p->case_id);
    metric_inc(intake->metrics.accepted);
    /* No log line per accepted message: even below the level, log_emit()
     * checks its keys, which cost ~2.5 % of intake's CPU. The ack carries
     * the case id, and intake_accepted_total counts them. */
done:
    arena_release(&arena); /* frees what `local` holds */
    return rc;
}

/* Every route prepares ahead (s_prepare). Without savepoints
 * (LINK_ROUTE_NO_SAVEPOINT): every rejection above comes before the first
 * write (the ledger claim changes nothing on a conflict). Only a failing
 * store after the claim (RETRY) leaves rows changed; the link then rolls
 * the batch back and runs each message alone, so nothing half-stored is
 * kept. Without them intake writes about a third fewer bytes per event
 * (bench_intake: 4.5 instead of 7.0 KiB at full load). The onward rows
 * are deferred to the batch's commit and written many per INSERT
 * (LINK_ROUTE_DEFER_OUTBOX); a failing store's enqueued rows fail the
 * batch the same way. The ledger of (source, event_id) is the dedup key
 * (LINK_ROUTE_OWN_DEDUP): a message_id sent again claims its event_id
 * again and is answered DUPLICATE with the original case id, or REJECTED
 * again for the same reason, so the link keeps no inbox record per message
 * (a fifth of the bytes written per contact, about a tenth of intake's
 * CPU; docs/performance.md, Intake, "Eighth look"). */
#define ROUTE_FLAGS (LINK_ROUTE_NO_SAVEPOINT | LINK_ROUTE_DEFER_OUTBOX | LINK_ROUTE_OWN_DEDUP)
const link_route_t intake_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT, s_handle, ROUTE_FLAGS, s_prepare},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT, s_handle, ROUTE_FLAGS, s_prepare},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST, s_handle, ROUTE_FLAGS, s_prepare},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION, s_handle, ROUTE_FLAGS, s_prepare},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT, s_handle, ROUTE_FLAGS, s_prepare},
    {0, NULL, 0, NULL},
};
