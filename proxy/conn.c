/*
 * proxy/conn.c — the connection state machine (see conn.h).
 *
 * One struct per client connection with two halves: the client socket and
 * its request parser, the upstream TLS connection and its response parser.
 * Worker thread only.  Owns: both bufferevents, both parsers, a timer, the
 * buffered request body, the serialized upstream request (kept for one
 * retry on a stale pooled connection) and the response meter.
 *
 *   IDLE -> HEAD -> BODY -> CONNECT -> WAIT -> STREAM -> IDLE (keep-alive)
 *                              \________/ (pooled: straight to WAIT)
 *   any -> CLOSING (flush the last response, then close)
 *
 * Parser callbacks only record facts; decisions are taken after the parser
 * returns (STYLE.md §8).  A connection is freed in conn_close only.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "certs/certs.h"
#include "meter/endpoint.h"
#include "meter/request.h"
#include "meter/response.h"
#include "meter/upload.h"
#include "proxy/account.h"
#include "proxy/conn.h"
#include "proxy/headers.h"
#include "proxy/http.h"
#include "proxy/log.h"
#include "proxy/reply.h"
#include "proxy/throttle.h"
#include "proxy/tunnel.h"
#include "proxy/workspace.h"

enum conn_state {
	CS_IDLE,
	CS_HEAD,
	CS_BODY,
	CS_CONNECT,
	CS_WAIT,
	CS_STREAM,
	CS_CLOSING
};

static const char *const state_names[] = {"idle", "head",   "body",   "connect",
                                          "wait", "stream", "closing"};

/* A refusal decided inside a parser callback, sent after it returns. */
struct conn_refusal {
	int status;
	char msg[256];
};

struct proxy_conn {
	TAILQ_ENTRY(proxy_conn) entry;
	uint64_t id;
	struct proxy_worker *w;
	struct proxy *px;
	struct config *cfg; /* held: the snapshot it started with */
	char peer[64];
	enum conn_state state;
	struct event *timer;

	/* owned: the two halves */
	struct bufferevent *client;
	struct proxy_http *req_parser;
	struct bufferevent *upstream;
	struct proxy_http *resp_parser;
	int upstream_reused; /* this request went on a pooled conn */
	int upstream_paused; /* backpressure: upstream reading off */
	int upstream_eof;    /* EOF came while bytes waited unread */
	int lingering;       /* last response sent, write side shut */
	int intercepted;     /* inside a CONNECT tunnel, TLS terminated */
	char proxy_user[CONFIG_NAME_MAX]; /* Proxy-Authorization user */
	uint32_t path_off, path_len;      /* origin-form path in the head */
	uint64_t body_held;               /* bytes counted in px->body_bytes */

	/* per request */
	struct evbuffer *body;  /* request body as received */
	struct evbuffer *upreq; /* what is sent upstream */
	struct meter_request mreq;
	struct meter_upload *upload; /* multipart body read as it arrives */
	int multipart;               /* Content-Type: multipart/form-data */
	struct meter_response *mr;
	struct workspace_result wsr;
	struct proxy_limit_grant grant; /* the limiter's reservation */
	const char *limit_hit;          /* refused by this limit (static) */
	struct conn_refusal refusal;
	char method[24];
	char target[512];
	int64_t start_ms;
	int reserved;  /* holds a store slot */
	int keepalive; /* the client allows another request */
	int head_req;  /* method HEAD: no response body */
	int websocket; /* GET with Upgrade: websocket */
	int upgraded;  /* the upstream answered it with 101 */
	int strip;     /* usage injected: strip it again */
	int retried;
	int sent;          /* request written upstream */
	int64_t sent_ms;   /* when it was */
	int answered;      /* response head received */
	int informational; /* the response being read is a 1xx */
	int resp_complete;
	int resp_status;
	int out_chunked;         /* we chunk the body for the client */
	int out_close;           /* the body ends when we close */
	uint64_t upstream_bytes; /* response bytes read this request */
	char upstream_request_id[96];

	/* counters for the close line */
	uint64_t nrequests;
	uint64_t bytes_in;
	uint64_t bytes_out;
};

static void conn_close(struct proxy_conn *c, const char *reason);
static void conn_parse_requests(struct proxy_conn *c);
static void conn_upstream_read(struct bufferevent *bev, void *arg);
static void conn_upstream_start(struct proxy_conn *c);
static void conn_linger(struct proxy_conn *c);
static void conn_connect(struct proxy_conn *c);
static void conn_client_read(struct bufferevent *bev, void *arg);
static void conn_client_write(struct bufferevent *bev, void *arg);
static void conn_client_event(struct bufferevent *bev, short what, void *arg);
static void conn_on_client_sent(struct evbuffer *buf,
                                const struct evbuffer_cb_info *info, void *arg);

/* --- small helpers ------------------------------------------------------ */

/* Legal transitions (STYLE.md §9); closing a connection is not one. */
#define S(x) (1u << (x))
static const unsigned state_next[] = {
    [CS_IDLE] = S(CS_HEAD) | S(CS_CLOSING),
    [CS_HEAD] = S(CS_BODY) | S(CS_IDLE) | S(CS_CLOSING),
    [CS_BODY] = S(CS_CONNECT) | S(CS_IDLE) | S(CS_CLOSING),
    [CS_CONNECT] = S(CS_CONNECT) | S(CS_WAIT) | S(CS_IDLE) | S(CS_CLOSING),
    [CS_WAIT] = S(CS_CONNECT) | S(CS_STREAM) | S(CS_IDLE) | S(CS_CLOSING),
    [CS_STREAM] = S(CS_IDLE) | S(CS_CLOSING),
    [CS_CLOSING] = 0,
};
#undef S

static void
conn_set_state(struct proxy_conn *c, enum conn_state s)
{
	if (!(state_next[c->state] & (1u << s)))
		log_err("conn %" PRIu64 ": illegal state change %s -> %s",
		        c->id, state_names[c->state], state_names[s]);
	log_debug("conn %" PRIu64 ": %s -> %s", c->id, state_names[c->state],
	          state_names[s]);
	c->state = s;
}

static void
conn_arm(struct proxy_conn *c, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(c->timer, &tv);
}

static void
conn_disarm(struct proxy_conn *c)
{
	evtimer_del(c->timer);
}

static struct evbuffer *
client_out(struct proxy_conn *c)
{
	return bufferevent_get_output(c->client);
}

