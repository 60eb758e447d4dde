/*
 * proxy/throttle.c — the 429 a refused request gets, and the workspace's
 * x-ratelimit-* headers (see throttle.h).  Worker threads; no state.
 *
 * OpenAI's own types and codes (openai-wire.md §5): a rate limit is
 * type "requests" or "tokens" with code rate_limit_exceeded, which SDKs
 * retry after Retry-After; a spent budget is insufficient_quota, with
 * x-should-retry: false so the official SDKs stop at once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proxy/throttle.h"

const char *const proxy_throttle_upstream_headers[] = {
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-limit-tokens_usage_based",
    "x-ratelimit-remaining-tokens_usage_based",
    "x-ratelimit-reset-tokens_usage_based",
    NULL};

static void
iso_time(int64_t ms, char *buf, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "42 s", "3 min 20 s", "5 h 2 min": for people, rounded up to seconds. */
static void
human_wait(int64_t ms, char *buf, size_t cap)
{
	int64_t s = (ms + 999) / 1000;

	if (s < 60)
		snprintf(buf, cap, "%" PRId64 " s", s);
	else if (s < 3600)
		snprintf(buf, cap, "%" PRId64 " min %" PRId64 " s", s / 60,
		         s % 60);
	else
		snprintf(buf, cap, "%" PRId64 " h %" PRId64 " min", s / 3600,
		         s / 60 % 60);
}

static const char *
per(enum meter_limit_kind k)
{
	switch (k) {
	case METER_LIMIT_RPM:
		return "requests per minute";
	case METER_LIMIT_RPD:
		return "requests per day";
	case METER_LIMIT_TPM:
		return "tokens per minute";
	case METER_LIMIT_TPD:
		return "tokens per day";
	case METER_LIMIT_DAILY_USD:
		return "daily budget";
	case METER_LIMIT_MONTHLY_USD:
		return "monthly budget";
	default:
		return "limit";
	}
}

static void
message(const struct proxy_limit_refusal *rf, const struct meter_limit_ask *ask,
        int64_t now_ms, char *buf, size_t cap)
{
	const struct meter_limit_verdict *v = &rf->v;
	const char *kind = meter_limit_kind_name(v->hit);
	char at[32], wait[48], a[32], b[32], c[32];

	iso_time(v->reset_ms, at, sizeof(at));
	human_wait(v->retry_ms, wait, sizeof(wait));
	if (v->budget) {
		meter_price_cents_text(v->used, a, sizeof(a));
		meter_price_cents_text(v->limit, b, sizeof(b));
		meter_price_cents_text(ask->nanousd, c, sizeof(c));
		snprintf(buf, cap,
		         "tollgate: workspace \"%s\" cannot spend more of its "
		         "%s (%s): $%s of $%s spent or reserved by requests in "
		         "flight, and this request is estimated at $%s%s; it "
		         "resets at %s (in %s)",
		         rf->workspace, per(v->hit), kind, a, b, c,
		         v->never ? ", more than the whole budget" : "", at,
		         wait);
	} else if (v->never) {
		snprintf(buf, cap,
		         "tollgate: this request needs about %" PRIu64
		         " tokens, more than workspace \"%s\"'s limit of "
		         "%" PRIu64 " %s (%s); lower max_tokens or shorten the "
		         "input",
		         ask->tokens, rf->workspace, v->limit, per(v->hit),
		         kind);
	} else {
		snprintf(buf, cap,
		         "tollgate: workspace \"%s\" reached its limit of "
		         "%" PRIu64 " %s (%s): %" PRIu64 " used%s; retry in "
		         "%s (at %s)",
		         rf->workspace, v->limit, per(v->hit), kind, v->used,
		         v->hit == METER_LIMIT_TPM || v->hit == METER_LIMIT_TPD
		             ? " or reserved"
		             : "",
		         wait, at);
	}
}

void
proxy_throttle_build(const struct proxy_limit_refusal *rf,
                     const struct meter_limit_ask *ask, int64_t now_ms,
                     struct proxy_throttle *out)
{
	const struct meter_limit_verdict *v = &rf->v;
	int tokens = v->hit == METER_LIMIT_TPM || v->hit == METER_LIMIT_TPD;
	struct evbuffer *h = evbuffer_new();
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	out->limit_hit = meter_limit_kind_name(v->hit);
	out->reply.status = 429;
	out->reply.type = v->budget ? "insufficient_quota"
	                  : tokens  ? "tokens"
	                            : "requests";
	out->reply.code =
	    v->budget ? "insufficient_quota" : "rate_limit_exceeded";
	message(rf, ask, now_ms, out->message, sizeof(out->message));
	if (h != NULL) {
		if (!(v->never && !v->budget)) {
			int64_t ms = v->retry_ms > 0 ? v->retry_ms : 1;

			evbuffer_add_printf(h,
			                    "Retry-After: %" PRId64 "\r\n"
			                    "retry-after-ms: %" PRId64 "\r\n",
			                    (ms + 999) / 1000, ms);
		}
		if (v->budget || v->never)
			evbuffer_add_printf(h, "x-should-retry: false\r\n");
		proxy_throttle_headers(h, &rf->view);
		evbuffer_add_printf(h, "x-tollgate-limit: %s\r\n",
		                    out->limit_hit);
		n = evbuffer_copyout(h, out->headers, sizeof(out->headers) - 1);
		evbuffer_free(h);
	}
	out->headers[n] = '\0';
	out->reply.headers = out->headers;
}

void
proxy_throttle_headers(struct evbuffer *out, const struct meter_limit_view *v)
{
	char reset[32];

	if (v->has_requests) {
		meter_limit_duration(v->reset_requests_ms, reset,
		                     sizeof(reset));
		evbuffer_add_printf(
		    out,
		    "x-ratelimit-limit-requests: %" PRIu64 "\r\n"
		    "x-ratelimit-remaining-requests: %" PRIu64 "\r\n"
		    "x-ratelimit-reset-requests: %s\r\n",
		    v->limit_requests, v->remaining_requests, reset);
	}
	if (v->has_tokens) {
		meter_limit_duration(v->reset_tokens_ms, reset, sizeof(reset));
		evbuffer_add_printf(
		    out,
		    "x-ratelimit-limit-tokens: %" PRIu64 "\r\n"
		    "x-ratelimit-remaining-tokens: %" PRIu64 "\r\n"
		    "x-ratelimit-reset-tokens: %s\r\n",
		    v->limit_tokens, v->remaining_tokens, reset);
	}
}
