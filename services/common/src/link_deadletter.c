/* link_deadletter.c: parked messages, in both directions.
 *
 * A received message whose handler failed max_attempts times (direction
 * 'in'), or an outbox message its peer refused (direction 'out'), is kept in
 * link_deadletters with a reason an operator can read, sealed with the vault
 * when the service has one. This file inserts them, lists them for the
 * admin endpoint, and moves outbound ones back to the outbox on request.
 * Replaying inbound ones needs the handlers, so that lives with the inbox
 * (link_inbox.c).
 *
 * It must never put a payload byte into a reason, a listing or a log line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_internal.h"
#include "vigil/util.h"

/* Rows listed when the request says limit 0. */
#define DEADLETTERS_DEFAULT_LIMIT 100
/* Prefix of the `source` shown for outbound dead letters: "out:<peer>". */
#define DEADLETTERS_OUT_PREFIX "out:"

static const char s_insert_sql[] = LINK_CACHED_SQL(
    "INSERT INTO link_deadletters (direction, peer, message_id, type, reason, attempts, "
    "first_failed_at_ms, last_failed_at_ms, sealed, envelope) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");

static const char s_list_sql[] = LINK_CACHED_SQL(
    "SELECT id, direction, peer, message_id, type, reason, attempts, first_failed_at_ms, "
    "last_failed_at_ms FROM link_deadletters ORDER BY id LIMIT ?1");

static const char s_requeue_sql[] =
    LINK_CACHED_SQL("SELECT peer, message_id, type, sealed, envelope FROM link_deadletters "
                    "WHERE direction = 'out' AND (?1 = 0 OR id = ?1) ORDER BY id");

static const char s_requeue_delete_sql[] =
    LINK_CACHED_SQL("DELETE FROM link_deadletters WHERE direction = 'out' AND (?1 = 0 OR id = ?1)");

int link_deadletter_insert(sqlite3 *db, const link_deadletter_t *letter, char *err, size_t errlen)
{
    sqlite3_stmt *insert = link_stmt(db, s_insert_sql, err, errlen);
    if (!insert)
        return -1;
    sqlite3_bind_text(insert, 1, letter->direction, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 2, letter->peer ? letter->peer : "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(insert, 3, letter->message_id, (int)letter->message_id_len, SQLITE_STATIC);
    sqlite3_bind_int(insert, 4, letter->type);
    sqlite3_bind_text(insert, 5, letter->reason ? letter->reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(insert, 6, letter->attempts);
    sqlite3_bind_int64(insert, 7, letter->first_failed_at_ms);
    sqlite3_bind_int64(insert, 8, letter->last_failed_at_ms);
    sqlite3_bind_int(insert, 9, letter->sealed ? 1 : 0);
    sqlite3_bind_blob(insert, 10, letter->envelope, (int)letter->envelope_len, SQLITE_STATIC);
    int rc = sqlite3_step(insert) == SQLITE_DONE ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "dead letter insert: sqlite: %s", sqlite3_errmsg(db));
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert);
    return rc;
}

uint8_t *link_seal(const vault_t *vault, const uint8_t *message_id, size_t id_len,
                   const uint8_t *data, size_t len, size_t *out_len)
{
    uint8_t *out = malloc(len + (vault ? VAULT_OVERHEAD : 0) + 1);
    if (!out)
        return NULL;
    if (vault) {
        *out_len = vault_seal(vault, data, len, message_id, id_len, out);
    } else {
        memcpy(out, data, len);
        *out_len = len;
    }
    return out;
}

uint8_t *link_unseal(const vault_t *vault, const uint8_t *message_id, size_t id_len,
                     const uint8_t *stored, size_t len, bool sealed, size_t *out_len)
{
    if (!sealed) {
        uint8_t *copy = malloc(len + 1);
        if (copy) {
            memcpy(copy, stored, len);
            *out_len = len;
        }
        return copy;
    }
    if (!vault || len < VAULT_OVERHEAD)
        return NULL;
    uint8_t *plain = malloc(len - VAULT_OVERHEAD + 1);
    if (!plain)
        return NULL;
    long opened = vault_open_blob(vault, stored, len, message_id, id_len, plain);
    if (opened < 0) {
        free(plain);
        return NULL;
    }
    *out_len = (size_t)opened;
    return plain;
}

static char *s_column_strdup(sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);
    return strdup(text ? (const char *)text : "");
}

/* Builds one DeadLetter from the current row of the list query. Returns NULL
 * on allocation failure. */
