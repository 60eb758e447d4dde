/*
 * tests/unit/test_meter_limit.c — meter/limit.c, windows, periods and
 * reservations, all on an injected clock.
 *
 * Covers: the UTC calendar against libc's timegm over four centuries
 * (month ends, leap days, 2100 not leap); the minute window's edges (a
 * request counts for 60-61 s, never less); token windows and a request
 * bigger than its limit; day windows; daily and monthly budgets with
 * reservations seen by later requests, and their period rollover; a
 * reservation settled after its slot left the window; alert thresholds
 * crossed once per period; the start-up rebuild; the reservation
 * estimate; Go-style durations.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "meter/limit.h"
#include "tests/unit/harness.h"

static int64_t
utc_ms(int y, int mon, int d, int h, int mi, int s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (int64_t)timegm(&tm) * 1000;
}

static const struct meter_limits no_limits;

/* A fresh state and a ticket-admitting shortcut. */
static int
ask(struct meter_limit_state *s, const struct meter_limits *l, uint64_t tokens,
    uint64_t nanousd, int64_t now, struct meter_limit_ticket *t,
    struct meter_limit_verdict *v)
{
	struct meter_limit_ask a = {tokens, nanousd};
	struct meter_limit_ticket tt;
	struct meter_limit_verdict vv;

	return meter_limit_admit(s, l, &a, now, t ? t : &tt, v ? v : &vv);
}

TEST(meter_limit_calendar_matches_timegm)
{
	int64_t day, bad = 0;

	/* every day from 1970 to 2400 */
	for (day = 0; day < 157000; day++) {
		int64_t ms = day * METER_LIMIT_DAY_MS + 12345678;
		time_t t = (time_t)(ms / 1000);
		struct tm tm, nx;
		int64_t next;

		gmtime_r(&t, &tm);
		if (meter_limit_day_index(ms) != day ||
		    meter_limit_month_index(ms) !=
		        (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon)
			bad++;
		memset(&nx, 0, sizeof(nx));
		nx.tm_year = tm.tm_year + (tm.tm_mon == 11);
		nx.tm_mon = (tm.tm_mon + 1) % 12;
		nx.tm_mday = 1;
		next = (int64_t)timegm(&nx) * 1000;
		if (meter_limit_next_month_ms(ms) != next ||
		    meter_limit_next_day_ms(ms) !=
		        (day + 1) * METER_LIMIT_DAY_MS)
			bad++;
	}
	CHECK_U64(bad, 0);
}

TEST(meter_limit_calendar_month_ends_and_leap_days)
{
	char b[16];
	int64_t ms = utc_ms(2024, 2, 28, 23, 59, 59) + 999;

	CHECK(meter_limit_next_day_ms(ms) == utc_ms(2024, 2, 29, 0, 0, 0));
	CHECK(meter_limit_next_month_ms(ms) == utc_ms(2024, 3, 1, 0, 0, 0));
	meter_limit_day_str(ms + 1, b, sizeof(b));
	CHECK_STR(b, "2024-02-29");
	ms = utc_ms(2100, 2, 28, 23, 59, 59) + 999;
	meter_limit_day_str(ms + 1, b, sizeof(b));
	CHECK_STR(b, "2100-03-01");
	ms = utc_ms(2026, 12, 31, 23, 59, 59) + 999;
	CHECK(meter_limit_next_month_ms(ms) == utc_ms(2027, 1, 1, 0, 0, 0));
	meter_limit_month_str(ms, b, sizeof(b));
	CHECK_STR(b, "2026-12");
	meter_limit_month_str(ms + 1, b, sizeof(b));
	CHECK_STR(b, "2027-01");
	ms = utc_ms(2026, 1, 31, 12, 0, 0);
	CHECK(meter_limit_next_month_ms(ms) == utc_ms(2026, 2, 1, 0, 0, 0));
}

TEST(meter_limit_rpm_window_edges)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_verdict v;
	int64_t t0 = utc_ms(2026, 11, 22, 10, 0, 0) + 400; /* mid-slot */

	l.rpm = 2;
	meter_limit_init(&s, t0);
	CHECK(ask(&s, &l, 0, 0, t0, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 0, 0, t0 + 10000, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 0, 0, t0 + 20000, NULL, &v) == -1);
	CHECK(v.hit == METER_LIMIT_RPM && !v.budget && !v.never);
	CHECK_U64(v.limit, 2);
	CHECK_U64(v.used, 2);
	/* the first request's slot (t0 - 400) leaves at t0 - 400 + 61 s */
	CHECK_U64(v.retry_ms, 61000 - 400 - 20000);
	/* a full 60 s after the first request it still counts */
	CHECK(ask(&s, &l, 0, 0, t0 + 60000, NULL, NULL) == -1);
	CHECK(ask(&s, &l, 0, 0, t0 - 400 + 60999, NULL, NULL) == -1);
	CHECK(ask(&s, &l, 0, 0, t0 - 400 + 61000, NULL, NULL) == 0);
	/* now the second and third fill it again */
	CHECK(ask(&s, &l, 0, 0, t0 - 400 + 61000, NULL, &v) == -1);
	CHECK_U64(v.retry_ms, 10000); /* until t0 + 10 s's slot leaves */
}

