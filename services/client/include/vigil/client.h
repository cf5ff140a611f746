/* client.h: libvigil-client, the library upstream systems use to send
 * events to vigil's intake front door.
 *
 * A hotline tool, a jail-management system or an IVR gateway links this
 * library (pkg-config --cflags --libs vigil-client), connects to intake
 * with its CURVE keys, and publishes events: an IntakeContact, a
 * CustodyEvent, a SubscriptionRequest or a DeliveryConfirmation, already
 * serialized or as a protobuf-c message. Publishing is asynchronous: the
 * call queues and sends the request and returns its message id at once;
 * answers come back later from vclient_poll(), one per request:
 *
 *     vclient_config_t cfg;
 *     vclient_config_init(&cfg);
 *     cfg.endpoint = "tcp://intake.example.org:7100";
 *     cfg.client_cert = "state/keys/hotline.key_secret";
 *     cfg.server_key = "state/keys/intake.key";
 *     vclient_t *c = vclient_new(&cfg, err, sizeof err);
 *     vclient_publish_message(c, VCLIENT_TYPE_INTAKE_CONTACT, &contact.base, my_row, id);
 *     while (vclient_inflight(c) > 0 && vclient_poll(c, &reply, 1000) >= 0) { ... }
 *     vclient_destroy(&c);
 *
 * Reliability: the library keeps every request until intake answers it.
 * An unanswered request is sent again after a timeout (doubling, capped)
 * with the SAME message id, and intake's de-duplication makes the resend
 * harmless: the answer is then DUPLICATE with the original case id, or the
 * original answer. When nothing at all is heard for a while although
 * requests are waiting, the library closes its socket, opens a new one and
 * resends everything unanswered. A RETRY answer (intake overloaded or
 * draining) is handled the same way and never reaches the caller. At most
 * `window` requests are unanswered at any time; vclient_publish() returns
 * VCLIENT_EFULL when the window is full.
 *
 * Wire protocol: one ZeroMQ DEALER socket; each request is one frame, a
 * serialized vigil.v1.Envelope (16-byte message_id: 8 bytes of wall-clock
 * microseconds, big-endian, then 8 random bytes; type,
 * created_at_ms, payload); each answer is an Envelope of type ACK whose
 * payload is a vigil.v1.Ack. See docs/protocol.md and the .proto files
 * installed under share/vigil/proto.
 *
 * Threading: a vclient_t and its sockets belong to the one thread that
 * created it. Use one client per thread.
 *
 * The library never logs and never looks at the payloads it carries: they
 * hold personal data. Errors go to the caller as codes and messages that
 * name files and settings, never payload contents.
 */
#ifndef VIGIL_CLIENT_H
#define VIGIL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VCLIENT_API __attribute__((visibility("default")))

#define VCLIENT_ID_BYTES 16 /* message ids: 64-bit time in us, then 64 random bits */

/* Return codes: 0 or one of these negative values. */
enum {
    VCLIENT_OK = 0,
    VCLIENT_EFULL = -1,     /* the window is full: poll for answers first */
    VCLIENT_EINVAL = -2,    /* a bad argument (NULL, unknown type, negative size) */
    VCLIENT_ENOMEM = -3,    /* out of memory */
    VCLIENT_EKEYS = -4,     /* a key file is missing, unreadable, malformed or too open */
    VCLIENT_ESOCKET = -5,   /* ZeroMQ refused: bad endpoint, or the socket failed */
    VCLIENT_ENOTFOUND = -6, /* no unanswered request has that message id */
};

/* Message types upstream systems send (vigil.v1.MessageType wire numbers). */
enum {
    VCLIENT_TYPE_INTAKE_CONTACT = 10,
    VCLIENT_TYPE_CUSTODY_EVENT = 11,
    VCLIENT_TYPE_SUBSCRIPTION_REQUEST = 12,
    VCLIENT_TYPE_DELIVERY_CONFIRMATION = 13,
    VCLIENT_TYPE_ASSIGNMENT_RECEIPT = 23,
};

