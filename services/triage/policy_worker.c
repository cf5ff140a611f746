/* policy_worker.c: the worker's message loop (policy_worker.h). */
#include "policy_worker.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy_builder.h"
#include "policy_dircache.h"
#include "policy_instance.h"
#include "policy_loader.h"
#include "vigil/log.h"

/* Exit codes (service.h's values; the worker does not link the service
 * skeleton). */
#define POLICY_WORKER_EXIT_OK       0
#define POLICY_WORKER_EXIT_SOFTWARE 70
/* Most region slots a host may ask for. */
#define POLICY_WORKER_SLOTS_MAX 4096
/* Most distinct plugin objects remembered (to close duplicate fds). */
#define POLICY_WORKER_HANDLES_MAX 1024
/* Bytes of an error message sent back. */
#define POLICY_WORKER_ERR_MAX 512
/* First size of the per-message scratch arrays. */
#define POLICY_WORKER_SCRATCH_MIN 64
/* Nanoseconds per second. */
#define POLICY_NS_PER_S 1000000000ull

typedef struct {
    policy_instance_t *instance;
} slot_t;

typedef struct {
    int fd;
    policy_progress_t *progress;
    policy_wire_in_t in;
    policy_wire_buf_t out;
    char *host_version;
    policy_dircache_t *directory;
    slot_t *slots;
    uint32_t slot_count;
    void *handles[POLICY_WORKER_HANDLES_MAX];
    size_t handle_count;
    policy_builder_t builder;
    /* scratch for one ROUTE message */
    vigil_case_view_t *views;
    int32_t *codes; /* needs and cues of every case, back to back */
    size_t views_cap;
    size_t codes_cap;
} worker_t;

static uint64_t s_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * POLICY_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void s_mark(worker_t *w, uint32_t phase, uint32_t slot, uint64_t seq, uint32_t index)
{
    policy_progress_t *p = w->progress;
    atomic_store_explicit(&p->seq, seq, memory_order_relaxed);
    atomic_store_explicit(&p->index, index, memory_order_relaxed);
    atomic_store_explicit(&p->slot, slot, memory_order_relaxed);
    atomic_store_explicit(&p->started_ns, s_mono_ns(), memory_order_relaxed);
    atomic_store_explicit(&p->phase, phase, memory_order_release);
}

static void s_idle(worker_t *w)
{
    atomic_store_explicit(&w->progress->phase, POLICY_PHASE_IDLE, memory_order_release);
}

/* True if `handle` was seen before; remembers it otherwise. */
static bool s_known_handle(worker_t *w, void *handle)
{
    for (size_t i = 0; i < w->handle_count; i++) {
        if (w->handles[i] == handle) {
            return true;
        }
    }
    if (w->handle_count < POLICY_WORKER_HANDLES_MAX) {
        w->handles[w->handle_count++] = handle;
    }
    return false;
}

static int s_on_hello(worker_t *w, policy_wire_reader_t *r)
{
    const char *version = policy_wire_get_str(r);
    const char *db = policy_wire_get_str(r);
    uint32_t slots = policy_wire_get_u32(r);
    if (r->failed || slots > POLICY_WORKER_SLOTS_MAX || w->slots) {
        return -1;
    }
    w->host_version = strdup(version);
    w->slots = calloc(slots + 1, sizeof *w->slots);
    if (!w->host_version || !w->slots) {
        return -1;
    }
    w->slot_count = slots;
    char warning[POLICY_WORKER_ERR_MAX] = "";
    w->directory = policy_dircache_new(db, warning, sizeof warning);
    if (!w->directory) {
        return -1;
    }
    policy_wire_begin(&w->out, POLICY_MSG_READY);
    policy_wire_str(&w->out, warning);
    return policy_wire_send(w->fd, &w->out, -1);
}

static int s_send_loaded(worker_t *w, uint32_t slot, uint8_t status, const char *error)
{
    const vigil_plugin_t *running =
        w->slots[slot].instance ? policy_instance_plugin(w->slots[slot].instance) : NULL;
    policy_wire_begin(&w->out, POLICY_MSG_LOADED);
    policy_wire_u32(&w->out, slot);
    policy_wire_u8(&w->out, status);
    policy_wire_str(&w->out, running ? running->name : "");
    policy_wire_str(&w->out, running ? running->version : "");
    policy_wire_str(&w->out, error);
    return policy_wire_send(w->fd, &w->out, -1);
}

