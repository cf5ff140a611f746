/* policy_trust.h: which plugin files triage agrees to load.
 *
 * A plugin runs with the service's privileges, so only files that nobody
 * else could have written are loaded: from the one configured plugin
 * directory; the directory, every directory between it and the file, and
 * the file itself owned by the service's user or root and writable by
 * neither group nor others; a regular file; a symlink only if it resolves
 * to a file inside the plugin directory. The file is opened once and
 * checked through that descriptor (fstat), and the worker loads exactly
 * that open file, so a file swapped after the check is never loaded.
 * Every refusal names the file and the reason.
 */
#ifndef VIGIL_TRIAGE_POLICY_TRUST_H
#define VIGIL_TRIAGE_POLICY_TRUST_H

#include <stddef.h>
#include <sys/stat.h>

/* Suffix of plugin files: "rules" -> "rules.so". */
#define POLICY_PLUGIN_SUFFIX ".so"

/* Checks the plugin directory `dir` (resolved with realpath). Returns 0,
 * or -1 with "DIR: why" in `err`: missing, not a directory, owned by
 * another user, or writable by group or others. */
int policy_trust_check_dir(const char *dir, char *err, size_t errlen);

/* Opens <dir>/<stem>.so read-only after the checks above. Writes the path
 * it opened into `path` (`pathlen` bytes) and the file's identity into
 * *st. Returns the descriptor (O_CLOEXEC; the caller closes it), or -1
 * with "PATH: why" in `err`. */
int policy_trust_open(const char *dir, const char *stem, char *path, size_t pathlen,
                      struct stat *st, char *err, size_t errlen);

#endif
