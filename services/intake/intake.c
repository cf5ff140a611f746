/* intake.c: creates and frees the intake context (see intake.h).
 *
 * The SQL of the hot path lives here, prepared once; the modules that run
 * it bind by position in the order the statement text lists. Nothing here
 * reads or writes a personal value.
 */
#include "intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "cases.h"

#define HASHKEY_DEFAULT_NAME "keys/intake.hashkey"
#define PATH_MAX_LEN         4096
#define KIB_PER_MIB          1024
#define METRIC_LABELS_MAX    96
#define PRAGMA_MAX           64

static const char *const s_sql[STMT_COUNT] = {
    [STMT_EVENT_CLAIM] = "INSERT INTO intake_events (source, event_id, type, case_id, "
                         "accepted_at_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
    [STMT_EVENT_LOOKUP] = "SELECT type, case_id FROM intake_events WHERE source = ?1 AND "
                          "event_id = ?2",
    [STMT_CASE_INSERT] =
        "INSERT INTO intake_cases (case_id, source, event_id, received_at_ms, accepted_at_ms, "
        "channel, crime_category, state, key_id, details, victim_given_name, "
        "victim_family_name, victim_phone, victim_email, victim_street_address, narrative, "
        "offender_names, victim_present, victim_language, victim_voicemail, id) VALUES (?1, ?2, "
        "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
    [STMT_CUSTODY_INSERT] =
        "INSERT INTO intake_custody_events (source, event_id, type, offender_id, agency, "
        "facility_id, occurred_at_ms, accepted_at_ms, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8, ?9)",
    [STMT_SUBSCRIPTION_INSERT] =
        "INSERT INTO intake_subscriptions (source, event_id, offender_id, agency, channel, "
        "language, case_id, requested_at_ms, accepted_at_ms, key_id, phone, email, pin_hash) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [STMT_CONFIRMATION_INSERT] =
        "INSERT INTO intake_confirmations (source, event_id, subscription_id, custody_event_id, "
        "confirmed_at_ms, accepted_at_ms, pin_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_CASE_EXISTS] = CASES_BY_ID_SQL("1"),
    [STMT_CASE_LAST_ROW] = "SELECT ifnull(max(id), 0) FROM intake_cases",
};

#define CASE_ID_KEY_NAME "case_id_key"

/* Reads the store's case-id key from intake_meta into `key`. Returns 1,
 * 0 when the store has none yet, or -1 with a message in `err`. */
static int s_read_case_id_key(sqlite3 *db, case_id_key_t *key, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc =
        sqlite3_prepare_v2(db, "SELECT value FROM intake_meta WHERE key = ?1", -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, CASE_ID_KEY_NAME, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
    }
    const char *text = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
    int found = rc == SQLITE_DONE ? 0 : 1;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        snprintf(err, errlen, "store table intake_meta, key %s: %s", CASE_ID_KEY_NAME,
                 sqlite3_errmsg(db));
        found = -1;
    } else if (rc == SQLITE_ROW && (!text || strlen(text) != CASE_ID_KEY_HEX - 1 ||
                                    sodium_hex2bin(key->bytes, sizeof key->bytes, text,
                                                   CASE_ID_KEY_HEX - 1, NULL, NULL, NULL) != 0)) {
        snprintf(err, errlen, "store table intake_meta, key %s: not a case-id key (32 hex digits)",
                 CASE_ID_KEY_NAME);
        found = -1;
    }
    sqlite3_finalize(stmt);
    return found;
}

/* Reads the store's case-id key, first creating a fresh random one in a
 * store that has none (its first start). Returns 0, or -1 with a message
 * in `err`. */
static int s_load_case_id_key(sqlite3 *db, case_id_key_t *key, char *err, size_t errlen)
{
    int found = s_read_case_id_key(db, key, err, errlen);
    if (found != 0)
        return found > 0 ? 0 : -1;
    case_id_key_new(key);
    char hex[CASE_ID_KEY_HEX];
    sodium_bin2hex(hex, sizeof hex, key->bytes, sizeof key->bytes);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO intake_meta (key, value) VALUES (?1, ?2)", -1,
                                &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, CASE_ID_KEY_NAME, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, hex, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    sodium_memzero(hex, sizeof hex);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "storing the case-id key: %s", sqlite3_errmsg(db));
        sodium_memzero(key, sizeof *key);
        return -1;
    }
    return 0;
}

