/*
 * tests/unit/test_proxy_http.c — proxy/http.c, the llhttp wrapper.
 *
 * Vectors are fed whole, split at every offset and byte by byte (STYLE.md
 * §23), resuming after every PROXY_HTTP_PAUSED; the log of heads, bodies
 * (de-chunked), completions and the final result must be the same each
 * time.  Covers: the request parser's callbacks; two pipelined requests in
 * one buffer (PAUSED after the first, resume, the second); chunked bodies
 * de-chunked; request smuggling refused (Content-Length with
 * Transfer-Encoding, two Content-Lengths, a request Transfer-Encoding that
 * does not end in chunked, bad chunk sizes, obsolete line folding); a head
 * over PROXY_HTTP_MAX_HEAD or PROXY_HTTP_MAX_HEADERS is TOO_LARGE; a
 * response body delimited by EOF completes on proxy_http_eof; responses to
 * HEAD; callbacks that stop; proxy_http_get (case-insensitive), get_str,
 * has_token and list_has.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http.h"
#include "tests/unit/harness.h"
#include "tests/unit/sbuf.h"

/* --- recorder -------------------------------------------------------- */

struct hrec {
	struct proxy_http *p;
	int is_request;
	int head_ret; /* what on_head returns */
	int body_ret; /* what on_body returns */
	int eof;      /* call proxy_http_eof at the end */
	struct sbuf log;
	struct sbuf body;
	int failed; /* a feed returned ERROR/TOO_LARGE/STOPPED */
	enum proxy_http_rc last_rc;
	int completes;
	const char *want;
	enum proxy_http_rc want_rc;
};

static const char *const rc_names[] = {"OK", "PAUSED", "ERROR", "TOO_LARGE",
                                       "STOPPED"};

static int
h_on_head(void *arg, struct proxy_http_head *h)
{
	struct hrec *r = arg;
	int i;

	if (r->is_request)
		sb_printf(&r->log, "HEAD %s ", h->method);
	else
		sb_printf(&r->log, "HEAD %d ", h->status);
	sb_add(&r->log, h->buf + h->target_off, h->target_len);
	sb_printf(&r->log, " nf=%d chunked=%d len=%d/%llu ka=%d v=%d.%d\n",
	          h->nf, h->chunked, h->has_length,
	          (unsigned long long)h->content_length, h->keep_alive,
	          h->major, h->minor);
	for (i = 0; i < h->nf; i++) {
		size_t nl, vl;
		const char *n = proxy_http_field_name(h, i, &nl);
		const char *v = proxy_http_field_value(h, i, &vl);

		sb_add(&r->log, " ", 1);
		sb_add(&r->log, n, nl);
		sb_add(&r->log, "=", 1);
		sb_add(&r->log, v, vl);
		sb_add(&r->log, "\n", 1);
	}
	return r->head_ret;
}

static int
h_on_body(void *arg, const char *p, size_t n)
{
	struct hrec *r = arg;

	if (n == 0)
		harness_fail(__FILE__, __LINE__, "empty body piece");
	sb_add(&r->body, p, n);
	return r->body_ret;
}

static void
h_on_complete(void *arg)
{
	struct hrec *r = arg;

	sb_add(&r->log, "BODY ", 5);
	sb_add(&r->log, sb_str(&r->body), r->body.len);
	sb_add(&r->log, "\nDONE\n", 6);
	sb_clear(&r->body);
	r->completes++;
}

static const struct proxy_http_callbacks h_cbs = {h_on_head, h_on_body,
                                                  h_on_complete};

static void
h_reset(void *arg)
{
	struct hrec *r = arg;

	proxy_http_free(r->p);
	r->p = proxy_http_new(r->is_request, &h_cbs, r);
	if (r->p == NULL)
		abort();
	sb_clear(&r->log);
	sb_clear(&r->body);
	r->failed = 0;
	r->last_rc = PROXY_HTTP_OK;
	r->completes = 0;
}

