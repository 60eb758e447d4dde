/*
 * proxy/worker.c — worker threads (see worker.h).
 *
 * The main thread creates each worker's event_base and binds its listener
 * before any thread starts, so a bind failure stops start-up with a clear
 * message and port 0 resolves once for all workers.  Cross-thread requests
 * (drain, stop) arrive with event_base_once on the worker's base, which
 * libevent makes thread-safe once evthread_use_pthreads() has run.
 */
#include <errno.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs/certs.h"
#include "proxy/conn.h"
#include "proxy/tunnel.h"
#include "proxy/log.h"
#include "proxy/worker.h"

static void
worker_on_accept(struct evconnlistener *l, evutil_socket_t fd,
                 struct sockaddr *sa, int salen, void *arg)
{
	proxy_conn_accept(arg, fd, sa, salen);
}

/* Leaves near expiry leave the cache, so the next CONNECT mints anew
 * (certs_cache_get also re-mints on lookup; this frees hosts not seen). */
static void
worker_on_certs_timer(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_worker *w = arg;

	certs_cache_expire(w->certs, time(NULL));
}

static void
worker_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_worker *w = arg;

	if (w->listener != NULL)
		evconnlistener_enable(w->listener);
}

static void
worker_on_accept_error(struct evconnlistener *l, void *arg)
{
	struct proxy_worker *w = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval pause = {0, WORKER_ACCEPT_PAUSE_MS * 1000};
	time_t now = time(NULL);

	/* Out of descriptors: the pending connection stays readable, so
	 * libevent would retry at once, forever.  Pause accepting a moment
	 * (the connections we have keep being served) and log once a
	 * second, not once per retry. */
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		evconnlistener_disable(l);
		evtimer_add(w->accept_pause, &pause);
	}
	if (now != w->accept_warned) {
		w->accept_warned = now;
		log_err("worker %d: accept: %s (%d connections open here; "
		        "raise the descriptor limit, ulimit -n)",
		        w->id, evutil_socket_error_to_string(e),
		        atomic_load(&w->nconns));
	}
}

static int
worker_bind(struct proxy_worker *w, char *err, size_t errlen)
{
	const struct config *cfg = w->px->cfg;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char addr[300];

	snprintf(addr, sizeof(addr),
	         strchr(cfg->listen_host, ':') ? "[%s]:%d" : "%s:%d",
	         cfg->listen_host, cfg->listen_port);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen)) {
		snprintf(err, errlen,
		         "listen %s: not a numeric address (use "
		         "an IP such as 127.0.0.1 or [::1])",
		         addr);
		return -1;
	}
	w->listener = evconnlistener_new_bind(
	    w->base, worker_on_accept, w,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
	        LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&ss, sslen);
	if (w->listener == NULL) {
		snprintf(err, errlen,
		         "cannot listen on %s: %s (is another "
		         "process using it? choose another with --listen)",
		         addr, strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(w->listener, worker_on_accept_error);
	return 0;
}

int
proxy_worker_port(struct proxy_worker *w)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evconnlistener_get_fd(w->listener);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

struct proxy_worker *
proxy_worker_new(struct proxy *px, int id, char *err, size_t errlen)
{
	struct proxy_worker *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->id = id;
	w->px = px;
	TAILQ_INIT(&w->conns);
	TAILQ_INIT(&w->tunnels);
	if ((w->base = event_base_new()) == NULL ||
	    (w->dns = evdns_base_new(
	         w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL ||
	    (w->up = proxy_upstream_new(w->base, w->dns, px->upstream_ctx,
	                                px->cfg)) == NULL ||
	    (px->ca != NULL &&
	     (w->certs = certs_cache_new(px->ca, 0)) == NULL)) {
		snprintf(err, errlen,
		         "worker %d: cannot set up its event loop "
		         "or resolver (check /etc/resolv.conf)",
		         id);
		proxy_worker_free(w);
		return NULL;
	}
	if ((w->accept_pause =
	         evtimer_new(w->base, worker_on_accept_resume, w)) == NULL ||
	    (w->certs != NULL &&
	     ((w->certs_timer = event_new(w->base, -1, EV_PERSIST,
	                                  worker_on_certs_timer, w)) == NULL ||
	      event_add(w->certs_timer,
	                &(struct timeval){WORKER_CERTS_EXPIRE_S, 0}) == -1)) ||
	    worker_bind(w, err, errlen) == -1) {
		proxy_worker_free(w);
		return NULL;
	}
	return w;
}

static void *
worker_main(void *arg)
{
	struct proxy_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

int
proxy_worker_start(struct proxy_worker *w)
{
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		return -1;
	w->started = 1;
	return 0;
}

static void
worker_maybe_exit(struct proxy_worker *w)
{
	if (w->draining && atomic_load(&w->nconns) == 0)
		event_base_loopexit(w->base, NULL);
}

static void
worker_on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_worker *w = arg;

	w->draining = 1;
	if (w->listener != NULL) {
		evconnlistener_free(w->listener);
		w->listener = NULL;
	}
	proxy_conn_drain_all(w);
	worker_maybe_exit(w);
}

static void
worker_on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_worker *w = arg;

	worker_on_drain(fd, what, arg);
	proxy_conn_abort_all(w);
	proxy_tunnel_close_all(w);
	event_base_loopexit(w->base, NULL);
}

void
proxy_worker_drain(struct proxy_worker *w)
{
	event_base_once(w->base, -1, EV_TIMEOUT, worker_on_drain, w, NULL);
}

void
proxy_worker_stop(struct proxy_worker *w)
{
	event_base_once(w->base, -1, EV_TIMEOUT, worker_on_stop, w, NULL);
}

void
proxy_worker_conn_closed(struct proxy_worker *w)
{
	atomic_fetch_sub(&w->nconns, 1);
	worker_maybe_exit(w);
}

int
proxy_worker_nconns(struct proxy_worker *w)
{
	return atomic_load(&w->nconns);
}

void
proxy_worker_free(struct proxy_worker *w)
{
	if (w == NULL)
		return;
	if (w->started)
		pthread_join(w->thread, NULL);
	if (w->listener != NULL)
		evconnlistener_free(w->listener);
	if (w->accept_pause != NULL)
		event_free(w->accept_pause);
	if (w->certs_timer != NULL)
		event_free(w->certs_timer);
	proxy_upstream_free(w->up);
	certs_cache_free(w->certs);
	if (w->dns != NULL)
		evdns_base_free(w->dns, 0);
	if (w->base != NULL)
		event_base_free(w->base);
	free(w);
}
