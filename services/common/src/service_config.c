/* service_config.c: the common settings of every vigil service, declared
 * once as a table (key, type, default, range, doc), and the rules that
 * derive file paths from the state directory.
 *
 * Operators see this table through `--check-config` and in
 * docs/operations.md. It must never hold a default that weakens security:
 * insecure is false, endpoints are loopback.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service_config.h"

#define KEY_UNBOUNDED .min = 1, .max = 0 /* min > max: no range check */

/* Peer defaults, used when a peers entry leaves a key out. */
#define PEER_DEFAULT_WINDOW         2048
#define PEER_DEFAULT_ACK_TIMEOUT_MS 2000
#define PEER_DEFAULT_BACKOFF_MAX_MS 30000
#define PEER_WINDOW_MAX             65536
#define PEER_TIMEOUT_MAX_MS         3600000

static int s_parse_peers(const config_setting_t *setting, void *field, char *err, size_t errlen);
static void s_free_peers(void *field);

#define OFF(member) offsetof(service_config_t, member)

const config_key_t service_config_keys[] = {
    {.key = "state_dir",
     .type = CONFIG_STRING,
     .default_value = "./state",
     .offset = OFF(state_dir),
     KEY_UNBOUNDED,
     .doc = "directory for the store, keys, admin socket and run files"},
    {.key = "log_level",
     .type = CONFIG_STRING,
     .default_value = "info",
     .offset = OFF(log_level),
     KEY_UNBOUNDED,
     .doc = "lowest level logged: debug, info, warn, error"},
    {.key = "store.path",
     .type = CONFIG_STRING,
     .default_value = "",
     .offset = OFF(store_path),
     KEY_UNBOUNDED,
     .doc = "sqlite file; empty means <state_dir>/<service>.db"},
    {.key = "security.insecure",
     .type = CONFIG_BOOL,
     .default_value = "false",
     .offset = OFF(insecure),
     KEY_UNBOUNDED,
     .doc = "run TCP endpoints without CURVE (development only; warns on every start)"},
    {.key = "security.cert",
     .type = CONFIG_STRING,
     .default_value = "",
     .offset = OFF(cert),
     KEY_UNBOUNDED,
     .doc = "this service's secret zcert file; empty means <state_dir>/keys/<service>.key_secret"},
    {.key = "security.allow_dir",
     .type = CONFIG_STRING,
     .default_value = "",
     .offset = OFF(allow_dir),
     KEY_UNBOUNDED,
     .doc = "directory of admitted clients' public certs; empty means "
            "<state_dir>/keys/allow/<service>"},
    {.key = "vault.key_file",
     .type = CONFIG_STRING,
     .default_value = "",
     .offset = OFF(vault_key_file),
     KEY_UNBOUNDED,
     .doc = "key file for personal data at rest; empty means <state_dir>/keys/<service>.vault "
            "where the service holds personal data, else no vault"},
    {.key = "link.listen",
     .type = CONFIG_STRING,
     .default_value = "",
     .offset = OFF(link_listen),
     KEY_UNBOUNDED,
     .doc = "endpoint the service receives messages on; empty disables it"},
    {.key = "link.batch_max",
     .type = CONFIG_INT,
     .default_value = "4096",
     .offset = OFF(link_batch_max),
     .min = 1,
     .max = 65536,
     .doc = "most messages committed in one group commit"},
    {.key = "link.max_frame",
     .type = CONFIG_INT,
     .default_value = "262144",
     .offset = OFF(link_max_frame),
     .min = 1024,
     .max = 67108864,
     .doc = "largest accepted frame in bytes; larger ones are rejected TOO_LARGE"},
    {.key = "link.max_attempts",
     .type = CONFIG_INT,
     .default_value = "5",
     .offset = OFF(link_max_attempts),
     .min = 1,
     .max = 1000,
     .doc = "handler failures before a message is dead-lettered"},
    {.key = "link.heartbeat_ms",
     .type = CONFIG_INT,
     .default_value = "2000",
     .offset = OFF(link_heartbeat_ms),
     .min = 100,
     .max = 600000,
     .doc = "ZMTP heartbeat interval; a peer silent for 3 intervals is dropped"},
    {.key = "link.coalesce_acks",
     .type = CONFIG_BOOL,
     .default_value = "true",
     .offset = OFF(link_coalesce_acks),
     KEY_UNBOUNDED,
     .doc = "one Ack per peer per batch (true) or one Ack per request (false)"},
    {.key = "link.reject_unknown_fields",
     .type = CONFIG_BOOL,
     .default_value = "true",
     .offset = OFF(link_reject_unknown_fields),
     KEY_UNBOUNDED,
     .doc = "reject payloads carrying fields this schema does not know"},
    {.key = "link.inbox_retention_days",
     .type = CONFIG_INT,
     .default_value = "30",
     .offset = OFF(link_inbox_retention_days),
     .min = 0,
     .max = 3650,
     .doc = "days a handled message_id is kept for dedup, 0 = forever; a retransmission arriving "
            "later is handled again, so this must exceed the longest time a sender may keep "
            "retrying (its longest outage)"},
    {.key = "peers",
     .type = CONFIG_CUSTOM,
     .default_value = "",
     .offset = OFF(peers),
     KEY_UNBOUNDED,
     .doc = "outbound peers: ( { name; endpoint; server_key; window; ack_timeout_ms; "
            "backoff_max_ms; } )",
     .parse = s_parse_peers,
     .free = s_free_peers},
    {.key = "admin.endpoint",
     .type = CONFIG_STRING,
     .default_value = "",
     .offset = OFF(admin_endpoint),
     KEY_UNBOUNDED,
     .doc = "admin endpoint for vigilctl; empty means ipc://<state_dir>/<service>.admin"},
    {.key = "metrics.listen",
     .type = CONFIG_STRING,
     .default_value = "",
     .offset = OFF(metrics_listen),
     KEY_UNBOUNDED,
     .doc = "host:port for /metrics, /healthz, /readyz; empty disables HTTP"},
    {.key = "drain.timeout_ms",
     .type = CONFIG_INT,
     .default_value = "10000",
     .offset = OFF(drain_timeout_ms),
     .min = 0,
     .max = 600000,
     .doc = "on SIGTERM, how long to wait for in-flight messages to be acknowledged"},
    {.key = NULL},
};

