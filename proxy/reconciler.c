/*
 * proxy/reconciler.c — the reconciler thread and `tollgate reconcile
 * --once` (see reconciler.h; docs/reconcile.md).
 *
 * Thread: its own, started by main after the admin listener.  It never
 * touches a proxy worker or an event base: each pass takes the running
 * config snapshot, pages through the six organization Usage endpoints
 * and the Costs endpoint with the blocking client (proxy/fetch.c, with
 * the proxy's certificate verification rules: system store plus
 * upstream_ca_file), hands each page to store/reconcile.c, and commits
 * the pass there in one transaction on its own read-write connection.
 * 429 and 5xx answers are retried after the upstream's Retry-After
 * (capped), a few times; then the pass is given up and the next interval
 * tries again.  Owns the thread, its store connection and the cancel flag
 * that cuts a fetch or a wait short at stop.
 *
 * The admin key is read from the environment variable the config names
 * and is never logged: a key is shown as sha256: plus 12 hex digits.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proxy/alert.h"
#include "proxy/config.h"
#include "proxy/fetch.h"
#include "proxy/log.h"
#include "proxy/reconciler.h"
#include "store/reconcile.h"
#include "store/store.h"

#define RECON_MIN_INTERVAL_S 1       /* a 0 in the config means this */
#define RECON_FETCH_TIMEOUT_MS 30000 /* one Usage/Costs API exchange */
#define RECON_TRIES 4                /* per page: 1 + 3 retries */
#define RECON_BACKOFF_MS 1000        /* without Retry-After; doubles */
#define RECON_RETRY_AFTER_MAX_S 60   /* longest wait honoured per retry */
#define RECON_MAX_PAGES 2000         /* pages per pass, all endpoints */
#define RECON_WAIT_SLICE_MS 100      /* cancel is looked at this often */
#define RECON_ERR_MAX 768            /* one pass's error message */
#define RECON_LIMIT_1H 48            /* buckets per 1h page (max 168) */
#define RECON_LIMIT_1D 31            /* buckets per 1d page (max 31) */
#define RECON_LIMIT_COSTS 31         /* buckets per Costs page (max 180) */
#define DAY_S 86400
#define HOUR_S 3600

struct proxy_reconciler {
	struct proxy *px;
	int enabled;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* stop */
	int stop;
	atomic_int cancel;
	struct store_recon *st;
	char last_err[RECON_ERR_MAX]; /* logged once until it changes */
};

/* One pass's inputs and progress. */
struct recon_pass {
	const struct config *cfg;
	const char *key;
	char key_id[24]; /* sha256:<12 hex> */
	char base[PROXY_FETCH_MAX_URL / 2];
	const atomic_int *cancel;
	struct store_recon_pull *pull;
	int pages;
	char err[RECON_ERR_MAX];
};

static int64_t
recon_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The admin key from the environment, or NULL (unset or empty). */
static const char *
recon_key(const struct config *cfg)
{
	const char *k;

	if (cfg->reconcile_admin_key_env == NULL ||
	    cfg->reconcile_admin_key_env[0] == '\0')
		return NULL;
	k = getenv(cfg->reconcile_admin_key_env);
	return k != NULL && k[0] != '\0' ? k : NULL;
}