static void
set_nodelay(struct bufferevent *bev)
{
	int one = 1;
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
conn_upstream_drop(struct proxy_conn *c)
{
	proxy_upstream_close(c->upstream);
	c->upstream = NULL;
	c->upstream_paused = c->upstream_eof = 0;
}

/* Gives back the request bytes counted against max_buffered_bodies. */
static void
conn_release_body(struct proxy_conn *c)
{
	if (c->body_held > 0)
		atomic_fetch_sub(&c->px->body_bytes, c->body_held);
	c->body_held = 0;
}

/* A reservation still held when its request is dropped unaccounted (no
 * path should leave one): settled at its estimate, never as free. */
static void
conn_settle_estimate(struct proxy_conn *c)
{
	if (c->grant.e == NULL)
		return;
	log_warn("conn %" PRIu64 ": a limiter reservation was left "
	         "unsettled; settling it at its estimate",
	         c->id);
	proxy_limiter_settle(c->px->limiter, &c->grant, c->grant.t.tokens,
	                     c->grant.t.nanousd, proxy_now_ms());
}

/* Frees what one request owned and readies for the next. */
static void
conn_request_reset(struct proxy_conn *c)
{
	conn_settle_estimate(c);
	if (c->reserved)
		store_release(c->px->store);
	conn_release_body(c);
	meter_response_free(c->mr);
	c->mr = NULL;
	meter_upload_free(c->upload);
	c->upload = NULL;
	c->multipart = 0;
	evbuffer_drain(c->body, evbuffer_get_length(c->body));
	evbuffer_drain(c->upreq, evbuffer_get_length(c->upreq));
	memset(&c->mreq, 0, sizeof(c->mreq));
	memset(&c->refusal, 0, sizeof(c->refusal));
	c->reserved = c->strip = c->retried = c->sent = c->answered = 0;
	c->informational = c->resp_complete = c->resp_status = 0;
	c->out_chunked = c->out_close = c->upstream_reused = 0;
	c->upstream_bytes = 0;
	c->upstream_request_id[0] = '\0';
	c->method[0] = c->target[0] = '\0';
	c->head_req = c->keepalive = 0;
	c->websocket = c->upgraded = 0;
	c->start_ms = c->sent_ms = 0;
	c->limit_hit = NULL;
	memset(&c->wsr, 0, sizeof(c->wsr));
}

/* --- accounting ----------------------------------------------------------- */

static void
conn_account(struct proxy_conn *c, int status, const char *error, int complete)
{
	struct account_req r;

	if (c->mr != NULL)
		meter_response_end(c->mr, complete);
	memset(&r, 0, sizeof(r));
	r.conn_id = c->id;
	r.workspace = c->wsr.name[0] ? c->wsr.name : "default";
	r.method = c->method[0] ? c->method : "-";
	r.target = c->target[0] ? c->target : "-";
	r.mreq = &c->mreq;
	r.usage = c->mr != NULL ? meter_response_usage(c->mr) : NULL;
	r.meter_problem = c->mr != NULL ? meter_response_problem(c->mr) : NULL;
	r.status = status;
	r.sent = c->sent;
	r.answered = c->answered;
	r.start_ms = c->start_ms ? c->start_ms : proxy_now_ms();
	r.end_ms = proxy_now_ms();
	r.upstream_request_id = c->upstream_request_id;
	r.error = error;
	r.limit_hit = c->limit_hit;
	r.grant = &c->grant;
	r.reserved = c->reserved;
	proxy_account_finish(c->px, &r);
	c->reserved = 0;
	c->nrequests++;
}

/* --- finishing a request ------------------------------------------------- */

/* After a response: next request, or close. */
static void
conn_next(struct proxy_conn *c, int must_close)
{
	int keep = c->keepalive; /* the reset clears it */

	conn_request_reset(c);
	if (must_close || !keep || c->w->draining) {
		conn_set_state(c, CS_CLOSING);
		bufferevent_disable(c->client, EV_READ);
		bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
		conn_arm(c, CONN_CLOSING_MS);
		if (evbuffer_get_length(client_out(c)) == 0)
			conn_linger(c);
		return;
	}
	conn_set_state(c, CS_IDLE);
	conn_arm(c, c->cfg->timeouts.client_idle_ms);
	proxy_http_resume(c->req_parser);
	bufferevent_enable(c->client, EV_READ);
	/* Pipelined requests already read: parse them from the loop, not
	 * from here, so a long pipeline never recurses. */
	if (evbuffer_get_length(bufferevent_get_input(c->client)) > 0)
		bufferevent_trigger(c->client, EV_READ,
		                    BEV_TRIG_IGNORE_WATERMARKS |
		                        BEV_TRIG_DEFER_CALLBACKS);
}

/*
 * Answers the current request locally (OpenAI error shape), records it,
 * and moves on.  The connection closes when the request was not fully
 * read or close is asked for.
 */
static void conn_reply(struct proxy_conn *c, const struct proxy_reply *rp,
                       const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
conn_reply(struct proxy_conn *c, const struct proxy_reply *rp,
           const char *error, const char *fmt, ...)
{
	struct proxy_reply r = *rp;
	int complete = !proxy_http_in_message(c->req_parser) &&
	               c->state != CS_HEAD && c->state != CS_BODY;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_disarm(c);
	if (c->upstream != NULL)
		conn_upstream_drop(c);
	r.close = r.close || !complete || !c->keepalive || c->w->draining;
	r.head_only = c->head_req;
	proxy_reply_error(client_out(c), &r, "%s", msg);
	conn_account(c, r.status, error ? error : msg, 0);
	bufferevent_enable(c->client, EV_WRITE);
	conn_next(c, r.close);
}

static void
conn_reply_simple(struct proxy_conn *c, int status, const char *type,
                  const char *code, const char *msg)
{
	struct proxy_reply r = {status, type, code, NULL, NULL, 0, 0};

	conn_reply(c, &r, NULL, "%s", msg);
}

/* The upstream's response is complete. */
static void
conn_response_done(struct proxy_conn *c)
{
	const struct proxy_http_head *h = proxy_http_head(c->resp_parser);
	int upstream_keep = h->keep_alive && !c->upstream_paused;
	int must_close = c->out_close;

	/* The meter may still hold the tail of a rewritten stream: it goes
	 * out before the chunked terminator, never after it. */
	if (c->mr != NULL)
		meter_response_end(c->mr, 1);
	if (c->out_chunked)
		evbuffer_add(client_out(c), "0\r\n\r\n", 5);
	conn_disarm(c);
	conn_account(c, c->resp_status, NULL, 1);
	if (upstream_keep) {
		bufferevent_set_timeouts(c->upstream, NULL, NULL);
		proxy_upstream_put(c->w->up, c->upstream);
		c->upstream = NULL;
	} else {
		conn_upstream_drop(c);
	}
	conn_next(c, must_close);
}

/* The response was cut off after its head went out: the client learns
 * by the connection closing without the body's end. */
static void
conn_response_abort(struct proxy_conn *c, const char *why)
{
	conn_account(c, c->resp_status, why, 0);
	conn_upstream_drop(c);
	conn_close(c, why);
}

/* --- the client half ------------------------------------------------------ */

/* The endpoint a request head names, origin or absolute form (the
 * absolute form is checked later, in conn_origin_path). */
static enum meter_endpoint
head_endpoint(const struct proxy_http_head *h)
{
	const char *t = h->buf + h->target_off, *p;
	size_t n = h->target_len;

	if (n > 8 && (strncasecmp(t, "http://", 7) == 0 ||
	              strncasecmp(t, "https://", 8) == 0)) {
		p = memchr(t + 7, '/', n - 7);
		if (p == NULL)
			return METER_EP_OTHER;
		n -= (size_t)(p - t);
		t = p;
	}
	return meter_endpoint_classify(h->method, t, n);
}

/*
 * Multipart uploads (transcriptions, translations, image edits and
 * variations) are read for metering as their bytes arrive, so the audio's
 * length is known without parsing the buffered body again.
 */
static void
conn_upload_start(struct proxy_conn *c, const struct proxy_http_head *h)
{
	enum meter_endpoint ep = head_endpoint(h);
	char ct[256];
	const char *v = proxy_http_get_str(h, "content-type", ct, sizeof(ct));
	const char *err = NULL;

	c->multipart = v != NULL && strncasecmp(v, "multipart/", 10) == 0;
	if (!c->multipart || !meter_upload_wanted(ep))
		return;
	if ((c->upload = meter_upload_new(ep, v, &err)) == NULL)
		log_info("conn %" PRIu64 ": multipart body not metered: %s",
		         c->id, err);
}

static int
req_on_head(void *arg, struct proxy_http_head *h)
{
	struct proxy_conn *c = arg;
	struct conn_refusal *rf = &c->refusal;
	size_t n = h->target_len < sizeof(c->target) - 1
	               ? h->target_len
	               : sizeof(c->target) - 1;

	c->start_ms = proxy_now_ms();
	snprintf(c->method, sizeof(c->method), "%s", h->method);
	memcpy(c->target, h->buf + h->target_off, n);
	c->target[n] = '\0';
	c->keepalive = h->keep_alive;
	c->head_req = strcmp(h->method, "HEAD") == 0;
	if (h->upgrade && strcmp(h->method, "CONNECT") != 0) {
		/* WebSocket (Realtime, Responses over WebSocket) is tunnelled
		 * after the 101; other upgrades (h2c) are not spoken. */
		if (strcmp(h->method, "GET") != 0 ||
		    !proxy_http_has_token(h, "upgrade", "websocket")) {
			rf->status = 501;
			snprintf(rf->msg, sizeof(rf->msg),
			         "tollgate proxies WebSocket upgrades only "
			         "(GET with Upgrade: websocket)");
			return -1;
		}
		c->websocket = 1;
	}
	if (h->has_length && h->content_length > c->cfg->max_request_body) {
		rf->status = 413;
		snprintf(
		    rf->msg, sizeof(rf->msg),
		    "request body of %" PRIu64
		    " bytes is over tollgate's max_request_body of %" PRIu64
		    " bytes",
		    h->content_length, c->cfg->max_request_body);
		return -1;
	}
	if ((h->has_length && h->content_length > 0) || h->chunked) {
		/* RFC 9110 §10.1.1: we read the whole body before anything
		 * goes upstream, so we answer the expectation ourselves. */
		if (h->minor >= 1 &&
		    proxy_http_has_token(h, "expect", "100-continue"))
			evbuffer_add_printf(client_out(c),
			                    "HTTP/1.1 100 Continue\r\n\r\n");
	}
	conn_upload_start(c, h);
	conn_set_state(c, CS_BODY);
	conn_arm(c, c->cfg->timeouts.client_body_ms);
	return 0;
}

static int
req_on_body(void *arg, const char *p, size_t n)
{
	struct proxy_conn *c = arg;

	if (evbuffer_get_length(c->body) + n > c->cfg->max_request_body) {
		c->refusal.status = 413;
		snprintf(c->refusal.msg, sizeof(c->refusal.msg),
		         "request body "
		         "is over tollgate's max_request_body of %" PRIu64
		         " bytes",
		         c->cfg->max_request_body);
		return -1;
	}
	/* All connections together hold at most max_buffered_bodies of
	 * request bodies: past it, this request is refused (503, retry)
	 * instead of growing memory without bound. */
	if (atomic_fetch_add(&c->px->body_bytes, n) + n >
	    c->cfg->max_buffered_bodies) {
		atomic_fetch_sub(&c->px->body_bytes, n);
		c->refusal.status = 503;
		snprintf(c->refusal.msg, sizeof(c->refusal.msg),
		         "tollgate holds its limit of request bodies "
		         "(max_buffered_bodies); retry in a second");
		return -1;
	}
	c->body_held += n;
	evbuffer_add(c->body, p, n);
	if (c->upload != NULL)
		meter_upload_feed(c->upload, p, n);
	conn_arm(c, c->cfg->timeouts.client_body_ms);
	return 0;
}

static void
req_on_complete(void *arg)
{
	(void)arg; /* the parser pauses; conn_parse_requests goes on */
}

static const struct proxy_http_callbacks req_callbacks = {
    req_on_head, req_on_body, req_on_complete};

/* --- CONNECT (forward-proxy mode) ---------------------------------------- */

/* "host:port" or "[v6]:port" into host and port; -1 when malformed. */
static int
conn_authority(const struct proxy_http_head *h, char *host, size_t cap,
               int *port)
{
	char buf[CERTS_HOST_MAX + 16];

	if (h->target_len == 0 || h->target_len >= sizeof(buf))
		return -1;
	memcpy(buf, h->buf + h->target_off, h->target_len);
	buf[h->target_len] = '\0';
	if (config_split_hostport(buf, host, cap, port) == -1 || *port == 0)
		return -1;
	return 0;
}

static int
host_listed(char *const *list, size_t n, const char *host)
{
	size_t i, hl = strlen(host);

	for (i = 0; i < n; i++) {
		const char *pat = list[i];
		size_t pl = strlen(pat);

		if (strcmp(pat, "*") == 0 || strcasecmp(pat, host) == 0)
			return 1;
		/* "*.example.com" matches any name below example.com */
		if (pl > 2 && pat[0] == '*' && pat[1] == '.' && hl > pl - 1 &&
		    strcasecmp(host + hl - (pl - 1), pat + 1) == 0)
			return 1;
	}
	return 0;
}

/* The user name of Proxy-Authorization: Basic, into c->proxy_user. */
static int
conn_proxy_user(struct proxy_conn *c, const struct proxy_http_head *h)
{
	unsigned char dec[256];
	char b64[344];
	size_t n;
	const char *v = proxy_http_get(h, "proxy-authorization", &n);
	int len;
	char *colon;

	c->proxy_user[0] = '\0';
	if (v == NULL)
		return 0;
	if (n < 7 || strncasecmp(v, "Basic ", 6) != 0 || n - 6 >= sizeof(b64))
		return -1;
	memcpy(b64, v + 6, n - 6);
	b64[n - 6] = '\0';
	len = EVP_DecodeBlock(dec, (unsigned char *)b64, (int)(n - 6));
	if (len <= 0)
		return -1;
	dec[len < (int)sizeof(dec) ? len : (int)sizeof(dec) - 1] = '\0';
	if ((colon = strchr((char *)dec, ':')) != NULL)
		*colon = '\0';
	if (!config_valid_workspace_name((char *)dec, strlen((char *)dec)))
		return -1;
	snprintf(c->proxy_user, sizeof(c->proxy_user), "%s", (char *)dec);
	return 0;
}

/* 407 for proxy traffic without the credentials require_proxy_auth asks
 * for; close when the client's next bytes cannot be HTTP (CONNECT). */
static void
conn_proxy_auth_required(struct proxy_conn *c, int close)
{
	struct proxy_reply r = {
	    407,
	    "invalid_request_error",
	    "proxy_auth_required",
	    NULL,
	    "Proxy-Authenticate: Basic realm=\"tollgate\"\r\n",
	    close,
	    0};

	conn_reply(c, &r, NULL,
	           "tollgate needs Proxy-Authorization: Basic with the "
	           "workspace as the user name");
}

static void
conn_refuse_connect(struct proxy_conn *c, int status, const char *code,
                    const char *headers, const char *msg)
{
	/* Whatever the client sent after CONNECT is not HTTP: close. */
	struct proxy_reply r = {
	    status, "invalid_request_error", code, NULL, headers, 1, 0};

	conn_reply(c, &r, NULL, "%s", msg);
}

/* Terminates TLS for host with a minted leaf; the requests inside go
 * through the same metering as base-URL requests. */
static void
conn_intercept(struct proxy_conn *c, const char *host)
{
	char err[256];
	SSL_CTX *ctx = c->w->certs != NULL
	                   ? certs_cache_get(c->w->certs, host, time(NULL), err,
	                                     sizeof(err))
	                   : NULL;
	struct bufferevent *under = c->client, *tls;
	SSL *ssl;

	if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL) {
		conn_refuse_connect(c, 502, "intercept_failed", NULL,
		                    "tollgate cannot intercept this host");
		return;
	}
	evbuffer_add_printf(client_out(c),
	                    "HTTP/1.1 200 Connection established\r\n\r\n");
	/* The filter owns ssl and the plain bufferevent from here on, even
	 * when it fails (STYLE.md §11). */
	tls = bufferevent_openssl_filter_new(
	    c->w->base, under, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tls == NULL) {
		conn_close(c, "cannot start TLS");
		return;
	}
	c->client = tls;
	c->intercepted = 1;
	log_info("conn %" PRIu64 ": CONNECT %s intercepted", c->id, host);
	evbuffer_add_cb(client_out(c), conn_on_client_sent, c);
	bufferevent_setcb(tls, conn_client_read, conn_client_write,
	                  conn_client_event, c);
	bufferevent_setwatermark(tls, EV_READ, 0, CONN_PIPELINE_MAX);
	bufferevent_setwatermark(tls, EV_WRITE, CONN_OUT_LOW, 0);
	conn_request_reset(c);
	proxy_http_reset(c->req_parser);
	conn_set_state(c, CS_IDLE);
	conn_arm(c, c->cfg->timeouts.client_idle_ms);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	/* A ClientHello sent right behind the CONNECT is already read. */
	if (evbuffer_get_length(bufferevent_get_input(under)) > 0)
		bufferevent_trigger(under, EV_READ,
		                    BEV_TRIG_IGNORE_WATERMARKS |
		                        BEV_TRIG_DEFER_CALLBACKS);
}

/* Hands the client socket to a byte-for-byte tunnel (never decrypted). */
static void
conn_tunnel(struct proxy_conn *c, const char *host, int port)
{
	struct bufferevent *client = c->client;

	evbuffer_remove_cb(client_out(c), conn_on_client_sent, c);
	bufferevent_setcb(client, NULL, NULL, NULL, NULL);
	c->client = NULL;
	proxy_tunnel_start(c->w, c->id, client, host, port,
	                   c->cfg->timeouts.upstream_connect_ms);
	conn_close(c, "handed to a tunnel");
}

static void
conn_connect(struct proxy_conn *c)
{
	const struct proxy_http_head *h = proxy_http_head(c->req_parser);
	const struct config *cfg = c->cfg;
	char host[CERTS_HOST_MAX + 1], msg[400];
	int port = 0;

	if (c->intercepted || conn_authority(h, host, sizeof(host), &port)) {
		conn_refuse_connect(c, 400, "bad_connect", NULL,
		                    "CONNECT takes host:port");
		return;
	}
	if (conn_proxy_user(c, h) == -1 ||
	    (cfg->require_proxy_auth && c->proxy_user[0] == '\0')) {
		conn_proxy_auth_required(c, 1);
		return;
	}
	if (port == cfg->listen_port && (config_host_is_loopback(host) ||
	                                 strcmp(host, cfg->listen_host) == 0)) {
		conn_refuse_connect(c, 403, "connect_loop", NULL,
		                    "CONNECT to tollgate itself would loop");
		return;
	}
	if (host_listed(cfg->intercept_hosts, cfg->n_intercept, host)) {
		conn_intercept(c, host);
		return;
	}
	if (host_listed(cfg->tunnel_hosts, cfg->n_tunnel, host)) {
		conn_tunnel(c, host, port);
		return;
	}
	snprintf(msg, sizeof(msg),
	         "CONNECT to %s is refused: it is in neither intercept_hosts "
	         "nor tunnel_hosts",
	         host);
	conn_refuse_connect(c, 403, "host_not_allowed", NULL, msg);
}

/*
 * The origin-form path of the request (RFC 9112 §3.2).  An absolute-form
 * target ("http://api.openai.com/v1/...", what HTTP_PROXY clients send) is
 * reduced to its path when its host is intercepted, and refused otherwise:
 * tollgate forwards plain HTTP only to its upstream.  -1 when refused.
 */
static int
conn_origin_path(struct proxy_conn *c, const struct proxy_http_head *h)
{
	const char *t = h->buf + h->target_off, *auth, *slash;
	size_t n = h->target_len, skip;
	char host[CERTS_HOST_MAX + 1], msg[400];
	int port;

	c->path_off = h->target_off;
	c->path_len = h->target_len;
	if (n >= 7 && strncasecmp(t, "http://", 7) == 0)
		skip = 7;
	else if (n >= 8 && strncasecmp(t, "https://", 8) == 0)
		skip = 8;
	else {
		/* Inside a CONNECT tunnel the proxy user stays the tunnel's;
		 * on a plain connection it belongs to one request only. */
		if (!c->intercepted)
			c->proxy_user[0] = '\0';
		return 0;
	}
	auth = t + skip;
	slash = memchr(auth, '/', n - skip);
	if (slash == NULL || (size_t)(slash - auth) >= sizeof(host)) {
		conn_reply_simple(c, 400, "invalid_request_error", "bad_target",
		                  "absolute-form target without "
		                  "a path");
		return -1;
	}
	memcpy(host, auth, (size_t)(slash - auth));
	host[slash - auth] = '\0';
	if (strchr(host, ':') != NULL && host[0] != '[') {
		char tmp[sizeof(host)];

		memcpy(tmp, host, sizeof(tmp));
		if (config_split_hostport(tmp, host, sizeof(host), &port) == -1)
			host[0] = '\0';
	}
	/* Proxy traffic like CONNECT: the same credentials rule. */
	if (conn_proxy_user(c, h) == -1 ||
	    (c->cfg->require_proxy_auth && c->proxy_user[0] == '\0')) {
		conn_proxy_auth_required(c, 0);
		return -1;
	}
	if (!host_listed(c->cfg->intercept_hosts, c->cfg->n_intercept, host)) {
		snprintf(msg, sizeof(msg),
		         "tollgate forwards absolute-form requests only for "
		         "intercept_hosts, not for \"%s\"",
		         host);
		conn_reply_simple(c, 403, "invalid_request_error",
		                  "host_not_allowed", msg);
		return -1;
	}
	c->path_off = (uint32_t)(slash - h->buf);
	c->path_len = (uint32_t)(n - (size_t)(slash - t));
	return 0;
}

/* The limiter reserves the request's estimate, or it is refused with
 * the 429 DESIGN.md describes (and never reaches the upstream). */
static int
conn_admit(struct proxy_conn *c)
{
	struct meter_limit_ask ask;
	struct proxy_limit_refusal rf;
	struct proxy_throttle th;
	int64_t now = proxy_now_ms();

	meter_limit_ask_for(c->px->prices, &c->mreq,
	                    c->cfg->default_output_tokens,
	                    c->cfg->unpriced_reserve_model, &ask);
	if (proxy_limiter_admit(c->px->limiter,
	                        c->wsr.name[0] ? c->wsr.name : "default", &ask,
	                        now, &c->grant, &rf) == 0)
		return 0;
	proxy_throttle_build(&rf, &ask, now, &th);
	METRIC_ADD(&c->px->metrics, throttled[rf.v.hit], 1);
	c->limit_hit = th.limit_hit;
	conn_reply(c, &th.reply, NULL, "%s", th.message);
	return -1;
}

/* What the multipart form said goes into the request's metering state;
 * a form tollgate cannot read is forwarded all the same (the upstream
 * judges it) and metered from its answer. */
static void
conn_upload_finish(struct proxy_conn *c)
{
	const char *err = NULL;
	enum meter_endpoint ep = c->mreq.endpoint;

	memset(&c->mreq, 0, sizeof(c->mreq));
	c->mreq.endpoint = ep;
	c->mreq.include_usage = -1;
	if (meter_upload_finish(c->upload, &c->mreq, &err) == -1)
		log_info("conn %" PRIu64 ": multipart body not understood "
		         "(%s): metered from the answer alone",
		         c->id, err ? err : "?");
	meter_upload_free(c->upload);
	c->upload = NULL;
}

/* Checks and forwards a fully read request. */
static void
conn_request_ready(struct proxy_conn *c)
{
	const struct proxy_http_head *h = proxy_http_head(c->req_parser);
	enum workspace_rc wr;
	const char *errstr = NULL;
	uint64_t erroff = 0;
	size_t blen = evbuffer_get_length(c->body);

	conn_disarm(c);
	conn_set_state(c, CS_CONNECT);
	if (strcmp(c->method, "CONNECT") == 0) {
		conn_connect(c);
		return;
	}
	if (conn_origin_path(c, h) == -1)
		return; /* refused */
	wr = proxy_workspace_resolve(c->cfg, c->proxy_user, h, &c->wsr);
	c->mreq.endpoint = meter_endpoint_classify(
	    c->method, h->buf + c->path_off, c->path_len);
	if (meter_endpoint_canonical(h->buf + c->path_off, c->path_len) == -1) {
		conn_reply_simple(c, 400, "invalid_request_error",
		                  "non_canonical_target",
		                  "tollgate takes request targets without "
		                  "'//', '.' or '..' segments or %-escapes in "
		                  "the path");
		return;
	}
	if (wr == WORKSPACE_BAD_NAME) {
		snprintf(c->wsr.name, sizeof(c->wsr.name), "default");
		conn_reply_simple(c, 400, "invalid_request_error",
		                  "invalid_workspace",
		                  "the workspace header must be 1-63 "
		                  "characters of A-Z a-z 0-9 - _ .");
		return;
	}
	if (wr == WORKSPACE_UNKNOWN) {
		conn_reply_simple(c, 403, "invalid_request_error",
		                  "unknown_workspace",
		                  "this workspace is not configured "
		                  "and require_known_workspace is on");
		return;
	}
	if (c->upload != NULL)
		conn_upload_finish(c);
	else if (blen > 0 && !c->multipart &&
	         meter_endpoint_inspected(c->mreq.endpoint) &&
	         meter_request_inspect(
	             c->mreq.endpoint,
	             (const char *)evbuffer_pullup(c->body, -1), blen, &c->mreq,
	             &errstr, &erroff) == -1) {
		struct proxy_reply r = {
		    400, "invalid_request_error", "invalid_json", NULL, NULL, 0,
		    0};

		conn_reply(c, &r, NULL,
		           "tollgate could not parse the JSON "
		           "body of your request: %s at byte %" PRIu64,
		           errstr, erroff);
		return;
	}
	if (c->cfg->unpriced_deny && meter_endpoint_metered(c->mreq.endpoint) &&
	    c->mreq.model[0] != '\0' &&
	    !proxy_account_priced(c->px, c->mreq.model)) {
		struct proxy_reply r = {400,
		                        "invalid_request_error",
		                        "model_not_priced",
		                        "model",
		                        NULL,
		                        0,
		                        0};

		conn_reply(c, &r, NULL,
		           "model \"%s\" has no price in "
		           "tollgate's table and unpriced_model is \"deny\"",
		           c->mreq.model);
		return;
	}
	if (store_reserve(c->px->store) == -1) {
		struct proxy_reply r = {
		    503,  "server_error",       "store_backlog",
		    NULL, "Retry-After: 1\r\n", 0,
		    0};

		METRIC_ADD(&c->px->metrics, store_refusals, 1);
		conn_reply(c, &r, "store queue full",
		           "tollgate's usage store "
		           "is behind; retry in a second");
		return;
	}
	c->reserved = 1;
	if (conn_admit(c) == 0)
		conn_upstream_start(c);
}

/* Sends the refusal a parser callback decided on. */
static void
conn_send_refusal(struct proxy_conn *c)
{
	struct conn_refusal *rf = &c->refusal;
	struct proxy_reply r = {
	    rf->status, "invalid_request_error", NULL, NULL, NULL, 1, 0};

	if (rf->status == 413)
		r.code = "request_too_large";
	else if (rf->status == 503) {
		r.type = "server_error";
		r.code = "memory_budget";
		r.headers = "Retry-After: 1\r\n";
	} else if (rf->status == 501)
		r.type = "server_error";
	conn_reply(c, &r, NULL, "%s", rf->msg);
}

static void
conn_parse_requests(struct proxy_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->client);

	while (c->state == CS_IDLE || c->state == CS_HEAD ||
	       c->state == CS_BODY) {
		struct evbuffer_iovec v;
		enum proxy_http_rc rc;
		size_t used = 0;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		if (c->state == CS_IDLE) {
			conn_set_state(c, CS_HEAD);
			conn_arm(c, c->cfg->timeouts.client_header_ms);
		}
		rc = proxy_http_feed(c->req_parser, v.iov_base, v.iov_len,
		                     &used);
		evbuffer_drain(in, used);
		c->bytes_in += used;
		METRIC_ADD(&c->px->metrics, bytes_from_clients, used);
		switch (rc) {
		case PROXY_HTTP_OK:
			continue;
		case PROXY_HTTP_PAUSED:
			conn_request_ready(c);
			return;
		case PROXY_HTTP_TOO_LARGE: {
			struct proxy_reply r = {431,
			                        "invalid_request_error",
			                        "headers_too_large",
			                        NULL,
			                        NULL,
			                        1,
			                        0};

			conn_reply(c, &r, NULL,
			           "request head is over %d bytes "
			           "or %d fields",
			           PROXY_HTTP_MAX_HEAD, PROXY_HTTP_MAX_HEADERS);
			return;
		}
		case PROXY_HTTP_STOPPED:
			conn_send_refusal(c);
			return;
		case PROXY_HTTP_ERROR: {
			struct proxy_reply r = {400,
			                        "invalid_request_error",
			                        "malformed_request",
			                        NULL,
			                        NULL,
			                        1,
			                        0};

			conn_reply(c, &r, NULL, "malformed HTTP request: %s",
			           proxy_http_error(c->req_parser));
			return;
		}
		}
	}
}