/* The keys a peers entry may hold; anything else is an error. */
static const char *const s_peer_keys[] = {
    "name", "endpoint", "server_key", "window", "ack_timeout_ms", "backoff_max_ms", NULL,
};

static int s_peer_error(const config_setting_t *setting, char *err, size_t errlen, const char *why,
                        const char *key)
{
    snprintf(err, errlen, "%s:%d: peers entry: %s '%s'", config_setting_file(setting),
             config_setting_source_line(setting), why, key);
    return -1;
}

static int s_peer_int(const config_setting_t *entry, const char *key, int64_t fallback, int64_t min,
                      int64_t max, int64_t *out, char *err, size_t errlen)
{
    const config_setting_t *member = config_setting_get_member(entry, key);
    if (!member) {
        *out = fallback;
        return 0;
    }
    int type = config_setting_type(member);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return s_peer_error(member, err, errlen, "expected an integer for", key);
    long long value = config_setting_get_int64(member);
    if (value < min || value > max)
        return s_peer_error(member, err, errlen, "value out of range for", key);
    *out = value;
    return 0;
}

static int s_peer_string(const config_setting_t *entry, const char *key, bool required, char **out,
                         char *err, size_t errlen)
{
    const config_setting_t *member = config_setting_get_member(entry, key);
    if (!member) {
        if (required)
            return s_peer_error(entry, err, errlen, "missing required key", key);
        *out = strdup("");
        return *out ? 0 : -1;
    }
    const char *text = config_setting_get_string(member);
    if (!text)
        return s_peer_error(member, err, errlen, "expected a string for", key);
    *out = strdup(text);
    return *out ? 0 : -1;
}

