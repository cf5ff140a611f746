/* service_config.h: the settings every vigil service shares (private to the
 * runtime). service_config.c declares them once as a config table; service.c
 * reads them. Paths left empty in the config are derived from state_dir and
 * the service name by service_config_derive().
 */
#ifndef VIGIL_SERVICE_CONFIG_H
#define VIGIL_SERVICE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "vigil/config.h"

/* One outbound peer ("peers" list entry). */
typedef struct {
    char *name;
    char *endpoint;
    char *server_key;
    int64_t window;
    int64_t ack_timeout_ms;
    int64_t backoff_max_ms;
} service_peer_config_t;

typedef struct {
    service_peer_config_t *items;
    size_t count;
} service_peer_list_t;

typedef struct {
    char *state_dir;
    char *log_level;
    char *store_path;
    bool insecure;
    char *cert;
    char *allow_dir;
    char *vault_key_file;
    char *link_listen;
    int64_t link_batch_max;
    int64_t link_max_frame;
    int64_t link_max_attempts;
    int64_t link_heartbeat_ms;
    bool link_coalesce_acks;
    bool link_reject_unknown_fields;
    int64_t link_inbox_retention_days;
    service_peer_list_t peers;
    char *admin_endpoint;
    char *metrics_listen;
    int64_t drain_timeout_ms;
} service_config_t;

/* The table of common keys, offsets into service_config_t. */
extern const config_key_t service_config_keys[];

/* Fills empty paths from state_dir and `name`: store.path, security.cert,
 * security.allow_dir, vault.key_file (only if `needs_vault`),
 * admin.endpoint and each peer's server_key. Returns 0, or -1 on
 * allocation failure. */
int service_config_derive(service_config_t *config, const char *name, bool needs_vault);

#endif
