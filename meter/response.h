/*
 * meter/response.h — reading usage out of a response as it streams past.
 *
 * The proxy hands over each piece of response body (de-chunked) and gets
 * back, through an emit callback, the bytes to send to the client: the same
 * bytes, or — for a chat/completions stream whose usage tollgate asked for
 * on the client's behalf — the stream without the usage-only chunk and the
 * "usage":null members the client never asked for.  Meanwhile a decoded
 * copy (gzip/deflate inflated) is scanned structurally for model and usage.
 * Memory is bounded: scanners are fixed-size, an event held for rewriting is
 * capped, inflation works through a fixed window.
 */
#ifndef METER_RESPONSE_H
#define METER_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "meter/endpoint.h"
#include "meter/usage.h"

#define METER_MAX_SSE_EVENT_BYTES                                              \
	(1024 * 1024)              /* held for rewriting;                      \
a larger event is forwarded as is and rewriting stops */
#define METER_INFLATE_WINDOW 16384 /* bytes inflated at once */
#define METER_MAX_INFLATED_BYTES                                               \
	(1024ULL << 20) /* decoded bytes scanned                               \
per response; past this the meter stops (usage estimated) */

typedef void (*meter_emit_fn)(void *arg, const char *buf, size_t len);

struct meter_response_opts {
	enum meter_endpoint endpoint;
	int status;                   /* upstream status code */
	const char *content_type;     /* NULL when absent */
	const char *content_encoding; /* NULL when absent */
	int strip_usage;              /* tollgate injected include_usage */
};

struct meter_response;

/* NULL on allocation failure.  Strings in opts are copied or not kept. */
struct meter_response *
meter_response_new(const struct meter_response_opts *opts, meter_emit_fn emit,
                   void *arg);
void meter_response_free(struct meter_response *mr);

/* Will emitted bytes differ from received ones (so length changes)? */
int meter_response_rewrites(const struct meter_response *mr);

/* A piece of body; emit() is called zero or more times before it returns. */
void meter_response_body(struct meter_response *mr, const char *buf,
                         size_t len);

/*
 * The body ended (complete = 1) or was cut off (0).  Held bytes are
 * emitted; afterwards meter_response_usage is final.  Only the first call
 * counts; later ones do nothing.
 */
void meter_response_end(struct meter_response *mr, int complete);

const struct meter_usage *meter_response_usage(const struct meter_response *mr);

/* Why metering could not read this response, or NULL. */
const char *meter_response_problem(const struct meter_response *mr);

#endif
