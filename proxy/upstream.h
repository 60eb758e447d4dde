/*
 * proxy/upstream.h — connections to the upstream, per worker.
 *
 * TLS with SNI and certificate verification always on; names resolved with
 * evdns (never blocking the loop); TLS session tickets kept for
 * resumption; idle keep-alive connections pooled, newest first.
 */
#ifndef PROXY_UPSTREAM_H
#define PROXY_UPSTREAM_H

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "proxy/config.h"

#define UPSTREAM_POOL_MAX 64   /* idle connections per worker */
#define UPSTREAM_IDLE_MS 30000 /* an idle one is closed after */
#define UPSTREAM_TICKETS_MAX 4 /* TLS session tickets kept per worker */

struct proxy_upstream;

/*
 * Builds the process-wide client SSL_CTX: TLS 1.2+, verification against
 * the system store or upstream_ca_file, ALPN http/1.1, session cache for
 * resumption.  NULL with err.
 */
SSL_CTX *proxy_upstream_ctx_new(const struct config *cfg, char *err,
                                size_t errlen);

struct proxy_upstream *proxy_upstream_new(struct event_base *base,
                                          struct evdns_base *dns, SSL_CTX *ctx,
                                          const struct config *cfg);
void proxy_upstream_free(struct proxy_upstream *up);

/* A pooled idle connection (callbacks cleared, reading still enabled: set
 * callbacks before returning to the loop) or NULL. */
struct bufferevent *proxy_upstream_take(struct proxy_upstream *up);

/*
 * Starts a new connection; the caller sets callbacks and waits for
 * BEV_EVENT_CONNECTED (after the TLS handshake).  NULL on immediate
 * failure.  The bufferevent owns its SSL and socket.
 */
struct bufferevent *proxy_upstream_open(struct proxy_upstream *up);

/* Returns a connection whose response completed cleanly to the pool (or
 * frees it when the pool is full or it has unread bytes). */
void proxy_upstream_put(struct proxy_upstream *up, struct bufferevent *bev);

/* Frees an upstream connection (not pooled). */
void proxy_upstream_close(struct bufferevent *bev);

/* Why the last handshake on bev failed, for logs and 502 bodies. */
void proxy_upstream_error(struct bufferevent *bev, char *buf, size_t len);

#endif
