/*
 * proxy/http.c — llhttp wrapper (see http.h).
 *
 * Runs on the worker owning the connection.  Owns the llhttp parser and the
 * head arena (grown on demand up to PROXY_HTTP_MAX_HEAD).
 */
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/http.h"

enum { LAST_NONE, LAST_FIELD, LAST_VALUE };

struct proxy_http {
	llhttp_t parser;
	llhttp_settings_t settings;
	struct proxy_http_callbacks cbs;
	void *arg;
	int is_request;
	struct proxy_http_head head;
	int last; /* which header part the last callback added */
	int too_large;
	int stopped; /* a callback returned -1 */
	int in_message;
	int head_done; /* headers complete: later fields are trailers */
	const char *error;
	const char *feed_start, *feed_end; /* the buffer being parsed */
	const char *value_end; /* end of the last header value piece */
	int value_at_buf_end;  /* ... which ended its input buffer */
};

static int
ph_append(struct proxy_http *p, const char *at, size_t n)
{
	struct proxy_http_head *h = &p->head;

	if (h->len + n > PROXY_HTTP_MAX_HEAD) {
		p->too_large = 1;
		return -1;
	}
	if (h->len + n > h->cap) {
		size_t cap = h->cap ? h->cap : 1024;
		char *b;

		while (cap < h->len + n)
			cap *= 2;
		if (cap > PROXY_HTTP_MAX_HEAD)
			cap = PROXY_HTTP_MAX_HEAD;
		if ((b = realloc(h->buf, cap)) == NULL)
			return -1;
		h->buf = b;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, at, n);
	h->len += n;
	return 0;
}

static struct proxy_http *
ph_of(llhttp_t *l)
{
	return l->data;
}

static int
ph_on_message_begin(llhttp_t *l)
{
	struct proxy_http *p = ph_of(l);
	struct proxy_http_head *h = &p->head;

	h->len = 0;
	h->nf = 0;
	h->target_off = h->target_len = 0;
	h->method[0] = '\0';
	h->status = 0;
	p->last = LAST_NONE;
	p->in_message = 1;
	p->head_done = 0;
	return 0;
}

static int
ph_on_target(llhttp_t *l, const char *at, size_t n)
{
	struct proxy_http *p = ph_of(l);

	if (p->head.target_len == 0)
		p->head.target_off = (uint32_t)p->head.len;
	if (ph_append(p, at, n) == -1)
		return -1;
	p->head.target_len += (uint32_t)n;
	return 0;
}

static int
ph_on_field(llhttp_t *l, const char *at, size_t n)
{
	struct proxy_http *p = ph_of(l);
	struct proxy_http_head *h = &p->head;

	/* Chunked trailer fields (RFC 9112 §7.1.2) arrive through the same
	 * callbacks: they are dropped, never merged into the head that was
	 * already checked and forwarded (a trailer must not smuggle in a
	 * workspace header or credentials). */
	if (p->head_done)
		return 0;
	if (p->last != LAST_FIELD) {
		if (h->nf == PROXY_HTTP_MAX_HEADERS) {
			p->too_large = 1;
			return -1;
		}
		h->f[h->nf].name_off = (uint32_t)h->len;
		h->f[h->nf].name_len = 0;
		h->f[h->nf].value_off = 0;
		h->f[h->nf].value_len = 0;
		h->nf++;
		p->last = LAST_FIELD;
	}
	if (ph_append(p, at, n) == -1)
		return -1;
	h->f[h->nf - 1].name_len += (uint32_t)n;
	return 0;
}

