/* validate.c: the rule engine behind validate_message().
 *
 * Walks each row of a rule table over the message (pbpath.c finds the
 * values), applies the row's check from s_checks[], and turns the first
 * failure into a reason code and a sentence naming the field. It never puts
 * a field's value in the sentence, and it never changes the message. The
 * paths of the built-in tables (validate_tables[]) are resolved to field
 * descriptors once per process, not per message.
 */
#include "validate.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "case_id.h"
#include "formats.h"
#include "pbpath.h"
#include "us_geo.h"

/* Room for the compiled paths of every row of validate_tables[]. */
#define VALIDATE_COMPILED_MAX 128
/* Room for that many built-in tables. */
#define VALIDATE_TABLES_MAX 16

/* A syntax test for a string value; `parent` is the message holding it (for
 * checks that look at a sibling, like county -> state). */
/* Longest "why" sentence after "field X: ". */
#define VALIDATE_WHY_MAX 160

typedef bool (*string_test_fn)(const char *text, const ProtobufCMessage *parent);

typedef struct {
    string_test_fn test;          /* NULL: no syntax beyond UTF-8 and length */
    Vigil__V1__ReasonCode reason; /* reason when the test fails */
    const char *why;              /* the sentence after "field X: " */
} string_check_t;

static bool s_token(const char *text, const ProtobufCMessage *parent)
{
    (void)parent;
    return formats_is_token(text);
}

static bool s_phone(const char *text, const ProtobufCMessage *parent)
{
    (void)parent;
    return formats_is_e164(text);
}

static bool s_email(const char *text, const ProtobufCMessage *parent)
{
    (void)parent;
    return formats_is_email(text);
}

static bool s_language(const char *text, const ProtobufCMessage *parent)
{
    (void)parent;
    return formats_is_bcp47(text);
}

static bool s_state(const char *text, const ProtobufCMessage *parent)
{
    (void)parent;
    return us_geo_state_fips(text) != NULL;
}

static bool s_county(const char *text, const ProtobufCMessage *parent)
{
    const ProtobufCFieldDescriptor *state =
        parent ? protobuf_c_message_descriptor_get_field_by_name(parent->descriptor, "state")
               : NULL;
    if (!state || state->type != PROTOBUF_C_TYPE_STRING)
        return false;
    const char *usps = *(const char *const *)((const char *)parent + state->offset);
    return us_geo_county_in_state(text, usps);
}

static bool s_zip(const char *text, const ProtobufCMessage *parent)
{
    (void)parent;
    return formats_is_zip(text);
}

static bool s_pin(const char *text, const ProtobufCMessage *parent)
{
    (void)parent;
    return formats_is_pin(text);
}

static bool s_case_id(const char *text, const ProtobufCMessage *parent)
{
    (void)parent;
    return case_id_is_well_formed(text);
}

static const string_check_t s_string_checks[] = {
    [CHECK_TEXT] = {NULL, VIGIL__V1__REASON_CODE__REASON_NONE, NULL},
    [CHECK_TOKEN] = {s_token, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE,
                     "not printable ASCII without spaces"},
    [CHECK_PHONE] = {s_phone, VIGIL__V1__REASON_CODE__REASON_INVALID_PHONE, "not an E.164 number"},
    [CHECK_EMAIL] = {s_email, VIGIL__V1__REASON_CODE__REASON_INVALID_EMAIL,
                     "not a valid email address"},
    [CHECK_LANGUAGE] = {s_language, VIGIL__V1__REASON_CODE__REASON_INVALID_LANGUAGE,
                        "not a well-formed BCP-47 language tag"},
    [CHECK_STATE] = {s_state, VIGIL__V1__REASON_CODE__REASON_INVALID_STATE,
                     "not a US state or territory code"},
    [CHECK_COUNTY] = {s_county, VIGIL__V1__REASON_CODE__REASON_INVALID_COUNTY,
                      "not a county FIPS code of the given state"},
    [CHECK_ZIP] = {s_zip, VIGIL__V1__REASON_CODE__REASON_INVALID_ZIP,
                   "not a 5-digit or ZIP+4 code"},
    [CHECK_PIN] = {s_pin, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE, "not 4 to 8 digits"},
    [CHECK_CASE_ID] = {s_case_id, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE,
                       "not an intake case id"},
};

typedef struct {
    const validate_rule_t *rule;
    int64_t now_ms;
    validate_error_t *error;
} apply_t;

