/* replay_main.c: runs a fuzz target without libFuzzer.
 *
 *     fuzz_<name>_replay [PATH...]            run the seeds, then every file
 *                                             under each PATH (file or dir)
 *     fuzz_<name>_replay --write-seeds DIR    write the seeds as files
 *
 * ctest runs the first form over the target's saved regressions, so an
 * input that once broke a property is checked in every build, with gcc and
 * under the sanitizers; scripts/fuzz.sh uses the second to start its corpus.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

enum { REPLAY_PATH_MAX = 4096 };

typedef struct {
    const char *dir; /* --write-seeds: where to write; NULL: run them */
    size_t count;
    int failed;
} replay_t;

static void s_seed(void *ctx, const uint8_t *data, size_t size)
{
    replay_t *r = ctx;
    r->count++;
    if (!r->dir) {
        LLVMFuzzerTestOneInput(data, size);
        return;
    }
    char path[REPLAY_PATH_MAX];
    snprintf(path, sizeof path, "%s/seed-%04zu", r->dir, r->count);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        r->failed = 1;
    }
}

/* Runs the file at `path`. Returns 0, or -1 when it cannot be read. */
static int s_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t size = 0, capacity = 4096;
    uint8_t *data = malloc(capacity);
    size_t n;
    while (data && (n = fread(data + size, 1, capacity - size, f)) > 0) {
        size += n;
        if (size == capacity) {
            uint8_t *grown = realloc(data, capacity *= 2);
            if (!grown)
                free(data);
            data = grown;
        }
    }
    fclose(f);
    if (!data) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

/* Runs `path`, or every regular file in it when it is a directory (not
 * recursively). Returns the number of files run, or -1. */
static long s_run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return s_run_file(path) == 0 ? 1 : -1;
    DIR *dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    long count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        char file[REPLAY_PATH_MAX];
        snprintf(file, sizeof file, "%s/%s", path, entry->d_name);
        if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (s_run_file(file) != 0) {
            count = -1;
            break;
        }
        count++;
    }
    closedir(dir);
    return count;
}

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    replay_t replay = {0};
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) {
        replay.dir = argv[2];
        fuzz_seeds(s_seed, &replay);
        if (!replay.failed)
            printf("wrote %zu seeds to %s\n", replay.count, replay.dir);
        return replay.failed;
    }
    fuzz_seeds(s_seed, &replay);
    long files = 0;
    for (int i = 1; i < argc; i++) {
        long n = s_run_path(argv[i]);
        if (n < 0)
            return 1;
        files += n;
    }
    printf("%s: %zu seeds and %ld saved inputs kept every property\n", argv[0], replay.count,
           files);
    return 0;
}
