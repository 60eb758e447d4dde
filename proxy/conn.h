/*
 * proxy/conn.h — one client connection and its upstream half.
 * Worker thread only.
 */
#ifndef PROXY_CONN_H
#define PROXY_CONN_H

#include <event2/util.h>
#include <sys/socket.h>

#include "proxy/worker.h"

#define CONN_OUT_HIGH                                                          \
	(256 * 1024)             /* client output bytes before the             \
	                            upstream is paused */
#define CONN_OUT_LOW (64 * 1024) /* ... and resumed */
#define CONN_PIPELINE_MAX                                                      \
	(64 * 1024)           /* client bytes read ahead while a               \
	                         request is in flight */
#define CONN_CLOSING_MS 10000 /* flushing a last response */
#define CONN_STALE_RETRY_MS                                                    \
	250 /* a pooled upstream connection closing                            \
	       this soon after a POST was stale */
#define CONN_LINGER_MS                                                         \
	2000 /* reading what the client still sends                            \
	        after our last response, so the close                          \
	        does not reset it away (RFC 9112 §9.6) */

/* Takes over an accepted socket. */
void proxy_conn_accept(struct proxy_worker *w, evutil_socket_t fd,
                       const struct sockaddr *sa, int salen);

/* Draining: idle connections close now, busy ones after their response. */
void proxy_conn_drain_all(struct proxy_worker *w);

/* Shutdown deadline: every connection is cut off (usage recorded). */
void proxy_conn_abort_all(struct proxy_worker *w);

#endif
