/*
 * proxy/fetch.c — blocking HTTP/1.1 client (see fetch.h).
 *
 * Runs on whichever side thread calls it (alerts, reconciler), never on a
 * proxy worker: DNS is getaddrinfo and the thread sleeps in poll(2) until
 * the deadline.  A call owns everything it uses — the URL parts, the
 * socket, the SSL_CTX and SSL, the response parser and the body buffer —
 * and frees all of it before it returns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "proxy/fetch.h"
#include "proxy/http.h"

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "dev"
#endif

#define FETCH_READ_CHUNK (16 * 1024) /* bytes read per call */
#define FETCH_BODY_START (16 * 1024) /* first body buffer, bytes */
#define FETCH_HOST_MAX 255           /* DNS name length limit + NUL */
#define FETCH_METHOD_MAX 16          /* method token length */

struct fetch_url {
	int https;
	char host[FETCH_HOST_MAX + 1]; /* IPv6 literals without brackets */
	char port[6];
	const char *authority; /* host[:port] as written, for Host */
	size_t authority_len;
	const char *path; /* "", "/..." or "?...", up to any fragment */
	size_t path_len;
};

struct fetch_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	int64_t deadline; /* CLOCK_MONOTONIC, ms */
	int timeout_ms;   /* for messages */
	const atomic_int *cancel;
	char *err;
	size_t errlen;
};

/* What the response parser's callbacks collected. */
struct fetch_rx {
	int status;
	char retry_after[32];
	char *body; /* cap > len, so there is room for the NUL */
	size_t len, cap;
	int head_only; /* the request was HEAD: no body follows */
	int done;      /* a final (non-1xx) response completed */
	int too_large;
	int oom;
};

static int64_t
fetch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- URL ------------------------------------------------------------- */

static int
fetch_parse_port(const char *p, const char *end, struct fetch_url *u)
{
	unsigned long v = 0;
	const char *s = p;

	if (p == end || end - p > 5)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	snprintf(u->port, sizeof(u->port), "%lu", v);
	return 0;
}

/* Splits the authority (no user info) into host and port. */
static int
fetch_parse_authority(const char *a, const char *end, struct fetch_url *u)
{
	const char *host = a, *host_end, *p;

	if (*a == '[') { /* RFC 3986 §3.2.2: IP-literal */
		host = a + 1;
		if ((host_end = memchr(host, ']', (size_t)(end - host))) ==
		    NULL)
			return -1;
		p = host_end + 1;
	} else {
		host_end = memchr(a, ':', (size_t)(end - a));
		if (host_end == NULL)
			host_end = end;
		p = host_end;
	}
	if (host_end == host || host_end - host > FETCH_HOST_MAX)
		return -1;
	memcpy(u->host, host, (size_t)(host_end - host));
	u->host[host_end - host] = '\0';
	if (p == end)
		snprintf(u->port, sizeof(u->port), "%s",
		         u->https ? "443" : "80");
	else if (*p != ':' || fetch_parse_port(p + 1, end, u) == -1)
		return -1;
	return 0;
}

static int
fetch_parse_url(const char *url, struct fetch_url *u, char *err, size_t errlen)
{
	const char *a, *end;
	size_t i, n = strnlen(url, PROXY_FETCH_MAX_URL + 1);

	memset(u, 0, sizeof(*u));
	if (n > PROXY_FETCH_MAX_URL) {
		snprintf(err, errlen, "URL over %d bytes", PROXY_FETCH_MAX_URL);
		return -1;
	}
	/* Anything at or below space would end the request line early
	 * (RFC 9112 §3) or smuggle in a header; anything past ASCII must be
	 * percent-encoded (RFC 3986 §2.1). */
	for (i = 0; i < n; i++) {
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f) {
			snprintf(err, errlen,
			         "URL holds a space, control or non-ASCII "
			         "character");
			return -1;
		}
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		u->https = 1;
		a = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		a = url + 7;
	} else {
		snprintf(err, errlen,
		         "URL must start with http:// or https://");
		return -1;
	}
	end = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(end - a)) != NULL) {
		snprintf(err, errlen, "user info in a URL is not supported");
		return -1;
	}
	if (fetch_parse_authority(a, end, u) == -1) {
		snprintf(err, errlen, "URL has a bad host or port");
		return -1;
	}
	u->authority = a;
	u->authority_len = (size_t)(end - a);
	u->path = end;
	u->path_len = strcspn(end, "#"); /* the fragment stays local */
	return 0;
}