/* Feeds a piece, resuming after each completed message. */
static void
h_feed(void *arg, const char *p, size_t n)
{
	struct hrec *r = arg;

	while (n > 0 && !r->failed) {
		size_t used = (size_t)-1;
		enum proxy_http_rc rc = proxy_http_feed(r->p, p, n, &used);

		if (used > n) {
			harness_fail(__FILE__, __LINE__, "used %zu of %zu",
			             used, n);
			used = n;
		}
		r->last_rc = rc;
		if (rc == PROXY_HTTP_PAUSED) {
			proxy_http_resume(r->p);
		} else if (rc == PROXY_HTTP_OK) {
			if (used != n)
				harness_fail(__FILE__, __LINE__,
				             "OK but used %zu of %zu", used, n);
			used = n;
		} else {
			r->failed = 1;
			sb_printf(&r->log, "ERR %s\n", rc_names[rc]);
			return;
		}
		p += used;
		n -= used;
	}
}

static void
h_finish(struct hrec *r)
{
	if (r->eof && !r->failed) {
		enum proxy_http_rc rc = proxy_http_eof(r->p);

		sb_printf(&r->log, "EOF %s\n", rc_names[rc]);
		if (rc != PROXY_HTTP_OK) {
			r->failed = 1;
			r->last_rc = rc;
		}
	}
	if (r->body.len > 0)
		sb_printf(&r->log, "PENDING %s\n", sb_str(&r->body));
}

static void
h_check(void *arg, const char *run)
{
	struct hrec *r = arg;

	h_finish(r);
	if (strcmp(sb_str(&r->log), r->want) != 0)
		harness_fail(__FILE__, __LINE__, "%s:\ngot:\n%s\nwant:\n%s",
		             run, sb_str(&r->log), r->want);
}

static void
h_done(struct hrec *r)
{
	proxy_http_free(r->p);
	free(r->log.p);
	free(r->body.p);
}

/*
 * Runs the vector whole, then every split and byte by byte.  want: the
 * expected log; NULL: only the whole-input log is required to match the
 * splits and the final result to be want_rc (for error vectors).
 */
static void
run_http(int is_request, int head_ret, int eof, const char *in, size_t len,
         const char *want, enum proxy_http_rc want_rc)
{
	struct hrec r;
	char *whole = NULL;

	memset(&r, 0, sizeof(r));
	r.is_request = is_request;
	r.head_ret = head_ret;
	r.eof = eof;
	r.want = want != NULL ? want : "";
	h_reset(&r);
	h_feed(&r, in, len);
	h_finish(&r);
	if (want != NULL && strcmp(sb_str(&r.log), want) != 0)
		harness_fail(__FILE__, __LINE__, "whole:\ngot:\n%s\nwant:\n%s",
		             sb_str(&r.log), want);
	if (want_rc == PROXY_HTTP_OK ? r.failed
	                             : (!r.failed || r.last_rc != want_rc))
		harness_fail(__FILE__, __LINE__,
		             "%.40s...: result %s, want %s "
		             "(%s)",
		             in, rc_names[r.last_rc], rc_names[want_rc],
		             proxy_http_error(r.p));
	whole = strdup(sb_str(&r.log));
	r.want = whole;
	harness_split_runs(in, len, &r, h_reset, h_feed, h_check);
	h_done(&r);
	free(whole);
}

#define RUN(isreq, in, want, rc) run_http(isreq, 0, 0, in, strlen(in), want, rc)

/* --- requests --------------------------------------------------------- */

#define REQ1                                                                   \
	"POST /v1/chat/completions HTTP/1.1\r\nHost: api\r\n"                  \
	"Content-Length: 5\r\n\r\nhello"
#define REQ2                                                                   \
	"GET /v1/models?x=1 HTTP/1.1\r\nHost: api\r\n"                         \
	"Connection: close\r\n\r\n"

