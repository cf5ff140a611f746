/* intake.h: the state vigil-intake keeps while it runs.
 *
 * One intake_t per process, created in the service's start hook and reached
 * from every handler through service_context(). It holds the prepared
 * statements, the hash key, the metrics and the key-rotation cursor; the
 * database, vault and loop stay the service runtime's (which also runs
 * the store's WAL checkpoints on a thread of their own, vigil/checkpointer.h).
 * Everything here belongs to the one loop thread, except what the link's
 * preparer thread reads while the loop waits for it (handlers.c): the
 * config, vault, hash key and case-id key, which do not change then, and
 * the next case row, which both threads draw from atomically.
 */
#ifndef INTAKE_INTAKE_H
#define INTAKE_INTAKE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "case_id.h"
#include "hashkey.h"
#include "intake_config.h"
#include "vigil/service.h"

#define INTAKE_ROW_EPOCH_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define INTAKE_ROWS_PER_MS  128                    /* 2^7: 2^41 ms of 2^48 rows */

/* Prepared statements, one per query intake runs on the hot path. */
typedef enum {
    STMT_EVENT_CLAIM,         /* insert (source, event_id) into the ledger, or nothing */
    STMT_EVENT_LOOKUP,        /* the ledger row of (source, event_id) */
    STMT_CASE_INSERT,         /* a new case */
    STMT_CUSTODY_INSERT,      /* a custody event */
    STMT_SUBSCRIPTION_INSERT, /* a subscription request */
    STMT_CONFIRMATION_INSERT, /* a delivery confirmation */
    STMT_CASE_EXISTS,         /* whether a case id was ever accepted */
    STMT_CASE_LAST_ROW,       /* the largest case row id, or 0 */
    STMT_COUNT,
} intake_stmt_t;

/* Outcome counters, by reason for rejections. */
typedef struct {
    metric_t *accepted;
    metric_t *duplicates;
    metric_t *rejected[VIGIL__V1__REASON_CODE__REASON_INTERNAL + 1];
    metric_t *retried;
    metric_t *case_reads;
    metric_t *integrity_failures;
    metric_t *rotated_rows;
    metric_t *rotation_pending;
} intake_metrics_t;

/* A key rotation in progress: which table it is in and the last row done. */
typedef struct {
    bool active;
    int table;          /* index into rotate.c's table of sealed tables */
    int64_t after_id;   /* last row id re-encrypted in that table */
    int timer_id;       /* the loop timer of the next batch, or -1 */
    uint32_t rows_done; /* rows re-encrypted since this rotation started */
} intake_rotation_t;

typedef struct {
    service_t *service;
    const intake_config_t *config; /* as read at start */
    intake_sources_t sources;      /* intake.sources as it runs: a copy, replaced on reload */
    sqlite3 *db;
    const vault_t *vault;
    hashkey_t *hashkey;
    case_id_key_t case_id_key;     /* the store's, from intake_meta (case_id.h) */
    _Atomic int64_t next_case_row; /* the row id the next new case takes */
    sqlite3_stmt *stmts[STMT_COUNT];
    intake_metrics_t metrics;
    intake_rotation_t rotation;
} intake_t;

/* Builds the context for `service` (store, vault and config must be open):
 * prepares statements, opens the hash key, registers metrics. Returns NULL
 * with a message in `err`. */
intake_t *intake_new(service_t *service, char *err, size_t errlen);

/* The same without a service (for tests and tools): `db` must carry
 * intake's migrations; `hash_key_file` is created if absent. No metrics
 * are registered. Borrowed arguments must outlive the context. Returns
 * NULL with a message in `err`. */
intake_t *intake_new_detached(sqlite3 *db, const vault_t *vault, const intake_config_t *config,
                              const char *hash_key_file, char *err, size_t errlen);

/* Finalizes statements, wipes the hash key and frees; sets *intake_p to
 * NULL. Cannot fail. */
void intake_destroy(intake_t **intake_p);

/* The intake_t of the service whose handler got `ctx` (the service_t the
 * runtime passes to link and admin handlers). Cannot fail. */
intake_t *intake_from(void *ctx);

/* Reserves the row of a new case opened at `now_ms` and writes its id
 * (case_id.h) into `out`. Rows only grow: each is above the last one
 * handed out (or stored, at start-up) and at least the clock's floor,
 * INTAKE_ROWS_PER_MS per millisecond since INTAKE_ROW_EPOCH_MS. The floor
 * is what keeps a store restored from a backup from handing out again a
 * case id that was given out after the backup was taken (and that triage
 * and notification may still hold). A case that is not stored in the end
 * (a duplicate, a rolled-back batch) leaves its row unused, which nothing
 * can see. Safe on any thread. Returns the row, or 0 once the rows run
 * out (CASE_ID_ROW_MAX: in 2095). */
int64_t intake_new_case(intake_t *intake, int64_t now_ms, char out[CASE_ID_SIZE]);

/* The prepared statement `which`, reset and unbound. Cannot fail. */
sqlite3_stmt *intake_stmt(intake_t *intake, intake_stmt_t which);

#endif
