/* policy_trust.c: the plugin file and directory checks (policy_trust.h).
 * It opens and inspects files; it never loads or runs one.
 */
#include "policy_trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The user the files must belong to: ours, or root's. */
static bool s_owner_ok(const struct stat *st)
{
    return st->st_uid == geteuid() || st->st_uid == 0;
}

/* Checks owner and mode of one object; `what` is "file" or "directory". */
static int s_check_stat(const char *path, const struct stat *st, const char *what, char *err,
                        size_t errlen)
{
    if (!s_owner_ok(st)) {
        snprintf(err, errlen,
                 "%s: refused: the %s is owned by uid %u, not by this service's user (uid %u) "
                 "or root",
                 path, what, (unsigned)st->st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "%s: refused: the %s is writable by %s (mode %04o); run chmod go-w on it", path,
                 what, (st->st_mode & S_IWOTH) ? "others" : "its group",
                 (unsigned)(st->st_mode & 07777));
        return -1;
    }
    return 0;
}

int policy_trust_check_dir(const char *dir, char *err, size_t errlen)
{
    if (!dir || !dir[0]) {
        snprintf(err, errlen, "plugin directory: not configured");
        return -1;
    }
    char real[PATH_MAX];
    if (!realpath(dir, real)) {
        snprintf(err, errlen, "%s: plugin directory: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(real, &st) < 0) {
        snprintf(err, errlen, "%s: plugin directory: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: plugin directory: not a directory", dir);
        return -1;
    }
    return s_check_stat(dir, &st, "plugin directory", err, errlen);
}

/* Checks every directory strictly below `root` down to the parent of
 * `file` (both real paths, file inside root). */
static int s_check_between(const char *root, const char *file, char *err, size_t errlen)
{
    char walk[PATH_MAX];
    snprintf(walk, sizeof walk, "%s", file);
    size_t root_len = strlen(root);
    for (;;) {
        char *slash = strrchr(walk, '/');
        if (!slash || (size_t)(slash - walk) <= root_len) {
            return 0;
        }
        *slash = '\0';
        struct stat st;
        if (lstat(walk, &st) < 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: refused: cannot inspect the directory", walk);
            return -1;
        }
        if (s_check_stat(walk, &st, "directory", err, errlen) < 0) {
            return -1;
        }
    }
}

int policy_trust_open(const char *dir, const char *stem, char *path, size_t pathlen,
                      struct stat *st, char *err, size_t errlen)
{
    if (policy_trust_check_dir(dir, err, errlen) < 0) {
        return -1;
    }
    if (!stem || !stem[0] || strchr(stem, '/') || stem[0] == '.') {
        snprintf(err, errlen,
                 "%s/%s: refused: a plugin is named by a file stem in the plugin "
                 "directory, without '/'",
                 dir, stem ? stem : "");
        return -1;
    }
    int n = snprintf(path, pathlen, "%s/%s%s", dir, stem, POLICY_PLUGIN_SUFFIX);
    if (n < 0 || (size_t)n >= pathlen) {
        snprintf(err, errlen, "%s/%s: path too long", dir, stem);
        return -1;
    }
    char real_dir[PATH_MAX];
    if (!realpath(dir, real_dir)) {
        snprintf(err, errlen, "%s: plugin directory: %s", dir, strerror(errno));
        return -1;
    }
    struct stat link;
    if (lstat(path, &link) < 0) {
        snprintf(err, errlen, "%s: %s", path,
                 errno == ENOENT ? "no such plugin file" : strerror(errno));
        return -1;
    }
    char target[PATH_MAX];
    if (S_ISLNK(link.st_mode)) {
        if (!realpath(path, target)) {
            snprintf(err, errlen, "%s: refused: a symlink that does not resolve (%s)", path,
                     strerror(errno));
            return -1;
        }
        size_t len = strlen(real_dir);
        if (strncmp(target, real_dir, len) != 0 || target[len] != '/') {
            snprintf(err, errlen,
                     "%s: refused: a symlink that points outside the plugin directory %s", path,
                     real_dir);
            return -1;
        }
        if (s_check_between(real_dir, target, err, errlen) < 0) {
            return -1;
        }
        if (lstat(target, &link) < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
    } else {
        int len = snprintf(target, sizeof target, "%s/%s%s", real_dir, stem, POLICY_PLUGIN_SUFFIX);
        if (len < 0 || (size_t)len >= sizeof target) {
            snprintf(err, errlen, "%s: path too long", path);
            return -1;
        }
    }
    if (!S_ISREG(link.st_mode)) {
        snprintf(err, errlen, "%s: refused: not a regular file", path);
        return -1;
    }
    int fd = open(target, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0) {
        snprintf(err, errlen, "%s: cannot inspect: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (st->st_dev != link.st_dev || st->st_ino != link.st_ino) {
        snprintf(err, errlen, "%s: refused: the file changed while it was being checked", path);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%s: refused: not a regular file", path);
        close(fd);
        return -1;
    }
    if (s_check_stat(path, st, "file", err, errlen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}
