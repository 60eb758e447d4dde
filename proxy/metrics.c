/*
 * proxy/metrics.c — Prometheus rendering of the counters (see metrics.h).
 * Admin thread.
 */
#include <inttypes.h>

#include "meter/limit.h"
#include "proxy/metrics.h"

static void
counter(struct evbuffer *out, const char *name, const char *help,
        const char *type, uint64_t v)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n",
	                    name, help, name, type, name, v);
}

#define LOAD(f) atomic_load_explicit(&m->f, memory_order_relaxed)

void
proxy_metrics_write(const struct proxy_metrics *m, struct evbuffer *out)
{
	static const char *const cls[PROXY_METRICS_STATUS_CLASSES] = {
	    "none", "1xx", "2xx", "3xx", "4xx", "5xx"};
	int i;

	counter(out, "tollgate_connections_total",
	        "Client connections "
	        "accepted.",
	        "counter", LOAD(connections_total));
	counter(out, "tollgate_connections_open", "Client connections open.",
	        "gauge", (uint64_t)LOAD(connections_open));
	evbuffer_add_printf(
	    out, "# HELP tollgate_requests_total Requests "
	         "answered, by status class.\n# TYPE tollgate_requests_total "
	         "counter\n");
	for (i = 0; i < PROXY_METRICS_STATUS_CLASSES; i++)
		evbuffer_add_printf(
		    out, "tollgate_requests_total{class=\"%s\"} %" PRIu64 "\n",
		    cls[i], LOAD(requests_by_class[i]));
	counter(out, "tollgate_requests_estimated_total",
	        "Requests recorded "
	        "with estimated usage.",
	        "counter", LOAD(requests_estimated));
	counter(out, "tollgate_requests_unpriced_total",
	        "Requests whose model "
	        "has no price.",
	        "counter", LOAD(requests_unpriced));
	counter(out, "tollgate_upstream_connects_total",
	        "New upstream "
	        "connections.",
	        "counter", LOAD(upstream_connects));
	counter(out, "tollgate_upstream_reuses_total",
	        "Requests sent on a "
	        "pooled upstream connection.",
	        "counter", LOAD(upstream_reuses));
	counter(out, "tollgate_upstream_errors_total",
	        "Upstream connect, TLS, "
	        "reset and timeout failures.",
	        "counter", LOAD(upstream_errors));
	counter(out, "tollgate_input_tokens_total", "Input tokens metered.",
	        "counter", LOAD(input_tokens));
	counter(out, "tollgate_output_tokens_total", "Output tokens metered.",
	        "counter", LOAD(output_tokens));
	counter(out, "tollgate_cost_nanousd_total",
	        "Cost metered, in "
	        "nano-USD.",
	        "counter", LOAD(cost_nanousd));
	counter(out, "tollgate_store_refusals_total",
	        "Requests refused "
	        "because the store queue was full.",
	        "counter", LOAD(store_refusals));
	evbuffer_add_printf(out, "# HELP tollgate_throttled_total Requests "
	                         "refused with 429, by the limit hit.\n"
	                         "# TYPE tollgate_throttled_total counter\n");
	for (i = 1; i < PROXY_METRICS_LIMIT_KINDS; i++)
		evbuffer_add_printf(
		    out, "tollgate_throttled_total{limit=\"%s\"} %" PRIu64 "\n",
		    meter_limit_kind_name((enum meter_limit_kind)i),
		    LOAD(throttled[i]));
	counter(out, "tollgate_client_bytes_received_total",
	        "Bytes read from "
	        "clients.",
	        "counter", LOAD(bytes_from_clients));
	counter(out, "tollgate_client_bytes_sent_total",
	        "Bytes written to "
	        "clients.",
	        "counter", LOAD(bytes_to_clients));
}
