/* fuzz_config_include.c: an operator's config file, with @include, as a
 * service reads it.
 *
 * The input is written as in.conf in a folder that also holds ok.conf (a
 * setting), d (a folder) and bad.conf (which includes d), and read with
 * config_read_operator_file(), which config_load() uses for every file.
 * libconfig 1.5 ends the process when it follows an @include to a folder
 * (config_include.c), so the property is that the read returns, for any
 * input: libFuzzer
 * reports a target that exits as a crash. That holds only if the check
 * before libconfig finds every directive libconfig would follow. Also:
 * a refused load's message names a file of the folder (by its path, or as
 * an @include named it).
 * Inputs with ".." or naming in.conf are skipped: they would read files
 * outside the folder, or include themselves (libconfig would then read
 * the file once per path through the include tree).
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "vigil/config.h"

enum {
    FUZZ_CONFIG_MAX = 1 << 16,
    FUZZ_ERR = 1024,
    FUZZ_DIR = 256,
    FUZZ_PATH = 512,
};

static char s_dir[FUZZ_DIR];
static char s_input[FUZZ_PATH];

/* Writes `text` to `name` in the folder. */
static void s_put(const char *name, const uint8_t *text, size_t len)
{
    char path[FUZZ_PATH];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *file = fopen(path, "w");
    FUZZ_CHECK(file && fwrite(text, 1, len, file) == len && fclose(file) == 0, "cannot write %s",
               path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(s_dir, sizeof s_dir, "%s", fuzz_tempdir("config_include"));
    snprintf(s_input, sizeof s_input, "%s/in.conf", s_dir);
    static const char ok[] = "log_level = \"warn\";\n";
    static const char bad[] = "log_level = \"warn\";\n@include \"d\"\n";
    s_put("ok.conf", (const uint8_t *)ok, sizeof ok - 1);
    s_put("bad.conf", (const uint8_t *)bad, sizeof bad - 1);
    char folder[FUZZ_PATH];
    snprintf(folder, sizeof folder, "%s/d", s_dir);
    FUZZ_CHECK(mkdir(folder, 0700) == 0, "cannot make %s", folder);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_dir[0])
        LLVMFuzzerInitialize(NULL, NULL);
    if (size > FUZZ_CONFIG_MAX || memmem(data, size, "..", 2) || memmem(data, size, "in.conf", 7))
        return 0;
    s_put("in.conf", data, size);
    config_t config;
    config_init(&config);
    char err[FUZZ_ERR] = "";
    if (config_read_operator_file(&config, s_input, err, sizeof err) != 0) {
        /* The config file and the check name files by path; libconfig
         * names an included file as its @include wrote it. */
        size_t file_len = strcspn(err, ":");
        char file[FUZZ_PATH];
        snprintf(file, sizeof file, "%s/%.*s", s_dir, (int)file_len, err);
        FUZZ_CHECK(err[file_len] == ':' && (strncmp(err, s_dir, strlen(s_dir)) == 0 ||
                                            (file_len > 0 && access(file, F_OK) == 0)),
                   "a refused config's message does not name a file: \"%s\"", err);
    }
    config_destroy(&config);
    return 0;
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    static const char *const configs[] = {
        "@include \"ok.conf\"\n",
        "@include \"d\"\n",
        "  @include\t\"bad.conf\"\n",
        "@include \"nope.conf\"\n",
        "@include \"/etc/passwd\"\n",
        "log_level = \"info\";\n/* @include \"d\"\n*/\n@include \"ok.conf\"\n",
        "log_level = \"a\n@include \\\"d\\\"\";\n",
        "# @include \"d\"\n// @include \"d\"\nstate_dir = \"x\"; @include \"d\"\n",
        "@include \"o\\k.conf\"\n",
        "@include \"ok.conf\n",
        "@include \"ok.conf\"@include \"d\"\n",
        "@include \"ok.conf\"\n@include \"\"\n",
    };
    fuzz_emit_texts(emit, ctx, configs, sizeof configs / sizeof configs[0]);
}
