/* test_intake_store.c: what intake writes to its sqlite file, and reads back.
 *
 * Uses a real store (intake's migrations), a real vault key file and a
 * real hash key file in a temporary directory. Checks that a stored case
 * round-trips with every personal field, that none of those values is in
 * the file in clear, that a sealed value moved to another case fails its
 * integrity check (the aad binds it to its case and column), that the
 * ledger answers DUPLICATE for a repeated (source, event id), and that the
 * pseudonymous messages intake forwards cannot carry a personal field. A
 * row prepared on another thread (cases_prepare) and stored later
 * (cases_store_prepared) reads back as one cases_store() wrote, a
 * tampered prepared row fails its integrity check, and a new case's
 * onward rows prepared on another thread are enqueued in order.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "arena.h"
#include "case_id.h"
#include "cases.h"
#include "forward.h"
#include "intake.h"
#include "ledger.h"
#include "schema.h"
#include "vigil/pii.h"
#include "vigil/store.h"
#include "vigil/vault.h"

#define MT_CONTACT VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT

typedef struct {
    char dir[64];
    char db_path[128];
    sqlite3 *db;
    vault_t *vault;
    intake_config_t config;
    intake_t *intake;
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vigil-unit-intake-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char vault_path[128], hash_path[128], err[256];
    snprintf(f->db_path, sizeof f->db_path, "%s/intake.db", f->dir);
    snprintf(vault_path, sizeof vault_path, "%s/intake.vault", f->dir);
    snprintf(hash_path, sizeof hash_path, "%s/intake.hashkey", f->dir);
    f->db = store_open(f->db_path, intake_migrations, INTAKE_MIGRATION_COUNT, err, sizeof err);
    assert_non_null(f->db);
    assert_int_equal(vault_create_keyfile(vault_path, err, sizeof err), 0);
    f->vault = vault_open(vault_path, err, sizeof err);
    assert_non_null(f->vault);
    f->config.cache_mb = 8;
    f->intake = intake_new_detached(f->db, f->vault, &f->config, hash_path, err, sizeof err);
    if (!f->intake)
        fail_msg("intake_new_detached: %s", err);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    intake_destroy(&f->intake);
    store_close(&f->db);
    vault_destroy(&f->vault);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", f->dir);
    assert_int_equal(system(command), 0);
    free(f);
    return 0;
}

/* A contact with every personal field set. */
typedef struct {
    Vigil__V1__IntakeContact c;
    Vigil__V1__VictimContact v;
    Vigil__V1__Location l;
    Vigil__V1__Consent consent;
    Vigil__V1__OffenderRef o[2];
    Vigil__V1__OffenderRef *op[2];
    char event_id[32];
} contact_t;

static Vigil__V1__IntakeContact *s_contact(contact_t *s, const char *event_id)
{
    memset(s, 0, sizeof *s);
    vigil__v1__intake_contact__init(&s->c);
    vigil__v1__victim_contact__init(&s->v);
    vigil__v1__location__init(&s->l);
    vigil__v1__consent__init(&s->consent);
    snprintf(s->event_id, sizeof s->event_id, "%s", event_id);
    s->c.event_id = s->event_id;
    s->c.channel = VIGIL__V1__CHANNEL__CHANNEL_TEXT;
    s->c.caller_role = VIGIL__V1__CALLER_ROLE__CALLER_ROLE_FAMILY;
    s->c.crime_category = VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_STALKING;
    s->v.given_name = "Ottoline";
    s->v.family_name = "Vanderkamp";
    s->v.phone = "+15035550142";
    s->v.email = "ottoline@example.org";
    s->v.street_address = "12 Hidden Lane";
    s->v.preferred_language = "nl";
    s->v.safe_to_leave_voicemail = 1;
    s->c.victim = &s->v;
    s->l.state = "WA";
    s->l.county_fips = "53033";
    s->l.zip = "98101-1234";
    s->c.location = &s->l;
    for (int i = 0; i < 2; i++) {
        vigil__v1__offender_ref__init(&s->o[i]);
        s->o[i].offender_id = i ? "K-2" : "K-1";
        s->o[i].display_name = i ? "Second Offendername" : "First Offendername";
        s->op[i] = &s->o[i];
    }
    s->c.offenders = s->op;
    s->c.n_offenders = 2;
    s->consent.contact_by_email = 1;
    s->consent.use_in_case_studies = 1;
    s->c.consent = &s->consent;
    s->c.narrative = "Followed home three times this week.";
    s->c.received_at_ms = 1790000000000LL;
    return &s->c;
}