/* Loads the file behind `fd` into `slot` (see policy_worker.h). */
static int s_load(worker_t *w, uint32_t slot, int fd, const policy_instance_spec_t *spec)
{
    char err[POLICY_WORKER_ERR_MAX] = "";
    slot_t *s = &w->slots[slot];
    uint8_t failed = s->instance ? POLICY_LOAD_KEPT : POLICY_LOAD_FAILED;
    if (fd < 0) {
        snprintf(err, sizeof err, "%s: no file descriptor came with the load request", spec->file);
        return s_send_loaded(w, slot, failed, err);
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    s_mark(w, POLICY_PHASE_LOADING, slot, 0, 0);
    policy_plugin_t plugin;
    int rc = policy_loader_load(path, spec->file, &plugin, err, sizeof err);
    void *handle = plugin.handle;
    if (!handle) {
        /* The loader leaves a failed-but-opened object mapped; if dlopen
         * itself failed, nothing refers to the fd. */
        close(fd);
    } else if (s_known_handle(w, handle)) {
        close(fd); /* the same object was loaded before, under an fd we keep */
    }
    if (rc < 0) {
        s_idle(w);
        return s_send_loaded(w, slot, failed, err);
    }
    if (s->instance && policy_instance_handle(s->instance) == handle) {
        rc = policy_instance_reconfigure(s->instance, spec, err, sizeof err);
        if (rc <= 0) {
            s_idle(w);
            return s_send_loaded(w, slot, rc == 0 ? POLICY_LOAD_NEW : POLICY_LOAD_KEPT, err);
        }
    }
    policy_instance_t *fresh = policy_instance_new(spec, w->directory, err, sizeof err);
    if (!fresh) {
        s_idle(w);
        return s_send_loaded(w, slot, failed, err);
    }
    if (policy_instance_start(fresh, &plugin, err, sizeof err) < 0) {
        policy_instance_destroy(&fresh);
        s_idle(w);
        return s_send_loaded(w, slot, failed, err);
    }
    policy_instance_t *old = s->instance;
    s->instance = fresh;
    policy_instance_destroy(&old); /* fini of the old version, after the swap */
    s_idle(w);
    return s_send_loaded(w, slot, POLICY_LOAD_NEW, "");
}

static int s_on_load(worker_t *w, policy_wire_reader_t *r)
{
    int fd = policy_wire_in_take_fd(&w->in);
    policy_instance_spec_t spec = {.host_version = w->host_version};
    uint32_t slot = policy_wire_get_u32(r);
    spec.region = policy_wire_get_str(r);
    spec.file = policy_wire_get_str(r);
    spec.plugin_config = policy_wire_get_str(r);
    spec.timezone = policy_wire_get_str(r);
    uint32_t n = policy_wire_get_u32(r);
    if (r->failed || slot >= w->slot_count || n > r->left) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    vigil_officer_t *roster = calloc((size_t)n + 1, sizeof *roster);
    const char ***langs = calloc((size_t)n + 1, sizeof *langs);
    int rc = -1;
    if (!roster || !langs) {
        goto done;
    }
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        roster[i].id = policy_wire_get_str(r);
        uint32_t k = policy_wire_get_u32(r);
        if (r->failed || k > r->left) {
            goto done;
        }
        langs[i] = calloc((size_t)k + 1, sizeof(char *));
        if (!langs[i]) {
            goto done;
        }
        for (uint32_t j = 0; j < k; j++) {
            langs[i][j] = policy_wire_get_str(r);
        }
        roster[i].languages = langs[i];
        roster[i].language_count = k;
        roster[i].role = policy_wire_get_i32(r);
        roster[i].on_call = policy_wire_get_u8(r) != 0;
        roster[i].open_cases = policy_wire_get_u32(r);
    }
    if (r->failed) {
        goto done;
    }
    spec.roster = roster;
    spec.roster_count = n;
    rc = s_load(w, slot, fd, &spec);
    fd = -1;
done:
    if (fd >= 0) {
        close(fd);
    }
    for (uint32_t i = 0; langs && i < n; i++) {
        free((void *)langs[i]);
    }
    free((void *)langs);
    free(roster);
    return rc;
}

