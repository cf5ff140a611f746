/* hsds_tables.c: the declared HSDS tables, their validators and hooks.
 *
 * This is the whole mapping from HSDS 3.0 to the directory tables: to
 * import another HSDS field, add a column here and in directory_schema_v1.
 * Validators check shape only and name the field in their reason, never its
 * value.
 */
#include "hsds_tables.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    T_TAXONOMY_TERMS = 0,
    T_ORGANIZATIONS = 1,
    T_SERVICES = 2,
    T_LOCATIONS = 3,
    T_SERVICE_AT_LOCATIONS = 4,
    T_SERVICE_AREAS = 5,
    T_LANGUAGES = 6,
    T_PHONES = 7,
    T_ATTRIBUTES = 8,
};

enum {
    ID_MAX = 128,
    EMAIL_MAX = 254,
    URL_MAX = 2048,
    PHONE_DIGITS_MIN = 7,
    PHONE_DIGITS_MAX = 20,
    LANGUAGE_PRIMARY_MIN = 2,
    LANGUAGE_PRIMARY_MAX = 3,
    LANGUAGE_SUBTAG_MAX = 8,
    LANGUAGE_TAG_MAX = 35,
    LATITUDE_LIMIT = 90,
    LONGITUDE_LIMIT = 180,
    AREA_TOKEN_MAX = 80,
};

static const char *const s_service_status[] = {"active", "inactive", "defunct",
                                               "temporarily closed", NULL};
static const char *const s_location_type[] = {"physical", "postal", "virtual", NULL};
static const char *const s_extent_type[] = {"geojson", "topojson", "kml", "text", NULL};
static const char *const s_phone_type[] = {"text",  "voice", "fax",       "cell",
                                           "video", "pager", "textphone", NULL};
static const char *const s_link_entity[] = {"service", "organization", "location",
                                            "service_at_location", NULL};

static int s_derive_service_area(sqlite3 *db, char **values, char *why, size_t whylen);
static int s_after_service_area(sqlite3 *db, char **values, char *err, size_t errlen);
static int s_derive_language(sqlite3 *db, char **values, char *why, size_t whylen);

#define ID                                                                                         \
    {                                                                                              \
        "id", HSDS_ID, true, NULL, NULL                                                            \
    }
#define TEXT(n)                                                                                    \
    {                                                                                              \
        n, HSDS_TEXT, false, NULL, NULL                                                            \
    }
#define NEEDED_TEXT(n)                                                                             \
    {                                                                                              \
        n, HSDS_TEXT, true, NULL, NULL                                                             \
    }
#define REF(n, t, req)                                                                             \
    {                                                                                              \
        n, HSDS_REF, req, t, NULL                                                                  \
    }
#define ENUM(n, v, req)                                                                            \
    {                                                                                              \
        n, HSDS_ENUM, req, NULL, v                                                                 \
    }

