/*
 * proxy/fetch.h — a small blocking HTTP/1.1 client for side threads: the
 * alert webhook thread, the reconciler's Usage and Costs API calls.  Never
 * called on a proxy worker (it blocks in getaddrinfo and poll).
 *
 * One request per connection (Connection: close), http:// or https://,
 * the response parsed by proxy/http.c (Content-Length, chunked or
 * EOF-delimited bodies) and kept whole up to PROXY_FETCH_MAX_BODY.  HTTPS
 * verifies the peer (system CA store plus an optional extra bundle) and
 * the host name or IP address in the URL.
 *
 * Never logs: errors come back in err.  The process must ignore SIGPIPE
 * (main does): OpenSSL writes to the socket with write(2).
 */
#ifndef PROXY_FETCH_H
#define PROXY_FETCH_H

#include <stdatomic.h>
#include <stddef.h>

#define PROXY_FETCH_MAX_BODY (8 * 1024 * 1024) /* response body bytes kept */
#define PROXY_FETCH_MAX_URL 4096               /* URL length, bytes */
#define PROXY_FETCH_DEFAULT_TIMEOUT_MS 30000   /* when timeout_ms <= 0 */
#define PROXY_FETCH_CANCEL_POLL_MS 100 /* how often *cancel is looked at */

struct proxy_fetch_req {
	const char *method;  /* "GET", "POST", ... (upper-case token) */
	const char *url;     /* http[s]://host[:port][/path][?query]; IPv6
	                        literals in brackets: http://[::1]:8080/ */
	const char *headers; /* extra "Name: value\r\n" lines, or NULL */
	const char *body;    /* request body, or NULL */
	size_t body_len;
	const char *ca_file; /* extra PEM CA bundle for https (tests, private
	                        CAs), or NULL: the system CA store only */
	int timeout_ms;      /* the whole exchange: DNS excepted, connect, TLS,
	                        send and receive */
	const atomic_int *cancel; /* NULL, or a flag another thread sets to
	                             abandon the exchange (seen within
	                             PROXY_FETCH_CANCEL_POLL_MS) */
};

struct proxy_fetch_resp {
	int status;
	char retry_after[32]; /* Retry-After value (cut to fit), "" if absent */
	char *body;           /* malloc'd, NUL-terminated, never NULL */
	size_t body_len;
};

/*
 * Sends rq and reads the whole response.  0 with *resp filled, whatever
 * the HTTP status (1xx interim responses skipped); the caller frees it with
 * proxy_fetch_resp_free.  -1 with a message in err and *resp untouched:
 * bad URL, DNS failure, connection refused, TLS failure (a certificate
 * verification failure names OpenSSL's reason), "timed out ...",
 * "cancelled ...", a malformed or cut-short response, a body over
 * PROXY_FETCH_MAX_BODY.  Blocks the calling thread up to rq->timeout_ms
 * (plus the time getaddrinfo takes, which no timeout bounds).  Each call
 * builds its own SSL_CTX (loading the CA store costs a few ms): fine for
 * side threads, wrong for anything per request.  Any thread.
 */
int proxy_fetch(const struct proxy_fetch_req *rq, struct proxy_fetch_resp *resp,
                char *err, size_t errlen);

/* Frees resp->body and clears *resp.  NULL is fine. */
void proxy_fetch_resp_free(struct proxy_fetch_resp *resp);

#endif
