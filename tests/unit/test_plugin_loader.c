/* test_plugin_loader.c: what the plugin loader and the trust checks refuse.
 *
 * Loads real shared objects (tests/integration/plugin_fixtures, each built
 * with one deliberate defect) with policy_loader_load(), in this process,
 * and checks that each is refused with a message naming the file and the
 * reason; a well-formed one loads. Then the trust checks
 * (policy_trust_open) on real files in a scratch directory: world- and
 * group-writable files and directories, another owner, symlinks escaping
 * the directory, missing files. Failing here means a plugin vigil should
 * refuse could run with triage's privileges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_loader.h"
#include "policy_trust.h"

/* A uid that owns nothing on the test machine. */
#define STRANGER_UID 4242

static void s_expect_refused(const char *stem, const char *reason)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/%s.so", PLUGIN_FIXTURE_DIR, stem);
    policy_plugin_t plugin;
    int rc = policy_loader_load(path, path, &plugin, err, sizeof err);
    if (rc == 0 || !strstr(err, path) || !strstr(err, reason)) {
        fail_msg("%s: expected refusal containing \"%s\", got rc=%d err=\"%s\"", stem, reason, rc,
                 err);
    }
}

static void test_good_plugin_loads(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/good.so", PLUGIN_FIXTURE_DIR);
    policy_plugin_t plugin;
    assert_int_equal(policy_loader_load(path, path, &plugin, err, sizeof err), 0);
    assert_string_equal(plugin.desc.name, "fixture");
    assert_string_equal(plugin.desc.version, "1.0.0");
    assert_non_null(plugin.desc.route);
}

static void test_shipped_plugins_load(void **state)
{
    (void)state;
    static const char *const shipped[] = {"rules", "example-workload", "example-afterhours"};
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        char path[512], err[512] = "";
        snprintf(path, sizeof path, "%s/%s.so", PLUGIN_SHIPPED_DIR, shipped[i]);
        policy_plugin_t plugin;
        if (policy_loader_load(path, path, &plugin, err, sizeof err) != 0) {
            fail_msg("%s: %s", shipped[i], err);
        }
        assert_string_equal(plugin.desc.name, shipped[i]);
    }
}

static void test_refuses_bad_magic(void **state)
{
    (void)state;
    s_expect_refused("bad_magic", "bad magic number 0xdeadbeef");
}

static void test_refuses_major_mismatch(void **state)
{
    (void)state;
    s_expect_refused("bad_major", "ABI major version 2, but this vigil speaks 1");
}

static void test_refuses_newer_minor(void **state)
{
    (void)state;
    s_expect_refused("newer_minor", "newer than this vigil's");
}

static void test_refuses_small_struct(void **state)
{
    (void)state;
    s_expect_refused("small_struct", "struct_size 16 is smaller");
}

static void test_refuses_other_fingerprint(void **state)
{
    (void)state;
    s_expect_refused("bad_fingerprint", "layout fingerprint");
}

static void test_refuses_missing_entry_symbol(void **state)
{
    (void)state;
    s_expect_refused("no_entry", "no exported vigil_plugin_descriptor symbol");
}

static void test_refuses_host_symbols(void **state)
{
    (void)state;
    /* The plugin calls log_level_parse() directly; RTLD_NOW finds no such
     * symbol because nothing of the host is exported to plugins. */
    s_expect_refused("host_symbol", "undefined symbol: log_level_parse");
}

