/* pbpath.h: find fields of a protobuf-c message by a dotted path.
 *
 * The validation rules name fields as text ("victim.phone",
 * "offenders[].agency", "requested_services[]") so that they can be a
 * table. This module turns such a path into the storage of each value it
 * denotes, using the protobuf-c descriptors, and builds the path a human
 * reads in an error ("offenders[2].agency"). It only reads messages.
 */
#ifndef INTAKE_PBPATH_H
#define INTAKE_PBPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#define PBPATH_DISPLAY_MAX 128

/* One value a path denotes. */
typedef struct {
    const ProtobufCMessage *parent;        /* the message holding the field, or NULL if absent */
    const ProtobufCFieldDescriptor *field; /* the field's descriptor */
    const void *value;   /* storage of one value (char **, int *, int64_t *, ...); NULL if absent */
    size_t count;        /* for a repeated field named without "[]": its number of entries */
    const char *display; /* the path with indexes, e.g. "offenders[2].agency" */
} pbpath_value_t;

/* Called once per value; returns 0 to go on, anything else to stop (and
 * pbpath_each returns it). */
typedef int (*pbpath_visit_fn)(void *ctx, const pbpath_value_t *value);

/* Most segments a path may have ("offenders[].agency" has two). */
#define PBPATH_SEGMENTS_MAX 8

/* A path resolved to field descriptors once (pbpath_compile), so walking it
 * needs no name lookups. Plain data: copy it freely. */
typedef struct {
    const ProtobufCMessageDescriptor *root; /* the message type it starts from */
    size_t count;                           /* segments in use */
    struct {
        const ProtobufCFieldDescriptor *field;
        bool repeated; /* the segment was written "name[]" */
    } segments[PBPATH_SEGMENTS_MAX];
} pbpath_compiled_t;

/* Resolves `path` from message type `root` into `out`. Returns 0, or -1 if
 * the path names no field (or has more than PBPATH_SEGMENTS_MAX segments),
 * under the same rules as pbpath_each. */
int pbpath_compile(const ProtobufCMessageDescriptor *root, const char *path,
                   pbpath_compiled_t *out);

/* pbpath_each over a compiled path; `root` must be of type path->root.
 * Returns the first non-zero visitor result, or 0. */
int pbpath_each_compiled(const ProtobufCMessage *root, const pbpath_compiled_t *path,
                         pbpath_visit_fn visit, void *ctx);

/* Visits every value `path` denotes in `root`. A segment "name[]" visits each
 * entry of a repeated field; an absent sub-message on the way yields one
 * visit with value NULL (so a rule can report the field as missing). Returns
 * the first non-zero visitor result, 0 when all were visited, or -1 if the
 * path names no field (a programmer error in a rule table). */
int pbpath_each(const ProtobufCMessage *root, const char *path, pbpath_visit_fn visit, void *ctx);

/* The descriptor of the field `path` ends in (with or without "[]"
 * suffixes), or NULL if the path names no field. Cannot fail otherwise. */
const ProtobufCFieldDescriptor *pbpath_field(const ProtobufCMessageDescriptor *root,
                                             const char *path);

#endif
