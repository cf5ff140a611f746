/* policy_tool_common.c: shared code of the policy tools
 * (policy_tool_common.h).
 */
#include "policy_tool_common.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directory.h"
#include "hsds_import.h"
#include "policy_trust.h"
#include "vigil/config.h"
#include "vigil/store.h"

/* First bytes of every sqlite database file. */
#define TOOL_SQLITE_MAGIC "SQLite format 3"
/* Rejected HSDS rows printed. */
#define TOOL_REJECTIONS_SHOWN 10

int tool_plugin_path(const char *arg, char *dir, size_t dir_len, char *stem, size_t stem_len,
                     char *err, size_t errlen)
{
    size_t len = strlen(arg);
    size_t suffix = strlen(POLICY_PLUGIN_SUFFIX);
    if (len <= suffix || strcmp(arg + len - suffix, POLICY_PLUGIN_SUFFIX) != 0) {
        snprintf(err, errlen, "%s: a plugin is a shared object whose name ends in %s", arg,
                 POLICY_PLUGIN_SUFFIX);
        return -1;
    }
    if (access(arg, R_OK) < 0) {
        snprintf(err, errlen, "%s: %s", arg, strerror(errno));
        return -1;
    }
    const char *slash = strrchr(arg, '/');
    const char *base = slash ? slash + 1 : arg;
    if (slash) {
        snprintf(dir, dir_len, "%.*s", (int)(slash - arg), arg);
        if (!dir[0]) {
            snprintf(dir, dir_len, "/");
        }
    } else {
        snprintf(dir, dir_len, ".");
    }
    snprintf(stem, stem_len, "%.*s", (int)(strlen(base) - suffix), base);
    return 0;
}

int tool_load_regions(const char *path, policy_region_list_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    config_t cfg;
    config_init(&cfg);
    int rc = -1;
    if (config_read_operator_file(&cfg, path, err, errlen) != 0) {
        goto done;
    }
    config_setting_t *one = config_lookup(&cfg, "region");
    config_setting_t *list = config_lookup(&cfg, "regions");
    if (!list) {
        list = config_lookup(&cfg, "triage.regions");
    }
    if (one) {
        out->regions = calloc(1, sizeof *out->regions);
        if (!out->regions || policy_region_parse(one, &out->regions[0], err, errlen) < 0) {
            free(out->regions);
            out->regions = NULL;
            goto done;
        }
        out->count = 1;
        rc = 0;
    } else if (list && config_setting_type(list) == CONFIG_TYPE_LIST) {
        int n = config_setting_length(list);
        out->regions = calloc((size_t)n + 1, sizeof *out->regions);
        if (!out->regions) {
            goto done;
        }
        for (int i = 0; i < n; i++) {
            if (policy_region_parse(config_setting_get_elem(list, (unsigned)i),
                                    &out->regions[out->count], err, errlen) < 0) {
                policy_regions_free(out);
                goto done;
            }
            out->count++;
        }
        rc = out->count ? 0 : -1;
        if (rc < 0) {
            snprintf(err, errlen, "%s: the regions list is empty", path);
        }
    } else {
        snprintf(err, errlen, "%s: no `region = {...}`, `regions = (...)` or `triage.regions`",
                 path);
    }
done:
    config_destroy(&cfg);
    return rc;
}

static bool s_is_sqlite(const char *path)
{
    char head[sizeof TOOL_SQLITE_MAGIC] = "";
    FILE *f = fopen(path, "rb");
    if (!f) {
        return false;
    }
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    return n == sizeof head - 1 && memcmp(head, TOOL_SQLITE_MAGIC, n) == 0;
}

int tool_directory(const char *arg, char *db_path, size_t db_path_len, bool *temporary, char *err,
                   size_t errlen)
{
    *temporary = false;
    struct stat st;
    if (stat(arg, &st) < 0) {
        snprintf(err, errlen, "%s: %s", arg, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode) && s_is_sqlite(arg)) {
        snprintf(db_path, db_path_len, "%s", arg);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    char pattern[PATH_MAX];
    snprintf(pattern, sizeof pattern, "%s/vigil-directory-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    int fd = mkstemp(pattern);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", pattern, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(pattern); /* store_open creates it with its own settings */
    static const store_migration_t migrations[] = {{1, directory_schema_v1}};
    sqlite3 *db = store_open(pattern, migrations, 1, err, errlen);
    if (!db) {
        return -1;
    }
    hsds_report_t report;
    memset(&report, 0, sizeof report);
    int rc = hsds_import(db, arg, &report, err, errlen);
    for (size_t i = 0; rc == 0 && i < report.rejection_count && i < TOOL_REJECTIONS_SHOWN; i++) {
        fprintf(stderr, "directory: %s %s: rejected: %s\n", report.rejections[i].file,
                report.rejections[i].row, report.rejections[i].reason);
    }
    hsds_report_release(&report);
    store_close(&db);
    if (rc < 0) {
        tool_directory_remove(pattern);
        return -1;
    }
    snprintf(db_path, db_path_len, "%s", pattern);
    *temporary = true;
    return 0;
}

void tool_directory_remove(const char *db_path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        unlink(path); /* most are not there: nothing to report */
    }
}

int tool_use_plugin(policy_region_list_t *regions, const char *stem, const char *only)
{
    size_t kept = 0;
    for (size_t i = 0; i < regions->count; i++) {
        policy_region_t *r = &regions->regions[i];
        if (only && strcmp(r->name, only) != 0) {
            policy_region_clear(r);
            continue;
        }
        free(r->plugin);
        r->plugin = strdup(stem);
        regions->regions[kept++] = *r;
    }
    regions->count = kept;
    return kept ? 0 : -1;
}

void tool_describe(const policy_decision_t *d, char *out, size_t len)
{
    size_t used = 0;
    int n = snprintf(out, len, "%s", d->assignee_id[0] ? d->assignee_id : "(none)");
    used = n > 0 ? (size_t)n : 0;
#define TOOL_APPEND(...)                                                                           \
    do {                                                                                           \
        if (used < len) {                                                                          \
            int m = snprintf(out + used, len - used, __VA_ARGS__);                                 \
            used += m > 0 ? (size_t)m : 0;                                                         \
        }                                                                                          \
    } while (0)
    if (d->escalation_path[0]) {
        TOOL_APPEND(" esc=%s", d->escalation_path);
    }
    if (d->referral_count) {
        TOOL_APPEND(" refs=[");
        for (uint32_t i = 0; i < d->referral_count; i++) {
            TOOL_APPEND("%s%s", i ? "," : "", d->referrals[i].service_id);
        }
        TOOL_APPEND("]");
    }
    if (d->priority_adjustment) {
        TOOL_APPEND(" adj=%+d", (int)d->priority_adjustment);
    }
    if (d->needs_human_review) {
        TOOL_APPEND(" review");
    }
    if (d->used_fallback) {
        TOOL_APPEND(" fallback");
    }
#undef TOOL_APPEND
}