static int s_fail(apply_t *apply, const char *field, Vigil__V1__ReasonCode reason, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

static int s_fail(apply_t *apply, const char *field, Vigil__V1__ReasonCode reason, const char *fmt,
                  ...)
{
    char why[VALIDATE_WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    apply->error->reason = reason;
    snprintf(apply->error->field, sizeof apply->error->field, "%s", field);
    snprintf(apply->error->detail, sizeof apply->error->detail, "field %s: %s", field, why);
    return 1;
}

static int s_check_string(apply_t *apply, const pbpath_value_t *value)
{
    const validate_rule_t *rule = apply->rule;
    const char *text = value->value ? *(const char *const *)value->value : NULL;
    size_t len = text ? strlen(text) : 0;
    if (len == 0)
        return rule->required ? s_fail(apply, value->display,
                                       VIGIL__V1__REASON_CODE__REASON_MISSING_FIELD, "required")
                              : 0;
    if (!formats_utf8_valid(text, len))
        return s_fail(apply, value->display, VIGIL__V1__REASON_CODE__REASON_INVALID_UTF8,
                      "not valid UTF-8");
    if (len > rule->max)
        return s_fail(apply, value->display, VIGIL__V1__REASON_CODE__REASON_TOO_LONG,
                      "longer than %zu bytes", rule->max);
    const string_check_t *check = &s_string_checks[rule->check];
    if (check->test && !check->test(text, value->parent))
        return s_fail(apply, value->display, check->reason, "%s", check->why);
    return 0;
}

static int s_check_enum(apply_t *apply, const pbpath_value_t *value)
{
    int number = value->value ? *(const int *)value->value : 0;
    const ProtobufCEnumDescriptor *type = value->field->descriptor;
    if (number == 0)
        return apply->rule->required
                   ? s_fail(apply, value->display, VIGIL__V1__REASON_CODE__REASON_INVALID_ENUM,
                            "missing or UNSPECIFIED %s", type->short_name)
                   : 0;
    if (!protobuf_c_enum_descriptor_get_value(type, number))
        return s_fail(apply, value->display, VIGIL__V1__REASON_CODE__REASON_INVALID_ENUM,
                      "%d is not a known %s value", number, type->short_name);
    return 0;
}

static int s_check_time(apply_t *apply, const pbpath_value_t *value)
{
    int64_t ms = value->value ? *(const int64_t *)value->value : 0;
    if (ms == 0)
        return apply->rule->required
                   ? s_fail(apply, value->display, VIGIL__V1__REASON_CODE__REASON_MISSING_FIELD,
                            "required")
                   : 0;
    if (ms < 0)
        return s_fail(apply, value->display, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE,
                      "not a unix time in milliseconds");
    if (apply->rule->check == CHECK_PAST_TIME && ms > apply->now_ms + VALIDATE_CLOCK_SKEW_MS)
        return s_fail(apply, value->display, VIGIL__V1__REASON_CODE__REASON_FUTURE_DATE,
                      "in the future");
    return 0;
}

static int s_visit(void *ctx, const pbpath_value_t *value)
{
    apply_t *apply = ctx;
    switch (apply->rule->check) {
    case CHECK_ENUM:
        return s_check_enum(apply, value);
    case CHECK_PAST_TIME:
    case CHECK_ANY_TIME:
        return s_check_time(apply, value);
    case CHECK_COUNT:
        if (value->count > apply->rule->max)
            return s_fail(apply, value->display, VIGIL__V1__REASON_CODE__REASON_TOO_MANY,
                          "more than %zu entries", apply->rule->max);
        return 0;
    default:
        return s_check_string(apply, value);
    }
}

/* True if the row's `when` condition holds (or it has none). */
static bool s_applies(const validate_rule_t *rule, const ProtobufCMessage *message)
{
    if (!rule->when)
        return true;
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(message->descriptor, rule->when);
    assert(field && field->type == PROTOBUF_C_TYPE_ENUM);
    int number = *(const int *)((const char *)message + field->offset);
    for (int i = 0; i < VALIDATE_WHEN_MAX && rule->when_values[i]; i++)
        if (rule->when_values[i] == number)
            return true;
    return false;
}

/* --- compiled paths of the built-in tables ------------------------------ */

typedef struct {
    bool ok; /* the path resolved */
    pbpath_compiled_t path;
} compiled_rule_t;

static compiled_rule_t s_compiled[VALIDATE_COMPILED_MAX];
static size_t s_compiled_first[VALIDATE_TABLES_MAX]; /* per table in validate_tables[] */
static size_t s_table_count;
static pthread_once_t s_compile_once = PTHREAD_ONCE_INIT;

static void s_compile_tables(void)
{
    size_t next = 0;
    size_t t = 0;
    for (; validate_tables[t].descriptor; t++) {
        const validate_table_t *table = &validate_tables[t];
        if (t >= sizeof s_compiled_first / sizeof s_compiled_first[0] ||
            next + table->count > VALIDATE_COMPILED_MAX)
            break; /* the rest are resolved per message */
        s_compiled_first[t] = next;
        for (size_t r = 0; r < table->count; r++, next++)
            s_compiled[next].ok = pbpath_compile(table->descriptor, table->rules[r].path,
                                                 &s_compiled[next].path) == 0;
    }
    s_table_count = t;
}

/* The compiled rows of `table` if it is a built-in one, else NULL. */
static const compiled_rule_t *s_compiled_rows(const validate_table_t *table)
{
    pthread_once(&s_compile_once, s_compile_tables);
    for (size_t t = 0; t < s_table_count; t++)
        if (&validate_tables[t] == table)
            return &s_compiled[s_compiled_first[t]];
    return NULL;
}

int validate_message(const validate_table_t *table, const ProtobufCMessage *message, int64_t now_ms,
                     validate_error_t *error)
{
    assert(message->descriptor == table->descriptor);
    memset(error, 0, sizeof *error);
    const compiled_rule_t *compiled = s_compiled_rows(table);
    for (size_t i = 0; i < table->count; i++) {
        const validate_rule_t *rule = &table->rules[i];
        if (!s_applies(rule, message))
            continue;
        apply_t apply = {.rule = rule, .now_ms = now_ms, .error = error};
        int rc = !compiled ? pbpath_each(message, rule->path, s_visit, &apply)
                 : compiled[i].ok
                     ? pbpath_each_compiled(message, &compiled[i].path, s_visit, &apply)
                     : -1;
        if (rc < 0) /* a path typo in the table: refuse rather than skip the rule */
            s_fail(&apply, rule->path, VIGIL__V1__REASON_CODE__REASON_INTERNAL,
                   "rule names no field");
        if (rc != 0)
            return -1;
    }
    return 0;
}

const validate_table_t *validate_table_for(Vigil__V1__MessageType type)
{
    for (const validate_table_t *t = validate_tables; t->descriptor; t++)
        if (t->type == type)
            return t;
    return NULL;
}
