/* intake_docs_test.c: the upstream guide's examples work as printed.
 *
 * Extracts the C and Python examples from docs/upstream.md, generates the
 * protobuf modules with protoc / uses the build's protoc-c output, and runs
 * each twice against a real vigil-intake: ACCEPTED with a case id, then
 * DUPLICATE with the same case id. Then the hotline operator path:
 * vigil-publish sends examples/contacts.jsonl, every line is accepted, and
 * the cases appear in the case list and open with case show.
 *
 * usage: intake_docs_test VIGIL_INTAKE STANDIN SOURCE_DIR GEN_DIR LIBVIGIL_CLIENT VIGIL_PUBLISH
 * Exits 77 (skipped) if protoc or a C compiler is missing.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "intake_kit.h"

/* A sanitizer build's client library needs the example linked the same way. */
#ifdef VIGIL_DOCS_SANITIZE
#define DOCS_EXTRA_CFLAGS "-fsanitize=address,undefined"
#else
#define DOCS_EXTRA_CFLAGS ""
#endif

#pragma GCC diagnostic ignored "-Wformat-truncation"

#define SKIP        77
#define COMMAND_MAX 4096
#define OUTPUT_MAX  4096

/* Writes the first fenced block of `lang` after the line containing
 * `after` in `markdown` to `out_path`. Returns 0 or -1. */
static int s_extract(const char *markdown, const char *after, const char *lang,
                     const char *out_path)
{
    FILE *in = fopen(markdown, "r");
    if (!in)
        return -1;
    char line[1024], fence[32];
    snprintf(fence, sizeof fence, "```%s\n", lang);
    int state = 0; /* 0 before `after`, 1 looking for the fence, 2 inside */
    FILE *out = NULL;
    while (fgets(line, sizeof line, in)) {
        if (state == 0 && strstr(line, after))
            state = 1;
        else if (state == 1 && strcmp(line, fence) == 0) {
            out = fopen(out_path, "w");
            state = 2;
        } else if (state == 2) {
            if (strncmp(line, "```", 3) == 0)
                break;
            fputs(line, out);
        }
    }
    fclose(in);
    if (!out)
        return -1;
    fclose(out);
    return 0;
}

/* Runs `command` through the shell; its stdout goes to `output`. Returns
 * the exit status, or -1. */
