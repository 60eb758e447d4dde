/*
 * proxy/alert.c — the budget alert webhook thread (see alert.h).
 *
 * Threads: proxy workers call post() (a copy into the ring under the
 * mutex); main calls start, set_url and stop; the alert thread takes one
 * alert at a time and delivers it with proxy_fetch, blocking on the network
 * with no lock held.  Owns the ring, the URL strings (reference-counted
 * under the mutex: a queued alert keeps the URL it was posted with across
 * a reload) and the thread.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "meter/price.h"
#include "proxy/alert.h"
#include "proxy/fetch.h"
#include "proxy/log.h"

#define ALERT_TEXT_MAX 768   /* the "text" sentence, bytes */
#define ALERT_ORIGIN_MAX 300 /* scheme://host[:port] for logs, bytes */
#define ALERT_ERR_MAX 256    /* one delivery's error message, bytes */

struct alert_url {
	int refs; /* under proxy_alerts.mu */
	char s[];
};

struct alert_item {
	struct proxy_alert al;
	struct alert_url *url; /* a reference */
};

struct proxy_alerts {
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t wake;     /* queued, or stop */
	pthread_cond_t finished; /* the thread is about to exit */
	struct alert_item ring[PROXY_ALERT_QUEUE];
	size_t head, count;
	struct alert_url *url; /* for alerts posted from now on; NULL = off */
	char *ca_file;         /* read-only after start */
	int backoff_ms;
	int stop;
	int64_t stop_deadline; /* CLOCK_MONOTONIC ms, once stop is set */
	int done;              /* the thread has left its loop */
	int dropping;          /* in a burst of drops, already logged */
	uint64_t sent, failed, dropped, unsent;
	atomic_int cancel; /* cuts a delivery short at the stop deadline */
};

static int64_t
alert_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec
alert_abstime(int64_t mono_ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(mono_ms / 1000);
	ts.tv_nsec = (long)(mono_ms % 1000) * 1000000;
	return ts;
}

/* --- URLs ------------------------------------------------------------ */

static int
alert_url_ok(const char *url)
{
	return strncasecmp(url, "https://", 8) == 0 ||
	       strncasecmp(url, "http://", 7) == 0;
}

static struct alert_url *
alert_url_new(const char *s)
{
	size_t n = strlen(s);
	struct alert_url *u = malloc(sizeof(*u) + n + 1);

	if (u == NULL)
		return NULL;
	u->refs = 1;
	memcpy(u->s, s, n + 1);
	return u;
}

/* With a->mu held. */
static void
alert_url_unref(struct alert_url *u)
{
	if (u != NULL && --u->refs == 0)
		free(u);
}

/* scheme://host[:port] of url, for logs: the path of a Slack webhook is
 * its secret, and user info may hold a password. */
static void
alert_origin(const char *url, char *buf, size_t cap)
{
	const char *s = strstr(url, "://"), *a, *end, *p;

	if (s == NULL) {
		snprintf(buf, cap, "(not a URL)");
		return;
	}
	a = s + 3;
	end = a + strcspn(a, "/?#");
	for (p = a; p < end; p++)
		if (*p == '@')
			a = p + 1;
	snprintf(buf, cap, "%.*s%.*s", (int)(s + 3 - url), url, (int)(end - a),
	         a);
}

/* --- the message ----------------------------------------------------- */

/* Dollars and cents, cut (never rounded up: the text must not claim more
 * was spent than was). */
/* Slack reads &, < and > in "text" as markup: escape them as it asks. */
static void
alert_slack_escape(const char *s, char *buf, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		const char *e = *s == '&'   ? "&amp;"
		                : *s == '<' ? "&lt;"
		                : *s == '>' ? "&gt;"
		                            : NULL;
		size_t k = e != NULL ? strlen(e) : 1;

		if (n + k >= cap)
			break;
		memcpy(buf + n, e != NULL ? e : s, k);
		n += k;
	}
	buf[n] = '\0';
}

static void
alert_text(const struct proxy_alert *al, char *buf, size_t cap)
{
	char ws[sizeof(al->workspace) * 5], spent[32], limit[32];
	const char *kind = al->budget, *prep = "in";

	if (strcmp(al->budget, "daily_usd") == 0) {
		kind = "daily";
		prep = "on";
	} else if (strcmp(al->budget, "monthly_usd") == 0) {
		kind = "monthly";
	}
	alert_slack_escape(al->workspace, ws, sizeof(ws));
	meter_price_cents_text(al->spent_nanousd, spent, sizeof(spent));
	meter_price_cents_text(al->limit_nanousd, limit, sizeof(limit));
	snprintf(buf, cap,
	         "tollgate: workspace %s reached %u%% (%s) of its %s budget: "
	         "$%s of $%s spent %s %s",
	         ws, al->threshold_pct, al->level, kind, spent, limit, prep,
	         al->period);
}

