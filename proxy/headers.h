/*
 * proxy/headers.h — what crosses the proxy in headers, and how.
 *
 * RFC 9110 §7.6.1: Connection, the fields it names, and the hop-by-hop
 * fields (Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade, Proxy-Authenticate, Proxy-Authorization) are never forwarded.
 * Framing fields (Content-Length) are regenerated for the bytes tollgate
 * actually sends.
 */
#ifndef PROXY_HEADERS_H
#define PROXY_HEADERS_H

#include <event2/buffer.h>

#include "proxy/http.h"

/* Field i must not be forwarded: hop-by-hop, named by Connection, or in
 * the NULL-terminated extra list (case-insensitive). */
int proxy_headers_skip(const struct proxy_http_head *h, int i,
                       const char *const *extra);

/* Appends "Name: value\r\n" for every forwarded field of h. */
void proxy_headers_copy(struct evbuffer *out, const struct proxy_http_head *h,
                        const char *const *extra);

/*
 * The Accept-Encoding tollgate sends upstream (DESIGN.md request flow 5):
 * the client's offer narrowed to gzip and deflate (q > 0), "identity" when
 * nothing is left or the request is a stream.  Returns a static string.
 */
const char *proxy_headers_upstream_encoding(const struct proxy_http_head *h,
                                            int stream);

#endif
