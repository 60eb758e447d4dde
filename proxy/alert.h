/*
 * proxy/alert.h — budget alerts delivered to a webhook by a side thread.
 *
 * Proxy workers post alerts: a copy into a bounded queue under a mutex,
 * never I/O.  The alert thread POSTs each one, in order, as a
 * Slack-compatible JSON body (a "text" sentence plus the fields) with
 * proxy/fetch.c, retrying with exponential backoff.  A webhook URL is a
 * secret (a Slack URL alone authorises posting): only its scheme://host
 * is ever logged.
 */
#ifndef PROXY_ALERT_H
#define PROXY_ALERT_H

#include <stddef.h>
#include <stdint.h>

#define PROXY_ALERT_QUEUE 256       /* alerts waiting; more are dropped */
#define PROXY_ALERT_TRIES 5         /* deliveries tried per alert */
#define PROXY_ALERT_TIMEOUT_MS 5000 /* one delivery */
#define PROXY_ALERT_BACKOFF_MS 1000 /* wait before the first retry; doubles */
#define PROXY_ALERT_RETRY_AFTER_MAX_MS                                         \
	60000                    /* cap on a server's Retry-After              \
	                          */
#define PROXY_ALERT_STOP_MS 2000 /* stop(): time left to deliver the queue */

struct proxy_alert {
	char workspace[64];
	char budget[16];        /* "daily_usd" | "monthly_usd" */
	char level[16];         /* "warning" | "critical" | "exhausted" */
	char period[16];        /* "2026-11-22" (daily) | "2026-11" (monthly) */
	unsigned threshold_pct; /* the threshold crossed: warn_pct,
	                           critical_pct or 100 */
	uint64_t spent_nanousd, limit_nanousd;
	int64_t ts_ms; /* when it was crossed, Unix ms */
};

struct proxy_alerts;

/*
 * Starts the alert thread.  url: the webhook (http:// or https://), or NULL
 * for none: alerts are then only logged, by the caller, and post() drops
 * them silently.  ca_file: an extra CA bundle for https (see fetch.h), or
 * NULL.  Both are copied.  NULL with err on failure (a URL that is not
 * http(s), no memory, no thread).  Main thread, at start-up.
 */
struct proxy_alerts *proxy_alerts_start(const char *url, const char *ca_file,
                                        char *err, size_t errlen);

/*
 * Queues a copy of al for delivery to the current URL; never blocks on
 * I/O (the mutex is held for the copy only).  No URL: dropped silently.
 * Queue full (PROXY_ALERT_QUEUE waiting): dropped, counted, and one error
 * line logged per burst of drops.  Any thread.
 */
void proxy_alerts_post(struct proxy_alerts *a, const struct proxy_alert *al);

/*
 * SIGHUP reload: the URL for alerts posted from now on (copied; NULL =
 * off).  Alerts already queued keep the URL they were posted with.  A URL
 * that is not http(s) turns alerts off and logs why.  Any thread.
 */
void proxy_alerts_set_url(struct proxy_alerts *a, const char *url);

/* Counters for /metrics: delivered, failed (gave up after
 * PROXY_ALERT_TRIES), dropped (queue full).  Any thread. */
void proxy_alerts_stats(struct proxy_alerts *a, uint64_t *sent,
                        uint64_t *failed, uint64_t *dropped);

/*
 * For tests: the wait before the first retry (default
 * PROXY_ALERT_BACKOFF_MS), doubled for each later one.  A larger
 * Retry-After still wins.
 */
void proxy_alerts_set_backoff_ms(struct proxy_alerts *a, int base_ms);

/*
 * Stops: delivers what is queued for at most PROXY_ALERT_STOP_MS more
 * (cutting an unanswered delivery short then), gives up on the rest,
 * logging how many were not sent, joins the thread and frees.  A DNS
 * lookup in progress is not interruptible.  NULL is fine.  Main thread,
 * after the workers that post have stopped.
 */
void proxy_alerts_stop(struct proxy_alerts *a);

#endif
