/* triage_schema.h: vigil-triage's store migrations.
 *
 * 1: the link's tables; 2: cases, decisions and the policy_replay view that
 * vigil-policy-replay reads; 3: the resource directory (directory.h); 4:
 * cases rebuilt in arrival order and decisions without the foreign key
 * (triage_schema.c says why). A later change adds a step; a step is never
 * edited once shipped. No table
 * holds personal data: a case is its pseudonymous CaseView.
 */
#ifndef VIGIL_TRIAGE_SCHEMA_H
#define VIGIL_TRIAGE_SCHEMA_H

#include <stddef.h>

#include "vigil/store.h"

#define TRIAGE_MIGRATION_COUNT 4

extern const store_migration_t triage_migrations[TRIAGE_MIGRATION_COUNT];

#endif
