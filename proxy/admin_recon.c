/*
 * proxy/admin_recon.c — reconciliation reports (DESIGN.md "Admin HTTP
 * API"; docs/reconcile.md): GET /api/reconciliation?from=&to=,
 * GET /api/usage/real-vs-estimated/{ws}, the object the dashboard
 * embeds, and the reconcile gauges of /metrics.
 *
 * Admin thread only.  Reads what the reconciler thread committed
 * (reconciliation, reconcile_runs) through the admin's read-only
 * connection; owns nothing beyond one request.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/admin_int.h"
#include "proxy/config.h"
#include "proxy/reply.h"
#include "store/reconcile.h"

#define RECON_METRIC_MAX_ROWS 200  /* per-row drift series in /metrics */
#define RECON_JSON_MAX_ROWS 100000 /* rows in one answer */

/* {"error":{...}} naming the parameter (param), status 400. */
static void
recon_param_error(struct evhttp_request *req, const char *param,
                  const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		return;
	evbuffer_add_printf(b, "{\"error\":{\"message\":");
	proxy_reply_json_string(b, msg);
	evbuffer_add_printf(b,
	                    ",\"type\":\"invalid_request_error\",\"param\":");
	proxy_reply_json_string(b, param);
	evbuffer_add_printf(b, ",\"code\":\"invalid_parameter\"}}\n");
	admin_send_json(req, 400, b);
	evbuffer_free(b);
}

/* Is s a real calendar date YYYY-MM-DD? */
static int
recon_valid_day(const char *s)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30,
	                              31, 31, 30, 31, 30, 31};
	int y, m, d, i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	return !(m == 2 && d == 29 &&
	         !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static void
recon_day(time_t t, char out[11])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

/* The reconciler's lookback window: lookback_days ending today. */
static void
recon_default_window(struct proxy_admin *ad, char from[11], char to[11])
{
	struct config *cfg = proxy_config_get(ad->px);
	int days =
	    cfg->reconcile_lookback_days > 0 ? cfg->reconcile_lookback_days : 1;
	time_t now = time(NULL);

	proxy_config_put(cfg);
	recon_day(now, to);
	recon_day(now - (time_t)(days - 1) * 86400, from);
}

/* "disabled" | "ok" | "error: ..." and the last run. */
static void
recon_status(struct proxy_admin *ad, char *status, size_t cap,
             struct store_recon_state *st)
{
	struct config *cfg = proxy_config_get(ad->px);
	const char *env = cfg->reconcile_admin_key_env;
	const char *key = env && env[0] ? getenv(env) : NULL;
	char err[256];

	if (store_reader_recon_state(ad->reader, st, err, sizeof(err)) == -1) {
		memset(st, 0, sizeof(*st));
		snprintf(status, cap, "error: database: %s", err);
	} else if (key == NULL || key[0] == '\0') {
		snprintf(status, cap, "disabled");
	} else {
		snprintf(status, cap, "%s", st->status[0] ? st->status : "ok");
	}
	proxy_config_put(cfg);
}

static void
json_ts(struct evbuffer *b, const char *key, int64_t ms)
{
	char buf[40];
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0) {
		evbuffer_add_printf(b, "\"%s\":null", key);
		return;
	}
	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	evbuffer_add_printf(b, "\"%s\":\"%s.%03dZ\"", key, buf,
	                    (int)(ms % 1000));
}

static void
json_money(struct evbuffer *b, const char *key, int64_t nano, int has)
{
	uint64_t a = nano < 0 ? (uint64_t)0 - (uint64_t)nano : (uint64_t)nano;

	if (!has)
		evbuffer_add_printf(b, "\"%s\":null", key);
	else
		evbuffer_add_printf(b, "\"%s\":%s%" PRIu64 ".%09" PRIu64, key,
		                    nano < 0 ? "-" : "", a / 1000000000,
		                    a % 1000000000);
}

