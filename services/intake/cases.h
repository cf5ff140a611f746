/* cases.h: intake's case records: store a new contact, read one back,
 * list them.
 *
 * A case row keeps the coarse, non-personal facts in clear columns, the
 * rest of the contact with personal fields cleared in `details`, and each
 * personal field sealed in its own column (see sealed_tables.h). Reading a
 * case back opens every sealed column; one that fails its integrity check
 * fails the read, naming the field and key id, never showing data.
 */
#ifndef INTAKE_CASES_H
#define INTAKE_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "intake.h"
#include "sealed_tables.h"
#include "vigil/v1/admin.pb-c.h"
#include "vigil/vault.h"
#include "vigil/v1/intake.pb-c.h"

enum {
    CASES_NOT_FOUND = 1, /* no such case */
    CASES_INTEGRITY = 2, /* a sealed field failed to open */
};

/* Checks that every [pii] field an IntakeContact can hold is one that
 * cases_prepare() seals and leaves out of the clear `details` column. Run once
 * at start-up; intake must not store contacts when it fails. Returns 0, or
 * -1 naming the unsealed field in `err`. */
int cases_check_schema(char *err, size_t errlen);

/* The query that finds case ?1 and selects `columns` from its row. Bind
 * with cases_bind_id(): ?2 is the row the id deciphers to (0 for none),
 * and an id drawn at random before schema step 3 is found through the
 * partial index intake_cases_random_id instead. Neither branch scans. */
#define CASES_BY_ID_SQL(columns)                                                                   \
    "SELECT " columns                                                                              \
    " FROM intake_cases WHERE id = ?2 AND case_id = ?1 UNION ALL SELECT " columns                  \
    " FROM intake_cases WHERE random_id = 1 AND case_id = ?1"

/* Binds case id `case_id` (borrowed) to a CASES_BY_ID_SQL statement.
 * Cannot fail. */
void cases_bind_id(intake_t *intake, sqlite3_stmt *stmt, const char *case_id);

/* A case row's bytes, built ahead of its transaction by cases_prepare(). */
typedef struct {
    const uint8_t *details; /* the contact without personal fields, packed */
    size_t details_len;
    const uint8_t *sealed[CASE_COL_COUNT]; /* NULL: the column stays NULL */
    size_t sealed_len[CASE_COL_COUNT];
    uint16_t key_id; /* vault_current_key_id at prepare time */
} cases_prepared_t;

/* Packs `contact` (validated) without its personal fields and seals each
 * personal field for case `case_id` with `vault`, into `out`, with memory
 * from `allocator` (the caller frees or releases it after
 * cases_store_prepared(); it holds no plaintext personal data).
 * Thread-safe: no store access; uses only the vault. Temporarily blanks and
 * restores fields of `contact`, so the caller must own it (no other thread
 * may read it meanwhile); it is left as it was. Returns 0, or -1 with a
 * message (never personal data) in `err`. */
int cases_prepare(const vault_t *vault, Vigil__V1__IntakeContact *contact, const char *case_id,
                  ProtobufCAllocator *allocator, cases_prepared_t *out, char *err, size_t errlen);

/* Inserts the row prepared for `contact` as case `case_id` (the same
 * contact and case id given to cases_prepare()) in row `row` (the one
 * intake_new_case() gave with the id) from `source`, inside the caller's
 * transaction. `prepared` is borrowed for the call. Returns 0, or -1 with a
 * message in `err`. */
int cases_store_prepared(intake_t *intake, const char *source,
                         const Vigil__V1__IntakeContact *contact, int64_t row, const char *case_id,
                         int64_t now_ms, const cases_prepared_t *prepared, char *err,
                         size_t errlen);

/* Whether intake accepted a case `case_id`: 1 if it did, 0 if not, or -1
 * with sqlite's message in `err`. */
int cases_exists(intake_t *intake, const char *case_id, char *err, size_t errlen);

/* Reads case `case_id` with its personal fields decrypted. On success
 * returns 0 and sets *summary and *contact (caller frees both with
 * protobuf_c_message_free_unpacked(m, NULL)). Returns CASES_NOT_FOUND;
 * CASES_INTEGRITY with a message naming the field and key id in `err`; or
 * -1 with sqlite's message. */
int cases_load(intake_t *intake, const char *case_id, Vigil__V1__CaseSummary **summary,
               Vigil__V1__IntakeContact **contact, char *err, size_t errlen);

/* Appends up to `limit` case summaries, newest first, to reply->cases.
 * Returns 0, or -1 with a message. */
int cases_list(intake_t *intake, uint32_t limit, Vigil__V1__AdminReply *reply, char *err,
               size_t errlen);

#endif