const hsds_table_t hsds_tables[] = {
    [T_TAXONOMY_TERMS] = {"taxonomy_terms",
                          "taxonomy_term",
                          "dir_taxonomy_terms",
                          {ID,
                           TEXT("code"),
                           NEEDED_TEXT("name"),
                           TEXT("description"),
                           {"parent_id", HSDS_ID, false, NULL, NULL},
                           TEXT("taxonomy")},
                          {{0}},
                          NULL,
                          NULL},
    [T_ORGANIZATIONS] = {"organizations",
                         "organization",
                         "dir_organizations",
                         {ID,
                          NEEDED_TEXT("name"),
                          TEXT("description"),
                          {"email", HSDS_EMAIL, false, NULL, NULL},
                          {"website", HSDS_URL, false, NULL, NULL}},
                         {{"services", T_SERVICES, false, "organization_id", NULL, NULL},
                          {"locations", T_LOCATIONS, false, "organization_id", NULL, NULL},
                          {"phones", T_PHONES, false, "organization_id", NULL, NULL},
                          {"attributes", T_ATTRIBUTES, false, "link_id", "link_entity",
                           "organization"}},
                         NULL,
                         NULL},
    [T_SERVICES] = {"services",
                    "service",
                    "dir_services",
                    {ID,
                     REF("organization_id", "dir_organizations", true),
                     NEEDED_TEXT("name"),
                     TEXT("description"),
                     ENUM("status", s_service_status, true),
                     {"email", HSDS_EMAIL, false, NULL, NULL},
                     {"url", HSDS_URL, false, NULL, NULL}},
                    {{"phones", T_PHONES, false, "service_id", NULL, NULL},
                     {"languages", T_LANGUAGES, false, "service_id", NULL, NULL},
                     {"service_areas", T_SERVICE_AREAS, false, "service_id", NULL, NULL},
                     {"service_at_locations", T_SERVICE_AT_LOCATIONS, false, "service_id", NULL,
                      NULL},
                     {"attributes", T_ATTRIBUTES, false, "link_id", "link_entity", "service"}},
                    NULL,
                    NULL},
    [T_LOCATIONS] = {"locations",
                     "location",
                     "dir_locations",
                     {ID,
                      REF("organization_id", "dir_organizations", false),
                      TEXT("name"),
                      ENUM("location_type", s_location_type, true),
                      {"latitude", HSDS_LATITUDE, false, NULL, NULL},
                      {"longitude", HSDS_LONGITUDE, false, NULL, NULL}},
                     {{"languages", T_LANGUAGES, false, "location_id", NULL, NULL},
                      {"phones", T_PHONES, false, "location_id", NULL, NULL},
                      {"attributes", T_ATTRIBUTES, false, "link_id", "link_entity", "location"}},
                     NULL,
                     NULL},
    [T_SERVICE_AT_LOCATIONS] = {"service_at_locations",
                                "service_at_location",
                                "dir_service_at_location",
                                {ID, REF("service_id", "dir_services", true),
                                 REF("location_id", "dir_locations", true)},
                                {{"location", T_LOCATIONS, true, "location_id", NULL, NULL},
                                 {"service_areas", T_SERVICE_AREAS, false, "service_at_location_id",
                                  NULL, NULL}},
                                NULL,
                                NULL},
    [T_SERVICE_AREAS] = {"service_areas",
                         "service_area",
                         "dir_service_areas",
                         {ID, REF("service_id", "dir_services", false),
                          REF("service_at_location_id", "dir_service_at_location", false),
                          TEXT("name"), TEXT("extent"), ENUM("extent_type", s_extent_type, false)},
                         {{0}},
                         s_derive_service_area,
                         s_after_service_area},
    [T_LANGUAGES] = {"languages",
                     "language",
                     "dir_languages",
                     {ID,
                      REF("service_id", "dir_services", false),
                      REF("location_id", "dir_locations", false),
                      {"phone_id", HSDS_ID, false, NULL, NULL},
                      TEXT("name"),
                      {"code", HSDS_LANGUAGE, true, NULL, NULL},
                      {"primary_tag", HSDS_DERIVED, false, NULL, NULL}},
                     {{0}},
                     s_derive_language,
                     NULL},
    [T_PHONES] = {"phones",
                  "phone",
                  "dir_phones",
                  {ID,
                   REF("organization_id", "dir_organizations", false),
                   REF("service_id", "dir_services", false),
                   REF("location_id", "dir_locations", false),
                   {"number", HSDS_PHONE, true, NULL, NULL},
                   ENUM("type", s_phone_type, false)},
                  {{"languages", T_LANGUAGES, false, "phone_id", NULL, NULL}},
                  NULL,
                  NULL},
    [T_ATTRIBUTES] = {"attributes",
                      "attribute",
                      "dir_attributes",
                      {ID,
                       {"link_id", HSDS_LINK, true, NULL, NULL},
                       TEXT("link_type"),
                       ENUM("link_entity", s_link_entity, true),
                       REF("taxonomy_term_id", "dir_taxonomy_terms", true),
                       TEXT("value"),
                       TEXT("label")},
                      {{"taxonomy_term", T_TAXONOMY_TERMS, true, "taxonomy_term_id", NULL, NULL}},
                      NULL,
                      NULL},
};

const size_t hsds_table_count = sizeof hsds_tables / sizeof hsds_tables[0];

