/*
 * tests/unit/test_store.c — store/store.c, the usage database and its
 * writer thread.
 *
 * Each test works in its own mkdtemp directory.  Covers: records queued
 * with store_reserve + store_submit and with store_try_submit are all
 * written by store_close (which flushes); the rows read back with the
 * sqlite3 API directly match field for field ("" stored as NULL); the
 * usage_daily rollup sums per UTC day, workspace, model and endpoint and
 * leaves out forwarded=0 rows; a full queue refuses reservations until one
 * is released; reopening an existing database keeps its rows (the
 * migration is idempotent); a database from a newer schema (user_version
 * 99) is refused with a message; store_reader counts rows.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/harness.h"

/* 2026-11-22T00:00:00Z */
#define DAY0_MS 1795305600000LL
#define DAY_MS 86400000LL

struct tmpdb {
	char dir[64];
	char path[128];
};

static int
tmpdb_make(struct tmpdb *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/tollgate-store-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		harness_fail(__FILE__, __LINE__, "mkdtemp failed");
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/usage.db", t->dir);
	return 0;
}

static void
tmpdb_remove(struct tmpdb *t)
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

static struct store_record
record(int64_t ts_ms, const char *ws, const char *model, uint64_t in,
       uint64_t cached, uint64_t out, uint64_t reasoning, uint64_t cost,
       int forwarded)
{
	struct store_record r;

	memset(&r, 0, sizeof(r));
	r.ts_ms = ts_ms;
	r.duration_ms = 1234;
	snprintf(r.workspace, sizeof(r.workspace), "%s", ws);
	snprintf(r.endpoint, sizeof(r.endpoint), "/v1/chat/completions");
	snprintf(r.model, sizeof(r.model), "%s", model);
	r.status = forwarded ? 200 : 429;
	r.stream = 1;
	r.input_tokens = in;
	r.cached_input_tokens = cached;
	r.output_tokens = out;
	r.reasoning_tokens = reasoning;
	r.cost_nanousd = cost;
	r.forwarded = forwarded;
	snprintf(r.price_version, sizeof(r.price_version), "2026-11-22");
	return r;
}

/* --- reading back with sqlite3 directly ------------------------------ */

static sqlite3 *
db_open(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		harness_fail(__FILE__, __LINE__, "open %s: %s", path,
		             db ? sqlite3_errmsg(db) : "?");
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* One integer from a query; -1 on error or no row. */
static int64_t
db_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		harness_fail(__FILE__, __LINE__, "%s: %s", sql,
		             sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* One text value ("(null)" for NULL, "(none)" for no row). */
static void
db_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *s = NULL;

	snprintf(out, cap, "(none)");
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		harness_fail(__FILE__, __LINE__, "%s: %s", sql,
		             sqlite3_errmsg(db));
		return;
	}
	if (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);

		snprintf(out, cap, "%s", t ? (const char *)t : "(null)");
	}
	sqlite3_finalize(s);
}

/* --- tests ------------------------------------------------------------ */

static void
submit_fixture(struct store *st)
{
	struct store_record r;

	/* 1: reserved at admission, submitted at the end; every field set */
	r = record(DAY0_MS + 10 * 3600000LL, "acme", "gpt-4o-mini-2024-07-18",
	           1000, 200, 500, 64, 435000, 1);
	snprintf(r.end_user, sizeof(r.end_user), "user-7");
	snprintf(r.upstream_request_id, sizeof(r.upstream_request_id),
	         "req_abc");
	snprintf(r.unit_kind, sizeof(r.unit_kind), "seconds");
	r.units = 9.5;
	r.estimated = 1;
	CHECK(store_reserve(st) == 0);
	store_submit(st, &r);
	/* 2: same day (last ms of it) and keys: rolled up with 1 */
	r = record(DAY0_MS + DAY_MS - 1, "acme", "gpt-4o-mini-2024-07-18", 10,
	           0, 5, 0, 100, 1);
	CHECK(store_try_submit(st, &r) == 0);
	/* 3: refused before the upstream: a row, but not in the rollup */
	r = record(DAY0_MS + 3600000LL, "acme", "gpt-4o-mini-2024-07-18", 0, 0,
	           0, 0, 0, 0);
	snprintf(r.limit_hit, sizeof(r.limit_hit), "budget");
	snprintf(r.error, sizeof(r.error), "workspace over budget");
	CHECK(store_try_submit(st, &r) == 0);
	/* 4: next UTC day (first ms of it) */
	r = record(DAY0_MS + DAY_MS, "acme", "gpt-4o-mini-2024-07-18", 7, 0, 3,
	           0, 50, 1);
	CHECK(store_try_submit(st, &r) == 0);
	/* 5: other workspace, same day as 1 */
	r = record(DAY0_MS + 5, "beta", "gpt-4o-mini-2024-07-18", 1, 0, 1, 0, 2,
	           1);
	CHECK(store_reserve(st) == 0);
	store_submit(st, &r);
}

