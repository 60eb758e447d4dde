/*
 * store/store.h — the usage database (SQLite, WAL) and its writer thread.
 *
 * Workers never touch SQLite.  A finished request becomes a store_record
 * handed to a bounded queue; one writer thread commits records in batches
 * (one transaction per wake-up, at most STORE_BATCH_MAX rows), keeping the
 * usage_daily rollup in the same transaction.
 *
 * Queue-full policy: a request reserves its queue slot when it is admitted
 * (store_reserve) and uses it when it finishes (store_submit), so a record
 * that was promised a slot is never dropped.  When every slot is taken, new
 * requests are refused before they reach the upstream (the proxy answers
 * 503) — the store pushes back rather than losing rows.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_QUEUE_DEFAULT 16384    /* records waiting or promised */
#define STORE_BATCH_MAX 512          /* rows per transaction */
#define STORE_RETRY_MS 200           /* wait after a failed transaction */
#define STORE_CLOSE_GIVE_UP_MS 10000 /* close stops retrying after this */
#define STORE_SCHEMA_VERSION 4

struct store_record {
	int64_t ts_ms; /* request start, ms since the epoch */
	int64_t duration_ms;
	char workspace[64];
	char end_user[128];
	char endpoint[48];
	char model[128];
	int status;
	int stream;
	uint64_t input_tokens;
	uint64_t cached_input_tokens;
	uint64_t output_tokens;
	uint64_t reasoning_tokens;
	double units;       /* seconds, characters, images */
	char unit_kind[16]; /* "" = NULL */
	uint64_t cost_nanousd;
	int estimated;
	int forwarded; /* the request reached the upstream */
	char price_version[48];
	char upstream_request_id[96];
	char limit_hit[16]; /* "" = NULL */
	char error[192];    /* "" = NULL */
	/* 16 hex digits of a hash of the request body as parsed (JSON
	 * tokens, whitespace ignored), for duplicate-call detection;
	 * "" = NULL (no JSON body) */
	char request_hash[17];
	/* Responses API background mode (table background_responses):
	 * STORE_BG_PENDING registers response_id as created by workspace
	 * and not metered yet; STORE_BG_METERED marks it metered. */
	int bg_op;
	char response_id[96];
};

enum { STORE_BG_NONE, STORE_BG_PENDING, STORE_BG_METERED };

/* Commit latency histogram: upper bounds in microseconds (cumulative
 * counts, Prometheus style; the +Inf bucket is `batches`). */
#define STORE_COMMIT_BUCKETS 10
extern const uint64_t store_commit_bucket_us[STORE_COMMIT_BUCKETS];

struct store_stats {
	uint64_t committed; /* rows written */
	uint64_t batches;   /* transactions committed */
	uint64_t commit_us_sum; /* time spent committing them (retries
	                           included) */
	uint64_t commit_buckets[STORE_COMMIT_BUCKETS];
	uint64_t failures;  /* transactions that failed (retried) */
	uint64_t refused;   /* reservations refused: queue full */
	uint64_t lost;      /* rows given up at close */
	size_t queued;      /* rows waiting */
	size_t reserved;    /* slots promised */
	size_t capacity;
	char last_error[256];
};

struct store;

/*
 * Opens (creating or migrating) the database at path and starts the writer.
 * queue_max 0 means STORE_QUEUE_DEFAULT.  NULL with a message in err.
 */
struct store *store_open(const char *path, size_t queue_max, char *err,
                         size_t errlen);

/* Reserves a queue slot for a request about to be admitted: 0, or -1
 * when the queue is full.  Any thread. */
int store_reserve(struct store *st);

/* Gives back an unused reservation. */
void store_release(struct store *st);

/* Queues a record in a reserved slot (copied).  Never fails. */
void store_submit(struct store *st, const struct store_record *rec);

/* store_reserve + store_submit in one: 0, or -1 when full. */
int store_try_submit(struct store *st, const struct store_record *rec);

void store_stats(struct store *st, struct store_stats *out);

/*
 * Waits until every queued row is committed (giving up on rows that still
 * fail after STORE_CLOSE_GIVE_UP_MS), stops the writer and closes.
 */
uint64_t store_close(struct store *st); /* returns rows lost */

/* Opens a read-only connection for reports; NULL with err. Caller frees
 * with store_reader_close. */
struct store_reader;
struct store_reader *store_reader_open(const char *path, char *err,
                                       size_t errlen);
void store_reader_close(struct store_reader *rd);

/* The highest request id written (0 when none): a cheap proof the
 * database is readable.  0 with *id set, or -1 (err says why). */
int store_reader_last_id(struct store_reader *rd, int64_t *id, char *err,
                         size_t errlen);

/*
 * Start-up rebuild of the limiter (DESIGN.md "Limits": budgets and day
 * windows survive a restart).  Calls fn once per workspace and bucket of
 * bucket_ms with the requests that reached the upstream since since_ms
 * and their input + output tokens; ts_ms is the bucket's start.
 */
typedef void (*store_usage_fn)(void *arg, const char *workspace, int64_t ts_ms,
                               uint64_t requests, uint64_t tokens);
int store_reader_usage_since(struct store_reader *rd, int64_t since_ms,
                             int64_t bucket_ms, store_usage_fn fn, void *arg,
                             char *err, size_t errlen);

/* Calls fn(arg, response_id, workspace) for each background response
 * created through the proxy and not metered yet (at most max of them, the
 * newest). */
typedef void (*store_pending_fn)(void *arg, const char *response_id,
                                 const char *workspace);
int store_reader_background_pending(struct store_reader *rd, size_t max,
                                    store_pending_fn fn, void *arg, char *err,
                                    size_t errlen);

/* Calls fn once per workspace with its cost over the UTC days from_day to
 * to_day ("YYYY-MM-DD", inclusive). */
typedef void (*store_spend_fn)(void *arg, const char *workspace,
                               uint64_t nanousd);
int store_reader_spend(struct store_reader *rd, const char *from_day,
                       const char *to_day, store_spend_fn fn, void *arg,
                       char *err, size_t errlen);

#endif