TEST(meter_limit_tpm_and_request_over_the_limit)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_verdict v;
	int64_t t0 = 1000000000000;

	l.tpm = 1000;
	meter_limit_init(&s, t0);
	CHECK(ask(&s, &l, 600, 0, t0, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 300, 0, t0 + 5000, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 200, 0, t0 + 6000, NULL, &v) == -1);
	CHECK(v.hit == METER_LIMIT_TPM && !v.never);
	/* freeing the 600 of t0 is enough */
	CHECK_U64(v.retry_ms, 61000 - 6000);
	CHECK(ask(&s, &l, 100, 0, t0 + 6000, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 1001, 0, t0 + 6000, NULL, &v) == -1);
	CHECK(v.hit == METER_LIMIT_TPM && v.never);
	/* a request without tokens (GET /v1/models) is not held by tpm */
	CHECK(ask(&s, &l, 0, 0, t0 + 6000, NULL, NULL) == 0);
}

TEST(meter_limit_rpd_day_window)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_verdict v;
	int64_t t0 = utc_ms(2026, 3, 1, 23, 58, 0);

	l.rpd = 1;
	meter_limit_init(&s, t0);
	CHECK(ask(&s, &l, 0, 0, t0, NULL, NULL) == 0);
	/* rolling: midnight frees nothing */
	CHECK(ask(&s, &l, 0, 0, t0 + 3 * 60000, NULL, &v) == -1);
	CHECK(v.hit == METER_LIMIT_RPD);
	/* 5-minute slot 23:55 leaves 24 h 5 min later */
	CHECK_U64(v.retry_ms, METER_LIMIT_DAY_MS + 2 * 60000 - 3 * 60000);
	CHECK(ask(&s, &l, 0, 0, t0 + METER_LIMIT_DAY_MS, NULL, NULL) == -1);
	CHECK(ask(&s, &l, 0, 0, t0 + METER_LIMIT_DAY_MS + 2 * 60000, NULL,
	          NULL) == 0);
}

TEST(meter_limit_longest_rate_wait_is_named)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_verdict v;
	int64_t t0 = 1000000000000;

	l.rpm = 1;
	l.rpd = 1;
	meter_limit_init(&s, t0);
	CHECK(ask(&s, &l, 0, 0, t0, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 0, 0, t0 + 1000, NULL, &v) == -1);
	CHECK(v.hit == METER_LIMIT_RPD);
}