static int
ph_on_value(llhttp_t *l, const char *at, size_t n)
{
	struct proxy_http *p = ph_of(l);
	struct proxy_http_field *f = &p->head.f[p->head.nf - 1];

	if (p->head_done)
		return 0; /* a trailer */
	if (p->last != LAST_VALUE) {
		f->value_off = (uint32_t)p->head.len;
		p->last = LAST_VALUE;
	}
	/* llhttp 8 accepts obsolete line folding even in strict mode: it
	 * reports the folded line as a second value piece, with the CRLF and
	 * whitespace skipped between them.  A piece that neither follows the
	 * last one nor starts a new input buffer is such a fold.  RFC 9112
	 * §5.2 lets a server refuse it; we do (request smuggling). */
	else if (at != p->value_end &&
	         !(p->value_at_buf_end && at == p->feed_start)) {
		p->error = "obsolete line folding in a header field";
		return -1;
	}
	p->value_end = at + n;
	p->value_at_buf_end = at + n == p->feed_end;
	if (ph_append(p, at, n) == -1)
		return -1;
	f->value_len += (uint32_t)n;
	return 0;
}

static int
ph_on_headers_complete(llhttp_t *l)
{
	struct proxy_http *p = ph_of(l);
	struct proxy_http_head *h = &p->head;
	int rc;

	p->head_done = 1;
	h->major = llhttp_get_http_major(l);
	h->minor = llhttp_get_http_minor(l);
	h->keep_alive = llhttp_should_keep_alive(l);
	h->chunked = (l->flags & F_CHUNKED) != 0;
	h->has_length = (l->flags & F_CONTENT_LENGTH) != 0;
	h->content_length = h->has_length ? l->content_length : 0;
	h->upgrade = llhttp_get_upgrade(l);
	if (p->is_request) {
		const char *m = llhttp_method_name(llhttp_get_method(l));
		size_t n = strlen(m);

		if (n >= sizeof(h->method))
			n = sizeof(h->method) - 1;
		memcpy(h->method, m, n);
		h->method[n] = '\0';
	} else {
		h->status = llhttp_get_status_code(l);
	}
	rc = p->cbs.on_head(p->arg, h);
	if (rc == -1)
		p->stopped = 1;
	return rc;
}

static int
ph_on_body(llhttp_t *l, const char *at, size_t n)
{
	struct proxy_http *p = ph_of(l);

	if (p->cbs.on_body(p->arg, at, n) == -1) {
		p->stopped = 1;
		return -1;
	}
	return 0;
}

static int
ph_on_message_complete(llhttp_t *l)
{
	struct proxy_http *p = ph_of(l);

	p->in_message = 0;
	p->cbs.on_complete(p->arg);
	return HPE_PAUSED; /* one message at a time: the caller resumes */
}

struct proxy_http *
proxy_http_new(int is_request, const struct proxy_http_callbacks *cbs,
               void *arg)
{
	struct proxy_http *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->cbs = *cbs;
	p->arg = arg;
	p->is_request = is_request;
	llhttp_settings_init(&p->settings);
	p->settings.on_message_begin = ph_on_message_begin;
	if (is_request)
		p->settings.on_url = ph_on_target;
	else
		p->settings.on_status = ph_on_target;
	p->settings.on_header_field = ph_on_field;
	p->settings.on_header_value = ph_on_value;
	p->settings.on_headers_complete = ph_on_headers_complete;
	p->settings.on_body = ph_on_body;
	p->settings.on_message_complete = ph_on_message_complete;
	proxy_http_reset(p);
	return p;
}

void
proxy_http_free(struct proxy_http *p)
{
	if (p == NULL)
		return;
	free(p->head.buf);
	free(p);
}

void
proxy_http_reset(struct proxy_http *p)
{
	llhttp_init(&p->parser, p->is_request ? HTTP_REQUEST : HTTP_RESPONSE,
	            &p->settings);
	p->parser.data = p;
	p->too_large = p->stopped = p->in_message = 0;
	p->error = NULL;
}

static enum proxy_http_rc
ph_result(struct proxy_http *p, llhttp_errno_t e)
{
	if (e == HPE_OK)
		return PROXY_HTTP_OK;
	if (e == HPE_PAUSED)
		return PROXY_HTTP_PAUSED;
	if (p->too_large) {
		p->error = "head too large";
		return PROXY_HTTP_TOO_LARGE;
	}
	if (p->stopped) {
		p->error = "stopped";
		return PROXY_HTTP_STOPPED;
	}
	if (p->error == NULL)
		p->error = llhttp_get_error_reason(&p->parser);
	if (p->error == NULL)
		p->error = llhttp_errno_name(e);
	return PROXY_HTTP_ERROR;
}

