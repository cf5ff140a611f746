/* test_vault.c: personal data sealed at rest opens only where it belongs.
 *
 * Uses real key files in a temporary directory: a fresh one from
 * vault_create_keyfile(), hand-written ones for rotation, and broken ones
 * (wrong mode, malformed lines) that must be refused with the file and line
 * named and no key material echoed back.
 */
#include <fcntl.h>
#include <ftw.h>
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

#include "vigil/vault.h"

static const char s_key1_hex[] = "6b31c7a4f09e2d58b3a1c6e7f8d9021344556677889900aabbccddeeff001122";
static const char s_key2_hex[] = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
static const char s_plain[] = "Alexandra Quinterro-Vasquez, +15555550142";
static const char s_aad[] = "case c_9f3a/victim_contact";

typedef struct {
    char dir[64];
    char err[512];
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    snprintf(fixture->dir, sizeof(fixture->dir), "/tmp/vigil-test-vault-XXXXXX");
    if (mkdtemp(fixture->dir) == NULL) {
        free(fixture);
        return -1;
    }
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
    nftw(fixture->dir, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fixture);
    return 0;
}

/* Writes `text` to dir/name with `mode`; returns the path (static buffer). */
static const char *s_write_keyfile(fixture_t *fixture, const char *name, const char *text,
                                   mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", fixture->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static vault_t *s_open_text(fixture_t *fixture, const char *text)
{
    const char *path = s_write_keyfile(fixture, "ring.vault", text, 0600);
    vault_t *vault = vault_open(path, fixture->err, sizeof(fixture->err));
    if (vault == NULL) {
        fail_msg("vault_open: %s", fixture->err);
    }
    return vault;
}

static void test_created_keyfile_seals_and_opens(void **state)
{
    fixture_t *fixture = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/intake.vault", fixture->dir);
    assert_int_equal(vault_create_keyfile(path, fixture->err, sizeof(fixture->err)), 0);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);

    vault_t *vault = vault_open(path, fixture->err, sizeof(fixture->err));
    assert_non_null(vault);
    assert_int_equal(vault_current_key_id(vault), 1);

    size_t len = sizeof(s_plain) - 1;
    uint8_t sealed[sizeof(s_plain) + VAULT_OVERHEAD];
    size_t sealed_len = vault_seal(vault, (const uint8_t *)s_plain, len, (const uint8_t *)s_aad,
                                   strlen(s_aad), sealed);
    assert_int_equal(sealed_len, len + VAULT_OVERHEAD);
    assert_null(memmem(sealed, sealed_len, "Alexandra", strlen("Alexandra")));
    assert_int_equal(vault_blob_key_id(sealed, sealed_len), 1);

    uint8_t opened[sizeof(s_plain)];
    assert_int_equal(
        vault_open_blob(vault, sealed, sealed_len, (const uint8_t *)s_aad, strlen(s_aad), opened),
        (long)len);
    assert_memory_equal(opened, s_plain, len);

    /* Two seals of the same text differ (random nonce). */
    uint8_t again[sizeof(s_plain) + VAULT_OVERHEAD];
    vault_seal(vault, (const uint8_t *)s_plain, len, (const uint8_t *)s_aad, strlen(s_aad), again);
    assert_memory_not_equal(sealed, again, sealed_len);

    /* An empty plaintext round-trips too. */
    uint8_t empty[VAULT_OVERHEAD];
    assert_int_equal(vault_seal(vault, NULL, 0, NULL, 0, empty), VAULT_OVERHEAD);
    assert_int_equal(vault_open_blob(vault, empty, VAULT_OVERHEAD, NULL, 0, opened), 0);
    vault_destroy(&vault);
    assert_null(vault);

    /* An existing key file is never overwritten. */
    assert_int_equal(vault_create_keyfile(path, fixture->err, sizeof(fixture->err)), -1);
    assert_non_null(strstr(fixture->err, "exists"));
    vault = vault_open(path, fixture->err, sizeof(fixture->err));
    assert_non_null(vault);
    assert_int_equal(
        vault_open_blob(vault, sealed, sealed_len, (const uint8_t *)s_aad, strlen(s_aad), opened),
        (long)len);
    vault_destroy(&vault);
}