/* When the tests' cases are accepted, and the first row that time gives. */
#define NOW_MS    1790000000500LL
#define NOW_FLOOR ((NOW_MS - INTAKE_ROW_EPOCH_MS) * INTAKE_ROWS_PER_MS)

/* Inserts `c` as case `case_id` in row `row`, inside the caller's
 * transaction, the way intake's handler does: cases_prepare(), then
 * cases_store_prepared(). Returns 0, or -1 with a message in `err`. */
static int s_cases_store(intake_t *intake, Vigil__V1__IntakeContact *c, int64_t row,
                         const char *case_id, int64_t now_ms, char *err, size_t errlen)
{
    alignas(max_align_t) unsigned char buffer[8192];
    arena_t arena;
    arena_init(&arena, buffer, sizeof buffer);
    cases_prepared_t prepared;
    int rc = cases_prepare(intake->vault, c, case_id, &arena.allocator, &prepared, err, errlen);
    if (rc == 0)
        rc = cases_store_prepared(intake, "hotline-east", c, row, case_id, now_ms, &prepared, err,
                                  errlen);
    arena_release(&arena);
    return rc;
}

/* Stores `c` as a new case accepted at `now_ms`; its id goes to `case_id`.
 * Returns its row. */
static int64_t s_store_at(fixture_t *f, Vigil__V1__IntakeContact *c, int64_t now_ms,
                          char case_id[CASE_ID_SIZE])
{
    char err[256];
    int64_t row = intake_new_case(f->intake, now_ms, case_id);
    assert_true(row > 0);
    assert_int_equal(store_begin(f->db), 0);
    if (s_cases_store(f->intake, c, row, case_id, now_ms, err, sizeof err))
        fail_msg("cases_store_prepared: %s", err);
    assert_int_equal(store_commit(f->db), 0);
    return row;
}

static void s_store(fixture_t *f, Vigil__V1__IntakeContact *c, char case_id[CASE_ID_SIZE])
{
    s_store_at(f, c, NOW_MS, case_id);
}

static bool s_file_contains(const char *path, const char *needle)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return false;
    static char data[1 << 22];
    size_t n = fread(data, 1, sizeof data, file);
    fclose(file);
    return memmem(data, n, needle, strlen(needle)) != NULL;
}

static void test_round_trip_and_nothing_in_clear(void **state)
{
    fixture_t *f = *state;
    contact_t storage;
    Vigil__V1__IntakeContact *c = s_contact(&storage, "evt-1");
    char case_id[CASE_ID_SIZE], err[256];
    s_store(f, c, case_id);
    /* the caller's message is left as it was */
    assert_string_equal(c->victim->phone, "+15035550142");
    assert_string_equal(c->offenders[1]->display_name, "Second Offendername");

    Vigil__V1__CaseSummary *summary = NULL;
    Vigil__V1__IntakeContact *back = NULL;
    assert_int_equal(cases_load(f->intake, case_id, &summary, &back, err, sizeof err), 0);
    assert_string_equal(summary->case_id, case_id);
    assert_string_equal(summary->state, "WA");
    assert_string_equal(back->victim->given_name, "Ottoline");
    assert_string_equal(back->victim->family_name, "Vanderkamp");
    assert_string_equal(back->victim->phone, "+15035550142");
    assert_string_equal(back->victim->email, "ottoline@example.org");
    assert_string_equal(back->victim->street_address, "12 Hidden Lane");
    assert_string_equal(back->victim->preferred_language, "nl");
    assert_true(back->victim->safe_to_leave_voicemail);
    assert_string_equal(back->narrative, "Followed home three times this week.");
    assert_int_equal(back->n_offenders, 2);
    assert_string_equal(back->offenders[0]->display_name, "First Offendername");
    assert_string_equal(back->offenders[1]->offender_id, "K-2");
    assert_string_equal(back->location->zip, "98101-1234");
    vigil__v1__case_summary__free_unpacked(summary, NULL);
    vigil__v1__intake_contact__free_unpacked(back, NULL);

    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->db_path);
    const char *secrets[] = {"Ottoline",    "Vanderkamp",    "5035550142",  "ottoline@example",
                             "Hidden Lane", "Followed home", "Offendername"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (s_file_contains(f->db_path, secrets[i]) || s_file_contains(wal, secrets[i]))
            fail_msg("personal value #%zu found in clear in the store", i);

    assert_int_equal(
        cases_load(f->intake, "c_aaaaaaaaaaaaaaaaaaaa", &summary, &back, err, sizeof err),
        CASES_NOT_FOUND);
}

