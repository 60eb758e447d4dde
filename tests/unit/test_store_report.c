/*
 * tests/unit/test_store_report.c — store/report.c, the report queries.
 *
 * Each test writes a known set of records through the real writer
 * (store_open, store_try_submit, store_close) into a mkdtemp database,
 * opens it with store_reader_open and checks the queries against sums
 * worked out by hand from those records.  Covers: group_by parsing (order
 * kept; unknown, repeated, trailing-comma and five-key lists refused);
 * calendar validation of days; usage grouped by workspace and day, by
 * model, and by nothing, filtered by workspace and day range, cut at
 * max_rows with truncated set; refused (forwarded = 0) rows left out of
 * every sum; per-hour sums; duplicates chained within the window only,
 * per workspace and endpoint; prompt bloat over a threshold with the
 * excess; small outputs per model; recent rows newest first including
 * refused ones; whether a workspace has been seen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/report.h"
#include "store/store.h"
#include "tests/unit/harness.h"

/* 2026-11-22T00:00:00Z */
#define DAY0_MS 1795305600000LL
#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL

struct rdb {
	char dir[64];
	char path[128];
	struct store *st;
	struct store_reader *rd;
};

static int
rdb_make(struct rdb *t)
{
	char err[256];

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/tollgate-report-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		harness_fail(__FILE__, __LINE__, "mkdtemp failed");
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/usage.db", t->dir);
	if ((t->st = store_open(t->path, 0, err, sizeof(err))) == NULL) {
		harness_fail(__FILE__, __LINE__, "store_open: %s", err);
		return -1;
	}
	return 0;
}

/* Flushes the writer and opens the reader. */
static int
rdb_read(struct rdb *t)
{
	char err[256];

	CHECK_U64(store_close(t->st), 0);
	t->st = NULL;
	if ((t->rd = store_reader_open(t->path, err, sizeof(err))) == NULL) {
		harness_fail(__FILE__, __LINE__, "reader: %s", err);
		return -1;
	}
	return 0;
}

static void
rdb_remove(struct rdb *t)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	char p[160];
	size_t i;

	if (t->st != NULL)
		store_close(t->st);
	store_reader_close(t->rd);
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", t->path, sfx[i]);
		unlink(p);
	}
	rmdir(t->dir);
}

struct rec_spec {
	int64_t ts_ms;
	const char *ws, *model, *endpoint, *hash;
	uint64_t in, out, cost;
	int forwarded;
};

static void
put(struct rdb *t, const struct rec_spec *s)
{
	struct store_record r;

	memset(&r, 0, sizeof(r));
	r.ts_ms = s->ts_ms;
	r.duration_ms = 10;
	snprintf(r.workspace, sizeof(r.workspace), "%s", s->ws);
	snprintf(r.endpoint, sizeof(r.endpoint), "%s",
	         s->endpoint != NULL ? s->endpoint : "/v1/chat/completions");
	snprintf(r.model, sizeof(r.model), "%s", s->model);
	snprintf(r.request_hash, sizeof(r.request_hash), "%s",
	         s->hash != NULL ? s->hash : "");
	r.status = s->forwarded ? 200 : 429;
	r.input_tokens = s->in;
	r.output_tokens = s->out;
	r.cost_nanousd = s->cost;
	r.forwarded = s->forwarded;
	if (!s->forwarded)
		snprintf(r.limit_hit, sizeof(r.limit_hit), "rpm");
	CHECK(store_try_submit(t->st, &r) == 0);
}

/* Three days, two workspaces, two models, one refused row. */
static const struct rec_spec base_rows[] = {
    {DAY0_MS + 1 * HOUR_MS, "a", "gpt-4o", NULL, NULL, 100, 10, 1000, 1},
    {DAY0_MS + 2 * HOUR_MS, "a", "gpt-4o-mini", NULL, NULL, 200, 20, 30, 1},
    {DAY0_MS + 2 * HOUR_MS + 5, "b", "gpt-4o", NULL, NULL, 300, 30, 3000, 1},
    {DAY0_MS + DAY_MS + 3, "a", "gpt-4o", NULL, NULL, 400, 40, 4000, 1},
    {DAY0_MS + DAY_MS + 4, "a", "gpt-4o", NULL, NULL, 999, 99, 0, 0},
    {DAY0_MS + 2 * DAY_MS, "b", "gpt-4o-mini", NULL, NULL, 500, 50, 50, 1},
};

static int
rdb_base(struct rdb *t)
{
	size_t i;

	if (rdb_make(t) == -1)
		return -1;
	for (i = 0; i < sizeof(base_rows) / sizeof(base_rows[0]); i++)
		put(t, &base_rows[i]);
	return rdb_read(t);
}