static int s_on_loads(worker_t *w, policy_wire_reader_t *r)
{
    uint32_t slot = policy_wire_get_u32(r);
    uint32_t n = policy_wire_get_u32(r);
    if (r->failed || slot >= w->slot_count || n > r->left / sizeof(uint32_t)) {
        return -1;
    }
    uint32_t *loads = calloc((size_t)n + 1, sizeof *loads);
    if (!loads) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        loads[i] = policy_wire_get_u32(r);
    }
    if (w->slots[slot].instance && !r->failed) {
        policy_instance_set_loads(w->slots[slot].instance, loads, n);
    }
    free(loads);
    return r->failed ? -1 : 0;
}

static int s_grow(void **array, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t fresh = *cap ? *cap : POLICY_WORKER_SCRATCH_MIN;
    while (fresh < need) {
        fresh *= 2;
    }
    void *p = realloc(*array, fresh * size);
    if (!p) {
        return -1;
    }
    *array = p;
    *cap = fresh;
    return 0;
}

static void s_put_result(worker_t *w, uint8_t status, int32_t rc)
{
    policy_builder_t *b = &w->builder;
    bool decided = status == POLICY_ROUTE_DECIDED;
    policy_wire_u8(&w->out, status);
    policy_wire_i32(&w->out, rc);
    policy_wire_str(&w->out, decided ? b->assignee : "");
    policy_wire_str(&w->out, decided ? b->escalation : "");
    policy_wire_str(&w->out, decided ? b->rationale : "");
    policy_wire_i32(&w->out, decided ? b->adjustment : 0);
    policy_wire_u8(&w->out, decided && b->review);
    uint32_t refs = decided ? b->referral_count : 0;
    policy_wire_u32(&w->out, refs);
    for (uint32_t i = 0; i < refs; i++) {
        policy_wire_str(&w->out, b->referrals[i].service_id);
        policy_wire_str(&w->out, b->referrals[i].organization_id);
        policy_wire_str(&w->out, b->referrals[i].taxonomy_term);
    }
}

static int s_on_route(worker_t *w, policy_wire_reader_t *r)
{
    uint64_t seq = policy_wire_get_u64(r);
    uint32_t n = policy_wire_get_u32(r);
    if (r->failed || n > r->left) {
        return -1;
    }
    if (s_grow((void **)&w->views, &w->views_cap, n, sizeof *w->views) < 0) {
        return -1;
    }
    uint32_t *slots = calloc((size_t)n + 1, sizeof *slots);
    int64_t *clocks = calloc((size_t)n + 1, sizeof *clocks);
    size_t *offsets = calloc((size_t)n + 1, sizeof *offsets);
    if (!slots || !clocks || !offsets) {
        goto fail;
    }
    size_t codes = 0;
    for (uint32_t i = 0; i < n; i++) {
        vigil_case_view_t *v = &w->views[i];
        memset(v, 0, sizeof *v);
        v->struct_size = (uint32_t)sizeof *v;
        slots[i] = policy_wire_get_u32(r);
        v->case_id = policy_wire_get_str(r);
        v->language = policy_wire_get_str(r);
        v->state = policy_wire_get_str(r);
        v->county_fips = policy_wire_get_str(r);
        v->zip3 = policy_wire_get_str(r);
        v->channel = policy_wire_get_i32(r);
        v->caller_role = policy_wire_get_i32(r);
        v->crime_category = policy_wire_get_i32(r);
        v->priority = policy_wire_get_i32(r);
        v->escalation_level = policy_wire_get_u32(r);
        v->received_at_ms = policy_wire_get_i64(r);
        uint8_t flags = policy_wire_get_u8(r);
        v->share_with_partners = flags & POLICY_CASE_SHARE;
        v->has_offender = flags & POLICY_CASE_HAS_OFFENDER;
        v->wants_notifications = flags & POLICY_CASE_NOTIFICATIONS;
        v->advise_emergency_services = flags & POLICY_CASE_EMERGENCY;
        uint32_t k = policy_wire_get_u32(r);
        if (r->failed || k > r->left / sizeof(int32_t) ||
            s_grow((void **)&w->codes, &w->codes_cap, codes + k + 1, sizeof(int32_t)) < 0) {
            goto fail;
        }
        offsets[i] = codes;
        v->requested_service_count = k;
        for (uint32_t j = 0; j < k; j++) {
            w->codes[codes++] = policy_wire_get_i32(r);
        }
        uint32_t m = policy_wire_get_u32(r);
        if (r->failed || m > r->left / sizeof(int32_t) ||
            s_grow((void **)&w->codes, &w->codes_cap, codes + m + 1, sizeof(int32_t)) < 0) {
            goto fail;
        }
        v->urgency_cue_count = m;
        for (uint32_t j = 0; j < m; j++) {
            w->codes[codes++] = policy_wire_get_i32(r);
        }
        clocks[i] = policy_wire_get_i64(r);
        if (r->failed || slots[i] >= w->slot_count) {
            goto fail;
        }
    }
    policy_dircache_refresh(w->directory);
    policy_wire_begin(&w->out, POLICY_MSG_ROUTED);
    policy_wire_u64(&w->out, seq);
    policy_wire_u32(&w->out, n);
    for (uint32_t i = 0; i < n; i++) {
        vigil_case_view_t *v = &w->views[i];
        /* The code arrays are fixed only now: w->codes may have moved. */
        v->requested_services = w->codes + offsets[i];
        v->urgency_cues = w->codes + offsets[i] + v->requested_service_count;
        policy_instance_t *instance = w->slots[slots[i]].instance;
        if (!instance) {
            s_put_result(w, POLICY_ROUTE_NO_PLUGIN, 0);
            continue;
        }
        v->region = policy_instance_region(instance);
        policy_builder_reset(&w->builder, v);
        s_mark(w, POLICY_PHASE_ROUTING, slots[i], seq, i);
        int rc = policy_instance_route(instance, v, clocks[i], &w->builder);
        s_idle(w);
        if (rc != VIGIL_PLUGIN_OK) {
            s_put_result(w, POLICY_ROUTE_DECLINED, rc);
        } else if (!w->builder.assignee[0]) {
            s_put_result(w, POLICY_ROUTE_NO_ASSIGNEE, rc);
        } else {
            policy_instance_add_load(instance, w->builder.assignee);
            s_put_result(w, POLICY_ROUTE_DECIDED, rc);
        }
    }
    free(slots);
    free(clocks);
    free(offsets);
    return policy_wire_send(w->fd, &w->out, -1);
fail:
    free(slots);
    free(clocks);
    free(offsets);
    return -1;
}