/* Checks that reading case `case_id` fails on its sealed phone number,
 * naming the field and key id and returning no contact. */
static void s_phone_fails_integrity(fixture_t *f, const char *case_id)
{
    char err[256];
    Vigil__V1__CaseSummary *summary = NULL;
    Vigil__V1__IntakeContact *back = NULL;
    assert_int_equal(cases_load(f->intake, case_id, &summary, &back, err, sizeof err),
                     CASES_INTEGRITY);
    char expected[128];
    snprintf(expected, sizeof expected,
             "case %s: stored field victim.phone failed integrity check (key id 1)", case_id);
    assert_string_equal(err, expected);
    assert_null(back);
}

static void test_sealed_value_bound_to_its_case(void **state)
{
    fixture_t *f = *state;
    contact_t a, b;
    char case_a[CASE_ID_SIZE], case_b[CASE_ID_SIZE], err[256];
    s_store(f, s_contact(&a, "evt-a"), case_a);
    s_store(f, s_contact(&b, "evt-b"), case_b);
    /* copy a's sealed phone over b's: same key, same column, other case */
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE intake_cases SET victim_phone = (SELECT victim_phone FROM intake_cases "
             "WHERE case_id = '%s') WHERE case_id = '%s'",
             case_a, case_b);
    assert_int_equal(store_exec(f->db, sql, err, sizeof err), 0);
    s_phone_fails_integrity(f, case_b);
    Vigil__V1__CaseSummary *summary = NULL;
    Vigil__V1__IntakeContact *back = NULL;
    /* the untouched case still opens */
    assert_int_equal(cases_load(f->intake, case_a, &summary, &back, err, sizeof err), 0);
    vigil__v1__case_summary__free_unpacked(summary, NULL);
    vigil__v1__intake_contact__free_unpacked(back, NULL);
}

static void test_ledger_duplicate_and_type(void **state)
{
    fixture_t *f = *state;
    char original[LEDGER_CASE_ID_SIZE], err[256];
    int type = 0;
    assert_int_equal(store_begin(f->db), 0);
    assert_int_equal(ledger_claim(f->intake, "hotline-east", "e-1", MT_CONTACT, "c_first", 1,
                                  original, &type, err, sizeof err),
                     LEDGER_CLAIMED);
    assert_int_equal(ledger_claim(f->intake, "hotline-east", "e-1", MT_CONTACT, "c_second", 2,
                                  original, &type, err, sizeof err),
                     LEDGER_DUPLICATE);
    assert_string_equal(original, "c_first");
    assert_int_equal(ledger_claim(f->intake, "hotline-east", "e-1",
                                  VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT, "", 3,
                                  original, &type, err, sizeof err),
                     LEDGER_OTHER_TYPE);
    /* another source may use the same event id */
    assert_int_equal(ledger_claim(f->intake, "hotline-west", "e-1", MT_CONTACT, "c_third", 4,
                                  original, &type, err, sizeof err),
                     LEDGER_CLAIMED);
    assert_int_equal(store_commit(f->db), 0);
}

