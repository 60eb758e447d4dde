/*
 * tests/unit/httpd.h — a scripted loopback HTTP/1.1 server on a thread, for
 * the tests of the side-thread clients (proxy/fetch.c, proxy/alert.c).
 *
 * Listens on a loopback address, port chosen by the kernel, plain TCP or
 * TLS, and serves one connection at a time: reads one request (parsed with
 * proxy/http.c, so a request llhttp's strict mode refuses is never
 * recorded), records it, answers with the next scripted reply and closes.
 * Test-only; aborts on allocation failure.
 */
#ifndef TESTS_HTTPD_H
#define TESTS_HTTPD_H

#include <openssl/ssl.h>
#include <stddef.h>

enum httpd_action {
	HTTPD_SEND,   /* write data, then close */
	HTTPD_SILENT, /* never answer; close when the client does */
	HTTPD_HOLD,   /* wait for httpd_release, then as HTTPD_SEND */
	HTTPD_CLOSE,  /* close without a word */
};

struct httpd_reply {
	enum httpd_action action;
	const char *data; /* the caller's; must outlive the server */
	size_t len;       /* 0: strlen(data) */
};

struct httpd;

/*
 * Starts a server on addr ("127.0.0.1", "::1"); tls NULL for plain TCP,
 * else a server context the caller keeps alive until httpd_stop.  Ignores
 * SIGPIPE process-wide.  NULL if addr cannot be bound.
 */
struct httpd *httpd_start(const char *addr, SSL_CTX *tls);

/* Replies for the next connections, in order; the last one repeats.
 * Copies the array, not the data. */
void httpd_script(struct httpd *h, const struct httpd_reply *r, int n);

int httpd_port(const struct httpd *h);

/* Requests received whole so far. */
int httpd_nrequests(struct httpd *h);

/* Waits until n requests arrived: 0, or -1 after timeout_ms. */
int httpd_wait(struct httpd *h, int n, int timeout_ms);

/* Request i as received (head and body, NUL-terminated) and its body
 * de-chunked; valid until httpd_stop.  NULL when there is no request i. */
const char *httpd_raw(struct httpd *h, int i);
const char *httpd_body(struct httpd *h, int i);

/* Lets a HTTPD_HOLD reply go. */
void httpd_release(struct httpd *h);

/* Stops the thread (ending a SILENT or HOLD connection) and frees. */
void httpd_stop(struct httpd *h);

#endif