static void
recon_key_id(const char *key, char out[24])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	snprintf(out, 24, "sha256:");
	if (EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL) != 1)
		return;
	for (i = 0; i < 6 && i < mdlen; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* reconcile.base_url, else upstream; without a trailing "/" or "/v1". */
static void
recon_base(const struct config *cfg, char *buf, size_t cap)
{
	const char *b = cfg->reconcile_base_url && cfg->reconcile_base_url[0]
	                    ? cfg->reconcile_base_url
	                    : cfg->upstream;
	size_t n;

	snprintf(buf, cap, "%s", b);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (n >= 3 && strcmp(buf + n - 3, "/v1") == 0)
		buf[n - 3] = '\0';
}

/* Printable ASCII only, for log lines holding upstream text. */
static void
recon_clean(const char *s, char *out, size_t cap)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < cap; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

/* --- waiting ------------------------------------------------------------ */

static int
recon_cancelled(const atomic_int *cancel)
{
	return cancel != NULL && atomic_load(cancel);
}

/* Sleeps ms, waking early when cancelled: -1 then. */
static int
recon_sleep(const atomic_int *cancel, long ms)
{
	struct timespec ts;

	while (ms > 0) {
		long slice =
		    ms < RECON_WAIT_SLICE_MS ? ms : RECON_WAIT_SLICE_MS;

		if (recon_cancelled(cancel))
			return -1;
		ts.tv_sec = slice / 1000;
		ts.tv_nsec = (slice % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		ms -= slice;
	}
	return recon_cancelled(cancel) ? -1 : 0;
}

/* Retry-After in delay-seconds (RFC 9110 §10.2.3) as ms, capped at
 * RECON_RETRY_AFTER_MAX_S; -1 when absent or an HTTP-date. */
static long
recon_retry_after_ms(const char *v)
{
	size_t i, n = strlen(v);
	long s = 0;

	if (n == 0 || strspn(v, "0123456789") != n)
		return -1;
	for (i = 0; i < n && s <= RECON_RETRY_AFTER_MAX_S; i++)
		s = s * 10 + (v[i] - '0');
	return (s > RECON_RETRY_AFTER_MAX_S ? RECON_RETRY_AFTER_MAX_S : s) *
	       1000L;
}

/* --- fetching ------------------------------------------------------------ */

static void
recon_url_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0' && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
}

/* OpenAI's error.message from an error body, cleaned, or "". */
static void
recon_error_message(const struct proxy_fetch_resp *r, char *out, size_t cap)
{
	cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "error"), "message");

	out[0] = '\0';
	if (cJSON_IsString(m))
		recon_clean(m->valuestring, out, cap);
	cJSON_Delete(root);
}

static void
recon_not_admin(struct recon_pass *ps, int status, const char *path)
{
	snprintf(ps->err, sizeof(ps->err),
	         "the key in %s (%s) is not an admin key: OpenAI answered %d "
	         "to /v1/organization/%s.  The organization Usage and Costs "
	         "APIs need an admin key (sk-admin-...) created in the "
	         "organization settings "
	         "(https://platform.openai.com/settings/organization/"
	         "admin-keys); a project or user key cannot read them.  Put "
	         "the admin key in %s",
	         ps->cfg->reconcile_admin_key_env, ps->key_id, status, path,
	         ps->cfg->reconcile_admin_key_env);
}

/*
 * GETs url, retrying 429 and 5xx after Retry-After (or a doubling
 * backoff) up to RECON_TRIES times.  0 with a 200 in *resp; -1 with
 * ps->err set otherwise.
 */
static int
recon_get(struct recon_pass *ps, const char *url, const char *path,
          struct proxy_fetch_resp *resp)
{
	char headers[PROXY_FETCH_MAX_URL], ferr[256], msg[256];
	struct proxy_fetch_req rq = {0};
	long backoff = RECON_BACKOFF_MS, wait;
	int tries;