/* --- request head ---------------------------------------------------- */

static int
fetch_check_method(const char *m, char *err, size_t errlen)
{
	size_t i, n = m != NULL ? strnlen(m, FETCH_METHOD_MAX + 1) : 0;

	for (i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			break;
	if (n == 0 || n > FETCH_METHOD_MAX || i < n) {
		snprintf(err, errlen, "bad request method");
		return -1;
	}
	return 0;
}

static int
fetch_print_head(char *buf, size_t cap, const struct proxy_fetch_req *rq,
                 const struct fetch_url *u, const char *length_line)
{
	/* origin-form target (RFC 9112 §3.2.1): "/" when the path is empty,
	 * even before a query. */
	const char *slash = u->path_len == 0 || u->path[0] == '?' ? "/" : "";

	return snprintf(buf, cap,
	                "%s %s%.*s HTTP/1.1\r\n"
	                "Host: %.*s\r\n"
	                "%s"
	                "Connection: close\r\n"
	                "User-Agent: tollgate/" TOLLGATE_VERSION "\r\n"
	                "%s\r\n",
	                rq->method, slash, (int)u->path_len, u->path,
	                (int)u->authority_len, u->authority, length_line,
	                rq->headers != NULL ? rq->headers : "");
}

/* The request head, malloc'd; NULL when out of memory. */
static char *
fetch_build_head(const struct proxy_fetch_req *rq, const struct fetch_url *u,
                 size_t *len)
{
	char length_line[48] = "", probe[1];
	char *head;
	int n;

	/* RFC 9110 §8.6: send a length whenever a body is meaningful, even
	 * an empty one, so a server never waits for a body. */
	if (rq->body != NULL || strcmp(rq->method, "POST") == 0 ||
	    strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "PATCH") == 0)
		snprintf(length_line, sizeof(length_line),
		         "Content-Length: %zu\r\n", rq->body_len);
	n = fetch_print_head(probe, sizeof(probe), rq, u, length_line);
	if (n < 0 || (head = malloc((size_t)n + 1)) == NULL)
		return NULL;
	fetch_print_head(head, (size_t)n + 1, rq, u, length_line);
	*len = (size_t)n;
	return head;
}

/* --- socket I/O under the deadline ------------------------------------- */

/* Waits until fd is ready for events; 0, or -1 with err (timed out,
 * cancelled, poll failed).  what says what we were doing. */
static int
fetch_wait(struct fetch_conn *c, short events, const char *what)
{
	struct pollfd pfd;
	int64_t left;
	int slice, n;

	for (;;) {
		if (c->cancel != NULL && atomic_load(c->cancel)) {
			snprintf(c->err, c->errlen, "cancelled while %s", what);
			return -1;
		}
		if ((left = c->deadline - fetch_now_ms()) <= 0) {
			snprintf(c->err, c->errlen,
			         "timed out %s (after %d ms)", what,
			         c->timeout_ms);
			return -1;
		}
		slice = left > INT32_MAX ? INT32_MAX : (int)left;
		if (c->cancel != NULL && slice > PROXY_FETCH_CANCEL_POLL_MS)
			slice = PROXY_FETCH_CANCEL_POLL_MS;
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, slice);
		/* POLLERR/POLLHUP count as ready: the next call reports them */
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR) {
			snprintf(c->err, c->errlen, "poll: %s",
			         strerror(errno));
			return -1;
		}
	}
}

/* One address: 0 connected, -1 failed (*soerr says why; try the next),
 * -2 timed out or cancelled (err set; stop trying). */
static int
fetch_connect_one(struct fetch_conn *c, const struct addrinfo *ai, int *soerr,
                  const char *what)
{
	socklen_t sl = sizeof(*soerr);
	int fd;

	fd = socket(ai->ai_family,
	            ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            ai->ai_protocol);
	if (fd == -1) {
		*soerr = errno;
		return -1;
	}
	c->fd = fd;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		*soerr = errno;
		goto fail;
	}
	if (fetch_wait(c, POLLOUT, what) == -1) {
		close(fd);
		c->fd = -1;
		return -2;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, soerr, &sl) == -1)
		*soerr = errno;
	if (*soerr == 0)
		return 0;
fail:
	close(fd);
	c->fd = -1;
	return -1;
}

