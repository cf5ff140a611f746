/* schema.h: the migrations of intake's sqlite store.
 *
 * Version 1 is the reliable link's tables (link_schema_v1); version 2 adds
 * intake's own; version 3 drops the index of case ids (case_id.h).
 * Released steps are never edited: a change adds a step.
 */
#ifndef INTAKE_SCHEMA_H
#define INTAKE_SCHEMA_H

#include <stddef.h>

#include "vigil/store.h"

#define INTAKE_MIGRATION_COUNT 3

extern const store_migration_t intake_migrations[INTAKE_MIGRATION_COUNT];

#endif
