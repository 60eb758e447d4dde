/*
 * tests/unit/test_store_reconcile.c — store/reconcile.c: Usage and Costs
 * API pages, the provider tables, drift and flags.
 *
 * Each test works in its own mkdtemp directory with a database made by
 * store_open (schema 4) and local rows written through the store writer.
 * Covers: several pages of one endpoint parsed with has_more / next_page;
 * every prefix of a valid page, malformed JSON, missing or mistyped
 * fields, negative and fractional counts and a has_more without a cursor
 * are refused without keeping the bad page's rows; amount.value as a
 * number and as a string; line_item models; a re-pull of the same window
 * replaces instead of adding; drift percentages and flags at, just past
 * and well past drift_alert_pct both ways, zero denominators (local 0 is
 * infinite and flagged, both 0 is 0), cost compared only where Costs has
 * rows; workspace -> project mapping; each flag alerted once; the run
 * state.  Expected numbers are computed in the test from the inputs.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/reconcile.h"
#include "store/store.h"
#include "tests/unit/harness.h"

/* 2026-11-22T00:00:00Z */
#define DAY0_S 1795305600LL
#define DAY_S 86400LL

struct tdb {
	char dir[64];
	char path[128];
};

static int
tdb_make(struct tdb *t)
{
	struct store *st;
	char err[256];

	snprintf(t->dir, sizeof(t->dir), "/tmp/tollgate-recon-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		harness_fail(__FILE__, __LINE__, "mkdtemp failed");
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/t.db", t->dir);
	if ((st = store_open(t->path, 64, err, sizeof(err))) == NULL) {
		harness_fail(__FILE__, __LINE__, "store_open: %s", err);
		return -1;
	}
	store_close(st);
	return 0;
}

static void
tdb_remove(struct tdb *t)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	char p[160];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", t->path, sfx[i]);
		unlink(p);
	}
	rmdir(t->dir);
}

/* n local requests of model by ws, each with in/out tokens and cost. */
static void
local_rows(struct tdb *t, const char *ws, const char *model, int n, uint64_t in,
           uint64_t out, uint64_t cost)
{
	struct store *st;
	struct store_record r;
	char err[256];
	int i;

	if ((st = store_open(t->path, 4096, err, sizeof(err))) == NULL) {
		harness_fail(__FILE__, __LINE__, "store_open: %s", err);
		return;
	}
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.ts_ms = (DAY0_S + 3600) * 1000 + i;
		snprintf(r.workspace, sizeof(r.workspace), "%s", ws);
		snprintf(r.endpoint, sizeof(r.endpoint),
		         "/v1/chat/completions");
		snprintf(r.model, sizeof(r.model), "%s", model);
		r.status = 200;
		r.input_tokens = in;
		r.output_tokens = out;
		r.cost_nanousd = cost;
		r.forwarded = 1;
		CHECK(store_try_submit(st, &r) == 0);
	}
	CHECK_U64(store_close(st), 0);
}