/*
 * The last response is flushed.  Closing now with unread client bytes in
 * the socket would send a reset that can destroy that response before the
 * client reads it, so shut our side, discard what still comes, and close
 * at the client's EOF or after CONN_LINGER_MS.
 */
static void
conn_linger(struct proxy_conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->client);

	if (c->lingering || fd < 0 || shutdown(fd, SHUT_WR) == -1) {
		conn_close(c, c->lingering ? "linger" : "done");
		return;
	}
	c->lingering = 1;
	bufferevent_setwatermark(c->client, EV_READ, 0, 0);
	bufferevent_enable(c->client, EV_READ);
	conn_arm(c, CONN_LINGER_MS);
}

static void
conn_client_read(struct bufferevent *bev, void *arg)
{
	struct proxy_conn *c = arg;

	if (c->state == CS_CLOSING) {
		struct evbuffer *in = bufferevent_get_input(bev);

		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	conn_parse_requests(c);
}

static void
conn_client_write(struct bufferevent *bev, void *arg)
{
	struct proxy_conn *c = arg;

	if (c->state == CS_CLOSING && evbuffer_get_length(client_out(c)) == 0) {
		conn_linger(c);
		return;
	}
	if (c->upstream_paused && c->upstream != NULL &&
	    evbuffer_get_length(client_out(c)) <= CONN_OUT_LOW) {
		c->upstream_paused = 0;
		bufferevent_enable(c->upstream, EV_READ);
		conn_upstream_read(c->upstream, c); /* what is buffered */
	}
}

static void
conn_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct proxy_conn *c = arg;
	const char *why = (what & BEV_EVENT_TIMEOUT) ? "client write timeout"
	                  : (what & BEV_EVENT_EOF)   ? "client closed"
	                                             : "client error";

	if (what & BEV_EVENT_CONNECTED)
		return; /* the intercepted client finished its TLS handshake */
	if (c->intercepted && (what & BEV_EVENT_ERROR)) {
		unsigned long e = bufferevent_get_openssl_error(bev);

		log_debug("conn %" PRIu64 ": TLS: %s", c->id,
		          e ? ERR_error_string(e, NULL) : "socket error");
	}
	if (c->state == CS_CLOSING && c->lingering) {
		conn_close(c, "done");
		return;
	}
	if (c->state == CS_CONNECT || c->state == CS_WAIT ||
	    c->state == CS_STREAM) {
		/* The client is gone mid-request: stop paying for it. */
		conn_account(c, c->answered ? c->resp_status : 499, why, 0);
		conn_upstream_drop(c);
	}
	conn_close(c, why);
}

