/* main.c: vigil-publish, send intake events from JSON lines.
 *
 * Reads one event per line (see event_line.h for the shape) from a file or
 * stdin, publishes each through libvigil-client with CURVE keys, keeps up
 * to --window requests in flight, and prints one JSON result line per event
 * on stdout (see results.h) as answers arrive. Lines that are not valid
 * JSON for their event type are reported as REJECTED with the line number
 * and the offending key, and are never sent. An event with no final answer
 * --timeout seconds after it was first sent is reported UNANSWERED (the
 * library resends it meanwhile, with the same message id).
 *
 * Exit codes: 0 every event ACCEPTED or DUPLICATE; 1 some event REJECTED,
 * DEAD_LETTERED or UNANSWERED; 64 usage; 66 input unreadable; 70 the socket
 * failed; 78 the client could not be set up (keys, endpoint).
 *
 * It must never print a payload value: stdout carries event ids, case ids
 * and intake's field-naming details only; stderr carries counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event_line.h"
#include "line_reader.h"
#include "results.h"
#include "vigil/client.h"

enum {
    PUBLISH_DEFAULT_WINDOW = 256,
    PUBLISH_WINDOW_MAX = 1 << 20,
    PUBLISH_DEFAULT_TIMEOUT_S = 30,
    PUBLISH_PROGRESS_INTERVAL_MS = 1000,
    PUBLISH_INPUT_WAIT_MS = 50,       /* re-check a quiet pipe this often */
    PUBLISH_MAX_LINE_BYTES = 1 << 20, /* longer lines are rejected unread */
    PUBLISH_ERR_MAX = 512,
    PUBLISH_PATH_MAX = 4096,
    PUBLISH_DETAIL_MAX = 256,
    PUBLISH_SIGNALS_TO_ABORT = 2, /* first signal: stop reading; second: give up */
    PUBLISH_EXIT_FAILED_EVENTS = 1,
    PUBLISH_EXIT_USAGE = 64,
    PUBLISH_EXIT_NOINPUT = 66,
    PUBLISH_EXIT_SOFTWARE = 70,
    PUBLISH_EXIT_CONFIG = 78,
};

#define PUBLISH_NS_PER_MS UINT64_C(1000000)
#define PUBLISH_NS_PER_S  1e9

static const char s_version[] = "0.1.0";
static const char s_default_endpoint[] = "tcp://127.0.0.1:7100";
static const char s_default_state_dir[] = "./state";
static const char s_state_env[] = "VIGIL_STATE_DIR";
static const char s_default_cert[] = "keys/dev-publisher.key_secret";
static const char s_default_server_key[] = "keys/intake.key";
static const char s_stdin_name[] = "-";

typedef struct {
    const char *endpoint;
    const char *state_dir;
    const char *cert;
    const char *server_key;
    const char *input;
    bool insecure;
    bool quiet;
    int window;
    double rate;      /* events per second, 0 = as fast as the window allows */
    double timeout_s; /* per event, from its first send */
    int resend_ms;    /* 0 = the library's default */
    int reconnect_ms; /* 0 = the library's default */
} options_t;

/* Every command-line option, declared once: parsing and --help use it. */
typedef struct {
    const char *name;
    int has_arg;
    int id;
    const char *arg;
    const char *help;
} option_doc_t;

enum {
    OPT_ENDPOINT = 'e',
    OPT_STATE_DIR = 's',
    OPT_CERT = 'c',
    OPT_SERVER_KEY = 'k',
    OPT_INSECURE = 'I',
    OPT_WINDOW = 'w',
    OPT_RATE = 'r',
    OPT_TIMEOUT = 't',
    OPT_QUIET = 'q',
    OPT_RESEND_MS = 256,
    OPT_RECONNECT_MS,
    OPT_HELP = 'h',
    OPT_VERSION = 'V',
};

