/* show.c: how vigilctl prints admin replies, for people and for scripts.
 *
 * Human views are aligned tables and short sentences; --json prints the
 * reply through pbjson. Every view except the audited `case show` first
 * clears the reply's [pii] fields, so even a misbehaving service cannot make
 * vigilctl print personal data anywhere else. Strings from the reply are
 * printed with control characters replaced.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vigil/pbjson.h"
#include "vigil/pii.h"
#include "vigil/v1/envelope.pb-c.h"
#include "vigil/v1/intake.pb-c.h"
#include "vigilctl.h"

enum {
    SHOW_CELL_LEN = 64,
    SHOW_VALUE_LEN = 1024,
    SHOW_INDENT_STEP = 2,
    SHOW_MS_PER_S = 1000,
    SHOW_S_PER_MIN = 60,
    SHOW_S_PER_HOUR = 3600,
    SHOW_S_PER_DAY = 86400,
    SHOW_MESSAGE_ID_HEX = 12, /* digits of a message id shown in tables */
    SHOW_CONTROL_LIMIT = 0x20,
    SHOW_DELETE = 0x7f,
};

/* Writes `text` with control characters (except newline in free text) shown
 * as '?'. */
static void s_put_clean(FILE *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++)
        fputc(*p < SHOW_CONTROL_LIMIT || *p == SHOW_DELETE ? '?' : *p, out);
}

int ctl_print_json(Vigil__V1__AdminReply *reply, bool allow_personal)
{
    if (!allow_personal)
        pii_redact(&reply->base);
    json_t *object = pbjson_from_message(&reply->base, 0);
    if (!object)
        return -1;
    /* "ok" is false by default and pbjson omits defaults; scripts need it. */
    json_object_set_new(object, "ok", json_boolean(reply->ok));
    int rc = json_dumpf(object, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(object);
    return rc == 0 ? 0 : -1;
}

void ctl_format_duration(int64_t seconds, char *out, size_t outlen)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds >= SHOW_S_PER_DAY)
        snprintf(out, outlen, "%" PRId64 "d%02" PRId64 "h", seconds / SHOW_S_PER_DAY,
                 seconds % SHOW_S_PER_DAY / SHOW_S_PER_HOUR);
    else if (seconds >= SHOW_S_PER_HOUR)
        snprintf(out, outlen, "%" PRId64 "h%02" PRId64 "m", seconds / SHOW_S_PER_HOUR,
                 seconds % SHOW_S_PER_HOUR / SHOW_S_PER_MIN);
    else if (seconds >= SHOW_S_PER_MIN)
        snprintf(out, outlen, "%" PRId64 "m%02" PRId64 "s", seconds / SHOW_S_PER_MIN,
                 seconds % SHOW_S_PER_MIN);
    else
        snprintf(out, outlen, "%" PRId64 "s", seconds);
}

void ctl_format_time(int64_t unix_ms, char *out, size_t outlen)
{
    if (unix_ms <= 0) {
        snprintf(out, outlen, "-");
        return;
    }
    time_t seconds = (time_t)(unix_ms / SHOW_MS_PER_S);
    struct tm utc;
    if (!gmtime_r(&seconds, &utc) || strftime(out, outlen, "%Y-%m-%d %H:%M:%SZ", &utc) == 0)
        snprintf(out, outlen, "%" PRId64, unix_ms);
}

/* The value name without the prefix every name of the enum shares
 * ("MESSAGE_TYPE_CASE_VIEW" -> "CASE_VIEW"), or the number. */
static const char *s_enum_name(const ProtobufCEnumDescriptor *descriptor, int value, char *buf,
                               size_t buflen)
{
    const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value(descriptor, value);
    if (!found) {
        snprintf(buf, buflen, "%d", value);
        return buf;
    }
    size_t shared = strlen(descriptor->values[0].name);
    for (unsigned i = 1; i < descriptor->n_values; i++) {
        size_t same = 0;
        while (same < shared &&
               descriptor->values[i].name[same] == descriptor->values[0].name[same])
            same++;
        shared = same;
    }
    while (shared > 0 && descriptor->values[0].name[shared - 1] != '_')
        shared--;
    if (descriptor->n_values < 2 || shared >= strlen(found->name))
        shared = 0;
    return found->name + shared;
}