static void
json_pct(struct evbuffer *b, const char *key, double v, int has)
{
	if (!has || !isfinite(v))
		evbuffer_add_printf(b, "\"%s\":null", key);
	else
		evbuffer_add_printf(b, "\"%s\":%.4f", key, v);
}

static void
json_side(struct evbuffer *b, const char *key, const struct store_recon_side *s)
{
	evbuffer_add_printf(b,
	                    "\"%s\":{\"requests\":%" PRIu64
	                    ",\"input_tokens\":%" PRIu64
	                    ",\"cached_input_tokens\":%" PRIu64
	                    ",\"output_tokens\":%" PRIu64 ",",
	                    key, s->requests, s->input_tokens,
	                    s->cached_input_tokens, s->output_tokens);
	json_money(b, "cost", s->cost_nanousd, s->has_cost);
	evbuffer_add_printf(b, "}");
}

struct rows_ctx {
	struct evbuffer *b;
	size_t n;
};

static void
recon_row_json(void *arg, const struct store_recon_row *r)
{
	struct rows_ctx *c = arg;
	struct evbuffer *b = c->b;

	evbuffer_add_printf(b, "%s{\"day\":\"%s\",\"model\":", c->n ? "," : "",
	                    r->day);
	proxy_reply_json_string(b, r->model);
	evbuffer_add_printf(b, ",\"project\":");
	if (r->project[0] == '\0')
		evbuffer_add_printf(b, "null");
	else
		proxy_reply_json_string(b, r->project);
	evbuffer_add_printf(b, ",");
	json_side(b, "local", &r->local);
	evbuffer_add_printf(b, ",");
	json_side(b, "provider", &r->provider);
	evbuffer_add_printf(b, ",\"drift_pct\":{");
	json_pct(b, "requests", r->drift_requests, r->has_requests);
	evbuffer_add_printf(b, ",");
	json_pct(b, "input_tokens", r->drift_input, r->has_input);
	evbuffer_add_printf(b, ",");
	json_pct(b, "output_tokens", r->drift_output, r->has_output);
	evbuffer_add_printf(b, ",");
	json_pct(b, "cost", r->drift_cost, r->has_cost);
	evbuffer_add_printf(b, "},\"flag\":");
	if (r->flag[0] == '\0')
		evbuffer_add_printf(b, "null}");
	else
		evbuffer_add_printf(b, "\"%s\"}", r->flag);
	c->n++;
}

/* The rows of project (NULL: all) and the run state, as one object
 * without its closing brace. */
static int
recon_object(struct proxy_admin *ad, struct evbuffer *b, const char *project,
             const char *from, const char *to, char *err, size_t errlen)
{
	struct store_recon_state st;
	struct rows_ctx c = {b, 0};
	char status[STORE_RECON_STATUS_MAX + 32];

	evbuffer_add_printf(b, "{\"rows\":[");
	if (store_reader_recon_rows(ad->reader, from, to, project,
	                            RECON_JSON_MAX_ROWS, recon_row_json, &c,
	                            err, errlen) == -1)
		return -1;
	recon_status(ad, status, sizeof(status), &st);
	evbuffer_add_printf(b, "],\"from\":\"%s\",\"to\":\"%s\",", from, to);
	json_ts(b, "last_run", st.last_run_ms);
	evbuffer_add_printf(b, ",");
	json_ts(b, "last_success", st.last_ok_ms);
	evbuffer_add_printf(b, ",\"status\":");
	proxy_reply_json_string(b, status);
	return 0;
}

/* What {ws} compares under: its openai_project, or "" (the unmapped
 * comparison) with a note. */