static void s_register_metrics(intake_t *intake)
{
    metrics_t *m = service_metrics(intake->service);
    intake_metrics_t *out = &intake->metrics;
    out->accepted = metrics_add(m, METRIC_COUNTER, "intake_accepted_total",
                                "Upstream events accepted and committed", NULL);
    out->duplicates =
        metrics_add(m, METRIC_COUNTER, "intake_duplicates_total",
                    "Upstream events answered DUPLICATE (source and event id seen before)", NULL);
    out->retried = metrics_add(m, METRIC_COUNTER, "intake_retry_total",
                               "Upstream events answered RETRY after a transient failure", NULL);
    const ProtobufCEnumDescriptor *reasons = &vigil__v1__reason_code__descriptor;
    for (unsigned i = 0; i < reasons->n_values; i++) {
        int value = reasons->values[i].value;
        if (value <= 0 || value > VIGIL__V1__REASON_CODE__REASON_INTERNAL)
            continue;
        char labels[METRIC_LABELS_MAX];
        snprintf(labels, sizeof labels, "reason=\"%s\"", reasons->values[i].name);
        out->rejected[value] = metrics_add(m, METRIC_COUNTER, "intake_rejected_total",
                                           "Upstream events answered REJECTED, by reason", labels);
    }
    out->case_reads = metrics_add(m, METRIC_COUNTER, "intake_case_reads_total",
                                  "Audited reads of a case's personal data (case show)", NULL);
    out->integrity_failures =
        metrics_add(m, METRIC_COUNTER, "intake_integrity_failures_total",
                    "Stored personal fields that failed their integrity check when read", NULL);
    out->rotated_rows = metrics_add(m, METRIC_COUNTER, "intake_rotated_rows_total",
                                    "Rows re-encrypted under the current vault key", NULL);
    out->rotation_pending = metrics_add(m, METRIC_GAUGE, "intake_rotation_active",
                                        "1 while a rotate-key re-encryption is in progress", NULL);
}

intake_t *intake_new_detached(sqlite3 *db, const vault_t *vault, const intake_config_t *config,
                              const char *hash_key_file, char *err, size_t errlen)
{
    intake_t *intake = calloc(1, sizeof *intake);
    if (!intake) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    intake->config = config;
    if (intake_sources_copy(&config->sources, &intake->sources)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    intake->db = db;
    intake->vault = vault;
    intake->rotation.timer_id = -1;
    if (!vault) {
        snprintf(err, errlen, "intake holds personal data and needs vault.key_file");
        goto fail;
    }
    if (cases_check_schema(err, errlen))
        goto fail;
    char pragma[PRAGMA_MAX];
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%lld",
             (long long)config->cache_mb * KIB_PER_MIB);
    if (store_exec(db, pragma, err, errlen))
        goto fail;
    for (int i = 0; i < STMT_COUNT; i++) {
        if (sqlite3_prepare_v3(db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &intake->stmts[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "preparing statement %d: %s", i, sqlite3_errmsg(db));
            goto fail;
        }
    }
    intake->hashkey = hashkey_open(hash_key_file, 1, err, errlen);
    if (!intake->hashkey)
        goto fail;
    if (s_load_case_id_key(db, &intake->case_id_key, err, errlen))
        goto fail;
    sqlite3_stmt *last = intake_stmt(intake, STMT_CASE_LAST_ROW);
    if (sqlite3_step(last) != SQLITE_ROW) {
        snprintf(err, errlen, "reading the last case row: %s", sqlite3_errmsg(db));
        sqlite3_reset(last);
        goto fail;
    }
    atomic_init(&intake->next_case_row, sqlite3_column_int64(last, 0) + 1);
    sqlite3_reset(last);
    return intake;
fail:
    intake_destroy(&intake);
    return NULL;
}

intake_t *intake_new(service_t *service, char *err, size_t errlen)
{
    const intake_config_t *config = service_config(service);
    char path[PATH_MAX_LEN];
    const char *key_file = config->hash_key_file;
    if (!key_file || !*key_file) {
        snprintf(path, sizeof path, "%s/%s", service_state_dir(service), HASHKEY_DEFAULT_NAME);
        key_file = path;
    }
    intake_t *intake = intake_new_detached(service_db(service), service_vault(service), config,
                                           key_file, err, errlen);
    if (!intake)
        return NULL;
    intake->service = service;
    s_register_metrics(intake);
    return intake;
}

void intake_destroy(intake_t **intake_p)
{
    if (!intake_p || !*intake_p)
        return;
    intake_t *intake = *intake_p;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(intake->stmts[i]);
    hashkey_destroy(&intake->hashkey);
    sodium_memzero(&intake->case_id_key, sizeof intake->case_id_key);
    intake_sources_clear(&intake->sources);
    free(intake);
    *intake_p = NULL;
}

intake_t *intake_from(void *ctx)
{
    return service_context(ctx);
}

int64_t intake_new_case(intake_t *intake, int64_t now_ms, char out[CASE_ID_SIZE])
{
    int64_t floor = now_ms > INTAKE_ROW_EPOCH_MS
                        ? (now_ms - INTAKE_ROW_EPOCH_MS) * INTAKE_ROWS_PER_MS
                        : 1; /* a clock before 2026 gives no floor */
    int64_t next = atomic_load(&intake->next_case_row), row;
    do
        row = next > floor ? next : floor;
    while (!atomic_compare_exchange_weak(&intake->next_case_row, &next, row + 1));
    return case_id_from_row(&intake->case_id_key, row, out) == 0 ? row : 0;
}

sqlite3_stmt *intake_stmt(intake_t *intake, intake_stmt_t which)
{
    sqlite3_stmt *stmt = intake->stmts[which];
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}
