/* test_log.c: what a log reader (and an attacker reading logs) gets to see.
 *
 * Captures the real output through a pipe (log_set_fd) and checks the
 * logfmt shape, escaping that keeps one event on one line, level filtering,
 * the printf conversions the header promises, and above all that a line
 * with a personal key is refused and its value never reaches the output.
 */
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vigil/log.h"

enum { CAPTURE_MAX = 64 * 1024 };

typedef struct {
    int read_fd;
    int write_fd;
    char text[CAPTURE_MAX];
} capture_t;

static int s_setup(void **state)
{
    capture_t *capture = calloc(1, sizeof(*capture));
    int fds[2];
    if (capture == NULL || pipe2(fds, O_CLOEXEC) < 0) {
        free(capture);
        return -1;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    capture->read_fd = fds[0];
    capture->write_fd = fds[1];
    log_init("testsvc", LOG_LEVEL_DEBUG);
    log_set_fd(capture->write_fd);
    *state = capture;
    return 0;
}

static int s_teardown(void **state)
{
    capture_t *capture = *state;
    log_set_fd(-1);
    close(capture->read_fd);
    close(capture->write_fd);
    free(capture);
    return 0;
}

/* Everything written since the last call. */
static const char *s_drain(capture_t *capture)
{
    size_t len = 0;
    ssize_t got;
    while ((got = read(capture->read_fd, capture->text + len, sizeof(capture->text) - 1 - len)) >
           0) {
        len += (size_t)got;
    }
    capture->text[len] = '\0';
    return capture->text;
}

static int s_count_lines(const char *text)
{
    int lines = 0;
    for (const char *p = text; *p != '\0'; p++) {
        lines += *p == '\n';
    }
    return lines;
}

static void s_assert_matches(const char *text, const char *pattern)
{
    regex_t regex;
    assert_int_equal(regcomp(&regex, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&regex, text, 0, NULL, 0);
    regfree(&regex);
    if (rc != 0) {
        fail_msg("line\n  %s\ndoes not match\n  %s", text, pattern);
    }
}

static void test_line_has_logfmt_shape(void **state)
{
    capture_t *capture = *state;
    assert_int_equal(log_info("batch committed", "count=%d case=%s", 42, "c_9f3a"), 0);
    s_assert_matches(s_drain(capture), "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                                       "\\.[0-9]{3}Z level=info svc=testsvc "
                                       "msg=\"batch committed\" count=42 case=c_9f3a\n$");

    assert_int_equal(log_warn("peer slow", NULL), 0);
    s_assert_matches(s_drain(capture), "^ts=[^ ]+ level=warn svc=testsvc msg=\"peer slow\"\n$");
}

static void test_values_are_escaped(void **state)
{
    capture_t *capture = *state;
    log_info("escaping", "a=%s b=%s c=%s d=%s e=%s", "two words", "say \"hi\"", "k=v", "",
             "back\\slash");
    assert_string_equal(strstr(s_drain(capture), " a="),
                        " a=\"two words\" b=\"say \\\"hi\\\"\" c=\"k=v\" d=\"\" "
                        "e=\"back\\\\slash\"\n");

    /* A value cannot start a second line or forge a key outside quotes. */
    log_info("forgery", "source=%s", "x\nts=0 level=error msg=\"fake\"");
    const char *text = s_drain(capture);
    assert_int_equal(s_count_lines(text), 1);
    assert_non_null(strstr(text, " source=\"x\\nts=0 level=error msg=\\\"fake\\\"\"\n"));

    /* Control bytes are shown as escapes, not written raw. */
    log_info("control", "v=%s", "bell\a");
    assert_non_null(strstr(s_drain(capture), " v=\"bell\\x07\"\n"));
}

static void test_levels_below_minimum_are_dropped(void **state)
{
    capture_t *capture = *state;
    log_set_level(LOG_LEVEL_WARN);
    log_debug("debug detail", "n=%d", 1);
    log_info("info detail", "n=%d", 2);
    assert_string_equal(s_drain(capture), "");
    log_warn("warned", "n=%d", 3);
    log_error("failed", "n=%d", 4);
    const char *text = s_drain(capture);
    assert_int_equal(s_count_lines(text), 2);
    assert_non_null(strstr(text, "level=warn"));
    assert_non_null(strstr(text, "level=error"));
    log_set_level(LOG_LEVEL_DEBUG);
    log_debug("debug detail", "n=%d", 5);
    assert_non_null(strstr(s_drain(capture), "level=debug"));
}

static void test_personal_keys_refuse_the_line(void **state)
{
    capture_t *capture = *state;
    const char *phone = "+15555550142";
    const char *email = "alex.qv@example.org";

    int expected_line = __LINE__ + 1;
    assert_int_equal(log_info("contact received", "case=%s phone=%s", "c_77", phone), -1);
    const char *text = s_drain(capture);
    assert_int_equal(s_count_lines(text), 1);
    assert_null(strstr(text, phone));
    assert_non_null(strstr(text, "level=error"));
    assert_non_null(strstr(text, "refused_key=phone"));
    char site[256];
    snprintf(site, sizeof(site), "test_log.c:%d", expected_line);
    assert_non_null(strstr(text, site));

    assert_int_equal(log_warn("bounce", "email=%s", email), -1);
    text = s_drain(capture);
    assert_null(strstr(text, email));
    assert_non_null(strstr(text, "refused_key=email"));

    /* Even below the level, a personal key is reported, never printed. */
    log_set_level(LOG_LEVEL_ERROR);
    assert_int_equal(log_debug("lookup", "victim_phone=%s", phone), -1);
    text = s_drain(capture);
    assert_null(strstr(text, phone));
    assert_non_null(strstr(text, "refused_key=victim_phone"));
    log_set_level(LOG_LEVEL_DEBUG);
}

static void test_conversions(void **state)
{
    capture_t *capture = *state;
    log_info("numbers",
             "d=%d i=%i u=%u ld=%ld lu=%lu lld=%lld llu=%llu zu=%zu zd=%zd x=%x f=%.2f g=%g c=%c "
             "pct=100%% w=%05d star=%*d",
             -1, 2, 3u, -4L, 5UL, -6LL, 7ULL, (size_t)8, (ssize_t)-9, 255u, 3.14159, 0.5, 'Z', 42,
             4, 7);
    assert_string_equal(strstr(s_drain(capture), " d="),
                        " d=-1 i=2 u=3 ld=-4 lu=5 lld=-6 llu=7 zu=8 zd=-9 x=ff f=3.14 g=0.5 c=Z "
                        "pct=100% w=00042 star=\"   7\"\n");

    log_info("pointer", "p=%p s=%s", (void *)0x1234, (const char *)NULL);
    assert_non_null(strstr(s_drain(capture), " p=0x1234 s=(null)\n"));

    /* Literal text around a conversion stays part of the value. */
    log_info("ratio", "ratio=%d/%d unit=ms", 3, 4);
    assert_non_null(strstr(s_drain(capture), " ratio=3/4 unit=ms\n"));
}

static void test_malformed_pairs_are_refused(void **state)
{
    capture_t *capture = *state;
    assert_int_equal(log_info("bad", "count %d", 1), -1);
    const char *text = s_drain(capture);
    assert_non_null(strstr(text, "level=error"));
    assert_non_null(strstr(text, "malformed"));
}

static void test_long_values_are_cut_to_one_line(void **state)
{
    capture_t *capture = *state;
    enum { BIG = 10000 };
    char *big = malloc(BIG + 1);
    memset(big, 'a', BIG);
    big[BIG] = '\0';
    log_info("big", "blob=%s after=%d", big, 1);
    free(big);
    const char *text = s_drain(capture);
    assert_int_equal(s_count_lines(text), 1);
    assert_true(strlen(text) <= 4096);
    assert_non_null(strstr(text, "truncated=true\n"));

    char *spaced = malloc(BIG + 1);
    memset(spaced, ' ', BIG);
    spaced[BIG] = '\0';
    for (int i = 0; i < 8; i++) {
        log_info("many", "v=%s", spaced);
    }
    free(spaced);
    text = s_drain(capture);
    assert_int_equal(s_count_lines(text), 8);
}

enum { WRITER_THREADS = 4, LINES_PER_WRITER = 100 };

static void *s_writer(void *arg)
{
    long id = (long)(intptr_t)arg;
    for (int i = 0; i < LINES_PER_WRITER; i++) {
        log_info("concurrent line", "writer=%ld seq=%d pad=%s", id, i,
                 "0123456789012345678901234567890123456789");
    }
    return NULL;
}

static void test_concurrent_lines_never_interleave(void **state)
{
    capture_t *capture = *state;
    pthread_t threads[WRITER_THREADS];
    for (long i = 0; i < WRITER_THREADS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, s_writer, (void *)(intptr_t)i), 0);
    }
    for (int i = 0; i < WRITER_THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    /* About 15 KB: fits the pipe, so no writer blocked. */
    const char *text = s_drain(capture);
    assert_int_equal(s_count_lines(text), WRITER_THREADS * LINES_PER_WRITER);
    regex_t regex;
    assert_int_equal(
        regcomp(&regex,
                "^ts=[^ ]+ level=info svc=testsvc msg=\"concurrent line\" "
                "writer=[0-9] seq=[0-9]+ pad=0123456789012345678901234567890123456789$",
                REG_EXTENDED | REG_NOSUB),
        0);
    char *copy = strdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (regexec(&regex, line, 0, NULL, 0) != 0) {
            fail_msg("mangled line: %s", line);
        }
    }
    free(copy);
    regfree(&regex);
}

static void test_level_names_parse(void **state)
{
    (void)state;
    log_level_t level = LOG_LEVEL_ERROR;
    assert_int_equal(log_level_parse("debug", &level), 0);
    assert_int_equal(level, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("warn", &level), 0);
    assert_int_equal(level, LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("INFO", &level), 0);
    assert_int_equal(level, LOG_LEVEL_INFO);
    assert_int_equal(log_level_parse("loud", &level), -1);
    assert_int_equal(level, LOG_LEVEL_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_has_logfmt_shape, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_values_are_escaped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_levels_below_minimum_are_dropped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_personal_keys_refuse_the_line, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_conversions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_pairs_are_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_long_values_are_cut_to_one_line, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_lines_never_interleave, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_level_names_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
