/*
 * proxy/admin_usage.c — the admin API's usage and quota reports, the CSV
 * export and the live event stream (docs/admin-api.md).  Admin thread
 * only.
 *
 * Each handler parses and validates its parameters, runs store/report.c
 * queries on the admin thread's read-only connection, and writes JSON.
 * The limiter's live state (quota, limits) comes from a snapshot.  Owns
 * the server-sent-event clients of /api/events (ad->usage_state): a wake
 * event that workers make active through proxy/events.c after each
 * published request, and per client a keep-alive timer and a cursor into
 * the events ring.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "meter/price.h"
#include "proxy/account.h"
#include "proxy/admin_int.h"
#include "proxy/events.h"
#include "proxy/limiter.h"
#include "proxy/reply.h"
#include "proxy/report_cli.h"
#include "store/report.h"

#define ADMIN_USAGE_MAX_BREAKDOWN 1000 /* models / endpoints listed */
#define ADMIN_USAGE_MAX_DAYS 366       /* days= of the day-range reports */
#define ADMIN_USAGE_RECENT 10          /* recent_activity rows */
#define ADMIN_USAGE_MAX_WORKSPACES                                             \
	(CONFIG_MAX_WORKSPACES + PROXY_LIMITER_MAX_UNKNOWN + 1024)
#define ADMIN_USAGE_MAX_SSE_CLIENTS 16        /* the rest get 503 */
#define ADMIN_USAGE_SSE_KEEPALIVE_S 15        /* comment line interval */
#define ADMIN_USAGE_SSE_MAX_PENDING (1 << 20) /* unsent bytes per client */
#define ADMIN_USAGE_SSE_BATCH 64              /* events per ring read */
#define ADMIN_USAGE_DAY_MS 86400000LL

/* --- live event clients ------------------------------------------------ */

struct usage_state;

struct sse_client {
	struct usage_state *us;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct event *tick;       /* keep-alive */
	uint64_t cursor;          /* next event seq to send */
	char ws[CONFIG_NAME_MAX]; /* "" = every workspace */
	struct sse_client *prev, *next;
};

struct usage_state {
	struct proxy_admin *ad;
	struct event *wake; /* made active by publishers */
	struct sse_client *clients;
	size_t nclients;
	struct proxy_events_item batch[ADMIN_USAGE_SSE_BATCH];
};

/* --- small helpers ------------------------------------------------------- */

