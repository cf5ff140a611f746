/* policy_wire.c: frames between triage and vigil-policy-worker
 * (policy_wire.h). Byte plumbing only: it never interprets a payload and
 * never logs one.
 */
#include "policy_wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* First allocation of a buffer. */
#define POLICY_WIRE_INITIAL_CAP 4096
/* Bytes asked of one read(2). */
#define POLICY_WIRE_READ_CHUNK 65536

static void s_reserve(policy_wire_buf_t *buf, size_t more)
{
    if (buf->failed) {
        return;
    }
    if (buf->len + more > POLICY_WIRE_FRAME_MAX + POLICY_WIRE_HEADER) {
        buf->failed = true;
        return;
    }
    if (buf->len + more <= buf->cap) {
        return;
    }
    size_t cap = buf->cap ? buf->cap : POLICY_WIRE_INITIAL_CAP;
    while (cap < buf->len + more) {
        cap *= 2;
    }
    uint8_t *data = realloc(buf->data, cap);
    if (!data) {
        buf->failed = true;
        return;
    }
    buf->data = data;
    buf->cap = cap;
}

static void s_put(policy_wire_buf_t *buf, const void *bytes, size_t n)
{
    s_reserve(buf, n);
    if (!buf->failed) {
        memcpy(buf->data + buf->len, bytes, n);
        buf->len += n;
    }
}

void policy_wire_begin(policy_wire_buf_t *buf, uint8_t type)
{
    buf->len = 0;
    buf->failed = false;
    uint32_t zero = 0;
    s_put(buf, &zero, sizeof zero);
    s_put(buf, &type, sizeof type);
}

void policy_wire_buf_free(policy_wire_buf_t *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof *buf);
}

void policy_wire_u8(policy_wire_buf_t *buf, uint8_t value)
{
    s_put(buf, &value, sizeof value);
}

void policy_wire_u32(policy_wire_buf_t *buf, uint32_t value)
{
    s_put(buf, &value, sizeof value);
}

void policy_wire_i32(policy_wire_buf_t *buf, int32_t value)
{
    s_put(buf, &value, sizeof value);
}

void policy_wire_u64(policy_wire_buf_t *buf, uint64_t value)
{
    s_put(buf, &value, sizeof value);
}

void policy_wire_i64(policy_wire_buf_t *buf, int64_t value)
{
    s_put(buf, &value, sizeof value);
}

void policy_wire_str(policy_wire_buf_t *buf, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (n > POLICY_WIRE_FRAME_MAX) {
        buf->failed = true;
        return;
    }
    policy_wire_u32(buf, (uint32_t)n);
    s_put(buf, text ? text : "", n);
    s_put(buf, "", 1);
}

static int s_wait_writable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return poll(&p, 1, -1) < 0 && errno != EINTR ? -1 : 0;
}

int policy_wire_send(int fd, policy_wire_buf_t *buf, int pass_fd)
{
    if (buf->failed || buf->len < POLICY_WIRE_HEADER) {
        return -1;
    }
    uint32_t payload = (uint32_t)(buf->len - POLICY_WIRE_HEADER);
    memcpy(buf->data, &payload, sizeof payload);
    size_t sent = 0;
    while (sent < buf->len) {
        struct iovec iov = {.iov_base = buf->data + sent, .iov_len = buf->len - sent};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        union {
            struct cmsghdr align;
            char space[CMSG_SPACE(sizeof(int))];
        } control;
        if (pass_fd >= 0 && sent == 0) {
            memset(&control, 0, sizeof control);
            msg.msg_control = control.space;
            msg.msg_controllen = sizeof control.space;
            struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
            cmsg->cmsg_level = SOL_SOCKET;
            cmsg->cmsg_type = SCM_RIGHTS;
            cmsg->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
        }
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (s_wait_writable(fd) < 0) {
                    return -1;
                }
                continue;
            }
            return -1;
        }
        sent += (size_t)n;
    }
    return 0;
}

static void s_get(policy_wire_reader_t *r, void *out, size_t n)
{
    if (r->failed || r->left < n) {
        r->failed = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->at, n);
    r->at += n;
    r->left -= n;
}

uint8_t policy_wire_get_u8(policy_wire_reader_t *r)
{
    uint8_t v;
    s_get(r, &v, sizeof v);
    return v;
}

uint32_t policy_wire_get_u32(policy_wire_reader_t *r)
{
    uint32_t v;
    s_get(r, &v, sizeof v);
    return v;
}

