/* plugin.h: the vigil region policy plugin ABI, version 1.
 *
 * This is the only header a region's plugin includes. A plugin is a shared
 * object that exports exactly one symbol, vigil_plugin_descriptor(), which
 * returns a static vigil_plugin_t: magic number, ABI version, struct size,
 * layout fingerprint, name, version and callbacks. Write it with the
 * VIGIL_PLUGIN() macro at the bottom of this file; the host checks the
 * descriptor before it calls anything else.
 *
 * The plugin decides where a case goes. It reads a pseudonymous case view
 * (vigil_case_view_t: never a name, phone, email, address or narrative, and
 * never a protobuf type) and writes its decision through a builder the host
 * owns (vigil_decision_builder_t). Everything else it needs (its config, the
 * region's contact roster, the resource directory, the clock, logging) comes
 * through the function table vigil_host_api_t. A plugin never links against
 * host symbols: build it with -fvisibility=hidden -Wl,--no-undefined; the
 * host loads it with RTLD_NOW | RTLD_LOCAL.
 *
 * Memory rule: no memory is allocated on one side and freed on the other.
 * Strings the host hands out are borrowed (lifetimes below); strings the
 * plugin hands the host are copied before the call returns.
 *
 * Versioning promise (docs/plugins.md):
 *   - ABI major changes break plugins: the host refuses a plugin whose major
 *     differs from its own.
 *   - A minor release only appends fields at the end of a struct or uses a
 *     reserved slot. The host accepts a plugin whose minor is <= its own, and
 *     refuses a newer one (it could call host functions this host lacks).
 *   - Every struct that crosses the boundary starts with struct_size; a side
 *     reads a field only if struct_size covers it.
 *   - VIGIL_PLUGIN_FINGERPRINT hashes the data model (pointer, long, bool,
 *     enum and int64 sizes and alignments, byte order) and the offset and
 *     size of every v1.0 field of every struct below. A plugin compiled with
 *     another data model (e.g. 32-bit), struct packing flags, or an edited
 *     copy of this header gets another fingerprint and is refused. Fields
 *     added by later minors are not part of it, so the fingerprint of a v1.x
 *     plugin equals that of the v1.0 layout on the same platform.
 *
 * Threading and lifecycle contract (the host guarantees; the plugin obeys):
 *   - All callbacks of all plugins run on one thread, one call at a time.
 *     No two callbacks ever run concurrently, in the same instance or across
 *     instances. A plugin needs no locks.
 *   - Order per instance: vigil_plugin_descriptor() (any number of times)
 *     -> init -> [self_test] -> route* and reload*, interleaved -> fini.
 *     After fini returns, the instance's state is never passed again.
 *   - One descriptor may back several instances (one per region that uses
 *     the plugin, and a new one during a hot reload). Keep per-instance data
 *     in the state init returns, never in globals.
 *   - The host API may be called only from inside a callback, on the thread
 *     that called it. Never keep the vigil_host_api_t pointer for use after
 *     the callback returns, except through the same instance's later calls
 *     (each call passes it again).
 *   - route must return promptly (the host's route deadline, 1 s by
 *     default); a route that hangs is killed, and the case goes on without
 *     the plugin. A plugin that crashes takes down only the policy worker
 *     process it runs in; the host restarts it.
 *   - A plugin must not create threads, fork, exec, install signal handlers,
 *     call exit(), write to stdout/stderr, or open network connections.
 *   - Code is never unloaded while the worker runs: after a hot reload the
 *     old instance's fini is called, but its code stays mapped.
 */
#ifndef VIGIL_PLUGIN_H
#define VIGIL_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Version and identity
 * ------------------------------------------------------------------------ */

#define VIGIL_PLUGIN_MAGIC       UINT32_C(0x5649474c) /* "VIGL" */
#define VIGIL_PLUGIN_ABI_MAJOR   1
#define VIGIL_PLUGIN_ABI_MINOR   0
#define VIGIL_PLUGIN_ENTRY       vigil_plugin_descriptor
#define VIGIL_PLUGIN_ENTRY_NAME  "vigil_plugin_descriptor"
#define VIGIL_PLUGIN_NAME_MAX    32 /* plugin name: [a-z0-9_-], 1..32 bytes */
#define VIGIL_PLUGIN_VERSION_MAX 32 /* version: printable, no spaces, 1..32 bytes */