/* ---- lookups ------------------------------------------------------------ */

int hsds_table_find(const char *name)
{
    char base[64];
    snprintf(base, sizeof base, "%s", name);
    char *dot = strrchr(base, '.');
    if (dot && strcmp(dot, ".csv") == 0) {
        *dot = '\0';
    }
    for (size_t i = 0; i < hsds_table_count; i++) {
        if (strcmp(hsds_tables[i].name, base) == 0 || strcmp(hsds_tables[i].singular, base) == 0) {
            return (int)i;
        }
    }
    return -1;
}

size_t hsds_column_count(const hsds_table_t *table)
{
    size_t n = 0;
    while (n < HSDS_COLUMNS_MAX && table->columns[n].name) {
        n++;
    }
    return n;
}

int hsds_column_find(const hsds_table_t *table, const char *name)
{
    for (size_t i = 0; i < hsds_column_count(table); i++) {
        if (strcmp(table->columns[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- validators ---------------------------------------------------------- */

static bool s_utf8(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        size_t extra = *p < 0x80           ? 0
                       : (*p >> 5) == 0x6  ? 1
                       : (*p >> 4) == 0xE  ? 2
                       : (*p >> 3) == 0x1E ? 3
                                           : 4;
        if (extra == 4 || (extra == 1 && *p < 0xC2)) {
            return false;
        }
        for (size_t i = 1; i <= extra; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
        }
        p += extra + 1;
    }
    return true;
}

static bool s_id(const char *text)
{
    size_t len = strlen(text);
    if (len == 0 || len > ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != ':' && c != '-') {
            return false;
        }
    }
    return true;
}

static bool s_email(const char *text)
{
    const char *at = strchr(text, '@');
    if (!at || at == text || strchr(at + 1, '@') || strlen(text) > EMAIL_MAX) {
        return false;
    }
    const char *dot = strrchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0') {
        return false;
    }
    for (const char *p = text; *p; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
            return false;
        }
    }
    return true;
}

static bool s_url(const char *text)
{
    size_t scheme = strncmp(text, "https://", 8) == 0  ? 8
                    : strncmp(text, "http://", 7) == 0 ? 7
                                                       : 0;
    if (scheme == 0 || text[scheme] == '\0' || strlen(text) > URL_MAX) {
        return false;
    }
    for (const char *p = text; *p; p++) {
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
            return false;
        }
    }
    return true;
}

static bool s_language(const char *text)
{
    size_t len = strlen(text);
    if (len > LANGUAGE_TAG_MAX) {
        return false;
    }
    size_t i = 0;
    while (i < len && isalpha((unsigned char)text[i])) {
        i++;
    }
    if (i < LANGUAGE_PRIMARY_MIN || i > LANGUAGE_PRIMARY_MAX) {
        return false;
    }
    while (i < len) {
        if (text[i] != '-') {
            return false;
        }
        size_t start = ++i;
        while (i < len && isalnum((unsigned char)text[i])) {
            i++;
        }
        if (i == start || i - start > LANGUAGE_SUBTAG_MAX) {
            return false;
        }
    }
    return true;
}

static bool s_phone(const char *text)
{
    size_t digits = 0;
    for (const char *p = text; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            digits++;
        } else if (!strchr("+-(). xXextEXT", *p)) {
            return false;
        }
    }
    return digits >= PHONE_DIGITS_MIN && digits <= PHONE_DIGITS_MAX;
}

static bool s_number_in(const char *text, double limit)
{
    char *end = NULL;
    double value = strtod(text, &end);
    return end != text && *end == '\0' && value >= -limit && value <= limit;
}