/* A 400 in OpenAI's shape naming the parameter. */
static void bad_param(struct evhttp_request *req, const char *param,
                      const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
bad_param(struct evhttp_request *req, const char *param, const char *code,
          const char *fmt, ...)
{
	struct evbuffer *b = evbuffer_new();
	char msg[512];
	va_list ap;

	if (b == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	evbuffer_add_printf(b, "{\"error\":{\"message\":");
	proxy_reply_json_string(b, msg);
	evbuffer_add_printf(b,
	                    ",\"type\":\"invalid_request_error\",\"param\":");
	proxy_reply_json_string(b, param);
	evbuffer_add_printf(b, ",\"code\":\"%s\"}}\n", code);
	admin_send_json(req, 400, b);
	evbuffer_free(b);
}

/* Sends b (rc 0) or a 500 naming the database error. */
static void
finish(struct evhttp_request *req, struct evbuffer *b, int rc, const char *err)
{
	char msg[600];

	if (rc == 0) {
		admin_send_json(req, 200, b);
		return;
	}
	snprintf(msg, sizeof(msg), "database: %s", err);
	admin_json_error(req, 500, "database_error", msg);
}

static void
json_str(struct evbuffer *b, const char *key, const char *s)
{
	evbuffer_add_printf(b, "\"%s\":", key);
	if (s == NULL)
		evbuffer_add_printf(b, "null");
	else
		proxy_reply_json_string(b, s);
}

/* A percentage with two decimals, or null when of is 0. */
static void
json_pct(struct evbuffer *b, const char *key, uint64_t part, uint64_t of)
{
	if (of == 0)
		evbuffer_add_printf(b, "\"%s\":null", key);
	else
		evbuffer_add_printf(b, "\"%s\":%.2f", key,
		                    (double)part * 100.0 / (double)of);
}

static void
iso_time(int64_t ms, char *buf, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s.%03dZ", s, (int)(ms % 1000));
}

/* The current UTC day and month. */
struct period {
	int64_t now_ms, day_ms, month_ms; /* midnights (UTC) */
	int dom, mdays;                   /* day of month, days in month */
	char today[11], month_first[11], month[8];
};

static int
month_days(int year, int mon0)
{
	static const int d[12] = {31, 28, 31, 30, 31, 30,
	                          31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return mon0 == 1 && leap ? 29 : d[mon0];
}

static void
period_now(struct period *p)
{
	time_t t;
	struct tm tm;

	p->now_ms = proxy_now_ms();
	t = (time_t)(p->now_ms / 1000);
	gmtime_r(&t, &tm);
	p->day_ms = p->now_ms - p->now_ms % ADMIN_USAGE_DAY_MS;
	p->dom = tm.tm_mday;
	p->month_ms = p->day_ms - (int64_t)(p->dom - 1) * ADMIN_USAGE_DAY_MS;
	p->mdays = month_days(tm.tm_year + 1900, tm.tm_mon);
	store_report_day(p->day_ms, p->today);
	store_report_day(p->month_ms, p->month_first);
	snprintf(p->month, sizeof(p->month), "%.7s", p->today);
}

/* --- the limiter's live state ------------------------------------------ */

/* ws's live state into *out: 1 when the limiter has it, else 0 (then
 * out->limits are the config's, or the default workspace's, as the
 * limiter would give it). */
static int
live_find(struct proxy_admin *ad, const char *ws,
          struct proxy_limiter_status *out)
{
	struct proxy_limiter_status *st;
	const struct config_workspace *w;
	struct config *cfg;
	size_t n, i;
	int found = 0;

	memset(out, 0, sizeof(*out));
	st = admin_limiter_state(ad, &n);
	for (i = 0; i < n && !found; i++)
		if (strcmp(st[i].workspace, ws) == 0) {
			*out = st[i];
			found = 1;
		}
	free(st);
	if (found)
		return 1;
	cfg = proxy_config_get(ad->px);
	w = config_workspace(cfg, ws, strlen(ws));
	out->limits = w != NULL ? w->limits : cfg->ws[0].limits;
	out->configured = w != NULL;
	snprintf(out->workspace, sizeof(out->workspace), "%s", ws);
	proxy_config_put(cfg);
	return 0;
}

/* --- parameters --------------------------------------------------------------
 */

struct args {
	struct evkeyvalq kv;
	const char *ws; /* NULL: all */
	struct period p;
};

/* Is ws a name this proxy knows: configured, live, or in the rows? */
static int
ws_known(struct proxy_admin *ad, const char *ws, int *known, char *err,
         size_t errlen)
{
	struct proxy_limiter_status s;
	struct config *cfg = proxy_config_get(ad->px);
	int found = config_workspace(cfg, ws, strlen(ws)) != NULL;

	proxy_config_put(cfg);
	if (!found)
		found = live_find(ad, ws, &s);
	if (!found && store_report_workspace_seen(ad->reader, ws, &found, err,
	                                          errlen) == -1)
		return -1;
	*known = found;
	return 0;
}

/* 0 when ws (NULL: none) is usable, else -1 after answering. */
static int
check_ws(struct proxy_admin *ad, struct evhttp_request *req, const char *param,
         const char *ws)
{
	char err[256];
	int known = 0;

	if (ws == NULL)
		return 0;
	if (!config_valid_workspace_name(ws, strlen(ws))) {
		bad_param(
		    req, param, "invalid_workspace",
		    "%s is not a workspace name (1-63 of A-Z a-z 0-9 - _ .)",
		    param);
		return -1;
	}
	if (ws_known(ad, ws, &known, err, sizeof(err)) == -1) {
		finish(req, NULL, -1, err);
		return -1;
	}
	if (!known) {
		bad_param(req, param, "invalid_workspace",
		          "unknown workspace \"%s\" (not configured and no "
		          "requests recorded)",
		          ws);
		return -1;
	}
	return 0;
}

/* Parses the query; with ws_param takes ?workspace= (or path_ws when
 * given).  0, or -1 after answering 400.  a->kv is always to be freed
 * with evhttp_clear_headers. */
static int
args_begin(struct proxy_admin *ad, struct evhttp_request *req, struct args *a,
           const char *path_ws)
{
	const char *q =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));

	TAILQ_INIT(&a->kv);
	a->ws = NULL;
	period_now(&a->p);
	if (q != NULL && evhttp_parse_query_str(q, &a->kv) == -1) {
		bad_param(req, "query", "invalid_query",
		          "the query string is malformed");
		return -1;
	}
	if (path_ws != NULL) {
		a->ws = path_ws;
		return check_ws(ad, req, "workspace", path_ws);
	}
	a->ws = evhttp_find_header(&a->kv, "workspace");
	return check_ws(ad, req, "workspace", a->ws);
}

/* ?name=YYYY-MM-DD into out (def when absent); -1 after answering. */
static int
arg_day(struct evhttp_request *req, struct args *a, const char *name,
        const char *def, char out[11])
{
	const char *v = evhttp_find_header(&a->kv, name);

	if (v == NULL) {
		snprintf(out, 11, "%s", def);
		return 0;
	}
	if (!store_report_valid_day(v)) {
		bad_param(req, name, "invalid_date",
		          "%s must be a UTC day written YYYY-MM-DD", name);
		return -1;
	}
	snprintf(out, 11, "%s", v);
	return 0;
}

/* ?days=N (1-ADMIN_USAGE_MAX_DAYS, def when absent); -1 after
 * answering. */
static int
arg_days(struct evhttp_request *req, struct args *a, int def, int *out)
{
	const char *v = evhttp_find_header(&a->kv, "days");
	char *end;
	long n;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	n = strtol(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || n < 1 ||
	    n > ADMIN_USAGE_MAX_DAYS) {
		bad_param(req, "days", "invalid_days",
		          "days must be a whole number from 1 to %d",
		          ADMIN_USAGE_MAX_DAYS);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* --- grouped rows, collected ------------------------------------------------
 */

struct grow {
	char key[METER_MAX_MODEL];
	struct store_report_totals t;
};

struct grows {
	struct grow *v;
	size_t n, cap;
	int oom;
};

static void
grows_add(void *arg, const struct store_report_row *r)
{
	struct grows *g = arg;
	struct grow *nv;

	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 32;

		if ((nv = realloc(g->v, ncap * sizeof(*nv))) == NULL) {
			g->oom = 1;
			return;
		}
		g->v = nv;
		g->cap = ncap;
	}
	snprintf(g->v[g->n].key, sizeof(g->v[0].key), "%s",
	         r->nkeys > 0 ? r->key[0] : "");
	g->v[g->n++].t = r->t;
}

static int
by_cost_desc(const void *a, const void *b)
{
	const struct grow *x = a, *y = b;

	if (x->t.cost_nanousd != y->t.cost_nanousd)
		return x->t.cost_nanousd < y->t.cost_nanousd ? 1 : -1;
	return strcmp(x->key, y->key);
}

/* Rows of usage_daily over ws, from..to grouped by one key; sorted by
 * cost (highest first) when by_cost. */
static int
grouped(struct proxy_admin *ad, const char *ws, const char *from,
        const char *to, enum store_report_key key, int by_cost, struct grows *g,
        char *err, size_t errlen)
{
	struct store_report_filter f = {ws, from, to};
	int truncated;

	memset(g, 0, sizeof(*g));
	if (store_report_usage(ad->reader, &f, &key, 1,
	                       ADMIN_USAGE_MAX_BREAKDOWN, grows_add, g,
	                       &truncated, err, errlen) == -1)
		return -1;
	if (g->oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (by_cost && g->n > 1)
		qsort(g->v, g->n, sizeof(g->v[0]), by_cost_desc);
	return 0;
}

static uint64_t
tokens_of(const struct store_report_totals *t)
{
	return t->input_tokens + t->output_tokens;
}

/* {"model":..,"cost":..,"input_tokens":..,"output_tokens":..,"tokens":..,
 * "requests":..} without the closing brace. */
static void
json_model_entry(struct evbuffer *b, const struct grow *r)
{
	evbuffer_add_printf(b, "{");
	json_str(b, "model", r->key);
	evbuffer_add_printf(b, ",");
	admin_json_usd(b, "cost", r->t.cost_nanousd);
	evbuffer_add_printf(b,
	                    ",\"input_tokens\":%" PRIu64
	                    ",\"output_tokens\":%" PRIu64 ",\"tokens\":%" PRIu64
	                    ",\"requests\":%" PRIu64,
	                    r->t.input_tokens, r->t.output_tokens,
	                    tokens_of(&r->t), r->t.requests);
}

static void
json_model_breakdown(struct evbuffer *b, const struct grows *g)
{
	size_t i;

	evbuffer_add_printf(b, "\"model_breakdown\":[");
	for (i = 0; i < g->n; i++) {
		evbuffer_add_printf(b, "%s", i > 0 ? "," : "");
		json_model_entry(b, &g->v[i]);
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "]");
}

/* "cost":..,"tokens":..,"requests":.. */
static void
json_ctr(struct evbuffer *b, const struct store_report_totals *t)
{
	admin_json_usd(b, "cost", t->cost_nanousd);
	evbuffer_add_printf(b, ",\"tokens\":%" PRIu64 ",\"requests\":%" PRIu64,
	                    tokens_of(t), t->requests);
}

/* "total_cost":..,"total_tokens":..,"total_requests":.. */
static void
json_head_totals(struct evbuffer *b, const struct store_report_totals *t)
{
	admin_json_usd(b, "total_cost", t->cost_nanousd);
	evbuffer_add_printf(
	    b, ",\"total_tokens\":%" PRIu64 ",\"total_requests\":%" PRIu64 ",",
	    tokens_of(t), t->requests);
}

/* One entry per day from from_ms (a midnight), ndays of them, taking
 * each day's totals from g (sorted by day); cumulative adds the running
 * sum (cost-trend), else tokens and requests (daily_breakdown). */
static void
json_days(struct evbuffer *b, const struct grows *g, int64_t from_ms, int ndays,
          int cumulative)
{
	static const struct store_report_totals zero;
	uint64_t sum = 0;
	size_t j = 0;
	char day[11];
	int i;

	for (i = 0; i < ndays; i++) {
		const struct store_report_totals *t = &zero;

		store_report_day(from_ms + i * ADMIN_USAGE_DAY_MS, day);
		while (j < g->n && strcmp(g->v[j].key, day) < 0)
			j++;
		if (j < g->n && strcmp(g->v[j].key, day) == 0)
			t = &g->v[j].t;
		sum += t->cost_nanousd;
		evbuffer_add_printf(b, "%s{\"date\":\"%s\",", i > 0 ? "," : "",
		                    day);
		if (cumulative) {
			admin_json_usd(b, "cost", t->cost_nanousd);
			evbuffer_add_printf(b, ",");
			admin_json_usd(b, "cumulative_cost", sum);
		} else {
			json_ctr(b, t);
		}
		evbuffer_add_printf(b, "}");
	}
}

/* --- sections (also embedded by the dashboard) ------------------------------
 */

static int
month_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
           const struct period *p, char *err, size_t errlen)
{
	struct store_report_filter f = {ws, p->month_first, p->today};
	struct store_report_totals t;
	struct grows models = {0}, days = {0};
	int rc = -1;

	if (store_report_totals(ad->reader, &f, &t, err, errlen) == -1 ||
	    grouped(ad, ws, f.from_day, f.to_day, STORE_REPORT_MODEL, 1,
	            &models, err, errlen) == -1 ||
	    grouped(ad, ws, f.from_day, f.to_day, STORE_REPORT_DAY, 0, &days,
	            err, errlen) == -1)
		goto out;
	evbuffer_add_printf(b, "{\"month\":\"%s\",", p->month);
	json_str(b, "workspace", ws);
	evbuffer_add_printf(b, ",");
	json_head_totals(b, &t);
	json_model_breakdown(b, &models);
	evbuffer_add_printf(b, ",\"daily_breakdown\":[");
	json_days(b, &days, p->month_ms, p->dom, 0);
	evbuffer_add_printf(b, "]}");
	rc = 0;
out:
	free(models.v);
	free(days.v);
	return rc;
}

static void
hour_add(void *arg, int hour, const struct store_report_totals *t)
{
	((struct store_report_totals *)arg)[hour] = *t;
}

static int
today_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
           const struct period *p, char *err, size_t errlen)
{
	struct store_report_filter f = {ws, p->today, p->today};
	struct store_report_totals t, hours[24];
	struct grows models = {0};
	int rc = -1, h;

	memset(hours, 0, sizeof(hours));
	if (store_report_totals(ad->reader, &f, &t, err, errlen) == -1 ||
	    grouped(ad, ws, p->today, p->today, STORE_REPORT_MODEL, 1, &models,
	            err, errlen) == -1 ||
	    store_report_hours(ad->reader, ws, p->day_ms, hour_add, hours, err,
	                       errlen) == -1)
		goto out;
	evbuffer_add_printf(b, "{\"date\":\"%s\",", p->today);
	json_str(b, "workspace", ws);
	evbuffer_add_printf(b, ",");
	json_head_totals(b, &t);
	json_model_breakdown(b, &models);
	evbuffer_add_printf(b, ",\"hourly_breakdown\":[");
	for (h = 0; h < 24; h++) {
		evbuffer_add_printf(b, "%s{\"hour\":%d,", h > 0 ? "," : "", h);
		json_ctr(b, &hours[h]);
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "]}");
	rc = 0;
out:
	free(models.v);
	return rc;
}

/* --- budget status ----------------------------------------------------------
 */

struct budget {
	uint64_t limit, spent, daily_avg, projected;
	unsigned warn_pct, critical_pct;
	int days_remaining;
	const char *level;
};

static void
budget_compute(const struct meter_limits *l, uint64_t spent,
               const struct period *p, struct budget *bg)
{
	unsigned __int128 used = 0;

	memset(bg, 0, sizeof(*bg));
	bg->limit = l->monthly_nanousd;
	bg->spent = spent;
	bg->daily_avg = spent / (uint64_t)p->dom;
	bg->projected = bg->daily_avg * (uint64_t)p->mdays;
	bg->days_remaining = p->mdays - p->dom;
	bg->warn_pct = l->warn_pct;
	bg->critical_pct = l->critical_pct;
	bg->level = "normal";
	if (bg->limit == 0)
		return;
	used = (unsigned __int128)spent * 100;
	if (used >= (unsigned __int128)bg->limit * l->critical_pct)
		bg->level = "critical";
	else if (used >= (unsigned __int128)bg->limit * l->warn_pct)
		bg->level = "warning";
}

static void json_sentence(struct evbuffer *b, int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
json_sentence(struct evbuffer *b, int *n, const char *fmt, ...)
{
	char s[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	evbuffer_add_printf(b, "%s", (*n)++ > 0 ? "," : "");
	proxy_reply_json_string(b, s);
}

/* Sentences derived from the numbers (docs/admin-api.md). */
static void
budget_advice(struct evbuffer *b, const char *ws, const struct budget *bg)
{
	char spent[32], lim[32], avg[32], proj[32];
	double pct;
	int n = 0;

	meter_price_cents_text(bg->spent, spent, sizeof(spent));
	meter_price_cents_text(bg->limit, lim, sizeof(lim));
	meter_price_cents_text(bg->daily_avg, avg, sizeof(avg));
	meter_price_cents_text(bg->projected, proj, sizeof(proj));
	if (bg->limit == 0) {
		json_sentence(b, &n,
		              "No monthly budget is set for workspace %s; set "
		              "limits.monthly_usd to be warned before it runs "
		              "over.",
		              ws);
		return;
	}
	pct = (double)bg->spent * 100.0 / (double)bg->limit;
	if (bg->spent >= bg->limit)
		json_sentence(b, &n,
		              "Workspace %s has spent $%s, all of its $%s "
		              "monthly budget: requests are refused until the "
		              "month ends or the budget is raised.",
		              ws, spent, lim);
	else if (strcmp(bg->level, "normal") != 0)
		json_sentence(b, &n,
		              "Spend has reached %.1f%% of the $%s budget (the "
		              "%s threshold is %u%%).",
		              pct, lim, bg->level,
		              strcmp(bg->level, "critical") == 0
		                  ? bg->critical_pct
		                  : bg->warn_pct);
	if (bg->spent < bg->limit && bg->projected > bg->limit)
		json_sentence(b, &n,
		              "At the current daily average of $%s the month "
		              "would end at $%s, %.1f%% of the $%s budget.",
		              avg, proj,
		              (double)bg->projected * 100.0 / (double)bg->limit,
		              lim);
	if (n == 0)
		json_sentence(b, &n,
		              "Spend is on track: $%s so far, about $%s by the "
		              "end of the month against a $%s budget.",
		              spent, proj, lim);
}

static void
budget_json(struct evbuffer *b, const char *ws, const struct budget *bg)
{
	evbuffer_add_printf(b, "{");
	json_str(b, "workspace", ws);
	evbuffer_add_printf(b, ",");
	if (bg->limit > 0)
		admin_json_usd(b, "monthly_budget", bg->limit);
	else
		evbuffer_add_printf(b, "\"monthly_budget\":null");
	evbuffer_add_printf(b, ",");
	admin_json_usd(b, "current_spend", bg->spent);
	evbuffer_add_printf(b, ",");
	json_pct(b, "budget_used_percentage", bg->spent, bg->limit);
	evbuffer_add_printf(b, ",");
	admin_json_usd(b, "daily_average", bg->daily_avg);
	evbuffer_add_printf(b, ",");
	admin_json_usd(b, "projected_monthly_spend", bg->projected);
	evbuffer_add_printf(b,
	                    ",\"days_remaining\":%d,\"is_over_budget\":%s,"
	                    "\"budget_alert_level\":\"%s\",\"warn_pct\":%u,"
	                    "\"critical_pct\":%u,\"recommendations\":[",
	                    bg->days_remaining,
	                    bg->limit > 0 && bg->spent >= bg->limit ? "true"
	                                                            : "false",
	                    bg->level, bg->warn_pct, bg->critical_pct);
	budget_advice(b, ws, bg);
	evbuffer_add_printf(b, "]}");
}

/* One workspace's budget object. */
static int
budget_one_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
                const struct period *p, char *err, size_t errlen)
{
	struct store_report_filter f = {ws, p->month_first, p->today};
	struct proxy_limiter_status s;
	struct store_report_totals t;
	struct budget bg;

	if (store_report_totals(ad->reader, &f, &t, err, errlen) == -1)
		return -1;
	live_find(ad, ws, &s);
	budget_compute(&s.limits, t.cost_nanousd, p, &bg);
	budget_json(b, ws, &bg);
	return 0;
}

/* Every workspace that is configured, live, or has spend this month. */
struct wsname {
	char name[CONFIG_NAME_MAX];
	uint64_t spent;
	struct meter_limits limits;
	int has_limits;
};

struct wsnames {
	struct wsname *v;
	size_t n, cap;
};

static struct wsname *
names_add(struct wsnames *w, const char *name)
{
	if (w->n == w->cap || name == NULL)
		return NULL;
	memset(&w->v[w->n], 0, sizeof(w->v[0]));
	snprintf(w->v[w->n].name, sizeof(w->v[0].name), "%s", name);
	return &w->v[w->n++];
}

static void
names_spend(void *arg, const char *ws, uint64_t nano)
{
	struct wsname *e = names_add(arg, ws);

	if (e != NULL)
		e->spent = nano;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct wsname *)a)->name,
	              ((const struct wsname *)b)->name);
}