TEST(meter_limit_daily_budget_sees_reservations)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_verdict v;
	struct meter_limit_ticket a, b;
	struct meter_limit_crossing x;
	int64_t t0 = utc_ms(2026, 11, 22, 18, 0, 0);

	l.daily_nanousd = 1000;
	meter_limit_init(&s, t0);
	CHECK(ask(&s, &l, 10, 400, t0, &a, NULL) == 0);
	CHECK(ask(&s, &l, 10, 400, t0, &b, NULL) == 0);
	CHECK_U64(s.reserved_nanousd, 800);
	CHECK(ask(&s, &l, 10, 400, t0, NULL, &v) == -1);
	CHECK(v.hit == METER_LIMIT_DAILY_USD && v.budget && !v.never);
	CHECK_U64(v.used, 800);
	CHECK(v.reset_ms == utc_ms(2026, 11, 23, 0, 0, 0));
	CHECK_U64(v.retry_ms, 6 * 3600 * 1000);
	meter_limit_settle(&s, &l, &a, 10, 100, t0 + 1, &x);
	CHECK_U64(s.daily_spent, 100);
	CHECK_U64(s.reserved_nanousd, 400);
	CHECK(ask(&s, &l, 10, 400, t0 + 2, NULL, NULL) == 0);
	/* settling twice changes nothing */
	meter_limit_settle(&s, &l, &a, 10, 100, t0 + 3, &x);
	CHECK_U64(s.daily_spent, 100);
	CHECK_U64(s.inflight, 2);
	/* a free request passes until the budget is spent, then not */
	CHECK(ask(&s, &l, 0, 0, t0 + 4, NULL, NULL) == 0);
	meter_limit_settle(&s, &l, &b, 10, 900, t0 + 5, &x);
	CHECK(ask(&s, &l, 0, 0, t0 + 6, NULL, &v) == -1);
	CHECK(v.hit == METER_LIMIT_DAILY_USD);
	/* the next UTC day starts empty */
	CHECK(ask(&s, &l, 10, 400, utc_ms(2026, 11, 23, 0, 0, 0), NULL, NULL) ==
	      0);
	CHECK_U64(s.daily_spent, 0);
}

TEST(meter_limit_monthly_budget_rolls_over)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_verdict v;
	struct meter_limit_ticket t;
	struct meter_limit_crossing x;
	int64_t jan31 = utc_ms(2027, 1, 31, 23, 59, 59);

	l.monthly_nanousd = 5000;
	meter_limit_init(&s, jan31);
	CHECK(ask(&s, &l, 1, 3000, jan31, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 1, 3000, jan31, &t, &v) == -1);
	CHECK(v.hit == METER_LIMIT_MONTHLY_USD);
	CHECK(v.reset_ms == utc_ms(2027, 2, 1, 0, 0, 0));
	CHECK(ask(&s, &l, 1, 1000, jan31, &t, NULL) == 0);
	/* settled in February: January's spend is gone with January */
	meter_limit_settle(&s, &l, &t, 1, 1000, jan31 + 2000, &x);
	CHECK_U64(s.monthly_spent, 0);
	CHECK_U64(s.reserved_nanousd, 3000);
}

TEST(meter_limit_settle_after_window_moved)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_ticket t;
	struct meter_limit_crossing x;
	uint64_t rpm, rpd, tpm, tpd;
	int64_t t0 = 1000000000000;

	l.tpm = 100000;
	meter_limit_init(&s, t0);
	CHECK(ask(&s, &l, 100, 0, t0, &t, NULL) == 0);
	meter_limit_used(&s, t0, &rpm, &rpd, &tpm, &tpd);
	CHECK_U64(tpm, 100);
	CHECK_U64(tpd, 100);
	/* two minutes later the minute slot is gone; the day slot is not */
	meter_limit_settle(&s, &l, &t, 500, 0, t0 + 120000, &x);
	meter_limit_used(&s, t0 + 120000, &rpm, &rpd, &tpm, &tpd);
	CHECK_U64(tpm, 0);
	CHECK_U64(rpm, 0);
	CHECK_U64(tpd, 500);
	CHECK_U64(rpd, 1);
	CHECK_U64(s.reserved_tokens, 0);
	/* a smaller real count gives tokens back */
	CHECK(ask(&s, &l, 300, 0, t0 + 121000, &t, NULL) == 0);
	meter_limit_settle(&s, &l, &t, 20, 0, t0 + 121500, &x);
	meter_limit_used(&s, t0 + 121500, &rpm, &rpd, &tpm, &tpd);
	CHECK_U64(tpm, 20);
	CHECK_U64(tpd, 520);
}

