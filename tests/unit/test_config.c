/* test_config.c: what an operator's config file does, and what it may not.
 *
 * Declares a small schema the way a service does (common keys, a service
 * section, a custom "peers" list), then loads real files from a temporary
 * directory on top of embedded text and checks the three layers, and that
 * every mistake (unknown key or group, wrong type, out of range, missing
 * required key, syntax error, an @include of anything but a regular file)
 * is refused with the file and line named.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "vigil/config.h"

/* What the custom "peers" parser produces: the names, in order. */
typedef struct {
    bool absent;  /* parse was called with NULL */
    int count;    /* entries in the list */
    char **names; /* malloc'd */
} peers_t;

typedef struct {
    char *state_dir;
    int64_t batch_max;
    int64_t heartbeat_ms;
    bool coalesce_acks;
    double sample_ratio;
    char *store_path;
    peers_t peers;
} common_t;

typedef struct {
    int64_t max_narrative;
    char *region;
} intake_t;

static int s_parse_calls;

static int s_parse_peers(const config_setting_t *setting, void *field, char *err, size_t errlen)
{
    peers_t *peers = field;
    s_parse_calls++;
    memset(peers, 0, sizeof(*peers));
    if (setting == NULL) {
        peers->absent = true;
        return 0;
    }
    if (!config_setting_is_list(setting)) {
        snprintf(err, errlen, "%s:%d: key 'peers': expected a list ( ... )",
                 config_setting_source_file(setting) ? config_setting_source_file(setting)
                                                     : "<embedded>",
                 config_setting_source_line(setting));
        return -1;
    }
    peers->count = config_setting_length(setting);
    peers->names = calloc((size_t)peers->count + 1, sizeof(char *));
    for (int i = 0; i < peers->count; i++) {
        const char *name = "";
        config_setting_lookup_string(config_setting_get_elem(setting, (unsigned)i), "name", &name);
        peers->names[i] = strdup(name);
    }
    return 0;
}

static void s_free_peers(void *field)
{
    peers_t *peers = field;
    for (int i = 0; i < peers->count; i++) {
        free(peers->names[i]);
    }
    free(peers->names);
    memset(peers, 0, sizeof(*peers));
}

#define UNBOUNDED 1, 0

