/* admin_cases.h: intake's own admin commands for vigilctl:
 * CASES_LIST, CASE_SHOW (audited) and ROTATE_KEY.
 */
#ifndef INTAKE_ADMIN_CASES_H
#define INTAKE_ADMIN_CASES_H

#include "vigil/admin.h"

/* The dispatch table, ended by command 0; handlers expect the service_t as
 * their context. */
extern const admin_command_t intake_admin_commands[];

#endif
