/*
 * store/reconcile.h — what OpenAI reports against what tollgate metered
 * (DESIGN.md "Threads", "Reconciler"; docs/reconcile.md).
 *
 * The reconciler thread fetches pages of the organization Usage and Costs
 * APIs (openai-wire.md §7) and hands them here as bytes: this module
 * parses them (bounded, hostile input is normal), keeps the rows of one
 * pass in memory, and at the end of the pass replaces the pass's window
 * in provider_usage / provider_costs in one transaction (re-pulling a
 * window replaces it), recomputes the drift per UTC day x model x project
 * into reconciliation, and records the run (last run, status) in
 * reconcile_runs for the admin thread.  HTTP is not this module's
 * business; it never logs and never exits.
 *
 * Drift: drift_pct = (provider - local) * 100 / local, per quantity;
 * 0 when both are 0; NULL (infinite) when local is 0 and provider is not.
 * A row is flagged "bypass" when any of requests, input_tokens,
 * output_tokens or cost drifts above +alert_pct (or is infinite), else
 * "overcount" when any drifts below -alert_pct ("beyond": equal to the
 * threshold is not flagged).  Cost is compared only for a day and project
 * the Costs API has rows for (it lags; no rows means no verdict yet).
 */
#ifndef STORE_RECONCILE_H
#define STORE_RECONCILE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_RECON_MAX_PAGE_BYTES (8 * 1024 * 1024) /* one page's JSON */
#define STORE_RECON_MAX_ROWS 200000   /* provider rows held by one pass */
#define STORE_RECON_MAX_CURSOR 1024   /* next_page bytes */
#define STORE_RECON_MAX_NAME 192      /* model / project / line_item bytes */
#define STORE_RECON_MAX_MAPPINGS 4096 /* workspace -> project pairs */
#define STORE_RECON_STATUS_MAX 512    /* status text bytes */
#define STORE_RECON_MAX_COUNT                                                  \
	9007199254740992.0 /* 2^53: larger counts                              \
	                      are refused */

/* Which API a page came from. */
enum store_recon_kind {
	STORE_RECON_COMPLETIONS,
	STORE_RECON_EMBEDDINGS,
	STORE_RECON_MODERATIONS,
	STORE_RECON_IMAGES,
	STORE_RECON_AUDIO_SPEECHES,
	STORE_RECON_AUDIO_TRANSCRIPTIONS,
	STORE_RECON_COSTS,
	STORE_RECON_KINDS
};

/* The path under /v1/organization/ ("usage/completions", "costs"). */
const char *store_recon_kind_path(enum store_recon_kind kind);

/* One reconciliation row (a day x model x project). */
struct store_recon_side {
	uint64_t requests, input_tokens, cached_input_tokens, output_tokens;
	int64_t cost_nanousd;
	int has_cost; /* provider side: 0 = Costs had nothing for the day */
};

struct store_recon_row {
	char day[11];
	char model[STORE_RECON_MAX_NAME];
	char project[STORE_RECON_MAX_NAME]; /* "" = not a mapped project */
	struct store_recon_side local, provider;
	/* drift in percent; has_* 0 = infinite (local 0, provider not) or,
	 * for cost, not compared */
	double drift_requests, drift_input, drift_output, drift_cost;
	int has_requests, has_input, has_output, has_cost;
	char flag[12]; /* "", "bypass", "overcount" */
};

/* The last run, for the admin thread. */
struct store_recon_state {
	int64_t last_run_ms;                 /* 0 = never */
	int64_t last_ok_ms;                  /* 0 = never */
	char status[STORE_RECON_STATUS_MAX]; /* "ok" or "error: ..." */
	uint64_t runs, failures;
	uint64_t flags_bypass, flags_overcount; /* flags raised, ever */
};

struct store_recon;      /* a read-write connection */
struct store_recon_pull; /* the provider rows of one pass, in memory */
struct store_reader;

/* Opens path read-write (WAL, busy timeout); the schema must exist
 * (store_open creates it).  NULL with err. */
struct store_recon *store_recon_open(const char *path, char *err,
                                     size_t errlen);
void store_recon_close(struct store_recon *rc);

