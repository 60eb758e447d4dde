/*
 * proxy/tunnel.c — byte-for-byte CONNECT tunnels (see tunnel.h).
 *
 * Owns both bufferevents of a tunnel; each tunnel is listed on its worker
 * (for shutdown) and counted in its connections (for draining).  A tunnel
 * dies in tunnel_close only, which logs one line with the bytes each way.
 */
#include <event2/buffer.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "certs/certs.h"
#include "proxy/log.h"
#include "proxy/reply.h"
#include "proxy/tunnel.h"

struct proxy_tunnel {
	TAILQ_ENTRY(proxy_tunnel) entry;
	struct proxy_worker *w;
	uint64_t id;
	char host[CERTS_HOST_MAX + 1];
	int port;
	struct bufferevent *client;
	struct bufferevent *remote;
	int connected;
	int closing;       /* one side ended: flush the other, then close */
	uint64_t up, down; /* bytes client->remote, remote->client */
};

static void
tunnel_close(struct proxy_tunnel *t, const char *why)
{
	if (t->port == 0) /* a spliced upgrade: no host:port of its own */
		log_info("conn %" PRIu64 ": %s tunnel closed (%s) up=%" PRIu64
		         " down=%" PRIu64,
		         t->id, t->host, why, t->up, t->down);
	else
		log_info("conn %" PRIu64 ": tunnel %s:%d closed (%s) "
		         "up=%" PRIu64 " down=%" PRIu64,
		         t->id, t->host, t->port, why, t->up, t->down);
	TAILQ_REMOVE(&t->w->tunnels, t, entry);
	bufferevent_free(t->client);
	if (t->remote != NULL)
		bufferevent_free(t->remote);
	proxy_worker_conn_closed(t->w);
	free(t);
}

static struct bufferevent *
tunnel_peer(struct proxy_tunnel *t, struct bufferevent *bev)
{
	return bev == t->client ? t->remote : t->client;
}

/* Moves what src read to its peer; pauses src while the peer is full. */
static void
tunnel_on_read(struct bufferevent *src, void *arg)
{
	struct proxy_tunnel *t = arg;
	struct bufferevent *dst = tunnel_peer(t, src);
	struct evbuffer *in = bufferevent_get_input(src);
	size_t n = evbuffer_get_length(in);

	if (!t->connected || dst == NULL)
		return; /* held until the remote side is up */
	*(src == t->client ? &t->up : &t->down) += n;
	evbuffer_add_buffer(bufferevent_get_output(dst), in);
	if (evbuffer_get_length(bufferevent_get_output(dst)) > TUNNEL_HIGH)
		bufferevent_disable(src, EV_READ);
}

static void
tunnel_on_write(struct bufferevent *dst, void *arg)
{
	struct proxy_tunnel *t = arg;
	struct bufferevent *src = tunnel_peer(t, dst);

	if (t->closing &&
	    evbuffer_get_length(bufferevent_get_output(dst)) == 0) {
		tunnel_close(t, "done");
		return;
	}
	if (src != NULL && !t->closing)
		bufferevent_enable(src, EV_READ);
}

static void
tunnel_connected(struct proxy_tunnel *t)
{
	int one = 1;
	evutil_socket_t fd = bufferevent_getfd(t->remote);

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	t->connected = 1;
	bufferevent_set_timeouts(t->remote, NULL, NULL);
	evbuffer_add_printf(bufferevent_get_output(t->client),
	                    "HTTP/1.1 200 Connection established\r\n\r\n");
	bufferevent_enable(t->remote, EV_READ | EV_WRITE);
	bufferevent_enable(t->client, EV_READ | EV_WRITE);
	tunnel_on_read(t->client, t); /* what the client sent early */
}

static void
tunnel_refuse(struct proxy_tunnel *t, const char *why)
{
	struct proxy_reply r = {
	    502, "server_error", "tunnel_unreachable", NULL, NULL, 1, 0};

	proxy_reply_error(bufferevent_get_output(t->client), &r,
	                  "tollgate cannot reach %s:%d: %s", t->host, t->port,
	                  why);
	bufferevent_free(t->remote);
	t->remote = NULL;
	t->closing = 1;
	bufferevent_enable(t->client, EV_WRITE);
}

