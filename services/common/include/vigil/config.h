/* config.h: libconfig files read against a schema declared once.
 *
 * A service declares its settings as tables of config_key_t: the dotted key,
 * its type, its default, its range, where it lands in a C struct, and a doc
 * line. config_load() reads a libconfig file, applies defaults for absent
 * keys, checks types and ranges, and refuses any key the tables do not
 * declare. Every error names the file and line. config_dump() prints the
 * effective settings with their docs (for --check-config).
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <libconfig.h>

typedef enum {
    CONFIG_INT,    /* int64_t; `min`/`max` inclusive range */
    CONFIG_BOOL,   /* bool */
    CONFIG_STRING, /* char *, owned by the struct, freed by config_release() */
    CONFIG_DOUBLE, /* double; `min`/`max` range (as integers) */
    CONFIG_CUSTOM, /* a group or list parsed by `parse`; anything under the key is its business */
} config_type_t;
/* A dotted key "link.batch_max" is the setting batch_max inside the group
 * link = { ... }; groups nest to any depth. CONFIG_DOUBLE also accepts an
 * integer literal; no other type is converted. */

/* Parses a CONFIG_CUSTOM setting into `field`. Called exactly once per
 * config_load(), with the setting from the last layer that has the key, or
 * NULL when no layer does (apply a default; the key's default_value is only
 * documentation for custom keys, and a custom key is never "required").
 * config_setting_source_file() is NULL for the embedded layer: say
 * "<embedded>". Returns 0, or -1 after writing a message that names the
 * file and line into `err`. */
typedef int (*config_parse_fn)(const config_setting_t *setting, void *field, char *err,
                               size_t errlen);
/* Frees what `parse` stored in `field` and leaves it safe to free again
 * (config_release() may run twice, or after a load that failed before
 * `parse` ran, in which case `field` is as the caller left it: zeroed). */
typedef void (*config_free_fn)(void *field);

typedef struct {
    const char *key;           /* dotted path, e.g. "link.batch_max" */
    config_type_t type;        /* value type */
    const char *default_value; /* text form of the default; NULL = required */
    size_t offset;             /* offsetof(struct, member) in the target struct */
    int64_t min, max;          /* range for CONFIG_INT and CONFIG_DOUBLE; min > max = unbounded */
    const char *doc;           /* one line for --check-config and docs/operations.md */
    config_parse_fn parse;     /* CONFIG_CUSTOM only */
    config_free_fn free;       /* CONFIG_CUSTOM only; may be NULL */
} config_key_t;

/* Designated-initializer shorthand for "no range" (min > max):
 *     {.key = "state_dir", .type = CONFIG_STRING, ..., CONFIG_UNBOUNDED, .doc = ...}
 * Note that leaving min and max out means the range [0, 0]. */
#define CONFIG_UNBOUNDED .min = 1, .max = 0

/* A table and the struct its offsets point into. */
typedef struct {
    const config_key_t *keys; /* ends with a row whose key is NULL */
    void *base;               /* the struct the offsets are relative to */
} config_section_t;

/* Loads settings into every section in `sections` (ended by a row with
 * keys == NULL), in three layers: the tables' defaults; then
 * `embedded` (libconfig text compiled into the service, may be NULL; its
 * errors name the file "<embedded>"); then the file at `path` (may be NULL).
 * A key set in a later layer replaces the earlier value; a CONFIG_CUSTOM key
 * is replaced whole. Unknown keys, wrong types, values out of range and
 * missing required keys are errors. Returns 0, or -1 with a message
 * "FILE:LINE: key 'x': why" in `err` (FILE is the path, an @included file,
 * "<embedded>" or "<defaults>"; a missing required key has no line). After
 * an error, call config_release().
 * The target structs should start zeroed: string fields are overwritten,
 * not freed, by the defaults layer, so to load again into the same structs
 * call config_release() first. */
int config_load(const char *embedded, const char *path, const config_section_t *sections, char *err,
                size_t errlen);

/* The file `setting` was read from, for messages: the config file's path,
 * an @included file, or "<embedded>" for the compiled-in layer (also for
 * NULL). Cannot fail. */
const char *config_setting_file(const config_setting_t *setting);

/* Reads the libconfig file `path` into `config` (config_init()ed by the
 * caller), as config_load() reads an operator's file: @include paths are
 * read from the file's folder, and every @include must name a regular
 * file there (libconfig 1.5 alone would end the process on a folder and
 * block forever opening a FIFO). For tools that read a service's config
 * file. Returns 0, or -1 with "FILE:LINE: why" or "FILE: why" in `err`;
 * an included file is named as its @include wrote it. */
int config_read_operator_file(config_t *config, const char *path, char *err, size_t errlen);

/* The 1-based line of the first @include directive libconfig would follow
 * in `text` (one outside comments and strings), or 0 if there is none. For
 * libconfig text held in a string, which has no folder to include from.
 * Cannot fail. */
int config_include_line(const char *text);

/* Frees the strings and custom values stored by config_load(). Safe to call
 * twice. Cannot fail. */
void config_release(const config_section_t *sections);

/* Writes the effective settings, one "key = value  # doc" line each, to `out`.
 * A custom key's value is the setting that won, re-read from `embedded` and
 * `path` (the arguments config_load() had) and printed as libconfig text, or
 * "(default)" when no layer sets it. Cannot fail. */
void config_dump(const char *embedded, const char *path, const config_section_t *sections,
                 FILE *out);

#endif
