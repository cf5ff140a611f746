/* checkpointer.h: copies a service's WAL back into its database file on a
 * thread of its own.
 *
 * sqlite's automatic checkpoint runs inside the COMMIT that crosses the WAL
 * threshold, on the service's loop thread: under load about a tenth of
 * intake's loop and 7% of triage's, and a stall of several milliseconds in
 * the ack of every message that waits behind it. The checkpointer turns the
 * automatic checkpoint off for the loop's connection and runs PASSIVE
 * checkpoints (never blocking the writer) on a second connection of its
 * own, in its own thread, once the WAL holds `wal_pages` pages. The service
 * runtime (service.c) starts one for every service's store. Durability is
 * unchanged: a message is durable when its COMMIT is in the WAL
 * (synchronous=FULL); a checkpoint only copies committed pages and syncs
 * the database file.
 */
#ifndef VIGIL_CHECKPOINTER_H
#define VIGIL_CHECKPOINTER_H

#include <stddef.h>
#include <sqlite3.h>

typedef struct checkpointer_t checkpointer_t;

/* Starts checkpointing `db` (a WAL-mode file store, used by the calling
 * thread only) from a new thread once the WAL reaches `wal_pages` pages
 * (0 or less: sqlite's own automatic-checkpoint threshold, 1,000).
 * `db` must outlive the checkpointer. Returns the checkpointer; NULL with
 * `err` empty when `db` has no file (":memory:", left to sqlite's own
 * checkpoints); or NULL with a message in `err`, `db` then left as it was. */
checkpointer_t *checkpointer_new(sqlite3 *db, int wal_pages, char *err, size_t errlen);

/* Stops and joins the thread, closes its connection and gives `db` its
 * automatic checkpoint back; sets *self_p to NULL. NULL is a no-op. Cannot
 * fail. */
void checkpointer_destroy(checkpointer_t **self_p);

#endif