TEST(proxy_http_feed_request_callbacks)
{
	RUN(1, REQ1,
	    "HEAD POST /v1/chat/completions nf=2 chunked=0 len=1/5 ka=1 v=1.1\n"
	    " Host=api\n"
	    " Content-Length=5\n"
	    "BODY hello\nDONE\n",
	    PROXY_HTTP_OK);
	RUN(1, "GET / HTTP/1.0\r\nX-Empty:\r\nX-Sp:   v\r\n\r\n",
	    "HEAD GET / nf=2 chunked=0 len=0/0 ka=0 v=1.0\n"
	    " X-Empty=\n"
	    " X-Sp=v\n"
	    "BODY \nDONE\n",
	    PROXY_HTTP_OK);
}

TEST(proxy_http_feed_pipelined_pauses)
{
	static const char in[] = REQ1 REQ2;
	struct hrec r;
	size_t used = 0, first = strlen(REQ1);

	/* By hand: the first message pauses the parser ... */
	memset(&r, 0, sizeof(r));
	r.is_request = 1;
	h_reset(&r);
	CHECK(proxy_http_feed(r.p, in, strlen(in), &used) == PROXY_HTTP_PAUSED);
	CHECK_U64(used, first);
	CHECK(r.completes == 1);
	CHECK(proxy_http_in_message(r.p) == 0);
	CHECK_STR(proxy_http_head(r.p)->method, "POST");
	/* ... resume, and the second follows. */
	proxy_http_resume(r.p);
	CHECK(proxy_http_feed(r.p, in + first, strlen(in) - first, &used) ==
	      PROXY_HTTP_PAUSED);
	CHECK_U64(used, strlen(in) - first);
	CHECK(r.completes == 2);
	CHECK_STR(proxy_http_head(r.p)->method, "GET");
	CHECK(proxy_http_head(r.p)->keep_alive == 0);
	h_done(&r);
	/* Every split gives the same two messages. */
	RUN(1, in,
	    "HEAD POST /v1/chat/completions nf=2 chunked=0 len=1/5 ka=1 v=1.1\n"
	    " Host=api\n"
	    " Content-Length=5\n"
	    "BODY hello\nDONE\n"
	    "HEAD GET /v1/models?x=1 nf=2 chunked=0 len=0/0 ka=0 v=1.1\n"
	    " Host=api\n"
	    " Connection=close\n"
	    "BODY \nDONE\n",
	    PROXY_HTTP_OK);
}

TEST(proxy_http_feed_chunked_body)
{
	RUN(1,
	    "POST /v1/embeddings HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n6;ext=1\r\n world\r\nA\r\n0123456789\r\n"
	    "0\r\n\r\n",
	    "HEAD POST /v1/embeddings nf=2 chunked=1 len=0/0 ka=1 v=1.1\n"
	    " Host=a\n"
	    " Transfer-Encoding=chunked\n"
	    "BODY hello world0123456789\nDONE\n",
	    PROXY_HTTP_OK);
	/* with a trailer section, then a pipelined request */
	RUN(1,
	    "POST /v1/embeddings HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
	    "GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n",
	    "HEAD POST /v1/embeddings nf=2 chunked=1 len=0/0 ka=1 v=1.1\n"
	    " Host=a\n"
	    " Transfer-Encoding=chunked\n"
	    "BODY abc\nDONE\n"
	    "HEAD GET /v1/models nf=1 chunked=0 len=0/0 ka=1 v=1.1\n"
	    " Host=a\n"
	    "BODY \nDONE\n",
	    PROXY_HTTP_OK);
}

TEST(proxy_http_feed_chunked_response)
{
	RUN(0,
	    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "9\r\ndata: x\n\n\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n",
	    "HEAD 200 OK nf=2 chunked=1 len=0/0 ka=1 v=1.1\n"
	    " Content-Type=text/event-stream\n"
	    " Transfer-Encoding=chunked\n"
	    "BODY data: x\n\ndata: [DONE]\n\n\nDONE\n",
	    PROXY_HTTP_OK);
}

/* --- smuggling and malformed ----------------------------------------- */

