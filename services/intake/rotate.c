/* rotate.c: batch re-encryption for `vigilctl rotate-key` (see rotate.h).
 *
 * Two kinds of sealed data are covered, each listed in a table:
 *   intake's own tables (sealed_tables.h): every sealed column of a row is
 *     re-sealed with the same aad and the row's key_id updated, together;
 *   the link's outbox and dead letters: the envelope blob (aad = the
 *     message id), found by the key id in the blob header.
 * A batch is one BEGIN IMMEDIATE ... COMMIT; a SIGKILL loses at most the
 * batch in progress, which the next run redoes. A value that fails to open
 * is left as it is, counted and logged by row (never by value), and the
 * cursor moves past it.
 */
#include "rotate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "fieldseal.h"
#include "sealed_tables.h"
#include "vigil/log.h"

#define ROTATE_MARKER_KEY "rotation.target_key_id"
#define ROTATE_SQL_MAX    1024
#define ROTATE_FACT_MAX   160
#define ROTATE_NUMBER_MAX 32

/* A link table whose envelopes may be sealed. */
typedef struct {
    const char *table;
} link_table_t;

static const link_table_t s_link_tables[] = {
    {"link_outbox"},
    {"link_deadletters"},
};

#define INTAKE_TABLE_COUNT ((size_t)SEALED_TABLE_COUNT)
#define LINK_TABLE_COUNT   (sizeof s_link_tables / sizeof s_link_tables[0])
#define ALL_TABLE_COUNT    (INTAKE_TABLE_COUNT + LINK_TABLE_COUNT)

/* WHERE clause selecting rows not under key ?1 (for link tables, ?1 is the
 * key id as 4 hex digits, matched against the blob header). */
static void s_pending_where(size_t table, char *out, size_t size)
{
    if (table < INTAKE_TABLE_COUNT)
        snprintf(out, size, "key_id != ?1");
    else
        snprintf(out, size, "sealed = 1 AND hex(substr(envelope, 2, 2)) != ?1");
}

static const char *s_table_name(size_t table)
{
    return table < INTAKE_TABLE_COUNT ? sealed_tables[table].table
                                      : s_link_tables[table - INTAKE_TABLE_COUNT].table;
}

static void s_bind_key(sqlite3_stmt *stmt, size_t table, uint16_t key_id)
{
    if (table < INTAKE_TABLE_COUNT) {
        sqlite3_bind_int(stmt, 1, key_id);
    } else {
        char hex[8];
        snprintf(hex, sizeof hex, "%04X", key_id);
        sqlite3_bind_text(stmt, 1, hex, -1, SQLITE_TRANSIENT);
    }
}

/* Rows of every table not yet under the current key, or -1. */
static long long s_pending(intake_t *intake)
{
    long long total = 0;
    uint16_t current = vault_current_key_id(intake->vault);
    for (size_t t = 0; t < ALL_TABLE_COUNT; t++) {
        char where[ROTATE_SQL_MAX / 2], sql[ROTATE_SQL_MAX];
        s_pending_where(t, where, sizeof where);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", s_table_name(t), where);
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2(intake->db, sql, -1, &stmt, NULL) != SQLITE_OK)
            return -1;
        s_bind_key(stmt, t, current);
        if (sqlite3_step(stmt) != SQLITE_ROW) {
            sqlite3_finalize(stmt);
            return -1;
        }
        total += sqlite3_column_int64(stmt, 0);
        sqlite3_finalize(stmt);
    }
    return total;
}