static const option_doc_t s_options[] = {
    {"endpoint", required_argument, OPT_ENDPOINT, "URL",
     "intake front door (default tcp://127.0.0.1:7100)"},
    {"state-dir", required_argument, OPT_STATE_DIR, "DIR",
     "where the default keys live (default $VIGIL_STATE_DIR or ./state)"},
    {"cert", required_argument, OPT_CERT, "FILE",
     "our secret key (default <state>/keys/dev-publisher.key_secret)"},
    {"server-key", required_argument, OPT_SERVER_KEY, "FILE|Z85",
     "intake's public key (default <state>/keys/intake.key)"},
    {"insecure", no_argument, OPT_INSECURE, NULL,
     "no CURVE: unencrypted and unauthenticated; local tests only"},
    {"window", required_argument, OPT_WINDOW, "N", "most events in flight (default 256)"},
    {"rate", required_argument, OPT_RATE, "N",
     "send at most N events per second (default: no limit)"},
    {"timeout", required_argument, OPT_TIMEOUT, "SECONDS",
     "report an event UNANSWERED this long after its first send (default 30)"},
    {"resend-ms", required_argument, OPT_RESEND_MS, "MS",
     "first resend of an unanswered event (default 2000)"},
    {"reconnect-ms", required_argument, OPT_RECONNECT_MS, "MS",
     "new socket when intake is silent this long (default 5000)"},
    {"quiet", no_argument, OPT_QUIET, NULL, "no progress or summary on stderr"},
    {"help", no_argument, OPT_HELP, NULL, "this text"},
    {"version", no_argument, OPT_VERSION, NULL, "print the version"},
};

#define OPTION_COUNT (sizeof s_options / sizeof s_options[0])

/* One sent event awaiting its answer; a list in send order, oldest first. */
typedef struct pending_s {
    size_t line;
    char event_id[EVENT_LINE_EVENT_ID_MAX];
    uint8_t id[VCLIENT_ID_BYTES];
    uint64_t sent_ns;
    struct pending_s *prev, *next;
} pending_t;

typedef struct {
    const options_t *options;
    vclient_t *client;
    line_reader_t *reader;
    results_t results;
    pending_t *head, *tail;
    size_t line_no;
    uint64_t lines_sent;
    bool input_done;
    bool input_waiting; /* the last read found no whole line */
    bool warned_auth;
    uint64_t start_ns;
    uint64_t last_progress_ns;
} publish_t;

static volatile sig_atomic_t s_signals = 0;

static void s_on_signal(int signo)
{
    (void)signo;
    s_signals++;
}

static uint64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * (uint64_t)PUBLISH_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- options -------------------------------------------------------------- */

static void s_usage(FILE *out)
{
    fprintf(out, "usage: vigil-publish [OPTION]... [FILE]\n"
                 "Send intake events, one JSON object per line, from FILE or stdin (-):\n"
                 "  {\"type\": \"INTAKE_CONTACT\", \"event\": {\"event_id\": \"...\", ...}}\n"
                 "Prints one JSON result line per event on stdout.\n\n");
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        char left[PUBLISH_DETAIL_MAX];
        snprintf(left, sizeof left, "--%s%s%s", s_options[i].name, s_options[i].arg ? " " : "",
                 s_options[i].arg ? s_options[i].arg : "");
        fprintf(out, "  %-26s %s\n", left, s_options[i].help);
    }
    fprintf(out, "\nExit: 0 all accepted or duplicate; 1 some rejected or unanswered;\n"
                 "64 usage; 66 input unreadable; 70 socket failure; 78 keys or endpoint.\n");
}

static int s_parse_int(const char *text, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || end == text || v < min || v > max) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int s_parse_positive(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || end == text || !(v > 0)) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Fills `o` from argv. Returns 0, a PUBLISH_EXIT_* code, or -1 for "exit 0
 * now" (--help, --version). */
