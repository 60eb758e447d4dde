/*
 * proxy/admin.c — admin API (see admin.h).  Admin thread only.
 *
 * Owns the listener, authentication and the route table.  Serves
 * /healthz (no auth; also proves the database readable through the admin
 * thread's read-only connection), /metrics and /api/workspaces (the
 * limiter's live state) itself; the reports, reconciliation and the
 * dashboard are served by the modules admin_int.h names.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/account.h"
#include "proxy/admin.h"
#include "proxy/admin_int.h"
#include "proxy/limiter.h"
#include "proxy/log.h"
#include "proxy/reply.h"

void
admin_json_error(struct evhttp_request *req, int status, const char *code,
                 const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		return;
	evbuffer_add_printf(b, "{\"error\":{\"message\":");
	proxy_reply_json_string(b, msg);
	evbuffer_add_printf(b,
	                    ",\"type\":\"invalid_request_error\","
	                    "\"param\":null,\"code\":\"%s\"}}\n",
	                    code);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json");
	evhttp_send_reply(req, status, proxy_reply_reason(status), b);
	evbuffer_free(b);
}

void
admin_send_json(struct evhttp_request *req, int status, struct evbuffer *b)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "application/json");
	evhttp_send_reply(req, status, proxy_reply_reason(status), b);
}

/* Compares without an early exit, so timing does not leak the token. */
static int
same_secret(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), i;
	unsigned char d = na != nb;

	for (i = 0; i < nb; i++)
		d |= (unsigned char)(a[i < na ? i : 0] ^ b[i]);
	return d == 0;
}

static int
admin_authorized(struct proxy_admin *ad, struct evhttp_request *req)
{
	struct config *cfg = proxy_config_get(ad->px);
	const char *h;
	int ok = 1;

	if (cfg->admin_token != NULL) {
		h = evhttp_find_header(evhttp_request_get_input_headers(req),
		                       "Authorization");
		ok = h != NULL && strncmp(h, "Bearer ", 7) == 0 &&
		     same_secret(h + 7, cfg->admin_token);
	}
	proxy_config_put(cfg);
	return ok;
}

struct proxy_limiter_status *
admin_limiter_state(struct proxy_admin *ad, size_t *n)
{
	struct proxy_limiter_status *st;
	int64_t now = proxy_now_ms();
	size_t want = proxy_limiter_snapshot(ad->px->limiter, now, NULL, 0);

	*n = 0;
	if (want == 0 || (st = calloc(want, sizeof(*st))) == NULL)
		return NULL;
	*n = proxy_limiter_snapshot(ad->px->limiter, now, st, want);
	if (*n > want)
		*n = want;
	return st;
}

void
admin_json_usd(struct evbuffer *b, const char *key, uint64_t nano)
{
	evbuffer_add_printf(b, "\"%s\":%" PRIu64 ".%09" PRIu64, key,
	                    nano / 1000000000, nano % 1000000000);
}

static void
json_limit(struct evbuffer *b, const char *key, uint64_t v)
{
	if (v == 0)
		evbuffer_add_printf(b, "\"%s\":null,", key);
	else
		evbuffer_add_printf(b, "\"%s\":%" PRIu64 ",", key, v);
}