/* --- the upstream half ---------------------------------------------------- */

static void
conn_build_request(struct proxy_conn *c)
{
	const struct proxy_http_head *h = proxy_http_head(c->req_parser);
	const struct config *cfg = c->cfg;
	const char *skip[] = {
	    "host", "expect", "accept-encoding", cfg->workspace_header,
	    NULL,   NULL};
	struct evbuffer *out = c->upreq;
	size_t blen = evbuffer_get_length(c->body);
	char *injected = NULL;
	size_t ilen = 0;

	if (c->wsr.upstream_key != NULL)
		skip[4] = "authorization";
	/* The whole target as parsed: c->target is a copy cut for logs. */
	evbuffer_add_printf(out, "%s %s", c->method, cfg->upstream_prefix);
	evbuffer_add(out, h->buf + c->path_off, c->path_len);
	evbuffer_add_printf(out, " HTTP/1.1\r\nHost: %s%s",
	                    strchr(cfg->upstream_host, ':') ? "[" : "",
	                    cfg->upstream_host);
	if (strchr(cfg->upstream_host, ':'))
		evbuffer_add(out, "]", 1);
	if (cfg->upstream_port != 443)
		evbuffer_add_printf(out, ":%d", cfg->upstream_port);
	evbuffer_add(out, "\r\n", 2);
	proxy_headers_copy(out, h, skip);
	if (skip[4] != NULL)
		evbuffer_add_printf(out, "Authorization: Bearer %s\r\n",
		                    c->wsr.upstream_key);
	evbuffer_add_printf(out, "Accept-Encoding: %s\r\n",
	                    proxy_headers_upstream_encoding(h, c->mreq.stream));
	if (c->websocket) /* hop-by-hop, so re-stated for this hop */
		evbuffer_add_printf(out, "Connection: Upgrade\r\n"
		                         "Upgrade: websocket\r\n");
	if (cfg->inject_stream_usage &&
	    meter_request_needs_usage_injection(&c->mreq) &&
	    meter_request_inject_usage(
	        &c->mreq, (const char *)evbuffer_pullup(c->body, -1), blen,
	        &injected, &ilen) == 0)
		c->strip = 1;
	if (injected != NULL) {
		evbuffer_add_printf(out, "Content-Length: %zu\r\n\r\n", ilen);
		evbuffer_add(out, injected, ilen);
		free(injected);
		evbuffer_drain(c->body, blen); /* only the copy is sent */
		return;
	}
	if (blen > 0 || strcmp(c->method, "POST") == 0 ||
	    strcmp(c->method, "PUT") == 0 || strcmp(c->method, "PATCH") == 0)
		evbuffer_add_printf(out, "Content-Length: %zu\r\n", blen);
	evbuffer_add(out, "\r\n", 2);
	/* Moved, not copied: upreq stays whole for a retry and is sent by
	 * reference (a reference to a reference is not allowed). */
	evbuffer_add_buffer(out, c->body);
}