static Vigil__V1__DeadLetter *s_letter_from_row(sqlite3_stmt *stmt)
{
    Vigil__V1__DeadLetter *letter = malloc(sizeof *letter);
    if (!letter)
        return NULL;
    vigil__v1__dead_letter__init(letter);
    letter->id = sqlite3_column_int64(stmt, 0);
    const char *direction = (const char *)sqlite3_column_text(stmt, 1);
    const char *peer = (const char *)sqlite3_column_text(stmt, 2);
    if (direction && strcmp(direction, LINK_DIRECTION_OUT) == 0) {
        size_t size = sizeof DEADLETTERS_OUT_PREFIX + (peer ? strlen(peer) : 0);
        letter->source = malloc(size);
        if (letter->source)
            snprintf(letter->source, size, "%s%s", DEADLETTERS_OUT_PREFIX, peer ? peer : "");
    } else {
        letter->source = strdup(peer ? peer : "");
    }
    int id_len = sqlite3_column_bytes(stmt, 3);
    letter->message_id.data = malloc((size_t)id_len + 1);
    if (letter->message_id.data) {
        memcpy(letter->message_id.data, sqlite3_column_blob(stmt, 3), (size_t)id_len);
        letter->message_id.len = (size_t)id_len;
    }
    letter->type = (Vigil__V1__MessageType)sqlite3_column_int(stmt, 4);
    letter->reason = s_column_strdup(stmt, 5);
    letter->attempts = (uint32_t)sqlite3_column_int(stmt, 6);
    letter->first_failed_at_ms = sqlite3_column_int64(stmt, 7);
    letter->last_failed_at_ms = sqlite3_column_int64(stmt, 8);
    if (!letter->source || !letter->reason || !letter->message_id.data) {
        vigil__v1__dead_letter__free_unpacked(letter, NULL);
        return NULL;
    }
    return letter;
}

int link_deadletters_list(sqlite3 *db, uint32_t limit, Vigil__V1__AdminReply *reply, char *err,
                          size_t errlen)
{
    sqlite3_stmt *list = link_stmt(db, s_list_sql, err, errlen);
    if (!list)
        return -1;
    sqlite3_bind_int64(list, 1, limit ? limit : DEADLETTERS_DEFAULT_LIMIT);
    int rc = 0, step;
    while ((step = sqlite3_step(list)) == SQLITE_ROW) {
        Vigil__V1__DeadLetter **grown =
            realloc(reply->dead_letters, (reply->n_dead_letters + 1) * sizeof *grown);
        if (grown)
            reply->dead_letters = grown;
        Vigil__V1__DeadLetter *letter = grown ? s_letter_from_row(list) : NULL;
        if (!letter) {
            snprintf(err, errlen, "dead letters: out of memory");
            rc = -1;
            break;
        }
        reply->dead_letters[reply->n_dead_letters++] = letter;
    }
    if (rc == 0 && step != SQLITE_DONE) {
        snprintf(err, errlen, "dead letters: sqlite: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    sqlite3_reset(list);
    return rc;
}

int link_deadletters_requeue(sqlite3 *db, int64_t id, uint32_t *requeued, char *err, size_t errlen)
{
    *requeued = 0;
    sqlite3_stmt *select = link_stmt(db, s_requeue_sql, err, errlen);
    sqlite3_stmt *remove = select ? link_stmt(db, s_requeue_delete_sql, err, errlen) : NULL;
    if (!remove)
        return -1;
    bool own_transaction = sqlite3_get_autocommit(db) != 0;
    if (own_transaction && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "requeue: sqlite: %s", sqlite3_errmsg(db));
        return -1;
    }
    /* Row by row, so each gets an outbox id above every existing one. */
    sqlite3_bind_int64(select, 1, id);
    int64_t now_us = link_now_us();
    uint32_t moved = 0;
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(select)) == SQLITE_ROW) {
        link_outbox_row_t row = {
            .peer = (const char *)sqlite3_column_text(select, 0),
            .message_id = sqlite3_column_blob(select, 1),
            .message_id_len = (size_t)sqlite3_column_bytes(select, 1),
            .type = sqlite3_column_int(select, 2),
            .enqueued_us = now_us,
            .sealed = sqlite3_column_int(select, 3) != 0,
            .envelope = sqlite3_column_blob(select, 4),
            .envelope_len = (size_t)sqlite3_column_bytes(select, 4),
        };
        rc = link_outbox_insert(db, &row, err, errlen);
        moved += rc == 0;
    }
    if (rc == 0 && step != SQLITE_DONE) {
        snprintf(err, errlen, "requeue: sqlite: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    sqlite3_reset(select);
    sqlite3_bind_int64(remove, 1, id);
    if (rc == 0 && link_step_done(remove)) {
        snprintf(err, errlen, "requeue: sqlite: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    if (own_transaction) {
        if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "requeue: commit: %s", sqlite3_errmsg(db));
            rc = -1;
        }
        if (rc)
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc == 0)
        *requeued = moved;
    return rc;
}
