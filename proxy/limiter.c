/*
 * proxy/limiter.c — the shared limiter table (see limiter.h).
 *
 * Threads: workers admit and settle, the main thread configures and
 * rebuilds, the admin thread snapshots.  The table is an open-addressed
 * array of entry pointers that only ever go from NULL to an entry
 * (published with release stores), so lookups take no lock; inserts take
 * the table mutex; each entry's counters and limits sit behind the
 * entry's own mutex.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/account.h"
#include "proxy/alert.h"
#include "proxy/limiter.h"
#include "proxy/log.h"
#include "store/store.h"

#define LIMITER_MAX_ENTRIES (CONFIG_MAX_WORKSPACES + PROXY_LIMITER_MAX_UNKNOWN)
#define LIMITER_SLOTS 16384 /* power of two, > 2 x LIMITER_MAX_ENTRIES */

struct proxy_limiter_entry {
	char name[CONFIG_NAME_MAX];
	pthread_mutex_t mu;
	int configured;
	struct meter_limits limits;
	struct meter_limit_state st;
};

struct proxy_limiter {
	pthread_mutex_t mu; /* inserts, configure */
	_Atomic(struct proxy_limiter_entry *) slots[LIMITER_SLOTS];
	struct proxy_limiter_entry *all[LIMITER_MAX_ENTRIES];
	_Atomic size_t n;
	size_t unknown;               /* entries made for unconfigured names */
	struct meter_limits fallback; /* default's limits, for those */
	_Atomic(struct proxy_limiter_entry *) dflt;
	struct proxy_alerts *alerts;
};

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static struct proxy_limiter_entry *
find(struct proxy_limiter *l, const char *name)
{
	uint32_t i = name_hash(name) & (LIMITER_SLOTS - 1);
	struct proxy_limiter_entry *e;

	while ((e = atomic_load_explicit(&l->slots[i], memory_order_acquire)) !=
	       NULL) {
		if (strcmp(e->name, name) == 0)
			return e;
		i = (i + 1) & (LIMITER_SLOTS - 1);
	}
	return NULL;
}