enum proxy_http_rc
proxy_http_feed(struct proxy_http *p, const char *buf, size_t len, size_t *used)
{
	llhttp_errno_t e;
	const char *pos;

	p->feed_start = buf;
	p->feed_end = buf + len;
	e = llhttp_execute(&p->parser, buf, len);
	*used = len;
	if (e != HPE_OK) {
		pos = llhttp_get_error_pos(&p->parser);
		if (pos != NULL && pos >= buf && pos <= buf + len)
			*used = (size_t)(pos - buf);
	}
	return ph_result(p, e);
}

enum proxy_http_rc
proxy_http_eof(struct proxy_http *p)
{
	llhttp_errno_t e;

	if (!p->in_message)
		return PROXY_HTTP_OK; /* a clean close between messages */
	e = llhttp_finish(&p->parser);
	if (e == HPE_PAUSED) /* an EOF-delimited body just completed */
		return PROXY_HTTP_OK;
	return ph_result(p, e);
}

void
proxy_http_resume(struct proxy_http *p)
{
	llhttp_resume(&p->parser);
}

int
proxy_http_in_message(const struct proxy_http *p)
{
	return p->in_message;
}

const char *
proxy_http_error(const struct proxy_http *p)
{
	return p->error != NULL ? p->error : "no error";
}

const struct proxy_http_head *
proxy_http_head(const struct proxy_http *p)
{
	return &p->head;
}

const char *
proxy_http_field_name(const struct proxy_http_head *h, int i, size_t *len)
{
	*len = h->f[i].name_len;
	return h->buf + h->f[i].name_off;
}

const char *
proxy_http_field_value(const struct proxy_http_head *h, int i, size_t *len)
{
	const char *v = h->buf + h->f[i].value_off;
	size_t n = h->f[i].value_len;

	/* llhttp strips leading whitespace; RFC 9110 §5.5 excludes trailing
	 * whitespace from the value too. */
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*len = n;
	return n ? v : "";
}

const char *
proxy_http_get(const struct proxy_http_head *h, const char *name, size_t *len)
{
	size_t n = strlen(name);
	int i;

	for (i = 0; i < h->nf; i++)
		if (h->f[i].name_len == n &&
		    strncasecmp(h->buf + h->f[i].name_off, name, n) == 0)
			return proxy_http_field_value(h, i, len);
	return NULL;
}

const char *
proxy_http_get_str(const struct proxy_http_head *h, const char *name, char *buf,
                   size_t cap)
{
	size_t n;
	const char *v = proxy_http_get(h, name, &n);

	if (v == NULL)
		return NULL;
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

int
proxy_http_list_has(const char *v, size_t len, const char *token)
{
	size_t tn = strlen(token), i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		/* drop parameters: "gzip;q=0.5" -> "gzip" */
		if (memchr(v + s, ';', e - s) != NULL)
			e = (size_t)((const char *)memchr(v + s, ';', e - s) -
			             v);
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tn && strncasecmp(v + s, token, tn) == 0)
			return 1;
	}
	return 0;
}

int
proxy_http_has_token(const struct proxy_http_head *h, const char *name,
                     const char *token)
{
	size_t n = strlen(name), len = 0;
	const char *v;
	int i;

	for (i = 0; i < h->nf; i++) {
		if (h->f[i].name_len != n ||
		    strncasecmp(h->buf + h->f[i].name_off, name, n) != 0)
			continue;
		/* Two statements: argument evaluation order is unspecified. */
		v = proxy_http_field_value(h, i, &len);
		if (proxy_http_list_has(v, len, token))
			return 1;
	}
	return 0;
}
