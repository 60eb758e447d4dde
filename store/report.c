/*
 * store/report.c — read queries for the usage reports (see report.h).
 *
 * Runs on whichever thread owns the store_reader (the admin thread, or the
 * `tollgate report` command).  Owns nothing beyond the statements it
 * prepares and finalizes within each call.  Every value from outside is
 * bound, never spliced; group_by columns come from a fixed table.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/internal.h"
#include "store/report.h"

#define REPORT_MAX_MODELS 1000 /* per-model rows a query hands back */
#define REPORT_SQL_MAX 1024    /* bytes of a built statement */

static const char *const key_names[STORE_REPORT_MAX_KEYS] = {
    "workspace", "model", "day", "endpoint"};

const char *
store_report_key_name(enum store_report_key k)
{
	return (unsigned)k < STORE_REPORT_MAX_KEYS ? key_names[k] : NULL;
}

static int
key_lookup(const char *s, size_t n)
{
	int i;

	for (i = 0; i < STORE_REPORT_MAX_KEYS; i++)
		if (strlen(key_names[i]) == n &&
		    memcmp(key_names[i], s, n) == 0)
			return i;
	return -1;
}

int
store_report_parse_keys(const char *s, enum store_report_key *by, size_t *n)
{
	size_t cnt = 0, j, len;
	const char *comma;
	int k;

	while (*s != '\0') {
		comma = strchr(s, ',');
		len = comma != NULL ? (size_t)(comma - s) : strlen(s);
		if ((k = key_lookup(s, len)) == -1 ||
		    cnt == STORE_REPORT_MAX_KEYS)
			return -1;
		for (j = 0; j < cnt; j++)
			if (by[j] == (enum store_report_key)k)
				return -1;
		by[cnt++] = (enum store_report_key)k;
		if (comma == NULL)
			break;
		s = comma + 1;
		if (*s == '\0')
			return -1; /* trailing comma */
	}
	*n = cnt;
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int d[12] = {31, 28, 31, 30, 31, 30,
	                          31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

int
store_report_valid_day(const char *s)
{
	int i, y, m, d;

	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	return y >= 1970 && m >= 1 && m <= 12 && d >= 1 &&
	       d <= days_in_month(y, m);
}

void
store_report_day(int64_t ms, char out[11])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 11, "%Y-%m-%d", &tm) == 0)
		snprintf(out, 11, "1970-01-01");
}

/* --- helpers ------------------------------------------------------------- */

static void
bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int
prepare(struct store_reader *rd, const char *sql, sqlite3_stmt **s, char *err,
        size_t errlen)
{
	if (sqlite3_prepare_v2(rd->db, sql, -1, s, NULL) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s", sqlite3_errmsg(rd->db));
	return -1;
}

/* Steps s to its end through row(); finalizes s. */
static int
each_row(struct store_reader *rd, sqlite3_stmt *s,
         void (*row)(sqlite3_stmt *s, void *ctx), void *ctx, char *err,
         size_t errlen)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		row(s, ctx);
	if (rc != SQLITE_DONE)
		snprintf(err, errlen, "%s", sqlite3_errmsg(rd->db));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static uint64_t
col_u64(sqlite3_stmt *s, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(s, i);

	return v > 0 ? (uint64_t)v : 0;
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t != NULL ? (const char *)t : "";
}

/* Six sums starting at column i: requests, input, cached, output,
 * reasoning, cost. */
static void
col_totals(sqlite3_stmt *s, int i, struct store_report_totals *t)
{
	t->requests = col_u64(s, i);
	t->input_tokens = col_u64(s, i + 1);
	t->cached_input_tokens = col_u64(s, i + 2);
	t->output_tokens = col_u64(s, i + 3);
	t->reasoning_tokens = col_u64(s, i + 4);
	t->cost_nanousd = col_u64(s, i + 5);
}

/* --- usage_daily -----------------------------------------------------------
 */

#define DAILY_SUMS                                                             \
	"sum(requests), sum(input_tokens), sum(cached_input_tokens),"          \
	" sum(output_tokens), sum(reasoning_tokens), sum(cost_nanousd)"
#define DAILY_WHERE                                                            \
	" FROM usage_daily WHERE (?1 IS NULL OR workspace = ?1)"               \
	" AND (?2 IS NULL OR day >= ?2) AND (?3 IS NULL OR day <= ?3)"

/* "a, b, c" of the group_by columns into buf. */
static void
key_list(const enum store_report_key *by, size_t nby, char *buf, size_t cap)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < nby && off < cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s%s",
		                        i > 0 ? ", " : "", key_names[by[i]]);
}

