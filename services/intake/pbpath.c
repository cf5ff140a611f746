/* pbpath.c: walks protobuf-c messages along dotted field paths.
 *
 * Works on any message through its descriptor, so the rule tables stay data.
 * It never allocates and never writes to the message.
 */
#include "pbpath.h"

#include <stdbool.h>
#include <string.h>

enum {
    PBPATH_SEGMENT_MAX = 64,
};

typedef struct {
    pbpath_visit_fn visit;
    void *ctx;
} walk_t;

/* Splits off the first segment of `path` into `name`; sets *repeated when it
 * ends in "[]" and *rest to what follows the dot (or NULL). Returns 0, or -1
 * if the segment is empty or too long. */
static int s_segment(const char *path, char name[PBPATH_SEGMENT_MAX], bool *repeated,
                     const char **rest)
{
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    *rest = dot ? dot + 1 : NULL;
    *repeated = len >= 2 && path[len - 2] == '[' && path[len - 1] == ']';
    if (*repeated)
        len -= 2;
    if (len == 0 || len >= PBPATH_SEGMENT_MAX)
        return -1;
    memcpy(name, path, len);
    name[len] = '\0';
    return 0;
}

/* Size of one stored value of `field` inside a repeated array. */
static size_t s_value_size(const ProtobufCFieldDescriptor *field)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

/* Writes "path[index]" into `out` (PBPATH_DISPLAY_MAX bytes) without
 * printf (this runs for every rule of every message). Returns 0, or -1 if
 * it does not fit. */
static int s_indexed(char *out, const char *path, size_t index)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + index % 10);
        index /= 10;
    } while (index);
    size_t len = strlen(path);
    if (len + n + 3 > PBPATH_DISPLAY_MAX)
        return -1;
    memcpy(out, path, len);
    out[len++] = '[';
    while (n)
        out[len++] = digits[--n];
    out[len++] = ']';
    out[len] = '\0';
    return 0;
}

/* Writes "display.name" (or "name" at the root) into `out`. Returns 0, or
 * -1 if it does not fit. */
static int s_joined(char *out, const char *display, const char *name)
{
    size_t a = strlen(display), b = strlen(name);
    if (a + b + 2 > PBPATH_DISPLAY_MAX)
        return -1;
    memcpy(out, display, a);
    if (a)
        out[a++] = '.';
    memcpy(out + a, name, b + 1);
    return 0;
}

/* Walks segments [at, path->count) below `message` (of the segment's
 * message type; NULL when absent), `display` being the path so far. */
static int s_walk(const walk_t *walk, const pbpath_compiled_t *path, size_t at,
                  const ProtobufCMessage *message, const char *display)
{
    const ProtobufCFieldDescriptor *field = path->segments[at].field;
    bool repeated = path->segments[at].repeated;
    bool last = at + 1 == path->count;

    char here[PBPATH_DISPLAY_MAX];
    if (s_joined(here, display, field->name))
        return -1;
    const char *base = message ? (const char *)message + field->offset : NULL;

    if (last) {
        pbpath_value_t value = {.parent = message, .field = field, .display = here};
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count =
                message ? *(const size_t *)((const char *)message + field->quantifier_offset) : 0;
            if (!repeated) {
                value.value = base;
                value.count = count;
                return walk->visit(walk->ctx, &value);
            }
            const char *array = base ? *(const char *const *)base : NULL;
            for (size_t i = 0; i < count; i++) {
                char indexed[PBPATH_DISPLAY_MAX];
                if (s_indexed(indexed, here, i) != 0)
                    return -1;
                value.display = indexed;
                value.value = array + i * s_value_size(field);
                int rc = walk->visit(walk->ctx, &value);
                if (rc)
                    return rc;
            }
            return 0;
        }
        value.value = base;
        return walk->visit(walk->ctx, &value);
    }

    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t count =
            message ? *(const size_t *)((const char *)message + field->quantifier_offset) : 0;
        const ProtobufCMessage *const *items =
            base ? *(const ProtobufCMessage *const *const *)base : NULL;
        for (size_t i = 0; i < count; i++) {
            char indexed[PBPATH_DISPLAY_MAX];
            if (s_indexed(indexed, here, i) != 0)
                return -1;
            int rc = s_walk(walk, path, at + 1, items[i], indexed);
            if (rc)
                return rc;
        }
        return 0;
    }
    const ProtobufCMessage *sub = base ? *(const ProtobufCMessage *const *)base : NULL;
    return s_walk(walk, path, at + 1, sub, here);
}

int pbpath_compile(const ProtobufCMessageDescriptor *root, const char *path, pbpath_compiled_t *out)
{
    out->root = root;
    out->count = 0;
    const ProtobufCMessageDescriptor *descriptor = root;
    for (;;) {
        char name[PBPATH_SEGMENT_MAX];
        bool repeated;
        const char *rest;
        if (out->count == PBPATH_SEGMENTS_MAX || s_segment(path, name, &repeated, &rest) != 0)
            return -1;
        const ProtobufCFieldDescriptor *field =
            protobuf_c_message_descriptor_get_field_by_name(descriptor, name);
        if (!field || (repeated && field->label != PROTOBUF_C_LABEL_REPEATED) ||
            (rest && field->type != PROTOBUF_C_TYPE_MESSAGE))
            return -1;
        /* a repeated message on the way must be written "name[]" */
        if (rest && field->label == PROTOBUF_C_LABEL_REPEATED && !repeated)
            return -1;
        out->segments[out->count].field = field;
        out->segments[out->count].repeated = repeated;
        out->count++;
        if (!rest)
            return 0;
        descriptor = field->descriptor;
        path = rest;
    }
}

int pbpath_each_compiled(const ProtobufCMessage *root, const pbpath_compiled_t *path,
                         pbpath_visit_fn visit, void *ctx)
{
    if (path->count == 0 || root->descriptor != path->root)
        return -1;
    walk_t walk = {.visit = visit, .ctx = ctx};
    return s_walk(&walk, path, 0, root, "");
}

int pbpath_each(const ProtobufCMessage *root, const char *path, pbpath_visit_fn visit, void *ctx)
{
    pbpath_compiled_t compiled;
    if (pbpath_compile(root->descriptor, path, &compiled) != 0)
        return -1;
    return pbpath_each_compiled(root, &compiled, visit, ctx);
}

const ProtobufCFieldDescriptor *pbpath_field(const ProtobufCMessageDescriptor *root,
                                             const char *path)
{
    const ProtobufCMessageDescriptor *descriptor = root;
    for (;;) {
        char name[PBPATH_SEGMENT_MAX];
        bool repeated;
        const char *rest;
        if (s_segment(path, name, &repeated, &rest) != 0)
            return NULL;
        const ProtobufCFieldDescriptor *field =
            protobuf_c_message_descriptor_get_field_by_name(descriptor, name);
        if (!field || !rest)
            return field;
        if (field->type != PROTOBUF_C_TYPE_MESSAGE)
            return NULL;
        descriptor = field->descriptor;
        path = rest;
    }
}