static void test_case_view_is_pseudonymous(void **state)
{
    (void)state;
    contact_t storage;
    Vigil__V1__IntakeContact *c = s_contact(&storage, "evt-v");
    Vigil__V1__CaseView view;
    char zip3[4];
    forward_case_view(c, "c_abcdefghijklmnopqrst", zip3, &view);
    assert_string_equal(view.zip3, "981");
    assert_string_equal(view.county_fips, "53033");
    assert_string_equal(view.language, "nl");
    assert_true(view.has_offender);
    assert_int_equal(pii_count(&view.base), 0);
    /* The schemas of what leaves for triage and reporting have no personal
     * field at all: a fully populated message counts none. */
    const ProtobufCMessageDescriptor *outbound[] = {&vigil__v1__case_view__descriptor,
                                                    &vigil__v1__report_event__descriptor};
    for (size_t d = 0; d < 2; d++)
        for (unsigned i = 0; i < outbound[d]->n_fields; i++)
            if (pii_is_field(outbound[d], outbound[d]->fields[i].name))
                fail_msg("%s.%s is personal", outbound[d]->name, outbound[d]->fields[i].name);
    char quarter[16];
    forward_quarter(1790000000000LL, quarter); /* 2026-09-21 */
    assert_string_equal(quarter, "2026-Q3");
}

static void test_case_keys(void **state)
{
    fixture_t *f = *state;
    char a1[HASHKEY_HEX_SIZE], a2[HASHKEY_HEX_SIZE], b[HASHKEY_HEX_SIZE];
    hashkey_case_key(f->intake->hashkey, "c_aaaaaaaaaaaaaaaaaaaa", a1);
    hashkey_case_key(f->intake->hashkey, "c_aaaaaaaaaaaaaaaaaaaa", a2);
    hashkey_case_key(f->intake->hashkey, "c_aaaaaaaaaaaaaaaaaaab", b);
    assert_string_equal(a1, a2);
    assert_string_not_equal(a1, b);
    assert_null(strstr(a1, "aaaa"));
    char p1[HASHKEY_HEX_SIZE], p2[HASHKEY_HEX_SIZE];
    hashkey_pin(f->intake->hashkey, "sub:hotline-east/1", "4821", p1);
    hashkey_pin(f->intake->hashkey, "sub:hotline-east/2", "4821", p2);
    assert_string_not_equal(p1, p2); /* equal PINs hash differently per row */
}

/* --- prepared rows ------------------------------------------------------ */

#define PREPARE_ARENA_BYTES 8192

/* Rows prepared on a thread of their own (as intake's pipeline does) into
 * an arena the test thread then stores from and releases. */
typedef struct {
    const intake_t *intake;
    Vigil__V1__IntakeContact *contact;
    const char *case_id;
    arena_t arena;
    alignas(max_align_t) unsigned char buffer[PREPARE_ARENA_BYTES];
    cases_prepared_t row;
    forward_prepared_t onward;
    int rc;
    char err[256];
} prepare_job_t;

static void *s_prepare_row(void *arg)
{
    prepare_job_t *job = arg;
    job->rc = cases_prepare(job->intake->vault, job->contact, job->case_id, &job->arena.allocator,
                            &job->row, job->err, sizeof job->err);
    return NULL;
}

static void *s_prepare_onward(void *arg)
{
    prepare_job_t *job = arg;
    job->rc =
        forward_prepare_contact(job->intake, job->contact, job->case_id, "trace-f",
                                &job->arena.allocator, &job->onward, job->err, sizeof job->err);
    return NULL;
}

/* Runs `prepare` for `c` as case `case_id` on a thread of its own and
 * waits for it; the caller releases job->arena. */
static void s_prepare_on_thread(fixture_t *f, Vigil__V1__IntakeContact *c, const char *case_id,
                                void *(*prepare)(void *), prepare_job_t *job)
{
    *job = (prepare_job_t){.intake = f->intake, .contact = c, .case_id = case_id};
    arena_init(&job->arena, job->buffer, sizeof job->buffer);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, prepare, job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    if (job->rc)
        fail_msg("prepare: %s", job->err);
}

/* Prepares `c` as case `case_id` on a thread of its own and stores the
 * row (after `tamper`, when not NULL, changes it) here in row `row`. */
