/* config.c: reads libconfig text against tables of config_key_t.
 *
 * Settings come in three layers, later ones winning: the defaults written in
 * the tables, the libconfig text a service embeds (its ports and peers), and
 * the operator's file. Every layer is checked the same way: a key or group
 * the tables do not declare is an error, as are a wrong type, a value out of
 * range and a required key nobody set. Each error names the file and line
 * ("<embedded>" for the built-in text, "<defaults>" for the tables) and the
 * dotted key, so an operator can fix it without reading C. This file must
 * never guess: it does not ignore unknown keys, clamp values into range, or
 * convert types (the one exception: an integer where a number is wanted).
 */
#include "vigil/config.h"

#include "config_include.h"
#include "vigil/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    CONFIG_PATH_MAX = 256, /* longest dotted key */
    CONFIG_DIR_MAX = 4096, /* longest include directory */
};

/* The layers read from text, in order; the defaults come from the tables. */
enum { LAYER_EMBEDDED, LAYER_FILE, LAYER_COUNT };

static const char s_embedded_name[] = "<embedded>";
static const char s_defaults_name[] = "<defaults>";

/* Text for each type in error messages. */
static const char *const s_type_names[] = {
    [CONFIG_INT] = "an integer",
    [CONFIG_BOOL] = "true or false",
    [CONFIG_STRING] = "a string in double quotes",
    [CONFIG_DOUBLE] = "a number",
    [CONFIG_CUSTOM] = "a group or list",
};

/* One parsed layer of libconfig text. */
typedef struct {
    config_t config;
    bool loaded;
    const char *name; /* "<embedded>" or the file path, for messages */
} config_layer_t;

/* A declared key and the struct it writes into. */
typedef struct {
    const config_key_t *key;
    void *base;
} config_slot_t;

static void *s_field(const config_slot_t *slot)
{
    return (char *)slot->base + slot->key->offset;
}

static bool s_has_range(const config_key_t *key)
{
    return key->min <= key->max;
}

/* Finds the declared key `path` in any section. */
static bool s_find(const config_section_t *sections, const char *path, config_slot_t *slot)
{
    for (const config_section_t *section = sections; section->keys != NULL; section++) {
        for (const config_key_t *key = section->keys; key->key != NULL; key++) {
            if (strcmp(key->key, path) == 0) {
                slot->key = key;
                slot->base = section->base;
                return true;
            }
        }
    }
    return false;
}

/* True if some declared key lies inside the group `path` ("link" for
 * "link.batch_max"). */
static bool s_is_group(const config_section_t *sections, const char *path)
{
    size_t len = strlen(path);
    for (const config_section_t *section = sections; section->keys != NULL; section++) {
        for (const config_key_t *key = section->keys; key->key != NULL; key++) {
            if (strncmp(key->key, path, len) == 0 && key->key[len] == '.') {
                return true;
            }
        }
    }
    return false;
}

/* True if `name` (length `len`) is already in the ", "-separated `list`. */
static bool s_listed(const char *list, const char *name, size_t len)
{
    for (const char *p = list; *p != '\0';) {
        size_t item = strcspn(p, ",");
        if (item == len && strncmp(p, name, len) == 0) {
            return true;
        }
        p += item;
        p += strspn(p, ", ");
    }
    return false;
}

/* Writes the names a group may hold ("batch_max, max_frame, ...") into
 * `out`, for the hint after an unknown key. `prefix` is "" for the top. */
static void s_known_names(const config_section_t *sections, const char *prefix, char *out,
                          size_t cap)
{
    size_t prefix_len = strlen(prefix);
    size_t used = 0;
    out[0] = '\0';
    for (const config_section_t *section = sections; section->keys != NULL; section++) {
        for (const config_key_t *key = section->keys; key->key != NULL; key++) {
            if (prefix_len > 0 &&
                (strncmp(key->key, prefix, prefix_len) != 0 || key->key[prefix_len] != '.')) {
                continue;
            }
            const char *name = key->key + (prefix_len > 0 ? prefix_len + 1 : 0);
            size_t name_len = strcspn(name, ".");
            if (s_listed(out, name, name_len) || used + name_len + 3 >= cap) {
                continue;
            }
            used += (size_t)snprintf(out + used, cap - used, "%s%.*s", used > 0 ? ", " : "",
                                     (int)name_len, name);
        }
    }
}