TEST(proxy_http_feed_content_length_and_chunked)
{
	RUN(1,
	    "POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nhello",
	    NULL, PROXY_HTTP_ERROR);
	RUN(1,
	    "POST /v1/x HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
	    "0\r\n\r\nhello",
	    NULL, PROXY_HTTP_ERROR);
}

TEST(proxy_http_feed_other_smuggling)
{
	/* two different Content-Lengths */
	RUN(1,
	    "POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Content-Length: 6\r\n\r\nhello!",
	    NULL, PROXY_HTTP_ERROR);
	/* a request Transfer-Encoding that does not end in chunked */
	RUN(1,
	    "POST /v1/x HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
	    NULL, PROXY_HTTP_ERROR);
	/* space before the colon */
	RUN(1,
	    "POST /v1/x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length : 5\r\n\r\nhello",
	    NULL, PROXY_HTTP_ERROR);
	/* bare LF inside a header line / a non-numeric length */
	RUN(1,
	    "POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\n"
	    "hello",
	    NULL, PROXY_HTTP_ERROR);
}

TEST(proxy_http_feed_bad_chunk_size)
{
	static const char *const bad[] = {
	    "zz\r\nhello\r\n0\r\n\r\n",
	    "-1\r\nx\r\n0\r\n\r\n",
	    "fffffffffffffffffff\r\nx\r\n0\r\n\r\n", /* overflow */
	    "\r\n0\r\n\r\n",                         /* empty size */
	    "5\r\nhelloXX\r\n0\r\n\r\n",             /* no CRLF after data */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char in[256];

		snprintf(in, sizeof(in),
		         "POST /v1/x HTTP/1.1\r\nHost: a\r\n"
		         "Transfer-Encoding: chunked\r\n\r\n%s",
		         bad[i]);
		RUN(1, in, NULL, PROXY_HTTP_ERROR);
	}
}

TEST(proxy_http_feed_obs_fold)
{
	/* RFC 9112 §5.2: a server must reject obs-fold in a request or
	 * replace it; the wrapper promises an error. */
	RUN(1, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", NULL,
	    PROXY_HTTP_ERROR);
	RUN(1, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", NULL,
	    PROXY_HTTP_ERROR);
	/* The fold alone in the middle piece of three. */
	{
		static const char *const parts[] = {
		    "GET / HTTP/1.1\r\nHost: a\r\nX-A: b", "\r\n ",
		    "c\r\n\r\n"};
		struct hrec r;
		size_t i;

		memset(&r, 0, sizeof(r));
		r.is_request = 1;
		h_reset(&r);
		for (i = 0; i < 3; i++)
			h_feed(&r, parts[i], strlen(parts[i]));
		CHECK(r.failed && r.last_rc == PROXY_HTTP_ERROR);
		CHECK(r.completes == 0);
		h_done(&r);
	}
}

TEST(proxy_http_feed_head_too_large)
{
	/* One field past PROXY_HTTP_MAX_HEAD.  Whole, byte by byte and a
	 * sample of splits (every offset would take minutes). */
	size_t n = PROXY_HTTP_MAX_HEAD + 1000, len, cut;
	char *in = malloc(n + 64);
	struct hrec r;

	memcpy(in, "GET / HTTP/1.1\r\nX-Big: ", 23);
	memset(in + 23, 'a', n);
	memcpy(in + 23 + n, "\r\n\r\n", 5);
	len = 23 + n + 4;
	memset(&r, 0, sizeof(r));
	r.is_request = 1;
	for (cut = 0; cut <= len;
	     cut += (cut < 64 || len - cut < 64) ? 1 : 997) {
		h_reset(&r);
		h_feed(&r, in, cut);
		h_feed(&r, in + cut, len - cut);
		if (!r.failed || r.last_rc != PROXY_HTTP_TOO_LARGE)
			harness_fail(__FILE__, __LINE__,
			             "split at %zu: %s, want TOO_LARGE", cut,
			             rc_names[r.last_rc]);
		if (r.completes != 0)
			harness_fail(__FILE__, __LINE__, "completed");
	}
	h_reset(&r);
	for (cut = 0; cut < len && !r.failed; cut++)
		h_feed(&r, in + cut, 1);
	CHECK(r.failed && r.last_rc == PROXY_HTTP_TOO_LARGE);
	CHECK(strcmp(proxy_http_error(r.p), "no error") != 0);
	/* Just under the limit is fine. */
	len = PROXY_HTTP_MAX_HEAD - 200;
	memcpy(in, "GET / HTTP/1.1\r\nX-Big: ", 23);
	memset(in + 23, 'a', len);
	memcpy(in + 23 + len, "\r\n\r\n", 5);
	h_reset(&r);
	h_feed(&r, in, 23 + len + 4);
	CHECK(!r.failed);
	CHECK(r.completes == 1);
	h_done(&r);
	free(in);
}

