/*
 * store/store.c — schema, migrations, the writer thread (see store.h).
 *
 * Threads: store_open/close run on the main thread; store_reserve/submit on
 * proxy workers (a mutex and a condition variable, never I/O); the writer
 * thread owns the read-write connection and does every write.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "store/internal.h"

struct store {
	sqlite3 *db;
	sqlite3_stmt *ins_req;
	sqlite3_stmt *ins_day;
	sqlite3_stmt *ins_bg, *upd_bg;
	pthread_t writer;
	int writer_started;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* rows queued, or stop */
	struct store_record *ring;
	size_t cap, head, count, reserved;
	int stop;
	int busy; /* writer holds a batch */
	struct store_stats stats;
};

const uint64_t store_commit_bucket_us[STORE_COMMIT_BUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

/* Migration i brings user_version from i to i + 1. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    "CREATE TABLE requests("
    " id INTEGER PRIMARY KEY,"
    " ts_ms INTEGER NOT NULL,"
    " duration_ms INTEGER NOT NULL,"
    " workspace TEXT NOT NULL,"
    " end_user TEXT,"
    " endpoint TEXT NOT NULL,"
    " model TEXT,"
    " status INTEGER NOT NULL,"
    " stream INTEGER NOT NULL,"
    " input_tokens INTEGER NOT NULL,"
    " cached_input_tokens INTEGER NOT NULL,"
    " output_tokens INTEGER NOT NULL,"
    " reasoning_tokens INTEGER NOT NULL,"
    " units REAL,"
    " unit_kind TEXT,"
    " cost_nanousd INTEGER NOT NULL,"
    " estimated INTEGER NOT NULL,"
    " price_version TEXT,"
    " upstream_request_id TEXT,"
    " limit_hit TEXT,"
    " error TEXT,"
    " forwarded INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX requests_ts ON requests(ts_ms);"
    "CREATE INDEX requests_ws_ts ON requests(workspace, ts_ms);"
    "CREATE TABLE usage_daily("
    " day TEXT NOT NULL, workspace TEXT NOT NULL, model TEXT NOT NULL,"
    " endpoint TEXT NOT NULL,"
    " requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL,"
    " cached_input_tokens INTEGER NOT NULL,"
    " output_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,"
    " cost_nanousd INTEGER NOT NULL,"
    " PRIMARY KEY(day, workspace, model, endpoint));",
    /* 2: Responses API background mode, metered once per id */
    "CREATE TABLE background_responses("
    " response_id TEXT PRIMARY KEY, workspace TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, metered_ms INTEGER);",
    /* 3: duplicate-call detection (cost intelligence) */
    "ALTER TABLE requests ADD COLUMN request_hash TEXT;"
    "CREATE INDEX requests_hash ON requests(request_hash, ts_ms)"
    " WHERE request_hash IS NOT NULL;",
    /* 4: reconciliation with OpenAI's Usage and Costs APIs
     * (store/reconcile.c, docs/reconcile.md) */
    "CREATE TABLE provider_usage("
    " day TEXT NOT NULL, bucket_start INTEGER NOT NULL,"
    " bucket_end INTEGER NOT NULL, endpoint TEXT NOT NULL,"
    " model TEXT, project_id TEXT,"
    " requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL,"
    " cached_input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,"
    " units REAL, unit_kind TEXT, pulled_ms INTEGER NOT NULL);"
    "CREATE INDEX provider_usage_start ON provider_usage(bucket_start);"
    "CREATE INDEX provider_usage_day ON provider_usage(day);"
    "CREATE TABLE provider_costs("
    " day TEXT NOT NULL, bucket_start INTEGER NOT NULL,"
    " bucket_end INTEGER NOT NULL, line_item TEXT, model TEXT,"
    " project_id TEXT, amount_nanousd INTEGER NOT NULL, currency TEXT,"
    " quantity REAL, quantity_unit TEXT, pulled_ms INTEGER NOT NULL);"
    "CREATE INDEX provider_costs_start ON provider_costs(bucket_start);"
    "CREATE INDEX provider_costs_day ON provider_costs(day);"
    "CREATE TABLE reconciliation("
    " day TEXT NOT NULL, model TEXT NOT NULL, project TEXT NOT NULL,"
    " local_requests INTEGER NOT NULL, local_input_tokens INTEGER NOT NULL,"
    " local_cached_input_tokens INTEGER NOT NULL,"
    " local_output_tokens INTEGER NOT NULL,"
    " local_cost_nanousd INTEGER NOT NULL,"
    " provider_requests INTEGER NOT NULL,"
    " provider_input_tokens INTEGER NOT NULL,"
    " provider_cached_input_tokens INTEGER NOT NULL,"
    " provider_output_tokens INTEGER NOT NULL,"
    " provider_cost_nanousd INTEGER,"
    " drift_requests_pct REAL, drift_input_tokens_pct REAL,"
    " drift_output_tokens_pct REAL, drift_cost_pct REAL,"
    " flag TEXT, alerted INTEGER NOT NULL DEFAULT 0,"
    " computed_ms INTEGER NOT NULL,"
    " PRIMARY KEY(day, model, project));"
    "CREATE TABLE reconcile_runs("
    " id INTEGER PRIMARY KEY CHECK(id = 1),"
    " last_run_ms INTEGER NOT NULL, last_ok_ms INTEGER, status TEXT NOT NULL,"
    " runs INTEGER NOT NULL, failures INTEGER NOT NULL,"
    " flags_bypass INTEGER NOT NULL, flags_overcount INTEGER NOT NULL);",
};

