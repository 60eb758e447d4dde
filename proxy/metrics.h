/*
 * proxy/metrics.h — process-wide counters, updated by workers with relaxed
 * atomics and read by the admin thread for /metrics.
 */
#ifndef PROXY_METRICS_H
#define PROXY_METRICS_H

#include <event2/buffer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "meter/endpoint.h"
#include "store/store.h"

#define PROXY_METRICS_STATUS_CLASSES 6 /* 0 = no status, 1xx..5xx */
#define PROXY_METRICS_LIMIT_KINDS 7    /* meter_limit_kind values */
/* Label cardinality is bounded: at most this many workspace x model
 * series; the rest are added up under workspace="other",model="other". */
#define PROXY_METRICS_MAX_SERIES 256
#define PROXY_METRICS_LATENCY_BUCKETS 14 /* upstream time to first byte */

/* One workspace x model series: what its requests used and cost. */
struct proxy_metrics_series {
	char workspace[64];
	char model[128];
	_Atomic uint64_t requests;
	_Atomic uint64_t input_tokens; /* including cached */
	_Atomic uint64_t cached_tokens;
	_Atomic uint64_t output_tokens; /* including reasoning */
	_Atomic uint64_t reasoning_tokens;
	_Atomic uint64_t cost_nanousd;
};

struct proxy_metrics {
	_Atomic uint64_t connections_total;
	_Atomic int64_t connections_open;
	_Atomic uint64_t requests_total;
	_Atomic uint64_t requests_by_class[PROXY_METRICS_STATUS_CLASSES];
	_Atomic uint64_t requests_estimated;
	_Atomic uint64_t requests_unpriced;
	_Atomic uint64_t upstream_connects;
	_Atomic uint64_t upstream_reuses;
	_Atomic uint64_t upstream_errors;
	_Atomic uint64_t input_tokens;
	_Atomic uint64_t output_tokens;
	_Atomic uint64_t cost_nanousd;
	_Atomic uint64_t store_refusals;
	_Atomic uint64_t throttled[PROXY_METRICS_LIMIT_KINDS]; /* by
	                                      enum meter_limit_kind */
	_Atomic uint64_t bytes_from_clients;
	_Atomic uint64_t bytes_to_clients;
	_Atomic uint64_t by_endpoint[METER_EP_COUNT]; /* rows per endpoint */
	/* upstream latency: request sent to response head, cumulative */
	_Atomic uint64_t latency_buckets[PROXY_METRICS_LATENCY_BUCKETS];
	_Atomic uint64_t latency_count;
	_Atomic uint64_t latency_ms_sum;
	/* workspace x model: entries are filled once under series_mu and
	 * published by nseries; counters are atomics */
	pthread_mutex_t series_mu;
	_Atomic size_t nseries;
	struct proxy_metrics_series series[PROXY_METRICS_MAX_SERIES + 1];
};

/* Before any other call (main, single-threaded). */
void proxy_metrics_init(struct proxy_metrics *m);
void proxy_metrics_destroy(struct proxy_metrics *m);

/* One recorded request: its endpoint and its workspace x model series.
 * Worker threads. */
void proxy_metrics_request(struct proxy_metrics *m, enum meter_endpoint ep,
                           const struct store_record *rec);

/* The upstream answered a request's head after ms milliseconds. */
void proxy_metrics_upstream_latency(struct proxy_metrics *m, int64_t ms);

/* The store's commit latency histogram and queue, appended. */
void proxy_metrics_write_store(const struct store_stats *ss,
                               struct evbuffer *out);

#define METRIC_ADD(m, field, n)                                                \
	atomic_fetch_add_explicit(&(m)->field, (n), memory_order_relaxed)

/* Appends the counters in Prometheus text format. */
void proxy_metrics_write(const struct proxy_metrics *m, struct evbuffer *out);

#endif
