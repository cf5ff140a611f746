/* upstream_store.c: rows for custody events, subscriptions and delivery
 * confirmations (see upstream_store.h). Must never store a phone, email or
 * PIN in clear, and never log one.
 */
#include "upstream_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldseal.h"
#include "sealed_tables.h"

enum {
    ANCHOR_MAX = 512,
    SUB_PARAM_FIRST_SEALED = 11,
};

static int s_step(intake_t *intake, sqlite3_stmt *stmt, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s insert: %s", what, sqlite3_errmsg(intake->db));
        return -1;
    }
    return 0;
}

/* "<prefix><source>/<event_id>" into `out`. Returns 0, or -1 if too long. */
static int s_anchor(char out[ANCHOR_MAX], const char *prefix, const char *source,
                    const char *event_id)
{
    int n = snprintf(out, ANCHOR_MAX, "%s%s/%s", prefix, source, event_id);
    return n < 0 || n >= ANCHOR_MAX ? -1 : 0;
}

int upstream_store_custody(intake_t *intake, const char *source, const Vigil__V1__CustodyEvent *e,
                           int64_t now_ms, char *err, size_t errlen)
{
    size_t size = vigil__v1__custody_event__get_packed_size(e);
    uint8_t *packed = malloc(size ? size : 1);
    if (!packed) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t len = vigil__v1__custody_event__pack(e, packed);
    sqlite3_stmt *stmt = intake_stmt(intake, STMT_CUSTODY_INSERT);
    sqlite3_bind_text(stmt, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, e->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 3, (int)e->type);
    sqlite3_bind_text(stmt, 4, e->offender_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, e->agency, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, e->facility_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 7, e->occurred_at_ms);
    sqlite3_bind_int64(stmt, 8, now_ms);
    sqlite3_bind_blob(stmt, 9, packed, (int)len, SQLITE_STATIC);
    int rc = s_step(intake, stmt, "custody event", err, errlen);
    free(packed);
    return rc;
}

int upstream_store_subscription(intake_t *intake, const char *source,
                                const Vigil__V1__SubscriptionRequest *s, int64_t now_ms, char *err,
                                size_t errlen)
{
    char anchor[ANCHOR_MAX];
    if (s_anchor(anchor, SUBSCRIPTION_ANCHOR_PREFIX, source, s->event_id)) {
        snprintf(err, errlen, "subscription anchor too long");
        return -1;
    }
    char pin_hash[HASHKEY_HEX_SIZE];
    hashkey_pin(intake->hashkey, anchor, s->pin, pin_hash);
    sqlite3_stmt *stmt = intake_stmt(intake, STMT_SUBSCRIPTION_INSERT);
    sqlite3_bind_text(stmt, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, s->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, s->offender_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, s->agency, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 5, (int)s->channel);
    sqlite3_bind_text(stmt, 6, s->language, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 7, s->case_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 8, s->requested_at_ms);
    sqlite3_bind_int64(stmt, 9, now_ms);
    sqlite3_bind_int(stmt, 10, vault_current_key_id(intake->vault));
    const char *values[SUB_COL_COUNT] = {[SUB_COL_PHONE] = s->phone, [SUB_COL_EMAIL] = s->email};
    for (int col = 0; col < SUB_COL_COUNT; col++) {
        if (fieldseal_bind(stmt, SUB_PARAM_FIRST_SEALED + col, intake->vault, anchor,
                           subscription_sealed_columns[col].column, values[col])) {
            snprintf(err, errlen, "cannot seal subscription %s",
                     subscription_sealed_columns[col].field);
            return -1;
        }
    }
    sqlite3_bind_text(stmt, SUB_PARAM_FIRST_SEALED + SUB_COL_COUNT, pin_hash, -1, SQLITE_TRANSIENT);
    return s_step(intake, stmt, "subscription", err, errlen);
}

int upstream_store_confirmation(intake_t *intake, const char *source,
                                const Vigil__V1__DeliveryConfirmation *d, int64_t now_ms, char *err,
                                size_t errlen)
{
    char anchor[ANCHOR_MAX];
    if (s_anchor(anchor, CONFIRMATION_ANCHOR_PREFIX, source, d->event_id)) {
        snprintf(err, errlen, "confirmation anchor too long");
        return -1;
    }
    char pin_hash[HASHKEY_HEX_SIZE];
    hashkey_pin(intake->hashkey, anchor, d->pin, pin_hash);
    sqlite3_stmt *stmt = intake_stmt(intake, STMT_CONFIRMATION_INSERT);
    sqlite3_bind_text(stmt, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, d->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, d->subscription_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, d->custody_event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, d->confirmed_at_ms);
    sqlite3_bind_int64(stmt, 6, now_ms);
    sqlite3_bind_text(stmt, 7, pin_hash, -1, SQLITE_TRANSIENT);
    return s_step(intake, stmt, "confirmation", err, errlen);
}