/* Sorted, one entry per name, spend and live limits merged in. */
static void
names_merge(struct wsnames *w)
{
	size_t i, o = 0;

	qsort(w->v, w->n, sizeof(w->v[0]), by_name);
	for (i = 0; i < w->n; i++) {
		struct wsname *e = &w->v[i];

		if (o > 0 && strcmp(w->v[o - 1].name, e->name) == 0) {
			w->v[o - 1].spent += e->spent;
			if (e->has_limits) {
				w->v[o - 1].limits = e->limits;
				w->v[o - 1].has_limits = 1;
			}
			continue;
		}
		w->v[o++] = *e;
	}
	w->n = o;
}

static int
names_collect(struct proxy_admin *ad, const struct period *p, struct wsnames *w,
              char *err, size_t errlen)
{
	struct proxy_limiter_status *st;
	struct config *cfg;
	struct wsname *e;
	size_t n, i;

	if ((w->v = calloc(ADMIN_USAGE_MAX_WORKSPACES, sizeof(*w->v))) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->cap = ADMIN_USAGE_MAX_WORKSPACES;
	if (store_reader_spend(ad->reader, p->month_first, p->today,
	                       names_spend, w, err, errlen) == -1)
		return -1;
	st = admin_limiter_state(ad, &n);
	for (i = 0; i < n; i++)
		if ((e = names_add(w, st[i].workspace)) != NULL) {
			e->limits = st[i].limits;
			e->has_limits = 1;
		}
	free(st);
	cfg = proxy_config_get(ad->px);
	for (i = 0; i < cfg->nws; i++)
		if ((e = names_add(w, cfg->ws[i].name)) != NULL) {
			e->limits = cfg->ws[i].limits;
			e->has_limits = 1;
		}
	proxy_config_put(cfg);
	names_merge(w);
	return 0;
}

static int
budget_all_json(struct proxy_admin *ad, struct evbuffer *b,
                const struct period *p, char *err, size_t errlen)
{
	struct wsnames w = {NULL, 0, 0};
	struct proxy_limiter_status s;
	struct budget bg;
	size_t i;
	int rc = -1;

	if (names_collect(ad, p, &w, err, errlen) == -1)
		goto out;
	evbuffer_add_printf(b, "{\"workspaces\":{");
	for (i = 0; i < w.n; i++) {
		if (!w.v[i].has_limits) { /* rows only: the default's */
			live_find(ad, w.v[i].name, &s);
			w.v[i].limits = s.limits;
		}
		budget_compute(&w.v[i].limits, w.v[i].spent, p, &bg);
		evbuffer_add_printf(b, "%s", i > 0 ? "," : "");
		proxy_reply_json_string(b, w.v[i].name);
		evbuffer_add_printf(b, ":");
		budget_json(b, w.v[i].name, &bg);
	}
	evbuffer_add_printf(b, "}}");
	rc = 0;
out:
	free(w.v);
	return rc;
}

/* --- cost intelligence
 * -------------------------------------------------------- */

/* Models with a cheaper sibling that serves short answers as well
 * (docs/admin-api.md lists this table). */
static const struct {
	const char *model, *cheaper;
} siblings[] = {
    {"gpt-4o", "gpt-4o-mini"},
    {"gpt-4.1", "gpt-4.1-mini"},
    {"gpt-4.1-mini", "gpt-4.1-nano"},
    {"o3", "o4-mini"},
    {"o1", "o3-mini"},
    {"gpt-5", "gpt-5-mini"},
    {"gpt-5-mini", "gpt-5-nano"},
    {"gpt-4-turbo", "gpt-4o-mini"},
};

/* s is "" or a dated snapshot suffix "-YYYY-MM-DD". */
static int
date_suffix(const char *s)
{
	return s[0] == '\0' || (s[0] == '-' && store_report_valid_day(s + 1));
}

static const char *
cheaper_sibling(const char *model)
{
	size_t i, n;

	for (i = 0; i < sizeof(siblings) / sizeof(siblings[0]); i++) {
		n = strlen(siblings[i].model);
		if (strncmp(model, siblings[i].model, n) == 0 &&
		    date_suffix(model + n))
			return siblings[i].cheaper;
	}
	return NULL;
}

struct intel {
	struct proxy_admin *ad;
	struct evbuffer *alerts;
	uint64_t total, savings;
	int nalerts;
	uint64_t bloat_threshold, waste_output;
	/* prompt bloat, summed over models */
	struct store_report_totals bloat;
	uint64_t bloat_excess, bloat_max, bloat_saving;
};

static const char *
severity(uint64_t saving, uint64_t total)
{
	if (total == 0)
		return "low";
	if ((unsigned __int128)saving * 10 >= total)
		return "high";
	if ((unsigned __int128)saving * 50 >= total)
		return "medium";
	return "low";
}

/* {"type","severity","title", then the caller's evidence, closed by
 * alert_end. */
static void
alert_begin(struct intel *in, const char *type, uint64_t saving,
            const char *title)
{
	struct evbuffer *b = in->alerts;

	evbuffer_add_printf(b, "%s{\"type\":\"%s\",\"severity\":\"%s\",",
	                    in->nalerts++ > 0 ? "," : "", type,
	                    severity(saving, in->total));
	json_str(b, "title", title);
	evbuffer_add_printf(b, ",\"evidence\":{");
}

static void
alert_end(struct intel *in, uint64_t saving)
{
	evbuffer_add_printf(in->alerts, "},");
	admin_json_usd(in->alerts, "potential_savings", saving);
	evbuffer_add_printf(in->alerts, "}");
	in->savings += saving;
}

static void
intel_dups(struct intel *in, const struct store_report_dups *d, int window_s)
{
	char title[96];

	if (d->requests == 0)
		return;
	snprintf(title, sizeof(title), "%" PRIu64 " duplicate request%s",
	         d->requests, d->requests == 1 ? "" : "s");
	alert_begin(in, "duplicate_calls", d->cost_nanousd, title);
	evbuffer_add_printf(in->alerts,
	                    "\"requests\":%" PRIu64 ",\"groups\":%" PRIu64
	                    ",\"window_s\":%d,",
	                    d->requests, d->groups, window_s);
	admin_json_usd(in->alerts, "wasted_cost", d->cost_nanousd);
	alert_end(in, d->cost_nanousd);
}

/* Per model over the bloat threshold: what the excess tokens cost as
 * input of that model (at most what the requests cost). */
static void
bloat_model(void *arg, const struct store_report_model_use *m)
{
	struct intel *in = arg;
	struct meter_usage u;
	struct meter_cost c;
	uint64_t saving = 0;

	memset(&u, 0, sizeof(u));
	u.input_tokens = m->excess_input_tokens;
	if (m->model[0] != '\0' &&
	    meter_prices_cost(in->ad->px->prices, m->model, NULL, &u, &c) == 0)
		saving = c.nanousd < m->t.cost_nanousd ? c.nanousd
		                                       : m->t.cost_nanousd;
	in->bloat.requests += m->t.requests;
	in->bloat.input_tokens += m->t.input_tokens;
	in->bloat.cost_nanousd += m->t.cost_nanousd;
	in->bloat_excess += m->excess_input_tokens;
	if (m->max_input_tokens > in->bloat_max)
		in->bloat_max = m->max_input_tokens;
	in->bloat_saving += saving;
}

static void
intel_bloat(struct intel *in)
{
	char title[128];

	if (in->bloat.requests == 0)
		return;
	snprintf(title, sizeof(title),
	         "%" PRIu64 " request%s over %" PRIu64 " input tokens",
	         in->bloat.requests, in->bloat.requests == 1 ? "" : "s",
	         in->bloat_threshold);
	alert_begin(in, "prompt_bloat", in->bloat_saving, title);
	evbuffer_add_printf(
	    in->alerts,
	    "\"requests\":%" PRIu64 ",\"threshold_tokens\":%" PRIu64
	    ",\"input_tokens\":%" PRIu64 ",\"excess_tokens\":%" PRIu64
	    ",\"largest_input_tokens\":%" PRIu64 ",",
	    in->bloat.requests, in->bloat_threshold, in->bloat.input_tokens,
	    in->bloat_excess, in->bloat_max);
	admin_json_usd(in->alerts, "cost", in->bloat.cost_nanousd);
	alert_end(in, in->bloat_saving);
}

/* One alert per model with a cheaper sibling and short answers. */
static void
waste_model(void *arg, const struct store_report_model_use *m)
{
	struct intel *in = arg;
	const char *cheaper = cheaper_sibling(m->model);
	struct meter_usage u;
	struct meter_cost c;
	char title[320];

	if (cheaper == NULL)
		return;
	memset(&u, 0, sizeof(u));
	u.input_tokens = m->t.input_tokens;
	u.cached_input_tokens = m->t.cached_input_tokens;
	u.output_tokens = m->t.output_tokens;
	u.reasoning_tokens = m->t.reasoning_tokens;
	if (meter_prices_cost(in->ad->px->prices, cheaper, NULL, &u, &c) ==
	        -1 ||
	    c.nanousd >= m->t.cost_nanousd)
		return;
	snprintf(title, sizeof(title),
	         "%s answered %" PRIu64 " short request%s %s could serve",
	         m->model, m->t.requests, m->t.requests == 1 ? "" : "s",
	         cheaper);
	alert_begin(in, "model_waste", m->t.cost_nanousd - c.nanousd, title);
	json_str(in->alerts, "model", m->model);
	evbuffer_add_printf(in->alerts, ",");
	json_str(in->alerts, "cheaper_model", cheaper);
	evbuffer_add_printf(in->alerts,
	                    ",\"requests\":%" PRIu64
	                    ",\"max_output_tokens\":%" PRIu64 ",",
	                    m->t.requests, in->waste_output);
	admin_json_usd(in->alerts, "cost", m->t.cost_nanousd);
	evbuffer_add_printf(in->alerts, ",");
	admin_json_usd(in->alerts, "cost_on_cheaper_model", c.nanousd);
	alert_end(in, m->t.cost_nanousd - c.nanousd);
}

struct intel_cfg {
	int window_s, days;
	uint64_t bloat_tokens, waste_output;
};

static void
intel_config(struct proxy_admin *ad, struct intel_cfg *ic)
{
	struct config *cfg = proxy_config_get(ad->px);

	ic->window_s = cfg->reports_duplicate_window_s;
	ic->days = cfg->reports_intelligence_days > 0
	               ? cfg->reports_intelligence_days
	               : 1;
	ic->bloat_tokens = cfg->reports_prompt_bloat_tokens;
	ic->waste_output = cfg->reports_model_waste_output_tokens;
	proxy_config_put(cfg);
}

static void
intel_head(struct evbuffer *b, const char *ws, const struct intel_cfg *ic,
           const char *from, const char *to, const struct intel *in)
{
	uint64_t avoid = in->savings < in->total ? in->savings : in->total;
	uint64_t score =
	    in->total == 0 ? 100
	                   : (uint64_t)((unsigned __int128)(in->total - avoid) *
	                                100 / in->total);

	evbuffer_add_printf(b, "{");
	json_str(b, "workspace", ws);
	evbuffer_add_printf(b, ",\"days\":%d,\"from\":\"%s\",\"to\":\"%s\",",
	                    ic->days, from, to);
	admin_json_usd(b, "total_cost", in->total);
	evbuffer_add_printf(b, ",");
	admin_json_usd(b, "avoidable_cost", avoid);
	evbuffer_add_printf(b, ",\"efficiency_score\":%" PRIu64 ",\"alerts\":[",
	                    score);
}

static int
intel_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
           const struct period *p, char *err, size_t errlen)
{
	struct intel_cfg ic;
	struct intel in;
	struct store_report_dups d;
	struct store_report_totals t;
	struct store_report_filter f = {ws, NULL, p->today};
	int64_t since;
	char from[11];
	int rc = -1;

	intel_config(ad, &ic);
	since = p->day_ms - (int64_t)(ic.days - 1) * ADMIN_USAGE_DAY_MS;
	store_report_day(since, from);
	f.from_day = from;
	memset(&in, 0, sizeof(in));
	in.ad = ad;
	in.bloat_threshold = ic.bloat_tokens;
	in.waste_output = ic.waste_output;
	if ((in.alerts = evbuffer_new()) == NULL ||
	    store_report_totals(ad->reader, &f, &t, err, errlen) == -1)
		goto out;
	in.total = t.cost_nanousd;
	if (store_report_duplicates(ad->reader, ws, since,
	                            (int64_t)ic.window_s * 1000, &d, err,
	                            errlen) == -1 ||
	    store_report_bloat(ad->reader, ws, since, ic.bloat_tokens,
	                       bloat_model, &in, err, errlen) == -1)
		goto out;
	intel_dups(&in, &d, ic.window_s);
	intel_bloat(&in);
	if (store_report_small_outputs(ad->reader, ws, since, ic.waste_output,
	                               waste_model, &in, err, errlen) == -1)
		goto out;
	intel_head(b, ws, &ic, from, p->today, &in);
	evbuffer_add_buffer(b, in.alerts);
	evbuffer_add_printf(b, "]}");
	rc = 0;
out:
	if (in.alerts != NULL)
		evbuffer_free(in.alerts);
	return rc;
}