static void
recon_ws_project(struct proxy_admin *ad, const char *ws, char *project,
                 size_t cap, char *note, size_t notecap)
{
	struct config *cfg = proxy_config_get(ad->px);
	const struct config_workspace *w =
	    config_workspace(cfg, ws, strlen(ws));
	size_t i, shared = 0;

	project[0] = note[0] = '\0';
	if (w != NULL && w->openai_project != NULL) {
		snprintf(project, cap, "%s", w->openai_project);
		for (i = 0; i < cfg->nws; i++)
			shared += cfg->ws[i].openai_project != NULL &&
			          strcmp(cfg->ws[i].openai_project,
			                 w->openai_project) == 0;
		if (shared > 1)
			snprintf(note, notecap,
			         "%zu workspaces book to OpenAI project %s: "
			         "local counts are theirs together",
			         shared, w->openai_project);
	} else {
		snprintf(
		    note, notecap,
		    "workspace %s has no openai_project: these rows compare "
		    "the traffic of every workspace without one with "
		    "OpenAI's usage of projects no workspace maps to",
		    ws);
	}
	proxy_config_put(cfg);
}

int
admin_recon_json(struct proxy_admin *ad, struct evbuffer *b, const char *ws,
                 const char *from, const char *to, char *err, size_t errlen)
{
	char dfrom[11], dto[11], project[CONFIG_NAME_MAX * 4], note[512];

	recon_default_window(ad, dfrom, dto);
	if (from == NULL)
		from = dfrom;
	if (to == NULL)
		to = dto;
	if (ws == NULL)
		return recon_object(ad, b, NULL, from, to, err, errlen) == -1
		           ? -1
		           : (evbuffer_add_printf(b, "}"), 0);
	recon_ws_project(ad, ws, project, sizeof(project), note, sizeof(note));
	if (recon_object(ad, b, project, from, to, err, errlen) == -1)
		return -1;
	evbuffer_add_printf(b, ",\"workspace\":");
	proxy_reply_json_string(b, ws);
	evbuffer_add_printf(b, ",\"project\":");
	if (project[0])
		proxy_reply_json_string(b, project);
	else
		evbuffer_add_printf(b, "null");
	if (note[0]) {
		evbuffer_add_printf(b, ",\"note\":");
		proxy_reply_json_string(b, note);
	}
	evbuffer_add_printf(b, "}");
	return 0;
}

/* from/to of the query (validated; *bad names a bad one). */
static int
recon_range(struct evhttp_request *req, char from[11], char to[11], int *given)
{
	const char *q =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq kv;
	const char *f, *t;
	int rc = 0;

	*given = 0;
	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) != 0) {
		recon_param_error(req, "query",
		                  "the query string is malformed");
		return -1;
	}
	f = evhttp_find_header(&kv, "from");
	t = evhttp_find_header(&kv, "to");
	if (f != NULL && !recon_valid_day(f)) {
		recon_param_error(req, "from",
		                  "from must be a date YYYY-MM-DD (UTC)");
		rc = -1;
	} else if (t != NULL && !recon_valid_day(t)) {
		recon_param_error(req, "to",
		                  "to must be a date YYYY-MM-DD (UTC)");
		rc = -1;
	} else if (f != NULL && t != NULL && strcmp(f, t) > 0) {
		recon_param_error(req, "from", "from must not be after to");
		rc = -1;
	} else {
		if (f != NULL)
			snprintf(from, 11, "%s", f), *given |= 1;
		if (t != NULL)
			snprintf(to, 11, "%s", t), *given |= 2;
	}
	evhttp_clear_headers(&kv);
	return rc;
}

static void
recon_answer(struct proxy_admin *ad, struct evhttp_request *req, const char *ws)
{
	struct evbuffer *b;
	char from[11], to[11], err[256];
	int given;

	if (recon_range(req, from, to, &given) == -1)
		return;
	if ((b = evbuffer_new()) == NULL)
		return;
	if (admin_recon_json(ad, b, ws, given & 1 ? from : NULL,
	                     given & 2 ? to : NULL, err, sizeof(err)) == -1) {
		admin_json_error(req, 500, "database_error", err);
	} else {
		evbuffer_add_printf(b, "\n");
		admin_send_json(req, 200, b);
	}
	evbuffer_free(b);
}

void
admin_recon_reconciliation(struct proxy_admin *ad, struct evhttp_request *req,
                           const char *arg)
{
	(void)arg;
	recon_answer(ad, req, NULL);
}

