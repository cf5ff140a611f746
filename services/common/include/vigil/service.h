/* service.h: the skeleton every vigil service runs in.
 *
 * A service is declared, not written from scratch: a service_def_t names its
 * config keys, store migrations, inbound handlers, admin commands and
 * lifecycle hooks, and service_main() does the rest:
 *
 *   --version, --check-config, --config FILE;
 *   the common config (state dir, log level, store, security, vault, link,
 *   peers, admin, metrics, drain) plus the service's own keys;
 *   the sqlite store with the service's migrations;
 *   the CURVE keys and ZAP allowlist; the vault if a key file is set;
 *   the link server (if routes are given and link.listen is set) and one
 *   link client per configured peer; the admin endpoint; /metrics;
 *   one zloop on one thread; SIGTERM/SIGINT drain; SIGHUP reload.
 *
 * Exit codes (documented in docs/operations.md):
 *   0  clean exit, including after a SIGTERM drain (unsent messages stay
 *      queued in the outbox; nothing acknowledged is lost)
 *   64 usage error          (EX_USAGE)
 *   69 an endpoint cannot be bound, the metrics port is taken, or another
 *      instance already runs on the same state directory (EX_UNAVAILABLE)
 *   70 internal error       (EX_SOFTWARE)
 *   73 store cannot be opened, is corrupt or too new (EX_CANTCREAT)
 *   77 key or permission problem (EX_NOPERM)
 *   78 configuration error  (EX_CONFIG)
 */
#ifndef VIGIL_SERVICE_H
#define VIGIL_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <czmq.h>
#include <sqlite3.h>

#include "vigil/admin.h"
#include "vigil/config.h"
#include "vigil/link.h"
#include "vigil/log.h"
#include "vigil/metrics.h"
#include "vigil/security.h"
#include "vigil/store.h"
#include "vigil/vault.h"

#define VIGIL_VERSION "0.1.0"

enum {
    SERVICE_EXIT_OK = 0,
    SERVICE_EXIT_USAGE = 64,
    SERVICE_EXIT_UNAVAILABLE = 69,
    SERVICE_EXIT_SOFTWARE = 70,
    SERVICE_EXIT_STORE = 73,
    SERVICE_EXIT_NOPERM = 77,
    SERVICE_EXIT_CONFIG = 78,
};

typedef struct service_t service_t;

typedef struct {
    const char *name;            /* "intake"; also the default file names */
    const char *embedded_config; /* libconfig text: this service's defaults (ports, peers) */
    bool needs_vault;            /* refuse to start without vault.key_file (holds personal data) */
    const config_key_t *config_keys;     /* the service's own keys, or NULL */
    size_t config_size;                  /* sizeof the struct those keys point into */
    const store_migration_t *migrations; /* must include link_schema_v1 if it uses the link */
    size_t migration_count;
    const link_route_t *routes;            /* inbound handlers, or NULL for no link server */
    const admin_command_t *admin_commands; /* extra admin commands, or NULL */
    /* Checks what the key tables cannot: rules across keys of the service's
     * own config (`config` is the struct config_keys point into). Runs for
     * --check-config and before anything opens. Returns 0, or -1 with a
     * message naming the key. NULL = nothing to check. */
    int (*check)(const void *config, char *err, size_t errlen);
    /* Called after everything is open, before the loop. Returns 0, or a
     * SERVICE_EXIT_* code to stop. */
    int (*start)(service_t *service);
    /* Called on SIGHUP and ADMIN_COMMAND_RELOAD after the common reload
     * (log level, vault keys, allowlists). `fresh` is the service's own
     * config as just re-read from the file and passed by `check`: the
     * struct config_keys point into, valid during this call only (copy
     * what is kept). Returns 0, or -1 (the old settings stay) with what
     * was refused in `err`, which the runtime logs and `vigilctl reload`
     * prints. */
    int (*reload)(service_t *service, const void *fresh, char *err, size_t errlen);
    /* Called after the loop ends, before anything is closed; also when
     * start failed, so it must cope with a partly started service (the
     * context may be NULL). */
    void (*stop)(service_t *service);
} service_def_t;

/* Runs the service; returns the process exit code. */
int service_main(const service_def_t *def, int argc, char **argv);

/* Accessors, valid between start and stop. None can fail. */
sqlite3 *service_db(service_t *service);
zloop_t *service_loop(service_t *service);
metrics_t *service_metrics(service_t *service);
security_t *service_security(service_t *service);
const vault_t *service_vault(service_t *service); /* NULL if no vault.key_file */
const void *service_config(service_t *service);   /* the service's own config struct */
const char *service_state_dir(service_t *service);
const char *service_name(service_t *service);
void *service_context(service_t *service);
void service_set_context(service_t *service, void *context);

/* The link client for `peer`, or NULL if no such peer is configured. */
link_client_t *service_peer(service_t *service, const char *peer);

/* Kicks every peer's relay after the caller committed outbox rows. */
void service_kick_peers(service_t *service);

/* Adds a "key: value" fact to `vigilctl status` (copied). Cannot fail. */
void service_set_fact(service_t *service, const char *key, const char *value);

/* Marks the service ready (/readyz) or not. Cannot fail. */
void service_set_ready(service_t *service, bool ready);

/* Asks the loop to stop and drain, as SIGTERM does. Cannot fail. */
void service_request_stop(service_t *service);

#endif