/* --- handlers: reports -------------------------------------------------------
 */

typedef int (*section_fn)(struct proxy_admin *ad, struct evbuffer *b,
                          const char *ws, const struct period *p, char *err,
                          size_t errlen);

/* The common handler: arguments, one section, the reply. */
static void
serve_section(struct proxy_admin *ad, struct evhttp_request *req,
              const char *path_ws, section_fn fn)
{
	struct evbuffer *b = NULL;
	struct args a;
	char err[256] = "";
	int rc;

	if (args_begin(ad, req, &a, path_ws) == -1)
		goto out;
	if ((b = evbuffer_new()) == NULL)
		goto out;
	rc = fn(ad, b, a.ws, &a.p, err, sizeof(err));
	if (rc == 0)
		evbuffer_add_printf(b, "\n");
	finish(req, b, rc, err);
out:
	if (b != NULL)
		evbuffer_free(b);
	evhttp_clear_headers(&a.kv);
}

void
admin_usage_current_month(struct proxy_admin *ad, struct evhttp_request *req,
                          const char *arg)
{
	(void)arg;
	serve_section(ad, req, NULL, month_json);
}

void
admin_usage_today(struct proxy_admin *ad, struct evhttp_request *req,
                  const char *arg)
{
	(void)arg;
	serve_section(ad, req, NULL, today_json);
}