/* Return codes of every int-returning function in this ABI. */
enum {
    VIGIL_PLUGIN_OK = 0,
    VIGIL_PLUGIN_ERR_INVALID = -1,   /* bad argument: NULL, too long, bad characters */
    VIGIL_PLUGIN_ERR_LIMIT = -2,     /* outside a limit the host enforces */
    VIGIL_PLUGIN_ERR_FULL = -3,      /* no room left (e.g. more than 16 referrals) */
    VIGIL_PLUGIN_ERR_NOT_FOUND = -4, /* no such config key or roster entry */
    VIGIL_PLUGIN_ERR_TYPE = -5,      /* the config value has another type */
    VIGIL_PLUGIN_ERR_FAILED = -6,    /* the plugin could not do what was asked */
};

/* Limits the host enforces on what a plugin writes (bytes, without NUL). */
#define VIGIL_PLUGIN_ID_MAX        64  /* roster ids, group ids, escalation paths */
#define VIGIL_PLUGIN_REF_MAX       128 /* directory service, organization ids and taxonomy terms */
#define VIGIL_PLUGIN_RATIONALE_MAX 256 /* rationale text */
#define VIGIL_PLUGIN_REFERRALS_MAX 16  /* referrals per decision */
#define VIGIL_PLUGIN_ERROR_MAX     256 /* the err buffer init/reload/self_test get */

/* ------------------------------------------------------------------------
 * Enumerations. Same names and numbers as proto/vigil/v1 (intake.proto,
 * case.proto); the host converts. Unknown future values may appear: treat
 * them like *_OTHER or ignore them.
 * ------------------------------------------------------------------------ */

typedef enum {
    VIGIL_CHANNEL_UNSPECIFIED = 0,
    VIGIL_CHANNEL_HOTLINE = 1,
    VIGIL_CHANNEL_WEB_FORM = 2,
    VIGIL_CHANNEL_REFERRAL = 3,
    VIGIL_CHANNEL_TEXT = 4,
} vigil_channel_t;

typedef enum {
    VIGIL_CALLER_ROLE_UNSPECIFIED = 0,
    VIGIL_CALLER_ROLE_VICTIM = 1,
    VIGIL_CALLER_ROLE_FAMILY = 2,
    VIGIL_CALLER_ROLE_ADVOCATE = 3,
    VIGIL_CALLER_ROLE_LAW_ENFORCEMENT = 4,
    VIGIL_CALLER_ROLE_OTHER = 5,
} vigil_caller_role_t;

typedef enum {
    VIGIL_CRIME_UNSPECIFIED = 0,
    VIGIL_CRIME_DOMESTIC_VIOLENCE = 1,
    VIGIL_CRIME_SEXUAL_ASSAULT = 2,
    VIGIL_CRIME_ASSAULT = 3,
    VIGIL_CRIME_STALKING = 4,
    VIGIL_CRIME_HOMICIDE = 5,
    VIGIL_CRIME_ROBBERY = 6,
    VIGIL_CRIME_FRAUD = 7,
    VIGIL_CRIME_TRAFFICKING = 8,
    VIGIL_CRIME_CHILD_ABUSE = 9,
    VIGIL_CRIME_ELDER_ABUSE = 10,
    VIGIL_CRIME_DUI = 11,
    VIGIL_CRIME_OTHER = 12,
} vigil_crime_category_t;

typedef enum {
    VIGIL_NEED_UNSPECIFIED = 0,
    VIGIL_NEED_SHELTER = 1,
    VIGIL_NEED_COUNSELING = 2,
    VIGIL_NEED_LEGAL = 3,
    VIGIL_NEED_MEDICAL = 4,
    VIGIL_NEED_COMPENSATION = 5,
    VIGIL_NEED_NOTIFICATION = 6,
    VIGIL_NEED_COURT_ACCOMPANIMENT = 7,
    VIGIL_NEED_INTERPRETER = 8,
    VIGIL_NEED_FINANCIAL = 9,
    VIGIL_NEED_SAFETY_PLANNING = 10,
} vigil_service_need_t;

typedef enum {
    VIGIL_CUE_UNSPECIFIED = 0,
    VIGIL_CUE_IMMEDIATE_DANGER = 1,
    VIGIL_CUE_INJURY = 2,
    VIGIL_CUE_WEAPON = 3,
    VIGIL_CUE_CHILDREN_PRESENT = 4,
    VIGIL_CUE_OFFENDER_RELEASE_SOON = 5,
    VIGIL_CUE_COURT_DATE_SOON = 6,
    VIGIL_CUE_SUICIDAL = 7,
    VIGIL_CUE_INFO_ONLY = 8,
} vigil_urgency_cue_t;

