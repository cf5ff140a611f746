/* event_line.h: one line of vigil-publish input, as a protobuf message.
 *
 * A line is one JSON object:
 *
 *     {"type": "INTAKE_CONTACT", "event": { ...IntakeContact fields... }}
 *
 * "type" names the event (INTAKE_CONTACT, CUSTODY_EVENT,
 * SUBSCRIPTION_REQUEST or DELIVERY_CONFIRMATION; the MESSAGE_TYPE_ prefix
 * may be written too) and "event" holds the payload message's fields,
 * mapped generically by pbjson. No other keys are allowed.
 */
#ifndef PUBLISH_EVENT_LINE_H
#define PUBLISH_EVENT_LINE_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

enum {
    EVENT_LINE_DETAIL_MAX = 512,
    EVENT_LINE_EVENT_ID_MAX = 256,
};

/* A parsed line, or why it could not be parsed. */
typedef struct {
    int type;                               /* vigil.v1.MessageType number */
    ProtobufCMessage *payload;              /* owned; NULL on error */
    char event_id[EVENT_LINE_EVENT_ID_MAX]; /* the event's event_id, or "" (also on error) */
    const char *reason;                     /* on error: a ReasonCode name, e.g. "UNKNOWN_FIELD" */
    char detail[EVENT_LINE_DETAIL_MAX];     /* on error: "event.victim.phonee: unknown field" */
} event_line_t;

/* Parses `text` (`len` bytes, one line without its newline). Returns 0 with
 * line->payload set (free it with event_line_clear), or -1 with
 * line->reason and line->detail set. The detail never repeats a value from
 * the line. */
int event_line_parse(const char *text, size_t len, event_line_t *line);

/* Frees the payload. Cannot fail. */
void event_line_clear(event_line_t *line);

#endif