static int
budget_section(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
               const struct period *p, char *err, size_t errlen)
{
	if (ws == NULL)
		return budget_all_json(ad, b, p, err, errlen);
	return budget_one_json(ad, b, ws, p, err, errlen);
}

void
admin_usage_budget_status(struct proxy_admin *ad, struct evhttp_request *req,
                          const char *arg)
{
	(void)arg;
	serve_section(ad, req, NULL, budget_section);
}

void
admin_usage_cost_intelligence(struct proxy_admin *ad,
                              struct evhttp_request *req, const char *arg)
{
	serve_section(ad, req, arg, intel_json);
}

static int
dashboard_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
               const struct period *p, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		section_fn fn;
	} parts[] = {{"today", today_json},
	             {"month", month_json},
	             {"budget", budget_one_json},
	             {"intelligence", intel_json}};
	size_t i;

	evbuffer_add_printf(b, "{");
	json_str(b, "workspace", ws);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		evbuffer_add_printf(b, ",\"%s\":", parts[i].key);
		if (parts[i].fn(ad, b, ws, p, err, errlen) == -1)
			return -1;
	}
	evbuffer_add_printf(b, ",\"reconciliation\":");
	if (admin_recon_json(ad, b, ws, NULL, NULL, err, errlen) == -1)
		return -1;
	evbuffer_add_printf(b, "}");
	return 0;
}

