/* cases.c: writes, reads and lists intake_cases rows.
 *
 * The sealed columns are the ones in sealed_tables.h; s_slots[] says where
 * each lives in an IntakeContact. Before the contact's remainder is packed
 * into `details`, every personal field is blanked (s_blanked_paths[]).
 * cases_check_schema(), run once when intake starts, walks the
 * IntakeContact schema and refuses to start if any [pii] field reachable
 * from it is not one of those: a personal field added to the schema without
 * a sealed column stops the service rather than landing in clear. (This
 * replaced a pii_count() of every stored contact, which cost about 5 % of
 * intake's CPU and only caught such a field when a sender filled it.)
 * Storing is split in two: cases_prepare() packs and seals (CPU work that
 * needs only the vault, so it may run on another thread before the
 * transaction), cases_store_prepared() binds and steps the INSERT.
 * Plaintext copies are wiped before they are freed. Must never log a field
 * value.
 */
#include "cases.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "fieldseal.h"
#include "sealed_tables.h"
#include "vigil/pii.h"

enum {
    SCHEMA_DEPTH_MAX = 8,  /* deeper nesting is refused by the schema check */
    SCHEMA_PATH_MAX = 256, /* longest dotted field path the check reports */
    CASE_PARAM_FIRST_SEALED = 11,
    CASE_PARAM_VICTIM_PRESENT = 18, /* then victim_language, victim_voicemail */
    CASE_PARAM_ROW = 21,
};

/* --- where each sealed field lives in an IntakeContact ------------------ */

/* The victim sub-message, created if `create` and absent; NULL otherwise. */
static Vigil__V1__VictimContact *s_victim(Vigil__V1__IntakeContact *c, bool create)
{
    if (!c->victim && create) {
        c->victim = malloc(sizeof *c->victim);
        if (c->victim)
            vigil__v1__victim_contact__init(c->victim);
    }
    return c->victim;
}

typedef char **(*slot_fn)(Vigil__V1__IntakeContact *c, bool create);

static char **s_given_name(Vigil__V1__IntakeContact *c, bool create)
{
    Vigil__V1__VictimContact *v = s_victim(c, create);
    return v ? &v->given_name : NULL;
}

static char **s_family_name(Vigil__V1__IntakeContact *c, bool create)
{
    Vigil__V1__VictimContact *v = s_victim(c, create);
    return v ? &v->family_name : NULL;
}

static char **s_phone(Vigil__V1__IntakeContact *c, bool create)
{
    Vigil__V1__VictimContact *v = s_victim(c, create);
    return v ? &v->phone : NULL;
}

static char **s_email(Vigil__V1__IntakeContact *c, bool create)
{
    Vigil__V1__VictimContact *v = s_victim(c, create);
    return v ? &v->email : NULL;
}

static char **s_street_address(Vigil__V1__IntakeContact *c, bool create)
{
    Vigil__V1__VictimContact *v = s_victim(c, create);
    return v ? &v->street_address : NULL;
}

static char **s_narrative(Vigil__V1__IntakeContact *c, bool create)
{
    (void)create;
    return &c->narrative;
}

/* Indexed by CASE_COL_*; offender names are handled apart. */
static const slot_fn s_slots[CASE_COL_OFFENDER_NAMES] = {
    [CASE_COL_GIVEN_NAME] = s_given_name,
    [CASE_COL_FAMILY_NAME] = s_family_name,
    [CASE_COL_PHONE] = s_phone,
    [CASE_COL_EMAIL] = s_email,
    [CASE_COL_STREET_ADDRESS] = s_street_address,
    [CASE_COL_NARRATIVE] = s_narrative,
};

/* Free a string a protobuf-c unpacked message may hold. */
static void s_free_string(char *text)
{
    if (text && text != protobuf_c_empty_string) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
}

/* --- offender names ---------------------------------------------------- */

/* Packs the offenders' display names (and nothing else) as an
 * IntakeContact. Returns the malloc'd buffer and its length in *len, NULL
 * with *len 0 when no offender has a name, or NULL with *len 1 on
 * allocation failure. */