/*
 * A pass over [start_s, end_s) (Unix seconds, UTC day boundaries for a
 * window of whole days; end may be later than now).  Buckets starting
 * outside the window are ignored (counted in skipped).  NULL: no memory.
 */
struct store_recon_pull *store_recon_pull_new(int64_t start_s, int64_t end_s);
void store_recon_pull_free(struct store_recon_pull *p);

/*
 * Parses one page of kind (a Usage page or a Costs page) and keeps its
 * rows.  0 with *has_more and next (the cursor for page=, "" when none;
 * next_cap >= STORE_RECON_MAX_CURSOR + 1 bytes) set; -1 with err when the
 * page is malformed (not JSON, a required field missing or of the wrong
 * type, a negative or huge count) or the pass holds too many rows: the
 * rows parsed so far from this page are dropped, earlier pages kept.
 */
int store_recon_pull_page(struct store_recon_pull *p,
                          enum store_recon_kind kind, const char *json,
                          size_t len, int *has_more, char *next,
                          size_t next_cap, char *err, size_t errlen);

/* Rows held, buckets skipped (outside the window). */
size_t store_recon_pull_rows(const struct store_recon_pull *p);
size_t store_recon_pull_skipped(const struct store_recon_pull *p);

/* A workspace whose traffic OpenAI books to project. */
struct store_recon_map {
	const char *workspace;
	const char *project;
};

/* Called for each row that gained a flag it had not been alerted for. */
typedef void (*store_recon_flag_fn)(void *arg,
                                    const struct store_recon_row *row);

/*
 * In one transaction: replaces provider_usage and provider_costs rows in
 * the pull's window with its rows, recomputes reconciliation for the
 * window's days from requests (forwarded rows that OpenAI answered, or
 * that carried usage) and the provider tables, and records a successful
 * run at now_ms.  Local rows of workspaces in map count towards their
 * project; all other local rows, and provider rows of projects no
 * workspace maps to, compare under project "".  alert_pct: the flag
 * threshold.  With alert_fn, rows newly flagged are marked alerted (so
 * each day x model x project x flag is reported once, across restarts)
 * and alert_fn is called for each after the commit; without it (one-off
 * passes) no row is marked.  0, or -1 with err and nothing written.
 */
int store_recon_commit(struct store_recon *rc, const struct store_recon_pull *p,
                       const struct store_recon_map *map, size_t nmap,
                       double alert_pct, int64_t now_ms,
                       store_recon_flag_fn alert_fn, void *arg, char *err,
                       size_t errlen);

/* Records a failed run at now_ms with status "error: <why>". */
int store_recon_fail(struct store_recon *rc, int64_t now_ms, const char *why,
                     char *err, size_t errlen);

/*
 * Reconciliation rows for days from..to ("YYYY-MM-DD", inclusive), of
 * project (NULL: all; "" the unmapped comparison), ordered by day, model,
 * project; at most max rows (0: no limit).  fn gets each row (valid during
 * the call).  0, or -1 with err.  The reader form serves the admin thread.
 */
typedef void (*store_recon_row_fn)(void *arg,
                                   const struct store_recon_row *row);
int store_recon_rows(struct store_recon *rc, const char *from, const char *to,
                     const char *project, size_t max, store_recon_row_fn fn,
                     void *arg, char *err, size_t errlen);
int store_reader_recon_rows(struct store_reader *rd, const char *from,
                            const char *to, const char *project, size_t max,
                            store_recon_row_fn fn, void *arg, char *err,
                            size_t errlen);

/* The last run (zeroed, status "", when there was none).  0 or -1. */
int store_reader_recon_state(struct store_reader *rd,
                             struct store_recon_state *st, char *err,
                             size_t errlen);

/*
 * Best-effort model of a Costs line_item: the text before its last ", "
 * ("gpt-4o-2024-08-06, input" -> "gpt-4o-2024-08-06"), lower-cased;
 * the whole item when it has no comma.  out: cap bytes.
 */
void store_recon_line_item_model(const char *line_item, char *out, size_t cap);

/*
 * A USD amount (JSON number text or decimal string such as "0.06",
 * "-1.5", "4.65e-06") as nano-USD, rounded half away from zero.  0, or -1
 * when it is not a number or out of range.
 */
int store_recon_parse_usd(const char *s, int64_t *nano);

#endif