/* Final answers (vigil.v1.AckStatus wire numbers). RETRY (4) is handled
 * inside the library and never returned. */
enum {
    VCLIENT_STATUS_ACCEPTED = 1,      /* stored durably; a new case or event */
    VCLIENT_STATUS_DUPLICATE = 2,     /* already stored earlier; case_id is the original */
    VCLIENT_STATUS_REJECTED = 3,      /* refused for good; see reason and detail */
    VCLIENT_STATUS_DEAD_LETTERED = 5, /* parked for an operator after repeated failures */
};

/* Settings. Always start from vclient_config_init(), which fills the
 * defaults and records the struct's size (so that a program built against
 * an older header keeps working with a newer library). */
typedef struct {
    size_t struct_size;      /* set by vclient_config_init; do not touch */
    const char *endpoint;    /* default "tcp://127.0.0.1:7100" */
    const char *client_cert; /* this system's secret zcert file (e.g. keys/hotline.key_secret) */
    const char *server_key;  /* intake's public zcert file, or its 40-character Z85 public key */
    bool insecure;      /* no CURVE on tcp:// (tests only; warn loudly); ipc:// never uses CURVE */
    const char *source; /* written into Envelope.source; intake overwrites it; default "" */
    int window;         /* most unanswered requests; default 256 */
    int resend_ms;      /* first resend of an unanswered request after this; default 2000 */
    int resend_max_ms;  /* the doubling resend delay stops here; default 30000 */
    int reconnect_ms;   /* requests waiting and nothing heard this long: new socket; 5000 */
    int heartbeat_ms;   /* ZMTP heartbeat interval (timeout is 3x); default 1000 */
    size_t max_reply_bytes; /* larger answers are dropped by ZeroMQ; default 1 MiB */
} vclient_config_t;

/* Fills `config` with the defaults, for a struct of `struct_size` bytes.
 * Call it through vclient_config_init(). Cannot fail. */
VCLIENT_API void vclient_config_init_sized(vclient_config_t *config, size_t struct_size);

/* Fills `config` with the defaults. Cannot fail. */
static inline void vclient_config_init(vclient_config_t *config)
{
    vclient_config_init_sized(config, sizeof *config);
}

/* One final answer. */
typedef struct {
    uint8_t message_id[VCLIENT_ID_BYTES]; /* the request's message id */
    void *user;                           /* the pointer given to publish */
    int status;                           /* VCLIENT_STATUS_* */
    int reason;                           /* vigil.v1.ReasonCode number; 0 = none */
    char event_id[256];                   /* the event id intake read from the payload */
    char case_id[128];                    /* the case created or matched, or "" */
    char detail[512];                     /* intake's explanation, naming the field; never data */
    uint32_t attempts;                    /* how many times the request was sent */
    int64_t elapsed_ms;                   /* from first send to this answer */
} vclient_reply_t;

/* Counters, for progress lines and diagnostics. */
typedef struct {
    uint64_t published;          /* requests accepted by vclient_publish */
    uint64_t sends;              /* frames sent, first sends and resends */
    uint64_t resends;            /* frames sent again after a timeout or reconnect */
    uint64_t answered;           /* final answers returned by vclient_poll */
    uint64_t retry_answers;      /* RETRY answers (each leads to a resend) */
    uint64_t stray_answers;      /* answers for unknown or already answered ids */
    uint64_t malformed_answers;  /* frames that were not a valid Ack envelope */
    uint64_t reconnects;         /* sockets closed and recreated */
    uint64_t handshake_failures; /* CURVE handshakes that failed (wrong server key, ...) */
    uint64_t auth_failures;      /* handshakes intake refused: our key is not allowlisted */
    bool connected;              /* a handshake succeeded on the current socket and it is up */
    size_t inflight;             /* unanswered requests */
} vclient_stats_t;