void
admin_usage_dashboard(struct proxy_admin *ad, struct evhttp_request *req,
                      const char *arg)
{
	serve_section(ad, req, arg, dashboard_json);
}

/* ?days= reports: from..today. */
static void
days_range(const struct period *p, int days, char from[11], int64_t *from_ms)
{
	*from_ms = p->day_ms - (int64_t)(days - 1) * ADMIN_USAGE_DAY_MS;
	store_report_day(*from_ms, from);
}

static int
comparison_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
                const struct period *p, int days, char *err, size_t errlen)
{
	struct grows g;
	uint64_t total = 0;
	int64_t from_ms;
	char from[11];
	size_t i;

	days_range(p, days, from, &from_ms);
	if (grouped(ad, ws, from, p->today, STORE_REPORT_MODEL, 1, &g, err,
	            errlen) == -1) {
		free(g.v);
		return -1;
	}
	for (i = 0; i < g.n; i++)
		total += g.v[i].t.cost_nanousd;
	evbuffer_add_printf(b, "{\"days\":%d,\"from\":\"%s\",\"to\":\"%s\",",
	                    days, from, p->today);
	json_str(b, "workspace", ws);
	evbuffer_add_printf(b, ",");
	admin_json_usd(b, "total_cost", total);
	evbuffer_add_printf(b, ",\"models\":[");
	for (i = 0; i < g.n; i++) {
		uint64_t tok = tokens_of(&g.v[i].t);

		evbuffer_add_printf(b, "%s", i > 0 ? "," : "");
		json_model_entry(b, &g.v[i]);
		if (tok == 0)
			evbuffer_add_printf(b, ",\"cost_per_1k_tokens\":null");
		else
			evbuffer_add_printf(b, ",\"cost_per_1k_tokens\":%.9f",
			                    (double)g.v[i].t.cost_nanousd /
			                        1e6 / (double)tok);
		evbuffer_add_printf(b, ",");
		json_pct(b, "share_of_cost", g.v[i].t.cost_nanousd, total);
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "]}\n");
	free(g.v);
	return 0;
}

static int
trend_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
           const struct period *p, int days, char *err, size_t errlen)
{
	struct grows g;
	int64_t from_ms;
	char from[11];
	int rc;

	days_range(p, days, from, &from_ms);
	rc = grouped(ad, ws, from, p->today, STORE_REPORT_DAY, 0, &g, err,
	             errlen);
	if (rc == 0) {
		evbuffer_add_printf(b, "[");
		json_days(b, &g, from_ms, days, 1);
		evbuffer_add_printf(b, "]\n");
	}
	free(g.v);
	return rc;
}

typedef int (*days_fn)(struct proxy_admin *, struct evbuffer *, const char *,
                       const struct period *, int, char *, size_t);

static void
serve_days(struct proxy_admin *ad, struct evhttp_request *req, int def,
           days_fn fn)
{
	struct evbuffer *b = NULL;
	struct args a;
	char err[256] = "";
	int days;

	if (args_begin(ad, req, &a, NULL) == -1 ||
	    arg_days(req, &a, def, &days) == -1 || (b = evbuffer_new()) == NULL)
		goto out;
	finish(req, b, fn(ad, b, a.ws, &a.p, days, err, sizeof(err)), err);
out:
	if (b != NULL)
		evbuffer_free(b);
	evhttp_clear_headers(&a.kv);
}

void
admin_usage_model_comparison(struct proxy_admin *ad, struct evhttp_request *req,
                             const char *arg)
{
	(void)arg;
	serve_days(ad, req, 7, comparison_json);
}

void
admin_usage_cost_trend(struct proxy_admin *ad, struct evhttp_request *req,
                       const char *arg)
{
	(void)arg;
	serve_days(ad, req, 30, trend_json);
}

/* --- /api/usage and its CSV
 * ---------------------------------------------------- */

static void
serve_usage(struct proxy_admin *ad, struct evhttp_request *req, int csv)
{
	enum store_report_key by[STORE_REPORT_MAX_KEYS];
	struct store_report_filter f;
	struct evbuffer *b = NULL;
	struct args a;
	char from[11], to[11], err[256] = "";
	const char *gb;
	size_t nby = 0;
	int truncated = 0, rc;

	if (args_begin(ad, req, &a, NULL) == -1 ||
	    arg_day(req, &a, "from", a.p.month_first, from) == -1 ||
	    arg_day(req, &a, "to", a.p.today, to) == -1)
		goto out;
	if (strcmp(from, to) > 0) {
		bad_param(req, "from", "invalid_range",
		          "from (%s) is after to (%s)", from, to);
		goto out;
	}
	gb = evhttp_find_header(&a.kv, "group_by");
	if (store_report_parse_keys(gb != NULL ? gb : "day", by, &nby) == -1) {
		bad_param(req, "group_by", "invalid_group_by",
		          "group_by is a comma-separated list of workspace, "
		          "model, day, endpoint, each at most once");
		goto out;
	}
	if ((b = evbuffer_new()) == NULL)
		goto out;
	f = (struct store_report_filter){a.ws, from, to};
	rc = proxy_report_usage(b, ad->reader, &f, by, nby, csv, &truncated,
	                        err, sizeof(err));
	if (rc == -1 || !csv) {
		finish(req, b, rc, err);
		goto out;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", "text/csv; charset=utf-8");
	if (truncated)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "X-Tollgate-Truncated", "true");
	evhttp_send_reply(req, 200, "OK", b);
out:
	if (b != NULL)
		evbuffer_free(b);
	evhttp_clear_headers(&a.kv);
}

void
admin_usage_rows(struct proxy_admin *ad, struct evhttp_request *req,
                 const char *arg)
{
	(void)arg;
	serve_usage(ad, req, 0);
}

void
admin_usage_csv(struct proxy_admin *ad, struct evhttp_request *req,
                const char *arg)
{
	(void)arg;
	serve_usage(ad, req, 1);
}

/* --- quota status
 * ---------------------------------------------------------------- */

/* "key":{"current":c,"limit":l|null,"percentage":p|null} */
static void
json_window(struct evbuffer *b, const char *key, uint64_t cur, uint64_t lim)
{
	evbuffer_add_printf(b, "\"%s\":{\"current\":%" PRIu64 ",", key, cur);
	if (lim == 0)
		evbuffer_add_printf(b, "\"limit\":null,");
	else
		evbuffer_add_printf(b, "\"limit\":%" PRIu64 ",", lim);
	json_pct(b, "percentage", cur, lim);
	evbuffer_add_printf(b, "},");
}