static const char ins_bg_sql[] =
    "INSERT INTO background_responses(response_id, workspace, created_ms)"
    " VALUES(?,?,?) ON CONFLICT(response_id) DO NOTHING";
static const char upd_bg_sql[] =
    "UPDATE background_responses SET metered_ms = ?2 WHERE response_id = ?1"
    " AND metered_ms IS NULL";

static const char ins_req_sql[] =
    "INSERT INTO requests(ts_ms, duration_ms, workspace, end_user, endpoint,"
    " model, status, stream, input_tokens, cached_input_tokens,"
    " output_tokens, reasoning_tokens, units, unit_kind, cost_nanousd,"
    " estimated, price_version, upstream_request_id, limit_hit, error,"
    " forwarded, request_hash)"
    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/* usage_daily counts what reached the upstream (refusals consumed
 * nothing and OpenAI never saw them). */
static const char ins_day_sql[] =
    "INSERT INTO usage_daily(day, workspace, model, endpoint, requests,"
    " input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,"
    " cost_nanousd) VALUES(?,?,?,?,1,?,?,?,?,?)"
    " ON CONFLICT(day, workspace, model, endpoint) DO UPDATE SET"
    " requests = requests + 1,"
    " input_tokens = input_tokens + excluded.input_tokens,"
    " cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,"
    " output_tokens = output_tokens + excluded.output_tokens,"
    " reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,"
    " cost_nanousd = cost_nanousd + excluded.cost_nanousd";

int
store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -1;
}