void
admin_recon_real_vs_estimated(struct proxy_admin *ad,
                              struct evhttp_request *req, const char *arg)
{
	if (!config_valid_workspace_name(arg, strlen(arg))) {
		recon_param_error(req, "workspace",
		                  "the workspace in the path must be 1-63 of "
		                  "A-Z a-z 0-9 - _ .");
		return;
	}
	recon_answer(ad, req, arg);
}

/* --- /metrics ----------------------------------------------------------- */

/* A label value with \, " and newline escaped (Prometheus text format). */
static void
metric_label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add_printf(b, "\\n");
		else
			evbuffer_add(b, s, 1);
	}
}

struct metric_ctx {
	struct evbuffer *b;
	size_t n;
	uint64_t flagged_bypass, flagged_overcount;
	struct store_recon_side local, provider;
};

static void
metric_value(struct evbuffer *b, double v, int has)
{
	if (has)
		evbuffer_add_printf(b, " %.6f\n", v / 100.0);
	else
		evbuffer_add_printf(b, " +Inf\n");
}

static void
metric_row(void *arg, const struct store_recon_row *r)
{
	struct metric_ctx *m = arg;
	const struct {
		const char *kind;
		double v;
		int has, used;
	} k[4] = {
	    {"requests", r->drift_requests, r->has_requests, 1},
	    {"input_tokens", r->drift_input, r->has_input, 1},
	    {"output_tokens", r->drift_output, r->has_output, 1},
	    {"cost", r->drift_cost, r->has_cost, r->provider.has_cost},
	};
	int i;

	m->flagged_bypass += strcmp(r->flag, "bypass") == 0;
	m->flagged_overcount += strcmp(r->flag, "overcount") == 0;
	m->local.requests += r->local.requests;
	m->local.input_tokens += r->local.input_tokens;
	m->local.output_tokens += r->local.output_tokens;
	m->provider.requests += r->provider.requests;
	m->provider.input_tokens += r->provider.input_tokens;
	m->provider.output_tokens += r->provider.output_tokens;
	if (r->provider.has_cost) {
		m->local.cost_nanousd += r->local.cost_nanousd;
		m->provider.cost_nanousd += r->provider.cost_nanousd;
		m->provider.has_cost = 1;
	}
	if (m->n++ >= RECON_METRIC_MAX_ROWS)
		return;
	for (i = 0; i < 4; i++) {
		if (!k[i].used)
			continue;
		evbuffer_add_printf(
		    m->b,
		    "tollgate_reconcile_drift_ratio{kind=\"%s\","
		    "day=\"%s\",model=\"",
		    k[i].kind, r->day);
		metric_label(m->b, r->model);
		evbuffer_add_printf(m->b, "\",project=\"");
		metric_label(m->b, r->project);
		evbuffer_add_printf(m->b, "\"}");
		metric_value(m->b, k[i].v, k[i].has);
	}
}

static void
metric_total(struct evbuffer *b, const char *kind, double local,
             double provider, int used)
{
	if (!used)
		return;
	evbuffer_add_printf(
	    b, "tollgate_reconcile_window_drift_ratio{kind=\"%s\"}", kind);
	if (local == 0 && provider != 0)
		evbuffer_add_printf(b, " +Inf\n");
	else
		evbuffer_add_printf(b, " %.6f\n",
		                    local == 0 ? 0.0
		                               : (provider - local) / local);
}