static int s_parse_peers(const config_setting_t *setting, void *field, char *err, size_t errlen)
{
    service_peer_list_t *list = field;
    s_free_peers(list);
    if (!setting)
        return 0;
    if (!config_setting_is_list(setting))
        return s_peer_error(setting, err, errlen, "expected a list ( {...}, ... ) for", "peers");
    int count = config_setting_length(setting);
    list->items = calloc(count ? (size_t)count : 1, sizeof *list->items);
    if (!list->items)
        return -1;
    for (int i = 0; i < count; i++) {
        const config_setting_t *entry = config_setting_get_elem(setting, (unsigned)i);
        service_peer_config_t *peer = &list->items[i];
        list->count++;
        if (!config_setting_is_group(entry))
            return s_peer_error(entry, err, errlen, "expected a group { ... } in", "peers");
        for (int m = 0; m < config_setting_length(entry); m++) {
            const char *name = config_setting_name(config_setting_get_elem(entry, (unsigned)m));
            bool known = false;
            for (const char *const *k = s_peer_keys; *k; k++)
                known = known || strcmp(*k, name) == 0;
            if (!known)
                return s_peer_error(config_setting_get_elem(entry, (unsigned)m), err, errlen,
                                    "unknown key", name);
        }
        if (s_peer_string(entry, "name", true, &peer->name, err, errlen) ||
            s_peer_string(entry, "endpoint", true, &peer->endpoint, err, errlen) ||
            s_peer_string(entry, "server_key", false, &peer->server_key, err, errlen) ||
            s_peer_int(entry, "window", PEER_DEFAULT_WINDOW, 1, PEER_WINDOW_MAX, &peer->window, err,
                       errlen) ||
            s_peer_int(entry, "ack_timeout_ms", PEER_DEFAULT_ACK_TIMEOUT_MS, 1, PEER_TIMEOUT_MAX_MS,
                       &peer->ack_timeout_ms, err, errlen) ||
            s_peer_int(entry, "backoff_max_ms", PEER_DEFAULT_BACKOFF_MAX_MS, 1, PEER_TIMEOUT_MAX_MS,
                       &peer->backoff_max_ms, err, errlen))
            return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(list->items[j].name, peer->name) == 0)
                return s_peer_error(entry, err, errlen, "duplicate peer name", peer->name);
    }
    return 0;
}

static void s_free_peers(void *field)
{
    service_peer_list_t *list = field;
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].name);
        free(list->items[i].endpoint);
        free(list->items[i].server_key);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* Replaces *slot with a formatted path if it is empty. */
static int s_derive(char **slot, const char *format, const char *dir, const char *name)
{
    if (*slot && **slot)
        return 0;
    char *path = NULL;
    if (asprintf(&path, format, dir, name) < 0)
        return -1;
    free(*slot);
    *slot = path;
    return 0;
}

int service_config_derive(service_config_t *config, const char *name, bool needs_vault)
{
    const char *dir = config->state_dir;
    if (s_derive(&config->store_path, "%s/%s.db", dir, name) ||
        s_derive(&config->cert, "%s/keys/%s.key_secret", dir, name) ||
        s_derive(&config->allow_dir, "%s/keys/allow/%s", dir, name) ||
        s_derive(&config->admin_endpoint, "ipc://%s/%s.admin", dir, name))
        return -1;
    if (needs_vault && s_derive(&config->vault_key_file, "%s/keys/%s.vault", dir, name))
        return -1;
    for (size_t i = 0; i < config->peers.count; i++) {
        service_peer_config_t *peer = &config->peers.items[i];
        if (s_derive(&peer->server_key, "%s/keys/%s.key", dir, peer->name))
            return -1;
    }
    return 0;
}