static const config_key_t s_common_keys[] = {
    {"state_dir", CONFIG_STRING, "./state", offsetof(common_t, state_dir), UNBOUNDED,
     "where keys, stores and sockets live", NULL, NULL},
    {"link.batch_max", CONFIG_INT, "4096", offsetof(common_t, batch_max), 1, 65536,
     "most messages per batch", NULL, NULL},
    {"link.heartbeat_ms", CONFIG_INT, "2000", offsetof(common_t, heartbeat_ms), 10, 60000,
     "heartbeat period", NULL, NULL},
    {"link.coalesce_acks", CONFIG_BOOL, "true", offsetof(common_t, coalesce_acks), UNBOUNDED,
     "ack batches, not messages", NULL, NULL},
    {"metrics.sample_ratio", CONFIG_DOUBLE, "0.5", offsetof(common_t, sample_ratio), 0, 1,
     "share of requests timed", NULL, NULL},
    {"store.path", CONFIG_STRING, "", offsetof(common_t, store_path), UNBOUNDED,
     "\"\" means <state>/<name>.db", NULL, NULL},
    {"peers", CONFIG_CUSTOM, NULL, offsetof(common_t, peers), UNBOUNDED, "where messages go",
     s_parse_peers, s_free_peers},
    {NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const config_key_t s_intake_keys[] = {
    {"intake.max_narrative", CONFIG_INT, "8192", offsetof(intake_t, max_narrative), 1, 65536,
     "longest narrative accepted, bytes", NULL, NULL},
    {"intake.region", CONFIG_STRING, "any", offsetof(intake_t, region), UNBOUNDED, "region code",
     NULL, NULL},
    {NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* The same service, but the region must be given. */
static const config_key_t s_intake_required_keys[] = {
    {"intake.max_narrative", CONFIG_INT, "8192", offsetof(intake_t, max_narrative), 1, 65536,
     "longest narrative accepted, bytes", NULL, NULL},
    {"intake.region", CONFIG_STRING, NULL, offsetof(intake_t, region), UNBOUNDED,
     "region code (required)", NULL, NULL},
    {NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* What a service compiles in: its own defaults for ports and peers. */
static const char s_embedded[] = "link = { batch_max = 100; };\n"
                                 "peers = ( { name = \"triage\"; }, { name = \"reporting\"; } );\n"
                                 "intake = { region = \"OR\"; };\n";

typedef struct {
    char dir[128];
    char path[192];
    char err[512];
    common_t common;
    intake_t intake;
    config_section_t sections[3];
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    const char *tmp = getenv("TMPDIR");
    snprintf(fixture->dir, sizeof(fixture->dir), "%s/vigil-test-config-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(fixture->dir) == NULL) {
        free(fixture);
        return -1;
    }
    snprintf(fixture->path, sizeof(fixture->path), "%s/intake.conf", fixture->dir);
    fixture->sections[0] = (config_section_t){s_common_keys, &fixture->common};
    fixture->sections[1] = (config_section_t){s_intake_keys, &fixture->intake};
    fixture->sections[2] = (config_section_t){NULL, NULL};
    s_parse_calls = 0;
    *state = fixture;
    return 0;
}

static int s_remove_entry(const char *path, const struct stat *info, int flag, struct FTW *ftw)
{
    (void)info;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int s_teardown(void **state)
{
    fixture_t *fixture = *state;
    config_release(fixture->sections);
    nftw(fixture->dir, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fixture);
    return 0;
}

static const char *s_write(fixture_t *fixture, const char *text)
{
    FILE *file = fopen(fixture->path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
    return fixture->path;
}

static int s_load(fixture_t *fixture, const char *embedded, const char *text)
{
    const char *path = text != NULL ? s_write(fixture, text) : NULL;
    return config_load(embedded, path, fixture->sections, fixture->err, sizeof(fixture->err));
}

/* Expects a refusal whose message contains every string in `expected`;
 * then releases what the failed load stored, as a caller must. */
static void s_assert_refused(fixture_t *fixture, const char *embedded, const char *text,
                             const char *const *expected)
{
    if (s_load(fixture, embedded, text) != -1) {
        fail_msg("accepted:\n%s", text != NULL ? text : embedded);
    }
    for (const char *const *want = expected; *want != NULL; want++) {
        if (strstr(fixture->err, *want) == NULL) {
            fail_msg("error '%s' does not mention '%s'", fixture->err, *want);
        }
    }
    config_release(fixture->sections);
}

static void test_defaults_apply_without_any_text(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(s_load(fixture, NULL, NULL), 0);
    assert_string_equal(fixture->common.state_dir, "./state");
    assert_int_equal(fixture->common.batch_max, 4096);
    assert_int_equal(fixture->common.heartbeat_ms, 2000);
    assert_true(fixture->common.coalesce_acks);
    assert_true(fixture->common.sample_ratio == 0.5);
    assert_string_equal(fixture->common.store_path, "");
    assert_int_equal(fixture->intake.max_narrative, 8192);
    /* The custom parser ran once, told that nobody set the key. */
    assert_int_equal(s_parse_calls, 1);
    assert_true(fixture->common.peers.absent);
}

static void test_embedded_text_overrides_defaults(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(s_load(fixture, s_embedded, NULL), 0);
    assert_int_equal(fixture->common.batch_max, 100);
    assert_int_equal(fixture->common.heartbeat_ms, 2000);
    assert_string_equal(fixture->intake.region, "OR");
    assert_int_equal(fixture->common.peers.count, 2);
    assert_string_equal(fixture->common.peers.names[1], "reporting");
}

static void test_file_overrides_embedded_text(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(s_load(fixture, s_embedded,
                            "# operator's file\n"
                            "state_dir = \"/var/lib/vigil\";\n"
                            "link = { batch_max = 200; coalesce_acks = false; };\n"
                            "metrics = { sample_ratio = 1; };\n"
                            "peers = ( { name = \"triage-b\"; } );\n"),
                     0);
    assert_string_equal(fixture->common.state_dir, "/var/lib/vigil");
    assert_int_equal(fixture->common.batch_max, 200);
    assert_false(fixture->common.coalesce_acks);
    assert_true(fixture->common.sample_ratio == 1.0);
    /* Keys the file leaves alone keep the embedded or default value. */
    assert_string_equal(fixture->intake.region, "OR");
    assert_int_equal(fixture->common.heartbeat_ms, 2000);
    /* A custom key is replaced whole, not merged, and parsed once. */
    assert_int_equal(s_parse_calls, 1);
    assert_int_equal(fixture->common.peers.count, 1);
    assert_string_equal(fixture->common.peers.names[0], "triage-b");
}

static void test_unknown_key_names_file_and_line(void **state)
{
    fixture_t *fixture = *state;
    char where[256];
    snprintf(where, sizeof(where), "%s:3:", fixture->path);
    const char *const expected[] = {where, "link.batch_maxx", "unknown key", "batch_max", NULL};
    s_assert_refused(fixture, NULL,
                     "link = {\n"
                     "  heartbeat_ms = 500;\n"
                     "  batch_maxx = 5;\n"
                     "};\n",
                     expected);
}

static void test_unknown_group_names_file_and_line(void **state)
{
    fixture_t *fixture = *state;
    char where[256];
    snprintf(where, sizeof(where), "%s:2:", fixture->path);
    const char *const expected[] = {where, "'notify'", "unknown group", NULL};
    s_assert_refused(fixture, NULL, "state_dir = \"/srv\";\nnotify = { retries = 3; };\n",
                     expected);
    /* A known group written as a scalar is refused as well. */
    const char *const scalar[] = {"key 'link'", "expected a group", NULL};
    s_assert_refused(fixture, NULL, "link = 5;\n", scalar);
}

static void test_embedded_errors_say_embedded(void **state)
{
    fixture_t *fixture = *state;
    const char *const expected[] = {"<embedded>:2:", "link.batch_sz", NULL};
    s_assert_refused(fixture, "state_dir = \"x\";\nlink = { batch_sz = 1; };\n", NULL, expected);
    const char *const syntax[] = {"<embedded>:1:", "syntax error", NULL};
    s_assert_refused(fixture, "link = { batch_max = ; };\n", NULL, syntax);
}

static void test_wrong_type_is_refused(void **state)
{
    fixture_t *fixture = *state;
    char where[256];
    snprintf(where, sizeof(where), "%s:2:", fixture->path);
    const char *const expected[] = {where, "link.batch_max", "wrong type", "integer", NULL};
    s_assert_refused(fixture, NULL, "\nlink = { batch_max = \"lots\"; };\n", expected);
    const char *const boolean[] = {"link.coalesce_acks", "true or false", NULL};
    s_assert_refused(fixture, NULL, "link = { coalesce_acks = 1; };\n", boolean);
    const char *const string[] = {"state_dir", "string", NULL};
    s_assert_refused(fixture, NULL, "state_dir = 7;\n", string);
}

static void test_out_of_range_is_refused(void **state)
{
    fixture_t *fixture = *state;
    char where[256];
    snprintf(where, sizeof(where), "%s:1:", fixture->path);
    const char *const expected[] = {where, "link.batch_max", "out of range", "[1, 65536]", NULL};
    s_assert_refused(fixture, NULL, "link = { batch_max = 0; };\n", expected);
    const char *const high[] = {"link.heartbeat_ms", "70000", "out of range", NULL};
    s_assert_refused(fixture, NULL, "link = { heartbeat_ms = 70000; };\n", high);
    const char *const ratio[] = {"metrics.sample_ratio", "out of range", NULL};
    s_assert_refused(fixture, NULL, "metrics = { sample_ratio = 1.5; };\n", ratio);
}

static void test_required_key_must_be_set(void **state)
{
    fixture_t *fixture = *state;
    fixture->sections[1].keys = s_intake_required_keys;
    const char *const expected[] = {fixture->path, "intake.region", "required", NULL};
    s_assert_refused(fixture, NULL, "intake = { max_narrative = 100; };\n", expected);

    /* Set in either layer, it is accepted. */
    assert_int_equal(s_load(fixture, "intake = { region = \"WA\"; };", NULL), 0);
    assert_string_equal(fixture->intake.region, "WA");
    config_release(fixture->sections);
    assert_int_equal(s_load(fixture, NULL, "intake = { region = \"ID\"; };"), 0);
    assert_string_equal(fixture->intake.region, "ID");
}

static void test_syntax_error_names_file_and_line(void **state)
{
    fixture_t *fixture = *state;
    char where[256];
    snprintf(where, sizeof(where), "%s:3:", fixture->path);
    const char *const expected[] = {where, "syntax error", NULL};
    s_assert_refused(fixture, NULL, "state_dir = \"/srv\";\n\nlink = { batch_max 5; };\n",
                     expected);

    snprintf(fixture->path, sizeof(fixture->path), "%s/missing.conf", fixture->dir);
    assert_int_equal(
        config_load(NULL, fixture->path, fixture->sections, fixture->err, sizeof(fixture->err)),
        -1);
    assert_non_null(strstr(fixture->err, "missing.conf"));
    assert_non_null(strstr(fixture->err, "No such file"));
}

/* Writes `text` to the file `name` in the fixture's folder. */
static void s_write_beside(fixture_t *fixture, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", fixture->dir, name);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static void test_include_reads_a_file_beside_the_config(void **state)
{
    fixture_t *fixture = *state;
    s_write_beside(fixture, "region.conf", "intake = { region = \"WA\"; };\n");
    assert_int_equal(s_load(fixture, s_embedded,
                            "state_dir = \"/srv\";\n"
                            "/* not a directive:\n"
                            "@include \"conf.d\"\n"
                            "*/\n"
                            "@include \"region.conf\"\n"),
                     0);
    assert_string_equal(fixture->intake.region, "WA");
    config_release(fixture->sections);

    /* Nor is a line of a string, nor a comment line: conf.d is a folder. */
    char folder[256];
    snprintf(folder, sizeof(folder), "%s/conf.d", fixture->dir);
    assert_int_equal(mkdir(folder, 0700), 0);
    assert_int_equal(s_load(fixture, NULL,
                            "intake = { region = \"two\n"
                            "@include \\\"conf.d\\\"\"; };\n"
                            "# @include \"conf.d\"\n"),
                     0);
    assert_string_equal(fixture->intake.region, "two\n@include \"conf.d\"");
}

/* libconfig 1.5 alone would end the process on the folder ("input in flex
 * scanner failed", exit 2) and block forever opening the FIFO. */
static void test_include_of_a_folder_or_fifo_is_refused(void **state)
{
    fixture_t *fixture = *state;
    char path[256], where[256];
    snprintf(path, sizeof(path), "%s/conf.d", fixture->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/pipe", fixture->dir);
    assert_int_equal(mkfifo(path, 0600), 0);

    snprintf(where, sizeof(where), "%s:2: @include \"conf.d\"", fixture->path);
    const char *const folder[] = {where, "is a folder", "only a regular file", NULL};
    s_assert_refused(fixture, NULL, "state_dir = \"/srv\";\n  @include \"conf.d\"\n", folder);

    snprintf(where, sizeof(where), "%s:3: @include \"pipe\"", fixture->path);
    const char *const fifo[] = {where, "is a FIFO", NULL};
    s_assert_refused(fixture, NULL, "\n\n@include\t\"pipe\"\n", fifo);

    /* One level down, the included file's own line is named. */
    s_write_beside(fixture, "part.conf", "log_level = \"info\";\n@include \"pipe\"\n");
    snprintf(where, sizeof(where), "%s/part.conf:2: @include \"pipe\"", fixture->dir);
    const char *const nested[] = {where, "is a FIFO", NULL};
    s_assert_refused(fixture, NULL, "@include \"part.conf\"\n", nested);

    /* The config file itself. */
    snprintf(fixture->path, sizeof(fixture->path), "%s/pipe", fixture->dir);
    assert_int_equal(
        config_load(NULL, fixture->path, fixture->sections, fixture->err, sizeof(fixture->err)),
        -1);
    assert_non_null(strstr(fixture->err, "pipe: cannot read the config file: it is a FIFO"));
}

static void test_include_of_a_missing_or_absolute_path_is_refused(void **state)
{
    fixture_t *fixture = *state;
    char where[512];
    snprintf(where, sizeof(where), "%s:1: @include \"nope.conf\": cannot read %s/nope.conf",
             fixture->path, fixture->dir);
    const char *const missing[] = {where, "No such file", NULL};
    s_assert_refused(fixture, NULL, "@include \"nope.conf\"\n", missing);

    /* libconfig 1.5 would read it as <folder>//etc/..., so say why. */
    s_write_beside(fixture, "region.conf", "intake = { region = \"WA\"; };\n");
    char absolute[512];
    snprintf(absolute, sizeof(absolute), "@include \"%s/region.conf\"\n", fixture->dir);
    snprintf(where, sizeof(where), "%s:1: @include \"%s/region.conf\"", fixture->path,
             fixture->dir);
    const char *const refused[] = {where, "an absolute path is not followed", NULL};
    s_assert_refused(fixture, NULL, absolute, refused);
}

static void test_custom_parser_errors_pass_through(void **state)
{
    fixture_t *fixture = *state;
    char where[256];
    snprintf(where, sizeof(where), "%s:2:", fixture->path);
    const char *const expected[] = {where, "peers", "expected a list", NULL};
    s_assert_refused(fixture, NULL, "\npeers = { name = \"triage\"; };\n", expected);
}

static void test_release_frees_and_can_repeat(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(s_load(fixture, s_embedded, "state_dir = \"/srv/vigil\";\n"), 0);
    config_release(fixture->sections);
    assert_null(fixture->common.state_dir);
    assert_null(fixture->common.store_path);
    assert_null(fixture->intake.region);
    assert_null(fixture->common.peers.names);
    config_release(fixture->sections); /* twice is fine (teardown does it again) */
}

static void test_dump_prints_effective_values(void **state)
{
    fixture_t *fixture = *state;
    assert_int_equal(s_load(fixture, s_embedded,
                            "link = { batch_max = 250; };\n"
                            "peers = ( { name = \"triage\"; window = 64; } );\n"),
                     0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    config_dump(s_embedded, fixture->path, fixture->sections, out);
    fclose(out);
    /* A custom key shows the winning layer's value as libconfig text. */
    assert_non_null(strstr(text, "peers = ( { name = \"triage\"; window = 64; } )  # "));
    assert_non_null(strstr(text, "link.batch_max = 250  # most messages per batch\n"));
    assert_non_null(strstr(text, "state_dir = \"./state\"  # "));
    assert_non_null(strstr(text, "link.coalesce_acks = true  # "));
    assert_non_null(strstr(text, "intake.region = \"OR\"  # region code\n"));
    free(text);
}

int main(void)
{
#define TEST(fn) cmocka_unit_test_setup_teardown(fn, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_defaults_apply_without_any_text),
        TEST(test_embedded_text_overrides_defaults),
        TEST(test_file_overrides_embedded_text),
        TEST(test_unknown_key_names_file_and_line),
        TEST(test_unknown_group_names_file_and_line),
        TEST(test_embedded_errors_say_embedded),
        TEST(test_wrong_type_is_refused),
        TEST(test_out_of_range_is_refused),
        TEST(test_required_key_must_be_set),
        TEST(test_syntax_error_names_file_and_line),
        TEST(test_include_reads_a_file_beside_the_config),
        TEST(test_include_of_a_folder_or_fifo_is_refused),
        TEST(test_include_of_a_missing_or_absolute_path_is_refused),
        TEST(test_custom_parser_errors_pass_through),
        TEST(test_release_frees_and_can_repeat),
        TEST(test_dump_prints_effective_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