static uint8_t *s_pack_offender_names(const Vigil__V1__IntakeContact *c, size_t *len)
{
    *len = 0;
    bool any = false;
    for (size_t i = 0; i < c->n_offenders; i++)
        any |= c->offenders[i]->display_name && *c->offenders[i]->display_name;
    if (!any)
        return NULL;
    Vigil__V1__OffenderRef *refs = calloc(c->n_offenders, sizeof *refs);
    Vigil__V1__OffenderRef **ptrs = calloc(c->n_offenders, sizeof *ptrs);
    uint8_t *out = NULL;
    if (refs && ptrs) {
        Vigil__V1__IntakeContact names = VIGIL__V1__INTAKE_CONTACT__INIT;
        for (size_t i = 0; i < c->n_offenders; i++) {
            vigil__v1__offender_ref__init(&refs[i]);
            refs[i].display_name = c->offenders[i]->display_name;
            ptrs[i] = &refs[i];
        }
        names.offenders = ptrs;
        names.n_offenders = c->n_offenders;
        size_t size = vigil__v1__intake_contact__get_packed_size(&names);
        out = malloc(size ? size : 1);
        if (out)
            *len = vigil__v1__intake_contact__pack(&names, out);
    }
    free(refs);
    free(ptrs);
    if (!out)
        *len = 1;
    return out;
}

/* Puts the names of a packed names-only IntakeContact back into `c`.
 * Returns 0, or -1 if the blob does not parse or the counts differ. */
static int s_unpack_offender_names(Vigil__V1__IntakeContact *c, const uint8_t *data, size_t len)
{
    Vigil__V1__IntakeContact *names = vigil__v1__intake_contact__unpack(NULL, len, data);
    if (!names)
        return -1;
    int rc = names->n_offenders == c->n_offenders ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < c->n_offenders; i++) {
        s_free_string(c->offenders[i]->display_name);
        c->offenders[i]->display_name = names->offenders[i]->display_name;
        names->offenders[i]->display_name = (char *)protobuf_c_empty_string;
    }
    vigil__v1__intake_contact__free_unpacked(names, NULL);
    return rc;
}

/* --- schema check ------------------------------------------------------ */

/* Field paths (from IntakeContact) that s_blank() empties before the
 * remainder is packed in clear; each is sealed in its own column. */
static const char *const s_blanked_paths[] = {
    "victim", /* the whole sub-message is [pii] */
    "narrative",
    "offenders.display_name",
};

static bool s_is_blanked(const char *path)
{
    for (size_t i = 0; i < sizeof s_blanked_paths / sizeof s_blanked_paths[0]; i++)
        if (strcmp(s_blanked_paths[i], path) == 0)
            return true;
    return false;
}

/* Finds a [pii] field under `descriptor` (reached by `prefix`) that is not
 * blanked. Returns 0 if there is none, or -1 naming it in `err`. */
static int s_find_unsealed(const ProtobufCMessageDescriptor *descriptor, const char *prefix,
                           int depth, char *err, size_t errlen)
{
    if (depth > SCHEMA_DEPTH_MAX) {
        snprintf(err, errlen, "IntakeContact nests deeper than %d at %s", SCHEMA_DEPTH_MAX, prefix);
        return -1;
    }
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        char path[SCHEMA_PATH_MAX];
        int n = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", field->name);
        if (n < 0 || (size_t)n >= sizeof path) {
            snprintf(err, errlen, "IntakeContact field path too long under %s", prefix);
            return -1;
        }
        if (s_is_blanked(path))
            continue;
        if (pii_is_field(descriptor, field->name)) {
            snprintf(err, errlen,
                     "IntakeContact field %s is marked [pii] but has no sealed column in "
                     "intake_cases",
                     path);
            return -1;
        }
        if (field->type == PROTOBUF_C_TYPE_MESSAGE &&
            s_find_unsealed(field->descriptor, path, depth + 1, err, errlen))
            return -1;
    }
    return 0;
}

int cases_check_schema(char *err, size_t errlen)
{
    return s_find_unsealed(&vigil__v1__intake_contact__descriptor, "", 0, err, errlen);
}

/* --- store --------------------------------------------------------------- */

/* What s_blank() took out of a contact while its remainder is packed. */
typedef struct {
    Vigil__V1__VictimContact *victim; /* the whole sub-message is personal */
    char *narrative;
    char **offender_names;
} blanked_t;