int hsds_check_value(const hsds_column_t *column, const char *value, char *why, size_t whylen)
{
    if (!s_utf8(value)) {
        snprintf(why, whylen, "field '%s': not valid UTF-8", column->name);
        return -1;
    }
    if (strlen(value) > HSDS_TEXT_MAX) {
        snprintf(why, whylen, "field '%s': longer than %d bytes", column->name, HSDS_TEXT_MAX);
        return -1;
    }
    const char *problem = NULL;
    switch (column->kind) {
    case HSDS_TEXT:
    case HSDS_DERIVED:
        break;
    case HSDS_ID:
    case HSDS_REF:
    case HSDS_LINK:
        if (!s_id(value)) {
            problem = "not an id (1 to 128 letters, digits, '.', '_', ':' or '-')";
        }
        break;
    case HSDS_ENUM: {
        bool known = false;
        for (const char *const *v = column->values; *v; v++) {
            known = known || strcmp(*v, value) == 0;
        }
        if (!known) {
            problem = "not one of the values HSDS allows";
        }
        break;
    }
    case HSDS_EMAIL:
        problem = s_email(value) ? NULL : "not an email address";
        break;
    case HSDS_URL:
        problem = s_url(value) ? NULL : "not an http:// or https:// URL";
        break;
    case HSDS_LANGUAGE:
        problem = s_language(value) ? NULL : "not a BCP-47 language tag";
        break;
    case HSDS_PHONE:
        problem = s_phone(value) ? NULL : "not a phone number (7 to 20 digits)";
        break;
    case HSDS_LATITUDE:
        problem = s_number_in(value, LATITUDE_LIMIT) ? NULL : "not a latitude in -90..90";
        break;
    case HSDS_LONGITUDE:
        problem = s_number_in(value, LONGITUDE_LIMIT) ? NULL : "not a longitude in -180..180";
        break;
    }
    if (problem) {
        snprintf(why, whylen, "field '%s': %s", column->name, problem);
        return -1;
    }
    return 0;
}

/* ---- hooks ---------------------------------------------------------------- */

enum { SA_ID = 0, SA_SERVICE = 1, SA_SAL = 2, SA_NAME = 3, SA_EXTENT = 4, SA_EXTENT_TYPE = 5 };
enum { LANG_SERVICE = 1, LANG_LOCATION = 2, LANG_PHONE = 3, LANG_CODE = 5, LANG_PRIMARY = 6 };

typedef struct {
    const char *kind;
    size_t len;  /* exact length, 0 = a region name (1..64 label characters) */
    bool digits; /* digits only (else capital letters) */
} area_kind_t;

static const area_kind_t s_area_kinds[] = {
    {"state", 2, false},  {"county", 5, true}, {"zip3", 3, true},
    {"region", 0, false}, {NULL, 0, false},
};

enum { REGION_NAME_MAX = 64 };

/* Calls `fn` for each "kind:value" token of a text extent. Returns 0, or -1
 * with a reason if a token is malformed. */
static int s_each_area_token(const char *extent, int (*fn)(void *, const char *, const char *),
                             void *ctx, char *why, size_t whylen)
{
    const char *p = extent;
    size_t index = 0;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') {
            p++;
        }
        if (!*p) {
            break;
        }
        index++;
        char token[AREA_TOKEN_MAX + 1];
        size_t len = strcspn(p, " ,\t\n");
        if (len > AREA_TOKEN_MAX) {
            snprintf(why, whylen, "field 'extent': place %zu is too long", index);
            return -1;
        }
        memcpy(token, p, len);
        token[len] = '\0';
        p += len;
        char *colon = strchr(token, ':');
        const area_kind_t *kind = NULL;
        if (colon) {
            *colon = '\0';
            for (const area_kind_t *k = s_area_kinds; k->kind; k++) {
                if (strcmp(k->kind, token) == 0) {
                    kind = k;
                }
            }
        }
        bool ok = kind != NULL;
        const char *value = colon ? colon + 1 : "";
        size_t vlen = strlen(value);
        if (ok && kind->len) {
            ok = vlen == kind->len;
            for (size_t i = 0; ok && i < vlen; i++) {
                ok = kind->digits ? isdigit((unsigned char)value[i])
                                  : (value[i] >= 'A' && value[i] <= 'Z');
            }
        } else if (ok) {
            ok = vlen > 0 && vlen <= REGION_NAME_MAX;
            for (size_t i = 0; ok && i < vlen; i++) {
                unsigned char c = (unsigned char)value[i];
                ok = isalnum(c) || c == '-' || c == '_' || c == '.';
            }
        }
        if (!ok) {
            snprintf(why, whylen,
                     "field 'extent': place %zu is not state:XX, county:NNNNN, zip3:NNN or "
                     "region:NAME",
                     index);
            return -1;
        }
        if (fn && fn(ctx, kind->kind, value) < 0) {
            snprintf(why, whylen, "field 'extent': place %zu could not be stored", index);
            return -1;
        }
    }
    return 0;
}

