/*
 * proxy/worker.h — proxy worker threads.  Each has its own event_base,
 * evdns_base, upstream pool and SO_REUSEPORT listener; a connection lives
 * on one worker for its whole life (DESIGN.md "Threads").
 */
#ifndef PROXY_WORKER_H
#define PROXY_WORKER_H

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/queue.h>
#include <time.h>

#include "proxy/proxy.h"
#include "proxy/upstream.h"

#define WORKER_CERTS_EXPIRE_S 3600 /* how often the leaf cache is swept */
#define WORKER_ACCEPT_PAUSE_MS                                                 \
	100 /* accepting pauses this long when                                 \
	       descriptors run out */

struct proxy_conn;
struct proxy_tunnel;
TAILQ_HEAD(proxy_conn_list, proxy_conn);
TAILQ_HEAD(proxy_tunnel_list, proxy_tunnel);

struct proxy_worker {
	int id;
	struct proxy *px;
	struct event_base *base;
	struct evdns_base *dns;
	struct proxy_upstream *up;
	struct certs_cache *certs; /* leaves for intercepted hosts */
	struct event *certs_timer; /* drops leaves due for renewal */
	struct evconnlistener *listener;
	pthread_t thread;
	int started;
	struct proxy_conn_list conns;
	struct proxy_tunnel_list tunnels; /* CONNECT splices (tunnel.c) */
	_Atomic int nconns;               /* read by main while draining */
	struct event *accept_pause;       /* EMFILE: re-enable accepting */
	time_t accept_warned;             /* last EMFILE log line */
	int draining; /* no new connections; close when idle */
};

/*
 * Creates worker id and binds its listener on the configured address
 * (SO_REUSEPORT).  Main thread.  NULL with err (naming the address).
 */
struct proxy_worker *proxy_worker_new(struct proxy *px, int id, char *err,
                                      size_t errlen);

/* The port its listener is bound to (resolves a requested port 0). */
int proxy_worker_port(struct proxy_worker *w);

/* Starts the worker's thread. 0 or -1. */
int proxy_worker_start(struct proxy_worker *w);

/* From any thread: stop accepting and let connections finish. */
void proxy_worker_drain(struct proxy_worker *w);

/* From any thread: abort what is left and leave the loop. */
void proxy_worker_stop(struct proxy_worker *w);

/* Joins the thread and frees everything. */
void proxy_worker_free(struct proxy_worker *w);

/* Worker thread: a connection went away (conn.c calls this). */
void proxy_worker_conn_closed(struct proxy_worker *w);

/* Connections still open (any thread; approximate). */
int proxy_worker_nconns(struct proxy_worker *w);

#endif
