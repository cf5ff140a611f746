/* fuzz.h: what vigil's fuzz targets share.
 *
 * Each fuzz_<name>.c is a libFuzzer target: it defines
 * LLVMFuzzerTestOneInput() and checks, for any input, properties a user
 * depends on (the hand-written codec agrees with protobuf-c, a parsed line
 * maps back to itself, a personal value never reaches a pseudonymous view,
 * a refused config says where). A broken property aborts with a message,
 * which both libFuzzer and the replay driver report as a failure.
 *
 * Two builds use the same files:
 * - every build links each target with replay_main.c into
 *   fuzz_<name>_replay, which ctest runs over the target's built-in seeds
 *   and its saved regressions (tests/fuzz/regressions/<name>/);
 * - scripts/fuzz.sh builds them with clang and -fsanitize=fuzzer (and ASan
 *   and UBSan) into a build of its own and fuzzes each for a while.
 */
#ifndef VIGIL_FUZZ_H
#define VIGIL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry points. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Hands one seed input to the caller of fuzz_seeds(). */
typedef void (*fuzz_emit_fn)(void *ctx, const uint8_t *data, size_t size);

/* Produces the target's seed inputs (valid messages of each kind, and a few
 * typical mistakes), each through `emit`. Defined by every target. */
void fuzz_seeds(fuzz_emit_fn emit, void *ctx);

/* Hands each of the `count` strings of `texts` to `emit`, without its NUL.
 * For targets whose seeds are text. */
static inline void fuzz_emit_texts(fuzz_emit_fn emit, void *ctx, const char *const *texts,
                                   size_t count)
{
    for (size_t i = 0; i < count; i++)
        emit(ctx, (const uint8_t *)texts[i], strlen(texts[i]));
}

/* Makes a fresh folder for the target's files, vigil-fuzz-<name>-XXXXXX
 * under $TMPDIR (else /tmp), and returns its path; it is removed with all
 * it holds when the process exits, after any exit handler the target
 * registers later (a store it must close first, say). libFuzzer ends
 * with _Exit(), so no exit handler runs there: scripts/fuzz.sh gives each
 * target a TMPDIR of its own and removes it. Once per process. Aborts when
 * it cannot. */
const char *fuzz_tempdir(const char *name);

/* Aborts with a message naming the broken property. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FUZZ PROPERTY BROKEN %s:%d: ", __FILE__, __LINE__);                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
