/* link_wire.c: the link's knowledge of the wire format and its small sqlite
 * helpers.
 *
 * Which payload type each envelope type carries (one table), the recursive
 * search for unknown fields, a minimal protobuf scanner that finds one
 * top-level field without unpacking (so an oversized frame can still be
 * answered with its message_id), varint encoding, the enum names used as
 * metric labels, and sqlite's process-wide memory-statistics switch (off). It inspects field
 * numbers and lengths only: it must never copy, log or return a payload value other than the
 * message_id.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "link_internal.h"
#include "vigil/store.h"
#include "vigil/v1/admin.pb-c.h"
#include "vigil/v1/case.pb-c.h"
#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/intake.pb-c.h"
#include "vigil/v1/notify.pb-c.h"
#include "vigil/v1/report.pb-c.h"

enum {
    WIRE_TYPE_VARINT = 0,
    WIRE_TYPE_64BIT = 1,
    WIRE_TYPE_LENGTH = 2,
    WIRE_TYPE_32BIT = 5,
    WIRE_TAG_SHIFT = 3,
    WIRE_TYPE_MASK = 7,
    VARINT_PAYLOAD_BITS = 7,
    VARINT_PAYLOAD_MASK = 0x7f,
    VARINT_MORE = 0x80,
    FIXED64_BYTES = 8,
    FIXED32_BYTES = 4,
    US_PER_S = 1000000,
    NS_PER_US = 1000,
    /* Sub-message nesting the unknown-field search follows; the schema has
     * no recursive types (see envelope.proto), so this is never reached. */
    UNKNOWN_FIELD_MAX_DEPTH = 32,
};

/* Envelope type -> payload message: the one place this mapping lives. */
static const struct {
    Vigil__V1__MessageType type;
    const ProtobufCMessageDescriptor *descriptor;
} s_payloads[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK, &vigil__v1__ack__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, &vigil__v1__link_probe__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT, &vigil__v1__intake_contact__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT, &vigil__v1__custody_event__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST,
     &vigil__v1__subscription_request__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION,
     &vigil__v1__delivery_confirmation__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW, &vigil__v1__case_view__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_TRIAGE_DECISION,
     &vigil__v1__triage_decision__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT, &vigil__v1__assignment__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT,
     &vigil__v1__assignment_receipt__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_NOTIFY_CONTACT, &vigil__v1__notify_contact__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_ATTEMPT,
     &vigil__v1__delivery_attempt__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_REPORT_EVENT, &vigil__v1__report_event__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ADMIN_REQUEST, &vigil__v1__admin_request__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ADMIN_REPLY, &vigil__v1__admin_reply__descriptor},
};

const ProtobufCMessageDescriptor *link_payload_descriptor(Vigil__V1__MessageType type)
{
    for (size_t i = 0; i < sizeof s_payloads / sizeof s_payloads[0]; i++)
        if (s_payloads[i].type == type)
            return s_payloads[i].descriptor;
    return NULL;
}

/* The first unknown field's number in `message` or its sub-messages,
 * plus one (protobuf-c keeps a field numbered 0 as unknown too), or 0 when
 * there is none. */
static uint64_t s_unknown_field(const ProtobufCMessage *message, int depth)
{
    if (!message || depth > UNKNOWN_FIELD_MAX_DEPTH)
        return 0;
    if (message->n_unknown_fields > 0)
        return (uint64_t)message->unknown_fields[0].tag + 1;
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    const char *base = (const char *)message;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if (field->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *)(base + field->quantifier_offset);
            ProtobufCMessage *const *items =
                *(ProtobufCMessage *const *const *)(base + field->offset);
            for (size_t k = 0; k < count; k++) {
                uint64_t found = s_unknown_field(items[k], depth + 1);
                if (found)
                    return found;
            }
            continue;
        }
        if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + field->quantifier_offset) != field->id)
            continue;
        uint64_t found =
            s_unknown_field(*(ProtobufCMessage *const *)(base + field->offset), depth + 1);
        if (found)
            return found;
    }
    return 0;
}

bool link_unknown_field(const ProtobufCMessage *message, uint32_t *number)
{
    uint64_t found = s_unknown_field(message, 0);
    if (found)
        *number = (uint32_t)(found - 1);
    return found != 0;
}

