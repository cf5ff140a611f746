/* link_prune.c: retention pruning of the receiver's dedup records.
 *
 * link_inbox keeps one record per handled message_id so that a
 * retransmission gets the recorded answer; without pruning it grows by one
 * record per message forever. The link server calls link_prune_step() on a
 * loop timer. Each step is small and bounded so it never stalls the loop:
 * in its own BEGIN IMMEDIATE ... COMMIT it looks at the next `max_rows`
 * records after a remembered cursor (primary key order, a range scan),
 * deletes those of them handled before the cutoff, and moves the cursor to
 * the last record looked at; after the last record of the table it starts
 * again from the beginning. Ids are not assumed to be ordered by time
 * (senders' clocks differ): every record's handled_at_ms is checked.
 *
 * link_attempts keeps the failure count of a message a handler asked to
 * retry, until it succeeds or is parked; a message its sender gave up on
 * would keep its row forever. Once per pass, when the cursor comes back to
 * the start, the step also deletes the attempts last counted before the
 * same cutoff (the table is small: only failing messages are in it).
 *
 * Dedup stays exact: pruning only removes records, so the largest recorded
 * id (the inbox's watermark, read afresh at every batch's BEGIN) can only go
 * down, and a pruned id is simply new again; that is the retention rule
 * (see link.h). It must never run inside another transaction (a batch, a
 * replay, a service's own work): it checks sqlite3_get_autocommit() and
 * skips its turn. It never logs a record's content.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_internal.h"

struct link_prune_t {
    sqlite3 *db;
    uint8_t *cursor; /* last message_id scanned; NULL (length 0) = start of the table */
    size_t cursor_len;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *range;    /* how many records follow the cursor (capped), and the last one */
    sqlite3_stmt *remove;   /* the expired ones in (cursor, last] */
    sqlite3_stmt *attempts; /* attempts last counted before the cutoff */
};

/* Every statement the pruner keeps prepared, declared once. The start of
 * the table is bound as the empty blob: every id the link records is a
 * non-empty blob (the server rejects other ids before its transaction), and
 * sqlite sorts the empty blob before all of them. */
static const struct {
    size_t offset;
    const char *sql;
} s_statements[] = {
    {offsetof(link_prune_t, begin), "BEGIN IMMEDIATE"},
    {offsetof(link_prune_t, commit), "COMMIT"},
    {offsetof(link_prune_t, rollback), "ROLLBACK"},
    {offsetof(link_prune_t, range),
     "SELECT count(*), max(message_id) FROM (SELECT message_id FROM link_inbox "
     "WHERE message_id > ?1 ORDER BY message_id LIMIT ?2)"},
    {offsetof(link_prune_t, remove),
     "DELETE FROM link_inbox WHERE message_id > ?1 AND message_id <= ?2 AND handled_at_ms < ?3"},
    {offsetof(link_prune_t, attempts), "DELETE FROM link_attempts WHERE last_failed_at_ms < ?1"},
};
#define PRUNE_STATEMENTS (sizeof s_statements / sizeof s_statements[0])

static sqlite3_stmt **s_slot(link_prune_t *self, size_t i)
{
    return (sqlite3_stmt **)((char *)self + s_statements[i].offset);
}

link_prune_t *link_prune_new(sqlite3 *db, char *err, size_t errlen)
{
    link_prune_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "link inbox pruning: out of memory");
        return NULL;
    }
    self->db = db;
    for (size_t i = 0; i < PRUNE_STATEMENTS; i++) {
        if (link_prepare(db, s_statements[i].sql, s_slot(self, i), err, errlen)) {
            link_prune_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void link_prune_destroy(link_prune_t **prune_p)
{
    link_prune_t *self = *prune_p;
    if (!self)
        return;
    for (size_t i = 0; i < PRUNE_STATEMENTS; i++)
        sqlite3_finalize(*s_slot(self, i));
    free(self->cursor);
    free(self);
    *prune_p = NULL;
}

static void s_bind_cursor(link_prune_t *self, sqlite3_stmt *stmt, int index)
{
    if (self->cursor_len)
        sqlite3_bind_blob(stmt, index, self->cursor, (int)self->cursor_len, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(stmt, index, 0);
}

/* Moves the cursor to `last` and takes it (NULL: back to the start). */
static void s_move_cursor(link_prune_t *self, uint8_t **last_p, size_t last_len)
{
    free(self->cursor);
    self->cursor = *last_p;
    self->cursor_len = *last_p ? last_len : 0;
    *last_p = NULL;
}

int link_prune_step(link_prune_t *self, int64_t cutoff_ms, int max_rows, int64_t *deleted)
{
    *deleted = 0;
    if (!sqlite3_get_autocommit(self->db))
        return 0; /* someone's transaction is open: never join it */
    if (link_step_done(self->begin))
        return -1;

    sqlite3_stmt *range = self->range;
    s_bind_cursor(self, range, 1);
    sqlite3_bind_int(range, 2, max_rows);
    int step = sqlite3_step(range);
    int64_t scanned = step == SQLITE_ROW ? sqlite3_column_int64(range, 0) : 0;
    size_t last_len = step == SQLITE_ROW ? (size_t)sqlite3_column_bytes(range, 1) : 0;
    uint8_t *last = NULL;
    if (scanned > 0 && last_len > 0) {
        last = malloc(last_len);
        if (last)
            memcpy(last, sqlite3_column_blob(range, 1), last_len);
    }
    sqlite3_reset(range);
    if (step != SQLITE_ROW || (scanned > 0 && !last))
        goto fail;

    if (scanned > 0) {
        sqlite3_stmt *remove = self->remove;
        s_bind_cursor(self, remove, 1);
        sqlite3_bind_blob(remove, 2, last, (int)last_len, SQLITE_STATIC);
        sqlite3_bind_int64(remove, 3, cutoff_ms);
        if (link_step_done(remove))
            goto fail;
        *deleted = sqlite3_changes(self->db);
    }
    if (scanned < max_rows) { /* the end of the inbox: once per pass */
        sqlite3_bind_int64(self->attempts, 1, cutoff_ms);
        if (link_step_done(self->attempts))
            goto fail;
    }
    if (link_step_done(self->commit))
        goto fail;
    /* A short range was the end of the table: start again next time. */
    if (scanned < max_rows) {
        free(last);
        last = NULL;
    }
    s_move_cursor(self, &last, last_len);
    return 0;

fail:
    free(last);
    *deleted = 0;
    if (!sqlite3_get_autocommit(self->db))
        link_step_done(self->rollback);
    return -1;
}