/* Priority: lower is more urgent (vigil.v1.Priority). */
typedef enum {
    VIGIL_PRIORITY_UNSPECIFIED = 0,
    VIGIL_PRIORITY_P1 = 1, /* immediate danger */
    VIGIL_PRIORITY_P2 = 2, /* time-sensitive */
    VIGIL_PRIORITY_P3 = 3, /* standard */
    VIGIL_PRIORITY_P4 = 4, /* information only */
} vigil_priority_t;

/* What a roster entry does. */
typedef enum {
    VIGIL_ROLE_UNSPECIFIED = 0,
    VIGIL_ROLE_CONTACT_OFFICER = 1,     /* takes cases, makes first contact */
    VIGIL_ROLE_COMMUNITY_RELATIONS = 2, /* community relations officer */
    VIGIL_ROLE_SUPERVISOR = 3,          /* escalation target */
    VIGIL_ROLE_GROUP = 4,               /* a shared queue or desk, e.g. a neighbour's intake desk */
    VIGIL_ROLE_OTHER = 5,
} vigil_role_t;

/* Log levels for vigil_host_api_t.log. */
typedef enum {
    VIGIL_LOG_DEBUG = 0,
    VIGIL_LOG_INFO = 1,
    VIGIL_LOG_WARN = 2,
    VIGIL_LOG_ERROR = 3,
} vigil_log_level_t;

/* ------------------------------------------------------------------------
 * What the plugin reads
 * ------------------------------------------------------------------------ */

/* The pseudonymous case view (mirrors vigil.v1.CaseView, plus what triage
 * decided before the plugin). Host-owned; every pointer is valid until route
 * returns and never NULL (absent strings are ""). Holds no personal data. */
typedef struct {
    uint32_t struct_size;              /* sizeof as the host built it */
    uint32_t escalation_level;         /* 0 for the first decision, +1 per escalation */
    const char *case_id;               /* opaque, non-sequential case id */
    const char *region;                /* the region that owns the case */
    const char *language;              /* BCP-47 tag the victim prefers, e.g. "es-MX", or "" */
    const char *state;                 /* USPS state code, e.g. "OR" */
    const char *county_fips;           /* 5-digit county FIPS code, or "" */
    const char *zip3;                  /* first three ZIP digits, or "" */
    const int32_t *requested_services; /* vigil_service_need_t values */
    const int32_t *urgency_cues;       /* vigil_urgency_cue_t values */
    uint32_t requested_service_count;  /* entries in requested_services */
    uint32_t urgency_cue_count;        /* entries in urgency_cues */
    int32_t channel;                   /* vigil_channel_t */
    int32_t caller_role;               /* vigil_caller_role_t */
    int32_t crime_category;            /* vigil_crime_category_t */
    int32_t priority;                  /* vigil_priority_t triage assigned before the plugin */
    int64_t received_at_ms;            /* when the contact began (unix ms) */
    bool share_with_partners;          /* consent to refer to partner agencies */
    bool has_offender;                 /* an offender was identified */
    bool wants_notifications;          /* consent to custody-status notifications */
    bool advise_emergency_services;    /* triage tells the victim to call emergency services (P1) */
} vigil_case_view_t;

/* One entry of the region's contact roster. Host-owned; valid until the
 * callback that obtained it returns. */
typedef struct {
    uint32_t struct_size;         /* sizeof as the host built it */
    uint32_t open_cases;          /* cases currently assigned and open */
    const char *id;               /* roster id (not a name) */
    const char *const *languages; /* BCP-47 tags the officer works in */
    uint32_t language_count;      /* entries in languages */
    int32_t role;                 /* vigil_role_t */
    bool on_call;                 /* reachable after hours */
} vigil_officer_t;

/* A resource-directory query. Plugin-owned; NULL or "" fields do not
 * constrain. A service matches when it carries the taxonomy term, lists the
 * language's primary subtag (when language is set), and serves one of the
 * given places (county, ZIP3, region, state) or serves everywhere. */
typedef struct {
    uint32_t struct_size;      /* set to sizeof(vigil_directory_query_t) */
    const char *taxonomy_term; /* an HSDS taxonomy term id, code or name, e.g. "BH-1800.8500" */
    const char *region;        /* a vigil region name */
    const char *state;         /* USPS state code */
    const char *county_fips;   /* 5-digit county FIPS code */
    const char *zip3;          /* ZIP3 prefix */
    const char *language;      /* BCP-47 tag; matched on its primary subtag ("es-MX" -> "es") */
} vigil_directory_query_t;