#define MAX_GOT 16

struct got {
	char key[MAX_GOT][2][64];
	struct store_report_totals t[MAX_GOT];
	size_t n;
};

static void
got_row(void *arg, const struct store_report_row *r)
{
	struct got *g = arg;
	size_t i;

	if (g->n == MAX_GOT)
		return;
	for (i = 0; i < r->nkeys && i < 2; i++)
		snprintf(g->key[g->n][i], 64, "%s", r->key[i]);
	g->t[g->n++] = r->t;
}

TEST(store_report_parse_keys_order_and_refusals)
{
	enum store_report_key by[STORE_REPORT_MAX_KEYS];
	size_t n = 99;

	CHECK(store_report_parse_keys("model,day", by, &n) == 0);
	CHECK_U64(n, 2);
	CHECK(by[0] == STORE_REPORT_MODEL && by[1] == STORE_REPORT_DAY);
	CHECK(store_report_parse_keys("", by, &n) == 0);
	CHECK_U64(n, 0);
	CHECK(store_report_parse_keys("endpoint,workspace,day,model", by, &n) ==
	      0);
	CHECK_U64(n, 4);
	CHECK(store_report_parse_keys("model,model", by, &n) == -1);
	CHECK(store_report_parse_keys("model,", by, &n) == -1);
	CHECK(store_report_parse_keys(",model", by, &n) == -1);
	CHECK(store_report_parse_keys("models", by, &n) == -1);
	CHECK(store_report_parse_keys("day;drop table requests", by, &n) == -1);
	CHECK(store_report_parse_keys("day,model,workspace,endpoint,day", by,
	                              &n) == -1);
}

TEST(store_report_valid_day_calendar)
{
	CHECK(store_report_valid_day("2026-12-02"));
	CHECK(store_report_valid_day("2024-02-29"));
	CHECK(!store_report_valid_day("2023-02-29"));
	CHECK(!store_report_valid_day("2026-13-01"));
	CHECK(!store_report_valid_day("2026-04-31"));
	CHECK(!store_report_valid_day("2026-1-01"));
	CHECK(!store_report_valid_day("2026-01-01x"));
	CHECK(!store_report_valid_day("2026/01/01"));
	CHECK(!store_report_valid_day(""));
	CHECK(!store_report_valid_day(NULL));
}

TEST(store_report_day_utc)
{
	char d[11];

	store_report_day(DAY0_MS + DAY_MS - 1, d);
	CHECK_STR(d, "2026-11-22");
	store_report_day(DAY0_MS + DAY_MS, d);
	CHECK_STR(d, "2026-11-23");
}

TEST(store_report_usage_by_workspace_day)
{
	enum store_report_key by[2] = {STORE_REPORT_WORKSPACE,
	                               STORE_REPORT_DAY};
	struct store_report_filter f = {NULL, NULL, NULL};
	struct got g = {0};
	struct rdb t;
	char err[256];
	int trunc = -1;

	if (rdb_base(&t) == -1)
		goto out;
	CHECK(store_report_usage(t.rd, &f, by, 2, 100, got_row, &g, &trunc, err,
	                         sizeof(err)) == 0);
	CHECK(trunc == 0);
	CHECK_U64(g.n, 4); /* a/22, a/23, b/22, b/24 */
	CHECK_STR(g.key[0][0], "a");
	CHECK_STR(g.key[0][1], "2026-11-22");
	CHECK_U64(g.t[0].requests, 2);
	CHECK_U64(g.t[0].input_tokens, 300);
	CHECK_U64(g.t[0].output_tokens, 30);
	CHECK_U64(g.t[0].cost_nanousd, 1030);
	CHECK_STR(g.key[1][1], "2026-11-23");
	CHECK_U64(g.t[1].requests, 1); /* the refused row is left out */
	CHECK_U64(g.t[1].input_tokens, 400);
	CHECK_STR(g.key[3][0], "b");
	CHECK_STR(g.key[3][1], "2026-11-24");
	CHECK_U64(g.t[3].cost_nanousd, 50);
out:
	rdb_remove(&t);
}

