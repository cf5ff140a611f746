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
        "offender_names, victim_present, victim_language, victim_voicemail) VALUES (?1, ?2, ?3, "
        "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
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
    [STMT_CASE_EXISTS] = "SELECT 1 FROM intake_cases WHERE case_id = ?1",
};

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
    free(intake);
    *intake_p = NULL;
}

intake_t *intake_from(void *ctx)
{
    return service_context(ctx);
}

sqlite3_stmt *intake_stmt(intake_t *intake, intake_stmt_t which)
{
    sqlite3_stmt *stmt = intake->stmts[which];
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}
