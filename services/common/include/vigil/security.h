/* security.h: CURVE on every TCP endpoint, with an allowlist.
 *
 * A service has one keypair in zcert format (a secret cert file written by
 * `vigilctl keygen`, with its public half beside it) and one allowlist
 * directory of zcert public cert files: the clients it admits. security_new()
 * starts czmq's zauth actor (the ZAP handler) on that directory. Server
 * sockets get CURVE server mode, the ZAP domain "vigil" and
 * ZMQ_ZAP_ENFORCE_DOMAIN; a client whose public key is not in the directory
 * never completes the handshake and never reaches a handler.
 *
 * Each allowlisted cert names its holder in its metadata ("name = ..."; the
 * file name without extension if absent). security_peer_name() maps a
 * received frame back to that name, so handlers know which source sent it.
 *
 * Insecure mode exists only when the config says `insecure = true`; every
 * start then logs a loud warning, and TCP endpoints run without CURVE.
 */
#ifndef VIGIL_SECURITY_H
#define VIGIL_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
/* Declared only under ZMQ_BUILD_DRAFT_API in libzmq 4.3's zmq.h, but the
 * option is implemented and stable in the library since 4.3.0. */
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define SECURITY_ZAP_DOMAIN "vigil"

typedef struct {
    bool insecure;         /* run TCP endpoints without CURVE (warns on every start) */
    const char *cert_path; /* this service's secret zcert file, e.g. keys/intake.key_secret */
    const char *allow_dir; /* directory of admitted clients' public zcert files */
} security_config_t;

typedef struct security_t security_t;

/* Loads the service's certificate and starts the ZAP handler. With
 * `insecure`, logs a warning and loads nothing. Returns NULL with a message
 * naming the file in `err` if a key file is missing, unreadable, malformed or
 * too open (secret file readable by group or others). */
security_t *security_new(const security_config_t *config, char *err, size_t errlen);

/* Stops the ZAP handler and frees; sets *security_p to NULL. Cannot fail. */
void security_destroy(security_t **security_p);

/* True if running insecure. Cannot fail. */
bool security_insecure(const security_t *security);

/* Makes `socket` a CURVE server admitting only allowlisted keys. Call before
 * bind. For non-TCP endpoints (ipc://, inproc://) this does nothing.
 * Returns 0, or -1 with a message in `err`. */
int security_apply_server(security_t *security, zsock_t *socket, const char *endpoint, char *err,
                          size_t errlen);

/* Makes `socket` a CURVE client of the server whose public cert file (or
 * 40-character Z85 public key) is `server_key`. Call before connect. For
 * non-TCP endpoints this does nothing. Returns 0, or -1 with a message. */
int security_apply_client(security_t *security, zsock_t *socket, const char *endpoint,
                          const char *server_key, char *err, size_t errlen);

/* The allowlisted name of the client that sent `frame` (received on a CURVE
 * server socket), or "local" for non-CURVE transports, or NULL if the key is
 * unknown. The string is borrowed from the security object. */
const char *security_peer_name(security_t *security, zframe_t *frame);

/* A number that changes whenever the allowlist's key -> name table is
 * rebuilt (a cert added, changed or removed), checking the directory at
 * most about once a second; 0 when there is no allowlist. Whoever caches
 * what security_peer_name() said must forget it when this changes, or a
 * revoked key would keep its name for as long as its connection lives.
 * Cannot fail. */
uint64_t security_allowlist_generation(security_t *security);

/* Re-reads the allowlist directory now (SIGHUP / vigilctl reload): new cert
 * files are admitted and named, removed ones refused, even if the directory
 * changed within the same second. Without a reload this happens on its own
 * within about a second. Returns 0, or -1 with a message in `err`. */
int security_reload(security_t *security, char *err, size_t errlen);

/* Writes a new keypair as zcert files `path` (public) and `path`_secret,
 * with metadata name = `name`. Returns 0, or -1 with a message. */
int security_keygen(const char *path, const char *name, char *err, size_t errlen);

#endif