const char *config_setting_file(const config_setting_t *setting)
{
    const char *file = setting ? config_setting_source_file(setting) : NULL;
    return file != NULL ? file : s_embedded_name;
}

static const char *s_file_of(const config_setting_t *setting, const config_layer_t *layer)
{
    const char *file = config_setting_source_file(setting);
    return file != NULL ? file : layer->name;
}

/* Refuses any setting the tables do not declare, depth first, in file
 * order. A declared group must be a group; a CONFIG_CUSTOM key's contents
 * are its parser's business. */
static int s_check_group(const config_setting_t *group, const char *prefix,
                         const config_section_t *sections, const config_layer_t *layer, char *err,
                         size_t errlen)
{
    int count = config_setting_length(group);
    for (int i = 0; i < count; i++) {
        const config_setting_t *child = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(child);
        char path[CONFIG_PATH_MAX];
        int path_len = snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "",
                                name != NULL ? name : "?");
        const char *file = s_file_of(child, layer);
        int line = config_setting_source_line(child);
        if (path_len < 0 || (size_t)path_len >= sizeof(path)) {
            return util_fail(err, errlen, "%s:%d: key '%.64s...': name too long", file, line, path);
        }
        config_slot_t slot;
        if (s_find(sections, path, &slot)) {
            continue;
        }
        if (s_is_group(sections, path)) {
            if (config_setting_type(child) != CONFIG_TYPE_GROUP) {
                return util_fail(err, errlen, "%s:%d: key '%s': expected a group { ... }", file,
                                 line, path);
            }
            if (s_check_group(child, path, sections, layer, err, errlen) < 0) {
                return -1;
            }
            continue;
        }
        char known[CONFIG_DIR_MAX];
        s_known_names(sections, prefix, known, sizeof(known));
        return util_fail(err, errlen, "%s:%d: key '%s': unknown %s (known %s%s%s: %s)", file, line,
                         path, config_setting_type(child) == CONFIG_TYPE_GROUP ? "group" : "key",
                         prefix[0] ? "in '" : "at the top level", prefix, prefix[0] ? "'" : "",
                         known);
    }
    return 0;
}

static int s_check_range(const config_slot_t *slot, double value, const char *file, int line,
                         char *err, size_t errlen)
{
    const config_key_t *key = slot->key;
    if (s_has_range(key) && (value < (double)key->min || value > (double)key->max)) {
        return util_fail(err, errlen,
                         "%s:%d: key '%s': %g is out of range [%" PRId64 ", %" PRId64 "]", file,
                         line, key->key, value, key->min, key->max);
    }
    return 0;
}

/* Stores one scalar setting into its field after checking type and range. */
static int s_store_setting(const config_slot_t *slot, const config_setting_t *setting,
                           const config_layer_t *layer, char *err, size_t errlen)
{
    const config_key_t *key = slot->key;
    const char *file = s_file_of(setting, layer);
    int line = config_setting_source_line(setting);
    int type = config_setting_type(setting);
    bool is_integer = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64;
    switch (key->type) {
    case CONFIG_INT: {
        if (!is_integer) {
            break;
        }
        int64_t value = config_setting_get_int64(setting);
        if (s_has_range(key) && (value < key->min || value > key->max)) {
            return util_fail(err, errlen,
                             "%s:%d: key '%s': %" PRId64 " is out of range [%" PRId64 ", %" PRId64
                             "]",
                             file, line, key->key, value, key->min, key->max);
        }
        *(int64_t *)s_field(slot) = value;
        return 0;
    }
    case CONFIG_BOOL:
        if (type != CONFIG_TYPE_BOOL) {
            break;
        }
        *(bool *)s_field(slot) = config_setting_get_bool(setting) != 0;
        return 0;
    case CONFIG_STRING: {
        if (type != CONFIG_TYPE_STRING) {
            break;
        }
        char *copy = strdup(config_setting_get_string(setting));
        if (copy == NULL) {
            return util_fail(err, errlen, "%s:%d: key '%s': out of memory", file, line, key->key);
        }
        char **field = s_field(slot);
        free(*field);
        *field = copy;
        return 0;
    }
    case CONFIG_DOUBLE: {
        if (type != CONFIG_TYPE_FLOAT && !is_integer) {
            break;
        }
        double value = type == CONFIG_TYPE_FLOAT ? config_setting_get_float(setting)
                                                 : (double)config_setting_get_int64(setting);
        if (s_check_range(slot, value, file, line, err, errlen) < 0) {
            return -1;
        }
        *(double *)s_field(slot) = value;
        return 0;
    }
    case CONFIG_CUSTOM:
        return 0; /* parsed once, from the winning layer, in s_parse_custom() */
    }
    return util_fail(err, errlen, "%s:%d: key '%s': wrong type, expected %s", file, line, key->key,
                     s_type_names[key->type]);
}

