/*
 * tests/unit/httpd.c — the scripted loopback server (see httpd.h).
 *
 * One thread per server; the test thread scripts replies and reads what was
 * recorded under the mutex.  A pipe wakes the thread for stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy/http.h"
#include "tests/unit/httpd.h"
#include "tests/unit/sbuf.h"

#define HTTPD_MAX_SCRIPT 16
#define HTTPD_MAX_REQUESTS 1024

struct httpd_req {
	struct sbuf raw, body;
};

struct httpd {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a request arrived, a release, or stop */
	int lfd;
	int stop_pipe[2];
	int port;
	SSL_CTX *tls;
	struct httpd_reply script[HTTPD_MAX_SCRIPT];
	int nscript, next;
	struct httpd_req req[HTTPD_MAX_REQUESTS];
	int nreq;
	int released, stop;
};

/* The connection being served. */
struct httpd_conn {
	struct httpd *h;
	int fd;
	SSL *ssl;
	struct httpd_req cur;
	int complete;
};

static int
hd_on_head(void *arg, struct proxy_http_head *hd)
{
	return 0;
}

static int
hd_on_body(void *arg, const char *p, size_t n)
{
	struct httpd_conn *c = arg;

	sb_add(&c->cur.body, p, n);
	return 0;
}

static void
hd_on_complete(void *arg)
{
	struct httpd_conn *c = arg;

	c->complete = 1;
}

static const struct proxy_http_callbacks hd_cbs = {hd_on_head, hd_on_body,
                                                   hd_on_complete};

/* Waits for the connection or the stop pipe: 1 readable, 0 stop. */
static int
hd_wait(struct httpd_conn *c)
{
	struct pollfd p[2];

	if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
		return 1;
	p[0].fd = c->fd;
	p[0].events = POLLIN;
	p[1].fd = c->h->stop_pipe[0];
	p[1].events = POLLIN;
	for (;;) {
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (p[1].revents != 0)
			return 0;
		if (p[0].revents != 0)
			return 1;
	}
}

/* > 0 bytes, 0 EOF or stop, -1 error. */
static ssize_t
hd_read(struct httpd_conn *c, char *buf, size_t cap)
{
	size_t got;

	if (!hd_wait(c))
		return 0;
	if (c->ssl == NULL)
		return recv(c->fd, buf, cap, 0);
	if (SSL_read_ex(c->ssl, buf, cap, &got) == 1)
		return (ssize_t)got;
	return -1; /* close_notify, reset or a TLS error: done */
}

static void
hd_write(struct httpd_conn *c, const char *p, size_t n)
{
	size_t done;
	ssize_t w;

	while (n > 0) {
		if (c->ssl != NULL) {
			if (SSL_write_ex(c->ssl, p, n, &done) != 1)
				return;
			w = (ssize_t)done;
		} else if ((w = send(c->fd, p, n, MSG_NOSIGNAL)) <= 0) {
			return; /* the client gave up: fine */
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Reads one request; 0 when it is complete, -1 otherwise. */
static int
hd_read_request(struct httpd_conn *c)
{
	struct proxy_http *p = proxy_http_new(1, &hd_cbs, c);
	char buf[16384];
	size_t used;
	ssize_t n;
	enum proxy_http_rc rc;

	if (p == NULL)
		abort();
	while (!c->complete && (n = hd_read(c, buf, sizeof(buf))) > 0) {
		rc = proxy_http_feed(p, buf, (size_t)n, &used);
		sb_add(&c->cur.raw, buf, used);
		if (rc != PROXY_HTTP_OK && rc != PROXY_HTTP_PAUSED)
			break;
	}
	proxy_http_free(p);
	return c->complete ? 0 : -1;
}

/* Blocks until the client closes or stop. */
static void
hd_drain(struct httpd_conn *c)
{
	char buf[4096];

	while (hd_read(c, buf, sizeof(buf)) > 0)
		;
}

static void
hd_serve(struct httpd *h, struct httpd_conn *c)
{
	struct httpd_reply r;

	if (h->tls != NULL) {
		c->ssl = SSL_new(h->tls);
		if (c->ssl == NULL)
			abort();
		SSL_set_fd(c->ssl, c->fd);
		if (SSL_accept(c->ssl) != 1)
			return; /* e.g. the client refused our certificate */
	}
	if (hd_read_request(c) == -1)
		return;
	pthread_mutex_lock(&h->mu);
	r = h->script[h->next < h->nscript ? h->next : h->nscript - 1];
	if (h->next < h->nscript)
		h->next++;
	if (h->nreq < HTTPD_MAX_REQUESTS) {
		h->req[h->nreq++] = c->cur;
		memset(&c->cur, 0, sizeof(c->cur));
	}
	pthread_cond_broadcast(&h->cv);
	while (r.action == HTTPD_HOLD && !h->released && !h->stop)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	if (r.action == HTTPD_SEND || r.action == HTTPD_HOLD)
		hd_write(c, r.data, r.len ? r.len : strlen(r.data));
	else if (r.action == HTTPD_SILENT)
		hd_drain(c);
}

static void *
hd_main(void *arg)
{
	struct httpd *h = arg;
	struct pollfd p[2];
	struct httpd_conn c;

	for (;;) {
		p[0].fd = h->lfd;
		p[0].events = POLLIN;
		p[1].fd = h->stop_pipe[0];
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, -1) == -1)
			continue;
		if (p[1].revents != 0)
			break;
		memset(&c, 0, sizeof(c));
		c.h = h;
		if ((c.fd = accept(h->lfd, NULL, NULL)) == -1)
			continue;
		hd_serve(h, &c);
		if (c.ssl != NULL) {
			SSL_set_quiet_shutdown(c.ssl, 1);
			SSL_free(c.ssl);
		}
		shutdown(c.fd, SHUT_WR);
		close(c.fd);
		free(c.cur.raw.p);
		free(c.cur.body.p);
	}
	return NULL;
}

static int
hd_listen(const char *addr, int *port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		sl = sizeof(*s6);
	} else {
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, 64) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
	return fd;
}

