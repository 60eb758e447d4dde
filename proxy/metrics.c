/*
 * proxy/metrics.c — the counters (see metrics.h): updated by workers with
 * relaxed atomics, rendered in Prometheus text format by the admin thread.
 * Owns the workspace x model series table, bounded at
 * PROXY_METRICS_MAX_SERIES (the last slot is "other").
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "meter/limit.h"
#include "proxy/metrics.h"

/* Upper bounds of the upstream latency buckets, in ms: LLM answers take
 * from milliseconds (cached, embeddings) to minutes (reasoning). */
static const int64_t latency_bounds_ms[PROXY_METRICS_LATENCY_BUCKETS] = {
    5,    10,   25,   50,    100,   250,   500,
    1000, 2500, 5000, 10000, 30000, 60000, 300000};

void
proxy_metrics_init(struct proxy_metrics *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->series_mu, NULL);
	snprintf(m->series[PROXY_METRICS_MAX_SERIES].workspace,
	         sizeof(m->series[0].workspace), "other");
	snprintf(m->series[PROXY_METRICS_MAX_SERIES].model,
	         sizeof(m->series[0].model), "other");
}

void
proxy_metrics_destroy(struct proxy_metrics *m)
{
	pthread_mutex_destroy(&m->series_mu);
}

static struct proxy_metrics_series *
series_find(struct proxy_metrics *m, size_t n, const char *ws,
            const char *model)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(m->series[i].workspace, ws) == 0 &&
		    strcmp(m->series[i].model, model) == 0)
			return &m->series[i];
	return NULL;
}

/* The series of ws x model, made on first use; "other" once full.  A
 * linear scan: a few hundred short compares, next to a TLS write. */
static struct proxy_metrics_series *
series_for(struct proxy_metrics *m, const char *ws, const char *model)
{
	size_t n = atomic_load_explicit(&m->nseries, memory_order_acquire);
	struct proxy_metrics_series *s = series_find(m, n, ws, model);

	if (s != NULL)
		return s;
	pthread_mutex_lock(&m->series_mu);
	n = atomic_load_explicit(&m->nseries, memory_order_relaxed);
	if ((s = series_find(m, n, ws, model)) == NULL) {
		if (n < PROXY_METRICS_MAX_SERIES) {
			s = &m->series[n];
			snprintf(s->workspace, sizeof(s->workspace), "%s", ws);
			snprintf(s->model, sizeof(s->model), "%s", model);
			atomic_store_explicit(&m->nseries, n + 1,
			                      memory_order_release);
		} else {
			s = &m->series[PROXY_METRICS_MAX_SERIES];
		}
	}
	pthread_mutex_unlock(&m->series_mu);
	return s;
}

void
proxy_metrics_request(struct proxy_metrics *m, enum meter_endpoint ep,
                      const struct store_record *rec)
{
	struct proxy_metrics_series *s;

	if ((int)ep >= 0 && ep < METER_EP_COUNT)
		METRIC_ADD(m, by_endpoint[ep], 1);
	if (!rec->forwarded)
		return; /* refused here: no model was used */
	s = series_for(m, rec->workspace, rec->model[0] ? rec->model : "none");
	METRIC_ADD(s, requests, 1);
	METRIC_ADD(s, input_tokens, rec->input_tokens);
	METRIC_ADD(s, cached_tokens, rec->cached_input_tokens);
	METRIC_ADD(s, output_tokens, rec->output_tokens);
	METRIC_ADD(s, reasoning_tokens, rec->reasoning_tokens);
	METRIC_ADD(s, cost_nanousd, rec->cost_nanousd);
}

void
proxy_metrics_upstream_latency(struct proxy_metrics *m, int64_t ms)
{
	int i;

	if (ms < 0)
		ms = 0;
	for (i = 0; i < PROXY_METRICS_LATENCY_BUCKETS; i++)
		if (ms <= latency_bounds_ms[i])
			METRIC_ADD(m, latency_buckets[i], 1);
	METRIC_ADD(m, latency_count, 1);
	METRIC_ADD(m, latency_ms_sum, (uint64_t)ms);
}

/* A label value: backslash, quote and newline escaped (exposition
 * format); workspace names are plain, model names come from upstream. */
static void
label(struct evbuffer *out, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(out, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, v, 1);
	}
}

static void
counter(struct evbuffer *out, const char *name, const char *help,
        const char *type, uint64_t v)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n",
	                    name, help, name, type, name, v);
}

#define LOAD(f) atomic_load_explicit(&m->f, memory_order_relaxed)

static void
series_head(struct evbuffer *out, const struct proxy_metrics_series *s)
{
	evbuffer_add_printf(out, "{workspace=\"");
	label(out, s->workspace);
	evbuffer_add_printf(out, "\",model=\"");
	label(out, s->model);
	evbuffer_add_printf(out, "\"");
}