/* Reads a varint at *pos; returns 0 or -1 when it runs past `end` or is
 * longer than LINK_VARINT_MAX bytes. */
static int s_get_varint(const uint8_t **pos, const uint8_t *end, uint64_t *value)
{
    uint64_t result = 0;
    const uint8_t *p = *pos;
    for (int i = 0; i < LINK_VARINT_MAX; i++) {
        if (p >= end)
            return -1;
        uint8_t byte = *p++;
        result |= (uint64_t)(byte & VARINT_PAYLOAD_MASK) << (VARINT_PAYLOAD_BITS * i);
        if (!(byte & VARINT_MORE)) {
            *pos = p;
            *value = result;
            return 0;
        }
    }
    return -1;
}

int link_peek_bytes_field(const uint8_t *data, size_t len, uint32_t field_number,
                          const uint8_t **value, size_t *value_len)
{
    const uint8_t *pos = data;
    const uint8_t *end = data + len;
    bool found = false;
    while (pos < end) {
        uint64_t tag, size;
        if (s_get_varint(&pos, end, &tag))
            return -1;
        unsigned wire_type = (unsigned)(tag & WIRE_TYPE_MASK);
        uint64_t number = tag >> WIRE_TAG_SHIFT;
        switch (wire_type) {
        case WIRE_TYPE_VARINT:
            if (s_get_varint(&pos, end, &size))
                return -1;
            break;
        case WIRE_TYPE_64BIT:
            if ((size_t)(end - pos) < FIXED64_BYTES)
                return -1;
            pos += FIXED64_BYTES;
            break;
        case WIRE_TYPE_32BIT:
            if ((size_t)(end - pos) < FIXED32_BYTES)
                return -1;
            pos += FIXED32_BYTES;
            break;
        case WIRE_TYPE_LENGTH:
            if (s_get_varint(&pos, end, &size) || size > (uint64_t)(end - pos))
                return -1;
            if (number == field_number) { /* the last one wins, as in protobuf */
                *value = pos;
                *value_len = (size_t)size;
                found = true;
            }
            pos += size;
            break;
        default:
            return -1;
        }
    }
    return found ? 0 : -1;
}

size_t link_put_varint(uint8_t *out, uint64_t value)
{
    size_t n = 0;
    while (value >= VARINT_MORE) {
        out[n++] = (uint8_t)(value | VARINT_MORE);
        value >>= VARINT_PAYLOAD_BITS;
    }
    out[n++] = (uint8_t)value;
    return n;
}

/* Enum value names as metric labels: the enum's own value name without its
 * prefix, lower-cased ("REASON_TOO_LARGE" -> "too_large"). Built from the
 * generated descriptors, so a new reason code needs no edit here. */
#define LINK_NAME_MAX   48
#define LINK_NAME_SLOTS 64