static void
conn_upstream_send(struct proxy_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->upstream);

	proxy_http_reset(c->resp_parser);
	evbuffer_add_buffer_reference(out, c->upreq);
	c->sent = 1;
	c->sent_ms = proxy_now_ms();
	c->upstream_bytes = 0;
	conn_set_state(c, CS_WAIT);
	conn_arm(c, c->cfg->timeouts.upstream_response_ms);
	bufferevent_enable(c->upstream, EV_READ | EV_WRITE);
}

static void conn_upstream_event(struct bufferevent *bev, short what, void *arg);

static void
conn_upstream_attach(struct proxy_conn *c, struct bufferevent *bev)
{
	c->upstream = bev;
	bufferevent_setcb(bev, conn_upstream_read, NULL, conn_upstream_event,
	                  c);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
}

static void
conn_upstream_start(struct proxy_conn *c)
{
	struct bufferevent *bev;

	if (evbuffer_get_length(c->upreq) == 0)
		conn_build_request(c);
	if ((bev = proxy_upstream_take(c->w->up)) != NULL) {
		METRIC_ADD(&c->px->metrics, upstream_reuses, 1);
		c->upstream_reused = 1;
		conn_upstream_attach(c, bev);
		conn_upstream_send(c);
		return;
	}
	c->upstream_reused = 0;
	if ((bev = proxy_upstream_open(c->w->up)) == NULL) {
		METRIC_ADD(&c->px->metrics, upstream_errors, 1);
		conn_reply_simple(
		    c, 502, "server_error", "upstream_unreachable",
		    "tollgate could not start a connection to the upstream");
		return;
	}
	conn_set_state(c, CS_CONNECT);
	conn_upstream_attach(c, bev);
	conn_arm(c, c->cfg->timeouts.upstream_connect_ms);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* A pooled connection closed as we reused it: try once on a new one.
 * Only when not a byte came back, so the upstream never answered. */
static int
conn_retry_stale(struct proxy_conn *c)
{
	const struct proxy_http_head *h = proxy_http_head(c->req_parser);
	size_t n;
	int replayable = strcmp(c->method, "GET") == 0 ||
	                 strcmp(c->method, "HEAD") == 0 ||
	                 strcmp(c->method, "OPTIONS") == 0 ||
	                 proxy_http_get(h, "idempotency-key", &n) != NULL;

	if (!c->upstream_reused || c->retried || c->upstream_bytes > 0 ||
	    c->answered)
		return 0;
	/* A POST is sent again only when the close came so soon after it
	 * that the upstream was closing the idle connection, not working on
	 * the request (which OpenAI would bill twice). */
	if (!replayable && proxy_now_ms() - c->sent_ms > CONN_STALE_RETRY_MS)
		return 0;
	c->retried = 1;
	c->sent = 0;
	conn_upstream_drop(c);
	log_debug("conn %" PRIu64 ": pooled upstream connection was stale; "
	          "retrying on a new one",
	          c->id);
	conn_upstream_start(c);
	return 1;
}

static void
conn_upstream_failed(struct proxy_conn *c, short what)
{
	char why[256];
	int timeout = (what & BEV_EVENT_TIMEOUT) != 0;

	/* Backpressure may have left response bytes unread: the EOF is
	 * acted on once they are (conn_upstream_read). */
	if ((what & BEV_EVENT_EOF) && c->upstream_paused &&
	    evbuffer_get_length(bufferevent_get_input(c->upstream)) > 0) {
		c->upstream_eof = 1;
		return;
	}
	proxy_upstream_error(c->upstream, why, sizeof(why));
	if (timeout)
		snprintf(why, sizeof(why), "upstream silent for %d ms",
		         c->cfg->timeouts.upstream_response_ms);
	if ((what & BEV_EVENT_EOF) && c->answered &&
	    proxy_http_eof(c->resp_parser) == PROXY_HTTP_OK &&
	    c->resp_complete) {
		conn_response_done(c); /* a body delimited by close */
		return;
	}
	if (c->state != CS_CONNECT && conn_retry_stale(c))
		return;
	METRIC_ADD(&c->px->metrics, upstream_errors, 1);
	if (c->answered) {
		conn_response_abort(c, timeout ? why
		                               : "upstream reset the "
		                                 "connection mid-response");
		return;
	}
	if (c->state == CS_CONNECT) {
		struct proxy_reply r = {timeout ? 504 : 502,
		                        "server_error",
		                        "upstream_unreachable",
		                        NULL,
		                        NULL,
		                        0,
		                        0};

		conn_reply(c, &r, NULL,
		           "tollgate cannot reach the upstream "
		           "%s:%d: %s",
		           c->cfg->upstream_host, c->cfg->upstream_port, why);
		return;
	}
	{
		struct proxy_reply r = {timeout ? 504 : 502,
		                        "server_error",
		                        timeout ? "upstream_timeout"
		                                : "upstream_closed",
		                        NULL,
		                        NULL,
		                        0,
		                        0};

		conn_reply(c, &r, NULL, "the upstream %s before answering",
		           timeout ? "did not answer in time"
		                   : "closed the connection");
	}
}

static void
conn_upstream_event(struct bufferevent *bev, short what, void *arg)
{
	struct proxy_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		METRIC_ADD(&c->px->metrics, upstream_connects, 1);
		set_nodelay(bev);
		conn_upstream_send(c);
		return;
	}
	conn_upstream_failed(c, what);
}