static int64_t
db_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	        SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	else if (db != NULL && s == NULL)
		harness_fail(__FILE__, __LINE__, "%s: %s", sql,
		             sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* A completions page: one bucket at DAY0 + 1 h with the given result
 * objects (JSON text), has_more and next_page as given. */
static void
usage_page(char *buf, size_t cap, const char *results, const char *more,
           const char *next)
{
	snprintf(buf, cap,
	         "{\"object\":\"page\",\"data\":[{\"object\":\"bucket\","
	         "\"start_time\":%lld,\"end_time\":%lld,\"results\":[%s]}],"
	         "\"has_more\":%s,\"next_page\":%s}",
	         DAY0_S + 3600, DAY0_S + 7200, results, more, next);
}

static void
result(char *buf, size_t cap, const char *model, const char *project,
       uint64_t rq, uint64_t in, uint64_t cached, uint64_t out)
{
	snprintf(buf, cap,
	         "{\"object\":\"organization.usage.completions.result\","
	         "\"input_tokens\":%llu,\"input_cached_tokens\":%llu,"
	         "\"output_tokens\":%llu,\"input_audio_tokens\":0,"
	         "\"output_audio_tokens\":0,\"num_model_requests\":%llu,"
	         "\"project_id\":%s%s%s,\"user_id\":null,\"api_key_id\":null,"
	         "\"model\":\"%s\",\"batch\":null,\"service_tier\":null}",
	         (unsigned long long)in, (unsigned long long)cached,
	         (unsigned long long)out, (unsigned long long)rq,
	         project ? "\"" : "", project ? project : "null",
	         project ? "\"" : "", model);
}

static int
feed(struct store_recon_pull *p, enum store_recon_kind k, const char *json,
     int *more, char *next)
{
	char err[256];

	return store_recon_pull_page(p, k, json, strlen(json), more, next,
	                             STORE_RECON_MAX_CURSOR + 1, err,
	                             sizeof(err));
}

TEST(store_recon_pull_page_several_pages)
{
	struct store_recon_pull *p =
	    store_recon_pull_new(DAY0_S, DAY0_S + DAY_S);
	char page[2048], r1[512], r2[512], next[STORE_RECON_MAX_CURSOR + 1];
	int more = -1;

	result(r1, sizeof(r1), "gpt-4o-mini-2024-07-18", "proj_a", 3, 30, 10,
	       9);
	result(r2, sizeof(r2), "gpt-4o-2024-08-06", NULL, 1, 5, 0, 2);
	snprintf(page, sizeof(page), "%s,%s", r1, r2);
	{
		char full[4096];

		usage_page(full, sizeof(full), page, "true", "\"page_2\"");
		CHECK(feed(p, STORE_RECON_COMPLETIONS, full, &more, next) == 0);
		CHECK(more == 1);
		CHECK_STR(next, "page_2");
		usage_page(full, sizeof(full), r1, "true", "\"page_3\"");
		CHECK(feed(p, STORE_RECON_COMPLETIONS, full, &more, next) == 0);
		CHECK_STR(next, "page_3");
		/* an empty bucket and the last page */
		usage_page(full, sizeof(full), "", "false", "null");
		CHECK(feed(p, STORE_RECON_COMPLETIONS, full, &more, next) == 0);
		CHECK(more == 0);
		CHECK_STR(next, "");
	}
	CHECK_U64(store_recon_pull_rows(p), 3);
	CHECK_U64(store_recon_pull_skipped(p), 0);
	store_recon_pull_free(p);
}

TEST(store_recon_pull_page_every_prefix_refused)
{
	struct store_recon_pull *p =
	    store_recon_pull_new(DAY0_S, DAY0_S + DAY_S);
	char r1[512], full[2048], next[STORE_RECON_MAX_CURSOR + 1], err[256];
	size_t n, len;
	int more, bad = 0;

	result(r1, sizeof(r1), "gpt-4o-mini-2024-07-18", "proj_a", 3, 30, 10,
	       9);
	usage_page(full, sizeof(full), r1, "false", "null");
	len = strlen(full);
	for (n = 0; n < len; n++)
		bad += store_recon_pull_page(p, STORE_RECON_COMPLETIONS, full,
		                             n, &more, next, sizeof(next), err,
		                             sizeof(err)) == -1;
	CHECK_U64(bad, len);
	CHECK_U64(store_recon_pull_rows(p), 0);
	CHECK(store_recon_pull_page(p, STORE_RECON_COMPLETIONS, full, len,
	                            &more, next, sizeof(next), err,
	                            sizeof(err)) == 0);
	CHECK_U64(store_recon_pull_rows(p), 1);
	store_recon_pull_free(p);
}

TEST(store_recon_pull_page_malformed)
{
	static const char *const bad[] = {
	    "not json",
	    "[]",
	    "{\"object\":\"page\",\"has_more\":false}", /* no data */
	    "{\"object\":\"page\",\"data\":[]}",        /* no has_more */
	    "{\"data\":[],\"has_more\":true,\"next_page\":null}",
	    "{\"data\":[],\"has_more\":true,\"next_page\":\"\"}",
	    "{\"data\":[],\"has_more\":false,\"next_page\":7}",
	    "{\"data\":[{\"start_time\":1795309200,\"results\":[]}],"
	    "\"has_more\":false}", /* no end_time */
	    "{\"data\":[{\"start_time\":1795309200,\"end_time\":1795312800}],"
	    "\"has_more\":false}", /* no results */
	    "{\"data\":[{\"start_time\":1795309200,\"end_time\":1795312800,"
	    "\"results\":[{\"input_tokens\":1,\"output_tokens\":1}]}],"
	    "\"has_more\":false}", /* no num_model_requests */
	    "{\"data\":[{\"start_time\":1795309200,\"end_time\":1795312800,"
	    "\"results\":[{\"input_tokens\":-1,\"output_tokens\":1,"
	    "\"num_model_requests\":1}]}],\"has_more\":false}",
	    "{\"data\":[{\"start_time\":1795309200,\"end_time\":1795312800,"
	    "\"results\":[{\"input_tokens\":1.5,\"output_tokens\":1,"
	    "\"num_model_requests\":1}]}],\"has_more\":false}",
	    "{\"data\":[{\"start_time\":1795309200,\"end_time\":1795312800,"
	    "\"results\":[{\"input_tokens\":\"3\",\"output_tokens\":1,"
	    "\"num_model_requests\":1}]}],\"has_more\":false}",
	    "{\"data\":[{\"start_time\":1795309200,\"end_time\":1795312800,"
	    "\"results\":[{\"input_tokens\":1e300,\"output_tokens\":1,"
	    "\"num_model_requests\":1}]}],\"has_more\":false}",
	    "{\"data\":[{\"start_time\":1795309200,\"end_time\":1795312800,"
	    "\"results\":[{\"object\":\"organization.usage.images.result\","
	    "\"input_tokens\":1,\"output_tokens\":1,"
	    "\"num_model_requests\":1}]}],\"has_more\":false}",
	    "{\"data\":[{\"start_time\":1795309200,\"end_time\":1795312800,"
	    "\"results\":[{\"input_tokens\":1,\"output_tokens\":1,"
	    "\"num_model_requests\":1,\"model\":5}]}],\"has_more\":false}",
	    "{\"data\":[{\"start_time\":1795312800,\"end_time\":1795309200,"
	    "\"results\":[]}],\"has_more\":false}", /* ends before start */
	};
	struct store_recon_pull *p =
	    store_recon_pull_new(DAY0_S, DAY0_S + DAY_S);
	char r1[512], good[2048], next[STORE_RECON_MAX_CURSOR + 1];
	size_t i;
	int more;

	result(r1, sizeof(r1), "m", NULL, 1, 1, 0, 1);
	usage_page(good, sizeof(good), r1, "false", "null");
	CHECK(feed(p, STORE_RECON_COMPLETIONS, good, &more, next) == 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (feed(p, STORE_RECON_COMPLETIONS, bad[i], &more, next) != -1)
			harness_fail(__FILE__, __LINE__, "accepted: %s",
			             bad[i]);
	}
	/* a page whose second result is bad keeps none of its rows */
	{
		char two[2048], both[1100];

		snprintf(both, sizeof(both),
		         "%s,{\"input_tokens\":1,\"output_tokens\":1}", r1);
		usage_page(two, sizeof(two), both, "false", "null");
		CHECK(feed(p, STORE_RECON_COMPLETIONS, two, &more, next) == -1);
	}
	CHECK_U64(store_recon_pull_rows(p), 1);
	store_recon_pull_free(p);
}

TEST(store_recon_pull_page_outside_window_skipped)
{
	struct store_recon_pull *p =
	    store_recon_pull_new(DAY0_S + DAY_S, DAY0_S + 2 * DAY_S);
	char r1[512], page[2048], next[STORE_RECON_MAX_CURSOR + 1];
	int more;

	result(r1, sizeof(r1), "m", NULL, 1, 1, 0, 1);
	usage_page(page, sizeof(page), r1, "false", "null");
	CHECK(feed(p, STORE_RECON_COMPLETIONS, page, &more, next) == 0);
	CHECK_U64(store_recon_pull_rows(p), 0);
	CHECK_U64(store_recon_pull_skipped(p), 1);
	store_recon_pull_free(p);
}

static void
cost_page(char *buf, size_t cap, const char *amount, const char *item,
          const char *project)
{
	snprintf(buf, cap,
	         "{\"object\":\"page\",\"data\":[{\"object\":\"bucket\","
	         "\"start_time\":%lld,\"end_time\":%lld,\"results\":[{"
	         "\"object\":\"organization.costs.result\",\"amount\":{"
	         "\"value\":%s,\"currency\":\"usd\"},\"line_item\":\"%s\","
	         "\"project_id\":\"%s\",\"quantity\":10,"
	         "\"quantity_unit\":\"tokens\"}]}],\"has_more\":false,"
	         "\"next_page\":null}",
	         DAY0_S, DAY0_S + DAY_S, amount, item, project);
}

TEST(store_recon_pull_page_costs_amounts)
{
	struct store_recon_pull *p =
	    store_recon_pull_new(DAY0_S, DAY0_S + DAY_S);
	char page[2048], next[STORE_RECON_MAX_CURSOR + 1];
	int more;

	cost_page(page, sizeof(page), "0.06", "gpt-4o, input", "p");
	CHECK(feed(p, STORE_RECON_COSTS, page, &more, next) == 0);
	cost_page(page, sizeof(page), "\"0.000004650\"", "gpt-4o, output", "p");
	CHECK(feed(p, STORE_RECON_COSTS, page, &more, next) == 0);
	cost_page(page, sizeof(page), "\"lots\"", "gpt-4o, output", "p");
	CHECK(feed(p, STORE_RECON_COSTS, page, &more, next) == -1);
	cost_page(page, sizeof(page), "null", "gpt-4o, output", "p");
	CHECK(feed(p, STORE_RECON_COSTS, page, &more, next) == -1);
	CHECK_U64(store_recon_pull_rows(p), 2);
	store_recon_pull_free(p);
}

TEST(store_recon_parse_usd_forms)
{
	int64_t v = 0;

	CHECK(store_recon_parse_usd("0.06", &v) == 0);
	CHECK(v == 60000000);
	CHECK(store_recon_parse_usd("12", &v) == 0);
	CHECK(v == 12000000000LL);
	CHECK(store_recon_parse_usd("-1.5", &v) == 0);
	CHECK(v == -1500000000LL);
	CHECK(store_recon_parse_usd("4.65e-06", &v) == 0);
	CHECK(v == 4650);
	CHECK(store_recon_parse_usd("0.0000000005", &v) == 0);
	CHECK(v == 1); /* half a nano rounds away from zero */
	CHECK(store_recon_parse_usd("0.0000000004", &v) == 0);
	CHECK(v == 0);
	CHECK(store_recon_parse_usd("", &v) == -1);
	CHECK(store_recon_parse_usd("abc", &v) == -1);
	CHECK(store_recon_parse_usd("1.2.3", &v) == -1);
	CHECK(store_recon_parse_usd("1e400", &v) == -1);
	CHECK(store_recon_parse_usd("99999999999", &v) == -1);
}

TEST(store_recon_line_item_model_forms)
{
	char m[64];

	store_recon_line_item_model("gpt-4o-2024-08-06, input", m, sizeof(m));
	CHECK_STR(m, "gpt-4o-2024-08-06");
	store_recon_line_item_model("gpt-4o-2024-08-06, Input", m, sizeof(m));
	CHECK_STR(m, "gpt-4o-2024-08-06");
	store_recon_line_item_model("GPT-5.6-luna, cached input", m, sizeof(m));
	CHECK_STR(m, "gpt-5.6-luna");
	store_recon_line_item_model("Image models", m, sizeof(m));
	CHECK_STR(m, "image models");
	store_recon_line_item_model("", m, sizeof(m));
	CHECK_STR(m, "");
}

/* --- commit, drift, flags --------------------------------------------------
 */

struct seen {
	int n;
	char flags[16][12];
	char models[16][64];
};

static void
on_flag(void *arg, const struct store_recon_row *r)
{
	struct seen *s = arg;

	if (s->n < 16) {
		snprintf(s->flags[s->n], sizeof(s->flags[0]), "%s", r->flag);
		snprintf(s->models[s->n], sizeof(s->models[0]), "%.63s",
		         r->model);
	}
	s->n++;
}

struct rows {
	int n;
	struct store_recon_row r[32];
};

static void
on_row(void *arg, const struct store_recon_row *r)
{
	struct rows *rs = arg;

	if (rs->n < 32)
		rs->r[rs->n] = *r;
	rs->n++;
}

static const struct store_recon_row *
find(const struct rows *rs, const char *model, const char *project)
{
	int i;

	for (i = 0; i < rs->n && i < 32; i++)
		if (strcmp(rs->r[i].model, model) == 0 &&
		    strcmp(rs->r[i].project, project) == 0)
			return &rs->r[i];
	harness_fail(__FILE__, __LINE__, "no row %s/%s", model, project);
	return NULL;
}

/* Commits one completions page of results (and optionally a costs
 * page) for DAY0 with map; returns what store_recon_commit returned. */
static int
commit_pages(struct store_recon *rc, const char *results, const char *costs,
             const struct store_recon_map *map, size_t nmap, double pct,
             struct seen *seen)
{
	struct store_recon_pull *p =
	    store_recon_pull_new(DAY0_S, DAY0_S + DAY_S);
	char page[8192], next[STORE_RECON_MAX_CURSOR + 1], err[256];
	int more, rc_;

	usage_page(page, sizeof(page), results, "false", "null");
	CHECK(feed(p, STORE_RECON_COMPLETIONS, page, &more, next) == 0);
	if (costs != NULL)
		CHECK(feed(p, STORE_RECON_COSTS, costs, &more, next) == 0);
	rc_ = store_recon_commit(rc, p, map, nmap, pct, DAY0_S * 1000 + 5000,
	                         seen ? on_flag : NULL, seen, err, sizeof(err));
	if (rc_ == -1)
		harness_fail(__FILE__, __LINE__, "commit: %s", err);
	store_recon_pull_free(p);
	return rc_;
}

static void
read_rows(struct tdb *t, struct rows *rs, const char *project)
{
	struct store_reader *rd;
	char err[256];

	memset(rs, 0, sizeof(*rs));
	if ((rd = store_reader_open(t->path, err, sizeof(err))) == NULL) {
		harness_fail(__FILE__, __LINE__, "reader: %s", err);
		return;
	}
	CHECK(store_reader_recon_rows(rd, "2026-11-22", "2026-11-22", project,
	                              0, on_row, rs, err, sizeof(err)) == 0);
	store_reader_close(rd);
}

TEST(store_recon_commit_idempotent_repull)
{
	struct tdb t;
	struct store_recon *rc;
	char r1[512], r2[512], both[1100], costs[2048], err[256];
	struct rows a, b;

	if (tdb_make(&t) == -1)
		return;
	local_rows(&t, "default", "gpt-4o-mini-2024-07-18", 3, 10, 5, 4500);
	rc = store_recon_open(t.path, err, sizeof(err));
	CHECK(rc != NULL);
	result(r1, sizeof(r1), "gpt-4o-mini-2024-07-18", "proj_x", 3, 30, 0,
	       15);
	result(r2, sizeof(r2), "gpt-4o-2024-08-06", "proj_x", 2, 20, 0, 4);
	snprintf(both, sizeof(both), "%s,%s", r1, r2);
	cost_page(costs, sizeof(costs), "0.0000135",
	          "gpt-4o-mini-2024-07-18, input", "proj_x");
	CHECK(commit_pages(rc, both, costs, NULL, 0, 2.0, NULL) == 0);
	read_rows(&t, &a, NULL);
	CHECK(commit_pages(rc, both, costs, NULL, 0, 2.0, NULL) == 0);
	read_rows(&t, &b, NULL);
	CHECK(db_int(t.path, "SELECT count(*) FROM provider_usage") == 2);
	CHECK(db_int(t.path, "SELECT sum(requests) FROM provider_usage") == 5);
	CHECK(db_int(t.path, "SELECT count(*) FROM provider_costs") == 1);
	CHECK(db_int(t.path, "SELECT count(*) FROM reconciliation") == 2);
	CHECK(a.n == 2 && b.n == 2);
	CHECK(memcmp(&a.r[0], &b.r[0], sizeof(a.r[0])) == 0);
	CHECK(memcmp(&a.r[1], &b.r[1], sizeof(a.r[1])) == 0);
	/* local 3 x 10 in, 3 x 5 out, 3 x 4500 nano */
	{
		const struct store_recon_row *m =
		    find(&a, "gpt-4o-mini-2024-07-18", "");

		if (m != NULL) {
			CHECK_U64(m->local.requests, 3);
			CHECK_U64(m->local.input_tokens, 30);
			CHECK_U64(m->local.output_tokens, 15);
			CHECK(m->local.cost_nanousd == 13500);
			CHECK(m->provider.cost_nanousd == 13500);
			CHECK(m->provider.has_cost);
			CHECK(m->has_cost && m->drift_cost == 0);
			CHECK_STR(m->flag, "");
		}
	}
	store_recon_close(rc);
	tdb_remove(&t);
}

TEST(store_recon_commit_thresholds_and_zero)
{
	struct tdb t;
	struct store_recon *rc;
	char res[6][512], all[4096], err[256];
	struct rows rs;
	const struct store_recon_row *r;
	int i;

	if (tdb_make(&t) == -1)
		return;
	/* 100 local requests for each of m-at, m-over, m-under, m-below;
	 * 5 for m-gone; tokens the same on both sides */
	local_rows(&t, "default", "m-at", 100, 1, 1, 0);
	local_rows(&t, "default", "m-over", 100, 1, 1, 0);
	local_rows(&t, "default", "m-under", 100, 1, 1, 0);
	local_rows(&t, "default", "m-below", 100, 1, 1, 0);
	local_rows(&t, "default", "m-gone", 5, 0, 0, 0);
	rc = store_recon_open(t.path, err, sizeof(err));
	CHECK(rc != NULL);
	result(res[0], 512, "m-at", NULL, 102, 102, 0, 102);   /* +2 %   */
	result(res[1], 512, "m-over", NULL, 103, 100, 0, 100); /* +3 %   */
	result(res[2], 512, "m-under", NULL, 98, 100, 0, 100); /* -2 %   */
	result(res[3], 512, "m-below", NULL, 97, 100, 0, 100); /* -3 %   */
	result(res[4], 512, "m-new", NULL, 4, 40, 0, 8);       /* inf    */
	result(res[5], 512, "m-gone", NULL, 0, 0, 0, 0);       /* -100 % */
	all[0] = '\0';
	for (i = 0; i < 6; i++) {
		strcat(all, i ? "," : "");
		strcat(all, res[i]);
	}
	CHECK(commit_pages(rc, all, NULL, NULL, 0, 2.0, NULL) == 0);
	read_rows(&t, &rs, NULL);
	CHECK(rs.n == 6);
	if ((r = find(&rs, "m-at", "")) != NULL) {
		CHECK(r->has_requests && r->drift_requests == 2.0);
		CHECK_STR(r->flag, ""); /* at the threshold: not beyond */
		CHECK(!r->has_cost);    /* no Costs rows: not compared */
	}
	if ((r = find(&rs, "m-over", "")) != NULL) {
		CHECK(r->drift_requests == 3.0 && r->drift_input == 0);
		CHECK_STR(r->flag, "bypass");
	}
	if ((r = find(&rs, "m-under", "")) != NULL) {
		CHECK(r->drift_requests == -2.0);
		CHECK_STR(r->flag, "");
	}
	if ((r = find(&rs, "m-below", "")) != NULL) {
		CHECK(r->drift_requests == -3.0);
		CHECK_STR(r->flag, "overcount");
	}
	if ((r = find(&rs, "m-new", "")) != NULL) {
		CHECK_U64(r->local.requests, 0);
		CHECK_U64(r->provider.requests, 4);
		CHECK(!r->has_requests && !r->has_input); /* infinite */
		CHECK_STR(r->flag, "bypass");
	}
	if ((r = find(&rs, "m-gone", "")) != NULL) {
		CHECK(r->has_requests && r->drift_requests == -100.0);
		CHECK(r->has_input && r->drift_input == 0); /* 0 vs 0 */
		CHECK_STR(r->flag, "overcount");
	}
	/* stored drift is NULL exactly where it is infinite */
	CHECK(db_int(t.path, "SELECT count(*) FROM reconciliation"
	                     " WHERE drift_requests_pct IS NULL") == 1);
	/* a zero threshold flags any difference */
	CHECK(commit_pages(rc, all, NULL, NULL, 0, 0.0, NULL) == 0);
	read_rows(&t, &rs, NULL);
	if ((r = find(&rs, "m-at", "")) != NULL)
		CHECK_STR(r->flag, "bypass");
	if ((r = find(&rs, "m-under", "")) != NULL)
		CHECK_STR(r->flag, "overcount");
	store_recon_close(rc);
	tdb_remove(&t);
}

TEST(store_recon_commit_projects_and_alerts_once)
{
	struct tdb t;
	struct store_recon *rc;
	const struct store_recon_map map[] = {{"team-a", "proj_a"},
	                                      {"team-b", NULL}};
	char res[3][512], all[2048], err[256];
	struct store_recon_state st;
	struct store_reader *rd;
	struct seen seen;
	struct rows rs;
	const struct store_recon_row *r;

	if (tdb_make(&t) == -1)
		return;
	local_rows(&t, "team-a", "m", 4, 10, 2, 100);
	local_rows(&t, "team-b", "m", 2, 10, 2, 100);
	local_rows(&t, "default", "m", 1, 10, 2, 100);
	rc = store_recon_open(t.path, err, sizeof(err));
	CHECK(rc != NULL);
	result(res[0], 512, "m", "proj_a", 6, 60, 0, 12); /* 2 bypassed */
	result(res[1], 512, "m", "proj_b", 2, 20, 0, 4);  /* unmapped */
	result(res[2], 512, "m", "proj_c", 1, 10, 0, 2);  /* unmapped */
	snprintf(all, sizeof(all), "%s,%s,%s", res[0], res[1], res[2]);
	memset(&seen, 0, sizeof(seen));
	CHECK(commit_pages(rc, all, NULL, map, 2, 2.0, &seen) == 0);
	read_rows(&t, &rs, NULL);
	CHECK(rs.n == 2);
	if ((r = find(&rs, "m", "proj_a")) != NULL) {
		CHECK_U64(r->local.requests, 4);
		CHECK_U64(r->provider.requests, 6);
		CHECK(r->drift_requests == 50.0);
		CHECK_STR(r->flag, "bypass");
	}
	if ((r = find(&rs, "m", "")) != NULL) {
		CHECK_U64(r->local.requests, 3);    /* team-b + default */
		CHECK_U64(r->provider.requests, 3); /* proj_b + proj_c */
		CHECK_STR(r->flag, "");
	}
	CHECK(seen.n == 1);
	CHECK_STR(seen.flags[0], "bypass");
	read_rows(&t, &rs, "proj_a");
	CHECK(rs.n == 1);
	/* the same drift again: not alerted twice */
	CHECK(commit_pages(rc, all, NULL, map, 2, 2.0, &seen) == 0);
	CHECK(seen.n == 1);
	/* without alerting (one-off passes) the mark is kept */
	CHECK(commit_pages(rc, all, NULL, map, 2, 2.0, NULL) == 0);
	CHECK(commit_pages(rc, all, NULL, map, 2, 2.0, &seen) == 0);
	CHECK(seen.n == 1);
	/* the flag turns: alerted again */
	result(res[0], 512, "m", "proj_a", 2, 20, 0, 4);
	snprintf(all, sizeof(all), "%s,%s,%s", res[0], res[1], res[2]);
	CHECK(commit_pages(rc, all, NULL, map, 2, 2.0, &seen) == 0);
	CHECK(seen.n == 2);
	CHECK_STR(seen.flags[1], "overcount");
	CHECK(store_recon_fail(rc, DAY0_S * 1000 + 9000, "boom", err,
	                       sizeof(err)) == 0);
	rd = store_reader_open(t.path, err, sizeof(err));
	CHECK(rd != NULL);
	if (rd != NULL) {
		CHECK(store_reader_recon_state(rd, &st, err, sizeof(err)) == 0);
		CHECK_U64(st.runs, 6);
		CHECK_U64(st.failures, 1);
		CHECK_U64(st.flags_bypass, 1);
		CHECK_U64(st.flags_overcount, 1);
		CHECK_STR(st.status, "error: boom");
		CHECK(st.last_run_ms == DAY0_S * 1000 + 9000);
		CHECK(st.last_ok_ms == DAY0_S * 1000 + 5000);
		store_reader_close(rd);
	}
	store_recon_close(rc);
	tdb_remove(&t);
}

TEST(store_reader_recon_state_never_run)
{
	struct tdb t;
	struct store_reader *rd;
	struct store_recon_state st;
	char err[256];

	if (tdb_make(&t) == -1)
		return;
	rd = store_reader_open(t.path, err, sizeof(err));
	CHECK(rd != NULL);
	if (rd != NULL) {
		CHECK(store_reader_recon_state(rd, &st, err, sizeof(err)) == 0);
		CHECK(st.last_run_ms == 0);
		CHECK_STR(st.status, "");
		store_reader_close(rd);
	}
	tdb_remove(&t);
}