/* Parses a default from its text form in the table. */
static int s_store_default(const config_slot_t *slot, char *err, size_t errlen)
{
    const config_key_t *key = slot->key;
    const char *text = key->default_value;
    char *end = NULL;
    errno = 0;
    switch (key->type) {
    case CONFIG_INT: {
        int64_t value = 0;
        if (text != NULL) {
            value = strtoll(text, &end, 0);
            if (end == text || *end != '\0' || errno != 0) {
                return util_fail(err, errlen, "%s: key '%s': default '%s' is not an integer",
                                 s_defaults_name, key->key, text);
            }
            if (s_has_range(key) && (value < key->min || value > key->max)) {
                return util_fail(err, errlen, "%s: key '%s': default %s is out of range",
                                 s_defaults_name, key->key, text);
            }
        }
        *(int64_t *)s_field(slot) = value;
        return 0;
    }
    case CONFIG_BOOL: {
        bool value = false;
        if (text != NULL) {
            if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) {
                return util_fail(err, errlen, "%s: key '%s': default '%s' is not true or false",
                                 s_defaults_name, key->key, text);
            }
            value = strcmp(text, "true") == 0;
        }
        *(bool *)s_field(slot) = value;
        return 0;
    }
    case CONFIG_STRING: {
        char *copy = NULL;
        if (text != NULL && (copy = strdup(text)) == NULL) {
            return util_fail(err, errlen, "%s: key '%s': out of memory", s_defaults_name, key->key);
        }
        *(char **)s_field(slot) = copy;
        return 0;
    }
    case CONFIG_DOUBLE: {
        double value = 0;
        if (text != NULL) {
            value = strtod(text, &end);
            if (end == text || *end != '\0' || errno != 0) {
                return util_fail(err, errlen, "%s: key '%s': default '%s' is not a number",
                                 s_defaults_name, key->key, text);
            }
            if (s_has_range(key) && (value < (double)key->min || value > (double)key->max)) {
                return util_fail(err, errlen, "%s: key '%s': default %s is out of range",
                                 s_defaults_name, key->key, text);
            }
        }
        *(double *)s_field(slot) = value;
        return 0;
    }
    case CONFIG_CUSTOM:
        return 0;
    }
    return 0;
}