static void s_store_prepared(fixture_t *f, Vigil__V1__IntakeContact *c, int64_t row,
                             const char *case_id, void (*tamper)(cases_prepared_t *))
{
    prepare_job_t job;
    s_prepare_on_thread(f, c, case_id, s_prepare_row, &job);
    assert_int_equal(job.row.key_id, vault_current_key_id(f->vault));
    if (tamper)
        tamper(&job.row);
    char err[256];
    assert_int_equal(store_begin(f->db), 0);
    if (cases_store_prepared(f->intake, "hotline-east", c, row, case_id, 1790000000500LL, &job.row,
                             err, sizeof err))
        fail_msg("cases_store_prepared: %s", err);
    assert_int_equal(store_commit(f->db), 0);
    arena_release(&job.arena);
}

/* The contact and summary of case `case_id`, packed, to compare rows. */
static size_t s_load_packed(fixture_t *f, const char *case_id, uint8_t *out, size_t size)
{
    char err[256];
    Vigil__V1__CaseSummary *summary = NULL;
    Vigil__V1__IntakeContact *back = NULL;
    if (cases_load(f->intake, case_id, &summary, &back, err, sizeof err))
        fail_msg("cases_load: %s", err);
    assert_string_equal(summary->case_id, case_id);
    Vigil__V1__CaseSummary rest = *summary; /* shallow, without the one field that differs */
    rest.case_id = "";
    size_t contact_len = vigil__v1__intake_contact__get_packed_size(back);
    size_t summary_len = vigil__v1__case_summary__get_packed_size(&rest);
    assert_true(contact_len + summary_len <= size);
    vigil__v1__intake_contact__pack(back, out);
    vigil__v1__case_summary__pack(&rest, out + contact_len);
    vigil__v1__intake_contact__free_unpacked(back, NULL);
    vigil__v1__case_summary__free_unpacked(summary, NULL);
    return contact_len + summary_len;
}

static void test_prepared_row_reads_back_like_a_stored_one(void **state)
{
    fixture_t *f = *state;
    contact_t storage;
    Vigil__V1__IntakeContact *c = s_contact(&storage, "evt-p");
    char stored_id[CASE_ID_SIZE], prepared_id[CASE_ID_SIZE];
    s_store(f, c, stored_id);
    s_store_prepared(f, c, intake_new_case(f->intake, NOW_MS, prepared_id), prepared_id, NULL);
    /* the caller's message is left as it was */
    assert_string_equal(c->victim->given_name, "Ottoline");
    assert_string_equal(c->narrative, "Followed home three times this week.");
    assert_string_equal(c->offenders[0]->display_name, "First Offendername");

    static uint8_t stored[1 << 14], prepared[1 << 14];
    size_t stored_len = s_load_packed(f, stored_id, stored, sizeof stored);
    size_t prepared_len = s_load_packed(f, prepared_id, prepared, sizeof prepared);
    assert_int_equal(stored_len, prepared_len);
    assert_memory_equal(stored, prepared, stored_len);

    /* Same columns, same key id, personal fields sealed, nothing in clear. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM intake_cases a JOIN intake_cases b ON a.case_id = '%s' AND "
             "b.case_id = '%s' WHERE a.key_id = b.key_id AND a.details = b.details AND "
             "a.victim_language = b.victim_language AND a.victim_voicemail = b.victim_voicemail "
             "AND b.victim_phone IS NOT NULL AND b.offender_names IS NOT NULL",
             stored_id, prepared_id);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), 1);
    sqlite3_finalize(stmt);
    assert_false(s_file_contains(f->db_path, "Ottoline"));
}

static void s_flip_phone_byte(cases_prepared_t *prepared)
{
    uint8_t *phone = (uint8_t *)prepared->sealed[CASE_COL_PHONE];
    phone[prepared->sealed_len[CASE_COL_PHONE] - 1] ^= 1;
}

static void test_tampered_prepared_row_fails_its_integrity_check(void **state)
{
    fixture_t *f = *state;
    contact_t storage;
    Vigil__V1__IntakeContact *c = s_contact(&storage, "evt-t");
    char case_id[CASE_ID_SIZE];
    s_store_prepared(f, c, intake_new_case(f->intake, NOW_MS, case_id), case_id, s_flip_phone_byte);
    s_phone_fails_integrity(f, case_id);
}

/* A new case's onward rows, prepared on another thread, are enqueued in
 * their order: triage and reporting in clear, notification
 * (the victim consented to email) sealed. */
static void test_forward_rows_prepared_on_another_thread(void **state)
{
    fixture_t *f = *state;
    contact_t storage;
    Vigil__V1__IntakeContact *c = s_contact(&storage, "evt-f");
    prepare_job_t job;
    s_prepare_on_thread(f, c, "c_abcdefghijklmnopqrst", s_prepare_onward, &job);
    assert_int_equal(job.onward.count, 3);
    char err[256];
    assert_int_equal(store_begin(f->db), 0);
    if (forward_enqueue_prepared(f->intake, &job.onward, err, sizeof err))
        fail_msg("forward_enqueue_prepared: %s", err);
    assert_int_equal(store_commit(f->db), 0);
    arena_release(&job.arena);

    static const struct {
        const char *peer;
        int type;
        int sealed;
    } expected[] = {
        {FORWARD_PEER_TRIAGE, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW, 0},
        {FORWARD_PEER_REPORTING, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_REPORT_EVENT, 0},
        {FORWARD_PEER_NOTIFICATION, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_NOTIFY_CONTACT, 1},
    };
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT peer, type, sealed FROM link_outbox ORDER BY id",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(stmt, 0), expected[i].peer);
        assert_int_equal(sqlite3_column_int(stmt, 1), expected[i].type);
        assert_int_equal(sqlite3_column_int(stmt, 2), expected[i].sealed);
    }
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
}