TEST(meter_limit_alert_thresholds_once_per_period)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_ticket t;
	struct meter_limit_crossing x;
	int64_t t0 = utc_ms(2026, 11, 30, 12, 0, 0);
	static const struct {
		uint64_t cost;
		enum meter_limit_level daily, monthly;
	} steps[] = {
	    {40, METER_LEVEL_NORMAL, METER_LEVEL_NORMAL},
	    {10, METER_LEVEL_WARNING, METER_LEVEL_NORMAL}, /* 50 of 100 */
	    {5, METER_LEVEL_NORMAL, METER_LEVEL_NORMAL},
	    {35, METER_LEVEL_CRITICAL, METER_LEVEL_WARNING}, /* 90; 90/180 */
	    {10, METER_LEVEL_EXHAUSTED, METER_LEVEL_NORMAL},
	    {100, METER_LEVEL_NORMAL, METER_LEVEL_EXHAUSTED},
	};
	size_t i;

	l.daily_nanousd = 100;
	l.monthly_nanousd = 180;
	l.warn_pct = 50;
	l.critical_pct = 90;
	meter_limit_init(&s, t0);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct meter_limits open = l;

		open.daily_nanousd = open.monthly_nanousd = 0;
		CHECK(ask(&s, &open, 0, 0, t0, &t, NULL) == 0);
		meter_limit_settle(&s, &l, &t, 0, steps[i].cost, t0, &x);
		if (x.daily != steps[i].daily || x.monthly != steps[i].monthly)
			harness_fail(__FILE__, __LINE__, "step %zu: %d %d", i,
			             x.daily, x.monthly);
	}
	/* December: a new month and day, alerted afresh */
	CHECK(ask(&s, &no_limits, 0, 0, t0 + METER_LIMIT_DAY_MS, &t, NULL) ==
	      0);
	meter_limit_settle(&s, &l, &t, 0, 60, t0 + METER_LIMIT_DAY_MS, &x);
	CHECK(x.daily == METER_LEVEL_WARNING);
	CHECK(x.monthly == METER_LEVEL_NORMAL);
	CHECK(s.monthly_alerted == METER_LEVEL_NORMAL);
}

TEST(meter_limit_load_rebuilds_windows_and_spend)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_verdict v;
	struct meter_limit_ticket t;
	struct meter_limit_crossing x;
	int64_t now = utc_ms(2026, 11, 22, 12, 0, 0);
	uint64_t rpm, rpd, tpm, tpd;

	l.rpd = 10;
	l.daily_nanousd = 1000;
	l.warn_pct = 80;
	l.critical_pct = 95;
	meter_limit_init(&s, now);
	meter_limit_load_usage(&s, 0, now - 30000, 2, 50, now);
	meter_limit_load_usage(&s, 0, now - 120000, 5, 5, now); /* too old */
	meter_limit_load_usage(&s, 1, now - 300000, 2, 50, now);
	meter_limit_load_usage(&s, 1, now - 3600000, 7, 500, now);
	meter_limit_load_usage(&s, 1, now - 2 * METER_LIMIT_DAY_MS, 99, 9, now);
	meter_limit_load_spend(&s, &l, 850, 850, now);
	meter_limit_used(&s, now, &rpm, &rpd, &tpm, &tpd);
	CHECK_U64(rpm, 2);
	CHECK_U64(rpd, 9);
	CHECK_U64(tpm, 50);
	CHECK_U64(tpd, 550);
	CHECK(s.daily_alerted == METER_LEVEL_WARNING);
	CHECK(ask(&s, &l, 0, 100, now, &t, NULL) == 0);
	/* 950: critical is new, warning is not repeated */
	meter_limit_settle(&s, &l, &t, 0, 100, now, &x);
	CHECK(x.daily == METER_LEVEL_CRITICAL);
	/* 9 rebuilt + 1 admitted = rpd 10: a free request is held by rpd */
	CHECK(ask(&s, &l, 0, 0, now, NULL, &v) == -1);
	CHECK(v.hit == METER_LIMIT_RPD);
	CHECK_U64(v.used, 10);
	/* 950 spent + 100 asked passes the budget, named before rpd */
	CHECK(ask(&s, &l, 0, 100, now, NULL, &v) == -1);
	CHECK(v.hit == METER_LIMIT_DAILY_USD);
}