	snprintf(headers, sizeof(headers),
	         "Authorization: Bearer %s\r\nAccept: application/json\r\n",
	         ps->key);
	rq.method = "GET";
	rq.url = url;
	rq.headers = headers;
	rq.ca_file = ps->cfg->upstream_ca_file;
	rq.timeout_ms = RECON_FETCH_TIMEOUT_MS;
	rq.cancel = ps->cancel;
	for (tries = 1;; tries++) {
		if (proxy_fetch(&rq, resp, ferr, sizeof(ferr)) == -1) {
			snprintf(ps->err, sizeof(ps->err), "%s: %s", path,
			         ferr);
			return -1;
		}
		if (resp->status == 200)
			return 0;
		if (resp->status == 401 || resp->status == 403 ||
		    resp->status == 404) {
			recon_not_admin(ps, resp->status, path);
			goto fail;
		}
		recon_error_message(resp, msg, sizeof(msg));
		if (resp->status != 429 && resp->status < 500) {
			snprintf(
			    ps->err, sizeof(ps->err),
			    "OpenAI answered %d to /v1/organization/%s%s%s",
			    resp->status, path, msg[0] ? ": " : "", msg);
			goto fail;
		}
		if (tries >= RECON_TRIES) {
			snprintf(ps->err, sizeof(ps->err),
			         "OpenAI answered %d to /v1/organization/%s %d "
			         "times%s%s; giving up this pass, the next "
			         "interval tries again",
			         resp->status, path, tries, msg[0] ? ": " : "",
			         msg);
			goto fail;
		}
		wait = recon_retry_after_ms(resp->retry_after);
		if (wait < 0)
			wait = backoff;
		backoff *= 2;
		log_debug("reconcile: %d from /v1/organization/%s, retrying in "
		          "%ld ms",
		          resp->status, path, wait);
		proxy_fetch_resp_free(resp);
		if (recon_sleep(ps->cancel, wait) == -1) {
			snprintf(ps->err, sizeof(ps->err), "stopped");
			return -1;
		}
	}
fail:
	proxy_fetch_resp_free(resp);
	return -1;
}

/* Every page of kind over [start, end) at width ("1h", "1d"). */
static int
recon_pull(struct recon_pass *ps, enum store_recon_kind kind, int64_t start,
           int64_t end, const char *width, int limit)
{
	const char *path = store_recon_kind_path(kind);
	const char *groups = kind == STORE_RECON_COSTS
	                         ? "group_by=line_item&group_by=project_id"
	                         : "group_by=model&group_by=project_id";
	char url[PROXY_FETCH_MAX_URL], cursor[STORE_RECON_MAX_CURSOR + 1];
	char esc[3 * STORE_RECON_MAX_CURSOR + 1], perr[256];
	struct proxy_fetch_resp resp;
	int more = 1, n;

	cursor[0] = '\0';
	while (more) {
		if (++ps->pages > RECON_MAX_PAGES) {
			snprintf(ps->err, sizeof(ps->err),
			         "more than %d pages in one pass: giving up",
			         RECON_MAX_PAGES);
			return -1;
		}
		recon_url_escape(cursor, esc, sizeof(esc));
		n = snprintf(url, sizeof(url),
		             "%s/v1/organization/%s?start_time=%" PRId64
		             "&end_time=%" PRId64
		             "&bucket_width=%s&limit=%d&%s%s%s",
		             ps->base, path, start, end, width, limit, groups,
		             cursor[0] ? "&page=" : "", esc);
		if (n < 0 || (size_t)n >= sizeof(url)) {
			snprintf(ps->err, sizeof(ps->err), "URL too long");
			return -1;
		}
		if (recon_get(ps, url, path, &resp) == -1)
			return -1;
		if (store_recon_pull_page(
		        ps->pull, kind, resp.body, resp.body_len, &more, cursor,
		        sizeof(cursor), perr, sizeof(perr)) == -1) {
			snprintf(ps->err, sizeof(ps->err),
			         "malformed page from OpenAI: %s", perr);
			proxy_fetch_resp_free(&resp);
			return -1;
		}
		proxy_fetch_resp_free(&resp);
	}
	return 0;
}

/* The window: lookback_days whole UTC days ending today.  Usage comes in
 * 1h buckets for yesterday and today (the trailing 48 h at most), 1d
 * before; Costs in 1d buckets. */
struct recon_window {
	int64_t start, split, end_hour, end;
};

static void
recon_window(const struct config *cfg, int64_t now_s, struct recon_window *w)
{
	int64_t today = now_s - now_s % DAY_S;
	int days =
	    cfg->reconcile_lookback_days > 0 ? cfg->reconcile_lookback_days : 1;

	w->start = today - (int64_t)(days - 1) * DAY_S;
	w->end = today + DAY_S;
	w->split = today - DAY_S > w->start ? today - DAY_S : w->start;
	w->end_hour = now_s - now_s % HOUR_S + HOUR_S;
}

