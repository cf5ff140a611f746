/* fuzz_support.c: what more than one fuzz target needs (see fuzz.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"

enum { FUZZ_TEMP_PATH = 512, FUZZ_FTW_FDS = 16 };

static char s_tempdir[FUZZ_TEMP_PATH];

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void s_remove_tempdir(void)
{
    nftw(s_tempdir, s_remove, FUZZ_FTW_FDS, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tempdir(const char *name)
{
    FUZZ_CHECK(!s_tempdir[0], "fuzz_tempdir called twice");
    const char *root = getenv("TMPDIR");
    snprintf(s_tempdir, sizeof s_tempdir, "%s/vigil-fuzz-%s-XXXXXX", root && *root ? root : "/tmp",
             name);
    FUZZ_CHECK(mkdtemp(s_tempdir), "cannot make a folder like %s", s_tempdir);
    atexit(s_remove_tempdir);
    return s_tempdir;
}
