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
#include "vigil/v1/admin.pb-c.h"
#include "vigil/v1/intake.pb-c.h"

enum {
    CASES_NOT_FOUND = 1, /* no such case */
    CASES_INTEGRITY = 2, /* a sealed field failed to open */
};

/* Checks that every [pii] field an IntakeContact can hold is one that
 * cases_store() seals and leaves out of the clear `details` column. Run once
 * at start-up; intake must not store contacts when it fails. Returns 0, or
 * -1 naming the unsealed field in `err`. */
int cases_check_schema(char *err, size_t errlen);

/* Inserts `contact` (validated) from `source` as case `case_id`, inside the
 * caller's transaction. The contact is left as it was. Returns 0, or -1
 * with a message (never personal data) in `err`. */
int cases_store(intake_t *intake, const char *source, Vigil__V1__IntakeContact *contact,
                const char *case_id, int64_t now_ms, char *err, size_t errlen);

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