static void test_refuses_not_a_shared_object(void **state)
{
    (void)state;
    char path[] = "/tmp/vigil-loader-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not elf", 7), 7);
    close(fd);
    char err[512] = "";
    policy_plugin_t plugin;
    assert_int_equal(policy_loader_load(path, path, &plugin, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot load"));
    assert_non_null(strstr(err, path));
    unlink(path);
}

/* --- trust -------------------------------------------------------------- */

typedef struct {
    char dir[64];
    char file[128];
} scratch_t;

static int s_setup(void **state)
{
    scratch_t *s = calloc(1, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/vigil-trust-XXXXXX");
    if (!mkdtemp(s->dir)) {
        return -1;
    }
    chmod(s->dir, 0755);
    snprintf(s->file, sizeof s->file, "%s/good.so", s->dir);
    char src[512];
    snprintf(src, sizeof src, "%s/good.so", PLUGIN_FIXTURE_DIR);
    FILE *in = fopen(src, "rb"), *out = fopen(s->file, "wb");
    if (!in || !out) {
        return -1;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        fwrite(buf, 1, n, out);
    }
    fclose(in);
    fclose(out);
    chmod(s->file, 0644);
    *state = s;
    return 0;
}

static int s_teardown(void **state)
{
    scratch_t *s = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    int rc = system(cmd);
    free(s);
    return rc == 0 ? 0 : -1;
}

static int s_open(scratch_t *s, const char *stem, char *err, size_t errlen)
{
    char path[512];
    struct stat st;
    int fd = policy_trust_open(s->dir, stem, path, sizeof path, &st, err, errlen);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return -1;
}

static void test_trust_accepts_safe_file(void **state)
{
    char err[512] = "";
    assert_int_equal(s_open(*state, "good", err, sizeof err), 0);
}

static void test_trust_refuses_world_writable_file(void **state)
{
    scratch_t *s = *state;
    chmod(s->file, 0666);
    char err[512] = "";
    assert_int_equal(s_open(s, "good", err, sizeof err), -1);
    assert_non_null(strstr(err, s->file));
    assert_non_null(strstr(err, "writable by others"));
}

static void test_trust_refuses_group_writable_file(void **state)
{
    scratch_t *s = *state;
    chmod(s->file, 0664);
    char err[512] = "";
    assert_int_equal(s_open(s, "good", err, sizeof err), -1);
    assert_non_null(strstr(err, "writable by its group"));
}

static void test_trust_refuses_writable_directory(void **state)
{
    scratch_t *s = *state;
    chmod(s->dir, 0777);
    char err[512] = "";
    assert_int_equal(s_open(s, "good", err, sizeof err), -1);
    assert_non_null(strstr(err, s->dir));
    assert_non_null(strstr(err, "plugin directory is writable by others"));
}

static void test_trust_refuses_other_owner(void **state)
{
    scratch_t *s = *state;
    if (geteuid() != 0) {
        skip(); /* only root can give a file away */
    }
    assert_int_equal(chown(s->file, STRANGER_UID, STRANGER_UID), 0);
    char err[512] = "";
    assert_int_equal(s_open(s, "good", err, sizeof err), -1);
    assert_non_null(strstr(err, "owned by uid 4242"));
}

static void test_trust_refuses_symlink_out_of_dir(void **state)
{
    scratch_t *s = *state;
    char link[256], target[512];
    snprintf(target, sizeof target, "%s/good.so", PLUGIN_FIXTURE_DIR);
    snprintf(link, sizeof link, "%s/escape.so", s->dir);
    assert_int_equal(symlink(target, link), 0);
    char err[512] = "";
    assert_int_equal(s_open(s, "escape", err, sizeof err), -1);
    assert_non_null(strstr(err, "points outside the plugin directory"));
}

static void test_trust_accepts_symlink_inside_dir(void **state)
{
    scratch_t *s = *state;
    char link[256];
    snprintf(link, sizeof link, "%s/current.so", s->dir);
    assert_int_equal(symlink("good.so", link), 0);
    char err[512] = "";
    assert_int_equal(s_open(s, "current", err, sizeof err), 0);
}

static void test_trust_refuses_missing_and_odd_names(void **state)
{
    scratch_t *s = *state;
    char err[512] = "";
    assert_int_equal(s_open(s, "absent", err, sizeof err), -1);
    assert_non_null(strstr(err, "no such plugin file"));
    assert_int_equal(s_open(s, "../good", err, sizeof err), -1);
    assert_non_null(strstr(err, "without '/'"));
    char sub[256];
    snprintf(sub, sizeof sub, "%s/dir.so", s->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(s_open(s, "dir", err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_plugin_loads),
        cmocka_unit_test(test_shipped_plugins_load),
        cmocka_unit_test(test_refuses_bad_magic),
        cmocka_unit_test(test_refuses_major_mismatch),
        cmocka_unit_test(test_refuses_newer_minor),
        cmocka_unit_test(test_refuses_small_struct),
        cmocka_unit_test(test_refuses_other_fingerprint),
        cmocka_unit_test(test_refuses_missing_entry_symbol),
        cmocka_unit_test(test_refuses_host_symbols),
        cmocka_unit_test(test_refuses_not_a_shared_object),
        cmocka_unit_test_setup_teardown(test_trust_accepts_safe_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_trust_refuses_world_writable_file, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_trust_refuses_group_writable_file, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_trust_refuses_writable_directory, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_trust_refuses_other_owner, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_trust_refuses_symlink_out_of_dir, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_trust_accepts_symlink_inside_dir, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_trust_refuses_missing_and_odd_names, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