/* Tries each address in turn until one connects. 0, or -1 with err. */
static int
fetch_connect(struct fetch_conn *c, const struct fetch_url *u)
{
	struct addrinfo hints, *res = NULL, *ai;
	char what[FETCH_HOST_MAX + 32];
	int gai, soerr = 0, rc = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((gai = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		snprintf(c->err, c->errlen, "cannot resolve %s: %s", u->host,
		         gai == EAI_SYSTEM ? strerror(errno)
		                           : gai_strerror(gai));
		goto cleanup;
	}
	snprintf(what, sizeof(what), "connecting to %s port %s", u->host,
	         u->port);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int r = fetch_connect_one(c, ai, &soerr, what);

		if (r == 0) {
			rc = 0;
			goto cleanup;
		}
		if (r == -2)
			goto cleanup;
	}
	snprintf(c->err, c->errlen, "cannot connect to %s port %s: %s", u->host,
	         u->port, strerror(soerr ? soerr : ECONNREFUSED));
cleanup:
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

/* Fills err from a failed SSL call's result r. */
static void
fetch_tls_error(struct fetch_conn *c, int r, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	int se = SSL_get_error(c->ssl, r);
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(c->err, c->errlen, "error %s: %s", what, buf);
	} else if (se == SSL_ERROR_SYSCALL && errno != 0) {
		snprintf(c->err, c->errlen, "error %s: %s", what,
		         strerror(errno));
	} else {
		snprintf(c->err, c->errlen, "connection closed %s", what);
	}
}

/* Waits as an SSL call that returned r asks; 0 to retry it, -1 (err set)
 * when it failed for good. */
static int
fetch_tls_retry(struct fetch_conn *c, int r, const char *what)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return fetch_wait(c, POLLIN, what);
	case SSL_ERROR_WANT_WRITE:
		return fetch_wait(c, POLLOUT, what);
	default:
		fetch_tls_error(c, r, what);
		return -1;
	}
}

/* The client context: peer verified against the system store plus
 * ca_file, TLS 1.2 at least.  0, or -1 with err. */
static int
fetch_tls_ctx(struct fetch_conn *c, const char *ca_file)
{
	static const unsigned char alpn[] = "\x08http/1.1";

	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(c->err, c->errlen, "cannot create a TLS context");
		return -1;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	/* OpenSSL 3 reports a close without close_notify as an error; many
	 * servers do that.  Report it as EOF: the HTTP framing then judges
	 * truncation (see proxy/upstream.c). */
	SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof(alpn) - 1);
	if (SSL_CTX_set_default_verify_paths(c->ctx) != 1 && ca_file == NULL) {
		snprintf(c->err, c->errlen,
		         "cannot load the system CA store "
		         "(install ca-certificates)");
		return -1;
	}
	if (ca_file != NULL &&
	    SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) != 1) {
		snprintf(c->err, c->errlen,
		         "CA file %s: cannot load it as PEM certificates",
		         ca_file);
		return -1;
	}
	return 0;
}

static int
fetch_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

/* The handshake, verifying the certificate for u->host.  0, or -1. */
static int
fetch_tls_handshake(struct fetch_conn *c, const struct fetch_url *u)
{
	char what[FETCH_HOST_MAX + 32];
	long v;
	int r;

	if ((c->ssl = SSL_new(c->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(c->err, c->errlen, "cannot create a TLS session");
		return -1;
	}
	/* SNI carries names only (RFC 6066 §3); an IP literal is checked
	 * against the certificate's IP addresses instead. */
	if (fetch_is_ip(u->host)) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), u->host);
	} else {
		SSL_set_tlsext_host_name(c->ssl, u->host);
		SSL_set1_host(c->ssl, u->host);
	}
	SSL_set_connect_state(c->ssl);
	snprintf(what, sizeof(what), "during the TLS handshake with %s",
	         u->host);
	for (;;) {
		ERR_clear_error();
		errno = 0;
		if ((r = SSL_connect(c->ssl)) == 1)
			return 0;
		v = SSL_get_verify_result(c->ssl);
		if (v != X509_V_OK) {
			snprintf(c->err, c->errlen,
			         "TLS certificate verification failed for %s: "
			         "%s",
			         u->host, X509_verify_cert_error_string(v));
			return -1;
		}
		if (fetch_tls_retry(c, r, what) == -1)
			return -1;
	}
}