static int
recon_pull_all(struct recon_pass *ps, const struct recon_window *w)
{
	int k;

	for (k = 0; k < STORE_RECON_COSTS; k++) {
		if (w->start < w->split &&
		    recon_pull(ps, (enum store_recon_kind)k, w->start, w->split,
		               "1d", RECON_LIMIT_1D) == -1)
			return -1;
		if (recon_pull(ps, (enum store_recon_kind)k, w->split,
		               w->end_hour, "1h", RECON_LIMIT_1H) == -1)
			return -1;
	}
	return recon_pull(ps, STORE_RECON_COSTS, w->start, w->end, "1d",
	                  RECON_LIMIT_COSTS);
}

/* Workspace -> openai_project pairs of cfg (malloc'd; *n entries). */
static struct store_recon_map *
recon_map(const struct config *cfg, size_t *n)
{
	struct store_recon_map *m = calloc(cfg->nws + 1, sizeof(*m));
	size_t i;

	*n = 0;
	if (m == NULL)
		return NULL;
	for (i = 0; i < cfg->nws && *n < STORE_RECON_MAX_MAPPINGS; i++) {
		if (cfg->ws[i].openai_project == NULL)
			continue;
		m[*n].workspace = cfg->ws[i].name;
		m[*n].project = cfg->ws[i].openai_project;
		(*n)++;
	}
	return m;
}

/*
 * One pass: pulls, commits (calling fn for new flags), and records the
 * run; a failure is recorded as the run's status.  0, or -1 with err.
 * from/to get the window's first and last day.
 */
static int
recon_pass_run(const struct config *cfg, const char *key,
               const atomic_int *cancel, struct store_recon *st,
               store_recon_flag_fn fn, void *arg, char from[11], char to[11],
               char *err, size_t errlen)
{
	struct recon_pass ps;
	struct recon_window w;
	struct store_recon_map *map = NULL;
	int64_t now_ms = recon_now_ms();
	char serr[256];
	size_t nmap = 0;
	struct tm tm;
	time_t t;
	int rc = -1;

	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.key = key;
	ps.cancel = cancel;
	recon_key_id(key, ps.key_id);
	recon_base(cfg, ps.base, sizeof(ps.base));
	recon_window(cfg, now_ms / 1000, &w);
	t = (time_t)w.start;
	strftime(from, 11, "%Y-%m-%d", gmtime_r(&t, &tm));
	t = (time_t)(w.end - 1);
	strftime(to, 11, "%Y-%m-%d", gmtime_r(&t, &tm));
	if (strncasecmp(ps.base, "https://", 8) != 0) {
		/* the admin key must not cross the network in clear */
		snprintf(ps.err, sizeof(ps.err), "%s must be an https:// URL",
		         cfg->reconcile_base_url && cfg->reconcile_base_url[0]
		             ? "reconcile.base_url"
		             : "upstream");
		goto done;
	}
	if ((ps.pull = store_recon_pull_new(w.start, w.end)) == NULL ||
	    (map = recon_map(cfg, &nmap)) == NULL) {
		snprintf(ps.err, sizeof(ps.err), "out of memory");
		goto done;
	}
	if (recon_pull_all(&ps, &w) == -1)
		goto done;
	if (store_recon_commit(st, ps.pull, map, nmap,
	                       cfg->reconcile_drift_alert_pct, now_ms, fn, arg,
	                       serr, sizeof(serr)) == -1) {
		snprintf(ps.err, sizeof(ps.err), "database: %s", serr);
		goto done;
	}
	rc = 0;
done:
	if (rc == -1) {
		snprintf(err, errlen, "%s", ps.err);
		if (!recon_cancelled(cancel))
			store_recon_fail(st, now_ms, ps.err, serr,
			                 sizeof(serr));
	}
	store_recon_pull_free(ps.pull);
	free(map);
	return rc;
}