/* --- case ids and rows -------------------------------------------------- */

/* One integer from `sql` on `db`. */
static int64_t s_query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

/* New cases take consecutive rows from the clock's floor on, and each id
 * deciphers to its row; no
 * index of case ids is written (the partial one holds only ids from before
 * schema step 3), yet a lookup by id reads no table scan. A new intake_t on
 * the same store keeps the key (old ids are still found) and goes on after
 * the last row. */
static void test_case_ids_decipher_to_their_rows(void **state)
{
    fixture_t *f = *state;
    contact_t storage;
    char ids[3][CASE_ID_SIZE], err[256];
    for (int i = 0; i < 3; i++)
        s_store(f, s_contact(&storage, i == 0 ? "evt-r0" : i == 1 ? "evt-r1" : "evt-r2"), ids[i]);
    for (int i = 0; i < 3; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT id FROM intake_cases WHERE case_id = '%s'", ids[i]);
        int64_t row = s_query_int(f->db, sql);
        assert_int_equal(row, NOW_FLOOR + i);
        assert_int_equal(case_id_to_row(&f->intake->case_id_key, ids[i]), row);
        assert_int_equal(cases_exists(f->intake, ids[i], err, sizeof err), 1);
    }
    assert_int_equal(s_query_int(f->db, "SELECT count(*) FROM intake_cases WHERE random_id = 1"),
                     0);
    assert_int_equal(s_query_int(f->db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                        "AND tbl_name = 'intake_cases' AND name <> "
                                        "'intake_cases_random_id'"),
                     0);
    /* The lookup reads rows by id and the partial index, never the table. */
    char plan_sql[1024];
    snprintf(plan_sql, sizeof plan_sql, "EXPLAIN QUERY PLAN %s",
             sqlite3_sql(f->intake->stmts[STMT_CASE_EXISTS]));
    sqlite3_stmt *plan = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db, plan_sql, -1, &plan, NULL), SQLITE_OK);
    int steps = 0;
    while (sqlite3_step(plan) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(plan, 3);
        if (strncmp(detail, "SCAN", 4) == 0)
            fail_msg("case lookup scans: %s", detail);
        steps++;
    }
    sqlite3_finalize(plan);
    assert_true(steps >= 2);

    /* One character off is no case (and deciphers to no row). */
    char other[CASE_ID_SIZE];
    memcpy(other, ids[1], sizeof other);
    other[CASE_ID_LEN - 1] = other[CASE_ID_LEN - 1] == 'a' ? 'b' : 'a';
    assert_int_equal(cases_exists(f->intake, other, err, sizeof err), 0);

    intake_destroy(&f->intake);
    char hash_path[128];
    snprintf(hash_path, sizeof hash_path, "%s/intake.hashkey", f->dir);
    f->intake = intake_new_detached(f->db, f->vault, &f->config, hash_path, err, sizeof err);
    if (!f->intake)
        fail_msg("intake_new_detached: %s", err);
    assert_int_equal(cases_exists(f->intake, ids[0], err, sizeof err), 1);
    /* A row drawn but never stored (a duplicate, a rolled-back batch) is a
     * gap; the next case still lands in the row its id names. */
    char unused[CASE_ID_SIZE], next[CASE_ID_SIZE];
    assert_int_equal(intake_new_case(f->intake, NOW_MS, unused), NOW_FLOOR + 3);
    s_store(f, s_contact(&storage, "evt-r4"), next);
    assert_int_equal(case_id_to_row(&f->intake->case_id_key, next), NOW_FLOOR + 4);
    assert_int_equal(s_query_int(f->db, "SELECT max(id) FROM intake_cases"), NOW_FLOOR + 4);
    assert_int_equal(cases_exists(f->intake, next, err, sizeof err), 1);
    assert_int_equal(cases_exists(f->intake, unused, err, sizeof err), 0);
    assert_int_equal(
        s_query_int(f->db, "SELECT count(*) FROM intake_meta WHERE key = 'case_id_key'"), 1);

    /* A damaged key stops intake at start-up, saying where. */
    intake_destroy(&f->intake);
    assert_int_equal(
        store_exec(f->db, "UPDATE intake_meta SET value = 'not-hex' WHERE key = 'case_id_key'", err,
                   sizeof err),
        0);
    f->intake = intake_new_detached(f->db, f->vault, &f->config, hash_path, err, sizeof err);
    assert_null(f->intake);
    assert_string_equal(err, "store table intake_meta, key case_id_key: not a case-id key (32 hex "
                             "digits)");
}

