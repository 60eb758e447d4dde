/*
 * proxy/reply.c — locally generated responses (see reply.h).  Any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proxy/reply.h"

const char *
proxy_reply_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 407:
		return "Proxy Authentication Required";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

void
proxy_reply_json_string(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(out, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(out, "\\u%04x", c);
		else
			evbuffer_add(out, s, 1);
	}
	evbuffer_add(out, "\"", 1);
}

static void
opt_string(struct evbuffer *out, const char *s)
{
	if (s == NULL)
		evbuffer_add(out, "null", 4);
	else
		proxy_reply_json_string(out, s);
}

void
proxy_reply_error(struct evbuffer *out, const struct proxy_reply *r,
                  const char *fmt, ...)
{
	struct evbuffer *body = evbuffer_new();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (body == NULL)
		return;
	evbuffer_add_printf(body, "{\"error\":{\"message\":");
	proxy_reply_json_string(body, msg);
	evbuffer_add_printf(body, ",\"type\":");
	opt_string(body, r->type);
	evbuffer_add_printf(body, ",\"param\":");
	opt_string(body, r->param);
	evbuffer_add_printf(body, ",\"code\":");
	opt_string(body, r->code);
	evbuffer_add_printf(body, "}}\n");
	evbuffer_add_printf(
	    out,
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n%s%s\r\n",
	    r->status, proxy_reply_reason(r->status), evbuffer_get_length(body),
	    r->headers ? r->headers : "",
	    r->close ? "Connection: close\r\n" : "");
	if (!r->head_only)
		evbuffer_add_buffer(out, body);
	evbuffer_free(body);
}
