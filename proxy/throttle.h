/*
 * proxy/throttle.h — what a throttled client receives (DESIGN.md "What a
 * throttled client receives"), and the workspace's own x-ratelimit-*
 * headers on the answers that pass.
 */
#ifndef PROXY_THROTTLE_H
#define PROXY_THROTTLE_H

#include <event2/buffer.h>

#include "proxy/limiter.h"
#include "proxy/reply.h"

#define PROXY_THROTTLE_HEADERS_MAX 640 /* the 429's extra header bytes */
#define PROXY_THROTTLE_MESSAGE_MAX 512

/* The upstream's rate-limit headers, dropped when the workspace shows its
 * own (they describe the whole OpenAI organisation).  NULL-terminated. */
extern const char *const proxy_throttle_upstream_headers[];

struct proxy_throttle {
	struct proxy_reply reply; /* status 429, type, code, headers */
	char headers[PROXY_THROTTLE_HEADERS_MAX];
	char message[PROXY_THROTTLE_MESSAGE_MAX];
	const char *limit_hit; /* "rpm", ..., "monthly_usd" (static) */
};

/*
 * Builds the 429 for refusal rf of a request that asked for *ask at
 * now_ms: Retry-After (and retry-after-ms), x-should-retry: false when
 * waiting cannot help (a budget, or a request larger than the limit),
 * the workspace's x-ratelimit-*, x-tollgate-limit, and a message naming
 * the workspace, the limit and when it frees.  out->reply points into
 * out.
 */
void proxy_throttle_build(const struct proxy_limit_refusal *rf,
                          const struct meter_limit_ask *ask, int64_t now_ms,
                          struct proxy_throttle *out);

/* Appends the x-ratelimit-* fields of v (what it has). */
void proxy_throttle_headers(struct evbuffer *out,
                            const struct meter_limit_view *v);

#endif