typedef struct vclient_t vclient_t;

/* Loads the keys and connects (ZeroMQ connects in the background; nothing
 * needs to be listening yet). Returns a client the caller frees with
 * vclient_destroy(), or NULL with a message in `err` naming the file or
 * setting at fault. */
VCLIENT_API vclient_t *vclient_new(const vclient_config_t *config, char *err, size_t errlen);

/* Closes the socket and frees the client; unanswered requests are dropped
 * (the caller knows which from its own records). Sets *client_p to NULL.
 * Cannot fail. */
VCLIENT_API void vclient_destroy(vclient_t **client_p);

/* Publishes `len` bytes of serialized payload of message `type` (a
 * VCLIENT_TYPE_* or any vigil.v1.MessageType number). The library copies
 * the payload. `user` comes back in the answer. The new message id goes to
 * `message_id` if not NULL. Returns 0, VCLIENT_EFULL if the window is full,
 * VCLIENT_EINVAL or VCLIENT_ENOMEM. A send ZeroMQ cannot take at once is
 * retried by vclient_poll(), so success means "queued", not "delivered". */
VCLIENT_API int vclient_publish(vclient_t *client, int type, const void *payload, size_t len,
                                void *user, uint8_t message_id[VCLIENT_ID_BYTES]);

/* Same, packing a protobuf-c message first. Returns as vclient_publish(). */
VCLIENT_API int vclient_publish_message(vclient_t *client, int type,
                                        const ProtobufCMessage *message, void *user,
                                        uint8_t message_id[VCLIENT_ID_BYTES]);

/* Waits up to `timeout_ms` (0: do not wait; negative: until an answer) for
 * the next final answer and copies it into `reply`. Meanwhile it resends
 * what is due and reconnects when needed. Returns 1 with an answer, 0 if
 * none came in time (or a signal interrupted the wait), or VCLIENT_ESOCKET
 * if the socket failed for good. */
VCLIENT_API int vclient_poll(vclient_t *client, vclient_reply_t *reply, int timeout_ms);

/* Gives up on the unanswered request `message_id`: it leaves the window
 * and a late answer is ignored. Its `user` pointer goes to *user if not
 * NULL. Returns 0, or VCLIENT_ENOTFOUND. */
VCLIENT_API int vclient_forget(vclient_t *client, const uint8_t message_id[VCLIENT_ID_BYTES],
                               void **user);

/* Closes the socket, opens a new one and resends every unanswered request
 * now (vclient_poll does this by itself when the server goes quiet).
 * Returns 0, or VCLIENT_ESOCKET. */
VCLIENT_API int vclient_reconnect(vclient_t *client);

/* Unanswered requests. Cannot fail. */
VCLIENT_API size_t vclient_inflight(const vclient_t *client);

/* The window size in use. Cannot fail. */
VCLIENT_API int vclient_window(const vclient_t *client);

/* Copies the counters into `stats`. Cannot fail. */
VCLIENT_API void vclient_stats(const vclient_t *client, vclient_stats_t *stats);

/* "ACCEPTED", "DUPLICATE", "REJECTED", "RETRY", "DEAD_LETTERED", or
 * "UNKNOWN". Static string. Cannot fail. */
VCLIENT_API const char *vclient_status_name(int status);

/* The reason code's name without its prefix: "NONE", "INVALID_PHONE", ...;
 * "UNKNOWN" for numbers this library does not know. Cannot fail. */
VCLIENT_API const char *vclient_reason_name(int reason);

/* A short English text for a VCLIENT_E* code. Cannot fail. */
VCLIENT_API const char *vclient_strerror(int code);

/* Writes the 32 lowercase hex digits of a message id and a NUL into `out`
 * (at least 33 bytes). Cannot fail. */
VCLIENT_API void vclient_id_hex(const uint8_t message_id[VCLIENT_ID_BYTES], char out[33]);

#ifdef __cplusplus
}
#endif

#endif
