/*
 * meter/limit.h — one workspace's rate windows and budget periods.
 *
 * Pure arithmetic over an explicit clock (every call takes now_ms), so the
 * window edges, month ends and leap days are unit-tested without waiting.
 * The caller owns the locking: a struct meter_limit_state is touched by
 * one thread at a time.
 *
 * Rolling windows (DESIGN.md "Limits"): requests and tokens per minute and
 * per day, kept in rings of fixed slots (1 s for the minute, 5 min for the
 * day).  A window of n slots keeps n + 1 of them, so something counted at
 * t stays counted for at least the whole window (between 60 and 61 s for
 * the minute): the limit is never exceeded in any window-long span.
 *
 * Budgets: nano-USD spent per UTC calendar day and month.  A request
 * reserves its estimated tokens and cost on admission; settling replaces
 * the estimate with the real numbers.  Spend belongs to the period in
 * which the request started, as the store's rows do.
 */
#ifndef METER_LIMIT_H
#define METER_LIMIT_H

#include <stdint.h>

#include "meter/price.h"
#include "meter/request.h"

#define METER_LIMIT_MINUTE_SLOT_MS 1000 /* minute window slot */
#define METER_LIMIT_MINUTE_SLOTS 60     /* ... slots in 60 s */
#define METER_LIMIT_DAY_SLOT_MS 300000  /* day window slot: 5 min */
#define METER_LIMIT_DAY_SLOTS 288       /* ... slots in 24 h */
#define METER_LIMIT_DAY_MS 86400000     /* one UTC day */
#define METER_LIMIT_PCT_EXHAUSTED 100   /* the third alert threshold */

struct meter_limits {
	uint64_t rpm, rpd, tpm, tpd;     /* 0 = no limit */
	uint64_t daily_nanousd;          /* 0 = no limit */
	uint64_t monthly_nanousd;        /* 0 = no limit */
	unsigned warn_pct, critical_pct; /* of a budget, 1-100 */
};

enum meter_limit_kind {
	METER_LIMIT_NONE,
	METER_LIMIT_RPM,
	METER_LIMIT_RPD,
	METER_LIMIT_TPM,
	METER_LIMIT_TPD,
	METER_LIMIT_DAILY_USD,
	METER_LIMIT_MONTHLY_USD
};

enum meter_limit_level {
	METER_LEVEL_NORMAL,
	METER_LEVEL_WARNING,
	METER_LEVEL_CRITICAL,
	METER_LEVEL_EXHAUSTED
};

struct meter_limit_slot {
	int64_t epoch; /* now_ms / slot_ms of what it holds; -1 = empty */
	uint64_t requests;
	uint64_t tokens;
};

/* Totals of a ring; its slots live beside it in the state (no pointers,
 * so a state may be copied). */
struct meter_limit_window {
	int64_t head;      /* newest epoch the ring was advanced to */
	uint64_t requests; /* totals over the live slots */
	uint64_t tokens;
};

struct meter_limit_state {
	struct meter_limit_slot minute_slots[METER_LIMIT_MINUTE_SLOTS + 1];
	struct meter_limit_slot day_slots[METER_LIMIT_DAY_SLOTS + 1];
	struct meter_limit_window minute, day;
	int64_t day_index; /* UTC day (days since 1970-01-01) of daily_spent */
	int64_t month_index; /* year * 12 + month - 1 of monthly_spent */
	uint64_t daily_spent, monthly_spent; /* settled nano-USD */
	uint64_t reserved_nanousd;           /* admitted, not yet settled */
	uint64_t reserved_tokens;
	uint64_t inflight;
	enum meter_limit_level daily_alerted, monthly_alerted;
};

/* What one request asks for. */
struct meter_limit_ask {
	uint64_t tokens;  /* estimated input + output */
	uint64_t nanousd; /* estimated cost */
};

/* A granted reservation, handed back to settle. */
struct meter_limit_ticket {
	int active;
	int64_t minute_epoch, day_epoch; /* slots the tokens went into */
	int64_t day_index, month_index;  /* periods its spend belongs to */
	uint64_t tokens, nanousd;
};

/* Why a request was refused. */
struct meter_limit_verdict {
	enum meter_limit_kind hit;
	int budget;       /* a budget (insufficient_quota), not a rate */
	int never;        /* the request alone is over the limit */
	int64_t retry_ms; /* until enough frees up (budgets: period end) */
	int64_t reset_ms; /* absolute time the window or period resets */
	uint64_t limit, used;
};

/* The x-ratelimit-* view: per-minute limits when set, else per-day. */
struct meter_limit_view {
	uint64_t limit_requests, remaining_requests;
	uint64_t limit_tokens, remaining_tokens;
	int64_t reset_requests_ms, reset_tokens_ms; /* durations from now */
	int has_requests, has_tokens;
};