/* --- the response -----------------------------------------------------------
 */

static void
conn_emit(void *arg, const char *buf, size_t len)
{
	struct proxy_conn *c = arg;
	struct evbuffer *out = client_out(c);

	if (len == 0)
		return;
	if (c->out_chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, buf, len);
	if (c->out_chunked)
		evbuffer_add(out, "\r\n", 2);
}

/* Bytes leave the client output buffer only when written to the socket:
 * counting drains counts what was sent, heads and local replies too. */
static void
conn_on_client_sent(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                    void *arg)
{
	struct proxy_conn *c = arg;

	if (info->n_deleted == 0)
		return;
	c->bytes_out += info->n_deleted;
	METRIC_ADD(&c->px->metrics, bytes_to_clients, info->n_deleted);
}

static int
status_has_body(int status)
{
	return !(status == 204 || status == 304 ||
	         (status >= 100 && status < 200));
}

/* Writes the response head for the client; decides the framing. */
static void
conn_client_head(struct proxy_conn *c, const struct proxy_http_head *h)
{
	const struct proxy_http_head *rq = proxy_http_head(c->req_parser);
	struct evbuffer *out = client_out(c);
	int http11 = rq->major == 1 && rq->minor >= 1;
	int body = status_has_body(h->status) && !c->head_req;
	int rewrites = c->mr != NULL && meter_response_rewrites(c->mr);
	size_t rn = h->target_len;
	struct meter_limit_view v;
	int own =
	    proxy_limiter_view(c->px->limiter, &c->grant, proxy_now_ms(), &v);

	evbuffer_add_printf(out, "HTTP/1.1 %d ", h->status);
	evbuffer_add(out, h->buf + h->target_off, rn);
	evbuffer_add(out, "\r\n", 2);
	/* The workspace's limits replace the organisation's, so clients
	 * that pace themselves by these headers pace to the workspace. */
	proxy_headers_copy(out, h,
	                   own ? proxy_throttle_upstream_headers : NULL);
	if (own)
		proxy_throttle_headers(out, &v);
	if (!body) {
		if (h->has_length) /* HEAD: the length a GET would have */
			evbuffer_add_printf(out,
			                    "Content-Length: %" PRIu64 "\r\n",
			                    h->content_length);
	} else if (h->has_length && !rewrites) {
		evbuffer_add_printf(out, "Content-Length: %" PRIu64 "\r\n",
		                    h->content_length);
	} else if (http11) {
		c->out_chunked = 1;
		evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
	} else {
		c->out_close = 1; /* HTTP/1.0: the end is the close */
	}
	if (c->out_close || !c->keepalive || c->w->draining)
		evbuffer_add(out, "Connection: close\r\n", 19);
	evbuffer_add(out, "\r\n", 2);
}