static void test_tampering_and_wrong_aad_fail(void **state)
{
    fixture_t *fixture = *state;
    char text[256];
    snprintf(text, sizeof(text), "1 %s current\n", s_key1_hex);
    vault_t *vault = s_open_text(fixture, text);
    size_t len = sizeof(s_plain) - 1;
    uint8_t sealed[sizeof(s_plain) + VAULT_OVERHEAD];
    uint8_t opened[sizeof(s_plain) + VAULT_OVERHEAD];
    size_t sealed_len = vault_seal(vault, (const uint8_t *)s_plain, len, (const uint8_t *)s_aad,
                                   strlen(s_aad), sealed);

    /* Every single flipped byte (header, nonce, ciphertext, tag) is caught. */
    for (size_t i = 0; i < sealed_len; i++) {
        sealed[i] ^= 0x01;
        long got = vault_open_blob(vault, sealed, sealed_len, (const uint8_t *)s_aad, strlen(s_aad),
                                   opened);
        if (got != -1) {
            fail_msg("flipping byte %zu was not detected", i);
        }
        sealed[i] ^= 0x01;
    }
    static const char other_aad[] = "case c_0000/victim_contact";
    assert_int_equal(vault_open_blob(vault, sealed, sealed_len, (const uint8_t *)other_aad,
                                     strlen(other_aad), opened),
                     -1);
    assert_int_equal(vault_open_blob(vault, sealed, sealed_len, NULL, 0, opened), -1);
    assert_int_equal(vault_open_blob(vault, sealed, sealed_len - 1, (const uint8_t *)s_aad,
                                     strlen(s_aad), opened),
                     -1);
    assert_int_equal(vault_open_blob(vault, sealed, VAULT_OVERHEAD - 1, (const uint8_t *)s_aad,
                                     strlen(s_aad), opened),
                     -1);
    assert_int_equal(vault_blob_key_id(sealed, 2), -1);
    /* Untouched, it still opens. */
    assert_int_equal(
        vault_open_blob(vault, sealed, sealed_len, (const uint8_t *)s_aad, strlen(s_aad), opened),
        (long)len);
    vault_destroy(&vault);
}

static void test_rotated_keyring_opens_old_blobs(void **state)
{
    fixture_t *fixture = *state;
    char text[512];
    snprintf(text, sizeof(text), "1 %s current\n", s_key1_hex);
    vault_t *old = s_open_text(fixture, text);
    size_t len = sizeof(s_plain) - 1;
    uint8_t sealed_old[sizeof(s_plain) + VAULT_OVERHEAD];
    size_t old_len = vault_seal(old, (const uint8_t *)s_plain, len, (const uint8_t *)s_aad,
                                strlen(s_aad), sealed_old);
    vault_destroy(&old);

    snprintf(text, sizeof(text),
             "# rotated 2026-11-30\n"
             "1 %s\n"
             "\n"
             "2 %s current\n",
             s_key1_hex, s_key2_hex);
    vault_t *rotated = s_open_text(fixture, text);
    assert_int_equal(vault_current_key_id(rotated), 2);
    uint8_t opened[sizeof(s_plain)];
    assert_int_equal(vault_open_blob(rotated, sealed_old, old_len, (const uint8_t *)s_aad,
                                     strlen(s_aad), opened),
                     (long)len);
    assert_memory_equal(opened, s_plain, len);

    uint8_t sealed_new[sizeof(s_plain) + VAULT_OVERHEAD];
    size_t new_len = vault_seal(rotated, (const uint8_t *)s_plain, len, (const uint8_t *)s_aad,
                                strlen(s_aad), sealed_new);
    assert_int_equal(vault_blob_key_id(sealed_new, new_len), 2);
    vault_destroy(&rotated);

    /* A keyring without key 2 cannot open what key 2 sealed. */
    snprintf(text, sizeof(text), "1 %s current\n", s_key1_hex);
    old = s_open_text(fixture, text);
    assert_int_equal(
        vault_open_blob(old, sealed_new, new_len, (const uint8_t *)s_aad, strlen(s_aad), opened),
        -1);
    vault_destroy(&old);
}

/* An operator adds key 2 as current and reloads: the same vault handle now
 * seals with key 2 and still opens key 1's blobs; a file that drops key 1 is
 * refused and the handle keeps working with its old keys. */