/* --- flags ---------------------------------------------------------------- */

static void
recon_usd(int64_t nano, char *buf, size_t cap)
{
	uint64_t a = nano < 0 ? (uint64_t)0 - (uint64_t)nano : (uint64_t)nano;

	snprintf(buf, cap, "%s%" PRIu64 ".%09" PRIu64, nano < 0 ? "-" : "",
	         a / 1000000000, a % 1000000000);
}

static void
recon_pct(double v, int has, char *buf, size_t cap)
{
	if (has)
		snprintf(buf, cap, "%+.2f%%", v);
	else
		snprintf(buf, cap, "inf");
}

struct recon_flag_ctx {
	struct proxy_reconciler *rc;
	const struct config *cfg;
};

/* Thread: logs a new flag once, posts it to the webhook. */
static void
recon_on_flag(void *arg, const struct store_recon_row *r)
{
	struct recon_flag_ctx *fc = arg;
	struct proxy_alert al;
	char model[STORE_RECON_MAX_NAME], project[STORE_RECON_MAX_NAME];
	char lc[40], pc[40], dr[16], dc[16];

	recon_clean(r->model, model, sizeof(model));
	recon_clean(r->project[0] ? r->project : "(unmapped)", project,
	            sizeof(project));
	recon_usd(r->local.cost_nanousd, lc, sizeof(lc));
	if (r->provider.has_cost)
		recon_usd(r->provider.cost_nanousd, pc, sizeof(pc));
	else
		snprintf(pc, sizeof(pc), "(no Costs data yet)");
	recon_pct(r->drift_requests, r->has_requests, dr, sizeof(dr));
	if (r->provider.has_cost)
		recon_pct(r->drift_cost, r->has_cost, dc, sizeof(dc));
	else
		snprintf(dc, sizeof(dc), "-");
	log_warn("reconcile: %s on %s, model %s, project %s: tollgate "
	         "metered %" PRIu64 " requests / $%s, OpenAI reports %" PRIu64
	         " requests / $%s (drift: requests %s, cost %s)%s",
	         r->flag, r->day, model, project, r->local.requests, lc,
	         r->provider.requests, pc, dr, dc,
	         strcmp(r->flag, "bypass") == 0
	             ? ": traffic reached OpenAI without passing tollgate"
	             : ": tollgate counted more than OpenAI billed");
	memset(&al, 0, sizeof(al));
	snprintf(al.workspace, sizeof(al.workspace), "%.63s", project);
	snprintf(al.budget, sizeof(al.budget), "reconcile");
	snprintf(al.level, sizeof(al.level), "%s", r->flag);
	snprintf(al.period, sizeof(al.period), "%s", r->day);
	al.threshold_pct = (unsigned)fc->cfg->reconcile_drift_alert_pct;
	al.spent_nanousd = r->provider.cost_nanousd > 0
	                       ? (uint64_t)r->provider.cost_nanousd
	                       : 0;
	al.limit_nanousd =
	    r->local.cost_nanousd > 0 ? (uint64_t)r->local.cost_nanousd : 0;
	al.ts_ms = recon_now_ms();
	if (fc->rc->px->alerts != NULL)
		proxy_alerts_post(fc->rc->px->alerts, &al);
}

/* --- the thread ------------------------------------------------------------
 */

static void
recon_thread_pass(struct proxy_reconciler *rc)
{
	struct config *cfg = proxy_config_get(rc->px);
	const char *key = recon_key(cfg);
	struct recon_flag_ctx fc = {rc, cfg};
	char err[RECON_ERR_MAX], from[11], to[11];

	if (key == NULL) {
		if (strcmp(rc->last_err, "no key") != 0)
			log_warn("reconcile: %s is no longer set: passes "
			         "skipped until it is",
			         cfg->reconcile_admin_key_env);
		snprintf(rc->last_err, sizeof(rc->last_err), "no key");
	} else if (recon_pass_run(cfg, key, &rc->cancel, rc->st, recon_on_flag,
	                          &fc, from, to, err, sizeof(err)) == -1) {
		if (!recon_cancelled(&rc->cancel) &&
		    strcmp(err, rc->last_err) != 0)
			log_err("reconcile: %s", err);
		snprintf(rc->last_err, sizeof(rc->last_err), "%s", err);
	} else {
		if (rc->last_err[0] != '\0')
			log_info("reconcile: passes succeed again");
		log_debug("reconcile: pass over %s..%s done", from, to);
		rc->last_err[0] = '\0';
	}
	proxy_config_put(cfg);
}

