/*
 * proxy/upstream.c — upstream TLS connections and the idle pool (see
 * upstream.h).  Each worker has its own struct proxy_upstream; the SSL_CTX
 * is shared (OpenSSL locks it internally).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "proxy/log.h"
#include "proxy/upstream.h"

struct pooled {
	TAILQ_ENTRY(pooled) entry;
	struct bufferevent *bev;
	struct proxy_upstream *up;
};

struct proxy_upstream {
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *ctx;
	const struct config *cfg;
	SSL_SESSION *sessions[UPSTREAM_TICKETS_MAX]; /* newest last */
	int nsessions;
	TAILQ_HEAD(, pooled) idle;
	int nidle;
};

static int upstream_ex_index = -1;

/*
 * TLS 1.3 tickets arrive after the handshake and are single-use (RFC 8446
 * §C.4; OpenSSL will not offer one twice), and a server may send several
 * per full handshake and none after a resumption: keep a few, newest
 * first, and spend one per new connection.
 */
static int
upstream_on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct proxy_upstream *up = SSL_get_ex_data(ssl, upstream_ex_index);

	if (up == NULL)
		return 0;
	if (up->nsessions == UPSTREAM_TICKETS_MAX) {
		SSL_SESSION_free(up->sessions[0]);
		memmove(up->sessions, up->sessions + 1,
		        (UPSTREAM_TICKETS_MAX - 1) * sizeof(up->sessions[0]));
		up->nsessions--;
	}
	up->sessions[up->nsessions++] = sess;
	log_debug("upstream: TLS session ticket kept (%d held)", up->nsessions);
	return 1; /* we keep the reference */
}

SSL_CTX *
proxy_upstream_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	static const unsigned char alpn[] = "\x08http/1.1";

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	if (upstream_ex_index == -1)
		upstream_ex_index =
		    SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (cfg->upstream_ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->upstream_ca_file,
		                                  NULL) != 1) {
			snprintf(err, errlen,
			         "upstream_ca_file %s: cannot load "
			         "it as PEM certificates",
			         cfg->upstream_ca_file);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen,
		         "cannot load the system CA store "
		         "(install ca-certificates, or set upstream_ca_file)");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
	/* OpenSSL 3 reports a close without close_notify as an error; many
	 * servers do that.  Report it as EOF: truncation is then judged by
	 * the HTTP framing (Content-Length, chunked), which is what counts. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_session_cache_mode(
	    ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, upstream_on_new_session);
	return ctx;
}

struct proxy_upstream *
proxy_upstream_new(struct event_base *base, struct evdns_base *dns,
                   SSL_CTX *ctx, const struct config *cfg)
{
	struct proxy_upstream *up = calloc(1, sizeof(*up));

	if (up == NULL)
		return NULL;
	up->base = base;
	up->dns = dns;
	up->ctx = ctx;
	up->cfg = cfg;
	TAILQ_INIT(&up->idle);
	return up;
}

static void
pool_remove(struct pooled *p)
{
	TAILQ_REMOVE(&p->up->idle, p, entry);
	p->up->nidle--;
	free(p);
}

void
proxy_upstream_free(struct proxy_upstream *up)
{
	struct pooled *p;

	if (up == NULL)
		return;
	while ((p = TAILQ_FIRST(&up->idle)) != NULL) {
		proxy_upstream_close(p->bev);
		pool_remove(p);
	}
	while (up->nsessions > 0)
		SSL_SESSION_free(up->sessions[--up->nsessions]);
	free(up);
}

void
proxy_upstream_close(struct bufferevent *bev)
{
	SSL *ssl;

	if (bev == NULL)
		return;
	/* A quiet shutdown: no close_notify on a socket that may be gone
	 * (never blocks), and both flags set so OpenSSL does not mark the
	 * session unresumable as it would after an unfinished shutdown
	 * (ssl_clear_bad_session) — the next connection resumes it. */
	if ((ssl = bufferevent_openssl_get_ssl(bev)) != NULL) {
		SSL_set_quiet_shutdown(ssl, 1);
		SSL_set_shutdown(ssl,
		                 SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	}
	bufferevent_free(bev);
}