static void
admin_workspace_json(struct evbuffer *b, const struct proxy_limiter_status *s)
{
	const struct meter_limits *l = &s->limits;
	enum meter_limit_level lv = s->daily_level > s->monthly_level
	                                ? s->daily_level
	                                : s->monthly_level;

	evbuffer_add_printf(b, "{\"name\":");
	proxy_reply_json_string(b, s->workspace);
	evbuffer_add_printf(b, ",\"configured\":%s,\"limits\":{",
	                    s->configured ? "true" : "false");
	json_limit(b, "rpm", l->rpm);
	json_limit(b, "rpd", l->rpd);
	json_limit(b, "tpm", l->tpm);
	json_limit(b, "tpd", l->tpd);
	if (l->daily_nanousd > 0) {
		admin_json_usd(b, "daily_usd", l->daily_nanousd);
		evbuffer_add_printf(b, ",");
	} else {
		evbuffer_add_printf(b, "\"daily_usd\":null,");
	}
	if (l->monthly_nanousd > 0) {
		admin_json_usd(b, "monthly_usd", l->monthly_nanousd);
		evbuffer_add_printf(b, ",");
	} else {
		evbuffer_add_printf(b, "\"monthly_usd\":null,");
	}
	evbuffer_add_printf(
	    b,
	    "\"warn_pct\":%u,\"critical_pct\":%u},\"counters\":{"
	    "\"requests_minute\":%" PRIu64 ",\"requests_day\":%" PRIu64
	    ",\"tokens_minute\":%" PRIu64 ",\"tokens_day\":%" PRIu64
	    "},\"inflight\":%" PRIu64 ",\"reserved_tokens\":%" PRIu64
	    ",\"reserved_nanousd\":%" PRIu64 ",",
	    l->warn_pct, l->critical_pct, s->rpm, s->rpd, s->tpm, s->tpd,
	    s->inflight, s->reserved_tokens, s->reserved_nanousd);
	admin_json_usd(b, "reserved_usd", s->reserved_nanousd);
	evbuffer_add_printf(b,
	                    ",\"spend\":{\"today_nanousd\":%" PRIu64
	                    ",\"month_nanousd\":%" PRIu64 ",",
	                    s->daily_spent, s->monthly_spent);
	admin_json_usd(b, "today_usd", s->daily_spent);
	evbuffer_add_printf(b, ",");
	admin_json_usd(b, "month_usd", s->monthly_spent);
	evbuffer_add_printf(b, "},\"alert_level\":\"%s\"}",
	                    meter_limit_level_name(lv));
}

/* GET /api/workspaces: each workspace, its limits and live counters. */
static void
admin_workspaces(struct proxy_admin *ad, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	struct proxy_limiter_status *st;
	size_t n, i;

	if (b == NULL)
		return;
	st = admin_limiter_state(ad, &n);
	evbuffer_add_printf(b, "{\"workspaces\":[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			evbuffer_add_printf(b, ",");
		admin_workspace_json(b, &st[i]);
	}
	evbuffer_add_printf(b, "]}\n");
	admin_send_json(req, 200, b);
	evbuffer_free(b);
	free(st);
}

static uint64_t
st_inflight(const struct proxy_limiter_status *s)
{
	return s->inflight;
}

static uint64_t
st_reserved(const struct proxy_limiter_status *s)
{
	return s->reserved_nanousd;
}

static uint64_t
st_day(const struct proxy_limiter_status *s)
{
	return s->daily_spent;
}

static uint64_t
st_month(const struct proxy_limiter_status *s)
{
	return s->monthly_spent;
}

/* Spend over budget per workspace and period, for the workspaces that
 * have that budget (1 = used up). */
static void
admin_budget_ratio(struct evbuffer *b, const struct proxy_limiter_status *st,
                   size_t n)
{
	size_t i;

	evbuffer_add_printf(b, "# HELP tollgate_budget_used_ratio Settled "
	                       "spend over the workspace's budget this UTC "
	                       "day or month.\n# TYPE "
	                       "tollgate_budget_used_ratio gauge\n");
	for (i = 0; i < n; i++) {
		const struct meter_limits *l = &st[i].limits;

		if (l->daily_nanousd > 0)
			evbuffer_add_printf(
			    b,
			    "tollgate_budget_used_ratio{workspace=\"%s\","
			    "period=\"day\"} %.6f\n",
			    st[i].workspace,
			    (double)st[i].daily_spent /
			        (double)l->daily_nanousd);
		if (l->monthly_nanousd > 0)
			evbuffer_add_printf(
			    b,
			    "tollgate_budget_used_ratio{workspace=\"%s\","
			    "period=\"month\"} %.6f\n",
			    st[i].workspace,
			    (double)st[i].monthly_spent /
			        (double)l->monthly_nanousd);
	}
}

