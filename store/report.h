/*
 * store/report.h — read queries for the usage reports (admin API and
 * `tollgate report`), over a read-only store_reader.
 *
 * Which rows count: usage sums cover requests that reached the upstream
 * (requests.forwarded = 1), which is exactly what the usage_daily rollup
 * holds.  Day-grain reports read usage_daily; hourly sums, cost
 * intelligence and recent activity read requests.  Results come back as
 * plain structs through callbacks; strings handed to a callback live until
 * it returns.  Never JSON, never logging.
 */
#ifndef STORE_REPORT_H
#define STORE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_REPORT_MAX_KEYS 4 /* group_by columns */

/* A group_by column. */
enum store_report_key {
	STORE_REPORT_WORKSPACE,
	STORE_REPORT_MODEL,
	STORE_REPORT_DAY,
	STORE_REPORT_ENDPOINT
};

/* Sums over a set of rows. */
struct store_report_totals {
	uint64_t requests;
	uint64_t input_tokens, cached_input_tokens;
	uint64_t output_tokens, reasoning_tokens;
	uint64_t cost_nanousd;
};

/* Which rows: workspace NULL = all; days "YYYY-MM-DD" inclusive, NULL =
 * unbounded. */
struct store_report_filter {
	const char *workspace;
	const char *from_day, *to_day;
};

/* One group: key[i] is the value of the i-th group_by column. */
struct store_report_row {
	const char *key[STORE_REPORT_MAX_KEYS];
	size_t nkeys;
	struct store_report_totals t;
};

typedef void (*store_report_row_fn)(void *arg,
                                    const struct store_report_row *row);

/* "workspace", "model", "day", "endpoint" (NULL for anything else). */
const char *store_report_key_name(enum store_report_key k);

/* Parses a comma-separated group_by list ("" = none) into by[]: 0 with *n
 * set, or -1 (unknown or repeated column, or too many). */
int store_report_parse_keys(const char *s, enum store_report_key *by,
                            size_t *n);

/* Is s a real calendar day written YYYY-MM-DD? */
int store_report_valid_day(const char *s);

/* The UTC day ("YYYY-MM-DD", 11 bytes) of ms since the epoch. */
void store_report_day(int64_t ms, char out[11]);

/*
 * usage_daily rows matching f, grouped by by[0..nby) and sorted by those
 * keys; at most max_rows rows reach fn, *truncated says whether more
 * matched.  nby 0 gives one row (the totals, if anything matched).
 * 0, or -1 with err.
 */
int store_report_usage(struct store_reader *rd,
                       const struct store_report_filter *f,
                       const enum store_report_key *by, size_t nby,
                       size_t max_rows, store_report_row_fn fn, void *arg,
                       int *truncated, char *err, size_t errlen);

/* Sums of usage_daily rows matching f into *out (zeros when none). */
int store_report_totals(struct store_reader *rd,
                        const struct store_report_filter *f,
                        struct store_report_totals *out, char *err,
                        size_t errlen);

/* Per UTC hour of the day holding day_start_ms (a UTC midnight): fn gets
 * (arg, hour 0-23, sums) for hours with forwarded requests. */
typedef void (*store_report_hour_fn)(void *arg, int hour,
                                     const struct store_report_totals *t);
int store_report_hours(struct store_reader *rd, const char *workspace,
                       int64_t day_start_ms, store_report_hour_fn fn, void *arg,
                       char *err, size_t errlen);

/* Does any row (any day, forwarded or not) name workspace ws?  0 with
 * *found, or -1 with err. */
int store_report_workspace_seen(struct store_reader *rd, const char *ws,
                                int *found, char *err, size_t errlen);

/* Names of workspaces with usage_daily rows in from..to; at most max. */
typedef void (*store_report_name_fn)(void *arg, const char *name);
int store_report_workspaces(struct store_reader *rd, const char *from_day,
                            const char *to_day, size_t max,
                            store_report_name_fn fn, void *arg, char *err,
                            size_t errlen);

/* One stored request (recent activity). */
struct store_report_request {
	int64_t id, ts_ms, duration_ms;
	const char *workspace, *endpoint, *model; /* model "" when NULL */
	const char *limit_hit;                    /* NULL when none */
	int status, estimated, forwarded;
	uint64_t input_tokens, output_tokens, cost_nanousd;
};
typedef void (*store_report_request_fn)(void *arg,
                                        const struct store_report_request *r);

/* The newest max rows of workspace ws (NULL: all), newest first, any kind
 * (refused requests included). */
int store_report_recent(struct store_reader *rd, const char *ws, size_t max,
                        store_report_request_fn fn, void *arg, char *err,
                        size_t errlen);

/* Duplicate calls since since_ms: see store_report_duplicates. */
struct store_report_dups {
	uint64_t groups;       /* chains with at least one duplicate */
	uint64_t requests;     /* duplicates (all but the first of a chain) */
	uint64_t cost_nanousd; /* what the duplicates cost */
};

/*
 * Forwarded requests of ws (NULL: all) since since_ms with a request_hash
 * equal to that of the previous request of the same workspace and endpoint
 * with that hash, started at most window_ms after it.  0, or -1 with err.
 */
int store_report_duplicates(struct store_reader *rd, const char *ws,
                            int64_t since_ms, int64_t window_ms,
                            struct store_report_dups *out, char *err,
                            size_t errlen);

/* Per model: forwarded requests of ws since since_ms selected by a
 * token condition (see the two queries below). */
struct store_report_model_use {
	const char *model;
	struct store_report_totals t;
	uint64_t max_input_tokens;
	uint64_t excess_input_tokens; /* sum of input_tokens - threshold */
};
typedef void (*store_report_model_fn)(void *arg,
                                      const struct store_report_model_use *m);

/* Requests with input_tokens > threshold, per model. */
int store_report_bloat(struct store_reader *rd, const char *ws,
                       int64_t since_ms, uint64_t threshold,
                       store_report_model_fn fn, void *arg, char *err,
                       size_t errlen);

/* Requests with output_tokens <= max_output (and a model), per model. */
int store_report_small_outputs(struct store_reader *rd, const char *ws,
                               int64_t since_ms, uint64_t max_output,
                               store_report_model_fn fn, void *arg, char *err,
                               size_t errlen);

#endif