/* A budget threshold crossed by a settle: level above what was alerted. */
struct meter_limit_crossing {
	enum meter_limit_level daily, monthly; /* NORMAL: none crossed */
	int64_t day_index, month_index;
	uint64_t daily_spent, monthly_spent;
};

/* Empty state at now_ms. */
void meter_limit_init(struct meter_limit_state *s, int64_t now_ms);

/*
 * Admits a request (0: counted, reserved, *t filled) or refuses it (-1:
 * *v filled, nothing changed).  Budgets are checked first (monthly, then
 * daily), then the rate limits; among rate limits hit, the one that frees
 * last is named.
 */
int meter_limit_admit(struct meter_limit_state *s, const struct meter_limits *l,
                      const struct meter_limit_ask *ask, int64_t now_ms,
                      struct meter_limit_ticket *t,
                      struct meter_limit_verdict *v);

/*
 * Settles a ticket with the real tokens and cost.  Tokens are corrected in
 * the slots they were reserved in when those are still in their window;
 * spend is added to the ticket's periods when they are still current.
 * Fills *x with any alert threshold newly crossed.  A settled ticket is
 * inactive; settling it again does nothing.
 */
void meter_limit_settle(struct meter_limit_state *s,
                        const struct meter_limits *l,
                        struct meter_limit_ticket *t, uint64_t tokens,
                        uint64_t nanousd, int64_t now_ms,
                        struct meter_limit_crossing *x);

/*
 * Adds spend that no reservation of this workspace covered (a background
 * response or batch it created, metered when another request polled it)
 * to the current day and month, and fills *x like meter_limit_settle.
 */
void meter_limit_charge(struct meter_limit_state *s,
                        const struct meter_limits *l, uint64_t nanousd,
                        int64_t now_ms, struct meter_limit_crossing *x);

/* Live numbers for headers (advances the windows to now_ms). */
void meter_limit_view(struct meter_limit_state *s, const struct meter_limits *l,
                      int64_t now_ms, struct meter_limit_view *out);

/* Window totals at now_ms (advances the windows). */
void meter_limit_used(struct meter_limit_state *s, int64_t now_ms,
                      uint64_t *rpm, uint64_t *rpd, uint64_t *tpm,
                      uint64_t *tpd);

/* Rolls the budget periods to now_ms (spend of past periods is dropped). */
void meter_limit_roll(struct meter_limit_state *s, int64_t now_ms);

/* The alert level spend stands at against limit (0 = none: NORMAL). */
enum meter_limit_level meter_limit_level_of(uint64_t spent, uint64_t limit,
                                            const struct meter_limits *l);

/*
 * Start-up rebuild from the store: adds requests and tokens counted at
 * ts_ms to the day ring (day = 1) or the minute ring (day = 0), ignored
 * when outside its window; and adds spend for the current day and
 * month.  Levels already reached count as alerted.
 */
void meter_limit_load_usage(struct meter_limit_state *s, int day, int64_t ts_ms,
                            uint64_t requests, uint64_t tokens, int64_t now_ms);
void meter_limit_load_spend(struct meter_limit_state *s,
                            const struct meter_limits *l, uint64_t daily,
                            uint64_t monthly, int64_t now_ms);

/* New limits l (a reload): levels the spend no longer reaches are
 * re-armed, so a raised budget alerts again at its new thresholds; a
 * lowered one alerts at the next settle. */
void meter_limit_relimit(struct meter_limit_state *s,
                         const struct meter_limits *l);

/*
 * The reservation for a request: input estimated from its body, output
 * from max_*tokens (or default_output, embeddings none) times n, priced
 * as its model or, unpriced, as fallback_model (NULL: cost 0).
 */
void meter_limit_ask_for(const struct meter_prices *p,
                         const struct meter_request *rq,
                         uint64_t default_output, const char *fallback_model,
                         struct meter_limit_ask *ask);

/* UTC calendar: day index of ms, month index (year * 12 + month - 1),
 * and the first ms of the next day / month. */
int64_t meter_limit_day_index(int64_t ms);
int64_t meter_limit_month_index(int64_t ms);
int64_t meter_limit_next_day_ms(int64_t ms);
int64_t meter_limit_next_month_ms(int64_t ms);
/* "2026-11-22" / "2026-11" for ms (buf >= 11 bytes). */
void meter_limit_day_str(int64_t ms, char *buf, size_t cap);
void meter_limit_month_str(int64_t ms, char *buf, size_t cap);

/* "rpm", "daily_usd", ...; "" for NONE. */
const char *meter_limit_kind_name(enum meter_limit_kind k);
/* "normal", "warning", "critical", "exhausted". */
const char *meter_limit_level_name(enum meter_limit_level l);

/* Go-style duration for x-ratelimit-reset-*: "1s", "6m0s", "120ms". */
void meter_limit_duration(int64_t ms, char *buf, size_t cap);

#endif