static int
st_user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		*v = sqlite3_column_int(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

static int
st_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	char sql[64];
	int v;

	if (st_user_version(db, &v) == -1) {
		snprintf(err, errlen, "%s: cannot read schema version: %s",
		         path, sqlite3_errmsg(db));
		return -1;
	}
	if (v > STORE_SCHEMA_VERSION) {
		snprintf(
		    err, errlen,
		    "%s has schema version %d but this "
		    "tollgate knows only up to %d: run a newer tollgate or "
		    "point --db at another file",
		    path, v, STORE_SCHEMA_VERSION);
		return -1;
	}
	for (; v < STORE_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
		if (store_exec(db, "BEGIN IMMEDIATE", err, errlen) == -1 ||
		    store_exec(db, migrations[v], err, errlen) == -1 ||
		    store_exec(db, sql, err, errlen) == -1 ||
		    store_exec(db, "COMMIT", err, errlen) == -1) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
}

static void
utc_day(int64_t ts_ms, char out[11])
{
	time_t t = (time_t)(ts_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static void
bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v[0] == '\0')
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* SQLite integers are signed 64-bit: a count past that (a broken or
 * hostile upstream) is stored as the largest, never as a negative. */
static sqlite3_int64
clamp64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

static int
st_background(struct store *st, const struct store_record *r)
{
	sqlite3_stmt *s;

	if (r->bg_op == STORE_BG_NONE || r->response_id[0] == '\0')
		return 0;
	s = r->bg_op == STORE_BG_PENDING ? st->ins_bg : st->upd_bg;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, r->response_id, -1, SQLITE_STATIC);
	if (r->bg_op == STORE_BG_PENDING) {
		sqlite3_bind_text(s, 2, r->workspace, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, r->ts_ms);
	} else {
		sqlite3_bind_int64(s, 2, r->ts_ms + r->duration_ms);
	}
	return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}

static int
st_insert(struct store *st, const struct store_record *r)
{
	sqlite3_stmt *s = st->ins_req;
	char day[11];
	int i = 1;

	sqlite3_reset(s);
	sqlite3_bind_int64(s, i++, r->ts_ms);
	sqlite3_bind_int64(s, i++, r->duration_ms);
	sqlite3_bind_text(s, i++, r->workspace, -1, SQLITE_STATIC);
	bind_text_or_null(s, i++, r->end_user);
	sqlite3_bind_text(s, i++, r->endpoint, -1, SQLITE_STATIC);
	bind_text_or_null(s, i++, r->model);
	sqlite3_bind_int(s, i++, r->status);
	sqlite3_bind_int(s, i++, r->stream);
	sqlite3_bind_int64(s, i++, clamp64(r->input_tokens));
	sqlite3_bind_int64(s, i++, clamp64(r->cached_input_tokens));
	sqlite3_bind_int64(s, i++, clamp64(r->output_tokens));
	sqlite3_bind_int64(s, i++, clamp64(r->reasoning_tokens));
	if (r->unit_kind[0] != '\0')
		sqlite3_bind_double(s, i++, r->units);
	else
		sqlite3_bind_null(s, i++);
	bind_text_or_null(s, i++, r->unit_kind);
	sqlite3_bind_int64(s, i++, clamp64(r->cost_nanousd));
	sqlite3_bind_int(s, i++, r->estimated);
	bind_text_or_null(s, i++, r->price_version);
	bind_text_or_null(s, i++, r->upstream_request_id);
	bind_text_or_null(s, i++, r->limit_hit);
	bind_text_or_null(s, i++, r->error);
	sqlite3_bind_int(s, i++, r->forwarded);
	bind_text_or_null(s, i++, r->request_hash);
	if (sqlite3_step(s) != SQLITE_DONE || st_background(st, r) == -1)
		return -1;
	if (!r->forwarded)
		return 0;
	s = st->ins_day;
	utc_day(r->ts_ms, day);
	sqlite3_reset(s);
	i = 1;
	sqlite3_bind_text(s, i++, day, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, i++, r->workspace, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, i++, r->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, i++, r->endpoint, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, i++, clamp64(r->input_tokens));
	sqlite3_bind_int64(s, i++, clamp64(r->cached_input_tokens));
	sqlite3_bind_int64(s, i++, clamp64(r->output_tokens));
	sqlite3_bind_int64(s, i++, clamp64(r->reasoning_tokens));
	sqlite3_bind_int64(s, i++, clamp64(r->cost_nanousd));
	return sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
}

/* One transaction for the whole batch: all rows or none. */
static int
st_write_batch(struct store *st, const struct store_record *b, size_t n)
{
	size_t i;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return -1;
	for (i = 0; i < n; i++)
		if (st_insert(st, &b[i]) == -1)
			goto fail;
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Commits one batch, retrying while it fails; gives up only when closing
 * and the failure has lasted STORE_CLOSE_GIVE_UP_MS. */
static void
st_commit_retrying(struct store *st, const struct store_record *b, size_t n)
{
	long failed_ms = 0;
	struct timespec t0, t1;
	uint64_t us;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (st_write_batch(st, b, n) == -1) {
		pthread_mutex_lock(&st->mu);
		st->stats.failures++;
		snprintf(st->stats.last_error, sizeof(st->stats.last_error),
		         "%s", sqlite3_errmsg(st->db));
		if (st->stop && failed_ms >= STORE_CLOSE_GIVE_UP_MS) {
			st->stats.lost += n;
			pthread_mutex_unlock(&st->mu);
			return;
		}
		pthread_mutex_unlock(&st->mu);
		sleep_ms(STORE_RETRY_MS);
		failed_ms += STORE_RETRY_MS;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000L +
	                (t1.tv_nsec - t0.tv_nsec) / 1000);
	pthread_mutex_lock(&st->mu);
	st->stats.committed += n;
	st->stats.batches++;
	st->stats.commit_us_sum += us;
	for (i = 0; i < STORE_COMMIT_BUCKETS; i++)
		if (us <= store_commit_bucket_us[i])
			st->stats.commit_buckets[i]++;
	pthread_mutex_unlock(&st->mu);
}

static void *
st_writer_main(void *arg)
{
	struct store *st = arg;
	struct store_record *batch = malloc(STORE_BATCH_MAX * sizeof(*batch));
	size_t n, i;

	if (batch == NULL)
		abort(); /* start-up allocation; nothing to fall back to */
	for (;;) {
		pthread_mutex_lock(&st->mu);
		while (st->count == 0 && !st->stop)
			pthread_cond_wait(&st->wake, &st->mu);
		if (st->count == 0 && st->stop) {
			pthread_mutex_unlock(&st->mu);
			break;
		}
		n = st->count < STORE_BATCH_MAX ? st->count : STORE_BATCH_MAX;
		for (i = 0; i < n; i++)
			batch[i] = st->ring[(st->head + i) % st->cap];
		st->head = (st->head + n) % st->cap;
		st->count -= n;
		st->busy = 1;
		pthread_mutex_unlock(&st->mu);

		st_commit_retrying(st, batch, n);

		pthread_mutex_lock(&st->mu);
		st->busy = 0;
		pthread_mutex_unlock(&st->mu);
	}
	free(batch);
	return NULL;
}

static sqlite3 *
st_open_db(const char *path, int flags, char *err, size_t errlen)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		         db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

struct store *
store_open(const char *path, size_t queue_max, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->wake, NULL);
	st->cap = queue_max ? queue_max : STORE_QUEUE_DEFAULT;
	st->stats.capacity = st->cap;
	if ((st->ring = calloc(st->cap, sizeof(*st->ring))) == NULL) {
		snprintf(err, errlen, "out of memory for %zu queued records",
		         st->cap);
		goto fail;
	}
	st->db = st_open_db(path,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                        SQLITE_OPEN_NOMUTEX,
	                    err, errlen);
	if (st->db == NULL)
		goto fail;
	if (store_exec(st->db,
	               "PRAGMA journal_mode=WAL; "
	               "PRAGMA synchronous=NORMAL",
	               err, errlen) == -1 ||
	    st_migrate(st->db, path, err, errlen) == -1)
		goto fail;
	if (sqlite3_prepare_v2(st->db, ins_req_sql, -1, &st->ins_req, NULL) !=
	        SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, ins_day_sql, -1, &st->ins_day, NULL) !=
	        SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, ins_bg_sql, -1, &st->ins_bg, NULL) !=
	        SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, upd_bg_sql, -1, &st->upd_bg, NULL) !=
	        SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	if (pthread_create(&st->writer, NULL, st_writer_main, st) != 0) {
		snprintf(err, errlen, "cannot start the store writer thread");
		goto fail;
	}
	st->writer_started = 1;
	return st;
