/* fuzz_policy_wire.c: triage reads whatever the policy worker sends
 * without reading past it, and reads back exactly what was written.
 *
 * The worker runs region plugins, which are not vigil's code; under the
 * sandbox (services/triage/policy_sandbox.c) their one way out is the
 * worker's socket to triage, so triage's frame reader
 * (services/triage/policy_wire.c) takes input from code it does not
 * trust. The first input byte picks the half:
 * - even: the rest is a raw byte stream on a real socketpair, read with
 *   policy_wire_in_fill() and policy_wire_in_frame() as the policy host
 *   does, each frame decoded as a routing answer (the fields of
 *   policy_host.c's s_apply()). Every frame's payload lies inside what was
 *   received; every string read is NUL-terminated inside its payload; a
 *   failed read stays failed; the stream ends, and a frame announced
 *   larger than POLICY_WIRE_FRAME_MAX is refused before it is buffered.
 * - odd: the rest is cut at 0x01 bytes into up to 8 strings (NULs end a C
 *   string early, as the writer takes C strings); they are written as a
 *   routing answer with the writer and sent, and must read back the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "policy_wire.h"

enum {
    FUZZ_STREAM_MAX = 65536, /* fits a socketpair's buffer: written whole, then read */
    FUZZ_STRINGS = 8,
    FUZZ_REFS_MAX = 64, /* referrals decoded per answer, at most (s_apply reads them all) */
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* A string the reader returned lies in [start, end) with its NUL. */
static void s_check_str(const policy_wire_reader_t *rd, const char *text, const uint8_t *start,
                        const uint8_t *end)
{
    if (rd->failed) {
        FUZZ_CHECK(text[0] == '\0', "a failed read returned a non-empty string");
        return;
    }
    const uint8_t *at = (const uint8_t *)text;
    FUZZ_CHECK(at >= start && at < end, "a string outside its payload");
    FUZZ_CHECK(memchr(at, 0, (size_t)(end - at)) != NULL, "a string without its NUL");
}

/* Reads a routing answer as policy_host.c's s_apply() does. */
static void s_decode_routed(policy_wire_reader_t *rd, const uint8_t *start, const uint8_t *end)
{
    (void)policy_wire_get_u8(rd);
    (void)policy_wire_get_i32(rd);
    for (int i = 0; i < 3; i++)
        s_check_str(rd, policy_wire_get_str(rd), start, end);
    (void)policy_wire_get_i32(rd);
    (void)policy_wire_get_u8(rd);
    uint32_t refs = policy_wire_get_u32(rd);
    for (uint32_t i = 0; i < refs && i < FUZZ_REFS_MAX && !rd->failed; i++)
        for (int k = 0; k < 3; k++)
            s_check_str(rd, policy_wire_get_str(rd), start, end);
    bool failed = rd->failed;
    (void)policy_wire_get_u64(rd);
    FUZZ_CHECK(!failed || rd->failed, "a failed reader recovered");
    FUZZ_CHECK(rd->at + rd->left == end, "the reader left its payload");
}

static void s_pair(int fds[2])
{
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair: %s",
               strerror(errno));
    int size = 4 * FUZZ_STREAM_MAX;
    setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    FUZZ_CHECK(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0, "fcntl");
}

static void s_stream(const uint8_t *data, size_t size)
{
    int fds[2];
    s_pair(fds);
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = write(fds[0], data + sent, size - sent);
        FUZZ_CHECK(n > 0, "write: %s", strerror(errno));
        sent += (size_t)n;
    }
    shutdown(fds[0], SHUT_WR);
    policy_wire_in_t in;
    policy_wire_in_init(&in);
    size_t frames = 0;
    for (;;) {
        int rc = policy_wire_in_fill(&in, fds[1]);
        FUZZ_CHECK(rc != 0, "the reader waits for bytes that were all sent");
        if (rc < 0)
            break;
        uint8_t type = 0;
        policy_wire_reader_t rd;
        FUZZ_CHECK(policy_wire_in_frame(&in, &type, &rd) == 1, "fill said complete, frame did not");
        const uint8_t *start = in.data + POLICY_WIRE_HEADER, *end = rd.at + rd.left;
        FUZZ_CHECK(rd.at == start && end <= in.data + in.len, "a payload outside the buffer");
        FUZZ_CHECK(rd.left <= POLICY_WIRE_FRAME_MAX, "a frame past the limit was read");
        s_decode_routed(&rd, start, end);
        policy_wire_in_consume(&in);
        FUZZ_CHECK(++frames <= size / POLICY_WIRE_HEADER, "more frames than bytes allow");
    }
    FUZZ_CHECK(in.cap <= 2 * (size + POLICY_WIRE_HEADER) + 2 * 65536,
               "buffered %zu bytes for a %zu-byte stream", in.cap, size);
    policy_wire_in_free(&in);
    close(fds[0]);
    close(fds[1]);
}

