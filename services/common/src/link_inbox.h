/* link_inbox.h: the receiver's per-message transaction work (private).
 *
 * link_server.c owns the socket and the batch; this module owns what
 * happens to one message inside the batch transaction: the dedup lookup,
 * the handler under a savepoint, the durable attempt count, dead-lettering
 * after max_attempts, and the inbox record. It also replays dead letters.
 * It never touches a socket and never decides when to commit a batch.
 */
#ifndef VIGIL_LINK_INBOX_H
#define VIGIL_LINK_INBOX_H

#include "link_internal.h"

typedef struct link_inbox_t link_inbox_t;

/* What link_inbox_handle() did with a message. */
typedef enum {
    LINK_INBOX_HANDLED = 0,   /* the handler ran (or the message was dead-lettered) */
    LINK_INBOX_DUPLICATE = 1, /* already recorded; the outcome is the recorded one */
} link_inbox_kind_t;

/* Creates the inbox on `db` with its statements prepared. `routes`, `ctx`
 * and `vault` are borrowed. Returns NULL with a message in `err`. */
link_inbox_t *link_inbox_new(sqlite3 *db, const vault_t *vault, const link_route_t *routes,
                             void *ctx, int max_attempts, char *err, size_t errlen);

/* Finalizes the statements and frees; sets *inbox_p to NULL. Cannot fail. */
void link_inbox_destroy(link_inbox_t **inbox_p);

/* The route for `type` (its handler and prepare), or NULL. Cannot fail. */
const link_route_t *link_inbox_route(const link_inbox_t *inbox, Vigil__V1__MessageType type);

/* The `ctx` the inbox passes to handlers (and the server to prepares).
 * Cannot fail. */
void *link_inbox_ctx(const link_inbox_t *inbox);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK of a batch. COMMIT first writes the
 * inbox records the batch kept in memory; when that fails it returns -1
 * without committing (roll back). Return 0 or -1 (sqlite's message stays on
 * the connection). */
int link_inbox_begin(link_inbox_t *inbox);
int link_inbox_commit(link_inbox_t *inbox);
void link_inbox_rollback(link_inbox_t *inbox);

/* Handles one decoded, routable message inside the open batch transaction.
 * `payload` is its payload already decoded and checked (NULL: the handler
 * decodes it); the handler finds it with link_payload(). `raw` is the
 * envelope as received (kept, sealed, if it is dead-lettered).
 * Fills `outcome` with the answer for the sender and *kind. Returns 0, or
 * -1 when sqlite failed in a way that spoils the batch (roll it back).
 * `peer` is borrowed until the batch commits or rolls back (the record may
 * be written then). */
int link_inbox_handle(link_inbox_t *inbox, const Vigil__V1__Envelope *envelope,
                      ProtobufCMessage *payload, void *prepared, const uint8_t *raw, size_t raw_len,
                      const char *peer, link_result_t *outcome, link_inbox_kind_t *kind);

/* See link_server_replay() in vigil/link.h. */
int link_inbox_replay(link_inbox_t *inbox, int64_t id, uint32_t *replayed, char *err,
                      size_t errlen);

#endif