static int s_blank(Vigil__V1__IntakeContact *c, blanked_t *b)
{
    memset(b, 0, sizeof *b);
    b->victim = c->victim;
    c->victim = NULL;
    b->narrative = c->narrative;
    c->narrative = (char *)protobuf_c_empty_string;
    if (c->n_offenders) {
        b->offender_names = malloc(c->n_offenders * sizeof *b->offender_names);
        if (!b->offender_names)
            return -1;
        for (size_t i = 0; i < c->n_offenders; i++) {
            b->offender_names[i] = c->offenders[i]->display_name;
            c->offenders[i]->display_name = (char *)protobuf_c_empty_string;
        }
    }
    return 0;
}

static void s_restore(Vigil__V1__IntakeContact *c, blanked_t *b)
{
    c->victim = b->victim;
    c->narrative = b->narrative;
    if (b->offender_names)
        for (size_t i = 0; i < c->n_offenders; i++)
            c->offenders[i]->display_name = b->offender_names[i];
    free(b->offender_names);
    b->offender_names = NULL;
}

/* Packs the contact without its personal fields into `out`. Returns 0, or
 * -1 with a message. */
static int s_pack_details(Vigil__V1__IntakeContact *c, ProtobufCAllocator *allocator,
                          cases_prepared_t *out, char *err, size_t errlen)
{
    blanked_t blanked;
    int rc = -1;
    if (s_blank(c, &blanked) == 0) {
        /* cases_check_schema() passed at start: nothing personal is left. */
        size_t size = vigil__v1__intake_contact__get_packed_size(c);
        uint8_t *details = allocator->alloc(allocator->allocator_data, size ? size : 1);
        if (details) {
            out->details_len = vigil__v1__intake_contact__pack(c, details);
            out->details = details;
            rc = 0;
        }
    }
    s_restore(c, &blanked);
    if (rc)
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* Seals the offenders' display names (packed) into `out`. Returns 0, or -1
 * with a message. */
static int s_seal_offender_names(const vault_t *vault, const Vigil__V1__IntakeContact *c,
                                 const char *case_id, ProtobufCAllocator *allocator,
                                 cases_prepared_t *out, char *err, size_t errlen)
{
    size_t names_len;
    uint8_t *names = s_pack_offender_names(c, &names_len);
    if (!names && names_len) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint8_t *sealed = NULL;
    int rc = fieldseal_seal(vault, case_id, case_sealed_columns[CASE_COL_OFFENDER_NAMES].column,
                            names, names ? names_len : 0, allocator, &sealed,
                            &out->sealed_len[CASE_COL_OFFENDER_NAMES]);
    out->sealed[CASE_COL_OFFENDER_NAMES] = sealed;
    if (names) {
        sodium_memzero(names, names_len);
        free(names);
    }
    if (rc)
        snprintf(err, errlen, "cannot seal offender names");
    return rc;
}

int cases_prepare(const vault_t *vault, Vigil__V1__IntakeContact *c, const char *case_id,
                  ProtobufCAllocator *allocator, cases_prepared_t *out, char *err, size_t errlen)
{
    *out = (cases_prepared_t){.key_id = vault_current_key_id(vault)};
    if (s_pack_details(c, allocator, out, err, errlen))
        return -1;
    for (int col = 0; col < CASE_COL_OFFENDER_NAMES; col++) {
        char **slot = s_slots[col](c, false);
        const char *text = slot ? *slot : NULL;
        uint8_t *sealed = NULL;
        if (fieldseal_seal(vault, case_id, case_sealed_columns[col].column, text,
                           text ? strlen(text) : 0, allocator, &sealed, &out->sealed_len[col])) {
            snprintf(err, errlen, "cannot seal %s", case_sealed_columns[col].field);
            return -1;
        }
        out->sealed[col] = sealed;
    }
    return s_seal_offender_names(vault, c, case_id, allocator, out, err, errlen);
}

int cases_store_prepared(intake_t *intake, const char *source, const Vigil__V1__IntakeContact *c,
                         int64_t row, const char *case_id, int64_t now_ms,
                         const cases_prepared_t *prepared, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = intake_stmt(intake, STMT_CASE_INSERT);
    sqlite3_bind_int64(stmt, CASE_PARAM_ROW, row);
    sqlite3_bind_text(stmt, 1, case_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, c->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, c->received_at_ms);
    sqlite3_bind_int64(stmt, 5, now_ms);
    sqlite3_bind_int(stmt, 6, (int)c->channel);
    sqlite3_bind_int(stmt, 7, (int)c->crime_category);
    sqlite3_bind_text(stmt, 8, c->location ? c->location->state : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 9, prepared->key_id);
    /* The prepared bytes outlive the step: bound without a copy. */
    int rc =
        sqlite3_bind_blob(stmt, 10, prepared->details, (int)prepared->details_len, SQLITE_STATIC);
    for (int col = 0; rc == SQLITE_OK && col < CASE_COL_COUNT; col++)
        rc = prepared->sealed[col]
                 ? sqlite3_bind_blob(stmt, CASE_PARAM_FIRST_SEALED + col, prepared->sealed[col],
                                     (int)prepared->sealed_len[col], SQLITE_STATIC)
                 : sqlite3_bind_null(stmt, CASE_PARAM_FIRST_SEALED + col);
    const Vigil__V1__VictimContact *v = c->victim;
    sqlite3_bind_int(stmt, CASE_PARAM_VICTIM_PRESENT, v != NULL);
    sqlite3_bind_text(stmt, CASE_PARAM_VICTIM_PRESENT + 1, v ? v->preferred_language : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int(stmt, CASE_PARAM_VICTIM_PRESENT + 2, v && v->safe_to_leave_voicemail);
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "cannot bind case row: %s", sqlite3_errstr(rc));
    else if ((rc = sqlite3_step(stmt)) != SQLITE_DONE)
        snprintf(err, errlen, "case insert: %s", sqlite3_errmsg(intake->db));
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt); /* they point into the caller's memory */
    return rc == SQLITE_DONE ? 0 : -1;
}

