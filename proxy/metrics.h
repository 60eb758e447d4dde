/*
 * proxy/metrics.h — process-wide counters, updated by workers with relaxed
 * atomics and read by the admin thread for /metrics.
 */
#ifndef PROXY_METRICS_H
#define PROXY_METRICS_H

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdint.h>

#define PROXY_METRICS_STATUS_CLASSES 6 /* 0 = no status, 1xx..5xx */
#define PROXY_METRICS_LIMIT_KINDS 7    /* meter_limit_kind values */

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
};

#define METRIC_ADD(m, field, n)                                                \
	atomic_fetch_add_explicit(&(m)->field, (n), memory_order_relaxed)

/* Appends the counters in Prometheus text format. */
void proxy_metrics_write(const struct proxy_metrics *m, struct evbuffer *out);

#endif