static int s_parse_options(int argc, char **argv, options_t *o)
{
    struct option longopts[OPTION_COUNT + 1];
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        longopts[i] =
            (struct option){s_options[i].name, s_options[i].has_arg, NULL, s_options[i].id};
    }
    longopts[OPTION_COUNT] = (struct option){NULL, 0, NULL, 0};
    *o = (options_t){
        .endpoint = s_default_endpoint,
        .state_dir = getenv(s_state_env) ? getenv(s_state_env) : s_default_state_dir,
        .window = PUBLISH_DEFAULT_WINDOW,
        .timeout_s = PUBLISH_DEFAULT_TIMEOUT_S,
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case OPT_ENDPOINT:
            o->endpoint = optarg;
            break;
        case OPT_STATE_DIR:
            o->state_dir = optarg;
            break;
        case OPT_CERT:
            o->cert = optarg;
            break;
        case OPT_SERVER_KEY:
            o->server_key = optarg;
            break;
        case OPT_INSECURE:
            o->insecure = true;
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_WINDOW:
            bad = s_parse_int(optarg, 1, PUBLISH_WINDOW_MAX, &o->window);
            break;
        case OPT_RATE:
            bad = s_parse_positive(optarg, &o->rate);
            break;
        case OPT_TIMEOUT:
            bad = s_parse_positive(optarg, &o->timeout_s);
            break;
        case OPT_RESEND_MS:
            bad = s_parse_int(optarg, 1, INT32_MAX, &o->resend_ms);
            break;
        case OPT_RECONNECT_MS:
            bad = s_parse_int(optarg, 1, INT32_MAX, &o->reconnect_ms);
            break;
        case OPT_HELP:
            s_usage(stdout);
            return -1;
        case OPT_VERSION:
            printf("vigil-publish %s\n", s_version);
            return -1;
        default:
            s_usage(stderr);
            return PUBLISH_EXIT_USAGE;
        }
        if (bad) {
            fprintf(stderr, "vigil-publish: bad value for --%s: %s\n", argv[optind - 1] + 2,
                    optarg);
            return PUBLISH_EXIT_USAGE;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "vigil-publish: one input file at most\n");
        return PUBLISH_EXIT_USAGE;
    }
    o->input = optind < argc ? argv[optind] : s_stdin_name;
    return 0;
}

/* ---- pending list --------------------------------------------------------- */

static void s_pending_append(publish_t *p, pending_t *item)
{
    item->prev = p->tail;
    item->next = NULL;
    if (p->tail != NULL) {
        p->tail->next = item;
    } else {
        p->head = item;
    }
    p->tail = item;
}

static void s_pending_unlink(publish_t *p, pending_t *item)
{
    if (item->prev != NULL) {
        item->prev->next = item->next;
    } else {
        p->head = item->next;
    }
    if (item->next != NULL) {
        item->next->prev = item->prev;
    } else {
        p->tail = item->prev;
    }
}

/* Reports `item` UNANSWERED and drops it from the client's window. */
static void s_give_up(publish_t *p, pending_t *item, const char *why)
{
    vclient_forget(p->client, item->id, NULL);
    s_pending_unlink(p, item);
    results_write(&p->results, stdout, item->line, item->event_id, "UNANSWERED", "", "NONE", why);
    free(item);
}

/* ---- the loop ------------------------------------------------------------- */

static void s_progress(publish_t *p, bool final)
{
    uint64_t now = s_now_ns();
    if (!final && (now - p->start_ns < PUBLISH_PROGRESS_INTERVAL_MS * PUBLISH_NS_PER_MS ||
                   now - p->last_progress_ns < PUBLISH_PROGRESS_INTERVAL_MS * PUBLISH_NS_PER_MS)) {
        return;
    }
    p->last_progress_ns = now;
    fflush(stdout);
    vclient_stats_t st;
    vclient_stats(p->client, &st);
    if (st.auth_failures > 0 && !p->warned_auth) {
        p->warned_auth = true;
        fprintf(stderr,
                "vigil-publish: intake refused our CURVE key: is our public key in intake's "
                "allowlist (keys/allow/intake/)?\n");
    }
    if (p->options->quiet) {
        return;
    }
    const results_t *r = &p->results;
    double seconds = (double)(now - p->start_ns) / PUBLISH_NS_PER_S;
    fprintf(stderr,
            "vigil-publish: %s%" PRIu64 " events in %.1fs: %" PRIu64 " accepted, %" PRIu64
            " duplicate, %" PRIu64 " rejected, %" PRIu64 " unanswered, %zu in flight"
            " (%.0f/s; resends %" PRIu64 ", reconnects %" PRIu64 ")\n",
            final ? "done: " : "", results_total(r) + st.inflight, seconds, r->accepted,
            r->duplicate, r->rejected + r->dead_lettered, r->unanswered, st.inflight,
            seconds > 0 ? (double)results_total(r) / seconds : 0.0, st.resends, st.reconnects);
}

/* Reads lines and publishes them while the window and --rate allow.
 * Returns false if the input failed. */