static void
tunnel_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct proxy_tunnel *t = arg;
	struct bufferevent *other = tunnel_peer(t, bev);

	if (what & BEV_EVENT_CONNECTED) {
		tunnel_connected(t);
		return;
	}
	if (bev == t->remote && !t->connected) {
		int dns = bufferevent_socket_get_dns_error(bev);

		tunnel_refuse(t, dns ? evutil_gai_strerror(dns)
		                 : (what & BEV_EVENT_TIMEOUT)
		                     ? "connect timed out"
		                     : evutil_socket_error_to_string(
		                           EVUTIL_SOCKET_ERROR()));
		return;
	}
	/* One side ended: deliver what the other still has to write. */
	if (other != NULL && !t->closing &&
	    evbuffer_get_length(bufferevent_get_output(other)) > 0) {
		t->closing = 1;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	tunnel_close(t, (what & BEV_EVENT_EOF) ? "eof" : "error");
}

void
proxy_tunnel_start(struct proxy_worker *w, uint64_t id,
                   struct bufferevent *client, const char *host, int port,
                   int connect_ms)
{
	struct proxy_tunnel *t = calloc(1, sizeof(*t));
	struct timeval tv = {connect_ms / 1000, (connect_ms % 1000) * 1000};

	if (t == NULL) {
		bufferevent_free(client);
		return;
	}
	t->w = w;
	t->id = id;
	t->port = port;
	snprintf(t->host, sizeof(t->host), "%s", host);
	t->client = client;
	TAILQ_INSERT_TAIL(&w->tunnels, t, entry);
	atomic_fetch_add(&w->nconns, 1);
	bufferevent_setcb(client, tunnel_on_read, tunnel_on_write,
	                  tunnel_on_event, t);
	bufferevent_setwatermark(client, EV_READ, 0, 0);
	bufferevent_setwatermark(client, EV_WRITE, TUNNEL_HIGH / 4, 0);
	bufferevent_set_timeouts(client, NULL, NULL);
	bufferevent_disable(client, EV_READ);
	t->remote = bufferevent_socket_new(
	    w->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (t->remote == NULL) {
		tunnel_close(t, "out of memory");
		return;
	}
	bufferevent_setcb(t->remote, tunnel_on_read, tunnel_on_write,
	                  tunnel_on_event, t);
	bufferevent_setwatermark(t->remote, EV_WRITE, TUNNEL_HIGH / 4, 0);
	bufferevent_set_timeouts(t->remote, &tv, &tv);
	log_info("conn %" PRIu64 ": CONNECT %s:%d tunnelled", id, host, port);
	if (bufferevent_socket_connect_hostname(t->remote, w->dns, AF_UNSPEC,
	                                        host, port) == -1)
		tunnel_refuse(t, "cannot start the connection");
}

/* Callbacks, watermarks and no timeouts for one side of a tunnel. */
static void
tunnel_side(struct proxy_tunnel *t, struct bufferevent *bev)
{
	bufferevent_setcb(bev, tunnel_on_read, tunnel_on_write, tunnel_on_event,
	                  t);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_setwatermark(bev, EV_WRITE, TUNNEL_HIGH / 4, 0);
	bufferevent_set_timeouts(bev, NULL, NULL);
}

void
proxy_tunnel_splice(struct proxy_worker *w, uint64_t id,
                    struct bufferevent *client, struct bufferevent *remote,
                    const char *label)
{
	struct proxy_tunnel *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		bufferevent_free(client);
		bufferevent_free(remote);
		return;
	}
	t->w = w;
	t->id = id;
	snprintf(t->host, sizeof(t->host), "%s", label);
	t->client = client;
	t->remote = remote;
	t->connected = 1;
	TAILQ_INSERT_TAIL(&w->tunnels, t, entry);
	atomic_fetch_add(&w->nconns, 1);
	tunnel_side(t, client);
	tunnel_side(t, remote);
	bufferevent_enable(client, EV_READ | EV_WRITE);
	bufferevent_enable(remote, EV_READ | EV_WRITE);
	log_info("conn %" PRIu64 ": %s tunnelled", id, label);
	tunnel_on_read(client, t); /* bytes read before the splice */
	tunnel_on_read(remote, t);
}

void
proxy_tunnel_close_all(struct proxy_worker *w)
{
	struct proxy_tunnel *t;

	while ((t = TAILQ_FIRST(&w->tunnels)) != NULL)
		tunnel_close(t, "shutdown");
}
