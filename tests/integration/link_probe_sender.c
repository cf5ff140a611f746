/* link_probe_sender.c: a real vigil service that sends `count` LinkProbe
 * messages to its peer over the reliable link, for the link's integration
 * tests and benchmark.
 *
 * Every `interval_ms` it enqueues up to `batch` probes in one transaction
 * that also records each sequence number in sent(seq), so a sender killed
 * and restarted resumes after the last committed probe and never enqueues
 * one twice. Once every probe is enqueued and the outbox is empty (all
 * acknowledged after the receiver's commit) it stops and exits 0. It never
 * holds personal data.
 *
 * Usage: vigil-link-probe-sender --config FILE, with a config like
 *     peers = ( { name = "receiver"; endpoint = "tcp://127.0.0.1:7201"; } );
 *     probe_sender = { peer = "receiver"; count = 10000; batch = 100; interval_ms = 5; };
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/service.h"

#define PROBE_ERR_LEN    256
#define PROBE_CHECK_MS   20 /* how often to look whether the outbox has emptied */
#define PROBE_FILLER_MAX (1 << 20)

typedef struct {
    char *peer;
    int64_t count;
    int64_t batch;
    int64_t interval_ms;
    int64_t filler_bytes;
} probe_sender_config_t;

#define OFF(member) offsetof(probe_sender_config_t, member)

static const config_key_t s_config_keys[] = {
    {.key = "probe_sender.peer",
     .type = CONFIG_STRING,
     .default_value = "receiver",
     .offset = OFF(peer),
     .min = 1,
     .max = 0,
     .doc = "the peer (from `peers`) the probes go to"},
    {.key = "probe_sender.count",
     .type = CONFIG_INT,
     .default_value = "10000",
     .offset = OFF(count),
     .min = 0,
     .max = INT64_C(1000000000),
     .doc = "probes to send in total (sequence numbers 0 .. count-1)"},
    {.key = "probe_sender.batch",
     .type = CONFIG_INT,
     .default_value = "100",
     .offset = OFF(batch),
     .min = 1,
     .max = 1000000,
     .doc = "probes enqueued per transaction"},
    {.key = "probe_sender.interval_ms",
     .type = CONFIG_INT,
     .default_value = "5",
     .offset = OFF(interval_ms),
     .min = 1,
     .max = 60000,
     .doc = "pause between enqueue transactions"},
    {.key = "probe_sender.filler_bytes",
     .type = CONFIG_INT,
     .default_value = "0",
     .offset = OFF(filler_bytes),
     .min = 0,
     .max = PROBE_FILLER_MAX,
     .doc = "padding bytes per probe"},
    {.key = NULL},
};

static const char s_sent_schema[] = "CREATE TABLE sent (seq INTEGER PRIMARY KEY);";

static const store_migration_t s_migrations[] = {
    {.version = 1, .sql = link_schema_v1},
    {.version = 2, .sql = s_sent_schema},
};

typedef struct {
    service_t *service;
    const probe_sender_config_t *config;
    link_client_t *client;
    sqlite3_stmt *mark_sent;
    int64_t next_seq;
    uint8_t *filler;
    int enqueue_timer;
} probe_sender_t;

/* Enqueues the next batch in one transaction. Returns 0 or -1. */
static int s_enqueue_batch(probe_sender_t *self)
{
    sqlite3 *db = service_db(self->service);
    char err[PROBE_ERR_LEN];
    if (store_begin(db))
        return -1;
    int64_t end = self->next_seq + self->config->batch;
    if (end > self->config->count)
        end = self->config->count;
    for (int64_t seq = self->next_seq; seq < end; seq++) {
        sqlite3_bind_int64(self->mark_sent, 1, seq);
        int rc = sqlite3_step(self->mark_sent);
        sqlite3_reset(self->mark_sent);
        Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
        probe.sequence = (uint64_t)seq;
        probe.filler.data = self->filler;
        probe.filler.len = (size_t)self->config->filler_bytes;
        if (rc != SQLITE_DONE ||
            link_outbox_enqueue(db, service_vault(self->service), self->config->peer,
                                VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, NULL, NULL,
                                &probe.base, NULL, err, sizeof err)) {
            log_error("probe enqueue failed; rolled back", "seq=%lld error=%s", (long long)seq,
                      rc != SQLITE_DONE ? sqlite3_errmsg(db) : err);
            store_rollback(db);
            return -1;
        }
    }
    if (store_commit(db)) {
        store_rollback(db);
        return -1;
    }
    self->next_seq = end;
    link_client_kick(self->client);
    return 0;
}

static int s_on_enqueue(zloop_t *loop, int timer_id, void *arg)
{
    probe_sender_t *self = arg;
    if (self->next_seq < self->config->count)
        s_enqueue_batch(self);
    if (self->next_seq >= self->config->count) {
        zloop_timer_end(loop, timer_id);
        log_info("all probes enqueued", "count=%lld", (long long)self->config->count);
    }
    return 0;
}

static int s_on_check(zloop_t *loop, int timer_id, void *arg)
{
    probe_sender_t *self = arg;
    if (self->next_seq < self->config->count || link_client_backlog(self->client) > 0)
        return 0;
    log_info("all probes acknowledged; stopping", "count=%lld", (long long)self->config->count);
    zloop_timer_end(loop, timer_id);
    service_request_stop(self->service);
    return 0;
}

static int s_start(service_t *service)
{
    const probe_sender_config_t *config = service_config(service);
    probe_sender_t *self = calloc(1, sizeof *self);
    if (!self)
        return SERVICE_EXIT_SOFTWARE;
    service_set_context(service, self);
    self->service = service;
    self->config = config;
    self->client = service_peer(service, config->peer);
    if (!self->client) {
        log_error("probe_sender.peer names no configured peer", "peer=%s", config->peer);
        return SERVICE_EXIT_CONFIG;
    }
    self->filler = calloc(1, (size_t)config->filler_bytes + 1);
    sqlite3 *db = service_db(service);
    sqlite3_stmt *last = NULL;
    if (!self->filler ||
        sqlite3_prepare_v2(db, "INSERT INTO sent (seq) VALUES (?1)", -1, &self->mark_sent, NULL) ||
        sqlite3_prepare_v2(db, "SELECT coalesce(max(seq) + 1, 0) FROM sent", -1, &last, NULL))
        return SERVICE_EXIT_SOFTWARE;
    if (sqlite3_step(last) == SQLITE_ROW)
        self->next_seq = sqlite3_column_int64(last, 0);
    sqlite3_finalize(last);
    log_info("probe sender starting", "next_seq=%lld count=%lld backlog=%zu",
             (long long)self->next_seq, (long long)config->count,
             link_client_backlog(self->client));
    zloop_t *loop = service_loop(service);
    zloop_timer(loop, (size_t)config->interval_ms, 0, s_on_enqueue, self);
    zloop_timer(loop, PROBE_CHECK_MS, 0, s_on_check, self);
    return 0;
}

static void s_stop(service_t *service)
{
    probe_sender_t *self = service_context(service);
    if (!self)
        return;
    sqlite3_finalize(self->mark_sent);
    free(self->filler);
    free(self);
    service_set_context(service, NULL);
}

static const service_def_t s_service = {
    .name = "sender",
    .config_keys = s_config_keys,
    .config_size = sizeof(probe_sender_config_t),
    .migrations = s_migrations,
    .migration_count = sizeof s_migrations / sizeof s_migrations[0],
    .start = s_start,
    .stop = s_stop,
};

int main(int argc, char **argv)
{
    return service_main(&s_service, argc, argv);
}