/* RFC 3339 UTC with milliseconds. */
static void
alert_ts(int64_t ms, char *buf, size_t cap)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&s, &tm);
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

/* The JSON body (free with cJSON_free), or NULL when out of memory. */
static char *
alert_body(const struct proxy_alert *al)
{
	char text[ALERT_TEXT_MAX], ts[48], spent[24], limit[24];
	cJSON *o = cJSON_CreateObject();
	char *out = NULL;

	if (o == NULL)
		return NULL;
	alert_text(al, text, sizeof(text));
	alert_ts(al->ts_ms, ts, sizeof(ts));
	/* Raw integers: a cJSON number is a double, inexact past 2^53. */
	snprintf(spent, sizeof(spent), "%" PRIu64, al->spent_nanousd);
	snprintf(limit, sizeof(limit), "%" PRIu64, al->limit_nanousd);
	if (cJSON_AddStringToObject(o, "text", text) == NULL ||
	    cJSON_AddStringToObject(o, "workspace", al->workspace) == NULL ||
	    cJSON_AddStringToObject(o, "budget", al->budget) == NULL ||
	    cJSON_AddStringToObject(o, "level", al->level) == NULL ||
	    cJSON_AddNumberToObject(o, "threshold_pct", al->threshold_pct) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "period", al->period) == NULL ||
	    /* display only: the nanousd fields are the exact amounts */
	    cJSON_AddNumberToObject(o, "spent_usd",
	                            (double)al->spent_nanousd / 1e9) == NULL ||
	    cJSON_AddNumberToObject(o, "limit_usd",
	                            (double)al->limit_nanousd / 1e9) == NULL ||
	    cJSON_AddRawToObject(o, "spent_nanousd", spent) == NULL ||
	    cJSON_AddRawToObject(o, "limit_nanousd", limit) == NULL ||
	    cJSON_AddStringToObject(o, "ts", ts) == NULL)
		goto cleanup;
	out = cJSON_PrintUnformatted(o);
cleanup:
	cJSON_Delete(o);
	return out;
}

/* --- delivery (alert thread) ------------------------------------------ */

static void
alerts_count(struct proxy_alerts *a, uint64_t *counter)
{
	pthread_mutex_lock(&a->mu);
	(*counter)++;
	pthread_mutex_unlock(&a->mu);
}

/* Retry-After in delay-seconds (RFC 9110 §10.2.3), as ms capped at
 * PROXY_ALERT_RETRY_AFTER_MAX_MS; 0 when absent or an HTTP-date. */
static int
alert_retry_after_ms(const char *v)
{
	const int max_s = PROXY_ALERT_RETRY_AFTER_MAX_MS / 1000;
	size_t i, n = strlen(v);
	int s = 0;

	if (n == 0 || strspn(v, "0123456789") != n)
		return 0;
	for (i = 0; i < n && s <= max_s; i++)
		s = s * 10 + (v[i] - '0');
	return s > max_s ? PROXY_ALERT_RETRY_AFTER_MAX_MS : s * 1000;
}

/* How long one try may take: PROXY_ALERT_TIMEOUT_MS, less once stopping;
 * 0 when the stop deadline has passed. */
static int
alerts_try_budget(struct proxy_alerts *a)
{
	int64_t left = PROXY_ALERT_TIMEOUT_MS;

	pthread_mutex_lock(&a->mu);
	if (a->stop && a->stop_deadline - alert_now_ms() < left)
		left = a->stop_deadline - alert_now_ms();
	pthread_mutex_unlock(&a->mu);
	return left > 0 ? (int)left : 0;
}

/* One POST.  0 delivered (2xx); -1 with err, and *retry_ms the server's
 * Retry-After (0 if none). */
static int
alerts_try(struct proxy_alerts *a, const struct alert_item *it,
           const char *body, int timeout_ms, char *err, size_t errlen,
           int *retry_ms)
{
	struct proxy_fetch_req rq;
	struct proxy_fetch_resp resp;
	int rc = -1;

	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = it->url->s;
	rq.headers = "Content-Type: application/json\r\n";
	rq.body = body;
	rq.body_len = strlen(body);
	rq.ca_file = a->ca_file;
	rq.timeout_ms = timeout_ms;
	rq.cancel = &a->cancel;
	*retry_ms = 0;
	if (proxy_fetch(&rq, &resp, err, errlen) == -1)
		return -1;
	if (resp.status >= 200 && resp.status <= 299) {
		rc = 0;
	} else {
		/* Never the response body: it may echo the request. */
		snprintf(err, errlen, "HTTP status %d", resp.status);
		*retry_ms = alert_retry_after_ms(resp.retry_after);
	}
	proxy_fetch_resp_free(&resp);
	return rc;
}