static void
write_series(const struct proxy_metrics *m, struct evbuffer *out)
{
	static const struct {
		const char *kind;
		size_t off;
	} kinds[] = {
	    {"input", offsetof(struct proxy_metrics_series, input_tokens)},
	    {"cached_input",
	     offsetof(struct proxy_metrics_series, cached_tokens)},
	    {"output", offsetof(struct proxy_metrics_series, output_tokens)},
	    {"reasoning",
	     offsetof(struct proxy_metrics_series, reasoning_tokens)},
	};
	size_t n = atomic_load_explicit(&m->nseries, memory_order_acquire);
	size_t i, k;

	evbuffer_add_printf(out, "# HELP tollgate_workspace_requests_total "
	                         "Requests forwarded upstream, by workspace "
	                         "and model.\n# TYPE "
	                         "tollgate_workspace_requests_total counter\n");
	for (i = 0; i <= PROXY_METRICS_MAX_SERIES; i++) {
		const struct proxy_metrics_series *s = &m->series[i];

		if (i == n)
			i = PROXY_METRICS_MAX_SERIES, s = &m->series[i];
		evbuffer_add_printf(out, "tollgate_workspace_requests_total");
		series_head(out, s);
		evbuffer_add_printf(out, "} %" PRIu64 "\n",
		                    atomic_load(&s->requests));
	}
	evbuffer_add_printf(out, "# HELP tollgate_tokens_total Tokens metered, "
	                         "by workspace, model and kind (input includes "
	                         "cached_input; output includes reasoning).\n"
	                         "# TYPE tollgate_tokens_total counter\n");
	for (i = 0; i <= PROXY_METRICS_MAX_SERIES; i++) {
		const struct proxy_metrics_series *s = &m->series[i];

		if (i == n)
			i = PROXY_METRICS_MAX_SERIES, s = &m->series[i];
		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			evbuffer_add_printf(out, "tollgate_tokens_total");
			series_head(out, s);
			evbuffer_add_printf(
			    out, ",kind=\"%s\"} %" PRIu64 "\n", kinds[k].kind,
			    atomic_load(
			        (const _Atomic uint64_t *)((const char *)s +
			                                   kinds[k].off)));
		}
	}
	evbuffer_add_printf(out, "# HELP tollgate_cost_usd_total Cost metered, "
	                         "in USD, by workspace and model.\n"
	                         "# TYPE tollgate_cost_usd_total counter\n");
	for (i = 0; i <= PROXY_METRICS_MAX_SERIES; i++) {
		const struct proxy_metrics_series *s = &m->series[i];
		uint64_t c;

		if (i == n)
			i = PROXY_METRICS_MAX_SERIES, s = &m->series[i];
		c = atomic_load(&s->cost_nanousd);
		evbuffer_add_printf(out, "tollgate_cost_usd_total");
		series_head(out, s);
		evbuffer_add_printf(out, "} %" PRIu64 ".%09" PRIu64 "\n",
		                    c / 1000000000, c % 1000000000);
	}
}

static void
write_latency(const struct proxy_metrics *m, struct evbuffer *out)
{
	uint64_t sum = LOAD(latency_ms_sum);
	int i;

	evbuffer_add_printf(out, "# HELP tollgate_upstream_latency_seconds "
	                         "Time from a request sent upstream to its "
	                         "response head.\n# TYPE "
	                         "tollgate_upstream_latency_seconds "
	                         "histogram\n");
	for (i = 0; i < PROXY_METRICS_LATENCY_BUCKETS; i++)
		evbuffer_add_printf(
		    out,
		    "tollgate_upstream_latency_seconds_bucket{le="
		    "\"%g\"} %" PRIu64 "\n",
		    (double)latency_bounds_ms[i] / 1000.0,
		    LOAD(latency_buckets[i]));
	evbuffer_add_printf(
	    out,
	    "tollgate_upstream_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64
	    "\ntollgate_upstream_latency_seconds_sum %" PRIu64 ".%03" PRIu64
	    "\ntollgate_upstream_latency_seconds_count %" PRIu64 "\n",
	    LOAD(latency_count), sum / 1000, sum % 1000, LOAD(latency_count));
}

static void
write_endpoints(const struct proxy_metrics *m, struct evbuffer *out)
{
	int i;

	evbuffer_add_printf(out, "# HELP tollgate_endpoint_requests_total "
	                         "Requests recorded, by endpoint.\n# TYPE "
	                         "tollgate_endpoint_requests_total counter\n");
	for (i = 0; i < METER_EP_COUNT; i++)
		evbuffer_add_printf(
		    out,
		    "tollgate_endpoint_requests_total{endpoint=\"%s\"} %" PRIu64
		    "\n",
		    meter_endpoint_name((enum meter_endpoint)i),
		    LOAD(by_endpoint[i]));
}

void
proxy_metrics_write_store(const struct store_stats *ss, struct evbuffer *out)
{
	int i;

	evbuffer_add_printf(out, "# HELP tollgate_store_commit_seconds Time "
	                         "to commit one batch of rows.\n# TYPE "
	                         "tollgate_store_commit_seconds histogram\n");
	for (i = 0; i < STORE_COMMIT_BUCKETS; i++)
		evbuffer_add_printf(
		    out,
		    "tollgate_store_commit_seconds_bucket{le=\"%g\"} %" PRIu64
		    "\n",
		    (double)store_commit_bucket_us[i] / 1e6,
		    ss->commit_buckets[i]);
	evbuffer_add_printf(
	    out,
	    "tollgate_store_commit_seconds_bucket{le=\"+Inf\"} %" PRIu64
	    "\ntollgate_store_commit_seconds_sum %" PRIu64 ".%06" PRIu64
	    "\ntollgate_store_commit_seconds_count %" PRIu64 "\n",
	    ss->batches, ss->commit_us_sum / 1000000,
	    ss->commit_us_sum % 1000000, ss->batches);
}

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
	write_endpoints(m, out);
	write_latency(m, out);
	write_series(m, out);
}
