/* test_triage_case_key.c: triage's case keys match intake's.
 *
 * Reporting links the events of one case by ReportEvent.case_key. Intake
 * computes it for CASE_OPENED (services/intake/hashkey.c, compiled into this
 * test as it is), triage for CASE_TRIAGED and later events
 * (services/triage/case_key.c). With the same key file both must give the
 * same key for every case id, a different key for a different file, and
 * never the case id itself. The key file rules (mode 0600, 64 hex digits,
 * created when missing, a regular file) hold too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "case_key.h"
#include "hashkey.h"

static void test_triage_and_intake_agree(void **state)
{
    (void)state;
    char dir[] = "/tmp/vigil-casekey-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[96], other[96], err[256];
    snprintf(path, sizeof path, "%s/case.hashkey", dir);
    snprintf(other, sizeof other, "%s/other.hashkey", dir);

    bool created = false;
    case_key_t triage_key;
    assert_int_equal(case_key_load(&triage_key, path, true, &created, err, sizeof err), 0);
    assert_true(created);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    hashkey_t *intake_key = hashkey_open(path, 0, err, sizeof err);
    assert_non_null(intake_key);

    static const char *const ids[] = {"c_9f2a61d0", "case-1", "x", "c_" /* short */};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char mine[CASE_KEY_HEX_LEN], theirs[HASHKEY_HEX_SIZE];
        case_key_hash(&triage_key, ids[i], mine);
        hashkey_case_key(intake_key, ids[i], theirs);
        assert_string_equal(mine, theirs);
        assert_null(strstr(mine, ids[i]));
        assert_int_equal(strlen(mine), 64);
    }

    case_key_t other_key;
    assert_int_equal(case_key_load(&other_key, other, true, &created, err, sizeof err), 0);
    char a[CASE_KEY_HEX_LEN], b[CASE_KEY_HEX_LEN];
    case_key_hash(&triage_key, "c_9f2a61d0", a);
    case_key_hash(&other_key, "c_9f2a61d0", b);
    assert_string_not_equal(a, b);

    /* loading again reads the same secret, does not create */
    case_key_t again;
    assert_int_equal(case_key_load(&again, path, true, &created, err, sizeof err), 0);
    assert_false(created);
    case_key_hash(&again, "c_9f2a61d0", b);
    assert_string_equal(a, b);

    /* an open file is refused, naming it */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(case_key_load(&again, path, true, &created, err, sizeof err), -1);
    assert_non_null(strstr(err, path));

    /* a FIFO or a folder in its place is refused at once, by both (opening
     * the FIFO would wait forever for a writer) */
    char fifo[112];
    snprintf(fifo, sizeof fifo, "%s/fifo.hashkey", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *const not_files[] = {fifo, dir};
    for (size_t i = 0; i < 2; i++) {
        err[0] = '\0';
        assert_int_equal(case_key_load(&again, not_files[i], true, &created, err, sizeof err), -1);
        assert_non_null(strstr(err, "not a regular file"));
        err[0] = '\0';
        assert_null(hashkey_open(not_files[i], 1, err, sizeof err));
        assert_non_null(strstr(err, not_files[i]));
        assert_non_null(strstr(err, "not a regular file"));
    }
    unlink(fifo);
    hashkey_destroy(&intake_key);
    case_key_wipe(&triage_key);
    unlink(path);
    unlink(other);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_triage_and_intake_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