fail:
	store_close(st);
	return NULL;
}

int
store_reserve(struct store *st)
{
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	if (st->count + st->reserved >= st->cap) {
		st->stats.refused++;
		rc = -1;
	} else {
		st->reserved++;
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

void
store_release(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	if (st->reserved > 0)
		st->reserved--;
	pthread_mutex_unlock(&st->mu);
}

void
store_submit(struct store *st, const struct store_record *rec)
{
	pthread_mutex_lock(&st->mu);
	if (st->reserved > 0)
		st->reserved--;
	/* A reservation guarantees room: count + reserved <= cap held. */
	st->ring[(st->head + st->count) % st->cap] = *rec;
	st->count++;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->mu);
}

int
store_try_submit(struct store *st, const struct store_record *rec)
{
	if (store_reserve(st) == -1)
		return -1;
	store_submit(st, rec);
	return 0;
}

void
store_stats(struct store *st, struct store_stats *out)
{
	pthread_mutex_lock(&st->mu);
	*out = st->stats;
	out->queued = st->count + (size_t)st->busy;
	out->reserved = st->reserved;
	pthread_mutex_unlock(&st->mu);
}

uint64_t
store_close(struct store *st)
{
	uint64_t lost;

	if (st == NULL)
		return 0;
	if (st->writer_started) {
		pthread_mutex_lock(&st->mu);
		st->stop = 1;
		pthread_cond_signal(&st->wake);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->writer, NULL);
	}
	sqlite3_finalize(st->ins_req);
	sqlite3_finalize(st->ins_day);
	sqlite3_finalize(st->ins_bg);
	sqlite3_finalize(st->upd_bg);
	if (st->db != NULL) {
		/* Fold the WAL back so the file alone is the database. */
		sqlite3_wal_checkpoint_v2(
		    st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_close(st->db);
	}
	pthread_cond_destroy(&st->wake);
	pthread_mutex_destroy(&st->mu);
	lost = st->stats.lost;
	free(st->ring);
	free(st);
	return lost;
}

struct store_reader *
store_reader_open(const char *path, char *err, size_t errlen)
{
	struct store_reader *rd = calloc(1, sizeof(*rd));

	if (rd == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rd->db = st_open_db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
	                    err, errlen);
	if (rd->db == NULL) {
		free(rd);
		return NULL;
	}
	return rd;
}

void
store_reader_close(struct store_reader *rd)
{
	if (rd == NULL)
		return;
	sqlite3_close(rd->db);
	free(rd);
}

int
store_reader_last_id(struct store_reader *rd, int64_t *id, char *err,
                     size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(rd->db,
	                       "SELECT coalesce(max(id), 0) FROM requests", -1,
	                       &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		rc = 0;
	} else {
		snprintf(err, errlen, "%s", sqlite3_errmsg(rd->db));
	}
	sqlite3_finalize(s);
	return rc;
}

/* Steps s to the end, handing each row to row(); finalizes s.  -1 with
 * the database's message in err. */
static int
reader_each(struct store_reader *rd, sqlite3_stmt *s,
            void (*row)(sqlite3_stmt *s, void *ctx), void *ctx, char *err,
            size_t errlen)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		row(s, ctx);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	snprintf(err, errlen, "%s", sqlite3_errmsg(rd->db));
	return -1;
}

