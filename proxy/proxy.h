/*
 * proxy/proxy.h — the process: one struct proxy built by main, reached from
 * every worker, connection and the admin thread.  Everything in it is set
 * up before the workers start and is read-only afterwards, except the
 * metrics (atomics) and the store (its own locking).
 */
#ifndef PROXY_PROXY_H
#define PROXY_PROXY_H

#include <openssl/ssl.h>
#include <stdatomic.h>

#include "meter/price.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "store/store.h"

struct proxy_worker;
struct certs_ca;

struct proxy {
	const struct config *cfg; /* frozen snapshot */
	struct meter_prices *prices;
	struct store *store;
	SSL_CTX *upstream_ctx; /* client side, verifying */
	struct certs_ca *ca;   /* interception CA (forward-proxy mode) */
	struct proxy_metrics metrics;
	struct proxy_worker **workers;
	int nworkers;
	_Atomic uint64_t next_conn_id; /* connection ids, process-wide */
	_Atomic uint64_t body_bytes;   /* request bytes buffered, all workers */
};

#endif