static bool s_fill_window(publish_t *p)
{
    const options_t *o = p->options;
    p->input_waiting = false;
    while (!p->input_done && vclient_inflight(p->client) < (size_t)o->window) {
        uint64_t now = s_now_ns();
        if (o->rate > 0 &&
            now < p->start_ns + (uint64_t)((double)p->lines_sent * PUBLISH_NS_PER_S / o->rate)) {
            return true;
        }
        const char *text;
        size_t len;
        bool too_long;
        int rc = line_reader_next(p->reader, &text, &len, &too_long);
        if (rc == LINE_READER_WAIT) {
            p->input_waiting = true;
            return true;
        }
        if (rc == LINE_READER_EOF || rc == LINE_READER_ERROR) {
            p->input_done = true;
            if (rc == LINE_READER_ERROR) {
                fprintf(stderr, "vigil-publish: reading %s: %s\n", o->input, strerror(errno));
                return false;
            }
            return true;
        }
        p->line_no++;
        if (too_long) {
            results_write(&p->results, stdout, p->line_no, "", "REJECTED", "", "TOO_LONG",
                          "line longer than 1 MiB; not sent");
            continue;
        }
        if (strspn(text, " \t\r") == len) {
            continue; /* blank lines separate nothing and are not events */
        }
        event_line_t event;
        if (event_line_parse(text, len, &event) < 0) {
            results_write(&p->results, stdout, p->line_no, event.event_id, "REJECTED", "",
                          event.reason, event.detail);
            continue;
        }
        pending_t *item = calloc(1, sizeof *item);
        if (item == NULL) {
            event_line_clear(&event);
            results_write(&p->results, stdout, p->line_no, event.event_id, "REJECTED", "",
                          "INTERNAL", "out of memory; not sent");
            continue;
        }
        item->line = p->line_no;
        memcpy(item->event_id, event.event_id, sizeof item->event_id);
        rc = vclient_publish_message(p->client, event.type, event.payload, item, item->id);
        event_line_clear(&event);
        if (rc != VCLIENT_OK) {
            results_write(&p->results, stdout, item->line, item->event_id, "REJECTED", "",
                          "INTERNAL", vclient_strerror(rc));
            free(item);
            continue;
        }
        item->sent_ns = now;
        s_pending_append(p, item);
        p->lines_sent++;
    }
    return true;
}