static void *
recon_main(void *arg)
{
	struct proxy_reconciler *rc = arg;
	struct config *cfg;
	struct timespec until;
	int interval;

	for (;;) {
		recon_thread_pass(rc);
		cfg = proxy_config_get(rc->px);
		interval = cfg->reconcile_interval_s < RECON_MIN_INTERVAL_S
		               ? RECON_MIN_INTERVAL_S
		               : cfg->reconcile_interval_s;
		proxy_config_put(cfg);
		clock_gettime(CLOCK_MONOTONIC, &until); /* wake's clock */
		until.tv_sec += interval;
		pthread_mutex_lock(&rc->mu);
		while (!rc->stop && pthread_cond_timedwait(&rc->wake, &rc->mu,
		                                           &until) != ETIMEDOUT)
			;
		if (rc->stop) {
			pthread_mutex_unlock(&rc->mu);
			break;
		}
		pthread_mutex_unlock(&rc->mu);
	}
	return NULL;
}

struct proxy_reconciler *
proxy_reconciler_start(struct proxy *px, char *err, size_t errlen)
{
	struct proxy_reconciler *rc = calloc(1, sizeof(*rc));
	const struct config *cfg = px->cfg;
	pthread_condattr_t ca;
	char inner[256];

	if (rc == NULL) {
		snprintf(err, errlen, "reconciler: out of memory");
		return NULL;
	}
	rc->px = px;
	pthread_mutex_init(&rc->mu, NULL);
	/* the interval is measured on the monotonic clock: a wall-clock
	 * step neither skips nor stalls passes */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rc->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (recon_key(cfg) == NULL) {
		log_info("reconcile: off: set %s to an OpenAI admin key "
		         "(sk-admin-...) to compare tollgate's rows with "
		         "OpenAI's Usage and Costs APIs (docs/reconcile.md)",
		         cfg->reconcile_admin_key_env &&
		                 cfg->reconcile_admin_key_env[0]
		             ? cfg->reconcile_admin_key_env
		             : "reconcile.admin_key_env");
		return rc;
	}
	if ((rc->st = store_recon_open(cfg->db, inner, sizeof(inner))) ==
	    NULL) {
		snprintf(err, errlen, "reconciler: %s", inner);
		proxy_reconciler_stop(rc);
		return NULL;
	}
	if (pthread_create(&rc->thread, NULL, recon_main, rc) != 0) {
		snprintf(err, errlen, "cannot start the reconciler thread");
		proxy_reconciler_stop(rc);
		return NULL;
	}
	rc->enabled = rc->started = 1;
	log_info("reconcile: on, every %d s over %d day(s), key in %s",
	         cfg->reconcile_interval_s < RECON_MIN_INTERVAL_S
	             ? RECON_MIN_INTERVAL_S
	             : cfg->reconcile_interval_s,
	         cfg->reconcile_lookback_days, cfg->reconcile_admin_key_env);
	return rc;
}

void
proxy_reconciler_stop(struct proxy_reconciler *rc)
{
	if (rc == NULL)
		return;
	if (rc->started) {
		pthread_mutex_lock(&rc->mu);
		rc->stop = 1;
		atomic_store(&rc->cancel, 1);
		pthread_cond_signal(&rc->wake);
		pthread_mutex_unlock(&rc->mu);
		pthread_join(rc->thread, NULL);
	}
	store_recon_close(rc->st);
	pthread_cond_destroy(&rc->wake);
	pthread_mutex_destroy(&rc->mu);
	free(rc);
}

