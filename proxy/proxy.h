/*
 * proxy/proxy.h — the process: one struct proxy built by main, reached from
 * every worker, connection and the admin thread.  Everything in it is set
 * up before the workers start and is read-only afterwards, except the
 * config snapshot (swapped by a reload under cfg_mu: take it with
 * proxy_config_get), the metrics (atomics), and the store and the limiter
 * (their own locking).
 */
#ifndef PROXY_PROXY_H
#define PROXY_PROXY_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "meter/price.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "store/store.h"

struct proxy_worker;
struct certs_ca;
struct proxy_limiter;
struct proxy_alerts;
struct proxy_background;
struct proxy_events;
struct proxy_reconciler;

struct proxy {
	pthread_mutex_t cfg_mu;
	struct config *cfg;      /* running snapshot (reload swaps it) */
	struct config *boot_cfg; /* the first: restart-only settings */
	struct meter_prices *prices;
	struct store *store;
	SSL_CTX *upstream_ctx; /* client side, verifying */
	struct certs_ca *ca;   /* interception CA (forward-proxy mode) */
	struct proxy_limiter *limiter;
	struct proxy_alerts *alerts;
	struct proxy_background *background; /* pending background responses */
	struct proxy_events *events;         /* live events for /api/events */
	struct proxy_reconciler *reconciler; /* Usage/Costs API thread */
	struct proxy_metrics metrics;
	struct proxy_worker **workers;
	int nworkers;
	_Atomic uint64_t next_conn_id; /* connection ids, process-wide */
	_Atomic uint64_t body_bytes;   /* request bytes buffered, all workers */
};

/* The running config snapshot, held until proxy_config_put.  Any
 * thread. */
struct config *proxy_config_get(struct proxy *px);
void proxy_config_put(struct config *cfg);

/* SIGHUP: loads path (NULL: embedded defaults) with ov and swaps it in;
 * a config that does not load is refused with a log line and the running
 * one stays.  Main thread.  0 on success, -1 refused. */
int proxy_reload(struct proxy *px, const char *path,
                 const struct config_overrides *ov);

#endif