/* How long the next poll may wait, in ms (0: do not wait). */
static int s_wait_ms(const publish_t *p)
{
    const options_t *o = p->options;
    uint64_t now = s_now_ns();
    uint64_t wake = p->last_progress_ns + PUBLISH_PROGRESS_INTERVAL_MS * PUBLISH_NS_PER_MS;
    if (p->head != NULL) {
        uint64_t deadline = p->head->sent_ns + (uint64_t)(o->timeout_s * PUBLISH_NS_PER_S);
        wake = deadline < wake ? deadline : wake;
    }
    if (!p->input_done && vclient_inflight(p->client) < (size_t)o->window) {
        uint64_t next = now + PUBLISH_INPUT_WAIT_MS * PUBLISH_NS_PER_MS;
        if (!p->input_waiting) {
            next = o->rate > 0 ? p->start_ns +
                                     (uint64_t)((double)p->lines_sent * PUBLISH_NS_PER_S / o->rate)
                               : now;
        }
        wake = next < wake ? next : wake;
    }
    if (wake <= now) {
        return 0;
    }
    uint64_t ms = (wake - now + PUBLISH_NS_PER_MS - 1) / PUBLISH_NS_PER_MS;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void s_handle_reply(publish_t *p, const vclient_reply_t *reply)
{
    pending_t *item = reply->user;
    s_pending_unlink(p, item);
    const char *event_id = item->event_id[0] ? item->event_id : reply->event_id;
    results_write(&p->results, stdout, item->line, event_id, vclient_status_name(reply->status),
                  reply->case_id, vclient_reason_name(reply->reason), reply->detail);
    free(item);
}

/* Runs until every line is answered or given up. Returns an exit code. */
static int s_run(publish_t *p)
{
    const options_t *o = p->options;
    uint64_t timeout_ns = (uint64_t)(o->timeout_s * PUBLISH_NS_PER_S);
    int exit_code = 0;
    while (!(p->input_done && p->head == NULL)) {
        if (s_signals > 0) {
            p->input_done = true;
        }
        if (s_signals >= PUBLISH_SIGNALS_TO_ABORT) {
            while (p->head != NULL) {
                s_give_up(p, p->head, "interrupted before an answer came");
            }
            break;
        }
        if (!s_fill_window(p)) {
            exit_code = PUBLISH_EXIT_NOINPUT;
        }
        uint64_t now = s_now_ns();
        while (p->head != NULL && now - p->head->sent_ns >= timeout_ns) {
            char why[PUBLISH_DETAIL_MAX];
            snprintf(why, sizeof why, "no answer within %gs of the first send", o->timeout_s);
            s_give_up(p, p->head, why);
        }
        if (p->input_done && p->head == NULL) {
            break;
        }
        int wait_ms = s_wait_ms(p);
        if (wait_ms > 0) {
            fflush(stdout);
        }
        vclient_reply_t reply;
        int rc = vclient_poll(p->client, &reply, wait_ms);
        while (rc == 1) {
            s_handle_reply(p, &reply);
            rc = vclient_poll(p->client, &reply, 0);
        }
        if (rc < 0) {
            fprintf(stderr, "vigil-publish: %s; giving up on %zu events in flight\n",
                    vclient_strerror(rc), vclient_inflight(p->client));
            while (p->head != NULL) {
                s_give_up(p, p->head, "the client socket failed");
            }
            return PUBLISH_EXIT_SOFTWARE;
        }
        s_progress(p, false);
    }
    return exit_code;
}

int main(int argc, char **argv)
{
    options_t o;
    int rc = s_parse_options(argc, argv, &o);
    if (rc != 0) {
        return rc < 0 ? 0 : rc;
    }
    char cert[PUBLISH_PATH_MAX], server_key[PUBLISH_PATH_MAX];
    if (o.cert == NULL) {
        snprintf(cert, sizeof cert, "%s/%s", o.state_dir, s_default_cert);
        o.cert = cert;
    }
    if (o.server_key == NULL) {
        snprintf(server_key, sizeof server_key, "%s/%s", o.state_dir, s_default_server_key);
        o.server_key = server_key;
    }

    int fd = STDIN_FILENO;
    if (strcmp(o.input, s_stdin_name) != 0) {
        fd = open(o.input, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "vigil-publish: cannot open %s: %s\n", o.input, strerror(errno));
            return PUBLISH_EXIT_NOINPUT;
        }
    }
    if (o.insecure) {
        fprintf(stderr,
                "vigil-publish: WARNING: --insecure: events go to %s WITHOUT encryption "
                "or authentication. They carry personal data. Local tests only.\n",
                o.endpoint);
    }

    vclient_config_t config;
    vclient_config_init(&config);
    config.endpoint = o.endpoint;
    config.client_cert = o.cert;
    config.server_key = o.server_key;
    config.insecure = o.insecure;
    config.window = o.window;
    if (o.resend_ms > 0) {
        config.resend_ms = o.resend_ms;
        config.resend_max_ms =
            config.resend_max_ms > o.resend_ms ? config.resend_max_ms : o.resend_ms;
    }
    if (o.reconnect_ms > 0) {
        config.reconnect_ms = o.reconnect_ms;
    }
    char err[PUBLISH_ERR_MAX];
    publish_t p = {.options = &o};
    p.client = vclient_new(&config, err, sizeof err);
    if (p.client == NULL) {
        fprintf(stderr, "vigil-publish: %s\n", err);
        return PUBLISH_EXIT_CONFIG;
    }
    p.reader = line_reader_new(fd, PUBLISH_MAX_LINE_BYTES);
    if (p.reader == NULL) {
        fprintf(stderr, "vigil-publish: out of memory\n");
        vclient_destroy(&p.client);
        return PUBLISH_EXIT_SOFTWARE;
    }
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    p.start_ns = p.last_progress_ns = s_now_ns();
    int exit_code = s_run(&p);
    s_progress(&p, true);
    fflush(stdout);
    if (exit_code == 0 && !results_all_ok(&p.results)) {
        exit_code = PUBLISH_EXIT_FAILED_EVENTS;
    }
    line_reader_destroy(&p.reader);
    vclient_destroy(&p.client);
    if (fd != STDIN_FILENO) {
        close(fd);
    }
    return exit_code;
}