TEST(store_report_usage_filters_and_truncates)
{
	enum store_report_key by = STORE_REPORT_MODEL;
	struct store_report_filter f = {"a", "2026-11-22", "2026-11-22"};
	struct store_report_totals tot;
	struct got g = {0};
	struct rdb t;
	char err[256];
	int trunc = -1;

	if (rdb_base(&t) == -1)
		goto out;
	CHECK(store_report_usage(t.rd, &f, &by, 1, 100, got_row, &g, &trunc,
	                         err, sizeof(err)) == 0);
	CHECK_U64(g.n, 2);
	CHECK_STR(g.key[0][0], "gpt-4o");
	CHECK_U64(g.t[0].cost_nanousd, 1000);
	CHECK_STR(g.key[1][0], "gpt-4o-mini");
	CHECK_U64(g.t[1].cost_nanousd, 30);
	f = (struct store_report_filter){NULL, NULL, NULL};
	memset(&g, 0, sizeof(g));
	CHECK(store_report_usage(t.rd, &f, &by, 1, 1, got_row, &g, &trunc, err,
	                         sizeof(err)) == 0);
	CHECK_U64(g.n, 1);
	CHECK(trunc == 1);
	CHECK(store_report_totals(t.rd, &f, &tot, err, sizeof(err)) == 0);
	CHECK_U64(tot.requests, 5);
	CHECK_U64(tot.input_tokens, 1500);
	CHECK_U64(tot.output_tokens, 150);
	CHECK_U64(tot.cost_nanousd, 8080);
	f.from_day = "2026-11-23";
	CHECK(store_report_totals(t.rd, &f, &tot, err, sizeof(err)) == 0);
	CHECK_U64(tot.cost_nanousd, 4050);
	memset(&g, 0, sizeof(g));
	CHECK(store_report_usage(t.rd, &f, NULL, 0, 10, got_row, &g, &trunc,
	                         err, sizeof(err)) == 0);
	CHECK_U64(g.n, 1);
	CHECK_U64(g.t[0].requests, 2);
	f = (struct store_report_filter){"nobody", NULL, NULL};
	memset(&g, 0, sizeof(g));
	CHECK(store_report_usage(t.rd, &f, NULL, 0, 10, got_row, &g, &trunc,
	                         err, sizeof(err)) == 0);
	CHECK_U64(g.n, 0);
out:
	rdb_remove(&t);
}

static void
hour_row(void *arg, int hour, const struct store_report_totals *t)
{
	((struct store_report_totals *)arg)[hour] = *t;
}

TEST(store_report_hours_of_one_day)
{
	struct store_report_totals h[24];
	struct rdb t;
	char err[256];

	memset(h, 0, sizeof(h));
	if (rdb_base(&t) == -1)
		goto out;
	CHECK(store_report_hours(t.rd, NULL, DAY0_MS, hour_row, h, err,
	                         sizeof(err)) == 0);
	CHECK_U64(h[1].requests, 1);
	CHECK_U64(h[1].cost_nanousd, 1000);
	CHECK_U64(h[2].requests, 2);
	CHECK_U64(h[2].cost_nanousd, 3030);
	CHECK_U64(h[0].requests + h[3].requests, 0);
	memset(h, 0, sizeof(h));
	CHECK(store_report_hours(t.rd, "b", DAY0_MS, hour_row, h, err,
	                         sizeof(err)) == 0);
	CHECK_U64(h[2].requests, 1);
	CHECK_U64(h[1].requests, 0);
out:
	rdb_remove(&t);
}

TEST(store_report_duplicates_window_and_kind)
{
	const int64_t t0 = DAY0_MS, w = 300000;
	const struct rec_spec rows[] = {
	    /* chain: 3 within the window of each other -> 2 duplicates */
	    {t0, "a", "gpt-4o", NULL, "h1", 10, 1, 100, 1},
	    {t0 + 200000, "a", "gpt-4o", NULL, "h1", 10, 1, 110, 1},
	    {t0 + 450000, "a", "gpt-4o", NULL, "h1", 10, 1, 120, 1},
	    /* beyond the window of the last: a new chain, alone */
	    {t0 + 900000, "a", "gpt-4o", NULL, "h1", 10, 1, 130, 1},
	    /* other workspace, other endpoint, refused: not duplicates */
	    {t0 + 1000, "b", "gpt-4o", NULL, "h1", 10, 1, 140, 1},
	    {t0 + 2000, "a", "gpt-4o", "/v1/responses", "h1", 10, 1, 150, 1},
	    {t0 + 3000, "a", "gpt-4o", NULL, "h1", 10, 1, 0, 0},
	    /* a second group of two */
	    {t0 + 5000, "a", "gpt-4o", NULL, "h2", 10, 1, 7, 1},
	    {t0 + 5001, "a", "gpt-4o", NULL, "h2", 10, 1, 8, 1},
	    /* no hash: never a duplicate */
	    {t0 + 6000, "a", "gpt-4o", NULL, NULL, 10, 1, 9, 1},
	    {t0 + 6001, "a", "gpt-4o", NULL, NULL, 10, 1, 9, 1},
	};
	struct store_report_dups d;
	struct rdb t;
	char err[256];
	size_t i;

	if (rdb_make(&t) == -1)
		goto out;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		put(&t, &rows[i]);
	if (rdb_read(&t) == -1)
		goto out;
	CHECK(store_report_duplicates(t.rd, NULL, t0, w, &d, err,
	                              sizeof(err)) == 0);
	CHECK_U64(d.requests, 3);
	CHECK_U64(d.groups, 2);
	CHECK_U64(d.cost_nanousd, 110 + 120 + 8);
	CHECK(store_report_duplicates(t.rd, "b", t0, w, &d, err, sizeof(err)) ==
	      0);
	CHECK_U64(d.requests, 0);
	/* a look-back starting after the chain's first row */
	CHECK(store_report_duplicates(t.rd, "a", t0 + 100000, w, &d, err,
	                              sizeof(err)) == 0);
	CHECK_U64(d.requests, 1);
	CHECK_U64(d.cost_nanousd, 120);
out:
	rdb_remove(&t);
}

