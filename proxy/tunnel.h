/*
 * proxy/tunnel.h — CONNECT tunnels to hosts tollgate does not intercept:
 * bytes are spliced both ways unchanged (never decrypted), with
 * backpressure.  Worker thread only.
 */
#ifndef PROXY_TUNNEL_H
#define PROXY_TUNNEL_H

#include <event2/bufferevent.h>
#include <stdint.h>

#include "proxy/worker.h"

#define TUNNEL_HIGH                                                            \
	(256 * 1024) /* bytes queued to one side before the                    \
	                other side's reading pauses */

/*
 * Takes over client (a plain socket bufferevent whose CONNECT was
 * accepted), connects to host:port through the worker's resolver, answers
 * "200 Connection established" once connected (a 502 error otherwise) and
 * splices.  Bytes the client already sent are forwarded after the 200.
 * connect_ms bounds the connect (the connection's config snapshot).
 */
void proxy_tunnel_start(struct proxy_worker *w, uint64_t id,
                        struct bufferevent *client, const char *host, int port,
                        int connect_ms);

/*
 * Takes over two connected bufferevents (a client and the upstream that
 * answered its WebSocket upgrade with 101) and splices them, starting
 * with the bytes each already holds.  label names it in the log.
 */
void proxy_tunnel_splice(struct proxy_worker *w, uint64_t id,
                         struct bufferevent *client, struct bufferevent *remote,
                         const char *label);

/* Shutdown: closes every tunnel of the worker. */
void proxy_tunnel_close_all(struct proxy_worker *w);

#endif
