/* admin.h: the admin endpoint each service offers to vigilctl.
 *
 * A ROUTER socket (ipc:// in the state directory by default; TCP endpoints
 * get CURVE like any other) that answers AdminRequest envelopes with
 * AdminReply envelopes. Commands are dispatched through a table; every
 * service gets STATUS, HEALTH, DEADLETTERS_LIST, DEADLETTERS_REPLAY and
 * RELOAD from the service runtime and adds its own.
 *
 * A handler fills the reply with heap-allocated sub-messages and strings
 * (malloc/strdup) so that protobuf_c_message_free_unpacked() can free it.
 */
#ifndef VIGIL_ADMIN_H
#define VIGIL_ADMIN_H

#include <stddef.h>
#include <czmq.h>

#include "vigil/v1/admin.pb-c.h"
#include "vigil/security.h"

/* Handles one command. `peer` is the requester's allowlisted name ("local"
 * on ipc). Returns 0 (reply->ok is set true), or -1 after setting
 * reply->error (reply->ok is set false). */
typedef int (*admin_handler_fn)(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                                Vigil__V1__AdminReply *reply);

/* One row of the dispatch table; ended by command 0. */
typedef struct {
    Vigil__V1__AdminCommand command;
    admin_handler_fn handler;
} admin_command_t;

typedef struct admin_server_t admin_server_t;

/* Creates the endpoint. Tables are borrowed; later tables override earlier
 * rows for the same command. Returns NULL with a message in `err`. */
admin_server_t *admin_server_new(const char *endpoint, security_t *security, size_t max_frame,
                                 char *err, size_t errlen);

/* Adds a dispatch table and the context its handlers get. At most 4 tables.
 * Returns 0 or -1. */
int admin_server_add(admin_server_t *admin, const admin_command_t *commands, void *ctx);

/* Binds and starts answering on `loop`. Returns 0, or -1 with a message. */
int admin_server_attach(admin_server_t *admin, zloop_t *loop, char *err, size_t errlen);

/* The endpoint as bound: for "tcp://127.0.0.1:*" the port libzmq chose;
 * before attach, the configured endpoint. Borrowed. Returns NULL only for a
 * NULL server. */
const char *admin_server_endpoint(const admin_server_t *admin);

/* Closes and frees; removes an ipc socket file. Sets *admin_p to NULL.
 * Cannot fail. */
void admin_server_destroy(admin_server_t **admin_p);

/* Client side, for vigilctl and tests: sends `request` to `endpoint` and
 * waits up to `timeout_ms` for the reply, which the caller frees with
 * vigil__v1__admin_reply__free_unpacked(reply, NULL). For a TCP endpoint,
 * `client_cert` (secret zcert) and `server_key` are required. Returns NULL
 * with a message in `err` on timeout or a bad reply. */
Vigil__V1__AdminReply *admin_call(const char *endpoint, const char *client_cert,
                                  const char *server_key, const Vigil__V1__AdminRequest *request,
                                  int timeout_ms, char *err, size_t errlen);

#endif