struct usage_ctx {
	store_report_row_fn fn;
	void *arg;
	size_t nby, max, seen;
};

static void
usage_row(sqlite3_stmt *s, void *ctx)
{
	struct usage_ctx *u = ctx;
	struct store_report_row r;
	size_t i;

	if (u->seen++ >= u->max)
		return;
	memset(&r, 0, sizeof(r));
	r.nkeys = u->nby;
	for (i = 0; i < u->nby; i++)
		r.key[i] = col_text(s, (int)i);
	col_totals(s, (int)u->nby, &r.t);
	u->fn(u->arg, &r);
}

int
store_report_usage(struct store_reader *rd, const struct store_report_filter *f,
                   const enum store_report_key *by, size_t nby, size_t max_rows,
                   store_report_row_fn fn, void *arg, int *truncated, char *err,
                   size_t errlen)
{
	struct usage_ctx u = {fn, arg, nby, max_rows, 0};
	char keys[128], sql[REPORT_SQL_MAX];
	sqlite3_stmt *s = NULL;
	int rc;

	if (nby > STORE_REPORT_MAX_KEYS) {
		snprintf(err, errlen, "too many group_by columns");
		return -1;
	}
	key_list(by, nby, keys, sizeof(keys));
	if (nby == 0)
		snprintf(sql, sizeof(sql),
		         "SELECT " DAILY_SUMS DAILY_WHERE
		         " HAVING count(*) > 0 LIMIT ?4");
	else
		snprintf(sql, sizeof(sql),
		         "SELECT %s, " DAILY_SUMS DAILY_WHERE
		         " GROUP BY %s ORDER BY %s LIMIT ?4",
		         keys, keys, keys);
	if (prepare(rd, sql, &s, err, errlen) == -1)
		return -1;
	bind_opt(s, 1, f->workspace);
	bind_opt(s, 2, f->from_day);
	bind_opt(s, 3, f->to_day);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)max_rows + 1);
	rc = each_row(rd, s, usage_row, &u, err, errlen);
	if (rc == 0)
		*truncated = u.seen > max_rows;
	return rc;
}

static void
totals_row(sqlite3_stmt *s, void *ctx)
{
	col_totals(s, 0, ctx);
}

int
store_report_totals(struct store_reader *rd,
                    const struct store_report_filter *f,
                    struct store_report_totals *out, char *err, size_t errlen)
{
	struct store_report_totals t;
	sqlite3_stmt *s = NULL;

	memset(&t, 0, sizeof(t));
	if (prepare(rd, "SELECT " DAILY_SUMS DAILY_WHERE, &s, err, errlen) ==
	    -1)
		return -1;
	bind_opt(s, 1, f->workspace);
	bind_opt(s, 2, f->from_day);
	bind_opt(s, 3, f->to_day);
	if (each_row(rd, s, totals_row, &t, err, errlen) == -1)
		return -1;
	*out = t;
	return 0;
}

struct name_ctx {
	store_report_name_fn fn;
	void *arg;
};

static void
name_row(sqlite3_stmt *s, void *ctx)
{
	struct name_ctx *n = ctx;

	n->fn(n->arg, col_text(s, 0));
}