TEST(meter_limit_ask_for_estimates)
{
	struct meter_prices *p;
	struct meter_request rq;
	struct meter_limit_ask a;
	char err[256];

	p = meter_prices_load_builtin(err, sizeof(err));
	CHECK(p != NULL);
	if (p == NULL)
		return;
	memset(&rq, 0, sizeof(rq));
	rq.endpoint = METER_EP_CHAT;
	snprintf(rq.model, sizeof(rq.model), "gpt-4o-mini");
	rq.input_text_bytes = 400; /* 100 tokens */
	rq.max_output_tokens = 50;
	rq.n = 2;
	meter_limit_ask_for(p, &rq, 1024, NULL, &a);
	CHECK_U64(a.tokens, 200);
	/* gpt-4o-mini: 0.15 in, 0.60 out per 1M: 100*150 + 100*600 */
	CHECK_U64(a.nanousd, 100 * 150 + 100 * 600);
	rq.max_output_tokens = 0;
	rq.n = 1;
	meter_limit_ask_for(p, &rq, 1024, NULL, &a);
	CHECK_U64(a.tokens, 1124);
	rq.endpoint = METER_EP_EMBEDDINGS;
	meter_limit_ask_for(p, &rq, 1024, NULL, &a);
	CHECK_U64(a.tokens, 100);
	rq.endpoint = METER_EP_CHAT;
	snprintf(rq.model, sizeof(rq.model), "no-such-model");
	meter_limit_ask_for(p, &rq, 1024, NULL, &a);
	CHECK_U64(a.nanousd, 0);
	meter_limit_ask_for(p, &rq, 1024, "gpt-4o-mini", &a);
	CHECK_U64(a.nanousd, 100 * 150 + 1024 * 600);
	rq.endpoint = METER_EP_MODELS;
	meter_limit_ask_for(p, &rq, 1024, "gpt-4o-mini", &a);
	CHECK_U64(a.tokens, 0);
	CHECK_U64(a.nanousd, 0);
	/* hostile sizes saturate instead of wrapping */
	rq.endpoint = METER_EP_CHAT;
	rq.max_output_tokens = UINT64_MAX / 2;
	rq.n = 1000;
	meter_limit_ask_for(p, &rq, 1024, "gpt-4o-mini", &a);
	CHECK(a.tokens >= 1000000000000ULL && a.nanousd > 0);
	meter_prices_free(p);
}

TEST(meter_limit_duration_go_style)
{
	static const struct {
		int64_t ms;
		const char *s;
	} v[] = {{0, "0ms"},          {12, "12ms"},        {999, "999ms"},
	         {1000, "1s"},        {1500, "1.5s"},      {1250, "1.25s"},
	         {1001, "1.001s"},    {60000, "1m0s"},     {360000, "6m0s"},
	         {3723000, "1h2m3s"}, {3600000, "1h0m0s"}, {-5, "0ms"}};
	char b[32];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		meter_limit_duration(v[i].ms, b, sizeof(b));
		CHECK_STR(b, v[i].s);
	}
	CHECK_STR(meter_limit_kind_name(METER_LIMIT_MONTHLY_USD),
	          "monthly_usd");
	CHECK_STR(meter_limit_level_name(METER_LEVEL_CRITICAL), "critical");
}

TEST(meter_limit_clock_stepped_back_does_not_block)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	int64_t t0 = 1000000000000;

	l.rpm = 3;
	meter_limit_init(&s, t0);
	CHECK(ask(&s, &l, 0, 0, t0, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 0, 0, t0, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 0, 0, t0, NULL, NULL) == 0);
	/* an hour back: the window starts afresh, not an hour late */
	CHECK(ask(&s, &l, 0, 0, t0 - 3600000, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 0, 0, t0 - 3600000 + 61000, NULL, NULL) == 0);
	/* half a slot back changes nothing */
	meter_limit_init(&s, t0 + 500);
	CHECK(ask(&s, &l, 0, 0, t0 + 500, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 0, 0, t0 + 100, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 0, 0, t0 + 200, NULL, NULL) == 0);
	CHECK(ask(&s, &l, 0, 0, t0 + 300, NULL, NULL) == -1);
}