TEST(store_submit_rows_and_rollup)
{
	struct tmpdb t;
	struct store *st;
	sqlite3 *db;
	char err[256] = "", txt[128];

	if (tmpdb_make(&t) == -1)
		return;
	st = store_open(t.path, 0, err, sizeof(err));
	if (st == NULL) {
		harness_fail(__FILE__, __LINE__, "store_open: %s", err);
		tmpdb_remove(&t);
		return;
	}
	submit_fixture(st);
	CHECK_U64(store_close(st), 0); /* flushes; nothing lost */

	if ((db = db_open(t.path)) == NULL) {
		tmpdb_remove(&t);
		return;
	}
	CHECK(db_int(db, "PRAGMA user_version") == STORE_SCHEMA_VERSION);
	CHECK(db_int(db, "SELECT count(*) FROM requests") == 5);
	/* row 1, field by field */
	CHECK(
	    db_int(db,
	           "SELECT count(*) FROM requests WHERE"
	           " ts_ms = 1795341600000 AND duration_ms = 1234 AND"
	           " workspace = 'acme' AND end_user = 'user-7' AND"
	           " endpoint = '/v1/chat/completions' AND"
	           " model = 'gpt-4o-mini-2024-07-18' AND status = 200 AND"
	           " stream = 1 AND input_tokens = 1000 AND"
	           " cached_input_tokens = 200 AND output_tokens = 500 AND"
	           " reasoning_tokens = 64 AND units = 9.5 AND"
	           " unit_kind = 'seconds' AND cost_nanousd = 435000 AND"
	           " estimated = 1 AND price_version = '2026-11-22' AND"
	           " upstream_request_id = 'req_abc' AND limit_hit IS NULL AND"
	           " error IS NULL AND forwarded = 1") == 1);
	/* "" is stored as NULL; units without a kind is NULL */
	db_text(db, "SELECT end_user FROM requests WHERE cost_nanousd = 100",
	        txt, sizeof(txt));
	CHECK_STR(txt, "(null)");
	db_text(db, "SELECT units FROM requests WHERE cost_nanousd = 100", txt,
	        sizeof(txt));
	CHECK_STR(txt, "(null)");
	db_text(db,
	        "SELECT limit_hit || '|' || error FROM requests"
	        " WHERE forwarded = 0",
	        txt, sizeof(txt));
	CHECK_STR(txt, "budget|workspace over budget");
	/* the rollup: UTC days, refusals left out */
	CHECK(db_int(db, "SELECT count(*) FROM usage_daily") == 3);
	CHECK(db_int(db, "SELECT sum(requests) FROM usage_daily") == 4);
	CHECK(db_int(db,
	             "SELECT count(*) FROM usage_daily WHERE"
	             " day = '2026-11-22' AND workspace = 'acme' AND"
	             " model = 'gpt-4o-mini-2024-07-18' AND"
	             " endpoint = '/v1/chat/completions' AND requests = 2 AND"
	             " input_tokens = 1010 AND cached_input_tokens = 200 AND"
	             " output_tokens = 505 AND reasoning_tokens = 64 AND"
	             " cost_nanousd = 435100") == 1);
	CHECK(db_int(db, "SELECT count(*) FROM usage_daily WHERE"
	                 " day = '2026-11-23' AND workspace = 'acme' AND "
	                 "requests = 1 AND"
	                 " input_tokens = 7 AND output_tokens = 3 AND"
	                 " cost_nanousd = 50") == 1);
	CHECK(db_int(db, "SELECT count(*) FROM usage_daily WHERE"
	                 " day = '2026-11-22' AND workspace = 'beta' AND "
	                 "requests = 1 AND"
	                 " cost_nanousd = 2") == 1);
	/* the rollup equals the forwarded rows */
	CHECK(db_int(db, "SELECT sum(cost_nanousd) FROM usage_daily") ==
	      db_int(db, "SELECT sum(cost_nanousd) FROM requests"
	                 " WHERE forwarded = 1"));
	sqlite3_close(db);
	tmpdb_remove(&t);
}

TEST(store_reserve_queue_full)
{
	struct tmpdb t;
	struct store *st;
	struct store_stats s;
	struct store_record r = record(DAY0_MS, "acme", "m", 1, 0, 1, 0, 1, 1);
	char err[256] = "";

	if (tmpdb_make(&t) == -1)
		return;
	st = store_open(t.path, 2, err, sizeof(err));
	if (st == NULL) {
		harness_fail(__FILE__, __LINE__, "store_open: %s", err);
		tmpdb_remove(&t);
		return;
	}
	CHECK(store_reserve(st) == 0);
	CHECK(store_reserve(st) == 0);
	CHECK(store_reserve(st) == -1);        /* full */
	CHECK(store_try_submit(st, &r) == -1); /* also full */
	store_stats(st, &s);
	CHECK_U64(s.capacity, 2);
	CHECK_U64(s.reserved, 2);
	CHECK_U64(s.refused, 2);
	store_release(st);
	CHECK(store_reserve(st) == 0); /* a slot came back */
	CHECK(store_reserve(st) == -1);
	/* a promised slot is never refused: use both */
	store_submit(st, &r);
	store_submit(st, &r);
	store_stats(st, &s);
	CHECK_U64(s.reserved, 0);
	CHECK_U64(store_close(st), 0);
	{
		struct store_reader *rd =
		    store_reader_open(t.path, err, sizeof(err));

		int64_t last = -1;

		CHECK(rd != NULL);
		if (rd != NULL)
			CHECK(store_reader_last_id(rd, &last, err,
			                           sizeof(err)) == 0);
		CHECK(last == 2);
		store_reader_close(rd);
	}
	tmpdb_remove(&t);
}