/* Per-workspace gauges: reservations in flight and spend this period. */
static void
admin_limiter_metrics(struct proxy_admin *ad, struct evbuffer *b)
{
	static const struct {
		const char *name, *help, *label;
		uint64_t (*get)(const struct proxy_limiter_status *);
	} g[] = {
	    {"tollgate_workspace_inflight",
	     "Requests admitted and not yet settled.", "", st_inflight},
	    {"tollgate_workspace_reserved_nanousd",
	     "Estimated cost reserved by requests in flight.", "", st_reserved},
	    {"tollgate_workspace_spend_nanousd",
	     "Settled spend in the current UTC day or month.",
	     ",period=\"day\"", st_day},
	    {"tollgate_workspace_spend_nanousd", NULL, ",period=\"month\"",
	     st_month},
	};
	struct proxy_limiter_status *st = NULL;
	size_t n, i, k;

	st = admin_limiter_state(ad, &n);
	for (k = 0; k < sizeof(g) / sizeof(g[0]); k++) {
		if (g[k].help != NULL)
			evbuffer_add_printf(b,
			                    "# HELP %s %s\n# TYPE %s gauge\n",
			                    g[k].name, g[k].help, g[k].name);
		for (i = 0; i < n; i++)
			evbuffer_add_printf(
			    b, "%s{workspace=\"%s\"%s} %" PRIu64 "\n",
			    g[k].name, st[i].workspace, g[k].label,
			    g[k].get(&st[i]));
	}
	admin_budget_ratio(b, st, n);
	free(st);
}