/* A case stored at schema step 2, under an id drawn at random, is found
 * and opens after the store moves to step 3; new cases go on after it. */
static void test_random_ids_from_before_step_3_still_found(void **state)
{
    fixture_t *f = *state;
    static const char legacy_id[] = "c_legacyidzzzzzz2345ab";
    char path[160], err[256];
    snprintf(path, sizeof path, "%s/v2.db", f->dir);
    sqlite3 *db = store_open(path, intake_migrations, 2, err, sizeof err);
    if (!db)
        fail_msg("store_open at step 2: %s", err);
    assert_int_equal(store_schema_version(db), 2);

    /* The row as the step-2 code wrote it: sealed for its random id. */
    contact_t storage;
    Vigil__V1__IntakeContact *c = s_contact(&storage, "evt-legacy");
    prepare_job_t job;
    s_prepare_on_thread(f, c, legacy_id, s_prepare_row, &job);
    char sql[1024];
    int n = snprintf(sql, sizeof sql,
                     "INSERT INTO intake_cases (case_id, source, event_id, received_at_ms, "
                     "accepted_at_ms, channel, crime_category, state, key_id, details");
    for (int col = 0; col < CASE_COL_COUNT; col++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s", case_sealed_columns[col].column);
    snprintf(sql + n, sizeof sql - (size_t)n,
             ", victim_present, victim_language, victim_voicemail) VALUES ('%s', 'hotline-east', "
             "'evt-legacy', 1, 2, 3, 4, 'WA', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, 'nl', 1)",
             legacy_id);
    sqlite3_stmt *insert = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &insert, NULL), SQLITE_OK);
    sqlite3_bind_int(insert, 1, job.row.key_id);
    sqlite3_bind_blob(insert, 2, job.row.details, (int)job.row.details_len, SQLITE_STATIC);
    for (int col = 0; col < CASE_COL_COUNT; col++)
        sqlite3_bind_blob(insert, 3 + col, job.row.sealed[col], (int)job.row.sealed_len[col],
                          SQLITE_STATIC);
    assert_int_equal(sqlite3_step(insert), SQLITE_DONE);
    sqlite3_finalize(insert);
    arena_release(&job.arena);
    store_close(&db);

    db = store_open(path, intake_migrations, INTAKE_MIGRATION_COUNT, err, sizeof err);
    if (!db)
        fail_msg("store_open at step 3: %s", err);
    assert_int_equal(store_schema_version(db), INTAKE_MIGRATION_COUNT);
    char hash_path[160];
    snprintf(hash_path, sizeof hash_path, "%s/v2.hashkey", f->dir);
    intake_t *intake = intake_new_detached(db, f->vault, &f->config, hash_path, err, sizeof err);
    if (!intake)
        fail_msg("intake_new_detached: %s", err);
    assert_int_equal(cases_exists(intake, legacy_id, err, sizeof err), 1);
    Vigil__V1__CaseSummary *summary = NULL;
    Vigil__V1__IntakeContact *back = NULL;
    if (cases_load(intake, legacy_id, &summary, &back, err, sizeof err))
        fail_msg("cases_load: %s", err);
    assert_string_equal(summary->case_id, legacy_id);
    assert_string_equal(back->victim->given_name, "Ottoline");
    assert_string_equal(back->narrative, "Followed home three times this week.");
    vigil__v1__case_summary__free_unpacked(summary, NULL);
    vigil__v1__intake_contact__free_unpacked(back, NULL);

    char fresh[CASE_ID_SIZE];
    int64_t row = intake_new_case(intake, NOW_MS, fresh);
    assert_int_equal(row, NOW_FLOOR);
    assert_int_equal(store_begin(db), 0);
    if (s_cases_store(intake, c, row, fresh, 5, err, sizeof err))
        fail_msg("cases_store_prepared: %s", err);
    assert_int_equal(store_commit(db), 0);
    assert_int_equal(cases_exists(intake, fresh, err, sizeof err), 1);
    assert_int_equal(cases_exists(intake, "c_legacyidzzzzzz2345aa", err, sizeof err), 0);
    assert_int_equal(s_query_int(db, "SELECT random_id FROM intake_cases WHERE id = 1"), 1);
    assert_int_equal(s_query_int(db, "SELECT random_id FROM intake_cases WHERE id > 1"), 0);
    intake_destroy(&intake);
    store_close(&db);
}