TEST(store_open_reopen_existing)
{
	struct tmpdb t;
	struct store *st;
	struct store_record r =
	    record(DAY0_MS, "acme", "gpt-4o", 10, 0, 5, 0, 75000, 1);
	char err[256] = "";
	sqlite3 *db;

	if (tmpdb_make(&t) == -1)
		return;
	st = store_open(t.path, 0, err, sizeof(err));
	CHECK(st != NULL);
	if (st == NULL)
		goto out;
	CHECK(store_try_submit(st, &r) == 0);
	CHECK_U64(store_close(st), 0);
	/* again: the migration must not run twice or fail */
	st = store_open(t.path, 0, err, sizeof(err));
	if (st == NULL) {
		harness_fail(__FILE__, __LINE__, "reopen: %s", err);
		goto out;
	}
	CHECK(store_try_submit(st, &r) == 0);
	CHECK_U64(store_close(st), 0);
	st = store_open(t.path, 0, err, sizeof(err));
	CHECK(st != NULL);
	store_close(st);
	if ((db = db_open(t.path)) != NULL) {
		CHECK(db_int(db, "PRAGMA user_version") ==
		      STORE_SCHEMA_VERSION);
		CHECK(db_int(db, "SELECT count(*) FROM requests") == 2);
		CHECK(db_int(db, "SELECT requests FROM usage_daily") == 2);
		CHECK(db_int(db, "SELECT cost_nanousd FROM usage_daily") ==
		      150000);
		sqlite3_close(db);
	}
out:
	tmpdb_remove(&t);
}

TEST(store_open_refuses_newer_schema)
{
	struct tmpdb t;
	struct store *st;
	sqlite3 *db = NULL;
	char err[512] = "";

	if (tmpdb_make(&t) == -1)
		return;
	CHECK(sqlite3_open(t.path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "CREATE TABLE x(a); PRAGMA user_version=99",
	                   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	st = store_open(t.path, 0, err, sizeof(err));
	CHECK(st == NULL);
	if (st != NULL)
		store_close(st);
	CHECK(err[0] != '\0');
	CHECK(strstr(err, "99") != NULL);
	CHECK(strstr(err, "version") != NULL);
	/* and the file was left alone */
	if ((db = db_open(t.path)) != NULL) {
		CHECK(db_int(db, "PRAGMA user_version") == 99);
		sqlite3_close(db);
	}
	tmpdb_remove(&t);
}

TEST(store_open_bad_path)
{
	char err[256] = "";
	struct store *st = store_open("/nonexistent-dir-tollgate/x/usage.db", 0,
	                              err, sizeof(err));

	CHECK(st == NULL);
	if (st != NULL)
		store_close(st);
	CHECK(err[0] != '\0');
	CHECK(store_reader_open("/nonexistent-dir-tollgate/x/usage.db", err,
	                        sizeof(err)) == NULL);
}

TEST(store_submit_many_batches)
{
	/* More rows than one transaction takes (STORE_BATCH_MAX). */
	struct tmpdb t;
	struct store *st;
	struct store_record r =
	    record(DAY0_MS, "acme", "gpt-4o-mini", 1, 0, 2, 0, 3, 1);
	struct store_stats s;
	char err[256] = "";
	int i, refused = 0;
	sqlite3 *db;

	if (tmpdb_make(&t) == -1)
		return;
	st = store_open(t.path, 0, err, sizeof(err));
	if (st == NULL) {
		harness_fail(__FILE__, __LINE__, "store_open: %s", err);
		tmpdb_remove(&t);
		return;
	}
	for (i = 0; i < 3 * STORE_BATCH_MAX + 7; i++)
		if (store_try_submit(st, &r) == -1)
			refused++;
	CHECK(refused == 0);
	store_stats(st, &s);
	CHECK_U64(s.capacity, STORE_QUEUE_DEFAULT);
	CHECK_U64(store_close(st), 0);
	if ((db = db_open(t.path)) != NULL) {
		CHECK(db_int(db, "SELECT count(*) FROM requests") ==
		      3 * STORE_BATCH_MAX + 7);
		CHECK(db_int(db, "SELECT requests FROM usage_daily") ==
		      3 * STORE_BATCH_MAX + 7);
		CHECK(db_int(db, "SELECT output_tokens FROM usage_daily") ==
		      2 * (3 * STORE_BATCH_MAX + 7));
		sqlite3_close(db);
	}
	tmpdb_remove(&t);
}