static void s_shutdown(worker_t *w)
{
    for (uint32_t i = 0; i < w->slot_count; i++) {
        if (w->slots[i].instance) {
            s_mark(w, POLICY_PHASE_LOADING, i, 0, 0);
            policy_instance_destroy(&w->slots[i].instance);
            s_idle(w);
        }
    }
}

int policy_worker_run(int fd, policy_progress_t *progress)
{
    worker_t w = {.fd = fd, .progress = progress};
    policy_wire_in_init(&w.in);
    int code = POLICY_WORKER_EXIT_OK;
    for (;;) {
        if (policy_wire_in_wait(&w.in, fd) < 0) {
            break; /* triage went away */
        }
        uint8_t type = 0;
        policy_wire_reader_t r;
        if (!policy_wire_in_frame(&w.in, &type, &r)) {
            continue;
        }
        int rc = -1;
        bool stop = false;
        switch (type) {
        case POLICY_MSG_HELLO:
            rc = s_on_hello(&w, &r);
            break;
        case POLICY_MSG_LOAD:
            rc = w.slots ? s_on_load(&w, &r) : -1;
            break;
        case POLICY_MSG_LOADS:
            rc = w.slots ? s_on_loads(&w, &r) : -1;
            break;
        case POLICY_MSG_ROUTE:
            rc = w.slots ? s_on_route(&w, &r) : -1;
            break;
        case POLICY_MSG_SHUTDOWN:
            rc = 0;
            stop = true;
            break;
        default:
            rc = -1;
        }
        policy_wire_in_consume(&w.in);
        if (rc < 0) {
            log_error("policy worker: bad request from triage", "type=%u", (unsigned)type);
            code = POLICY_WORKER_EXIT_SOFTWARE;
            break;
        }
        if (stop) {
            break;
        }
    }
    if (w.slots) {
        s_shutdown(&w);
    }
    policy_dircache_destroy(&w.directory);
    policy_wire_in_free(&w.in);
    policy_wire_buf_free(&w.out);
    free(w.slots);
    free(w.host_version);
    free(w.views);
    free(w.codes);
    return code;
}
