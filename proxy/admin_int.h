/*
 * proxy/admin_int.h — what the admin thread's modules share: the admin
 * context, the reply helpers, and the handlers each module serves.
 * admin.c owns the listener, authentication and the route table;
 * admin_usage.c the usage and quota reports, CSV and live events;
 * admin_recon.c reconciliation; dashboard.c the page at "/".
 * Admin thread only; never included outside proxy/admin*.c, dashboard.c.
 */
#ifndef PROXY_ADMIN_INT_H
#define PROXY_ADMIN_INT_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdint.h>

#include "proxy/proxy.h"
#include "store/store.h"

struct proxy_admin {
	struct proxy *px;
	struct store_reader *reader; /* read-only: reports never block writes */
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	int started;
	void *usage_state; /* admin_usage.c's own (live event clients) */
};

/* {"error":{...}} in OpenAI's shape with status and code. */
void admin_json_error(struct evhttp_request *req, int status, const char *code,
                      const char *msg);
/* Sends b as application/json with status (b stays the caller's). */
void admin_send_json(struct evhttp_request *req, int status,
                     struct evbuffer *b);
/* The limiter's live state: a malloc'd array of *n entries for the
 * caller to free (NULL and *n = 0: none, or no memory). */
struct proxy_limiter_status *admin_limiter_state(struct proxy_admin *ad,
                                                 size_t *n);
/* "key":1.234567890 (nano-USD as USD, exact). */
void admin_json_usd(struct evbuffer *b, const char *key, uint64_t nano);

/*
 * A route's handler.  arg is the path's tail after a prefix route
 * ("/api/quota/status/{ws}" gives "{ws}"), or "" for an exact route.
 */
typedef void (*admin_handler_fn)(struct proxy_admin *ad,
                                 struct evhttp_request *req, const char *arg);

/* admin_usage.c */
void admin_usage_current_month(struct proxy_admin *, struct evhttp_request *,
                               const char *);
void admin_usage_today(struct proxy_admin *, struct evhttp_request *,
                       const char *);
void admin_usage_budget_status(struct proxy_admin *, struct evhttp_request *,
                               const char *);
void admin_usage_model_comparison(struct proxy_admin *, struct evhttp_request *,
                                  const char *);
void admin_usage_cost_trend(struct proxy_admin *, struct evhttp_request *,
                            const char *);
void admin_usage_cost_intelligence(struct proxy_admin *,
                                   struct evhttp_request *, const char *);
void admin_usage_dashboard(struct proxy_admin *, struct evhttp_request *,
                           const char *);
void admin_usage_quota_status(struct proxy_admin *, struct evhttp_request *,
                              const char *);
void admin_usage_rows(struct proxy_admin *, struct evhttp_request *,
                      const char *);
void admin_usage_csv(struct proxy_admin *, struct evhttp_request *,
                     const char *);
void admin_usage_events(struct proxy_admin *, struct evhttp_request *,
                        const char *);
/* Sets up / tears down admin_usage.c's state (live event clients). */
int admin_usage_init(struct proxy_admin *ad);
void admin_usage_free(struct proxy_admin *ad);

/* admin_recon.c */
void admin_recon_reconciliation(struct proxy_admin *, struct evhttp_request *,
                                const char *);
void admin_recon_real_vs_estimated(struct proxy_admin *,
                                   struct evhttp_request *, const char *);
/*
 * The reconciliation object DESIGN.md gives ({"rows":[...], "last_run",
 * "status"}) for workspace ws (NULL: all) over from..to ("YYYY-MM-DD",
 * NULL: the reconciler's lookback), appended to b.  0, or -1 with err.
 * admin_usage_dashboard embeds it.
 */
int admin_recon_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
                     const char *from, const char *to, char *err,
                     size_t errlen);
/* Reconciliation gauges for /metrics, appended to b. */
void admin_recon_metrics(struct proxy_admin *ad, struct evbuffer *b);

/* dashboard.c */
void admin_dashboard_page(struct proxy_admin *, struct evhttp_request *,
                          const char *);

#endif
