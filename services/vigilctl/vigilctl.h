/* vigilctl.h: what the parts of the vigil operator CLI share.
 *
 * main.c parses the command line into a ctl_options_t and picks a command
 * from its table; commands.c builds the AdminRequest, call.c finds the
 * service's admin endpoint and sends it, show.c prints the reply for people
 * and table.c lines up their columns. Nothing here may print personal data
 * except the audited `case show` view.
 */
#ifndef VIGILCTL_H
#define VIGILCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigil/v1/admin.pb-c.h"

/* Exit codes (sysexits where one fits); printed by `vigilctl --help`. */
enum {
    CTL_EXIT_OK = 0,           /* the command succeeded */
    CTL_EXIT_FAILED = 1,       /* the service answered ok=false, or is not ready (health) */
    CTL_EXIT_USAGE = 64,       /* bad command line */
    CTL_EXIT_UNAVAILABLE = 69, /* no answer: service not running, wrong endpoint or keys */
    CTL_EXIT_SOFTWARE = 70,    /* a local failure (out of memory, cannot write a key) */
};

#define CTL_DEFAULT_STATE_DIR "./state"
#define CTL_STATE_DIR_ENV     "VIGIL_STATE_DIR"
#define CTL_CLIENT_KEY_NAME   "vigilctl" /* <state>/keys/vigilctl.key_secret for tcp */

/* The command line, after option parsing. Strings are borrowed from argv. */
typedef struct {
    const char *state_dir;   /* --state-dir, $VIGIL_STATE_DIR or ./state */
    const char *endpoint;    /* --endpoint: overrides the derived admin endpoint */
    const char *cert;        /* --cert: client secret cert for a tcp endpoint */
    const char *server_key;  /* --server-key: the service's public cert or Z85 key */
    const char *service;     /* --service: the target where a command takes SERVICE */
    const char *operator_id; /* --operator: who asks (required by `case show`) */
    const char *name;        /* --name: for keygen */
    bool json;               /* --json: machine output */
    bool all;                /* --all: for deadletters replay */
    int timeout_ms;          /* --timeout; 0 means the command's default */
    uint32_t limit;          /* --limit; 0 means the service's default */
    int argc;                /* positional arguments after the command words */
    char **argv;
} ctl_options_t;

/* --- call.c --------------------------------------------------------------- */

/* The admin endpoint of `service`: --endpoint, or ipc://<state>/<service>.admin.
 * Writes into `out`. Cannot fail (truncates). */
void ctl_endpoint(const ctl_options_t *options, const char *service, char *out, size_t outlen);

/* Sends `request` to `service` and stores the reply in *reply_p (the caller
 * frees it with vigil__v1__admin_reply__free_unpacked). Prints what went
 * wrong to stderr. Returns CTL_EXIT_OK when the service answered ok=true,
 * CTL_EXIT_FAILED when it answered ok=false (*reply_p is still set), or
 * CTL_EXIT_UNAVAILABLE when it did not answer (*reply_p is NULL). */
int ctl_call(const ctl_options_t *options, const char *service,
             const Vigil__V1__AdminRequest *request, int default_timeout_ms,
             Vigil__V1__AdminReply **reply_p);

/* True if `service` is a plausible service name ([a-z0-9_-], 1-64). */
bool ctl_valid_service_name(const char *service);

/* --- show.c --------------------------------------------------------------- */

/* Prints `reply` as indented JSON on stdout (with "ok" always present).
 * Unless `allow_personal`, clears every [pii] field first. Returns 0, or
 * -1 on allocation failure. */
int ctl_print_json(Vigil__V1__AdminReply *reply, bool allow_personal);

/* Human views of the replies. None can fail. */
void ctl_show_status_summary(FILE *out, const char *const *services,
                             Vigil__V1__AdminReply *const *replies, size_t count);
void ctl_show_status_details(FILE *out, const Vigil__V1__AdminReply *reply);
void ctl_show_facts(FILE *out, Vigil__V1__Fact *const *facts, size_t count, int indent);
void ctl_show_dead_letters(FILE *out, const Vigil__V1__AdminReply *reply);
void ctl_show_cases(FILE *out, const Vigil__V1__AdminReply *reply);
void ctl_show_case(FILE *out, const Vigil__V1__AdminReply *reply, const char *operator_id);

/* "2h03m", "45s", "3d04h". Writes into `out`. Cannot fail. */
void ctl_format_duration(int64_t seconds, char *out, size_t outlen);

/* "2026-11-30 10:00:00Z" (UTC), or "-" for 0. Cannot fail. */
void ctl_format_time(int64_t unix_ms, char *out, size_t outlen);

/* --- table.c -------------------------------------------------------------- */

typedef struct ctl_table_t ctl_table_t;

/* A table with `columns` columns and these headers (NULL: no header row).
 * Returns NULL on allocation failure. */
ctl_table_t *ctl_table_new(size_t columns, const char *const *headers);

/* Appends a row of `columns` cells (copied; NULL prints "-"). Control
 * characters are shown as '?', so a reply cannot drive the terminal.
 * Returns 0, or -1 on allocation failure. */
int ctl_table_add(ctl_table_t *table, const char *const *cells);

/* Number of rows added. Cannot fail. */
size_t ctl_table_rows(const ctl_table_t *table);

/* Prints aligned columns, two spaces apart, each line indented by `indent`
 * spaces; the last column is not padded. Cannot fail. */
void ctl_table_print(const ctl_table_t *table, FILE *out, int indent);

/* Frees; sets *table_p to NULL. Cannot fail. */
void ctl_table_destroy(ctl_table_t **table_p);

/* --- commands.c ----------------------------------------------------------- */

/* Each runs one subcommand and returns a CTL_EXIT_* code. */
int ctl_cmd_keygen(const ctl_options_t *options);
int ctl_cmd_status(const ctl_options_t *options);
int ctl_cmd_health(const ctl_options_t *options);
int ctl_cmd_deadletters_list(const ctl_options_t *options);
int ctl_cmd_deadletters_replay(const ctl_options_t *options);
int ctl_cmd_reload(const ctl_options_t *options);
int ctl_cmd_cases_list(const ctl_options_t *options);
int ctl_cmd_case_show(const ctl_options_t *options);
int ctl_cmd_rotate_key(const ctl_options_t *options);
int ctl_cmd_reload_plugins(const ctl_options_t *options);
int ctl_cmd_directory_import(const ctl_options_t *options);

#endif