struct usage_ctx {
	store_usage_fn fn;
	void *arg;
};

static void
usage_row(sqlite3_stmt *s, void *ctx)
{
	struct usage_ctx *u = ctx;

	u->fn(u->arg, (const char *)sqlite3_column_text(s, 0),
	      sqlite3_column_int64(s, 1), (uint64_t)sqlite3_column_int64(s, 2),
	      (uint64_t)sqlite3_column_int64(s, 3));
}

int
store_reader_usage_since(struct store_reader *rd, int64_t since_ms,
                         int64_t bucket_ms, store_usage_fn fn, void *arg,
                         char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT workspace, ts_ms / ?2 * ?2, count(*),"
	    " sum(input_tokens + output_tokens)"
	    " FROM requests WHERE ts_ms >= ?1 AND forwarded = 1"
	    " GROUP BY workspace, ts_ms / ?2";
	struct usage_ctx u = {fn, arg};
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(rd->db, sql, -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(rd->db));
		return -1;
	}
	sqlite3_bind_int64(s, 1, since_ms);
	sqlite3_bind_int64(s, 2, bucket_ms > 0 ? bucket_ms : 1);
	return reader_each(rd, s, usage_row, &u, err, errlen);
}

struct spend_ctx {
	store_spend_fn fn;
	void *arg;
};

static void
spend_row(sqlite3_stmt *s, void *ctx)
{
	struct spend_ctx *sp = ctx;

	sp->fn(sp->arg, (const char *)sqlite3_column_text(s, 0),
	       (uint64_t)sqlite3_column_int64(s, 1));
}

int
store_reader_spend(struct store_reader *rd, const char *from_day,
                   const char *to_day, store_spend_fn fn, void *arg, char *err,
                   size_t errlen)
{
	static const char sql[] =
	    "SELECT workspace, sum(cost_nanousd) FROM usage_daily"
	    " WHERE day >= ?1 AND day <= ?2 GROUP BY workspace";
	struct spend_ctx sp = {fn, arg};
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(rd->db, sql, -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(rd->db));
		return -1;
	}
	sqlite3_bind_text(s, 1, from_day, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, to_day, -1, SQLITE_STATIC);
	return reader_each(rd, s, spend_row, &sp, err, errlen);
}

struct pending_ctx {
	store_pending_fn fn;
	void *arg;
};

static void
pending_row(sqlite3_stmt *s, void *ctx)
{
	struct pending_ctx *p = ctx;

	p->fn(p->arg, (const char *)sqlite3_column_text(s, 0),
	      (const char *)sqlite3_column_text(s, 1));
}

int
store_reader_background_pending(struct store_reader *rd, size_t max,
                                store_pending_fn fn, void *arg, char *err,
                                size_t errlen)
{
	static const char sql[] =
	    "SELECT response_id, workspace FROM background_responses"
	    " WHERE metered_ms IS NULL ORDER BY created_ms DESC LIMIT ?1";
	struct pending_ctx p = {fn, arg};
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(rd->db, sql, -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(rd->db));
		return -1;
	}
	sqlite3_bind_int64(s, 1, (sqlite3_int64)max);
	return reader_each(rd, s, pending_row, &p, err, errlen);
}