/* One resource-directory service (HSDS). Host-owned; valid until the
 * callback that obtained it returns. */
typedef struct {
    uint32_t struct_size;        /* sizeof as the host built it */
    const char *service_id;      /* HSDS service id */
    const char *organization_id; /* HSDS organization id */
    const char *taxonomy_term;   /* the service's taxonomy term */
} vigil_directory_entry_t;

/* A wall-clock time broken down in the region's time zone. Plugin-owned;
 * set struct_size before the call. */
typedef struct {
    uint32_t struct_size; /* set to sizeof(vigil_local_time_t) */
    int32_t year;         /* e.g. 2026 */
    int32_t month;        /* 1..12 */
    int32_t day;          /* 1..31 */
    int32_t hour;         /* 0..23 */
    int32_t minute;       /* 0..59 */
    int32_t weekday;      /* 0 = Sunday .. 6 = Saturday */
    int32_t utc_offset_s; /* seconds east of UTC, including daylight saving */
} vigil_local_time_t;

/* ------------------------------------------------------------------------
 * The host API: a table of functions the host gives every callback.
 * Every function takes the table itself as its first argument.
 * ------------------------------------------------------------------------ */

typedef struct vigil_host_api vigil_host_api_t;

struct vigil_host_api {
    uint32_t struct_size;     /* sizeof as the host built it */
    uint16_t abi_major;       /* the host's VIGIL_PLUGIN_ABI_MAJOR */
    uint16_t abi_minor;       /* the host's VIGIL_PLUGIN_ABI_MINOR */
    const char *host_version; /* vigil's version, e.g. "0.1.0" */
    const char *region;       /* the region this instance serves */

    /* Logs one line tagged with the plugin, region and current case id.
     * `message` is a constant sentence, at most 200 bytes used; it must not
     * carry personal data (the plugin never sees any). Cannot fail. */
    void (*log)(const vigil_host_api_t *host, int32_t level, const char *message);

    /* Typed getters for the region's plugin_config group. `path` is a
     * libconfig path relative to that group: "office_hours.start",
     * "rules.[2].assign". Return VIGIL_PLUGIN_OK, ERR_NOT_FOUND (no such
     * key; *out untouched) or ERR_TYPE. config_int accepts int and int64
     * values; config_double also accepts integers. A string is borrowed
     * until the instance's fini, or until its reload callback returns OK. */
    int (*config_int)(const vigil_host_api_t *host, const char *path, int64_t *out);
    int (*config_double)(const vigil_host_api_t *host, const char *path, double *out);
    int (*config_bool)(const vigil_host_api_t *host, const char *path, bool *out);
    int (*config_string)(const vigil_host_api_t *host, const char *path, const char **out);
    /* Number of elements of a list, array or group at `path` (>= 0), or
     * ERR_NOT_FOUND, or ERR_TYPE for a scalar. "" counts the top group. */
    int (*config_count)(const vigil_host_api_t *host, const char *path);
    /* Name of the index-th member of the group at `path` into *out
     * (borrowed like config_string). Returns OK, ERR_NOT_FOUND or ERR_TYPE. */
    int (*config_member_name)(const vigil_host_api_t *host, const char *path, uint32_t index,
                              const char **out);

    /* The region's contact roster, in roster order. open_cases includes
     * the cases this worker assigned earlier in the same batch. roster_get
     * returns NULL past the end. Cannot fail. */
    uint32_t (*roster_count)(const vigil_host_api_t *host);
    const vigil_officer_t *(*roster_get)(const vigil_host_api_t *host, uint32_t index);

    /* Finds active directory services matching `query`, most specific
     * service area first (county, ZIP3, region, state, then services that
     * serve everywhere), then by name. Writes up to `max` pointers to
     * host-owned entries into `out` and returns how many it wrote (0..max).
     * Returns ERR_INVALID if query or out is NULL or query->struct_size is
     * too small, ERR_FAILED if the directory cannot be read. */
    int (*directory_find)(const vigil_host_api_t *host, const vigil_directory_query_t *query,
                          const vigil_directory_entry_t **out, uint32_t max);

    /* The decision clock (unix ms): the wall clock in service; the case's
     * recorded decision time under vigil-policy-replay and the corpus time
     * under vigil-policy-test. Use it, never time(), so that tests and
     * replays are deterministic. Cannot fail. */
    int64_t (*now_ms)(const vigil_host_api_t *host);
    /* Breaks `unix_ms` down in the region's configured time zone. Returns
     * OK or ERR_INVALID (NULL out, or out->struct_size too small). */
    int (*local_time)(const vigil_host_api_t *host, int64_t unix_ms, vigil_local_time_t *out);

