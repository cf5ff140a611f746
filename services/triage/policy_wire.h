/* policy_wire.h: the framing between triage and vigil-policy-worker.
 *
 * One socketpair (SOCK_STREAM), private to the two processes. A frame is a
 * 4-byte payload length, a 1-byte message type and the payload, built with
 * the writer and read with the reader below (native byte order: both ends
 * are the same machine and the same build). A frame may carry one file
 * descriptor (SCM_RIGHTS): how triage hands the worker the plugin files it
 * opened and checked. The message types and their payloads are listed
 * here; policy_host.c and policy_worker.c are the only users. Nothing on
 * this wire is personal data: it carries pseudonymous case views and
 * decisions.
 */
#ifndef VIGIL_TRIAGE_POLICY_WIRE_H
#define VIGIL_TRIAGE_POLICY_WIRE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The worker's end of the socketpair and the progress page, after exec. */
#define POLICY_WIRE_WORKER_FD   3
#define POLICY_WIRE_PROGRESS_FD 4
/* Largest frame either side accepts. */
#define POLICY_WIRE_FRAME_MAX (64u * 1024u * 1024u)
/* Bytes before the payload: length (4) and type (1). */
#define POLICY_WIRE_HEADER 5

/* Message types. Payloads (u32 = uint32_t, str = u32 length + bytes + NUL):
 *
 * host -> worker
 *   HELLO    str host_version, str directory_db, u32 slot_count
 *   LOAD     u32 slot, str region, str file, str plugin_config, str timezone,
 *            u32 n, n x officer {str id, u32 k, k x str language, i32 role,
 *            u8 on_call, u32 open_cases}; carries the plugin file's fd
 *   LOADS    u32 slot, u32 n, n x u32 open_cases (roster order)
 *   ROUTE    u64 seq, u32 n, n x case {u32 slot, str case_id, str language,
 *            str state, str county_fips, str zip3, i32 channel,
 *            i32 caller_role, i32 crime_category, i32 priority,
 *            u32 escalation_level, i64 received_at_ms, u8 flags,
 *            u32 k, k x i32 need, u32 m, m x i32 cue, i64 now_ms}
 *   SHUTDOWN (empty): fini every instance and exit 0
 *
 * worker -> host
 *   READY    str warning ("" if the directory opened)
 *   LOADED   u32 slot, u8 load_status, str plugin_name, str plugin_version,
 *            str error (names the file and the reason)
 *   ROUTED   u64 seq, u32 n, n x result {u8 route_status, i32 rc,
 *            str assignee, str escalation, str rationale, i32 adjustment,
 *            u8 review, u32 k, k x {str service, str organization, str term}}
 */
enum {
    POLICY_MSG_HELLO = 1,
    POLICY_MSG_LOAD = 2,
    POLICY_MSG_LOADS = 3,
    POLICY_MSG_ROUTE = 4,
    POLICY_MSG_SHUTDOWN = 5,
    POLICY_MSG_READY = 101,
    POLICY_MSG_LOADED = 102,
    POLICY_MSG_ROUTED = 103,
};

/* Case flags in ROUTE. */
enum {
    POLICY_CASE_SHARE = 1 << 0,
    POLICY_CASE_HAS_OFFENDER = 1 << 1,
    POLICY_CASE_NOTIFICATIONS = 1 << 2,
    POLICY_CASE_EMERGENCY = 1 << 3,
};

/* LOADED load_status. */
enum {
    POLICY_LOAD_NEW = 0,    /* the new version runs in the slot */
    POLICY_LOAD_KEPT = 1,   /* the new version failed; the old one still runs */
    POLICY_LOAD_FAILED = 2, /* it failed and the slot is empty */
};

/* ROUTED route_status. */
enum {
    POLICY_ROUTE_DECIDED = 0,     /* route returned OK with an assignee */
    POLICY_ROUTE_DECLINED = 1,    /* route returned rc < 0 */
    POLICY_ROUTE_NO_ASSIGNEE = 2, /* route returned OK without an assignee */
    POLICY_ROUTE_NO_PLUGIN = 3,   /* no instance in the slot */
};

/* The progress page: a shared memory page the worker updates before every
 * plugin callback, so that after a crash or at a deadline triage knows
 * which region and case were in flight, and since when. */
enum {
    POLICY_PHASE_IDLE = 0,
    POLICY_PHASE_LOADING = 1, /* dlopen, checks, init, self_test, reload, fini */
    POLICY_PHASE_ROUTING = 2, /* route of case `index` of batch `seq` */
};