static int s_set_marker(intake_t *intake, int target)
{
    sqlite3_stmt *stmt = NULL;
    const char *sql = target > 0 ? "INSERT INTO intake_meta (key, value) VALUES (?1, ?2) "
                                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                                 : "DELETE FROM intake_meta WHERE key = ?1";
    if (sqlite3_prepare_v2(intake->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(stmt, 1, ROTATE_MARKER_KEY, -1, SQLITE_STATIC);
    if (target > 0)
        sqlite3_bind_int(stmt, 2, target);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The marker's target key id, 0 if there is none, -1 on error. */
static int s_marker(intake_t *intake)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(intake->db, "SELECT value FROM intake_meta WHERE key = ?1", -1, &stmt,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(stmt, 1, ROTATE_MARKER_KEY, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    int target = rc == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : rc == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(stmt);
    return target;
}

static void s_fact(intake_t *intake, const char *state)
{
    if (!intake->service)
        return; /* a detached context (tests) has no status facts */
    char text[ROTATE_FACT_MAX];
    snprintf(text, sizeof text, "%s (target key id %u, %u rows re-encrypted)", state,
             vault_current_key_id(intake->vault), intake->rotation.rows_done);
    service_set_fact(intake->service, "rotation", text);
}

/* --- one row ------------------------------------------------------------- */

/* Re-seals the sealed columns of the current row of `select` (id, anchor,
 * columns...) and updates it. Returns 0, 1 if a value failed to open (row
 * left as it is), or -1 on a sqlite error. */
static int s_rotate_intake_row(intake_t *intake, const sealed_table_t *table, sqlite3_stmt *select)
{
    int64_t id = sqlite3_column_int64(select, 0);
    const char *anchor = (const char *)sqlite3_column_text(select, 1);
    char sql[ROTATE_SQL_MAX];
    int len = snprintf(sql, sizeof sql, "UPDATE %s SET key_id = ?1", table->table);
    for (size_t c = 0; c < table->count; c++)
        len += snprintf(sql + len, sizeof sql - (size_t)len, ", %s = ?%zu",
                        table->columns[c].column, c + 2);
    snprintf(sql + len, sizeof sql - (size_t)len, " WHERE id = ?%zu", table->count + 2);
    sqlite3_stmt *update = NULL;
    if (sqlite3_prepare_v2(intake->db, sql, -1, &update, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int(update, 1, vault_current_key_id(intake->vault));
    int rc = 0;
    for (size_t c = 0; c < table->count && rc == 0; c++) {
        int column = (int)c + 2;
        if (sqlite3_column_type(select, column) == SQLITE_NULL) {
            sqlite3_bind_null(update, column);
            continue;
        }
        unsigned char *sealed = NULL;
        size_t sealed_len = 0;
        if (fieldseal_reseal(intake->vault, anchor ? anchor : "", table->columns[c].column,
                             sqlite3_column_blob(select, column),
                             (size_t)sqlite3_column_bytes(select, column), &sealed, &sealed_len)) {
            log_error("rotate-key: stored value failed its integrity check; row left under "
                      "its old key",
                      "table=%s row=%lld field=%s", table->table, (long long)id,
                      table->columns[c].field);
            metric_inc(intake->metrics.integrity_failures);
            rc = 1;
            break;
        }
        sqlite3_bind_blob(update, column, sealed, (int)sealed_len, free);
    }
    if (rc == 0) {
        sqlite3_bind_int64(update, (int)table->count + 2, id);
        rc = sqlite3_step(update) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(update);
    return rc;
}

static int s_rotate_link_row(intake_t *intake, const char *table, sqlite3_stmt *select)
{
    int64_t id = sqlite3_column_int64(select, 0);
    const void *message_id = sqlite3_column_blob(select, 1);
    size_t id_len = (size_t)sqlite3_column_bytes(select, 1);
    const uint8_t *blob = sqlite3_column_blob(select, 2);
    size_t len = (size_t)sqlite3_column_bytes(select, 2);
    if (len < VAULT_OVERHEAD)
        return 1;
    uint8_t *plain = malloc(len);
    uint8_t *sealed = malloc(len);
    long n =
        plain && sealed ? vault_open_blob(intake->vault, blob, len, message_id, id_len, plain) : -1;
    int rc = 1;
    if (n >= 0) {
        size_t sealed_len = vault_seal(intake->vault, plain, (size_t)n, message_id, id_len, sealed);
        char sql[ROTATE_SQL_MAX];
        snprintf(sql, sizeof sql, "UPDATE %s SET envelope = ?1 WHERE id = ?2", table);
        sqlite3_stmt *update = NULL;
        rc = -1;
        if (sqlite3_prepare_v2(intake->db, sql, -1, &update, NULL) == SQLITE_OK) {
            sqlite3_bind_blob(update, 1, sealed, (int)sealed_len, SQLITE_STATIC);
            sqlite3_bind_int64(update, 2, id);
            rc = sqlite3_step(update) == SQLITE_DONE ? 0 : -1;
        }
        sqlite3_finalize(update);
    } else {
        log_error("rotate-key: sealed envelope failed its integrity check; left under its old "
                  "key",
                  "table=%s row=%lld", table, (long long)id);
    }
    if (plain)
        sodium_memzero(plain, len);
    free(plain);
    free(sealed);
    return rc;
}

/* --- one batch ------------------------------------------------------------ */

/* Re-encrypts up to rotate_batch rows of the current table. Returns the
 * number of rows looked at (0: this table is done), or -1. */
static int s_batch_rows(intake_t *intake, size_t t)
{
    char where[ROTATE_SQL_MAX / 2], sql[ROTATE_SQL_MAX];
    s_pending_where(t, where, sizeof where);
    if (t < INTAKE_TABLE_COUNT) {
        const sealed_table_t *table = &sealed_tables[t];
        int len = snprintf(sql, sizeof sql, "SELECT id, %s", table->anchor_sql);
        for (size_t c = 0; c < table->count; c++)
            len += snprintf(sql + len, sizeof sql - (size_t)len, ", %s", table->columns[c].column);
        snprintf(sql + len, sizeof sql - (size_t)len,
                 " FROM %s WHERE id > ?2 AND %s ORDER BY id LIMIT ?3", table->table, where);
    } else {
        snprintf(sql, sizeof sql,
                 "SELECT id, message_id, envelope FROM %s WHERE id > ?2 AND %s ORDER BY id "
                 "LIMIT ?3",
                 s_table_name(t), where);
    }
    sqlite3_stmt *select = NULL;
    if (sqlite3_prepare_v2(intake->db, sql, -1, &select, NULL) != SQLITE_OK)
        return -1;
    s_bind_key(select, t, vault_current_key_id(intake->vault));
    sqlite3_bind_int64(select, 2, intake->rotation.after_id);
    sqlite3_bind_int64(select, 3, intake->config->rotate_batch);
    int rows = 0, rc;
    while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
        int done = t < INTAKE_TABLE_COUNT ? s_rotate_intake_row(intake, &sealed_tables[t], select)
                                          : s_rotate_link_row(intake, s_table_name(t), select);
        if (done < 0) {
            sqlite3_finalize(select);
            return -1;
        }
        intake->rotation.after_id = sqlite3_column_int64(select, 0);
        if (done == 0) {
            intake->rotation.rows_done++;
            metric_inc(intake->metrics.rotated_rows);
        }
        rows++;
    }
    sqlite3_finalize(select);
    return rc == SQLITE_DONE ? rows : -1;
}

static void s_schedule(intake_t *intake);

static void s_finish(intake_t *intake)
{
    if (store_begin(intake->db) == 0 && s_set_marker(intake, 0) == 0 &&
        store_commit(intake->db) == 0) {
        log_info("rotate-key finished", "key_id=%u rows=%u", vault_current_key_id(intake->vault),
                 intake->rotation.rows_done);
        s_fact(intake, "finished");
    } else {
        store_rollback(intake->db);
        log_error("rotate-key: cannot clear the rotation marker; it resumes at next start", NULL);
    }
    intake->rotation.active = false;
    metric_set(intake->metrics.rotation_pending, 0);
}

static int s_on_batch(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    intake_t *intake = arg;
    intake->rotation.timer_id = -1;
    if (!intake->rotation.active)
        return 0;
    if (store_begin(intake->db)) {
        log_warn("rotate-key: store busy; retrying", NULL);
        s_schedule(intake);
        return 0;
    }
    size_t t = (size_t)intake->rotation.table;
    int rows = s_batch_rows(intake, t);
    if (rows < 0 || store_commit(intake->db)) {
        store_rollback(intake->db);
        log_error("rotate-key: batch failed; it is retried", "table=%s error=%s", s_table_name(t),
                  sqlite3_errmsg(intake->db));
        s_schedule(intake);
        return 0;
    }
    if (rows < intake->config->rotate_batch) {
        intake->rotation.table++;
        intake->rotation.after_id = 0;
    }
    if ((size_t)intake->rotation.table >= ALL_TABLE_COUNT) {
        s_finish(intake);
        return 0;
    }
    s_fact(intake, "running");
    s_schedule(intake);
    return 0;
}

static void s_schedule(intake_t *intake)
{
    size_t delay =
        intake->config->rotate_pause_ms > 0 ? (size_t)intake->config->rotate_pause_ms : 1;
    intake->rotation.timer_id =
        zloop_timer(service_loop(intake->service), delay, 1, s_on_batch, intake);
}

static int s_begin(intake_t *intake, char *err, size_t errlen)
{
    if (store_begin(intake->db) || s_set_marker(intake, vault_current_key_id(intake->vault)) ||
        store_commit(intake->db)) {
        store_rollback(intake->db);
        snprintf(err, errlen, "cannot record the rotation: %s", sqlite3_errmsg(intake->db));
        return -1;
    }
    intake->rotation.active = true;
    intake->rotation.table = 0;
    intake->rotation.after_id = 0;
    intake->rotation.rows_done = 0;
    metric_set(intake->metrics.rotation_pending, 1);
    s_fact(intake, "running");
    log_info("rotate-key started", "key_id=%u", vault_current_key_id(intake->vault));
    s_schedule(intake);
    return 0;
}

static int s_add_fact(Vigil__V1__AdminReply *reply, const char *key, const char *value)
{
    Vigil__V1__Fact **facts = realloc(reply->facts, (reply->n_facts + 1) * sizeof *facts);
    if (!facts)
        return -1;
    reply->facts = facts;
    Vigil__V1__Fact *fact = malloc(sizeof *fact);
    if (!fact)
        return -1;
    vigil__v1__fact__init(fact);
    fact->key = strdup(key);
    fact->value = strdup(value);
    reply->facts[reply->n_facts++] = fact;
    return fact->key && fact->value ? 0 : -1;
}

int rotate_request(intake_t *intake, Vigil__V1__AdminReply *reply, char *err, size_t errlen)
{
    long long pending = s_pending(intake);
    if (pending < 0) {
        snprintf(err, errlen, "cannot count rows to re-encrypt: %s", sqlite3_errmsg(intake->db));
        return -1;
    }
    const char *state = "nothing to do";
    if (intake->rotation.active)
        state = "running";
    else if (pending > 0) {
        if (s_begin(intake, err, errlen))
            return -1;
        state = "started";
    }
    char key[ROTATE_NUMBER_MAX], rows[ROTATE_NUMBER_MAX], done[ROTATE_NUMBER_MAX];
    snprintf(key, sizeof key, "%u", vault_current_key_id(intake->vault));
    snprintf(rows, sizeof rows, "%lld", pending);
    snprintf(done, sizeof done, "%u", intake->rotation.rows_done);
    reply->affected = (uint32_t)pending;
    if (s_add_fact(reply, "rotation", state) || s_add_fact(reply, "target_key_id", key) ||
        s_add_fact(reply, "pending_rows", rows) || s_add_fact(reply, "rows_done", done)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int rotate_resume(intake_t *intake, char *err, size_t errlen)
{
    int target = s_marker(intake);
    if (target < 0) {
        snprintf(err, errlen, "cannot read the rotation marker: %s", sqlite3_errmsg(intake->db));
        return -1;
    }
    if (target == 0)
        return 0;
    log_info("rotate-key: resuming an unfinished rotation", "marker_key_id=%d key_id=%u", target,
             vault_current_key_id(intake->vault));
    return s_begin(intake, err, errlen);
}

void rotate_stop(intake_t *intake)
{
    if (intake->rotation.timer_id >= 0)
        zloop_timer_end(service_loop(intake->service), intake->rotation.timer_id);
    intake->rotation.timer_id = -1;
    intake->rotation.active = false;
}