static int
is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

static SSL *
upstream_ssl(struct proxy_upstream *up)
{
	const char *host = up->cfg->upstream_host;
	SSL *ssl = SSL_new(up->ctx);

	if (ssl == NULL)
		return NULL;
	SSL_set_ex_data(ssl, upstream_ex_index, up);
	if (is_ip_literal(host)) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	if (up->nsessions > 0) {
		SSL_SESSION *sess = up->sessions[--up->nsessions];

		SSL_set_session(ssl, sess); /* takes its own reference */
		SSL_SESSION_free(sess);
	}
	return ssl;
}

struct bufferevent *
proxy_upstream_open(struct proxy_upstream *up)
{
	SSL *ssl = upstream_ssl(up);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	/* From here the bufferevent owns ssl, even when creation fails. */
	bev = bufferevent_openssl_socket_new(
	    up->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		return NULL;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	if (bufferevent_socket_connect_hostname(bev, up->dns, AF_UNSPEC,
	                                        up->cfg->upstream_host,
	                                        up->cfg->upstream_port) == -1) {
		bufferevent_free(bev);
		return NULL;
	}
	return bev;
}

/* An idle connection spoke or closed: it is no longer reusable. */
static void
pool_on_read(struct bufferevent *bev, void *arg)
{
	struct pooled *p = arg;

	proxy_upstream_close(bev);
	pool_remove(p);
}

static void
pool_on_event(struct bufferevent *bev, short what, void *arg)
{
	pool_on_read(bev, arg);
}

struct bufferevent *
proxy_upstream_take(struct proxy_upstream *up)
{
	struct pooled *p;
	struct bufferevent *bev = NULL;

	/* A connection that received bytes nobody asked for (an early 408
	 * before an idle close) must not have them read as the answer. */
	while ((p = TAILQ_FIRST(&up->idle)) != NULL) {
		bev = p->bev;
		pool_remove(p);
		if (evbuffer_get_length(bufferevent_get_input(bev)) == 0)
			break;
		proxy_upstream_close(bev);
		bev = NULL;
	}
	if (bev == NULL)
		return NULL;
	/* Reading stays on: the caller sets its callbacks before it returns
	 * to the loop (saves an epoll_ctl pair per request). */
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	return bev;
}

void
proxy_upstream_put(struct proxy_upstream *up, struct bufferevent *bev)
{
	struct timeval tv = {UPSTREAM_IDLE_MS / 1000,
	                     (UPSTREAM_IDLE_MS % 1000) * 1000};
	struct pooled *p;

	if (up->nidle >= UPSTREAM_POOL_MAX ||
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0 ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		proxy_upstream_close(bev);
		return;
	}
	p->bev = bev;
	p->up = up;
	TAILQ_INSERT_HEAD(&up->idle, p, entry);
	up->nidle++;
	bufferevent_setcb(bev, pool_on_read, NULL, pool_on_event, p);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, EV_READ);
}

void
proxy_upstream_error(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long e = bufferevent_get_openssl_error(bev);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	int dns = bufferevent_socket_get_dns_error(bev);
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (dns != 0)
		snprintf(buf, len, "DNS: %s", evutil_gai_strerror(dns));
	else if (vr != X509_V_OK)
		snprintf(buf, len, "certificate verification failed: %s",
		         X509_verify_cert_error_string(vr));
	else if (e != 0)
		snprintf(buf, len, "TLS: %s", ERR_reason_error_string(e));
	else if (EVUTIL_SOCKET_ERROR() != 0)
		snprintf(buf, len, "%s",
		         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		snprintf(buf, len, "connection closed");
	while (bufferevent_get_openssl_error(bev) != 0)
		; /* drain the queue so the next error is this one's */
}