/* --- tollgate reconcile --once -----------------------------------------------
 */

static const char once_usage[] =
    "usage: tollgate reconcile --once [-c FILE]\n"
    "\n"
    "Runs one reconciliation pass: pages through OpenAI's organization\n"
    "Usage and Costs APIs over reconcile.lookback_days with the admin key\n"
    "in the environment variable reconcile.admin_key_env names (default\n"
    "OPENAI_ADMIN_KEY), stores the provider rows and the drift in the\n"
    "database, and prints the drift table.  Exit 0 when reconciled (drift\n"
    "or not), 1 when it could not reconcile, 2 on a usage error.\n"
    "See docs/reconcile.md.\n";

#define ONCE_COLS 16
#define ONCE_CELL 48 /* bytes per table cell */

struct once_table {
	char (*cell)[ONCE_COLS][ONCE_CELL];
	size_t n, cap;
	size_t flagged;
	int failed; /* out of memory */
};

static void
once_drift(char *buf, double v, int has, int compared)
{
	if (!compared)
		snprintf(buf, ONCE_CELL, "-");
	else
		recon_pct(v, has, buf, ONCE_CELL);
}

static void
once_row(void *arg, const struct store_recon_row *r)
{
	struct once_table *t = arg;
	char(*c)[ONCE_CELL];
	int i = 0;

	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		void *q = realloc(t->cell, ncap * sizeof(*t->cell));

		if (q == NULL) {
			t->failed = 1;
			return;
		}
		t->cell = q;
		t->cap = ncap;
	}
	c = t->cell[t->n++];
	snprintf(c[i++], ONCE_CELL, "%s", r->day);
	recon_clean(r->model[0] ? r->model : "(none)", c[i++], ONCE_CELL);
	recon_clean(r->project[0] ? r->project : "-", c[i++], ONCE_CELL);
	snprintf(c[i++], ONCE_CELL, "%" PRIu64, r->local.requests);
	snprintf(c[i++], ONCE_CELL, "%" PRIu64, r->provider.requests);
	once_drift(c[i++], r->drift_requests, r->has_requests, 1);
	snprintf(c[i++], ONCE_CELL, "%" PRIu64, r->local.input_tokens);
	snprintf(c[i++], ONCE_CELL, "%" PRIu64, r->provider.input_tokens);
	once_drift(c[i++], r->drift_input, r->has_input, 1);
	snprintf(c[i++], ONCE_CELL, "%" PRIu64, r->local.output_tokens);
	snprintf(c[i++], ONCE_CELL, "%" PRIu64, r->provider.output_tokens);
	once_drift(c[i++], r->drift_output, r->has_output, 1);
	recon_usd(r->local.cost_nanousd, c[i++], ONCE_CELL);
	if (r->provider.has_cost)
		recon_usd(r->provider.cost_nanousd, c[i++], ONCE_CELL);
	else
		snprintf(c[i++], ONCE_CELL, "-");
	once_drift(c[i++], r->drift_cost, r->has_cost, r->provider.has_cost);
	snprintf(c[i++], ONCE_CELL, "%s", r->flag[0] ? r->flag : "-");
	if (r->flag[0] != '\0')
		t->flagged++;
}

static void
once_cell(const char *s, size_t k, size_t w)
{
	if (k + 1 == ONCE_COLS)
		printf("%s\n", s);
	else
		printf(k < 3 ? "%-*s  " : "%*s  ", (int)w, s);
}