static void s_round_trip(const uint8_t *data, size_t size)
{
    char strings[FUZZ_STRINGS][FUZZ_STREAM_MAX / FUZZ_STRINGS];
    size_t count = 0, at = 0;
    while (count < FUZZ_STRINGS) {
        size_t len = 0;
        while (at < size && data[at] != 0x01 && len + 1 < sizeof strings[0])
            strings[count][len++] = (char)data[at++];
        strings[count][len] = '\0';
        count++;
        if (at >= size)
            break;
        at++;
    }
    /* assignee, escalation, rationale, then referrals of three strings */
    uint32_t refs = count > 3 ? (uint32_t)(count - 3) / 3 : 0;
    policy_wire_buf_t out = {0};
    policy_wire_begin(&out, POLICY_MSG_ROUTED);
    policy_wire_u8(&out, 1);
    policy_wire_i32(&out, -7);
    for (size_t i = 0; i < 3; i++)
        policy_wire_str(&out, i < count ? strings[i] : NULL);
    policy_wire_i32(&out, 2);
    policy_wire_u8(&out, 1);
    policy_wire_u32(&out, refs);
    for (size_t i = 3; i < 3 + 3 * (size_t)refs; i++)
        policy_wire_str(&out, strings[i]);
    FUZZ_CHECK(!out.failed, "the writer failed");
    int fds[2];
    s_pair(fds);
    FUZZ_CHECK(policy_wire_send(fds[0], &out, -1) == 0, "send");
    policy_wire_buf_free(&out);
    policy_wire_in_t in;
    policy_wire_in_init(&in);
    FUZZ_CHECK(policy_wire_in_fill(&in, fds[1]) == 1, "the written frame did not arrive whole");
    uint8_t type = 0;
    policy_wire_reader_t rd;
    FUZZ_CHECK(policy_wire_in_frame(&in, &type, &rd) == 1 && type == POLICY_MSG_ROUTED,
               "wrong frame type %u", type);
    FUZZ_CHECK(policy_wire_get_u8(&rd) == 1 && policy_wire_get_i32(&rd) == -7, "header fields");
    for (size_t i = 0; i < 3; i++) {
        const char *text = policy_wire_get_str(&rd);
        FUZZ_CHECK(strcmp(text, i < count ? strings[i] : "") == 0, "string %zu came back as %s", i,
                   text);
    }
    FUZZ_CHECK(policy_wire_get_i32(&rd) == 2 && policy_wire_get_u8(&rd) == 1 &&
                   policy_wire_get_u32(&rd) == refs,
               "middle fields");
    for (size_t i = 3; i < 3 + 3 * (size_t)refs; i++)
        FUZZ_CHECK(strcmp(policy_wire_get_str(&rd), strings[i]) == 0, "referral string %zu", i);
    FUZZ_CHECK(!rd.failed && rd.left == 0, "the answer did not read back exactly");
    policy_wire_in_consume(&in);
    policy_wire_in_free(&in);
    close(fds[0]);
    close(fds[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_STREAM_MAX)
        return 0;
    if (data[0] % 2 == 0)
        s_stream(data + 1, size - 1);
    else
        s_round_trip(data + 1, size - 1);
    return 0;
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    /* a well-formed routing answer, as the worker writes it */
    policy_wire_buf_t out = {0};
    policy_wire_begin(&out, POLICY_MSG_ROUTED);
    policy_wire_u8(&out, 1);
    policy_wire_i32(&out, 0);
    policy_wire_str(&out, "west-co-1");
    policy_wire_str(&out, "west-sup");
    policy_wire_str(&out, "rules 1.0.0: on call");
    policy_wire_i32(&out, 0);
    policy_wire_u8(&out, 0);
    policy_wire_u32(&out, 1);
    policy_wire_str(&out, "svc-1");
    policy_wire_str(&out, "org-1");
    policy_wire_str(&out, "shelter");
    uint8_t stream[1 + 512];
    stream[0] = 0;
    size_t n = out.len < sizeof stream - 1 ? out.len : sizeof stream - 1;
    memcpy(stream + 1, out.data, n);
    emit(ctx, stream, 1 + n);
    /* the garbled frame of tests/integration/triage_test_plugin.c, then the same answer */
    uint8_t garbled[1 + 13 + 512] = {0, 8, 0, 0, 0, POLICY_MSG_ROUTED};
    memset(garbled + 6, 0xff, 8);
    memcpy(garbled + 14, out.data, n);
    emit(ctx, garbled, 14 + n);
    /* a frame announced past the limit */
    static const uint8_t huge[] = {0, 0xff, 0xff, 0xff, 0xff, POLICY_MSG_ROUTED, 1, 2, 3};
    emit(ctx, huge, sizeof huge);
    policy_wire_buf_free(&out);
    static const char *const texts[] = {"\x01west-co-1\x01west-sup\x01why\x01svc\x01org\x01term",
                                        "\x01\x01\x01", "\x01only an assignee"};
    fuzz_emit_texts(emit, ctx, texts, sizeof texts / sizeof texts[0]);
}