static void test_reload_swaps_keys_in_place(void **state)
{
    fixture_t *fixture = *state;
    char text[512];
    snprintf(text, sizeof(text), "1 %s current\n", s_key1_hex);
    vault_t *vault = s_open_text(fixture, text);
    size_t len = sizeof(s_plain) - 1;
    uint8_t sealed_old[sizeof(s_plain) + VAULT_OVERHEAD];
    size_t old_len = vault_seal(vault, (const uint8_t *)s_plain, len, (const uint8_t *)s_aad,
                                strlen(s_aad), sealed_old);

    snprintf(text, sizeof(text), "1 %s\n2 %s current\n", s_key1_hex, s_key2_hex);
    const char *path = s_write_keyfile(fixture, "ring.vault", text, 0600);
    assert_int_equal(vault_reload(vault, path, fixture->err, sizeof(fixture->err)), 0);
    assert_int_equal(vault_current_key_id(vault), 2);
    uint8_t opened[sizeof(s_plain)];
    assert_int_equal(
        vault_open_blob(vault, sealed_old, old_len, (const uint8_t *)s_aad, strlen(s_aad), opened),
        (long)len);

    snprintf(text, sizeof(text), "2 %s current\n", s_key2_hex);
    path = s_write_keyfile(fixture, "ring.vault", text, 0600);
    assert_int_equal(vault_reload(vault, path, fixture->err, sizeof(fixture->err)), -1);
    assert_non_null(strstr(fixture->err, "key id 1 was dropped"));
    assert_int_equal(
        vault_open_blob(vault, sealed_old, old_len, (const uint8_t *)s_aad, strlen(s_aad), opened),
        (long)len);
    vault_destroy(&vault);
}

static void test_readable_keyfile_is_refused(void **state)
{
    fixture_t *fixture = *state;
    char text[256];
    snprintf(text, sizeof(text), "1 %s current\n", s_key1_hex);
    static const mode_t modes[] = {0644, 0640, 0604, 0620};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const char *path = s_write_keyfile(fixture, "loose.vault", text, modes[i]);
        vault_t *vault = vault_open(path, fixture->err, sizeof(fixture->err));
        assert_null(vault);
        assert_non_null(strstr(fixture->err, "loose.vault"));
        assert_non_null(strstr(fixture->err, "chmod 600"));
    }
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/none.vault", fixture->dir);
    assert_null(vault_open(missing, fixture->err, sizeof(fixture->err)));
    assert_non_null(strstr(fixture->err, "none.vault"));

    /* A FIFO is refused at once: opening it must not wait for a writer. */
    char fifo[128];
    snprintf(fifo, sizeof(fifo), "%s/fifo.vault", fixture->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_null(vault_open(fifo, fixture->err, sizeof(fixture->err)));
    assert_non_null(strstr(fixture->err, "fifo.vault"));
    assert_non_null(strstr(fixture->err, "not a regular file"));
    unlink(fifo);
}

/* Loads `text` and expects refusal naming `line_text` ("line 3"). */
static void s_assert_refused(fixture_t *fixture, const char *text, const char *expected)
{
    const char *path = s_write_keyfile(fixture, "bad.vault", text, 0600);
    vault_t *vault = vault_open(path, fixture->err, sizeof(fixture->err));
    if (vault != NULL) {
        vault_destroy(&vault);
        fail_msg("key file was accepted:\n%s", text);
    }
    if (strstr(fixture->err, expected) == NULL || strstr(fixture->err, "bad.vault") == NULL) {
        fail_msg("error '%s' does not say '%s'", fixture->err, expected);
    }
    /* Key material is never echoed in an error. */
    assert_null(strstr(fixture->err, s_key1_hex));
    assert_null(strstr(fixture->err, "6b31c7a4"));
}

static void test_malformed_keyfiles_name_the_line(void **state)
{
    fixture_t *fixture = *state;
    char text[512];
    snprintf(text, sizeof(text), "# keys\n1 %s current\n2 6b31c7a4zz\n", s_key1_hex);
    s_assert_refused(fixture, text, "line 3");
    snprintf(text, sizeof(text), "1 %s current\n\n0 %s\n", s_key1_hex, s_key2_hex);
    s_assert_refused(fixture, text, "line 3");
    snprintf(text, sizeof(text), "1 %s current\n1 %s\n", s_key1_hex, s_key2_hex);
    s_assert_refused(fixture, text, "line 2");
    snprintf(text, sizeof(text), "1 %s current\n2 %s current\n", s_key1_hex, s_key2_hex);
    s_assert_refused(fixture, text, "line 2");
    snprintf(text, sizeof(text), "1 %s now\n", s_key1_hex);
    s_assert_refused(fixture, text, "line 1");
    snprintf(text, sizeof(text), "1 %s\n", s_key1_hex);
    s_assert_refused(fixture, text, "no key is marked current");
    s_assert_refused(fixture, "# nothing here\n", "no keys");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_created_keyfile_seals_and_opens, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tampering_and_wrong_aad_fail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rotated_keyring_opens_old_blobs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reload_swaps_keys_in_place, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_readable_keyfile_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_keyfiles_name_the_line, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