/* The upstream switched protocols: the 101 goes to the client, and the
 * connection becomes a byte tunnel once the parser returns. */
static void
resp_upgraded(struct proxy_conn *c, const struct proxy_http_head *h)
{
	struct evbuffer *out = client_out(c);

	c->answered = c->upgraded = 1;
	c->resp_status = 101;
	proxy_http_get_str(h, "x-request-id", c->upstream_request_id,
	                   sizeof(c->upstream_request_id));
	evbuffer_add_printf(out, "HTTP/1.1 101 ");
	evbuffer_add(out, h->buf + h->target_off, h->target_len);
	evbuffer_add(out, "\r\n", 2);
	proxy_headers_copy(out, h, NULL);
	evbuffer_add_printf(out, "Connection: Upgrade\r\n"
	                         "Upgrade: websocket\r\n\r\n");
}

static int
resp_on_head(void *arg, struct proxy_http_head *h)
{
	struct proxy_conn *c = arg;
	struct meter_response_opts o;
	char ct[128], ce[64];

	if (h->status == 101 && c->websocket) {
		resp_upgraded(c, h);
		return 1;
	}
	if (h->status >= 100 && h->status < 200) {
		c->informational = 1; /* 100/103: not forwarded */
		return 0;
	}
	c->answered = 1;
	c->resp_status = h->status;
	proxy_metrics_upstream_latency(&c->px->metrics,
	                               proxy_now_ms() - c->sent_ms);
	proxy_http_get_str(h, "x-request-id", c->upstream_request_id,
	                   sizeof(c->upstream_request_id));
	memset(&o, 0, sizeof(o));
	o.endpoint = c->mreq.endpoint;
	o.status = h->status;
	o.content_type = proxy_http_get_str(h, "content-type", ct, sizeof(ct));
	o.content_encoding =
	    proxy_http_get_str(h, "content-encoding", ce, sizeof(ce));
	o.strip_usage = c->strip;
	if ((c->mr = meter_response_new(&o, conn_emit, c)) == NULL)
		return -1;
	conn_client_head(c, h);
	return c->head_req ? 1 : 0;
}

static int
resp_on_body(void *arg, const char *p, size_t n)
{
	struct proxy_conn *c = arg;

	meter_response_body(c->mr, p, n);
	return 0;
}

static void
resp_on_complete(void *arg)
{
	struct proxy_conn *c = arg;

	if (!c->informational)
		c->resp_complete = 1;
}

static const struct proxy_http_callbacks resp_callbacks = {
    resp_on_head, resp_on_body, resp_on_complete};

/* After the head arrived: silence is measured between reads. */
static void
conn_streaming(struct proxy_conn *c)
{
	int ms = c->cfg->timeouts.upstream_response_ms;
	struct timeval rtv = {ms / 1000, (ms % 1000) * 1000};
	int cms = c->cfg->timeouts.client_idle_ms;
	struct timeval wtv = {cms / 1000, (cms % 1000) * 1000};

	conn_disarm(c);
	conn_set_state(c, CS_STREAM);
	bufferevent_set_timeouts(c->upstream, &rtv, NULL);
	bufferevent_set_timeouts(c->client, NULL, &wtv);
}

/*
 * After a 101: the request is recorded (sessions are tunnelled, not
 * metered: README "Known limitations") and both halves go to a byte
 * tunnel, with whatever either side already sent.
 */
