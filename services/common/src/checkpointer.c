/* checkpointer.c: WAL checkpoints for a service's store, off the loop
 * thread (see vigil/checkpointer.h).
 *
 * The loop's connection gets a WAL hook instead of sqlite's automatic
 * checkpoint: after each commit it records the WAL size and, past the
 * threshold, wakes the thread (a flag under a mutex; no sqlite handle is
 * ever shared between the threads). The thread owns a second connection and
 * runs PASSIVE checkpoints on it. sqlite restarts the WAL from its start
 * only when a write transaction begins with every frame copied back, which
 * a checkpoint on another thread rarely achieves while the loop commits
 * back to back. So once the WAL reaches CHECKPOINTER_BACKSTOP times the
 * threshold, the hook checkpoints on the loop thread as sqlite would have:
 * most frames are already copied, the pass is short, and the next
 * transaction restarts the WAL, which stays bounded. Should the thread be
 * in the middle of a pass then, the loop's own pass would find the
 * checkpoint lock taken and copy nothing, and on a slow disk the WAL grew
 * by every commit that followed until the thread's pass ended; so the
 * backstop first waits for that pass (`pass`, a mutex held around every
 * checkpoint either thread runs). At a steady rate the
 * loop is idle between commits and the thread's checkpoints restart the WAL
 * by themselves. Must never change synchronous=FULL or run anything but
 * checkpoints on its connection; never logs data.
 */
#include "vigil/checkpointer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "vigil/log.h"

enum {
    CHECKPOINTER_BACKSTOP = 8,           /* x wal_pages: the loop checkpoints itself */
    CHECKPOINTER_BUSY_TIMEOUT_MS = 5000, /* as store.c */
    SQLITE_DEFAULT_WAL_PAGES = 1000,     /* sqlite's own automatic checkpoint threshold */
};

struct checkpointer_t {
    sqlite3 *db;  /* the loop's connection (borrowed) */
    sqlite3 *own; /* this thread's connection */
    int wal_pages;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_mutex_t pass; /* held around every checkpoint, on either thread */
    pthread_cond_t wake;
    bool requested; /* under mutex */
    bool stopping;  /* under mutex */
    bool started;
};

static void *s_run(void *arg)
{
    checkpointer_t *self = arg;
    bool warned = false;
    for (;;) {
        pthread_mutex_lock(&self->mutex);
        while (!self->requested && !self->stopping)
            pthread_cond_wait(&self->wake, &self->mutex);
        bool stopping = self->stopping;
        self->requested = false;
        pthread_mutex_unlock(&self->mutex);
        if (stopping)
            break;
        pthread_mutex_lock(&self->pass);
        int rc = sqlite3_wal_checkpoint_v2(self->own, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(&self->pass);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && !warned) {
            log_warn("WAL checkpoint failed; the loop will checkpoint instead", "error=%s",
                     sqlite3_errstr(rc));
            warned = true;
        }
    }
    return NULL;
}

/* The loop's WAL hook: runs after every commit on the loop thread. */
static int s_on_commit(void *arg, sqlite3 *db, const char *schema, int pages)
{
    (void)schema;
    checkpointer_t *self = arg;
    if (pages < self->wal_pages)
        return SQLITE_OK;
    if (pages >= self->wal_pages * CHECKPOINTER_BACKSTOP) {
        /* The hook runs after the commit released its write lock, so the
         * thread's pass never waits for the loop: no deadlock. */
        pthread_mutex_lock(&self->pass);
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(&self->pass);
        return SQLITE_OK;
    }
    pthread_mutex_lock(&self->mutex);
    if (!self->requested) {
        self->requested = true;
        pthread_cond_signal(&self->wake);
    }
    pthread_mutex_unlock(&self->mutex);
    return SQLITE_OK;
}

checkpointer_t *checkpointer_new(sqlite3 *db, int wal_pages, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    const char *path = sqlite3_db_filename(db, "main");
    if (!path || !*path)
        return NULL;
    checkpointer_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->db = db;
    self->wal_pages = wal_pages > 0 ? wal_pages : SQLITE_DEFAULT_WAL_PAGES;
    pthread_mutex_init(&self->mutex, NULL);
    pthread_mutex_init(&self->pass, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (sqlite3_open_v2(path, &self->own, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(self->own, CHECKPOINTER_BUSY_TIMEOUT_MS) != SQLITE_OK ||
        sqlite3_exec(self->own, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "checkpoint connection: %s",
                 self->own ? sqlite3_errmsg(self->own) : "cannot open");
        goto fail;
    }
    if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
        snprintf(err, errlen, "cannot start the checkpoint thread");
        goto fail;
    }
    self->started = true;
    sqlite3_wal_hook(db, s_on_commit, self); /* replaces the automatic checkpoint */
    return self;
fail:
    checkpointer_destroy(&self);
    return NULL;
}

void checkpointer_destroy(checkpointer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    checkpointer_t *self = *self_p;
    if (self->started) {
        sqlite3_wal_autocheckpoint(self->db, SQLITE_DEFAULT_WAL_PAGES); /* drops our hook */
        pthread_mutex_lock(&self->mutex);
        self->stopping = true;
        pthread_cond_signal(&self->wake);
        pthread_mutex_unlock(&self->mutex);
        pthread_join(self->thread, NULL);
    }
    sqlite3_close_v2(self->own);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->pass);
    pthread_mutex_destroy(&self->mutex);
    free(self);
    *self_p = NULL;
}