static const char *s_enum_label(const ProtobufCEnumDescriptor *descriptor, int value,
                                const char *prefix, char names[][LINK_NAME_MAX], size_t slots)
{
    if (value < 0 || (size_t)value >= slots)
        return "unknown";
    if (names[value][0])
        return names[value];
    const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value(descriptor, value);
    if (!found)
        return "unknown";
    const char *name = found->name;
    size_t prefix_len = strlen(prefix);
    if (strncmp(name, prefix, prefix_len) == 0)
        name += prefix_len;
    size_t i = 0;
    for (; name[i] && i + 1 < LINK_NAME_MAX; i++)
        names[value][i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    names[value][i] = '\0';
    return names[value];
}

const char *link_reason_name(Vigil__V1__ReasonCode reason)
{
    static _Thread_local char names[LINK_NAME_SLOTS][LINK_NAME_MAX];
    return s_enum_label(&vigil__v1__reason_code__descriptor, (int)reason, "REASON_", names,
                        LINK_NAME_SLOTS);
}

const char *link_status_name(Vigil__V1__AckStatus status)
{
    static _Thread_local char names[LINK_NAME_SLOTS][LINK_NAME_MAX];
    return s_enum_label(&vigil__v1__ack_status__descriptor, (int)status, "ACK_STATUS_", names,
                        LINK_NAME_SLOTS);
}

/* --- the decode arena ----------------------------------------------------- */

#define ARENA_CHUNK     (64 * 1024) /* bytes per chunk; bigger requests get their own */
#define ARENA_ALIGNMENT 16

struct link_arena_chunk_t {
    link_arena_chunk_t *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    max_align_t data[];
};

static void *s_arena_alloc(void *data, size_t size)
{
    link_arena_t *arena = data;
    size = (size + ARENA_ALIGNMENT - 1) & ~(size_t)(ARENA_ALIGNMENT - 1);
    link_arena_chunk_t *chunk = arena->chunks;
    if (!chunk || chunk->size - chunk->used < size) {
        if (size <= ARENA_CHUNK && arena->spare) {
            chunk = arena->spare;
            arena->spare = chunk->next;
            arena->spare_bytes -= chunk->size;
        } else {
            size_t capacity = size > ARENA_CHUNK ? size : ARENA_CHUNK;
            chunk = malloc(sizeof *chunk + capacity);
            if (!chunk)
                return NULL;
            chunk->size = capacity;
        }
        chunk->used = 0;
        chunk->next = arena->chunks;
        arena->chunks = chunk;
    }
    void *out = (char *)chunk->data + chunk->used;
    chunk->used += size;
    return out;
}

static void s_arena_free(void *data, void *pointer)
{
    (void)data;
    (void)pointer; /* returned all at once by link_arena_reset() */
}

void link_arena_init(link_arena_t *arena)
{
    arena->allocator.alloc = s_arena_alloc;
    arena->allocator.free = s_arena_free;
    arena->allocator.allocator_data = arena;
    arena->chunks = NULL;
    arena->spare = NULL;
    arena->spare_bytes = 0;
}

void link_arena_reset(link_arena_t *arena)
{
    /* Decoded payloads may hold personal data (an IntakeContact): wipe
     * every byte handed out before the memory is freed or reused. */
    link_arena_chunk_t *chunk = arena->chunks;
    while (chunk) {
        link_arena_chunk_t *next = chunk->next;
        sodium_memzero(chunk->data, chunk->used);
        if (chunk->size == ARENA_CHUNK && arena->spare_bytes + chunk->size <= LINK_ARENA_KEEP) {
            chunk->next = arena->spare;
            arena->spare = chunk;
            arena->spare_bytes += chunk->size;
        } else {
            free(chunk);
        }
        chunk = next;
    }
    arena->chunks = NULL;
}

void link_arena_release(link_arena_t *arena)
{
    link_arena_reset(arena);
    while (arena->spare) {
        link_arena_chunk_t *next = arena->spare->next;
        free(arena->spare);
        arena->spare = next;
    }
    arena->spare_bytes = 0;
}

/* --- random bytes ------------------------------------------------------------ */

static _Thread_local uint8_t s_pool[LINK_RANDOM_POOL];
static _Thread_local size_t s_pool_left;
static pthread_once_t s_pool_once = PTHREAD_ONCE_INIT;

/* In a forked child the pool holds bytes the parent also uses: drop it. */
static void s_pool_forget(void)
{
    sodium_memzero(s_pool, sizeof s_pool);
    s_pool_left = 0;
}

static void s_pool_init(void)
{
    pthread_atfork(NULL, NULL, s_pool_forget);
}

void link_random_bytes(uint8_t *out, size_t len)
{
    pthread_once(&s_pool_once, s_pool_init);
    if (len > s_pool_left) {
        if (sodium_init() < 0)
            abort(); /* no CSPRNG: util.c refuses to continue the same way */
        randombytes_buf(s_pool, sizeof s_pool);
        s_pool_left = sizeof s_pool;
    }
    uint8_t *from = s_pool + sizeof s_pool - s_pool_left;
    memcpy(out, from, len);
    sodium_memzero(from, len);
    s_pool_left -= len;
}

/* --- sqlite's global settings ------------------------------------------------ */

/* Runs when the program (or the library holding the link) is loaded, before
 * main() and so before any store is opened: turns off sqlite's memory
 * statistics. With them on, every sqlite3_malloc() and sqlite3_free() takes
 * a global mutex and updates counters: 4-6 % of the link's instructions
 * per message (docs/performance.md, "Reliable link"). Nothing
 * in vigil reads sqlite3_memory_used() or sets a soft heap limit. The call
 * is refused harmlessly (SQLITE_MISUSE) when sqlite was already initialized,
 * e.g. when this code is dlopen'ed late; durability settings are untouched. */
__attribute__((constructor)) static void s_sqlite_global_config(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int64_t link_now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * US_PER_S + now.tv_nsec / NS_PER_US;
}

/* The last statements found, per thread, by connection and SQL pointer
 * (callers pass the same static strings every time). Comparing every
 * statement's text with strcmp() -- and every cached one starts with the
 * same marker -- was 3.5 % of intake's loop, and so was walking the
 * connection's statements to check that a cached one was still live. A
 * cached statement can only go away through link_stmt_release() or
 * store_close() (nothing else finalizes the link's cached statements, and
 * a store is closed only by store_close()); each counts, and an entry
 * made before either last ran is not used. A connection closed another
 * way must have had link_stmt_release() first. */
enum { STMT_CACHE_SLOTS = 8 };
static _Atomic uint64_t s_stmt_releases;
static _Thread_local struct {
    sqlite3 *db;
    const char *sql;
    sqlite3_stmt *stmt;
    uint64_t releases, closes; /* s_stmt_releases and store_close_count() then */
} s_stmt_cache[STMT_CACHE_SLOTS];
static _Thread_local unsigned s_stmt_cache_next;

static sqlite3_stmt *s_stmt_cached(sqlite3 *db, const char *sql)
{
    for (unsigned i = 0; i < STMT_CACHE_SLOTS; i++) {
        if (s_stmt_cache[i].db != db || s_stmt_cache[i].sql != sql)
            continue;
        if (s_stmt_cache[i].releases != atomic_load(&s_stmt_releases) ||
            s_stmt_cache[i].closes != store_close_count())
            return NULL; /* may have been finalized since */
        return s_stmt_cache[i].stmt;
    }
    return NULL;
}

static void s_stmt_remember(sqlite3 *db, const char *sql, sqlite3_stmt *stmt)
{
    unsigned slot = s_stmt_cache_next++ % STMT_CACHE_SLOTS;
    for (unsigned i = 0; i < STMT_CACHE_SLOTS; i++)
        if (s_stmt_cache[i].db == db && s_stmt_cache[i].sql == sql)
            slot = i;
    s_stmt_cache[slot].db = db;
    s_stmt_cache[slot].sql = sql;
    s_stmt_cache[slot].stmt = stmt;
    s_stmt_cache[slot].releases = atomic_load(&s_stmt_releases);
    s_stmt_cache[slot].closes = store_close_count();
}

sqlite3_stmt *link_stmt_first(sqlite3 *db, const char *sql, bool *prepared, char *err,
                              size_t errlen)
{
    *prepared = false;
    sqlite3_stmt *stmt = s_stmt_cached(db, sql);
    if (stmt)
        return stmt;
    for (stmt = sqlite3_next_stmt(db, NULL); stmt; stmt = sqlite3_next_stmt(db, stmt))
        if (strcmp(sqlite3_sql(stmt), sql) == 0)
            break;
    if (!stmt) {
        if (link_prepare(db, sql, &stmt, err, errlen))
            return NULL;
        *prepared = true;
    }
    s_stmt_remember(db, sql, stmt);
    return stmt;
}

sqlite3_stmt *link_stmt(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    bool prepared;
    return link_stmt_first(db, sql, &prepared, err, errlen);
}

void link_stmt_release(sqlite3 *db)
{
    atomic_fetch_add(&s_stmt_releases, 1); /* before the statements go */
    size_t marker = strlen(LINK_CACHED_MARKER);
    sqlite3_stmt *stmt = sqlite3_next_stmt(db, NULL);
    while (stmt) {
        sqlite3_stmt *next = sqlite3_next_stmt(db, stmt);
        if (strncmp(sqlite3_sql(stmt), LINK_CACHED_MARKER, marker) == 0)
            sqlite3_finalize(stmt);
        stmt = next;
    }
}

int link_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, char *err, size_t errlen)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(db));
        sqlite3_finalize(*stmt);
        *stmt = NULL;
        return -1;
    }
    return 0;
}

int link_step_done(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}
