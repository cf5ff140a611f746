/* fuzz_line_reader.c: vigil-publish's input lines, however the bytes come.
 *
 * vigil-publish reads its input through line_reader.c, which never blocks:
 * a producer on a pipe may deliver a line in any number of pieces. The
 * first input byte sets the line limit (1 .. 64 bytes), the second seeds
 * the sizes of the pieces, and the rest is written into a pipe piece by
 * piece, the reader draining it after each. For any input this target
 * checks that the lines it hands out are exactly those of a plain split
 * at "\n": each without its "\n" and one trailing "\r", the last one even
 * without a final "\n", and every line longer than the limit (counting
 * its bytes before the "\n") reported as too long, with nothing of it
 * handed out.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "line_reader.h"

enum { FUZZ_LIMIT_MAX = 64, FUZZ_PIECE_MAX = 48 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* What the reader must hand out next, from the plain split of the input. */
typedef struct {
    const uint8_t *data;
    size_t size, at;
    size_t limit;
    size_t lines;
} model_t;

/* Checks one line the reader handed out against the model's next one. */
static void s_expect(model_t *m, const char *line, size_t len, bool too_long)
{
    FUZZ_CHECK(m->at < m->size, "line %zu handed out after the input ended", m->lines + 1);
    const uint8_t *newline = memchr(m->data + m->at, '\n', m->size - m->at);
    size_t raw = newline ? (size_t)(newline - (m->data + m->at)) : m->size - m->at;
    const uint8_t *want = m->data + m->at;
    size_t want_len = raw > 0 && want[raw - 1] == '\r' ? raw - 1 : raw;
    m->lines++;
    if (raw > m->limit) {
        FUZZ_CHECK(too_long && len == 0,
                   "line %zu has %zu bytes over a limit of %zu, but came back as %zu bytes",
                   m->lines, raw, m->limit, len);
    } else {
        FUZZ_CHECK(!too_long, "line %zu (%zu bytes, limit %zu) was called too long", m->lines, raw,
                   m->limit);
        FUZZ_CHECK(len == want_len && memcmp(line, want, len) == 0,
                   "line %zu came back as %zu other bytes instead of %zu", m->lines, len, want_len);
    }
    m->at += raw + (newline ? 1 : 0);
}

/* Takes every line the reader has ready; returns its last answer. */
static int s_drain(line_reader_t *reader, model_t *m)
{
    for (;;) {
        const char *line;
        size_t len;
        bool too_long;
        int rc = line_reader_next(reader, &line, &len, &too_long);
        if (rc != LINE_READER_LINE)
            return rc;
        s_expect(m, line, len, too_long);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    model_t m = {.data = data + 2, .size = size - 2, .limit = 1 + data[0] % FUZZ_LIMIT_MAX};
    uint32_t seed = data[1] | 1u;
    int fds[2];
    FUZZ_CHECK(pipe(fds) == 0, "pipe");
    line_reader_t *reader = line_reader_new(fds[0], m.limit);
    FUZZ_CHECK(reader, "out of memory");
    for (size_t sent = 0; sent < m.size;) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 16) % FUZZ_PIECE_MAX;
        if (piece > m.size - sent)
            piece = m.size - sent;
        FUZZ_CHECK(write(fds[1], m.data + sent, piece) == (ssize_t)piece, "write");
        sent += piece;
        FUZZ_CHECK(s_drain(reader, &m) == LINE_READER_WAIT, "the reader did not wait for more");
    }
    close(fds[1]);
    FUZZ_CHECK(s_drain(reader, &m) == LINE_READER_EOF, "the reader did not end at EOF");
    FUZZ_CHECK(m.at == m.size, "%zu bytes of input never came back as lines", m.size - m.at);
    line_reader_destroy(&reader);
    close(fds[0]);
    return 0;
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    static const char *const inputs[] = {
        "\x10\x01{\"a\": 1}\n{\"b\": 2}\r\n\nlast line without newline",
        "\x04\x07short\nthis line is far too long\nok\r\n",
        "\x20\x03\r\n\r\n\n",
        "\x08\x05exactly8\n123456789\n1234567\r\n",
    };
    fuzz_emit_texts(emit, ctx, inputs, sizeof inputs / sizeof inputs[0]);
}