/* Exponential backoff (1 s, 2 s, 4 s, 8 s by default) after tries. */
static int64_t
alerts_backoff_ms(struct proxy_alerts *a, int tries)
{
	int64_t ms;

	pthread_mutex_lock(&a->mu);
	ms = (int64_t)a->backoff_ms << (tries - 1);
	pthread_mutex_unlock(&a->mu);
	return ms;
}

/* Waits ms on the queue's condition.  stop() ends the wait early (the
 * next try gets what is left of PROXY_ALERT_STOP_MS); once stopping, no
 * wait goes past the stop deadline. */
static void
alerts_sleep(struct proxy_alerts *a, int64_t ms)
{
	int64_t until = alert_now_ms() + ms, end;
	struct timespec ts;
	int was_stopping;

	pthread_mutex_lock(&a->mu);
	was_stopping = a->stop;
	while (!(a->stop && !was_stopping)) {
		end = a->stop && a->stop_deadline < until ? a->stop_deadline
		                                          : until;
		if (alert_now_ms() >= end)
			break;
		ts = alert_abstime(end);
		pthread_cond_timedwait(&a->wake, &a->mu, &ts);
	}
	pthread_mutex_unlock(&a->mu);
}

static void
alerts_log_sent(const struct alert_item *it, const char *origin)
{
	log_info("alerts: delivered %s alert for workspace %s (%u%% of "
	         "%s, %s) to %s",
	         it->al.level, it->al.workspace, it->al.threshold_pct,
	         it->al.budget, it->al.period, origin);
}

static void
alerts_log_failed(const struct alert_item *it, const char *origin, int tries,
                  const char *err)
{
	log_err("alerts: gave up on the %s alert for workspace %s (%u%% of "
	        "%s, %s) to %s after %d tries: %s",
	        it->al.level, it->al.workspace, it->al.threshold_pct,
	        it->al.budget, it->al.period, origin, tries, err);
}

/* Delivers one alert, retrying; counts and logs the outcome and drops
 * the item's URL reference. */
static void
alerts_deliver(struct proxy_alerts *a, struct alert_item *it)
{
	char err[ALERT_ERR_MAX] = "", origin[ALERT_ORIGIN_MAX];
	char *body = alert_body(&it->al);
	int tries = 0, retry_ms, timeout_ms;
	int64_t wait_ms;

	alert_origin(it->url->s, origin, sizeof(origin));
	if (body == NULL) {
		snprintf(err, sizeof(err), "out of memory for the body");
		goto failed;
	}
	for (;;) {
		if ((timeout_ms = alerts_try_budget(a)) == 0) {
			alerts_count(a, &a->unsent); /* stopping: out of time */
			goto cleanup;
		}
		tries++;
		if (alerts_try(a, it, body, timeout_ms, err, sizeof(err),
		               &retry_ms) == 0) {
			alerts_log_sent(it, origin);
			alerts_count(a, &a->sent);
			goto cleanup;
		}
		if (tries == PROXY_ALERT_TRIES)
			break;
		wait_ms = alerts_backoff_ms(a, tries);
		if (retry_ms > wait_ms)
			wait_ms = retry_ms;
		alerts_sleep(a, wait_ms);
	}
failed:
	alerts_log_failed(it, origin, tries, err);
	alerts_count(a, &a->failed);
cleanup:
	cJSON_free(body);
	pthread_mutex_lock(&a->mu);
	alert_url_unref(it->url);
	pthread_mutex_unlock(&a->mu);
	it->url = NULL;
}

static void *
alerts_main(void *arg)
{
	struct proxy_alerts *a = arg;
	struct alert_item it;
	uint64_t unsent;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->count == 0 && !a->stop)
			pthread_cond_wait(&a->wake, &a->mu);
		if (a->count == 0 ||
		    (a->stop && alert_now_ms() >= a->stop_deadline))
			break;
		it = a->ring[a->head];
		a->head = (a->head + 1) % PROXY_ALERT_QUEUE;
		a->count--;
		pthread_mutex_unlock(&a->mu);
		alerts_deliver(a, &it);
		pthread_mutex_lock(&a->mu);
	}
	for (; a->count > 0; a->count--) { /* past the stop deadline */
		alert_url_unref(a->ring[a->head].url);
		a->head = (a->head + 1) % PROXY_ALERT_QUEUE;
		a->unsent++;
	}
	unsent = a->unsent;
	a->done = 1;
	pthread_cond_signal(&a->finished);
	pthread_mutex_unlock(&a->mu);
	if (unsent > 0)
		log_err("alerts: stopping with %" PRIu64 " alerts not sent",
		        unsent);
	return NULL;
}

/* --- the API ----------------------------------------------------------- */