struct httpd *
httpd_start(const char *addr, SSL_CTX *tls)
{
	static const struct httpd_reply ok = {
	    HTTPD_SEND, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0};
	struct httpd *h = calloc(1, sizeof(*h));

	if (h == NULL)
		abort();
	signal(SIGPIPE, SIG_IGN);
	if ((h->lfd = hd_listen(addr, &h->port)) == -1) {
		free(h);
		return NULL;
	}
	if (pipe(h->stop_pipe) == -1)
		abort();
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->tls = tls;
	h->script[0] = ok;
	h->nscript = 1;
	if (pthread_create(&h->thread, NULL, hd_main, h) != 0)
		abort();
	return h;
}

void
httpd_script(struct httpd *h, const struct httpd_reply *r, int n)
{
	pthread_mutex_lock(&h->mu);
	if (n > HTTPD_MAX_SCRIPT)
		n = HTTPD_MAX_SCRIPT;
	memcpy(h->script, r, (size_t)n * sizeof(*r));
	h->nscript = n;
	h->next = 0;
	pthread_mutex_unlock(&h->mu);
}

int
httpd_port(const struct httpd *h)
{
	return h->port;
}

int
httpd_nrequests(struct httpd *h)
{
	int n;

	pthread_mutex_lock(&h->mu);
	n = h->nreq;
	pthread_mutex_unlock(&h->mu);
	return n;
}

int
httpd_wait(struct httpd *h, int n, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&h->mu);
	while (h->nreq < n && rc == 0)
		if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) == ETIMEDOUT)
			rc = -1;
	if (h->nreq >= n)
		rc = 0;
	pthread_mutex_unlock(&h->mu);
	return rc;
}

const char *
httpd_raw(struct httpd *h, int i)
{
	const char *s = NULL;

	pthread_mutex_lock(&h->mu);
	if (i >= 0 && i < h->nreq)
		s = sb_str(&h->req[i].raw);
	pthread_mutex_unlock(&h->mu);
	return s;
}

const char *
httpd_body(struct httpd *h, int i)
{
	const char *s = NULL;

	pthread_mutex_lock(&h->mu);
	if (i >= 0 && i < h->nreq)
		s = sb_str(&h->req[i].body);
	pthread_mutex_unlock(&h->mu);
	return s;
}

void
httpd_release(struct httpd *h)
{
	pthread_mutex_lock(&h->mu);
	h->released = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

void
httpd_stop(struct httpd *h)
{
	int i;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	(void)!write(h->stop_pipe[1], "x", 1);
	pthread_join(h->thread, NULL);
	close(h->lfd);
	close(h->stop_pipe[0]);
	close(h->stop_pipe[1]);
	for (i = 0; i < h->nreq; i++) {
		free(h->req[i].raw.p);
		free(h->req[i].body.p);
	}
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