static bool s_text_extent(char **values)
{
    return values[SA_EXTENT] &&
           (!values[SA_EXTENT_TYPE] || strcmp(values[SA_EXTENT_TYPE], "text") == 0);
}

static int s_derive_service_area(sqlite3 *db, char **values, char *why, size_t whylen)
{
    if (!values[SA_SERVICE] && values[SA_SAL]) {
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2(db, "SELECT service_id FROM dir_service_at_location WHERE id = ?",
                               -1, &stmt, NULL) != SQLITE_OK) {
            snprintf(why, whylen, "directory: %s", sqlite3_errmsg(db));
            return -1;
        }
        sqlite3_bind_text(stmt, 1, values[SA_SAL], -1, SQLITE_STATIC);
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            values[SA_SERVICE] = strdup((const char *)sqlite3_column_text(stmt, 0));
        }
        sqlite3_finalize(stmt);
    }
    if (!values[SA_SERVICE]) {
        snprintf(why, whylen, "one of fields 'service_id' or 'service_at_location_id' is required");
        return -1;
    }
    if (s_text_extent(values)) {
        return s_each_area_token(values[SA_EXTENT], NULL, NULL, why, whylen);
    }
    return 0;
}

typedef struct {
    sqlite3_stmt *insert;
} area_ctx_t;

static int s_insert_area_key(void *ctx, const char *kind, const char *value)
{
    sqlite3_stmt *stmt = ((area_ctx_t *)ctx)->insert;
    sqlite3_reset(stmt);
    sqlite3_bind_text(stmt, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, value, -1, SQLITE_TRANSIENT);
    return sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
}

static int s_after_service_area(sqlite3 *db, char **values, char *err, size_t errlen)
{
    sqlite3_stmt *del = NULL;
    area_ctx_t ctx = {0};
    int rc = -1;
    if (sqlite3_prepare_v2(db, "DELETE FROM dir_area_keys WHERE service_area_id = ?", -1, &del,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO dir_area_keys (service_area_id, service_id,"
                           " kind, value) VALUES (?, ?, ?, ?)",
                           -1, &ctx.insert, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "directory: %s", sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_bind_text(del, 1, values[SA_ID], -1, SQLITE_STATIC);
    if (sqlite3_step(del) != SQLITE_DONE) {
        snprintf(err, errlen, "directory: %s", sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_bind_text(ctx.insert, 1, values[SA_ID], -1, SQLITE_STATIC);
    sqlite3_bind_text(ctx.insert, 2, values[SA_SERVICE], -1, SQLITE_STATIC);
    rc = 0;
    if (s_text_extent(values)) {
        char why[128];
        rc = s_each_area_token(values[SA_EXTENT], s_insert_area_key, &ctx, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "directory: %s", sqlite3_errmsg(db));
        }
    }
done:
    sqlite3_finalize(del);
    sqlite3_finalize(ctx.insert);
    return rc;
}

static int s_derive_language(sqlite3 *db, char **values, char *why, size_t whylen)
{
    (void)db;
    if (!values[LANG_SERVICE] && !values[LANG_LOCATION] && !values[LANG_PHONE]) {
        snprintf(why, whylen,
                 "one of fields 'service_id', 'location_id' or 'phone_id' is required");
        return -1;
    }
    const char *code = values[LANG_CODE];
    size_t len = strcspn(code, "-");
    char *primary = malloc(len + 1);
    if (!primary) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        primary[i] = (char)tolower((unsigned char)code[i]);
    }
    primary[len] = '\0';
    free(values[LANG_PRIMARY]);
    values[LANG_PRIMARY] = primary;
    return 0;
}