static int
fetch_write_all(struct fetch_conn *c, const char *p, size_t n)
{
	static const char what[] = "sending the request";
	size_t done;
	ssize_t w;
	int r;

	while (n > 0) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			/* Without partial writes, all of it or a retry with
			 * the same arguments. */
			if ((r = SSL_write_ex(c->ssl, p, n, &done)) == 1) {
				p += done;
				n -= done;
			} else if (fetch_tls_retry(c, r, what) == -1) {
				return -1;
			}
			continue;
		}
		if ((w = send(c->fd, p, n, MSG_NOSIGNAL)) >= 0) {
			p += w;
			n -= (size_t)w;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (fetch_wait(c, POLLOUT, what) == -1)
				return -1;
		} else if (errno != EINTR) {
			snprintf(c->err, c->errlen, "%s: %s", what,
			         strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Bytes read (> 0), 0 at EOF, or -1 with err. */
static ssize_t
fetch_read(struct fetch_conn *c, char *buf, size_t cap)
{
	static const char what[] = "waiting for the response";
	size_t got;
	ssize_t n;
	int r;

	for (;;) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			if ((r = SSL_read_ex(c->ssl, buf, cap, &got)) == 1)
				return (ssize_t)got;
			if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (fetch_tls_retry(c, r, what) == -1)
				return -1;
			continue;
		}
		if ((n = recv(c->fd, buf, cap, 0)) >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (fetch_wait(c, POLLIN, what) == -1)
				return -1;
		} else if (errno != EINTR) {
			snprintf(c->err, c->errlen, "%s: %s", what,
			         strerror(errno));
			return -1;
		}
	}
}

static void
fetch_conn_close(struct fetch_conn *c)
{
	SSL_free(c->ssl); /* no close_notify: never blocks */
	c->ssl = NULL;
	SSL_CTX_free(c->ctx);
	c->ctx = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	ERR_clear_error(); /* leave this thread's error queue clean */
}

/* --- response -------------------------------------------------------- */

static int
fetch_on_head(void *arg, struct proxy_http_head *h)
{
	struct fetch_rx *rx = arg;

	rx->status = h->status;
	if (proxy_http_get_str(h, "Retry-After", rx->retry_after,
	                       sizeof(rx->retry_after)) == NULL)
		rx->retry_after[0] = '\0';
	if (h->has_length && h->content_length > PROXY_FETCH_MAX_BODY) {
		rx->too_large = 1;
		return -1;
	}
	/* A response to HEAD has no body whatever its framing says (RFC
	 * 9110 §9.3.2); 1xx have none either, which llhttp knows. */
	return rx->head_only && h->status >= 200 ? 1 : 0;
}

static int
fetch_on_body(void *arg, const char *p, size_t n)
{
	struct fetch_rx *rx = arg;

	if (n > PROXY_FETCH_MAX_BODY - rx->len) {
		rx->too_large = 1;
		return -1;
	}
	if (rx->len + n >= rx->cap) {
		size_t cap = rx->cap ? rx->cap : FETCH_BODY_START;
		char *b;

		while (cap <= rx->len + n)
			cap *= 2;
		if (cap > PROXY_FETCH_MAX_BODY + 1)
			cap = PROXY_FETCH_MAX_BODY + 1;
		if ((b = realloc(rx->body, cap)) == NULL) {
			rx->oom = 1;
			return -1;
		}
		rx->body = b;
		rx->cap = cap;
	}
	memcpy(rx->body + rx->len, p, n);
	rx->len += n;
	return 0;
}

static void
fetch_on_complete(void *arg)
{
	struct fetch_rx *rx = arg;

	/* 1xx responses are interim (RFC 9110 §15.2): the final one follows
	 * on the same connection.  101 is final (and unasked for). */
	if (rx->status >= 100 && rx->status < 200 && rx->status != 101) {
		rx->len = 0;
		return;
	}
	rx->done = 1;
}

static const struct proxy_http_callbacks fetch_cbs = {
    fetch_on_head, fetch_on_body, fetch_on_complete};

/* Why the parser gave up, into err. */
static void
fetch_parse_error(struct fetch_conn *c, const struct fetch_rx *rx,
                  const struct proxy_http *p, enum proxy_http_rc rc)
{
	if (rx->too_large)
		snprintf(c->err, c->errlen, "response body over %d bytes",
		         PROXY_FETCH_MAX_BODY);
	else if (rx->oom)
		snprintf(c->err, c->errlen, "out of memory for the response");
	else if (rc == PROXY_HTTP_TOO_LARGE)
		snprintf(c->err, c->errlen, "response head over %d bytes",
		         PROXY_HTTP_MAX_HEAD);
	else
		snprintf(c->err, c->errlen, "malformed response: %s",
		         proxy_http_error(p));
}