typedef struct {
    _Atomic uint32_t phase;      /* POLICY_PHASE_* */
    _Atomic uint32_t slot;       /* region slot in flight */
    _Atomic uint32_t index;      /* case index within the ROUTE message */
    _Atomic uint64_t seq;        /* ROUTE seq in flight */
    _Atomic uint64_t started_ns; /* CLOCK_MONOTONIC when the callback began */
} policy_progress_t;

/* A growable output buffer. Errors (allocation) are sticky: check
 * `failed` once before sending. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed;
} policy_wire_buf_t;

/* Empties the buffer and reserves the frame header. Cannot fail. */
void policy_wire_begin(policy_wire_buf_t *buf, uint8_t type);
/* Frees the buffer's memory. Cannot fail. */
void policy_wire_buf_free(policy_wire_buf_t *buf);

void policy_wire_u8(policy_wire_buf_t *buf, uint8_t value);
void policy_wire_u32(policy_wire_buf_t *buf, uint32_t value);
void policy_wire_i32(policy_wire_buf_t *buf, int32_t value);
void policy_wire_u64(policy_wire_buf_t *buf, uint64_t value);
void policy_wire_i64(policy_wire_buf_t *buf, int64_t value);
/* Writes a string (NULL as ""). */
void policy_wire_str(policy_wire_buf_t *buf, const char *text);

/* Sends the frame in `buf` (after policy_wire_begin and the writes), with
 * `pass_fd` attached if >= 0. Blocks until written (retrying EINTR and
 * EAGAIN). Returns 0, or -1 if the peer is gone or the buffer failed. */
int policy_wire_send(int fd, policy_wire_buf_t *buf, int pass_fd);

/* A reader over one received payload. Errors are sticky (`failed`): read
 * everything, then check once. Strings point into the payload. */
typedef struct {
    const uint8_t *at;
    size_t left;
    bool failed;
} policy_wire_reader_t;

uint8_t policy_wire_get_u8(policy_wire_reader_t *r);
uint32_t policy_wire_get_u32(policy_wire_reader_t *r);
int32_t policy_wire_get_i32(policy_wire_reader_t *r);
uint64_t policy_wire_get_u64(policy_wire_reader_t *r);
int64_t policy_wire_get_i64(policy_wire_reader_t *r);
/* Returns "" on error. */
const char *policy_wire_get_str(policy_wire_reader_t *r);

/* Passed fds waiting to be claimed, at most. */
#define POLICY_WIRE_FDS_MAX 64

/* An incoming frame stream with its buffer. Passed fds queue up in the
 * order they arrived, which is the order of the frames that carry them. */
typedef struct {
    uint8_t *data;
    size_t len; /* bytes buffered */
    size_t cap;
    int fds[POLICY_WIRE_FDS_MAX];
    size_t fd_count;
} policy_wire_in_t;

/* Takes the oldest passed fd (the caller owns it), or returns -1. Cannot
 * fail. */
int policy_wire_in_take_fd(policy_wire_in_t *in);

/* Prepares an empty stream. Cannot fail. */
void policy_wire_in_init(policy_wire_in_t *in);
/* Frees it and closes unclaimed passed fds. Cannot fail. */
void policy_wire_in_free(policy_wire_in_t *in);

/* Reads whatever is available from `fd` (non-blocking socket: until
 * EAGAIN; blocking: one read). Returns 1 when a complete frame is buffered
 * (already or now), 0 when more is needed, -1 at end of stream, on a read
 * error, or on a frame larger than POLICY_WIRE_FRAME_MAX. */
int policy_wire_in_fill(policy_wire_in_t *in, int fd);

/* If a complete frame is buffered, sets *type and *reader (valid until the
 * next policy_wire_in_* call) and returns 1; else returns 0. Call
 * policy_wire_in_consume() when done with it. Cannot fail. */
int policy_wire_in_frame(policy_wire_in_t *in, uint8_t *type, policy_wire_reader_t *reader);
/* Drops the frame policy_wire_in_frame() returned. Cannot fail. */
void policy_wire_in_consume(policy_wire_in_t *in);

/* Blocking: reads until a complete frame is buffered. Returns 1, or -1 at
 * end of stream or on error. */
int policy_wire_in_wait(policy_wire_in_t *in, int fd);

#endif