void
admin_recon_metrics(struct proxy_admin *ad, struct evbuffer *b)
{
	struct metric_ctx m;
	struct store_recon_state st;
	char from[11], to[11], status[STORE_RECON_STATUS_MAX + 32], err[256];

	memset(&m, 0, sizeof(m));
	m.b = b;
	recon_default_window(ad, from, to);
	recon_status(ad, status, sizeof(status), &st);
	evbuffer_add_printf(
	    b,
	    "# HELP tollgate_reconcile_enabled Reconciliation with OpenAI's "
	    "Usage and Costs APIs is on (the admin key is set).\n"
	    "# TYPE tollgate_reconcile_enabled gauge\n"
	    "tollgate_reconcile_enabled %d\n"
	    "# HELP tollgate_reconcile_up The last reconciliation pass "
	    "succeeded.\n"
	    "# TYPE tollgate_reconcile_up gauge\n"
	    "tollgate_reconcile_up %d\n"
	    "# HELP tollgate_reconcile_last_run_timestamp_seconds When the "
	    "last pass ran (0: never).\n"
	    "# TYPE tollgate_reconcile_last_run_timestamp_seconds gauge\n"
	    "tollgate_reconcile_last_run_timestamp_seconds %.3f\n"
	    "# HELP tollgate_reconcile_last_success_timestamp_seconds When "
	    "the last pass succeeded (0: never).\n"
	    "# TYPE tollgate_reconcile_last_success_timestamp_seconds gauge\n"
	    "tollgate_reconcile_last_success_timestamp_seconds %.3f\n"
	    "# HELP tollgate_reconcile_runs_total Reconciliation passes, "
	    "failed ones included.\n"
	    "# TYPE tollgate_reconcile_runs_total counter\n"
	    "tollgate_reconcile_runs_total %" PRIu64 "\n"
	    "# HELP tollgate_reconcile_failures_total Reconciliation passes "
	    "that failed.\n"
	    "# TYPE tollgate_reconcile_failures_total counter\n"
	    "tollgate_reconcile_failures_total %" PRIu64 "\n"
	    "# HELP tollgate_reconcile_flags_total Drift flags raised (each "
	    "day x model x project x flag once).\n"
	    "# TYPE tollgate_reconcile_flags_total counter\n"
	    "tollgate_reconcile_flags_total{flag=\"bypass\"} %" PRIu64 "\n"
	    "tollgate_reconcile_flags_total{flag=\"overcount\"} %" PRIu64 "\n",
	    strcmp(status, "disabled") != 0,
	    strcmp(status, "ok") == 0 && st.last_ok_ms > 0,
	    (double)st.last_run_ms / 1000.0, (double)st.last_ok_ms / 1000.0,
	    st.runs, st.failures, st.flags_bypass, st.flags_overcount);
	evbuffer_add_printf(
	    b, "# HELP tollgate_reconcile_drift_ratio (OpenAI - tollgate) / "
	       "tollgate per day, model and project of the lookback window "
	       "(at most 200 rows; +Inf: OpenAI only).\n"
	       "# TYPE tollgate_reconcile_drift_ratio gauge\n");
	if (store_reader_recon_rows(ad->reader, from, to, NULL, 0, metric_row,
	                            &m, err, sizeof(err)) == -1)
		return;
	evbuffer_add_printf(
	    b,
	    "# HELP tollgate_reconcile_window_drift_ratio (OpenAI - tollgate) "
	    "/ tollgate over the whole lookback window.\n"
	    "# TYPE tollgate_reconcile_window_drift_ratio gauge\n");
	metric_total(b, "requests", (double)m.local.requests,
	             (double)m.provider.requests, 1);
	metric_total(b, "input_tokens", (double)m.local.input_tokens,
	             (double)m.provider.input_tokens, 1);
	metric_total(b, "output_tokens", (double)m.local.output_tokens,
	             (double)m.provider.output_tokens, 1);
	metric_total(b, "cost", (double)m.local.cost_nanousd,
	             (double)m.provider.cost_nanousd, m.provider.has_cost);
	evbuffer_add_printf(
	    b,
	    "# HELP tollgate_reconcile_flagged_rows Rows of the lookback "
	    "window flagged now.\n"
	    "# TYPE tollgate_reconcile_flagged_rows gauge\n"
	    "tollgate_reconcile_flagged_rows{flag=\"bypass\"} %" PRIu64 "\n"
	    "tollgate_reconcile_flagged_rows{flag=\"overcount\"} %" PRIu64 "\n",
	    m.flagged_bypass, m.flagged_overcount);
}