/* Feeds what was read; 1 when the final response is complete, 0 for
 * more, -1 with err. */
static int
fetch_feed(struct fetch_conn *c, struct fetch_rx *rx, struct proxy_http *p,
           const char *buf, size_t n)
{
	enum proxy_http_rc rc;
	size_t used;

	while (n > 0) {
		rc = proxy_http_feed(p, buf, n, &used);
		if (rc == PROXY_HTTP_PAUSED) {
			if (rx->done)
				return 1;     /* anything after it is ignored */
			proxy_http_resume(p); /* after a 1xx */
		} else if (rc != PROXY_HTTP_OK) {
			fetch_parse_error(c, rx, p, rc);
			return -1;
		}
		buf += used;
		n -= used;
	}
	return 0;
}

/* Reads until the final response is complete.  0, or -1 with err. */
static int
fetch_receive(struct fetch_conn *c, struct fetch_rx *rx)
{
	struct proxy_http *p = proxy_http_new(0, &fetch_cbs, rx);
	char buf[FETCH_READ_CHUNK];
	enum proxy_http_rc rc;
	ssize_t n;
	int r = -1;

	if (p == NULL) {
		snprintf(c->err, c->errlen, "out of memory for a parser");
		goto cleanup;
	}
	for (;;) {
		if ((n = fetch_read(c, buf, sizeof(buf))) == -1)
			goto cleanup;
		if (n == 0)
			break;
		if ((r = fetch_feed(c, rx, p, buf, (size_t)n)) != 0)
			goto cleanup;
	}
	/* EOF: completes a body delimited by the close (RFC 9112 §6.3). */
	if (proxy_http_in_message(p)) {
		if ((rc = proxy_http_eof(p)) != PROXY_HTTP_OK) {
			snprintf(c->err, c->errlen, "response cut short: %s",
			         proxy_http_error(p));
			goto cleanup;
		}
	}
	if (!rx->done) {
		snprintf(c->err, c->errlen,
		         "connection closed before a response");
		goto cleanup;
	}
	r = 1;
cleanup:
	proxy_http_free(p);
	return r == 1 ? 0 : -1;
}

/* --- the exchange ----------------------------------------------------- */

int
proxy_fetch(const struct proxy_fetch_req *rq, struct proxy_fetch_resp *resp,
            char *err, size_t errlen)
{
	struct fetch_conn c = {.fd = -1, .err = err, .errlen = errlen};
	struct fetch_rx rx;
	struct fetch_url u;
	char *head = NULL;
	size_t head_len = 0;
	int rc = -1;

	memset(&rx, 0, sizeof(rx));
	if (fetch_check_method(rq->method, err, errlen) == -1 ||
	    fetch_parse_url(rq->url, &u, err, errlen) == -1)
		goto cleanup;
	c.timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms
	                                  : PROXY_FETCH_DEFAULT_TIMEOUT_MS;
	c.deadline = fetch_now_ms() + c.timeout_ms;
	c.cancel = rq->cancel;
	rx.head_only = strcmp(rq->method, "HEAD") == 0;
	if ((head = fetch_build_head(rq, &u, &head_len)) == NULL) {
		snprintf(err, errlen, "out of memory for the request");
		goto cleanup;
	}
	/* The context first: a bad CA file fails before any traffic. */
	if (u.https && fetch_tls_ctx(&c, rq->ca_file) == -1)
		goto cleanup;
	if (fetch_connect(&c, &u) == -1 ||
	    (u.https && fetch_tls_handshake(&c, &u) == -1) ||
	    fetch_write_all(&c, head, head_len) == -1 ||
	    (rq->body_len > 0 &&
	     fetch_write_all(&c, rq->body, rq->body_len) == -1) ||
	    fetch_receive(&c, &rx) == -1)
		goto cleanup;
	if (rx.body == NULL && (rx.body = malloc(1)) == NULL) {
		snprintf(err, errlen, "out of memory for the response");
		goto cleanup;
	}
	rx.body[rx.len] = '\0';
	resp->status = rx.status;
	memcpy(resp->retry_after, rx.retry_after, sizeof(resp->retry_after));
	resp->body = rx.body;
	resp->body_len = rx.len;
	rx.body = NULL;
	rc = 0;
cleanup:
	fetch_conn_close(&c);
	free(head);
	free(rx.body);
	return rc;
}

void
proxy_fetch_resp_free(struct proxy_fetch_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