static const char *s_yes_no(bool value)
{
    return value ? "yes" : "no";
}

void ctl_show_status_summary(FILE *out, const char *const *services,
                             Vigil__V1__AdminReply *const *replies, size_t count)
{
    static const char *const headers[] = {"SERVICE", "STATE",   "READY",
                                          "UPTIME",  "VERSION", "SECURITY"};
    ctl_table_t *table = ctl_table_new(sizeof headers / sizeof headers[0], headers);
    for (size_t i = 0; table && i < count; i++) {
        const Vigil__V1__ServiceStatus *status = replies[i] ? replies[i]->status : NULL;
        char uptime[SHOW_CELL_LEN] = "-";
        if (!status) {
            const char *row[] = {services[i], replies[i] ? "error" : "no answer", "-", "-", "-",
                                 "-"};
            ctl_table_add(table, row);
            continue;
        }
        ctl_format_duration(status->uptime_s, uptime, sizeof uptime);
        const char *row[] = {services[i], status->state,   s_yes_no(status->ready),
                             uptime,      status->version, status->insecure ? "INSECURE" : "curve"};
        ctl_table_add(table, row);
    }
    ctl_table_print(table, out, 0);
    ctl_table_destroy(&table);
}

void ctl_show_facts(FILE *out, Vigil__V1__Fact *const *facts, size_t count, int indent)
{
    ctl_table_t *table = ctl_table_new(2, NULL);
    for (size_t i = 0; table && i < count; i++) {
        const char *row[] = {facts[i]->key, facts[i]->value};
        ctl_table_add(table, row);
    }
    ctl_table_print(table, out, indent);
    ctl_table_destroy(&table);
}

void ctl_show_status_details(FILE *out, const Vigil__V1__AdminReply *reply)
{
    const Vigil__V1__ServiceStatus *status = reply->status;
    if (!status)
        return;
    s_put_clean(out, status->service);
    fputs(status->insecure ? "  (INSECURE: running without CURVE)\n" : "\n", out);
    if (status->n_facts > 0)
        ctl_show_facts(out, status->facts, status->n_facts, SHOW_INDENT_STEP);
    if (reply->n_metrics == 0)
        return;
    static const char *const headers[] = {"METRIC", "VALUE"};
    ctl_table_t *table = ctl_table_new(2, headers);
    size_t zeros = 0;
    for (size_t i = 0; table && i < reply->n_metrics; i++) {
        const Vigil__V1__Metric *metric = reply->metrics[i];
        if (metric->value == 0) {
            zeros++; /* most counters sit at zero: keep the view short */
            continue;
        }
        char name[SHOW_VALUE_LEN];
        char value[SHOW_CELL_LEN];
        if (metric->labels && *metric->labels)
            snprintf(name, sizeof name, "%s{%s}", metric->name, metric->labels);
        else
            snprintf(name, sizeof name, "%s", metric->name);
        snprintf(value, sizeof value, "%.15g", metric->value);
        const char *row[] = {name, value};
        ctl_table_add(table, row);
    }
    fputc('\n', out);
    if (ctl_table_rows(table) > 0)
        ctl_table_print(table, out, SHOW_INDENT_STEP);
    if (zeros > 0)
        fprintf(out, "%*s(%zu more at zero; --json shows every metric)\n", SHOW_INDENT_STEP, "",
                zeros);
    ctl_table_destroy(&table);
}

