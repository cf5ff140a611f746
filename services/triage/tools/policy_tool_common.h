/* policy_tool_common.h: what vigil-policy-test and vigil-policy-replay share.
 *
 * Turning a plugin path into the (directory, stem) pair the policy host
 * loads from, reading region configs from a libconfig file, preparing a
 * resource directory, starting a policy host for one candidate plugin, and
 * describing decisions. The tools run the candidate exactly as triage
 * would: in a vigil-policy-worker process, behind the same loader checks.
 * Nothing here prints personal data (there is none to print: case views
 * are pseudonymous).
 */
#ifndef VIGIL_POLICY_TOOL_COMMON_H
#define VIGIL_POLICY_TOOL_COMMON_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "policy_host.h"

/* Exit codes of both tools. */
#define TOOL_EXIT_OK     0 /* ran; for vigil-policy-test: every case passed */
#define TOOL_EXIT_FAILED 1 /* vigil-policy-test: at least one case failed */
#define TOOL_EXIT_USAGE  2 /* bad arguments, unreadable input, plugin refused */

/* Splits "path/to/name.so" into its directory and stem "name". Returns 0,
 * or -1 with a message (not ending in .so, no such file). */
int tool_plugin_path(const char *arg, char *dir, size_t dir_len, char *stem, size_t stem_len,
                     char *err, size_t errlen);

/* Reads regions from a libconfig file: a group `region = {...}`, a list
 * `regions = (...)`, or triage's `triage = { regions = (...) }`. Keys the
 * policy host does not read (a region's states, counties, ...) are
 * ignored. Returns 0, or -1 with "FILE:LINE: why". */
int tool_load_regions(const char *path, policy_region_list_t *out, char *err, size_t errlen);

/* Makes `arg` usable as the worker's directory database: a sqlite file is
 * used as it is; an HSDS export (JSON file, datapackage.json or a
 * directory of CSVs) is imported into a new temporary database whose path
 * goes to `db_path` and *temporary is set (remove it when done). Returns
 * 0, or -1 with a message. */
int tool_directory(const char *arg, char *db_path, size_t db_path_len, bool *temporary, char *err,
                   size_t errlen);

/* Removes a temporary directory database made by tool_directory() and the
 * files sqlite keeps beside it (-wal, -shm), once nothing has it open.
 * Cannot fail (what is not there is skipped). */
void tool_directory_remove(const char *db_path);

/* Points every region at the candidate plugin `stem`, or only `only`
 * (others are removed) if not NULL. Returns 0, or -1 if `only` names no
 * region. */
int tool_use_plugin(policy_region_list_t *regions, const char *stem, const char *only);

/* One-line summary of a decision, e.g. "co-2 esc=sup refs=[s1,s2] adj=-1
 * review fallback". Cannot fail. */
void tool_describe(const policy_decision_t *d, char *out, size_t len);

#endif