    void *reserved[16]; /* NULL; later minors put functions here */
};

/* ------------------------------------------------------------------------
 * The decision builder: host-owned, one per route call. Every setter copies
 * its arguments. Setters return VIGIL_PLUGIN_OK or a negative code, and a
 * refused value leaves the decision unchanged.
 * ------------------------------------------------------------------------ */

typedef struct vigil_decision_builder vigil_decision_builder_t;

struct vigil_decision_builder {
    uint32_t struct_size; /* sizeof as the host built it */
    uint32_t reserved0;

    /* Who takes the case: a roster id or a group id (1..64 bytes of
     * [A-Za-z0-9._:@/-]). Setting it again replaces it. ERR_INVALID. */
    int (*set_assignee)(vigil_decision_builder_t *decision, const char *roster_id);
    /* Adds a referral (ids as the directory gave them, 1..128 printable
     * bytes; taxonomy_term may be ""). Adding a service_id again does
     * nothing (OK). ERR_INVALID, or
     * ERR_FULL after VIGIL_PLUGIN_REFERRALS_MAX, or ERR_LIMIT when the case
     * did not consent to sharing with partners. */
    int (*add_referral)(vigil_decision_builder_t *decision, const char *service_id,
                        const char *organization_id, const char *taxonomy_term);
    /* Moves the priority by `steps`: -1 is one step more urgent (P3 -> P2),
     * 0 none, +1 one step less urgent (P3 -> P4). ERR_LIMIT outside -1..+1,
     * past P1 or P4, or when it would make a P1 case less urgent (immediate
     * danger is not a plugin's call). Replaces the previous adjustment. */
    int (*adjust_priority)(vigil_decision_builder_t *decision, int32_t steps);
    /* Where the case escalates when its first-contact deadline passes: a
     * roster id or group id, same syntax as set_assignee. ERR_INVALID. */
    int (*set_escalation_path)(vigil_decision_builder_t *decision, const char *path);
    /* Why, in a sentence (1..256 printable bytes; longer is ERR_LIMIT).
     * Never personal data. Replaces the previous rationale. */
    int (*set_rationale)(vigil_decision_builder_t *decision, const char *text);
    /* Flags the case for a person to look at. Cannot fail (returns OK). */
    int (*flag_for_review)(vigil_decision_builder_t *decision);

    void *reserved[8]; /* NULL; later minors put functions here */
};

/* ------------------------------------------------------------------------
 * The descriptor
 * ------------------------------------------------------------------------ */

typedef struct {
    uint32_t magic;       /* VIGIL_PLUGIN_MAGIC */
    uint16_t abi_major;   /* VIGIL_PLUGIN_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;   /* VIGIL_PLUGIN_ABI_MINOR the plugin was built with */
    uint32_t struct_size; /* sizeof(vigil_plugin_t) the plugin was built with */
    uint32_t reserved0;
    uint64_t fingerprint;    /* VIGIL_PLUGIN_FINGERPRINT */
    const char *name;        /* e.g. "rules"; [a-z0-9_-], 1..32 bytes */
    const char *version;     /* e.g. "1.2.0"; printable, no spaces, 1..32 bytes */
    const char *description; /* one line, or NULL */

    /* Creates an instance for the region host->region. Reads its config,
     * checks it, stores what it needs in *state (may stay NULL). Returns OK,
     * or a negative code after writing a one-line reason (naming the config
     * key) into err (err_len bytes, VIGIL_PLUGIN_ERROR_MAX). On failure fini
     * is not called: free what you allocated. Required. */
    int (*init)(const vigil_host_api_t *host, void **state, char *err, size_t err_len);

    /* Decides one case. Writes through `decision`; must set an assignee.
     * Returns OK, or a negative code to decline (the region's fallback
     * policy then decides and the reason is counted). Required. */
    int (*route)(void *state, const vigil_host_api_t *host, const vigil_case_view_t *view,
                 vigil_decision_builder_t *decision);

    /* The region's plugin_config changed; the plugin code did not. Re-read
     * config into `state`. Returns OK, or a negative code with a reason in
     * err: the old config and state stay in force. Optional (NULL: the host
     * creates a fresh instance with init and calls fini on the old one). */
    int (*reload)(void *state, const vigil_host_api_t *host, char *err, size_t err_len);

    /* Frees the instance. Required (may do nothing). Cannot fail. */
    void (*fini)(void *state);

    /* Checks a fresh instance before it is put in service (at start and on
     * every hot reload), e.g. by routing built-in sample cases through its
     * own logic. Returns OK, or a negative code with a reason in err: the
     * instance is not used. Optional. */
    int (*self_test)(void *state, const vigil_host_api_t *host, char *err, size_t err_len);

    void *reserved[8]; /* NULL; later minors put callbacks here */
} vigil_plugin_t;