/* --- read -------------------------------------------------------------- */

#define CASE_SELECT_COLUMNS                                                                        \
    "case_id, received_at_ms, source, channel, crime_category, state, event_id"

#define CASE_LOAD_COLUMNS                                                                          \
    CASE_SELECT_COLUMNS ", details, victim_given_name, victim_family_name, victim_phone, "         \
                        "victim_email, victim_street_address, narrative, offender_names, "         \
                        "victim_present, victim_language, victim_voicemail"

static const char s_load_sql[] = CASES_BY_ID_SQL(CASE_LOAD_COLUMNS);

void cases_bind_id(intake_t *intake, sqlite3_stmt *stmt, const char *case_id)
{
    sqlite3_bind_text(stmt, 1, case_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, case_id_to_row(&intake->case_id_key, case_id));
}

enum {
    LOAD_COL_DETAILS = 7,
    LOAD_COL_FIRST_SEALED = 8,
    LOAD_COL_VICTIM_PRESENT = 15, /* then victim_language, victim_voicemail */
};

static char *s_column_strdup(sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);
    return strdup(text ? (const char *)text : "");
}

/* A CaseSummary from the first seven columns of `stmt`. NULL on allocation
 * failure. */
static Vigil__V1__CaseSummary *s_summary(sqlite3_stmt *stmt)
{
    Vigil__V1__CaseSummary *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    vigil__v1__case_summary__init(s);
    s->case_id = s_column_strdup(stmt, 0);
    s->received_at_ms = sqlite3_column_int64(stmt, 1);
    s->source = s_column_strdup(stmt, 2);
    s->channel = sqlite3_column_int(stmt, 3);
    s->crime_category = sqlite3_column_int(stmt, 4);
    s->state = s_column_strdup(stmt, 5);
    s->event_id = s_column_strdup(stmt, 6);
    if (!s->case_id || !s->source || !s->state || !s->event_id) {
        vigil__v1__case_summary__free_unpacked(s, NULL);
        return NULL;
    }
    return s;
}

/* Opens every sealed column of the current row into `c`. Returns 0,
 * CASES_INTEGRITY (with the field and key id in `err`), or -1. */