static void
once_print(const struct once_table *t, const char *from, const char *to,
           double pct)
{
	static const char *const head[ONCE_COLS] = {
	    "day",      "model",         "project",      "requests",
	    "openai",   "drift",         "input_tokens", "openai",
	    "drift",    "output_tokens", "openai",       "drift",
	    "cost_usd", "openai",        "drift",        "flag"};
	size_t w[ONCE_COLS], i, k;

	for (k = 0; k < ONCE_COLS; k++)
		w[k] = strlen(head[k]);
	for (i = 0; i < t->n; i++)
		for (k = 0; k < ONCE_COLS; k++)
			if (strlen(t->cell[i][k]) > w[k])
				w[k] = strlen(t->cell[i][k]);
	printf("reconciliation %s..%s: drift = (OpenAI - tollgate) / "
	       "tollgate; flagged beyond +/-%.2f%%\n",
	       from, to, pct);
	/* names and the flag left-aligned, numbers right-aligned; the
	 * last column is not padded */
	for (k = 0; k < ONCE_COLS; k++)
		once_cell(head[k], k, w[k]);
	for (i = 0; i < t->n; i++)
		for (k = 0; k < ONCE_COLS; k++)
			once_cell(t->cell[i][k], k, w[k]);
	printf("%zu row(s), %zu flagged\n", t->n, t->flagged);
}

static int
once_args(int argc, char **argv, const char **config, int *once)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0) {
			*once = 1;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			*config = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 ||
		           strcmp(argv[i], "-h") == 0) {
			fputs(once_usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "tollgate reconcile: %s \"%s\"\n\n%s",
			        strcmp(argv[i], "-c") == 0
			            ? "missing FILE after"
			            : "unknown argument",
			        argv[i], once_usage);
			return 2;
		}
	}
	if (!*once) {
		fprintf(stderr,
		        "tollgate reconcile: --once is required (the daemon "
		        "reconciles on its own thread every "
		        "reconcile.interval_s)\n\n%s",
		        once_usage);
		return 2;
	}
	return -1;
}

/* Creates or migrates the schema (store_open does), then opens the
 * reconciler's own connection. */
static struct store_recon *
once_open(const struct config *cfg, char *err, size_t errlen)
{
	struct store *s = store_open(cfg->db, 1, err, errlen);

	if (s == NULL)
		return NULL;
	store_close(s);
	return store_recon_open(cfg->db, err, errlen);
}

int
proxy_reconcile_main(int argc, char **argv)
{
	struct config_overrides ov;
	struct once_table t = {NULL, 0, 0, 0, 0};
	struct config *cfg = NULL;
	struct store_recon *st = NULL;
	const char *path = NULL, *key;
	char err[RECON_ERR_MAX], from[11], to[11];
	int once = 0, rc;

	if ((rc = once_args(argc, argv, &path, &once)) != -1)
		return rc;
	rc = 1;
	memset(&ov, 0, sizeof(ov));
	if ((cfg = config_load(path, &ov, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tollgate reconcile: %s\n", err);
		return 1;
	}
	if ((key = recon_key(cfg)) == NULL) {
		fprintf(stderr,
		        "tollgate reconcile: reconciliation is off: set %s to "
		        "an OpenAI admin key (sk-admin-..., from the "
		        "organization settings) to turn it on\n",
		        cfg->reconcile_admin_key_env &&
		                cfg->reconcile_admin_key_env[0]
		            ? cfg->reconcile_admin_key_env
		            : "reconcile.admin_key_env");
		goto out;
	}
	if ((st = once_open(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tollgate reconcile: %s\n", err);
		goto out;
	}
	if (recon_pass_run(cfg, key, NULL, st, NULL, NULL, from, to, err,
	                   sizeof(err)) == -1) {
		fprintf(stderr, "tollgate reconcile: %s\n", err);
		goto out;
	}
	if (store_recon_rows(st, from, to, NULL, 0, once_row, &t, err,
	                     sizeof(err)) == -1 ||
	    t.failed) {
		fprintf(stderr, "tollgate reconcile: reading the drift: %s\n",
		        t.failed ? "out of memory" : err);
		goto out;
	}
	once_print(&t, from, to, cfg->reconcile_drift_alert_pct);
	rc = 0;
out:
	free(t.cell);
	store_recon_close(st);
	config_release(cfg);
	return rc;
}