/* The descriptor size of ABI v1.0: the smallest struct_size the host
 * accepts from a v1 plugin. */
#define VIGIL_PLUGIN_V1_0_SIZE (offsetof(vigil_plugin_t, reserved) + 8 * sizeof(void *))

/* The entry point every plugin exports (VIGIL_PLUGIN() defines it). */
typedef const vigil_plugin_t *(*vigil_plugin_entry_fn)(void);

/* ------------------------------------------------------------------------
 * Layout fingerprint: a compile-time constant (see the versioning promise
 * at the top). Each term is a size, alignment or offset times its own odd
 * constant (splitmix64 of the term's index), summed modulo 2^64: any single
 * change, and in practice any combination, gives another value. Only the
 * named v1.0 fields are listed (not whole-struct sizes, not reserved
 * slots), so a minor that appends fields or fills a reserved slot keeps the
 * fingerprint. Later minors must not add terms.
 * ------------------------------------------------------------------------ */

#define VIGIL_FP_S1(z) (((z) ^ ((z) >> 30)) * UINT64_C(0xbf58476d1ce4e5b9))
#define VIGIL_FP_S2(z) (((z) ^ ((z) >> 27)) * UINT64_C(0x94d049bb133111eb))
#define VIGIL_FP_K(i)                                                                              \
    ((VIGIL_FP_S2(VIGIL_FP_S1((uint64_t)((i) + 1) * UINT64_C(0x9e3779b97f4a7c15))) | UINT64_C(1)))
#define VIGIL_FP_T(i, v) ((uint64_t)(v)*VIGIL_FP_K(i))
#define VIGIL_FP_F(i, type, field)                                                                 \
    (VIGIL_FP_T(2 * (i), offsetof(type, field)) +                                                  \
     VIGIL_FP_T(2 * (i) + 1, sizeof(((type *)0)->field)))

#ifdef __cplusplus
#define VIGIL_FP_ALIGNOF(type) alignof(type)
#else
#define VIGIL_FP_ALIGNOF(type) _Alignof(type)
#endif

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__)
#define VIGIL_FP_BIG_ENDIAN (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
#else
#define VIGIL_FP_BIG_ENDIAN 0
#endif

/* The data model: terms 0..9. */
#define VIGIL_FP_DATA_MODEL                                                                        \
    (VIGIL_FP_T(0, VIGIL_PLUGIN_ABI_MAJOR) + VIGIL_FP_T(1, sizeof(void *)) +                       \
     VIGIL_FP_T(2, sizeof(long)) + VIGIL_FP_T(3, sizeof(size_t)) + VIGIL_FP_T(4, sizeof(bool)) +   \
     VIGIL_FP_T(6, VIGIL_FP_ALIGNOF(int64_t)) + VIGIL_FP_T(7, VIGIL_FP_ALIGNOF(double)) +          \
     VIGIL_FP_T(8, VIGIL_FP_BIG_ENDIAN) + VIGIL_FP_T(9, sizeof(int)))
#define VIGIL_FP_CASE_VIEW                                                                         \
    (VIGIL_FP_F(11, vigil_case_view_t, struct_size) +                                              \
     VIGIL_FP_F(12, vigil_case_view_t, escalation_level) +                                         \
     VIGIL_FP_F(13, vigil_case_view_t, case_id) + VIGIL_FP_F(14, vigil_case_view_t, region) +      \
     VIGIL_FP_F(15, vigil_case_view_t, language) + VIGIL_FP_F(16, vigil_case_view_t, state) +      \
     VIGIL_FP_F(17, vigil_case_view_t, county_fips) + VIGIL_FP_F(18, vigil_case_view_t, zip3) +    \
     VIGIL_FP_F(19, vigil_case_view_t, requested_services) +                                       \
     VIGIL_FP_F(20, vigil_case_view_t, urgency_cues) +                                             \
     VIGIL_FP_F(21, vigil_case_view_t, requested_service_count) +                                  \
     VIGIL_FP_F(22, vigil_case_view_t, urgency_cue_count) +                                        \
     VIGIL_FP_F(23, vigil_case_view_t, channel) + VIGIL_FP_F(24, vigil_case_view_t, caller_role) + \
     VIGIL_FP_F(25, vigil_case_view_t, crime_category) +                                           \
     VIGIL_FP_F(26, vigil_case_view_t, priority) +                                                 \
     VIGIL_FP_F(27, vigil_case_view_t, received_at_ms) +                                           \
     VIGIL_FP_F(28, vigil_case_view_t, share_with_partners) +                                      \
     VIGIL_FP_F(29, vigil_case_view_t, has_offender) +                                             \
     VIGIL_FP_F(30, vigil_case_view_t, wants_notifications) +                                      \
     VIGIL_FP_F(31, vigil_case_view_t, advise_emergency_services))