int
store_report_workspaces(struct store_reader *rd, const char *from_day,
                        const char *to_day, size_t max, store_report_name_fn fn,
                        void *arg, char *err, size_t errlen)
{
	struct name_ctx n = {fn, arg};
	sqlite3_stmt *s = NULL;

	if (prepare(rd,
	            "SELECT DISTINCT workspace FROM usage_daily"
	            " WHERE day >= ?1 AND day <= ?2 ORDER BY 1 LIMIT ?3",
	            &s, err, errlen) == -1)
		return -1;
	sqlite3_bind_text(s, 1, from_day, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, to_day, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	return each_row(rd, s, name_row, &n, err, errlen);
}

/* --- requests ----------------------------------------------------------------
 */

#define REQ_SUMS                                                               \
	"count(*), sum(input_tokens), sum(cached_input_tokens),"               \
	" sum(output_tokens), sum(reasoning_tokens), sum(cost_nanousd)"

struct hour_ctx {
	store_report_hour_fn fn;
	void *arg;
};

static void
hour_row(sqlite3_stmt *s, void *ctx)
{
	struct hour_ctx *h = ctx;
	struct store_report_totals t;
	int hour = sqlite3_column_int(s, 0);

	col_totals(s, 1, &t);
	if (hour >= 0 && hour < 24)
		h->fn(h->arg, hour, &t);
}

int
store_report_hours(struct store_reader *rd, const char *workspace,
                   int64_t day_start_ms, store_report_hour_fn fn, void *arg,
                   char *err, size_t errlen)
{
	struct hour_ctx h = {fn, arg};
	sqlite3_stmt *s = NULL;

	if (prepare(rd,
	            "SELECT (ts_ms - ?2) / 3600000, " REQ_SUMS
	            " FROM requests WHERE forwarded = 1 AND ts_ms >= ?2"
	            " AND ts_ms < ?2 + 86400000"
	            " AND (?1 IS NULL OR workspace = ?1) GROUP BY 1",
	            &s, err, errlen) == -1)
		return -1;
	bind_opt(s, 1, workspace);
	sqlite3_bind_int64(s, 2, day_start_ms);
	return each_row(rd, s, hour_row, &h, err, errlen);
}

static void
found_row(sqlite3_stmt *s, void *ctx)
{
	(void)s;
	*(int *)ctx = 1;
}

int
store_report_workspace_seen(struct store_reader *rd, const char *ws, int *found,
                            char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int f = 0;

	if (prepare(rd, "SELECT 1 FROM requests WHERE workspace = ?1 LIMIT 1",
	            &s, err, errlen) == -1)
		return -1;
	sqlite3_bind_text(s, 1, ws, -1, SQLITE_STATIC);
	if (each_row(rd, s, found_row, &f, err, errlen) == -1)
		return -1;
	*found = f;
	return 0;
}

struct recent_ctx {
	store_report_request_fn fn;
	void *arg;
};

static void
recent_row(sqlite3_stmt *s, void *ctx)
{
	struct recent_ctx *c = ctx;
	struct store_report_request r;

	r.id = sqlite3_column_int64(s, 0);
	r.ts_ms = sqlite3_column_int64(s, 1);
	r.duration_ms = sqlite3_column_int64(s, 2);
	r.workspace = col_text(s, 3);
	r.endpoint = col_text(s, 4);
	r.model = col_text(s, 5);
	r.status = sqlite3_column_int(s, 6);
	r.input_tokens = col_u64(s, 7);
	r.output_tokens = col_u64(s, 8);
	r.cost_nanousd = col_u64(s, 9);
	r.estimated = sqlite3_column_int(s, 10);
	r.forwarded = sqlite3_column_int(s, 11);
	r.limit_hit = (const char *)sqlite3_column_text(s, 12);
	c->fn(c->arg, &r);
}

int
store_report_recent(struct store_reader *rd, const char *ws, size_t max,
                    store_report_request_fn fn, void *arg, char *err,
                    size_t errlen)
{
	struct recent_ctx c = {fn, arg};
	sqlite3_stmt *s = NULL;

	if (prepare(rd,
	            "SELECT id, ts_ms, duration_ms, workspace, endpoint,"
	            " model, status, input_tokens, output_tokens,"
	            " cost_nanousd, estimated, forwarded, limit_hit"
	            " FROM requests WHERE (?1 IS NULL OR workspace = ?1)"
	            " ORDER BY id DESC LIMIT ?2",
	            &s, err, errlen) == -1)
		return -1;
	bind_opt(s, 1, ws);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	return each_row(rd, s, recent_row, &c, err, errlen);
}

static void
dups_row(sqlite3_stmt *s, void *ctx)
{
	struct store_report_dups *d = ctx;

	d->requests = col_u64(s, 0);
	d->groups = col_u64(s, 1);
	d->cost_nanousd = col_u64(s, 2);
}

int
store_report_duplicates(struct store_reader *rd, const char *ws,
                        int64_t since_ms, int64_t window_ms,
                        struct store_report_dups *out, char *err, size_t errlen)
{
	/* gap: time since the previous request of the same kind; a row is a
	 * duplicate when that gap is within the window, and starts a group
	 * when the row before it was not itself a duplicate. */
	static const char sql[] =
	    "WITH g AS (SELECT id, ts_ms, workspace, endpoint, request_hash,"
	    "  cost_nanousd, ts_ms - lag(ts_ms) OVER (PARTITION BY workspace,"
	    "  endpoint, request_hash ORDER BY ts_ms, id) AS gap"
	    "  FROM requests WHERE forwarded = 1 AND request_hash IS NOT NULL"
	    "  AND ts_ms >= ?1 AND (?2 IS NULL OR workspace = ?2)),"
	    " d AS (SELECT cost_nanousd, coalesce(gap <= ?3, 0) AS dup,"
	    "  lag(coalesce(gap <= ?3, 0), 1, 0) OVER (PARTITION BY workspace,"
	    "  endpoint, request_hash ORDER BY ts_ms, id) AS prev FROM g)"
	    " SELECT coalesce(sum(dup), 0),"
	    " coalesce(sum(dup AND NOT prev), 0),"
	    " coalesce(sum(CASE WHEN dup THEN cost_nanousd ELSE 0 END), 0)"
	    " FROM d";
	struct store_report_dups d;
	sqlite3_stmt *s = NULL;

	memset(&d, 0, sizeof(d));
	if (prepare(rd, sql, &s, err, errlen) == -1)
		return -1;
	sqlite3_bind_int64(s, 1, since_ms);
	bind_opt(s, 2, ws);
	sqlite3_bind_int64(s, 3, window_ms);
	if (each_row(rd, s, dups_row, &d, err, errlen) == -1)
		return -1;
	*out = d;
	return 0;
}

struct model_ctx {
	store_report_model_fn fn;
	void *arg;
};

static void
model_row(sqlite3_stmt *s, void *ctx)
{
	struct model_ctx *c = ctx;
	struct store_report_model_use m;

	m.model = col_text(s, 0);
	col_totals(s, 1, &m.t);
	m.max_input_tokens = col_u64(s, 7);
	m.excess_input_tokens = col_u64(s, 8);
	c->fn(c->arg, &m);
}

/* cond is one of two fixed strings below, never user text. */
static int
model_query(struct store_reader *rd, const char *cond, const char *ws,
            int64_t since_ms, uint64_t n, store_report_model_fn fn, void *arg,
            char *err, size_t errlen)
{
	struct model_ctx c = {fn, arg};
	char sql[REPORT_SQL_MAX];
	sqlite3_stmt *s = NULL;

	snprintf(sql, sizeof(sql),
	         "SELECT coalesce(model, ''), " REQ_SUMS
	         ", max(input_tokens), sum(max(input_tokens - ?3, 0))"
	         " FROM requests WHERE forwarded = 1 AND ts_ms >= ?1"
	         " AND (?2 IS NULL OR workspace = ?2) AND %s"
	         " GROUP BY 1 ORDER BY sum(cost_nanousd) DESC, 1 LIMIT %d",
	         cond, REPORT_MAX_MODELS);
	if (prepare(rd, sql, &s, err, errlen) == -1)
		return -1;
	sqlite3_bind_int64(s, 1, since_ms);
	bind_opt(s, 2, ws);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)n);
	return each_row(rd, s, model_row, &c, err, errlen);
}

int
store_report_bloat(struct store_reader *rd, const char *ws, int64_t since_ms,
                   uint64_t threshold, store_report_model_fn fn, void *arg,
                   char *err, size_t errlen)
{
	return model_query(rd, "input_tokens > ?3", ws, since_ms, threshold, fn,
	                   arg, err, errlen);
}

int
store_report_small_outputs(struct store_reader *rd, const char *ws,
                           int64_t since_ms, uint64_t max_output,
                           store_report_model_fn fn, void *arg, char *err,
                           size_t errlen)
{
	/* excess_input_tokens is meaningless here (?3 is the output cap);
	 * token-priced requests only (unit_kind NULL). */
	return model_query(rd,
	                   "output_tokens <= ?3 AND model IS NOT NULL"
	                   " AND unit_kind IS NULL",
	                   ws, since_ms, max_output, fn, arg, err, errlen);
}