int config_read_operator_file(config_t *config, const char *path, char *err, size_t errlen)
{
    /* @include paths are relative to the including file's folder. */
    char dir[CONFIG_DIR_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    const char *include_dir = slash == NULL ? "." : dir[0] != '\0' ? dir : "/";
    if (config_check_includes(path, include_dir, err, errlen) != 0) {
        return -1;
    }
    config_set_include_dir(config, include_dir);
    if (config_read_file(config, path) == CONFIG_TRUE) {
        return 0;
    }
    if (config_error_type(config) == CONFIG_ERR_FILE_IO) {
        return util_fail(err, errlen, "%s: cannot read the config file (or a file it includes)",
                         path);
    }
    const char *file = config_error_file(config);
    return util_fail(err, errlen, "%s:%d: cannot parse: %s", file != NULL ? file : path,
                     config_error_line(config), config_error_text(config));
}

/* Reads one layer: embedded text when `path` is NULL, else the file. */
static int s_read_layer(config_layer_t *layer, const char *text, const char *path, char *err,
                        size_t errlen)
{
    config_init(&layer->config);
    layer->loaded = true;
    layer->name = path != NULL ? path : s_embedded_name;
    if (path != NULL) {
        return config_read_operator_file(&layer->config, path, err, errlen);
    }
    if (config_read_string(&layer->config, text) == CONFIG_TRUE) {
        return 0;
    }
    return util_fail(err, errlen, "%s:%d: cannot parse: %s", s_embedded_name,
                     config_error_line(&layer->config), config_error_text(&layer->config));
}

/* Checks a layer for unknown keys, then stores every scalar key it sets. */
static int s_apply_layer(const config_layer_t *layer, const config_section_t *sections, char *err,
                         size_t errlen)
{
    if (s_check_group(config_root_setting(&layer->config), "", sections, layer, err, errlen) < 0) {
        return -1;
    }
    for (const config_section_t *section = sections; section->keys != NULL; section++) {
        for (const config_key_t *key = section->keys; key->key != NULL; key++) {
            const config_setting_t *setting = config_lookup(&layer->config, key->key);
            config_slot_t slot = {.key = key, .base = section->base};
            if (setting != NULL && s_store_setting(&slot, setting, layer, err, errlen) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* The setting for `key` from the last layer that has it, or NULL. */
static const config_setting_t *s_winning(const config_layer_t *layers, size_t count,
                                         const char *key)
{
    for (size_t i = count; i-- > 0;) {
        if (layers[i].loaded) {
            const config_setting_t *setting = config_lookup(&layers[i].config, key);
            if (setting != NULL) {
                return setting;
            }
        }
    }
    return NULL;
}

/* Parses custom keys and checks required ones, once all layers are read. */
static int s_finish(const config_layer_t *layers, size_t count, const char *path,
                    const config_section_t *sections, char *err, size_t errlen)
{
    for (const config_section_t *section = sections; section->keys != NULL; section++) {
        for (const config_key_t *key = section->keys; key->key != NULL; key++) {
            const config_setting_t *setting = s_winning(layers, count, key->key);
            if (key->type == CONFIG_CUSTOM) {
                if (key->parse != NULL &&
                    key->parse(setting, (char *)section->base + key->offset, err, errlen) < 0) {
                    return -1;
                }
            } else if (key->default_value == NULL && setting == NULL) {
                return util_fail(err, errlen, "%s: key '%s': required, but not set",
                                 path != NULL ? path : s_embedded_name, key->key);
            }
        }
    }
    return 0;
}

int config_load(const char *embedded, const char *path, const config_section_t *sections, char *err,
                size_t errlen)
{
    config_layer_t layers[LAYER_COUNT] = {0};
    int rc = -1;
    util_fail(err, errlen, "%s", "");

    for (const config_section_t *section = sections; section->keys != NULL; section++) {
        for (const config_key_t *key = section->keys; key->key != NULL; key++) {
            config_slot_t slot = {.key = key, .base = section->base};
            if (s_store_default(&slot, err, errlen) < 0) {
                goto done;
            }
        }
    }
    if (embedded != NULL &&
        (s_read_layer(&layers[LAYER_EMBEDDED], embedded, NULL, err, errlen) < 0 ||
         s_apply_layer(&layers[LAYER_EMBEDDED], sections, err, errlen) < 0)) {
        goto done;
    }
    if (path != NULL && (s_read_layer(&layers[LAYER_FILE], NULL, path, err, errlen) < 0 ||
                         s_apply_layer(&layers[LAYER_FILE], sections, err, errlen) < 0)) {
        goto done;
    }
    rc = s_finish(layers, LAYER_COUNT, path, sections, err, errlen);
done:
    for (size_t i = 0; i < LAYER_COUNT; i++) {
        if (layers[i].loaded) {
            config_destroy(&layers[i].config);
        }
    }
    return rc;
}

void config_release(const config_section_t *sections)
{
    for (const config_section_t *section = sections; section->keys != NULL; section++) {
        for (const config_key_t *key = section->keys; key->key != NULL; key++) {
            void *field = (char *)section->base + key->offset;
            if (key->type == CONFIG_STRING) {
                free(*(char **)field);
                *(char **)field = NULL;
            } else if (key->type == CONFIG_CUSTOM && key->free != NULL) {
                key->free(field);
            }
        }
    }
}

/* Prints a string as libconfig would read it back. */
static void s_dump_string(const char *text, FILE *out)
{
    fputc('"', out);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', out);
            fputc(*p, out);
        } else if (*p == '\n') {
            fputs("\\n", out);
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* Prints a setting (scalar, group, list or array) as libconfig text on one
 * line, so a custom key's effective value reads back as it was written. */
static void s_dump_setting(const config_setting_t *setting, FILE *out)
{
    static const char *const open_close[][2] = {
        [CONFIG_TYPE_GROUP] = {"{ ", " }"},
        [CONFIG_TYPE_ARRAY] = {"[ ", " ]"},
        [CONFIG_TYPE_LIST] = {"( ", " )"},
    };
    int type = config_setting_type(setting);
    switch (type) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        fprintf(out, "%lld", config_setting_get_int64(setting));
        return;
    case CONFIG_TYPE_FLOAT:
        fprintf(out, "%g", config_setting_get_float(setting));
        return;
    case CONFIG_TYPE_BOOL:
        fputs(config_setting_get_bool(setting) ? "true" : "false", out);
        return;
    case CONFIG_TYPE_STRING:
        s_dump_string(config_setting_get_string(setting), out);
        return;
    case CONFIG_TYPE_GROUP:
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
        break;
    default:
        fputs("(unknown type)", out);
        return;
    }
    int count = config_setting_length(setting);
    if (count == 0) {
        fputs(type == CONFIG_TYPE_GROUP ? "{ }" : type == CONFIG_TYPE_ARRAY ? "[ ]" : "( )", out);
        return;
    }
    fputs(open_close[type][0], out);
    for (int i = 0; i < count; i++) {
        const config_setting_t *child = config_setting_get_elem(setting, (unsigned)i);
        if (type == CONFIG_TYPE_GROUP) {
            fprintf(out, "%s = ", config_setting_name(child));
            s_dump_setting(child, out);
            fputs(";", out);
            if (i + 1 < count) {
                fputc(' ', out);
            }
        } else {
            s_dump_setting(child, out);
            if (i + 1 < count) {
                fputs(", ", out);
            }
        }
    }
    fputs(open_close[type][1], out);
}

void config_dump(const char *embedded, const char *path, const config_section_t *sections,
                 FILE *out)
{
    config_layer_t layers[LAYER_COUNT] = {0};
    char err[CONFIG_PATH_MAX];
    /* The layers loaded before; re-read only to show custom keys as written. */
    bool readable =
        (embedded == NULL ||
         s_read_layer(&layers[LAYER_EMBEDDED], embedded, NULL, err, sizeof err) == 0) &&
        (path == NULL || s_read_layer(&layers[LAYER_FILE], NULL, path, err, sizeof err) == 0);
    for (const config_section_t *section = sections; section->keys != NULL; section++) {
        for (const config_key_t *key = section->keys; key->key != NULL; key++) {
            const void *field = (const char *)section->base + key->offset;
            fprintf(out, "%s = ", key->key);
            switch (key->type) {
            case CONFIG_INT:
                fprintf(out, "%" PRId64, *(const int64_t *)field);
                break;
            case CONFIG_BOOL:
                fputs(*(const bool *)field ? "true" : "false", out);
                break;
            case CONFIG_STRING: {
                const char *text = *(char *const *)field;
                if (text != NULL) {
                    s_dump_string(text, out);
                } else {
                    fputs("(not set)", out);
                }
                break;
            }
            case CONFIG_DOUBLE:
                fprintf(out, "%g", *(const double *)field);
                break;
            case CONFIG_CUSTOM: {
                const config_setting_t *setting =
                    readable ? s_winning(layers, LAYER_COUNT, key->key) : NULL;
                if (setting != NULL) {
                    s_dump_setting(setting, out);
                } else {
                    fputs(readable ? "(default)" : "(config changed since it was loaded)", out);
                }
                break;
            }
            }
            fprintf(out, "  # %s\n", key->doc != NULL ? key->doc : "");
        }
    }
    for (size_t i = 0; i < LAYER_COUNT; i++) {
        if (layers[i].loaded) {
            config_destroy(&layers[i].config);
        }
    }
}