int32_t policy_wire_get_i32(policy_wire_reader_t *r)
{
    int32_t v;
    s_get(r, &v, sizeof v);
    return v;
}

uint64_t policy_wire_get_u64(policy_wire_reader_t *r)
{
    uint64_t v;
    s_get(r, &v, sizeof v);
    return v;
}

int64_t policy_wire_get_i64(policy_wire_reader_t *r)
{
    int64_t v;
    s_get(r, &v, sizeof v);
    return v;
}

const char *policy_wire_get_str(policy_wire_reader_t *r)
{
    uint32_t n = policy_wire_get_u32(r);
    if (r->failed || r->left < (size_t)n + 1 || r->at[n] != '\0' || memchr(r->at, 0, n)) {
        r->failed = true;
        return "";
    }
    const char *text = (const char *)r->at;
    r->at += (size_t)n + 1;
    r->left -= (size_t)n + 1;
    return text;
}

void policy_wire_in_init(policy_wire_in_t *in)
{
    memset(in, 0, sizeof *in);
}

void policy_wire_in_free(policy_wire_in_t *in)
{
    for (size_t i = 0; i < in->fd_count; i++) {
        close(in->fds[i]);
    }
    free(in->data);
    memset(in, 0, sizeof *in);
}

int policy_wire_in_take_fd(policy_wire_in_t *in)
{
    if (in->fd_count == 0) {
        return -1;
    }
    int fd = in->fds[0];
    memmove(in->fds, in->fds + 1, (in->fd_count - 1) * sizeof(int));
    in->fd_count--;
    return fd;
}

/* The payload length of the buffered frame, or 0 with *complete false. */
static bool s_complete(const policy_wire_in_t *in, uint32_t *payload)
{
    if (in->len < POLICY_WIRE_HEADER) {
        return false;
    }
    memcpy(payload, in->data, sizeof *payload);
    return in->len >= (size_t)*payload + POLICY_WIRE_HEADER;
}

static void s_keep_fds(policy_wire_in_t *in, struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (in->fd_count < POLICY_WIRE_FDS_MAX) {
                in->fds[in->fd_count++] = fd;
            } else {
                close(fd);
            }
        }
    }
}

int policy_wire_in_fill(policy_wire_in_t *in, int fd)
{
    uint32_t payload = 0;
    for (;;) {
        if (s_complete(in, &payload)) {
            return 1;
        }
        if (in->len >= POLICY_WIRE_HEADER && payload > POLICY_WIRE_FRAME_MAX) {
            return -1;
        }
        if (in->cap - in->len < POLICY_WIRE_READ_CHUNK) {
            size_t cap = in->cap ? in->cap * 2 : POLICY_WIRE_READ_CHUNK * 2;
            uint8_t *data = realloc(in->data, cap);
            if (!data) {
                return -1;
            }
            in->data = data;
            in->cap = cap;
        }
        struct iovec iov = {.iov_base = in->data + in->len, .iov_len = in->cap - in->len};
        union {
            struct cmsghdr align;
            char space[CMSG_SPACE(sizeof(int) * 4)];
        } control;
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control.space,
                             .msg_controllen = sizeof control.space};
        ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            return -1;
        }
        s_keep_fds(in, &msg);
        if (n == 0) {
            return s_complete(in, &payload) ? 1 : -1;
        }
        in->len += (size_t)n;
    }
}

int policy_wire_in_frame(policy_wire_in_t *in, uint8_t *type, policy_wire_reader_t *reader)
{
    uint32_t payload = 0;
    if (!s_complete(in, &payload)) {
        return 0;
    }
    *type = in->data[sizeof payload];
    reader->at = in->data + POLICY_WIRE_HEADER;
    reader->left = payload;
    reader->failed = false;
    return 1;
}

void policy_wire_in_consume(policy_wire_in_t *in)
{
    uint32_t payload = 0;
    if (!s_complete(in, &payload)) {
        return;
    }
    size_t frame = (size_t)payload + POLICY_WIRE_HEADER;
    memmove(in->data, in->data + frame, in->len - frame);
    in->len -= frame;
}

int policy_wire_in_wait(policy_wire_in_t *in, int fd)
{
    for (;;) {
        int rc = policy_wire_in_fill(in, fd);
        if (rc != 0) {
            return rc;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) {
            return -1;
        }
    }
}
