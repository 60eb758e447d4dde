/*
 * proxy/reply.h — responses tollgate writes itself, in OpenAI's error
 * shape: {"error":{"message","type","param","code"}} (DESIGN.md).
 */
#ifndef PROXY_REPLY_H
#define PROXY_REPLY_H

#include <event2/buffer.h>

struct proxy_reply {
	int status;
	const char *type;    /* "invalid_request_error", "server_error" */
	const char *code;    /* NULL -> JSON null */
	const char *param;   /* NULL -> JSON null */
	const char *headers; /* extra "Name: value\r\n" lines, or NULL */
	int close;           /* add Connection: close */
	int head_only;       /* a HEAD request: no body bytes */
};

/* Appends the whole response; message is printf-formatted plain text. */
void proxy_reply_error(struct evbuffer *out, const struct proxy_reply *r,
                       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Standard reason phrase ("Too Many Requests"), "Unknown" otherwise. */
const char *proxy_reply_reason(int status);

/* Appends s as a JSON string literal (with quotes), escaping as needed. */
void proxy_reply_json_string(struct evbuffer *out, const char *s);

#endif