#define VIGIL_FP_OFFICER                                                                           \
    (VIGIL_FP_F(33, vigil_officer_t, struct_size) + VIGIL_FP_F(34, vigil_officer_t, open_cases) +  \
     VIGIL_FP_F(35, vigil_officer_t, id) + VIGIL_FP_F(36, vigil_officer_t, languages) +            \
     VIGIL_FP_F(37, vigil_officer_t, language_count) + VIGIL_FP_F(38, vigil_officer_t, role) +     \
     VIGIL_FP_F(39, vigil_officer_t, on_call))
#define VIGIL_FP_DIRECTORY_QUERY                                                                   \
    (VIGIL_FP_F(41, vigil_directory_query_t, struct_size) +                                        \
     VIGIL_FP_F(42, vigil_directory_query_t, taxonomy_term) +                                      \
     VIGIL_FP_F(43, vigil_directory_query_t, region) +                                             \
     VIGIL_FP_F(44, vigil_directory_query_t, state) +                                              \
     VIGIL_FP_F(45, vigil_directory_query_t, county_fips) +                                        \
     VIGIL_FP_F(103, vigil_directory_query_t, zip3) +                                              \
     VIGIL_FP_F(104, vigil_directory_query_t, language))
#define VIGIL_FP_DIRECTORY_ENTRY                                                                   \
    (VIGIL_FP_F(46, vigil_directory_entry_t, struct_size) +                                        \
     VIGIL_FP_F(47, vigil_directory_entry_t, service_id) +                                         \
     VIGIL_FP_F(48, vigil_directory_entry_t, organization_id) +                                    \
     VIGIL_FP_F(49, vigil_directory_entry_t, taxonomy_term))
#define VIGIL_FP_LOCAL_TIME                                                                        \
    (VIGIL_FP_F(51, vigil_local_time_t, struct_size) + VIGIL_FP_F(52, vigil_local_time_t, year) +  \
     VIGIL_FP_F(53, vigil_local_time_t, month) + VIGIL_FP_F(54, vigil_local_time_t, day) +         \
     VIGIL_FP_F(55, vigil_local_time_t, hour) + VIGIL_FP_F(56, vigil_local_time_t, minute) +       \
     VIGIL_FP_F(57, vigil_local_time_t, weekday) +                                                 \
     VIGIL_FP_F(58, vigil_local_time_t, utc_offset_s))
#define VIGIL_FP_HOST_API                                                                          \
    (VIGIL_FP_F(60, vigil_host_api_t, struct_size) + VIGIL_FP_F(61, vigil_host_api_t, abi_major) + \
     VIGIL_FP_F(62, vigil_host_api_t, abi_minor) +                                                 \
     VIGIL_FP_F(63, vigil_host_api_t, host_version) + VIGIL_FP_F(64, vigil_host_api_t, region) +   \
     VIGIL_FP_F(65, vigil_host_api_t, log) + VIGIL_FP_F(66, vigil_host_api_t, config_int) +        \
     VIGIL_FP_F(67, vigil_host_api_t, config_double) +                                             \
     VIGIL_FP_F(68, vigil_host_api_t, config_bool) +                                               \
     VIGIL_FP_F(69, vigil_host_api_t, config_string) +                                             \
     VIGIL_FP_F(70, vigil_host_api_t, config_count) +                                              \
     VIGIL_FP_F(71, vigil_host_api_t, config_member_name) +                                        \
     VIGIL_FP_F(72, vigil_host_api_t, roster_count) +                                              \
     VIGIL_FP_F(73, vigil_host_api_t, roster_get) +                                                \
     VIGIL_FP_F(74, vigil_host_api_t, directory_find) + VIGIL_FP_F(75, vigil_host_api_t, now_ms) + \
     VIGIL_FP_F(76, vigil_host_api_t, local_time))