static int s_run(const char *command, char *output, size_t size)
{
    FILE *pipe = popen(command, "r");
    if (!pipe)
        return -1;
    size_t n = fread(output, 1, size - 1, pipe);
    output[n] = '\0';
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int s_twice(const char *what, const char *command)
{
    char first[OUTPUT_MAX], second[OUTPUT_MAX];
    int rc = s_run(command, first, sizeof first);
    KIT_CHECK(rc == 0, "%s: exit %d, output: %s", what, rc, first);
    KIT_CHECK(strstr(first, "ACCEPTED") && strstr(first, "case=c_"), "%s printed: %s", what, first);
    rc = s_run(command, second, sizeof second);
    KIT_CHECK(rc == 0 && strstr(second, "DUPLICATE"), "%s second run printed: %s", what, second);
    const char *case_first = strstr(first, "case=c_"), *case_second = strstr(second, "case=c_");
    KIT_CHECK(case_second && strncmp(case_first, case_second, 27) == 0,
              "%s: DUPLICATE names another case", what);
    printf("%s: %s", what, first);
    return 0;
}

static int s_test(kit_t *kit, char **argv)
{
    const char *source = argv[3], *gen = argv[4], *client = argv[5], *publish = argv[6];
    char doc[KIT_PATH], py[KIT_PATH], c_src[KIT_PATH], exe[KIT_PATH], cmd[COMMAND_MAX];
    char secret[KIT_PATH], server[KIT_PATH];
    snprintf(doc, sizeof doc, "%s/docs/upstream.md", source);
    kit_cert(kit, "hotline-east", secret);
    strcat(secret, "_secret");
    kit_cert(kit, "intake", server);
    KIT_CHECK(kit_start_intake(kit) == 0, "intake did not start");
    const char *env_fmt = "VIGIL_INTAKE='%s' VIGIL_CERT='%s' VIGIL_SERVER_KEY='%s' ";
    char env[COMMAND_MAX];
    snprintf(env, sizeof env, env_fmt, kit->intake_endpoint, secret, server);

    /* Python */
    snprintf(py, sizeof py, "%s/publish_one.py", kit->dir);
    KIT_CHECK(s_extract(doc, "## 9. Worked example in Python", "python", py) == 0,
              "no python example in %s", doc);
    snprintf(
        cmd, sizeof cmd,
        "mkdir -p '%s/py' && protoc -I '%s/proto' --python_out='%s/py' '%s'/proto/vigil/v1/*.proto",
        kit->dir, source, kit->dir, source);
    KIT_CHECK(system(cmd) == 0, "protoc failed");
    snprintf(cmd, sizeof cmd,
             "%s VIGIL_PY='%s/py' VIGIL_EVENT_ID=docs-python-1 /usr/bin/python3 '%s'", env,
             kit->dir, py);
    if (s_twice("python example", cmd))
        return 1;

    /* C */
    snprintf(c_src, sizeof c_src, "%s/publish_one.c", kit->dir);
    snprintf(exe, sizeof exe, "%s/publish_one", kit->dir);
    KIT_CHECK(s_extract(doc, "## 8. Worked example in C", "c", c_src) == 0, "no C example");
    char libdir[KIT_PATH];
    snprintf(libdir, sizeof libdir, "%s", client);
    *strrchr(libdir, '/') = '\0';
    snprintf(cmd, sizeof cmd,
             "cc -std=c11 -Wall -Wextra -Werror %s -o '%s' '%s' '%s/vigil/v1/intake.pb-c.c' -I'%s' "
             "-I'%s/services/client/include' '%s' -Wl,-rpath,'%s' -lprotobuf-c",
             DOCS_EXTRA_CFLAGS, exe, c_src, gen, gen, source, client, libdir);
    KIT_CHECK(system(cmd) == 0, "the C example does not compile: %s", cmd);
    snprintf(cmd, sizeof cmd, "%s VIGIL_EVENT_ID=docs-c-1 '%s'", env, exe);
    if (s_twice("C example", cmd))
        return 1;

    /* the hotline operator path: vigil-publish examples/contacts.jsonl */
    char output[OUTPUT_MAX * 4];
    snprintf(
        cmd, sizeof cmd,
        "'%s' --quiet --endpoint '%s' --cert '%s' --server-key '%s' '%s/examples/contacts.jsonl'",
        publish, kit->intake_endpoint, secret, server, source);
    int rc = s_run(cmd, output, sizeof output);
    KIT_CHECK(rc == 0, "vigil-publish exit %d: %s", rc, output);
    int accepted = 0;
    for (const char *p = output; (p = strstr(p, "ACCEPTED")); p++)
        accepted++;
    KIT_CHECK(accepted == 10, "vigil-publish: %d of 10 contacts ACCEPTED:\n%s", accepted, output);
    Vigil__V1__AdminReply *reply =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASES_LIST, NULL, NULL, 0);
    KIT_CHECK(reply && reply->ok && reply->n_cases == 12, "cases list shows %zu cases, expected 12",
              reply ? reply->n_cases : 0);
    char newest[64];
    snprintf(newest, sizeof newest, "%s", reply->cases[0]->case_id);
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    reply = kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW, "op-docs", newest, 0);
    KIT_CHECK(reply && reply->ok && reply->case_contact, "case show of %s failed", newest);
    vigil__v1__admin_reply__free_unpacked(reply, NULL);
    printf("vigil-publish examples/contacts.jsonl: 10 accepted, listed and readable\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr,
                "usage: %s VIGIL_INTAKE STANDIN SOURCE_DIR GEN_DIR LIBVIGIL_CLIENT "
                "VIGIL_PUBLISH\n",
                argv[0]);
        return 2;
    }
    if (system("command -v protoc >/dev/null && command -v cc >/dev/null") != 0) {
        printf("SKIP: needs protoc (apt-get install protobuf-compiler) and cc\n");
        return SKIP;
    }
    kit_t kit;
    if (kit_setup(&kit, "intake-docs", argv[1], argv[2], NULL)) {
        fprintf(stderr, "FAIL: kit setup\n");
        kit_teardown(&kit);
        return 1;
    }
    int rc = s_test(&kit, argv);
    kit_teardown(&kit);
    printf("%s\n", rc ? "FAIL" : "PASS");
    return rc;
}
