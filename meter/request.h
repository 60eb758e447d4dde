/*
 * meter/request.h — what a buffered request body asks for.
 *
 * Reads a JSON request body structurally (meter/jscan) for the fields that
 * matter to metering and limits, and rewrites a chat/completions stream
 * request so the upstream reports usage (DESIGN.md "Streaming usage").
 */
#ifndef METER_REQUEST_H
#define METER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "meter/endpoint.h"
#include "meter/usage.h"

#define METER_MAX_END_USER 128

/* Byte span of a value in the body; present == 0 when it does not occur. */
struct meter_span {
	int present;
	int kind; /* enum meter_jscan_kind of the value */
	uint64_t begin, end;
	uint64_t count; /* members, for objects */
};

struct meter_request {
	enum meter_endpoint endpoint;
	int is_json;                 /* body parsed as a JSON object */
	char model[METER_MAX_MODEL]; /* "" when absent */
	int stream;                  /* "stream": true */
	int include_usage;           /* stream_options.include_usage:
	                                -1 absent, 0 false, 1 true */
	int background;              /* "background": true */
	uint64_t max_output_tokens;  /* max_tokens, max_completion_tokens or
	                                max_output_tokens; 0 = not given */
	uint64_t n;                  /* choices asked for, >= 1 */
	uint64_t input_text_bytes;   /* prompt text bytes */
	uint64_t input_token_items;  /* prompts given as token arrays */
	uint64_t input_chars;        /* /v1/audio/speech: characters
	                                (code points) of "input" */
	char size[16];               /* images: "1024x1024"; "" = absent */
	char quality[16];            /* images: "standard", "hd", ... */
	char end_user[METER_MAX_END_USER]; /* `user` or `safety_identifier` */
	/* multipart uploads (meter/upload.h): transcriptions, translations,
	 * image edits and variations */
	int multipart;            /* the body was read as multipart */
	char response_format[16]; /* "json", "text", "verbose_json", ... */
	uint64_t audio_ms;        /* the audio's length from its container
	                             header; 0 = unknown */
	int audio_estimated;      /* audio_ms derived from a bitrate */
	uint64_t audio_bytes;     /* bytes of the uploaded file */
	uint64_t body_hash; /* of the JSON tokens, whitespace ignored (duplicate
	                       calls); 0 when the body was not parsed */
	/* where injection edits the body */
	uint64_t root_end;     /* offset of the root object's '}' */
	uint64_t root_members; /* members of the root object */
	struct meter_span stream_options;
	struct meter_span include_usage_value;
};

/*
 * Inspects body (len bytes, need not be NUL-terminated).  An empty body is
 * valid and leaves defaults.  Returns 0, or -1 when the body is not one
 * JSON object (*errstr says why, *erroff where); out is filled either way
 * as far as the scan got.
 */
int meter_request_inspect(enum meter_endpoint ep, const char *body, size_t len,
                          struct meter_request *out, const char **errstr,
                          uint64_t *erroff);

/* Should the upstream request carry stream_options.include_usage=true that
 * the client did not ask for?  (chat/completions streams only.) */
int meter_request_needs_usage_injection(const struct meter_request *rq);

/*
 * Writes into *out (malloc'd, *outlen bytes) the body with
 * stream_options.include_usage set to true, leaving every other byte as the
 * client wrote it.  -1 on allocation failure.
 */
int meter_request_inject_usage(const struct meter_request *rq, const char *body,
                               size_t len, char **out, size_t *outlen);

/* /v1/images/generations: the model (dall-e-2 when absent) and the
 * per_image price key, "WxH" or "hd/WxH" (meter/price.h). */
const char *meter_request_image_model(const struct meter_request *rq);
void meter_request_image_variant(const struct meter_request *rq, char *buf,
                                 size_t cap);

/* Input tokens estimated from the request (never 0 for a non-empty one). */
uint64_t meter_request_estimate_input(const struct meter_request *rq);

#endif
