/* config_include.h: checks a config file's @include directives before
 * libconfig follows them.
 *
 * libconfig 1.5 (Debian 12) opens an included path with fopen() and reads
 * it with flex. A folder there ends the whole process ("input in flex
 * scanner failed", exit 2), even on a SIGHUP reload of a running service,
 * and a FIFO blocks the open, and with it the service, until something
 * writes to it. This module finds every @include libconfig would follow and
 * refuses, with the file and line, any that does not name a regular file.
 * It only reads files; it never opens anything that is not a regular file.
 */
#ifndef VIGIL_CONFIG_INCLUDE_H
#define VIGIL_CONFIG_INCLUDE_H

#include <stddef.h>

/* libconfig 1.5's MAX_INCLUDE_DEPTH: it refuses an @include nested deeper
 * ("include file nesting too deep"), so the check goes no deeper either. */
#define CONFIG_INCLUDE_DEPTH_MAX 10

/* Checks that `path` is a regular file and that every @include directive
 * libconfig would follow from it, and from the files those include, names a
 * regular file. `dir` is the include folder the caller gives libconfig
 * (config_set_include_dir); libconfig 1.5 puts it in front of every
 * included path, so an absolute path is refused too. Returns 0, or -1 with
 * "FILE:LINE: @include "X": why" (or "FILE: why" for `path` itself) in
 * `err`. A directive libconfig would not see, in a comment or a string, is
 * ignored. */
int config_check_includes(const char *path, const char *dir, char *err, size_t errlen);

#endif