TEST(meter_limit_relimit_rearms_alerts)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits, raised;
	struct meter_limit_ticket t;
	struct meter_limit_crossing x;
	int64_t t0 = utc_ms(2026, 11, 22, 12, 0, 0);

	l.daily_nanousd = 100;
	l.warn_pct = 80;
	l.critical_pct = 95;
	meter_limit_init(&s, t0);
	CHECK(ask(&s, &l, 0, 10, t0, &t, NULL) == 0);
	meter_limit_settle(&s, &l, &t, 0, 102, t0, &x);
	CHECK(x.daily == METER_LEVEL_EXHAUSTED);
	/* raised tenfold: 102 of 1000 is normal, the thresholds re-arm */
	raised = l;
	raised.daily_nanousd = 1000;
	meter_limit_relimit(&s, &raised);
	CHECK(ask(&s, &raised, 0, 10, t0, &t, NULL) == 0);
	meter_limit_settle(&s, &raised, &t, 0, 700, t0, &x);
	CHECK(x.daily == METER_LEVEL_WARNING);
	/* lowered again: the next settle alerts what is now reached */
	meter_limit_relimit(&s, &l);
	CHECK(ask(&s, &no_limits, 0, 0, t0, &t, NULL) == 0);
	meter_limit_settle(&s, &l, &t, 0, 1, t0, &x);
	CHECK(x.daily == METER_LEVEL_EXHAUSTED);
}

TEST(meter_limit_load_spend_adds_up)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	int64_t now = utc_ms(2026, 11, 22, 12, 0, 0);

	l.monthly_nanousd = 100;
	l.warn_pct = 50;
	l.critical_pct = 90;
	meter_limit_init(&s, now);
	meter_limit_load_spend(&s, &l, 0, 40, now);
	meter_limit_load_spend(&s, &l, 0, 30, now);
	meter_limit_load_spend(&s, &l, 5, 0, now);
	CHECK_U64(s.monthly_spent, 70);
	CHECK_U64(s.daily_spent, 5);
	CHECK(s.monthly_alerted == METER_LEVEL_WARNING);
}

/* Spend without a reservation (a background response billed to its
 * creator): counted in the current day and month, thresholds crossed
 * once, nothing reserved or in flight afterwards, and a budget it used up
 * refuses the next request. */
TEST(meter_limit_charge_adds_spend_and_alerts)
{
	struct meter_limit_state s;
	struct meter_limits l = no_limits;
	struct meter_limit_crossing x;
	struct meter_limit_ticket t;
	struct meter_limit_verdict v;
	int64_t t0 = utc_ms(2026, 11, 30, 12, 0, 0);

	l.daily_nanousd = 100;
	l.warn_pct = 50;
	l.critical_pct = 90;
	meter_limit_init(&s, t0);
	meter_limit_charge(&s, &l, 40, t0, &x);
	CHECK(x.daily == METER_LEVEL_NORMAL);
	meter_limit_charge(&s, &l, 20, t0, &x);
	CHECK(x.daily == METER_LEVEL_WARNING);
	meter_limit_charge(&s, &l, 5, t0, &x);
	CHECK(x.daily == METER_LEVEL_NORMAL); /* once per period */
	CHECK_U64(s.daily_spent, 65);
	CHECK_U64(s.monthly_spent, 65);
	CHECK_U64(s.inflight, 0);
	CHECK_U64(s.reserved_nanousd, 0);
	meter_limit_charge(&s, &l, 35, t0, &x);
	CHECK(x.daily == METER_LEVEL_EXHAUSTED);
	CHECK(ask(&s, &l, 0, 1, t0, &t, &v) == -1);
	CHECK(v.hit == METER_LIMIT_DAILY_USD);
	/* the next day starts empty */
	meter_limit_charge(&s, &l, 0, t0 + METER_LIMIT_DAY_MS, &x);
	CHECK_U64(s.daily_spent, 0);
	CHECK_U64(s.monthly_spent, 0); /* December */
}