static int s_open_sealed(intake_t *intake, sqlite3_stmt *stmt, const char *case_id,
                         Vigil__V1__IntakeContact *c, char *err, size_t errlen)
{
    for (int col = 0; col < CASE_COL_COUNT; col++) {
        char *plain = NULL;
        size_t len = 0;
        int key_id = -1;
        const sealed_column_t *sealed = &case_sealed_columns[col];
        if (fieldseal_column(stmt, LOAD_COL_FIRST_SEALED + col, intake->vault, case_id,
                             sealed->column, &plain, &len, &key_id)) {
            snprintf(err, errlen, "case %s: stored field %s failed integrity check (key id %d)",
                     case_id, sealed->field, key_id);
            return CASES_INTEGRITY;
        }
        if (!plain)
            continue;
        if (col == CASE_COL_OFFENDER_NAMES) {
            int rc = s_unpack_offender_names(c, (const uint8_t *)plain, len);
            sodium_memzero(plain, len);
            free(plain);
            if (rc) {
                snprintf(err, errlen, "case %s: stored field %s does not match the offenders",
                         case_id, sealed->field);
                return CASES_INTEGRITY;
            }
            continue;
        }
        char **slot = s_slots[col](c, true);
        if (!slot) {
            s_free_string(plain);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s_free_string(*slot);
        *slot = plain;
    }
    return 0;
}

int cases_exists(intake_t *intake, const char *case_id, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = intake_stmt(intake, STMT_CASE_EXISTS);
    cases_bind_id(intake, stmt, case_id);
    int rc = sqlite3_step(stmt);
    int known = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (known < 0)
        snprintf(err, errlen, "case lookup: %s", sqlite3_errmsg(intake->db));
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return known;
}

int cases_load(intake_t *intake, const char *case_id, Vigil__V1__CaseSummary **summary,
               Vigil__V1__IntakeContact **contact, char *err, size_t errlen)
{
    *summary = NULL;
    *contact = NULL;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(intake->db, s_load_sql, -1, &stmt, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "case read: %s", sqlite3_errmsg(intake->db));
        return -1;
    }
    cases_bind_id(intake, stmt, case_id);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            snprintf(err, errlen, "case %s: no such case", case_id);
        else
            snprintf(err, errlen, "case read: %s", sqlite3_errmsg(intake->db));
        sqlite3_finalize(stmt);
        return rc == SQLITE_DONE ? CASES_NOT_FOUND : -1;
    }
    Vigil__V1__IntakeContact *c = vigil__v1__intake_contact__unpack(
        NULL, (size_t)sqlite3_column_bytes(stmt, LOAD_COL_DETAILS),
        sqlite3_column_blob(stmt, LOAD_COL_DETAILS));
    if (!c) {
        snprintf(err, errlen, "case %s: stored details do not parse", case_id);
        sqlite3_finalize(stmt);
        return CASES_INTEGRITY;
    }
    rc = s_open_sealed(intake, stmt, case_id, c, err, errlen);
    if (rc == 0 && sqlite3_column_int(stmt, LOAD_COL_VICTIM_PRESENT)) {
        Vigil__V1__VictimContact *v = s_victim(c, true);
        const unsigned char *language = sqlite3_column_text(stmt, LOAD_COL_VICTIM_PRESENT + 1);
        if (v && language && *language) {
            s_free_string(v->preferred_language);
            v->preferred_language = strdup((const char *)language);
        }
        if (v)
            v->safe_to_leave_voicemail = sqlite3_column_int(stmt, LOAD_COL_VICTIM_PRESENT + 2);
        if (!v || !v->preferred_language) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    Vigil__V1__CaseSummary *s = rc == 0 ? s_summary(stmt) : NULL;
    sqlite3_finalize(stmt);
    if (rc == 0 && !s) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc) {
        vigil__v1__intake_contact__free_unpacked(c, NULL);
        return rc;
    }
    *summary = s;
    *contact = c;
    return 0;
}

/* --- list -------------------------------------------------------------- */

int cases_list(intake_t *intake, uint32_t limit, Vigil__V1__AdminReply *reply, char *err,
               size_t errlen)
{
    static const char sql[] =
        "SELECT " CASE_SELECT_COLUMNS " FROM intake_cases ORDER BY id DESC LIMIT ?1";
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(intake->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cases list: %s", sqlite3_errmsg(intake->db));
        return -1;
    }
    sqlite3_bind_int64(stmt, 1, limit);
    reply->cases = calloc(limit ? limit : 1, sizeof *reply->cases);
    if (!reply->cases) {
        sqlite3_finalize(stmt);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && reply->n_cases < limit) {
        Vigil__V1__CaseSummary *s = s_summary(stmt);
        if (!s) {
            rc = SQLITE_NOMEM;
            break;
        }
        reply->cases[reply->n_cases++] = s;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        snprintf(err, errlen, "cases list: %s", sqlite3_errstr(rc));
        return -1;
    }
    return 0;
}