void ctl_show_dead_letters(FILE *out, const Vigil__V1__AdminReply *reply)
{
    if (reply->n_dead_letters == 0) {
        fputs("no dead letters\n", out);
        return;
    }
    static const char *const headers[] = {"ID",       "MESSAGE",      "TYPE",        "SOURCE",
                                          "ATTEMPTS", "FIRST FAILED", "LAST FAILED", "REASON"};
    ctl_table_t *table = ctl_table_new(sizeof headers / sizeof headers[0], headers);
    for (size_t i = 0; table && i < reply->n_dead_letters; i++) {
        const Vigil__V1__DeadLetter *letter = reply->dead_letters[i];
        char id[SHOW_CELL_LEN], message[SHOW_CELL_LEN] = "", type[SHOW_CELL_LEN];
        char attempts[SHOW_CELL_LEN], first[SHOW_CELL_LEN], last[SHOW_CELL_LEN];
        snprintf(id, sizeof id, "%" PRId64, letter->id);
        for (size_t b = 0; b < letter->message_id.len && 2 * b < SHOW_MESSAGE_ID_HEX; b++)
            snprintf(message + 2 * b, sizeof message - 2 * b, "%02x", letter->message_id.data[b]);
        snprintf(attempts, sizeof attempts, "%" PRIu32, letter->attempts);
        ctl_format_time(letter->first_failed_at_ms, first, sizeof first);
        ctl_format_time(letter->last_failed_at_ms, last, sizeof last);
        const char *row[] = {
            id,
            message,
            s_enum_name(&vigil__v1__message_type__descriptor, letter->type, type, sizeof type),
            letter->source,
            attempts,
            first,
            last,
            letter->reason};
        ctl_table_add(table, row);
    }
    ctl_table_print(table, out, 0);
    ctl_table_destroy(&table);
}

static void s_case_row(ctl_table_t *table, const Vigil__V1__CaseSummary *summary)
{
    char received[SHOW_CELL_LEN], channel[SHOW_CELL_LEN], category[SHOW_CELL_LEN];
    ctl_format_time(summary->received_at_ms, received, sizeof received);
    const char *row[] = {
        summary->case_id,
        received,
        summary->source,
        s_enum_name(&vigil__v1__channel__descriptor, summary->channel, channel, sizeof channel),
        s_enum_name(&vigil__v1__crime_category__descriptor, summary->crime_category, category,
                    sizeof category),
        summary->state,
        summary->event_id,
    };
    ctl_table_add(table, row);
}

static const char *const s_case_headers[] = {"CASE",  "RECEIVED", "SOURCE", "CHANNEL",
                                             "CRIME", "STATE",    "EVENT"};
#define SHOW_CASE_COLUMNS (sizeof s_case_headers / sizeof s_case_headers[0])

void ctl_show_cases(FILE *out, const Vigil__V1__AdminReply *reply)
{
    if (reply->n_cases == 0) {
        fputs("no cases\n", out);
        return;
    }
    ctl_table_t *table = ctl_table_new(SHOW_CASE_COLUMNS, s_case_headers);
    for (size_t i = 0; table && i < reply->n_cases; i++)
        s_case_row(table, reply->cases[i]);
    ctl_table_print(table, out, 0);
    ctl_table_destroy(&table);
}

/* --- a generic field printer, for the decrypted contact --------------------- */

static void s_print_message(FILE *out, const ProtobufCMessage *message, int indent);