/* A store restored from a backup does not hand out again the ids given
 * out after the backup was taken (triage and notification may hold them):
 * a second later, the clock's floor is above them. */
static void test_restored_store_never_reissues_an_id(void **state)
{
    fixture_t *f = *state;
    char backup[160], err[256], sql[256];
    snprintf(backup, sizeof backup, "%s/backup.db", f->dir);
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", backup);
    assert_int_equal(store_exec(f->db, sql, err, sizeof err), 0);
    contact_t storage;
    char given[3][CASE_ID_SIZE];
    int64_t rows[3];
    for (int i = 0; i < 3; i++)
        rows[i] = s_store_at(f,
                             s_contact(&storage, i == 0   ? "evt-b0"
                                                 : i == 1 ? "evt-b1"
                                                          : "evt-b2"),
                             NOW_MS + i, given[i]);

    intake_destroy(&f->intake);
    store_close(&f->db);
    f->db = store_open(backup, intake_migrations, INTAKE_MIGRATION_COUNT, err, sizeof err);
    if (!f->db)
        fail_msg("store_open of the backup: %s", err);
    char hash_path[128];
    snprintf(hash_path, sizeof hash_path, "%s/intake.hashkey", f->dir);
    f->intake = intake_new_detached(f->db, f->vault, &f->config, hash_path, err, sizeof err);
    if (!f->intake)
        fail_msg("intake_new_detached: %s", err);
    assert_int_equal(s_query_int(f->db, "SELECT count(*) FROM intake_cases"), 0);
    char again[CASE_ID_SIZE];
    int64_t row = s_store_at(f, s_contact(&storage, "evt-b0"), NOW_MS + 1000, again);
    for (int i = 0; i < 3; i++) {
        assert_true(row > rows[i]);
        assert_string_not_equal(again, given[i]);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_and_nothing_in_clear, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sealed_value_bound_to_its_case, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ledger_duplicate_and_type, s_setup, s_teardown),
        cmocka_unit_test(test_case_view_is_pseudonymous),
        cmocka_unit_test_setup_teardown(test_case_keys, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prepared_row_reads_back_like_a_stored_one, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_tampered_prepared_row_fails_its_integrity_check,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_forward_rows_prepared_on_another_thread, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_case_ids_decipher_to_their_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_random_ids_from_before_step_3_still_found, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_restored_store_never_reissues_an_id, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