static void
conn_upgrade(struct proxy_conn *c)
{
	struct bufferevent *client = c->client, *up = c->upstream;

	conn_disarm(c);
	conn_account(c, 101, "websocket session tunnelled, not metered", 1);
	evbuffer_remove_cb(client_out(c), conn_on_client_sent, c);
	bufferevent_setcb(client, NULL, NULL, NULL, NULL);
	bufferevent_setcb(up, NULL, NULL, NULL, NULL);
	c->client = NULL;
	c->upstream = NULL;
	proxy_tunnel_splice(c->w, c->id, client, up, "websocket");
	conn_close(c, "upgraded to a websocket tunnel");
}

static void
conn_upstream_read(struct bufferevent *bev, void *arg)
{
	struct proxy_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->state != CS_WAIT && c->state != CS_STREAM) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (!c->upstream_paused) {
		struct evbuffer_iovec v;
		enum proxy_http_rc rc;
		size_t used = 0;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
			if (c->upstream_eof)
				conn_upstream_failed(c, BEV_EVENT_EOF);
			return;
		}
		rc = proxy_http_feed(c->resp_parser, v.iov_base, v.iov_len,
		                     &used);
		evbuffer_drain(in, used);
		c->upstream_bytes += used;
		if (c->upgraded) {
			conn_upgrade(c);
			return;
		}
		if (c->answered && c->state == CS_WAIT)
			conn_streaming(c);
		if (rc == PROXY_HTTP_PAUSED && c->informational) {
			c->informational = 0;
			proxy_http_resume(c->resp_parser);
			continue;
		}
		if (rc == PROXY_HTTP_PAUSED) {
			conn_response_done(c);
			return;
		}
		if (rc != PROXY_HTTP_OK) {
			METRIC_ADD(&c->px->metrics, upstream_errors, 1);
			if (c->answered) {
				conn_response_abort(c, "malformed response "
				                       "from the upstream");
			} else {
				struct proxy_reply r = {502,
				                        "server_error",
				                        "bad_upstream_response",
				                        NULL,
				                        NULL,
				                        0,
				                        0};

				conn_reply(c, &r, NULL,
				           "the upstream sent a "
				           "malformed response: %s",
				           proxy_http_error(c->resp_parser));
			}
			return;
		}
		if (evbuffer_get_length(client_out(c)) > CONN_OUT_HIGH) {
			/* Backpressure: resume from conn_client_write. */
			c->upstream_paused = 1;
			bufferevent_disable(bev, EV_READ);
		}
	}
}

/* --- timers, life and death --------------------------------------------- */

static void
conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_conn *c = arg;
	struct proxy_reply r = {
	    408, "invalid_request_error", "request_timeout", NULL, NULL, 1, 0};

	switch (c->state) {
	case CS_IDLE:
		conn_close(c, "idle timeout");
		return;
	case CS_HEAD:
	case CS_BODY:
		conn_reply(c, &r, NULL,
		           "the request did not arrive in time "
		           "(%s)",
		           c->state == CS_HEAD ? "head" : "body");
		return;
	case CS_CONNECT:
	case CS_WAIT:
		METRIC_ADD(&c->px->metrics, upstream_errors, 1);
		r.status = 504;
		r.type = "server_error";
		r.code = "upstream_timeout";
		r.close = 0;
		conn_reply(c, &r, NULL, "the upstream did not %s within %d ms",
		           c->state == CS_CONNECT ? "accept a connection"
		                                  : "answer",
		           c->state == CS_CONNECT
		               ? c->cfg->timeouts.upstream_connect_ms
		               : c->cfg->timeouts.upstream_response_ms);
		return;
	case CS_CLOSING:
		conn_close(c, c->lingering ? "done" : "closing timeout");
		return;
	case CS_STREAM:
		return; /* bufferevent timeouts cover streaming */
	}
}

static void
conn_close(struct proxy_conn *c, const char *reason)
{
	log_info("conn %" PRIu64 ": close peer=%s state=%s reason=\"%s\" "
	         "requests=%" PRIu64 " in=%" PRIu64 " out=%" PRIu64,
	         c->id, c->peer, state_names[c->state], reason, c->nrequests,
	         c->bytes_in, c->bytes_out);
	conn_settle_estimate(c);
	if (c->reserved)
		store_release(c->px->store);
	conn_release_body(c);
	TAILQ_REMOVE(&c->w->conns, c, entry);
	/* NULL checks: a connection half built when memory ran out. */
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->client != NULL)
		bufferevent_free(c->client);
	proxy_upstream_close(c->upstream);
	proxy_http_free(c->req_parser);
	proxy_http_free(c->resp_parser);
	meter_response_free(c->mr);
	meter_upload_free(c->upload);
	if (c->body != NULL)
		evbuffer_free(c->body);
	if (c->upreq != NULL)
		evbuffer_free(c->upreq);
	METRIC_ADD(&c->px->metrics, connections_open, -1);
	proxy_worker_conn_closed(c->w);
	proxy_config_put(c->cfg);
	free(c);
}

static void
format_peer(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(out, len, "%s:%d", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(out, len, "[%s]:%d", host, port);
	} else {
		snprintf(out, len, "local");
	}
}

void
proxy_conn_accept(struct proxy_worker *w, evutil_socket_t fd,
                  const struct sockaddr *sa, int salen)
{
	struct proxy_conn *c = calloc(1, sizeof(*c));

	(void)salen;
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->w = w;
	c->px = w->px;
	c->cfg = proxy_config_get(w->px);
	c->id = atomic_fetch_add(&w->px->next_conn_id, 1) + 1;
	format_peer(sa, c->peer, sizeof(c->peer));
	c->client = bufferevent_socket_new(
	    w->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	c->req_parser = proxy_http_new(1, &req_callbacks, c);
	c->resp_parser = proxy_http_new(0, &resp_callbacks, c);
	c->timer = evtimer_new(w->base, conn_on_timer, c);
	c->body = evbuffer_new();
	c->upreq = evbuffer_new();
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	atomic_fetch_add(&w->nconns, 1);
	METRIC_ADD(&w->px->metrics, connections_total, 1);
	METRIC_ADD(&w->px->metrics, connections_open, 1);
	if (c->client == NULL || c->req_parser == NULL ||
	    c->resp_parser == NULL || c->timer == NULL || c->body == NULL ||
	    c->upreq == NULL) {
		if (c->client == NULL)
			evutil_closesocket(fd);
		conn_close(c, "out of memory");
		return;
	}
	set_nodelay(c->client);
	evbuffer_add_cb(client_out(c), conn_on_client_sent, c);
	bufferevent_setcb(c->client, conn_client_read, conn_client_write,
	                  conn_client_event, c);
	bufferevent_setwatermark(c->client, EV_READ, 0, CONN_PIPELINE_MAX);
	bufferevent_setwatermark(c->client, EV_WRITE, CONN_OUT_LOW, 0);
	bufferevent_enable(c->client, EV_READ | EV_WRITE);
	c->state = CS_IDLE;
	conn_arm(c, c->cfg->timeouts.client_idle_ms);
}

void
proxy_conn_drain_all(struct proxy_worker *w)
{
	struct proxy_conn *c, *next;

	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CS_IDLE)
			conn_close(c, "shutting down");
	}
}

void
proxy_conn_abort_all(struct proxy_worker *w)
{
	struct proxy_conn *c;

	while ((c = TAILQ_FIRST(&w->conns)) != NULL) {
		if (c->state == CS_CONNECT || c->state == CS_WAIT ||
		    c->state == CS_STREAM)
			conn_account(c, c->answered ? c->resp_status : 503,
			             "tollgate shut down mid-request", 0);
		conn_close(c, "shutdown deadline");
	}
}