static void
json_budget_window(struct evbuffer *b, const char *key, uint64_t cur,
                   uint64_t lim)
{
	evbuffer_add_printf(b, "\"%s\":{", key);
	admin_json_usd(b, "current", cur);
	evbuffer_add_printf(b, ",");
	if (lim == 0)
		evbuffer_add_printf(b, "\"limit\":null,");
	else {
		admin_json_usd(b, "limit", lim);
		evbuffer_add_printf(b, ",");
	}
	json_pct(b, "percentage", cur, lim);
	evbuffer_add_printf(b, "},");
}

static int
at_pct(uint64_t cur, uint64_t lim, unsigned pct)
{
	return lim > 0 &&
	       (unsigned __int128)cur * 100 >= (unsigned __int128)lim * pct;
}

static const char *
quota_status(const struct proxy_limiter_status *s)
{
	const struct meter_limits *l = &s->limits;
	const uint64_t cur[4] = {s->rpm, s->rpd, s->tpm, s->tpd};
	const uint64_t lim[4] = {l->rpm, l->rpd, l->tpm, l->tpd};
	int i, rate = 0, warn = 0;

	if (s->daily_level == METER_LEVEL_EXHAUSTED ||
	    s->monthly_level == METER_LEVEL_EXHAUSTED ||
	    at_pct(s->daily_spent, l->daily_nanousd, 100) ||
	    at_pct(s->monthly_spent, l->monthly_nanousd, 100))
		return "quota_exceeded";
	for (i = 0; i < 4; i++) {
		rate |= at_pct(cur[i], lim[i], 100);
		warn |= at_pct(cur[i], lim[i], l->warn_pct);
	}
	if (rate)
		return "rate_limited";
	if (warn || s->daily_level >= METER_LEVEL_WARNING ||
	    s->monthly_level >= METER_LEVEL_WARNING ||
	    at_pct(s->daily_spent, l->daily_nanousd, l->warn_pct) ||
	    at_pct(s->monthly_spent, l->monthly_nanousd, l->warn_pct))
		return "warning";
	return "normal";
}

static void
json_breakdown(struct evbuffer *b, const char *key, const char *name,
               const struct grows *g)
{
	size_t i;

	evbuffer_add_printf(b, "\"%s\":[", key);
	for (i = 0; i < g->n; i++) {
		evbuffer_add_printf(b, "%s{", i > 0 ? "," : "");
		json_str(b, name, g->v[i].key);
		evbuffer_add_printf(
		    b, ",\"requests\":%" PRIu64 ",\"tokens\":%" PRIu64 ",",
		    g->v[i].t.requests, tokens_of(&g->v[i].t));
		admin_json_usd(b, "cost", g->v[i].t.cost_nanousd);
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "],");
}

struct recent_out {
	struct evbuffer *b;
	int n;
};

static void
recent_row(void *arg, const struct store_report_request *r)
{
	struct recent_out *o = arg;
	char ts[40];

	iso_time(r->ts_ms, ts, sizeof(ts));
	evbuffer_add_printf(o->b,
	                    "%s{\"id\":%" PRId64 ",\"timestamp\":\"%s\","
	                    "\"ts_ms\":%" PRId64 ",",
	                    o->n++ > 0 ? "," : "", r->id, ts, r->ts_ms);
	json_str(o->b, "endpoint", r->endpoint);
	evbuffer_add_printf(o->b, ",");
	json_str(o->b, "model", r->model);
	evbuffer_add_printf(o->b,
	                    ",\"status\":%d,\"input_tokens\":%" PRIu64
	                    ",\"output_tokens\":%" PRIu64 ",\"tokens\":%" PRIu64
	                    ",",
	                    r->status, r->input_tokens, r->output_tokens,
	                    r->input_tokens + r->output_tokens);
	admin_json_usd(o->b, "cost", r->cost_nanousd);
	evbuffer_add_printf(o->b,
	                    ",\"duration_ms\":%" PRId64
	                    ",\"estimated\":%s,\"forwarded\":%s,",
	                    r->duration_ms, r->estimated ? "true" : "false",
	                    r->forwarded ? "true" : "false");
	json_str(o->b, "limit_hit", r->limit_hit);
	evbuffer_add_printf(o->b, "}");
}

static int
tracking_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
              const struct period *p, char *err, size_t errlen)
{
	struct grows models = {0}, eps = {0};
	struct recent_out ro = {b, 0};
	int rc = -1;

	if (grouped(ad, ws, p->today, p->today, STORE_REPORT_MODEL, 1, &models,
	            err, errlen) == -1 ||
	    grouped(ad, ws, p->today, p->today, STORE_REPORT_ENDPOINT, 1, &eps,
	            err, errlen) == -1)
		goto out;
	evbuffer_add_printf(b, "\"enhanced_tracking\":{");
	json_breakdown(b, "models_breakdown", "model", &models);
	json_breakdown(b, "api_methods_breakdown", "endpoint", &eps);
	evbuffer_add_printf(b, "\"recent_activity\":[");
	if (store_report_recent(ad->reader, ws, ADMIN_USAGE_RECENT, recent_row,
	                        &ro, err, errlen) == -1)
		goto out;
	evbuffer_add_printf(b, "]}");
	rc = 0;
out:
	free(models.v);
	free(eps.v);
	return rc;
}

static int
quota_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
           const struct period *p, char *err, size_t errlen)
{
	struct proxy_limiter_status s;
	const struct meter_limits *l = &s.limits;

	live_find(ad, ws, &s);
	evbuffer_add_printf(b, "{");
	json_str(b, "workspace", ws);
	evbuffer_add_printf(b, ",\"status\":\"%s\",", quota_status(&s));
	json_window(b, "requests_per_minute", s.rpm, l->rpm);
	json_window(b, "requests_per_day", s.rpd, l->rpd);
	json_window(b, "tokens_per_minute", s.tpm, l->tpm);
	json_window(b, "tokens_per_day", s.tpd, l->tpd);
	json_budget_window(b, "daily_budget", s.daily_spent, l->daily_nanousd);
	json_budget_window(b, "monthly_budget", s.monthly_spent,
	                   l->monthly_nanousd);
	if (tracking_json(ad, b, ws, p, err, errlen) == -1)
		return -1;
	evbuffer_add_printf(b, "}\n");
	return 0;
}

void
admin_usage_quota_status(struct proxy_admin *ad, struct evhttp_request *req,
                         const char *arg)
{
	serve_section(ad, req, arg, quota_json);
}

/* --- /api/events
 * ------------------------------------------------------------------ */

static void
sse_free(struct sse_client *c)
{
	struct usage_state *us = c->us;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		us->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	us->nclients--;
	if (c->tick != NULL)
		event_free(c->tick);
	free(c);
}

/*
 * The connection is going away.  When the client left (EOF, error,
 * timeout) libevent 2.1 detaches the unfinished request from the
 * connection without freeing it (evhttp_connection_incoming_fail), so it
 * is ours to free; when the server itself frees the connection
 * (evhttp_free at shutdown) the request is still attached and libevent
 * frees it after this callback.
 */
static void
sse_on_close(struct evhttp_connection *evcon, void *arg)
{
	struct sse_client *c = arg;

	(void)evcon;
	if (evhttp_request_get_connection(c->req) == NULL)
		evhttp_request_free(c->req);
	sse_free(c);
}