#define VIGIL_FP_DECISION_BUILDER                                                                  \
    (VIGIL_FP_F(79, vigil_decision_builder_t, struct_size) +                                       \
     VIGIL_FP_F(81, vigil_decision_builder_t, set_assignee) +                                      \
     VIGIL_FP_F(82, vigil_decision_builder_t, add_referral) +                                      \
     VIGIL_FP_F(83, vigil_decision_builder_t, adjust_priority) +                                   \
     VIGIL_FP_F(84, vigil_decision_builder_t, set_escalation_path) +                               \
     VIGIL_FP_F(85, vigil_decision_builder_t, set_rationale) +                                     \
     VIGIL_FP_F(86, vigil_decision_builder_t, flag_for_review))
#define VIGIL_FP_PLUGIN                                                                            \
    (VIGIL_FP_F(89, vigil_plugin_t, magic) + VIGIL_FP_F(90, vigil_plugin_t, abi_major) +           \
     VIGIL_FP_F(91, vigil_plugin_t, abi_minor) + VIGIL_FP_F(92, vigil_plugin_t, struct_size) +     \
     VIGIL_FP_F(94, vigil_plugin_t, fingerprint) + VIGIL_FP_F(95, vigil_plugin_t, name) +          \
     VIGIL_FP_F(96, vigil_plugin_t, version) + VIGIL_FP_F(97, vigil_plugin_t, description) +       \
     VIGIL_FP_F(98, vigil_plugin_t, init) + VIGIL_FP_F(99, vigil_plugin_t, route) +                \
     VIGIL_FP_F(100, vigil_plugin_t, reload) + VIGIL_FP_F(101, vigil_plugin_t, fini) +             \
     VIGIL_FP_F(102, vigil_plugin_t, self_test))

/* The value a plugin puts in vigil_plugin_t.fingerprint (VIGIL_PLUGIN() does). */
#define VIGIL_PLUGIN_FINGERPRINT                                                                   \
    (VIGIL_FP_DATA_MODEL + VIGIL_FP_CASE_VIEW + VIGIL_FP_OFFICER + VIGIL_FP_DIRECTORY_QUERY +      \
     VIGIL_FP_DIRECTORY_ENTRY + VIGIL_FP_LOCAL_TIME + VIGIL_FP_HOST_API +                          \
     VIGIL_FP_DECISION_BUILDER + VIGIL_FP_PLUGIN)

/* ------------------------------------------------------------------------
 * Writing the descriptor
 *
 *     #include <vigil/plugin.h>
 *     static int s_init(const vigil_host_api_t *host, void **state, char *err, size_t len);
 *     static int s_route(void *state, const vigil_host_api_t *host,
 *                        const vigil_case_view_t *view, vigil_decision_builder_t *decision);
 *     static void s_fini(void *state);
 *     VIGIL_PLUGIN(.name = "my-region", .version = "1.0.0",
 *                  .description = "routes cases for my region",
 *                  .init = s_init, .route = s_route, .fini = s_fini);
 *
 * VIGIL_PLUGIN() fills magic, ABI version, struct_size and fingerprint and
 * defines the exported vigil_plugin_descriptor(). Use it once per plugin,
 * at file scope. The arguments are designated initializers of
 * vigil_plugin_t; .reload and .self_test are optional.
 * ------------------------------------------------------------------------ */

#if defined(__GNUC__) || defined(__clang__)
#define VIGIL_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define VIGIL_PLUGIN_EXPORT
#endif

/* The fields VIGIL_PLUGIN() fills for you. */
#define VIGIL_PLUGIN_HEADER_FIELDS                                                                 \
    .magic = VIGIL_PLUGIN_MAGIC, .abi_major = VIGIL_PLUGIN_ABI_MAJOR,                              \
    .abi_minor = VIGIL_PLUGIN_ABI_MINOR, .struct_size = (uint32_t)sizeof(vigil_plugin_t),          \
    .fingerprint = VIGIL_PLUGIN_FINGERPRINT

#define VIGIL_PLUGIN(...)                                                                          \
    VIGIL_PLUGIN_EXPORT const vigil_plugin_t *vigil_plugin_descriptor(void);                       \
    const vigil_plugin_t *vigil_plugin_descriptor(void)                                            \
    {                                                                                              \
        static const vigil_plugin_t vigil_plugin_descriptor_value = {VIGIL_PLUGIN_HEADER_FIELDS,   \
                                                                     __VA_ARGS__};                 \
        return &vigil_plugin_descriptor_value;                                                     \
    }                                                                                              \
    typedef int vigil_plugin_defined_once_t

#ifdef __cplusplus
}
#endif

#endif
