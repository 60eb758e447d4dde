/*
 * proxy/http.h — HTTP/1.x message parsing, the one wrapper around llhttp.
 *
 * One parser per direction of a connection.  The head (start line and
 * headers) is collected into a bounded arena and handed over whole; the
 * body is handed over in pieces as it arrives, de-chunked.  llhttp's strict
 * defaults stay on: conflicting Content-Length / Transfer-Encoding, obsolete
 * line folding and bad chunk sizes are errors (request smuggling).
 */
#ifndef PROXY_HTTP_H
#define PROXY_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define PROXY_HTTP_MAX_HEAD (64 * 1024) /* start line + headers, bytes */
#define PROXY_HTTP_MAX_HEADERS 128      /* header fields per message */

struct proxy_http_field {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;
};

struct proxy_http_head {
	char *buf; /* arena: start-line parts and fields */
	size_t len, cap;
	struct proxy_http_field f[PROXY_HTTP_MAX_HEADERS];
	int nf;
	uint32_t target_off, target_len; /* request target / reason */
	char method[24];                 /* requests */
	int status;                      /* responses */
	int major, minor;
	int keep_alive; /* llhttp_should_keep_alive */
	int chunked;
	int has_length;
	uint64_t content_length;
	int upgrade;
};

enum proxy_http_rc {
	PROXY_HTTP_OK,        /* all input consumed */
	PROXY_HTTP_PAUSED,    /* a message completed; call resume */
	PROXY_HTTP_ERROR,     /* malformed; the connection must close */
	PROXY_HTTP_TOO_LARGE, /* head over PROXY_HTTP_MAX_HEAD/_HEADERS */
	PROXY_HTTP_STOPPED,   /* a callback refused to go on */
};

struct proxy_http_callbacks {
	/* The head is complete.  Return 0 to read a body, 1 when this
	 * message has none (a response to HEAD), -1 to stop. */
	int (*on_head)(void *arg, struct proxy_http_head *h);
	/* A piece of body.  Return 0, or -1 to stop. */
	int (*on_body)(void *arg, const char *p, size_t n);
	/* The message is complete; the parser pauses after it. */
	void (*on_complete)(void *arg);
};

struct proxy_http;

/* is_request: parse requests (else responses).  NULL on allocation
 * failure. */
struct proxy_http *proxy_http_new(int is_request,
                                  const struct proxy_http_callbacks *cbs,
                                  void *arg);
void proxy_http_free(struct proxy_http *p);

/* Feeds bytes; *used tells how many were consumed (all, unless paused or
 * failed). */
enum proxy_http_rc proxy_http_feed(struct proxy_http *p, const char *buf,
                                   size_t len, size_t *used);

/* The peer closed: completes a message delimited by EOF.  PROXY_HTTP_OK
 * (complete, or nothing started) or PROXY_HTTP_ERROR (cut short). */
enum proxy_http_rc proxy_http_eof(struct proxy_http *p);

/* Continue after PROXY_HTTP_PAUSED. */
void proxy_http_resume(struct proxy_http *p);

/* Start over for a new connection (pooled upstream reuse). */
void proxy_http_reset(struct proxy_http *p);

/* Is a message in progress (bytes of it were parsed)? */
int proxy_http_in_message(const struct proxy_http *p);

const char *proxy_http_error(const struct proxy_http *p);

/* The head of the message in progress or last completed. */
const struct proxy_http_head *proxy_http_head(const struct proxy_http *p);

/* Field access: name and value of field i, not NUL-terminated. */
const char *proxy_http_field_name(const struct proxy_http_head *h, int i,
                                  size_t *len);
const char *proxy_http_field_value(const struct proxy_http_head *h, int i,
                                   size_t *len);

/* First value of the named field (case-insensitive), or NULL. */
const char *proxy_http_get(const struct proxy_http_head *h, const char *name,
                           size_t *len);

/* Copies the named field's value into buf (NUL-terminated, cut to fit);
 * returns buf, or NULL when absent. */
const char *proxy_http_get_str(const struct proxy_http_head *h,
                               const char *name, char *buf, size_t cap);

/* Does a comma-separated field (Connection, Expect) hold token? */
int proxy_http_has_token(const struct proxy_http_head *h, const char *name,
                         const char *token);

/* Does a comma-separated value list hold token (case-insensitive)? */
int proxy_http_list_has(const char *v, size_t len, const char *token);

#endif