static void
admin_metrics(struct proxy_admin *ad, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	struct store_stats ss;
	char err[256];
	int64_t last;

	if (b == NULL)
		return;
	proxy_metrics_write(&ad->px->metrics, b);
	store_stats(ad->px->store, &ss);
	if (store_reader_last_id(ad->reader, &last, err, sizeof(err)) == 0)
		evbuffer_add_printf(
		    b,
		    "# HELP tollgate_store_last_request_id Highest "
		    "request id readable in the database.\n"
		    "# TYPE tollgate_store_last_request_id gauge\n"
		    "tollgate_store_last_request_id %" PRId64 "\n",
		    last);
	evbuffer_add_printf(
	    b,
	    "# HELP tollgate_store_rows_committed_total Rows written.\n"
	    "# TYPE tollgate_store_rows_committed_total counter\n"
	    "tollgate_store_rows_committed_total %" PRIu64 "\n"
	    "# HELP tollgate_store_queue_depth Rows waiting for the writer.\n"
	    "# TYPE tollgate_store_queue_depth gauge\n"
	    "tollgate_store_queue_depth %zu\n"
	    "# HELP tollgate_store_write_failures_total Failed transactions "
	    "(retried).\n"
	    "# TYPE tollgate_store_write_failures_total counter\n"
	    "tollgate_store_write_failures_total %" PRIu64 "\n",
	    ss.committed, ss.queued, ss.failures);
	proxy_metrics_write_store(&ss, b);
	admin_limiter_metrics(ad, b);
	admin_recon_metrics(ad, b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* Healthy = the admin thread answers and the database can be read. */
static void
admin_healthz(struct proxy_admin *ad, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	char err[256], msg[300];
	int64_t id;

	if (b == NULL)
		return;
	if (store_reader_last_id(ad->reader, &id, err, sizeof(err)) == 0) {
		evbuffer_add_printf(b, "{\"status\":\"ok\"}\n");
		admin_send_json(req, 200, b);
	} else {
		snprintf(msg, sizeof(msg), "error: database: %s", err);
		evbuffer_add_printf(b, "{\"status\":");
		proxy_reply_json_string(b, msg);
		evbuffer_add_printf(b, "}\n");
		admin_send_json(req, 503, b);
	}
	evbuffer_free(b);
}

static void
admin_metrics_route(struct proxy_admin *ad, struct evhttp_request *req,
                    const char *arg)
{
	(void)arg;
	admin_metrics(ad, req);
}

static void
admin_workspaces_route(struct proxy_admin *ad, struct evhttp_request *req,
                       const char *arg)
{
	(void)arg;
	admin_workspaces(ad, req);
}

/* Exact paths, and prefixes ending in '/' whose tail is the argument. */
static const struct {
	const char *path;
	admin_handler_fn fn;
} admin_routes[] = {
    {"/", admin_dashboard_page},
    {"/metrics", admin_metrics_route},
    {"/api/workspaces", admin_workspaces_route},
    {"/api/usage", admin_usage_rows},
    {"/api/usage.csv", admin_usage_csv},
    {"/api/usage/current-month", admin_usage_current_month},
    {"/api/usage/today", admin_usage_today},
    {"/api/usage/budget-status", admin_usage_budget_status},
    {"/api/usage/model-comparison", admin_usage_model_comparison},
    {"/api/usage/cost-trend", admin_usage_cost_trend},
    {"/api/usage/cost-intelligence/", admin_usage_cost_intelligence},
    {"/api/usage/dashboard/", admin_usage_dashboard},
    {"/api/usage/real-vs-estimated/", admin_recon_real_vs_estimated},
    {"/api/quota/status/", admin_usage_quota_status},
    {"/api/reconciliation", admin_recon_reconciliation},
    {"/api/events", admin_usage_events},
};

static void
admin_on_request(struct evhttp_request *req, void *arg)
{
	struct proxy_admin *ad = arg;
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	size_t i, n;

	if (path == NULL || path[0] == '\0')
		path = "/";
	if (strcmp(path, "/healthz") == 0) {
		admin_healthz(ad, req);
		return;
	}
	/* The dashboard page holds no data and asks for the token itself
	 * (docs/dashboard.md); everything it shows needs the token. */
	if (strcmp(path, "/") == 0) {
		admin_dashboard_page(ad, req, "");
		return;
	}
	if (!admin_authorized(ad, req)) {
		admin_json_error(
		    req, 401, "invalid_admin_token",
		    "this admin "
		    "path needs Authorization: Bearer <admin_token>");
		return;
	}
	for (i = 0; i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
		const char *rp = admin_routes[i].path;

		n = strlen(rp);
		if (strcmp(path, rp) == 0 && (n == 1 || rp[n - 1] != '/')) {
			admin_routes[i].fn(ad, req, "");
			return;
		}
		if (n > 1 && rp[n - 1] == '/' && strncmp(path, rp, n) == 0 &&
		    path[n] != '\0' && strchr(path + n, '/') == NULL) {
			admin_routes[i].fn(ad, req, path + n);
			return;
		}
	}
	admin_json_error(req, 404, "not_found",
	                 "unknown admin path (docs/admin-api.md lists them)");
}

static void *
admin_main(void *arg)
{
	struct proxy_admin *ad = arg;

	event_base_dispatch(ad->base);
	return NULL;
}

struct proxy_admin *
proxy_admin_start(struct proxy *px, char *err, size_t errlen)
{
	const struct config *cfg = px->cfg;
	struct proxy_admin *ad = calloc(1, sizeof(*ad));

	if (ad == NULL || (ad->base = event_base_new()) == NULL ||
	    (ad->http = evhttp_new(ad->base)) == NULL) {
		snprintf(err, errlen, "cannot set up the admin listener");
		proxy_admin_stop(ad);
		return NULL;
	}
	ad->px = px;
	if ((ad->reader = store_reader_open(cfg->db, err, errlen)) == NULL) {
		proxy_admin_stop(ad);
		return NULL;
	}
	if (admin_usage_init(ad) == -1) {
		snprintf(err, errlen, "cannot set up the admin reports");
		proxy_admin_stop(ad);
		return NULL;
	}
	evhttp_set_gencb(ad->http, admin_on_request, ad);
	evhttp_set_allowed_methods(ad->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(ad->http, 16384);
	evhttp_set_max_body_size(ad->http, 65536);
	evhttp_set_timeout(ad->http, 30);
	if (evhttp_bind_socket(ad->http, cfg->admin_host,
	                       (ev_uint16_t)cfg->admin_port) != 0) {
		snprintf(err, errlen,
		         "cannot listen on admin address %s:%d "
		         "(in use? choose another with --admin-listen)",
		         cfg->admin_host, cfg->admin_port);
		proxy_admin_stop(ad);
		return NULL;
	}
	if (pthread_create(&ad->thread, NULL, admin_main, ad) != 0) {
		snprintf(err, errlen, "cannot start the admin thread");
		proxy_admin_stop(ad);
		return NULL;
	}
	ad->started = 1;
	return ad;
}

void
proxy_admin_stop(struct proxy_admin *ad)
{
	if (ad == NULL)
		return;
	if (ad->started) {
		event_base_loopexit(ad->base, NULL);
		pthread_join(ad->thread, NULL);
	}
	if (ad->http != NULL)
		evhttp_free(ad->http);
	admin_usage_free(ad);
	store_reader_close(ad->reader);
	if (ad->base != NULL)
		event_base_free(ad->base);
	free(ad);
}
