/* intake_config.h: intake's own settings, under the `intake` group.
 *
 *     intake = {
 *       sources = ( { name = "hotline-east";    may_send = [ "INTAKE_CONTACT" ]; },
 *                   { name = "county-jail-042"; may_send = [ "CUSTODY_EVENT" ]; } );
 *       hash_key_file = "";        # "" = <state_dir>/keys/intake.hashkey
 *       rotate_batch = 256;
 *     };
 *
 * A source is the name in an allowlisted publisher's certificate; what it
 * may send is listed here and nowhere else. A source with no entry may send
 * nothing. This module parses and answers questions; it never opens a
 * socket or a file.
 */
#ifndef INTAKE_CONFIG_H
#define INTAKE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/config.h"
#include "vigil/v1/envelope.pb-c.h"

/* One upstream source and the message types it may publish. */
typedef struct {
    char *name;        /* certificate name, e.g. "hotline-east" */
    uint32_t may_send; /* bit intake_type_bit(type) set for each permitted type */
} intake_source_t;

typedef struct {
    intake_source_t *items;
    size_t count;
} intake_sources_t;

typedef struct {
    intake_sources_t sources; /* intake.sources */
    char *hash_key_file;      /* intake.hash_key_file */
    int64_t rotate_batch;     /* intake.rotate_batch: rows per re-encryption transaction */
    int64_t rotate_pause_ms; /* intake.rotate_pause_ms: loop time left to traffic between batches */
    int64_t cases_list_default; /* intake.cases_list_default: rows when the request says 0 */
    int64_t cases_list_max;     /* intake.cases_list_max: most rows one request may get */
    int64_t cache_mb;           /* intake.cache_mb: sqlite page cache of intake's connection */
} intake_config_t;

/* The config table (offsets into intake_config_t); ends with a NULL key. */
extern const config_key_t intake_config_keys[];

/* The permission bit of an upstream message type, or 0 if upstream sources
 * may never send it. Cannot fail. */
uint32_t intake_type_bit(Vigil__V1__MessageType type);

/* The short name of an upstream message type ("INTAKE_CONTACT"), or "?"
 * for any other. Cannot fail. */
const char *intake_type_name(Vigil__V1__MessageType type);

/* Copies a sources table into `out` (overwritten, not freed first).
 * Returns 0, or -1 out of memory (`out` is then empty). */
int intake_sources_copy(const intake_sources_t *in, intake_sources_t *out);

/* Frees a table from intake_sources_copy() or the config and empties it.
 * Cannot fail. */
void intake_sources_clear(intake_sources_t *sources);

/* The source named `name` in `sources`, or NULL. Cannot fail. */
const intake_source_t *intake_sources_find(const intake_sources_t *sources, const char *name);

/* True if `sources` lets source `name` send `type`. Cannot fail. */
bool intake_sources_permit(const intake_sources_t *sources, const char *name,
                           Vigil__V1__MessageType type);

#endif