/* Adds an entry for name (table mutex held); NULL when full. */
static struct proxy_limiter_entry *
insert(struct proxy_limiter *l, const char *name,
       const struct meter_limits *lim, int configured, int64_t now_ms)
{
	struct proxy_limiter_entry *e;
	size_t n = atomic_load(&l->n);
	uint32_t i;

	if ((e = find(l, name)) != NULL)
		return e;
	if (n == LIMITER_MAX_ENTRIES || (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	snprintf(e->name, sizeof(e->name), "%s", name);
	pthread_mutex_init(&e->mu, NULL);
	e->configured = configured;
	e->limits = *lim;
	meter_limit_init(&e->st, now_ms);
	i = name_hash(name) & (LIMITER_SLOTS - 1);
	while (atomic_load(&l->slots[i]) != NULL)
		i = (i + 1) & (LIMITER_SLOTS - 1);
	l->all[n] = e;
	atomic_store_explicit(&l->slots[i], e, memory_order_release);
	atomic_store_explicit(&l->n, n + 1, memory_order_release);
	return e;
}

/* The entry requests of ws are counted in; unknown names get one of
 * their own while there is room, else default's. */
static struct proxy_limiter_entry *
entry_for(struct proxy_limiter *l, const char *ws, int64_t now_ms)
{
	struct proxy_limiter_entry *e = find(l, ws);

	if (e != NULL)
		return e;
	pthread_mutex_lock(&l->mu);
	if ((e = find(l, ws)) == NULL &&
	    l->unknown < PROXY_LIMITER_MAX_UNKNOWN &&
	    (e = insert(l, ws, &l->fallback, 0, now_ms)) != NULL)
		l->unknown++;
	pthread_mutex_unlock(&l->mu);
	return e != NULL ? e : atomic_load(&l->dflt);
}

int
proxy_limiter_configure(struct proxy_limiter *l, const struct config *cfg)
{
	int64_t now = proxy_now_ms();
	size_t i, n;
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	l->fallback = cfg->ws[0].limits;
	for (i = 0; i < cfg->nws; i++)
		if (insert(l, cfg->ws[i].name, &cfg->ws[i].limits, 1, now) ==
		    NULL)
			rc = -1;
	n = atomic_load(&l->n);
	for (i = 0; i < n; i++) {
		struct proxy_limiter_entry *e = l->all[i];
		const struct config_workspace *w =
		    config_workspace(cfg, e->name, strlen(e->name));

		pthread_mutex_lock(&e->mu);
		e->configured = w != NULL;
		e->limits = w != NULL ? w->limits : l->fallback;
		meter_limit_relimit(&e->st, &e->limits);
		pthread_mutex_unlock(&e->mu);
	}
	atomic_store(&l->dflt, find(l, "default"));
	pthread_mutex_unlock(&l->mu);
	return atomic_load(&l->dflt) != NULL ? rc : -1;
}

struct proxy_limiter *
proxy_limiter_new(const struct config *cfg, struct proxy_alerts *alerts)
{
	struct proxy_limiter *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	pthread_mutex_init(&l->mu, NULL);
	l->alerts = alerts;
	if (proxy_limiter_configure(l, cfg) == -1) {
		proxy_limiter_free(l);
		return NULL;
	}
	return l;
}

void
proxy_limiter_free(struct proxy_limiter *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < atomic_load(&l->n); i++) {
		pthread_mutex_destroy(&l->all[i]->mu);
		free(l->all[i]);
	}
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* --- the start-up rebuild -------------------------------------------- */

struct rebuild {
	struct proxy_limiter *l;
	int64_t now_ms;
	int day;     /* loading the day ring (else the minute ring) */
	int monthly; /* loading the month's spend (else the day's) */
};

static struct proxy_limiter_entry *
rebuild_entry(struct rebuild *rb, const char *ws)
{
	struct proxy_limiter_entry *e;

	if (ws == NULL || !config_valid_workspace_name(ws, strlen(ws)))
		return NULL;
	e = entry_for(rb->l, ws, rb->now_ms);
	return e;
}

static void
rebuild_usage(void *arg, const char *ws, int64_t ts_ms, uint64_t requests,
              uint64_t tokens)
{
	struct rebuild *rb = arg;
	struct proxy_limiter_entry *e = rebuild_entry(rb, ws);

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	meter_limit_load_usage(&e->st, rb->day, ts_ms, requests, tokens,
	                       rb->now_ms);
	pthread_mutex_unlock(&e->mu);
}

static void
rebuild_spend(void *arg, const char *ws, uint64_t nanousd)
{
	struct rebuild *rb = arg;
	struct proxy_limiter_entry *e = rebuild_entry(rb, ws);

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	meter_limit_load_spend(&e->st, &e->limits, rb->monthly ? 0 : nanousd,
	                       rb->monthly ? nanousd : 0, rb->now_ms);
	pthread_mutex_unlock(&e->mu);
}

int
proxy_limiter_rebuild(struct proxy_limiter *l, const char *db, int64_t now_ms,
                      char *err, size_t errlen)
{
	struct rebuild rb = {l, now_ms, 1, 0};
	struct store_reader *rd;
	char today[16], month[16];
	int rc = -1;

	if ((rd = store_reader_open(db, err, errlen)) == NULL)
		return -1;
	meter_limit_day_str(now_ms, today, sizeof(today));
	meter_limit_month_str(now_ms, month, sizeof(month));
	snprintf(month + 7, sizeof(month) - 7, "-01");
	if (store_reader_usage_since(
	        rd,
	        now_ms - (int64_t)(METER_LIMIT_DAY_SLOTS + 1) *
	                     METER_LIMIT_DAY_SLOT_MS,
	        METER_LIMIT_DAY_SLOT_MS, rebuild_usage, &rb, err, errlen) == -1)
		goto out;
	rb.day = 0;
	if (store_reader_usage_since(
	        rd,
	        now_ms - (int64_t)(METER_LIMIT_MINUTE_SLOTS + 1) *
	                     METER_LIMIT_MINUTE_SLOT_MS,
	        METER_LIMIT_MINUTE_SLOT_MS, rebuild_usage, &rb, err,
	        errlen) == -1)
		goto out;
	if (store_reader_spend(rd, today, today, rebuild_spend, &rb, err,
	                       errlen) == -1)
		goto out;
	rb.monthly = 1;
	if (store_reader_spend(rd, month, today, rebuild_spend, &rb, err,
	                       errlen) == -1)
		goto out;
	rc = 0;
out:
	store_reader_close(rd);
	return rc;
}

/* --- admission and settlement ------------------------------------------ */

int
proxy_limiter_admit(struct proxy_limiter *l, const char *ws,
                    const struct meter_limit_ask *ask, int64_t now_ms,
                    struct proxy_limit_grant *g, struct proxy_limit_refusal *rf)
{
	struct proxy_limiter_entry *e = entry_for(l, ws, now_ms);
	int rc;

	memset(g, 0, sizeof(*g));
	pthread_mutex_lock(&e->mu);
	rc = meter_limit_admit(&e->st, &e->limits, ask, now_ms, &g->t, &rf->v);
	if (rc == -1) {
		meter_limit_view(&e->st, &e->limits, now_ms, &rf->view);
		rf->limits = e->limits;
	}
	pthread_mutex_unlock(&e->mu);
	if (rc == -1) {
		snprintf(rf->workspace, sizeof(rf->workspace), "%s", ws);
		return -1;
	}
	g->e = e;
	return 0;
}

int
proxy_limiter_view(struct proxy_limiter *l, const struct proxy_limit_grant *g,
                   int64_t now_ms, struct meter_limit_view *v)
{
	if (g->e == NULL)
		return 0;
	pthread_mutex_lock(&g->e->mu);
	meter_limit_view(&g->e->st, &g->e->limits, now_ms, v);
	pthread_mutex_unlock(&g->e->mu);
	return v->has_requests || v->has_tokens;
}

/* One threshold crossed: a log line, and the webhook when configured. */
static void
alert(struct proxy_limiter *l, const struct proxy_limiter_entry *e,
      const struct meter_limits *lim, int daily, enum meter_limit_level level,
      uint64_t spent, int64_t now_ms)
{
	struct proxy_alert a;
	char s[32], ltext[32];
	uint64_t limit = daily ? lim->daily_nanousd : lim->monthly_nanousd;

	memset(&a, 0, sizeof(a));
	snprintf(a.workspace, sizeof(a.workspace), "%s", e->name);
	snprintf(a.budget, sizeof(a.budget), "%s",
	         daily ? "daily_usd" : "monthly_usd");
	snprintf(a.level, sizeof(a.level), "%s", meter_limit_level_name(level));
	if (daily)
		meter_limit_day_str(now_ms, a.period, sizeof(a.period));
	else
		meter_limit_month_str(now_ms, a.period, sizeof(a.period));
	a.threshold_pct = level == METER_LEVEL_EXHAUSTED
	                      ? METER_LIMIT_PCT_EXHAUSTED
	                  : level == METER_LEVEL_CRITICAL ? lim->critical_pct
	                                                  : lim->warn_pct;
	a.spent_nanousd = spent;
	a.limit_nanousd = limit;
	a.ts_ms = now_ms;
	meter_price_cents_text(spent, s, sizeof(s));
	meter_price_cents_text(limit, ltext, sizeof(ltext));
	log_warn("workspace %s reached %u%% (%s) of its %s budget for %s: $%s "
	         "of $%s spent",
	         e->name, a.threshold_pct, a.level, daily ? "daily" : "monthly",
	         a.period, s, ltext);
	if (l->alerts != NULL)
		proxy_alerts_post(l->alerts, &a);
}

void
proxy_limiter_settle(struct proxy_limiter *l, struct proxy_limit_grant *g,
                     uint64_t tokens, uint64_t nanousd, int64_t now_ms)
{
	struct proxy_limiter_entry *e = g->e;
	struct meter_limit_crossing x;
	struct meter_limits lim; /* as they were when crossed */

	if (e == NULL)
		return;
	g->e = NULL;
	pthread_mutex_lock(&e->mu);
	meter_limit_settle(&e->st, &e->limits, &g->t, tokens, nanousd, now_ms,
	                   &x);
	lim = e->limits;
	pthread_mutex_unlock(&e->mu);
	if (x.daily != METER_LEVEL_NORMAL)
		alert(l, e, &lim, 1, x.daily, x.daily_spent, now_ms);
	if (x.monthly != METER_LEVEL_NORMAL)
		alert(l, e, &lim, 0, x.monthly, x.monthly_spent, now_ms);
}

void
proxy_limiter_charge(struct proxy_limiter *l, const char *ws, uint64_t nanousd,
                     int64_t now_ms)
{
	struct proxy_limiter_entry *e = entry_for(l, ws, now_ms);
	struct meter_limit_crossing x;
	struct meter_limits lim;

	if (e == NULL || nanousd == 0)
		return;
	pthread_mutex_lock(&e->mu);
	meter_limit_charge(&e->st, &e->limits, nanousd, now_ms, &x);
	lim = e->limits;
	pthread_mutex_unlock(&e->mu);
	if (x.daily != METER_LEVEL_NORMAL)
		alert(l, e, &lim, 1, x.daily, x.daily_spent, now_ms);
	if (x.monthly != METER_LEVEL_NORMAL)
		alert(l, e, &lim, 0, x.monthly, x.monthly_spent, now_ms);
}

size_t
proxy_limiter_snapshot(struct proxy_limiter *l, int64_t now_ms,
                       struct proxy_limiter_status *out, size_t cap)
{
	size_t n = atomic_load_explicit(&l->n, memory_order_acquire), i;

	for (i = 0; i < n && i < cap; i++) {
		struct proxy_limiter_entry *e = l->all[i];
		struct proxy_limiter_status *s = &out[i];

		memset(s, 0, sizeof(*s));
		pthread_mutex_lock(&e->mu);
		snprintf(s->workspace, sizeof(s->workspace), "%s", e->name);
		s->configured = e->configured;
		s->limits = e->limits;
		meter_limit_used(&e->st, now_ms, &s->rpm, &s->rpd, &s->tpm,
		                 &s->tpd);
		s->inflight = e->st.inflight;
		s->reserved_tokens = e->st.reserved_tokens;
		s->reserved_nanousd = e->st.reserved_nanousd;
		s->daily_spent = e->st.daily_spent;
		s->monthly_spent = e->st.monthly_spent;
		s->daily_level = meter_limit_level_of(
		    e->st.daily_spent, e->limits.daily_nanousd, &e->limits);
		s->monthly_level = meter_limit_level_of(
		    e->st.monthly_spent, e->limits.monthly_nanousd, &e->limits);
		pthread_mutex_unlock(&e->mu);
	}
	return n;
}