struct proxy_alerts *
proxy_alerts_start(const char *url, const char *ca_file, char *err,
                   size_t errlen)
{
	struct proxy_alerts *a = calloc(1, sizeof(*a));
	pthread_condattr_t ca;

	if (a == NULL) {
		snprintf(err, errlen, "out of memory for the alert queue");
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake, &ca);
	pthread_cond_init(&a->finished, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&a->cancel, 0);
	a->backoff_ms = PROXY_ALERT_BACKOFF_MS;
	if (url != NULL && !alert_url_ok(url)) {
		snprintf(err, errlen,
		         "alert webhook URL must start with https:// or "
		         "http://");
		goto fail;
	}
	if ((url != NULL && (a->url = alert_url_new(url)) == NULL) ||
	    (ca_file != NULL && (a->ca_file = strdup(ca_file)) == NULL)) {
		snprintf(err, errlen, "out of memory for the alert settings");
		goto fail;
	}
	if (pthread_create(&a->thread, NULL, alerts_main, a) != 0) {
		snprintf(err, errlen, "cannot start the alert thread");
		goto fail;
	}
	a->started = 1;
	return a;
fail:
	proxy_alerts_stop(a);
	return NULL;
}

void
proxy_alerts_post(struct proxy_alerts *a, const struct proxy_alert *al)
{
	struct alert_item *it;
	int log_drop = 0;

	pthread_mutex_lock(&a->mu);
	if (a->url == NULL || a->stop) {
		pthread_mutex_unlock(&a->mu);
		return;
	}
	if (a->count == PROXY_ALERT_QUEUE) {
		a->dropped++;
		log_drop = !a->dropping;
		a->dropping = 1;
	} else {
		it = &a->ring[(a->head + a->count) % PROXY_ALERT_QUEUE];
		it->al = *al;
		/* Bounded strings whatever the caller filled in. */
		it->al.workspace[sizeof(it->al.workspace) - 1] = '\0';
		it->al.budget[sizeof(it->al.budget) - 1] = '\0';
		it->al.level[sizeof(it->al.level) - 1] = '\0';
		it->al.period[sizeof(it->al.period) - 1] = '\0';
		it->url = a->url;
		a->url->refs++;
		a->count++;
		a->dropping = 0;
		pthread_cond_signal(&a->wake);
	}
	pthread_mutex_unlock(&a->mu);
	if (log_drop)
		log_err("alerts: queue full (%d waiting): dropping alerts "
		        "until it drains, starting with the %.*s alert for "
		        "workspace %.*s",
		        PROXY_ALERT_QUEUE, (int)sizeof(al->level), al->level,
		        (int)sizeof(al->workspace), al->workspace);
}

void
proxy_alerts_set_url(struct proxy_alerts *a, const char *url)
{
	struct alert_url *u = NULL;

	if (url != NULL && !alert_url_ok(url))
		log_err("alerts: the webhook URL must start with https:// or "
		        "http://; alerts are off");
	else if (url != NULL && (u = alert_url_new(url)) == NULL)
		log_err("alerts: out of memory for the webhook URL; alerts "
		        "are off");
	pthread_mutex_lock(&a->mu);
	alert_url_unref(a->url);
	a->url = u;
	pthread_mutex_unlock(&a->mu);
}

void
proxy_alerts_stats(struct proxy_alerts *a, uint64_t *sent, uint64_t *failed,
                   uint64_t *dropped)
{
	pthread_mutex_lock(&a->mu);
	*sent = a->sent;
	*failed = a->failed;
	*dropped = a->dropped;
	pthread_mutex_unlock(&a->mu);
}

void
proxy_alerts_set_backoff_ms(struct proxy_alerts *a, int base_ms)
{
	pthread_mutex_lock(&a->mu);
	a->backoff_ms = base_ms > 0 ? base_ms : 1;
	pthread_mutex_unlock(&a->mu);
}

void
proxy_alerts_stop(struct proxy_alerts *a)
{
	struct timespec ts;

	if (a == NULL)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = 1;
		a->stop_deadline = alert_now_ms() + PROXY_ALERT_STOP_MS;
		pthread_cond_signal(&a->wake);
		ts = alert_abstime(a->stop_deadline);
		while (!a->done)
			if (pthread_cond_timedwait(&a->finished, &a->mu, &ts) ==
			    ETIMEDOUT)
				break;
		/* Still delivering at the deadline: cut the exchange short
		 * (proxy_fetch looks at the flag between polls). */
		if (!a->done)
			atomic_store(&a->cancel, 1);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	pthread_mutex_lock(&a->mu);
	alert_url_unref(a->url);
	a->url = NULL;
	pthread_mutex_unlock(&a->mu);
	free(a->ca_file);
	pthread_cond_destroy(&a->wake);
	pthread_cond_destroy(&a->finished);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