/* Formats one scalar element of `field` found at `member` into `buf`. */
static const char *s_scalar(const ProtobufCFieldDescriptor *field, const void *member, char *buf,
                            size_t buflen)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(buf, buflen, "%" PRId32, *(const int32_t *)member);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(buf, buflen, "%" PRIu32, *(const uint32_t *)member);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t value = *(const int64_t *)member;
        size_t len = strlen(field->name);
        static const char time_suffix[] = "_at_ms";
        if (len > sizeof time_suffix &&
            strcmp(field->name + len - (sizeof time_suffix - 1), time_suffix) == 0)
            ctl_format_time(value, buf, buflen);
        else
            snprintf(buf, buflen, "%" PRId64, value);
        break;
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, buflen, "%" PRIu64, *(const uint64_t *)member);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        snprintf(buf, buflen, "%g", (double)*(const float *)member);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        snprintf(buf, buflen, "%g", *(const double *)member);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        snprintf(buf, buflen, "%s", *(const protobuf_c_boolean *)member ? "yes" : "no");
        break;
    case PROTOBUF_C_TYPE_ENUM:
        return s_enum_name(field->descriptor, *(const int *)member, buf, buflen);
    case PROTOBUF_C_TYPE_STRING:
        return *(char *const *)member ? *(char *const *)member : "";
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *data = member;
        snprintf(buf, buflen, "(%zu bytes)", data->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        buf[0] = '\0';
        break;
    }
    return buf;
}

static size_t s_element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return sizeof(uint32_t);
    }
}

/* True if a proto3 singular field holds its default value. */
static bool s_is_default(const ProtobufCFieldDescriptor *field, const void *member)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char *const *)member;
        return !text || !*text;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)member == NULL;
    default: {
        static const uint8_t zero[sizeof(uint64_t)] = {0};
        return memcmp(member, zero, s_element_size(field->type)) == 0;
    }
    }
}

static void s_print_field(FILE *out, const ProtobufCFieldDescriptor *field, const void *member,
                          int indent, bool list_item)
{
    char buf[SHOW_VALUE_LEN];
    fprintf(out, "%*s%s", indent, "", list_item ? "- " : "");
    if (!list_item)
        fprintf(out, "%s:", field->name);
    if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
        fputc('\n', out);
        s_print_message(out, *(ProtobufCMessage *const *)member,
                        indent + SHOW_INDENT_STEP * (list_item ? 2 : 1));
        return;
    }
    fputs(list_item ? "" : " ", out);
    s_put_clean(out, s_scalar(field, member, buf, sizeof buf));
    fputc('\n', out);
}

static void s_print_message(FILE *out, const ProtobufCMessage *message, int indent)
{
    if (!message)
        return;
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        const char *member = (const char *)message + field->offset;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *)((const char *)message + field->quantifier_offset);
            if (count == 0)
                continue;
            fprintf(out, "%*s%s:\n", indent, "", field->name);
            const char *array = *(char *const *)member;
            for (size_t k = 0; k < count; k++)
                s_print_field(out, field, array + k * s_element_size(field->type),
                              indent + SHOW_INDENT_STEP, true);
            continue;
        }
        if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t chosen = *(const uint32_t *)((const char *)message + field->quantifier_offset);
            if (chosen != field->id)
                continue;
        } else if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->quantifier_offset &&
                   field->type != PROTOBUF_C_TYPE_MESSAGE &&
                   field->type != PROTOBUF_C_TYPE_STRING &&
                   !*(const protobuf_c_boolean *)((const char *)message + field->quantifier_offset))
            continue;
        if (s_is_default(field, member))
            continue;
        s_print_field(out, field, member, indent, false);
    }
}

void ctl_show_case(FILE *out, const Vigil__V1__AdminReply *reply, const char *operator_id)
{
    fputs("AUDITED VIEW: this read is recorded by intake for operator ", out);
    s_put_clean(out, operator_id);
    fputs(".\nDo not copy, paste or forward what follows.\n\n", out);
    if (reply->case_summary) {
        ctl_table_t *table = ctl_table_new(SHOW_CASE_COLUMNS, s_case_headers);
        s_case_row(table, reply->case_summary);
        ctl_table_print(table, out, 0);
        ctl_table_destroy(&table);
    }
    if (reply->case_contact) {
        fputs("\ncontact:\n", out);
        s_print_message(out, &reply->case_contact->base, SHOW_INDENT_STEP);
    } else {
        fputs("\n(no contact details held for this case)\n", out);
    }
    if (reply->n_facts > 0) {
        fputc('\n', out);
        ctl_show_facts(out, reply->facts, reply->n_facts, 0);
    }
}