struct models {
	struct store_report_model_use m[4];
	char name[4][64];
	size_t n;
};

static void
model_row(void *arg, const struct store_report_model_use *m)
{
	struct models *ms = arg;

	if (ms->n == 4)
		return;
	ms->m[ms->n] = *m;
	snprintf(ms->name[ms->n], 64, "%s", m->model);
	ms->n++;
}

TEST(store_report_bloat_and_small_outputs)
{
	const struct rec_spec rows[] = {
	    {DAY0_MS, "a", "gpt-4o", NULL, NULL, 9000, 10, 500, 1},
	    {DAY0_MS + 1, "a", "gpt-4o", NULL, NULL, 12000, 900, 700, 1},
	    {DAY0_MS + 2, "a", "gpt-4o", NULL, NULL, 8000, 10, 300, 1},
	    {DAY0_MS + 3, "a", "gpt-4o-mini", NULL, NULL, 20000, 5, 90, 1},
	    {DAY0_MS + 4, "a", "gpt-4o", NULL, NULL, 50000, 5, 0, 0},
	};
	struct models ms = {0};
	struct rdb t;
	char err[256];
	size_t i;

	if (rdb_make(&t) == -1)
		goto out;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		put(&t, &rows[i]);
	if (rdb_read(&t) == -1)
		goto out;
	CHECK(store_report_bloat(t.rd, "a", DAY0_MS, 8000, model_row, &ms, err,
	                         sizeof(err)) == 0);
	CHECK_U64(ms.n, 2); /* sorted by cost: gpt-4o first */
	CHECK_STR(ms.name[0], "gpt-4o");
	CHECK_U64(ms.m[0].t.requests, 2);
	CHECK_U64(ms.m[0].t.input_tokens, 21000);
	CHECK_U64(ms.m[0].excess_input_tokens, 1000 + 4000);
	CHECK_U64(ms.m[0].max_input_tokens, 12000);
	CHECK_U64(ms.m[0].t.cost_nanousd, 1200);
	CHECK_STR(ms.name[1], "gpt-4o-mini");
	CHECK_U64(ms.m[1].excess_input_tokens, 12000);
	memset(&ms, 0, sizeof(ms));
	CHECK(store_report_small_outputs(t.rd, NULL, DAY0_MS, 10, model_row,
	                                 &ms, err, sizeof(err)) == 0);
	CHECK_U64(ms.n, 2);
	CHECK_STR(ms.name[0], "gpt-4o");
	CHECK_U64(ms.m[0].t.requests, 2);
	CHECK_U64(ms.m[0].t.cost_nanousd, 800);
	CHECK_U64(ms.m[1].t.requests, 1);
out:
	rdb_remove(&t);
}

struct recent {
	int64_t id[16];
	int forwarded[16];
	size_t n;
};

static void
recent_row(void *arg, const struct store_report_request *r)
{
	struct recent *rc = arg;

	if (rc->n == 16)
		return;
	rc->forwarded[rc->n] = r->forwarded;
	rc->id[rc->n++] = r->id;
}

TEST(store_report_recent_and_seen)
{
	struct recent rc = {0};
	struct rdb t;
	char err[256];
	int found = -1;

	if (rdb_base(&t) == -1)
		goto out;
	CHECK(store_report_recent(t.rd, "a", 3, recent_row, &rc, err,
	                          sizeof(err)) == 0);
	CHECK_U64(rc.n, 3);
	CHECK(rc.id[0] > rc.id[1] && rc.id[1] > rc.id[2]);
	CHECK(rc.forwarded[0] == 0); /* the refused row is the newest of a */
	CHECK(store_report_workspace_seen(t.rd, "b", &found, err,
	                                  sizeof(err)) == 0);
	CHECK(found == 1);
	CHECK(store_report_workspace_seen(t.rd, "zz", &found, err,
	                                  sizeof(err)) == 0);
	CHECK(found == 0);
out:
	rdb_remove(&t);
}