static void
sse_event_json(struct evbuffer *b, const struct proxy_events_item *it)
{
	const struct store_record *r = &it->rec;
	char ts[40];

	iso_time(r->ts_ms, ts, sizeof(ts));
	evbuffer_add_printf(b,
	                    "id: %" PRIu64
	                    "\nevent: request\ndata: {\"seq\":%" PRIu64
	                    ",\"ts_ms\":%" PRId64 ",\"timestamp\":\"%s\","
	                    "\"duration_ms\":%" PRId64 ",",
	                    it->seq, it->seq, r->ts_ms, ts, r->duration_ms);
	json_str(b, "workspace", r->workspace);
	evbuffer_add_printf(b, ",");
	json_str(b, "end_user", r->end_user[0] ? r->end_user : NULL);
	evbuffer_add_printf(b, ",");
	json_str(b, "endpoint", r->endpoint);
	evbuffer_add_printf(b, ",");
	json_str(b, "model", r->model);
	evbuffer_add_printf(
	    b,
	    ",\"status\":%d,\"stream\":%s,\"input_tokens\":%" PRIu64
	    ",\"cached_input_tokens\":%" PRIu64 ",\"output_tokens\":%" PRIu64
	    ",\"reasoning_tokens\":%" PRIu64 ",",
	    r->status, r->stream ? "true" : "false", r->input_tokens,
	    r->cached_input_tokens, r->output_tokens, r->reasoning_tokens);
	if (r->unit_kind[0] != '\0')
		evbuffer_add_printf(b, "\"units\":%.3f,", r->units);
	else
		evbuffer_add_printf(b, "\"units\":null,");
	json_str(b, "unit_kind", r->unit_kind[0] ? r->unit_kind : NULL);
	evbuffer_add_printf(b, ",");
	admin_json_usd(b, "cost", r->cost_nanousd);
	evbuffer_add_printf(b,
	                    ",\"cost_nanousd\":%" PRIu64
	                    ",\"estimated\":%s,\"forwarded\":%s,",
	                    r->cost_nanousd, r->estimated ? "true" : "false",
	                    r->forwarded ? "true" : "false");
	json_str(b, "price_version", r->price_version);
	evbuffer_add_printf(b, ",");
	json_str(b, "upstream_request_id",
	         r->upstream_request_id[0] ? r->upstream_request_id : NULL);
	evbuffer_add_printf(b, ",");
	json_str(b, "limit_hit", r->limit_hit[0] ? r->limit_hit : NULL);
	evbuffer_add_printf(b, ",");
	json_str(b, "error", r->error[0] ? r->error : NULL);
	evbuffer_add_printf(b, ",");
	json_str(b, "request_hash",
	         r->request_hash[0] ? r->request_hash : NULL);
	evbuffer_add_printf(b, "}\n\n");
}

static size_t
sse_pending(struct sse_client *c)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);

	return bev != NULL ? evbuffer_get_length(bufferevent_get_output(bev))
	                   : 0;
}

/* Sends what the ring holds past the client's cursor, while its unsent
 * output stays under ADMIN_USAGE_SSE_MAX_PENDING (else it waits, and
 * hears of what it lost when it catches up). */
static void
sse_pump(struct sse_client *c)
{
	struct proxy_events *ev = c->us->ad->px->events;
	struct proxy_events_item *batch = c->us->batch;
	struct evbuffer *out;
	uint64_t lost;
	size_t n, i, rounds;

	for (rounds = 0; rounds <= PROXY_EVENTS_RING / ADMIN_USAGE_SSE_BATCH;
	     rounds++) {
		if (sse_pending(c) > ADMIN_USAGE_SSE_MAX_PENDING ||
		    (out = evbuffer_new()) == NULL)
			return;
		n = proxy_events_read(ev, &c->cursor, batch,
		                      ADMIN_USAGE_SSE_BATCH, &lost);
		if (lost > 0)
			evbuffer_add_printf(
			    out,
			    "event: lost\ndata: {\"lost\":%" PRIu64 "}\n\n",
			    lost);
		for (i = 0; i < n; i++)
			if (c->ws[0] == '\0' ||
			    strcmp(c->ws, batch[i].rec.workspace) == 0)
				sse_event_json(out, &batch[i]);
		if (evbuffer_get_length(out) > 0)
			evhttp_send_reply_chunk(c->req, out);
		evbuffer_free(out);
		if (n < ADMIN_USAGE_SSE_BATCH)
			return;
	}
}

static void
sse_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct usage_state *us = arg;
	struct sse_client *c;

	(void)fd;
	(void)what;
	for (c = us->clients; c != NULL; c = c->next)
		sse_pump(c);
}

static void
sse_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sse_client *c = arg;
	struct evbuffer *out = evbuffer_new();

	(void)fd;
	(void)what;
	if (out == NULL)
		return;
	evbuffer_add_printf(out, ": keep-alive\n\n");
	evhttp_send_reply_chunk(c->req, out);
	evbuffer_free(out);
	sse_pump(c);
}

/* Starts the stream; -1 (nothing sent) on allocation failure. */
static int
sse_start(struct usage_state *us, struct evhttp_request *req, const char *ws)
{
	struct timeval tv = {ADMIN_USAGE_SSE_KEEPALIVE_S, 0};
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct sse_client *c = calloc(1, sizeof(*c));
	struct evbuffer *out = evbuffer_new();

	if (c == NULL || out == NULL ||
	    (c->tick = event_new(us->ad->base, -1, EV_PERSIST, sse_on_tick,
	                         c)) == NULL) {
		free(c);
		if (out != NULL)
			evbuffer_free(out);
		return -1;
	}
	c->us = us;
	c->req = req;
	c->evcon = evhttp_request_get_connection(req);
	c->cursor = proxy_events_next(us->ad->px->events);
	snprintf(c->ws, sizeof(c->ws), "%s", ws != NULL ? ws : "");
	c->next = us->clients;
	if (us->clients != NULL)
		us->clients->prev = c;
	us->clients = c;
	us->nclients++;
	evhttp_connection_set_closecb(c->evcon, sse_on_close, c);
	event_add(c->tick, &tv);
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_send_reply_start(req, 200, "OK");
	evbuffer_add_printf(out, ": tollgate events\n\n");
	evhttp_send_reply_chunk(req, out);
	evbuffer_free(out);
	return 0;
}

void
admin_usage_events(struct proxy_admin *ad, struct evhttp_request *req,
                   const char *arg)
{
	struct usage_state *us = ad->usage_state;
	struct args a;

	(void)arg;
	if (args_begin(ad, req, &a, NULL) == -1)
		goto out;
	if (us == NULL || us->nclients >= ADMIN_USAGE_MAX_SSE_CLIENTS) {
		admin_json_error(req, 503, "too_many_clients",
		                 "too many event stream clients; try again "
		                 "later");
		goto out;
	}
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "Content-Type", "text/event-stream");
		evhttp_send_reply(req, 200, "OK", NULL);
		goto out;
	}
	if (sse_start(us, req, a.ws) == -1)
		admin_json_error(req, 503, "out_of_memory",
		                 "cannot start the event stream");
out:
	evhttp_clear_headers(&a.kv);
}

int
admin_usage_init(struct proxy_admin *ad)
{
	struct usage_state *us = calloc(1, sizeof(*us));

	if (us == NULL)
		return -1;
	us->ad = ad;
	us->wake = event_new(ad->base, -1, 0, sse_on_wake, us);
	if (us->wake == NULL) {
		free(us);
		return -1;
	}
	proxy_events_set_wake(ad->px->events, us->wake);
	ad->usage_state = us;
	return 0;
}

void
admin_usage_free(struct proxy_admin *ad)
{
	struct usage_state *us = ad->usage_state;

	if (us == NULL)
		return;
	proxy_events_set_wake(ad->px->events, NULL);
	event_free(us->wake);
	/* evhttp_free closed the connections (sse_on_close); whatever is
	 * left never got that far. */
	while (us->clients != NULL)
		sse_free(us->clients);
	free(us);
	ad->usage_state = NULL;
}