TEST(proxy_http_feed_too_many_headers)
{
	char in[4096];
	size_t len = 0;
	int i;

	len += (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\n");
	for (i = 0; i < PROXY_HTTP_MAX_HEADERS + 1; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len,
		                        "X-%d: v\r\n", i);
	len += (size_t)snprintf(in + len, sizeof(in) - len, "\r\n");
	run_http(1, 0, 0, in, len, NULL, PROXY_HTTP_TOO_LARGE);
	/* exactly the limit is fine */
	len = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\n");
	for (i = 0; i < PROXY_HTTP_MAX_HEADERS; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len,
		                        "X-%d: v\r\n", i);
	len += (size_t)snprintf(in + len, sizeof(in) - len, "\r\n");
	run_http(1, 0, 0, in, len, NULL, PROXY_HTTP_OK);
}

TEST(proxy_http_feed_malformed_start_line)
{
	RUN(1, "GET / HTTP/1.1 extra\r\n\r\n", NULL, PROXY_HTTP_ERROR);
	RUN(1, "G@T / HTTP/1.1\r\n\r\n", NULL, PROXY_HTTP_ERROR);
	RUN(0, "HTTP/1.1 2000 OK\r\n\r\n", NULL, PROXY_HTTP_ERROR);
	RUN(0, "HTTX/1.1 200 OK\r\n\r\n", NULL, PROXY_HTTP_ERROR);
}

/* --- responses -------------------------------------------------------- */

TEST(proxy_http_eof_completes_body)
{
	static const char in[] =
	    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
	    "data: x\n\ndata: [DONE]\n\n";

	run_http(0, 0, 1, in, strlen(in),
	         "HEAD 200 OK nf=1 chunked=0 len=0/0 ka=0 v=1.1\n"
	         " Content-Type=text/event-stream\n"
	         "BODY data: x\n\ndata: [DONE]\n\n\nDONE\n"
	         "EOF OK\n",
	         PROXY_HTTP_OK);
}

TEST(proxy_http_eof_cut_short)
{
	/* Content-Length promised 10, got 3. */
	static const char in[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";

	run_http(0, 0, 1, in, strlen(in),
	         "HEAD 200 OK nf=1 chunked=0 len=1/10 ka=1 v=1.1\n"
	         " Content-Length=10\n"
	         "EOF ERROR\n"
	         "PENDING abc\n",
	         PROXY_HTTP_ERROR);
	/* In the middle of a chunked body. */
	run_http(0, 0, 1,
	         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	         "\r\n5\r\nab",
	         strlen("HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	                "chunked\r\n\r\n5\r\nab"),
	         NULL, PROXY_HTTP_ERROR);
	/* In the middle of the head. */
	run_http(0, 0, 1, "HTTP/1.1 200 OK\r\nContent-Le",
	         strlen("HTTP/1.1 200 OK\r\nContent-Le"), NULL,
	         PROXY_HTTP_ERROR);
}

TEST(proxy_http_eof_nothing_started)
{
	struct hrec r;

	memset(&r, 0, sizeof(r));
	h_reset(&r);
	CHECK(proxy_http_eof(r.p) == PROXY_HTTP_OK);
	CHECK(r.completes == 0);
	h_done(&r);
}

TEST(proxy_http_eof_after_complete_message)
{
	/*
	 * The upstream closes after a whole (Content-Length / no-body)
	 * response: "PROXY_HTTP_OK (complete, or nothing started)".
	 * Regression: llhttp pauses in on_message_complete before it marks
	 * the message finished (its `finish` stays HTTP_FINISH_UNSAFE until
	 * the next execute), so resume + eof with no further bytes once gave
	 * PROXY_HTTP_ERROR "Invalid EOF state".
	 */
	run_http(0, 0, 1, "HTTP/1.1 204 No Content\r\n\r\n",
	         strlen("HTTP/1.1 204 No Content\r\n\r\n"),
	         "HEAD 204 No Content nf=0 chunked=0 len=0/0 ka=1 v=1.1\n"
	         "BODY \nDONE\n"
	         "EOF OK\n",
	         PROXY_HTTP_OK);
}

TEST(proxy_http_feed_response_to_head)
{
	/* on_head returns 1: no body despite Content-Length; the next
	 * response follows at once. */
	static const char in[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

	run_http(0, 1, 0, in, strlen(in),
	         "HEAD 200 OK nf=1 chunked=0 len=1/10 ka=1 v=1.1\n"
	         " Content-Length=10\n"
	         "BODY \nDONE\n"
	         "HEAD 404 Not Found nf=1 chunked=0 len=1/0 ka=1 v=1.1\n"
	         " Content-Length=0\n"
	         "BODY \nDONE\n",
	         PROXY_HTTP_OK);
}

TEST(proxy_http_feed_callback_stops)
{
	struct hrec r;
	size_t used;
	static const char in[] = REQ1;

	memset(&r, 0, sizeof(r));
	r.is_request = 1;
	r.head_ret = -1;
	h_reset(&r);
	CHECK(proxy_http_feed(r.p, in, strlen(in), &used) ==
	      PROXY_HTTP_STOPPED);
	CHECK(r.completes == 0);
	CHECK(r.body.len == 0);
	r.head_ret = 0;
	r.body_ret = -1;
	h_reset(&r);
	CHECK(proxy_http_feed(r.p, in, strlen(in), &used) ==
	      PROXY_HTTP_STOPPED);
	CHECK(r.completes == 0);
	h_done(&r);
}

TEST(proxy_http_reset_and_in_message)
{
	struct hrec r;
	size_t used;

	memset(&r, 0, sizeof(r));
	r.is_request = 1;
	h_reset(&r);
	CHECK(proxy_http_in_message(r.p) == 0);
	CHECK(proxy_http_feed(r.p, "POST /a HTTP/1.1\r\n", 18, &used) ==
	      PROXY_HTTP_OK);
	CHECK(proxy_http_in_message(r.p) == 1);
	/* an error, then reset: usable again */
	CHECK(proxy_http_feed(r.p, "Bad Header\r\n\r\n", 14, &used) ==
	      PROXY_HTTP_ERROR);
	CHECK(strcmp(proxy_http_error(r.p), "no error") != 0);
	proxy_http_reset(r.p);
	CHECK(proxy_http_in_message(r.p) == 0);
	CHECK(proxy_http_feed(r.p, REQ2, strlen(REQ2), &used) ==
	      PROXY_HTTP_PAUSED);
	CHECK(r.completes == 1);
	h_done(&r);
}

/* --- field access ----------------------------------------------------- */

static const char fields_req[] = "POST /v1/chat/completions HTTP/1.1\r\n"
                                 "Host: api.openai.com\r\n"
                                 "content-TYPE: application/json\r\n"
                                 "Connection: keep-alive, Upgrade\r\n"
                                 "Connection: X-Foo\r\n"
                                 "Accept-Encoding: gzip;q=0.5 , br\r\n"
                                 "X-Empty:\r\n"
                                 "Content-Length: 2\r\n\r\n{}";

TEST(proxy_http_get_case_insensitive)
{
	struct hrec r;
	const struct proxy_http_head *h;
	size_t used, n = 99;
	const char *v;
	char small[8], big[64];

	memset(&r, 0, sizeof(r));
	r.is_request = 1;
	h_reset(&r);
	CHECK(proxy_http_feed(r.p, fields_req, strlen(fields_req), &used) ==
	      PROXY_HTTP_PAUSED);
	h = proxy_http_head(r.p);
	v = proxy_http_get(h, "Content-Type", &n);
	CHECK(v != NULL && n == 16 && memcmp(v, "application/json", 16) == 0);
	v = proxy_http_get(h, "CONTENT-TYPE", &n);
	CHECK(v != NULL && n == 16);
	v = proxy_http_get(h, "host", &n);
	CHECK(v != NULL && n == 14 && memcmp(v, "api.openai.com", 14) == 0);
	/* first of two */
	v = proxy_http_get(h, "connection", &n);
	CHECK(v != NULL && n == 19 &&
	      memcmp(v, "keep-alive, Upgrade", 19) == 0);
	v = proxy_http_get(h, "x-empty", &n);
	CHECK(v != NULL && n == 0);
	CHECK(proxy_http_get(h, "Content-Typ", &n) == NULL);
	CHECK(proxy_http_get(h, "Content-Type-X", &n) == NULL);
	CHECK(proxy_http_get(h, "Authorization", &n) == NULL);
	CHECK_STR(proxy_http_get_str(h, "HOST", big, sizeof(big)),
	          "api.openai.com");
	CHECK_STR(proxy_http_get_str(h, "host", small, sizeof(small)), "api.op"
	                                                               "e");
	CHECK(proxy_http_get_str(h, "nope", big, sizeof(big)) == NULL);
	h_done(&r);
}

/*
 * Regression: proxy_http_has_token once called
 *   proxy_http_list_has(proxy_http_field_value(h, i, &len), len, token)
 * and C leaves the order of argument evaluation unspecified: GCC read
 * `len` (still 0) before proxy_http_field_value set it, so every lookup
 * said no (proxy/conn.c uses it for "Expect: 100-continue").
 */
TEST(proxy_http_has_token_lists)
{
	struct hrec r;
	const struct proxy_http_head *h;
	size_t used;

	memset(&r, 0, sizeof(r));
	r.is_request = 1;
	h_reset(&r);
	CHECK(proxy_http_feed(r.p, fields_req, strlen(fields_req), &used) ==
	      PROXY_HTTP_PAUSED);
	h = proxy_http_head(r.p);
	CHECK(proxy_http_has_token(h, "Connection", "upgrade") == 1);
	CHECK(proxy_http_has_token(h, "connection", "KEEP-ALIVE") == 1);
	CHECK(proxy_http_has_token(h, "Connection", "x-foo") == 1); /* 2nd */
	CHECK(proxy_http_has_token(h, "Connection", "close") == 0);
	CHECK(proxy_http_has_token(h, "Connection", "keep") == 0);
	CHECK(proxy_http_has_token(h, "Accept-Encoding", "gzip") == 1);
	CHECK(proxy_http_has_token(h, "Accept-Encoding", "br") == 1);
	CHECK(proxy_http_has_token(h, "Accept-Encoding", "deflate") == 0);
	CHECK(proxy_http_has_token(h, "Expect", "100-continue") == 0);
	CHECK(proxy_http_has_token(h, "X-Empty", "") == 0);
	h_done(&r);

	CHECK(proxy_http_list_has("close", 5, "close") == 1);
	CHECK(proxy_http_list_has(" ,, close ,", 11, "CLOSE") == 1);
	CHECK(proxy_http_list_has("closed", 6, "close") == 0);
	CHECK(proxy_http_list_has("xclose", 6, "close") == 0);
	CHECK(proxy_http_list_has("a,\tclose\t", 9, "close") == 1);
	CHECK(proxy_http_list_has("close", 4, "close") == 0); /* uses len */
	CHECK(proxy_http_list_has("", 0, "close") == 0);
	CHECK(proxy_http_list_has("chunked;x=1", 11, "chunked") == 1);
}
